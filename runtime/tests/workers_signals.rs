//! SIGTERM shuts a pool down gracefully (a binary of its own: signals are process-wide).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{LIMIT, setup, within};
use runtime::Workers;

#[test]
fn sigterm_shuts_the_pool_down_gracefully() {
    setup();
    let stops = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&stops);
    let pool = Workers::<()>::new()
        .worker_num(2)
        .process_coordinators(false)
        .on_worker_stop(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .start()
        .unwrap();
    assert!(pool.worker_start().yield_timeout(LIMIT));
    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
    let report = within(LIMIT, move || pool.wait());
    assert_eq!(report.cancelled, 0);
    assert_eq!(stops.load(Ordering::SeqCst), 2);
}
