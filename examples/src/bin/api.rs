//! A JSON API: handlers that take what they need as extractors (`Path`, `Json`, `State`,
//! `Bytes`), route parameters and constraints, a group behind an auth middleware, request ids
//! and an access log, a custom exception handler that renders every error (extractor
//! rejections included) as JSON, lifecycle events in the log, a health route for a load
//! balancer, an echo, and a graceful shutdown on Ctrl-C or SIGTERM — after a drain delay, if
//! one is set, during which `/health` answers `503` and every response closes its connection.
//! What an operator needs is on: the client's address (`/whoami`; behind the trusted proxies,
//! the forwarded one), a `tracing` span per request (printed on standard error when it
//! closes), Prometheus metrics at `/metrics`, and a time limit per request (`/slow/{ms}`
//! shows it). The batteries too: the `examples/static/` folder at `/static/` (ETags, ranges),
//! compression, and CORS for a front end on `http://localhost:3000`.
//!
//! `cargo run --release -p examples --bin api [-- --port 9501 --workers 2 --drain-delay-ms 0
//! --reuse-port --trusted-proxies 127.0.0.1 --time-limit-ms 10000 --static-dir DIR]` (or
//! `PORT=… WORKERS=… DRAIN_DELAY_MS=… REUSE_PORT=1 TRUSTED_PROXIES=… TIME_LIMIT_MS=…
//! STATIC_DIR=…`). `deploy/` runs it
//! behind nginx and restarts it under load.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use examples::api::{JsonErrors, Served, routes};
use hyperf_http::server::{
    AccessLog, AccessLogFormat, Compression, CoroutineRegistry, Cors, RequestId, RequestSpan,
    Server, ServerSpec, TrustedProxies,
};
use hyperf_http::{EngineConfig, Method, header};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_logging();
    // Request spans: the subscriber whose current span follows the coroutine, printing each
    // request's span (method, route, client, request id, status, duration) when it closes.
    let subscriber = CoroutineRegistry::new().with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_span_events(FmtSpan::CLOSE),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    let port = examples::flag("--port", "PORT", 9501u16);
    let workers = examples::flag("--workers", "WORKERS", 2usize);
    let drain_delay =
        Duration::from_millis(examples::flag("--drain-delay-ms", "DRAIN_DELAY_MS", 0));
    // A new instance can bind the port while the old one drains (see the README's Deploying).
    let reuse_port = examples::switch("--reuse-port", "REUSE_PORT");
    // The proxies whose X-Forwarded-For / Forwarded are believed: nginx on this host in
    // `deploy/`.
    let trusted: TrustedProxies = examples::flag(
        "--trusted-proxies",
        "TRUSTED_PROXIES",
        "127.0.0.1".to_string(),
    )
    .parse()?;
    let time_limit =
        Duration::from_millis(examples::flag("--time-limit-ms", "TIME_LIMIT_MS", 10_000));
    // This crate's `static/` folder unless told otherwise (the path is where the crate was
    // built; give `--static-dir` to a binary run elsewhere).
    let static_dir = examples::flag(
        "--static-dir",
        "STATIC_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/static").to_string(),
    );
    // A front end served on its own port during development calls this API from the browser.
    let cors = Cors::builder()
        .allow_origin("http://localhost:3000")
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers([header::HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600))
        .build()?;
    let served = Served::default();
    let counted = Arc::clone(&served.0);
    let mut router = routes(served.clone())?;
    router.static_dir("/static", static_dir.as_str())?;
    let spec = ServerSpec::new("http", "127.0.0.1", port)
        .engine(EngineConfig::default().reuse_port(reuse_port))
        .router(router)
        // 200 while serving, 503 once the shutdown begins: the balancer's health check.
        .health_route("/health")
        // Prometheus's scrape: request durations by route, connections, worker restarts.
        .metrics_route("/metrics")
        .trusted_proxies(trusted)
        .time_limit(time_limit)
        // Outermost: a preflight is answered before anything else, and every answer (errors
        // included) carries the CORS headers.
        .middleware_with_priority(cors, 90)
        // Then compression, around everything that makes a body.
        .middleware_with_priority(Compression::new(), 50)
        .middleware_with_priority(RequestId::new(), 10)
        // After the request id (a lower priority runs later): the span carries it.
        .middleware_with_priority(RequestSpan::new(), 5)
        .access_log(AccessLog::new(AccessLogFormat::Combined))
        .exception_handler(JsonErrors)
        .enable_request_lifecycle(true);
    let server = Server::new()
        .worker_num(workers)
        .max_wait_time(Duration::from_secs(3))
        .drain_delay(drain_delay)
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

    let signals = examples::termination_signals()?;
    let address = server.local_addr("http").unwrap();
    println!("listening on http://{address}");
    println!("try:");
    println!("  curl http://{address}/health");
    println!("  curl http://{address}/metrics");
    println!("  curl http://{address}/users/42");
    println!("  curl http://{address}/posts/2");
    println!(
        "  curl -H 'Content-Type: application/json' -d '{{\"name\":\"ada\"}}' http://{address}/users"
    );
    println!("  curl -d 'hello' http://{address}/echo");
    println!("  curl -H 'X-Forwarded-For: 203.0.113.7' http://{address}/whoami");
    println!("  curl http://{address}/slow/2000    # past its 1 s time limit: 503");
    println!("request spans: printed on standard error as each request ends");
    println!(
        "  curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' http://{address}/static/app.js   # gzip"
    );
    println!(
        "  curl -s -D - -o /dev/null -H 'Range: bytes=0-99' http://{address}/static/app.js   # 206"
    );
    println!(
        "  curl -s -D - -o /dev/null -H \"If-None-Match: $(curl -sI http://{address}/static/ | tr -d '\\r' | sed -n 's/^etag: //Ip')\" http://{address}/static/   # 304"
    );
    println!(
        "  curl -s -D - -o /dev/null -X OPTIONS -H 'Origin: http://localhost:3000' -H 'Access-Control-Request-Method: POST' http://{address}/users   # CORS preflight"
    );
    println!("  curl -H 'Authorization: Bearer secret' http://{address}/admin/stats");

    let examples::Drained { drained, forced } = examples::shut_down_on_signal(server, signals);
    println!(
        "shut down: {} requests served, {drained} connections drained, {forced} forced",
        served.0.load(Ordering::Relaxed)
    );
    Ok(())
}
