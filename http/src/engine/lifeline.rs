//! What a connection releases even if its coroutine's frames are abandoned by a stack
//! overflow.
//!
//! A coroutine that overflows its stack hits the guard page under it; may's overflow handler
//! then leaves the coroutine without unwinding it, so nothing on its stack is dropped: not the
//! connection's socket, not its place in the engine's registry. may then either ends the
//! process (when the overflow wrote over the bottom of the stack) or drops the coroutine and
//! goes on. In the second case the only thing of the coroutine's still dropped is its
//! coroutine-local storage, so the connection keeps its lifeline there while it is served: the
//! lifeline's drop, when the connection did not end normally, takes the connection out of the
//! registry and closes its socket, so that the client sees the connection close and a stop
//! does not wait for it. A normal end, or an unwinding one (a cancellation), disarms it first.
//!
//! What it cannot release: the runtime task the connection ran as never finishes, so a joiner
//! of it waits for good, and a worker pool that counts it in flight (a server's connections on
//! its workers) waits for it at its next stop or recycle until its `max_wait_time`.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::Arc;

use crate::engine::registry::EngineShared;

may::coroutine_local!(static LIFELINE: RefCell<Option<Lifeline>> = RefCell::new(None));

/// A served connection's socket and registration, released if its frames are abandoned.
struct Lifeline {
    shared: Arc<EngineShared>,
    registration: u64,
    fd: RawFd,
    /// Cleared by a normal end (`Armed`'s drop): then dropping it releases nothing.
    armed: bool,
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        log::error!(
            "a connection's coroutine ended without unwinding (its stack overflowed): its \
             connection is closed, but whatever its frames held (locks, buffers) is never \
             released; raise EngineConfig::stack_size and restart the process"
        );
        self.shared.deregister(self.registration);
        // Shut down first: a streamed body's reader holds a duplicate of the descriptor (in the
        // abandoned frames too), and only a shutdown ends the connection whatever duplicates
        // are left open.
        // SAFETY: the descriptor is the abandoned connection's socket: its `TcpStream` lies in
        // frames that will never run or drop again, so nothing else closes or uses it, and it
        // has just left the registry, the only other place that knows it.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
            libc::close(self.fd);
        }
    }
}

/// Held on the connection's stack while it is served: disarms the lifeline when dropped,
/// which a normal end and an unwinding one do and an abandoned stack does not.
pub(crate) struct Armed(());

impl Armed {
    /// Arms the current coroutine's lifeline for the connection with `registration` on `fd`.
    pub(crate) fn arm(shared: &Arc<EngineShared>, registration: u64, fd: RawFd) -> Armed {
        let lifeline = Lifeline {
            shared: Arc::clone(shared),
            registration,
            fd,
            armed: true,
        };
        LIFELINE.with(|slot| *slot.borrow_mut() = Some(lifeline));
        Armed(())
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        let lifeline = LIFELINE.with(|slot| slot.borrow_mut().take());
        if let Some(mut lifeline) = lifeline {
            lifeline.armed = false;
        }
    }
}
