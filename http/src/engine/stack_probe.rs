//! How deep a connection's coroutine stack has been written to, read at the connection's end
//! off a few words at fixed depths below where the connection began.
//!
//! A coroutine's stack is fixed; the pages a request touched stay resident for as long as the
//! coroutine lives, also when the runtime reuses it for a later connection. So at its end a
//! connection looks how deep its stack went: past 16 KiB (an optimised build's requests take
//! about 9 KiB, up to 28 KiB for the deepest `Json` body the default depth accepts) it retires
//! its coroutine (`runtime::retire_coroutine`), which gives those pages back instead of
//! passing them on to the next connection (unless the connection stack has the runtime's
//! default size, whose stacks may pools itself); the deepest depth seen is kept for
//! [`Engine::stack_high_water`](crate::Engine::stack_high_water); and at five eighths of the
//! stack a warning says to raise the stack before a deeper request overflows it.
//!
//! Why probes rather than a scan: the stack's bounds are may's and not exposed, and a read
//! below the stack's lowest page faults on its guard page. The probes sit at whole sixteenths
//! of the stack below the connection's entry, at most ten (five eighths) down, so that they stay inside
//! the stack as long as what ran above the entry (may's and the runtime's start of the
//! coroutine, the spawner: a few KiB) takes less than three eighths of it. A probe reads a
//! word the coroutine may never have written: an untouched page reads as zeros (the kernel
//! maps its shared zero page, which costs no memory). A word that a deep request happened to
//! leave as zero is missed, so the figure can be a sixteenth low. It can also read high: the
//! words are whatever the stack last held there, and a coroutine the runtime reuses (or a
//! stack may's own pool hands out again) may have run deeper before this connection.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Probes are only placed on stacks at least this large: below it, what ran above the
/// connection's entry could reach three eighths of the stack.
const SMALLEST_PROBED_STACK: usize = 64 * 1024;
/// Sixteenths of the stack probed: 1/16 … 10/16.
const PROBES: usize = 10;
/// A connection whose stack went this deep retires its coroutine.
const RETIRE_DEPTH: usize = 16 * 1024;

/// The probe points of one connection's stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StackProbe {
    /// An address in the connection's outermost frame: the probes' depths count from here.
    entry: usize,
    stack_size: usize,
}

impl StackProbe {
    /// Probes for the current coroutine, counting from `entry` (an address in the caller's
    /// frame): its stack size as may created it, not as configured — a
    /// [`ConnectionSpawner`](crate::ConnectionSpawner) of the user's may have spawned it with
    /// another. `None` outside a may coroutine, and where [`new`](Self::new) says.
    pub(crate) fn for_current(entry: usize) -> Option<Self> {
        if !may::coroutine::is_coroutine() {
            return None;
        }
        // may keeps the size asked for, in words; the mapping is that rounded up to pages.
        let words = may::coroutine::current().stack_size();
        Self::new(entry, words.checked_mul(size_of::<usize>())?)
    }

    /// Probes for a coroutine whose stack is `stack_size` bytes, counting from
    /// `entry` (an address in the caller's frame, which outlives every probe). `None` when the
    /// stack is too small to probe, or is one that may fills with a pattern for its own usage
    /// report (an odd number of words), which would read as written everywhere.
    pub(crate) fn new(entry: usize, stack_size: usize) -> Option<Self> {
        let odd_words = (stack_size / size_of::<usize>()) % 2 == 1;
        (stack_size >= SMALLEST_PROBED_STACK && !odd_words)
            .then_some(StackProbe { entry, stack_size })
    }

