//! Graceful stop: idle connections close at once, requests in progress finish, handlers that
//! never finish are forced after the grace; and binding a taken address fails.

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Client, TIMEOUT, answer, eventually, get, start, start_with};
use coordinator::Coordinator;
use hyperf_http::{BoxError, Engine, EngineConfig, Request, Response, StatusCode};

/// A grace far longer than any stop below should take: a stop that waits it out fails.
const GRACE: Duration = Duration::from_secs(10);

/// Whether the engine has stopped listening: connections are refused.
fn refuses_connections(engine: &Engine) -> bool {
    TcpStream::connect(engine.local_addr()).is_err()
}

#[test]
fn stop_closes_idle_keep_alive_connections_at_once() {
    let engine = start(answer("served"));
    let mut client = Client::connect(engine.local_addr());
    assert!(!client.exchange(get("/")).closes());
    let started = Instant::now();
    let report = engine.stop(GRACE);
    assert!(
        started.elapsed() < GRACE,
        "stop waited for an idle connection"
    );
    assert_eq!((report.drained, report.forced), (1, 0));
    client.assert_closed();
}

#[test]
fn stop_closes_a_connection_that_has_sent_nothing_at_once() {
    let engine = start(answer("served"));
    let mut client = Client::connect(engine.local_addr());
    eventually(TIMEOUT, "the engine accepts the connection", || {
        engine.connections() == 1
    });
    let started = Instant::now();
    let report = engine.stop(GRACE);
    assert!(
        started.elapsed() < GRACE,
        "stop waited for a silent connection"
    );
    assert_eq!((report.drained, report.forced), (1, 0));
    client.assert_closed();
}

#[test]
fn stop_lets_a_request_in_progress_finish_then_closes_its_connection() {
    let (started_tx, started) = mpsc::channel();
    let release = Coordinator::new();
    let released = release.clone();
    let engine = Arc::new(start(
        move |request: Request| -> Result<Response, BoxError> {
            if request.uri().path() == "/slow" {
                started_tx.send(()).unwrap();
                released.r#yield();
            }
            Ok(Response::new("finished".into()))
        },
    ));
    // An idle connection: its close shows that the stop has begun.
    let mut bystander = Client::connect(engine.local_addr());
    bystander.exchange(get("/quick"));
    let mut client = Client::connect(engine.local_addr());
    client.send(get("/slow"));
    started.recv_timeout(TIMEOUT).expect("the handler starts");

    let stopping = Arc::clone(&engine);
    let stopper = std::thread::spawn(move || stopping.stop(GRACE));
    bystander.assert_closed();
    release.resume();

    let reply = client.response();
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.text(), "finished");
    assert!(
        reply.closes(),
        "a stopping engine keeps no connection alive"
    );
    client.assert_closed();
    let report = stopper.join().unwrap();
    assert_eq!((report.drained, report.forced, report.requests), (2, 0, 2));
}

