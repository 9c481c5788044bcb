//! `TestClient`: a server's whole pipeline in-process, without a socket — extractors,
//! middlewares, exception handlers, streamed bodies both ways, the client's address, the
//! request scope's defers, the router's refusals — each test bounded in time.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyperf_http::server::{
    ClientAddr, ExceptionHandler, HttpError, Json, Next, Path, Propagation, Query, RequestContext,
    Router, ServerSpec,
};
use hyperf_http::testing::TestClient;
use hyperf_http::{Body, BodyReader, BoxError, HeaderValue, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use test_support::within;

const LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u32,
    name: String,
}

#[derive(Deserialize)]
struct Paging {
    page: Option<u32>,
}

fn client(router: Router) -> TestClient {
    TestClient::new(ServerSpec::new("test", "127.0.0.1", 0).router(router))
}

fn users() -> Router {
    let mut router = Router::new();
    router
        .get(
            "/users/{id:\\d+}",
            |Path(id): Path<u32>, Query(paging): Query<Paging>| {
                Json(serde_json::json!({ "id": id, "page": paging.page.unwrap_or(1) }))
            },
        )
        .unwrap();
    router
        .post("/users", |Json(user): Json<User>| {
            (StatusCode::CREATED, Json(user))
        })
        .unwrap();
    router
}

#[test]
fn path_and_query_extractors_read_the_uri() {
    within(LIMIT, || {
        let response = client(users()).get("/users/7?page=3").send();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<serde_json::Value>(),
            serde_json::json!({ "id": 7, "page": 3 })
        );
    });
}

#[test]
fn a_json_body_round_trips_through_the_json_extractor() {
    within(LIMIT, || {
        let user = User {
            id: 7,
            name: "ada".into(),
        };
        let response = client(users()).post("/users").json(&user).send();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.json::<User>(), user);
    });
}

#[test]
fn a_json_body_of_the_wrong_shape_is_the_extractors_422() {
    within(LIMIT, || {
        let response = client(users())
            .post("/users")
            .json(&serde_json::json!({ "id": 7 }))
            .send();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.text().contains("name"), "{response:?}");
    });
}

#[test]
fn a_form_body_reaches_the_form_extractor() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .post(
                "/login",
                |hyperf_http::server::Form(user): hyperf_http::server::Form<User>| {
                    format!("{} {}", user.id, user.name)
                },
            )
            .unwrap();
        let response = client(router)
            .post("/login")
            .form(&User {
                id: 3,
                name: "ada lovelace".into(),
            })
            .send();
        assert_eq!(response.text(), "3 ada lovelace");
    });
}

#[test]
fn headers_reach_the_handler_and_a_host_is_added() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .get("/", |request: Request| {
                let headers = request.headers();
                format!(
                    "{} {} {}",
                    headers["host"].to_str().unwrap(),
                    headers["x-tag"].to_str().unwrap(),
                    headers.get_all("x-many").iter().count()
                )
            })
            .unwrap();
        let response = client(router)
            .get("/")
            .header("x-tag", "a")
            .header("x-many", "1")
            .header("x-many", "2")
            .send();
        assert_eq!(response.text(), "localhost a 2");
    });
}

#[test]
fn a_global_middleware_runs_around_the_handler() {
    within(LIMIT, || {
        let mut router = Router::new();
        router.get("/", |_: Request| "hello").unwrap();
        let spec = ServerSpec::new("test", "127.0.0.1", 0)
            .router(router)
            .middleware(
                |request: Request, next: Next<'_>| -> Result<Response, BoxError> {
                    let mut response = next.run(request)?;
                    response
                        .headers_mut()
                        .insert("x-wrapped", HeaderValue::from_static("yes"));
                    Ok(response)
                },
            );
        let response = TestClient::new(spec).get("/").send();
        assert_eq!(response.header("x-wrapped"), Some("yes"));
        assert_eq!(response.text(), "hello");
    });
}

