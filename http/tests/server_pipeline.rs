//! The default `on_request`: what handler results become, the request context, the request
//! lifecycle events and when they fire relative to the response, and a custom `on_request`.

mod server_common;

use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use coordinator::Coordinator;
use hyperf_http::server::{HttpError, Json, RequestContext, Router, Server, ServerSpec};
use hyperf_http::{BoxError, HeaderValue, Request, Response, StatusCode};
use server_common::{Client, Log, TIMEOUT, connect_to, get, server, spec, start, stop};

/// Starts a server (two workers) with `spec` and `listeners` applied, and one client on it.
fn serve(
    spec: ServerSpec,
    listeners: impl FnOnce(Server) -> Server,
) -> (hyperf_http::server::RunningServer, Client) {
    let running = start(listeners(server()).server(spec));
    let client = connect_to(&running, "http");
    (running, client)
}

/// A server whose only route is `GET /` answered by `handler`, and one client on it.
fn route<R: hyperf_http::server::HandlerResult>(
    handler: impl Fn(Request) -> R + Send + Sync + 'static,
) -> (hyperf_http::server::RunningServer, Client) {
    let mut router = Router::new();
    router.get("/", handler).unwrap();
    serve(spec("http").router(router), |s| s)
}

#[test]
fn text_becomes_a_text_plain_response() {
    let (running, mut client) = route(|_: Request| "hello");
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reply.text(), "hello");
    stop(running);
}

#[test]
fn json_becomes_an_application_json_response() {
    let (running, mut client) =
        route(|_: Request| Json(serde_json::json!({ "id": 7, "name": "ada" })));
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body, serde_json::json!({ "id": 7, "name": "ada" }));
    stop(running);
}

#[test]
fn a_response_is_sent_as_is() {
    let (running, mut client) = route(|_: Request| {
        let mut response = Response::new("made by hand".into());
        *response.status_mut() = StatusCode::ACCEPTED;
        response
            .headers_mut()
            .insert("x-made", "by hand".parse().unwrap());
        response
    });
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 202);
    assert_eq!(reply.header("x-made"), Some("by hand"));
    assert_eq!(reply.header("content-type"), None);
    assert_eq!(reply.text(), "made by hand");
    stop(running);
}

#[test]
fn unit_becomes_an_empty_200() {
    let (running, mut client) = route(|_: Request| {});
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-length"), Some("0"));
    assert!(reply.body.is_empty());
    stop(running);
}

#[test]
fn an_http_error_becomes_its_status_and_message() {
    let (running, mut client) = route(|_: Request| -> Result<&'static str, HttpError> {
        Err(HttpError::new(StatusCode::NOT_FOUND, "no such user"))
    });
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 404);
    assert_eq!(reply.text(), "no such user");
    stop(running);
}

#[test]
fn any_other_error_becomes_a_500_that_hides_its_text() {
    let (running, mut client) = route(|_: Request| -> Result<&'static str, BoxError> {
        Err("password=hunter2 rejected by the database".into())
    });
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), "Internal Server Error");
    stop(running);
}

#[test]
fn a_panicking_handler_becomes_a_500_that_hides_its_message() {
    let (running, mut client) =
        route(|_: Request| -> &'static str { panic!("password=hunter2 in a panic message") });
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), "Internal Server Error");
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 500, "the connection goes on after a panic");
    stop(running);
}

/// Code far from the handler: it reaches the request through the context, and adds a header
/// to the response.
fn audit() -> String {
    let request = RequestContext::request().expect("inside a request");
    RequestContext::set_response_header("x-audited", HeaderValue::from_static("yes"));
    format!("{} {} on {}", request.method, request.uri, request.server)
}

