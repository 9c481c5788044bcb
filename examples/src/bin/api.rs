//! A JSON API: route parameters and constraints, a group behind an auth middleware, a
//! priority-sorted pair of global middlewares, a custom exception handler, lifecycle events
//! in the log, a health check that answers only once every worker has started, an echo, and a
//! graceful shutdown on Ctrl-C or SIGTERM.
//!
//! `cargo run --release -p examples --bin api [-- --port 9501 --workers 2]`
//! (or `PORT=… WORKERS=…`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyperf_http::server::{
    ExceptionHandler, HttpError, Json, Next, Propagation, RequestContext, Router, Server,
    ServerSpec, params,
};
use hyperf_http::{BoxError, HeaderValue, Request, Response, StatusCode};
use serde::Serialize;

#[derive(Serialize)]
struct User {
    id: u32,
    name: String,
}

/// Gives every request an id (`x-request-id`), first of all: priority 10.
fn request_id(counter: Arc<AtomicU64>) -> impl hyperf_http::server::Middleware {
    move |request: Request, next: Next<'_>| -> Result<Response, BoxError> {
        let id = counter.fetch_add(1, Ordering::Relaxed) + 1;
        let mut response = next.run(request)?;
        response
            .headers_mut()
            .insert("x-request-id", HeaderValue::from(id));
        Ok(response)
    }
}

/// Logs each request with its status, inside the request id: priority 0.
fn access_log(request: Request, next: Next<'_>) -> Result<Response, BoxError> {
    let line = format!("{} {}", request.method(), request.uri());
    let outcome = next.run(request);
    match &outcome {
        Ok(response) => log::info!("{line} -> {}", response.status().as_u16()),
        Err(error) => log::info!("{line} -> error: {error}"),
    }
    outcome
}

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
struct JsonErrors;

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
        let (status, message) = match error.downcast_ref::<HttpError>() {
            Some(error) => (error.status(), error.message().to_string()),
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

fn routes(served: Arc<AtomicU64>) -> Result<Router, hyperf_http::server::RouteError> {
    let mut router = Router::new();
    // Answers only once every worker has started: every request waits on WORKER_START.
    router.get("/health", |_: Request| {
        Json(serde_json::json!({ "status": "ok" }))
    })?;
    router.get(
        "/users/{id:\\d+}",
        |request: Request| -> Result<Json<User>, BoxError> {
            let id: u32 = params(&request).parse("id")?;
            RequestContext::set_response_header("cache-control", "max-age=60");
            Ok(Json(User {
                id,
                name: format!("user {id}"),
            }))
        },
    )?;
    router.get(
        "/posts[/{page:\\d+}]",
        |request: Request| -> Result<Json<serde_json::Value>, BoxError> {
            let page: u32 = match params(&request).get("page") {
                Some(_) => params(&request).parse("page")?,
                None => 1,
            };
            Ok(Json(serde_json::json!({ "page": page, "posts": [] })))
        },
    )?;
    router.post("/echo", |request: Request| {
        Response::new(request.into_body().into())
    })?;
    router.group_with_middlewares("/admin", vec![(Arc::new(auth), None)], |admin| {
        admin.get("/stats", move |_: Request| {
            Json(serde_json::json!({ "requests": served.load(Ordering::Relaxed) }))
        })?;
        Ok(())
    })?;
    Ok(router)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_logging();
    let port = examples::flag("--port", "PORT", 9501u16);
    let workers = examples::flag("--workers", "WORKERS", 2usize);
    let ids = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&served);
    let spec = ServerSpec::new("http", "127.0.0.1", port)
        .router(routes(Arc::clone(&served))?)
        .middleware_with_priority(access_log, 0)
        .middleware_with_priority(request_id(ids), 10)
        .exception_handler(JsonErrors)
        .enable_request_lifecycle(true);
    let server = Server::new()
        .worker_num(workers)
        .max_wait_time(Duration::from_secs(3))
        // Ctrl-C and SIGTERM both shut down gracefully here (see below).
        .handle_signals(false)
        .on_worker_start(|id| log::info!("worker {id} started"))
        .on_worker_exit(|id| log::info!("worker {id} exiting"))
        .on_request_terminated(move |event| {
            counted.fetch_add(1, Ordering::Relaxed);
            log::debug!(
                "{} {} finished in {:?}",
                event.request.method,
                event.request.uri,
                event.elapsed
            );
        })
        .server(spec)
        .start()?;

    // Installed before saying where we listen: a signal sent right after finds it in place.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    let address = server.local_addr("http").unwrap();
    println!("listening on http://{address}");
    println!("try:");
    println!("  curl http://{address}/health");
    println!("  curl http://{address}/users/42");
    println!("  curl http://{address}/posts/2");
    println!("  curl -d 'hello' http://{address}/echo");
    println!("  curl -H 'Authorization: Bearer secret' http://{address}/admin/stats");

    if let Some(signal) = signals.forever().next() {
        log::info!("signal {signal}: shutting down gracefully");
    }
    server.shutdown();
    let reports = server.wait();
    let drained: usize = reports.iter().map(|(_, r)| r.drained).sum();
    let forced: usize = reports.iter().map(|(_, r)| r.forced).sum();
    println!(
        "shut down: {} requests served, {drained} connections drained, {forced} forced",
        served.load(Ordering::Relaxed)
    );
    Ok(())
}
