//! What a coroutine inherits from the code that spawned it: hooks that run at every
//! [`spawn`](crate::spawn) in the spawning code and wrap the child's body.
//!
//! A coroutine starts with nothing of its parent's (an empty [`Context`](crate::Context), and
//! may's coroutine-local storage of its own). Some state should follow it all the same — a
//! tracing crate's current span, say, so that what the child logs belongs to the request that
//! spawned it. Such a crate registers a hook once with [`on_spawn`]; at every spawn the hook
//! looks at the spawning code's state and returns what the child needs as an [`Inherited`],
//! whose wrapper runs around the child's body (its function and its defers) in the child.
//!
//! ```
//! use std::cell::Cell;
//! use runtime::inherit::{self, Inherited};
//!
//! may::coroutine_local!(static TAG: Cell<u32> = Cell::new(0));
//!
//! fn carry_tag() -> Option<Inherited> {
//!     let tag = TAG.with(Cell::get);
//!     (tag != 0).then(|| {
//!         Inherited::new(move |body| {
//!             TAG.with(|t| t.set(tag));
//!             body();
//!             TAG.with(|t| t.set(0));
//!         })
//!     })
//! }
//!
//! inherit::on_spawn(carry_tag);
//! let tag = runtime::spawn(|| {
//!     TAG.with(|t| t.set(7));
//!     runtime::spawn(|| TAG.with(Cell::get)).join().unwrap()
//! });
//! assert_eq!(tag.join().unwrap(), 7);
//! ```
//!
//! The cost: with no hook registered a spawn reads one atomic flag; with hooks, it takes a
//! read lock and calls each of them, and a captured [`Inherited`] costs one allocation.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

/// A hook of [`on_spawn`]: called in the spawning code at every spawn; what it returns wraps
/// the child's body.
pub type SpawnHook = fn() -> Option<Inherited>;

static HOOKS: RwLock<Vec<SpawnHook>> = RwLock::new(Vec::new());
/// Whether `HOOKS` has any: spared the lock on every spawn of a process that registered none.
static ANY: AtomicBool = AtomicBool::new(false);

/// Registers `hook` for the rest of the process: from now on every [`spawn`](crate::spawn)
/// (and [`Builder::spawn`](crate::Builder::spawn), [`go!`](crate::go)) calls it in the
/// spawning code, and runs the child's body inside the wrapper it returns. Register a hook
/// once (at most once per hook: a hook registered twice runs twice). Hooks run in the order
/// they were registered; the first one's wrapper is the outermost.
pub fn on_spawn(hook: SpawnHook) {
    HOOKS.write().push(hook);
    ANY.store(true, Ordering::Release);
}

/// A wrapper the child's body runs inside: returned by a [`SpawnHook`].
pub struct Inherited {
    wrap: Wrap,
}

/// The wrapper of an [`Inherited`]: gets the child's body to call.
type Wrap = Box<dyn FnOnce(&mut dyn FnMut()) + Send>;

impl Inherited {
    /// A wrapper that gets the child's body as `body` and must call it once: set the
    /// inherited state up, call `body()`, take it down. The body catches its own panics and
    /// cancellation, so `body()` returns; if the wrapper returns without calling it, the body
    /// runs after it, unwrapped (and calling it twice runs it once).
    pub fn new(wrap: impl FnOnce(&mut dyn FnMut()) + Send + 'static) -> Self {
        Inherited {
            wrap: Box::new(wrap),
        }
    }
}

impl fmt::Debug for Inherited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Inherited")
    }
}

/// What the hooks captured at one spawn, carried to the child.
#[derive(Default)]
pub(crate) struct Captured(Vec<Inherited>);

/// Calls the registered hooks in the spawning code.
#[inline]
pub(crate) fn capture() -> Captured {
    if !ANY.load(Ordering::Acquire) {
        return Captured::default();
    }
    capture_slow()
}

#[cold]
fn capture_slow() -> Captured {
    // The hooks are copied out first: a hook may spawn, or register a hook.
    let hooks: Vec<SpawnHook> = HOOKS.read().clone();
    Captured(hooks.into_iter().filter_map(|hook| hook()).collect())
}

impl Captured {
    /// Runs `body` inside the captured wrappers, in the child.
    #[inline]
    pub(crate) fn run<R>(self, body: impl FnOnce() -> R) -> R {
        if self.0.is_empty() {
            return body();
        }
        let mut body = Some(body);
        let mut output = None;
        {
            let mut call = || {
                if let Some(body) = body.take() {
                    output = Some(body());
                }
            };
            nest(self.0.into_iter(), &mut call);
        }
        match output {
            Some(output) => output,
            // A wrapper that never called the body.
            None => body.take().expect("the body ran or is still here")(),
        }
    }
}

/// Runs `call` inside each of `wrappers`, the first outermost.
fn nest(mut wrappers: std::vec::IntoIter<Inherited>, call: &mut dyn FnMut()) {
    match wrappers.next() {
        None => call(),
        Some(outer) => {
            let mut rest = Some(wrappers);
            (outer.wrap)(&mut || {
                if let Some(rest) = rest.take() {
                    nest(rest, call);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapper_that_never_calls_the_body_still_has_it_run_once() {
        let skipping = Captured(vec![Inherited::new(|_body| {})]);
        assert_eq!(skipping.run(|| 5), 5);
        let twice = Captured(vec![Inherited::new(|body| {
            body();
            body();
        })]);
        let mut runs = 0;
        twice.run(|| runs += 1);
        assert_eq!(runs, 1);
    }

    #[test]
    fn wrappers_nest_the_first_outermost() {
        let order = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let wrapper = |name: &'static str| {
            let order = std::sync::Arc::clone(&order);
            Inherited::new(move |body| {
                order.lock().push(name);
                body();
                order.lock().push(name);
            })
        };
        let captured = Captured(vec![wrapper("outer"), wrapper("inner")]);
        captured.run(|| order.lock().push("body"));
        assert_eq!(*order.lock(), ["outer", "inner", "body", "inner", "outer"]);
    }
}