    /// The deepest probe depth (in bytes below the entry) at which the stack was written, or 0.
    ///
    /// Must be called on the probed coroutine, from the frame that gave `entry` or one below it.
    pub(crate) fn deepest_written(&self) -> usize {
        let step = self.stack_size / 16;
        let mut deepest = 0;
        for probe in 1..=PROBES {
            let depth = step * probe;
            let address = (self.entry - depth) & !(size_of::<usize>() - 1);
            // SAFETY: `address` is aligned, and it lies inside this coroutine's stack mapping:
            // at most ten sixteenths (five eighths) of the stack below an address in the connection's outermost
            // frame, while what ran above that frame takes less than three eighths (module
            // docs; stacks under 64 KiB are not probed). It is below the current frame, so no
            // live Rust value is there; a volatile read of a plain word of mapped, readable
            // memory has no other effect (an untouched page reads as zeros).
            let word = unsafe { std::ptr::read_volatile(address as *const usize) };
            if word != 0 {
                deepest = depth;
            }
        }
        deepest
    }

    /// The probed stack's size in bytes.
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Whether a stack written `deepest` bytes deep should not be reused: 16 KiB or more
    /// (or the first probe, if that is deeper).
    pub(crate) fn is_deep(&self, deepest: usize) -> bool {
        deepest >= RETIRE_DEPTH.max(self.stack_size / 16)
    }

    /// Whether `deepest` reached the last probe, five eighths of the stack: worth a warning.
    pub(crate) fn is_near_full(&self, deepest: usize) -> bool {
        deepest >= self.stack_size / 16 * PROBES
    }
}

/// The deepest stack use any connection of an engine reached, in bytes below its entry.
#[derive(Debug, Default)]
pub(crate) struct HighWater(AtomicUsize);

impl HighWater {
    pub(crate) fn record(&self, deepest: usize) {
        self.0.fetch_max(deepest, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a fresh coroutine with a `stack_size` stack: goes `depth` bytes deep and returns the
    /// deepest probe written.
    fn deepest_after(stack_size: usize, depth: usize) -> usize {
        runtime::Builder::new()
            .name("probed")
            .stack_size(stack_size)
            .spawn(move || {
                let entry = 0u8;
                let entry = std::ptr::addr_of!(entry) as usize;
                let probe = StackProbe::new(entry, stack_size).expect("probed");
                std::hint::black_box(test_support::write_stack_down_to(entry, depth));
                probe.deepest_written()
            })
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn a_shallow_coroutine_reads_as_unwritten() {
        assert_eq!(deepest_after(256 * 1024, 4 * 1024), 0);
    }

    #[test]
    fn a_stack_is_deep_from_16_kib_or_its_first_probe() {
        let probe = StackProbe::new(1 << 40, 256 * 1024).unwrap();
        assert!(!probe.is_deep(0) && probe.is_deep(16 * 1024));
        let probe = StackProbe::new(1 << 40, 64 * 1024).unwrap();
        assert!(!probe.is_deep(12 * 1024) && probe.is_deep(16 * 1024));
        let probe = StackProbe::new(1 << 40, 1024 * 1024).unwrap();
        assert!(!probe.is_deep(32 * 1024) && probe.is_deep(64 * 1024));
    }

    #[test]
    fn a_recursion_past_three_eighths_of_the_stack_is_seen_at_three_eighths() {
        // 100 KiB of a 256 KiB stack (and at most a frame more): past the probe at 96 KiB,
        // short of the one at 112.
        let deepest = deepest_after(256 * 1024, 100 * 1024);
        assert_eq!(deepest, 6 * 16 * 1024);
        let probe = StackProbe::new(1 << 40, 256 * 1024).unwrap();
        assert!(probe.is_deep(deepest) && !probe.is_near_full(deepest));
    }

    #[test]
    fn stacks_too_small_or_filled_by_may_for_its_report_are_not_probed() {
        assert!(StackProbe::new(1 << 40, 32 * 1024).is_none());
        assert!(StackProbe::new(1 << 40, 256 * 1024 + size_of::<usize>()).is_none());
        assert!(StackProbe::new(1 << 40, 256 * 1024).is_some());
    }

    #[test]
    fn the_high_water_keeps_the_deepest() {
        let high_water = HighWater::default();
        high_water.record(64);
        high_water.record(32);
        assert_eq!(high_water.get(), 64);
    }
}
