//! Readiness and the drain delay: the health route answers `200` while the server serves and
//! `503` once it drains; during the drain delay the server still serves, but every
//! response closes its connection; after it the server stops accepting; an immediate shutdown
//! skips it.

mod server_common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use hyperf_http::server::{Next, Router, RunningServer, Server, ServerConfig};
use hyperf_http::{BoxError, Request, Response, StatusCode};
use server_common::{TIMEOUT, connect_to, get, server, spec, start, within};

/// Longer than any test: a drain delay that is not cut short fails the test's bound.
const LONG_DELAY: Duration = Duration::from_secs(600);

fn hello() -> Router {
    let mut router = Router::new();
    router.get("/", || "hello").unwrap();
    router
}

fn with_health(server: Server) -> RunningServer {
    start(server.server(spec("http").router(hello()).health_route("/health")))
}

fn health(running: &RunningServer) -> (u16, String) {
    let reply = connect_to(running, "http").exchange(get("/health"));
    (reply.status, reply.text())
}

/// Ends a server whose drain delay is long: the immediate shutdown cuts it short.
fn end(running: RunningServer) {
    running.shutdown_now();
    within(TIMEOUT, move || running.wait());
}

#[test]
fn the_health_route_answers_200_while_the_server_serves() {
    let running = with_health(server());
    assert_eq!(health(&running), (200, "ready\n".to_string()));
    end(running);
}

#[test]
fn the_health_route_is_answered_before_routing_and_the_middlewares() {
    let refuse_all = |_: Request, _: Next<'_>| -> Result<Response, BoxError> {
        Err(Box::new(hyperf_http::server::HttpError::new(
            StatusCode::UNAUTHORIZED,
            "no",
        )))
    };
    let running = start(
        server().server(
            spec("http")
                .router(hello())
                .middleware(refuse_all)
                .health_route("/health"),
        ),
    );
    connect_to(&running, "http")
        .exchange(get("/"))
        .assert_status(401u16);
    assert_eq!(health(&running).0, 200);
    end(running);
}

#[test]
fn without_a_health_route_its_path_is_an_ordinary_404() {
    let running = start(server().server(spec("http").router(hello())));
    connect_to(&running, "http")
        .exchange(get("/health"))
        .assert_status(404u16);
    end(running);
}

#[test]
fn during_the_drain_delay_the_health_route_answers_503_and_requests_are_still_served() {
    let running = with_health(server().drain_delay(LONG_DELAY));
    running.shutdown();
    assert_eq!(health(&running), (503, "draining\n".to_string()));
    // A new connection is still accepted and answered, and told to close.
    let reply = connect_to(&running, "http").exchange(get("/"));
    reply.assert_status(200u16);
    assert_eq!(reply.text(), "hello");
    assert!(
        reply.closes(),
        "a response during the drain delay keeps its connection"
    );
    end(running);
}

#[test]
fn a_pooled_keep_alive_connection_is_closed_by_its_next_response_during_the_drain_delay() {
    let running = with_health(server().drain_delay(LONG_DELAY));
    let mut pooled = connect_to(&running, "http");
    assert!(!pooled.exchange(get("/")).closes());
    running.shutdown();
    let reply = pooled.exchange(get("/"));
    assert_eq!(
        reply.text(),
        "hello",
        "the request on the pooled connection is answered"
    );
    assert!(reply.closes());
    pooled.assert_closed();
    end(running);
}

#[test]
fn pipelined_requests_sent_during_the_drain_delay_are_all_answered_before_the_close() {
    let running = with_health(server().drain_delay(LONG_DELAY));
    let mut pipelining = connect_to(&running, "http");
    assert!(!pipelining.exchange(get("/")).closes());
    running.shutdown();
    pipelining.send(format!("{}{}", get("/"), get("/")));
    let first = pipelining.response();
    assert_eq!(first.text(), "hello");
    assert!(
        !first.closes(),
        "closed with a request of the client's unanswered"
    );
    let second = pipelining.response();
    assert_eq!(second.text(), "hello");
    assert!(second.closes());
    pipelining.assert_closed();
    end(running);
}

#[test]
fn after_the_drain_delay_the_server_stops_accepting() {
    let delay = Duration::from_millis(200);
    let running = with_health(server().drain_delay(delay));
    let address = running.local_addr("http").unwrap();
    let began = Instant::now();
    running.shutdown();
    within(TIMEOUT, move || running.wait());
    assert!(began.elapsed() >= delay, "the drain began before its delay");
    assert!(
        TcpStream::connect(address).is_err(),
        "still accepting after the drain"
    );
}

#[test]
fn an_immediate_shutdown_skips_the_drain_delay() {
    let running = with_health(server().drain_delay(LONG_DELAY));
    // Within TIMEOUT, far below LONG_DELAY.
    end(running);
}

#[test]
fn an_immediate_shutdown_cuts_a_drain_delay_in_progress_short() {
    let running = with_health(server().drain_delay(LONG_DELAY));
    running.shutdown();
    assert_eq!(health(&running).0, 503);
    end(running);
}

#[test]
fn the_toml_options_set_the_health_route_and_the_drain_delay() {
    let config = ServerConfig::from_toml(
        r#"
        [settings]
        drain_delay = 600.0
        [[servers]]
        name = "http"
        host = "127.0.0.1"
        port = 0
        [servers.options]
        health_route = "/ready"
        "#,
    )
    .unwrap();
    let spec = config.spec("http").unwrap().router(hello());
    let running = start(
        config
            .server()
            .worker_num(1)
            .handle_signals(false)
            .process_coordinators(false)
            .server(spec),
    );
    running.shutdown();
    // Still serving 503 on /ready: the delay from the file holds the drain back.
    let reply = connect_to(&running, "http").exchange(get("/ready"));
    reply.assert_status(503u16);
    end(running);
}

#[test]
fn a_negative_drain_delay_is_refused() {
    let text = "[settings]\ndrain_delay = -1.0\n[[servers]]\nname = \"a\"\nhost = \"127.0.0.1\"\nport = 0\n";
    assert!(ServerConfig::from_toml(text).is_err());
}
