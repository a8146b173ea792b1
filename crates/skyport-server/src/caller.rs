//! Who a request is made for: the [`Caller`] every image, row and file lookup carries.
//!
//! Today every request is anonymous; identity (tokens, scopes, groups) will be read here, in
//! one extractor, so that handlers and services need not change when it is.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
pub use skyport_store::Caller;

/// The caller of a request, as a handler argument.
#[derive(Debug, Clone)]
pub struct RequestCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for RequestCaller {
    type Rejection = Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestCaller(Caller::anonymous()))
    }
}
