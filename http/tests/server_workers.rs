//! The server's workers: pipe messages, `max_request` recycling under load, start gating after
//! a recycle, and a graceful shutdown that loses no request sent before it.

mod server_common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use coordinator::Coordinator;
use hyperf_http::server::{Router, RunningServer, ServerEvent};
use hyperf_http::{EngineConfig, Request};
use server_common::{
    Client, Cut, Log, TIMEOUT, connect_to, eventually, get, server, spec, start, stop, within,
};

/// A router whose every `GET /{anything}` answers its own path and counts itself.
fn echo_router(served: &Arc<AtomicUsize>) -> Router {
    let served = Arc::clone(served);
    let mut router = Router::new();
    router
        .get("/{path:.*}", move |request: Request| {
            served.fetch_add(1, Ordering::SeqCst);
            request.uri().path().to_string()
        })
        .unwrap();
    router
}

#[test]
fn send_message_reaches_that_workers_on_pipe_message_with_no_sender() {
    let (delivered, messages) = mpsc::channel();
    let running = start(
        server()
            .worker_num(3)
            .on_pipe_message(move |worker_id, from, message| {
                delivered.send((worker_id, from, message)).unwrap();
            })
            .server(spec("http")),
    );
    assert!(running.worker_start().yield_timeout(TIMEOUT));

    running
        .send_message(2, "reload config".to_string())
        .unwrap();
    assert_eq!(
        messages.recv_timeout(TIMEOUT).unwrap(),
        (2, None, "reload config".to_string())
    );
    stop(running);
}

#[test]
fn a_worker_to_worker_message_arrives_with_the_senders_id() {
    let (delivered, messages) = mpsc::channel();
    let running = start(
        server()
            .on_pipe_message(move |worker_id, from, message| {
                delivered.send((worker_id, from, message)).unwrap();
            })
            .server(spec("http")),
    );
    assert!(running.worker_start().yield_timeout(TIMEOUT));

    let sender = running.workers().worker(0).unwrap();
    sender.send_message(1, "ping".to_string()).unwrap();
    assert_eq!(
        messages.recv_timeout(TIMEOUT).unwrap(),
        (1, Some(0), "ping".to_string())
    );
    stop(running);
}

/// Sends `requests` requests one after the other over keep-alive connections, opening a new
/// connection whenever the server closes one. A request the server closed a reused
/// connection on before answering any of it is sent again on a new one, as RFC 9112 (§9.3.1)
/// lets clients do with idempotent requests; one lost on a new connection fails the test.
/// Returns how many requests had to be sent again.
fn keep_alive_client(address: std::net::SocketAddr, name: &str, requests: usize) -> usize {
    let mut client = Client::connect(address);
    let mut reused = false;
    let mut resent = 0;
    for n in 0..requests {
        let path = format!("/{name}/{n}");
        loop {
            let answer = if client.try_send(get(&path)) {
                client.try_response()
            } else {
                Err(Cut::Closed)
            };
            match answer {
                Ok(reply) => {
                    assert_eq!((reply.status, reply.text()), (200, path.clone()));
                    if reply.closes() {
                        client = Client::connect(address);
                        reused = false;
                    } else {
                        reused = true;
                    }
                    break;
                }
                Err(Cut::Closed) if reused => {
                    resent += 1;
                    client = Client::connect(address);
                    reused = false;
                }
                Err(cut) => panic!("{path} on a new connection got no response: {cut:?}"),
            }
        }
    }
    resent
}

