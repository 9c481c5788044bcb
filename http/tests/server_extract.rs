//! Extractors: each takes its value from the request through the pipeline, and each failure is
//! a rejection with its status that goes through the exception handlers, without an
//! error-level log line.

mod server_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyperf_http::server::{
    ExceptionHandler, Form, FromRequest, HttpError, IntoResponse, Json, Middleware, Next, Path,
    Propagation, Query, Rejection, RejectionKind, Router, ServerSpec, State, find_cause,
};
use hyperf_http::{
    BoxError, Bytes, HeaderMap, HeaderValue, Method, Request, Response, Service, StatusCode, Uri,
    Version,
};
use serde::{Deserialize, Serialize};
use server_common::{TIMEOUT, connect_to, request, server, spec, start, stop, within};
use test_support::{logged_at, record_logs};

/// Whether an error-level record mentions `marker` (each test has a marker of its own), to tell
/// a client's mistake (no error line) from a server fault (an error line); `record_logs` first.
fn error_logged(marker: &str) -> bool {
    logged_at(log::Level::Error, marker)
}

/// The pipeline of a server with `router`, without sockets.
fn pipeline(router: Router) -> Arc<dyn Service> {
    ServerSpec::new("http", "127.0.0.1", 0)
        .router(router)
        .into_service()
}

/// A request of `method` on `target` with `headers` and `body`.
fn build(method: Method, target: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut request = Request::new(Bytes::copy_from_slice(body.as_bytes()));
    *request.method_mut() = method;
    *request.uri_mut() = target.parse().expect("a valid target");
    for (name, value) in headers {
        request.headers_mut().insert(
            hyperf_http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    request
}

/// The status and body text of `request` through `router`'s pipeline.
fn answer(router: Router, request: Request) -> (StatusCode, String) {
    let response = pipeline(router)
        .call(request.into())
        .expect("the pipeline answers");
    let body = response.body().as_bytes().expect("a full body").to_vec();
    (
        response.status(),
        String::from_utf8(body).expect("a UTF-8 body"),
    )
}

fn get(router: Router, target: &str) -> (StatusCode, String) {
    answer(router, build(Method::GET, target, &[], ""))
}

fn post(router: Router, content_type: &str, body: &str) -> (StatusCode, String) {
    answer(
        router,
        build(Method::POST, "/", &[("content-type", content_type)], body),
    )
}

fn routed<Args>(pattern: &str, handler: impl hyperf_http::server::Handler<Args>) -> Router {
    let mut router = Router::new();
    router.get(pattern, handler).unwrap();
    router
}

fn posted<Args>(handler: impl hyperf_http::server::Handler<Args>) -> Router {
    let mut router = Router::new();
    router.post("/", handler).unwrap();
    router
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct User {
    id: u32,
    name: String,
}

// Path

#[test]
fn path_takes_a_single_parameter_as_its_type() {
    let router = routed("/users/{id}", |Path(id): Path<u32>| {
        format!("user {}", id + 1)
    });
    assert_eq!(get(router, "/users/41"), (StatusCode::OK, "user 42".into()));
}

#[test]
fn path_takes_a_tuple_in_the_patterns_order() {
    let router = routed(
        "/users/{id}/posts/{slug}",
        |Path((id, slug)): Path<(u32, String)>| format!("{slug} by {id}"),
    );
    assert_eq!(
        get(router, "/users/7/posts/hello"),
        (StatusCode::OK, "hello by 7".into())
    );
}

#[test]
fn path_takes_a_struct_by_name_with_an_absent_optional_tail_as_none() {
    #[derive(Deserialize)]
    struct Page {
        page: Option<u32>,
        slug: String,
    }
    let handler = |Path(at): Path<Page>| format!("{} {:?}", at.slug, at.page);
    assert_eq!(
        get(routed("/docs/{slug}[/{page}]", handler), "/docs/intro"),
        (StatusCode::OK, "intro None".into())
    );
    assert_eq!(
        get(routed("/docs/{slug}[/{page}]", handler), "/docs/intro/3"),
        (StatusCode::OK, "intro Some(3)".into())
    );
}

#[test]
fn path_values_are_percent_decoded() {
    let router = routed("/files/{name}", |Path(name): Path<String>| name);
    assert_eq!(
        get(router, "/files/hello%20w%C3%B6rld"),
        (StatusCode::OK, "hello wörld".into())
    );
}

#[test]
fn a_path_parameter_that_does_not_parse_is_a_400_naming_it() {
    let router = routed("/users/{user_id}", |Path(id): Path<u8>| format!("{id}"));
    let (status, body) = get(router, "/users/300");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("user_id"), "{body:?}");
}

#[test]
fn a_path_struct_field_missing_from_the_route_is_a_400() {
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Page {
        slug: String,
        page: u32,
    }
    let router = routed("/docs/{slug}[/{page}]", |Path(at): Path<Page>| at.slug);
    let (status, body) = get(router, "/docs/intro");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("page"), "{body:?}");
}

#[test]
fn a_path_tuple_longer_than_the_route_is_a_400() {
    let router = routed("/users/{id}", |Path((id, _)): Path<(u32, u32)>| {
        format!("{id}")
    });
    assert_eq!(get(router, "/users/1").0, StatusCode::BAD_REQUEST);
}

#[test]
fn a_path_value_that_is_not_utf8_once_decoded_is_a_400() {
    let router = routed("/files/{name}", |Path(name): Path<String>| name);
    assert_eq!(get(router, "/files/%FF").0, StatusCode::BAD_REQUEST);
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "its variants are built by serde only")]
enum Section {
    Posts,
    Pages,
}

