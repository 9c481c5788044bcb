//! A server built with the defaults resumes the process-wide `WORKER_START` once its workers
//! have started and `WORKER_EXIT` when its shutdown begins, so code that only knows the
//! coordinators' names (Hyperf's `CoordinatorManager::until(..)`) follows the server.
//!
//! The coordinators are process-wide: this binary holds this one test.

mod server_common;

use coordinator::Coordinator;
use coordinator::CoordinatorManager;
use coordinator::constants::{WORKER_EXIT, WORKER_START};
use hyperf_http::Request;
use hyperf_http::server::{Router, Server};
use server_common::{TIMEOUT, connect_to, get, spec, within};

#[test]
fn the_server_resumes_the_process_wide_worker_start_and_worker_exit() {
    let hold = Coordinator::new();
    let held = hold.clone();
    let mut router = Router::new();
    router.get("/", |_: Request| "served").unwrap();
    let running = Server::new()
        .worker_num(2)
        .handle_signals(false)
        .on_worker_start(move |_| {
            held.yield_timeout(TIMEOUT);
        })
        .server(spec("http").router(router))
        .start()
        .expect("the server starts");
    assert!(
        !CoordinatorManager::until(WORKER_START).is_closing(),
        "WORKER_START resumed while a worker's start callback runs"
    );

    hold.resume();
    assert!(CoordinatorManager::until(WORKER_START).yield_timeout(TIMEOUT));
    assert!(
        running
            .worker_start()
            .ptr_eq(&CoordinatorManager::until(WORKER_START))
    );
    assert_eq!(connect_to(&running, "http").exchange(get("/")).status, 200);
    assert!(!CoordinatorManager::until(WORKER_EXIT).is_closing());

    // A background loop that knows only the name breaks out when the shutdown begins.
    let background = std::thread::spawn(|| {
        let mut rounds = 0;
        while !CoordinatorManager::until(WORKER_EXIT).yield_timeout(TIMEOUT) {
            rounds += 1;
        }
        rounds
    });
    running.shutdown();
    assert_eq!(within(TIMEOUT, move || background.join().unwrap()), 0);
    within(TIMEOUT, move || running.wait());
}
