//! The `Compression` middleware over sockets: gzip and brotli bodies decoded here, weights
//! choosing between them, `identity;q=0`, the minimum size and the allow-list, the responses
//! it leaves alone, streamed bodies compressed as they stream, and `Vary`.

mod server_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use hyperf_http::server::{Compression, Router, RunningServer};
use hyperf_http::{Body, Response, StatusCode, header};
use server_common::{Reply, TIMEOUT, exchange, request, server, spec, start, stop};

/// Text that compresses well, `len` bytes of it.
fn text(len: usize) -> String {
    "the quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(len)
        .collect()
}

fn with_type(content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// The lines a streamed route writes, one write each.
fn lines() -> Vec<String> {
    (0..200)
        .map(|n| format!("line {n}: {}\n", text(60)))
        .collect()
}

/// Sends `first` on the stream and waits for `go` before the rest.
type Gate = Arc<Mutex<Option<may::sync::mpsc::Receiver<()>>>>;

fn routes(gate: Gate) -> Router {
    let mut router = Router::new();
    router.get("/text", || text(4096)).unwrap();
    router.get("/small", || text(100)).unwrap();
    router.get("/empty", || "").unwrap();
    router
        .get("/json", || {
            with_type("application/problem+json", text(2048))
        })
        .unwrap();
    router
        .get("/png", || with_type("image/png", text(4096)))
        .unwrap();
    router
        .get("/no-type", || Response::new(Body::from(text(4096))))
        .unwrap();
    router
        .get("/encoded", || {
            let mut response = with_type("text/plain", text(4096));
            response.headers_mut().insert(
                header::CONTENT_ENCODING,
                header::HeaderValue::from_static("gzip"),
            );
            response
        })
        .unwrap();
    router
        .get("/partial", || {
            let mut response = with_type("text/plain", text(4096));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header::HeaderValue::from_static("bytes 0-4095/10000"),
            );
            response
        })
        .unwrap();
    router
        .get("/no-content", || StatusCode::NO_CONTENT)
        .unwrap();
    router
        .get("/not-modified", || {
            let mut response = with_type("text/plain", "");
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        })
        .unwrap();
    router
        .get("/events", || {
            with_type(
                "text/event-stream",
                Body::stream(|out| {
                    for n in 0..50 {
                        write!(out, "data: event {n} {}\n\n", text(50))?;
                    }
                    Ok(())
                }),
            )
        })
        .unwrap();
    router
        .get("/stream", || {
            with_type(
                "text/plain; charset=utf-8",
                Body::stream(|out| {
                    for line in lines() {
                        out.write_all(line.as_bytes())?;
                    }
                    Ok(())
                }),
            )
        })
        .unwrap();
    router
        .get("/gated", move || {
            let go = gate.lock().unwrap().take().expect("one gated request");
            with_type(
                "text/plain",
                Body::stream(move |out| {
                    out.write_all(b"first event\n")?;
                    // The test sends `go` only once it has decoded the first write.
                    go.recv().map_err(std::io::Error::other)?;
                    out.write_all(b"second event\n")
                }),
            )
        })
        .unwrap();
    router
}

fn serve(compression: Compression) -> (RunningServer, may::sync::mpsc::Sender<()>) {
    let (go, gate) = may::sync::mpsc::channel();
    let gate = Arc::new(Mutex::new(Some(gate)));
    let running = start(server().server(spec("http").middleware(compression).router(routes(gate))));
    (running, go)
}

fn get_with(running: &RunningServer, path: &str, accept: &str) -> Reply {
    exchange(
        running,
        request("GET", path, &[("Accept-Encoding", accept)]),
    )
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("a brotli body");
    out
}

fn has_vary(reply: &Reply) -> bool {
    reply.headers.iter().any(|(name, value)| {
        name == "vary" && value.to_ascii_lowercase().contains("accept-encoding")
    })
}

