//! The runtime's costs, each beside its raw-may baseline measured in the same run.
//!
//! `cargo bench -p benches --bench runtime` (add `-- --quick` for a short run).

// `criterion_group!` generates undocumented items.
#![allow(missing_docs)]

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use runtime::{Channel, Context, ContextKey};

/// `runtime::spawn` + join against `may::go!` + join, both from inside a coroutine, in batches
/// of `BATCH` spawns then `BATCH` joins (one spawn then one join at a time mostly measures how
/// long the other worker thread takes to wake up).
const BATCH: u64 = 100;

fn spawn_and_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_and_join");
    group.bench_function("baseline_may_go", |b| {
        b.iter_custom(|iters| {
            timed_in_coroutine(iters, |iters| {
                for _ in 0..iters / BATCH {
                    let batch: Vec<_> = (0..BATCH).map(|_| may::go!(|| black_box(1))).collect();
                    for handle in batch {
                        black_box(handle.join().unwrap());
                    }
                }
            })
        })
    });
    group.bench_function("runtime_spawn", |b| {
        b.iter_custom(|iters| {
            timed_in_coroutine(iters, |iters| {
                for _ in 0..iters / BATCH {
                    let batch: Vec<_> = (0..BATCH)
                        .map(|_| runtime::spawn(|| black_box(1)))
                        .collect();
                    for handle in batch {
                        black_box(handle.join().unwrap());
                    }
                }
            })
        })
    });
    // Where the runtime stands among runtimes: the same batches as tokio tasks on a
    // current-thread runtime, and as jobs on a pool of two OS threads.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    group.bench_function("reference_tokio_spawn_await", |b| {
        b.iter_custom(|iters| {
            tokio.block_on(async {
                let began = Instant::now();
                for _ in 0..iters / BATCH {
                    let batch: Vec<_> = (0..BATCH)
                        .map(|_| tokio::spawn(async { black_box(1) }))
                        .collect();
                    for handle in batch {
                        black_box(handle.await.unwrap());
                    }
                }
                began.elapsed()
            })
        })
    });
    let pool = ThreadPool::new(2);
    group.bench_function("reference_std_thread_pool", |b| {
        b.iter_custom(|iters| {
            let began = Instant::now();
            for _ in 0..iters / BATCH {
                let batch: Vec<_> = (0..BATCH).map(|_| pool.run(|| black_box(1))).collect();
                for result in batch {
                    black_box(result.recv().unwrap());
                }
            }
            began.elapsed()
        })
    });
    group.finish();
}

