//! The `Cors` middleware over a socket, against the rules browsers apply (the Fetch
//! standard's CORS check and CORS-preflight fetch): preflights answered before routing,
//! origins echoed with credentials, `Vary: Origin`, nothing for a disallowed origin, method or
//! header, and the CORS headers on the error responses of the exception handlers.

mod server_common;

use std::time::Duration;

use hyperf_http::server::{Cors, CorsError, HttpError, Router, RunningServer};
use hyperf_http::{BoxError, Method, Request, StatusCode, header};
use server_common::{Reply, connect_to, request, server, spec, start, stop};

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example.net";

/// `GET /data` (only `GET`), `/fails` (an `HttpError` 409), `/boom` (a plain error: 500),
/// `/panics`.
fn routes() -> Router {
    let mut router = Router::new();
    router
        .get("/data", |_: Request| {
            let mut response = hyperf_http::server::IntoResponse::into_response("data");
            response
                .headers_mut()
                .insert("x-total", hyperf_http::HeaderValue::from_static("3"));
            response
        })
        .unwrap();
    router
        .get("/fails", |_: Request| -> Result<&'static str, BoxError> {
            Err(Box::new(HttpError::new(StatusCode::CONFLICT, "taken")))
        })
        .unwrap();
    router
        .get("/boom", |_: Request| -> Result<&'static str, BoxError> {
            Err("the database is down".into())
        })
        .unwrap();
    router
        .get("/panics", |_: Request| -> &'static str {
            panic!("out of cheese")
        })
        .unwrap();
    router
}

/// Credentials, `APP` only, `PUT` besides the defaults, `Content-Type` and `X-Token`,
/// `X-Total` exposed, a 10 minutes max-age.
fn strict() -> Cors {
    Cors::builder()
        .allow_origin(APP)
        .allow_methods([Method::GET, Method::PUT])
        .allow_headers([
            header::CONTENT_TYPE,
            header::HeaderName::from_static("x-token"),
        ])
        .expose_headers([header::HeaderName::from_static("x-total")])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
        .build()
        .unwrap()
}

fn serve(cors: Cors) -> RunningServer {
    let spec = spec("http")
        .router(routes())
        .middleware_with_priority(cors, 90);
    start(server().server(spec))
}

/// Each request's reply, on one server with `cors`.
fn replies(cors: Cors, requests: &[String]) -> Vec<Reply> {
    let running = serve(cors);
    let mut client = connect_to(&running, "http");
    let replies = requests.iter().map(|r| client.exchange(r)).collect();
    stop(running);
    replies
}

fn preflight(origin: &str, method: &str, headers: Option<&str>) -> String {
    let mut fields = vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
    ];
    if let Some(headers) = headers {
        fields.push(("Access-Control-Request-Headers", headers));
    }
    request("OPTIONS", "/data", &fields)
}

fn no_allow_headers(reply: &Reply) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-max-age",
        "access-control-expose-headers",
    ] {
        assert_eq!(reply.header(name), None, "{name} in {reply:?}");
    }
}

fn varies_by_origin(reply: &Reply) -> bool {
    reply
        .headers
        .iter()
        .filter(|(name, _)| name == "vary")
        .any(|(_, value)| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("origin"))
        })
}

#[test]
fn a_preflight_of_an_allowed_request_is_answered_before_routing() {
    // `/data` answers GET alone: without CORS, this OPTIONS would be a 405.
    let replies = replies(
        strict(),
        &[preflight(APP, "PUT", Some("Content-Type, X-Token"))],
    );
    let reply = &replies[0];
    reply.assert_status(StatusCode::NO_CONTENT);
    // With credentials, the exact origin, never `*`.
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    let methods = reply.header("access-control-allow-methods").unwrap();
    assert!(methods.split(", ").any(|m| m == "PUT"), "{methods}");
    let headers = reply.header("access-control-allow-headers").unwrap();
    for name in ["content-type", "x-token"] {
        assert!(headers.split(", ").any(|h| h == name), "{headers}");
    }
    assert_eq!(reply.header("access-control-max-age"), Some("600"));
    assert!(varies_by_origin(reply));
    assert!(reply.body.is_empty());
}

#[test]
fn a_preflight_asking_for_what_is_not_allowed_gets_no_allow_headers() {
    let replies = replies(
        strict(),
        &[
            // A method not listed (nor CORS-safelisted).
            preflight(APP, "DELETE", None),
            // A header not listed.
            preflight(APP, "PUT", Some("x-token, x-admin")),
            // An origin not listed.
            preflight(EVIL, "PUT", None),
            // Not a method at all.
            preflight(APP, "P(T", None),
        ],
    );
    for reply in &replies {
        reply.assert_status(StatusCode::NO_CONTENT);
        no_allow_headers(reply);
        assert!(varies_by_origin(reply), "{reply:?}");
    }
}

