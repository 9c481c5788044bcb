//! Resident memory per parked coroutine: 30,000 `runtime::spawn` coroutines parked on a
//! coordinator, beside 30,000 raw `may::go!` coroutines parked with `may::coroutine::park`.
//!
//! `cargo bench -p benches --bench memory`. Not a criterion benchmark: it reads the process's
//! resident set size (`/proc/self/statm`, Linux only) before and after.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coordinator::Coordinator;

/// 30,000 fit under Linux's default `vm.max_map_count` (65,530): may maps two regions a stack.
const COROUTINES: usize = 30_000;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's second field is the resident page count");
    // The page size is 4 KiB on the machines this runs on.
    pages * 4096
}

fn wait_until(condition: impl Fn() -> bool) {
    while !condition() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Parks `COROUTINES` coroutines with `spawn_parked`, waits until `parked()` says all are, and
/// returns the resident memory they added, per coroutine; then releases them with `release`.
fn per_coroutine<H>(
    spawn_parked: impl Fn() -> H,
    parked: impl Fn() -> bool,
    release: impl FnOnce(Vec<H>),
) -> usize {
    let before = resident_bytes();
    let handles: Vec<H> = (0..COROUTINES).map(|_| spawn_parked()).collect();
    wait_until(parked);
    let per = resident_bytes().saturating_sub(before) / COROUTINES;
    release(handles);
    per
}

fn main() {
    runtime::configure(runtime::Config::default().workers(2)).expect("first thing in main");
    // Warm the scheduler and the allocator so the first measurement is not charged for them.
    runtime::spawn(|| ()).join().unwrap();

    // Ours first: memory a finished round leaves resident (allocator caches, pooled stacks)
    // can only flatter the round after it, so the baseline gets that advantage.
    let gate = Coordinator::new();
    let ours = per_coroutine(
        || {
            let gate = gate.clone();
            runtime::spawn(move || gate.r#yield())
        },
        || gate.waiters() == COROUTINES,
        |handles| {
            gate.resume();
            handles.into_iter().for_each(|h| assert!(h.join().unwrap()));
        },
    );

    let count = Arc::new(AtomicUsize::new(0));
    let baseline = per_coroutine(
        || {
            let count = Arc::clone(&count);
            may::go!(move || {
                count.fetch_add(1, Ordering::Release);
                may::coroutine::park();
            })
        },
        || count.load(Ordering::Acquire) == COROUTINES,
        |handles| {
            handles.iter().for_each(|h| h.coroutine().unpark());
            handles.into_iter().for_each(|h| h.join().unwrap());
        },
    );

    println!("resident memory per parked coroutine ({COROUTINES} at once)");
    println!("  baseline may::go! + park:         {baseline:>6} bytes");
    println!("  runtime::spawn + Coordinator wait: {ours:>6} bytes");
    println!(
        "  ratio:                            {:>6.2}x",
        ours as f64 / baseline as f64
    );
}
