//! Exception handlers: the chain's order, `stop` ending it per request, handlers that do not
//! apply, errors from middlewares, and a failing chain answered with a bare `500` (a server
//! fault) and an error-level log line.

mod server_common;

use hyperf_http::server::{
    ExceptionHandler, HttpError, Next, Panicked, Propagation, RequestContext, Router,
    RunningServer, ServerSpec,
};
use hyperf_http::{BoxError, Request, Response, StatusCode};
use server_common::{Log, connect_to, get, request, server, spec, start, stop};

/// A server whose `GET /` fails with `error`, set up by `handlers`.
fn failing(
    error: fn() -> BoxError,
    handlers: impl FnOnce(ServerSpec) -> ServerSpec,
) -> RunningServer {
    let mut router = Router::new();
    router
        .get("/", move |_: Request| -> Result<&'static str, BoxError> {
            Err(error())
        })
        .unwrap();
    start(server().server(handlers(spec("http").router(router))))
}

fn teapot() -> BoxError {
    "no coffee here".into()
}

/// Handles every error: sets `status` and `x-handled-by: name`, records that it ran, and stops
/// the chain when `stops` says so for the current request.
struct Tagging {
    name: &'static str,
    status: StatusCode,
    log: Log<&'static str>,
    stops: fn() -> bool,
}

impl ExceptionHandler for Tagging {
    fn is_valid(&self, _: &BoxError) -> bool {
        true
    }

    fn handle(
        &self,
        _: &BoxError,
        mut response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        self.log.push(self.name);
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert("x-handled-by", self.name.parse()?);
        if (self.stops)() {
            propagation.stop();
        }
        Ok(response)
    }
}

/// Whether the current request asks the first handler to stop the chain.
fn asked_to_stop() -> bool {
    RequestContext::request().is_some_and(|request| request.headers().contains_key("x-stop"))
}

fn always() -> bool {
    true
}

fn never() -> bool {
    false
}

#[test]
fn a_handler_that_stops_propagation_is_the_last_to_handle_the_error() {
    let log = Log::new();
    let (first, second) = (log.clone(), log.clone());
    let running = failing(teapot, move |spec| {
        spec.exception_handler(Tagging {
            name: "first",
            status: StatusCode::IM_A_TEAPOT,
            log: first,
            stops: asked_to_stop,
        })
        .exception_handler(Tagging {
            name: "second",
            status: StatusCode::SERVICE_UNAVAILABLE,
            log: second,
            stops: always,
        })
    });
    let mut client = connect_to(&running, "http");

    let stopped = client.exchange(request("GET", "/", &[("x-stop", "1")]));
    assert_eq!(stopped.status, 418);
    assert_eq!(stopped.header("x-handled-by"), Some("first"));
    assert_eq!(log.take(), ["first"]);

    let propagated = client.exchange(get("/"));
    assert_eq!(propagated.status, 503);
    assert_eq!(propagated.header("x-handled-by"), Some("second"));
    assert_eq!(log.take(), ["first", "second"]);
    stop(running);
}

#[test]
fn handlers_run_by_priority_then_registration() {
    let log = Log::new();
    let tagging = |name, log: &Log<&'static str>| Tagging {
        name,
        status: StatusCode::IM_A_TEAPOT,
        log: log.clone(),
        stops: never,
    };
    let running = failing(teapot, |spec| {
        spec.exception_handler(tagging("low", &log))
            .exception_handler_with_priority(tagging("high", &log), 10)
            .exception_handler(tagging("low, later", &log))
    });

    let reply = connect_to(&running, "http").exchange(get("/"));
    assert_eq!(log.entries(), ["high", "low", "low, later"]);
    // None stopped the chain: the default handler had the last word.
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (500, "Internal Server Error")
    );
    assert_eq!(reply.header("x-handled-by"), Some("low, later"));
    stop(running);
}

/// Handles only `HttpError`s, answering them in JSON.
struct JsonErrors;

impl ExceptionHandler for JsonErrors {
    fn is_valid(&self, error: &BoxError) -> bool {
        error.is::<HttpError>()
    }

