//! Server-sent events over sockets: the framing, keep-alive comments, `Last-Event-ID`, a
//! client that goes away, and a stopping engine.

mod server_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use hyperf_http::server::{Event, Hub, LastEventId, Overflow, Router, Sse, SseSender};
use hyperf_http::{Engine, EngineConfig};
use server_common::{TIMEOUT, get, request, spec};

fn serve(router: Router) -> Engine {
    let service = spec("sse").router(router).into_service();
    Engine::start_shared("127.0.0.1:0", EngineConfig::default(), service).unwrap()
}

/// A client that has sent `raw` and reads with a bound.
fn open(engine: &Engine, raw: &str) -> TcpStream {
    let mut stream = TcpStream::connect(engine.local_addr()).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    stream
}

/// Reads until `needle` has arrived: everything read so far.
fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains(needle) {
        let n = stream
            .read(&mut buffer)
            .expect("more of the stream in time");
        assert!(
            n > 0,
            "stream ended before {needle:?}: {}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[test]
fn events_are_framed_with_their_name_id_retry_and_each_data_line() {
    let mut router = Router::new();
    router
        .get("/events", || {
            Sse::new(|events| {
                let event = Event::data("first line\nsecond line")
                    .event("note")
                    .id("42")
                    .retry(Duration::from_millis(1500));
                let _ = events.send(event);
            })
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(&engine, &get("/events"));
    let received = read_until(&mut client, "0\r\n\r\n");
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    assert!(
        received.contains("content-type: text/event-stream\r\n"),
        "{received}"
    );
    assert!(
        received.contains("cache-control: no-cache\r\n"),
        "{received}"
    );
    assert!(
        received.contains("transfer-encoding: chunked\r\n"),
        "{received}"
    );
    assert!(
        received
            .contains("event: note\nid: 42\nretry: 1500\ndata: first line\ndata: second line\n\n"),
        "{received}"
    );
    engine.stop(TIMEOUT);
}

#[test]
fn a_silent_stream_sends_keep_alive_comments() {
    let hub: Hub<String> = Hub::new(1, Overflow::DropOldest);
    let mut router = Router::new();
    router
        .get("/quiet", move || {
            let silent = hub.subscribe("nobody publishes here");
            Sse::new(move |events| {
                // Silent: waits for messages that never come, until the stream ends.
                while !events.is_closed() {
                    let _ = silent.recv_timeout(Duration::from_millis(20));
                }
            })
            .keep_alive(Some(Duration::from_millis(50)))
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(&engine, &get("/quiet"));
    let received = read_until(&mut client, "\r\n:\n\n\r\n");
    assert!(received.contains("text/event-stream"), "{received}");
    engine.stop(TIMEOUT);
}

#[test]
fn the_last_event_id_the_client_sends_is_readable_by_the_handler() {
    let mut router = Router::new();
    router
        .get("/resume", |LastEventId(last): LastEventId| {
            Sse::new(move |events| {
                let _ = events.send(Event::data(format!("after {}", last.unwrap_or_default())));
            })
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(
        &engine,
        &request("GET", "/resume", &[("Last-Event-ID", "17")]),
    );
    read_until(&mut client, "data: after 17\n\n");
    engine.stop(TIMEOUT);
}

#[test]
fn a_client_that_goes_away_makes_the_producers_next_send_fail() {
    let (ended_tx, ended_rx) = mpsc::channel();
    let ended = Arc::new(Mutex::new(ended_tx));
    let mut router = Router::new();
    router
        .get("/stream", move || {
            let ended = Arc::clone(&ended);
            Sse::new(move |events| {
                let mut sent = 0u64;
                while events.send(Event::data(format!("event {sent}"))).is_ok() {
                    sent += 1;
                }
                let _ = ended.lock().unwrap().send(sent);
            })
            .buffer(1)
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(&engine, &get("/stream"));
    read_until(&mut client, "data: event 0\n\n");
    drop(client);
    assert!(ended_rx.recv_timeout(TIMEOUT).is_ok());
    server_common::eventually(TIMEOUT, "the connection closes", || {
        engine.connections() == 0
    });
    engine.stop(TIMEOUT);
}

#[test]
fn a_stopping_engine_ends_the_stream_cleanly_within_its_grace() {
    let (closed_tx, closed_rx) = mpsc::channel();
    let closed = Arc::new(Mutex::new(closed_tx));
    let hub: Hub<String> = Hub::new(8, Overflow::DropOldest);
    let producer_hub = hub.clone();
    let mut router = Router::new();
    router
        .get("/room", move || {
            let subscription = producer_hub.subscribe("room");
            let closed = Arc::clone(&closed);
            Sse::new(move |events| {
                // A producer fed by a hub: it waits for messages, looking whether the stream
                // has ended between waits.
                loop {
                    if let Ok(message) = subscription.recv_timeout(Duration::from_millis(20)) {
                        if events.send(Event::data(message)).is_err() {
                            break;
                        }
                    }
                    if events.is_closed() {
                        break;
                    }
                }
                let _ = closed.lock().unwrap().send(());
            })
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(&engine, &get("/room"));
    server_common::eventually(TIMEOUT, "the subscriber is there", || {
        hub.subscribers("room") == 1
    });
    hub.publish("room", "hello".to_string());
    read_until(&mut client, "data: hello\n\n");
    let report = engine.stop(TIMEOUT);
    assert_eq!(report.forced, 0);
    // The chunked body's end, then the connection's.
    let rest = read_until(&mut client, "0\r\n\r\n");
    assert!(rest.ends_with("0\r\n\r\n"), "{rest}");
    assert!(closed_rx.recv_timeout(TIMEOUT).is_ok());
}

/// Waits until the stream has ended, as a producer on a hub does through `on_close` (a may
/// channel: the wait parks the coroutine, not its worker thread).
fn wait_for_the_end(events: &SseSender) {
    let (woken, wait) = may::sync::mpsc::channel::<()>();
    events.on_close(move || {
        let _ = woken.send(());
    });
    let _ = wait.recv();
}

#[test]
fn a_stop_ends_a_silent_stream_without_waiting_for_its_stop_poll() {
    // The stream would look at the stop only after an hour and send no keep-alive: the stop
    // itself ends it.
    let (ended_tx, ended_rx) = mpsc::channel();
    let ended = Arc::new(Mutex::new(ended_tx));
    let mut router = Router::new();
    router
        .get("/quiet", move || {
            let ended = Arc::clone(&ended);
            Sse::new(move |events| {
                events.send(Event::data("first")).unwrap();
                wait_for_the_end(&events);
                let _ = ended.lock().unwrap().send(events.is_closed());
            })
            .keep_alive(None)
            .stop_poll(Duration::from_secs(3600))
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(&engine, &get("/quiet"));
    read_until(&mut client, "data: first\n\n");
    let report = engine.stop(TIMEOUT);
    assert_eq!(report.forced, 0);
    let rest = read_until(&mut client, "0\r\n\r\n");
    assert!(rest.ends_with("0\r\n\r\n"), "{rest}");
    assert_eq!(ended_rx.recv_timeout(TIMEOUT), Ok(true));
}

#[test]
fn a_stream_that_ended_leaves_nothing_for_a_later_stop_on_its_connection() {
    // Two streams in turn on one keep-alive connection, then a stop: the first stream's end
    // took its hook away, and the second's ends the second.
    let mut router = Router::new();
    router
        .get("/short", || {
            Sse::new(|events| {
                let _ = events.send(Event::data("done"));
            })
            .keep_alive(None)
        })
        .unwrap();
    router
        .get("/quiet", || {
            Sse::new(|events| {
                let _ = events.send(Event::data("first"));
                wait_for_the_end(&events);
            })
            .keep_alive(None)
            .stop_poll(Duration::from_secs(3600))
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(&engine, &get("/short"));
    read_until(&mut client, "0\r\n\r\n");
    client.write_all(get("/quiet").as_bytes()).unwrap();
    read_until(&mut client, "data: first\n\n");
    let report = engine.stop(TIMEOUT);
    assert_eq!(report.forced, 0);
}

#[test]
fn on_close_wakes_a_producer_waiting_on_a_hub_when_the_client_goes_away() {
    let hub: Hub<String> = Hub::new(8, Overflow::DropOldest);
    let (ended, was_ended) = mpsc::channel::<&'static str>();
    let ended = Arc::new(Mutex::new(ended));
    let mut router = Router::new();
    let room = hub.clone();
    router
        .get("/events", move || {
            let subscription = room.subscribe("room");
            let ended = Arc::clone(&ended);
            Sse::new(move |events| {
                let closer = subscription.closer();
                events.on_close(move || closer.close());
                // Nothing is ever published: only the close ends this wait.
                while let Some(line) = subscription.recv() {
                    let _ = events.send(Event::data(line));
                }
                drop(subscription);
                let _ = ended.lock().unwrap().send("producer done");
            })
            .keep_alive(Some(Duration::from_millis(50)))
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(&engine, "GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
    read_until(&mut client, "text/event-stream");
    drop(client);
    // The next keep-alive comment's write fails, the stream ends, the callback closes the
    // subscription, and the producer's wait returns.
    assert_eq!(was_ended.recv_timeout(TIMEOUT), Ok("producer done"));
    assert_eq!(hub.subscribers("room"), 0);
    engine.stop(TIMEOUT);
}

#[test]
fn a_stopping_engine_wakes_a_producer_that_waits_on_a_hub_through_on_close() {
    let (closed_tx, closed_rx) = mpsc::channel();
    let closed = Arc::new(Mutex::new(closed_tx));
    let hub: Hub<String> = Hub::new(8, Overflow::DropOldest);
    let producer_hub = hub.clone();
    let mut router = Router::new();
    router
        .get("/room", move || {
            let subscription = producer_hub.subscribe("room");
            let closed = Arc::clone(&closed);
            Sse::new(move |events| {
                let closer = subscription.closer();
                events.on_close(move || closer.close());
                while let Some(message) = subscription.recv() {
                    if events.send(Event::data(message)).is_err() {
                        break;
                    }
                }
                let _ = closed.lock().unwrap().send(());
            })
        })
        .unwrap();
    let engine = serve(router);
    let mut client = open(&engine, &get("/room"));
    server_common::eventually(TIMEOUT, "the subscriber is there", || {
        hub.subscribers("room") == 1
    });
    hub.publish("room", "hello".to_string());
    read_until(&mut client, "data: hello\n\n");
    let report = engine.stop(TIMEOUT);
    assert_eq!(report.forced, 0);
    assert!(closed_rx.recv_timeout(TIMEOUT).is_ok());
}
