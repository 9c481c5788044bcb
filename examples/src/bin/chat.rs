//! A chat: rooms of a `Hub`, joined by WebSocket (`/ws?room=NAME&name=WHO`: every text
//! message is broadcast to the room) or followed by server-sent events
//! (`/events?room=NAME`: the same messages), and a page at `/` that uses both. Each message
//! goes out as JSON `{"room","from","text"}`. Ctrl-C or SIGTERM stops it gracefully:
//! WebSockets are closed with `1001`, event streams end.
//!
//! `cargo run --release -p examples --bin chat [-- --port 9503 --workers 2]` (or `PORT=…
//! WORKERS=…`).

use std::time::Duration;

use hyperf_http::server::ws::{Message, WebSocketUpgrade, WsConfig};
use hyperf_http::server::{
    Event, Hub, IntoResponse, Overflow, Query, Router, Server, ServerSpec, Sse, State,
};
use hyperf_http::{Response, header};

/// How many messages a slow reader may fall behind before it misses the oldest.
const QUEUE: usize = 256;

#[derive(serde::Deserialize)]
struct Room {
    room: Option<String>,
    name: Option<String>,
}

impl Room {
    fn room(&self) -> String {
        self.room
            .clone()
            .filter(|room| !room.is_empty())
            .unwrap_or_else(|| "lobby".to_string())
    }
}

/// A chat line as JSON.
fn line(room: &str, from: &str, text: &str) -> String {
    serde_json::json!({ "room": room, "from": from, "text": text }).to_string()
}

fn join(
    ws: WebSocketUpgrade,
    Query(room): Query<Room>,
    State(hub): State<Hub<String>>,
) -> Response {
    let name = room.name.clone();
    let room = room.room();
    let limits = WsConfig::new()
        .max_message_size(16 * 1024)
        .idle_timeout(Some(Duration::from_secs(60)));
    // Subscribed before the `101` goes out: once the client is told it has joined, it gets
    // every message of the room.
    let subscription = hub.subscribe(&room);
    ws.config(limits).on_upgrade(move |mut socket| {
        let from = name.unwrap_or_else(|| socket.peer_addr().to_string());
        // The room's messages go out from a coroutine of their own while this one reads.
        // It waits for the next message without polling: it ends when a send fails (the
        // client is gone) or when this coroutine, done reading, closes the subscription.
        let sender = socket.sender();
        let closer = subscription.closer();
        let forwarder = runtime::spawn(move || {
            while let Some(message) = subscription.recv() {
                if sender.send_text(message).is_err() {
                    return;
                }
            }
        });
        while let Ok(message) = socket.recv() {
            if let Message::Text(text) = message {
                hub.publish(&room, line(&room, &from, text.as_str()));
            }
        }
        drop(socket);
        closer.close();
        let _ = forwarder.join();
    })
}

fn follow(Query(room): Query<Room>, State(hub): State<Hub<String>>) -> Sse {
    let room = room.room();
    let subscription = hub.subscribe(&room);
    Sse::new(move |events| {
        // Waits for the room's next message without polling: the stream's end (the client
        // gone, the server stopping) closes the subscription, which ends the wait.
        let closer = subscription.closer();
        events.on_close(move || closer.close());
        while let Some(message) = subscription.recv() {
            if events.send(Event::data(message).event("message")).is_err() {
                return;
            }
        }
    })
    .keep_alive(Some(Duration::from_secs(15)))
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>chat</title></head>
<body>
<p>Room <input id="room" value="lobby"> as <input id="name" value="guest">
<button id="join">join</button></p>
<p><input id="text" size="60" placeholder="say something"> <button id="send">send</button></p>
<table><tr><th>WebSocket</th><th>Server-sent events</th></tr>
<tr><td><ul id="ws"></ul></td><td><ul id="sse"></ul></td></tr></table>
<script>
let socket, source;
const $ = (id) => document.getElementById(id);
const add = (list, data) => {
  const m = JSON.parse(data);
  const li = document.createElement("li");
  li.textContent = m.from + ": " + m.text;
  $(list).appendChild(li);
};
$("join").onclick = () => {
  if (socket) socket.close();
  if (source) source.close();
  const room = encodeURIComponent($("room").value);
  const name = encodeURIComponent($("name").value);
  socket = new WebSocket(`ws://${location.host}/ws?room=${room}&name=${name}`);
  socket.onmessage = (e) => add("ws", e.data);
  source = new EventSource(`/events?room=${room}`);
  source.addEventListener("message", (e) => add("sse", e.data));
};
$("send").onclick = () => { if (socket) socket.send($("text").value); $("text").value = ""; };
</script>
</body></html>
"#;

fn page() -> Response {
    let mut response = PAGE.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_logging();
    let port = examples::flag("--port", "PORT", 9503u16);
    let workers = examples::flag("--workers", "WORKERS", 2usize);
    let hub: Hub<String> = Hub::new(QUEUE, Overflow::DropOldest);
    let mut router = Router::new();
    router.state(hub);
    router.get("/", page)?;
    router.get("/ws", join)?;
    router.get("/events", follow)?;
    let server = Server::new()
        .worker_num(workers)
        .max_wait_time(Duration::from_secs(3))
        .handle_signals(false)
        .server(ServerSpec::new("http", "127.0.0.1", port).router(router))
        .start()?;
    let signals = examples::termination_signals()?;
    let address = server.local_addr("http").unwrap();
    println!("listening on http://{address}");
    println!("open http://{address}/ in two browser tabs, or:");
    println!("  curl -N 'http://{address}/events?room=lobby'");
    let examples::Drained { forced, .. } = examples::shut_down_on_signal(server, signals);
    println!("shut down: {forced} connections forced");
    Ok(())
}
