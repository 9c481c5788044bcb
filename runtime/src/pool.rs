//! Worker coroutines: a coroutine whose task has ended parks in an idle pool instead of ending,
//! and the next spawn with the same stack size hands its task to it — a wake-up instead of a
//! new coroutine (a stack, may's bookkeeping, the stack's first touch).
//!
//! Each task still gets a frame of its own (id, parent, context, defers: `coroutine::run`), so
//! nothing of ours carries over from one task to the next. What does carry over is may's own
//! per-coroutine state: `may::coroutine_local!` values and the `may::coroutine::current()`
//! handle belong to the worker coroutine, not to the task (the crate docs say so).
//!
//! A coroutine is reused only when nothing was done to it in may: a task cancelled through its
//! handle retires its coroutine (may's cancel flag cannot be cleared), and so does an idle one
//! cancelled by code that kept its may handle — it then passes on a task already handed to it.
//!
//! The hand-off happens under the idle pool's lock: a spawner pops a parked coroutine and puts
//! the task in its slot before the lock is released, then unparks it. So a coroutine that finds
//! itself cancelled while parked can tell, under the same lock, whether a task is on its way:
//! it is either still in the pool (remove it, end) or its slot holds the task.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::task::AfterTask;

/// The default of [`Config::idle_coroutines`](crate::Config::idle_coroutines).
pub(crate) const DEFAULT_IDLE_CAPACITY: usize = 256;

static IDLE_CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_IDLE_CAPACITY);

static IDLE: Mutex<Idle> = Mutex::new(Idle {
    by_stack: Vec::new(),
    count: 0,
});

/// A task ready to run on a coroutine, with its type erased.
pub(crate) trait Job: Send {
    /// Runs the task, stores its result, and says whether its coroutine may be reused.
    fn run(self: Box<Self>) -> AfterTask;
    /// Tells the task which coroutine runs it (for its cancel).
    fn install(&self, coroutine: may::coroutine::Coroutine);
}

/// A parked worker coroutine and the slot its next task arrives in.
struct Parked {
    coroutine: may::coroutine::Coroutine,
    /// Filled under the idle pool's lock, by the spawner that took this coroutine out of it.
    next: Mutex<Option<Box<dyn Job>>>,
}

/// The idle worker coroutines, by stack size (in may's words): a task asking for another
/// stack size than a parked coroutine has never runs on it.
struct Idle {
    by_stack: Vec<(usize, Vec<Arc<Parked>>)>,
    count: usize,
}

impl Idle {
    fn list(&mut self, stack: usize) -> &mut Vec<Arc<Parked>> {
        let at = match self.by_stack.iter().position(|(size, _)| *size == stack) {
            Some(at) => at,
            None => {
                self.by_stack.push((stack, Vec::new()));
                self.by_stack.len() - 1
            }
        };
        &mut self.by_stack[at].1
    }

    fn pop(&mut self, stack: usize) -> Option<Arc<Parked>> {
        let (_, list) = self.by_stack.iter_mut().find(|(size, _)| *size == stack)?;
        let parked = list.pop()?;
        self.count -= 1;
        Some(parked)
    }

    /// Takes `parked` out of the pool if it is still there.
    fn remove(&mut self, stack: usize, parked: &Arc<Parked>) -> bool {
        let list = self.list(stack);
        match list.iter().position(|p| Arc::ptr_eq(p, parked)) {
            Some(at) => {
                list.swap_remove(at);
                self.count -= 1;
                true
            }
            None => false,
        }
    }
}

pub(crate) fn set_idle_capacity(coroutines: usize) {
    IDLE_CAPACITY.store(coroutines, Ordering::Relaxed);
}

/// How many worker coroutines are parked, waiting for a task.
pub(crate) fn idle() -> usize {
    IDLE.lock().count
}

/// The stack size (in words) a spawn without its own gets: may's configured default.
pub(crate) fn default_stack() -> usize {
    may::config().get_stack_size()
}

/// Gives `job` to an idle worker coroutine with a `stack`-word stack, if there is one;
/// otherwise gives the job back.
pub(crate) fn hand_off(stack: usize, job: Box<dyn Job>) -> Result<(), Box<dyn Job>> {
    let mut idle = IDLE.lock();
    let Some(parked) = idle.pop(stack) else {
        return Err(job);
    };
    job.install(parked.coroutine.clone());
    *parked.next.lock() = Some(job);
    drop(idle);
    parked.coroutine.unpark();
    Ok(())
}