#[test]
fn path_takes_an_enum_by_its_variant_names() {
    let router = routed("/{section}", |Path(section): Path<Section>| {
        format!("{section:?}")
    });
    assert_eq!(get(router, "/pages"), (StatusCode::OK, "Pages".into()));
}

#[test]
fn a_path_value_that_is_no_variant_is_a_400() {
    let router = routed("/{section}", |Path(section): Path<Section>| {
        format!("{section:?}")
    });
    let (status, body) = get(router, "/drafts");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("drafts"), "{body:?}");
}

// Query

#[derive(Deserialize)]
struct Paging {
    page: Option<u32>,
    per_page: Option<u32>,
    q: Option<String>,
}

fn paging(Query(paging): Query<Paging>) -> String {
    format!("{:?} {:?} {:?}", paging.page, paging.per_page, paging.q)
}

#[test]
fn query_fills_a_struct_and_leaves_absent_optional_fields_none() {
    assert_eq!(
        get(routed("/", paging), "/?page=2&q=a+b%21"),
        (StatusCode::OK, r#"Some(2) None Some("a b!")"#.into())
    );
}

#[test]
fn query_without_a_query_string_is_all_defaults() {
    assert_eq!(
        get(routed("/", paging), "/"),
        (StatusCode::OK, "None None None".into())
    );
}

#[test]
fn a_query_that_does_not_parse_is_a_400() {
    let (status, body) = get(routed("/", paging), "/?page=two");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("query"), "{body:?}");
}

// Json

fn rename(Json(user): Json<User>) -> Json<User> {
    Json(User {
        id: user.id,
        name: user.name.to_uppercase(),
    })
}

#[test]
fn json_round_trips_a_body() {
    let response = pipeline(posted(rename))
        .call(
            build(
                Method::POST,
                "/",
                &[("content-type", "application/json")],
                r#"{"id":1,"name":"ada"}"#,
            )
            .into(),
        )
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        HeaderValue::from_static("application/json")
    );
    let user: User = serde_json::from_slice(response.body().as_bytes().unwrap()).unwrap();
    assert_eq!(
        user,
        User {
            id: 1,
            name: "ADA".into()
        }
    );
}