#[test]
fn a_safelisted_method_passes_a_preflight_unlisted() {
    // POST is not in `allow_methods`, but browsers send it without the server's leave; a
    // preflight for it (a custom header) is about the header.
    let replies = replies(strict(), &[preflight(APP, "POST", Some("x-token"))]);
    assert_eq!(replies[0].header("access-control-allow-origin"), Some(APP));
}

#[test]
fn an_allowed_origins_response_carries_the_cors_headers() {
    let replies = replies(strict(), &[request("GET", "/data", &[("Origin", APP)])]);
    let reply = &replies[0];
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.text(), "data");
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        reply.header("access-control-expose-headers"),
        Some("x-total")
    );
    // Preflight-only headers stay off actual responses.
    assert_eq!(reply.header("access-control-allow-methods"), None);
    assert_eq!(reply.header("access-control-max-age"), None);
    assert!(varies_by_origin(reply));
}

#[test]
fn a_disallowed_origins_request_still_runs_without_cors_headers() {
    let replies = replies(
        strict(),
        &[
            request("GET", "/data", &[("Origin", EVIL)]),
            // No origin at all (same-origin, or not a browser): the answer still depends on it.
            request("GET", "/data", &[]),
            // The origin's case differs: origins are compared as browsers serialise them.
            request("GET", "/data", &[("Origin", "https://APP.example.com")]),
        ],
    );
    for reply in &replies {
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.text(), "data");
        no_allow_headers(reply);
        assert!(varies_by_origin(reply), "{reply:?}");
    }
}

#[test]
fn a_non_cors_options_request_is_routed_as_usual() {
    // No `Access-Control-Request-Method`: not a preflight, so the router's 405 stands.
    let replies = replies(strict(), &[request("OPTIONS", "/data", &[("Origin", APP)])]);
    replies[0].assert_status(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(replies[0].header("access-control-allow-origin"), Some(APP));
}

#[test]
fn any_origin_without_credentials_answers_a_wildcard_and_does_not_vary() {
    let cors = Cors::builder()
        .allow_any_origin()
        .allow_any_method()
        .allow_any_header()
        .build()
        .unwrap();
    let replies = replies(
        cors,
        &[
            request("GET", "/data", &[("Origin", EVIL)]),
            preflight(EVIL, "PATCH", Some("Authorization, X-Whatever")),
        ],
    );
    assert_eq!(replies[0].header("access-control-allow-origin"), Some("*"));
    assert_eq!(replies[0].header("access-control-allow-credentials"), None);
    assert!(!varies_by_origin(&replies[0]));
    // Any method and header are echoed: `*` would not cover `Authorization`.
    let reply = &replies[1];
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("access-control-allow-methods"), Some("PATCH"));
    assert_eq!(
        reply.header("access-control-allow-headers"),
        Some("authorization, x-whatever")
    );
}

#[test]
fn origins_chosen_by_a_function_are_echoed() {
    let cors = Cors::builder()
        .allow_origin_fn(|origin| origin.ends_with(".example.com"))
        .build()
        .unwrap();
    let replies = replies(
        cors,
        &[
            request("GET", "/data", &[("Origin", APP)]),
            request("GET", "/data", &[("Origin", EVIL)]),
        ],
    );
    assert_eq!(replies[0].header("access-control-allow-origin"), Some(APP));
    assert!(varies_by_origin(&replies[0]));
    no_allow_headers(&replies[1]);
}

#[test]
fn credentials_with_any_origin_are_refused_when_built() {
    let refused = Cors::builder()
        .allow_any_origin()
        .allow_credentials(true)
        .build();
    assert_eq!(refused.unwrap_err(), CorsError::CredentialsWithAnyOrigin);
    let refused = Cors::builder().allow_origins([APP, "*"]).build();
    assert!(matches!(refused, Err(CorsError::InvalidOrigin(origin)) if origin == "*"));
}

#[test]
fn failed_requests_still_carry_the_cors_headers() {
    let from_app = |path: &str| request("GET", path, &[("Origin", APP)]);
    let replies = replies(
        strict(),
        &[
            from_app("/fails"),
            from_app("/boom"),
            from_app("/panics"),
            from_app("/missing"),
            request("DELETE", "/data", &[("Origin", APP)]),
        ],
    );
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [409, 500, 500, 404, 405]);
    for reply in &replies {
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some(APP),
            "{reply:?}"
        );
        assert_eq!(
            reply.header("access-control-allow-credentials"),
            Some("true")
        );
        assert!(varies_by_origin(reply), "{reply:?}");
    }
}
