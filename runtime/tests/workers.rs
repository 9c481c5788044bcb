//! The worker pool: event order, pipe messages, recycling, reload and shutdown.
//!
//! Every pool here uses coordinators of its own (`process_coordinators(false)`) and leaves
//! signals alone, so the tests can run in parallel; the process-wide coordinators and signals
//! have test binaries of their own.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{LIMIT, eventually, setup, within};
use coordinator::Coordinator;
use runtime::{Worker, WorkerError, WorkerPool, Workers};

/// What the callbacks saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    ManagerStart,
    Start(usize, u64),
    Stop(usize, u64),
    Exit(usize, u64),
    Message(usize, Option<usize>, u32),
    Shutdown,
}

type Events = Arc<Mutex<Vec<Event>>>;

/// A pool of `workers` whose every callback records its event.
fn recorded(workers: usize) -> (Workers<u32>, Events) {
    setup();
    let events: Events = Arc::default();
    let record = |events: &Events| {
        let events = Arc::clone(events);
        move |event: Event| events.lock().unwrap().push(event)
    };
    let (a, b, c, d, e, f) = (
        record(&events),
        record(&events),
        record(&events),
        record(&events),
        record(&events),
        record(&events),
    );
    let builder = Workers::new()
        .worker_num(workers)
        .handle_signals(false)
        .process_coordinators(false)
        .on_manager_start(move || a(Event::ManagerStart))
        .on_worker_start(move |w: &Worker<u32>| b(Event::Start(w.id(), w.generation())))
        .on_worker_stop(move |w: &Worker<u32>| c(Event::Stop(w.id(), w.generation())))
        .on_worker_exit(move |w: &Worker<u32>| d(Event::Exit(w.id(), w.generation())))
        .on_pipe_message(move |w: &Worker<u32>, from, n| e(Event::Message(w.id(), from, n)))
        .on_shutdown(move || f(Event::Shutdown));
    (builder, events)
}

fn started(builder: Workers<u32>) -> WorkerPool<u32> {
    let pool = builder.start().unwrap();
    assert!(
        pool.worker_start().yield_timeout(LIMIT),
        "the workers started"
    );
    pool
}

fn shut_down(pool: WorkerPool<u32>) -> runtime::ShutdownReport {
    pool.shutdown();
    within(LIMIT, move || pool.wait())
}

fn snapshot(events: &Events) -> Vec<Event> {
    events.lock().unwrap().clone()
}

#[test]
fn events_fire_in_the_seeds_order() {
    let (builder, events) = recorded(2);
    let pool = started(builder);
    shut_down(pool);
    use Event::*;
    assert_eq!(
        snapshot(&events),
        [
            ManagerStart,
            Start(0, 0),
            Start(1, 0),
            Stop(0, 0),
            Stop(1, 0),
            Exit(0, 0),
            Exit(1, 0),
            Shutdown
        ]
    );
}

