//! [`RequestId`]: a middleware that gives every request an `X-Request-Id`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{HeaderName, HeaderValue};

use crate::engine::{BoxError, Request, Response};
use crate::server::middleware::{Middleware, Next};

/// The longest incoming id kept.
const MAX_LEN: usize = 128;

/// Gives every request an id in `X-Request-Id` (or a header of your choice): a valid id the
/// client (or a proxy in front) sent is kept, anything else is replaced by a new one. The id
/// is set on the request, so handlers and the middlewares after this one read it there, and
/// on the response, where the [`AccessLog`](crate::server::AccessLog) finds it. Every
/// response of a request that went through it carries the id: a success, an extractor's
/// rejection, an [`HttpError`](crate::server::HttpError), a handler's other error or panic
/// (the `500`), and — when it is a global middleware — the router's `404` and `405`. When the
/// rest of the chain fails, the response is the exception handlers' and the id is set on it
/// after them, replacing any value they set.
///
/// A valid incoming id is 1 to 128 characters of `A-Z a-z 0-9 - _ . : + / =` (a UUID, a
/// trace id, a base64 token): anything else could forge log lines or smuggle data, so it is
/// replaced. A new id is 32 hex digits: a random per-process prefix and a counter, unique in
/// the process and, with overwhelming odds, across processes.
///
/// Register it with a high priority (it runs first in a sorted chain):
///
/// ```
/// use hyperf_http::server::{RequestId, ServerSpec};
///
/// let spec = ServerSpec::new("http", "127.0.0.1", 9501)
///     .middleware_with_priority(RequestId::new(), 100);
/// # let _ = spec;
/// ```
#[derive(Debug, Clone)]
pub struct RequestId {
    header: HeaderName,
    /// `RequestId(header)`: two of them with different headers are two middlewares.
    name: String,
}

impl RequestId {
    /// Ids in `X-Request-Id`.
    pub fn new() -> Self {
        Self::with_header(HeaderName::from_static("x-request-id"))
    }

    /// Ids in `header` instead (`X-Correlation-Id`, say).
    pub fn with_header(header: HeaderName) -> Self {
        let name = format!("RequestId({header})");
        RequestId { header, name }
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl Middleware for RequestId {
    fn process(&self, mut request: Request, next: Next<'_>) -> Result<Response, BoxError> {
        let id = match request.headers().get(&self.header) {
            Some(incoming) if is_valid(incoming.as_bytes()) => incoming.clone(),
            _ => fresh_id(),
        };
        request
            .headers_mut()
            .insert(self.header.clone(), id.clone());
        // A panic below: the guard has the pipeline set the id on the `500` it answers.
        let on_panic = OnPanic {
            header: &self.header,
            id: &id,
            next,
        };
        let outcome = next.run(request);
        std::mem::forget(on_panic);
        match outcome {
            Ok(mut response) => {
                response.headers_mut().insert(self.header.clone(), id);
                Ok(response)
            }
            // The exception handlers make this request's response, after this middleware:
            // the pipeline sets the id on it then.
            Err(error) => {
                next.set_on_final_response(self.header.clone(), id);
                Err(error)
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Dropped only while a panic unwinds through [`RequestId::process`] (it is forgotten
/// otherwise): has the pipeline set the id on the response it answers the panic with.
struct OnPanic<'a> {
    header: &'a HeaderName,
    id: &'a HeaderValue,
    next: Next<'a>,
}

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        self.next
            .set_on_final_response(self.header.clone(), self.id.clone());
    }
}

fn is_valid(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || b"-_.:+/=".contains(&byte))
}

/// A new id: the process's random prefix and the next count, in hex.
fn fresh_id() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    // std's hasher keys are random per process: a prefix without a dependency on a RNG.
    let prefix = *PREFIX.get_or_init(|| RandomState::new().build_hasher().finish());
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    let mut text = [0u8; 32];
    let digits = b"0123456789abcdef";
    for (i, slot) in text.iter_mut().enumerate() {
        let word = if i < 16 { prefix } else { count };
        let shift = (15 - i % 16) * 4;
        *slot = digits[((word >> shift) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&text).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_32_hex_digits_and_differ() {
        let (first, second) = (fresh_id(), fresh_id());
        assert_eq!(first.len(), 32);
        assert!(is_valid(first.as_bytes()));
        assert_ne!(first, second);
    }

    #[test]
    fn ids_with_spaces_quotes_or_too_long_are_invalid() {
        assert!(is_valid(b"3f1c-aa.b:c/d+e="));
        assert!(!is_valid(b""));
        assert!(!is_valid(b"a b"));
        assert!(!is_valid(b"a\"b"));
        assert!(!is_valid(&[b'a'; MAX_LEN + 1]));
    }
}
