//! The engine's integration tests' set-up: an engine on a random loopback port and a few
//! handlers; the raw client and the bounded waits are the workspace's `test_support`.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::time::Duration;

use hyperf_http::{BoxError, Engine, EngineConfig, Request, Response, Service};
pub use test_support::{Client, Cut, Reply, eventually, find, get, request, within};

/// How long any single wait may last: a hang fails the test instead of blocking the run.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts an engine with the default configuration on `127.0.0.1:0`.
pub fn start(service: impl Service) -> Engine {
    start_with(EngineConfig::default(), service)
}

/// Starts an engine with `config` on `127.0.0.1:0`.
pub fn start_with(config: EngineConfig, service: impl Service) -> Engine {
    Engine::start("127.0.0.1:0", config, service).expect("the engine starts")
}

/// A handler that answers every request with `body` and a 200.
pub fn answer(body: &'static str) -> impl Service {
    move |_: Request| -> Result<Response, BoxError> { Ok(Response::new(body.into())) }
}

/// A handler that answers with the request's path.
pub fn echo_path() -> impl Service {
    |request: Request| -> Result<Response, BoxError> {
        Ok(Response::new(request.uri().path().to_owned().into()))
    }
}

/// A handler that answers with the request's body.
pub fn echo_body() -> impl Service {
    |request: Request| -> Result<Response, BoxError> {
        Ok(Response::new(request.into_body().into()))
    }
}

/// Waits `duration` in a handler's coroutine without blocking its worker thread. Built on the
/// coordinator's timed wait, which always wakes (may's own timed park can lose its wake-up).
pub fn pause(duration: Duration) {
    coordinator::Coordinator::new().yield_timeout(duration);
}
