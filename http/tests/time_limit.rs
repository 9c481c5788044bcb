//! The time limit per request: the answer past it, the cancelled coroutine's defers, the
//! connection afterwards, and the compositions — a middleware, a streamed upload, a bridge
//! wait, a streamed response, a completion racing the limit — in code and TOML.

mod server_common;

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use coordinator::Coordinator;
use hyperf_http::server::{
    ACCESS_LOG_TARGET, AccessLog, AccessLogFormat, Middleware, Next, RequestId, Router, ServerSpec,
};
use hyperf_http::{Body, BodyReader, BoxError, Request, Response, StatusCode};
use server_common::{TIMEOUT, connect_to, get, server, spec, start, stop, within};
use test_support::{messages_of, record_logs};

const LIMIT: Duration = Duration::from_millis(200);

/// Waits for ever (a coordinator nobody resumes): only a cancellation ends it.
fn wait_for_ever() {
    Coordinator::new().r#yield();
}

/// `/stuck` never answers by itself, `/fast` answers at once.
fn router() -> Router {
    let mut router = Router::new();
    router
        .get("/stuck", || {
            wait_for_ever();
            "never"
        })
        .unwrap();
    router.get("/fast", || "fast").unwrap();
    router
}

fn limited(router: Router) -> ServerSpec {
    spec("http").router(router).time_limit(LIMIT)
}

#[test]
fn a_request_past_its_time_limit_is_answered_503_and_its_connection_serves_the_next() {
    let running = start(server().server(limited(router())));
    let mut client = connect_to(&running, "http");
    let reply = within(TIMEOUT, move || {
        let reply = client.exchange(get("/stuck"));
        (reply, client)
    });
    let (reply, mut client) = reply;
    assert_eq!(reply.status, 503);
    assert!(!reply.closes());
    assert_eq!(client.exchange(get("/fast")).text(), "fast");
    stop(running);
}

#[test]
fn the_status_past_the_limit_is_settable() {
    let spec = limited(router()).time_limit_status(StatusCode::GATEWAY_TIMEOUT);
    let running = start(server().server(spec));
    assert_eq!(
        connect_to(&running, "http").exchange(get("/stuck")).status,
        504
    );
    stop(running);
}

#[test]
fn the_cancelled_requests_defers_run() {
    let (sender, deferred) = mpsc::channel();
    let sender = std::sync::Mutex::new(sender);
    let mut router = Router::new();
    router
        .get("/stuck", move || {
            let sender = sender.lock().unwrap().clone();
            runtime::defer(move || sender.send("deferred").unwrap());
            wait_for_ever();
            "never"
        })
        .unwrap();
    let running = start(server().server(limited(router)));
    assert_eq!(
        connect_to(&running, "http").exchange(get("/stuck")).status,
        503
    );
    assert_eq!(deferred.recv_timeout(TIMEOUT), Ok("deferred"));
    stop(running);
}

#[test]
fn a_route_without_a_limit_is_not_cut_by_the_servers() {
    let mut router = Router::new();
    router
        .get("/slow", || {
            may::coroutine::sleep(LIMIT * 2);
            "slow"
        })
        .unwrap()
        .time_limit(Duration::ZERO);
    let running = start(server().server(limited(router)));
    assert_eq!(
        connect_to(&running, "http").exchange(get("/slow")).text(),
        "slow"
    );
    stop(running);
}

#[test]
fn a_routes_own_limit_applies_without_a_servers() {
    let mut router = Router::new();
    router
        .get("/stuck", || {
            wait_for_ever();
            "never"
        })
        .unwrap()
        .time_limit(LIMIT);
    let running = start(server().server(spec("http").router(router)));
    assert_eq!(
        connect_to(&running, "http").exchange(get("/stuck")).status,
        503
    );
    stop(running);
}

/// Waits for ever before the rest of the chain; tells when it is dropped.
struct StuckMiddleware(mpsc::SyncSender<&'static str>);

impl Middleware for StuckMiddleware {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        let _dropped = Tell(self.0.clone());
        wait_for_ever();
        next.run(request)
    }
}

