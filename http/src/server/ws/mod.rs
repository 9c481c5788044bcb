//! WebSocket routes (feature `ws`, on by default): the [`WebSocketUpgrade`] extractor checks
//! the handshake (RFC 6455), and its [`on_upgrade`](WebSocketUpgrade::on_upgrade) callback
//! then owns a blocking-style [`WebSocket`] on the connection's coroutine. Frames are
//! `tungstenite`'s, over the engine's upgraded socket ([`Upgraded`](crate::Upgraded)).
//!
//! ```
//! use hyperf_http::server::Router;
//! use hyperf_http::server::ws::{Message, WebSocketUpgrade, WsConfig};
//!
//! let mut router = Router::new();
//! router.get("/echo", |ws: WebSocketUpgrade| {
//!     ws.config(WsConfig::new().max_message_size(64 * 1024))
//!         .on_upgrade(|mut socket| {
//!             // Until the client closes, the client goes away or the server stops.
//!             while let Ok(message) = socket.recv() {
//!                 if let Message::Text(_) | Message::Binary(_) = message {
//!                     if socket.send(message).is_err() {
//!                         break;
//!                     }
//!                 }
//!             }
//!         })
//! }).unwrap();
//! ```
//!
//! The upgrade request goes through the server like any other: `WORKER_START`, the global
//! middlewares, routing (a `GET` route: other methods get `405`), then the handler. A request
//! that is not a valid handshake is answered by [`on_upgrade`](WebSocketUpgrade::on_upgrade)
//! with `400`, or `426` with `Sec-WebSocket-Version: 13` for another protocol version.
//!
//! After the `101`, the connection counts in the engine's connections (and against
//! `max_connections`) until the callback returns. A server stopping makes
//! [`WebSocket::recv`] send a close `1001` (going away), wait for the client's close within
//! [`WsConfig::close_timeout`], and return [`WsError::ShuttingDown`]. To send from another
//! coroutine while one waits in `recv` (messages of a [`Hub`](crate::server::Hub)), take a
//! [`WsSender`] with [`WebSocket::sender`].

mod socket;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version};

use crate::engine::{Body, OnUpgrade, Request, Response};
use crate::server::extract::{FromRequest, State};

pub use self::socket::{WebSocket, WsConfig, WsError, WsSender};
/// `tungstenite`'s message: text, binary, ping, pong or close.
pub use tungstenite::Message;
/// `tungstenite`'s close frame: a code and a reason.
pub use tungstenite::protocol::CloseFrame;
/// `tungstenite`'s close codes ([`CloseCode::Away`] is `1001`, [`CloseCode::Size`] `1009`).
pub use tungstenite::protocol::frame::coding::CloseCode;

/// The only WebSocket version there is (RFC 6455).
const VERSION: &str = "13";

/// A request to open a WebSocket, as an extractor: never rejected itself, so that
/// [`on_upgrade`](Self::on_upgrade) answers a bad handshake with the right status and headers.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    handshake: Result<Handshake, Refusal>,
    config: WsConfig,
    selected: Option<String>,
}

#[derive(Debug)]
struct Handshake {
    accept: String,
    origin: Option<String>,
    protocols: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    status: StatusCode,
    reason: &'static str,
}

impl Refusal {
    const fn bad(reason: &'static str) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            reason,
        }
    }
}

/// Whether the comma-separated `name` fields of `headers` hold `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

