//! The peer of the `ws` bench: the same three routes as the bench's own server, written the
//! usual way with axum's WebSocket (tokio-tungstenite under it) on a tokio multi-thread
//! runtime, with axum's default WebSocket settings.
//!
//! - `GET /echo`: a WebSocket that sends back every text or binary message it receives.
//! - `GET /fanout`: a WebSocket subscribed (before the `101`) to one `broadcast` channel of
//!   256 messages; every published message goes out to it as text, and it ends when the client
//!   closes or goes away.
//! - `POST /publish`: the body, as text, to every subscriber; answers how many there were.
//!
//! `ws_axum [--port 9504] [--workers 2]`: `--workers` is the runtime's worker thread count.
//! Prints `listening on http://ADDRESS` once it accepts connections. Raises its soft limit of
//! open descriptors to the hard one, as the bench does.

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::sync::broadcast;

/// Messages a slow subscriber may fall behind by before it misses the oldest, as the bench's
/// `Hub` queue.
const QUEUE: usize = 256;

async fn echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket: WebSocket| async move {
        // Until the client closes or goes away; pings are answered underneath.
        while let Some(Ok(message)) = socket.recv().await {
            let data = matches!(message, Message::Text(_) | Message::Binary(_));
            if data && socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

async fn fanout(ws: WebSocketUpgrade, State(topic): State<broadcast::Sender<String>>) -> Response {
    // Subscribed before the `101`: nothing published after the client has its answer is missed.
    let mut published = topic.subscribe();
    ws.on_upgrade(|mut socket: WebSocket| async move {
        loop {
            tokio::select! {
                message = published.recv() => match message {
                    Ok(text) => {
                        if socket.send(Message::text(text)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                frame = socket.recv() => match frame {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    })
}

async fn publish(State(topic): State<broadcast::Sender<String>>, body: String) -> String {
    topic.send(body).unwrap_or(0).to_string()
}

/// The value of `--name VALUE` on the command line, else `default`.
fn flag<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|raw| raw.parse().ok())
            .unwrap_or_else(|| panic!("{name}: a value is needed")),
        None => default,
    }
}

/// Raises the soft limit of open descriptors to the hard limit.
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the call to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid `rlimit`; a refusal leaves the limits as they were.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    raise_descriptor_limit();
    let port = flag("--port", 9504u16);
    let workers = flag("--workers", 2usize);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (topic, _) = broadcast::channel::<String>(QUEUE);
        let app = Router::new()
            .route("/echo", get(echo))
            .route("/fanout", get(fanout))
            .route("/publish", post(publish))
            .with_state(topic);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on http://{}", listener.local_addr()?);
        // Frames leave at once, as the engine's do (it sets `TCP_NODELAY` on each connection).
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        axum::serve(listener, app).await?;
        Ok(())
    })
}