/// Answers every error with its status and `handled: {message}`.
struct Handled;

impl ExceptionHandler for Handled {
    fn is_valid(&self, _: &BoxError) -> bool {
        true
    }

    fn handle(
        &self,
        error: &BoxError,
        mut response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        if let Some(error) = error.downcast_ref::<HttpError>() {
            *response.status_mut() = error.status();
        }
        *response.body_mut() = format!("handled: {error}").into();
        propagation.stop();
        Ok(response)
    }
}

#[test]
fn an_exception_handler_renders_a_handlers_error() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .get("/teapot", |_: Request| -> Result<&'static str, BoxError> {
                Err(HttpError::new(StatusCode::IM_A_TEAPOT, "short and stout").into())
            })
            .unwrap();
        let spec = ServerSpec::new("test", "127.0.0.1", 0)
            .router(router)
            .exception_handler(Handled);
        let response = TestClient::new(spec).get("/teapot").send();
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        assert!(response.text().starts_with("handled: "), "{response:?}");
    });
}

#[test]
fn a_handlers_panic_is_a_500() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .get("/panic", |_: Request| -> &'static str {
                panic!("on purpose")
            })
            .unwrap();
        let response = client(router).get("/panic").send();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    });
}

#[test]
fn a_streamed_upload_is_read_through_the_body_reader() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .post(
                "/upload",
                |mut body: BodyReader| -> std::io::Result<String> {
                    let mut received = Vec::new();
                    body.read_to_end(&mut received)?;
                    Ok(format!(
                        "{} bytes, last {}",
                        received.len(),
                        received[received.len() - 1]
                    ))
                },
            )
            .unwrap()
            .stream_body(1 << 20);
        let body: Vec<u8> = (0..100_000u32).map(|n| n as u8).collect();
        let response = client(router).post("/upload").body(body).send();
        assert_eq!(
            response.text(),
            format!("100000 bytes, last {}", 99_999u32 as u8)
        );
    });
}

#[test]
fn a_streamed_upload_past_its_routes_limit_is_413() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .post("/upload", |_: BodyReader| "read")
            .unwrap()
            .stream_body(10);
        let response = client(router).post("/upload").body(vec![0u8; 11]).send();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    });
}

#[test]
fn a_streamed_response_is_collected_whole() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .get("/lines", |_: Request| {
                Response::new(Body::stream(|out| {
                    for n in 0..3 {
                        writeln!(out, "line {n}")?;
                    }
                    Ok(())
                }))
            })
            .unwrap();
        let response = client(router).get("/lines").send();
        assert!(response.is_streamed());
        assert!(response.stream_error().is_none());
        assert_eq!(response.text(), "line 0\nline 1\nline 2\n");
    });
}

#[test]
fn a_streamed_response_cut_short_keeps_what_was_written_and_its_error() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .get("/cut", |_: Request| {
                Response::new(Body::stream(|out| {
                    out.write_all(b"partial")?;
                    Err(std::io::Error::other("gave up"))
                }))
            })
            .unwrap();
        let response = client(router).get("/cut").send();
        assert_eq!(response.text(), "partial");
        assert_eq!(response.stream_error().unwrap().to_string(), "gave up");
    });
}

#[test]
fn a_head_request_gets_headers_and_no_body() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .get("/", |_: Request| {
                let mut response = Response::new(Body::from("hello"));
                response
                    .headers_mut()
                    .insert("x-tag", HeaderValue::from_static("a"));
                response
            })
            .unwrap();
        let response = client(router).head("/").send();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.header("x-tag"), Some("a"));
        assert!(response.bytes().is_empty());
    });
}

fn whoami() -> Router {
    let mut router = Router::new();
    router
        .get("/whoami", |client: ClientAddr| {
            format!("{} {}", client.ip(), client.peer())
        })
        .unwrap();
    router
}

