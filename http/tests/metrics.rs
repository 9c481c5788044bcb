//! The metrics route (feature `metrics`): what a scrape over a socket shows after requests.
//!
//! Every test of this binary shares the process's one recorder: each names its server
//! apart, and reads only the series labelled with that name (the process-wide series, worker
//! restarts and the offload queue, are changed by one test alone).
#![cfg(feature = "metrics")]

mod server_common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use hyperf_http::server::{HttpError, Router, RunningServer, ServerEvent, ServerSpec};
use hyperf_http::{Request, StatusCode};
use server_common::{TIMEOUT, connect_to, get, request, server, spec, start, stop};

/// One sample of the exposition text: `name{label="value",…} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The samples of a scrape (comments skipped). Enough of the text format for the exporter's
/// output: label values here hold no `"`, `\` or newline, so none is escaped.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.strip_suffix('}').expect("closed labels")),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include all of `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut matching = samples.iter().filter(|sample| {
        sample.name == name
            && labels
                .iter()
                .all(|(key, value)| sample.labels.iter().any(|(k, v)| k == key && v == value))
    });
    let found = matching.next()?;
    assert!(matching.next().is_none(), "more than one {name} {labels:?}");
    Some(found.value)
}

/// The scrape of `/metrics` on a connection of its own to server `name`.
fn scrape(running: &RunningServer, name: &str) -> (String, Vec<Sample>) {
    let reply = connect_to(running, name).exchange(get("/metrics"));
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        reply.header("content-type")
    );
    let text = reply.text();
    let samples = parse(&text);
    (text, samples)
}

/// `GET /users/{id}`, `POST /echo` (its body back), `GET /fail` (a 500).
fn routes() -> Router {
    let mut router = Router::new();
    router
        .get("/users/{id}", |request: Request| {
            format!("user {}", request.uri().path())
        })
        .unwrap();
    router
        .post("/echo", |request: Request| request.into_body())
        .unwrap();
    router
        .get("/fail", |_: Request| -> Result<&'static str, HttpError> {
            Err(HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "down"))
        })
        .unwrap();
    router
}

fn metered(name: &str) -> ServerSpec {
    spec(name).router(routes()).metrics_route("/metrics")
}

const DURATION_COUNT: &str = "http_server_request_duration_seconds_count";

#[test]
fn request_durations_are_counted_by_route_pattern_method_and_status_class() {
    let running = start(server().server(metered("durations")));
    for path in ["/users/42", "/users/7", "/fail", "/nowhere"] {
        connect_to(&running, "durations").exchange(get(path));
    }
    connect_to(&running, "durations").exchange(request("DELETE", "/users/1", &[]));

    let (_, samples) = scrape(&running, "durations");
    let count = |method: &str, route: &str, class: &str| {
        value(
            &samples,
            DURATION_COUNT,
            &[
                ("server", "durations"),
                ("method", method),
                ("route", route),
                ("status_class", class),
            ],
        )
    };
    assert_eq!(count("GET", "/users/{id}", "2xx"), Some(2.0));
    assert_eq!(count("GET", "/fail", "5xx"), Some(1.0));
    assert_eq!(count("GET", "<unmatched>", "4xx"), Some(1.0));
    assert_eq!(count("DELETE", "<unmatched>", "4xx"), Some(1.0));
    // The scrape itself is not a request of the histogram.
    assert_eq!(count("GET", "<unmatched>", "2xx"), None);
    stop(running);
}

#[test]
fn a_time_limited_request_is_counted_under_its_route_pattern() {
    // Its pipeline runs in a coroutine of its own, not the connection's.
    let running = start(server().server(metered("limited").time_limit(Duration::from_secs(10))));
    connect_to(&running, "limited").exchange(get("/users/42"));
    let (_, samples) = scrape(&running, "limited");
    let count = value(
        &samples,
        DURATION_COUNT,
        &[
            ("server", "limited"),
            ("route", "/users/{id}"),
            ("status_class", "2xx"),
        ],
    );
    assert_eq!(count, Some(1.0));
    stop(running);
}

