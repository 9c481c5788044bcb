//! The request pipeline alone, no socket: a request through the full `on_request` (routing
//! among 50 routes, two global middlewares, lifecycle events) beside calling the hello handler
//! directly, each in a request scope as the engine runs them; and a route parameter and a
//! JSON body taken by extractors (`Path<u32>` + `Json<T>`) beside the same work done by hand.
//!
//! `cargo bench -p benches --bench pipeline` (add `-- --quick` for a short run).

// `criterion_group!` generates undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::{HELLO, full_pipeline_spec};
use criterion::{Criterion, criterion_group};
use hyperf_http::server::{
    CoroutineRegistry, HttpError, Json, Path, RequestSpan, Router, ServerSpec, params,
};
use hyperf_http::{BoxError, Bytes, Incoming, Request, Response, Service, StatusCode, header};

/// The head of [`request`] as the engine receives it: the engine hands a service both.
const HEAD: &[u8] = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n";

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
    time_requests(iters, service, request, HEAD)
}

/// Calls `service` on `iters` requests made by `make`, with their received `head`, each in its
/// own request scope, as the engine calls it.
fn time_requests(
    iters: u64,
    service: std::sync::Arc<dyn Service>,
    make: fn() -> Request,
    head: &'static [u8],
) -> Duration {
    let head = Bytes::from_static(head);
    runtime::spawn(move || {
        let began = Instant::now();
        for _ in 0..iters {
            let response =
                runtime::scope(|| service.call(Incoming::new(black_box(make()), Some(&head))));
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

#[derive(serde::Deserialize)]
struct NewUser {
    name: String,
    age: u32,
}

/// The head of [`user_request`] as received.
const USER_HEAD: &[u8] = b"POST /users/42 HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n";

/// `POST /users/42` with a small JSON body.
fn user_request() -> Request {
    let mut request = Request::new(Bytes::from_static(br#"{"name":"ada","age":36}"#));
    *request.method_mut() = hyperf_http::Method::POST;
    *request.uri_mut() = "/users/42".parse().unwrap();
    request
        .headers_mut()
        .insert(header::HOST, "bench".parse().unwrap());
    request
        .headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    request
}

fn user_service(router: Router) -> std::sync::Arc<dyn Service> {
    ServerSpec::new("bench", "127.0.0.1", 0)
        .router(router)
        .into_service()
}

fn extractors(c: &mut Criterion) {
    let mut group = c.benchmark_group("extract_per_request");
    let mut by_hand = Router::new();
    by_hand
        .post("/users/{id}", |request: Request| -> Result<_, BoxError> {
            let id: u32 = params(&request).parse("id")?;
            let json = request
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|value| value == "application/json");
            if !json {
                return Err(HttpError::status_only(StatusCode::UNSUPPORTED_MEDIA_TYPE).into());
            }
            let user: NewUser = serde_json::from_slice(request.body())?;
            Ok(Json((id, user.name.len() as u32 + user.age)))
        })
        .unwrap();
    let by_hand = user_service(by_hand);
    group.bench_function("baseline_path_and_json_by_hand", |b| {
        b.iter_custom(|iters| time_requests(iters, Arc::clone(&by_hand), user_request, USER_HEAD))
    });
    let mut extracted = Router::new();
    extracted
        .post(
            "/users/{id}",
            |Path(id): Path<u32>, Json(user): Json<NewUser>| {
                Json((id, user.name.len() as u32 + user.age))
            },
        )
        .unwrap();
    let extracted = user_service(extracted);
    group.bench_function("path_u32_and_json_extractors", |b| {
        b.iter_custom(|iters| time_requests(iters, Arc::clone(&extracted), user_request, USER_HEAD))
    });
    group.finish();
}

/// What a layer typically does per event: finds the event's span (a `fmt` layer looks its
/// whole scope up the same way), without writing anything.
struct ScopeLookup;

impl<S> tracing_subscriber::Layer<S> for ScopeLookup
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        black_box(ctx.event_span(event).map(|span| span.id()));
    }
}

fn coroutine_dispatch() -> tracing::Dispatch {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::Dispatch::new(CoroutineRegistry::new().with(ScopeLookup))
}

/// [`time_calls`], with `dispatch` as the coroutine's subscriber (the scoped default is per
/// thread, which is right here: the loop never parks).
fn time_calls_traced(
    iters: u64,
    service: Arc<dyn Service>,
    dispatch: Option<tracing::Dispatch>,
) -> Duration {
    let head = Bytes::from_static(HEAD);
    runtime::spawn(move || {
        let run = || {
            let began = Instant::now();
            for _ in 0..iters {
                let response = runtime::scope(|| {
                    service.call(Incoming::new(black_box(request()), Some(&head)))
                });
                black_box(response.unwrap());
            }
            began.elapsed()
        };
        match dispatch {
            Some(dispatch) => tracing::dispatcher::with_default(&dispatch, run),
            None => run(),
        }
    })
    .join()
    .unwrap()
}

/// The full pipeline without and with the `RequestSpan` middleware: with no subscriber (the
/// span is disabled; ids and `traceparent` are still made), and with `CoroutineRegistry`.
fn request_span(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_span_per_request");
    let full = full_pipeline_spec("bench", "127.0.0.1", 0).into_service();
    group.bench_function("baseline_full_pipeline", |b| {
        b.iter_custom(|iters| time_calls_traced(iters, Arc::clone(&full), None))
    });
    let spanned = full_pipeline_spec("bench", "127.0.0.1", 0)
        .middleware(RequestSpan::new())
        .into_service();
    group.bench_function("request_span_no_subscriber", |b| {
        b.iter_custom(|iters| time_calls_traced(iters, Arc::clone(&spanned), None))
    });
    let dispatch = coroutine_dispatch();
    group.bench_function("request_span_coroutine_registry", |b| {
        b.iter_custom(|iters| {
            time_calls_traced(iters, Arc::clone(&spanned), Some(dispatch.clone()))
        })
    });
    group.finish();
}

/// One event inside a span: on an OS thread under tracing-subscriber's plain `Registry`,
/// and in a coroutine under `CoroutineRegistry`; the same layer on both.
fn tracing_event(c: &mut Criterion) {
    use tracing_subscriber::layer::SubscriberExt;
    let mut group = c.benchmark_group("tracing_event");
    let plain = tracing::Dispatch::new(tracing_subscriber::Registry::default().with(ScopeLookup));
    group.bench_function("baseline_plain_registry_os_thread", |b| {
        tracing::dispatcher::with_default(&plain, || {
            let span = tracing::info_span!("request", request_id = "bench");
            let _entered = span.enter();
            b.iter(|| tracing::info!(n = 1u64, "event"));
        })
    });
    let dispatch = coroutine_dispatch();
    group.bench_function("coroutine_registry_in_coroutine", |b| {
        b.iter_custom(|iters| {
            let dispatch = dispatch.clone();
            runtime::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let span = tracing::info_span!("request", request_id = "bench");
                    let _entered = span.enter();
                    let began = Instant::now();
                    for _ in 0..iters {
                        tracing::info!(n = 1u64, "event");
                    }
                    began.elapsed()
                })
            })
            .join()
            .unwrap()
        })
    });
    group.finish();
}

