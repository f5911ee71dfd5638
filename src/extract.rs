//! Axum extractors for what [`JwtLayer`](crate::JwtLayer) put into the request.
//!
//! They read the request extensions only; they never verify anything themselves. A handler that
//! asks for [`Claims`] on a route that is not behind the layer gets a 401 in the crate's JSON
//! format, not a panic: that is a wiring mistake, and failing closed is the safe answer.

use std::ops::Deref;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::claims::JsonClaims;
use crate::error::AuthError;
use crate::revocation::{Revoker, TokenFacts};
use crate::source::BearerToken;
use crate::user::CurrentUser;

/// The verified claims of the request's token.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use tower_jwt_auth::{Claims, JsonClaims};
///
/// async fn me(Claims(claims): Claims) -> Json<JsonClaims> {
///     Json(claims)
/// }
///
/// async fn hello(claims: Option<Claims>) -> String {
///     match claims.as_ref().and_then(|c| c.subject()) {
///         Some(sub) => format!("hello {sub}"),
///         None => "hello stranger".to_owned(),
///     }
/// }
///
/// let app: Router = Router::new().route("/me", get(me)).route("/hello", get(hello));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Claims<C = JsonClaims>(pub C);

impl<C> Deref for Claims<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

/// Extractors for the values the layer puts into the extensions: `T` is required (401 when
/// absent), `Option<T>` is `None` when absent (behind the optional layer without a token).
macro_rules! extension_extractor {
    ($($ty:ty $(where $param:ident)?),* $(,)?) => {$(
        impl<S $(, $param)?> FromRequestParts<S> for $ty
        where
            S: Send + Sync,
            $($param: Clone + Send + Sync + 'static,)?
        {
            type Rejection = AuthError;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Self, Self::Rejection> {
                parts.extensions.get::<Self>().cloned().ok_or_else(unauthenticated)
            }
        }

        impl<S $(, $param)?> OptionalFromRequestParts<S> for $ty
        where
            S: Send + Sync,
            $($param: Clone + Send + Sync + 'static,)?
        {
            type Rejection = std::convert::Infallible;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Option<Self>, Self::Rejection> {
                Ok(parts.extensions.get::<Self>().cloned())
            }
        }
    )*};
}

extension_extractor!(Claims<C> where C, CurrentUser<U> where U);

// `TokenFacts` and `Revoker` are there only when the layer runs asynchronous checks (a
// revocation store for `Revoker`); a handler asking for them elsewhere gets the 401.
extension_extractor!(BearerToken, TokenFacts, Revoker);

pub(crate) fn unauthenticated() -> AuthError {
    let error = AuthError::Unauthenticated;
    error.trace();
    error
}
