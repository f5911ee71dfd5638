//! Axum extractors for what [`JwtLayer`](crate::JwtLayer) put into the request.
//!
//! They read the request extensions only; they never verify anything themselves. A handler
//! behind the optional layer gets a 401 for a request without a token (`Option<…>` gets
//! `None`). A wiring mistake (a route not behind the layer, a claims type other than the
//! layer's, a user the layer does not look up) fails closed with a 500 and an ERROR event
//! naming it, never a 401 that would blame the client. [`Claims<JsonClaims>`](JsonClaims)
//! works under a layer of any claims type: it reads the payload again, once per request that
//! asks.

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

pub(crate) mod authentication;

use authentication::Absent;

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

impl<C: Send + Sync + 'static> Claims<C> {
    /// The claims the layer verified, read from a request's extensions, for services that are
    /// not axum handlers (a bare tower or hyper service, a tonic interceptor). `Ok(None)` for a
    /// request the optional layer let through without a token; [`AuthError::Misconfigured`]
    /// (and an ERROR event naming the mistake) for a claims type other than the layer's, or no
    /// layer in front. `&mut`: [`JsonClaims`] under a layer of another type are parsed on the
    /// first read and kept for the next.
    pub fn from_extensions(extensions: &mut http::Extensions) -> Result<Option<Self>, AuthError> {
        match authentication::claims(extensions) {
            Ok(claims) => Ok(Some(Self(claims))),
            Err(Absent::Anonymous) => Ok(None),
            Err(absent) => Err(authentication::refusal(
                absent,
                "Claims::from_extensions",
                None,
            )),
        }
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

impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        authentication::claims(&mut parts.extensions)
            .map(Claims)
            .map_err(|absent| refused(absent, parts))
    }
}

/// `None` when the layer let the request through without a token; a configuration mistake
/// (another claims type, no layer) is still the 500 it is for `Claims`.
impl<S, C> OptionalFromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match authentication::claims(&mut parts.extensions) {
            Ok(claims) => Ok(Some(Claims(claims))),
            Err(Absent::Anonymous) => Ok(None),
            Err(absent) => Err(refused(absent, parts)),
        }
    }
}

fn refused(absent: Absent, parts: &Parts) -> AuthError {
    authentication::refusal(
        absent,
        "an extractor",
        Some((&parts.method, parts.uri.path())),
    )
}

/// Extractors for the values the layer puts into the extensions of the requests it verified:
/// `T` is required, `Option<T>` is `None` for a request let through without a token. `=> hint`
/// says what provides the value, for the 500 a verified request without it gets.
macro_rules! extension_extractor {
    ($($ty:ty $(where $param:ident: $($bound:path)?)? => $hint:expr),* $(,)?) => {$(
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
                authentication::provided(&parts.extensions, $hint)
                    .map_err(|absent| refused(absent, parts))
            }
        }

        impl<S $(, $param)?> OptionalFromRequestParts<S> for $ty
        where
            S: Send + Sync,
            $($param: $($bound +)? Send + Sync + 'static,)?
        {
            type Rejection = AuthError;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &S,
            ) -> Result<Option<Self>, Self::Rejection> {
                match authentication::provided(&parts.extensions, $hint) {
                    Ok(value) => Ok(Some(value)),
                    Err(Absent::Anonymous) => Ok(None),
                    Err(absent) => Err(refused(absent, parts)),
                }
            }
        }
    )*};
}

extension_extractor! {
    CurrentUser<U> where U: Clone =>
        "a user lookup of that type (JwtLayerBuilder::user_lookup) puts it there",
    TokenFacts =>
        "a revocation store or a user lookup on the layer puts it there",
    Revoker =>
        "a revocation store on the layer (JwtLayerBuilder::revocations) puts it there",
    BearerToken =>
        "the layer hands the token over when built with JwtLayerBuilder::expose_token",
}
