//! `Config::idle_coroutines(0)` turns the reuse of coroutines off. A process of its own: the
//! capacity is set before the first spawn.

use std::cell::RefCell;
use std::sync::mpsc;

mod common;

use common::LIMIT;

/// Left in the coroutine by its task: reports when the coroutine ends.
struct ReportsEnd(mpsc::Sender<()>);

impl Drop for ReportsEnd {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

may::coroutine_local!(static END: RefCell<Option<ReportsEnd>> = RefCell::new(None));

#[test]
fn with_no_idle_capacity_a_coroutine_ends_with_its_task() {
    runtime::configure(runtime::Config::default().workers(2).idle_coroutines(0)).unwrap();
    let (ended, coroutine_ended) = mpsc::channel();
    runtime::spawn(move || END.with(|end| *end.borrow_mut() = Some(ReportsEnd(ended))))
        .join()
        .unwrap();
    coroutine_ended.recv_timeout(LIMIT).unwrap();
    assert_eq!(runtime::stats().idle, 0);
}
