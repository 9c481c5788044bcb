//! The per-coroutine frame — id, parent, defers, context — and the coroutine-local pointer to
//! the current one.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use crate::context_store::ContextCell;
use crate::deferred::Deferred;
use crate::panic::{is_cancellation, panic_message};

/// The per-coroutine state of a coroutine (or a scope) of this crate. Its owner keeps it for
/// exactly as long as the coroutine runs — a coroutine on its own stack, an open scope in its
/// `OpenScope` — and may's coroutine-local storage points at it while it is current.
pub(crate) struct Frame {
    id: u64,
    /// Set once, before the frame first becomes current (see `run_as_child`).
    parent: Cell<u64>,
    /// Only this coroutine touches its defers, so no lock.
    defers: RefCell<Defers>,
    context: ContextCell,
    /// For a task's frame, whether its coroutine must end with it (`retire_coroutine`);
    /// `None` for a scope's, which has no coroutine of its own.
    retire: Cell<Option<bool>>,
}

may::coroutine_local!(static CURRENT: Cell<*const Frame> = Cell::new(ptr::null()));

/// A frame's defers, in the order they were registered. The first is kept in place: most
/// coroutines and requests that defer anything defer one thing, and a vector would allocate
/// for it.
#[derive(Default)]
struct Defers {
    /// The earliest defer not yet run; `None` only when `rest` is empty too.
    first: Option<Deferred>,
    /// The later ones.
    rest: Vec<Deferred>,
}

impl Defers {
    #[cfg(test)]
    fn push(&mut self, deferred: Deferred) {
        if self.first.is_none() {
            self.first = Some(deferred);
        } else {
            self.rest.push(deferred);
        }
    }

    /// Pushes a defer of `f`. A later one is built where it is stored (`Deferred::write_to`
    /// says why).
    #[inline]
    fn push_new<F: FnOnce() + 'static>(&mut self, f: F) {
        if self.first.is_none() {
            self.first = Some(Deferred::new(f));
            return;
        }
        self.rest.reserve(1);
        let len = self.rest.len();
        // SAFETY: `reserve` made room for one more, so the slot at `len` is inside the
        // allocation, aligned and unused; it holds a whole `Deferred` once `write_to` returns,
        // and only then does the length count it.
        unsafe {
            Deferred::write_to(self.rest.as_mut_ptr().add(len), f);
            self.rest.set_len(len + 1);
        }
    }

    /// The latest defer not yet run.
    fn pop(&mut self) -> Option<Deferred> {
        self.rest.pop().or_else(|| self.first.take())
    }
}

/// Calls `f` with the current coroutine's frame, or `None` outside a coroutine of this crate.
#[inline]
pub(crate) fn with_frame<R>(f: impl FnOnce(Option<&Frame>) -> R) -> R {
    let frame = CURRENT.with(Cell::get);
    // SAFETY: only `Frame::run_current` writes `CURRENT`: it points it at a frame it borrows for
    // the whole call (so that frame can neither move nor drop meanwhile) and, through
    // `Restore`, puts the enclosing pointer back before the borrow ends, also when unwinding.
    // So the pointers stack like the calls, and a non-null one belongs to a call still running.
    // Coroutine-local storage is only reachable from the coroutine itself (and a frame is not
    // `Send`), so that call is on this coroutine's stack: the frame is live.
    f(unsafe { frame.as_ref() })
}

/// Makes the enclosing frame current again however `Frame::run_current` is left.
struct Restore(*const Frame);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.0));
    }
}

impl Frame {
    /// A task's frame, with no defers and an empty context.
    pub(crate) fn new(id: u64, parent: u64) -> Self {
        Frame {
            id,
            parent: Cell::new(parent),
            defers: RefCell::new(Defers::default()),
            context: ContextCell::default(),
            retire: Cell::new(Some(false)),
        }
    }

    /// A scope's frame (`scope_open`): a task's, but for the coroutine it does not own.
    pub(crate) fn for_scope(id: u64) -> Self {
        let frame = Frame::new(id, 0);
        frame.retire.set(None);
        frame
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn parent(&self) -> u64 {
        self.parent.get()
    }

    /// Asks that the coroutine end with this frame's task rather than be reused; `false` for
    /// a scope's frame.
    pub(crate) fn retire(&self) -> bool {
        let is_task = self.retire.get().is_some();
        if is_task {
            self.retire.set(Some(true));
        }
        is_task
    }

    pub(crate) fn retires(&self) -> bool {
        self.retire.get() == Some(true)
    }

    pub(crate) fn context(&self) -> &ContextCell {
        &self.context
    }

    #[inline]
    pub(crate) fn push_defer<F: FnOnce() + 'static>(&self, f: F) {
        self.defers.borrow_mut().push_new(f);
    }

