//! Channel: order, back-pressure, timeouts, close, fairness, and waiters that leave.

mod common;

use std::time::Duration;

use common::{LIMIT, eventually, setup, within};
use runtime::{Channel, PopError, PushError};

const SHORT: Duration = Duration::from_millis(5);

/// Pops from the empty `channel` `times` times in a coroutine, each pop timing out.
fn time_out_pops(channel: &Channel<u32>, times: usize) {
    let popper = channel.clone();
    runtime::spawn(move || {
        for _ in 0..times {
            assert_eq!(
                popper.pop(Some(Duration::from_micros(20))),
                Err(PopError::Timeout)
            );
        }
    })
    .join()
    .unwrap();
}

/// Pushes `values` into the full `channel` in a coroutine, each push timing out and handing
/// its value back.
fn time_out_pushes(channel: &Channel<u32>, values: std::ops::RangeInclusive<u32>) {
    let pusher = channel.clone();
    runtime::spawn(move || {
        for n in values {
            let error = pusher.push(n, Some(Duration::from_micros(20))).unwrap_err();
            assert!(error.is_timeout());
            assert_eq!(error.into_inner(), n);
        }
    })
    .join()
    .unwrap();
}

#[test]
fn channel_pops_values_in_push_order() {
    setup();
    let channel = Channel::new(3);
    for n in 1..=3 {
        channel.push(n, None).unwrap();
    }
    let popped: Vec<i32> = (0..3).map(|_| channel.pop(None).unwrap()).collect();
    assert_eq!(popped, [1, 2, 3]);
}

#[test]
fn channel_reports_len_capacity_and_emptiness() {
    setup();
    let channel = Channel::new(2);
    assert_eq!(channel.capacity(), 2);
    assert!(channel.is_empty());
    assert!(!channel.is_full());
    channel.push('a', None).unwrap();
    channel.push('b', None).unwrap();
    assert_eq!(channel.len(), 2);
    assert!(channel.is_full());
    assert!(!channel.is_closed());
}

#[test]
fn channel_capacity_zero_is_treated_as_one() {
    setup();
    let channel = Channel::new(0);
    assert_eq!(channel.capacity(), 1);
    channel.push(1, Some(Duration::ZERO)).unwrap();
    assert!(matches!(
        channel.push(2, Some(Duration::ZERO)),
        Err(PushError::Timeout(2))
    ));
}

#[test]
fn channel_pop_parks_a_coroutine_until_a_thread_pushes() {
    setup();
    within(LIMIT, || {
        let channel = Channel::new(1);
        let popper = channel.clone();
        let popping = runtime::spawn(move || popper.pop(None));
        eventually(LIMIT, "the coroutine waits", || {
            channel.waiting_poppers() == 1
        });
        channel.push("hello", None).unwrap();
        assert_eq!(popping.join().unwrap(), Ok("hello"));
    });
}

#[test]
fn channel_pop_parks_a_thread_until_a_coroutine_pushes() {
    setup();
    within(LIMIT, || {
        let channel = Channel::new(1);
        let popper = channel.clone();
        let popping = std::thread::spawn(move || popper.pop(None));
        eventually(LIMIT, "the thread waits", || channel.waiting_poppers() == 1);
        let pusher = channel.clone();
        runtime::spawn(move || pusher.push(7, None))
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(popping.join().unwrap(), Ok(7));
    });
}

#[test]
fn channel_push_waits_while_full_until_a_pop_makes_room() {
    setup();
    within(LIMIT, || {
        let channel = Channel::new(1);
        channel.push(1, None).unwrap();
        let pusher = channel.clone();
        let pushing = runtime::spawn(move || pusher.push(2, None));
        eventually(LIMIT, "the push waits", || channel.waiting_pushers() == 1);
        assert_eq!(channel.len(), 1);
        assert_eq!(channel.pop(None), Ok(1));
        pushing.join().unwrap().unwrap();
        assert_eq!(channel.pop(None), Ok(2));
    });
}

