//! `tracing` that follows the coroutine: events of a request — its handler's, and those of
//! coroutines the handler spawns — belong to that request's span even when its coroutine
//! parks and resumes on another worker thread; the request span's fields; W3C `traceparent`.
#![cfg(feature = "tracing")]

mod server_common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use hyperf_http::Request;
use hyperf_http::server::{CoroutineRegistry, RequestId, RequestSpan, Router, RunningServer};
use server_common::{TIMEOUT, connect_to, eventually, request, server, spec, start, stop};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// What the test layer saw of one event: the request id the code that emitted it expected
/// (its `expected` field), the `request_id` of the nearest span of its scope that has one,
/// and whether it came from a spawned child coroutine.
#[derive(Debug, Clone)]
struct SeenEvent {
    expected: String,
    found: Option<String>,
    child: bool,
}

static EVENTS: Mutex<Vec<SeenEvent>> = Mutex::new(Vec::new());
/// The fields of every closed request span.
static SPANS: Mutex<Vec<BTreeMap<String, String>>> = Mutex::new(Vec::new());

/// A span's fields as text, kept in its extensions.
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

/// Records each span's fields and, for each event with an `expected` field, the request id
/// of its span scope.
struct Recorder;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        values.record(extensions.get_mut::<Fields>().unwrap());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(expected) = fields.0.get("expected").cloned() else {
            return;
        };
        let found = ctx.event_scope(event).and_then(|scope| {
            scope.into_iter().find_map(|span| {
                span.extensions()
                    .get::<Fields>()?
                    .0
                    .get("request_id")
                    .cloned()
            })
        });
        EVENTS.lock().unwrap().push(SeenEvent {
            expected,
            found,
            child: fields.0.contains_key("child"),
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        if span.name() == "http.request" {
            let fields = span.extensions().get::<Fields>().unwrap().0.clone();
            SPANS.lock().unwrap().push(fields);
        }
    }
}

/// Two scheduler threads and the global subscriber, once for the whole test binary.
fn set_up() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = runtime::configure(runtime::Config::default().workers(2));
        tracing::subscriber::set_global_default(CoroutineRegistry::new().with(Recorder))
            .expect("no other subscriber in this test binary");
    });
}

/// The events whose expected id starts with `prefix` (each test uses its own).
fn events_of(prefix: &str) -> Vec<SeenEvent> {
    let events = EVENTS.lock().unwrap();
    events
        .iter()
        .filter(|event| event.expected.starts_with(prefix))
        .cloned()
        .collect()
}

/// The fields of the closed request span whose `request_id` is `id`, waiting (boundedly) for
/// it to close.
fn span_of(id: &str) -> BTreeMap<String, String> {
    let find = || {
        SPANS
            .lock()
            .unwrap()
            .iter()
            .find(|fields| fields.get("request_id").map(String::as_str) == Some(id))
            .cloned()
    };
    eventually(TIMEOUT, "the request span closes", || find().is_some());
    find().unwrap()
}

/// A server with `RequestId`, then `RequestSpan`, in front of `router`.
fn traced_server(router: Router) -> RunningServer {
    set_up();
    start(
        server().server(
            spec("http")
                .router(router)
                .middleware_with_priority(RequestId::new(), 100)
                .middleware_with_priority(RequestSpan::new(), 90),
        ),
    )
}

