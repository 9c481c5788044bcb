//! The `api` example's routes and error rendering (`src/bin/api.rs` serves them), here so
//! that its tests can call them in-process through `hyperf_http::testing::TestClient`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyperf_http::server::{
    ClientAddr, ExceptionHandler, HttpError, Json, Next, Path, Propagation, RequestContext, Router,
    State, find_client_error,
};
use hyperf_http::{BoxError, Bytes, HeaderValue, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct User {
    id: u32,
    name: String,
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
}

#[derive(Deserialize)]
struct PostsPage {
    page: Option<u32>,
}

/// How many requests have finished, shared with the handlers as a `State` (`/admin/stats`
/// shows it); the server's `on_request_terminated` counts them.
#[derive(Debug, Clone, Default)]
pub struct Served(pub Arc<AtomicU64>);

/// Guards the `/admin` group: `Authorization: Bearer secret`.
fn auth(request: Request, next: Next<'_>) -> Result<Response, BoxError> {
    let authorized = request
        .headers()
        .get(hyperf_http::header::AUTHORIZATION)
        .is_some_and(|value| value == "Bearer secret");
    if !authorized {
        return Err(
            HttpError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into(),
        );
    }
    next.run(request)
}

/// Answers every error as JSON: `{"error": "..."}` with the error's status.
#[derive(Debug)]
pub struct JsonErrors;

impl ExceptionHandler for JsonErrors {
    fn is_valid(&self, _: &BoxError) -> bool {
        true
    }

    fn handle(
        &self,
        error: &BoxError,
        mut response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        // Any client error — an `HttpError`, an extractor's rejection, a bad route parameter or
        // streamed body — keeps its status and message; anything else is a 500 that says
        // nothing of the cause.
        let client_error = find_client_error(&**error)
            .map(|error| (error.status(), error.client_message().into_owned()));
        let (status, message) = match client_error {
            Some(answer) => answer,
            None => {
                log::error!("request failed: {error}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        let body = serde_json::to_vec(&serde_json::json!({ "error": message }))?;
        *response.status_mut() = status;
        *response.body_mut() = body.into();
        response.headers_mut().insert(
            hyperf_http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        propagation.stop();
        Ok(response)
    }
}

/// The example's routes, `served` shown by `/admin/stats`.
///
/// # Errors
///
/// A route that does not register (none does).
pub fn routes(served: Served) -> Result<Router, hyperf_http::server::RouteError> {
    let mut router = Router::new();
    router.state(served);
    router.get("/users/{id:\\d+}", |Path(id): Path<u32>| {
        RequestContext::set_response_header(
            "cache-control",
            HeaderValue::from_static("max-age=60"),
        );
        Json(User {
            id,
            name: format!("user {id}"),
        })
    })?;
    router.post("/users", |Json(user): Json<NewUser>| {
        let created = User {
            id: 7,
            name: user.name,
        };
        (StatusCode::CREATED, Json(created))
    })?;
    router.get("/posts[/{page:\\d+}]", |Path(at): Path<PostsPage>| {
        Json(serde_json::json!({ "page": at.page.unwrap_or(1), "posts": [] }))
    })?;
    router.post("/echo", |body: Bytes| Response::new(body.into()))?;
    // Who the server thinks the client is: behind a trusted proxy, the address it forwarded.
    router.get("/whoami", |client: ClientAddr| {
        Json(serde_json::json!({
            "ip": client.ip().to_string(),
            "peer": client.peer().to_string(),
            "scheme": client.scheme(),
        }))
    })?;
    // Sleeps as long as asked, under a 1 s limit of its own: `/slow/2000` is answered 503.
    router
        .get("/slow/{ms:\\d+}", |Path(ms): Path<u64>| {
            may::coroutine::sleep(Duration::from_millis(ms));
            format!("slept {ms} ms")
        })?
        .time_limit(Duration::from_secs(1));
    router.group_with_middlewares("/admin", vec![(Arc::new(auth), None)], |admin| {
        admin.get("/stats", |State(served): State<Served>| {
            Json(serde_json::json!({ "requests": served.0.load(Ordering::Relaxed) }))
        })?;
        Ok(())
    })?;
    Ok(router)
}