#[test]
fn channel_push_times_out_when_full_and_gives_the_value_back() {
    setup();
    within(LIMIT, || {
        let channel = Channel::new(1);
        channel.push(String::from("first"), None).unwrap();
        match channel.push(String::from("second"), Some(SHORT)) {
            Err(PushError::Timeout(value)) => assert_eq!(value, "second"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        let pusher = channel.clone();
        let error = runtime::spawn(move || pusher.push(String::from("third"), Some(SHORT)))
            .join()
            .unwrap()
            .unwrap_err();
        assert!(error.is_timeout());
        assert_eq!(error.into_inner(), "third");
        assert_eq!(channel.len(), 1);
    });
}

#[test]
fn channel_pop_times_out_when_empty() {
    setup();
    within(LIMIT, || {
        let channel = Channel::<u8>::new(1);
        assert_eq!(channel.pop(Some(SHORT)), Err(PopError::Timeout));
        assert_eq!(channel.pop(Some(Duration::ZERO)), Err(PopError::Timeout));
        let popper = channel.clone();
        let popped = runtime::spawn(move || popper.pop(Some(Duration::from_micros(100))));
        assert_eq!(popped.join().unwrap(), Err(PopError::Timeout));
    });
}

#[test]
fn channel_buffered_items_can_be_popped_after_close() {
    setup();
    let channel = Channel::new(4);
    channel.push(1, None).unwrap();
    channel.push(2, None).unwrap();
    channel.close();
    assert!(channel.is_closed());
    assert_eq!(channel.pop(None), Ok(1));
    assert_eq!(channel.pop(None), Ok(2));
    assert_eq!(channel.pop(None), Err(PopError::Closed));
    assert_eq!(channel.pop(Some(SHORT)), Err(PopError::Closed));
}

#[test]
fn channel_push_after_close_fails_and_gives_the_value_back() {
    setup();
    let channel = Channel::new(4);
    channel.close();
    channel.close(); // idempotent
    let error = channel.push(vec![1, 2], None).unwrap_err();
    assert!(error.is_closed());
    assert_eq!(error.into_inner(), [1, 2]);
    assert!(channel.is_empty());
}

#[test]
fn channel_close_wakes_every_waiting_popper() {
    setup();
    within(LIMIT, || {
        let channel = Channel::<u8>::new(1);
        let poppers: Vec<_> = (0..3)
            .map(|_| {
                let channel = channel.clone();
                runtime::spawn(move || channel.pop(None))
            })
            .collect();
        let thread_popper = {
            let channel = channel.clone();
            std::thread::spawn(move || channel.pop(None))
        };
        eventually(LIMIT, "all four wait", || channel.waiting_poppers() == 4);
        channel.close();
        for popper in poppers {
            assert_eq!(popper.join().unwrap(), Err(PopError::Closed));
        }
        assert_eq!(thread_popper.join().unwrap(), Err(PopError::Closed));
        assert_eq!(channel.waiting_poppers(), 0);
    });
}

#[test]
fn channel_close_wakes_every_waiting_pusher_with_its_value() {
    setup();
    within(LIMIT, || {
        let channel = Channel::new(1);
        channel.push(0, None).unwrap();
        let pushers: Vec<_> = (1..=3)
            .map(|n| {
                let channel = channel.clone();
                runtime::spawn(move || channel.push(n, None))
            })
            .collect();
        eventually(LIMIT, "all three wait", || channel.waiting_pushers() == 3);
        channel.close();
        let mut returned: Vec<i32> = pushers
            .into_iter()
            .map(|pusher| match pusher.join().unwrap() {
                Err(PushError::Closed(value)) => value,
                other => panic!("expected closed, got {other:?}"),
            })
            .collect();
        returned.sort();
        assert_eq!(returned, [1, 2, 3]);
        // The value buffered before the close is still there.
        assert_eq!(channel.pop(None), Ok(0));
    });
}

#[test]
fn channel_waiting_poppers_are_served_in_arrival_order() {
    setup();
    within(LIMIT, || {
        let channel = Channel::new(1);
        let served = Channel::new(8);
        let mut poppers = Vec::new();
        for popper in 0..5 {
            let (source, served) = (channel.clone(), served.clone());
            poppers.push(runtime::spawn(move || {
                let value: i32 = source.pop(None).unwrap();
                served.push((popper, value), None).unwrap();
            }));
            // The next popper arrives only once this one is queued.
            eventually(LIMIT, "the popper waits", || {
                channel.waiting_poppers() == popper + 1
            });
        }
        for value in 0..5 {
            channel.push(value, None).unwrap();
        }
        for popper in poppers {
            popper.join().unwrap();
        }
        let mut pairs: Vec<(usize, i32)> = (0..5).map(|_| served.pop(None).unwrap()).collect();
        pairs.sort();
        // The first to wait got the first value, and so on.
        assert_eq!(pairs, [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]);
    });
}

#[test]
fn channel_clones_share_the_buffer() {
    setup();
    let channel = Channel::new(2);
    let clone = channel.clone();
    channel.push("shared", None).unwrap();
    assert_eq!(clone.len(), 1);
    assert_eq!(clone.pop(None), Ok("shared"));
    clone.close();
    assert!(channel.is_closed());
}

#[test]
fn channel_timed_out_pops_leave_no_waiter_behind() {
    setup();
    within(LIMIT, || {
        let channel = Channel::<u32>::new(1);
        // Well past the ~600 leftovers that kill a coroutine with may's mpmc.
        time_out_pops(&channel, 2_000);
        assert_eq!(channel.waiting_poppers(), 0);
        channel.push(1, None).unwrap();
        let popper = channel.clone();
        assert_eq!(
            runtime::spawn(move || popper.pop(None)).join().unwrap(),
            Ok(1)
        );
        assert_eq!(channel.waiting_poppers(), 0);
    });
}

#[test]
fn channel_timed_out_pushes_leave_no_waiter_behind() {
    setup();
    within(LIMIT, || {
        let channel = Channel::new(1);
        channel.push(0, None).unwrap();
        time_out_pushes(&channel, 0..=1_999);
        assert_eq!(channel.waiting_pushers(), 0);
        assert_eq!(channel.pop(None), Ok(0));
        channel.push(1, Some(Duration::ZERO)).unwrap();
        assert_eq!(channel.pop(None), Ok(1));
    });
}

#[test]
fn channel_many_producers_and_consumers_lose_and_duplicate_nothing() {
    setup();
    within(LIMIT, || {
        const PRODUCERS: u32 = 4;
        const EACH: u32 = 500;
        let channel = Channel::new(3);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let channel = channel.clone();
                runtime::spawn(move || {
                    for n in 0..EACH {
                        channel.push(p * EACH + n, None).unwrap();
                    }
                })
            })
            .collect();
        // Consumers on coroutines and on a thread, draining until closed.
        let consume = |channel: Channel<u32>| {
            move || {
                let mut got = Vec::new();
                while let Ok(value) = channel.pop(None) {
                    got.push(value);
                }
                got
            }
        };
        let consumers: Vec<_> = (0..3)
            .map(|_| runtime::spawn(consume(channel.clone())))
            .collect();
        let thread_consumer = std::thread::spawn(consume(channel.clone()));
        for producer in producers {
            producer.join().unwrap();
        }
        channel.close();
        let mut all: Vec<u32> = consumers
            .into_iter()
            .flat_map(|consumer| consumer.join().unwrap())
            .collect();
        all.extend(thread_consumer.join().unwrap());
        all.sort();
        assert_eq!(all, (0..PRODUCERS * EACH).collect::<Vec<_>>());
    });
}