/// The request's id as the `RequestId` middleware left it.
fn request_id(request: &Request) -> String {
    request.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// How many requests of the migration test resumed on another thread than they began on.
static MIGRATED: AtomicUsize = AtomicUsize::new(0);

/// `GET /work/{n}`: four events, each followed by a 1 ms sleep that parks the coroutine among
/// hundreds of others, then an event in a spawned child after it parked too.
fn parking_router() -> Router {
    let mut router = Router::new();
    router
        .get("/work/{n}", |request: Request| {
            let id = request_id(&request);
            let began_on = thread::current().id();
            let mut moved = false;
            for step in 0..4u32 {
                tracing::info!(expected = %id, step, "step");
                may::coroutine::sleep(Duration::from_millis(1));
                moved |= thread::current().id() != began_on;
            }
            let in_child = id.clone();
            runtime::spawn(move || {
                may::coroutine::sleep(Duration::from_millis(1));
                tracing::info!(expected = %in_child, child = true, "in a child coroutine");
            })
            .join()
            .unwrap();
            tracing::info!(expected = %id, "done");
            if moved {
                MIGRATED.fetch_add(1, Ordering::SeqCst);
            }
            "ok"
        })
        .unwrap();
    router
}

#[test]
fn events_of_a_thousand_parking_requests_carry_only_their_own_request_id() {
    const REQUESTS: usize = 1000;
    let running = traced_server(parking_router());
    let address = running.local_addr("http").unwrap();
    let (done, replies) = mpsc::channel();
    // The clients are coroutines too: a thousand connections at once, on the same two
    // scheduler threads as the server.
    for n in 0..REQUESTS {
        let done = done.clone();
        runtime::spawn(move || {
            let outcome = (|| -> std::io::Result<String> {
                let mut stream = may::net::TcpStream::connect(address)?;
                let text = format!(
                    "GET /work/{n} HTTP/1.1\r\nHost: test\r\nX-Request-Id: many-{n}\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(text.as_bytes())?;
                let mut reply = String::new();
                stream.read_to_string(&mut reply)?;
                Ok(reply)
            })();
            let _ = done.send((n, outcome));
        });
    }
    drop(done);
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..REQUESTS {
        let left = deadline.saturating_duration_since(Instant::now());
        let (n, reply) = replies
            .recv_timeout(left)
            .expect("every request is answered in time");
        let reply = reply.unwrap_or_else(|error| panic!("request {n}: {error}"));
        assert!(reply.starts_with("HTTP/1.1 200"), "request {n}: {reply}");
    }

    let events = events_of("many-");
    // Five events in the handler and one in its child, for every request.
    assert_eq!(events.len(), REQUESTS * 6);
    let strays: Vec<&SeenEvent> = events
        .iter()
        .filter(|event| event.found.as_deref() != Some(event.expected.as_str()))
        .collect();
    assert!(
        strays.is_empty(),
        "{} events outside their request's span, e.g. {:?}",
        strays.len(),
        &strays[..strays.len().min(5)]
    );
    assert!(
        MIGRATED.load(Ordering::SeqCst) > 0,
        "no request resumed on another thread: the test proved nothing"
    );
    stop(running);
}

#[test]
fn an_event_in_a_coroutine_spawned_by_the_handler_carries_the_request_id() {
    let mut router = Router::new();
    router
        .get("/spawns", |request: Request| {
            let id = request_id(&request);
            runtime::go!(move || {
                may::coroutine::sleep(Duration::from_millis(1));
                tracing::info!(expected = %id, child = true, "from the child");
            })
            .join()
            .unwrap();
            "spawned"
        })
        .unwrap();
    let running = traced_server(router);
    let reply = connect_to(&running, "http").exchange(request(
        "GET",
        "/spawns",
        &[("x-request-id", "child-1")],
    ));
    assert_eq!(reply.status, 200);
    let events = events_of("child-");
    assert_eq!(events.len(), 1);
    assert!(events[0].child);
    assert_eq!(events[0].found.as_deref(), Some("child-1"));
    stop(running);
}

/// A router with `GET /users/{id:\d+}`, which answers `201`.
fn users_router() -> Router {
    let mut router = Router::new();
    router
        .get("/users/{id:\\d+}", || {
            (hyperf_http::StatusCode::CREATED, "made")
        })
        .unwrap();
    router
}

#[test]
fn the_request_span_has_the_method_route_pattern_client_request_id_status_and_duration() {
    let running = traced_server(users_router());
    let reply = connect_to(&running, "http").exchange(request(
        "GET",
        "/users/42",
        &[("x-request-id", "fields-1")],
    ));
    assert_eq!(reply.status, 201);
    let span = span_of("fields-1");
    assert_eq!(span["http.request.method"], "GET");
    assert_eq!(span["http.route"], "/users/{id:\\d+}");
    assert_eq!(span["http.status_code"], "201");
    assert!(span["duration_us"].parse::<u64>().is_ok());
    assert_eq!(span["client.address"], "127.0.0.1");
    stop(running);
}

#[test]
fn a_valid_traceparent_is_continued_in_the_span_and_the_response() {
    let running = traced_server(users_router());
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = connect_to(&running, "http").exchange(request(
        "GET",
        "/users/1",
        &[("x-request-id", "trace-1"), ("traceparent", incoming)],
    ));
    let span = span_of("trace-1");
    assert_eq!(span["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span["parent_span_id"], "00f067aa0ba902b7");
    let expected = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", span["span_id"]);
    assert_eq!(reply.header("traceparent"), Some(expected.as_str()));
    assert_ne!(span["span_id"], "00f067aa0ba902b7");
    stop(running);
}

#[test]
fn an_invalid_traceparent_is_ignored_and_a_new_trace_begins() {
    let running = traced_server(users_router());
    let invalid = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
    let reply = connect_to(&running, "http").exchange(request(
        "GET",
        "/users/1",
        &[("x-request-id", "invalid-1"), ("traceparent", invalid)],
    ));
    let span = span_of("invalid-1");
    assert!(!span.contains_key("parent_span_id"));
    assert_eq!(span["trace_id"].len(), 32);
    assert_ne!(span["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let expected = format!("00-{}-{}-01", span["trace_id"], span["span_id"]);
    assert_eq!(reply.header("traceparent"), Some(expected.as_str()));
    stop(running);
}

#[test]
fn a_failed_request_gets_a_traceparent_and_its_status_in_the_span() {
    let mut router = Router::new();
    router
        .get(
            "/fails",
            || -> Result<&'static str, hyperf_http::BoxError> {
                Err("the database is down".into())
            },
        )
        .unwrap();
    let running = traced_server(router);
    let reply = connect_to(&running, "http").exchange(request(
        "GET",
        "/fails",
        &[("x-request-id", "failed-1")],
    ));
    assert_eq!(reply.status, 500);
    let span = span_of("failed-1");
    assert_eq!(span["http.status_code"], "500");
    assert!(
        reply
            .header("traceparent")
            .is_some_and(|value| value.contains(&span["span_id"]))
    );
    stop(running);
}
