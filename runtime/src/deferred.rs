//! [`Deferred`]: one registered `defer` closure, stored inline when it is small.
//!
//! A closure that captures a few words (an `Arc` or two, a counter, a small id) is the common
//! `defer`; boxing each one cost an allocation and a free, the bulk of a defer's time. A
//! `Deferred` keeps a closure of up to [`INLINE_WORDS`] words (and no stricter alignment than
//! a word) in place, and boxes larger ones — the box itself then fits in place.

use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::ptr;

/// How many words a closure's captures may take to be stored without a box.
pub(crate) const INLINE_WORDS: usize = 4;

type Slot = [usize; INLINE_WORDS];

/// A closure to run once, or to drop unrun if its owner goes away first.
pub(crate) struct Deferred {
    /// Holds a value of the closure's type `F`, written by [`Deferred::inline`], until
    /// `finish` reads it out (exactly once: in `run` or in `drop`).
    closure: MaybeUninit<Slot>,
    /// `finish::<F>` for the `F` in `closure`: reads it out, then runs or drops it.
    finish: unsafe fn(*mut Slot, Finish),
    /// The closure need not be `Send` or `Sync`, so neither is this.
    _not_send: PhantomData<*mut ()>,
}

#[derive(Clone, Copy)]
enum Finish {
    Run,
    Drop,
}

/// Whether a value of `F` fits a [`Slot`] in size and alignment.
const fn fits<F>() -> bool {
    mem::size_of::<F>() <= mem::size_of::<Slot>() && mem::align_of::<F>() <= mem::align_of::<Slot>()
}

impl Deferred {
    #[inline]
    pub(crate) fn new<F: FnOnce() + 'static>(f: F) -> Self {
        if fits::<F>() {
            Self::inline(f)
        } else {
            // A box is one word: it always fits.
            Self::inline(Box::new(f))
        }
    }

    #[inline]
    fn inline<F: FnOnce()>(f: F) -> Self {
        assert!(fits::<F>(), "inline: the closure does not fit its slot");
        let mut closure = MaybeUninit::<Slot>::uninit();
        // SAFETY: `closure` is valid for writes of `size_of::<Slot>()` bytes at `Slot`'s
        // alignment, and `F` is no larger and no more strictly aligned (asserted above), so
        // the cast pointer is valid and aligned for one `F`.
        unsafe { closure.as_mut_ptr().cast::<F>().write(f) };
        Deferred {
            closure,
            finish: finish::<F>,
            _not_send: PhantomData,
        }
    }

    /// Writes a `Deferred` of `f` to `at`, field by field. Building one and then moving it in
    /// costs a stall: the move reads the fresh value back with wider loads than the stores that
    /// wrote it, which the CPU cannot forward (most of a `defer`'s push, in `perf annotate`).
    ///
    /// # Safety
    ///
    /// `at` must be valid for writes of one `Deferred` and aligned for it. What it held is
    /// overwritten, not dropped.
    #[inline]
    pub(crate) unsafe fn write_to<F: FnOnce() + 'static>(at: *mut Deferred, f: F) {
        if fits::<F>() {
            // SAFETY: forwarded to the caller.
            unsafe { Self::write_inline(at, f) }
        } else {
            // SAFETY: forwarded to the caller; a box is one word, so it always fits.
            unsafe { Self::write_inline(at, Box::new(f)) }
        }
    }

    /// # Safety
    ///
    /// As for [`write_to`](Self::write_to).
    #[inline]
    unsafe fn write_inline<F: FnOnce()>(at: *mut Deferred, f: F) {
        assert!(fits::<F>(), "inline: the closure does not fit its slot");
        // SAFETY: the caller guarantees `at` is valid and aligned for a `Deferred`, so each
        // field's address is too; `F` fits the slot in size and alignment (asserted above), as
        // in `inline`. Every field is written, so the `Deferred` at `at` is whole afterwards:
        // `closure` holds the `F` that `finish` is made for.
        unsafe {
            ptr::addr_of_mut!((*at).closure).cast::<F>().write(f);
            ptr::addr_of_mut!((*at).finish).write(finish::<F>);
            ptr::addr_of_mut!((*at)._not_send).write(PhantomData);
        }
    }

    /// Runs the closure (and so consumes it). A panic in it propagates; the closure is then
    /// already gone and is not dropped twice.
    pub(crate) fn run(self) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `closure` holds the `F` that `finish` was made for (`inline` set both), and
        // it is read out only here or in `drop`: `ManuallyDrop` keeps `drop` from running.
        unsafe { (this.finish)(this.closure.as_mut_ptr(), Finish::Run) }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        // SAFETY: as in `run`: `closure` holds `finish`'s `F`, not yet read out (`run` takes
        // `self` and suppresses this drop), and after this nothing reads it again.
        unsafe { (self.finish)(self.closure.as_mut_ptr(), Finish::Drop) }
    }
}