#[test]
fn channel_errors_describe_themselves() {
    assert_eq!(
        PopError::Closed.to_string(),
        "pop on a closed and drained channel"
    );
    assert_eq!(
        PopError::Timeout.to_string(),
        "pop timed out: the channel stayed empty"
    );
    assert_eq!(PushError::Closed(1).to_string(), "push on a closed channel");
    assert_eq!(format!("{:?}", PushError::Timeout(1)), "Timeout(..)");
}

// A push wakes a popper only while one is counted as waiting, and a pop a pusher: these check
// that the count stays right however waits end (a timeout, a cancellation), or a waiter would
// sleep through a value or a room and `within` would fail.

#[test]
fn channel_a_push_wakes_a_popper_that_waits_after_timed_out_pops() {
    setup();
    within(LIMIT, || {
        let channel = Channel::<u32>::new(1);
        time_out_pops(&channel, 100);
        let popper = channel.clone();
        let popping = runtime::spawn(move || popper.pop(None));
        eventually(LIMIT, "the popper waits", || channel.waiting_poppers() == 1);
        channel.push(7, None).unwrap();
        assert_eq!(popping.join().unwrap(), Ok(7));
    });
}

#[test]
fn channel_a_pop_wakes_a_pusher_that_waits_after_timed_out_pushes() {
    setup();
    within(LIMIT, || {
        let channel = Channel::new(1);
        channel.push(0, None).unwrap();
        time_out_pushes(&channel, 1..=100);
        let pusher = channel.clone();
        let pushing = runtime::spawn(move || pusher.push(101, None));
        eventually(LIMIT, "the pusher waits", || channel.waiting_pushers() == 1);
        assert_eq!(channel.pop(None), Ok(0));
        assert_eq!(pushing.join().unwrap(), Ok(()));
        assert_eq!(channel.pop(None), Ok(101));
    });
}

#[test]
fn channel_a_cancelled_popper_leaves_the_next_value_to_a_waiting_one() {
    setup();
    within(LIMIT, || {
        let channel = Channel::<u32>::new(1);
        let (first, second) = (channel.clone(), channel.clone());
        let cancelled = runtime::spawn(move || first.pop(None));
        eventually(LIMIT, "the first popper waits", || {
            channel.waiting_poppers() == 1
        });
        let waiting = runtime::spawn(move || second.pop(None));
        eventually(LIMIT, "both poppers wait", || {
            channel.waiting_poppers() == 2
        });
        // SAFETY: the coroutine holds nothing but its place in the wait list, which
        // unwinding removes.
        unsafe { cancelled.cancel() };
        assert!(runtime::is_cancelled(&cancelled.join().unwrap_err()));
        assert_eq!(channel.waiting_poppers(), 1);
        channel.push(7, None).unwrap();
        assert_eq!(waiting.join().unwrap(), Ok(7));
    });
}

#[test]
fn channel_a_cancelled_popper_leaves_no_count_that_hides_a_later_one() {
    setup();
    within(LIMIT, || {
        let channel = Channel::<u32>::new(1);
        let popper = channel.clone();
        let cancelled = runtime::spawn(move || popper.pop(None));
        eventually(LIMIT, "the popper waits", || channel.waiting_poppers() == 1);
        // SAFETY: as above.
        unsafe { cancelled.cancel() };
        assert!(runtime::is_cancelled(&cancelled.join().unwrap_err()));
        for n in 0..10 {
            let popper = channel.clone();
            let popping = runtime::spawn(move || popper.pop(None));
            eventually(LIMIT, "the next popper waits", || {
                channel.waiting_poppers() == 1
            });
            channel.push(n, None).unwrap();
            assert_eq!(popping.join().unwrap(), Ok(n));
        }
    });
}
