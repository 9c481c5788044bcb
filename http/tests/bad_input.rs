//! Malformed and ambiguous requests: each is answered with RFC 9112's status and the
//! connection is closed, and the handler never sees the request.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Client, start};
use hyperf_http::{BoxError, Engine, Request, Response, StatusCode};

/// An engine whose handler counts its calls: refused requests must not reach it.
struct Counted {
    engine: Engine,
    calls: Arc<AtomicUsize>,
}

fn counted_engine() -> Counted {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let engine = start(move |_: Request| -> Result<Response, BoxError> {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new("served".into()))
    });
    Counted { engine, calls }
}

/// Sends `request`, expects `status` followed by the close, and that the handler was not
/// called.
fn assert_refused(request: &str, status: StatusCode) {
    let counted = counted_engine();
    let mut client = Client::connect(counted.engine.local_addr());
    client.send(request);
    let reply = client.response();
    reply.assert_status(status);
    assert!(
        reply.closes(),
        "a refusal must announce the close: {reply:?}"
    );
    client.assert_closed();
    assert_eq!(counted.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn malformed_request_line_is_refused_with_400() {
    assert_refused(
        "GET/HTTP/1.1\r\nHost: test\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn request_line_with_extra_words_is_refused_with_400() {
    assert_refused(
        "GET / extra HTTP/1.1\r\nHost: test\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn header_line_without_a_colon_is_refused_with_400() {
    assert_refused(
        "GET / HTTP/1.1\r\nHost: test\r\nNoColonHere\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn space_before_the_colon_is_refused_with_400() {
    assert_refused(
        "GET / HTTP/1.1\r\nHost : test\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn obsolete_line_folding_is_refused_with_400() {
    assert_refused(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Long: first\r\n second\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn content_length_with_transfer_encoding_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn two_different_content_lengths_are_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn content_length_with_trailing_letters_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 12abc\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn negative_content_length_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: -1\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn signed_content_length_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: +5\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn content_length_list_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5, 5\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn content_length_beyond_u64_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn transfer_encoding_without_chunked_last_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn chunked_applied_twice_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn unsupported_transfer_coding_before_chunked_is_refused_with_501() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        StatusCode::NOT_IMPLEMENTED,
    );
}

#[test]
fn transfer_encoding_in_http_10_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn http_11_without_host_is_refused_with_400() {
    assert_refused("GET / HTTP/1.1\r\n\r\n", StatusCode::BAD_REQUEST);
}

#[test]
fn duplicate_host_is_refused_with_400() {
    assert_refused(
        "GET / HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn http_2_preface_is_refused_with_505() {
    assert_refused(
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
    );
}

#[test]
fn http_3_version_is_refused_with_505() {
    assert_refused(
        "GET / HTTP/3.0\r\nHost: test\r\n\r\n",
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
    );
}

#[test]
fn invalid_chunk_size_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn chunk_data_longer_than_its_size_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn chunk_size_with_too_many_digits_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
         10000000000000000\r\nhello\r\n0\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn control_character_in_a_header_value_is_refused_with_400() {
    assert_refused(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Bad: a\x01b\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn bare_lf_in_chunk_size_line_is_refused_with_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\nhello\r\n0\r\n\r\n",
        StatusCode::BAD_REQUEST,
    );
}

#[test]
fn earlier_pipelined_responses_are_sent_before_the_refusal() {
    let counted = counted_engine();
    let mut client = Client::connect(counted.engine.local_addr());
    client.send("GET /good HTTP/1.1\r\nHost: test\r\n\r\nGET/bad\r\n\r\n");
    client.response().assert_status(StatusCode::OK);
    client.response().assert_status(StatusCode::BAD_REQUEST);
    client.assert_closed();
    assert_eq!(counted.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn client_closing_mid_head_is_not_answered() {
    let counted = counted_engine();
    let mut client = Client::connect(counted.engine.local_addr());
    client.send("GET / HTTP/1.1\r\nHost: te");
    client.shutdown_write();
    client.assert_closed();
    assert_eq!(counted.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn client_closing_mid_body_is_not_answered() {
    let counted = counted_engine();
    let mut client = Client::connect(counted.engine.local_addr());
    client.send("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhalf");
    client.shutdown_write();
    client.assert_closed();
    assert_eq!(counted.calls.load(Ordering::SeqCst), 0);
}