    /// Runs `f` with this frame as the current one, as a child of the frame current until now
    /// (its parent becomes that frame's id, or 0 if there is none), then makes that frame (or
    /// none) current again. Cheaper than `Frame::new` with `runtime::id()` as the parent and
    /// then `run_current`: one coroutine-local lookup both reads the parent and makes this frame
    /// current.
    // Inlined: the result (a whole response, for a request) is not moved once more.
    #[inline]
    pub(crate) fn run_as_child<R>(&self, f: impl FnOnce() -> R) -> R {
        let enclosing = CURRENT.with(|current| {
            let enclosing = current.get();
            // SAFETY: as in `with_frame`: a non-null `CURRENT` points at a live frame.
            self.parent
                .set(unsafe { enclosing.as_ref() }.map_or(0, Frame::id));
            current.set(self);
            enclosing
        });
        let _restore = Restore(enclosing);
        f()
    }

    /// Runs `f` with this frame as the current one, then makes the enclosing one (or none)
    /// current again.
    pub(crate) fn run_current<R>(&self, f: impl FnOnce() -> R) -> R {
        let _restore = Restore(CURRENT.with(|current| current.replace(self)));
        f()
    }

    /// A coroutine's or scope's end: its defers with the frame current again, then its context
    /// released.
    pub(crate) fn end(mut self, cancelled: bool) {
        // No defers to run and no context to release (a request that used neither): making the
        // frame current for nothing would cost two coroutine-local lookups.
        if self.defers.get_mut().first.is_none() && !self.context.is_used() {
            // Nothing was ever deferred (the first defer fills `first`, and only this end
            // empties it), so the vector never allocated: skipping its drop glue is no leak,
            // and it was 30 instructions of an engine request.
            let defers = self.defers.into_inner();
            debug_assert_eq!(defers.rest.capacity(), 0);
            std::mem::forget(defers);
            return;
        }
        let buffer = self.run_current(|| {
            self.run_defers(cancelled);
            // Defers could still read the context; nothing can after this.
            self.context.release(self.id)
        });
        self.context.recycle(buffer);
    }

    /// Pops and runs defers until none is left, so a defer registered by a running defer runs
    /// next (Hyperf's order).
    fn run_defers(&self, cancelled: bool) {
        loop {
            // The borrow ends before the defer runs: it may register more.
            let Some(deferred) = self.defers.borrow_mut().pop() else {
                return;
            };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| deferred.run())) {
                if cancelled && is_cancellation(&payload) {
                    // After a cancellation, may's next yield point unwinds again.
                    log::debug!(
                        "coroutine {}: a defer was cut short by cancellation",
                        self.id
                    );
                } else {
                    log::error!(
                        "coroutine {}: a defer panicked: {}",
                        self.id,
                        panic_message(&payload)
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    fn logging(log: &Rc<RefCell<Vec<u32>>>, n: u32) -> Deferred {
        let log = Rc::clone(log);
        Deferred::new(move || log.borrow_mut().push(n))
    }

    #[test]
    fn a_single_defer_is_kept_without_a_vector() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut defers = Defers::default();
        defers.push(logging(&log, 1));
        assert_eq!(defers.rest.capacity(), 0);
        defers.pop().unwrap().run();
        assert!(defers.pop().is_none());
        assert_eq!(*log.borrow(), [1]);
    }

    #[test]
    fn defers_pop_latest_first_also_when_pushed_between_pops() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut defers = Defers::default();
        for n in 1..=3 {
            defers.push(logging(&log, n));
        }
        defers.pop().unwrap().run();
        defers.push(logging(&log, 4));
        while let Some(deferred) = defers.pop() {
            deferred.run();
        }
        assert_eq!(*log.borrow(), [3, 4, 2, 1]);
    }

    #[test]
    fn defers_built_in_place_run_latest_first_and_drop_their_captures_once() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let captured = Rc::new(());
        let mut defers = Defers::default();
        for n in 1..=40 {
            let (log, keep) = (Rc::clone(&log), Rc::clone(&captured));
            // Every third one is too large for the slot and is boxed.
            let padding = [n; 8];
            if n % 3 == 0 {
                defers.push_new(move || {
                    let _keep = &keep;
                    log.borrow_mut().push(padding[7]);
                });
            } else {
                defers.push_new(move || {
                    let _keep = &keep;
                    log.borrow_mut().push(n);
                });
            }
        }
        for _ in 0..30 {
            defers.pop().unwrap().run();
        }
        // The ten left are dropped unrun.
        drop(defers);
        assert_eq!(*log.borrow(), (11..=40).rev().collect::<Vec<_>>());
        assert_eq!(Rc::strong_count(&captured), 1);
    }
}
