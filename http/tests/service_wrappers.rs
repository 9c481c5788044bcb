//! A user's wrapper around the server's service, forwarding its one method: whatever the
//! inner service decides before the body (streaming it, its limit, the head as received)
//! still holds, and what the wrapper does around the call happens.

mod server_common;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyperf_http::server::{RequestContext, Router, ServerSpec};
use hyperf_http::{
    BodyReader, BoxError, EngineConfig, Incoming, Limits, Response, Service, header,
};
use server_common::{connect_to, server, spec, start, stop};

/// Counts the requests it forwards, and tags each response.
struct Counting {
    inner: Arc<dyn Service>,
    seen: Arc<AtomicUsize>,
}

impl Service for Counting {
    fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        let mut response = self.inner.call(incoming)?;
        response
            .headers_mut()
            .insert("x-wrapped", header::HeaderValue::from_static("yes"));
        Ok(response)
    }
}

/// `/upload` streams its body (up to 1 MiB) and answers its length; `/head` answers the
/// length of the head as received.
fn inner_service() -> Arc<dyn Service> {
    let mut router = Router::new();
    router
        .post(
            "/upload",
            |mut body: BodyReader| -> std::io::Result<String> {
                let mut received = Vec::new();
                body.read_to_end(&mut received)?;
                Ok(received.len().to_string())
            },
        )
        .unwrap()
        .stream_body(1 << 20);
    router
        .get("/head", || {
            RequestContext::request()
                .map(|head| head.method.to_string())
                .unwrap_or_default()
        })
        .unwrap();
    ServerSpec::new("inner", "127.0.0.1", 0)
        .router(router)
        .into_service()
}

/// An engine whose own body limit (1 KiB) is far below the streamed route's.
fn small_engine() -> EngineConfig {
    EngineConfig::default().limits(Limits::default().max_body_bytes(1024))
}

#[test]
fn a_wrapper_around_the_servers_service_still_streams_bodies() {
    let seen = Arc::new(AtomicUsize::new(0));
    let wrapped = Counting {
        inner: inner_service(),
        seen: Arc::clone(&seen),
    };
    let running = start(server().server(spec("http").on_request(wrapped).engine(small_engine())));
    let mut client = connect_to(&running, "http");
    let body = vec![b'x'; 100_000];
    client.send(format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    client.send(&body);
    let reply = client.response();
    assert_eq!((reply.status, reply.text()), (200, "100000".to_string()));
    assert_eq!(reply.header("x-wrapped"), Some("yes"));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    stop(running);
}

#[test]
fn a_wrapped_services_buffered_route_keeps_the_engines_body_limit() {
    let wrapped = Counting {
        inner: inner_service(),
        seen: Arc::new(AtomicUsize::new(0)),
    };
    let running = start(server().server(spec("http").on_request(wrapped).engine(small_engine())));
    let mut client = connect_to(&running, "http");
    client.send("POST /head HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n");
    assert_eq!(client.response().status, 413);
    stop(running);
}

/// Answers every request itself, never reading a body.
struct Refusing;

impl Service for Refusing {
    fn call(&self, _: Incoming<'_>) -> Result<Response, BoxError> {
        Ok(Response::new("no".into()))
    }
}

#[test]
fn a_service_of_ones_own_is_behind_the_health_route() {
    let running = start(server().server(spec("http").on_request(Refusing).health_route("/health")));
    let mut client = connect_to(&running, "http");
    let reply = client.exchange("GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((reply.status, reply.text()), (200, "ready\n".to_string()));
    assert_eq!(
        client.exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n").text(),
        "no"
    );
    stop(running);
}

#[test]
fn a_wrapper_that_answers_without_reading_the_body_keeps_the_connection() {
    let running = start(server().server(spec("http").on_request(Refusing)));
    let mut client = connect_to(&running, "http");
    client.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response().text(), "no");
    assert_eq!(client.response().text(), "no");
    stop(running);
}
