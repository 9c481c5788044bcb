//! `Config::idle_coroutines(0)` turns the reuse of coroutines off. A process of its own: the
//! capacity is set before the first spawn.

use std::sync::mpsc;

mod common;

use common::{LIMIT, report_coroutine_end};

#[test]
fn with_no_idle_capacity_a_coroutine_ends_with_its_task() {
    runtime::configure(runtime::Config::default().workers(2).idle_coroutines(0)).unwrap();
    let (ended, coroutine_ended) = mpsc::channel();
    runtime::spawn(move || report_coroutine_end(ended))
        .join()
        .unwrap();
    coroutine_ended.recv_timeout(LIMIT).unwrap();
    assert_eq!(runtime::stats().idle, 0);
}
