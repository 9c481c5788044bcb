//! Handler failures: an error or a panic becomes a bare `500`, and the connection and the
//! engine go on serving.

mod common;

use std::io::{self, Write};

use common::{Client, get, start};
use hyperf_http::{Body, BoxError, Request, Response, StatusCode};

/// What the failing handlers below know and must not leak.
const SECRET: &str = "database password is hunter2";

/// Fails on `/fail` (as `failure` says), answers `ok` elsewhere.
fn failing_on(failure: fn() -> Result<Response, BoxError>) -> impl hyperf_http::Service {
    move |request: Request| -> Result<Response, BoxError> {
        if request.uri().path() == "/fail" {
            failure()
        } else {
            Ok(Response::new("ok".into()))
        }
    }
}

fn assert_bare_500(client: &mut Client) {
    let reply = client.exchange(get("/fail"));
    reply.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !reply.text().contains("hunter2"),
        "the cause leaked: {:?}",
        reply.text()
    );
    assert!(
        !reply.closes(),
        "a handler failure need not end the connection"
    );
}

#[test]
fn panicking_handler_gets_a_bare_500_and_the_connection_goes_on() {
    let engine = start(failing_on(|| panic!("{SECRET}")));
    let mut client = Client::connect(engine.local_addr());
    assert_bare_500(&mut client);
    let next = client.exchange(get("/next"));
    next.assert_status(StatusCode::OK);
    assert_eq!(next.text(), "ok");
}

#[test]
fn handler_error_gets_a_bare_500_and_the_connection_goes_on() {
    let engine = start(failing_on(|| Err(SECRET.into())));
    let mut client = Client::connect(engine.local_addr());
    assert_bare_500(&mut client);
    let next = client.exchange(get("/next"));
    next.assert_status(StatusCode::OK);
    assert_eq!(next.text(), "ok");
}

#[test]
fn panicking_handler_does_not_disturb_other_connections() {
    let engine = start(failing_on(|| panic!("{SECRET}")));
    let mut bystander = Client::connect(engine.local_addr());
    assert_eq!(bystander.exchange(get("/before")).text(), "ok");
    let mut victim = Client::connect(engine.local_addr());
    assert_bare_500(&mut victim);
    assert_eq!(bystander.exchange(get("/after")).text(), "ok");
}

#[test]
fn pipelined_requests_after_a_panic_are_all_answered_in_order() {
    let engine = start(failing_on(|| panic!("{SECRET}")));
    let mut client = Client::connect(engine.local_addr());
    client.send(format!("{}{}{}", get("/first"), get("/fail"), get("/last")));
    client.response().assert_status(StatusCode::OK);
    client
        .response()
        .assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    client.response().assert_status(StatusCode::OK);
}

/// A streamed body that writes `first chunk`, then fails as `failure` says.
fn stream_failing(failure: fn() -> io::Result<()>) -> impl hyperf_http::Service {
    move |_: Request| -> Result<Response, BoxError> {
        Ok(Response::new(Body::stream(move |out| {
            out.write_all(b"first chunk")?;
            failure()
        })))
    }
}

/// The head is out when the stream fails: the body is cut short (no final chunk) by the close.
fn assert_cut_short(client: &mut Client) {
    client.send(get("/stream"));
    let head = client.head_response();
    head.assert_status(StatusCode::OK);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let rest = String::from_utf8(client.read_to_close()).unwrap();
    assert!(rest.contains("first chunk"), "{rest:?}");
    assert!(
        !rest.ends_with("0\r\n\r\n"),
        "a failed stream looked complete"
    );
    assert!(!rest.contains("hunter2"));
}

#[test]
fn stream_that_panics_midway_is_cut_short_by_the_close() {
    let engine = start(stream_failing(|| panic!("{SECRET}")));
    assert_cut_short(&mut Client::connect(engine.local_addr()));
}

#[test]
fn stream_that_fails_midway_is_cut_short_by_the_close() {
    let engine = start(stream_failing(|| Err(io::Error::other(SECRET))));
    assert_cut_short(&mut Client::connect(engine.local_addr()));
}
