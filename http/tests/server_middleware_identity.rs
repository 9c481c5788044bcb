//! Middleware identity: when a sorted chain drops duplicates, a type is one middleware however
//! often it is registered (Hyperf's rule, by class), a closure never is a duplicate of another
//! registration, and a name of a middleware's own is its identity.

#[macro_use]
mod server_common;

use hyperf_http::server::{Identity, Middleware, Next, Router, RunningServer, ServerSpec};
use hyperf_http::{BoxError, Request, Response};
use proptest::prelude::*;
use server_common::{Log, connect_to, get, recording, server, spec, start, stop};

recording_middlewares!(Global, Route);

fn serve(spec: ServerSpec) -> RunningServer {
    start(server().server(spec))
}

/// What ran for one `GET /` on a server built from `router` and the global middlewares `spec`
/// was given.
fn run_once(log: &Log<&'static str>, spec: ServerSpec, router: Router) -> Vec<&'static str> {
    let running = serve(spec.router(router));
    assert_eq!(connect_to(&running, "http").exchange(get("/")).status, 200);
    stop(running);
    log.take()
}

/// A router whose only route is `GET /`, recording "handler"; `route` adds its middlewares.
fn route_with(
    log: &Log<&'static str>,
    route: impl FnOnce(hyperf_http::server::RouteRef<'_>),
) -> Router {
    let ran = log.clone();
    let mut router = Router::new();
    let added = router
        .get("/", move |_: Request| {
            ran.push("handler");
            "handler"
        })
        .unwrap();
    route(added);
    router
}

#[test]
fn two_closures_on_one_route_both_run() {
    let log = Log::new();
    let (auth_log, audit_log) = (log.clone(), log.clone());
    let auth = move |request: Request, next: Next<'_>| -> Result<Response, BoxError> {
        auth_log.push("auth");
        next.run(request)
    };
    let audit = move |request: Request, next: Next<'_>| -> Result<Response, BoxError> {
        audit_log.push("audit");
        next.run(request)
    };
    let router = route_with(&log, |route| {
        route.middleware(auth).middleware(audit);
    });

    assert_eq!(
        run_once(&log, spec("http"), router),
        ["auth", "audit", "handler"]
    );
}

#[test]
fn a_global_closure_with_a_priority_and_a_route_closure_both_run() {
    let log = Log::new();
    let router = route_with(&log, |route| {
        route.middleware(recording(&log, "route closure"));
    });
    let spec = spec("http").middleware_with_priority(recording(&log, "global closure"), 1);

    assert_eq!(
        run_once(&log, spec, router),
        ["global closure", "route closure", "handler"]
    );
}

#[test]
fn two_closures_made_by_one_function_with_different_captures_both_run() {
    let log = Log::new();
    // One closure type, two values: `recording` returns the same `impl Fn` type each time.
    let router = route_with(&log, |route| {
        route
            .middleware_with_priority(recording(&log, "auth"), 2)
            .middleware_with_priority(recording(&log, "audit"), 1);
    });

    assert_eq!(
        run_once(&log, spec("http"), router),
        ["auth", "audit", "handler"]
    );
}

#[test]
fn one_type_registered_globally_and_on_a_route_runs_once() {
    let log = Log::new();
    let router = route_with(&log, |route| {
        route.middleware_with_priority(Route(log.clone()), 0);
    });
    let spec = spec("http")
        .middleware(Global(log.clone()))
        .middleware_with_priority(Route(log.clone()), 5);

    assert_eq!(run_once(&log, spec, router), ["Route", "Global", "handler"]);
}

/// A middleware whose identity is the name it is given.
struct Named(&'static str, Log<&'static str>);

impl Middleware for Named {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        self.1.push(self.0);
        next.run(request)
    }

    fn name(&self) -> &str {
        self.0
    }
}

#[test]
fn values_of_one_type_with_names_of_their_own_are_different_middlewares() {
    let log = Log::new();
    let router = route_with(&log, |route| {
        route
            .middleware(Named("admin", log.clone()))
            .middleware(Named("audit", log.clone()));
    });

    assert_eq!(
        run_once(&log, spec("http"), router),
        ["admin", "audit", "handler"]
    );
}