#[test]
fn health_checks_and_scrapes_are_not_counted() {
    let running = start(server().server(metered("health").health_route("/health")));
    connect_to(&running, "health").exchange(get("/health"));
    scrape(&running, "health");
    let (_, samples) = scrape(&running, "health");
    let counted = samples
        .iter()
        .filter(|s| s.name == DURATION_COUNT)
        .any(|s| s.labels.iter().any(|(k, v)| k == "server" && v == "health"));
    assert!(!counted);
    stop(running);
}

#[test]
fn raw_paths_never_appear_as_labels() {
    let running = start(server().server(metered("paths")));
    for path in ["/users/42", "/users/secret-token", "/no/such/page"] {
        connect_to(&running, "paths").exchange(get(path));
    }
    let (text, _) = scrape(&running, "paths");
    for raw in ["/users/42", "secret-token", "/no/such/page"] {
        assert!(!text.contains(raw), "{raw} in:\n{text}");
    }
    assert!(text.contains(r#"route="/users/{id}""#), "{text}");
    stop(running);
}

#[test]
fn nothing_is_in_flight_once_every_response_has_arrived() {
    let running = start(server().server(metered("in-flight")));
    for _ in 0..3 {
        connect_to(&running, "in-flight").exchange(get("/users/1"));
    }
    let (_, samples) = scrape(&running, "in-flight");
    let in_flight = value(
        &samples,
        "http_server_requests_in_flight",
        &[("server", "in-flight")],
    );
    assert_eq!(in_flight, Some(0.0));
    stop(running);
}

#[test]
fn open_connections_count_idle_keep_alive_ones_and_the_scrapes_own() {
    let running = start(server().server(metered("connections")));
    // Two connections that stay open after their responses: both accepted, so counted.
    let mut idle: Vec<_> = (0..2)
        .map(|_| connect_to(&running, "connections"))
        .collect();
    for client in &mut idle {
        assert_eq!(client.exchange(get("/users/1")).status, 200);
    }
    let (_, samples) = scrape(&running, "connections");
    let open = value(
        &samples,
        "http_server_open_connections",
        &[("server", "connections")],
    );
    assert_eq!(open, Some(3.0));
    drop(idle);
    stop(running);
}

#[test]
fn body_bytes_count_content_length_in_and_buffered_bodies_out() {
    let running = start(server().server(metered("bytes")));
    let body = b"twelve bytes";
    let mut post = format!(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    post.extend_from_slice(body);
    let echoed = connect_to(&running, "bytes").exchange(post);
    assert_eq!(echoed.body, body);
    // "user /users/42": 14 bytes; a HEAD sends no body, so counts none.
    connect_to(&running, "bytes").exchange(get("/users/42"));
    connect_to(&running, "bytes")
        .send(request("HEAD", "/users/42", &[]))
        .head_response();

    let (_, samples) = scrape(&running, "bytes");
    let total = |name| value(&samples, name, &[("server", "bytes")]);
    assert_eq!(total("http_server_request_body_bytes_total"), Some(12.0));
    assert_eq!(total("http_server_response_body_bytes_total"), Some(26.0));
    stop(running);
}

#[test]
fn a_worker_recycled_by_max_request_counts_as_a_restart() {
    let (events, seen) = mpsc::channel();
    let running = start(
        server()
            .worker_num(1)
            .max_request(1)
            .on_server_event(move |event| {
                let _ = events.send(event.clone());
            })
            .server(metered("restarts")),
    );
    connect_to(&running, "restarts").exchange(get("/users/1"));
    // The worker's second start: the restart listener ran before this one.
    let deadline = Instant::now() + TIMEOUT;
    let restarted = std::iter::from_fn(|| {
        seen.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok()
    })
    .filter(|event| *event == ServerEvent::WorkerStart { worker_id: 0 })
    .nth(1)
    .is_some();
    assert!(restarted, "the worker did not start again");

    let (_, samples) = scrape(&running, "restarts");
    assert_eq!(
        value(&samples, "hyperf_worker_restarts_total", &[]),
        Some(1.0)
    );
    stop(running);
}

#[test]
fn the_offload_queue_depth_is_read_at_the_scrape() {
    let running = start(server().server(metered("offload")));
    let (_, samples) = scrape(&running, "offload");
    assert_eq!(
        value(&samples, "hyperf_offload_queue_depth", &[]),
        Some(0.0)
    );
    stop(running);
}
