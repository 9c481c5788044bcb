//! Hostile bodies and values against the extractors, over real sockets: JSON nested deep enough
//! to overflow a connection's coroutine stack when deserialised (a `serde_json::Value`, a
//! tagged enum buffering an ignored field, a recursive type) is refused before it is, a form
//! past the body limit is refused before it is parsed, and the server serves the next
//! connection; control characters a client sent never come back raw in a rejection.

mod server_common;

use hyperf_http::server::{Form, Json, Path, Query, Router, RunningServer};
use serde::Deserialize;
use server_common::{Reply, Shape, exchange, get, nested_objects, post, server, spec, start, stop};

/// A comment with its replies: a recursive type.
#[derive(Deserialize)]
struct Comment {
    #[allow(dead_code)]
    text: String,
    replies: Vec<Comment>,
}

impl Comment {
    fn depth(&self) -> usize {
        1 + self.replies.iter().map(Comment::depth).max().unwrap_or(0)
    }
}

/// `levels` comments, each the only reply of the one before: two JSON levels each (the
/// object and its `replies` array).
fn comment_thread(levels: usize) -> String {
    format!(
        "{}{}",
        r#"{"text":"hi","replies":["#.repeat(levels),
        "]}".repeat(levels)
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Posts,
    Users,
}

#[derive(Deserialize)]
struct Search {
    #[allow(dead_code)]
    kind: Kind,
}

fn routes() -> Router {
    let mut router = Router::new();
    router.get("/ping", || "pong").unwrap();
    router
        .post("/value", |Json(value): Json<serde_json::Value>| {
            value.to_string().len().to_string()
        })
        .unwrap();
    router
        .post("/shape", |Json(shape): Json<Shape>| match shape {
            Shape::A { name } => name,
        })
        .unwrap();
    router
        .post("/comments", |Json(comment): Json<Comment>| {
            comment.depth().to_string()
        })
        .unwrap();
    router
        .post("/form", |Form(pairs): Form<Vec<(String, String)>>| {
            pairs.len().to_string()
        })
        .unwrap();
    router
        .get("/kinds/{kind}", |Path(kind): Path<Kind>| match kind {
            Kind::Posts => "posts",
            Kind::Users => "users",
        })
        .unwrap();
    router
        .get("/search", |Query(_): Query<Search>| "found")
        .unwrap();
    router
        .post("/search", |Json(_): Json<Search>| "found")
        .unwrap();
    router
}

fn running() -> RunningServer {
    start(server().server(spec("http").router(routes())))
}

/// The server still serves: a new connection gets its answer.
#[track_caller]
fn assert_still_serving(running: &RunningServer) {
    let reply = exchange(running, get("/ping"));
    assert_eq!((reply.status, reply.text()), (200, "pong".to_string()));
}

// Depth

// The default depth's stack use, measured by `cargo run --release -p benches --bin stack_use`:
// about 0.6 KiB per level in an optimised build and 2 KiB in a debug one, on top of 9 and
// 26 KiB; at 32 levels up to 28 and 92 KiB of the default 256 KiB connection stack. So the
// bodies at the default depth are served by debug builds too.

#[test]
fn a_json_value_nested_120_deep_is_a_400_and_the_server_goes_on() {
    let running = running();
    let body = nested_objects(120);
    let reply = exchange(
        &running,
        post("/value", "application/json", body.as_bytes()),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_still_serving(&running);
    stop(running);
}

#[test]
fn a_tagged_enum_with_an_ignored_field_nested_100_deep_is_a_400_and_the_server_goes_on() {
    let running = running();
    let body = format!(
        r#"{{"type":"A","name":"x","junk":{}}}"#,
        nested_objects(100)
    );
    let reply = exchange(
        &running,
        post("/shape", "application/json", body.as_bytes()),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_still_serving(&running);
    stop(running);
}

#[test]
fn a_recursive_type_100_deep_is_a_400_and_the_server_goes_on() {
    let running = running();
    let body = comment_thread(100);
    let reply = exchange(
        &running,
        post("/comments", "application/json", body.as_bytes()),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_still_serving(&running);
    stop(running);
}

#[test]
fn the_depth_rejection_says_the_body_is_nested_too_deep_and_names_the_limit() {
    let running = running();
    let body = nested_objects(33);
    let reply = exchange(
        &running,
        post("/value", "application/json", body.as_bytes()),
    );
    assert_eq!(reply.status, 400);
    let text = reply.text();
    assert!(text.contains("nested too deep"), "{text}");
    assert!(text.contains("32"), "{text}");
    stop(running);
}

#[test]
fn a_json_value_exactly_at_the_default_depth_is_served() {
    let running = running();
    let body = nested_objects(32);
    let reply = exchange(
        &running,
        post("/value", "application/json", body.as_bytes()),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), body.len().to_string());
    stop(running);
}

#[test]
fn a_tagged_enum_with_an_ignored_field_at_the_default_depth_is_served() {
    let running = running();
    // The outer object is one level: the junk field holds the other 31.
    let body = format!(r#"{{"type":"A","name":"x","junk":{}}}"#, nested_objects(31));
    let reply = exchange(
        &running,
        post("/shape", "application/json", body.as_bytes()),
    );
    assert_eq!((reply.status, reply.text()), (200, "x".to_string()));
    stop(running);
}

#[test]
fn a_recursive_type_at_the_default_depth_is_served() {
    let running = running();
    // 16 comments: 32 levels.
    let body = comment_thread(16);
    let reply = exchange(
        &running,
        post("/comments", "application/json", body.as_bytes()),
    );
    assert_eq!((reply.status, reply.text()), (200, "16".to_string()));
    stop(running);
}

// Size

#[test]
fn a_form_one_byte_past_2_mib_is_a_413_and_the_server_goes_on() {
    let running = running();
    let mut body = "a=b&".repeat(2 * 1024 * 1024 / 4);
    body.push('c');
    assert_eq!(body.len(), 2 * 1024 * 1024 + 1);
    let reply = exchange(
        &running,
        post(
            "/form",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
        ),
    );
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(
        reply.text().contains("2097152 bytes"),
        "the message names the limit: {}",
        reply.text()
    );
    assert_still_serving(&running);
    stop(running);
}

// Control characters

/// Whether `reply`'s body holds no raw CR or LF, and the escaped `\r\n` in their place.
#[track_caller]
fn assert_escaped(reply: &Reply) {
    assert!(
        !reply.body.contains(&b'\r') && !reply.body.contains(&b'\n'),
        "a raw CR or LF in {:?}",
        reply.text()
    );
    assert!(reply.text().contains(r"\r\n"), "{:?}", reply.text());
}

#[test]
fn a_query_value_with_cr_lf_comes_back_escaped_in_the_rejection() {
    let running = running();
    let reply = exchange(&running, get("/search?kind=x%0D%0AX-Injected:%20yes"));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_escaped(&reply);
    stop(running);
}

#[test]
fn a_path_value_with_cr_lf_comes_back_escaped_in_the_rejection() {
    let running = running();
    let reply = exchange(&running, get("/kinds/x%0D%0AX-Injected:%20yes"));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_escaped(&reply);
    stop(running);
}

#[test]
fn a_json_string_with_cr_lf_comes_back_escaped_in_the_rejection() {
    let running = running();
    let reply = exchange(
        &running,
        post(
            "/search",
            "application/json",
            br#"{"kind":"x\r\nX-Injected: yes"}"#,
        ),
    );
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert_escaped(&reply);
    stop(running);
}

#[test]
fn a_rejections_log_line_has_no_raw_cr_lf() {
    test_support::record_logs();
    let running = running();
    let reply = exchange(&running, get("/search?kind=logged%0D%0AFAKE%20LINE"));
    assert_eq!(reply.status, 400);
    stop(running);
    let records = test_support::records();
    let line = &records
        .iter()
        .find(|record| record.message.contains("logged"))
        .expect("the rejection is logged (debug level)")
        .message;
    assert!(!line.contains(['\r', '\n']), "{line:?}");
    assert!(line.contains(r"logged\r\nFAKE LINE"), "{line:?}");
}