#[test]
fn values_that_share_a_name_are_one_middleware() {
    let log = Log::new();
    let router = route_with(&log, |route| {
        route
            .middleware_with_priority(Named("auth", log.clone()), 1)
            .middleware(Named("auth", log.clone()));
    });

    assert_eq!(run_once(&log, spec("http"), router), ["auth", "handler"]);
}

/// A middleware type whose every registration counts on its own.
struct RequireRole(&'static str, Log<&'static str>);

impl Middleware for RequireRole {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        self.1.push(self.0);
        next.run(request)
    }

    fn identity(&self) -> Identity {
        Identity::Distinct
    }
}

#[test]
fn a_type_whose_identity_is_distinct_runs_every_registration() {
    let log = Log::new();
    let router = route_with(&log, |route| {
        route
            .middleware(RequireRole("admin", log.clone()))
            .middleware(RequireRole("audit", log.clone()));
    });

    assert_eq!(
        run_once(&log, spec("http"), router),
        ["admin", "audit", "handler"]
    );
}

#[test]
fn the_default_identity_of_a_type_is_its_type() {
    let log = Log::new();
    assert_eq!(
        Global(log.clone()).identity(),
        Identity::Type(std::any::TypeId::of::<Global>())
    );
    assert_eq!(Named("x", log).identity(), Identity::Name("x".to_string()));
}

/// Four middleware types for the property test: `Kind<N>` records `N`.
struct Kind<const N: usize>(Log<usize>);

impl<const N: usize> Middleware for Kind<N> {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        self.0.push(N);
        next.run(request)
    }
}

fn kind(n: usize, log: &Log<usize>) -> std::sync::Arc<dyn Middleware> {
    match n {
        0 => std::sync::Arc::new(Kind::<0>(log.clone())),
        1 => std::sync::Arc::new(Kind::<1>(log.clone())),
        2 => std::sync::Arc::new(Kind::<2>(log.clone())),
        _ => std::sync::Arc::new(Kind::<3>(log.clone())),
    }
}

/// Hyperf's `sortMiddlewares`, written as Hyperf states it rather than as the server computes
/// it: a priority queue (higher first, first in first out among equals), then `array_unique`
/// (the first occurrence of each middleware stays).
fn hyperf_sort(entries: &[(usize, i32)]) -> Vec<usize> {
    let mut priorities: Vec<i32> = entries.iter().map(|&(_, p)| p).collect();
    priorities.sort_unstable_by(|a, b| b.cmp(a));
    priorities.dedup();
    let mut queue = Vec::new();
    for priority in priorities {
        queue.extend(entries.iter().filter(|e| e.1 == priority).map(|e| e.0));
    }
    let mut unique = Vec::new();
    for middleware in queue {
        if !unique.contains(&middleware) {
            unique.push(middleware);
        }
    }
    unique
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_sorted_chain_runs_in_the_order_of_hyperfs_sort(
        global in prop::collection::vec((0..4usize, -3..4i32), 0..5),
        route in prop::collection::vec((0..4usize, -3..4i32), 1..6),
    ) {
        let log = Log::new();
        let ran = log.clone();
        let mut router = Router::new();
        let mut added = router.get("/", move |_: Request| { ran.push(99); "handler" }).unwrap();
        for &(n, priority) in &route {
            added = added.middleware_with_priority(ArcMiddleware(kind(n, &log)), priority);
        }
        let mut spec = ServerSpec::new("test", "127.0.0.1", 0).router(router);
        for &(n, priority) in &global {
            spec = spec.middleware_with_priority(ArcMiddleware(kind(n, &log)), priority);
        }
        let service = spec.into_service();

        let response = service.call(Request::new(hyperf_http::Bytes::new()).into()).unwrap();
        prop_assert_eq!(response.status(), 200);
        let mut expected = hyperf_sort(&[global, route].concat());
        expected.push(99);
        prop_assert_eq!(log.take(), expected);
    }
}

/// A shared middleware registered through the builder: it keeps the identity of what it
/// wraps.
struct ArcMiddleware(std::sync::Arc<dyn Middleware>);

impl Middleware for ArcMiddleware {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        self.0.process(request, next)
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn identity(&self) -> Identity {
        self.0.identity()
    }
}