/// Runs `job`, which was handed to an idle coroutine that then found itself cancelled in may,
/// on a new coroutine that joins the pool after it (`stack` is its size in words). If may
/// cannot spawn one, runs it here, where it unwinds at its first blocking call: its joiners
/// then see a cancellation rather than wait forever.
fn spawn_fresh(stack: usize, job: Box<dyn Job>) {
    let holder = Arc::new(Mutex::new(Some(job)));
    let moved = Arc::clone(&holder);
    let job: Box<dyn Job> = Box::new(Forwarded(moved));
    if let Err(error) = spawn(Some(stack), Some(stack), None, job) {
        log::error!("could not spawn a coroutine for a task handed on: {error}");
        if let Some(job) = holder.lock().take() {
            job.run();
        }
    }
}

/// A job that may's failed spawn can give back (see `spawn_fresh`).
struct Forwarded(Arc<Mutex<Option<Box<dyn Job>>>>);

impl Job for Forwarded {
    fn run(self: Box<Self>) -> AfterTask {
        match self.0.lock().take() {
            Some(job) => job.run(),
            None => AfterTask::Retire,
        }
    }

    fn install(&self, coroutine: may::coroutine::Coroutine) {
        if let Some(job) = &*self.0.lock() {
            job.install(coroutine);
        }
    }
}

/// Runs `job` on a new may coroutine with a `words`-word stack (may's default if `None`) and
/// `name`. `pooled` is the stack size it joins the idle pool under after each task, or `None`
/// for one that ends with its task (a named one).
pub(crate) fn spawn(
    pooled: Option<usize>,
    words: Option<usize>,
    name: Option<String>,
    job: Box<dyn Job>,
) -> io::Result<()> {
    let mut builder = may::coroutine::Builder::new();
    if let Some(name) = name {
        builder = builder.name(name);
    }
    if let Some(words) = words {
        builder = builder.stack_size(words);
    }
    // SAFETY: may's spawn is unsafe for two reasons, both part of this crate's documented
    // contract with the code it runs (crate docs, "The coroutine contract"): the coroutine
    // may resume on another OS thread, so it must not keep references into thread-locals
    // across blocking calls; and it must fit its stack.
    let spawned = unsafe { builder.spawn(move || work(pooled, job)) };
    // Detached: the task's own handle joins it.
    spawned.map(drop)
}

/// The body of every coroutine this crate spawns: `job`, then — for a coroutine that may be
/// pooled (`stack` is its stack size) — more tasks, as long as the pool has room for it between
/// them and nothing cancelled it in may.
fn work(stack: Option<usize>, job: Box<dyn Job>) {
    // Only now does the coroutine exist: its task learns it here (a spawner that hands a task
    // to a parked coroutine tells it in `hand_off`).
    let coroutine = may::coroutine::current();
    // So that the coroutine's last handle is never dropped on its own stack (see `reaper.rs`).
    crate::reaper::keep_own_handle(&coroutine);
    job.install(coroutine.clone());
    let mut job = job;
    let mut me = None;
    let mut coroutine = Some(coroutine);
    loop {
        if job.run() == AfterTask::Retire {
            return;
        }
        let Some(stack) = stack else { return };
        let parked = me.get_or_insert_with(|| {
            Arc::new(Parked {
                coroutine: coroutine.take().expect("made once"),
                next: Mutex::new(None),
            })
        });
        match wait_for_a_task(stack, parked) {
            Some(next) => job = next,
            None => return,
        }
    }
}

/// Parks `me` in the idle pool until a task is handed to it; `None` when the pool is full, or
/// when this coroutine was cancelled while parked (it then passes on a task already handed
/// to it).
fn wait_for_a_task(stack: usize, me: &Arc<Parked>) -> Option<Box<dyn Job>> {
    {
        let mut idle = IDLE.lock();
        if idle.count >= IDLE_CAPACITY.load(Ordering::Relaxed) {
            return None;
        }
        idle.list(stack).push(Arc::clone(me));
        idle.count += 1;
    }
    loop {
        if let Some(job) = me.next.lock().take() {
            return Some(job);
        }
        // An unpark that came before this park is kept by may, so a hand-off cannot be missed;
        // a wake-up meant for an earlier task's wait only costs a look at the slot.
        if catch_unwind(AssertUnwindSafe(may::coroutine::park)).is_err() {
            // Cancelled in may while idle, through a handle kept from an earlier task. Every
            // later blocking call would unwind, so this coroutine cannot run a task any more.
            let mut idle = IDLE.lock();
            if idle.remove(stack, me) {
                return None;
            }
            drop(idle);
            // Taken out of the pool by a spawner, which filled the slot under the pool's lock.
            if let Some(job) = me.next.lock().take() {
                log::debug!("an idle coroutine was cancelled in may; its task moves on");
                spawn_fresh(stack, job);
            }
            return None;
        }
    }
}

