//! [`Rejection`]: why a built-in extractor could not take its value from a request.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write};

use http::StatusCode;

/// A request the built-in extractors could not take a value from: a client's mistake, which
/// the default exception handler answers with [`status`](Rejection::status) and
/// [`message`](Rejection::message), without an error-level log line.
///
/// An exception handler of yours finds it with [`find_cause`](crate::server::find_cause), to
/// render it its own way:
///
/// ```
/// use hyperf_http::server::{ExceptionHandler, Json, Propagation, Rejection, find_cause};
/// use hyperf_http::{BoxError, Response};
/// use hyperf_http::server::IntoResponse;
///
/// struct JsonRejections;
///
/// impl ExceptionHandler for JsonRejections {
///     fn is_valid(&self, error: &BoxError) -> bool {
///         find_cause::<Rejection>(&**error).is_some()
///     }
///
///     fn handle(&self, error: &BoxError, _: Response, propagation: &mut Propagation) -> Result<Response, BoxError> {
///         let rejection = find_cause::<Rejection>(&**error).expect("checked by is_valid");
///         propagation.stop();
///         let body = serde_json::json!({ "error": rejection.message() });
///         Ok((rejection.status(), Json(body)).into_response())
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    message: String,
}

/// What a [`Rejection`] is about, and so its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// A route parameter is missing or does not parse as the type asked for: `400`.
    Path,
    /// The query string does not parse as the type asked for: `400`.
    Query,
    /// The body's `Content-Type` is not one the extractor reads: `415`.
    UnsupportedMediaType,
    /// The body is not well-formed JSON: `400`.
    MalformedJson,
    /// The body is JSON, or a form, of the wrong shape (a missing field, a string for a
    /// number): `422`.
    InvalidBody,
    /// The body is not UTF-8 text: `400`.
    InvalidUtf8,
    /// The body is longer than the route's body limit
    /// ([`RouteRef::body_limit`](crate::server::RouteRef::body_limit),
    /// [`ServerSpec::body_limit`](crate::server::ServerSpec::body_limit)): `413`.
    BodyTooLarge,
    /// The JSON body nests arrays and objects deeper than the route's limit
    /// ([`RouteRef::json_depth`](crate::server::RouteRef::json_depth),
    /// [`ServerSpec::json_depth`](crate::server::ServerSpec::json_depth)): `400`.
    JsonTooDeep,
}

impl RejectionKind {
    /// The status a client is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            RejectionKind::Path
            | RejectionKind::Query
            | RejectionKind::MalformedJson
            | RejectionKind::InvalidUtf8
            | RejectionKind::JsonTooDeep => StatusCode::BAD_REQUEST,
            RejectionKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectionKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RejectionKind::InvalidBody => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl Rejection {
    /// A rejection of `kind`, answered with `message`. Control characters in `message` (CR,
    /// LF, the rest of C0, DEL, C1) are escaped (`\r`, `\n`, `\u{1b}`): a message often
    /// echoes what the client sent, and goes into the response and the logs.
    ///
    /// ```
    /// use hyperf_http::server::{Rejection, RejectionKind};
    ///
    /// let rejection = Rejection::new(RejectionKind::Query, "no page \"1\r\nX: y\"");
    /// assert_eq!(rejection.message(), r#"no page "1\r\nX: y""#);
    /// ```
    pub fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match escape_controls(&message) {
            Cow::Borrowed(_) => message,
            Cow::Owned(escaped) => escaped,
        };
        Rejection { kind, message }
    }

    /// What it is about.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The status a client is answered with.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The message for the client: what was wrong with its request, nothing of the server's.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status(), self.message)
    }
}

impl Error for Rejection {}

/// `text` with its control characters (C0, DEL, C1) escaped as Rust writes them: `\r`, `\n`,
/// `\t`, or `\u{..}`; borrowed when it has none. Other text, backslashes included, is kept
/// as is.
pub(crate) fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' => escaped.push_str("\\r"),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_control_characters_is_borrowed() {
        assert!(matches!(
            escape_controls("a \\n \"quoted\" é"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn cr_lf_tab_are_escaped_by_name() {
        assert_eq!(escape_controls("a\r\nb\tc"), "a\\r\\nb\\tc");
    }

    #[test]
    fn other_c0_del_and_c1_are_escaped_by_code_point() {
        assert_eq!(
            escape_controls("\u{0}\u{1b}[31m\u{7f}\u{85}"),
            "\\u{0}\\u{1b}[31m\\u{7f}\\u{85}"
        );
    }

    #[test]
    fn a_rejection_escapes_its_message() {
        let rejection = Rejection::new(RejectionKind::Path, "bad \r\n value");
        assert_eq!(rejection.message(), "bad \\r\\n value");
        assert!(!rejection.to_string().contains('\n'));
    }
}