#[test]
fn code_deep_in_a_handler_reads_the_request_and_sets_a_response_header() {
    let (running, mut client) = route(|_: Request| audit());
    let reply = client.exchange(get("/?page=2"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "GET /?page=2 on http");
    assert_eq!(reply.header("x-audited"), Some("yes"));
    stop(running);
}

#[test]
fn the_request_in_the_context_has_every_header_field_the_client_sent() {
    let (running, mut client) = route(|request: Request| {
        let head = RequestContext::request().expect("inside a request");
        let tags: Vec<_> = head.headers().get_all("x-tag").iter().collect();
        format!("{} {:?}", head.headers() == request.headers(), tags)
    });
    let reply =
        client.exchange("GET / HTTP/1.1\r\nHost: t\r\nX-Tag: a\r\nX-Other: o\r\nX-Tag: b\r\n\r\n");
    assert_eq!(reply.text(), r#"true ["a", "b"]"#);
    stop(running);
}

#[test]
fn the_request_in_the_context_is_the_one_received_not_the_one_a_middleware_changed() {
    let mut router = Router::new();
    router
        .get("/", |request: Request| {
            let head = RequestContext::request().expect("inside a request");
            let added = |headers: &hyperf_http::header::HeaderMap| headers.contains_key("x-added");
            format!("{} {}", added(request.headers()), added(head.headers()))
        })
        .unwrap();
    let adding = |mut request: Request, next: hyperf_http::server::Next<'_>| {
        request.headers_mut().insert(
            "x-added",
            hyperf_http::header::HeaderValue::from_static("1"),
        );
        next.run(request)
    };
    let (running, mut client) = serve(spec("http").router(router).middleware(adding), |s| s);
    assert_eq!(client.exchange(get("/")).text(), "true false");
    stop(running);
}

#[test]
fn a_header_the_handler_sets_wins_over_the_context_draft() {
    let (running, mut client) = route(|_: Request| {
        RequestContext::set_response_header("x-source", HeaderValue::from_static("context"));
        let mut response = Response::new("".into());
        response
            .headers_mut()
            .insert("x-source", "handler".parse().unwrap());
        response
    });
    let reply = client.exchange(get("/"));
    assert_eq!(reply.header("x-source"), Some("handler"));
    stop(running);
}

/// The values of every field called `name`, in order.
fn values<'a>(reply: &'a server_common::Reply, name: &str) -> Vec<&'a str> {
    reply
        .headers
        .iter()
        .filter(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
        .collect()
}

#[test]
fn a_header_value_computed_at_run_time_is_set_through_the_context() {
    let (running, mut client) = route(|_: Request| {
        let user = format!("user-{}", 6 * 7);
        RequestContext::set_response_header("x-user", HeaderValue::from_str(&user).unwrap());
        "ok"
    });
    assert_eq!(client.exchange(get("/")).header("x-user"), Some("user-42"));
    stop(running);
}

#[test]
fn a_header_set_twice_through_the_context_keeps_the_last_value() {
    let (running, mut client) = route(|_: Request| {
        RequestContext::set_response_header("x-step", HeaderValue::from_static("first"));
        RequestContext::set_response_header("x-step", HeaderValue::from_static("second"));
        "ok"
    });
    let reply = client.exchange(get("/"));
    assert_eq!(values(&reply, "x-step"), ["second"]);
    stop(running);
}

#[test]
fn headers_appended_through_the_context_all_reach_the_response_beside_the_handlers() {
    let (running, mut client) = route(|_: Request| {
        let cookie = hyperf_http::header::SET_COOKIE;
        RequestContext::append_response_header(cookie.clone(), HeaderValue::from_static("a=1"));
        RequestContext::append_response_header(cookie, HeaderValue::from_static("b=2"));
        let mut response = Response::new("".into());
        response
            .headers_mut()
            .insert("set-cookie", HeaderValue::from_static("h=0"));
        response
    });
    let reply = client.exchange(get("/"));
    assert_eq!(values(&reply, "set-cookie"), ["h=0", "a=1", "b=2"]);
    stop(running);
}

#[test]
fn a_status_set_through_the_context_applies_unless_the_handler_chose_one() {
    let mut router = Router::new();
    router
        .post("/items", |_: Request| {
            RequestContext::set_response_status(StatusCode::CREATED);
            "created"
        })
        .unwrap();
    router
        .post("/queued", |_: Request| {
            RequestContext::set_response_status(StatusCode::CREATED);
            (StatusCode::ACCEPTED, "queued")
        })
        .unwrap();
    let (running, mut client) = serve(spec("http").router(router), |s| s);
    let post = |path| format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(client.exchange(post("/items")).status, 201);
    assert_eq!(client.exchange(post("/queued")).status, 202);
    stop(running);
}

