//! Metrics (feature `metrics`): the server's request, connection and worker metrics through
//! the `metrics` facade, and the route that renders them for Prometheus.
//!
//! The process has one recorder, installed by the first server that asks for a metrics route
//! ([`ServerSpec::metrics_route`](crate::server::ServerSpec::metrics_route)) and shared by
//! every server after it: a Prometheus recorder of `metrics-exporter-prometheus`, without the
//! exporter's own listener. Metrics of the application (`metrics::counter!(…)` anywhere) go to
//! the same recorder and appear on the same route. A recorder someone else installed first is
//! not replaced: the server refuses to start ([`ServerError::Metrics`]).
//!
//! One layer around a server's service, inside the health route: [`Metered`] answers the
//! scrape, and times and counts every other request the pipeline (or an `on_request`
//! service) answers. What changes only at a scrape — the engines' open connections, the
//! offload queue — is read then, not kept up to date per request.
//!
//! [`ServerError::Metrics`]: crate::server::ServerError::Metrics

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::engine::{Body, BoxError, Engine, Incoming, Response, Service};
use crate::server::error::find_client_error;
use crate::server::events::ServerEvent;
use crate::server::request_context::RequestContext;
use crate::server::routing::{Dispatched, Found, Router};

/// Request durations by server, method, route pattern and status class.
pub(crate) const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Requests being answered right now, by server.
pub(crate) const REQUESTS_IN_FLIGHT: &str = "http_server_requests_in_flight";
/// Connections open right now, by server (read from the engines at a scrape).
pub(crate) const OPEN_CONNECTIONS: &str = "http_server_open_connections";
/// Request body bytes, by server: the requests' `Content-Length`.
pub(crate) const REQUEST_BODY_BYTES: &str = "http_server_request_body_bytes_total";
/// Response body bytes, by server: buffered bodies only.
pub(crate) const RESPONSE_BODY_BYTES: &str = "http_server_response_body_bytes_total";
/// Workers started again after their first start (`max_request` recycles, reloads).
pub(crate) const WORKER_RESTARTS: &str = "hyperf_worker_restarts_total";
/// Closures waiting for an offload thread (`runtime::offload::queued()`), read at a scrape.
pub(crate) const OFFLOAD_QUEUE_DEPTH: &str = "hyperf_offload_queue_depth";

/// The `route` label of requests no route matched (404, 405), of requests that failed before
/// routing, and of an `on_request` service's requests: never the raw path, whose values a
/// client chooses.
pub(crate) const UNMATCHED: &str = "<unmatched>";

/// The duration histogram's buckets, in seconds: OpenTelemetry's HTTP server buckets with
/// three below 5 ms, where most of this server's answers fall.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0,
];

/// How often histogram samples are folded into their buckets between scrapes: the recorder
/// keeps each sample until then, so an unscraped server's memory stays bounded.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The methods with a `method` label of their own; any other is `_OTHER` (a client may send
/// any token as a method).
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];
const METHOD_SLOTS: usize = METHODS.len() + 1;
const OTHER_METHOD: &str = "_OTHER";
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Why metrics could not be turned on.
#[derive(Debug)]
pub(crate) struct RecorderTaken;

impl fmt::Display for RecorderTaken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a metrics recorder other than the server's is installed in this process: \
             a metrics route needs the server's Prometheus recorder",
        )
    }
}

/// The process's Prometheus recorder, installed at the first call; `Err` if another was
/// installed before (by the application or a library).
pub(crate) fn recorder() -> Result<PrometheusHandle, RecorderTaken> {
    static INSTALLED: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = &*installed {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), DURATION_BUCKETS)
        .expect("the buckets are not empty")
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| RecorderTaken)?;
    describe();
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("http-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        log::warn!("no thread for the metrics' upkeep ({error}): samples wait for a scrape");
    }
    *installed = Some(handle.clone());
    Ok(handle)
}

/// The `# HELP` lines.
fn describe() {
    metrics::describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from a request's head to its response, by method, route pattern and status class"
    );
    metrics::describe_gauge!(REQUESTS_IN_FLIGHT, "Requests being answered");
    metrics::describe_gauge!(OPEN_CONNECTIONS, "Open client connections");
    metrics::describe_counter!(
        REQUEST_BODY_BYTES,
        Unit::Bytes,
        "Request body bytes declared by Content-Length"
    );
    metrics::describe_counter!(
        RESPONSE_BODY_BYTES,
        Unit::Bytes,
        "Buffered response body bytes (streamed bodies are not counted)"
    );
    metrics::describe_counter!(
        WORKER_RESTARTS,
        "Workers started again after their first start (max_request recycles, reloads)"
    );
    metrics::describe_gauge!(
        OFFLOAD_QUEUE_DEPTH,
        "Closures waiting for an offload thread"
    );
}

