//! Middlewares: Hyperf's priority order, the raw global list, `HEAD` on a `GET` route, the
//! global chain on 404 and 405, and each named server with its own chain.

#[macro_use]
mod server_common;

use hyperf_http::server::{Middleware, Next, Router, RunningServer, ServerSpec};
use hyperf_http::{BoxError, Request, Response, StatusCode};
use server_common::{Log, connect_to, get, recording, request, server, spec, start, stop};

recording_middlewares!(A, B, SetHeader, Foo, Bar);

/// Starts one server with `spec`.
fn serve(spec: ServerSpec) -> RunningServer {
    start(server().server(spec))
}

/// A router whose only route is `GET /` answering "handler" and recording that it ran.
fn one_route(log: &Log<&'static str>) -> Router {
    let log = log.clone();
    let mut router = Router::new();
    router
        .get("/", move |_: Request| {
            log.push("handler");
            "handler"
        })
        .unwrap();
    router
}

#[test]
fn hyperfs_oracle_global_a0_b1_route_setheader1_foo0_bar1_foo3_runs_foo_b_setheader_bar_a() {
    let log = Log::new();
    let ran = log.clone();
    let mut router = Router::new();
    router
        .get("/", move |_: Request| {
            ran.push("handler");
            "handler"
        })
        .unwrap()
        .middleware_with_priority(SetHeader(log.clone()), 1)
        .middleware_with_priority(Foo(log.clone()), 0)
        .middleware_with_priority(Bar(log.clone()), 1)
        .middleware_with_priority(Foo(log.clone()), 3);
    let running = serve(
        spec("http")
            .middleware_with_priority(A(log.clone()), 0)
            .middleware_with_priority(B(log.clone()), 1)
            .router(router),
    );

    assert_eq!(connect_to(&running, "http").exchange(get("/")).status, 200);
    assert_eq!(
        log.entries(),
        ["Foo", "B", "SetHeader", "Bar", "A", "handler"]
    );
    stop(running);
}

#[test]
fn a_raw_global_list_runs_a_duplicate_twice() {
    let log = Log::new();
    let running = serve(
        spec("http")
            .middleware(A(log.clone()))
            .middleware(B(log.clone()))
            .middleware(A(log.clone()))
            .router(one_route(&log)),
    );

    assert_eq!(connect_to(&running, "http").exchange(get("/")).status, 200);
    assert_eq!(log.entries(), ["A", "B", "A", "handler"]);
    stop(running);
}

#[test]
fn a_global_priority_sorts_the_chain_and_drops_duplicates() {
    let log = Log::new();
    let running = serve(
        spec("http")
            .middleware(A(log.clone()))
            .middleware_with_priority(B(log.clone()), 2)
            .middleware(A(log.clone()))
            .router(one_route(&log)),
    );

    assert_eq!(connect_to(&running, "http").exchange(get("/")).status, 200);
    assert_eq!(log.entries(), ["B", "A", "handler"]);
    stop(running);
}

/// Refuses requests without `Authorization: Bearer secret`.
struct Auth;

impl Middleware for Auth {
    fn process(&self, request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        let authorized = request
            .headers()
            .get("authorization")
            .is_some_and(|value| value == "Bearer secret");
        if authorized {
            next.run(request)
        } else {
            let mut refused = Response::new("who are you?".into());
            *refused.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(refused)
        }
    }
}

#[test]
fn head_on_a_get_route_runs_the_get_routes_middlewares_and_sends_no_body() {
    let mut router = Router::new();
    router
        .get("/account", |_: Request| "balance: 12")
        .unwrap()
        .middleware(Auth);
    let running = serve(spec("http").router(router));
    let mut client = connect_to(&running, "http");

    client.send(request("HEAD", "/account", &[]));
    let refused = client.head_response();
    assert_eq!(refused.status, 401, "HEAD skipped the GET route's auth");

    client.send(request(
        "HEAD",
        "/account",
        &[("Authorization", "Bearer secret")],
    ));
    let allowed = client.head_response();
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("content-length"), Some("11"));
    // No body came with the HEAD response: the next response follows the head at once.
    let next = client.exchange(request(
        "GET",
        "/account",
        &[("Authorization", "Bearer secret")],
    ));
    assert_eq!((next.status, next.text().as_str()), (200, "balance: 12"));
    stop(running);
}