#[test]
fn the_request_context_of_one_request_does_not_leak_into_the_next() {
    let mut router = Router::new();
    router
        .get("/mark", |_: Request| {
            RequestContext::set_response_header("x-mark", HeaderValue::from_static("set"))
        })
        .unwrap();
    router.get("/plain", |_: Request| "plain").unwrap();
    let (running, mut client) = serve(spec("http").router(router), |s| s);
    assert_eq!(client.exchange(get("/mark")).header("x-mark"), Some("set"));
    assert_eq!(client.exchange(get("/plain")).header("x-mark"), None);
    stop(running);
}

#[test]
fn a_draft_does_not_reach_the_next_call_served_in_the_same_context() {
    // `into_service` called twice on one thread: both calls share the thread's context.
    let mut router = Router::new();
    router
        .get("/mark", |_: Request| {
            RequestContext::set_response_header("x-mark", HeaderValue::from_static("set"))
        })
        .unwrap();
    router.get("/plain", |_: Request| "plain").unwrap();
    let service = spec("http").router(router).into_service();
    let call = |path: &str| {
        let mut request = Request::new(hyperf_http::Bytes::new());
        *request.uri_mut() = path.parse().unwrap();
        service.call(request.into()).unwrap()
    };
    assert_eq!(call("/mark").headers()["x-mark"], "set");
    assert!(call("/plain").headers().get("x-mark").is_none());
}

#[test]
fn a_custom_on_request_replaces_the_pipeline() {
    let mut router = Router::new();
    router.get("/", |_: Request| "from the router").unwrap();
    let log = Log::new();
    let service = |request: Request| -> Result<Response, BoxError> {
        Ok(Response::new(
            format!("custom {}", request.uri().path()).into(),
        ))
    };
    let (running, mut client) = serve(
        spec("http")
            .router(router)
            .middleware(server_common::recording(&log, "global"))
            .on_request(service),
        |s| s,
    );
    let reply = client.exchange(get("/"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "custom /"));
    let reply = client.exchange(get("/nowhere"));
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "custom /nowhere")
    );
    assert_eq!(log.entries(), Vec::<&str>::new(), "a middleware ran");
    stop(running);
}

/// A lifecycle event as a test records it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lifecycle {
    Received(String, &'static str),
    Handled(String, u16),
    Terminated(String, u16),
}

/// Listeners that record every lifecycle event.
fn record_lifecycle(log: &Log<Lifecycle>) -> impl FnOnce(Server) -> Server {
    let (received, handled, terminated) = (log.clone(), log.clone(), log.clone());
    move |server| {
        server
            .on_request_received(move |event| {
                let routed = match event.dispatched {
                    hyperf_http::server::Dispatched::Found(_) => "found",
                    hyperf_http::server::Dispatched::NotFound => "not found",
                    hyperf_http::server::Dispatched::MethodNotAllowed { .. } => "not allowed",
                };
                received.push(Lifecycle::Received(event.request.uri().to_string(), routed));
            })
            .on_request_handled(move |event| {
                handled.push(Lifecycle::Handled(
                    event.request.uri.to_string(),
                    event.response.status().as_u16(),
                ));
            })
            .on_request_terminated(move |event| {
                terminated.push(Lifecycle::Terminated(
                    event.request.uri.to_string(),
                    event.status.as_u16(),
                ));
            })
    }
}

#[test]
fn lifecycle_events_fire_received_handled_terminated_also_for_a_404() {
    let log = Log::new();
    let mut router = Router::new();
    router.get("/", |_: Request| "hello").unwrap();
    let (running, mut client) = serve(
        spec("http").router(router).enable_request_lifecycle(true),
        record_lifecycle(&log),
    );
    assert_eq!(client.exchange(get("/")).status, 200);
    assert_eq!(client.exchange(get("/missing")).status, 404);
    stop(running);

    use Lifecycle::*;
    assert_eq!(
        log.entries(),
        [
            Received("/".into(), "found"),
            Handled("/".into(), 200),
            Terminated("/".into(), 200),
            Received("/missing".into(), "not found"),
            Handled("/missing".into(), 404),
            Terminated("/missing".into(), 404),
        ]
    );
}

