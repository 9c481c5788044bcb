//! WebSocket clients that try to make the server hold memory, hang or leak: a client that
//! never reads while the server sends (straight from the handler, and through a `Hub`'s
//! bounded queue), clients that vanish mid-frame, and ten thousand connections opened and
//! closed. Real sockets on 127.0.0.1, `tungstenite`'s client or raw bytes.
#![cfg(feature = "ws")]

mod server_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hyperf_http::server::ws::{Message, WebSocketUpgrade, WsConfig};
use hyperf_http::server::{Hub, Overflow, RecvError, Router};
use hyperf_http::{Engine, EngineConfig};
use server_common::{TIMEOUT, eventually, spec, within};
use tungstenite::protocol::Role;

type ClientSocket = tungstenite::WebSocket<TcpStream>;

/// An engine serving `router` (the server's pipeline, without workers: the engine's own
/// connection count).
fn serve(router: Router) -> Engine {
    let service = spec("ws").router(router).into_service();
    Engine::start_shared("127.0.0.1:0", EngineConfig::default(), service).unwrap()
}

/// A `tungstenite` client connected to `path`, reads bounded by [`TIMEOUT`].
fn connect(addr: SocketAddr, path: &str) -> ClientSocket {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let (socket, response) =
        tungstenite::client(format!("ws://{addr}{path}"), stream).expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    socket
}

/// A raw client that has completed the handshake to `path` and read exactly the `101`'s head
/// (nothing past it), with a small receive buffer of its own: once it stops reading, the
/// server's writes fill the socket buffers quickly, and stall.
fn stalled_client(addr: SocketAddr, path: &str) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // Set before connecting: the kernel then never grows it (no receive autotuning).
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    // Byte by byte: the frames the server sends right after the head stay unread.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the 101's head");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A thread that sends a masked text frame "hi" (mask 0) on a client's socket every 20 ms,
/// until the server ends the connection or [`stop`](Self::stop) is called.
struct Talking {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Talking {
    fn start(client: &TcpStream) -> Self {
        let mut sending = client.try_clone().unwrap();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(20))
            {
                if sending
                    .write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i'])
                    .is_err()
                {
                    return;
                }
            }
        });
        Talking { stop, thread }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().unwrap();
    }
}

/// Sends what a handler's socket ended with (its `Debug`) on `ended`, for tests to wait on.
type Ended = Arc<Mutex<mpsc::Sender<String>>>;

fn ended_channel() -> (Ended, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    (Arc::new(Mutex::new(tx)), rx)
}

/// `/echo` echoes text and binary messages; why its socket ended goes to `ended`.
fn echo(config: WsConfig, ended: Ended) -> Router {
    let mut router = Router::new();
    router
        .get("/echo", move |ws: WebSocketUpgrade| {
            let ended = Arc::clone(&ended);
            ws.config(config).on_upgrade(move |mut socket| {
                let why = loop {
                    match socket.recv() {
                        Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                            if let Err(error) = socket.send(message) {
                                break format!("send: {error:?}");
                            }
                        }
                        Ok(_) => {}
                        Err(error) => break format!("{error:?}"),
                    }
                };
                let _ = ended.lock().unwrap().send(why);
            })
        })
        .unwrap();
    router
}

/// `/room`, the README's (and the `chat` example's) room: every subscriber's messages go out
/// from a forwarding coroutine through a `WsSender` while the handler waits in `recv`; the
/// forwarder ends when a send fails. Why the handler's socket ended goes to `ended` once both
/// have ended.
fn room(hub: &Hub<String>, config: WsConfig, ended: Ended) -> Router {
    let mut router = Router::new();
    let hub = hub.clone();
    router
        .get("/room", move |ws: WebSocketUpgrade| {
            let subscription = hub.subscribe("room");
            let ended = Arc::clone(&ended);
            ws.config(config).on_upgrade(move |mut socket| {
                let sender = socket.sender();
                let forwarder = may::go!(move || {
                    loop {
                        match subscription.recv_timeout(Duration::from_millis(20)) {
                            Ok(message) => {
                                if sender.send_text(message).is_err() {
                                    return;
                                }
                            }
                            Err(RecvError::Closed) => return,
                            Err(RecvError::Timeout) if sender.is_closed() => return,
                            Err(RecvError::Timeout) => {}
                        }
                    }
                });
                let why = loop {
                    match socket.recv() {
                        Ok(_) => {}
                        Err(error) => break format!("{error:?}"),
                    }
                };
                drop(socket);
                let _ = forwarder.join();
                let _ = ended.lock().unwrap().send(why);
            })
        })
        .unwrap();
    router
}

/// Message `n` of a room: its number, then padding to 16 KiB.
fn numbered(n: usize) -> String {
    let mut message = format!("{n:06}:");
    message.push_str(&"x".repeat(16 * 1024 - message.len()));
    message
}

