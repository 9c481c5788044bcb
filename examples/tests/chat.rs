//! The `chat` example: its page, a WebSocket's text broadcast to its room (to WebSockets and
//! event streams alike, as JSON), and a graceful stop that closes WebSockets with `1001`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Running;
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

const TIMEOUT: Duration = Duration::from_secs(10);

fn websocket(server: &Running, query: &str) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(&server.address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let url = format!("ws://{}/ws?{query}", server.address);
    let (socket, response) = tungstenite::client(url, stream).unwrap();
    assert_eq!(response.status(), 101);
    socket
}

/// An event stream of `room`, its head read.
fn events(server: &Running, room: &str) -> TcpStream {
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "GET /events?room={room} HTTP/1.1\r\nHost: test\r\n\r\n"
    )
    .unwrap();
    read_until(&mut stream, "text/event-stream");
    stream
}

fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains(needle) {
        let n = stream.read(&mut buffer).expect("more in time");
        assert!(n > 0, "ended before {needle:?}");
        received.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Reads until the room's next text message.
fn next_text(socket: &mut tungstenite::WebSocket<TcpStream>) -> String {
    loop {
        match socket.read().unwrap() {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn chat_serves_its_page() {
    let server = Running::start(env!("CARGO_BIN_EXE_chat"));
    let page = server.get("/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("text/html"), "{page}");
    assert!(page.contains("new WebSocket(") && page.contains("new EventSource("));
    server.terminate();
}

#[test]
fn a_websocket_message_reaches_its_room_by_websocket_and_by_events_and_no_other_room() {
    let server = Running::start(env!("CARGO_BIN_EXE_chat"));
    let mut stream = events(&server, "kitchen");
    let mut other_room = websocket(&server, "room=garden&name=bo");
    let mut listener = websocket(&server, "room=kitchen&name=cy");
    let mut speaker = websocket(&server, "room=kitchen&name=ada");
    // Joined in order: once the last one's own message comes back, everyone is subscribed.
    speaker.send(Message::text("hello")).unwrap();
    let expected = r#"{"from":"ada","room":"kitchen","text":"hello"}"#;
    assert_eq!(next_text(&mut speaker), expected);
    assert_eq!(next_text(&mut listener), expected);
    read_until(
        &mut stream,
        &format!("event: message\ndata: {expected}\n\n"),
    );
    other_room.send(Message::text("elsewhere")).unwrap();
    assert!(next_text(&mut other_room).contains("garden"));
    drop((speaker, listener, other_room, stream));
    server.terminate();
}

#[test]
fn a_stopping_chat_closes_its_websockets_with_1001_and_ends_its_event_streams() {
    let mut server = Running::start(env!("CARGO_BIN_EXE_chat"));
    let mut stream = events(&server, "r");
    let mut socket = websocket(&server, "room=r");
    socket.send(Message::text("ping")).unwrap();
    next_text(&mut socket);
    server.signal("-TERM");
    let code = loop {
        match socket.read() {
            Ok(Message::Close(frame)) => break frame.map(|frame| frame.code),
            Ok(_) => {}
            Err(error) => panic!("no close: {error}"),
        }
    };
    assert_eq!(code, Some(CloseCode::Away));
    let _ = socket.flush();
    // The event stream's chunked body ends.
    read_until(&mut stream, "0\r\n\r\n");
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    assert!(server.child.wait().unwrap().success());
    assert!(rest.contains("shut down: 0 connections forced"), "{rest}");
}