#[test]
fn request_terminated_carries_the_time_from_the_pipeline_to_the_end_of_the_request() {
    let pause = Duration::from_millis(30);
    let log = Log::new();
    let elapsed = log.clone();
    let mut router = Router::new();
    router
        .get("/", move |_: Request| {
            Coordinator::new().yield_timeout(pause);
            "slow"
        })
        .unwrap();
    let (running, mut client) = serve(
        spec("http").router(router).enable_request_lifecycle(true),
        |server| server.on_request_terminated(move |event| elapsed.push(event.elapsed)),
    );
    assert_eq!(client.exchange(get("/")).status, 200);
    stop(running);
    let entries = log.entries();
    assert_eq!(entries.len(), 1);
    assert!(entries[0] >= pause, "elapsed {:?}", entries[0]);
}

#[test]
fn lifecycle_events_are_off_by_default() {
    let log = Log::new();
    let mut router = Router::new();
    router.get("/", |_: Request| "hello").unwrap();
    let (running, mut client) = serve(spec("http").router(router), record_lifecycle(&log));
    assert_eq!(client.exchange(get("/")).status, 200);
    stop(running);
    assert_eq!(log.entries(), []);
}

#[test]
fn lifecycle_events_carry_the_error_that_became_the_response() {
    let (errors, seen) = mpsc::channel();
    let terminated_errors = errors.clone();
    let mut router = Router::new();
    router
        .get("/", |_: Request| -> Result<&'static str, HttpError> {
            Err(HttpError::new(StatusCode::CONFLICT, "taken"))
        })
        .unwrap();
    let (running, mut client) = serve(
        spec("http").router(router).enable_request_lifecycle(true),
        move |server| {
            server
                .on_request_handled(move |event| {
                    errors.send(event.error.map(|e| e.to_string())).unwrap();
                })
                .on_request_terminated(move |event| {
                    let error = event.error.as_ref().map(|e| e.to_string());
                    terminated_errors.send(error).unwrap();
                })
        },
    );
    assert_eq!(client.exchange(get("/")).status, 409);
    let expected = Some("409 Conflict: taken".to_string());
    assert_eq!(
        seen.recv_timeout(TIMEOUT).unwrap(),
        expected,
        "RequestHandled"
    );
    assert_eq!(
        seen.recv_timeout(TIMEOUT).unwrap(),
        expected,
        "RequestTerminated"
    );
    stop(running);
}

#[test]
fn request_handled_fires_before_the_response_is_sent() {
    let (handled, handled_seen) = mpsc::channel();
    let hold = Coordinator::new();
    let held = hold.clone();
    let mut router = Router::new();
    router.get("/", |_: Request| "hello").unwrap();
    let (running, mut client) = serve(
        spec("http").router(router).enable_request_lifecycle(true),
        move |server| {
            server.on_request_handled(move |event| {
                handled.send(event.response.status()).unwrap();
                held.yield_timeout(TIMEOUT);
            })
        },
    );
    client.send(get("/"));
    let status = handled_seen
        .recv_timeout(TIMEOUT)
        .expect("RequestHandled fires");
    assert_eq!(status, StatusCode::OK);
    // The listener holds the request: nothing may have been sent yet.
    client.assert_silent_for(Duration::from_millis(200));

    hold.resume();
    let reply = client.response();
    assert_eq!((reply.status, reply.text().as_str()), (200, "hello"));
    stop(running);
}

/// How long a `RequestTerminated` listener waits for the test to say the client has its
/// response: well below the client's read timeout, so that a listener that runs too early
/// (and so holds the response back) lets it through in time to fail the test clearly.
const LISTENER_WAIT: Duration = Duration::from_secs(4);

