//! The `todo` example on a SQLite file of each test's own: the API its module doc promises,
//! its answers to bad input, a `201` that survives `kill -9`, and a graceful SIGTERM.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Running;

const BINARY: &str = env!("CARGO_BIN_EXE_todo");

/// A fresh database file of this test's own under the build's temporary folder.
fn database(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("todo-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("todo.db")
}

/// The example on `database`, on a free port, with `args` besides.
fn start(database: &Path, args: &[&str]) -> Running {
    let url = format!("sqlite://{}?mode=rwc", database.display());
    let mut all = vec!["--database-url", url.as_str()];
    all.extend_from_slice(args);
    Running::start_with(BINARY, &all)
}

/// A response: its status, its head (lower-cased) and its body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends `method path` with a `body` of `content_type`, if any, and returns the answer.
fn send(server: &Running, method: &str, path: &str, body: Option<(&str, &str)>) -> Answer {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some((content_type, body)) = body {
        raw.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        raw.push_str("\r\n");
    }
    let response = server.request(&raw);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

fn json(server: &Running, method: &str, path: &str, body: &str) -> Answer {
    send(server, method, path, Some(("application/json", body)))
}

fn get(server: &Running, path: &str) -> Answer {
    send(server, "GET", path, None)
}

#[test]
fn post_creates_a_todo_with_201_its_location_and_done_false() {
    let server = start(&database("create"), &[]);
    let created = json(&server, "POST", "/todos", r#"{"title":"write tests"}"#);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body,
        r#"{"id":1,"title":"write tests","done":false}"#
    );
    assert!(
        created.head.contains("\r\nlocation: /todos/1"),
        "{}",
        created.head
    );
    let second = json(&server, "POST", "/todos", r#"{"title":"  trimmed  "}"#);
    assert_eq!(second.body, r#"{"id":2,"title":"trimmed","done":false}"#);
}

#[test]
fn get_returns_a_stored_todo_and_404_for_a_missing_one() {
    let server = start(&database("show"), &[]);
    json(&server, "POST", "/todos", r#"{"title":"read me"}"#);
    let found = get(&server, "/todos/1");
    assert_eq!(found.status, 200);
    assert_eq!(found.body, r#"{"id":1,"title":"read me","done":false}"#);
    let missing = get(&server, "/todos/2");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, r#"{"error":"no todo 2"}"#);
    assert_eq!(
        get(&server, "/todos/abc").status,
        404,
        "the id's constraint"
    );
}

#[test]
fn list_returns_todos_by_id_filtered_by_done_with_limit_and_offset() {
    let server = start(&database("list"), &[]);
    for title in ["a", "b", "c", "d"] {
        json(
            &server,
            "POST",
            "/todos",
            &format!(r#"{{"title":"{title}"}}"#),
        );
    }
    json(&server, "PATCH", "/todos/2", r#"{"done":true}"#);
    json(&server, "PATCH", "/todos/4", r#"{"done":true}"#);

    let all = get(&server, "/todos");
    assert_eq!(all.status, 200);
    let ids = |answer: &Answer| -> Vec<i64> {
        let todos: Vec<serde_json::Value> = serde_json::from_str(&answer.body).unwrap();
        todos
            .iter()
            .map(|todo| todo["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&all), [1, 2, 3, 4]);
    assert_eq!(ids(&get(&server, "/todos?done=true")), [2, 4]);
    assert_eq!(ids(&get(&server, "/todos?done=false")), [1, 3]);
    assert_eq!(ids(&get(&server, "/todos?limit=2&offset=1")), [2, 3]);
    assert_eq!(ids(&get(&server, "/todos?done=true&limit=1&offset=1")), [4]);
    assert_eq!(get(&server, "/todos?limit=1000").status, 200);
}

#[test]
fn patch_changes_only_the_fields_it_names_and_404s_a_missing_todo() {
    let server = start(&database("patch"), &[]);
    json(&server, "POST", "/todos", r#"{"title":"draft"}"#);
    let done = json(&server, "PATCH", "/todos/1", r#"{"done":true}"#);
    assert_eq!(done.status, 200);
    assert_eq!(done.body, r#"{"id":1,"title":"draft","done":true}"#);
    let renamed = json(&server, "PATCH", "/todos/1", r#"{"title":"final"}"#);
    assert_eq!(renamed.body, r#"{"id":1,"title":"final","done":true}"#);
    let both = json(
        &server,
        "PATCH",
        "/todos/1",
        r#"{"title":"again","done":false}"#,
    );
    assert_eq!(both.body, r#"{"id":1,"title":"again","done":false}"#);
    let nothing = json(&server, "PATCH", "/todos/1", "{}");
    assert_eq!(nothing.body, r#"{"id":1,"title":"again","done":false}"#);
    assert_eq!(get(&server, "/todos/1").body, both.body, "stored");
    let missing = json(&server, "PATCH", "/todos/9", r#"{"done":true}"#);
    assert_eq!(missing.status, 404);
}

#[test]
fn delete_answers_204_then_the_todo_is_gone_and_a_second_delete_is_404() {
    let server = start(&database("delete"), &[]);
    json(&server, "POST", "/todos", r#"{"title":"short-lived"}"#);
    let deleted = send(&server, "DELETE", "/todos/1", None);
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, "");
    assert_eq!(get(&server, "/todos/1").status, 404);
    assert_eq!(send(&server, "DELETE", "/todos/1", None).status, 404);
    let next = json(&server, "POST", "/todos", r#"{"title":"next"}"#);
    assert!(
        next.body.starts_with(r#"{"id":2,"#),
        "an id is never reused: {}",
        next.body
    );
}

#[test]
fn an_empty_or_blank_title_is_422_with_a_message_on_post_and_patch() {
    let server = start(&database("empty-title"), &[]);
    for title in ["", "   "] {
        let refused = json(
            &server,
            "POST",
            "/todos",
            &format!(r#"{{"title":"{title}"}}"#),
        );
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert_eq!(refused.body, r#"{"error":"title: must not be empty"}"#);
    }
    json(&server, "POST", "/todos", r#"{"title":"kept"}"#);
    let refused = json(&server, "PATCH", "/todos/1", r#"{"title":""}"#);
    assert_eq!(refused.status, 422);
    assert_eq!(
        get(&server, "/todos/1").body,
        r#"{"id":1,"title":"kept","done":false}"#
    );
    let long = "x".repeat(1_001);
    let too_long = json(
        &server,
        "POST",
        "/todos",
        &format!(r#"{{"title":"{long}"}}"#),
    );
    assert_eq!(too_long.status, 422, "{}", too_long.body);
}

#[test]
fn unknown_or_misshapen_fields_are_422_naming_the_field() {
    let server = start(&database("unknown-fields"), &[]);
    let unknown = json(&server, "POST", "/todos", r#"{"title":"a","dnoe":true}"#);
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(unknown.body.contains("dnoe"), "{}", unknown.body);
    let missing = json(&server, "POST", "/todos", r#"{"name":"a"}"#);
    assert_eq!(missing.status, 422, "{}", missing.body);
    let wrong_type = json(&server, "POST", "/todos", r#"{"title":7}"#);
    assert_eq!(wrong_type.status, 422, "{}", wrong_type.body);
    assert!(wrong_type.body.contains("title"), "{}", wrong_type.body);
    json(&server, "POST", "/todos", r#"{"title":"a"}"#);
    let patch = json(&server, "PATCH", "/todos/1", r#"{"done":"yes"}"#);
    assert_eq!(patch.status, 422, "{}", patch.body);
    assert_eq!(
        get(&server, "/todos").body,
        r#"[{"id":1,"title":"a","done":false}]"#
    );
}

#[test]
fn a_bad_listing_query_is_400() {
    let server = start(&database("bad-query"), &[]);
    let too_many = get(&server, "/todos?limit=1001");
    assert_eq!(too_many.status, 400);
    assert_eq!(too_many.body, r#"{"error":"limit: at most 1000"}"#);
    assert_eq!(get(&server, "/todos?limit=abc").status, 400);
    assert_eq!(get(&server, "/todos?offset=-1").status, 400);
    assert_eq!(get(&server, "/todos?done=maybe").status, 400);
}

#[test]
fn a_body_that_is_not_json_is_415_and_malformed_json_is_400() {
    let server = start(&database("not-json"), &[]);
    let form = send(&server, "POST", "/todos", Some(("text/plain", "title=a")));
    assert_eq!(form.status, 415, "{}", form.body);
    let unlabelled = send(&server, "POST", "/todos", None);
    assert_eq!(unlabelled.status, 415, "{}", unlabelled.body);
    let malformed = json(&server, "POST", "/todos", r#"{"title":"#);
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let patch = json(&server, "PATCH", "/todos/1", "not json");
    assert_eq!(patch.status, 400, "{}", patch.body);
    assert_eq!(get(&server, "/todos").body, "[]", "nothing stored");
}

#[test]
fn a_created_todo_survives_kill_9_of_the_server() {
    let file = database("kill-9");
    let mut server = start(&file, &[]);
    let created = json(&server, "POST", "/todos", r#"{"title":"durable"}"#);
    assert_eq!(created.status, 201);
    // SIGKILL: no shutdown, no pool close, no checkpoint — only what was committed remains.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    let restarted = start(&file, &[]);
    let found = get(&restarted, "/todos/1");
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body, r#"{"id":1,"title":"durable","done":false}"#);
}

#[test]
fn sigterm_shuts_the_server_down_gracefully() {
    let server = start(&database("sigterm"), &[]);
    assert_eq!(
        json(&server, "POST", "/todos", r#"{"title":"a"}"#).status,
        201
    );
    let output = server.terminate();
    assert!(output.contains("shut down: "), "{output}");
}

#[test]
fn sigterm_with_a_drain_delay_turns_not_ready_and_goes_on_serving() {
    let server = start(
        &database("drain"),
        &["--drain-delay-ms", "60000", "--reuse-port"],
    );
    server.signal("-TERM");
    test_support::eventually(Duration::from_secs(10), "not ready after SIGTERM", || {
        get(&server, "/health").status == 503
    });
    let created = json(&server, "POST", "/todos", r#"{"title":"during the drain"}"#);
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(
        created.head.contains("connection: close"),
        "{}",
        created.head
    );
}
