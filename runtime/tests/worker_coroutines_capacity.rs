//! The pool of idle worker coroutines stays within `Config::idle_coroutines`. A process of its
//! own: the capacity is set before the first spawn.

use std::sync::mpsc;

mod common;

use common::{LIMIT, eventually, report_coroutine_end};

#[test]
fn idle_worker_coroutines_beyond_the_capacity_end() {
    runtime::configure(runtime::Config::default().workers(2).idle_coroutines(2)).unwrap();
    const TASKS: usize = 10;
    let (ended, coroutine_ended) = mpsc::channel();
    // All ten are held until all have started, so they run on ten coroutines at once.
    let all_started = runtime::Barrier::new();
    let release = coordinator::Coordinator::new();
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let ended = ended.clone();
            let token = all_started.token();
            let release = release.clone();
            runtime::spawn(move || {
                report_coroutine_end(ended);
                drop(token);
                release.r#yield();
            })
        })
        .collect();
    assert!(all_started.wait(Some(LIMIT)));
    release.resume();
    for handle in handles {
        handle.join().unwrap();
    }
    for _ in 0..TASKS - 2 {
        coroutine_ended.recv_timeout(LIMIT).unwrap();
    }
    eventually(LIMIT, "two coroutines are idle", || {
        runtime::stats().idle == 2
    });
    assert!(coroutine_ended.try_recv().is_err(), "only eight ended");
}
