//! The server's integration tests' set-up: named servers on random loopback ports, a log of
//! what ran in which order, recording middlewares; the raw client and the bounded waits are
//! the workspace's `test_support`.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyperf_http::server::{Next, RunningServer, Server, ServerSpec, StopReports};
use hyperf_http::{BoxError, Request, Response};
pub use test_support::{Client, Cut, Reply, eventually, find, get, request, within};

/// How long any single wait may last: a hang fails the test instead of blocking the run.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server for one test: two workers, no signal handling, coordinators of its own (so tests
/// can run side by side in one process).
pub fn server() -> Server {
    Server::new()
        .worker_num(2)
        .handle_signals(false)
        .process_coordinators(false)
}

/// A server named `name` on a free loopback port.
pub fn spec(name: &str) -> ServerSpec {
    ServerSpec::new(name, "127.0.0.1", 0)
}

/// A `POST` of `body` to `path` with `content_type`.
pub fn post(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// An internally tagged enum: serde buffers the fields before the tag is known, the ignored
/// ones too, through its recursive `Content` (the deepest stack a JSON body can take).
#[derive(serde::Deserialize)]
#[serde(tag = "type")]
pub enum Shape {
    /// `{"type": "A", "name": …}`.
    A {
        /// What the tests echo.
        name: String,
    },
}

/// `{"a":{"a":…1…}}`, `levels` objects deep: JSON that recurses as deep as it nests.
pub fn nested_objects(levels: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels))
}

/// `request`'s reply on a connection of its own to the server's spec `http`.
pub fn exchange(running: &RunningServer, request: impl AsRef<[u8]>) -> Reply {
    connect_to(running, "http").exchange(request)
}

/// Starts `server`, which must start.
pub fn start(server: Server) -> RunningServer {
    server.start().expect("the server starts")
}

/// Shuts `server` down gracefully and waits (boundedly) until it has.
pub fn stop(server: RunningServer) -> StopReports {
    server.shutdown();
    within(TIMEOUT, move || server.wait())
}

/// Things recorded, in the order they happened, from any thread or coroutine.
#[derive(Debug)]
pub struct Log<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Log<T> {
    fn clone(&self) -> Self {
        Log(Arc::clone(&self.0))
    }
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Log(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T: Clone> Log<T> {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `entry`.
    pub fn push(&self, entry: T) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }

    /// What was recorded so far.
    pub fn entries(&self) -> Vec<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes what was recorded so far, leaving the log empty.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Defines middlewares — one distinct type each, as Hyperf's are classes — that record their
/// name in a `Log<&'static str>` and call the rest of the chain.
#[macro_export]
macro_rules! recording_middlewares {
    ($($name:ident),+ $(,)?) => {
        $(
            struct $name($crate::server_common::Log<&'static str>);

            impl ::hyperf_http::server::Middleware for $name {
                fn process(
                    &self,
                    request: ::hyperf_http::Request,
                    next: ::hyperf_http::server::Next<'_>,
                ) -> ::std::result::Result<::hyperf_http::Response, ::hyperf_http::BoxError> {
                    self.0.push(stringify!($name));
                    next.run(request)
                }
            }
        )+
    };
}

/// A middleware (a closure) that records `name` and calls the rest of the chain.
pub fn recording(
    log: &Log<&'static str>,
    name: &'static str,
) -> impl Fn(Request, Next<'_>) -> Result<Response, BoxError> + Send + Sync + 'static {
    let log = log.clone();
    move |request, next: Next<'_>| {
        log.push(name);
        next.run(request)
    }
}

/// A raw client connected to server `name` of `server`.
pub fn connect_to(server: &RunningServer, name: &str) -> Client {
    Client::connect(server.local_addr(name).expect("a server of that name"))
}
