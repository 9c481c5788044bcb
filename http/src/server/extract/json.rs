//! [`Json<T>`](crate::server::Json) as an extractor: the body, as JSON, within the route's body
//! limit and JSON depth.

use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::engine::Request;
use crate::server::extract::{BodyLimits, FromRequest, Rejection, RejectionKind, has_content_type};
use crate::server::response::Json;

/// The body as JSON, when its `Content-Type` is `application/json` (or any
/// `application/*+json`).
///
/// ```
/// use hyperf_http::server::{Json, Router};
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Greeting { name: String }
///
/// let mut router = Router::new();
/// router.post("/greet", |Json(greeting): Json<Greeting>| {
///     Json(Greeting { name: format!("hello, {}", greeting.name) })
/// }).unwrap();
/// ```
///
/// A body longer than the route's [body limit](crate::server::RouteRef::body_limit) (2 MiB by
/// default) is refused with `413`; one whose arrays and objects nest deeper than the route's
/// [JSON depth](crate::server::RouteRef::json_depth) (32 by default) with `400`, before it is
/// deserialised, whatever `T` is: deserialising recurses once per level (`serde_json::Value`,
/// recursive types, and internally tagged, untagged or `flatten`ed types that buffer fields they
/// ignore), on a connection coroutine's small stack.
impl<T: DeserializeOwned> FromRequest for Json<T> {
    type Rejection = Rejection;

    fn from_request(request: &mut Request) -> Result<Self, Rejection> {
        if !has_content_type(request, "application/json", Some("json")) {
            return Err(Rejection::new(
                RejectionKind::UnsupportedMediaType,
                "expected a request with `Content-Type: application/json`",
            ));
        }
        let limits = BodyLimits::of(request);
        let body = limits.body(request)?;
        if nests_deeper_than(body, limits.json_depth) {
            return Err(Rejection::new(
                RejectionKind::JsonTooDeep,
                format!(
                    "the JSON body is nested too deep: more than {} levels of arrays and objects",
                    limits.json_depth
                ),
            ));
        }
        match serde_json::from_slice(body) {
            Ok(value) => Ok(Json(value)),
            Err(error) if error.classify() == Category::Data => Err(with_path::<T>(body, error)),
            Err(error) => Err(rejection(error.classify(), &error)),
        }
    }
}

/// The rejection of `body`, which does not fit `T` (`error`), naming the field it failed at
/// (`user.address.zip: invalid type: …`, `items[2].qty: …`; an error at the top level, such as
/// a missing field of the outer struct, has no path and reads as serde_json's): `body`
/// deserialised again, through `serde_path_to_error`. Only a failing body pays for the path:
/// its wrappers double the stack each level of nesting takes (measured with `stack_use`, 32
/// levels: about 37 KiB instead of 17–28 optimised), which would push ordinary bodies of a few
/// levels past the depth at which a connection's coroutine is retired rather than reused.
fn with_path<T: DeserializeOwned>(body: &[u8], error: serde_json::Error) -> Rejection {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(tracked) => rejection(tracked.inner().classify(), &tracked),
        // The same parse of the same bytes fails the same way; should `T` succeed now, the
        // first error still stands.
        Ok(_) => rejection(error.classify(), &error),
    }
}

/// The rejection of a body serde_json failed on: one that does not parse is malformed (`400`),
/// one of the wrong shape does not fit (`422`). `error` is what the client reads, its field's
/// path included.
fn rejection(category: Category, error: &dyn std::fmt::Display) -> Rejection {
    let (kind, what) = match category {
        Category::Data => (RejectionKind::InvalidBody, "the JSON body does not fit"),
        Category::Syntax | Category::Eof | Category::Io => {
            (RejectionKind::MalformedJson, "the body is not valid JSON")
        }
    };
    Rejection::new(kind, format!("{what}: {error}"))
}

