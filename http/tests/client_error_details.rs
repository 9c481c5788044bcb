//! What a client developer reads when a request does not fit: a `Json`, `Form` or `Query` value
//! of the wrong shape is answered with the path of the field it failed at (`age`,
//! `user.address.zip`, `items[2].qty`); and bytes a handler returns are declared
//! `application/octet-stream`. Over real sockets.

mod server_common;

use hyperf_http::Bytes;
use hyperf_http::server::{Form, Json, Query, Router, RunningServer};
use serde::Deserialize;
use server_common::{Reply, TIMEOUT, connect_to, request, server, spec, start, stop, within};

#[derive(Deserialize)]
#[allow(dead_code)]
struct Person {
    name: String,
    age: u32,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Signup {
    user: User,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct User {
    address: Address,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Address {
    zip: u32,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Order {
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Item {
    qty: u32,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Paging {
    page: u32,
}

/// A recursive type, for bodies nested as deep as the route allows.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Node {
    next: Option<Box<Node>>,
    value: Option<u32>,
}

fn router() -> Router {
    let mut router = Router::new();
    router.post("/people", |_: Json<Person>| "ok").unwrap();
    router.post("/signups", |_: Json<Signup>| "ok").unwrap();
    router.post("/orders", |_: Json<Order>| "ok").unwrap();
    router.post("/nodes", |_: Json<Node>| "ok").unwrap();
    router
        .post("/forms/people", |_: Form<Person>| "ok")
        .unwrap();
    router.get("/pages", |_: Query<Paging>| "ok").unwrap();
    router
        .get("/bytes", || Bytes::from_static(b"\x00\x01bytes"))
        .unwrap();
    router.get("/vec", || b"\x00\x01vec".to_vec()).unwrap();
    router
}

/// One exchange of `raw` with a server of [`router`], which is then stopped.
fn exchange(raw: String) -> Reply {
    let running: RunningServer = start(server().server(spec("http").router(router())));
    let mut client = connect_to(&running, "http");
    let reply = within(TIMEOUT, move || client.exchange(raw));
    stop(running);
    reply
}

fn post(path: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn post_json(path: &str, body: &str) -> Reply {
    exchange(post(path, "application/json", body))
}

#[test]
fn a_wrong_typed_top_level_json_field_is_named() {
    let reply = post_json("/people", r#"{"name":"ada","age":"thirty-six"}"#);
    assert_eq!(reply.status, 422);
    assert!(
        reply
            .text()
            .contains(r#"age: invalid type: string "thirty-six", expected u32"#),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_wrong_typed_nested_json_field_is_named_by_its_path() {
    let reply = post_json("/signups", r#"{"user":{"address":{"zip":"ten"}}}"#);
    assert_eq!(reply.status, 422);
    assert!(
        reply.text().contains("user.address.zip: invalid type"),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_wrong_typed_json_array_element_is_named_by_its_index() {
    let reply = post_json("/orders", r#"{"items":[{"qty":1},{"qty":2},{"qty":-3}]}"#);
    assert_eq!(reply.status, 422);
    assert!(
        reply.text().contains("items[2].qty: invalid value"),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_wrong_typed_field_at_the_json_depth_limit_is_named_by_its_whole_path() {
    // 32 objects, the default depth limit: the second, path-tracking pass runs as deep as a
    // body can go, on the connection coroutine's stack.
    let body = format!(
        "{}{{\"value\":\"x\"}}{}",
        r#"{"next":"#.repeat(31),
        "}".repeat(31)
    );
    let reply = post_json("/nodes", &body);
    assert_eq!(reply.status, 422);
    let path = format!("{}value", "next.".repeat(31));
    assert!(
        reply.text().contains(&format!("{path}: invalid type")),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_missing_top_level_json_field_is_named_without_a_path_prefix() {
    let reply = post_json("/people", r#"{"name":"ada"}"#);
    assert_eq!(reply.status, 422);
    assert!(
        reply
            .text()
            .contains("the JSON body does not fit: missing field `age`"),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_missing_nested_json_field_is_named_with_its_parents_path() {
    let reply = post_json("/signups", r#"{"user":{"address":{}}}"#);
    assert_eq!(reply.status, 422);
    assert!(
        reply.text().contains("user.address: missing field `zip`"),
        "{:?}",
        reply.text()
    );
}

#[test]
fn malformed_json_is_still_a_400() {
    let reply = post_json("/people", r#"{"name":"ada","age":"#);
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("the body is not valid JSON"),
        "{:?}",
        reply.text()
    );
}

#[test]
fn trailing_characters_after_the_json_value_are_still_a_400() {
    let reply = post_json("/people", r#"{"name":"ada","age":36} x"#);
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("trailing characters"),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_wrong_typed_form_field_is_named() {
    let reply = exchange(post(
        "/forms/people",
        "application/x-www-form-urlencoded",
        "name=ada&age=thirty-six",
    ));
    assert_eq!(reply.status, 422);
    assert!(
        reply.text().contains("the form does not fit: age: "),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_missing_form_field_is_named_without_a_path_prefix() {
    let reply = exchange(post(
        "/forms/people",
        "application/x-www-form-urlencoded",
        "name=ada",
    ));
    assert_eq!(reply.status, 422);
    assert!(
        reply
            .text()
            .contains("the form does not fit: missing field `age`"),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_wrong_typed_query_field_is_named() {
    let reply = exchange(request("GET", "/pages?page=two", &[]));
    assert_eq!(reply.status, 400);
    assert!(
        reply
            .text()
            .contains("the query string does not fit: page: "),
        "{:?}",
        reply.text()
    );
}

#[test]
fn a_bytes_response_is_application_octet_stream() {
    let reply = exchange(request("GET", "/bytes", &[]));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(reply.body, b"\x00\x01bytes");
}

#[test]
fn a_vec_u8_response_is_application_octet_stream() {
    let reply = exchange(request("GET", "/vec", &[]));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(reply.body, b"\x00\x01vec");
}