/// A server's metrics settings: its route, and what the process gives it to serve it.
#[derive(Default)]
pub(crate) struct MetricsSpec {
    pub(crate) route: Option<String>,
    handle: Option<PrometheusHandle>,
    engines: Engines,
}

impl MetricsSpec {
    /// Whether the server has a metrics route.
    pub(crate) fn is_on(&self) -> bool {
        self.route.is_some()
    }

    /// The recorder to render and the engines to read at a scrape.
    pub(crate) fn attach(&mut self, handle: PrometheusHandle, engines: Engines) {
        self.handle = Some(handle);
        self.engines = engines;
    }

    /// `inner` behind the metrics route and with its requests recorded, if the route is on;
    /// `router`: the server's routes ([`Router::matcher`]). Without a server (`into_service`), the
    /// process's recorder if it can have it (a scrape answers `503` otherwise).
    pub(crate) fn layer(
        mut self,
        server: &str,
        router: Router,
        inner: Arc<dyn Service>,
    ) -> Arc<dyn Service> {
        let Some(path) = self.route.take() else {
            return inner;
        };
        if self.handle.is_none() {
            match recorder() {
                Ok(handle) => self.handle = Some(handle),
                Err(error) => log::warn!("{error}: the metrics route answers 503"),
            }
        }
        Arc::new(Metered::new(path.into(), self, server, router, inner))
    }
}

impl fmt::Debug for MetricsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsSpec")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

/// What a scrape reads besides the recorder: the engines of the servers started with this
/// one (set once they are), for their open connections.
#[derive(Clone, Default)]
pub(crate) struct Engines(Arc<OnceLock<Weak<Named>>>);

/// Every server's name and engine, as a [`RunningServer`](crate::server::RunningServer) holds
/// them.
type Named = Vec<(String, Engine)>;

impl Engines {
    /// The servers' engines, held weakly: the engines hold the services that hold this.
    pub(crate) fn set(&self, engines: &Arc<Named>) {
        let _ = self.0.set(Arc::downgrade(engines));
    }

    fn record(&self) {
        let Some(engines) = self.0.get().and_then(Weak::upgrade) else {
            return;
        };
        for (name, engine) in engines.iter() {
            metrics::gauge!(OPEN_CONNECTIONS, "server" => name.clone())
                .set(engine.connections() as f64);
        }
    }
}

impl fmt::Debug for Engines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engines").finish_non_exhaustive()
    }
}

/// A listener of [`ServerEvent::WorkerStart`] that counts every start of a worker after its
/// first as a restart.
pub(crate) fn worker_restarts() -> impl Fn(&ServerEvent) + Send + Sync + 'static {
    let started = Mutex::new(Vec::<usize>::new());
    let restarts = metrics::counter!(WORKER_RESTARTS);
    move |event| {
        if let ServerEvent::WorkerStart { worker_id } = event {
            let mut started = started.lock().unwrap_or_else(PoisonError::into_inner);
            if started.contains(worker_id) {
                restarts.increment(1);
            } else {
                started.push(*worker_id);
            }
        }
    }
}

/// The metrics route and the request metrics, as one layer around a server's service (one
/// call and one move of the request fewer than two): its path (any method) is answered with
/// the process's metrics in Prometheus's text format, before routing and the middlewares;
/// every other request is timed and counted. The scrape itself is not counted.
pub(crate) struct Metered {
    path: Box<str>,
    handle: Option<PrometheusHandle>,
    engines: Engines,
    server: Arc<str>,
    /// The server's routes, for the requests whose route the pipeline did not leave in the
    /// request's context (a time-limited request's pipeline runs in a coroutine of its own).
    router: Router,
    /// How many routes the server has (`Found::index` is below).
    routes: usize,
    /// One histogram per route (and one for [`UNMATCHED`]), method and status class,
    /// registered at its first request.
    durations: Box<[OnceLock<Histogram>]>,
    in_flight: Gauge,
    request_bytes: Counter,
    response_bytes: Counter,
    inner: Arc<dyn Service>,
}

