//! Spawning, identity, panics and stats.

mod common;

use common::{LIMIT, eventually, setup, within};

#[test]
fn join_returns_the_coroutines_value() {
    setup();
    assert_eq!(runtime::spawn(|| 6 * 7).join().unwrap(), 42);
}

#[test]
fn go_macro_spawns_like_spawn() {
    setup();
    assert_eq!(runtime::go!(|| "done").join().unwrap(), "done");
}

#[test]
fn join_returns_the_panic_of_a_panicking_coroutine() {
    setup();
    let error = runtime::spawn(|| panic!("boom")).join().unwrap_err();
    assert_eq!(error.downcast_ref::<&str>(), Some(&"boom"));
    assert!(!runtime::is_cancelled(&error));
}

#[test]
fn a_panicking_coroutine_is_counted_and_the_runtime_goes_on() {
    setup();
    let before = runtime::stats().panicked;
    assert!(runtime::spawn(|| panic!("counted")).join().is_err());
    assert!(runtime::stats().panicked > before);
    assert_eq!(runtime::spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn ids_are_none_outside_and_unique_inside_coroutines() {
    setup();
    assert_eq!(runtime::id(), None);
    assert_eq!(runtime::parent_id(), None);
    assert!(!runtime::in_coroutine());
    let a = runtime::spawn(runtime::id);
    let b = runtime::spawn(runtime::id);
    let (a_id, b_id) = (a.id(), b.id());
    assert_eq!(a.join().unwrap(), Some(a_id));
    assert_eq!(b.join().unwrap(), Some(b_id));
    assert_ne!(a_id, b_id);
    assert!(runtime::spawn(runtime::in_coroutine).join().unwrap());
}

#[test]
fn top_level_coroutine_has_parent_zero_and_a_child_has_its_creator() {
    setup();
    let (top, child_parent) = runtime::spawn(|| {
        let me = runtime::id().unwrap();
        let child_parent = runtime::spawn(runtime::parent_id).join().unwrap();
        ((me, runtime::parent_id()), child_parent)
    })
    .join()
    .unwrap();
    assert_eq!(top.1, Some(0));
    assert_eq!(child_parent, Some(top.0));
}

#[test]
fn a_coroutine_spawned_with_may_directly_is_not_a_runtime_coroutine() {
    setup();
    assert_eq!(may::go!(runtime::id).join().unwrap(), None);
}

#[test]
fn stats_count_spawned_and_live_coroutines() {
    setup();
    let before = runtime::stats();
    let gate = coordinator::Coordinator::new();
    let waiting = gate.clone();
    let handle = runtime::spawn(move || waiting.r#yield());
    let now = runtime::stats();
    assert!(now.spawned > before.spawned);
    assert!(now.live >= 1, "the parked coroutine is live");
    gate.resume();
    assert!(within(LIMIT, move || handle.join().unwrap()));
}

#[test]
fn builder_names_and_sizes_a_coroutine() {
    setup();
    let handle = runtime::Builder::new()
        .name("sized")
        .stack_size(256 * 1024)
        .spawn(|| {
            // A frame far beyond may's 32 KiB default stack.
            let big = std::hint::black_box([1u8; 100 * 1024]);
            big.iter().map(|&b| u32::from(b)).sum::<u32>()
        })
        .unwrap();
    assert_eq!(within(LIMIT, move || handle.join().unwrap()), 100 * 1024);
}

#[test]
fn cancelled_coroutine_reports_a_cancellation() {
    setup();
    let gate = coordinator::Coordinator::new();
    let waiting = gate.clone();
    let handle = runtime::spawn(move || waiting.r#yield());
    eventually(LIMIT, "the coroutine parks", || gate.waiters() == 1);
    // SAFETY: the coroutine holds nothing that unwinding could leave inconsistent.
    unsafe { handle.cancel() };
    let error = within(LIMIT, move || handle.join()).unwrap_err();
    assert!(runtime::is_cancelled(&error));
}

#[test]
fn configure_after_the_first_spawn_is_refused() {
    setup();
    runtime::spawn(|| ()).join().unwrap();
    assert_eq!(
        runtime::configure(runtime::Config::default().workers(3)),
        Err(runtime::ConfigError::AlreadyStarted)
    );
}