/// The full pipeline without and with the `metrics` feature's route on: with it, every request
/// is timed into its route's histogram and counted (in flight, body bytes) on the process's
/// Prometheus recorder, which this bench installs.
fn metrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics_per_request");
    let full = full_pipeline_spec("bench", "127.0.0.1", 0).into_service();
    group.bench_function("baseline_full_pipeline", |b| {
        b.iter_custom(|iters| time_calls(iters, Arc::clone(&full)))
    });
    let metered = full_pipeline_spec("bench", "127.0.0.1", 0)
        .metrics_route("/metrics")
        .into_service();
    group.bench_function("full_pipeline_with_metrics", |b| {
        b.iter_custom(|iters| time_calls(iters, Arc::clone(&metered)))
    });
    group.finish();
}

/// The full pipeline without and with a time limit: with one, each request runs in a
/// coroutine of its own that its caller waits for (the limit never passes here).
fn time_limit(c: &mut Criterion) {
    let mut group = c.benchmark_group("time_limit_per_request");
    let full = full_pipeline_spec("bench", "127.0.0.1", 0).into_service();
    group.bench_function("baseline_full_pipeline", |b| {
        b.iter_custom(|iters| time_calls(iters, Arc::clone(&full)))
    });
    let limited = full_pipeline_spec("bench", "127.0.0.1", 0)
        .time_limit(Duration::from_secs(30))
        .into_service();
    group.bench_function("full_pipeline_with_time_limit", |b| {
        b.iter_custom(|iters| time_calls(iters, Arc::clone(&limited)))
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
    targets = pipeline, extractors, request_span, tracing_event, metrics, time_limit
}
fn main() {
    pipeline_benches();
    Criterion::default().configure_from_args().final_summary();
    benches::print_ratios(&[
        "pipeline_per_request",
        "extract_per_request",
        "request_span_per_request",
        "tracing_event",
        "metrics_per_request",
        "time_limit_per_request",
    ]);
}
