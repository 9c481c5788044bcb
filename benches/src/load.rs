//! The closed-loop load the socket benches share: clients in coroutines, a warm-up, a counted
//! window, and what it measured (requests, the server's CPU time, latencies).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one counted window measured.
#[derive(Debug, Clone, Default)]
pub struct Load {
    /// Requests completed in the window.
    pub requests: u64,
    /// The window's length.
    pub elapsed: Duration,
    /// The server's CPU time in the window.
    pub server_cpu: Duration,
    /// Every latency sample of the window, in µs, sorted.
    pub latencies_us: Vec<u32>,
}

impl Load {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The server's busy cores on average.
    pub fn cores(&self) -> f64 {
        self.server_cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }

    /// The server's CPU time per request, in ns.
    pub fn cpu_per_request(&self) -> f64 {
        self.server_cpu.as_nanos() as f64 / self.requests.max(1) as f64
    }

    /// Pools `run` into this one (its latencies are appended, not re-sorted).
    pub fn add(&mut self, run: Load) {
        self.requests += run.requests;
        self.elapsed += run.elapsed;
        self.server_cpu += run.server_cpu;
        self.latencies_us.extend(run.latencies_us);
    }
}

/// The flags a client reads and the count it adds to.
#[derive(Debug)]
pub struct Window<'a> {
    /// Set when the load ends: the client returns.
    pub stop: &'a AtomicBool,
    /// Set while the window is open: only then does a client count requests and latencies.
    pub counting: &'a AtomicBool,
    /// Requests completed while counting.
    pub completed: &'a AtomicU64,
}

/// Runs `connections` clients, each `client(n, window)` in a coroutine of its own returning its
/// latency samples, for `warm_up` and then a counted window of `duration`, reading the
/// server's CPU time with `server_cpu` at the window's two ends.
pub fn closed_loop<C>(
    connections: usize,
    warm_up: Duration,
    duration: Duration,
    server_cpu: impl Fn() -> Duration,
    client: C,
) -> Load
where
    C: Fn(usize, Window<'_>) -> Vec<u32> + Clone + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..connections)
        .map(|n| {
            let (stop, counting, completed) = (stop.clone(), counting.clone(), completed.clone());
            let client = client.clone();
            runtime::spawn(move || {
                client(
                    n,
                    Window {
                        stop: &stop,
                        counting: &counting,
                        completed: &completed,
                    },
                )
            })
        })
        .collect();
    std::thread::sleep(warm_up);
    counting.store(true, Ordering::SeqCst);
    let (cpu_before, began) = (server_cpu(), Instant::now());
    std::thread::sleep(duration);
    counting.store(false, Ordering::SeqCst);
    let (cpu_after, elapsed) = (server_cpu(), began.elapsed());
    stop.store(true, Ordering::SeqCst);
    let mut latencies_us = Vec::new();
    for client in clients {
        latencies_us.extend(client.join().expect("a load client"));
    }
    latencies_us.sort_unstable();
    Load {
        requests: completed.load(Ordering::SeqCst),
        elapsed,
        server_cpu: cpu_after.saturating_sub(cpu_before),
        latencies_us,
    }
}

/// The length of the complete response at the start of `bytes`, if it is all there.
pub fn response_length(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let body: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    (bytes.len() >= head_end + body).then_some(head_end + body)
}

/// The `p`-th quantile (0.0 to 1.0) of `sorted`; 0 when it is empty.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
