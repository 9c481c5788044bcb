//! `Context`: isolation, the Hyperf operations, copies and reads across coroutines.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{LIMIT, setup, within};
use coordinator::Coordinator;
use runtime::{Context, ContextKey};

static NAME: ContextKey<Arc<String>> = ContextKey::new("name");
static COUNT: ContextKey<u32> = ContextKey::new("count");
static OTHER: ContextKey<u32> = ContextKey::new("other");

fn in_coroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    setup();
    within(LIMIT, move || runtime::spawn(f).join().unwrap())
}

#[test]
fn set_then_get_returns_the_value() {
    let name = in_coroutine(|| {
        Context::set(&NAME, Arc::new("ada".to_string()));
        Context::get(&NAME)
    });
    assert_eq!(name.as_deref().map(String::as_str), Some("ada"));
}

/// A value that cannot be cloned: only shares of it can be read.
struct Unclonable(&'static str);

static UNCLONABLE: ContextKey<Unclonable> = ContextKey::new("unclonable");

#[test]
fn set_shared_keeps_the_callers_arc() {
    let same = in_coroutine(|| {
        let value = Arc::new(Unclonable("kept"));
        Context::set_shared(&UNCLONABLE, Arc::clone(&value));
        Arc::ptr_eq(&Context::get_shared(&UNCLONABLE).unwrap(), &value)
    });
    assert!(same);
}

#[test]
fn get_shared_reads_a_value_stored_by_set_without_cloning_it() {
    let read = in_coroutine(|| {
        Context::set(&UNCLONABLE, Unclonable("by set"));
        let first = Context::get_shared(&UNCLONABLE).unwrap();
        let second = Context::get_shared(&UNCLONABLE).unwrap();
        (Arc::ptr_eq(&first, &second), first.0)
    });
    assert_eq!(read, (true, "by set"));
}

#[test]
fn with_borrows_the_value_without_cloning_it() {
    let seen = in_coroutine(|| {
        Context::set(&UNCLONABLE, Unclonable("borrowed"));
        Context::with(&UNCLONABLE, |value| value.map(|v| v.0))
    });
    assert_eq!(seen, Some("borrowed"));
}

#[test]
fn with_of_an_absent_key_or_an_unwritten_context_sees_none() {
    let (unwritten, absent) = in_coroutine(|| {
        let unwritten = Context::with(&COUNT, |value| value.copied());
        Context::set(&OTHER, 1);
        (unwritten, Context::with(&COUNT, |value| value.copied()))
    });
    assert_eq!((unwritten, absent), (None, None));
}

#[test]
fn a_write_inside_with_panics_even_after_a_nested_read() {
    let outcome = in_coroutine(|| {
        Context::set(&COUNT, 1);
        std::panic::catch_unwind(|| {
            Context::with(&COUNT, |_| {
                // A nested read ends first; the outer borrow must stay guarded.
                let _ = Context::get(&OTHER);
                Context::set(&COUNT, 2);
            })
        })
        .map_err(|payload| runtime::panic_message(&payload).to_string())
    });
    let message = outcome.unwrap_err();
    assert!(
        message.contains("written while one of its values was being read"),
        "{message}"
    );
}

#[test]
fn get_shared_of_an_absent_key_is_none() {
    assert!(in_coroutine(|| Context::get_shared(&UNCLONABLE).is_none()));
}

#[test]
fn set_replaces_the_previous_value() {
    assert_eq!(
        in_coroutine(|| {
            Context::set(&COUNT, 1);
            Context::set(&COUNT, 2);
            Context::get(&COUNT).unwrap()
        }),
        2
    );
}

#[test]
fn has_and_remove() {
    in_coroutine(|| {
        assert!(!Context::has(&COUNT));
        Context::set(&COUNT, 3);
        assert!(Context::has(&COUNT));
        assert_eq!(Context::remove(&COUNT), Some(3));
        assert!(!Context::has(&COUNT));
        assert_eq!(Context::remove(&COUNT), None);
    });
}

#[test]
fn update_reads_modifies_and_writes() {
    in_coroutine(|| {
        assert_eq!(Context::update(&COUNT, |old| old.map_or(1, |n| n + 1)), 1);
        assert_eq!(Context::update(&COUNT, |old| old.map_or(1, |n| n + 1)), 2);
        assert_eq!(Context::get(&COUNT).unwrap(), 2);
    });
}

#[test]
fn get_or_set_calls_its_closure_only_when_absent() {
    in_coroutine(|| {
        let calls = AtomicUsize::new(0);
        let make = || {
            calls.fetch_add(1, Ordering::Relaxed);
            7
        };
        assert_eq!(Context::get_or_set(&COUNT, make), 7);
        assert_eq!(Context::get_or_set(&COUNT, make), 7);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    });
}

#[test]
fn coroutines_do_not_see_each_others_values() {
    setup();
    let a = runtime::spawn(|| {
        Context::set(&COUNT, 1);
        Context::get(&COUNT).unwrap()
    });
    let b = runtime::spawn(|| Context::get(&COUNT));
    assert_eq!(a.join().unwrap(), 1);
    assert_eq!(b.join().unwrap(), None);
}

#[test]
fn a_child_inherits_nothing() {
    let child_sees = in_coroutine(|| {
        Context::set(&COUNT, 1);
        runtime::spawn(|| Context::has(&COUNT)).join().unwrap()
    });
    assert!(!child_sees);
}

#[test]
fn copy_from_copies_the_chosen_keys_shallowly() {
    in_coroutine(|| {
        Context::set(&NAME, Arc::new("shared".to_string()));
        Context::set(&COUNT, 1);
        let parent = runtime::id().unwrap();
        let original = Context::get(&NAME).unwrap();
        let (copied, name, count) = runtime::spawn(move || {
            let copied = Context::copy_from(parent, &[&NAME]);
            (copied, Context::get(&NAME), Context::get(&COUNT))
        })
        .join()
        .unwrap();
        assert_eq!(copied, 1);
        assert!(
            Arc::ptr_eq(&name.unwrap(), &original),
            "a shallow copy shares the value"
        );
        assert_eq!(count, None, "keys not asked for are not copied");
    });
}

#[test]
fn copy_from_with_no_keys_copies_everything_and_replaces_the_current_context() {
    in_coroutine(|| {
        Context::set(&NAME, Arc::new("parent".to_string()));
        Context::set(&COUNT, 1);
        let parent = runtime::id().unwrap();
        runtime::spawn(move || {
            Context::set(&OTHER, 9);
            assert_eq!(Context::copy_from(parent, &[]), 2);
            assert!(Context::has(&NAME) && Context::has(&COUNT));
            assert!(!Context::has(&OTHER), "the copy replaces the whole context");
        })
        .join()
        .unwrap();
    });
}

#[test]
fn another_live_coroutines_context_can_be_read_by_id() {
    setup();
    let (ready, finish) = (Coordinator::new(), Coordinator::new());
    let (set, hold) = (ready.clone(), finish.clone());
    let owner = runtime::spawn(move || {
        Context::set(&COUNT, 42);
        set.resume();
        hold.r#yield();
    });
    let owner_id = owner.id();
    assert!(ready.yield_timeout(LIMIT));
    assert_eq!(Context::get_from(owner_id, &COUNT), Some(42));
    assert!(Context::has_in(owner_id, &COUNT));
    finish.resume();
    within(LIMIT, move || owner.join().unwrap());
    assert_eq!(
        Context::get_from(owner_id, &COUNT),
        None,
        "an ended coroutine has no context"
    );
    assert!(!Context::has_in(owner_id, &COUNT));
}

#[test]
fn values_are_dropped_when_the_coroutine_ends() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    static TRACKED: ContextKey<Arc<Tracked>> = ContextKey::new("tracked");
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&drops);
    // `join` returns once the coroutine, defers and context release included, has ended.
    in_coroutine(move || Context::set(&TRACKED, Arc::new(Tracked(counter))));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// Released contexts are kept per thread and handed to the next coroutine or scope that writes
