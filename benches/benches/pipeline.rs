//! The request pipeline alone, no socket: a request through the full `on_request` (routing
//! among 50 routes, two global middlewares, lifecycle events) beside calling the hello handler
//! directly, each in a request scope as the engine runs them.
//!
//! `cargo bench -p benches --bench pipeline` (add `-- --quick` for a short run).

// `criterion_group!` generates undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::{HELLO, full_pipeline_spec};
use criterion::{Criterion, criterion_group};
use hyperf_http::{Request, Response, Service};

fn request() -> Request {
    let mut request = Request::new(hyperf_http::Bytes::new());
    *request.uri_mut() = "/hello".parse().unwrap();
    request
        .headers_mut()
        .insert(hyperf_http::header::HOST, "bench".parse().unwrap());
    request
}

/// Calls `service` `iters` times in one coroutine, each call in its own request scope.
fn time_calls(iters: u64, service: std::sync::Arc<dyn Service>) -> Duration {
    runtime::spawn(move || {
        let began = Instant::now();
        for _ in 0..iters {
            let response = runtime::scope(|| service.call(black_box(request())));
            black_box(response.unwrap());
        }
        began.elapsed()
    })
    .join()
    .unwrap()
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline_per_request");
    let bare: std::sync::Arc<dyn Service> =
        std::sync::Arc::new(|_: Request| -> Result<Response, hyperf_http::BoxError> {
            Ok(Response::new(HELLO.into()))
        });
    group.bench_function("baseline_handler_called_directly", |b| {
        b.iter_custom(|iters| time_calls(iters, std::sync::Arc::clone(&bare)))
    });
    let full = full_pipeline_spec("bench", "127.0.0.1", 0).into_service();
    group.bench_function("full_on_request_pipeline", |b| {
        b.iter_custom(|iters| time_calls(iters, std::sync::Arc::clone(&full)))
    });
    group.finish();
}

fn configure() -> Criterion {
    runtime::configure(runtime::Config::default().workers(2)).expect("configured before any spawn");
    Criterion::default()
}

criterion_group! {
    name = pipeline_benches;
    config = configure();
    targets = pipeline
}
fn main() {
    pipeline_benches();
    Criterion::default().configure_from_args().final_summary();
    benches::print_ratios(&["pipeline_per_request"]);
}