/// Whether `json` nests arrays and objects more than `limit` deep (`[]` is 1 deep, `[{}]` 2, a
/// scalar 0): a count of the `[` and `{` not yet closed, outside strings (where a backslash
/// escapes the next byte). It does not validate: on malformed JSON its answer is only as good
/// as the input, and the parser refuses the input anyway. It stops at the first level past
/// `limit` and allocates nothing.
pub(crate) fn nests_deeper_than(json: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut at = 0;
    while at < json.len() {
        match json[at] {
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => {
                // Skip the string: to its closing quote, over escaped bytes.
                at += 1;
                while at < json.len() {
                    match json[at] {
                        b'"' => break,
                        b'\\' => at += 2,
                        _ => at += 1,
                    }
                }
            }
            _ => {}
        }
        at += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::nests_deeper_than;
    use proptest::prelude::*;

    /// `n` nested arrays around `inner`.
    fn nested(n: usize, inner: &str) -> String {
        format!("{}{inner}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn scalars_are_zero_deep() {
        for json in ["1", "\"text\"", "null", "", "  true "] {
            assert!(!nests_deeper_than(json.as_bytes(), 0), "{json}");
        }
    }

    #[test]
    fn a_body_exactly_at_the_limit_passes_and_one_level_more_does_not() {
        assert!(!nests_deeper_than(nested(32, "1").as_bytes(), 32));
        assert!(nests_deeper_than(nested(33, "1").as_bytes(), 32));
    }

    #[test]
    fn objects_and_arrays_both_count() {
        let json = r#"{"a":[{"b":[1]}]}"#;
        assert!(!nests_deeper_than(json.as_bytes(), 4));
        assert!(nests_deeper_than(json.as_bytes(), 3));
    }

    #[test]
    fn siblings_do_not_add_up() {
        let json = r#"[[1],[2],{"a":{}},[[3]]]"#;
        assert!(!nests_deeper_than(json.as_bytes(), 3));
        assert!(nests_deeper_than(json.as_bytes(), 2));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let json = r#"{"[[[[": "{{{{ ]]]] [[[["}"#;
        assert!(!nests_deeper_than(json.as_bytes(), 1));
    }

    #[test]
    fn an_escaped_quote_does_not_end_a_string() {
        // Were the string to end at `\"`, the brackets after it would count.
        let json = r#"["a \" [[[[ b"]"#;
        assert!(!nests_deeper_than(json.as_bytes(), 1));
        let json = r#"["a \\", [[1]]]"#;
        assert!(
            nests_deeper_than(json.as_bytes(), 2),
            "an escaped backslash ends no string, the quote after it does"
        );
    }

    #[test]
    fn an_unterminated_string_or_escape_at_the_end_stops_the_scan() {
        assert!(!nests_deeper_than(br#"["abc"#, 1));
        assert!(!nests_deeper_than(br#"["abc\"#, 1));
    }

    #[test]
    fn stray_closing_brackets_do_not_lower_the_count_below_zero() {
        assert!(nests_deeper_than(b"]]]]][[", 1));
    }

    /// JSON values of bounded size, with strings full of brackets, quotes and backslashes.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[\\[\\]{}\"\\\\a-z ]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(12, 64, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::vec(("[\\[\\]{}\"\\\\a-z]{0,4}", inner), 0..4)
                    .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// How deep `value` nests, from its structure.
    fn depth(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            serde_json::Value::Object(entries) => {
                1 + entries.values().map(depth).max().unwrap_or(0)
            }
            _ => 0,
        }
    }

    proptest! {
        #[test]
        fn the_scan_agrees_with_the_values_structure(value in value(), pretty in any::<bool>()) {
            let json = if pretty {
                serde_json::to_vec_pretty(&value).unwrap()
            } else {
                serde_json::to_vec(&value).unwrap()
            };
            let deep = depth(&value);
            prop_assert!(!nests_deeper_than(&json, deep));
            if deep > 0 {
                prop_assert!(nests_deeper_than(&json, deep - 1));
            }
        }
    }
}