/// Listeners for the terminated tests: for each request whose path is in `watched`, the
/// `RequestTerminated` listener waits until the test resumes the coordinator of that path,
/// then reports whether it was resumed (the client had its response) or gave up.
fn terminated_after(
    watched: Vec<(&'static str, Coordinator)>,
    reports: mpsc::Sender<(String, bool)>,
) -> impl FnOnce(Server) -> Server {
    let reports = Mutex::new(reports);
    move |server| {
        server.on_request_terminated(move |event| {
            let path = event.request.uri.path().to_string();
            if let Some((_, client_has_it)) = watched.iter().find(|(p, _)| *p == path) {
                let in_time = client_has_it.yield_timeout(LISTENER_WAIT);
                reports.lock().unwrap().send((path, in_time)).unwrap();
            }
        })
    }
}

#[test]
fn request_terminated_fires_after_the_client_has_the_whole_response() {
    let client_has_it = Coordinator::new();
    let (reports, report) = mpsc::channel();
    let mut router = Router::new();
    router.get("/", |_: Request| "x".repeat(100_000)).unwrap();
    let (running, mut client) = serve(
        spec("http").router(router).enable_request_lifecycle(true),
        terminated_after(vec![("/", client_has_it.clone())], reports),
    );
    let reply = client.exchange(get("/"));
    assert_eq!((reply.status, reply.body.len()), (200, 100_000));
    client_has_it.resume();

    let (_, in_time) = report.recv_timeout(TIMEOUT).unwrap();
    assert!(
        in_time,
        "RequestTerminated fired before the client had the response"
    );
    stop(running);
}

#[test]
fn request_terminated_of_a_pipelined_request_fires_after_its_response_is_sent() {
    let first_read = Coordinator::new();
    let (reports, report) = mpsc::channel();
    let mut router = Router::new();
    router.get("/first", |_: Request| "first").unwrap();
    router.get("/second", |_: Request| "second").unwrap();
    let (running, mut client) = serve(
        spec("http").router(router).enable_request_lifecycle(true),
        terminated_after(vec![("/first", first_read.clone())], reports),
    );
    client.send(format!("{}{}", get("/first"), get("/second")));
    let reply = client.response();
    assert_eq!(reply.text(), "first");
    first_read.resume();
    assert_eq!(client.response().text(), "second");

    let (path, in_time) = report.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(path, "/first");
    assert!(
        in_time,
        "RequestTerminated fired before the client had the response"
    );
    stop(running);
}

/// Whether a warning or an error mentions `text`; `record_logs` first.
fn logged(text: &str) -> bool {
    test_support::logged_at(log::Level::Warn, text)
}

#[test]
fn a_panicking_listener_is_logged_and_the_request_is_still_served() {
    test_support::record_logs();
    let served = Log::new();
    let after_panics = served.clone();
    let mut router = Router::new();
    router.get("/", |_: Request| "served").unwrap();
    let (running, mut client) = serve(
        spec("http").router(router).enable_request_lifecycle(true),
        move |server| {
            server
                .on_request_received(|_| panic!("a received listener fails"))
                .on_request_handled(|_| panic!("a handled listener fails"))
                .on_request_handled(move |_| after_panics.push("the next listener ran"))
        },
    );
    let reply = client.exchange(get("/"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "served"));
    assert_eq!(served.entries(), ["the next listener ran"]);
    assert!(logged("a RequestReceived listener panicked"));
    assert!(logged("a RequestHandled listener panicked"));
    stop(running);
}

#[test]
fn a_panicking_server_event_listener_is_logged_and_the_server_runs_on() {
    test_support::record_logs();
    let mut router = Router::new();
    router.get("/", |_: Request| "served").unwrap();
    let (running, mut client) = serve(spec("http").router(router), |server| {
        server.on_server_event(|event| {
            if matches!(event, hyperf_http::server::ServerEvent::WorkerStart { .. }) {
                panic!("a server event listener fails");
            }
        })
    });
    let reply = client.exchange(get("/"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "served"));
    assert!(logged("a server event listener panicked"));
    stop(running);
}
