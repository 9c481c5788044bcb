//! The access log (one line per request, once its response is final) and the request id
//! middleware.

mod server_common;

use std::sync::Arc;

use hyperf_http::server::{
    ACCESS_LOG_TARGET, AccessLog, AccessLogFormat, HttpError, RequestId, Router, ServerSpec,
};
use hyperf_http::{Body, BoxError, Bytes, HeaderValue, Method, Request, Response, Service};
use server_common::{connect_to, request, server, spec, start, stop};
use test_support::{messages_of, record_logs};

/// The access lines that mention `marker` (each test requests paths of its own); `record_logs`
/// first.
fn lines_with(marker: &str) -> Vec<String> {
    messages_of(ACCESS_LOG_TARGET, marker)
}

fn hello_router() -> Router {
    let mut router = Router::new();
    router.get("/{marker}", |_: Request| "hello").unwrap();
    router
}

/// The pipeline of a server with `router` and `spec`'s settings.
fn pipeline(router: Router, spec: impl FnOnce(ServerSpec) -> ServerSpec) -> Arc<dyn Service> {
    record_logs();
    spec(ServerSpec::new("http", "127.0.0.1", 0).router(router)).into_service()
}

fn get(target: &str, headers: &[(&'static str, &'static str)]) -> Request {
    let mut request = Request::new(Bytes::new());
    *request.uri_mut() = target.parse().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_static(value));
    }
    request
}

fn only_line(marker: &str) -> String {
    let lines = lines_with(marker);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().unwrap()
}

#[test]
fn a_common_line_has_the_request_line_status_bytes_duration_and_no_id() {
    let service = pipeline(hello_router(), |s| {
        s.access_log(AccessLog::new(AccessLogFormat::Common))
    });
    service.call(get("/common_marker?x=1", &[]).into()).unwrap();
    let line = only_line("common_marker");
    let (prefix, rest) = line.split_once(" [").unwrap();
    assert_eq!(prefix, "- - -");
    let (_, rest) = rest.split_once("] ").unwrap();
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(
        &fields[..5],
        ["\"GET", "/common_marker?x=1", "HTTP/1.1\"", "200", "5"]
    );
    assert!(fields[5].parse::<f64>().is_ok(), "{line}");
    assert_eq!(fields[6], "-");
    assert_eq!(fields.len(), 7, "{line}");
}

