//! The limits of the extractors that read the whole body (`Json`, `Form`, `Bytes`, `String`):
//! its length, and how deep a JSON body may nest. Set per server
//! ([`ServerSpec::body_limit`](crate::server::ServerSpec::body_limit),
//! [`ServerSpec::json_depth`](crate::server::ServerSpec::json_depth)) and per route
//! ([`RouteRef::body_limit`](crate::server::RouteRef::body_limit),
//! [`RouteRef::json_depth`](crate::server::RouteRef::json_depth)); an extractor finds its
//! route's in the request's [`Dispatched`], as [`State`](crate::server::State) does.

use bytes::Bytes;

use crate::engine::Request;
use crate::server::extract::{Rejection, RejectionKind};
use crate::server::request_context::with_route;
use crate::server::routing::Dispatched;

/// A route's limits, resolved once when its server is built: its own, else its server's, else
/// the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimits {
    /// The longest body a body extractor takes, in bytes.
    pub(crate) body: usize,
    /// The deepest nesting of arrays and objects `Json` takes.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    pub(crate) json_depth: usize,
}

/// The defaults, public as `ServerSpec::DEFAULT_BODY_LIMIT` and `DEFAULT_JSON_DEPTH` (where
/// their reasons are written). Defined here, on the request path, so that it needs nothing of
/// the process's wing.
pub(crate) const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;
pub(crate) const DEFAULT_JSON_DEPTH: usize = 32;

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            body: DEFAULT_BODY_LIMIT,
            json_depth: DEFAULT_JSON_DEPTH,
        }
    }
}

impl BodyLimits {
    /// The limits of the route that matched `request`; the defaults when none did (a request
    /// that did not go through the router: a service of your own calling extractors).
    pub(crate) fn of(request: &Request) -> BodyLimits {
        with_route(request, |dispatched| match dispatched {
            Some(Dispatched::Found(found)) => found.route.limits(),
            _ => BodyLimits::default(),
        })
    }

    /// The body of `request`, refused with `413` when it is longer than the limit.
    pub(crate) fn body<'a>(&self, request: &'a Request) -> Result<&'a Bytes, Rejection> {
        let body = request.body();
        if body.len() > self.body {
            return Err(Rejection::new(
                RejectionKind::BodyTooLarge,
                format!(
                    "the request body has {} bytes, more than this route's limit of {} bytes",
                    body.len(),
                    self.body
                ),
            ));
        }
        Ok(body)
    }
}

/// The body of `request`, within its route's body limit (`413` past it).
pub(crate) fn limited_body(request: &Request) -> Result<&Bytes, Rejection> {
    BodyLimits::of(request).body(request)
}
