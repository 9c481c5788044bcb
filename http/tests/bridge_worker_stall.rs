//! The async bridge in a server: a handler waiting in `block_on` parks its coroutine only, so
//! a server of two workers with a thousand handlers waiting on tokio still answers at once.
#![cfg(feature = "tokio")]

mod server_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyperf_http::server::Router;
use server_common::{Client, TIMEOUT, connect_to, eventually, get, server, spec, start, stop};

/// How many `/slow` handlers wait at once: far more than the two worker threads.
const WAITING: usize = 1_000;

/// How long each `/slow` handler waits on tokio's timer. The thousand waits run at the same
/// time, so the test lasts about this long; the answers to `/fast` must come well within it.
const SLOW: Duration = Duration::from_secs(2);

#[test]
fn a_fast_request_is_answered_while_a_thousand_handlers_wait_in_block_on() {
    // Handlers that have reached their `block_on`, and those that have come back from it.
    let entered = Arc::new(AtomicUsize::new(0));
    let left = Arc::new(AtomicUsize::new(0));
    let mut router = Router::new();
    {
        let (entered, left) = (Arc::clone(&entered), Arc::clone(&left));
        router
            .get("/slow", move || {
                entered.fetch_add(1, Ordering::SeqCst);
                // In an `async` block: tokio's `sleep` needs the runtime's context when it is
                // made, which the bridge gives to the future's polls, not to the caller.
                hyperf_http::block_on(async { tokio::time::sleep(SLOW).await });
                left.fetch_add(1, Ordering::SeqCst);
                "slow"
            })
            .unwrap();
    }
    router.get("/fast", || "fast").unwrap();
    // Two workers: a handler that blocked its worker thread would leave at most one free. The
    // engine's default `max_connections` (10,000) admits the thousand and one connections.
    let running = start(server().worker_num(2).server(spec("http").router(router)));
    let address = running.local_addr("http").unwrap();

    // One connection per request: a connection's requests are handled one after another.
    let mut slow: Vec<Client> = (0..WAITING)
        .map(|_| {
            let mut client = Client::connect(address);
            client.send(get("/slow"));
            client
        })
        .collect();
    eventually(TIMEOUT, "every /slow handler waits in block_on", || {
        entered.load(Ordering::SeqCst) == WAITING
    });

    let started = Instant::now();
    let fast = connect_to(&running, "http").exchange(get("/fast"));
    let elapsed = started.elapsed();
    fast.assert_status(200u16);
    assert_eq!(fast.text(), "fast");
    assert_eq!(
        left.load(Ordering::SeqCst),
        0,
        "the /fast answer came while every /slow handler was still waiting"
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "/fast took {elapsed:?} with {WAITING} handlers in block_on"
    );

    // The waits end together: every slow request is answered too.
    for client in &mut slow {
        let reply = client.response();
        reply.assert_status(200u16);
        assert_eq!(reply.text(), "slow");
    }
    assert_eq!(left.load(Ordering::SeqCst), WAITING);
    drop(slow);
    stop(running);
}
