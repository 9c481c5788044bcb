//! Parallel: concurrency with and without a limit, insertion order, failures, reruns.

mod common;

use std::sync::Arc;

use common::{LIMIT, setup, within};
use coordinator::{WaitList, WaitOutcome};
use parking_lot::Mutex;
use runtime::{Parallel, TaskFailure};

/// A counter that coroutines can wait on, to order tasks without sleeping.
#[derive(Default)]
struct Counter {
    value: Mutex<usize>,
    changed: WaitList,
}

impl Counter {
    fn increment(&self) -> usize {
        let value = {
            let mut value = self.value.lock();
            *value += 1;
            *value
        };
        self.changed.notify_all();
        value
    }

    fn decrement(&self) {
        *self.value.lock() -= 1;
        self.changed.notify_all();
    }

    fn get(&self) -> usize {
        *self.value.lock()
    }

    /// Parks until the counter is at least `target`.
    fn wait_for(&self, target: usize) {
        while self.changed.wait(None, || self.get() >= target) != WaitOutcome::Ready {}
    }
}

#[test]
fn parallel_without_limit_runs_every_task_at_once() {
    setup();
    // Hyperf's test, with a rendezvous instead of a 10 ms sleep: every task increments, then
    // waits until all four have, then reports the count. Tasks run one or two at a time would
    // never get there.
    let values = within(LIMIT, || {
        let started = Arc::new(Counter::default());
        let mut parallel = Parallel::new();
        for key in 0..4 {
            let started = Arc::clone(&started);
            parallel.add(key, move || {
                started.increment();
                started.wait_for(4);
                Ok(started.get())
            });
        }
        parallel.wait().unwrap()
    });
    let values: Vec<usize> = values.into_iter().map(|(_, value)| value).collect();
    assert_eq!(values, [4, 4, 4, 4]);
}

#[test]
fn parallel_with_limit_two_gives_hyperfs_2_3_4_4() {
    setup();
    // Hyperf's test made deterministic: the k-th task to start finishes once the (k+1)-th has
    // started (the last one at once) and reports how many have started. With two slots, the
    // (k+1)-th can only start after the (k-1)-th has finished.
    let results = within(LIMIT, || {
        let started = Arc::new(Counter::default());
        let mut parallel = Parallel::with_limit(2);
        for key in ["a", "b", "c", "d"] {
            let started = Arc::clone(&started);
            parallel.add(key, move || {
                let k = started.increment();
                started.wait_for((k + 1).min(4));
                Ok(started.get())
            });
        }
        parallel.wait().unwrap()
    });
    let keys: Vec<&str> = results.iter().map(|(key, _)| *key).collect();
    assert_eq!(keys, ["a", "b", "c", "d"]);
    let mut values: Vec<usize> = results.into_iter().map(|(_, value)| value).collect();
    values.sort();
    assert_eq!(values, [2, 3, 4, 4]);
}

#[test]
fn parallel_never_runs_more_than_limit_tasks_at_once() {
    setup();
    let most = within(LIMIT, || {
        let running = Arc::new(Counter::default());
        let most = Arc::new(Mutex::new(0));
        let mut parallel = Parallel::with_limit(3);
        for key in 0..30 {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            parallel.add(key, move || {
                let now = running.increment();
                {
                    let mut most = most.lock();
                    *most = (*most).max(now);
                }
                may::coroutine::yield_now();
                running.decrement();
                Ok(())
            });
        }
        parallel.wait().unwrap();
        *most.lock()
    });
    assert!((1..=3).contains(&most), "{most} tasks ran at once");
}

#[test]
fn parallel_results_keep_insertion_order_not_completion_order() {
    setup();
    let results = within(LIMIT, || {
        let finished = Arc::new(Counter::default());
        let mut parallel = Parallel::new();
        for key in 0..4 {
            let finished = Arc::clone(&finished);
            // Task 3 finishes first, task 0 last.
            parallel.add(key, move || {
                finished.wait_for(3 - key);
                finished.increment();
                Ok(key * 10)
            });
        }
        parallel.wait().unwrap()
    });
    assert_eq!(results, [(0, 0), (1, 10), (2, 20), (3, 30)]);
}

