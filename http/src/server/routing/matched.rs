//! What the router found for a request — [`Dispatched`], [`Found`], the path's [`Params`] —
//! apart from how it was found, since extractors and the pipeline read only this.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use http::Method;

use super::RouteEntry;
use crate::server::extract::escape_controls;

/// The router's verdict for a request: the pipeline keeps it in the request's context
/// ([`RequestHead::dispatched`](crate::server::RequestHead::dispatched)), where extractors
/// read it.
#[derive(Clone)]
pub enum Dispatched {
    /// A route matched.
    Found(Found),
    /// No route has this path.
    NotFound,
    /// Routes have this path, but not for this method.
    MethodNotAllowed {
        /// The methods that would have matched.
        allowed: Vec<Method>,
    },
}

impl fmt::Debug for Dispatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dispatched::Found(found) => f
                .debug_struct("Found")
                .field("pattern", &found.pattern())
                .field("params", &found.params)
                .finish(),
            Dispatched::NotFound => f.write_str("NotFound"),
            Dispatched::MethodNotAllowed { allowed } => f
                .debug_struct("MethodNotAllowed")
                .field("allowed", allowed)
                .finish(),
        }
    }
}

/// A matched route and the parameters taken from the path.
#[derive(Clone, Debug)]
pub struct Found {
    pub(crate) route: Arc<RouteEntry>,
    pub(crate) index: usize,
    pub(super) params: Params,
}

impl Found {
    /// The route's pattern as registered, e.g. `/user/{id:\d+}`.
    pub fn pattern(&self) -> &str {
        self.route.pattern()
    }

    /// The route.
    pub fn route(&self) -> &RouteEntry {
        &self.route
    }

    /// The path parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

/// Path parameters of a matched route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub(super) entries: Vec<(Arc<str>, String)>,
}

/// The parameters of a request no route matched.
pub(crate) static NO_PARAMS: Params = Params {
    entries: Vec::new(),
};

/// A parameter that is missing or does not parse as the type asked for: a mistake of the
/// client's, which the default exception handler answers with `400 Bad Request` and this
/// error's message (no error-level log).
///
/// Why `400` and not `404`: the path matched a route, so the resource's address is well-formed
/// for the router; what failed is the client's value (`/users/99999999999` for a `u32` id,
/// or a required optional segment left out), and nothing has said that no such resource
/// exists. This is also what axum answers for a path that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    name: String,
    reason: String,
}

impl ParamError {
    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The status a client is answered with: `400 Bad Request`.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::BAD_REQUEST
    }
}

impl ParamError {
    fn new(name: &str, reason: String) -> Self {
        // The reason often echoes the client's value: no control characters into the response
        // or the logs (the name is written with `{:?}`, escaped already).
        let reason = match escape_controls(&reason) {
            std::borrow::Cow::Borrowed(_) => reason,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        ParamError {
            name: name.to_string(),
            reason,
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route parameter {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for ParamError {}

impl Params {
    /// The raw value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parameter `name` parsed as `T`.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, ParamError>
    where
        T::Err: fmt::Display,
    {
        let value = self
            .get(name)
            .ok_or_else(|| ParamError::new(name, "not in this route's path".to_string()))?;
        value
            .parse()
            .map_err(|e: T::Err| ParamError::new(name, e.to_string()))
    }

    /// Every parameter, in the order of the pattern.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    /// Whether the route had no parameters (or the optional ones were absent).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many parameters the path gave.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose parse error echoes what it was given, as many do.
    #[derive(Debug)]
    struct Echo;

    impl FromStr for Echo {
        type Err = String;

        fn from_str(text: &str) -> Result<Self, String> {
            Err(format!("{text}: no such thing"))
        }
    }

    #[test]
    fn a_param_errors_reason_has_its_control_characters_escaped() {
        let params = Params {
            entries: vec![(Arc::from("kind"), "x\r\nX-Injected: yes".to_string())],
        };
        let error = params.parse::<Echo>("kind").unwrap_err();
        let message = error.to_string();
        assert!(!message.contains(['\r', '\n']), "{message:?}");
        assert_eq!(
            message,
            r#"route parameter "kind": x\r\nX-Injected: yes: no such thing"#
        );
    }
}
