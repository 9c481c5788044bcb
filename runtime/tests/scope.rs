//! `scope`: a coroutine's life — id, context, defers — without spawning one.

mod common;

use std::sync::{Arc, Mutex};

use common::setup;
use runtime::{Context, ContextKey, defer};

static VALUE: ContextKey<u32> = ContextKey::new("value");

#[test]
fn a_scope_has_its_own_id_with_the_caller_as_parent() {
    setup();
    let (outer, inner, parent) = runtime::spawn(|| {
        let outer = runtime::id();
        let (inner, parent) = runtime::scope(|| (runtime::id(), runtime::parent_id()));
        (outer, inner, parent)
    })
    .join()
    .unwrap();
    assert_ne!(inner, outer);
    assert_eq!(parent, outer);
}

#[test]
fn a_scopes_defers_run_when_it_ends_not_when_its_coroutine_does() {
    setup();
    let log = Arc::new(Mutex::new(Vec::new()));
    let body = Arc::clone(&log);
    runtime::spawn(move || {
        let deferred = Arc::clone(&body);
        runtime::scope(move || defer(move || deferred.lock().unwrap().push("scope defer")));
        body.lock().unwrap().push("after scope");
    })
    .join()
    .unwrap();
    assert_eq!(*log.lock().unwrap(), ["scope defer", "after scope"]);
}

#[test]
fn a_scope_starts_with_an_empty_context_and_leaves_the_callers_alone() {
    setup();
    let (inside, after) = runtime::spawn(|| {
        Context::set(&VALUE, 1);
        let inside = runtime::scope(|| {
            let seen = Context::get(&VALUE);
            Context::set(&VALUE, 2);
            seen
        });
        (inside, Context::get(&VALUE))
    })
    .join()
    .unwrap();
    assert_eq!(inside, None);
    assert_eq!(after, Some(1));
}

#[test]
fn a_panicking_scope_runs_its_defers_then_passes_the_panic_on() {
    setup();
    let log = Arc::new(Mutex::new(Vec::new()));
    let body = Arc::clone(&log);
    let result = runtime::spawn(move || {
        runtime::scope(move || {
            let deferred = Arc::clone(&body);
            defer(move || deferred.lock().unwrap().push("defer"));
            panic!("scope fails");
        })
    })
    .join();
    assert!(result.is_err());
    assert_eq!(*log.lock().unwrap(), ["defer"]);
}
