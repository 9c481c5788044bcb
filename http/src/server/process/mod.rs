//! The process wing of the server: building it ([`Server`](builder::Server), one
//! [`ServerSpec`](spec::ServerSpec) per port), starting and stopping it
//! ([`RunningServer`](running::RunningServer)), placing each connection on a worker
//! (`placement`), the readiness its health route reports, and the metrics its metrics route
//! renders. It drives the request path
//! (`server::pipeline`) and is never imported by it.

pub(crate) mod builder;
#[cfg(feature = "toml")]
pub(crate) mod config;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod placement;
pub(crate) mod readiness;
pub(crate) mod running;
pub(crate) mod spec;
