//! What the benchmarks share: the "full pipeline" server of the HTTP benches — 50 routes, two
//! global middlewares, lifecycle events on — so the socket harness and the pipeline
//! micro-benchmark measure the same thing.

use http::server::{Next, Router, ServerSpec};
use http::{BoxError, HeaderValue, Request, Response};

/// The body every hello route answers.
pub const HELLO: &str = "Hello, world!";

/// The hello route among 49 others (static and with parameters), two global middlewares and
/// lifecycle events on.
pub fn full_pipeline_spec(name: &str, host: &str, port: u16) -> ServerSpec {
    let mut router = Router::new();
    for n in 0..24 {
        router
            .get(&format!("/static/{n}"), |_: Request| "static")
            .expect("distinct routes");
        router
            .get(&format!("/dynamic/{n}/{{id:\\d+}}"), |_: Request| "dynamic")
            .expect("distinct routes");
    }
    router
        .get("/other", |_: Request| "other")
        .expect("distinct routes");
    router
        .get("/hello", |_: Request| {
            let mut response = Response::new(HELLO.into());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain"),
            );
            response
        })
        .expect("distinct routes");
    ServerSpec::new(name, host, port)
        .router(router)
        .middleware(
            |request: Request, next: Next<'_>| -> Result<Response, BoxError> { next.run(request) },
        )
        .middleware(
            |request: Request, next: Next<'_>| -> Result<Response, BoxError> {
                let mut response = next.run(request)?;
                response
                    .headers_mut()
                    .insert("x-served-by", HeaderValue::from_static("bench"));
                Ok(response)
            },
        )
        .enable_request_lifecycle(true)
}