/// Reads the `F` out of `slot`, then calls or drops it.
///
/// # Safety
///
/// `slot` must hold an initialised `F`, written at the start of the slot, that nothing reads
/// after this call.
unsafe fn finish<F: FnOnce()>(slot: *mut Slot, how: Finish) {
    // SAFETY: the caller guarantees an initialised, aligned `F` at `slot`, read only here.
    let f = unsafe { slot.cast::<F>().read() };
    match how {
        Finish::Run => f(),
        Finish::Drop => drop(f),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::rc::Rc;

    use super::*;

    /// Counts its drops.
    struct Tracked(Rc<Cell<u32>>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn a_small_closure_runs_once_and_its_captures_are_dropped_once() {
        let (ran, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let (r, tracked) = (Rc::clone(&ran), Tracked(Rc::clone(&drops)));
        let deferred = Deferred::new(move || {
            let _keep = &tracked;
            r.set(r.get() + 1);
        });
        deferred.run();
        assert_eq!((ran.get(), drops.get()), (1, 1));
    }

    #[test]
    fn a_closure_larger_than_the_slot_is_boxed_and_runs() {
        let seen = Rc::new(Cell::new(0u64));
        let s = Rc::clone(&seen);
        let big = [1u64, 2, 3, 4, 5, 6, 7, 8];
        assert!(!fits::<[u64; 8]>());
        Deferred::new(move || s.set(big.iter().sum())).run();
        assert_eq!(seen.get(), 36);
    }

    #[test]
    fn a_closure_dropped_unrun_drops_its_captures_once() {
        let drops = Rc::new(Cell::new(0));
        let small = Tracked(Rc::clone(&drops));
        let large = (Tracked(Rc::clone(&drops)), [0u64; 8]);
        drop(Deferred::new(move || drop(small)));
        drop(Deferred::new(move || drop(large)));
        assert_eq!(drops.get(), 2);
    }

    #[test]
    fn a_panicking_closure_drops_its_captures_once() {
        let drops = Rc::new(Cell::new(0));
        let tracked = Tracked(Rc::clone(&drops));
        let deferred = Deferred::new(move || {
            let _keep = &tracked;
            panic!("deferred panic");
        });
        assert!(catch_unwind(AssertUnwindSafe(|| deferred.run())).is_err());
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_closure_of_two_arcs_and_two_words_is_stored_in_place() {
        // What the server's `RequestTerminated` defer captures.
        type Captures = (std::sync::Arc<u8>, std::sync::Arc<u8>, u16, Option<Box<u8>>);
        assert!(fits::<Captures>());
    }

    #[test]
    fn a_closure_with_no_captures_runs() {
        thread_local!(static RAN: Cell<bool> = const { Cell::new(false) });
        Deferred::new(|| RAN.with(|ran| ran.set(true))).run();
        assert!(RAN.with(Cell::get));
    }

    #[test]
    fn a_closure_more_strictly_aligned_than_a_word_is_boxed() {
        #[repr(align(64))]
        struct Aligned(u8);
        assert!(!fits::<Aligned>());
        let value = Aligned(9);
        let seen = Rc::new(Cell::new(0));
        let s = Rc::clone(&seen);
        Deferred::new(move || s.set(value.0)).run();
        assert_eq!(seen.get(), 9);
    }
}