#[test]
fn stop_forces_a_handler_that_never_finishes_after_the_grace() {
    /// Sets its flag when dropped: the handler's stack was unwound.
    struct Unwound(Arc<AtomicBool>);
    impl Drop for Unwound {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let unwound = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = mpsc::channel();
    let flag = Arc::clone(&unwound);
    let engine = start(move |_: Request| -> Result<Response, BoxError> {
        let _guard = Unwound(Arc::clone(&flag));
        started_tx.send(()).unwrap();
        // Never resumed.
        Coordinator::new().r#yield();
        Ok(Response::new("never".into()))
    });
    let mut client = Client::connect(engine.local_addr());
    client.send(get("/forever"));
    started.recv_timeout(TIMEOUT).expect("the handler starts");

    let grace = Duration::from_millis(200);
    let began = Instant::now();
    let report = engine.stop(grace);
    assert!(began.elapsed() >= grace);
    assert_eq!((report.drained, report.forced), (0, 1));
    client.assert_closed();
    eventually(TIMEOUT, "the forced handler is unwound", || {
        unwound.load(Ordering::SeqCst)
    });
    assert_eq!(engine.connections(), 0);
}

#[test]
fn stopped_engine_accepts_no_connection() {
    let engine = start(answer("served"));
    engine.stop(GRACE);
    assert!(refuses_connections(&engine));
}

#[test]
fn address_can_be_bound_again_once_stop_returns() {
    let engine = start(answer("first"));
    let address = engine.local_addr();
    engine.stop(GRACE);
    let again = Engine::start(address, EngineConfig::default(), answer("second"))
        .expect("a stopped engine has released its address");
    assert_eq!(
        Client::connect(again.local_addr())
            .exchange(get("/"))
            .text(),
        "second"
    );
}

#[test]
fn stop_reports_the_requests_served() {
    let engine = start(answer("served"));
    let mut client = Client::connect(engine.local_addr());
    for _ in 0..3 {
        client.exchange(get("/"));
    }
    assert_eq!(engine.requests(), 3);
    assert_eq!(engine.stop(GRACE).requests, 3);
}

#[test]
fn binding_a_taken_address_fails() {
    let engine = start(answer("served"));
    let second = Engine::start(
        engine.local_addr(),
        EngineConfig::default(),
        answer("other"),
    );
    let error = second.expect_err("a second engine must not share the port");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
    // The first engine is unaffected.
    assert_eq!(
        Client::connect(engine.local_addr())
            .exchange(get("/"))
            .text(),
        "served"
    );
}

#[test]
fn stop_cuts_a_lingering_close_short() {
    // The linger after a refusal would outlast the grace many times over.
    let config = EngineConfig::default()
        .linger_timeout(Duration::from_secs(600))
        .timer_tick(Duration::from_millis(20));
    let engine = Engine::start("127.0.0.1:0", config, answer("served")).unwrap();
    let mut client = Client::connect(engine.local_addr());
    client.send("GET/bad\r\n\r\n");
    client.response().assert_status(StatusCode::BAD_REQUEST);
    // The engine has shut its sending side and lingers, reading; the client stays.
    client.assert_closed();
    assert_eq!(engine.connections(), 1);
    let started = Instant::now();
    let report = engine.stop(GRACE);
    assert!(started.elapsed() < GRACE, "stop waited for the linger");
    assert_eq!((report.drained, report.forced), (1, 0));
}

#[test]
fn stop_answers_the_requests_of_connections_still_in_the_accept_queue() {
    // One connection at a time: the others wait in the kernel's accept queue.
    let engine = start_with(EngineConfig::default().max_connections(1), answer("served"));
    let mut open = Client::connect(engine.local_addr());
    assert_eq!(open.exchange(get("/")).text(), "served");
    let mut queued: Vec<Client> = (0..3)
        .map(|_| Client::connect(engine.local_addr()))
        .collect();
    for client in &mut queued {
        client.send(get("/queued"));
    }
    std::thread::scope(|scope| {
        let stop = scope.spawn(|| engine.stop(GRACE));
        for client in &mut queued {
            let reply = client.response();
            reply.assert_status(StatusCode::OK);
            assert!(reply.closes(), "answered as part of the drain");
            client.assert_closed();
        }
        let report = stop.join().unwrap();
        assert_eq!((report.drained, report.forced), (4, 0));
    });
    open.assert_closed();
}

#[test]
fn stop_runs_an_upgraded_connections_wind_down_hook_at_once() {
    use hyperf_http::{Body, OnUpgrade, Upgraded};
    use std::io::{Read, Write};

    // The callback waits in a read with no timeout: only its wind-down hook, which shuts the
    // socket down, can end it before the grace runs out.
    let (hooked, hook_ran) = mpsc::channel();
    let hooked = Arc::new(std::sync::Mutex::new(hooked));
    let engine = start(move |_: Request| -> Result<Response, BoxError> {
        let hooked = Arc::clone(&hooked);
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        response.headers_mut().insert("upgrade", "test".parse()?);
        response
            .extensions_mut()
            .insert(OnUpgrade::new(move |mut socket: Upgraded| {
                let shut = socket.try_clone().expect("a second handle");
                socket.on_wind_down(move || {
                    let _ = hooked.lock().unwrap().send(());
                    let _ = shut.shutdown(std::net::Shutdown::Both);
                });
                let mut byte = [0u8; 1];
                while socket.read(&mut byte).unwrap_or(0) == 1 {}
            }));
        Ok(response)
    });
    let mut client = TcpStream::connect(engine.local_addr()).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        client.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));

    let report = engine.stop(GRACE);
    hook_ran.recv_timeout(TIMEOUT).expect("the hook ran");
    assert_eq!(report.forced, 0, "the callback was forced to end");
    assert!(hook_ran.try_recv().is_err(), "the hook ran twice");
}