#[test]
fn gzip_and_brotli_bodies_decode_to_the_original_with_vary() {
    let (running, _go) = serve(Compression::new());

    let gzip = get_with(&running, "/text", "gzip");
    gzip.assert_status(200u16);
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert!(gzip.body.len() < 1024, "{} bytes", gzip.body.len());
    assert_eq!(gunzip(&gzip.body), text(4096).as_bytes());
    assert!(has_vary(&gzip));

    let br = get_with(&running, "/text", "br");
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(unbrotli(&br.body), text(4096).as_bytes());
    assert!(has_vary(&br));

    let json = get_with(&running, "/json", "gzip");
    assert_eq!(json.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&json.body), text(2048).as_bytes());
    stop(running);
}

#[test]
fn weights_choose_the_coding() {
    let (running, _go) = serve(Compression::new());
    let cases = [
        ("gzip, br", Some("br")),
        ("gzip;q=1.0, br;q=0.5", Some("gzip")),
        ("br;q=0, gzip;q=0.1", Some("gzip")),
        ("*", Some("br")),
        ("*;q=0.5, br;q=0", Some("gzip")),
        ("deflate", None),
        ("gzip;q=0.4, identity;q=0.9", None),
        ("identity", None),
    ];
    for (accept, expected) in cases {
        let reply = get_with(&running, "/text", accept);
        reply.assert_status(200u16);
        assert_eq!(reply.header("content-encoding"), expected, "{accept}");
        let body = match expected {
            Some("gzip") => gunzip(&reply.body),
            Some(_) => unbrotli(&reply.body),
            None => reply.body.clone(),
        };
        assert_eq!(body, text(4096).as_bytes(), "{accept}");
        assert!(has_vary(&reply), "{accept}");
    }
    stop(running);
}

#[test]
fn identity_refused_is_406_only_when_nothing_else_is_acceptable() {
    let (running, _go) = serve(Compression::new());

    let refused = get_with(&running, "/text", "identity;q=0, deflate");
    refused.assert_status(406u16);
    assert!(has_vary(&refused));
    get_with(&running, "/text", "*;q=0").assert_status(406u16);

    // A coding is acceptable: it is used, even below the minimum size.
    let small = get_with(&running, "/small", "identity;q=0, gzip");
    small.assert_status(200u16);
    assert_eq!(small.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&small.body), text(100).as_bytes());

    // `*;q=0` with identity listed leaves identity acceptable.
    let listed = get_with(&running, "/text", "*;q=0, identity");
    listed.assert_status(200u16);
    assert_eq!(listed.header("content-encoding"), None);
    stop(running);
}

#[test]
fn a_malformed_accept_encoding_is_ignored() {
    let (running, _go) = serve(Compression::new());
    for accept in [
        "gzip;q=abc",
        "gzip;q=2",
        "gz ip",
        "br;level=3",
        "identity;q=0;q",
    ] {
        let reply = get_with(&running, "/text", accept);
        reply.assert_status(200u16);
        assert_eq!(reply.header("content-encoding"), None, "{accept}");
        assert_eq!(reply.body, text(4096).as_bytes(), "{accept}");
    }
    stop(running);
}

#[test]
fn bodies_under_the_minimum_size_are_sent_as_they_are() {
    let (running, _go) = serve(Compression::new());
    let small = get_with(&running, "/small", "gzip, br");
    assert_eq!(small.header("content-encoding"), None);
    assert_eq!(small.body, text(100).as_bytes());
    let empty = get_with(&running, "/empty", "gzip, br");
    assert_eq!(empty.header("content-encoding"), None);
    assert_eq!(empty.header("content-length"), Some("0"));
    stop(running);

    let (running, _go) = serve(Compression::new().min_size(64));
    let small = get_with(&running, "/small", "gzip");
    assert_eq!(small.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&small.body), text(100).as_bytes());
    stop(running);
}

#[test]
fn the_allow_list_decides_by_content_type() {
    let (running, _go) = serve(Compression::new());
    for path in ["/png", "/no-type"] {
        let reply = get_with(&running, path, "gzip, br");
        assert_eq!(reply.header("content-encoding"), None, "{path}");
        assert!(!has_vary(&reply), "{path}");
        assert_eq!(reply.body, text(4096).as_bytes(), "{path}");
    }
    stop(running);

    let (running, _go) = serve(Compression::new().content_types(["image/png"]));
    let png = get_with(&running, "/png", "gzip");
    assert_eq!(png.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&png.body), text(4096).as_bytes());
    let plain = get_with(&running, "/text", "gzip");
    assert_eq!(plain.header("content-encoding"), None);
    stop(running);
}