/// How many worker coroutines with a `stack`-word stack are parked.
#[cfg(test)]
fn idle_with_stack(stack: usize) -> usize {
    let idle = IDLE.lock();
    idle.by_stack
        .iter()
        .find(|(size, _)| *size == stack)
        .map_or(0, |(_, list)| list.len())
}

#[cfg(test)]
mod tests {
    //! Each test spawns with a stack size of its own, so it has the idle coroutines of that
    //! size to itself while the other tests run. A `may::coroutine_local!` marker — exactly the
    //! state that a worker keeps from one task to the next — tells which coroutine a task ran on,
    //! and its drop tells when a coroutine has ended.

    use std::cell::RefCell;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{Builder, Context, ContextKey, JoinHandle};

    /// Written into the worker coroutine by the first task; reports its coroutine's end.
    struct Marker {
        task: u64,
        ended: Option<mpsc::Sender<u64>>,
    }

    impl Drop for Marker {
        fn drop(&mut self) {
            if let Some(ended) = self.ended.take() {
                let _ = ended.send(self.task);
            }
        }
    }

    may::coroutine_local!(static MARKER: RefCell<Option<Marker>> = RefCell::new(None));

    /// The task id in the current coroutine's marker, if a task has left one.
    fn marker() -> Option<u64> {
        MARKER.with(|m| m.borrow().as_ref().map(|m| m.task))
    }

    /// Leaves a marker of the current task in its coroutine.
    fn mark(ended: Option<mpsc::Sender<u64>>) {
        let task = crate::id().unwrap();
        MARKER.with(|m| *m.borrow_mut() = Some(Marker { task, ended }));
    }

    fn builder(stack: usize) -> Builder {
        Builder::new().stack_size(stack * size_of::<usize>())
    }

    /// Waits (bounded) until `stack`'s idle list holds `n` coroutines.
    fn wait_idle(stack: usize, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while idle_with_stack(stack) != n {
            assert!(
                Instant::now() < deadline,
                "{} idle coroutines with stack {stack}, not {n}",
                idle_with_stack(stack)
            );
            std::thread::yield_now();
        }
    }

    /// Asserts (bounded) that the coroutine marked by task `id` ended and left no idle
    /// coroutine of `stack` behind.
    fn assert_ended_unpooled(ended: &mpsc::Receiver<u64>, id: u64, stack: usize) {
        assert_eq!(ended.recv_timeout(Duration::from_secs(20)), Ok(id));
        assert_eq!(idle_with_stack(stack), 0);
    }

    /// Spawns with `stack` a task that leaves its marker, joins it and waits until its
    /// coroutine is parked; returns the task's id.
    fn park_a_marked_worker(stack: usize, ended: Option<mpsc::Sender<u64>>) -> u64 {
        let first = builder(stack)
            .spawn(move || {
                mark(ended);
                crate::id().unwrap()
            })
            .unwrap();
        let id = first.join().unwrap();
        wait_idle(stack, 1);
        id
    }

    #[test]
    fn a_task_that_retires_its_coroutine_ends_it_instead_of_pooling_it() {
        let stack = 5064;
        let (ended, coroutine_ended) = mpsc::channel();
        let task = builder(stack)
            .spawn(move || {
                mark(Some(ended));
                crate::retire_coroutine()
            })
            .unwrap();
        let id = task.id();
        assert!(task.join().unwrap());
        assert_ended_unpooled(&coroutine_ended, id, stack);
    }

    #[test]
    fn retiring_from_a_scope_does_nothing_and_says_so() {
        let stack = 5072;
        let task = builder(stack)
            .spawn(|| crate::scope(crate::retire_coroutine))
            .unwrap();
        assert!(!task.join().unwrap());
        wait_idle(stack, 1);
    }

    #[test]
    fn a_spawn_runs_on_the_coroutine_a_finished_task_left_parked() {
        let stack = 5000;
        let first = park_a_marked_worker(stack, None);
        let seen = builder(stack).spawn(marker).unwrap().join().unwrap();
        assert_eq!(seen, Some(first));
        wait_idle(stack, 1);
    }

    static LEFT: ContextKey<u32> = ContextKey::new("left by the task before");