// one; these pin that nothing of the previous user shows through.

#[test]
fn a_scope_after_one_that_stored_values_starts_with_an_empty_context() {
    in_coroutine(|| {
        for round in 0..4 {
            runtime::scope(|| {
                assert!(
                    !Context::has(&COUNT),
                    "round {round} saw the previous COUNT"
                );
                assert!(
                    !Context::has(&OTHER),
                    "round {round} saw the previous OTHER"
                );
                Context::set(&COUNT, round);
                Context::set(&OTHER, round);
            });
        }
    });
}

#[test]
fn a_value_stored_by_a_destructor_at_release_does_not_reach_the_next_scope() {
    struct StoresOnDrop;
    impl Drop for StoresOnDrop {
        fn drop(&mut self) {
            Context::set(&OTHER, 7);
        }
    }
    static STORES: ContextKey<Arc<StoresOnDrop>> = ContextKey::new("stores_on_drop");
    in_coroutine(|| {
        runtime::scope(|| Context::set(&STORES, Arc::new(StoresOnDrop)));
        runtime::scope(|| assert_eq!(Context::get(&OTHER), None));
    });
}

#[test]
fn an_ended_scope_is_not_readable_by_id_once_its_context_is_reused() {
    let (ended, reused) = in_coroutine(|| {
        let ((), first) = runtime::scope_open(|| Context::set(&COUNT, 1));
        let ended = first.id();
        first.end();
        let reused = runtime::scope(|| {
            Context::set(&COUNT, 2);
            Context::get_from(ended, &COUNT)
        });
        (Context::get_from(ended, &COUNT), reused)
    });
    assert_eq!(ended, None);
    assert_eq!(reused, None);
}

#[test]
fn a_coroutine_after_one_whose_context_was_read_by_id_starts_empty() {
    setup();
    let (ready, finish) = (Coordinator::new(), Coordinator::new());
    let (set, hold) = (ready.clone(), finish.clone());
    let owner = runtime::spawn(move || {
        Context::set(&NAME, Arc::new("kept".to_string()));
        set.resume();
        hold.r#yield();
    });
    let owner_id = owner.id();
    assert!(ready.yield_timeout(LIMIT));
    // A reader that found the context before the owner ended may finish its read after it.
    let read = Context::get_from(owner_id, &NAME);
    finish.resume();
    within(LIMIT, move || owner.join().unwrap());
    assert_eq!(read.as_deref().map(String::as_str), Some("kept"));
    let next = in_coroutine(|| {
        Context::set(&COUNT, 1);
        Context::get(&NAME)
    });
    assert_eq!(next, None);
}

#[test]
fn a_plain_thread_has_a_context_of_its_own() {
    let own = std::thread::spawn(|| {
        Context::set(&COUNT, 5);
        Context::get(&COUNT).unwrap()
    });
    assert_eq!(own.join().unwrap(), 5);
    assert_eq!(
        std::thread::spawn(|| Context::get(&COUNT)).join().unwrap(),
        None
    );
}

#[test]
fn context_in_a_coroutine_spawned_with_may_directly_fails_loudly() {
    setup();
    let result = may::go!(|| Context::get(&COUNT)).join();
    assert!(result.is_err());
}
