//! The coordinator's costs, each beside its baseline measured in the same run.
//!
//! `cargo bench -p benches --bench coordinator` (add `-- --quick` for a short run).

// `criterion_group!` generates undocumented items.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use coordinator::constants::WORKER_START;
use coordinator::{Coordinator, CoordinatorManager};
use criterion::{Criterion, criterion_group};
use may::coroutine::JoinHandle;
use parking_lot::RwLock;

/// A released `yield()` on a handle the caller holds, against the floor: one acquire load of an
/// `AtomicBool` and a branch.
fn released_yield(c: &mut Criterion) {
    let mut group = c.benchmark_group("released_yield");
    let flag = AtomicBool::new(true);
    group.bench_function("baseline_atomic_bool_load", |b| {
        b.iter(|| black_box(&flag).load(Ordering::Acquire) || slow_path())
    });
    let coordinator = Coordinator::new();
    coordinator.resume();
    group.bench_function("coordinator_yield", |b| {
        b.iter(|| black_box(&coordinator).r#yield())
    });
    group.finish();
}

#[inline(never)]
fn slow_path() -> bool {
    black_box(false)
}

/// `CoordinatorManager::until(WORKER_START)` then a released `yield()` — what every request
/// does — on two threads at once, against a plain `RwLock<HashMap>` registry doing the same.
fn until_then_yield_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("until_then_yield_2_threads");
    let registry: RwLock<HashMap<String, Arc<AtomicBool>>> = RwLock::new(HashMap::from([(
        WORKER_START.to_string(),
        Arc::new(AtomicBool::new(true)),
    )]));
    group.bench_function("baseline_rwlock_hashmap", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, || {
                let released = registry.read().get(black_box(WORKER_START)).cloned();
                released.is_some_and(|flag| flag.load(Ordering::Acquire))
            })
        })
    });
    CoordinatorManager::until(WORKER_START).resume();
    group.bench_function("coordinator_manager", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, || {
                CoordinatorManager::until(black_box(WORKER_START)).r#yield()
            })
        })
    });
    group.finish();
}

/// Runs `op` `iters` times on each of two threads started together; the time of the slower.
fn on_two_threads(iters: u64, op: impl Fn() -> bool + Sync) -> Duration {
    let start = Barrier::new(2);
    std::thread::scope(|scope| {
        let run = || {
            start.wait();
            let began = Instant::now();
            for _ in 0..iters {
                black_box(op());
            }
            began.elapsed()
        };
        let other = scope.spawn(run);
        let mine = run();
        mine.max(other.join().unwrap())
    })
}

const PARKED: usize = 10_000;

/// `resume()` waking 10,000 parked coroutines, timed until the last of them has run; against
/// unparking as many coroutines one by one with may's own `Coroutine::unpark`. Each woken
/// coroutine counts itself (the last one releases the measuring thread) and then parks again
/// until the round is over: a coroutine's exit can cost more than its wake-up (may unmaps the
/// stacks its pool does not keep), and that is not what is measured here.
fn resume_wakes_parked_coroutines(c: &mut Criterion) {
    let mut group = c.benchmark_group("wake_10000_parked_coroutines");
    group.sample_size(10);
    group.bench_function("baseline_may_unpark_each", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let parked = Arc::new(AtomicUsize::new(0));
                    time_wake_round(
                        |round| {
                            let (parked, round) = (Arc::clone(&parked), round.clone());
                            may::go!(move || {
                                parked.fetch_add(1, Ordering::Release);
                                may::coroutine::park();
                                round.woke();
                            })
                        },
                        || parked.load(Ordering::Acquire) == PARKED,
                        |handles| handles.iter().for_each(|h| h.coroutine().unpark()),
                    )
                })
                .sum()
        })
    });
    group.bench_function("coordinator_resume", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let gate = Coordinator::new();
                    time_wake_round(
                        |round| {
                            let (gate, round) = (gate.clone(), round.clone());
                            may::go!(move || {
                                gate.r#yield();
                                round.woke();
                            })
                        },
                        || gate.waiters() == PARKED,
                        |_| gate.resume(),
                    )
                })
                .sum()
        })
    });
    group.finish();
}

/// Spawns `PARKED` coroutines with `spawn_parked`, waits until `all_parked`, then times `wake`
/// until the last coroutine has called [`WakeRound::woke`].
fn time_wake_round(
    spawn_parked: impl Fn(&WakeRound) -> JoinHandle<()>,
    all_parked: impl Fn() -> bool,
    wake: impl FnOnce(&[JoinHandle<()>]),
) -> Duration {
    let round = WakeRound::new();
    let handles: Vec<_> = (0..PARKED).map(|_| spawn_parked(&round)).collect();
    wait_until(all_parked);
    let began = Instant::now();
    wake(&handles);
    round.all_woke.r#yield();
    let elapsed = began.elapsed();
    round.finished.resume();
    handles.into_iter().for_each(|h| h.join().unwrap());
    elapsed
}

/// Counts woken coroutines; the last one resumes `all_woke`. Woken coroutines then wait for
/// `finished`.
#[derive(Clone)]
struct WakeRound {
    woken: Arc<AtomicUsize>,
    all_woke: Coordinator,
    finished: Coordinator,
}

impl WakeRound {
    fn new() -> Self {
        WakeRound {
            woken: Arc::new(AtomicUsize::new(0)),
            all_woke: Coordinator::new(),
            finished: Coordinator::new(),
        }
    }

    fn woke(&self) {
        if self.woken.fetch_add(1, Ordering::AcqRel) + 1 == PARKED {
            self.all_woke.resume();
        }
        self.finished.r#yield();
    }
}

fn wait_until(condition: impl Fn() -> bool) {
    while !condition() {
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn configure_may() -> Criterion {
    may::config().set_workers(2).set_worker_pin(false);
    Criterion::default()
}

criterion_group! {
    name = coordinator_benches;
    config = configure_may();
    targets = released_yield, until_then_yield_two_threads, resume_wakes_parked_coroutines
}
fn main() {
    coordinator_benches();
    Criterion::default().configure_from_args().final_summary();
    benches::print_ratios(&[
        "released_yield",
        "until_then_yield_2_threads",
        "wake_10000_parked_coroutines",
    ]);
}
