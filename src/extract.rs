//! Axum extractors for what [`JwtLayer`](crate::JwtLayer) put into the request.
//!
//! They read the request extensions only; they never verify anything themselves. A handler that
//! asks for [`Claims`] on a route that is not behind the layer gets a 401 in the crate's JSON
//! format, not a panic: that is a wiring mistake, and failing closed is the safe answer.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::claims::JsonClaims;
use crate::error::AuthError;
use crate::revocation::{Revoker, TokenFacts};
use crate::source::BearerToken;
use crate::user::CurrentUser;

/// The verified claims of the request's token.
///
/// The claims are shared, not copied: the layer parses them once into an [`Arc`], and every
/// extraction (a guard, a middleware, the handler) clones that `Arc`. So a claims type needs
/// no `Clone`, and a handler reading a few fields pays no allocation. Fields are reached
/// through [`Deref`]; [`Claims::into_inner`] gives an owned value (without a copy when nothing
/// else holds the claims any more).
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use tower_jwt_auth::{Claims, claims::JsonClaims};
///
/// async fn me(claims: Claims) -> Json<JsonClaims> {
///     Json(claims.into_inner())
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
pub struct Claims<C = JsonClaims>(pub Arc<C>);

impl<C> Claims<C> {
    /// Wraps claims, as the layer does once they are verified (useful in tests of handlers).
    pub fn new(claims: C) -> Self {
        Self(Arc::new(claims))
    }

    /// The claims, owned: moved out when this is their last holder, cloned otherwise.
    pub fn into_inner(self) -> C
    where
        C: Clone,
    {
        Arc::unwrap_or_clone(self.0)
    }
}

impl<C> Clone for Claims<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C: fmt::Debug> fmt::Debug for Claims<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Claims").field(&*self.0).finish()
    }
}

impl<C: PartialEq> PartialEq for Claims<C> {
    fn eq(&self, other: &Self) -> bool {
        *self.0 == *other.0
    }
}

impl<C> Deref for Claims<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> From<C> for Claims<C> {
    fn from(claims: C) -> Self {
        Self::new(claims)
    }
}

/// Extractors for the values the layer puts into the extensions: `T` is required (401 when
/// absent), `Option<T>` is `None` when absent (behind the optional layer without a token).
/// `=> missing` names the rejection when the value is absent (default: [`unauthenticated`]).
macro_rules! extension_extractor {
    (@missing) => { unauthenticated };
    (@missing $missing:path) => { $missing };
    ($($ty:ty $(where $param:ident: $($bound:path)?)? $(=> $missing:path)?),* $(,)?) => {$(
        impl<S $(, $param)?> FromRequestParts<S> for $ty
        where
            S: Send + Sync,
            $($param: $($bound +)? Send + Sync + 'static,)?
        {
            type Rejection = AuthError;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Self, Self::Rejection> {
                parts
                    .extensions
                    .get::<Self>()
                    .cloned()
                    .ok_or_else(extension_extractor!(@missing $($missing)?))
            }
        }

        impl<S $(, $param)?> OptionalFromRequestParts<S> for $ty
        where
            S: Send + Sync,
            $($param: $($bound +)? Send + Sync + 'static,)?
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

extension_extractor!(Claims<C> where C:, CurrentUser<U> where U: Clone);

// `TokenFacts` and `Revoker` are there only when the layer runs asynchronous checks (a
// revocation store for `Revoker`); a handler asking for them elsewhere gets the 401.
extension_extractor!(TokenFacts, Revoker);

extension_extractor!(BearerToken => token_not_handed_over);

/// The token is handed over only on request ([`JwtLayerBuilder::expose_token`]), so its absence
/// behind a working layer is a likely wiring mistake: the 401 comes with an event saying so.
///
/// [`JwtLayerBuilder::expose_token`]: crate::layer::JwtLayerBuilder::expose_token
fn token_not_handed_over() -> AuthError {
    tracing::warn!(
        target: "tower_jwt_auth",
        kind = AuthError::Unauthenticated.kind_name(),
        "no BearerToken in the request: the route is not behind JwtLayer, or the layer was built \
         without JwtLayerBuilder::expose_token",
    );
    AuthError::Unauthenticated
}

pub(crate) fn unauthenticated() -> AuthError {
    let error = AuthError::Unauthenticated;
    error.trace();
    error
}