#[test]
fn max_request_recycles_a_worker_while_requests_keep_being_served() {
    const CLIENTS: usize = 4;
    const REQUESTS: usize = 25;
    let events = Log::new();
    let recorded = events.clone();
    let served = Arc::new(AtomicUsize::new(0));
    let running = start(
        server()
            .max_request(5)
            .engine(EngineConfig::default().timer_tick(Duration::from_millis(5)))
            .on_server_event(move |event| recorded.push(event.clone()))
            .server(spec("http").router(echo_router(&served))),
    );
    let address = running.local_addr("http").unwrap();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| std::thread::spawn(move || keep_alive_client(address, &format!("c{c}"), REQUESTS)))
        .collect();
    let resent: usize = within(TIMEOUT * 3, move || {
        clients.into_iter().map(|c| c.join().unwrap()).sum()
    });

    // Every request ran its handler exactly once: a request sent again had never been read.
    assert_eq!(
        served.load(Ordering::SeqCst),
        CLIENTS * REQUESTS,
        "{resent} requests were sent again"
    );
    let started = |events: &[ServerEvent]| {
        events
            .iter()
            .filter(|e| matches!(e, ServerEvent::WorkerStart { .. }))
            .count()
    };
    assert!(
        started(&events.entries()) > 2,
        "no worker was recycled: {:?}",
        events.entries()
    );
    // A recycle is the seed's stop, exit, then a fresh start under the same id.
    let seen = events.entries();
    let recycled = (0..2).any(|id| {
        let at = |event: ServerEvent| seen.iter().position(|e| *e == event);
        match (
            at(ServerEvent::WorkerStop { worker_id: id }),
            at(ServerEvent::WorkerExit { worker_id: id }),
        ) {
            (Some(stop), Some(exit)) => {
                stop < exit && seen[exit..].contains(&ServerEvent::WorkerStart { worker_id: id })
            }
            _ => false,
        }
    });
    assert!(recycled, "no stop, exit, start sequence: {seen:?}");

    let reply = Client::connect(address).exchange(get("/after"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "/after"));
    stop(running);
}

#[test]
fn a_connection_opened_before_the_workers_start_counts_towards_max_request() {
    let hold = Coordinator::new();
    let held = hold.clone();
    let (events, seen) = mpsc::channel();
    let served = Arc::new(AtomicUsize::new(0));
    let running = start(
        server()
            .worker_num(1)
            .max_request(1)
            .on_manager_start(move || {
                held.yield_timeout(TIMEOUT);
            })
            .on_server_event(move |event| events.send(event.clone()).unwrap())
            .server(spec("http").router(echo_router(&served))),
    );
    // No worker exists yet: the manager is held before it starts any.
    let mut client = connect_to(&running, "http");
    client.send(get("/early"));
    assert_eq!(running.workers().worker(0).map(|w| w.generation()), None);

    hold.resume();
    assert_eq!(client.response().status, 200);
    let deadline = Instant::now() + TIMEOUT;
    let recycled = std::iter::from_fn(|| {
        seen.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok()
    })
    .any(|event| event == ServerEvent::WorkerStop { worker_id: 0 });
    assert!(recycled, "the request was not counted by a worker");
    stop(running);
}

#[test]
fn a_request_for_a_recycled_worker_waits_for_its_start_callback() {
    let starts = Arc::new(AtomicUsize::new(0));
    let (restarting, worker_restarting) = mpsc::channel();
    let hold = Coordinator::new();
    let held = hold.clone();
    let served = Arc::new(AtomicUsize::new(0));
    let running = start(
        server()
            .worker_num(1)
            .max_request(1)
            .on_worker_start(move |_| {
                if starts.fetch_add(1, Ordering::SeqCst) == 1 {
                    restarting.send(()).unwrap();
                    held.yield_timeout(TIMEOUT);
                }
            })
            .server(spec("http").router(echo_router(&served))),
    );
    let reply = connect_to(&running, "http").exchange(get("/first"));
    assert_eq!(reply.status, 200);
    worker_restarting
        .recv_timeout(TIMEOUT)
        .expect("the worker is recycled after one request");

    let mut client = connect_to(&running, "http");
    client.send(get("/second"));
    let fresh = running.workers().worker(0).unwrap();
    assert_eq!(fresh.generation(), 1);
    eventually(TIMEOUT, "the request waits for the worker's start", || {
        fresh.started().waiters() == 1
    });
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "a request ran on a half-started worker"
    );

    hold.resume();
    let reply = client.response();
    assert_eq!((reply.status, reply.text().as_str()), (200, "/second"));
    stop(running);
}

