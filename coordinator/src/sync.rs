//! The primitives the wait queue is built from, swapped for `loom`'s under `--cfg loom`.
//!
//! A normal build gets std's `Arc` and atomics, `parking_lot`'s mutex and may's `Blocker`, which
//! parks a coroutine or an OS thread. Under `--cfg loom` (`RUSTFLAGS="--cfg loom" cargo test -p
//! coordinator --lib loom`) they are loom's, so the model check in `wait_list.rs` explores every
//! interleaving of the queue's locks, atomics and reference counts. The loom blocker keeps may's
//! contract: an `unpark` that comes before the `park` is kept, and the next `park` returns at once.

#[cfg(loom)]
pub(crate) use imp_loom::*;
#[cfg(not(loom))]
pub(crate) use imp_std::*;

#[cfg(not(loom))]
mod imp_std {
    pub(crate) use may::sync::Blocker;
    pub(crate) use parking_lot::Mutex;
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
    pub(crate) use std::thread_local;

    /// Whether the caller is a may coroutine (else a plain OS thread).
    pub(crate) fn in_coroutine() -> bool {
        may::coroutine::is_coroutine()
    }

    type Remains = Box<dyn Send>;

    /// Drops `value` on a thread of this crate (`coordinator-drop`, started on first use)
    /// rather than on the caller: for what a coroutine being cancelled must not drop itself
    /// (`wait_list.rs`, `HeldCell`). Never blocks the caller.
    pub(crate) fn drop_elsewhere<T: Send + 'static>(value: T) {
        static DROPPER: parking_lot::Mutex<Option<std::sync::mpsc::Sender<Remains>>> =
            parking_lot::Mutex::new(None);
        let mut dropper = DROPPER.lock();
        let sender = dropper.get_or_insert_with(|| {
            let (sender, remains) = std::sync::mpsc::channel::<Remains>();
            let started = std::thread::Builder::new()
                .name("coordinator-drop".into())
                .spawn(move || remains.into_iter().for_each(drop));
            if started.is_err() {
                log::error!("coordinator: no thread to drop cancelled waits' cells on; they leak");
            }
            sender
        });
        if let Err(unsent) = sender.send(Box::new(value)) {
            // No dropper thread: leaking is safe, dropping here could spin.
            std::mem::forget(unsent.0);
        }
    }
}

#[cfg(loom)]
mod imp_loom {
    use std::time::Duration;

    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
    pub(crate) use loom::thread_local;

    /// The model runs every waiter as a coroutine does: parked without a timeout, timed out by
    /// the deadline thread (the model's stand-in for it is `deadline_model.rs`).
    pub(crate) fn in_coroutine() -> bool {
        true
    }

    /// The model has no may park to protect: drop in place.
    pub(crate) fn drop_elsewhere<T>(value: T) {
        drop(value);
    }

    /// `parking_lot`'s locking interface over loom's mutex.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0
                .lock()
                .expect("no model thread panics while holding the lock")
        }
    }

    /// may's `Blocker` contract on loom's primitives: one pending unpark is remembered.
    #[derive(Debug)]
    pub(crate) struct Blocker {
        unparked: loom::sync::Mutex<bool>,
        woken: loom::sync::Condvar,
    }

    impl Blocker {
        pub(crate) fn new(_ignore_cancel: bool) -> Self {
            Blocker {
                unparked: loom::sync::Mutex::new(false),
                woken: loom::sync::Condvar::new(),
            }
        }

        pub(crate) fn park(&self, timeout: Option<Duration>) -> Result<(), ()> {
            assert!(timeout.is_none(), "model waits park without a timeout");
            let mut unparked = self.unparked.lock().unwrap();
            while !*unparked {
                unparked = self.woken.wait(unparked).unwrap();
            }
            *unparked = false;
            Ok(())
        }

        pub(crate) fn unpark(&self) {
            *self.unparked.lock().unwrap() = true;
            self.woken.notify_one();
        }
    }
}