#[test]
fn a_combined_line_adds_the_referer_and_the_user_agent_escaped() {
    let service = pipeline(hello_router(), |s| {
        s.access_log(AccessLog::new(AccessLogFormat::Combined))
    });
    let request = get(
        "/combined_marker",
        &[("referer", "http://a.test/"), ("user-agent", "tool \"1\"")],
    );
    service.call(request.into()).unwrap();
    let line = only_line("combined_marker");
    assert!(
        line.contains(r#" 200 5 "http://a.test/" "tool \"1\"" "#),
        "{line}"
    );
}

#[test]
fn a_json_line_is_one_object_with_every_field() {
    let service = pipeline(hello_router(), |s| {
        s.access_log(AccessLog::new(AccessLogFormat::JsonLines))
    });
    service
        .call(get("/json_marker", &[("user-agent", "probe")]).into())
        .unwrap();
    let line: serde_json::Value = serde_json::from_str(&only_line("json_marker")).unwrap();
    assert_eq!(line["method"], "GET");
    assert_eq!(line["target"], "/json_marker");
    assert_eq!(line["version"], "HTTP/1.1");
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes"], 5);
    assert!(line["duration_us"].is_u64());
    assert_eq!(line["request_id"], serde_json::Value::Null);
    assert_eq!(line["user_agent"], "probe");
    assert_eq!(line["referer"], serde_json::Value::Null);
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_failed_request_is_logged_with_the_status_its_client_gets() {
    let mut router = Router::new();
    router
        .get("/failed_marker", |_: Request| -> Result<(), BoxError> {
            Err(HttpError::new(hyperf_http::StatusCode::CONFLICT, "taken").into())
        })
        .unwrap();
    router
        .get("/panicked_marker", |_: Request| -> &'static str {
            panic!("the handler of the panicked marker")
        })
        .unwrap();
    let service = pipeline(router, |s| {
        s.access_log(AccessLog::new(AccessLogFormat::JsonLines))
    });
    service.call(get("/failed_marker", &[]).into()).unwrap();
    service.call(get("/panicked_marker", &[]).into()).unwrap();
    let failed: serde_json::Value = serde_json::from_str(&only_line("failed_marker")).unwrap();
    let panicked: serde_json::Value = serde_json::from_str(&only_line("panicked_marker")).unwrap();
    assert_eq!(
        (failed["status"].clone(), panicked["status"].clone()),
        (409.into(), 500.into())
    );
}

#[test]
fn an_unrouted_request_is_logged_as_its_404() {
    let service = pipeline(Router::new(), |s| {
        s.access_log(AccessLog::new(AccessLogFormat::JsonLines))
    });
    service.call(get("/unrouted_marker", &[]).into()).unwrap();
    let line: serde_json::Value = serde_json::from_str(&only_line("unrouted_marker")).unwrap();
    assert_eq!(line["status"], 404);
}

#[test]
fn a_streamed_body_has_no_byte_count() {
    let mut router = Router::new();
    router
        .get("/streamed_marker", |_: Request| {
            Response::new(Body::stream(|out| std::io::Write::write_all(out, b"x")))
        })
        .unwrap();
    let service = pipeline(router, |s| {
        s.access_log(AccessLog::new(AccessLogFormat::Common))
    });
    service.call(get("/streamed_marker", &[]).into()).unwrap();
    assert!(only_line("streamed_marker").contains(" 200 - "));
}

#[test]
fn without_an_access_log_nothing_is_logged() {
    let service = pipeline(hello_router(), |s| s);
    service.call(get("/silent_marker", &[]).into()).unwrap();
    assert!(lines_with("silent_marker").is_empty());
}

// Request ids

/// A router whose handler answers the request id it saw.
fn echo_id_router() -> Router {
    let mut router = Router::new();
    router
        .route(&[Method::GET], "/{marker}", |request: Request| {
            let id = request.headers().get("x-request-id").cloned();
            String::from_utf8(id.map(|v| v.as_bytes().to_vec()).unwrap_or_default()).unwrap()
        })
        .unwrap();
    router
}

fn with_ids(router: Router) -> Arc<dyn Service> {
    pipeline(router, |s| {
        s.middleware_with_priority(RequestId::new(), 100)
            .access_log(AccessLog::new(AccessLogFormat::JsonLines))
    })
}

/// The id the handler saw, and the id the response carries.
fn ids(service: &Arc<dyn Service>, request: Request) -> (String, String) {
    let response = service.call(request.into()).unwrap();
    let seen = String::from_utf8(response.body().as_bytes().unwrap().to_vec()).unwrap();
    let sent = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    (seen, sent)
}

#[test]
fn a_valid_incoming_request_id_is_kept() {
    let service = with_ids(echo_id_router());
    let request = get("/kept_id_marker", &[("x-request-id", "trace-1234.abc")]);
    assert_eq!(
        ids(&service, request),
        ("trace-1234.abc".into(), "trace-1234.abc".into())
    );
}

#[test]
fn a_request_without_an_id_gets_a_new_one_seen_by_the_handler_and_the_client() {
    let service = with_ids(echo_id_router());
    let (seen, sent) = ids(&service, get("/new_id_marker", &[]));
    assert_eq!(seen, sent);
    assert_eq!(sent.len(), 32);
    assert!(sent.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn new_request_ids_differ() {
    let service = with_ids(echo_id_router());
    let (first, _) = ids(&service, get("/differ_marker", &[]));
    let (second, _) = ids(&service, get("/differ_marker", &[]));
    assert_ne!(first, second);
}

#[test]
fn an_invalid_incoming_id_is_replaced() {
    let service = with_ids(echo_id_router());
    let request = get("/replaced_id_marker", &[("x-request-id", "a b\"c")]);
    let (seen, sent) = ids(&service, request);
    assert_eq!(seen, sent);
    assert_ne!(sent, "a b\"c");
    assert_eq!(sent.len(), 32);
}

#[test]
fn the_access_line_carries_the_request_id() {
    let service = with_ids(echo_id_router());
    service
        .call(get("/logged_id_marker", &[("x-request-id", "id-in-the-log")]).into())
        .unwrap();
    let line: serde_json::Value = serde_json::from_str(&only_line("logged_id_marker")).unwrap();
    assert_eq!(line["request_id"], "id-in-the-log");
}

#[test]
fn request_ids_in_two_headers_are_two_middlewares() {
    let service = pipeline(echo_id_router(), |s| {
        s.middleware_with_priority(RequestId::new(), 100)
            .middleware_with_priority(
                RequestId::with_header(hyperf_http::header::HeaderName::from_static(
                    "x-correlation-id",
                )),
                100,
            )
    });
    let response = service
        .call(get("/two_headers_marker", &[]).into())
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    assert!(response.headers().contains_key("x-correlation-id"));
}

#[test]
fn over_a_socket_each_request_of_a_connection_has_its_line() {
    record_logs();
    let spec = spec("http")
        .router(hello_router())
        .access_log(AccessLog::new(AccessLogFormat::Common));
    let running = start(server().server(spec));
    let mut client = connect_to(&running, "http");
    assert_eq!(
        client
            .exchange(request("GET", "/socket_marker_1", &[]))
            .status,
        200
    );
    assert_eq!(
        client
            .exchange(request("GET", "/socket_marker_2", &[]))
            .status,
        200
    );
    stop(running);
    assert_eq!(lines_with("socket_marker").len(), 2);
}