#[test]
fn json_accepts_a_json_suffix_type_with_parameters() {
    let (status, _) = post(
        posted(rename),
        "Application/Problem+JSON; charset=utf-8",
        r#"{"id":1,"name":"ada"}"#,
    );
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn json_with_another_content_type_is_a_415() {
    let (status, _) = post(posted(rename), "text/plain", r#"{"id":1,"name":"ada"}"#);
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn json_without_a_content_type_is_a_415() {
    let request = build(Method::POST, "/", &[], r#"{"id":1,"name":"ada"}"#);
    assert_eq!(
        answer(posted(rename), request).0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[test]
fn malformed_json_is_a_400() {
    let (status, _) = post(posted(rename), "application/json", r#"{"id":1,"name":"#);
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn json_of_the_wrong_shape_is_a_422_naming_the_field() {
    let (status, body) = post(posted(rename), "application/json", r#"{"id":1}"#);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("`name`"), "{body:?}");
}

// Form

fn login(Form(user): Form<User>) -> String {
    format!("{} {}", user.id, user.name)
}

#[test]
fn form_reads_an_urlencoded_body() {
    let (status, body) = post(
        posted(login),
        "application/x-www-form-urlencoded",
        "id=3&name=grace+hopper",
    );
    assert_eq!((status, body), (StatusCode::OK, "3 grace hopper".into()));
}

#[test]
fn form_with_another_content_type_is_a_415() {
    let (status, _) = post(posted(login), "application/json", "id=3&name=grace");
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn a_form_of_the_wrong_shape_is_a_422() {
    let (status, _) = post(
        posted(login),
        "application/x-www-form-urlencoded",
        "id=three",
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

// Bodies and the request's head

#[test]
fn bytes_take_the_body_as_received() {
    let (status, body) = post(
        posted(|body: Bytes| format!("{} bytes", body.len())),
        "application/octet-stream",
        "abcdef",
    );
    assert_eq!((status, body), (StatusCode::OK, "6 bytes".into()));
}

#[test]
fn string_takes_a_utf8_body() {
    let (status, body) = post(
        posted(|text: String| text.to_uppercase()),
        "text/plain",
        "ada",
    );
    assert_eq!((status, body), (StatusCode::OK, "ADA".into()));
}

#[test]
fn a_string_body_that_is_not_utf8_is_a_400() {
    let mut request = build(Method::POST, "/", &[], "");
    *request.body_mut() = Bytes::from_static(b"\xff\xfe");
    assert_eq!(
        answer(posted(|text: String| text), request).0,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn method_uri_version_and_headers_are_the_requests() {
    let handler = |method: Method, uri: Uri, version: Version, headers: HeaderMap| {
        format!(
            "{method} {uri} {version:?} {}",
            headers["x-token"].to_str().unwrap()
        )
    };
    let request = build(Method::GET, "/here?x=1", &[("x-token", "t0k")], "");
    assert_eq!(
        answer(routed("/here", handler), request),
        (StatusCode::OK, "GET /here?x=1 HTTP/1.1 t0k".into())
    );
}

#[test]
fn a_handler_without_arguments_is_called() {
    assert_eq!(
        get(routed("/", || "nothing needed"), "/"),
        (StatusCode::OK, "nothing needed".into())
    );
}

#[test]
fn a_handler_takes_eight_extractors() {
    #[allow(clippy::too_many_arguments)]
    fn eight(
        Path(id): Path<u32>,
        Query(paging): Query<Paging>,
        method: Method,
        uri: Uri,
        version: Version,
        headers: HeaderMap,
        body: Bytes,
        text: String,
    ) -> String {
        format!(
            "{id} {:?} {method} {} {version:?} {} {} {text}",
            paging.page,
            uri.path(),
            headers.len(),
            body.len()
        )
    }
    let mut router = Router::new();
    router.post("/{id}", eight).unwrap();
    let request = build(Method::POST, "/5?page=1", &[("x-a", "1")], "hey");
    assert_eq!(
        answer(router, request),
        (StatusCode::OK, "5 Some(1) POST /5 HTTP/1.1 1 3 hey".into())
    );
}

// State

#[derive(Clone)]
struct Greeting(&'static str);

#[test]
fn state_registered_on_the_router_reaches_the_handler() {
    let mut router = routed("/", |State(greeting): State<Greeting>| greeting.0);
    router.state(Greeting("hello"));
    assert_eq!(get(router, "/"), (StatusCode::OK, "hello".into()));
}

#[test]
fn state_is_shared_by_every_request() {
    let mut router = routed("/", |State(hits): State<Arc<AtomicUsize>>| {
        format!("{}", hits.fetch_add(1, Ordering::SeqCst) + 1)
    });
    router.state(Arc::new(AtomicUsize::new(0)));
    let service = pipeline(router);
    for expected in ["1", "2", "3"] {
        let response = service
            .call(build(Method::GET, "/", &[], "").into())
            .unwrap();
        assert_eq!(response.body().as_bytes(), Some(expected.as_bytes()));
    }
}

#[test]
fn state_of_the_server_spec_reaches_the_handler_and_the_routers_wins() {
    #[derive(Clone)]
    struct Name(&'static str);
    let mut router = Router::new();
    router
        .get(
            "/",
            |State(greeting): State<Greeting>, State(name): State<Name>| {
                format!("{} {}", greeting.0, name.0)
            },
        )
        .unwrap();
    router.state(Greeting("hi"));
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .state(Greeting("hello"))
        .state(Name("ada"))
        .router(router)
        .into_service();
    let response = service
        .call(build(Method::GET, "/", &[], "").into())
        .unwrap();
    assert_eq!(response.body().as_bytes(), Some(&b"hi ada"[..]));
}

#[test]
fn a_state_nobody_registered_is_a_500_with_an_error_log_line() {
    record_logs();
    #[derive(Clone)]
    struct UnregisteredStateMarker;
    let router = routed("/", |_: State<UnregisteredStateMarker>| "never");
    let (status, body) = get(router, "/");
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!body.contains("UnregisteredStateMarker"), "{body:?}");
    assert!(error_logged("UnregisteredStateMarker"));
}

// Rejections through the exception handlers

#[test]
fn a_rejection_is_not_an_error_log_line() {
    record_logs();
    let router = routed("/rejection_log_marker/{id}", |Path(id): Path<u32>| {
        format!("{id}")
    });
    let (status, _) = get(router, "/rejection_log_marker/x");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!error_logged("rejection_log_marker"));
}

/// Renders rejections as JSON, as a JSON API would.
struct JsonRejections;

impl ExceptionHandler for JsonRejections {
    fn is_valid(&self, error: &BoxError) -> bool {
        find_cause::<Rejection>(&**error).is_some()
    }

    fn handle(
        &self,
        error: &BoxError,
        _: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        let rejection = find_cause::<Rejection>(&**error).expect("checked by is_valid");
        propagation.stop();
        let kind = format!("{:?}", rejection.kind());
        let body = serde_json::json!({ "kind": kind, "error": rejection.message() });
        Ok((rejection.status(), Json(body)).into_response())
    }
}

#[test]
fn a_rejection_reaches_a_custom_exception_handler() {
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .router(posted(rename))
        .exception_handler(JsonRejections)
        .into_service();
    let response = service
        .call(
            build(
                Method::POST,
                "/",
                &[("content-type", "application/json")],
                "{",
            )
            .into(),
        )
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value =
        serde_json::from_slice(response.body().as_bytes().unwrap()).unwrap();
    assert_eq!(body["kind"], "MalformedJson");
}

#[test]
fn a_rejection_kind_gives_its_status() {
    assert_eq!(
        Rejection::new(RejectionKind::InvalidBody, "x").status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

// Custom extractors

/// The caller, from a bearer token.
struct Caller(String);

impl FromRequest for Caller {
    type Rejection = HttpError;

    fn from_request(request: &mut Request) -> Result<Self, HttpError> {
        request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| Caller(token.to_string()))
            .ok_or_else(|| HttpError::new(StatusCode::UNAUTHORIZED, "a bearer token is required"))
    }
}

#[test]
fn a_custom_extractor_takes_its_value() {
    let request = build(Method::GET, "/", &[("authorization", "Bearer ada")], "");
    assert_eq!(
        answer(routed("/", |Caller(name): Caller| name), request),
        (StatusCode::OK, "ada".into())
    );
}

#[test]
fn a_custom_extractors_error_is_answered_by_the_exception_handlers() {
    let (status, body) = get(routed("/", |Caller(name): Caller| name), "/");
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            "a bearer token is required".into()
        )
    );
}

#[test]
fn extraction_stops_at_the_first_rejection() {
    let called = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&called);
    let router = routed("/", move |_: Caller, Query(_): Query<Paging>| {
        seen.fetch_add(1, Ordering::SeqCst);
        "called"
    });
    assert_eq!(get(router, "/?page=x").0, StatusCode::UNAUTHORIZED);
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

/// Adds a bearer token to every request, as an authenticating proxy would.
struct InjectToken;

impl Middleware for InjectToken {
    fn process(&self, mut request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_static("Bearer from-middleware"),
        );
        next.run(request)
    }
}

#[test]
fn extraction_runs_after_the_middlewares() {
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .middleware(InjectToken)
        .router(routed("/", |Caller(name): Caller| name))
        .into_service();
    let response = service
        .call(build(Method::GET, "/", &[], "").into())
        .unwrap();
    assert_eq!(response.body().as_bytes(), Some(&b"from-middleware"[..]));
}

/// Hands the handler a request of its own making: a copy of the method, target and headers,
/// without the extensions of the one received.
struct Rebuild;

impl Middleware for Rebuild {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        let mut fresh = Request::new(request.body().clone());
        *fresh.method_mut() = request.method().clone();
        *fresh.uri_mut() = request.uri().clone();
        *fresh.headers_mut() = request.headers().clone();
        next.run(fresh)
    }
}

#[test]
fn path_and_state_outlive_a_middleware_that_rebuilds_the_request() {
    let mut router = routed(
        "/users/{id}",
        |Path(id): Path<u32>, State(greeting): State<Greeting>| format!("{} {id}", greeting.0),
    );
    router.state(Greeting("hello"));
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .middleware(Rebuild)
        .router(router)
        .into_service();
    let response = service
        .call(build(Method::GET, "/users/7", &[], "").into())
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body().as_bytes(), Some(&b"hello 7"[..]));
}

// Over a socket

fn api() -> Router {
    let mut router = Router::new();
    router
        .get(
            "/users/{id}",
            |Path(id): Path<u32>, Query(paging): Query<Paging>| {
                format!("user {id} page {}", paging.page.unwrap_or(1))
            },
        )
        .unwrap();
    router.post("/users", rename).unwrap();
    router.post("/login", login).unwrap();
    router
        .post("/text", |text: String| text.to_uppercase())
        .unwrap();
    router
        .get("/greeting", |State(greeting): State<Greeting>| greeting.0)
        .unwrap();
    router.get("/me", |Caller(name): Caller| name).unwrap();
    router.state(Greeting("hello over a socket"));
    router
}

fn with_body(method: &str, path: &str, content_type: &str, body: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn over_a_socket_path_and_query_are_extracted() {
    let running = start(server().server(spec("http").router(api())));
    let mut client = connect_to(&running, "http");
    let reply = client.exchange(request("GET", "/users/9?page=4", &[]));
    assert_eq!((reply.status, reply.text()), (200, "user 9 page 4".into()));
    stop(running);
}

#[test]
fn over_a_socket_json_round_trips() {
    let running = start(server().server(spec("http").router(api())));
    let mut client = connect_to(&running, "http");
    let reply = client.exchange(with_body(
        "POST",
        "/users",
        "application/json",
        r#"{"id":2,"name":"grace"}"#,
    ));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), r#"{"id":2,"name":"GRACE"}"#);
    stop(running);
}

#[test]
fn over_a_socket_each_rejection_answers_its_status_and_keeps_the_connection() {
    let running = start(server().server(spec("http").router(api())));
    let mut client = connect_to(&running, "http");
    let cases = [
        (request("GET", "/users/x", &[]), 400),
        (request("GET", "/users/1?page=-1", &[]), 400),
        (with_body("POST", "/users", "text/plain", "{}"), 415),
        (with_body("POST", "/users", "application/json", "{"), 400),
        (with_body("POST", "/users", "application/json", "{}"), 422),
        (with_body("POST", "/login", "text/plain", "id=1"), 415),
        (
            with_body(
                "POST",
                "/login",
                "application/x-www-form-urlencoded",
                "id=x",
            ),
            422,
        ),
    ];
    let statuses = within(TIMEOUT, move || {
        let statuses: Vec<u16> = cases
            .iter()
            .map(|(request, _)| client.exchange(request).status)
            .collect();
        // The connection is still usable after every rejection.
        let last = client.exchange(request("GET", "/users/1", &[]));
        (statuses, last.status)
    });
    assert_eq!(statuses, (vec![400, 400, 415, 400, 422, 415, 422], 200));
    stop(running);
}

#[test]
fn over_a_socket_a_form_is_extracted() {
    let running = start(server().server(spec("http").router(api())));
    let mut client = connect_to(&running, "http");
    let reply = client.exchange(with_body(
        "POST",
        "/login",
        "application/x-www-form-urlencoded",
        "id=4&name=ada+lovelace",
    ));
    assert_eq!((reply.status, reply.text()), (200, "4 ada lovelace".into()));
    stop(running);
}

#[test]
fn over_a_socket_a_string_body_is_extracted() {
    let running = start(server().server(spec("http").router(api())));
    let mut client = connect_to(&running, "http");
    let reply = client.exchange(with_body("POST", "/text", "text/plain", "shout"));
    assert_eq!((reply.status, reply.text()), (200, "SHOUT".into()));
    stop(running);
}

#[test]
fn over_a_socket_state_is_handed_to_the_handler() {
    let running = start(server().server(spec("http").router(api())));
    let mut client = connect_to(&running, "http");
    let reply = client.exchange(request("GET", "/greeting", &[]));
    assert_eq!(
        (reply.status, reply.text()),
        (200, "hello over a socket".into())
    );
    stop(running);
}

#[test]
fn over_a_socket_a_custom_extractor_takes_its_value_or_rejects() {
    let running = start(server().server(spec("http").router(api())));
    let mut client = connect_to(&running, "http");
    let reply = client.exchange(request("GET", "/me", &[("Authorization", "Bearer grace")]));
    assert_eq!((reply.status, reply.text()), (200, "grace".into()));
    assert_eq!(client.exchange(request("GET", "/me", &[])).status, 401);
    stop(running);
}