#[test]
fn not_found_runs_the_global_middlewares_and_no_route_middleware() {
    let log = Log::new();
    let mut router = Router::new();
    router
        .get("/", |_: Request| "handler")
        .unwrap()
        .middleware(recording(&log, "route"));
    let running = serve(
        spec("http")
            .middleware(recording(&log, "global"))
            .router(router),
    );

    let reply = connect_to(&running, "http").exchange(get("/missing"));
    assert_eq!((reply.status, reply.text().as_str()), (404, "Not Found"));
    assert_eq!(log.entries(), ["global"]);
    stop(running);
}

#[test]
fn method_not_allowed_runs_the_global_middlewares_and_sends_allow() {
    let log = Log::new();
    let mut router = Router::new();
    router.get("/items", |_: Request| "list").unwrap();
    router.post("/items", |_: Request| "created").unwrap();
    let running = serve(
        spec("http")
            .middleware(recording(&log, "global"))
            .router(router),
    );

    let reply = connect_to(&running, "http").exchange(request("DELETE", "/items", &[]));
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    assert_eq!(log.entries(), ["global"]);
    stop(running);
}

#[test]
fn two_named_servers_each_run_only_their_own_middlewares() {
    let log = Log::new();
    let running = start(
        server()
            .server(
                spec("public")
                    .middleware(recording(&log, "public"))
                    .router(one_route(&Log::new())),
            )
            .server(
                spec("admin")
                    .middleware(recording(&log, "admin"))
                    .router(one_route(&Log::new())),
            ),
    );
    assert_ne!(running.local_addr("public"), running.local_addr("admin"));

    assert_eq!(
        connect_to(&running, "public").exchange(get("/")).status,
        200
    );
    assert_eq!(log.take(), ["public"]);
    assert_eq!(connect_to(&running, "admin").exchange(get("/")).status, 200);
    assert_eq!(log.take(), ["admin"]);
    stop(running);
}

#[test]
fn a_middleware_that_answers_itself_skips_the_rest_of_the_chain() {
    let log = Log::new();
    let running = serve(
        spec("http")
            .middleware(Auth)
            .middleware(recording(&log, "after auth"))
            .router(one_route(&log)),
    );

    let reply = connect_to(&running, "http").exchange(get("/"));
    assert_eq!((reply.status, reply.text().as_str()), (401, "who are you?"));
    assert_eq!(log.entries(), Vec::<&str>::new());
    stop(running);
}

#[test]
fn calling_next_twice_runs_the_rest_of_the_chain_twice() {
    let log = Log::new();
    let retry = |request: Request, next: Next<'_>| -> Result<Response, BoxError> {
        let copy = request.clone();
        next.run(request)?;
        next.run(copy)
    };
    let running = serve(
        spec("http")
            .middleware(retry)
            .middleware(recording(&log, "inner"))
            .router(one_route(&log)),
    );

    assert_eq!(connect_to(&running, "http").exchange(get("/")).status, 200);
    assert_eq!(log.entries(), ["inner", "handler", "inner", "handler"]);
    stop(running);
}

#[test]
fn a_middleware_changes_the_request_and_the_response() {
    let tag = |mut request: Request, next: Next<'_>| -> Result<Response, BoxError> {
        request.headers_mut().insert("x-user", "ada".parse()?);
        let mut response = next.run(request)?;
        response.headers_mut().insert("x-tagged", "yes".parse()?);
        Ok(response)
    };
    let mut router = Router::new();
    router
        .get("/", |request: Request| {
            format!("hello {}", request.headers()["x-user"].to_str().unwrap())
        })
        .unwrap();
    let running = serve(spec("http").middleware(tag).router(router));

    let reply = connect_to(&running, "http").exchange(get("/"));
    assert_eq!(reply.text(), "hello ada");
    assert_eq!(reply.header("x-tagged"), Some("yes"));
    stop(running);
}
