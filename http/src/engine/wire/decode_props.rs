//! Property tests of the request decoders: whatever the bytes, `decode_head` and
//! `ChunkedDecoder::decode` never panic, and what they accept stays within the limits.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use crate::engine::config::Limits;
use crate::engine::wire::decode::{
    self, ChunkedDecoder, DecodeError, Framing, Head, HeadInput, header_fields,
};

/// A head's bytes in a test, copied when the head is taken off them.
struct Copied<'a> {
    rest: &'a [u8],
}

impl HeadInput for Copied<'_> {
    fn unread(&self) -> &[u8] {
        self.rest
    }

    fn take_shared(&mut self, length: usize) -> Bytes {
        let (head, rest) = self.rest.split_at(length);
        self.rest = rest;
        Bytes::copy_from_slice(head)
    }
}

/// Decodes the head at the front of `buf`; with it, how many bytes of `buf` it took.
fn decode_head(buf: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, DecodeError> {
    let mut input = Copied { rest: buf };
    let head = decode::decode_head(&mut input, limits)?;
    Ok(head.map(|head| (head, buf.len() - input.rest.len())))
}

/// A well-formed request head built from generated parts.
fn valid_head() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]);
    let path = "(/[a-zA-Z0-9._~%-]{0,12}){1,4}(\\?[a-z0-9=&]{0,16})?";
    let version = prop::sample::select(vec!["HTTP/1.0", "HTTP/1.1"]);
    let field = ("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,40}");
    let framing = prop::sample::select(vec![
        "",
        "Content-Length: 5\r\n",
        "Transfer-Encoding: chunked\r\n",
        "Connection: close\r\n",
        "Expect: 100-continue\r\n",
    ]);
    (
        method,
        path,
        version,
        prop::collection::vec(field, 0..8),
        framing,
    )
        .prop_map(|(method, path, version, fields, framing)| {
            let mut head = format!("{method} {path} {version}\r\nHost: example.test\r\n");
            for (name, value) in fields {
                head.push_str(&format!("X-{name}: {}\r\n", value.trim()));
            }
            // HTTP/1.0 has no transfer codings.
            if !(version == "HTTP/1.0" && framing.starts_with("Transfer-Encoding")) {
                head.push_str(framing);
            }
            head.push_str("\r\n");
            head.into_bytes()
        })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to HTTP framing come up often; any other byte too.
    let interesting = prop_oneof![
        prop::sample::select(b"\r\n :;,\t\0\x7f0fF-+".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), prop::collection::vec(interesting, 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::Flip { at, byte } if len > 0 => bytes[at % len] = *byte,
            Mutation::Insert {
                at,
                bytes: inserted,
            } => {
                let at = at % (len + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Delete { at, len: n } if len > 0 => {
                let at = at % len;
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Truncate { at } => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }
    bytes
}

/// `decode_head`'s contract on any input: no panic, and a head it accepts lies within `buf`
/// and within the limits.
fn check_head(buf: &[u8], limits: &Limits, max_head: usize, max_uri: usize) {
    if let Ok(Some((head, length))) = decode_head(buf, limits) {
        assert!(length <= buf.len());
        assert!(length <= max_head, "accepted a {length}-byte head");
        let target = head.uri.to_string();
        assert!(
            target.len() <= max_uri,
            "accepted a {}-byte target",
            target.len()
        );
    }
}

/// Chunked encoding of `data`, cut into chunks of the given sizes, with an extension and a
/// trailer.
fn chunked(data: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        out.extend_from_slice(format!("{size:x};ext=1\r\n").as_bytes());
        out.extend_from_slice(&rest[..size]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[size..];
    }
    out.extend_from_slice(b"0\r\nTrailer: yes\r\n\r\n");
    out
}

/// Feeds `input` to a fresh decoder in pieces cut at `cuts`, as a socket might deliver it;
/// checks the decoder's contract and returns the outcome and the body.
fn decode_in_pieces(
    input: &[u8],
    cuts: &[usize],
    limits: &Limits,
    max_body: usize,
) -> (Result<bool, DecodeError>, BytesMut) {
    let mut decoder = ChunkedDecoder::new();
    let mut body = BytesMut::new();
    let mut buffered: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (input.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(input.len());
    for cut in cuts {
        if cut < fed {
            continue;
        }
        buffered.extend_from_slice(&input[fed..cut]);
        fed = cut;
        match decoder.decode(&buffered, &mut body, limits) {
            Ok(used) => {
                assert!(used <= buffered.len());
                buffered.drain(..used);
            }
            Err(error) => return (Err(error), body),
        }
        assert!(body.len() <= max_body, "produced {} body bytes", body.len());
        if decoder.is_done() {
            break;
        }
    }
    (Ok(decoder.is_done()), body)
}

proptest! {
    #[test]
    fn decode_head_never_panics_on_arbitrary_bytes(buf in prop::collection::vec(any::<u8>(), 0..2048)) {
        let limits = Limits::default();
        check_head(&buf, &limits, 64 * 1024, 8 * 1024);
    }

    #[test]
    fn decode_head_never_panics_on_mutated_requests(
        head in valid_head(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let limits = Limits::default();
        check_head(&mutate(head, &mutations), &limits, 64 * 1024, 8 * 1024);
    }

    #[test]
    fn decode_head_accepts_every_valid_request_whole(head in valid_head()) {
        let (decoded, length) = decode_head(&head, &Limits::default())
            .expect("a valid head is accepted")
            .expect("a whole head is complete");
        prop_assert_eq!(length, head.len());
        let chunked = find(&head, b"Transfer-Encoding: chunked").is_some();
        prop_assert_eq!(decoded.framing == Framing::Chunked, chunked);
    }

    #[test]
    fn decode_head_keeps_the_target_and_every_field_value(head in valid_head()) {
        let (decoded, _) = decode_head(&head, &Limits::default()).unwrap().unwrap();
        let text = std::str::from_utf8(&head).unwrap();
        let mut lines = text.split("\r\n");
        let target = lines.next().unwrap().split(' ').nth(1).unwrap();
        prop_assert_eq!(decoded.uri.to_string(), target);
        let mut expected: Vec<(String, String)> = Vec::new();
        for line in lines.take_while(|line| !line.is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            expected.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        prop_assert_eq!(decoded.headers.len(), expected.len());
        for (name, _) in &expected {
            let wanted: Vec<&str> = expected.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
            let got: Vec<&str> = decoded.headers.get_all(name.as_str()).iter().map(|v| v.to_str().unwrap()).collect();
            prop_assert_eq!(got, wanted);
        }
    }

    #[test]
    fn header_fields_of_an_accepted_head_are_the_ones_decoded(head in valid_head()) {
        let (decoded, _) = decode_head(&head, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(header_fields(&Bytes::from(head)), decoded.headers);
    }

    #[test]
    fn decode_head_waits_for_the_rest_of_any_valid_prefix(head in valid_head(), cut in any::<usize>()) {
        let prefix = &head[..cut % head.len()];
        prop_assert!(decode_head(prefix, &Limits::default()).unwrap().is_none());
    }

    #[test]
    fn decode_head_never_accepts_a_head_past_small_limits(
        head in valid_head(),
        mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let limits = Limits::default().max_head_bytes(128).max_uri_bytes(24).max_headers(4);
        check_head(&mutate(head, &mutations), &limits, 128, 24);
    }

    #[test]
    fn chunked_decoder_never_panics_on_arbitrary_bytes(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let limits = Limits::default();
        let _ = decode_in_pieces(&input, &cuts, &limits, 8 * 1024 * 1024);
    }

    #[test]
    fn chunked_decoder_never_panics_on_mutated_bodies(
        data in prop::collection::vec(any::<u8>(), 0..512),
        sizes in prop::collection::vec(1usize..64, 1..8),
        mutations in prop::collection::vec(mutation(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let input = mutate(chunked(&data, &sizes), &mutations);
        let _ = decode_in_pieces(&input, &cuts, &Limits::default(), 8 * 1024 * 1024);
    }

    #[test]
    fn chunked_decoder_restores_any_body_however_it_arrives(
        data in prop::collection::vec(any::<u8>(), 0..2048),
        sizes in prop::collection::vec(1usize..300, 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        next_request in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let mut input = chunked(&data, &sizes);
        let body_end = input.len();
        // Bytes after the body belong to the next request: never consumed.
        input.extend_from_slice(&next_request);
        let mut decoder = ChunkedDecoder::new();
        let mut body = BytesMut::new();
        let used = decoder.decode(&input, &mut body, &Limits::default()).unwrap();
        prop_assert!(decoder.is_done());
        prop_assert_eq!(used, body_end);
        prop_assert_eq!(&body[..], &data[..]);
        // The same, delivered in pieces.
        let (outcome, body) = decode_in_pieces(&input[..body_end], &cuts, &Limits::default(), data.len());
        prop_assert_eq!(outcome, Ok(true));
        prop_assert_eq!(&body[..], &data[..]);
    }

    #[test]
    fn chunked_decoder_never_produces_more_than_a_small_limit(
        data in prop::collection::vec(any::<u8>(), 0..512),
        sizes in prop::collection::vec(1usize..64, 1..8),
        mutations in prop::collection::vec(mutation(), 0..4),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let limits = Limits::default().max_body_bytes(100);
        let input = mutate(chunked(&data, &sizes), &mutations);
        let (outcome, _) = decode_in_pieces(&input, &cuts, &limits, 100);
        if mutations.is_empty() && data.len() > 100 {
            let error = outcome.expect_err("a body past the limit is refused");
            prop_assert_eq!(error.status, http::StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
}

#[test]
fn header_fields_of_a_head_accepted_under_raised_limits_are_all_there() {
    let mut head = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    for n in 0..300 {
        head.push_str(&format!("X-{n}: {n}\r\n"));
    }
    head.push_str("\r\n");
    let limits = Limits::default().max_headers(400);
    let (decoded, _) = decode_head(head.as_bytes(), &limits).unwrap().unwrap();
    assert_eq!(decoded.headers.len(), 301);
    assert_eq!(header_fields(&Bytes::from(head)), decoded.headers);
}