#[test]
fn encoded_ranged_bodiless_head_and_event_stream_responses_are_left_alone() {
    let (running, _go) = serve(Compression::new());

    let encoded = get_with(&running, "/encoded", "gzip, br");
    assert_eq!(encoded.header("content-encoding"), Some("gzip"));
    assert_eq!(encoded.body, text(4096).as_bytes(), "not compressed twice");

    let partial = get_with(&running, "/partial", "gzip, br");
    partial.assert_status(206u16);
    assert_eq!(partial.header("content-encoding"), None);
    assert_eq!(partial.body, text(4096).as_bytes());

    get_with(&running, "/no-content", "gzip").assert_status(204u16);
    get_with(&running, "/not-modified", "gzip").assert_status(304u16);

    let mut client = server_common::connect_to(&running, "http");
    let head = client
        .send(request("HEAD", "/text", &[("Accept-Encoding", "gzip")]))
        .head_response();
    head.assert_status(200u16);
    assert_eq!(head.header("content-encoding"), None);
    assert_eq!(head.header("content-length"), Some("4096"));

    let events = get_with(&running, "/events", "gzip, br");
    assert_eq!(events.header("content-encoding"), None);
    assert!(events.text().starts_with("data: event 0 "));
    stop(running);
}

#[test]
fn a_streamed_body_decompresses_to_the_original() {
    let (running, _go) = serve(Compression::new());
    let expected = lines().concat();
    for accept in ["gzip", "br"] {
        let reply = get_with(&running, "/stream", accept);
        reply.assert_status(200u16);
        assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
        assert_eq!(reply.header("content-encoding"), Some(accept));
        assert!(has_vary(&reply));
        let body = if accept == "gzip" {
            gunzip(&reply.body)
        } else {
            unbrotli(&reply.body)
        };
        assert_eq!(body, expected.as_bytes(), "{accept}");
        assert!(
            reply.body.len() < expected.len() / 2,
            "{accept}: {}",
            reply.body.len()
        );
    }
    stop(running);
}

/// De-chunks what has arrived of a chunked body so far (complete chunks only).
fn chunks_so_far(raw: &[u8]) -> Vec<u8> {
    let start = server_common::find(raw, b"\r\n\r\n").expect("the head") + 4;
    let mut rest = &raw[start..];
    let mut body = Vec::new();
    while let Some(line_end) = server_common::find(rest, b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
            .expect("a chunk size");
        let data = line_end + 2;
        if size == 0 || rest.len() < data + size + 2 {
            break;
        }
        body.extend_from_slice(&rest[data..data + size]);
        rest = &rest[data + size + 2..];
    }
    body
}

#[test]
fn each_write_of_a_stream_is_sent_without_waiting_for_the_next() {
    let (running, go) = serve(Compression::new());
    let mut stream = TcpStream::connect(running.local_addr("http").unwrap()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
        .write_all(request("GET", "/gated", &[("Accept-Encoding", "gzip")]).as_bytes())
        .unwrap();

    // The first write decodes before the handler writes the second.
    let mut raw = Vec::new();
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut fed = 0;
    while !decoder.get_ref().ends_with(b"first event\n") {
        let mut buffer = [0u8; 4096];
        let read = stream
            .read(&mut buffer)
            .expect("the first event within the timeout");
        assert!(read > 0, "the connection closed early");
        raw.extend_from_slice(&buffer[..read]);
        if server_common::find(&raw, b"\r\n\r\n").is_some() {
            let body = chunks_so_far(&raw);
            decoder.write_all(&body[fed..]).unwrap();
            decoder.flush().unwrap();
            fed = body.len();
        }
    }
    go.send(()).unwrap();

    // Then the rest, and the end of the gzip stream.
    while server_common::find(&raw, b"\r\n0\r\n\r\n").is_none() {
        let mut buffer = [0u8; 4096];
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "the connection closed early");
        raw.extend_from_slice(&buffer[..read]);
    }
    assert_eq!(gunzip(&chunks_so_far(&raw)), b"first event\nsecond event\n");
    stop(running);
}
