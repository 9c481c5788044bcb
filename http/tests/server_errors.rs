//! Client mistakes against server faults: a route parameter that is missing or does not parse,
//! and an `HttpError` however it is wrapped (a source chain, `anyhow`, `anyhow`'s context),
//! keep their status and write no error-level log line; only a genuine fault is a `500` and an
//! error log line.

mod server_common;

use std::fmt;

use hyperf_http::server::{HttpError, Router, params};
use hyperf_http::{BoxError, Request, StatusCode};
use server_common::{connect_to, get, server, spec, start, stop};
use test_support::{logged_at, record_logs};

/// Whether an error-level record mentions `marker` (each test uses a marker of its own, so
/// tests running side by side do not see each other's records).
fn error_logged(marker: &str) -> bool {
    logged_at(log::Level::Error, marker)
}

/// Serves `router` and answers one `GET path`: the status, the body, and whether an error-level
/// line mentioned `marker`.
fn answer(router: Router, path: &str, marker: &str) -> (u16, String, bool) {
    record_logs();
    let running = start(server().server(spec("http").router(router)));
    let reply = connect_to(&running, "http").exchange(get(path));
    stop(running);
    (reply.status, reply.text(), error_logged(marker))
}

#[test]
fn a_parameter_that_overflows_its_type_is_a_400_without_an_error_log() {
    let mut router = Router::new();
    router
        .get("/users/{user_id_overflow:\\d+}", |request: Request| {
            let id: u32 = params(&request).parse("user_id_overflow")?;
            Ok::<_, BoxError>(format!("user {id}"))
        })
        .unwrap();

    let (status, body, logged) = answer(router, "/users/99999999999", "user_id_overflow");
    assert_eq!(status, 400);
    assert!(body.contains("user_id_overflow"), "{body:?}");
    assert!(!logged, "a client's mistake wrote an error-level log line");
}

#[test]
fn a_missing_optional_parameter_a_handler_requires_is_a_400() {
    let mut router = Router::new();
    router
        .get("/posts[/{page_missing}]", |request: Request| {
            let page: u32 = params(&request).parse("page_missing")?;
            Ok::<_, BoxError>(format!("page {page}"))
        })
        .unwrap();

    let (status, body, logged) = answer(router, "/posts", "page_missing");
    assert_eq!(status, 400);
    assert!(body.contains("page_missing"), "{body:?}");
    assert!(!logged);
}

/// An error of the application's that wraps an `HttpError` as its source.
#[derive(Debug)]
struct LoadFailed(HttpError);

impl fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("loading the chained user failed")
    }
}

impl std::error::Error for LoadFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn an_http_error_in_a_source_chain_keeps_its_status() {
    let mut router = Router::new();
    router
        .get("/", |_: Request| -> Result<&'static str, LoadFailed> {
            Err(LoadFailed(HttpError::new(
                StatusCode::NOT_FOUND,
                "no such user",
            )))
        })
        .unwrap();

    let (status, body, logged) = answer(router, "/", "chained user");
    assert_eq!(status, 404);
    assert_eq!(body, "no such user");
    assert!(!logged);
}

#[test]
fn a_genuine_fault_is_a_500_and_an_error_log_line() {
    let mut router = Router::new();
    router
        .get("/", |_: Request| -> Result<&'static str, BoxError> {
            Err("the disk of the genuine fault is full".into())
        })
        .unwrap();

    let (status, body, logged) = answer(router, "/", "genuine fault");
    assert_eq!(status, 500);
    assert_eq!(body, "Internal Server Error");
    assert!(logged, "a server fault must be logged at error level");
}

#[cfg(feature = "anyhow")]
mod through_anyhow {
    use super::*;

    #[test]
    fn an_http_error_returned_as_anyhow_keeps_its_status() {
        let mut router = Router::new();
        router
            .get("/", |_: Request| -> anyhow::Result<&'static str> {
                Err(HttpError::new(StatusCode::FORBIDDEN, "not yours (anyhow plain)").into())
            })
            .unwrap();

        let (status, body, logged) = answer(router, "/", "anyhow plain");
        assert_eq!(status, 403);
        assert_eq!(body, "not yours (anyhow plain)");
        assert!(!logged);
    }

    #[test]
    fn an_http_error_under_anyhow_context_keeps_its_status() {
        use anyhow::Context as _;
        let mut router = Router::new();
        router
            .get("/", |_: Request| -> anyhow::Result<&'static str> {
                let lookup: Result<&'static str, HttpError> =
                    Err(HttpError::new(StatusCode::NOT_FOUND, "no such order"));
                let order = lookup.context("loading the order (anyhow context)")?;
                Ok(order)
            })
            .unwrap();

        let (status, body, logged) = answer(router, "/", "anyhow context");
        assert_eq!(status, 404);
        assert_eq!(body, "no such order");
        assert!(!logged);
    }

    #[test]
    fn an_anyhow_error_without_an_http_error_is_a_500_logged_with_its_causes() {
        use anyhow::Context as _;
        let mut router = Router::new();
        router
            .get("/", |_: Request| -> anyhow::Result<&'static str> {
                let read: Result<&'static str, std::io::Error> =
                    Err(std::io::Error::other("the anyhow disk is gone"));
                let file = read.context("reading the anyhow file")?;
                Ok(file)
            })
            .unwrap();

        let (status, body, logged) = answer(router, "/", "the anyhow disk is gone");
        assert_eq!(status, 500);
        assert_eq!(body, "Internal Server Error");
        assert!(
            logged,
            "the log line carries the cause, not only the context"
        );
    }
}