/// Sends its message when dropped.
struct Tell(mpsc::SyncSender<&'static str>);

impl Drop for Tell {
    fn drop(&mut self) {
        let _ = self.0.try_send("dropped");
    }
}

#[test]
fn a_request_stuck_in_a_middleware_is_cut_at_its_limit() {
    let (sender, dropped) = mpsc::sync_channel(1);
    let spec = limited(router()).middleware(StuckMiddleware(sender));
    let running = start(server().server(spec));
    assert_eq!(
        connect_to(&running, "http").exchange(get("/fast")).status,
        503
    );
    assert_eq!(dropped.recv_timeout(TIMEOUT), Ok("dropped"));
    stop(running);
}

#[test]
fn a_streamed_upload_cut_at_its_limit_closes_the_connection() {
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
        .stream_body(0);
    let running = start(server().server(limited(router)));
    let mut client = connect_to(&running, "http");
    // Half the body, then nothing: the handler waits in its read.
    client.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
    let reply = client.response();
    assert_eq!(reply.status, 503);
    assert!(reply.closes());
    client.assert_closed();
    stop(running);
}

#[cfg(feature = "tokio")]
#[test]
fn a_bridge_wait_cut_at_its_limit_drops_its_future() {
    let (sender, dropped) = mpsc::sync_channel(1);
    let sender = std::sync::Mutex::new(sender);
    let mut router = Router::new();
    router
        .get("/wait", move || {
            let guard = Tell(sender.lock().unwrap().clone());
            runtime::block_on(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
            "never"
        })
        .unwrap();
    let running = start(server().server(limited(router)));
    assert_eq!(
        connect_to(&running, "http").exchange(get("/wait")).status,
        503
    );
    assert_eq!(dropped.recv_timeout(TIMEOUT), Ok("dropped"));
    stop(running);
}

#[test]
fn a_streamed_response_still_writing_at_the_limit_is_cut_and_its_connection_closed() {
    let mut router = Router::new();
    router
        .get("/stream", || {
            Response::new(Body::stream(|out| {
                use std::io::Write;
                // Far longer than the limit, a piece at a time.
                for _ in 0..200 {
                    out.write_all(b"piece\n")?;
                    may::coroutine::sleep(Duration::from_millis(10));
                }
                Ok(())
            }))
        })
        .unwrap();
    let running = start(server().server(limited(router)));
    let mut client = connect_to(&running, "http");
    client.send(get("/stream"));
    let received = client.read_to_close();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("piece"), "{text}");
    // Cut: the chunked body never got its last chunk.
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");
    stop(running);
}

#[test]
fn a_request_finishing_as_its_limit_passes_is_answered_once() {
    let mut router = Router::new();
    router
        .get("/edge", || {
            may::coroutine::sleep(Duration::from_millis(5));
            "done"
        })
        .unwrap();
    let running = start(
        server().server(
            spec("http")
                .router(router)
                .time_limit(Duration::from_millis(5)),
        ),
    );
    let mut client = connect_to(&running, "http");
    // Pipelined: every request gets exactly one answer, in order, whichever side won.
    let rounds = 100;
    client.send(get("/edge").repeat(rounds));
    for _ in 0..rounds {
        let reply = client.response();
        assert!(
            (reply.status == 200 && reply.text() == "done") || reply.status == 503,
            "{} {}",
            reply.status,
            reply.text()
        );
    }
    assert_eq!(
        client
            .exchange(get("/edge").replace("/edge", "/missing"))
            .status,
        404
    );
    stop(running);
}

#[test]
fn a_request_past_its_limit_keeps_its_request_id_and_access_line() {
    record_logs();
    let spec = limited(router())
        .middleware_with_priority(RequestId::new(), 100)
        .access_log(AccessLog::new(AccessLogFormat::Common));
    let running = start(server().server(spec));
    let request = "GET /stuck?timeout_marker HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\n\r\n";
    let reply = connect_to(&running, "http").exchange(request);
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("x-request-id"), Some("abc-123"));
    stop(running);
    let lines = messages_of(ACCESS_LOG_TARGET, "timeout_marker");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("\" 503 "), "{}", lines[0]);
    assert!(lines[0].ends_with("abc-123"), "{}", lines[0]);
}

#[cfg(feature = "toml")]
#[test]
fn the_time_limit_is_read_from_toml() {
    let config = hyperf_http::server::ServerConfig::from_toml(
        r#"
        [[servers]]
        name = "http"
        host = "127.0.0.1"
        port = 0
        [servers.options]
        time_limit = 0.2
        time_limit_status = 504
        "#,
    )
    .unwrap();
    let running = start(server().server(config.spec("http").unwrap().router(router())));
    assert_eq!(
        connect_to(&running, "http").exchange(get("/stuck")).status,
        504
    );
    stop(running);
}

#[cfg(feature = "toml")]
#[test]
fn a_time_limit_status_that_is_not_a_status_is_a_configuration_error() {
    let refused = hyperf_http::server::ServerConfig::from_toml(
        r#"
        [[servers]]
        name = "http"
        host = "127.0.0.1"
        port = 0
        [servers.options]
        time_limit_status = 99
        "#,
    );
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("time_limit_status")
    );
}
