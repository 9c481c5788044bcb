//! The body extractors' limits and where they are set, over real sockets: the body limit
//! (`413`) and the JSON depth (`400`) of a server (in code and in TOML) and of a route, which
//! may raise or lower the server's; the engine's `max_body_bytes` still caps what is read.

mod server_common;

use hyperf_http::server::{Form, Json, Router, RunningServer, ServerConfig, ServerSpec};
use hyperf_http::{Bytes, EngineConfig, Limits};
use server_common::{exchange, get, post, server, spec, start, stop};

fn post_json(path: &str, body: &str) -> Vec<u8> {
    post(path, "application/json", body.as_bytes())
}

/// `levels` nested arrays around a `1`.
fn nested(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

/// `/value` takes any JSON; `/bytes` and `/text` the body; `/form` a form. `route` may set
/// the limits of `/own`, a JSON route.
fn router(route: impl FnOnce(hyperf_http::server::RouteRef<'_>)) -> Router {
    let mut router = Router::new();
    router.get("/ping", || "pong").unwrap();
    router
        .post("/value", |Json(_): Json<serde_json::Value>| "taken")
        .unwrap();
    router
        .post("/bytes", |body: Bytes| body.len().to_string())
        .unwrap();
    router
        .post("/text", |body: String| body.len().to_string())
        .unwrap();
    route(
        router
            .post("/own", |Json(_): Json<serde_json::Value>| "taken")
            .unwrap(),
    );
    router
}

fn run(spec: ServerSpec) -> RunningServer {
    start(server().server(spec))
}

#[test]
fn a_servers_json_depth_refuses_a_body_one_level_deeper() {
    let running = run(spec("http").json_depth(4).router(router(|_| {})));
    assert_eq!(
        exchange(&running, post_json("/value", &nested(4))).status,
        200
    );
    let reply = exchange(&running, post_json("/value", &nested(5)));
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("more than 4 levels"),
        "{}",
        reply.text()
    );
    stop(running);
}

#[test]
fn a_routes_json_depth_replaces_the_servers() {
    let running = run(spec("http").json_depth(4).router(router(|route| {
        route.json_depth(8);
    })));
    assert_eq!(
        exchange(&running, post_json("/own", &nested(8))).status,
        200
    );
    assert_eq!(
        exchange(&running, post_json("/own", &nested(9))).status,
        400
    );
    assert_eq!(
        exchange(&running, post_json("/value", &nested(5))).status,
        400,
        "the other routes keep the server's"
    );
    stop(running);
}

#[test]
fn a_servers_body_limit_refuses_a_bytes_body_one_byte_longer() {
    let running = run(spec("http").body_limit(1024).router(router(|_| {})));
    let reply = exchange(&running, post("/bytes", "text/plain", &[b'x'; 1024]));
    assert_eq!((reply.status, reply.text()), (200, "1024".to_string()));
    let reply = exchange(&running, post("/bytes", "text/plain", &[b'x'; 1025]));
    assert_eq!(reply.status, 413);
    assert!(
        reply.text().contains("1025 bytes") && reply.text().contains("limit of 1024 bytes"),
        "{}",
        reply.text()
    );
    stop(running);
}

#[test]
fn a_servers_body_limit_refuses_a_string_body_past_it() {
    let running = run(spec("http").body_limit(1024).router(router(|_| {})));
    let reply = exchange(&running, post("/text", "text/plain", &[b'x'; 1025]));
    assert_eq!(reply.status, 413);
    stop(running);
}

#[test]
fn a_servers_body_limit_refuses_a_json_body_past_it_before_its_depth_is_looked_at() {
    let running = run(spec("http").body_limit(64).router(router(|_| {})));
    let reply = exchange(&running, post_json("/value", &nested(40)));
    assert_eq!(reply.status, 413, "{}", reply.text());
    stop(running);
}

#[test]
fn a_routes_body_limit_can_be_lower_than_the_servers() {
    let running = run(spec("http").router(router(|route| {
        route.body_limit(8);
    })));
    assert_eq!(exchange(&running, post_json("/own", "[1,2,3]")).status, 200);
    assert_eq!(
        exchange(&running, post_json("/own", "[1,2,3,4]")).status,
        413
    );
    assert_eq!(
        exchange(&running, post_json("/value", "[1,2,3,4]")).status,
        200,
        "the other routes keep the server's"
    );
    stop(running);
}

#[test]
fn a_routes_body_limit_can_raise_the_default_for_a_form() {
    let mut router = Router::new();
    router
        .post("/form", |Form(pairs): Form<Vec<(String, String)>>| {
            pairs.len().to_string()
        })
        .unwrap()
        .body_limit(3 * 1024 * 1024);
    let running = run(spec("http").router(router));
    let mut body = "a=b&".repeat(2 * 1024 * 1024 / 4);
    body.push('c');
    let reply = exchange(
        &running,
        post(
            "/form",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
        ),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), (2 * 1024 * 1024 / 4 + 1).to_string());
    stop(running);
}

#[test]
fn the_engines_max_body_bytes_still_caps_a_routes_higher_body_limit() {
    let engine = EngineConfig::default().limits(Limits::default().max_body_bytes(4096));
    let running = start(
        server().server(spec("http").engine(engine).router(router(|route| {
            route.body_limit(1024 * 1024);
        }))),
    );
    let body = format!("[{}1]", "1,".repeat(4096));
    let reply = exchange(&running, post_json("/own", &body));
    assert_eq!(reply.status, 413, "the engine refuses it: {}", reply.text());
    assert_eq!(exchange(&running, get("/ping")).status, 200);
    stop(running);
}

/// The spec of server `http` from TOML with `options` in its `[servers.options]`.
fn spec_from_toml(options: &str) -> ServerSpec {
    let config = ServerConfig::from_toml(&format!(
        "[[servers]]\nname = \"http\"\nhost = \"127.0.0.1\"\nport = 0\n[servers.options]\n{options}\n"
    ))
    .expect("a valid configuration");
    config.spec("http").expect("the server is configured")
}

#[test]
fn the_toml_body_limit_option_sets_the_servers_body_limit() {
    let running = run(spec_from_toml("body_limit = 100").router(router(|_| {})));
    assert_eq!(
        exchange(&running, post("/bytes", "text/plain", &[b'x'; 100])).status,
        200
    );
    assert_eq!(
        exchange(&running, post("/bytes", "text/plain", &[b'x'; 101])).status,
        413
    );
    stop(running);
}

#[test]
fn the_toml_json_depth_option_sets_the_servers_json_depth() {
    let running = run(spec_from_toml("json_depth = 2").router(router(|_| {})));
    assert_eq!(
        exchange(&running, post_json("/value", &nested(2))).status,
        200
    );
    assert_eq!(
        exchange(&running, post_json("/value", &nested(3))).status,
        400
    );
    stop(running);
}
