//! The router: FastRoute's patterns, constraints and optional tails, groups, conflicts refused
//! at registration, `HEAD` falling back to `GET`, and typed parameters.

#[macro_use]
mod server_common;

use std::sync::Arc;

use hyperf_http::server::{Dispatched, Middleware, RouteError, Router, params};
use hyperf_http::{Method, Request};
use server_common::{Log, connect_to, get, server, spec, start, stop};

recording_middlewares!(Group, Route);

/// The pattern of the route `method path` finds, and its parameters; panics if none does.
fn found(router: &Router, method: Method, path: &str) -> (String, Vec<(String, String)>) {
    match router.dispatch(&method, path) {
        Dispatched::Found(found) => (
            found.pattern().to_string(),
            found
                .params()
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        ),
        other => panic!("{method} {path}: expected a route, got {other:?}"),
    }
}

fn pairs(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn not_found(router: &Router, method: Method, path: &str) -> bool {
    matches!(router.dispatch(&method, path), Dispatched::NotFound)
}

#[test]
fn a_digits_constraint_matches_digits_only() {
    let mut router = Router::new();
    router.get(r"/user/{id:\d+}", |_: Request| "user").unwrap();

    assert_eq!(
        found(&router, Method::GET, "/user/42"),
        (r"/user/{id:\d+}".to_string(), pairs(&[("id", "42")]))
    );
    assert!(not_found(&router, Method::GET, "/user/ada"));
    assert!(not_found(&router, Method::GET, "/user/42x"));
    assert!(not_found(&router, Method::GET, "/user/"));
    assert!(not_found(&router, Method::GET, "/user/42/posts"));
}

#[test]
fn a_constraint_may_hold_braces_and_brackets() {
    let mut router = Router::new();
    router
        .get(
            "/lang/{code:[a-z]{2}}[/{region:[A-Z]{2}}]",
            |_: Request| "lang",
        )
        .unwrap();

    assert_eq!(
        found(&router, Method::GET, "/lang/fr").1,
        pairs(&[("code", "fr")])
    );
    assert_eq!(
        found(&router, Method::GET, "/lang/fr/CA").1,
        pairs(&[("code", "fr"), ("region", "CA")])
    );
    assert!(not_found(&router, Method::GET, "/lang/fra"));
    assert!(not_found(&router, Method::GET, "/lang/fr/ca"));
}

#[test]
fn a_parameter_without_constraint_matches_one_segment() {
    let mut router = Router::new();
    router.get("/user/{name}", |_: Request| "user").unwrap();

    assert_eq!(
        found(&router, Method::GET, "/user/ada").1,
        pairs(&[("name", "ada")])
    );
    assert!(not_found(&router, Method::GET, "/user/ada/posts"));
    assert!(not_found(&router, Method::GET, "/user/"));
}

#[test]
fn an_optional_tail_matches_with_and_without_it() {
    let mut router = Router::new();
    router.get("/posts[/{page}]", |_: Request| "posts").unwrap();

    assert_eq!(
        found(&router, Method::GET, "/posts"),
        ("/posts[/{page}]".to_string(), vec![])
    );
    assert_eq!(
        found(&router, Method::GET, "/posts/3"),
        ("/posts[/{page}]".to_string(), pairs(&[("page", "3")]))
    );
    assert!(not_found(&router, Method::GET, "/posts/3/4"));
}

#[test]
fn nested_optional_tails_match_each_length() {
    let mut router = Router::new();
    router
        .get("/archive[/{year}[/{month}]]", |_: Request| "archive")
        .unwrap();

    assert_eq!(found(&router, Method::GET, "/archive").1, vec![]);
    assert_eq!(
        found(&router, Method::GET, "/archive/2024").1,
        pairs(&[("year", "2024")])
    );
    assert_eq!(
        found(&router, Method::GET, "/archive/2024/05").1,
        pairs(&[("year", "2024"), ("month", "05")])
    );
}

#[test]
fn malformed_patterns_are_refused() {
    let mut router = Router::new();
    for pattern in [
        "no-slash",
        "/a[/b]/c",
        "/a/{",
        "/a/{id}/{id}",
        "/a/{bad name}",
    ] {
        let error = router.get(pattern, |_: Request| "").unwrap_err();
        assert!(
            matches!(error, RouteError::InvalidPattern { .. }),
            "{pattern}: {error:?}"
        );
    }
}

#[test]
fn a_group_prefixes_its_routes_and_keeps_the_prefix_in_the_pattern() {
    let mut router = Router::new();
    router
        .group("/api", |api| {
            api.get("/me", |_: Request| "me")?;
            api.group("/v2", |v2| {
                v2.get("/users/{id}", |_: Request| "user")?;
                Ok(())
            })
        })
        .unwrap();
    router.get("/me", |_: Request| "outside").unwrap();

    assert_eq!(found(&router, Method::GET, "/api/me").0, "/api/me");
    assert_eq!(
        found(&router, Method::GET, "/api/v2/users/7"),
        ("/api/v2/users/{id}".to_string(), pairs(&[("id", "7")]))
    );
    assert_eq!(found(&router, Method::GET, "/me").0, "/me");
    assert!(not_found(&router, Method::GET, "/v2/users/7"));
}

#[test]
fn group_middlewares_run_before_route_middlewares() {
    let log = Log::new();
    let ran = log.clone();
    let mut router = Router::new();
    let group: Vec<(Arc<dyn Middleware>, Option<i32>)> = vec![(Arc::new(Group(log.clone())), None)];
    router
        .group_with_middlewares("/admin", group, |admin| {
            admin
                .get("/stats", move |_: Request| {
                    ran.push("handler");
                    "stats"
                })?
                .middleware(Route(log.clone()));
            Ok(())
        })
        .unwrap();
    let running = start(server().server(spec("http").router(router)));

    assert_eq!(
        connect_to(&running, "http")
            .exchange(get("/admin/stats"))
            .status,
        200
    );
    assert_eq!(log.entries(), ["Group", "Route", "handler"]);
    stop(running);
}

#[test]
fn the_same_method_and_pattern_cannot_be_registered_twice() {
    let mut router = Router::new();
    router.get("/user/{id}", |_: Request| "first").unwrap();

    let error = router.get("/user/{id}", |_: Request| "second").unwrap_err();
    assert_eq!(
        error,
        RouteError::Conflict {
            method: Method::GET,
            pattern: "/user/{id}".to_string(),
            existing: "/user/{id}".to_string(),
        }
    );
    // Another method on the same pattern is another route.
    router.post("/user/{id}", |_: Request| "update").unwrap();
}

#[test]
fn patterns_that_differ_only_in_parameter_names_conflict() {
    let mut router = Router::new();
    router.get(r"/user/{id:\d+}", |_: Request| "first").unwrap();

    let error = router
        .get(r"/user/{uid:\d+}", |_: Request| "second")
        .unwrap_err();
    assert!(
        matches!(&error, RouteError::Conflict { existing, .. } if existing == r"/user/{id:\d+}"),
        "{error:?}"
    );
}

#[test]
fn an_optional_tail_conflicts_with_a_route_it_already_covers() {
    let mut router = Router::new();
    router.get("/posts[/{page}]", |_: Request| "posts").unwrap();

    assert!(matches!(
        router.get("/posts", |_: Request| "again"),
        Err(RouteError::Conflict { .. })
    ));
    assert!(matches!(
        router.get("/posts/{n}", |_: Request| "again"),
        Err(RouteError::Conflict { .. })
    ));
}

#[test]
fn a_static_route_shadowed_by_an_earlier_dynamic_route_is_refused() {
    let mut router = Router::new();
    router.get("/user/{name}", |_: Request| "a user").unwrap();

    let error = router.get("/user/me", |_: Request| "me").unwrap_err();
    assert!(
        matches!(&error, RouteError::Conflict { existing, .. } if existing == "/user/{name}"),
        "{error:?}"
    );
}

#[test]
fn a_static_route_is_dispatched_before_the_dynamic_routes() {
    let mut router = Router::new();
    router.get("/user/me", |_: Request| "me").unwrap();
    router.get("/user/{name}", |_: Request| "a user").unwrap();

    assert_eq!(
        found(&router, Method::GET, "/user/me"),
        ("/user/me".to_string(), vec![])
    );
    assert_eq!(
        found(&router, Method::GET, "/user/ada"),
        ("/user/{name}".to_string(), pairs(&[("name", "ada")]))
    );
}

#[test]
fn head_falls_back_to_the_get_route_and_a_head_route_wins() {
    let mut router = Router::new();
    router.get("/page", |_: Request| "page").unwrap();
    router.get("/file", |_: Request| "file").unwrap();
    router
        .route(&[Method::HEAD], "/file", |_: Request| "head of file")
        .unwrap();

    assert_eq!(found(&router, Method::HEAD, "/page").0, "/page");
    match router.dispatch(&Method::HEAD, "/file") {
        Dispatched::Found(found) => assert_eq!(found.route().methods(), [Method::HEAD]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn method_not_allowed_lists_every_method_of_the_path() {
    let mut router = Router::new();
    router.get("/items/{id}", |_: Request| "item").unwrap();
    router.put("/items/{id}", |_: Request| "replaced").unwrap();
    router
        .delete(r"/items/{id:\d+}", |_: Request| "deleted")
        .unwrap();

    match router.dispatch(&Method::POST, "/items/7") {
        Dispatched::MethodNotAllowed { allowed } => {
            assert_eq!(allowed, [Method::GET, Method::PUT, Method::DELETE]);
        }
        other => panic!("{other:?}"),
    }
    match router.dispatch(&Method::POST, "/items/seven") {
        Dispatched::MethodNotAllowed { allowed } => assert_eq!(allowed, [Method::GET, Method::PUT]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn typed_params_parse_from_the_path() {
    let mut router = Router::new();
    router
        .get("/user/{id}", |request: Request| {
            match params(&request).parse::<u32>("id") {
                Ok(id) => format!("user {}", id + 1),
                Err(error) => format!("bad: {error}"),
            }
        })
        .unwrap();
    let running = start(server().server(spec("http").router(router)));
    let mut client = connect_to(&running, "http");

    assert_eq!(client.exchange(get("/user/41")).text(), "user 42");
    let bad = client.exchange(get("/user/ada")).text();
    assert!(bad.starts_with(r#"bad: route parameter "id": "#), "{bad}");
    stop(running);
}

#[test]
fn a_missing_parameter_is_an_error_not_a_default() {
    let mut router = Router::new();
    router.get("/posts[/{page}]", |_: Request| "posts").unwrap();

    let request = Request::new(hyperf_http::Bytes::new());
    let mut routed = request;
    routed
        .extensions_mut()
        .insert(router.dispatch(&Method::GET, "/posts"));
    assert_eq!(params(&routed).get("page"), None);
    assert!(params(&routed).parse::<u32>("page").is_err());
}

#[test]
fn a_route_whose_constraint_does_not_compile_leaves_the_router_as_it_was() {
    let mut router = Router::new();
    // The first alternative (`/a`) is fine; the second one's constraint is not a regex.
    let error = router
        .get("/a[/{id:(}]", |_: Request| "a")
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(error, RouteError::InvalidPattern { .. }),
        "{error:?}"
    );

    assert_eq!(router.routes().count(), 0);
    assert!(matches!(
        router.dispatch(&Method::GET, "/a"),
        Dispatched::NotFound
    ));
    router
        .get("/a", |_: Request| "a")
        .expect("nothing of the failed route is left to conflict with");
}

#[test]
fn a_route_that_conflicts_on_one_method_registers_no_other_method() {
    let mut router = Router::new();
    router.post("/items", |_: Request| "create").unwrap();
    let error = router
        .route(&[Method::GET, Method::POST], "/items", |_: Request| "list")
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(error, RouteError::Conflict { .. }), "{error:?}");

    assert!(matches!(
        router.dispatch(&Method::GET, "/items"),
        Dispatched::MethodNotAllowed { .. }
    ));
}
