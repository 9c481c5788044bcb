//! The coordinator timer: Hyperf's timer cases, and what a closing coordinator does to timers.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{LIMIT, eventually, setup};
use coordinator::{Coordinator, TickControl, Timer};

const HOUR: Duration = Duration::from_secs(3600);

fn timer() -> (Timer, Coordinator) {
    setup();
    let closing = Coordinator::new();
    (Timer::with_closing(closing.clone()), closing)
}

#[test]
fn after_is_pending_until_its_delay() {
    let (timer, _closing) = timer();
    let (calls, received) = mpsc::channel::<bool>();
    let id = timer.after(HOUR, move |is_closing| calls.send(is_closing).unwrap());
    let stats = timer.stats();
    assert_eq!((stats.active, stats.fired), (1, 0));
    assert!(received.try_recv().is_err());
    timer.clear(id);
}

#[test]
fn after_runs_once_with_is_closing_false_when_its_delay_passes() {
    let (timer, _closing) = timer();
    let (calls, received) = mpsc::channel();
    timer.after(Duration::from_millis(10), move |is_closing| {
        calls.send(is_closing).unwrap()
    });
    assert_eq!(received.recv_timeout(LIMIT), Ok(false));
    // The callback has been consumed: its sender is gone, so no second call can come.
    assert_eq!(
        received.recv_timeout(LIMIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert_eq!(timer.stats().fired, 1);
    assert_eq!(timer.stats().active, 0);
}

#[test]
fn after_runs_at_once_with_is_closing_true_when_closing_resumes() {
    let (timer, closing) = timer();
    let (calls, received) = mpsc::channel();
    timer.after(HOUR, move |is_closing| calls.send(is_closing).unwrap());
    closing.resume();
    assert_eq!(received.recv_timeout(LIMIT), Ok(true));
    assert_eq!(
        received.recv_timeout(LIMIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
}

#[test]
fn after_scheduled_on_a_closed_timer_runs_at_once_with_is_closing_true() {
    let (timer, closing) = timer();
    closing.resume();
    let (calls, received) = mpsc::channel();
    timer.after(HOUR, move |is_closing| calls.send(is_closing).unwrap());
    assert_eq!(received.recv_timeout(LIMIT), Ok(true));
}

#[test]
fn cleared_after_never_runs() {
    let (timer, closing) = timer();
    let (calls, received) = mpsc::channel();
    let id = timer.after(HOUR, move |is_closing| calls.send(is_closing).unwrap());
    assert!(timer.clear(id));
    closing.resume(); // not even the closing run
    // The timer's coroutine ends and drops the callback without calling it.
    assert_eq!(
        received.recv_timeout(LIMIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert_eq!(timer.stats().fired, 0);
    assert_eq!(timer.stats().cleared, 1);
}

#[test]
fn tick_that_stops_on_its_tenth_call_runs_exactly_ten_times() {
    let (timer, _closing) = timer();
    let (calls, received) = mpsc::channel();
    let mut count = 0;
    timer.tick(Duration::from_millis(1), move |is_closing| {
        count += 1;
        calls.send(is_closing).unwrap();
        if count == 10 {
            TickControl::Stop
        } else {
            TickControl::Continue
        }
    });
    let mut seen = Vec::new();
    while let Ok(is_closing) = received.recv_timeout(LIMIT) {
        seen.push(is_closing);
    }
    assert_eq!(seen, [false; 10]);
    assert_eq!(timer.stats().active, 0);
}

#[test]
fn tick_runs_one_last_time_with_is_closing_true_when_closing_resumes() {
    let (timer, closing) = timer();
    let (calls, received) = mpsc::channel();
    timer.tick(HOUR, move |is_closing| {
        calls.send(is_closing).unwrap();
        TickControl::Continue
    });
    closing.resume();
    assert_eq!(received.recv_timeout(LIMIT), Ok(true));
    assert_eq!(
        received.recv_timeout(LIMIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
}

#[test]
fn cleared_tick_stops_ticking() {
    let (timer, _closing) = timer();
    let (calls, received) = mpsc::channel();
    let id = timer.tick(Duration::from_millis(1), move |_| {
        calls.send(()).unwrap();
        TickControl::Continue
    });
    received.recv_timeout(LIMIT).unwrap();
    assert!(timer.clear(id));
    // At most the call in flight when `clear` ran, then the callback is dropped.
    while received.recv_timeout(LIMIT).is_ok() {}
    assert_eq!(timer.stats().active, 0);
}

#[test]
fn until_runs_when_closing_resumes() {
    let (timer, closing) = timer();
    let (calls, received) = mpsc::channel();
    timer.until(move |is_closing| calls.send(is_closing).unwrap());
    assert_eq!(timer.stats().active, 1);
    closing.resume();
    assert_eq!(received.recv_timeout(LIMIT), Ok(true));
}

#[test]
fn clear_of_an_unknown_id_is_harmless() {
    let (timer, _closing) = timer();
    let (calls, received) = mpsc::channel();
    let id = timer.after(Duration::from_millis(1), move |_| calls.send(()).unwrap());
    received.recv_timeout(LIMIT).unwrap();
    eventually(LIMIT, "the timer finishes", || timer.stats().active == 0);
    assert!(!timer.clear(id), "a finished timer is no longer pending");
    assert!(
        !Timer::with_closing(Coordinator::new()).clear(id),
        "an id of another timer"
    );
}

#[test]
fn clear_all_stops_every_pending_timer() {
    let (timer, closing) = timer();
    let (calls, received) = mpsc::channel::<()>();
    for _ in 0..5 {
        let calls = calls.clone();
        timer.after(HOUR, move |_| calls.send(()).unwrap());
    }
    drop(calls);
    assert_eq!(timer.clear_all(), 5);
    closing.resume();
    assert_eq!(
        received.recv_timeout(LIMIT),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert_eq!(timer.stats().active, 0);
}

#[test]
fn panicking_callback_is_counted_and_its_tick_goes_on() {
    let (timer, closing) = timer();
    let (calls, received) = mpsc::channel();
    let mut count = 0;
    timer.tick(Duration::from_millis(1), move |_| {
        count += 1;
        if count == 1 {
            panic!("first tick fails");
        }
        calls.send(count).unwrap();
        TickControl::Stop
    });
    assert_eq!(received.recv_timeout(LIMIT), Ok(2));
    assert_eq!(timer.stats().panicked, 1);

    // The service still runs other timers.
    let (calls, received) = mpsc::channel();
    timer.after(HOUR, move |is_closing| calls.send(is_closing).unwrap());
    closing.resume();
    assert_eq!(received.recv_timeout(LIMIT), Ok(true));
}

#[test]
fn worker_exit_is_the_default_closing_coordinator() {
    setup();
    let timer = Timer::new();
    assert!(
        timer
            .closing()
            .ptr_eq(&coordinator::CoordinatorManager::until(
                coordinator::constants::WORKER_EXIT
            ))
    );
}

#[test]
fn runner_surrounds_every_tick_call() {
    setup();
    let (events, received) = mpsc::channel();
    let around = events.clone();
    let timer = Timer::with_runner(Coordinator::new(), move |call| {
        around.send("before").unwrap();
        call.run();
        around.send("after").unwrap();
    });
    let mut calls = 0;
    timer.tick(Duration::from_millis(1), move |_| {
        calls += 1;
        events.send("tick").unwrap();
        if calls == 2 {
            TickControl::Stop
        } else {
            TickControl::Continue
        }
    });
    let seen: Vec<_> = (0..6)
        .map(|_| received.recv_timeout(LIMIT).unwrap())
        .collect();
    assert_eq!(seen, ["before", "tick", "after", "before", "tick", "after"]);
    eventually(LIMIT, "the tick finishes", || timer.stats().active == 0);
    assert_eq!(timer.stats().fired, 2);
}

#[test]
fn runner_that_skips_a_call_counts_it_fired_and_the_tick_goes_on() {
    setup();
    let skip = std::sync::atomic::AtomicBool::new(true);
    let timer = Timer::with_runner(Coordinator::new(), move |call| {
        if !skip.swap(false, std::sync::atomic::Ordering::SeqCst) {
            call.run();
        }
    });
    let (calls, received) = mpsc::channel();
    timer.tick(Duration::from_millis(1), move |_| {
        calls.send(()).unwrap();
        TickControl::Stop
    });
    assert_eq!(received.recv_timeout(LIMIT), Ok(()));
    eventually(LIMIT, "the tick finishes", || timer.stats().active == 0);
    assert_eq!(
        timer.stats().fired,
        2,
        "the skipped call and the one that ran"
    );
}

#[test]
fn panic_through_the_runner_is_counted_and_the_service_goes_on() {
    let closing = Coordinator::new();
    setup();
    let (unwound, received_unwind) = mpsc::channel();
    let timer = Timer::with_runner(closing.clone(), move |call| {
        struct Guard(mpsc::Sender<()>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.send(()).unwrap();
            }
        }
        let _guard = Guard(unwound.clone());
        call.run();
    });
    timer.after(Duration::from_millis(1), |_| panic!("callback fails"));
    assert_eq!(
        received_unwind.recv_timeout(LIMIT),
        Ok(()),
        "the runner unwound"
    );
    eventually(LIMIT, "the panic is counted", || {
        timer.stats().panicked == 1
    });
    let (calls, received) = mpsc::channel();
    timer.after(HOUR, move |is_closing| calls.send(is_closing).unwrap());
    closing.resume();
    assert_eq!(received.recv_timeout(LIMIT), Ok(true));
}
