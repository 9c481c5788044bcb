//! The server on top of the engine: routing, extractors, priority-sorted middlewares,
//! exception handlers, lifecycle events and workers — Hyperf's `onRequest`.
//!
//! ```
//! use hyperf_http::server::{Json, Path, Router, ServerSpec};
//! use hyperf_http::{Bytes, Method, Request, Service};
//!
//! let mut router = Router::new();
//! router.get("/users/{id:\\d+}", |Path(id): Path<u32>| Json(serde_json::json!({ "id": id }))).unwrap();
//!
//! // The pipeline without sockets; `Server` runs it on a worker pool behind the engine.
//! let service = ServerSpec::new("http", "127.0.0.1", 0).router(router).into_service();
//! let mut request = Request::new(Bytes::new());
//! *request.uri_mut() = "/users/42".parse().unwrap();
//! let response = service.call(request.into()).unwrap();
//! assert_eq!(response.body().as_bytes(), Some(&br#"{"id":42}"#[..]));
//! ```

// The request path: what happens to one request, from routing to the response.
mod access_log;
mod client_addr;
mod compression;
#[cfg(feature = "cookies")]
mod cookies;
mod cors;
mod error;
mod events;
mod exception;
mod extract;
mod hub;
mod middleware;
mod pipeline;
mod request_context;
mod request_id;
mod response;
mod routing;
mod sse;
mod static_files;
mod time_limit;
#[cfg(feature = "tracing")]
mod trace;
#[cfg(feature = "ws")]
pub mod ws;

// The process: building, starting and stopping a server, and its workers.
mod process;

pub use self::access_log::{ACCESS_LOG_TARGET, AccessLog, AccessLogFormat};
pub use self::client_addr::{ClientAddr, InvalidProxy, NoClientAddr, TrustedProxies};
#[cfg(feature = "compression")]
pub use self::compression::Compression;
#[cfg(feature = "cookies")]
pub use self::cookies::{
    Cookie, CookieJar, Cookies, Key, PrivateCookieJar, SameSite, SignedCookieJar, cookie,
};
pub use self::cors::{Cors, CorsBuilder, CorsError};
pub use self::error::{ClientError, HttpError, Panicked, find_cause, find_client_error};
pub use self::events::{RequestHandled, RequestReceived, RequestTerminated, ServerEvent};
pub use self::exception::{ExceptionHandler, Propagation};
pub use self::extract::{
    Form, FromRequest, Handler, MissingState, Path, Query, Rejection, RejectionKind, State,
};
pub use self::hub::{Hub, Overflow, RecvError, Subscription, SubscriptionCloser};
pub use self::middleware::{Identity, Middleware, Next};
pub use self::process::builder::{Server, ServerError};
#[cfg(feature = "toml")]
pub use self::process::config::{ConfigError, ServerConfig};
pub use self::process::placement::Message;
pub use self::process::running::{RunningServer, StopReports};
pub use self::process::spec::ServerSpec;
pub use self::request_context::{RequestContext, RequestHead, ResponseDraft, params};
pub use self::request_id::RequestId;
#[cfg(feature = "json")]
pub use self::response::Json;
pub use self::response::{HandlerResult, IntoResponse};
pub use self::routing::{
    Dispatched, Found, ParamError, Params, RouteEntry, RouteError, RouteRef, Router,
};
pub use self::sse::{Event, LastEventId, SendTimeoutError, Sse, SseClosed, SseSender};
pub use self::static_files::ServeDir;
pub use self::time_limit::TimedOut;
#[cfg(feature = "tracing")]
pub use self::trace::{CoroutineRegistry, REQUEST_SPAN_TARGET, RequestSpan};