#[test]
fn the_client_address_is_loopback_by_default() {
    within(LIMIT, || {
        let response = client(whoami()).get("/whoami").send();
        assert_eq!(
            response.text(),
            format!("127.0.0.1 {}", TestClient::DEFAULT_CLIENT_ADDR)
        );
    });
}

#[test]
fn the_client_address_is_the_one_given() {
    within(LIMIT, || {
        let addr: SocketAddr = "203.0.113.7:5000".parse().unwrap();
        let response = client(whoami()).get("/whoami").client_addr(addr).send();
        assert_eq!(response.text(), "203.0.113.7 203.0.113.7:5000");
    });
}

#[test]
fn a_forwarded_address_is_believed_from_a_trusted_proxy_only() {
    within(LIMIT, || {
        let spec = ServerSpec::new("test", "127.0.0.1", 0)
            .router(whoami())
            .trusted_proxies("127.0.0.1".parse().unwrap());
        let client = TestClient::new(spec);
        let forwarded = client
            .get("/whoami")
            .header("x-forwarded-for", "198.51.100.1")
            .send();
        assert!(
            forwarded.text().starts_with("198.51.100.1 "),
            "{forwarded:?}"
        );
        let untrusted = client
            .get("/whoami")
            .header("x-forwarded-for", "198.51.100.1")
            .client_addr("192.0.2.1:1000".parse().unwrap())
            .send();
        assert!(untrusted.text().starts_with("192.0.2.1 "), "{untrusted:?}");
    });
}

#[test]
fn the_requests_defers_have_run_when_send_returns() {
    within(LIMIT, || {
        let ran = Arc::new(AtomicUsize::new(0));
        let deferred = Arc::clone(&ran);
        let mut router = Router::new();
        router
            .get("/", move |_: Request| {
                let deferred = Arc::clone(&deferred);
                runtime::defer(move || {
                    deferred.fetch_add(1, Ordering::SeqCst);
                });
                "deferred"
            })
            .unwrap();
        let client = client(router);
        assert_eq!(client.get("/").send().text(), "deferred");
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        client.get("/").send();
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn the_request_context_holds_the_request_and_its_response_headers() {
    within(LIMIT, || {
        let mut router = Router::new();
        router
            .get("/", |_: Request| {
                let head = RequestContext::request().expect("inside a request");
                RequestContext::set_response_header("x-from", HeaderValue::from_static("context"));
                head.uri.path().to_string()
            })
            .unwrap();
        let response = client(router).get("/").send();
        assert_eq!(response.text(), "/");
        assert_eq!(response.header("x-from"), Some("context"));
    });
}

#[test]
fn an_unknown_path_is_404_and_a_wrong_method_405() {
    within(LIMIT, || {
        let client = client(users());
        assert_eq!(
            client.get("/nowhere").send().status(),
            StatusCode::NOT_FOUND
        );
        let refused = client.delete("/users/7").send();
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.header("allow"), Some("GET"));
    });
}

#[test]
fn the_health_route_answers_ready() {
    within(LIMIT, || {
        let spec = ServerSpec::new("test", "127.0.0.1", 0).health_route("/health");
        let response = TestClient::new(spec).get("/health").send();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text(), "ready\n");
    });
}

#[test]
fn any_service_can_be_a_test_clients() {
    within(LIMIT, || {
        let echo = |request: Request| -> Result<Response, BoxError> {
            Ok(Response::new(request.into_body().into()))
        };
        let client = TestClient::from_service(Arc::new(echo));
        let response = client.put("/").body("ping").send();
        assert_eq!(response.text(), "ping");
    });
}

#[test]
fn a_services_error_is_a_bare_500() {
    within(LIMIT, || {
        let failing = |_: Request| -> Result<Response, BoxError> { Err("broken".into()) };
        let response = TestClient::from_service(Arc::new(failing)).get("/").send();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.text(), "Internal Server Error");
    });
}
