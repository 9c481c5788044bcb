//! The `api` example: every feature its README lines promise.

mod common;

use common::Running;
use examples::api::{JsonErrors, Served, routes};
use hyperf_http::StatusCode;
use hyperf_http::server::{RequestId, ServerSpec};
use hyperf_http::testing::TestClient;
use serde_json::json;

/// The example's routes in-process, with its request ids, error rendering and trusted proxy.
fn api() -> TestClient {
    let spec = ServerSpec::new("http", "127.0.0.1", 0)
        .router(routes(Served::default()).unwrap())
        .trusted_proxies("127.0.0.1".parse().unwrap())
        .middleware_with_priority(RequestId::new(), 10)
        .exception_handler(JsonErrors);
    TestClient::new(spec)
}

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

#[test]
fn api_routes_answer_a_user_as_json_with_its_cache_header_and_request_id() {
    let response = api().get("/users/42").send();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>(),
        json!({ "id": 42, "name": "user 42" })
    );
    assert_eq!(response.header("cache-control"), Some("max-age=60"));
    assert!(response.header("x-request-id").is_some(), "{response:?}");
}

#[test]
fn api_routes_create_a_user_from_json() {
    let response = api().post("/users").json(&json!({ "name": "ada" })).send();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.json::<serde_json::Value>(),
        json!({ "id": 7, "name": "ada" })
    );
}

#[test]
fn api_routes_render_a_rejection_as_a_json_error() {
    let response = api().post("/users").json(&json!({})).send();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = response.json::<serde_json::Value>();
    assert!(error["error"].is_string(), "{error}");
}

#[test]
fn api_routes_page_posts_and_echo_bodies() {
    let api = api();
    assert_eq!(
        api.get("/posts").send().json::<serde_json::Value>(),
        json!({ "page": 1, "posts": [] })
    );
    assert_eq!(
        api.get("/posts/3").send().json::<serde_json::Value>(),
        json!({ "page": 3, "posts": [] })
    );
    assert_eq!(api.post("/echo").body("hello").send().text(), "hello");
}

#[test]
fn api_routes_guard_admin_with_a_bearer_token() {
    let api = api();
    let refused = api.get("/admin/stats").send();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.json::<serde_json::Value>(),
        json!({ "error": "missing or wrong bearer token" })
    );
    let stats = api
        .get("/admin/stats")
        .header("authorization", "Bearer secret")
        .send();
    assert_eq!(stats.status(), StatusCode::OK);
    assert_eq!(stats.json::<serde_json::Value>(), json!({ "requests": 0 }));
}

#[test]
fn api_routes_refuse_an_unknown_path_and_a_wrong_method() {
    let api = api();
    assert_eq!(api.get("/users/ada").send().status(), StatusCode::NOT_FOUND);
    let refused = api.delete("/users/42").send();
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.header("allow"), Some("GET"));
}

#[test]
fn api_routes_tell_the_forwarded_client_from_the_trusted_proxy_only() {
    let api = api();
    let forwarded = api
        .get("/whoami")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .json::<serde_json::Value>();
    assert_eq!(forwarded["ip"], "203.0.113.7");
    let direct = api
        .get("/whoami")
        .header("x-forwarded-for", "203.0.113.7")
        .client_addr("198.51.100.9:4000".parse().unwrap())
        .send()
        .json::<serde_json::Value>();
    assert_eq!(direct["ip"], "198.51.100.9");
    assert_eq!(direct["peer"], "198.51.100.9:4000");
}

#[test]
fn api_example_serves_its_static_folder_with_ranges_and_etags() {
    let server = Running::start(env!("CARGO_BIN_EXE_api"));
    let page = server.get("/static/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(body(&page).contains("static folder"), "{page}");
    let etag = page
        .lines()
        .find_map(|line| line.strip_prefix("etag: "))
        .expect("an ETag")
        .to_string();
    let unchanged = server.request(&format!(
        "GET /static/ HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    ));
    assert!(unchanged.starts_with("HTTP/1.1 304"), "{unchanged}");
    let part = server.request(
        "GET /static/app.js HTTP/1.1\r\nHost: t\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n",
    );
    assert!(part.starts_with("HTTP/1.1 206"), "{part}");
    assert_eq!(body(&part), "// The api");
    server.terminate();
}

#[test]
fn api_example_compresses_for_a_client_that_accepts_gzip() {
    let server = Running::start(env!("CARGO_BIN_EXE_api"));
    let compressed = server.request(
        "GET /static/app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert!(compressed.starts_with("HTTP/1.1 200"), "{compressed}");
    assert!(
        compressed.contains("content-encoding: gzip"),
        "{compressed}"
    );
    server.terminate();
}

#[test]
fn api_example_answers_a_preflight_from_its_front_end() {
    let server = Running::start(env!("CARGO_BIN_EXE_api"));
    let preflight = server.request(
        "OPTIONS /users HTTP/1.1\r\nHost: t\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    );
    assert!(preflight.starts_with("HTTP/1.1 204"), "{preflight}");
    assert!(
        preflight.contains("access-control-allow-origin: http://localhost:3000"),
        "{preflight}"
    );
    let elsewhere = server.request(
        "OPTIONS /users HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    );
    assert!(
        !elsewhere.contains("access-control-allow-origin"),
        "{elsewhere}"
    );
    server.terminate();
}
