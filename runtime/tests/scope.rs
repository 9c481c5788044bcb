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

#[test]
fn an_open_scope_runs_its_defers_with_its_id_and_context_when_ended() {
    setup();
    let (inside_id, seen) = runtime::spawn(|| {
        let seen = Arc::new(Mutex::new(None));
        let record = Arc::clone(&seen);
        let (inside_id, open) = runtime::scope_open(move || {
            Context::set(&VALUE, 7);
            defer(move || *record.lock().unwrap() = Some((runtime::id(), Context::get(&VALUE))));
            runtime::id()
        });
        assert_eq!(*seen.lock().unwrap(), None, "nothing ran before the end");
        assert_eq!(Some(open.id()), inside_id);
        open.end();
        let seen = *seen.lock().unwrap();
        (inside_id, seen)
    })
    .join()
    .unwrap();
    assert_eq!(seen, Some((inside_id, Some(7))));
}

#[test]
fn dropping_an_open_scope_ends_it() {
    setup();
    let log = Arc::new(Mutex::new(Vec::new()));
    let body = Arc::clone(&log);
    runtime::spawn(move || {
        let deferred = Arc::clone(&body);
        let ((), open) = runtime::scope_open(move || {
            defer(move || deferred.lock().unwrap().push("defer"));
        });
        body.lock().unwrap().push("before the drop");
        drop(open);
        body.lock().unwrap().push("after the drop");
    })
    .join()
    .unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["before the drop", "defer", "after the drop"]
    );
}

#[test]
fn a_panicking_open_scope_ends_at_once_and_passes_the_panic_on() {
    setup();
    let log = Arc::new(Mutex::new(Vec::new()));
    let body = Arc::clone(&log);
    let result = runtime::spawn(move || {
        let deferred = Arc::clone(&body);
        let opened: ((), runtime::OpenScope) = runtime::scope_open(move || {
            defer(move || deferred.lock().unwrap().push("defer"));
            panic!("scope fails");
        });
        drop(opened);
    })
    .join();
    assert!(result.is_err());
    assert_eq!(*log.lock().unwrap(), ["defer"]);
}

#[test]
fn a_scope_that_used_nothing_leaves_its_caller_current_with_its_context() {
    setup();
    let (outer, after, value) = runtime::spawn(|| {
        Context::set(&VALUE, 3);
        let outer = runtime::id();
        let ((), open) = runtime::scope_open(|| ());
        open.end();
        (outer, runtime::id(), Context::get(&VALUE))
    })
    .join()
    .unwrap();
    assert_eq!(after, outer);
    assert_eq!(value, Some(3));
}

#[test]
fn nested_scopes_each_have_the_enclosing_scope_as_parent() {
    setup();
    let (coroutine, outer, outer_parent, inner_parent) = runtime::spawn(|| {
        let coroutine = runtime::id();
        let (outer, outer_parent, inner_parent) = runtime::scope(|| {
            let inner_parent = runtime::scope(runtime::parent_id);
            (runtime::id(), runtime::parent_id(), inner_parent)
        });
        (coroutine, outer, outer_parent, inner_parent)
    })
    .join()
    .unwrap();
    assert_eq!(outer_parent, coroutine);
    assert_eq!(inner_parent, outer);
}

#[test]
fn a_scope_on_a_plain_thread_is_top_level() {
    setup();
    let parent = std::thread::spawn(|| runtime::scope(runtime::parent_id))
        .join()
        .unwrap();
    // As for a coroutine spawned from a plain thread: parent 0.
    assert_eq!(parent, Some(0));
}
