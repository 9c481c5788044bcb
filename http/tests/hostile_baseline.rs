//! After every attack of the hostile-input suite, with the default configuration, the server
//! is back where it started: no connection left open, no descriptor leaked, and the next
//! client served. (The attacks' own answers are checked one by one in `hostile_extract` and
//! `hostile_engine`; this checks what they leave behind.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use hyperf_http::server::{Form, Json, Router, ServerSpec};
use hyperf_http::{Engine, EngineConfig};
use serde::Deserialize;
use server_common::{Shape, eventually, nested_objects, post};
use test_support::write_stack_down_to;

mod server_common;

/// How long a state that nothing signals may take to come about.
const LIMIT: Duration = Duration::from_secs(10);

/// A recursive type.
#[derive(Deserialize)]
struct Comment {
    #[allow(dead_code)]
    replies: Vec<Comment>,
}

/// The tests count the process's descriptors: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn engine() -> Engine {
    let mut router = Router::new();
    router.get("/ping", || "pong").unwrap();
    router.get("/large", || "x".repeat(16_383)).unwrap();
    router
        .post("/value", |Json(_): Json<serde_json::Value>| "ok")
        .unwrap();
    router.post("/shape", |Json(_): Json<Shape>| "ok").unwrap();
    router
        .post("/comment", |Json(_): Json<Comment>| "ok")
        .unwrap();
    router
        .post("/form", |Form(form): Form<Vec<(String, String)>>| {
            form.len().to_string()
        })
        .unwrap();
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .router(router)
        .into_service();
    Engine::start_shared("127.0.0.1:0", EngineConfig::default(), service).unwrap()
}

/// Sends `request` on a connection of its own and reads until the server closes it; the
/// status of the first response.
fn attack(engine: &Engine, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(engine.local_addr()).unwrap();
    // A guard against a hang only: every case ends with the server's close.
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0)
}

/// This process's open descriptors.
fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits until the engine has no connection left.
fn wait_for_no_connections(engine: &Engine) {
    eventually(LIMIT, "no connection is left", || engine.connections() == 0);
}

#[test]
fn after_every_attack_no_connection_or_descriptor_is_left_and_the_next_client_is_served() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let engine = engine();
    let before = descriptors();
    let json = "application/json";
    assert_eq!(
        attack(
            &engine,
            &post("/value", json, nested_objects(120).as_bytes())
        ),
        400
    );
    let junk = format!(
        r#"{{"type":"A","name":"x","junk":{}}}"#,
        nested_objects(100)
    );
    assert_eq!(attack(&engine, &post("/shape", json, junk.as_bytes())), 400);
    let thread = format!("{}{}", r#"{"replies":["#.repeat(100), "]}".repeat(100));
    assert_eq!(
        attack(&engine, &post("/comment", json, thread.as_bytes())),
        400
    );
    let form = "a=b&".repeat(2 * 1024 * 1024 / 4) + "c";
    let urlencoded = "application/x-www-form-urlencoded";
    assert_eq!(
        attack(&engine, &post("/form", urlencoded, form.as_bytes())),
        413
    );
    // A 60 KB header, then pipelined requests for 16 KiB responses, read only once all are
    // sent (the server writes under its output bound meanwhile).
    let mut pipelined = format!(
        "GET /large HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(60_000)
    )
    .into_bytes();
    for _ in 0..200 {
        pipelined.extend_from_slice(b"GET /large HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    assert_eq!(attack(&engine, &pipelined), 200);

    wait_for_no_connections(&engine);
    // A connection leaves the registry just before its socket closes.
    eventually(LIMIT, "the descriptors are back to those before", || {
        descriptors() == before
    });
    assert_eq!(
        attack(
            &engine,
            b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        ),
        200
    );
    engine.stop(Duration::from_secs(1));
}

#[test]
fn a_handler_that_goes_deep_into_its_stack_shows_in_the_stack_high_water() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut router = Router::new();
    router
        .get("/deep", || {
            let entry = 0u8;
            // 100 KiB below the handler: past 6/16 of the default 256 KiB stack counted from
            // the connection's entry, short of 10/16.
            let entry = std::ptr::addr_of!(entry) as usize;
            std::hint::black_box(write_stack_down_to(entry, 100 * 1024)).to_string()
        })
        .unwrap();
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .router(router)
        .into_service();
    let engine = Engine::start_shared("127.0.0.1:0", EngineConfig::default(), service).unwrap();
    assert_eq!(engine.stack_high_water(), 0.0);
    let request = b"GET /deep HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_eq!(attack(&engine, request), 200);
    // Measured as the connection ends, just after its socket closed.
    wait_for_no_connections(&engine);
    eventually(LIMIT, "stack use is recorded", || {
        engine.stack_high_water() > 0.0
    });
    let share = engine.stack_high_water();
    // 100 KiB below the handler, which is 9 to 27 KiB below the connection's entry.
    assert!((6.0 / 16.0..=8.0 / 16.0).contains(&share), "{share}");
    engine.stop(Duration::from_secs(1));
}

#[test]
fn a_stopped_engine_releases_its_service_and_state_once_its_connections_are_served() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let sentinel = std::sync::Arc::new(());
    let held = std::sync::Arc::downgrade(&sentinel);
    let mut router = Router::new();
    router.get("/ping", || "pong").unwrap();
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .router(router)
        .state(sentinel)
        .into_service();
    let engine = Engine::start_shared("127.0.0.1:0", EngineConfig::default(), service).unwrap();
    for _ in 0..3 {
        let request = b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        assert_eq!(attack(&engine, request), 200);
    }
    wait_for_no_connections(&engine);
    engine.stop(Duration::from_secs(1));
    drop(engine);
    // The timer thread lets go of the engine as it ends, just after the stop.
    eventually(LIMIT, "the engine's state is dropped", || {
        held.upgrade().is_none()
    });
}
