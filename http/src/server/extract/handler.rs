//! [`Handler`]: what a route runs — a function of extractors, or of the whole request.

use crate::engine::{BoxError, Request, Response};
use crate::server::extract::FromRequest;
use crate::server::response::HandlerResult;

/// A function a route can run: `Fn(Request) -> R`, or a function of 0 to 8
/// [`FromRequest`] arguments, returning anything [`HandlerResult`].
///
/// `Args` only tells the forms apart (`Request` for the whole-request form, the tuple of
/// argument types otherwise); it is inferred, never written.
///
/// ```
/// use hyperf_http::server::{Path, Router};
/// use hyperf_http::{Method, Request};
///
/// fn show(Path(id): Path<u32>, method: Method) -> String {
///     format!("{method} user {id}")
/// }
///
/// let mut router = Router::new();
/// router.get("/users/{id}", show).unwrap();
/// router.get("/", || "home").unwrap();
/// router.get("/raw", |request: Request| format!("{} bytes", request.body().len())).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a handler",
    note = "a handler is `Fn(Request) -> R` or a function of up to 8 `FromRequest` arguments, returning a `HandlerResult`"
)]
pub trait Handler<Args>: Send + Sync + 'static {
    /// Runs the handler on `request`: extraction, the call, and the conversion of its value.
    fn call(&self, request: Request) -> Result<Response, BoxError>;
}

impl<F, R> Handler<Request> for F
where
    F: Fn(Request) -> R + Send + Sync + 'static,
    R: HandlerResult,
{
    fn call(&self, request: Request) -> Result<Response, BoxError> {
        self(request).into_result()
    }
}

macro_rules! handler_of {
    ($($arg:ident),*) => {
        impl<F, R, $($arg,)*> Handler<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> R + Send + Sync + 'static,
            R: HandlerResult,
            $($arg: FromRequest,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(&self, mut request: Request) -> Result<Response, BoxError> {
                $(let $arg = $arg::from_request(&mut request).map_err(Into::into)?;)*
                self($($arg),*).into_result()
            }
        }
    };
}

handler_of!();
handler_of!(A1);
handler_of!(A1, A2);
handler_of!(A1, A2, A3);
handler_of!(A1, A2, A3, A4);
handler_of!(A1, A2, A3, A4, A5);
handler_of!(A1, A2, A3, A4, A5, A6);
handler_of!(A1, A2, A3, A4, A5, A6, A7);
handler_of!(A1, A2, A3, A4, A5, A6, A7, A8);
