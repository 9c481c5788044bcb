//! [`Timer`]: callbacks after a delay, on an interval or at shutdown, bound to a closing
//! coordinator.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use parking_lot::Mutex;

use crate::constants::WORKER_EXIT;
use crate::coordinator::{Coordinator, Resumed};
use crate::manager::CoordinatorManager;

/// What a [`Timer::tick`] callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TickControl {
    /// Run again after the next interval.
    Continue,
    /// Stop ticking; the callback is not called again.
    Stop,
}

/// Identifies a scheduled timer, for [`Timer::clear`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

/// Counters of a [`Timer`], from [`Timer::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimerStats {
    /// Timers scheduled and neither finished nor cleared.
    pub active: usize,
    /// Callback calls so far (each tick counts).
    pub fired: u64,
    /// Callback calls that panicked (logged, and counted in `fired` too).
    pub panicked: u64,
    /// Timers stopped by `clear` or `clear_all` before they finished.
    pub cleared: u64,
}

/// Runs callbacks after a delay ([`after`](Self::after)), on an interval
/// ([`tick`](Self::tick)) or at shutdown ([`until`](Self::until)), each in its own may
/// coroutine, and ends them all promptly when its closing coordinator is resumed.
///
/// Each callback receives `is_closing`: `false` when it runs because its time came, `true` when
/// it runs because the closing coordinator (by default
/// [`WORKER_EXIT`](crate::constants::WORKER_EXIT)) was resumed. On that resume, pending `after`
/// callbacks run at once, `until` callbacks run, and every `tick` callback runs one last time —
/// all with `is_closing = true`. A cleared timer never runs again.
///
/// A panicking callback is logged (`log::error!`) and counted in [`stats`](Self::stats); its
/// timer goes on (a tick keeps ticking) and so do all the others.
///
/// Callbacks run in may coroutines, so they follow may's rules: they must not hold a reference
/// into a `thread_local!` across a blocking call (the coroutine may resume on another thread),
/// should not block their OS thread (`std::thread::sleep`, long std locks), and must fit in
/// may's configured coroutine stack size.
///
/// # Callbacks and the `runtime` crate
///
/// These coroutines are plain may coroutines, not coroutines of the `runtime` crate: in a
/// callback of a timer made by [`new`](Self::new) or [`with_closing`](Self::with_closing),
/// `runtime::Context` panics, `runtime::defer` panics (`runtime::try_defer` returns its error)
/// and `runtime::id()` is `None`. Use `runtime::timer()` (or `runtime::timer_with_closing`)
/// instead: it returns a `Timer` like this one whose every callback call runs as a runtime
/// scope of its own. Any other wrapping of the calls can be had with
/// [`with_runner`](Self::with_runner).
///
/// Clones share the timers; dropping every handle does not cancel scheduled timers.
///
/// # Example
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use coordinator::{Coordinator, Timer, TickControl};
///
/// let closing = Coordinator::new();
/// let timer = Timer::with_closing(closing.clone());
/// let (ticks, received) = mpsc::channel();
/// timer.tick(Duration::from_millis(5), move |is_closing| {
///     ticks.send(is_closing).unwrap();
///     TickControl::Continue
/// });
///
/// assert_eq!(received.recv().unwrap(), false); // a regular tick
/// closing.resume(); // e.g. the worker exits
/// // The last tick says so; a few more regular ones may have come first.
/// while !received.recv().unwrap() {}
/// assert!(received.recv().is_err(), "no tick after the closing one");
/// ```
#[derive(Clone)]
pub struct Timer {
    shared: Arc<Shared>,
}

struct Shared {
    closing: Coordinator,
    /// Each scheduled timer's stop latch, resumed by `clear` or by the closing coordinator.
    /// Membership means "not cleared, not finished".
    timers: Mutex<HashMap<TimerId, Coordinator>>,
    next_id: AtomicU64,
    fired: AtomicU64,
    panicked: AtomicU64,
    cleared: AtomicU64,
    /// Registered on the closing coordinator while pending: its waker stops every timer.
    closing_watch: Mutex<Option<Resumed>>,
    /// Wraps every callback call, if the owner asked for it.
    runner: Option<Runner>,
}

/// How a [`Timer`] made by [`Timer::with_runner`] runs each callback call.
type Runner = Box<dyn Fn(TimerCall<'_>) + Send + Sync>;

/// One call of a [`Timer`] callback, handed to the runner of [`Timer::with_runner`], which
/// decides what surrounds it.
///
/// The runner calls [`run`](Self::run) once, on the coroutine it was given the call on (the
/// call borrows the timer's state, so it cannot be sent elsewhere). A runner that returns
/// without calling `run` skips the call: it is counted as fired, and a
/// [`tick`](Timer::tick) goes on as after [`TickControl::Continue`].
pub struct TimerCall<'a> {
    call: &'a mut dyn FnMut(),
}

