//! `defer`: coroutine-scoped, LIFO, isolated, and run however the coroutine ends.

mod common;

use std::sync::{Arc, Mutex};

use common::{LIMIT, eventually, setup, within};
use runtime::{Context, ContextKey, defer};

type Log = Arc<Mutex<Vec<u32>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Log, n: u32) -> impl FnOnce() + 'static {
    let log = Arc::clone(log);
    move || log.lock().unwrap().push(n)
}

#[test]
fn defers_run_lifo_and_a_defer_registered_by_a_defer_runs_next() {
    // Hyperf's order test: the body registers D0, D1, D4 and emits 5; D1 emits 1 and registers
    // D2 and D3.
    setup();
    let order = log();
    let body = Arc::clone(&order);
    runtime::spawn(move || {
        defer(push(&body, 0));
        let inner = Arc::clone(&body);
        defer(move || {
            inner.lock().unwrap().push(1);
            defer(push(&inner, 2));
            defer(push(&inner, 3));
        });
        defer(push(&body, 4));
        body.lock().unwrap().push(5);
    })
    .join()
    .unwrap();
    assert_eq!(*order.lock().unwrap(), [5, 4, 1, 3, 2, 0]);
}

#[test]
fn defers_run_when_the_body_panics() {
    setup();
    let order = log();
    let body = Arc::clone(&order);
    let result = runtime::spawn(move || {
        defer(push(&body, 1));
        panic!("body fails");
    })
    .join();
    assert!(result.is_err());
    assert_eq!(*order.lock().unwrap(), [1]);
}

#[test]
fn defers_run_when_the_coroutine_is_cancelled() {
    setup();
    let order = log();
    let body = Arc::clone(&order);
    let gate = coordinator::Coordinator::new();
    let waiting = gate.clone();
    let handle = runtime::spawn(move || {
        defer(push(&body, 1));
        waiting.r#yield();
    });
    eventually(LIMIT, "the coroutine parks", || gate.waiters() == 1);
    // SAFETY: the coroutine holds nothing that unwinding could leave inconsistent.
    unsafe { handle.cancel() };
    assert!(runtime::is_cancelled(
        &within(LIMIT, move || handle.join()).unwrap_err()
    ));
    assert_eq!(*order.lock().unwrap(), [1]);
}

#[test]
fn a_panicking_defer_does_not_stop_the_others() {
    setup();
    let order = log();
    let body = Arc::clone(&order);
    let value = runtime::spawn(move || {
        defer(push(&body, 1));
        defer(|| panic!("this defer fails"));
        defer(push(&body, 3));
        "body's value"
    })
    .join()
    .unwrap();
    assert_eq!(
        value, "body's value",
        "a failing defer does not turn the result into a panic"
    );
    assert_eq!(*order.lock().unwrap(), [3, 1]);
}

#[test]
fn defers_can_read_the_context() {
    static NAME: ContextKey<&'static str> = ContextKey::new("name");
    setup();
    let seen = Arc::new(Mutex::new(None));
    let in_defer = Arc::clone(&seen);
    runtime::spawn(move || {
        Context::set(&NAME, "request");
        defer(move || *in_defer.lock().unwrap() = Context::get(&NAME));
    })
    .join()
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some("request"));
}

#[test]
fn defer_macro_registers_the_block() {
    setup();
    let order = log();
    let body = Arc::clone(&order);
    runtime::spawn(move || {
        let deferred = Arc::clone(&body);
        runtime::defer! { deferred.lock().unwrap().push(2); }
        body.lock().unwrap().push(1);
    })
    .join()
    .unwrap();
    assert_eq!(*order.lock().unwrap(), [1, 2]);
}

#[test]
fn defer_outside_a_runtime_coroutine_fails_loudly() {
    let panic = std::panic::catch_unwind(|| defer(|| ())).unwrap_err();
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default();
    assert!(
        message.contains("outside a coroutine spawned by runtime::spawn"),
        "{message}"
    );
}

#[test]
fn try_defer_outside_a_runtime_coroutine_returns_an_error() {
    setup();
    assert_eq!(runtime::try_defer(|| ()), Err(runtime::NotInCoroutine));
    assert_eq!(
        may::go!(|| runtime::try_defer(|| ())).join().unwrap(),
        Err(runtime::NotInCoroutine)
    );
}
