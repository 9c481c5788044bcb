//! Waiter: a closure in a fresh coroutine, its value, its panic, and timeouts.

mod common;

use std::time::Duration;

use common::{LIMIT, setup, within};
use runtime::{Channel, Context, ContextKey, Waiter, WaiterError};

const SHORT: Duration = Duration::from_millis(5);

#[test]
fn waiter_returns_the_closures_value_to_a_thread() {
    setup();
    let value = within(LIMIT, || Waiter::wait(|| "computed".to_string(), None));
    assert_eq!(value.unwrap(), "computed");
}

#[test]
fn waiter_returns_the_closures_value_to_a_coroutine() {
    setup();
    let value = within(LIMIT, || {
        runtime::spawn(|| Waiter::wait(|| 6 * 7, Some(LIMIT)))
            .join()
            .unwrap()
    });
    assert_eq!(value.unwrap(), 42);
}

#[test]
fn waiter_runs_the_closure_in_a_fresh_coroutine_with_an_empty_context() {
    setup();
    static USER: ContextKey<String> = ContextKey::new("user");
    let (caller, child) = within(LIMIT, || {
        runtime::spawn(|| {
            Context::set(&USER, "ada".to_string());
            let caller = runtime::id();
            let child = Waiter::wait(
                || (runtime::id(), runtime::parent_id(), Context::get(&USER)),
                None,
            )
            .unwrap();
            // The caller's own context is untouched.
            assert_eq!(Context::get(&USER).as_deref(), Some("ada"));
            (caller, child)
        })
        .join()
        .unwrap()
    });
    let (child_id, child_parent, child_user) = child;
    assert!(child_id.is_some());
    assert_ne!(child_id, caller);
    assert_eq!(child_parent, caller);
    assert_eq!(child_user, None);
}

#[test]
fn waiter_closure_defers_run_at_the_end_of_its_own_coroutine() {
    setup();
    within(LIMIT, || {
        let deferred = Channel::new(1);
        let sender = deferred.clone();
        let value = Waiter::wait(
            move || {
                runtime::defer(move || sender.push("child defer", None).unwrap());
                "value"
            },
            None,
        );
        assert_eq!(value.unwrap(), "value");
        assert_eq!(deferred.pop(None), Ok("child defer"));
    });
}

#[test]
fn waiter_reraises_a_panic_as_an_error_with_its_message() {
    setup();
    let error = within(LIMIT, || {
        Waiter::wait(|| -> u8 { panic!("the backend exploded") }, None).unwrap_err()
    });
    assert!(matches!(error, WaiterError::Panicked(_)));
    assert_eq!(error.panic_message(), Some("the backend exploded"));
    assert_eq!(
        error.to_string(),
        "the waited-for coroutine panicked: the backend exploded"
    );
    match error {
        WaiterError::Panicked(payload) => {
            assert_eq!(
                payload.downcast_ref::<&str>(),
                Some(&"the backend exploded")
            );
        }
        other => panic!("expected a panic, got {other:?}"),
    }
}

#[test]
fn waiter_passes_the_closures_own_error_through_unchanged() {
    setup();
    let outcome = within(LIMIT, || {
        Waiter::wait(
            || "x".parse::<u32>().map_err(|error| error.to_string()),
            None,
        )
    });
    assert_eq!(
        outcome.unwrap(),
        Err("invalid digit found in string".to_string())
    );
}

#[test]
fn waiter_times_out_and_the_child_keeps_running() {
    setup();
    within(LIMIT, || {
        let gate = Channel::new(1);
        let finished = Channel::new(1);
        let (opened, done) = (gate.clone(), finished.clone());
        let outcome = Waiter::wait(
            move || {
                opened.pop(None).unwrap();
                done.push("finished anyway", None).unwrap();
                "too late"
            },
            Some(SHORT),
        );
        assert!(matches!(outcome, Err(WaiterError::Timeout)));
        gate.push((), None).unwrap();
        assert_eq!(finished.pop(None), Ok("finished anyway"));
    });
}

#[test]
fn waiter_times_out_inside_a_coroutine() {
    setup();
    within(LIMIT, || {
        let gate = Channel::<()>::new(1);
        let opened = gate.clone();
        let outcome = runtime::spawn(move || {
            Waiter::wait(move || opened.pop(None), Some(Duration::from_micros(200)))
        })
        .join()
        .unwrap();
        assert!(matches!(outcome, Err(WaiterError::Timeout)));
        gate.close();
    });
}

#[test]
fn waiter_reports_a_cancelled_child_without_waiting_for_the_timeout() {
    setup();
    within(LIMIT, || {
        let handles = Channel::new(1);
        let canceller = {
            let handles = handles.clone();
            std::thread::spawn(move || {
                let child: may::coroutine::Coroutine = handles.pop(None).unwrap();
                // SAFETY: the child only waits on a channel, which unwinding leaves cleanly.
                unsafe { child.cancel() };
            })
        };
        let never = Channel::<()>::new(1);
        let outcome = Waiter::wait(
            move || {
                handles.push(may::coroutine::current(), None).unwrap();
                never.pop(None)
            },
            None,
        );
        assert!(matches!(outcome, Err(WaiterError::Cancelled)));
        canceller.join().unwrap();
    });
}

#[test]
fn waiter_errors_describe_themselves() {
    assert_eq!(
        WaiterError::Timeout.to_string(),
        "the waited-for coroutine did not finish in time"
    );
    assert_eq!(WaiterError::Timeout.panic_message(), None);
    assert_eq!(format!("{:?}", WaiterError::Cancelled), "Cancelled");
}
