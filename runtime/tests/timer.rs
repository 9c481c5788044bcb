//! The runtime timer: coordinator timers whose callback calls are runtime scopes.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{LIMIT, setup};
use coordinator::{Coordinator, TickControl, Timer};
use runtime::{Context, ContextKey, defer};

static VALUE: ContextKey<u32> = ContextKey::new("value");

const HOUR: Duration = Duration::from_secs(3600);

fn timer() -> (Timer, Coordinator) {
    setup();
    let closing = Coordinator::new();
    (runtime::timer_with_closing(closing.clone()), closing)
}

#[test]
fn callback_can_set_and_get_its_context() {
    let (timer, _closing) = timer();
    let (read, received) = mpsc::channel();
    timer.after(Duration::from_millis(1), move |_| {
        Context::set(&VALUE, 7);
        read.send(Context::get(&VALUE)).unwrap();
    });
    assert_eq!(received.recv_timeout(LIMIT), Ok(Some(7)));
}

#[test]
fn defer_in_a_callback_runs_after_the_callback_with_its_context() {
    let (timer, _closing) = timer();
    let (events, received) = mpsc::channel();
    timer.after(Duration::from_millis(1), move |_| {
        Context::set(&VALUE, 3);
        let deferred = events.clone();
        defer! { deferred.send(("defer", Context::get(&VALUE))).unwrap(); }
        events.send(("body", None)).unwrap();
    });
    assert_eq!(received.recv_timeout(LIMIT), Ok(("body", None)));
    assert_eq!(received.recv_timeout(LIMIT), Ok(("defer", Some(3))));
}

#[test]
fn each_tick_gets_an_empty_context_and_an_id_of_its_own() {
    let (timer, _closing) = timer();
    let (seen, received) = mpsc::channel();
    let mut calls = 0;
    timer.tick(Duration::from_millis(1), move |_| {
        calls += 1;
        seen.send((Context::get(&VALUE), runtime::id(), runtime::parent_id()))
            .unwrap();
        Context::set(&VALUE, calls);
        if calls == 3 {
            TickControl::Stop
        } else {
            TickControl::Continue
        }
    });
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (value, id, parent) = received.recv_timeout(LIMIT).unwrap();
        assert_eq!(value, None, "nothing carries over from the previous tick");
        assert_eq!(parent, Some(0), "a top-level scope");
        ids.push(id.expect("a callback call has a runtime id"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "a fresh id per call: {ids:?}");
}

#[test]
fn panicking_callback_runs_its_defers_and_does_not_stop_the_timer() {
    let (timer, closing) = timer();
    let (events, received) = mpsc::channel();
    let mut calls = 0;
    timer.tick(Duration::from_millis(1), move |_| {
        calls += 1;
        let deferred = events.clone();
        defer! { deferred.send(("defer", calls)).unwrap(); }
        if calls == 1 {
            panic!("first tick fails");
        }
        events.send(("body", calls)).unwrap();
        TickControl::Stop
    });
    assert_eq!(received.recv_timeout(LIMIT), Ok(("defer", 1)));
    assert_eq!(received.recv_timeout(LIMIT), Ok(("body", 2)));
    assert_eq!(received.recv_timeout(LIMIT), Ok(("defer", 2)));
    assert_eq!(timer.stats().panicked, 1);

    // The service still runs other timers, closing runs included.
    let (calls, received) = mpsc::channel();
    timer.after(HOUR, move |is_closing| {
        Context::set(&VALUE, 1);
        calls.send((is_closing, Context::get(&VALUE))).unwrap();
    });
    closing.resume();
    assert_eq!(received.recv_timeout(LIMIT), Ok((true, Some(1))));
}

#[test]
fn plain_coordinator_timer_callback_has_no_runtime_scope() {
    setup();
    let timer = Timer::with_closing(Coordinator::new());
    let (seen, received) = mpsc::channel();
    timer.after(Duration::from_millis(1), move |_| {
        seen.send((runtime::id(), runtime::try_defer(|| {}).is_err()))
            .unwrap();
    });
    assert_eq!(received.recv_timeout(LIMIT), Ok((None, true)));
}

#[test]
fn runtime_timer_is_bound_to_worker_exit() {
    setup();
    let timer = runtime::timer();
    assert!(
        timer
            .closing()
            .ptr_eq(&coordinator::CoordinatorManager::until(
                coordinator::constants::WORKER_EXIT
            ))
    );
}
