//! What a coroutine's panic leaves behind: the payload type, and telling may's cancellation apart
//! from a real panic.

use std::any::Any;

/// The payload of a coroutine's panic (or cancellation), as `std::thread` reports it.
pub type Panic = Box<dyn Any + Send + 'static>;

/// Whether a panic payload is may's cancellation of a coroutine.
pub(crate) fn is_cancellation(payload: &Panic) -> bool {
    matches!(
        payload.downcast_ref::<generator::Error>(),
        Some(generator::Error::Cancel)
    )
}

/// The message of a panic payload (from [`JoinHandle::join`](crate::JoinHandle::join) or
/// `catch_unwind`), for logs: the text given to `panic!`, "cancelled" for a cancellation, or a
/// fixed text for other payloads.
///
/// ```
/// let error = runtime::spawn(|| panic!("boom")).join().unwrap_err();
/// assert_eq!(runtime::panic_message(&error), "boom");
/// ```
pub fn panic_message(payload: &Panic) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else if is_cancellation(payload) {
        "cancelled"
    } else {
        "non-string panic payload"
    }
}

/// Whether a [`JoinHandle::join`](crate::JoinHandle::join) error is a cancellation rather than a
/// panic.
pub fn is_cancelled(payload: &Panic) -> bool {
    is_cancellation(payload)
}
