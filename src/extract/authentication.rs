//! What the layer leaves in a request for the guards and extractors behind it.
//!
//! The layer puts one [`Authentication`] into the extensions, whatever its claims type: the
//! verified claims, type-erased, or the mark of a request let through without a token. Every
//! reader asks it for the claims type it wants, so the answer is never just "absent":
//! - the layer's own type: the claims, shared;
//! - [`JsonClaims`] under a layer of another type: the payload parsed again, once per request and
//!   only then (what untyped guards and `Claims<JsonClaims>` read), from the token the layer
//!   kept for that purpose (a reference count on the header's bytes, no copy);
//! - any other type: a configuration mistake, answered 500 and logged at ERROR with both types;
//! - no [`Authentication`] at all: no layer in front, answered the same way.

use std::any::{Any, TypeId, type_name};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use http::Extensions;

use crate::claims::JsonClaims;
use crate::error::AuthError;
use crate::extract::Claims;
use crate::jws::{decode_base64url, split};
use crate::source::BearerToken;

/// The layer's verdict on a request it let through.
#[derive(Clone)]
pub(crate) enum Authentication {
    /// Optional mode, and no token.
    Anonymous,
    Verified(VerifiedClaims),
}

/// Verified claims of any type.
#[derive(Clone)]
pub(crate) struct VerifiedClaims {
    claims: Arc<dyn Any + Send + Sync>,
    claims_type: &'static str,
    /// The token, when the claims type is not [`JsonClaims`]: the source of the JSON view.
    token: Option<BearerToken>,
}

impl Authentication {
    /// `token` is called only when the claims type is not [`JsonClaims`].
    pub(crate) fn verified<C: Send + Sync + 'static>(
        claims: Arc<C>,
        token: impl FnOnce() -> BearerToken,
    ) -> Self {
        let token = (TypeId::of::<C>() != TypeId::of::<JsonClaims>()).then(token);
        Self::Verified(VerifiedClaims {
            claims,
            claims_type: type_name::<C>(),
            token,
        })
    }
}

/// Why there are no claims of the type asked for.
#[derive(Debug)]
pub(crate) enum Absent {
    /// The layer let the request through without a token: the client's to fix (401).
    Anonymous,
    /// A configuration mistake: the server's to fix (500).
    Misuse(Misuse),
}

