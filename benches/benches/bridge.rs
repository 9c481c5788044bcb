//! The async bridge (`runtime::block_on`) and the offload pool (`runtime::offload`), each beside
//! its tokio baseline measured in the same run, on the same tokio runtime (the bridge's).
//!
//! `cargo bench -p benches --bench bridge` (add `-- --quick` for a short run).
//!
//! - `block_on_ready`: a ready future, `runtime::block_on` from a coroutine against
//!   `tokio::spawn(..).await` from a tokio task.
//! - `block_on_woken`: a future that waits for a tokio oneshot sent by a task it spawns,
//!   `runtime::block_on` from a coroutine against awaiting the same future in a tokio task.
//! - `offload_round_trip`: a trivial closure, `runtime::offload` from a coroutine against
//!   `tokio::task::spawn_blocking(..).await` from a tokio task.

// `criterion_group!` generates undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};

/// Runs `body(iters)` in a coroutine; the time it took.
fn timed_in_coroutine(iters: u64, body: fn(u64)) -> Duration {
    runtime::spawn(move || {
        let began = Instant::now();
        body(iters);
        began.elapsed()
    })
    .join()
    .unwrap()
}

/// Runs `body(iters)` in a task of the bridge's tokio runtime; the time it took.
fn timed_in_tokio<F>(iters: u64, body: fn(u64) -> F) -> Duration
where
    F: Future<Output = ()> + Send + 'static,
{
    let tokio = runtime::bridge::handle();
    tokio
        .block_on(tokio.spawn(async move {
            let began = Instant::now();
            body(iters).await;
            began.elapsed()
        }))
        .unwrap()
}

/// The future of `block_on_woken`: woken by a task it spawns.
async fn woken_by_a_task() -> u64 {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = sender.send(black_box(1));
    });
    receiver.await.unwrap()
}

fn block_on_ready(c: &mut Criterion) {
    let mut group = c.benchmark_group("block_on_ready");
    group.bench_function("baseline_tokio_spawn_await", |b| {
        b.iter_custom(|iters| {
            timed_in_tokio(iters, |iters| async move {
                for _ in 0..iters {
                    black_box(tokio::spawn(async { black_box(1) }).await.unwrap());
                }
            })
        })
    });
    group.bench_function("runtime_block_on", |b| {
        b.iter_custom(|iters| {
            timed_in_coroutine(iters, |iters| {
                for _ in 0..iters {
                    black_box(runtime::block_on(async { black_box(1) }));
                }
            })
        })
    });
    group.finish();
}

fn block_on_woken(c: &mut Criterion) {
    let mut group = c.benchmark_group("block_on_woken");
    group.bench_function("baseline_tokio_await", |b| {
        b.iter_custom(|iters| {
            timed_in_tokio(iters, |iters| async move {
                for _ in 0..iters {
                    black_box(woken_by_a_task().await);
                }
            })
        })
    });
    group.bench_function("runtime_block_on", |b| {
        b.iter_custom(|iters| {
            timed_in_coroutine(iters, |iters| {
                for _ in 0..iters {
                    black_box(runtime::block_on(woken_by_a_task()));
                }
            })
        })
    });
    group.finish();
}

fn offload_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("offload_round_trip");
    group.bench_function("baseline_tokio_spawn_blocking", |b| {
        b.iter_custom(|iters| {
            timed_in_tokio(iters, |iters| async move {
                for _ in 0..iters {
                    black_box(tokio::task::spawn_blocking(|| black_box(1)).await.unwrap());
                }
            })
        })
    });
    group.bench_function("runtime_offload", |b| {
        b.iter_custom(|iters| {
            timed_in_coroutine(iters, |iters| {
                for _ in 0..iters {
                    black_box(runtime::offload(|| black_box(1)).unwrap());
                }
            })
        })
    });
    group.finish();
}

fn configure() -> Criterion {
    runtime::configure(runtime::Config::default().workers(2).bridge_threads(2))
        .expect("configured before any spawn");
    Criterion::default()
}

criterion_group! {
    name = bridge_benches;
    config = configure();
    targets = block_on_ready, block_on_woken, offload_round_trip
}

fn main() {
    bridge_benches();
    Criterion::default().configure_from_args().final_summary();
    benches::print_ratios(&["block_on_ready", "block_on_woken", "offload_round_trip"]);
}
