//! [`ClientAddr`] as an extractor: the client the pipeline resolved for the current request.

use crate::engine::Request;
use crate::server::client_addr::{ClientAddr, NoClientAddr};
use crate::server::extract::FromRequest;
use crate::server::request_context::RequestContext;

/// The current request's client, as the pipeline resolved it; [`NoClientAddr`] (a `500`)
/// outside a request of the server's pipeline that came from a connection.
impl FromRequest for ClientAddr {
    type Rejection = NoClientAddr;

    fn from_request(_: &mut Request) -> Result<Self, NoClientAddr> {
        RequestContext::request()
            .and_then(|head| head.client)
            .ok_or(NoClientAddr)
    }
}