#[derive(Debug)]
pub(crate) enum Misuse {
    /// The claims are of another type than the one asked for.
    OtherType {
        wanted: &'static str,
        layer: &'static str,
    },
    /// No layer is in front of the reader.
    NoLayer { wanted: &'static str },
    /// The layer in front verified the token but does not provide what is asked for.
    NotProvided {
        wanted: &'static str,
        /// What provides it.
        hint: &'static str,
    },
    /// The JSON view could not be read from a verified token (a claims type that accepts what
    /// is not a JSON object).
    Unreadable { layer: &'static str },
}

impl Misuse {
    /// The ERROR event, with the request's method and path to find the route by.
    pub(crate) fn log(&self, reader: &str, method: Option<&str>, path: Option<&str>) {
        match self {
            Self::OtherType { wanted, layer } => tracing::error!(
                target: "tower_jwt_auth",
                kind = AuthError::Misconfigured.kind_name(),
                method,
                path,
                "{reader} asks for claims of type `{wanted}`, but the JwtLayer in front verifies \
                 claims of type `{layer}`: name the layer's type (`.claims::<{layer}>()`), or use \
                 the untyped form, which reads the payload as JsonClaims under any layer",
            ),
            Self::NoLayer { wanted } => tracing::error!(
                target: "tower_jwt_auth",
                kind = AuthError::Misconfigured.kind_name(),
                method,
                path,
                "{reader} asks for claims of type `{wanted}`, but no JwtLayer is in front of it: \
                 add the layer outside the guard (axum: `.route_layer(guard)` first, then \
                 `.layer(auth)`), or the route is not behind the layer at all",
            ),
            Self::NotProvided { wanted, hint } => tracing::error!(
                target: "tower_jwt_auth",
                kind = AuthError::Misconfigured.kind_name(),
                method,
                path,
                "{reader} asks for `{wanted}`, which the JwtLayer in front does not provide: {hint}",
            ),
            Self::Unreadable { layer } => tracing::error!(
                target: "tower_jwt_auth",
                kind = AuthError::Misconfigured.kind_name(),
                method,
                path,
                "{reader} reads the payload as JsonClaims, but the token the JwtLayer verified \
                 into `{layer}` has no JSON object for a payload",
            ),
        }
    }

    fn key(&self) -> (&'static str, &'static str) {
        match self {
            Self::OtherType { wanted, layer } => (wanted, layer),
            Self::NoLayer { wanted } => (wanted, ""),
            Self::NotProvided { wanted, hint } => (wanted, hint),
            Self::Unreadable { layer } => ("", layer),
        }
    }
}

/// The claims of type `C` the layer left in `extensions`.
///
/// Claims put there as [`Claims<C>`] by hand (a handler's test) count too, when no layer ran.
pub(crate) fn claims<C: Send + Sync + 'static>(
    extensions: &mut Extensions,
) -> Result<Arc<C>, Absent> {
    let verified = match extensions.get::<Authentication>() {
        Some(Authentication::Verified(verified)) => verified,
        Some(Authentication::Anonymous) => return Err(Absent::Anonymous),
        None => {
            return match extensions.get::<Claims<C>>() {
                Some(Claims(claims)) => Ok(claims.clone()),
                None => Err(Absent::Misuse(Misuse::NoLayer {
                    wanted: type_name::<C>(),
                })),
            };
        }
    };
    if let Ok(claims) = Arc::clone(&verified.claims).downcast::<C>() {
        return Ok(claims);
    }
    let layer = verified.claims_type;
    let (Some(token), true) = (
        verified.token.clone(),
        TypeId::of::<C>() == TypeId::of::<JsonClaims>(),
    ) else {
        return Err(Absent::Misuse(Misuse::OtherType {
            wanted: type_name::<C>(),
            layer,
        }));
    };
    let json = match extensions.get::<Claims<JsonClaims>>() {
        Some(Claims(json)) => json.clone(),
        None => {
            let json =
                Arc::new(json_view(&token).ok_or(Absent::Misuse(Misuse::Unreadable { layer }))?);
            extensions.insert(Claims(json.clone()));
            json
        }
    };
    let json: Arc<dyn Any + Send + Sync> = json;
    // `C` is `JsonClaims`, so the downcast cannot fail.
    json.downcast::<C>().map_err(|_| {
        Absent::Misuse(Misuse::OtherType {
            wanted: type_name::<C>(),
            layer,
        })
    })
}

/// A value the layer puts into the extensions of the requests it verified (a user, the token).
pub(crate) fn provided<T: Clone + Send + Sync + 'static>(
    extensions: &Extensions,
    hint: &'static str,
) -> Result<T, Absent> {
    if let Some(value) = extensions.get::<T>() {
        return Ok(value.clone());
    }
    let wanted = type_name::<T>();
    Err(match extensions.get::<Authentication>() {
        Some(Authentication::Anonymous) => Absent::Anonymous,
        Some(Authentication::Verified(_)) => Absent::Misuse(Misuse::NotProvided { wanted, hint }),
        None => Absent::Misuse(Misuse::NoLayer { wanted }),
    })
}

/// The payload of a verified token as JSON.
fn json_view(token: &BearerToken) -> Option<JsonClaims> {
    let (_, payload, _) = split(token.as_str()).ok()?;
    serde_json::from_slice(&decode_base64url(payload).ok()?).ok()
}

/// Whether the mistake is logged for the first time: once per pair of types and path, up to a
/// bound (paths come from requests), after which it is logged once per pair of types.
pub(crate) fn first_report(misuse: &Misuse, path: &str) -> bool {
    const MOST_ROUTES: usize = 256;
    /// The claims type asked for, the layer's, and the path.
    type Report = (&'static str, &'static str, String);
    static REPORTED: Mutex<Option<HashSet<Report>>> = Mutex::new(None);
    let (wanted, layer) = misuse.key();
    let mut reported = REPORTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let reported = reported.get_or_insert_with(HashSet::new);
    let path = if reported.len() < MOST_ROUTES {
        path
    } else {
        ""
    };
    reported.insert((wanted, layer, path.to_owned()))
}

/// The refusal for what is absent: 401 for an anonymous request, else 500 and the mistake
/// logged (the first time for its route).
pub(crate) fn refusal(
    absent: Absent,
    reader: &str,
    route: Option<(&http::Method, &str)>,
) -> AuthError {
    let error = match absent {
        Absent::Anonymous => AuthError::Unauthenticated,
        Absent::Misuse(misuse) => {
            let (method, path) = route.map_or((None, None), |(method, path)| {
                (Some(method.as_str()), Some(path))
            });
            if first_report(&misuse, path.unwrap_or_default()) {
                misuse.log(reader, method, path);
            }
            AuthError::Misconfigured
        }
    };
    error.trace();
    error
}
