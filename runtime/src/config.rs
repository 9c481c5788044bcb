//! One-time configuration of may's scheduler, before the first coroutine.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// How may's scheduler is set up: applied once, before the first coroutine is spawned.
///
/// may reads its worker count, pinning and stack pool when its scheduler starts and silently
/// ignores later changes; [`configure`] refuses them with [`ConfigError::AlreadyStarted`]
/// instead.
///
/// ```
/// runtime::configure(runtime::Config::default().workers(2).stack_size(64 * 1024)).unwrap();
/// assert_eq!(runtime::spawn(|| 1).join().unwrap(), 1);
/// // Too late now: the scheduler runs.
/// assert!(runtime::configure(runtime::Config::default().workers(4)).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    workers: Option<usize>,
    stack_size: Option<usize>,
    pool_capacity: Option<usize>,
    idle_coroutines: Option<usize>,
    pin_workers: bool,
    offload_threads: Option<usize>,
    offload_queue: Option<usize>,
    bridge_threads: Option<usize>,
}

impl Default for Config {
    /// may's defaults (a worker per CPU, a pool of 1,000 stacks) but for the stack size
    /// ([`DEFAULT_STACK_SIZE`](Self::DEFAULT_STACK_SIZE), 128 KiB instead of may's 32), and 256 idle
    /// worker coroutines, with worker threads not pinned to cores: pinning hurts on shared
    /// hosts and in tests.
    fn default() -> Self {
        Config {
            workers: None,
            stack_size: Some(Config::DEFAULT_STACK_SIZE),
            pool_capacity: None,
            idle_coroutines: None,
            pin_workers: false,
            offload_threads: None,
            offload_queue: None,
            bridge_threads: None,
        }
    }
}

impl Config {
    /// The default coroutine stack size: 128 KiB. The runtime's own share of a spawned
    /// coroutine's stack is under 2 KiB (`cargo run --release -p benches --bin stack_use`);
    /// the rest is the task's. may's own default, 32 KiB, is exhausted by ordinary library
    /// code (`serde_json` into a `Value` a few dozen levels deep), and untouched stack
    /// pages cost no memory, so the larger default costs only address space.
    pub const DEFAULT_STACK_SIZE: usize = 128 * 1024;

    /// Scheduler worker threads (default: one per CPU).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers.max(1));
        self
    }

    /// Default coroutine stack size in bytes ([`DEFAULT_STACK_SIZE`](Self::DEFAULT_STACK_SIZE),
    /// 128 KiB). Untouched stack pages cost no memory, so a generous size is cheap; an
    /// overflow ends the process.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// How many finished coroutines' stacks may keeps for reuse (may's default: 1,000). Past it,
    /// a finishing coroutine unmaps its stack, which costs more than the coroutine's wake-up:
    /// raise it for servers that churn through many connections.
    pub fn pool_capacity(mut self, stacks: usize) -> Self {
        self.pool_capacity = Some(stacks);
        self
    }

    /// How many finished coroutines wait, parked, for the next spawn with their stack size
    /// (default: 256; see the crate docs, "Worker coroutines"). A spawn that finds one costs a
    /// wake-up instead of a new coroutine; each costs the stack pages it touched while it
    /// waits. 0 turns the reuse off: every spawn is a new may coroutine.
    pub fn idle_coroutines(mut self, coroutines: usize) -> Self {
        self.idle_coroutines = Some(coroutines);
        self
    }

    /// Pin each worker thread to a core (default: no).
    pub fn pin_workers(mut self, pin: bool) -> Self {
        self.pin_workers = pin;
        self
    }

    /// Threads of the [`offload`](crate::offload()) pool (default: 16; the
    /// [`offload`](mod@crate::offload) module says why). Read when the pool starts, at the first
    /// `offload`.
    pub fn offload_threads(mut self, threads: usize) -> Self {
        self.offload_threads = Some(threads.max(1));
        self
    }

    /// How many closures wait for an [`offload`](crate::offload()) thread before callers wait
    /// for room (default: 1,024).
    pub fn offload_queue(mut self, closures: usize) -> Self {
        self.offload_queue = Some(closures.max(1));
        self
    }

    /// Worker threads of the tokio runtime [`block_on`](crate::block_on()) starts (default:
    /// tokio's, one per CPU). Ignored when the program gives its own runtime
    /// ([`bridge::use_handle`](crate::bridge::use_handle)) or once the runtime has started.
    #[cfg(feature = "tokio")]
    pub fn bridge_threads(mut self, threads: usize) -> Self {
        self.bridge_threads = Some(threads.max(1));
        self
    }

    fn apply(&self) {
        let may = may::config();
        if let Some(workers) = self.workers {
            may.set_workers(workers);
        }
        if let Some(bytes) = self.stack_size {
            may.set_stack_size(bytes.div_ceil(size_of::<usize>()));
        }
        if let Some(stacks) = self.pool_capacity {
            may.set_pool_capacity(stacks);
        }
        may.set_worker_pin(self.pin_workers);
        crate::pool::set_idle_capacity(
            self.idle_coroutines
                .unwrap_or(crate::pool::DEFAULT_IDLE_CAPACITY),
        );
        crate::offload::set_threads(
            self.offload_threads
                .unwrap_or(crate::offload::DEFAULT_THREADS),
        );
        crate::offload::set_queue(self.offload_queue.unwrap_or(crate::offload::DEFAULT_QUEUE));
        #[cfg(feature = "tokio")]
        crate::bridge::set_threads(self.bridge_threads.unwrap_or(0));
    }
}

/// Why [`configure`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A coroutine was already spawned: may's scheduler runs with the settings it started with.
    AlreadyStarted,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::AlreadyStarted => f.write_str(
                "the runtime is already running (a coroutine was spawned): configure it before the first spawn",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

static STARTED: AtomicBool = AtomicBool::new(false);
/// Serialises `configure` with the first spawn.
static SETUP: Mutex<bool> = Mutex::new(false);

/// Applies `config` to may's scheduler. Call it once, before the first coroutine; without it
/// the first spawn applies [`Config::default`].
pub fn configure(config: Config) -> Result<(), ConfigError> {
    let mut configured = SETUP.lock();
    if STARTED.load(Ordering::Acquire) {
        return Err(ConfigError::AlreadyStarted);
    }
    config.apply();
    *configured = true;
    Ok(())
}

/// Called by every spawn; the first one fixes the configuration.
#[inline]
pub(crate) fn mark_started() {
    if !STARTED.load(Ordering::Acquire) {
        start();
    }
}

#[cold]
fn start() {
    let mut configured = SETUP.lock();
    if !STARTED.load(Ordering::Acquire) {
        if !*configured {
            Config::default().apply();
            *configured = true;
        }
        STARTED.store(true, Ordering::Release);
    }
}