#[test]
fn parallel_failure_carries_partial_results_and_every_failure() {
    setup();
    let error = within(LIMIT, || {
        let mut parallel = Parallel::new();
        parallel
            .add("a", || Ok(1))
            .add("b", || Err("b failed".into()))
            .add("c", || Ok(3))
            .add("d", || Err(std::io::Error::other("d failed").into()));
        parallel.wait().unwrap_err()
    });
    assert_eq!(error.results, [("a", 1), ("c", 3)]);
    let failures: Vec<(&str, String)> = error
        .failures
        .iter()
        .map(|(key, failure)| (*key, failure.to_string()))
        .collect();
    assert_eq!(
        failures,
        [("b", "b failed".to_string()), ("d", "d failed".to_string())]
    );
    assert!(matches!(error.failures[0].1, TaskFailure::Error(_)));
}

#[test]
fn parallel_panic_counts_as_a_failure_with_its_message() {
    setup();
    let error = within(LIMIT, || {
        let mut parallel = Parallel::new();
        parallel.add(1, || Ok("fine"));
        parallel.add(2, || panic!("task two exploded"));
        parallel.wait().unwrap_err()
    });
    assert_eq!(error.results, [(1, "fine")]);
    assert_eq!(error.failures.len(), 1);
    match &error.failures[0] {
        (2, TaskFailure::Panicked(message)) => assert_eq!(message, "task two exploded"),
        other => panic!("expected the panic of task 2, got {other:?}"),
    }
}

#[test]
fn parallel_error_says_how_many_failed() {
    setup();
    let error = within(LIMIT, || {
        let mut parallel = Parallel::<u8, ()>::new();
        for key in 0..3 {
            parallel.add(key, || Err("no".into()));
        }
        parallel.wait().unwrap_err()
    });
    assert_eq!(error.to_string(), "3 failures during parallel execution");
}

#[test]
fn parallel_failing_and_panicking_tasks_never_leak_a_slot() {
    setup();
    // With one slot, a single leaked slot would block the next task for ever.
    let (first, second) = within(LIMIT, || {
        let mut parallel = Parallel::with_limit(1);
        for key in 0..10 {
            parallel.add(key, move || match key % 3 {
                0 => Err("failed".into()),
                1 => panic!("panicked"),
                _ => Ok(key),
            });
        }
        let first = parallel.wait().unwrap_err();
        let second = parallel.wait().unwrap_err();
        (first, second)
    });
    for error in [first, second] {
        assert_eq!(error.results, [(2, 2), (5, 5), (8, 8)]);
        assert_eq!(error.failures.len(), 7);
    }
}

#[test]
fn parallel_second_wait_runs_the_callbacks_again() {
    setup();
    let (first, second, calls) = within(LIMIT, || {
        let calls = Arc::new(Counter::default());
        let mut parallel = Parallel::new();
        for key in ["x", "y", "z"] {
            let calls = Arc::clone(&calls);
            parallel.add(key, move || Ok(calls.increment()));
        }
        let first = parallel.wait().unwrap();
        let second = parallel.wait().unwrap();
        (first, second, calls.get())
    });
    assert_eq!(calls, 6);
    assert_eq!(first.len(), 3);
    assert_eq!(second.len(), 3);
    assert!(second.iter().all(|(_, call)| *call > 3), "{second:?}");
}

#[test]
fn parallel_clear_removes_every_callback() {
    setup();
    within(LIMIT, || {
        let calls = Arc::new(Counter::default());
        let mut parallel = Parallel::new();
        let counted = Arc::clone(&calls);
        parallel.add("once", move || Ok(counted.increment()));
        assert_eq!(parallel.len(), 1);
        parallel.wait().unwrap();
        parallel.clear();
        assert!(parallel.is_empty());
        assert_eq!(parallel.wait().unwrap(), []);
        assert_eq!(calls.get(), 1);
    });
}

#[test]
fn parallel_limit_zero_means_no_limit() {
    assert_eq!(Parallel::<u8, u8>::with_limit(0).limit(), None);
    assert_eq!(Parallel::<u8, u8>::with_limit(2).limit(), Some(2));
    assert_eq!(Parallel::<u8, u8>::new().limit(), None);
}

#[test]
fn parallel_waits_inside_a_coroutine() {
    setup();
    let results = within(LIMIT, || {
        runtime::spawn(|| {
            let mut parallel = Parallel::with_limit(2);
            for key in 0..5u32 {
                parallel.add(key, move || {
                    // Each callback runs in a coroutine of its own.
                    Ok((runtime::in_coroutine(), key * key))
                });
            }
            parallel.wait().unwrap()
        })
        .join()
        .unwrap()
    });
    let expected: Vec<(u32, (bool, u32))> = (0..5).map(|k| (k, (true, k * k))).collect();
    assert_eq!(results, expected);
}