    #[test]
    fn a_task_after_a_panicked_one_on_its_coroutine_has_a_fresh_id_an_empty_context_and_no_defers()
    {
        let stack = 5008;
        let (ran, defers) = mpsc::channel();
        let first = builder(stack)
            .spawn(move || {
                mark(None);
                Context::set(&LEFT, 7);
                crate::defer(move || ran.send("the panicked task's defer").unwrap());
                panic!("task panics");
            })
            .unwrap();
        let first_id = first.id();
        assert!(first.join().is_err());
        assert_eq!(defers.try_recv(), Ok("the panicked task's defer"));
        wait_idle(stack, 1);
        let next: JoinHandle<_> = builder(stack)
            .spawn(|| (marker(), crate::id(), Context::get(&LEFT)))
            .unwrap();
        let next_id = next.id();
        let (seen, id, left) = next.join().unwrap();
        assert_eq!(seen, Some(first_id), "the same worker coroutine");
        assert_eq!(id, Some(next_id));
        assert_ne!(next_id, first_id);
        assert_eq!(left, None);
        assert!(defers.try_recv().is_err(), "no defer ran twice");
    }

    #[test]
    fn a_coroutine_whose_task_was_cancelled_ends_instead_of_waiting_for_a_task() {
        let stack = 5016;
        let (ended, coroutine_ended) = mpsc::channel();
        let (started, task_started) = mpsc::channel();
        let task = builder(stack)
            .spawn(move || {
                mark(Some(ended));
                started.send(()).unwrap();
                // Parks until cancelled.
                may::coroutine::park();
                may::coroutine::park();
            })
            .unwrap();
        let id = task.id();
        task_started.recv().unwrap();
        // SAFETY: the task holds nothing that a cancellation could leave inconsistent.
        unsafe { task.cancel() };
        assert!(crate::is_cancelled(&task.join().unwrap_err()));
        assert_ended_unpooled(&coroutine_ended, id, stack);
    }

    #[test]
    fn a_cancel_of_a_finished_task_does_not_reach_the_next_task_on_its_coroutine() {
        let stack = 5024;
        let first = builder(stack)
            .spawn(|| {
                mark(None);
                crate::id().unwrap()
            })
            .unwrap();
        let first_id = first.id();
        wait_idle(stack, 1);
        assert!(first.is_finished());
        let go = crate::Channel::new(1);
        let wait_for_go = go.clone();
        let next = builder(stack)
            .spawn(move || {
                let seen = marker();
                // A blocking call, where a cancellation would unwind.
                wait_for_go.pop(None).unwrap();
                seen
            })
            .unwrap();
        // SAFETY: the task has finished; the call must have no effect at all.
        unsafe { first.cancel() };
        go.push((), None).unwrap();
        assert_eq!(next.join().unwrap(), Some(first_id));
        assert_eq!(first.join().unwrap(), first_id);
    }

    #[test]
    fn an_idle_coroutine_cancelled_through_its_may_handle_ends() {
        let stack = 5032;
        let (ended, coroutine_ended) = mpsc::channel();
        let first = builder(stack)
            .spawn(move || {
                mark(Some(ended));
                may::coroutine::current()
            })
            .unwrap();
        let id = first.id();
        let coroutine = first.join().unwrap();
        wait_idle(stack, 1);
        // SAFETY: the coroutine is parked in the pool, between tasks: nothing of a task is
        // dropped.
        unsafe { coroutine.cancel() };
        assert_ended_unpooled(&coroutine_ended, id, stack);
    }

    #[test]
    fn a_spawn_with_another_stack_size_gets_a_new_coroutine() {
        let stack = 5040;
        park_a_marked_worker(stack, None);
        let seen = builder(stack + 1).spawn(marker).unwrap().join().unwrap();
        assert_eq!(seen, None);
        assert_eq!(idle_with_stack(stack), 1);
    }

    #[test]
    fn a_named_spawn_gets_a_new_coroutine_that_is_not_kept() {
        let stack = 5048;
        park_a_marked_worker(stack, None);
        let (ended, coroutine_ended) = mpsc::channel();
        let named = builder(stack)
            .name("named")
            .spawn(move || {
                let seen = marker();
                mark(Some(ended));
                seen
            })
            .unwrap();
        let id = named.id();
        assert_eq!(named.join().unwrap(), None);
        assert_eq!(
            coroutine_ended.recv_timeout(Duration::from_secs(20)),
            Ok(id)
        );
        assert_eq!(idle_with_stack(stack), 1);
    }
}