fn check(request: &Request) -> Result<Handshake, Refusal> {
    if request.method() != Method::GET {
        return Err(Refusal::bad("a WebSocket handshake is a GET"));
    }
    if request.version() != Version::HTTP_11 {
        return Err(Refusal::bad("a WebSocket handshake needs HTTP/1.1"));
    }
    let headers = request.headers();
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(Refusal::bad("Upgrade: websocket is missing"));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(Refusal::bad("Connection: upgrade is missing"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version.as_bytes().trim_ascii() != VERSION.as_bytes())
    {
        return Err(Refusal {
            status: StatusCode::UPGRADE_REQUIRED,
            reason: "only WebSocket version 13 is supported",
        });
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| key.as_bytes().trim_ascii())
        .ok_or(Refusal::bad("Sec-WebSocket-Key is missing"))?;
    // Sixteen random bytes in base64: 24 characters, the last two `==`.
    if key.len() != 24 || !key.ends_with(b"==") {
        return Err(Refusal::bad("Sec-WebSocket-Key is not 16 bytes in base64"));
    }
    let protocols = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|protocol| protocol.trim().to_string())
        .filter(|protocol| !protocol.is_empty())
        .collect();
    Ok(Handshake {
        accept: tungstenite::handshake::derive_accept_key(key),
        origin: headers
            .get(header::ORIGIN)
            .and_then(|origin| origin.to_str().ok())
            .map(str::to_string),
        protocols,
    })
}

impl FromRequest for WebSocketUpgrade {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection> {
        // The server's or router's `WsConfig` state (TOML's `[servers.websocket]`), if any.
        let config = State::<WsConfig>::from_request(request)
            .map(|State(config)| config)
            .unwrap_or_default();
        Ok(WebSocketUpgrade {
            handshake: check(request),
            config,
            selected: None,
        })
    }
}

impl WebSocketUpgrade {
    /// Whether the request is a valid handshake (else `on_upgrade` answers `400` or `426`).
    pub fn is_valid(&self) -> bool {
        self.handshake.is_ok()
    }

    /// The request's `Origin`, for the handler to check (a browser always sends it).
    pub fn origin(&self) -> Option<&str> {
        self.handshake.as_ref().ok()?.origin.as_deref()
    }

    /// The subprotocols the client offers (`Sec-WebSocket-Protocol`), in its order.
    pub fn offered_protocols(&self) -> impl Iterator<Item = &str> {
        self.handshake
            .iter()
            .flat_map(|handshake| handshake.protocols.iter().map(String::as_str))
    }

    /// Negotiates the subprotocol: the first of `supported` (in the server's order of
    /// preference) that the client offers is selected and answered; none if the client offers
    /// none of them (the client then decides whether to go on).
    #[must_use]
    pub fn protocols<'a>(mut self, supported: impl IntoIterator<Item = &'a str>) -> Self {
        let offered: Vec<&str> = self.offered_protocols().collect();
        self.selected = supported
            .into_iter()
            .find(|protocol| offered.contains(protocol))
            .map(str::to_string);
        self
    }

    /// The subprotocol selected by [`protocols`](Self::protocols).
    pub fn selected_protocol(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// The socket's limits and timeouts, instead of those registered as state
    /// (`ServerSpec::state(WsConfig)`, or a TOML file's `[servers.websocket]`), or else the
    /// defaults.
    #[must_use]
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// The response: `101 Switching Protocols`, after which `callback` runs on the
    /// connection's coroutine with the socket; or, for a request that is not a valid
    /// handshake, `400` (`426` with `Sec-WebSocket-Version: 13` for another version).
    pub fn on_upgrade(self, callback: impl FnOnce(WebSocket) + Send + 'static) -> Response {
        let handshake = match self.handshake {
            Ok(handshake) => handshake,
            Err(refusal) => {
                let mut response = Response::new(Body::from(refusal.reason));
                *response.status_mut() = refusal.status;
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                if refusal.status == StatusCode::UPGRADE_REQUIRED {
                    response.headers_mut().insert(
                        header::SEC_WEBSOCKET_VERSION,
                        HeaderValue::from_static(VERSION),
                    );
                    response
                        .headers_mut()
                        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                }
                return response;
            }
        };
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&handshake.accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        let selected = self.selected;
        if let Some(protocol) = selected
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        let config = self.config;
        let origin = handshake.origin;
        response
            .extensions_mut()
            .insert(OnUpgrade::new(move |upgraded| {
                match WebSocket::new(upgraded, config, selected, origin) {
                    Ok(socket) => callback(socket),
                    Err(error) => log::debug!("WebSocket not started: {error}"),
                }
            }));
        response
    }
}