#[test]
fn a_connection_arriving_while_the_only_worker_recycles_waits_for_its_next_life() {
    let (exiting, worker_exiting) = mpsc::channel();
    let hold = Coordinator::new();
    let held = hold.clone();
    let exits = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let running = start(
        server()
            .worker_num(1)
            .max_request(1)
            .on_worker_exit(move |_| {
                if exits.fetch_add(1, Ordering::SeqCst) == 0 {
                    exiting.send(()).unwrap();
                    held.yield_timeout(TIMEOUT);
                }
            })
            .server(spec("http").router(echo_router(&served))),
    );
    let reply = connect_to(&running, "http").exchange(get("/first"));
    assert_eq!(reply.status, 200);
    worker_exiting
        .recv_timeout(TIMEOUT)
        .expect("the worker is recycled after one request");

    let mut client = connect_to(&running, "http");
    client.send(get("/second"));
    // The accept loop waits on the pool's latch (no polling) until a worker takes work again.
    eventually(TIMEOUT, "the connection waits for a worker", || {
        running.workers().accepting().waiters() == 1
    });
    hold.resume();
    let reply = client.response();
    assert_eq!((reply.status, reply.text().as_str()), (200, "/second"));
    assert_eq!(running.workers().worker(0).unwrap().generation(), 1);
    stop(running);
}

/// One request of the shutdown test: whether its bytes were all written before `shutdown()`
/// was called, and whether its whole response came back.
#[derive(Debug)]
struct Outcome {
    path: String,
    sent_before_shutdown: bool,
    answered: bool,
}

/// Keeps `depth` batches of `batch` pipelined requests in flight on one connection (1 and 1: a
/// plain keep-alive client) until the shutdown has begun or the server closes the connection,
/// then reads what is left; every request's outcome.
fn load_client(
    address: std::net::SocketAddr,
    name: String,
    (batch, depth): (usize, usize),
    ready: Arc<Barrier>,
    shutdown_called: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) -> Vec<Outcome> {
    let mut client = Client::connect(address);
    // One exchange first: from then on the server has accepted this connection.
    assert_eq!(client.exchange(get(&format!("/{name}/hello"))).status, 200);
    ready.wait();
    let mut outcomes = Vec::new();
    let mut in_flight: VecDeque<(Vec<String>, bool)> = VecDeque::new();
    let mut open = true;
    let mut round = 0;
    loop {
        let sending = open && !shutdown_called.load(Ordering::SeqCst);
        if sending {
            let paths: Vec<String> = (0..batch).map(|i| format!("/{name}/{round}/{i}")).collect();
            round += 1;
            let bytes: String = paths.iter().map(|path| get(path)).collect();
            let written = client.try_send(bytes);
            // Read after the write returned: `false` means the write ended before the flag
            // was set, so before `shutdown()` was called.
            let sent_before_shutdown = written && !shutdown_called.load(Ordering::SeqCst);
            in_flight.push_back((paths, sent_before_shutdown));
            if in_flight.len() < depth {
                continue;
            }
        }
        let Some((paths, sent_before_shutdown)) = in_flight.pop_front() else {
            break;
        };
        for path in paths {
            let reply = if open {
                client.try_response().ok()
            } else {
                None
            };
            let ok = reply
                .as_ref()
                .is_some_and(|r| r.status == 200 && r.text() == path);
            if ok {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            open = reply.is_some_and(|r| !r.closes());
            outcomes.push(Outcome {
                path,
                sent_before_shutdown,
                answered: ok,
            });
        }
    }
    outcomes
}

#[test]
fn shutdown_under_load_answers_every_request_sent_before_it() {
    const CLIENTS: usize = 6;
    // Each request takes a moment, so the shutdown finds requests in progress, in the
    // server's buffers and in the sockets.
    let mut router = Router::new();
    router
        .get("/{path:.*}", |request: Request| {
            Coordinator::new().yield_timeout(Duration::from_micros(500));
            request.uri().path().to_string()
        })
        .unwrap();
    let running: RunningServer = start(server().server(spec("http").router(router)));
    let address = running.local_addr("http").unwrap();
    let ready = Arc::new(Barrier::new(CLIENTS + 1));
    let shutdown_called = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (ready, called, answered) = (
                Arc::clone(&ready),
                Arc::clone(&shutdown_called),
                Arc::clone(&answered),
            );
            // Half the clients wait for each response; the others keep two batches of three
            // pipelined requests in flight, so requests wait in the socket, not only in the
            // server's buffer.
            let shape = if c % 2 == 0 { (1, 1) } else { (3, 2) };
            std::thread::spawn(move || {
                load_client(address, format!("c{c}"), shape, ready, called, answered)
            })
        })
        .collect();
    ready.wait();
    eventually(TIMEOUT, "the clients have been answered 300 times", || {
        answered.load(Ordering::SeqCst) >= 300
    });
    shutdown_called.store(true, Ordering::SeqCst);
    running.shutdown();
    let outcomes: Vec<Outcome> = within(TIMEOUT, move || {
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    within(TIMEOUT, move || running.wait());

    let lost: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.sent_before_shutdown && !o.answered)
        .map(|o| o.path.as_str())
        .collect();
    assert!(
        lost.is_empty(),
        "requests sent before the shutdown lost: {lost:?}"
    );
    assert!(outcomes.iter().filter(|o| o.sent_before_shutdown).count() >= 300);
}