#[test]
fn worker_start_is_resumed_after_every_start_callback_returned() {
    setup();
    let started_callbacks = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&started_callbacks);
    let pool = Workers::<u32>::new()
        .worker_num(3)
        .handle_signals(false)
        .process_coordinators(false)
        .on_worker_start(move |_| {
            // A slow start: the gate must still wait for it.
            may::coroutine::sleep(Duration::from_millis(5));
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .start()
        .unwrap();
    let gate = pool.worker_start().clone();
    let seen = runtime::spawn(move || {
        gate.r#yield();
        started_callbacks.load(Ordering::SeqCst)
    });
    assert_eq!(within(LIMIT, move || seen.join().unwrap()), 3);
    shut_down(pool);
}

#[test]
fn each_workers_own_started_coordinator_is_resumed() {
    let (builder, _) = recorded(2);
    let pool = started(builder);
    for id in 0..2 {
        assert!(pool.worker(id).unwrap().started().is_closing());
    }
    shut_down(pool);
}

#[test]
fn pipe_messages_between_workers_arrive_in_order() {
    let (builder, events) = recorded(2);
    let pool = started(builder);
    let sender = pool.worker(0).unwrap();
    for n in 0..100 {
        sender.send_message(1, n).unwrap();
    }
    let delivered = || {
        snapshot(&events)
            .into_iter()
            .filter_map(|e| match e {
                Event::Message(to, from, n) => Some((to, from, n)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    eventually(LIMIT, "all 100 messages arrive", || {
        delivered().len() == 100
    });
    let expected: Vec<_> = (0..100).map(|n| (1, Some(0), n)).collect();
    assert_eq!(delivered(), expected);
    shut_down(pool);
}

#[test]
fn a_message_from_outside_the_pool_has_no_sender() {
    let (builder, events) = recorded(1);
    let pool = started(builder);
    pool.send_message(0, 7).unwrap();
    eventually(LIMIT, "the message arrives", || {
        snapshot(&events).contains(&Event::Message(0, None, 7))
    });
    shut_down(pool);
}

#[test]
fn a_message_to_an_unknown_worker_is_refused() {
    let (builder, _) = recorded(1);
    let pool = started(builder);
    assert_eq!(pool.send_message(5, 1), Err(WorkerError::NoSuchWorker(5)));
    shut_down(pool);
}

#[test]
fn max_request_recycles_only_that_worker() {
    let (builder, events) = recorded(2);
    let pool = started(builder.max_request(3));
    let worker = pool.worker(0).unwrap();
    for _ in 0..3 {
        worker.request_done();
    }
    eventually(LIMIT, "worker 0 starts again", || {
        pool.worker(0)
            .is_some_and(|w| w.generation() == 1 && w.started().is_closing())
    });
    assert!(
        !worker.is_accepting(),
        "the old generation takes no more work"
    );
    assert!(
        pool.worker(1).unwrap().generation() == 0,
        "worker 1 was not recycled"
    );
    let after_start: Vec<_> = snapshot(&events).into_iter().skip(3).collect();
    use Event::*;
    assert_eq!(after_start, [Stop(0, 0), Exit(0, 0), Start(0, 1)]);
    shut_down(pool);
}

#[test]
fn requests_keep_being_served_while_a_worker_recycles() {
    let (builder, _) = recorded(2);
    let pool = started(builder.max_request(1));
    let recycled = pool.worker(0).unwrap();
    // Worker 0's in-flight request holds its recycle open until worker 1 has served one.
    let (served_elsewhere, hold) = (Coordinator::new(), Coordinator::new());
    let held = hold.clone();
    recycled.spawn(move || held.r#yield()).unwrap();
    recycled.request_done();
    eventually(LIMIT, "worker 0 stops accepting", || {
        !recycled.is_accepting()
    });
    let other = pool.worker(1).unwrap();
    let done = served_elsewhere.clone();
    other.spawn(move || done.resume()).unwrap();
    assert!(served_elsewhere.yield_timeout(LIMIT));
    hold.resume();
    eventually(LIMIT, "worker 0 is back", || {
        pool.worker(0).is_some_and(|w| w.generation() == 1)
    });
    shut_down(pool);
}

#[test]
fn reload_recycles_every_worker() {
    let (builder, events) = recorded(2);
    let pool = started(builder);
    pool.reload();
    eventually(LIMIT, "both workers restart", || {
        (0..2).all(|id| pool.worker(id).is_some_and(|w| w.generation() == 1))
    });
    let after_start: Vec<_> = snapshot(&events).into_iter().skip(3).collect();
    use Event::*;
    assert_eq!(
        after_start,
        [
            Stop(0, 0),
            Exit(0, 0),
            Start(0, 1),
            Stop(1, 0),
            Exit(1, 0),
            Start(1, 1)
        ]
    );
    shut_down(pool);
}

#[test]
fn graceful_shutdown_drains_finishing_work_and_cancels_endless_work() {
    setup();
    let release = Coordinator::new();
    let on_exit = release.clone();
    let pool = Workers::<u32>::new()
        .worker_num(1)
        .handle_signals(false)
        .process_coordinators(false)
        .max_wait_time(Duration::from_secs(2))
        // Work that finishes once the exit phase has begun: it must be waited for.
        .on_worker_exit(move |_| on_exit.resume())
        .start()
        .unwrap();
    assert!(pool.worker_start().yield_timeout(LIMIT));
    let worker = pool.worker(0).unwrap();
    let finished = Arc::new(AtomicUsize::new(0));
    let (short, endless_unwound) = (Arc::clone(&finished), Arc::new(AtomicUsize::new(0)));
    let short_release = release.clone();
    worker
        .spawn(move || {
            short_release.r#yield();
            short.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let unwound = Arc::clone(&endless_unwound);
    worker
        .spawn(move || {
            let unwound = Arc::clone(&unwound);
            runtime::defer(move || {
                unwound.fetch_add(1, Ordering::SeqCst);
            });
            Coordinator::new().r#yield(); // never resumed
        })
        .unwrap();
    let report = shut_down(pool);
    assert_eq!(
        (report.drained, report.cancelled, report.abandoned),
        (1, 1, 0)
    );
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    assert_eq!(
        endless_unwound.load(Ordering::SeqCst),
        1,
        "the cancelled work's defers ran"
    );
}

#[test]
fn shutdown_now_cancels_in_flight_work_at_once() {
    let (builder, _) = recorded(1);
    let pool = started(builder.max_wait_time(Duration::from_secs(3600)));
    pool.worker(0)
        .unwrap()
        .spawn(|| Coordinator::new().r#yield())
        .unwrap();
    pool.shutdown_now();
    let report = within(LIMIT, move || pool.wait());
    assert_eq!((report.drained, report.cancelled), (0, 1));
}

#[test]
fn shutdown_now_lets_idle_message_dispatchers_end_on_their_own() {
    // An immediate shutdown's deadline is now; a dispatcher waiting for messages is woken and
    // leaves by itself rather than being cancelled as its park wakes (a may hazard).
    for round in 0..30 {
        let (builder, events) = recorded(2);
        let pool = started(builder);
        pool.send_message(1, round).unwrap();
        eventually(LIMIT, "the message is handled", || {
            events
                .lock()
                .unwrap()
                .contains(&Event::Message(1, None, round))
        });
        pool.shutdown_now();
        within(LIMIT, move || pool.wait());
    }
}

#[test]
fn a_workers_exiting_coordinator_breaks_its_loops() {
    let (builder, _) = recorded(1);
    let pool = started(builder.max_wait_time(Duration::from_secs(3600)));
    let worker = pool.worker(0).unwrap();
    let exiting = worker.exiting().clone();
    let rounds = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&rounds);
    worker
        .spawn(move || {
            loop {
                counted.fetch_add(1, Ordering::SeqCst);
                if exiting.yield_timeout(Duration::from_secs(3600)) {
                    return;
                }
            }
        })
        .unwrap();
    let report = shut_down(pool);
    assert_eq!((report.drained, report.cancelled), (1, 0));
    assert_eq!(rounds.load(Ordering::SeqCst), 1);
}

#[test]
fn a_stopped_worker_refuses_new_work_and_a_stopped_pool_refuses_messages() {
    let (builder, _) = recorded(1);
    let pool = started(builder);
    let worker = pool.worker(0).unwrap();
    pool.shutdown();
    eventually(LIMIT, "the pool stops", || pool.is_stopped());
    assert_eq!(worker.spawn(|| ()).err(), Some(WorkerError::NotAccepting));
    assert_eq!(worker.send_message(0, 1), Err(WorkerError::PoolStopped));
    assert_eq!(pool.send_message(0, 1), Err(WorkerError::PoolStopped));
}

#[test]
fn a_panicking_callback_is_logged_and_the_lifecycle_goes_on() {
    setup();
    let pool = Workers::<u32>::new()
        .worker_num(2)
        .handle_signals(false)
        .process_coordinators(false)
        .on_worker_start(|w| assert_ne!(w.id(), 0, "worker 0's start fails"))
        .start()
        .unwrap();
    assert!(pool.worker_start().yield_timeout(LIMIT));
    assert!(pool.worker(0).unwrap().is_accepting());
    shut_down(pool);
}

#[test]
fn a_pool_needs_a_worker() {
    setup();
    let result = Workers::<u32>::new()
        .worker_num(0)
        .handle_signals(false)
        .start();
    assert!(matches!(result, Err(runtime::WorkersError::NoWorkers)));
}
