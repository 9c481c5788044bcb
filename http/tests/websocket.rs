//! WebSocket routes over real sockets, with `tungstenite`'s client: the handshake's checks,
//! echo, ping, the close handshake, limits, a client that vanishes, the idle timeout and a
//! stopping server.

mod server_common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use hyperf_http::server::Router;
use hyperf_http::server::ws::{CloseCode, Message, WebSocketUpgrade, WsConfig};
use hyperf_http::{Engine, EngineConfig};
use server_common::{Client, TIMEOUT, eventually, request, server, spec, start, within};
use tungstenite::client::IntoClientRequest;

type ClientSocket = tungstenite::WebSocket<TcpStream>;

/// An engine serving `router` (the server's pipeline, without workers: the engine's own
/// connection count and stop).
fn serve(router: Router) -> Engine {
    let service = spec("ws").router(router).into_service();
    Engine::start_shared("127.0.0.1:0", EngineConfig::default(), service).unwrap()
}

/// `/echo` echoes text and binary messages; when its socket ends, why is sent on `ended`.
fn echo(config: WsConfig, ended: mpsc::Sender<String>) -> Router {
    let ended = Arc::new(std::sync::Mutex::new(ended));
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

/// A `tungstenite` client connected to `path`, with a read timeout so that no test hangs.
fn connect(addr: SocketAddr, path: &str) -> ClientSocket {
    connect_with(
        addr,
        format!("ws://{addr}{path}").into_client_request().unwrap(),
    )
}

fn connect_with(
    addr: SocketAddr,
    request: tungstenite::handshake::client::Request,
) -> ClientSocket {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let (socket, response) = tungstenite::client(request, stream).expect("the handshake succeeds");
    assert_eq!(response.status(), 101);
    socket
}

/// Reads until a close frame arrives: its code.
fn close_code(client: &mut ClientSocket) -> Option<CloseCode> {
    loop {
        match client.read() {
            Ok(Message::Close(frame)) => return frame.map(|frame| frame.code),
            Ok(_) => {}
            Err(error) => panic!("no close frame: {error}"),
        }
    }
}

const HANDSHAKE: &str = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[test]
fn a_handshake_of_another_version_gets_426_naming_version_13() {
    let (tx, _rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let reply = Client::connect(engine.local_addr()).exchange(format!(
        "GET /echo HTTP/1.1\r\n{HANDSHAKE}Sec-WebSocket-Version: 8\r\n\r\n"
    ));
    reply.assert_status(426u16);
    assert_eq!(reply.header("sec-websocket-version"), Some("13"));
    engine.stop(TIMEOUT);
}

#[test]
fn a_handshake_without_a_key_gets_400() {
    let (tx, _rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let reply = Client::connect(engine.local_addr()).exchange(
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    reply.assert_status(400u16);
    engine.stop(TIMEOUT);
}

#[test]
fn a_handshake_without_upgrade_websocket_gets_400() {
    let (tx, _rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let reply = Client::connect(engine.local_addr()).exchange(request("GET", "/echo", &[]));
    reply.assert_status(400u16);
    engine.stop(TIMEOUT);
}

#[test]
fn a_post_to_a_websocket_route_gets_405() {
    let (tx, _rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let reply = Client::connect(engine.local_addr()).exchange(format!(
        "POST /echo HTTP/1.1\r\n{HANDSHAKE}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
    ));
    reply.assert_status(405u16);
    engine.stop(TIMEOUT);
}

#[test]
fn the_accept_key_is_derived_from_the_clients_key() {
    let (tx, _rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let mut client = Client::connect(engine.local_addr());
    let reply = client
        .send(format!(
            "GET /echo HTTP/1.1\r\n{HANDSHAKE}Sec-WebSocket-Version: 13\r\n\r\n"
        ))
        .head_response();
    reply.assert_status(101u16);
    // RFC 6455's own example.
    assert_eq!(
        reply.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(reply.header("connection"), Some("upgrade"));
    assert_eq!(reply.header("upgrade"), Some("websocket"));
    // Gone before the stop, which would otherwise wait for its close reply.
    drop(client);
    engine.stop(TIMEOUT);
}

#[test]
fn text_and_binary_messages_are_echoed() {
    let (tx, _rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let mut client = connect(engine.local_addr(), "/echo");
    client.send(Message::text("hello")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("hello"));
    client.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(
        client.read().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    // Gone before the stop, which would otherwise wait for its close reply.
    drop(client);
    engine.stop(TIMEOUT);
}

#[test]
fn a_ping_is_answered_with_a_pong() {
    let (tx, _rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let mut client = connect(engine.local_addr(), "/echo");
    client.send(Message::Ping("are you there".into())).unwrap();
    assert_eq!(
        client.read().unwrap(),
        Message::Pong("are you there".into())
    );
    // Gone before the stop, which would otherwise wait for its close reply.
    drop(client);
    engine.stop(TIMEOUT);
}

#[test]
fn a_close_from_the_client_is_answered_and_ends_the_handler() {
    let (tx, rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let mut client = connect(engine.local_addr(), "/echo");
    client.close(None).unwrap();
    // The reply to our close, then the end of the stream.
    loop {
        match client.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(error) => panic!("not a clean close: {error}"),
        }
    }
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), "Closed");
    eventually(TIMEOUT, "the connection closes", || {
        engine.connections() == 0
    });
    engine.stop(TIMEOUT);
}

#[test]
fn a_message_over_the_limit_closes_with_1009() {
    let (tx, rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new().max_message_size(1000), tx));
    let mut client = connect(engine.local_addr(), "/echo");
    client.send(Message::binary(vec![7u8; 2000])).unwrap();
    assert_eq!(close_code(&mut client), Some(CloseCode::Size));
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), "TooLarge");
    engine.stop(TIMEOUT);
}

#[test]
fn a_frame_over_the_limit_closes_with_1009() {
    let (tx, rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new().max_frame_size(100), tx));
    let mut client = connect(engine.local_addr(), "/echo");
    client.send(Message::text("x".repeat(101))).unwrap();
    assert_eq!(close_code(&mut client), Some(CloseCode::Size));
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), "TooLarge");
    engine.stop(TIMEOUT);
}

#[test]
fn a_client_vanishing_mid_frame_ends_the_handler_and_its_connection() {
    let (tx, rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let mut client = connect(engine.local_addr(), "/echo");
    assert_eq!(engine.connections(), 1);
    // A masked text frame header announcing 100 bytes, then 10 of them, then gone.
    let stream = client.get_mut();
    stream.write_all(&[0x81, 0x80 | 100, 1, 2, 3, 4]).unwrap();
    stream.write_all(&[0u8; 10]).unwrap();
    drop(client);
    let why = rx.recv_timeout(TIMEOUT).unwrap();
    assert!(
        why == "Closed" || why.starts_with("Io") || why.starts_with("Protocol"),
        "{why}"
    );
    eventually(TIMEOUT, "the connection closes", || {
        engine.connections() == 0
    });
    engine.stop(TIMEOUT);
}

#[test]
fn a_silent_client_is_pinged_then_closed_when_it_does_not_answer() {
    let (tx, rx) = mpsc::channel();
    // The raw client never answers the close either: the close timeout bounds that wait.
    let config = WsConfig::new()
        .idle_timeout(Some(Duration::from_millis(200)))
        .close_timeout(Duration::from_millis(200));
    let engine = serve(echo(config, tx));
    let addr = engine.local_addr();
    // A raw socket, which never answers pings (tungstenite's client would).
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    raw.write_all(
        format!("GET /echo HTTP/1.1\r\n{HANDSHAKE}Sec-WebSocket-Version: 13\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut received = Vec::new();
    let why = within(TIMEOUT, move || rx.recv().unwrap());
    assert_eq!(why, "IdleTimeout");
    std::io::Read::read_to_end(&mut raw, &mut received).unwrap();
    let text = String::from_utf8_lossy(&received);
    let body = &received[text.find("\r\n\r\n").unwrap() + 4..];
    // An empty ping, then a close 1001.
    assert_eq!(&body[..2], &[0x89, 0]);
    assert_eq!(&body[2..6], &[0x88, 6, 0x03, 0xe9]);
    engine.stop(TIMEOUT);
}

#[test]
fn a_client_that_answers_pings_is_not_idle() {
    let (tx, rx) = mpsc::channel();
    let config = WsConfig::new().idle_timeout(Some(Duration::from_millis(100)));
    let engine = serve(echo(config, tx));
    let mut client = connect(engine.local_addr(), "/echo");
    // tungstenite answers the server's pings as it reads: three rounds of pings later the
    // socket still echoes.
    for _ in 0..3 {
        match client.read().unwrap() {
            Message::Ping(_) => client.flush().unwrap(),
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    client.send(Message::text("still here")).unwrap();
    loop {
        match client.read().unwrap() {
            Message::Ping(_) => {}
            message => {
                assert_eq!(message, Message::text("still here"));
                break;
            }
        }
    }
    assert!(rx.try_recv().is_err());
    // Gone before the stop, which would otherwise wait for its close reply.
    drop(client);
    engine.stop(TIMEOUT);
}

/// Stops `engine` and expects the stop's goodbye: a close `1001` to `client` (whose reply
/// tungstenite queues as it reads the close, and the flush sends), `ShuttingDown` from the
/// handler's `recv` on `ended`, and nothing forced.
fn stop_and_expect_the_goodbye(
    engine: Engine,
    client: &mut ClientSocket,
    ended: &mpsc::Receiver<String>,
) {
    let stopping = std::thread::spawn(move || engine.stop(TIMEOUT));
    assert_eq!(close_code(client), Some(CloseCode::Away));
    client.flush().unwrap();
    assert_eq!(ended.recv_timeout(TIMEOUT).unwrap(), "ShuttingDown");
    let report = within(TIMEOUT, move || stopping.join().unwrap());
    assert_eq!(report.forced, 0);
}

#[test]
fn a_stopping_engine_closes_with_1001_and_waits_for_the_reply() {
    let (tx, rx) = mpsc::channel();
    let engine = serve(echo(WsConfig::new(), tx));
    let mut client = connect(engine.local_addr(), "/echo");
    stop_and_expect_the_goodbye(engine, &mut client, &rx);
}

#[test]
fn a_stop_reaches_an_idle_websocket_without_waiting_for_its_stop_poll() {
    // `recv` would look at the stop only after an hour: the close comes from the stop itself,
    // and the client's answer ends `recv`.
    let (tx, rx) = mpsc::channel();
    let config = WsConfig::new()
        .stop_poll(Duration::from_secs(3600))
        .idle_timeout(None);
    let engine = serve(echo(config, tx));
    let mut client = connect(engine.local_addr(), "/echo");
    client.send(Message::text("hi")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("hi"));
    stop_and_expect_the_goodbye(engine, &mut client, &rx);
}

#[test]
fn a_websocket_upgraded_after_the_stop_began_is_closed_with_1001_too() {
    // The upgrade's handler is held until the stop has begun: the socket starts after the
    // timer thread's first look at the stopping connections, and must still say goodbye and
    // end within the grace (its `recv` sees the stop at once).
    let (proceed, go) = may::sync::mpsc::channel::<()>();
    let go = Arc::new(std::sync::Mutex::new(go));
    let (arrived, arrival) = mpsc::channel::<()>();
    let arrived = Arc::new(std::sync::Mutex::new(arrived));
    let (ended, why) = mpsc::channel();
    let ended = Arc::new(std::sync::Mutex::new(ended));
    let mut router = Router::new();
    router
        .get("/late", move |ws: WebSocketUpgrade| {
            let _ = arrived.lock().unwrap().send(());
            let _ = go.lock().unwrap().recv();
            let ended = Arc::clone(&ended);
            ws.config(WsConfig::new().stop_poll(Duration::from_secs(3600)))
                .on_upgrade(move |mut socket| {
                    let outcome = loop {
                        match socket.recv() {
                            Ok(_) => {}
                            Err(error) => break format!("{error:?}"),
                        }
                    };
                    let _ = ended.lock().unwrap().send(outcome);
                })
        })
        .unwrap();
    let engine = serve(router);
    let addr = engine.local_addr();
    let client = std::thread::spawn(move || {
        let mut client = connect(addr, "/late");
        let code = close_code(&mut client);
        client.flush().unwrap();
        code
    });
    arrival
        .recv_timeout(TIMEOUT)
        .expect("the upgrade request is in");
    std::thread::scope(|scope| {
        let stopping = scope.spawn(|| engine.stop(TIMEOUT));
        eventually(TIMEOUT, "the stop has begun", || {
            TcpStream::connect(addr).is_err()
        });
        proceed.send(()).unwrap();
        assert_eq!(
            within(TIMEOUT, move || client.join().unwrap()),
            Some(CloseCode::Away)
        );
        assert_eq!(why.recv_timeout(TIMEOUT).unwrap(), "ShuttingDown");
        assert_eq!(stopping.join().unwrap().forced, 0);
    });
}

#[test]
fn a_handlers_send_after_the_stops_close_fails_and_nothing_follows_the_close() {
    // The handler sends while the stop's goodbye goes out from another coroutine: once the
    // close is out, its sends fail, and the client reads nothing after the close.
    let (sent, sends) = mpsc::channel();
    let sent = Arc::new(std::sync::Mutex::new(sent));
    let mut router = Router::new();
    router
        .get("/talk", move |ws: WebSocketUpgrade| {
            let sent = Arc::clone(&sent);
            ws.config(WsConfig::new().stop_poll(Duration::from_secs(3600)))
                .on_upgrade(move |mut socket| {
                    let outcome = loop {
                        if let Err(error) = socket.send(Message::text("tick")) {
                            break format!("{error:?}");
                        }
                        may::coroutine::sleep(Duration::from_millis(1));
                    };
                    let _ = sent.lock().unwrap().send(outcome);
                })
        })
        .unwrap();
    let engine = serve(router);
    let mut client = connect(engine.local_addr(), "/talk");
    assert_eq!(client.read().unwrap(), Message::text("tick"));
    let stopping = std::thread::spawn(move || engine.stop(TIMEOUT));
    assert_eq!(sends.recv_timeout(TIMEOUT).unwrap(), "Closed");
    // Ticks, then the close, then nothing: the stream ends.
    assert_eq!(close_code(&mut client), Some(CloseCode::Away));
    client.flush().unwrap();
    match client.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("after the close: {other:?}"),
    }
    let report = within(TIMEOUT, move || stopping.join().unwrap());
    assert_eq!(report.forced, 0);
}

#[test]
fn a_stopping_server_closes_its_websockets_with_1001() {
    let (tx, rx) = mpsc::channel();
    let running = start(server().server(spec("http").router(echo(WsConfig::new(), tx))));
    let mut client = connect(running.local_addr("http").unwrap(), "/echo");
    client.send(Message::text("hi")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("hi"));
    running.shutdown();
    assert_eq!(close_code(&mut client), Some(CloseCode::Away));
    client.flush().unwrap();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), "ShuttingDown");
    let reports = within(TIMEOUT, move || running.wait());
    let _ = reports;
}

#[test]
fn the_first_subprotocol_the_server_supports_is_selected_and_the_origin_is_readable() {
    let (seen_tx, seen_rx) = mpsc::channel();
    let seen_tx = Arc::new(std::sync::Mutex::new(seen_tx));
    let mut router = Router::new();
    router
        .get("/chat", move |ws: WebSocketUpgrade| {
            let origin = ws.origin().map(str::to_string);
            let ws = ws.protocols(["chat.v2", "chat.v1"]);
            let seen = Arc::clone(&seen_tx);
            ws.on_upgrade(move |socket| {
                let _ = seen
                    .lock()
                    .unwrap()
                    .send((origin, socket.protocol().map(str::to_string)));
            })
        })
        .unwrap();
    let engine = serve(router);
    let addr = engine.local_addr();
    let mut request = format!("ws://{addr}/chat").into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "chat.v1, chat.v2".parse().unwrap(),
    );
    headers.insert("origin", "https://example.com".parse().unwrap());
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let (_socket, response) = tungstenite::client(request, stream).unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "chat.v2"
    );
    let (origin, protocol) = seen_rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(origin.as_deref(), Some("https://example.com"));
    assert_eq!(protocol.as_deref(), Some("chat.v2"));
    engine.stop(TIMEOUT);
}

#[test]
fn a_sender_on_another_coroutine_writes_while_the_handler_waits_in_recv() {
    let mut router = Router::new();
    router
        .get("/push", |ws: WebSocketUpgrade| {
            ws.on_upgrade(|mut socket| {
                let sender = socket.sender();
                let pusher = may::go!(move || {
                    for n in 0..3 {
                        sender.send_text(format!("push {n}")).unwrap();
                    }
                });
                while socket.recv().is_ok() {}
                let _ = pusher.join();
            })
        })
        .unwrap();
    let engine = serve(router);
    let mut client = connect(engine.local_addr(), "/push");
    for n in 0..3 {
        assert_eq!(client.read().unwrap(), Message::text(format!("push {n}")));
    }
    // Gone before the stop, which would otherwise wait for its close reply.
    drop(client);
    engine.stop(TIMEOUT);
}

#[test]
fn an_open_websocket_holds_one_of_the_engines_max_connections() {
    let (tx, rx) = mpsc::channel();
    let service = spec("ws").router(echo(WsConfig::new(), tx)).into_service();
    let config = EngineConfig::default().max_connections(1);
    let engine = Engine::start_shared("127.0.0.1:0", config, service).unwrap();
    let mut socket = connect(engine.local_addr(), "/echo");
    let mut waiting = Client::connect(engine.local_addr());
    waiting.send(request("GET", "/missing", &[]));
    // Not served while the WebSocket holds the only slot...
    waiting.assert_silent_for(Duration::from_millis(300));
    socket.close(None).unwrap();
    while socket.read().is_ok() {}
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), "Closed");
    // ...and served once it has closed.
    waiting.response().assert_status(404u16);
    drop(waiting);
    engine.stop(TIMEOUT);
}

/// Refuses requests without `x-token` (`401`) and marks every response it lets through.
struct TokenGate;

impl hyperf_http::server::Middleware for TokenGate {
    fn process(
        &self,
        request: hyperf_http::Request,
        next: hyperf_http::server::Next<'_>,
    ) -> Result<hyperf_http::Response, hyperf_http::BoxError> {
        if !request.headers().contains_key("x-token") {
            return Err(hyperf_http::server::HttpError::new(
                hyperf_http::StatusCode::UNAUTHORIZED,
                "a token is required",
            )
            .into());
        }
        let mut response = next.run(request)?;
        response
            .headers_mut()
            .insert("x-gate", hyperf_http::HeaderValue::from_static("passed"));
        Ok(response)
    }
}

#[test]
fn the_global_middlewares_run_on_the_upgrade_request() {
    let (tx, _rx) = mpsc::channel();
    let running = start(
        server().server(
            spec("http")
                .router(echo(WsConfig::new(), tx))
                .middleware(TokenGate),
        ),
    );
    let addr = running.local_addr("http").unwrap();
    let handshake = format!("GET /echo HTTP/1.1\r\n{HANDSHAKE}Sec-WebSocket-Version: 13\r\n");
    let refused = Client::connect(addr).exchange(format!("{handshake}\r\n"));
    refused.assert_status(401u16);
    let upgraded = Client::connect(addr)
        .send(format!("{handshake}X-Token: t\r\n\r\n"))
        .head_response();
    upgraded.assert_status(101u16);
    assert_eq!(upgraded.header("x-gate"), Some("passed"));
    drop(upgraded);
    within(TIMEOUT, move || {
        running.shutdown();
        running.wait()
    });
}

#[cfg(feature = "toml")]
#[test]
fn a_toml_files_websocket_limits_apply_to_routes_that_set_none() {
    use hyperf_http::server::ServerConfig;
    let config = ServerConfig::from_toml(
        r#"
        [[servers]]
        name = "http"
        host = "127.0.0.1"
        port = 0
        [servers.websocket]
        max_message_size = 100
        "#,
    )
    .unwrap();
    let mut router = Router::new();
    router
        .get("/plain", |ws: WebSocketUpgrade| {
            ws.on_upgrade(|mut socket| while socket.recv().is_ok() {})
        })
        .unwrap();
    let service = config.spec("http").unwrap().router(router).into_service();
    let engine = Engine::start_shared("127.0.0.1:0", EngineConfig::default(), service).unwrap();
    let mut client = connect(engine.local_addr(), "/plain");
    client.send(Message::binary(vec![1u8; 101])).unwrap();
    assert_eq!(close_code(&mut client), Some(CloseCode::Size));
    engine.stop(TIMEOUT);
}

#[cfg(feature = "toml")]
#[test]
fn a_toml_websocket_limit_of_zero_is_refused() {
    let refused = hyperf_http::server::ServerConfig::from_toml(
        "[[servers]]\nname = \"http\"\nhost = \"127.0.0.1\"\nport = 0\n[servers.websocket]\nmax_frame_size = 0\n",
    );
    assert!(refused.is_err());
}
