//! One contract for client errors: an exception handler of the user's finds any of them — an
//! `HttpError`, an extractor's `Rejection`, a route parameter's `ParamError`, a streamed body's
//! `BodyError`, also as the cause of another error — with `find_client_error`, and answers it
//! with its status and client message; anything else is a server fault.

mod server_common;

use std::fmt;
use std::io::Read;

use hyperf_http::server::{
    ExceptionHandler, HttpError, Json, Propagation, Router, find_client_error, params,
};
use hyperf_http::{BodyReader, BoxError, Request, Response, StatusCode};
use server_common::{connect_to, get, server, spec, start, stop};

/// Renders every error as `status|message`, as a JSON API's handler would render its own
/// shape: the client's mistakes with their message, server faults as `fault`.
struct Rendered;

impl ExceptionHandler for Rendered {
    fn is_valid(&self, _: &BoxError) -> bool {
        true
    }

    fn handle(
        &self,
        error: &BoxError,
        mut response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        let (status, message) = match find_client_error(&**error) {
            Some(found) => (found.status(), found.client_message().into_owned()),
            None => (StatusCode::INTERNAL_SERVER_ERROR, "fault".to_string()),
        };
        *response.status_mut() = status;
        *response.body_mut() = format!("{}|{message}", status.as_u16()).into();
        propagation.stop();
        Ok(response)
    }
}

/// An application error that keeps its cause.
#[derive(Debug)]
struct Lookup(BoxError);

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("lookup failed")
    }
}

impl std::error::Error for Lookup {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

fn routes() -> Router {
    let mut router = Router::new();
    router
        .get(
            "/users/{id}",
            |request: Request| -> Result<String, BoxError> {
                let id: u32 = params(&request)
                    .parse("id")
                    .map_err(|error| Lookup(error.into()))?;
                Ok(id.to_string())
            },
        )
        .unwrap();
    router
        .get("/missing", || -> Result<&'static str, BoxError> {
            Err(Lookup(HttpError::new(StatusCode::NOT_FOUND, "no such thing").into()).into())
        })
        .unwrap();
    router
        .get("/fault", || -> Result<&'static str, BoxError> {
            Err("the database is down".into())
        })
        .unwrap();
    router
        .post("/json", |Json(value): Json<serde_json::Value>| Json(value))
        .unwrap();
    router
        .post(
            "/upload",
            |mut body: BodyReader| -> Result<String, BoxError> {
                let mut bytes = Vec::new();
                body.read_to_end(&mut bytes)?;
                Ok(bytes.len().to_string())
            },
        )
        .unwrap()
        .stream_body(4);
    router
}

fn answer(request: impl AsRef<[u8]>) -> String {
    let running = start(server().server(spec("http").router(routes()).exception_handler(Rendered)));
    let reply = connect_to(&running, "http").exchange(request);
    stop(running);
    reply.text()
}

#[test]
fn a_route_parameter_that_does_not_parse_is_found_under_another_error() {
    let text = answer(get("/users/99999999999"));
    assert!(text.starts_with("400|route parameter \"id\""), "{text}");
}

#[test]
fn an_http_error_under_another_error_is_found_with_its_status_and_message() {
    assert_eq!(answer(get("/missing")), "404|no such thing");
}

#[test]
fn an_extractors_rejection_is_found() {
    let request =
        "POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}";
    let text = answer(request);
    assert!(text.starts_with("415|expected a request with"), "{text}");
}

#[test]
fn a_streamed_body_past_its_limit_is_found_through_the_io_error_that_carries_it() {
    let request = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n12345678\r\n0\r\n\r\n";
    let text = answer(request);
    assert!(text.starts_with("413|"), "{text}");
}

#[test]
fn any_other_error_is_a_server_fault() {
    assert_eq!(answer(get("/fault")), "500|fault");
}
