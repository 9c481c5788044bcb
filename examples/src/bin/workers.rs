//! The worker pool on its own: lifecycle events in order, pipe messages between workers,
//! `max_request` recycling, a reload, and a graceful shutdown.
//!
//! `cargo run --release -p examples --bin workers`

use std::sync::mpsc;
use std::time::Duration;

use runtime::Workers;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (events, log) = mpsc::channel::<String>();
    let say = |events: &mpsc::Sender<String>| {
        let events = events.clone();
        move |line: String| {
            let _ = events.send(line);
        }
    };
    let (manager, start, stop, exit, pipe, shutdown) = (
        say(&events),
        say(&events),
        say(&events),
        say(&events),
        say(&events),
        say(&events),
    );
    let pool = Workers::<String>::new()
        .worker_num(2)
        .max_request(3)
        .max_wait_time(Duration::from_secs(1))
        .handle_signals(false)
        .on_manager_start(move || manager("manager started".into()))
        .on_worker_start(move |w| {
            start(format!(
                "worker {} started (life {})",
                w.id(),
                w.generation()
            ))
        })
        .on_worker_stop(move |w| stop(format!("worker {} stopped taking work", w.id())))
        .on_worker_exit(move |w| exit(format!("worker {} exiting", w.id())))
        .on_pipe_message(move |w, from, message| {
            pipe(format!("worker {} got {message:?} from {from:?}", w.id()))
        })
        .on_shutdown(move || shutdown("pool shut down".into()))
        .start()?;
    pool.worker_start().r#yield();

    // Worker 0 writes to worker 1; the outside world writes to worker 0.
    pool.worker(0).unwrap().send_message(1, "ping".into())?;
    pool.send_message(0, "hello from main".into())?;

    // Worker 0 serves three requests: max_request recycles it (and only it).
    let worker = pool.worker(0).unwrap();
    for n in 1..=3 {
        worker
            .spawn(move || n * 2)?
            .join()
            .map_err(|_| "request failed")?;
        worker.request_done();
    }
    while pool
        .worker(0)
        .is_none_or(|w| w.generation() == 0 || !w.started().is_closing())
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = events.send("-- reload --".into());
    pool.reload();
    // After the reload: worker 0 in its third life, worker 1 in its second.
    let reloaded = |id: usize, life: u64| {
        pool.worker(id)
            .is_some_and(|w| w.generation() == life && w.started().is_closing())
    };
    while !(reloaded(0, 2) && reloaded(1, 1)) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = events.send("-- shutdown --".into());
    pool.shutdown();
    let report = pool.wait();
    drop(events);
    drop(pool);
    for line in log.try_iter() {
        println!("{line}");
    }
    println!(
        "drained {} coroutines, cancelled {}",
        report.drained, report.cancelled
    );
    Ok(())
}
