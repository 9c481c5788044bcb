//! The server's lifecycle: the seed's events in the seed's order, requests gated on the
//! workers' start, and the reasons a server refuses to start.

mod server_common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use coordinator::Coordinator;
use hyperf_http::Request;
use hyperf_http::server::{Router, ServerError, ServerEvent, ServerSpec};
use server_common::{Log, TIMEOUT, connect_to, eventually, get, server, spec, start, stop, within};

/// What a test saw happen: a server event or a request reaching its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Event(ServerEvent),
    Request(&'static str),
}

/// A router whose `GET /hello` records that it ran.
fn hello_router(log: &Log<Seen>) -> Router {
    let log = log.clone();
    let mut router = Router::new();
    router
        .get("/hello", move |_: Request| {
            log.push(Seen::Request("/hello"));
            "hello"
        })
        .unwrap();
    router
}

#[test]
fn server_events_fire_in_the_seeds_order() {
    let log = Log::new();
    let events = log.clone();
    let running = start(
        server()
            .on_server_event(move |event| events.push(Seen::Event(event.clone())))
            .server(spec("http").router(hello_router(&log))),
    );

    let reply = connect_to(&running, "http").exchange(get("/hello"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "hello"));
    stop(running);

    use ServerEvent::*;
    assert_eq!(
        log.entries(),
        [
            Seen::Event(Start),
            Seen::Event(ManagerStart),
            Seen::Event(WorkerStart { worker_id: 0 }),
            Seen::Event(WorkerStart { worker_id: 1 }),
            Seen::Request("/hello"),
            Seen::Event(WorkerStop { worker_id: 0 }),
            Seen::Event(WorkerStop { worker_id: 1 }),
            Seen::Event(WorkerExit { worker_id: 0 }),
            Seen::Event(WorkerExit { worker_id: 1 }),
            Seen::Event(Shutdown),
        ]
    );
}

#[test]
fn the_callbacks_fire_in_the_seeds_order_with_worker_ids() {
    let log: Log<String> = Log::new();
    let hook = |log: &Log<String>, name: &'static str| {
        let log = log.clone();
        move || log.push(name.to_string())
    };
    let with_id = |log: &Log<String>, name: &'static str| {
        let log = log.clone();
        move |id: usize| log.push(format!("{name} {id}"))
    };
    let running = start(
        server()
            .worker_num(3)
            .on_start(hook(&log, "start"))
            .on_manager_start(hook(&log, "manager start"))
            .on_worker_start(with_id(&log, "worker start"))
            .on_worker_stop(with_id(&log, "worker stop"))
            .on_worker_exit(with_id(&log, "worker exit"))
            .on_shutdown(hook(&log, "shutdown"))
            .server(spec("http")),
    );
    assert!(running.worker_start().yield_timeout(TIMEOUT));
    stop(running);

    assert_eq!(
        log.entries(),
        [
            "start",
            "manager start",
            "worker start 0",
            "worker start 1",
            "worker start 2",
            "worker stop 0",
            "worker stop 1",
            "worker stop 2",
            "worker exit 0",
            "worker exit 1",
            "worker exit 2",
            "shutdown",
        ]
    );
}

#[test]
fn a_request_sent_while_a_worker_starts_waits_then_is_served() {
    let (starting, worker_starting) = mpsc::channel();
    let hold = Coordinator::new();
    let held = hold.clone();
    let served = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&served);
    let mut router = Router::new();
    router
        .get("/", move |_: Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            "served"
        })
        .unwrap();
    let running = start(
        server()
            .on_worker_start(move |id| {
                if id == 0 {
                    starting.send(()).unwrap();
                    held.yield_timeout(TIMEOUT);
                }
            })
            .server(spec("http").router(router)),
    );
    worker_starting
        .recv_timeout(TIMEOUT)
        .expect("worker 0's start callback runs");

    let mut client = connect_to(&running, "http");
    client.send(get("/"));
    eventually(TIMEOUT, "the request waits on WORKER_START", || {
        running.worker_start().waiters() == 1
    });
    assert_eq!(
        served.load(Ordering::SeqCst),
        0,
        "the handler ran on a half-started worker"
    );

    hold.resume();
    let reply = client.response();
    assert_eq!((reply.status, reply.text().as_str()), (200, "served"));
    assert_eq!(served.load(Ordering::SeqCst), 1);
    stop(running);
}