/// The thread pool people write with `std` alone: jobs on a shared channel, each result back
/// on a channel of its own (the join).
struct ThreadPool {
    jobs: Option<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ThreadPool {
    fn new(threads: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let threads = (0..threads)
            .map(|_| {
                let queue = std::sync::Arc::clone(&queue);
                std::thread::spawn(move || {
                    loop {
                        let job = queue.lock().unwrap().recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        ThreadPool {
            jobs: Some(jobs),
            threads,
        }
    }

    fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> std::sync::mpsc::Receiver<T> {
        let (result, joined) = std::sync::mpsc::sync_channel(1);
        let job = Box::new(move || drop(result.send(job())));
        self.jobs.as_ref().unwrap().send(job).unwrap();
        joined
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for thread in self.threads.drain(..) {
            drop(thread.join());
        }
    }
}

/// Runs `body(iters)` inside one runtime coroutine and returns the time it took there.
fn timed_in_coroutine(iters: u64, body: fn(u64)) -> Duration {
    runtime::spawn(move || {
        let began = Instant::now();
        body(iters);
        began.elapsed()
    })
    .join()
    .unwrap()
}

/// Defers per coroutine in the defer benchmark: a realistic stack depth, and one spawn spread
/// over many defers.
const DEFERS: u64 = 10_000;

/// Spawns coroutines that each call `register(n)` `DEFERS` times, `iters` calls in all; the
/// time from the first spawn until the last coroutine (and so its defers) has finished.
fn time_defers(iters: u64, register: fn(u64)) -> Duration {
    // Spawned and joined from a coroutine: joining from a thread would add its wake-up.
    runtime::spawn(move || {
        let began = Instant::now();
        for _ in 0..iters.div_ceil(DEFERS) {
            runtime::spawn(move || (0..DEFERS).for_each(register))
                .join()
                .unwrap();
        }
        began.elapsed()
    })
    .join()
    .unwrap()
}

/// One `defer` registered and run (at its coroutine's end), against the same closures pushed
/// on a plain vector and run LIFO at the coroutine's end by hand.
fn defer_registered_and_run(c: &mut Criterion) {
    may::coroutine_local!(static STACK: RefCell<Vec<Box<dyn FnOnce()>>> = RefCell::new(Vec::new()));
    let mut group = c.benchmark_group("defer_registered_and_run");
    group.bench_function("baseline_vec_of_boxed_closures", |b| {
        b.iter_custom(|iters| {
            time_defers(iters, |n| {
                STACK.with(|stack| {
                    let mut stack = stack.borrow_mut();
                    stack.push(Box::new(move || {
                        black_box(n);
                    }));
                    if n == DEFERS - 1 {
                        while let Some(deferred) = stack.pop() {
                            deferred();
                        }
                    }
                })
            })
        })
    });
    group.bench_function("runtime_defer", |b| {
        b.iter_custom(|iters| {
            time_defers(iters, |n| {
                runtime::defer(move || {
                    black_box(n);
                })
            })
        })
    });
    group.finish();
}

may::coroutine_local!(static LOCAL: u64 = 7);
static KEY: ContextKey<u64> = ContextKey::new("bench");

/// `Context::get` (and the borrowing `Context::with`) of a present key against reading may's
/// `coroutine_local!`.
fn context_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("context_get_present_key");
    group.bench_function("baseline_may_coroutine_local", |b| {
        b.iter_custom(|iters| {
            timed_in_coroutine(iters, |iters| {
                for _ in 0..iters {
                    black_box(LOCAL.with(|value| *value));
                }
            })
        })
    });
    group.bench_function("runtime_context_get", |b| {
        b.iter_custom(|iters| {
            timed_in_coroutine(iters, |iters| {
                Context::set(&KEY, 7);
                for _ in 0..iters {
                    black_box(Context::get(&KEY));
                }
            })
        })
    });
    // The borrowing read: no clone (for a `u64` the clone is free, so this shows the lookup).
    group.bench_function("runtime_context_with", |b| {
        b.iter_custom(|iters| {
            timed_in_coroutine(iters, |iters| {
                Context::set(&KEY, 7);
                for _ in 0..iters {
                    black_box(Context::with(&KEY, |value| value.copied()));
                }
            })
        })
    });
    group.finish();
}

/// One round trip between two coroutines over a pair of `Channel`s, against the same over a
/// pair of may's `mpsc` channels.
fn channel_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel_ping_pong_round_trip");
    group.bench_function("baseline_may_mpsc", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
            let echo = runtime::spawn(move || {
                while let Ok(n) = ping_rx.recv() {
                    pong_tx.send(n).unwrap();
                }
            });
            let elapsed = runtime::spawn(move || {
                let began = Instant::now();
                for n in 0..iters {
                    ping_tx.send(n).unwrap();
                    black_box(pong_rx.recv().unwrap());
                }
                began.elapsed()
            })
            .join()
            .unwrap();
            echo.join().unwrap();
            elapsed
        })
    });
    group.bench_function("runtime_channel", |b| {
        b.iter_custom(|iters| {
            let (ping, pong) = (Channel::<u64>::new(1), Channel::<u64>::new(1));
            let (echo_ping, echo_pong) = (ping.clone(), pong.clone());
            let echo = runtime::spawn(move || {
                while let Ok(n) = echo_ping.pop(None) {
                    echo_pong.push(n, None).unwrap();
                }
            });
            let elapsed = runtime::spawn(move || {
                let began = Instant::now();
                for n in 0..iters {
                    ping.push(n, None).unwrap();
                    black_box(pong.pop(None).unwrap());
                }
                ping.close();
                began.elapsed()
            })
            .join()
            .unwrap();
            echo.join().unwrap();
            elapsed
        })
    });
    group.finish();
}

fn configure() -> Criterion {
    runtime::configure(runtime::Config::default().workers(2)).expect("configured before any spawn");
    Criterion::default()
}

criterion_group! {
    name = runtime_benches;
    config = configure();
    targets = spawn_and_join, defer_registered_and_run, context_get, channel_ping_pong
}
fn main() {
    runtime_benches();
    Criterion::default().configure_from_args().final_summary();
    benches::print_ratios(&[
        "spawn_and_join",
        "defer_registered_and_run",
        "context_get_present_key",
        "channel_ping_pong_round_trip",
    ]);
}
