//! [`Json<T>`](crate::server::Json) as an extractor: the body, as JSON.

use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::engine::Request;
use crate::server::extract::{FromRequest, Rejection, RejectionKind, has_content_type};
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
impl<T: DeserializeOwned> FromRequest for Json<T> {
    type Rejection = Rejection;

    fn from_request(request: &mut Request) -> Result<Self, Rejection> {
        if !has_content_type(request, "application/json", Some("json")) {
            return Err(Rejection::new(
                RejectionKind::UnsupportedMediaType,
                "expected a request with `Content-Type: application/json`",
            ));
        }
        serde_json::from_slice(request.body())
            .map(Json)
            .map_err(|error| {
                let kind = match error.classify() {
                    Category::Data => RejectionKind::InvalidBody,
                    Category::Syntax | Category::Eof | Category::Io => RejectionKind::MalformedJson,
                };
                let what = match kind {
                    RejectionKind::InvalidBody => "the JSON body does not fit",
                    _ => "the body is not valid JSON",
                };
                Rejection::new(kind, format!("{what}: {error}"))
            })
    }
}
