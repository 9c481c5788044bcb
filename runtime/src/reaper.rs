//! Dropping, on a thread of this crate, what a coroutine must not drop itself: the last handle
//! to a may coroutine, at its end.
//!
//! may 0.3.51 can run a coroutine *inside* the `Park::subscribe` of the park it is parking on
//! (an unpark that lands just as it parks), with that park's `wait_kernel` flag held for the
//! length of `subscribe`. If the coroutine ends during that run — a cancelled task makes its
//! coroutine retire at once, without another switch out — may drops the coroutine's local
//! storage there, and with it the coroutine's own handle. Were that the last handle, its park
//! (`may::coroutine::park`'s) would be dropped while its own `subscribe` is lower on the same
//! stack: `Park::drop` waits for the flag with `yield_now()`, which on the scheduler's stack is
//! a plain `sched_yield`, and `subscribe` never gets back to clear it. The worker thread spins
//! for good. (Seen in `tests/cancel_race.rs` with a gdb backtrace: `Park::drop` ←
//! `Done::drop_coroutine` ← `run_coroutine` ← `Park::fast_wake_up` ← `Park::subscribe`.)
//!
//! So every coroutine of this crate keeps a second handle to itself in a `coroutine_local!`,
//! which may drops after the handle of its own (fields drop in order), and whose `Drop` sends
//! it here. The last handle is then dropped on the reaper thread, which waits at most until the
//! scheduler's `subscribe` returns — right after the coroutine's storage is gone.

use std::sync::mpsc;

use parking_lot::Mutex;

type Remains = Box<dyn Send>;

static REAPER: Mutex<Option<mpsc::Sender<Remains>>> = Mutex::new(None);

/// Drops `value` on the reaper thread (`hyperf-reaper`, started on first use). Never blocks on
/// anything but a short lock; if no thread can be started, `value` is leaked rather than
/// dropped here.
pub(crate) fn drop_elsewhere<T: Send + 'static>(value: T) {
    let mut reaper = REAPER.lock();
    let sender = reaper.get_or_insert_with(|| {
        let (sender, remains) = mpsc::channel::<Remains>();
        let started = std::thread::Builder::new()
            .name("hyperf-reaper".into())
            .spawn(move || remains.into_iter().for_each(drop));
        if started.is_err() {
            log::error!("runtime: no reaper thread; ended coroutines' handles leak");
        }
        sender
    });
    if let Err(unsent) = sender.send(Box::new(value)) {
        std::mem::forget(unsent.0);
    }
}

/// A coroutine's handle to itself that goes to the reaper when the coroutine's storage is
/// dropped.
struct OwnHandle(Option<may::coroutine::Coroutine>);

impl Drop for OwnHandle {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            drop_elsewhere(handle);
        }
    }
}

may::coroutine_local!(static OWN_HANDLE: std::cell::RefCell<OwnHandle> = std::cell::RefCell::new(OwnHandle(None)));

/// Called once by each coroutine of this crate when it starts, with its own handle.
pub(crate) fn keep_own_handle(handle: &may::coroutine::Coroutine) {
    OWN_HANDLE.with(|own| own.borrow_mut().0 = Some(handle.clone()));
}
