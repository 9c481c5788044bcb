//! A second server in the process, after a first one has shut down, starts from fresh
//! process-wide coordinators: its requests wait for its own workers, not for the first
//! server's long-resumed `WORKER_START`.
//!
//! The coordinators are process-wide: this binary holds this one test.

mod server_common;

use coordinator::constants::{WORKER_EXIT, WORKER_START};
use coordinator::{Coordinator, CoordinatorManager};
use hyperf_http::Request;
use hyperf_http::server::{Router, RunningServer, Server};
use server_common::{TIMEOUT, connect_to, eventually, get, spec, within};

fn run(hold: Option<Coordinator>) -> RunningServer {
    let mut router = Router::new();
    router.get("/", |_: Request| "served").unwrap();
    Server::new()
        .worker_num(1)
        .handle_signals(false)
        .on_worker_start(move |_| {
            if let Some(hold) = &hold {
                hold.yield_timeout(TIMEOUT);
            }
        })
        .server(spec("http").router(router))
        .start()
        .expect("the server starts")
}

fn shut_down(running: RunningServer) {
    running.shutdown();
    within(TIMEOUT, move || running.wait());
}

#[test]
fn a_second_server_waits_for_its_own_workers_not_the_first_ones() {
    let first = run(None);
    assert!(CoordinatorManager::until(WORKER_START).yield_timeout(TIMEOUT));
    assert_eq!(connect_to(&first, "http").exchange(get("/")).status, 200);
    shut_down(first);
    assert!(CoordinatorManager::until(WORKER_EXIT).is_closing());

    let hold = Coordinator::new();
    let second = run(Some(hold.clone()));
    let fresh = CoordinatorManager::until(WORKER_START);
    assert!(second.worker_start().ptr_eq(&fresh));
    assert!(
        !fresh.is_closing(),
        "the first server's WORKER_START was reused"
    );
    assert!(!CoordinatorManager::until(WORKER_EXIT).is_closing());

    let mut client = connect_to(&second, "http");
    client.send(get("/"));
    eventually(
        TIMEOUT,
        "the request waits on the fresh WORKER_START",
        || fresh.waiters() == 1,
    );
    hold.resume();
    assert_eq!(client.response().status, 200);
    shut_down(second);
}
