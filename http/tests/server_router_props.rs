//! Property tests of the router: whatever patterns are registered (valid or not) and whatever
//! paths are asked for, nothing panics; a registered static route is always found; and a
//! refused registration leaves the router answering exactly as before.

use hyperf_http::server::{Dispatched, Router};
use hyperf_http::{Method, Request};
use proptest::prelude::*;

/// A piece of a pattern: mostly well-formed, sometimes not.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "/[a-c]{1,3}",
        2 => "/\\{[a-d]\\}",
        1 => "/\\{[a-d]:\\\\d\\+\\}",
        1 => "/\\{[a-d]:[a-c]\\|[a-c]\\}",
        1 => prop::sample::select(vec![
            "/{x:(}", "/{", "}", "[", "]", "/[/a]", "{:a}", "/{a}{a}", "//", "/é", "/%20",
        ])
        .prop_map(str::to_string),
    ]
}

/// A pattern: pieces, maybe an optional tail.
fn pattern() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(piece(), 1..4),
        prop::option::of(piece()),
    )
        .prop_map(|(pieces, optional)| {
            let mut pattern = pieces.concat();
            if let Some(tail) = optional {
                pattern.push('[');
                pattern.push_str(&tail);
                pattern.push(']');
            }
            pattern
        })
}

/// A path to ask for.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        "(/[a-c0-9]{0,3}){0,4}",
        any::<String>(),
        Just(String::new()),
        Just("/".to_string()),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::HEAD,
        Method::DELETE,
    ])
}

/// What `router` answers for each of `asked`, reduced to comparable values.
fn answers(router: &Router, asked: &[(Method, String)]) -> Vec<String> {
    asked
        .iter()
        .map(|(method, path)| match router.dispatch(method, path) {
            Dispatched::Found(found) => format!("found {} {:?}", found.pattern(), found.params()),
            Dispatched::NotFound => "not found".to_string(),
            Dispatched::MethodNotAllowed { allowed } => format!("not allowed {allowed:?}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_pattern_set_and_no_path_makes_the_router_panic(
        routes in prop::collection::vec((method(), pattern()), 0..12),
        asked in prop::collection::vec((method(), path()), 0..12),
    ) {
        let mut router = Router::new();
        for (method, pattern) in &routes {
            let _ = router.route(std::slice::from_ref(method), pattern, |_: Request| "ok");
        }
        answers(&router, &asked);
    }

    #[test]
    fn a_registered_static_route_is_always_found(
        routes in prop::collection::vec((method(), pattern()), 0..12),
        statics in prop::collection::vec((method(), "(/[a-c]{1,3}){1,3}"), 1..6),
    ) {
        let mut router = Router::new();
        let mut registered = Vec::new();
        let mut all: Vec<(Method, String, bool)> = Vec::new();
        all.extend(routes.into_iter().map(|(m, p)| (m, p, false)));
        all.extend(statics.into_iter().map(|(m, p)| (m, p, true)));
        for (method, pattern, is_static) in &all {
            let added = router.route(std::slice::from_ref(method), pattern, |_: Request| "ok");
            if added.is_ok() && *is_static {
                registered.push((method.clone(), pattern.clone()));
            }
        }
        for (method, pattern) in &registered {
            match router.dispatch(method, pattern) {
                Dispatched::Found(found) => prop_assert_eq!(found.pattern(), pattern.as_str()),
                other => prop_assert!(false, "{method} {pattern} gave {other:?}"),
            }
        }
    }

    #[test]
    fn a_refused_registration_changes_no_answer(
        routes in prop::collection::vec((method(), pattern()), 0..10),
        refused in (method(), pattern()),
        asked in prop::collection::vec((method(), path()), 1..12),
    ) {
        let mut router = Router::new();
        for (method, pattern) in &routes {
            let _ = router.route(std::slice::from_ref(method), pattern, |_: Request| "ok");
        }
        let before = answers(&router, &asked);
        let count = router.routes().count();
        let (method, pattern) = refused;
        if router.route(&[method, Method::PUT], &pattern, |_: Request| "new").is_err() {
            prop_assert_eq!(router.routes().count(), count);
            prop_assert_eq!(answers(&router, &asked), before);
        }
    }
}