impl Metered {
    fn new(
        path: Box<str>,
        spec: MetricsSpec,
        server: &str,
        router: Router,
        inner: Arc<dyn Service>,
    ) -> Self {
        let routes = router.route_entries().len();
        let slots = (routes + 1) * METHOD_SLOTS * STATUS_CLASSES.len();
        let label = server.to_owned();
        Metered {
            path,
            handle: spec.handle,
            engines: spec.engines,
            server: Arc::from(server),
            router,
            routes,
            durations: (0..slots).map(|_| OnceLock::new()).collect(),
            in_flight: metrics::gauge!(REQUESTS_IN_FLIGHT, "server" => label.clone()),
            request_bytes: metrics::counter!(REQUEST_BODY_BYTES, "server" => label.clone()),
            response_bytes: metrics::counter!(RESPONSE_BODY_BYTES, "server" => label),
            inner,
        }
    }

    fn scrape(&self) -> Response {
        let Some(handle) = &self.handle else {
            let mut response = Response::new(Body::from("no metrics recorder\n"));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return response;
        };
        self.engines.record();
        metrics::gauge!(OFFLOAD_QUEUE_DEPTH).set(runtime::offload::queued() as f64);
        let mut response = Response::new(Body::from(handle.render()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// The histogram of `route` (`None`: unmatched), `method` and `status`.
    fn duration(&self, route: Option<&Found>, method: usize, status: StatusCode) -> &Histogram {
        let route = route.filter(|found| found.index < self.routes);
        let route_slot = route.map_or(self.routes, |found| found.index);
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        let slot = (route_slot * METHOD_SLOTS + method) * STATUS_CLASSES.len() + class;
        self.durations[slot].get_or_init(|| {
            let pattern = route.map_or(UNMATCHED, Found::pattern);
            let method = METHODS.get(method).map_or(OTHER_METHOD, Method::as_str);
            metrics::histogram!(
                REQUEST_DURATION,
                "server" => self.server.to_string(),
                "method" => method.to_owned(),
                "route" => pattern.to_owned(),
                "status_class" => STATUS_CLASSES[class],
            )
        })
    }
}

impl Service for Metered {
    fn call(&self, incoming: Incoming<'_>) -> Result<Response, BoxError> {
        let request = incoming.request();
        if request.uri().path() == &*self.path {
            // Its body, if any, is the engine's to discard.
            return Ok(self.scrape());
        }
        let started = Instant::now();
        let method = METHODS
            .iter()
            .position(|m| m == request.method())
            .unwrap_or(METHODS.len());
        let is_head = request.method() == Method::HEAD;
        let declared = content_length(request.headers());
        // Kept for a request whose route must be found again (a reference count, not a copy).
        let (method_of, uri) = (request.method().clone(), request.uri().clone());
        self.in_flight.increment(1.0);
        let in_flight = InFlight(&self.in_flight);
        let outcome = self.inner.call(incoming);
        drop(in_flight);
        let status = match &outcome {
            Ok(response) => response.status(),
            // The engine answers an error: a client error's status, else 500.
            Err(error) => find_client_error(&**error)
                .map_or(StatusCode::INTERNAL_SERVER_ERROR, |found| found.status()),
        };
        // The pipeline keeps the request's head, with its route, in the request's context,
        // which the engine's request scope starts empty: a head there is this request's.
        // (An error is the pipeline's before it stores one: the body could not be read.)
        // Without one — a time-limited request, whose pipeline ran in a coroutine of its own,
        // or an `on_request` service — the route is found again.
        let head = outcome.is_ok().then(RequestContext::request).flatten();
        let dispatched;
        let found = match &head {
            Some(head) => found(&head.dispatched),
            None => {
                dispatched = self.router.dispatch(&method_of, uri.path());
                found(&dispatched)
            }
        };
        self.duration(found, method, status)
            .record(started.elapsed().as_secs_f64());
        if let Some(bytes) = declared {
            self.request_bytes.increment(bytes);
        }
        if let Ok(response) = &outcome {
            match response.body().as_bytes() {
                Some(bytes) if !is_head => self.response_bytes.increment(bytes.len() as u64),
                _ => {}
            }
        }
        outcome
    }
}

/// Takes the request back out of the in-flight gauge however the call ends (a panic, a
/// cancellation).
struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

fn found(dispatched: &Dispatched) -> Option<&Found> {
    match dispatched {
        Dispatched::Found(found) => Some(found),
        Dispatched::NotFound | Dispatched::MethodNotAllowed { .. } => None,
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
