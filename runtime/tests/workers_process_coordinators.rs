//! The pool resumes the process-wide `WORKER_START` and `WORKER_EXIT` (a binary of its own:
//! they are process-wide).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{LIMIT, setup, within};
use coordinator::CoordinatorManager;
use coordinator::constants::{WORKER_EXIT, WORKER_START};
use runtime::Workers;

#[test]
fn process_wide_worker_start_waits_for_every_start_and_worker_exit_marks_the_shutdown() {
    setup();
    let starts = Arc::new(AtomicUsize::new(0));
    // A request that arrives before the workers are up.
    let seen_starts = Arc::clone(&starts);
    let request = runtime::spawn(move || {
        CoordinatorManager::until(WORKER_START).r#yield();
        seen_starts.load(Ordering::SeqCst)
    });
    let counter = Arc::clone(&starts);
    let pool = Workers::<()>::new()
        .worker_num(2)
        .handle_signals(false)
        .on_worker_start(move |_| {
            may::coroutine::sleep(Duration::from_millis(5));
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .start()
        .unwrap();
    assert_eq!(within(LIMIT, move || request.join().unwrap()), 2);
    assert!(
        pool.worker_start()
            .ptr_eq(&CoordinatorManager::until(WORKER_START))
    );

    // A background loop on the process-wide WORKER_EXIT breaks when shutdown begins.
    let background = runtime::spawn(|| {
        let mut rounds = 0;
        while !CoordinatorManager::until(WORKER_EXIT).yield_timeout(Duration::from_secs(3600)) {
            rounds += 1;
        }
        rounds
    });
    pool.shutdown();
    assert_eq!(within(LIMIT, move || background.join().unwrap()), 0);
    within(LIMIT, move || pool.wait());
}
