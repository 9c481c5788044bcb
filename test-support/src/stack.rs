//! Going a given depth down a coroutine's stack, for tests of stack use.

/// Recurses until the stack is `depth` bytes below `entry` (an address in a caller's frame),
/// each level writing a 2 KiB frame with a non-zero pattern, so that every page on the way is
/// written; returns a byte of the pattern (pass it to `std::hint::black_box`).
#[inline(never)]
pub fn write_stack_down_to(entry: usize, depth: usize) -> u8 {
    let frame = std::hint::black_box([0xa5u8; 2048]);
    if entry - std::ptr::addr_of!(frame) as usize >= depth {
        return frame[0];
    }
    write_stack_down_to(entry, depth).wrapping_add(frame[2047])
}