#[test]
fn start_without_servers_fails_with_no_servers() {
    let error = server().start().unwrap_err();
    assert!(matches!(error, ServerError::NoServers), "{error:?}");
}

#[test]
fn two_servers_with_one_name_fail_with_duplicate_name() {
    let error = server()
        .server(spec("http"))
        .server(spec("admin"))
        .server(spec("http"))
        .start()
        .unwrap_err();
    assert!(
        matches!(&error, ServerError::DuplicateName(name) if name == "http"),
        "{error:?}"
    );
}

#[test]
fn a_port_in_use_fails_with_bind_naming_the_server() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let starting =
        server()
            .server(spec("free"))
            .server(ServerSpec::new("taken", "127.0.0.1", port));

    let error = within(TIMEOUT, move || starting.start().map(drop).unwrap_err());
    match error {
        ServerError::Bind { server, error } => {
            assert_eq!(server, "taken");
            assert_eq!(error.kind(), ErrorKind::AddrInUse);
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
}

#[test]
fn a_server_that_fails_to_bind_fires_no_callback() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let log: Log<String> = Log::new();
    let (events, started, shut) = (log.clone(), log.clone(), log.clone());
    let starting = server()
        .on_server_event(move |event| events.push(format!("{event:?}")))
        .on_worker_start(move |id| started.push(format!("on_worker_start {id}")))
        .on_shutdown(move || shut.push("on_shutdown".to_string()))
        .server(spec("free"))
        .server(ServerSpec::new("taken", "127.0.0.1", port));

    let failed = within(TIMEOUT, move || starting.start().is_err());
    assert!(failed);
    assert_eq!(log.entries(), Vec::<String>::new());
}

#[test]
fn after_shutdown_no_server_accepts_connections() {
    let running = start(server().server(spec("http")).server(spec("admin")));
    let addresses: Vec<_> = running
        .local_addrs()
        .into_iter()
        .map(|(_, address)| address)
        .collect();
    assert_eq!(addresses.len(), 2);
    let reports = stop(running);

    let names: Vec<&str> = reports.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["http", "admin"]);
    for address in addresses {
        assert!(
            TcpStream::connect(address).is_err(),
            "{address} still accepts connections"
        );
    }
}

#[test]
fn each_server_has_its_own_engine_settings() {
    let mut router = Router::new();
    router
        .route(&[hyperf_http::Method::POST], "/", |request: Request| {
            format!("{} bytes", request.body().len())
        })
        .unwrap();
    let strict = hyperf_http::EngineConfig::default()
        .limits(hyperf_http::Limits::default().max_body_bytes(4));
    let running = start(
        server()
            .server(
                spec("strict")
                    .engine(strict)
                    .router(hello_router(&Log::new())),
            )
            .server(spec("lenient").router(router)),
    );
    let head = "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n";

    // The strict server refuses the body from its head alone, before it is sent.
    assert_eq!(connect_to(&running, "strict").exchange(head).status, 413);
    let reply = connect_to(&running, "lenient").exchange(format!("{head}0123456789"));
    assert_eq!((reply.status, reply.text().as_str()), (200, "10 bytes"));
    stop(running);
}

#[test]
fn two_callbacks_for_one_event_both_fire_in_the_order_added() {
    let log: Log<String> = Log::new();
    let (first, second) = (log.clone(), log.clone());
    let running = start(
        server()
            .worker_num(1)
            .on_worker_start(move |id| first.push(format!("first {id}")))
            .on_worker_start(move |id| second.push(format!("second {id}")))
            .server(spec("http").router(Router::new())),
    );
    stop(running);
    assert_eq!(log.entries(), ["first 0", "second 0"]);
}

#[test]
fn callbacks_and_event_listeners_fire_in_the_order_added() {
    let log: Log<String> = Log::new();
    let (before, hook, after) = (log.clone(), log.clone(), log.clone());
    let running = start(
        server()
            .on_server_event(move |event| {
                if let ServerEvent::Start = event {
                    before.push("listener added first".to_string());
                }
            })
            .on_start(move || hook.push("on_start".to_string()))
            .on_server_event(move |event| {
                if let ServerEvent::Start = event {
                    after.push("listener added last".to_string());
                }
            })
            .server(spec("http").router(Router::new())),
    );
    stop(running);
    assert_eq!(
        log.entries(),
        ["listener added first", "on_start", "listener added last"]
    );
}