    fn handle(
        &self,
        error: &BoxError,
        mut response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        let error = error.downcast_ref::<HttpError>().expect("is_valid checked");
        *response.status_mut() = error.status();
        *response.body_mut() = format!(r#"{{"error":"{}"}}"#, error.message()).into();
        propagation.stop();
        Ok(response)
    }
}

fn gone() -> BoxError {
    Box::new(HttpError::new(StatusCode::GONE, "moved away"))
}

#[test]
fn a_handler_only_handles_the_errors_it_is_valid_for() {
    let answered_by_it = failing(gone, |spec| spec.exception_handler(JsonErrors));
    let reply = connect_to(&answered_by_it, "http").exchange(get("/"));
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (410, r#"{"error":"moved away"}"#)
    );
    stop(answered_by_it);

    let skipped = failing(teapot, |spec| spec.exception_handler(JsonErrors));
    let reply = connect_to(&skipped, "http").exchange(get("/"));
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (500, "Internal Server Error")
    );
    stop(skipped);
}

#[test]
fn an_error_from_a_middleware_goes_to_the_exception_handlers() {
    let refuse = |_: Request, _: Next<'_>| -> Result<Response, BoxError> {
        Err(Box::new(HttpError::new(StatusCode::FORBIDDEN, "not you")))
    };
    let mut router = Router::new();
    router.get("/", |_: Request| "handler").unwrap();
    let running = start(
        server().server(
            spec("http")
                .middleware(refuse)
                .exception_handler(JsonErrors)
                .router(router),
        ),
    );

    let reply = connect_to(&running, "http").exchange(get("/"));
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (403, r#"{"error":"not you"}"#)
    );
    stop(running);
}

/// Sees what a panic became: answers with the error's type and message.
struct PanicReport;

impl ExceptionHandler for PanicReport {
    fn is_valid(&self, error: &BoxError) -> bool {
        error.is::<Panicked>()
    }

    fn handle(
        &self,
        error: &BoxError,
        mut response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        let panicked = error.downcast_ref::<Panicked>().expect("is_valid checked");
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        *response.body_mut() = format!("panicked: {}", panicked.message()).into();
        propagation.stop();
        Ok(response)
    }
}

#[test]
fn a_panic_in_a_handler_reaches_the_exception_handlers_as_panicked() {
    let mut router = Router::new();
    router
        .get("/", |_: Request| -> &'static str {
            panic!("out of cheese")
        })
        .unwrap();
    let running =
        start(server().server(spec("http").exception_handler(PanicReport).router(router)));

    let reply = connect_to(&running, "http").exchange(get("/"));
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (503, "panicked: out of cheese")
    );
    stop(running);
}

/// An exception handler that itself fails, by returning an error or by panicking.
struct Broken {
    panics: bool,
}

impl ExceptionHandler for Broken {
    fn is_valid(&self, _: &BoxError) -> bool {
        true
    }

    fn handle(&self, _: &BoxError, _: Response, _: &mut Propagation) -> Result<Response, BoxError> {
        if self.panics {
            panic!("the exception handler is broken too");
        }
        Err("the exception handler is broken too".into())
    }
}

#[test]
fn an_exception_handler_returning_an_error_gives_a_bare_500() {
    let running = failing(teapot, |spec| {
        spec.exception_handler(Broken { panics: false })
    });
    let reply = connect_to(&running, "http").exchange(get("/"));
    assert_eq!(reply.status, 500);
    assert!(reply.body.is_empty(), "{:?}", reply.text());
    stop(running);
}

#[test]
fn a_panicking_exception_handler_gives_a_bare_500() {
    let running = failing(teapot, |spec| {
        spec.exception_handler(Broken { panics: true })
    });
    let mut client = connect_to(&running, "http");
    let reply = client.exchange(get("/"));
    assert_eq!(reply.status, 500);
    assert!(reply.body.is_empty(), "{:?}", reply.text());
    assert_eq!(
        client.exchange(get("/")).status,
        500,
        "the connection goes on"
    );
    stop(running);
}

#[test]
fn a_failing_exception_handler_is_an_error_level_log_line() {
    test_support::record_logs();
    let running = failing(
        || "a marker for the failing handler's log line".into(),
        |spec| spec.exception_handler(Broken { panics: false }),
    );
    assert_eq!(connect_to(&running, "http").exchange(get("/")).status, 500);
    stop(running);
    let records = test_support::records();
    assert!(
        records
            .iter()
            .any(|record| record.level == log::Level::Error
                && record.message.contains("an exception handler failed")
                && record
                    .message
                    .contains("a marker for the failing handler's log line")),
        "{records:?}"
    );
}
