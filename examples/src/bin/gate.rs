//! The `coordinator` crate alone, no HTTP: coroutines, threads and an async task gated on
//! startup, a background loop that stops on shutdown, and timers bound to shutdown.
//!
//! `cargo run --release -p examples --bin gate`

use std::sync::mpsc;
use std::time::{Duration, Instant};

use coordinator::constants::{WORKER_EXIT, WORKER_START};
use coordinator::{CoordinatorManager, TickControl, Timer};

fn main() {
    // Configure may once, before the first coroutine.
    may::config().set_workers(2).set_worker_pin(false);
    let began = Instant::now();
    let (events, log) = mpsc::channel::<String>();
    let say = move |events: &mpsc::Sender<String>, line: String| {
        let _ = events.send(format!("[{:>4} ms] {line}", began.elapsed().as_millis()));
    };

    // 1. Everyone who must not start before the worker has: 3 coroutines, 2 threads, 1 task.
    let mut gated = Vec::new();
    for n in 1..=3 {
        let events = events.clone();
        let handle = may::go!(move || {
            CoordinatorManager::until(WORKER_START).r#yield();
            say(&events, format!("coroutine {n}: through the gate"));
        });
        gated.push(Box::new(move || handle.join().unwrap()) as Box<dyn FnOnce()>);
    }
    for n in 1..=2 {
        let events = events.clone();
        let handle = std::thread::spawn(move || {
            CoordinatorManager::until(WORKER_START).r#yield();
            say(&events, format!("thread {n}: through the gate"));
        });
        gated.push(Box::new(move || handle.join().unwrap()));
    }
    {
        let events = events.clone();
        let handle = std::thread::spawn(move || {
            futures_executor::block_on(async {
                CoordinatorManager::until(WORKER_START).resumed().await;
                say(&events, "async task: through the gate".to_string());
            })
        });
        gated.push(Box::new(move || handle.join().unwrap()));
    }

    // 2. A background loop: a round of work, then a sleep that shutdown interrupts.
    let background = {
        let events = events.clone();
        may::go!(move || {
            let mut rounds = 0u32;
            loop {
                rounds += 1;
                if CoordinatorManager::until(WORKER_EXIT).yield_timeout(Duration::from_millis(20)) {
                    say(
                        &events,
                        format!("background loop: stopped after {rounds} rounds"),
                    );
                    return;
                }
            }
        })
    };

    // 3. Timers bound to WORKER_EXIT.
    let timer = Timer::new();
    {
        let events = events.clone();
        let mut ticks = 0u32;
        timer.tick(Duration::from_millis(25), move |is_closing| {
            ticks += 1;
            if is_closing {
                say(
                    &events,
                    format!("timer: last tick ({ticks} in all), shutting down"),
                );
            }
            TickControl::Continue
        });
    }
    {
        let events = events.clone();
        timer.after(Duration::from_secs(3600), move |is_closing| {
            say(
                &events,
                format!("timer: the hour-long `after` ran early, is_closing = {is_closing}"),
            );
        });
    }

    // The worker's start-up work, then the gate opens. (For a tidy demo, first let all six
    // parties reach the gate; a real worker would not wait for them.)
    let gate = CoordinatorManager::until(WORKER_START);
    while gate.waiters() < 6 {
        std::thread::sleep(Duration::from_millis(1));
    }
    say(
        &events,
        format!(
            "worker: starting ({} parties waiting at the gate)",
            gate.waiters()
        ),
    );
    std::thread::sleep(Duration::from_millis(50));
    say(&events, "worker: started, opening the gate".to_string());
    gate.resume();
    gated.into_iter().for_each(|join| join());

    // Serve for a while, then shut down: the loop and the timers end at once.
    std::thread::sleep(Duration::from_millis(100));
    say(&events, "worker: exiting".to_string());
    CoordinatorManager::until(WORKER_EXIT).resume();
    background.join().unwrap();
    drop(timer);
    drop(events);

    // Every callback has sent its line (and dropped its sender) once the log runs dry.
    for line in log {
        println!("{line}");
    }
}