/// The number of a [`numbered`] message.
fn number_of(message: &str) -> usize {
    message[..6].parse().expect("a numbered message")
}

/// Reads until the next text message.
fn next_text(client: &mut ClientSocket) -> String {
    loop {
        match client.read().expect("a message in time") {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_handler_sending_to_a_client_that_never_reads_fails_within_its_write_timeout() {
    let (sent_tx, sent_rx) = mpsc::channel();
    let sent_tx = Arc::new(Mutex::new(sent_tx));
    let mut router = Router::new();
    router
        .get("/flood", move |ws: WebSocketUpgrade| {
            let report = Arc::clone(&sent_tx);
            let config = WsConfig::new().write_timeout(Duration::from_millis(200));
            ws.config(config).on_upgrade(move |mut socket| {
                // 64 KiB messages until a send fails: how many went out, the error, and how
                // long the failing send waited.
                let message = Message::binary(vec![7u8; 64 * 1024]);
                let mut sent = 0usize;
                let (error, stalled) = loop {
                    let started = Instant::now();
                    match socket.send(message.clone()) {
                        Ok(()) => sent += 1,
                        Err(error) => break (format!("{error:?}"), started.elapsed()),
                    }
                };
                let _ = report.lock().unwrap().send((sent, error, stalled));
            })
        })
        .unwrap();
    let engine = serve(router);
    let client = stalled_client(engine.local_addr(), "/flood");
    let (sent, error, stalled) = sent_rx
        .recv_timeout(TIMEOUT)
        .expect("the send fails while the client still holds the connection open");
    assert!(error.starts_with("Io("), "{error}");
    // The send blocked on the full socket (nothing is buffered in the server beyond it)...
    assert!(
        sent * 64 * 1024 < 32 << 20,
        "{sent} messages of 64 KiB accepted"
    );
    // ...and for about the write timeout, not the default 10 s.
    assert!(
        stalled < Duration::from_secs(3),
        "the send waited {stalled:?}"
    );
    eventually(TIMEOUT, "the connection is closed", || {
        engine.connections() == 0
    });
    drop(client);
    engine.stop(TIMEOUT);
}

#[test]
fn a_room_member_that_never_reads_slows_neither_the_publisher_nor_the_other_members() {
    let hub: Hub<String> = Hub::new(16, Overflow::DropOldest);
    let (ended, _ended_rx) = ended_channel();
    // The default write timeout (10 s): the stalled member's forwarder stays blocked in its
    // write for the whole test.
    let engine = serve(room(&hub, WsConfig::new(), ended));
    let addr = engine.local_addr();
    let stalled = stalled_client(addr, "/room");
    let mut reader = connect(addr, "/room");
    assert_eq!(hub.subscribers("room"), 2);
    // 64 MiB in all, far more than the stalled client's socket buffers hold; each message
    // published once the reader has received the one before.
    let publisher = hub.clone();
    let (reader, slowest) = within(TIMEOUT, move || {
        let mut slowest = Duration::ZERO;
        for n in 0..4000 {
            let started = Instant::now();
            assert_eq!(publisher.publish("room", numbered(n)), 2);
            slowest = slowest.max(started.elapsed());
            assert_eq!(number_of(&next_text(&mut reader)), n);
        }
        (reader, slowest)
    });
    // A publish is a push into each queue: it never waited for the stalled member's write.
    assert!(
        slowest < Duration::from_secs(1),
        "a publish took {slowest:?}"
    );
    drop((stalled, reader));
    engine.stop(TIMEOUT);
}

#[test]
fn a_room_member_that_never_reads_is_held_to_its_queue_and_misses_the_overflow() {
    let hub: Hub<String> = Hub::new(16, Overflow::DropOldest);
    let (ended, _ended_rx) = ended_channel();
    let engine = serve(room(&hub, WsConfig::new(), ended));
    let stalled = stalled_client(engine.local_addr(), "/room");
    let count = 4000;
    for n in 0..count {
        assert_eq!(hub.publish("room", numbered(n)), 1);
    }
    // Now it reads: what the socket buffers held, then what its queue kept — in order, up to
    // the last message published, and only a small part of the 64 MiB published.
    let mut client = tungstenite::WebSocket::from_raw_socket(stalled, Role::Client, None);
    let mut numbers = vec![number_of(&next_text(&mut client))];
    while numbers.last() != Some(&(count - 1)) {
        numbers.push(number_of(&next_text(&mut client)));
    }
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "{numbers:?}"
    );
    // The server's send buffer (at most 4 MiB by Linux's default), the client's 64 KiB, the
    // forwarder's message and the queue's 16: a few hundred messages of 16 KiB at most.
    assert!(
        numbers.len() < count / 4,
        "{} of {count} messages were kept for it",
        numbers.len()
    );
    drop(client);
    engine.stop(TIMEOUT);
}

#[test]
fn a_room_member_that_never_reads_is_disconnected_and_leaves_the_room() {
    let hub: Hub<String> = Hub::new(16, Overflow::DropOldest);
    let (ended, ended_rx) = ended_channel();
    // A stalled write fails after 200 ms. The handler's `recv` pings the silent client after
    // 300 ms and closes 300 ms later, waiting 200 ms for a reply; each of those writes either
    // fails (the buffers are full) or goes out and is never answered.
    let config = WsConfig::new()
        .write_timeout(Duration::from_millis(200))
        .idle_timeout(Some(Duration::from_millis(300)))
        .close_timeout(Duration::from_millis(200));
    let engine = serve(room(&hub, config, ended));
    let stalled = stalled_client(engine.local_addr(), "/room");
    let publisher = hub.clone();
    // Published for as long as it is subscribed: its socket buffers fill, its forwarder's
    // write stalls and fails, and the forwarder drops its subscription.
    let published = within(TIMEOUT, move || {
        let mut n = 0;
        while publisher.subscribers("room") > 0 {
            publisher.publish("room", numbered(n % 1_000_000));
            n += 1;
        }
        n
    });
    assert!(published > 0);
    let why = ended_rx
        .recv_timeout(TIMEOUT)
        .expect("the handler ends while the client still holds the connection open");
    // The forwarder's write failed and shut the socket down (`Closed`), or the ping's write
    // failed first, or the ping went out while there was room and was never answered.
    assert!(
        why == "Closed" || why.starts_with("Io(") || why == "IdleTimeout",
        "{why}"
    );
    eventually(TIMEOUT, "the connection is closed", || {
        engine.connections() == 0
    });
    drop(stalled);
    engine.stop(TIMEOUT);
}

#[test]
fn a_room_member_that_never_reads_but_keeps_sending_is_disconnected() {
    let hub: Hub<String> = Hub::new(16, Overflow::DropOldest);
    let (ended, ended_rx) = ended_channel();
    // The client keeps talking, so the idle timeout cannot be what ends it: only its
    // forwarder's failed write can.
    let config = WsConfig::new()
        .write_timeout(Duration::from_millis(200))
        .idle_timeout(Some(Duration::from_secs(60)));
    let engine = serve(room(&hub, config, ended));
    let mut stalled = stalled_client(engine.local_addr(), "/room");
    let publisher = hub.clone();
    within(TIMEOUT, move || {
        while publisher.subscribers("room") > 0 {
            publisher.publish("room", numbered(0));
        }
    });
    // The member has left the room; its client goes on talking.
    let talking = Talking::start(&stalled);
    let why = ended_rx
        .recv_timeout(TIMEOUT)
        .expect("the handler's recv ends once nothing can be sent to its client");
    assert_eq!(why, "Closed");
    eventually(TIMEOUT, "the connection is closed", || {
        engine.connections() == 0
    });
    talking.stop();
    let _ = stalled.flush();
    engine.stop(TIMEOUT);
}

#[test]
fn a_room_member_that_talks_but_never_reads_is_disconnected_by_the_write_timeout() {
    let hub: Hub<String> = Hub::new(16, Overflow::DropOldest);
    let (ended, ended_rx) = ended_channel();
    // The client talks all along, every 20 ms, so the idle timeout cannot end it, and each
    // of its frames wakes the socket: the forwarder's write must still fail at its timeout.
    let config = WsConfig::new()
        .write_timeout(Duration::from_millis(200))
        .idle_timeout(Some(Duration::from_secs(60)));
    let engine = serve(room(&hub, config, ended));
    let mut stalled = stalled_client(engine.local_addr(), "/room");
    let talking = Talking::start(&stalled);
    let publisher = hub.clone();
    within(TIMEOUT, move || {
        while publisher.subscribers("room") > 0 {
            publisher.publish("room", numbered(0));
        }
    });
    let why = ended_rx
        .recv_timeout(TIMEOUT)
        .expect("the handler ends once its forwarder's write timed out");
    assert!(why == "Closed" || why.starts_with("Io("), "{why}");
    eventually(TIMEOUT, "the connection is closed", || {
        engine.connections() == 0
    });
    talking.stop();
    let _ = stalled.flush();
    engine.stop(TIMEOUT);
}

/// Sends `bytes` on a fresh WebSocket of `engine`'s `/echo`, then goes away without another
/// byte (a FIN, or a reset when `reset`); the handler's `recv` must end well before the idle
/// timeout (60 s) and the engine must go on serving: a new client's message is echoed.
fn vanish_after(bytes: &[u8], reset: bool) -> String {
    let (ended, ended_rx) = ended_channel();
    let config = WsConfig::new().idle_timeout(Some(Duration::from_secs(60)));
    let engine = serve(echo(config, ended));
    let mut client = connect(engine.local_addr(), "/echo");
    client.get_mut().write_all(bytes).unwrap();
    if reset {
        socket2::SockRef::from(client.get_ref())
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    drop(client);
    let why = ended_rx
        .recv_timeout(TIMEOUT)
        .expect("recv ends long before the idle timeout");
    eventually(TIMEOUT, "the connection is closed", || {
        engine.connections() == 0
    });
    let mut next = connect(engine.local_addr(), "/echo");
    next.send(Message::text("still serving")).unwrap();
    assert_eq!(next.read().unwrap(), Message::text("still serving"));
    next.close(None).unwrap();
    while next.read().is_ok() {}
    assert_eq!(ended_rx.recv_timeout(TIMEOUT).unwrap(), "Closed");
    engine.stop(TIMEOUT);
    why
}

/// What a handler's `recv` may end with when its client vanishes: the connection closed, an
/// I/O error (a reset), or the protocol error `tungstenite` reports for a stream that ends
/// without the close handshake (a FIN, even mid-frame).
fn is_vanished(why: &str) -> bool {
    why == "Closed" || why.starts_with("Io(") || why.starts_with("Protocol(")
}

#[test]
fn a_client_vanishing_inside_a_frame_header_ends_recv_and_the_server_keeps_serving() {
    // A masked binary frame with a 16-bit length: one of its two length bytes, then gone.
    let why = vanish_after(&[0x82, 0x80 | 126, 0x01], false);
    assert!(is_vanished(&why), "{why}");
}

#[test]
fn a_client_vanishing_inside_a_large_payload_ends_recv_and_the_server_keeps_serving() {
    // A masked binary frame announcing 512 KiB (a 64-bit length), its mask, 100 KiB of it.
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&(512u64 * 1024).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    bytes.extend_from_slice(&[0u8; 100 * 1024]);
    let why = vanish_after(&bytes, false);
    assert!(is_vanished(&why), "{why}");
}

#[test]
fn a_client_vanishing_between_the_fragments_of_a_message_ends_recv_and_the_server_keeps_serving() {
    // The first fragment of a text message (FIN clear), masked, whole; the rest never comes.
    let mask = [9u8, 8, 7, 6];
    let mut bytes = vec![0x01, 0x80 | 5];
    bytes.extend_from_slice(&mask);
    bytes.extend(b"hello".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    let why = vanish_after(&bytes, false);
    assert!(is_vanished(&why), "{why}");
}

#[test]
fn a_client_resetting_the_connection_mid_frame_ends_recv_and_the_server_keeps_serving() {
    // A masked text frame header announcing 100 bytes, 10 of them, then a reset (RST).
    let mut bytes = vec![0x81, 0x80 | 100, 1, 2, 3, 4];
    bytes.extend_from_slice(&[0u8; 10]);
    let why = vanish_after(&bytes, true);
    assert!(is_vanished(&why), "{why}");
}

#[test]
fn ten_thousand_websockets_opened_and_closed_in_batches_leave_no_connection_behind() {
    const TOTAL: usize = 10_000;
    // At most this many open at once on each side (two descriptors each in this process).
    const BATCH: usize = 250;
    let (ended, ended_rx) = ended_channel();
    let engine = serve(echo(WsConfig::new(), ended));
    let addr = engine.local_addr();
    let opened = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&opened);
    let engine = within(Duration::from_secs(240), move || {
        for batch in 0..TOTAL / BATCH {
            let clients: Vec<ClientSocket> = (0..BATCH).map(|_| connect(addr, "/echo")).collect();
            counted.fetch_add(clients.len(), Ordering::Relaxed);
            assert_eq!(engine.connections(), BATCH, "batch {batch}");
            // Half of them close cleanly (the close handshake), half just go away.
            for (n, mut client) in clients.into_iter().enumerate() {
                if n % 2 == 0 {
                    client.close(None).unwrap();
                    while client.read().is_ok() {}
                }
            }
            eventually(TIMEOUT, "the batch's connections are closed", || {
                engine.connections() == 0
            });
        }
        engine
    });
    assert_eq!(opened.load(Ordering::Relaxed), TOTAL);
    let endings: Vec<String> = ended_rx.try_iter().collect();
    assert_eq!(endings.len(), TOTAL, "every handler ended");
    assert!(endings.iter().all(|why| is_vanished(why)), "{endings:?}");
    let mut next = connect(addr, "/echo");
    next.send(Message::text("after ten thousand")).unwrap();
    assert_eq!(next.read().unwrap(), Message::text("after ten thousand"));
    drop(next);
    engine.stop(TIMEOUT);
}