#[test]
fn reload_recycles_every_worker_and_the_server_keeps_serving() {
    let events = Log::new();
    let recorded = events.clone();
    let served = Arc::new(AtomicUsize::new(0));
    let running = start(
        server()
            .on_server_event(move |event| recorded.push(event.clone()))
            .server(spec("http").router(echo_router(&served))),
    );
    let mut client = connect_to(&running, "http");
    assert_eq!(client.exchange(get("/before")).status, 200);

    running.reload();
    eventually(TIMEOUT, "both workers started again", || {
        running.workers().worker(0).map(|w| w.generation()) == Some(1)
            && running.workers().worker(1).map(|w| w.generation()) == Some(1)
    });
    let reply = connect_to(&running, "http").exchange(get("/after"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "/after"));
    stop(running);

    use ServerEvent::*;
    let recycles: Vec<ServerEvent> = events
        .entries()
        .into_iter()
        .skip_while(|e| *e != WorkerStart { worker_id: 1 })
        .skip(1)
        .take(6)
        .collect();
    assert_eq!(
        recycles,
        [
            WorkerStop { worker_id: 0 },
            WorkerExit { worker_id: 0 },
            WorkerStart { worker_id: 0 },
            WorkerStop { worker_id: 1 },
            WorkerExit { worker_id: 1 },
            WorkerStart { worker_id: 1 },
        ],
        "workers recycled one after the other"
    );
}

#[test]
fn shutdown_answers_a_request_in_progress_then_closes_its_connection() {
    let (entered, handler_entered) = mpsc::channel();
    let release = Coordinator::new();
    let released = release.clone();
    let mut router = Router::new();
    router
        .get("/slow", move |_: Request| {
            entered.send(()).unwrap();
            released.yield_timeout(TIMEOUT);
            "finished"
        })
        .unwrap();
    let running = start(server().server(spec("http").router(router)));
    let mut client = connect_to(&running, "http");
    client.send(get("/slow"));
    handler_entered
        .recv_timeout(TIMEOUT)
        .expect("the handler runs");

    running.shutdown();
    eventually(TIMEOUT, "the shutdown has begun", || {
        running.workers().worker_exit().is_closing()
    });
    release.resume();
    let reply = client.response();
    assert_eq!((reply.status, reply.text().as_str()), (200, "finished"));
    assert!(
        reply.closes(),
        "the connection stays open during a shutdown"
    );
    within(TIMEOUT, move || running.wait());
}

#[test]
fn a_request_still_running_after_max_wait_time_is_cancelled() {
    /// Records whether the handler's stack was unwound (by the cancellation).
    struct Unwound(mpsc::Sender<bool>);
    impl Drop for Unwound {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::panicking());
        }
    }
    let (entered, handler_entered) = mpsc::channel();
    let (unwound, handler_unwound) = mpsc::channel();
    let never = Coordinator::new();
    let unwound = std::sync::Mutex::new(unwound);
    let mut router = Router::new();
    router
        .get("/stuck", move |_: Request| {
            let _guard = Unwound(unwound.lock().unwrap().clone());
            entered.send(()).unwrap();
            never.yield_timeout(TIMEOUT * 2);
            "too late"
        })
        .unwrap();
    let running = start(
        server()
            .max_wait_time(Duration::from_millis(100))
            .server(spec("http").router(router)),
    );
    let mut client = connect_to(&running, "http");
    client.send(get("/stuck"));
    handler_entered
        .recv_timeout(TIMEOUT)
        .expect("the handler runs");

    running.shutdown();
    within(TIMEOUT, move || running.wait());
    assert_eq!(client.try_response().map(|r| r.status), Err(Cut::Closed));
    assert_eq!(
        handler_unwound.recv_timeout(TIMEOUT),
        Ok(true),
        "the handler was not cancelled"
    );
}
