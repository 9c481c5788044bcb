//! The `api` example: every feature its README lines promise.

mod common;

use common::Running;

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

#[test]
fn api_example_serves_its_routes_and_reports_the_drain_on_sigterm() {
    let server = Running::start(env!("CARGO_BIN_EXE_api"));

    let health = server.get("/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(body(&health), "ready\n");

    let user = server.get("/users/42");
    assert_eq!(body(&user), r#"{"id":42,"name":"user 42"}"#);
    assert!(
        user.contains("x-request-id: "),
        "the global middleware ran: {user}"
    );
    assert!(
        user.contains("cache-control: max-age=60"),
        "set through RequestContext: {user}"
    );
    assert!(
        server.get("/users/ada").starts_with("HTTP/1.1 404"),
        "the constraint"
    );

    let created = server.request(
        "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 14\r\nConnection: close\r\n\r\n{\"name\":\"ada\"}",
    );
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    assert_eq!(body(&created), r#"{"id":7,"name":"ada"}"#);
    let misshapen = server.request(
        "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert!(misshapen.starts_with("HTTP/1.1 422"), "{misshapen}");
    assert!(
        body(&misshapen).starts_with(r#"{"error":"#),
        "a rejection rendered by the custom exception handler: {misshapen}"
    );

    assert_eq!(body(&server.get("/posts")), r#"{"page":1,"posts":[]}"#);
    assert_eq!(body(&server.get("/posts/3")), r#"{"page":3,"posts":[]}"#);

    let echo = server.request(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(body(&echo), "hello");

    let refused = server.get("/admin/stats");
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert_eq!(
        body(&refused),
        r#"{"error":"missing or wrong bearer token"}"#,
        "the custom exception handler"
    );
    let stats = server.request(
        "GET /admin/stats HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer secret\r\nConnection: close\r\n\r\n",
    );
    assert!(stats.starts_with("HTTP/1.1 200"), "{stats}");

    let not_allowed =
        server.request("DELETE /users/42 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(not_allowed.starts_with("HTTP/1.1 405"), "{not_allowed}");
    assert!(not_allowed.contains("allow: GET"), "{not_allowed}");

    let output = server.terminate();
    assert!(output.contains("shut down: "), "{output}");
    assert!(output.contains("requests served"), "{output}");
}

#[test]
fn api_example_turns_not_ready_on_sigterm_and_serves_through_its_drain_delay() {
    let server = Running::start_with(
        env!("CARGO_BIN_EXE_api"),
        &["--drain-delay-ms", "60000", "--reuse-port"],
    );
    server.signal("-TERM");
    // The signal is handled on a thread of the example's: wait until it has turned not-ready.
    test_support::eventually(
        std::time::Duration::from_secs(10),
        "not ready after SIGTERM",
        || server.get("/health").starts_with("HTTP/1.1 503"),
    );
    let user = server.get("/users/42");
    assert!(user.starts_with("HTTP/1.1 200"), "{user}");
    assert!(user.contains("connection: close"), "{user}");
    // A second instance binds the same port while the first drains.
    let port = server.address.rsplit(':').next().unwrap().to_string();
    let successor = Running::start_on(env!("CARGO_BIN_EXE_api"), &port, &["--reuse-port"]);
    assert_eq!(successor.address, server.address);
    assert!(successor.get("/users/7").starts_with("HTTP/1.1 200"));
    successor.terminate();
}

#[test]
fn api_example_tells_the_forwarded_client_from_its_trusted_proxy() {
    let server = Running::start(env!("CARGO_BIN_EXE_api"));
    // The test connects from 127.0.0.1, the example's trusted proxy by default.
    let forwarded = server.request(
        "GET /whoami HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n",
    );
    let answer: serde_json::Value = serde_json::from_str(body(&forwarded)).unwrap();
    assert_eq!(answer["ip"], "203.0.113.7");
    assert!(answer["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    server.terminate();
}

#[test]
fn api_example_answers_503_past_a_routes_time_limit() {
    let server = Running::start(env!("CARGO_BIN_EXE_api"));
    assert_eq!(body(&server.get("/slow/10")), "slept 10 ms");
    let cut = server.get("/slow/5000");
    assert!(cut.starts_with("HTTP/1.1 503"), "{cut}");
    assert!(body(&cut).contains("took longer than"), "{cut}");
    server.terminate();
}

#[test]
fn api_example_serves_prometheus_metrics_of_its_routes() {
    let server = Running::start(env!("CARGO_BIN_EXE_api"));
    server.get("/users/42");
    let metrics = server.get("/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        // Prometheus escapes the pattern's backslash.
        body(&metrics).contains(r#"route="/users/{id:\\d+}""#),
        "{metrics}"
    );
    server.terminate();
}