impl TimerCall<'_> {
    /// Runs the callback. A panic in it unwinds out of this call and through the runner; the
    /// timer catches, logs and counts it once the runner has unwound.
    pub fn run(self) {
        (self.call)();
    }
}

impl fmt::Debug for TimerCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerCall").finish_non_exhaustive()
    }
}

/// Wakes the timers of a [`Shared`] when the closing coordinator resumes. Holds a weak
/// reference: the registration must not keep the timer state alive.
struct ClosingWake(Weak<Shared>);

impl Wake for ClosingWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.0.upgrade() {
            for stop in shared.timers.lock().values() {
                stop.resume();
            }
        }
    }
}

impl Timer {
    /// A timer service bound to the process-wide [`WORKER_EXIT`] coordinator, as it is at this
    /// call (a later [`CoordinatorManager::clear`] does not rebind it).
    pub fn new() -> Self {
        Self::with_closing(CoordinatorManager::until(WORKER_EXIT))
    }

    /// A timer service whose timers end when `closing` is resumed.
    pub fn with_closing(closing: Coordinator) -> Self {
        Self::build(closing, None)
    }

    /// A timer service whose timers end when `closing` is resumed and whose every callback call
    /// is handed to `runner`, which runs it ([`TimerCall::run`]) inside whatever it sets up
    /// around it — a scope, a log context, a measurement.
    ///
    /// The runner runs on the timer's coroutine, once per call (each tick is a call of its
    /// own). Everything else — when callbacks run, `is_closing`, [`clear`](Self::clear),
    /// [`stats`](Self::stats), a panic being logged and counted — is as for
    /// [`with_closing`](Self::with_closing); a panic of the runner itself counts as the call's.
    /// `runtime::timer_with_closing` is this with a runner that makes each call a runtime scope.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use coordinator::{Coordinator, Timer};
    ///
    /// let (events, received) = mpsc::channel();
    /// let around = events.clone();
    /// let timer = Timer::with_runner(Coordinator::new(), move |call| {
    ///     around.send("before").unwrap();
    ///     call.run();
    ///     around.send("after").unwrap();
    /// });
    /// timer.after(Duration::from_millis(1), move |_| events.send("callback").unwrap());
    /// let seen: Vec<_> = (0..3).map(|_| received.recv().unwrap()).collect();
    /// assert_eq!(seen, ["before", "callback", "after"]);
    /// ```
    pub fn with_runner<R>(closing: Coordinator, runner: R) -> Self
    where
        R: Fn(TimerCall<'_>) + Send + Sync + 'static,
    {
        Self::build(closing, Some(Box::new(runner)))
    }

    fn build(closing: Coordinator, runner: Option<Runner>) -> Self {
        let shared = Arc::new(Shared {
            closing,
            timers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            fired: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            cleared: AtomicU64::new(0),
            closing_watch: Mutex::new(None),
            runner,
        });
        let mut watch = shared.closing.resumed();
        let waker = Waker::from(Arc::new(ClosingWake(Arc::downgrade(&shared))));
        if Pin::new(&mut watch)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
        {
            *shared.closing_watch.lock() = Some(watch);
        }
        Timer { shared }
    }

    /// The coordinator whose resume ends this service's timers.
    pub fn closing(&self) -> &Coordinator {
        &self.shared.closing
    }

    /// Runs `callback` once, after `delay` — or at once, with `is_closing = true`, if the closing
    /// coordinator is resumed first.
    pub fn after<F>(&self, delay: Duration, callback: F) -> TimerId
    where
        F: FnOnce(bool) + Send + 'static,
    {
        self.schedule(move |shared, id, stop| {
            stop.yield_timeout(delay);
            // Claiming the timer (removing it) decides the race with `clear`.
            if shared.timers.lock().remove(&id).is_some() {
                let is_closing = shared.closing.is_closing();
                shared.run_callback(id, || callback(is_closing));
            }
        })
    }

    /// Runs `callback` every `interval` until it returns [`TickControl::Stop`], the timer is
    /// cleared, or the closing coordinator is resumed — then it runs one last time with
    /// `is_closing = true`. A panicking call counts as [`TickControl::Continue`].
    pub fn tick<F>(&self, interval: Duration, mut callback: F) -> TimerId
    where
        F: FnMut(bool) -> TickControl + Send + 'static,
    {
        self.schedule(move |shared, id, stop| {
            loop {
                stop.yield_timeout(interval);
                if !shared.timers.lock().contains_key(&id) {
                    return; // cleared
                }
                let is_closing = shared.closing.is_closing();
                let control = shared
                    .run_callback(id, || callback(is_closing))
                    .unwrap_or(TickControl::Continue);
                if is_closing || control == TickControl::Stop {
                    shared.timers.lock().remove(&id);
                    return;
                }
            }
        })
    }

    /// Runs `callback(true)` when the closing coordinator is resumed (unless cleared first).
    pub fn until<F>(&self, callback: F) -> TimerId
    where
        F: FnOnce(bool) + Send + 'static,
    {
        self.schedule(move |shared, id, stop| {
            stop.r#yield();
            if shared.timers.lock().remove(&id).is_some() {
                let is_closing = shared.closing.is_closing();
                shared.run_callback(id, || callback(is_closing));
            }
        })
    }

    /// Stops a timer: its callback will not run (again). Returns whether the timer was still
    /// pending; an unknown or finished id is harmless.
    ///
    /// A callback already running when `clear` is called finishes its current call.
    pub fn clear(&self, id: TimerId) -> bool {
        let Some(stop) = self.shared.timers.lock().remove(&id) else {
            return false;
        };
        self.shared.cleared.fetch_add(1, Ordering::Relaxed);
        stop.resume();
        true
    }

    /// Clears every pending timer of this service; returns how many there were.
    #[doc(alias = "clearAll")]
    pub fn clear_all(&self) -> usize {
        let stopped: Vec<Coordinator> = self.shared.timers.lock().drain().map(|(_, s)| s).collect();
        self.shared
            .cleared
            .fetch_add(stopped.len() as u64, Ordering::Relaxed);
        for stop in &stopped {
            stop.resume();
        }
        stopped.len()
    }

    /// The service's counters right now.
    pub fn stats(&self) -> TimerStats {
        TimerStats {
            active: self.shared.timers.lock().len(),
            fired: self.shared.fired.load(Ordering::Relaxed),
            panicked: self.shared.panicked.load(Ordering::Relaxed),
            cleared: self.shared.cleared.load(Ordering::Relaxed),
        }
    }

    fn schedule<B>(&self, body: B) -> TimerId
    where
        B: FnOnce(&Shared, TimerId, Coordinator) + Send + 'static,
    {
        let id = TimerId(self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        let stop = Coordinator::new();
        {
            let mut timers = self.shared.timers.lock();
            timers.insert(id, stop.clone());
            // Checked under the lock the closing wake-up takes: either it already happened and
            // we see it here, or it will find this timer in the map.
            if self.shared.closing.is_closing() {
                stop.resume();
            }
        }
        let shared = Arc::clone(&self.shared);
        let builder = may::coroutine::Builder::new().name(format!("timer-{}", id.0));
        // SAFETY: may's spawn is unsafe because the coroutine may migrate between OS threads (so
        // it must not keep thread-local references across yields) and must fit its stack. Our
        // own body does neither; the callbacks' share of that contract is documented on `Timer`.
        let spawned = unsafe { builder.spawn(move || body(&shared, id, stop)) };
        if let Err(error) = spawned {
            self.shared.timers.lock().remove(&id);
            log::error!("timer {}: could not spawn its coroutine: {error}", id.0);
        }
        id
    }
}

impl Shared {
    /// Calls `callback` (through the runner, if there is one); `None` if it panicked or the
    /// runner skipped it.
    fn run_callback<R>(&self, id: TimerId, callback: impl FnOnce() -> R) -> Option<R> {
        self.fired.fetch_add(1, Ordering::Relaxed);
        let call = || match &self.runner {
            None => Some(callback()),
            Some(runner) => {
                let mut callback = Some(callback);
                let mut value = None;
                runner(TimerCall {
                    call: &mut || {
                        if let Some(callback) = callback.take() {
                            value = Some(callback());
                        }
                    },
                });
                value
            }
        };
        match catch_unwind(AssertUnwindSafe(call)) {
            Ok(value) => value,
            Err(payload) => {
                self.panicked.fetch_add(1, Ordering::Relaxed);
                log::error!(
                    "timer {} callback panicked: {}",
                    id.0,
                    panic_message(payload.as_ref())
                );
                None
            }
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "non-string panic payload"
    }
}

impl Default for Timer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("closing", &self.shared.closing)
            .field("runner", &self.shared.runner.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}
