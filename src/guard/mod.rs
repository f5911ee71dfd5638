//! Per-route authorization: [`RequireRoles`], [`RequireScope`] and [`RequireClaims`].
//!
//! A guard sits behind [`JwtLayer`](crate::JwtLayer) and reads the claims the layer verified; it
//! never parses the token again. Put guards on routes with axum's `route_layer` (or on a single
//! method router) so that a 404 or 405 stays a 404 or 405 instead of becoming a 401 or 403.
//! A refusal is rendered the way the layer in front renders its own: with its
//! [`error_handler`](crate::layer::JwtLayerBuilder::error_handler) and [`realm`](crate::layer::JwtLayerBuilder::realm)
//! when it has them, else as [`AuthError::to_response`] does.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_jwt_auth::{JwtLayer, Key, RequireRoles, RequireScope};
//!
//! # fn main() -> Result<(), tower_jwt_auth::error::ConfigError> {
//! let auth = JwtLayer::builder().key(Key::hmac([7u8; 32])).build()?;
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "hi admin" }).route_layer(RequireRoles::any(["admin"])?))
//!     .route("/users", get(|| async { "users" }).route_layer(RequireScope::any(["users:read"])?))
//!     .layer(auth);
//! # Ok(())
//! # }
//! ```
//!
//! The guards read [`JsonClaims`] unless told otherwise, and work so behind a layer of any
//! claims type: behind a layer of another type they read the verified payload as JSON, once
//! per request that asks. To read the layer's own type (no second parse), implement [`Grants`]
//! for it and name it with `.claims::<T>()`. A guard of another type than the layer's, or with
//! no layer in front of it, answers 500 and logs the mistake at ERROR, naming both types.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response, header};
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::JsonClaims;
use crate::error::{AuthError, ConfigError, Rendering};
use crate::extract::authentication;
use crate::layer::{ResponseBody, ResponseFuture};

mod require;

pub use require::{RequireClaims, RequireRoles, RequireScope};

/// Where roles live in the claims: `roles` by default, or a nested path such as
/// `realm_access.roles` (Keycloak) or `resource_access.<client>.roles`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath {
    segments: Vec<String>,
}

impl ClaimPath {
    /// A path split on dots: `realm_access.roles`.
    pub fn dotted(path: &str) -> Result<Self, ConfigError> {
        Self::new(path.split('.'))
    }

    /// A path from explicit segments, for claim names that contain dots themselves
    /// (`["resource_access", "my.client", "roles"]`, `["https://example.com/roles"]`).
    pub fn new<I, S>(segments: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let segments: Vec<String> = segments.into_iter().map(Into::into).collect();
        if segments.is_empty() || segments.iter().any(String::is_empty) {
            return Err(ConfigError::InvalidRequirement(
                "empty claim path segment".into(),
            ));
        }
        Ok(Self { segments })
    }

    /// The path's segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The value at this path in a JSON object.
    pub fn lookup<'a>(&self, claims: &'a serde_json::Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        rest.iter()
            .try_fold(claims.get(first)?, |value, segment| value.get(segment))
    }
}

impl Default for ClaimPath {
    fn default() -> Self {
        Self {
            segments: vec!["roles".to_owned()],
        }
    }
}

/// What a token grants: roles and OAuth scopes. Implemented for [`JsonClaims`]; implement it
/// for your own claims type to guard routes with it (`RequireRoles::any([..])?.claims::<T>()`).
/// Both methods grant nothing by default, so a type with roles only implements `has_role`.
///
/// ```
/// use serde::Deserialize;
/// use tower_jwt_auth::guard::{ClaimPath, Grants};
///
/// #[derive(Clone, Deserialize)]
/// struct MyClaims {
///     roles: Vec<String>,
///     #[serde(default)]
///     scope: String,
/// }
///
/// impl Grants for MyClaims {
///     fn has_role(&self, _path: &ClaimPath, role: &str) -> bool {
///         self.roles.iter().any(|r| r == role)
///     }
///     fn has_scope(&self, scope: &str) -> bool {
///         tower_jwt_auth::guard::scope_list_contains(&self.scope, scope)
///     }
/// }
/// ```
pub trait Grants {
    /// Whether the roles at `path` contain `role`, exactly and case-sensitively. By default a
    /// token grants no role.
    fn has_role(&self, path: &ClaimPath, role: &str) -> bool {
        let _ = (path, role);
        false
    }

    /// Whether the token's scopes contain `scope`, exactly (`read` never matches `read:all`).
    /// By default a token grants no scope.
    fn has_scope(&self, scope: &str) -> bool {
        let _ = scope;
        false
    }
}

/// Whether a space-delimited scope list (RFC 6749 §3.3) contains `scope` as a whole token.
pub fn scope_list_contains(list: &str, scope: &str) -> bool {
    // Double spaces leave empty tokens, which must not match an empty scope.
    !scope.is_empty() && list.split(' ').any(|granted| granted == scope)
}

impl Grants for JsonClaims {
    /// Roles must be a JSON array of strings; a string claim is not split, so `"roles": "admin"`
    /// grants nothing.
    fn has_role(&self, path: &ClaimPath, role: &str) -> bool {
        matches!(path.lookup(&self.0), Some(Value::Array(roles))
            if roles.iter().any(|granted| granted.as_str() == Some(role)))
    }

    /// Scopes come from `scope` (a space-delimited string, RFC 8693 §4.2) or `scp` (an array of
    /// strings, or a space-delimited string as Entra ID sends it).
    fn has_scope(&self, scope: &str) -> bool {
        let in_scope = self.get("scope").and_then(Value::as_str);
        let in_scp = match self.get("scp") {
            Some(Value::Array(scopes)) => scopes.iter().any(|s| s.as_str() == Some(scope)),
            Some(Value::String(list)) => scope_list_contains(list, scope),
            _ => false,
        };
        in_scp || in_scope.is_some_and(|list| scope_list_contains(list, scope))
    }
}

/// Whether a guard wants one of its values or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    Any,
    All,
}

impl Match {
    /// How a refusal falls short, for the logs.
    fn missing(self) -> &'static str {
        match self {
            Self::Any => "none",
            Self::All => "not all",
        }
    }

    fn check(self, required: &[String], granted: impl Fn(&str) -> bool) -> bool {
        match self {
            Self::Any => required.iter().any(|value| granted(value)),
            Self::All => required.iter().all(|value| granted(value)),
        }
    }
}

/// The decision a guard makes for verified claims.
trait Rule<C>: Send + Sync + 'static {
    fn check(&self, claims: &C) -> Result<(), AuthError>;

    /// The guard's name, for the logs.
    fn name(&self) -> &'static str;

    /// What the guard requires, for the DEBUG event of a refusal: the configuration's values,
    /// never the token's.
    fn requirement(&self) -> String;
}

#[derive(Clone)]
struct RoleRule {
    roles: Vec<String>,
    path: ClaimPath,
    matching: Match,
}

impl<C: Grants> Rule<C> for RoleRule {
    fn check(&self, claims: &C) -> Result<(), AuthError> {
        let granted = self
            .matching
            .check(&self.roles, |role| claims.has_role(&self.path, role));
        if granted {
            Ok(())
        } else {
            Err(AuthError::InsufficientRole)
        }
    }

    fn name(&self) -> &'static str {
        "RequireRoles"
    }

    fn requirement(&self) -> String {
        format!(
            "refused: the roles at `{}` hold {} of {:?}",
            self.path.segments.join("."),
            self.matching.missing(),
            self.roles
        )
    }
}

#[derive(Clone)]
struct ScopeRule {
    scopes: Vec<String>,
    shown: Arc<str>,
    matching: Match,
}

impl<C: Grants> Rule<C> for ScopeRule {
    fn check(&self, claims: &C) -> Result<(), AuthError> {
        if self
            .matching
            .check(&self.scopes, |scope| claims.has_scope(scope))
        {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: self.shown.clone(),
            })
        }
    }

    fn name(&self) -> &'static str {
        "RequireScope"
    }

    fn requirement(&self) -> String {
        format!(
            "refused: the token's scopes hold {} of {:?}",
            self.matching.missing(),
            self.scopes
        )
    }
}

struct PredicateRule<F>(F);

impl<C, F> Rule<C> for PredicateRule<F>
where
    F: Fn(&C) -> bool + Send + Sync + 'static,
{
    fn check(&self, claims: &C) -> Result<(), AuthError> {
        if (self.0)(claims) {
            Ok(())
        } else {
            Err(AuthError::InsufficientClaims)
        }
    }

    fn name(&self) -> &'static str {
        "RequireClaims"
    }

    fn requirement(&self) -> String {
        "refused: the predicate returned false".to_owned()
    }
}

/// A guard layer of any kind: what [`RequireClaims`] builds, and what [`RequireRoles`] and
/// [`RequireScope`] convert into (`Guard::from`). Cheap to clone.
#[must_use = "a guard protects nothing until it wraps a service"]
pub struct Guard<C = JsonClaims> {
    rule: Arc<dyn Rule<C>>,
    allow_preflight: bool,
}

impl<C> Clone for Guard<C> {
    fn clone(&self) -> Self {
        Self {
            rule: self.rule.clone(),
            allow_preflight: self.allow_preflight,
        }
    }
}

impl<C> fmt::Debug for Guard<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("allow_preflight", &self.allow_preflight)
            .finish()
    }
}

impl<C> Guard<C> {
    fn new(rule: impl Rule<C>) -> Self {
        Self {
            rule: Arc::new(rule),
            allow_preflight: false,
        }
    }

    /// Lets CORS preflight requests (`OPTIONS` with `Access-Control-Request-Method`) through
    /// unchecked, for routes where a CORS layer sits inside the guard. Default: off, so a guard
    /// never lets anything through that its owner did not ask for.
    pub fn allow_preflight(mut self) -> Self {
        self.allow_preflight = true;
        self
    }
}

impl<S, C> Layer<S> for Guard<C> {
    type Service = GuardService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.clone(),
        }
    }
}

/// The service a [`Guard`] wraps around an inner service.
pub struct GuardService<S, C = JsonClaims> {
    inner: S,
    guard: Guard<C>,
}

impl<S: Clone, C> Clone for GuardService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for GuardService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for GuardService<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    C: Send + Sync + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if self.guard.allow_preflight && is_preflight(&request) {
            return ResponseFuture::inner(self.inner.call(request), None);
        }
        let verdict = match authentication::claims::<C>(request.extensions_mut()) {
            Ok(claims) => self.guard.rule.check(&claims).inspect_err(|error| {
                tracing::debug!(
                    target: "tower_jwt_auth",
                    guard = self.guard.rule.name(),
                    "{}",
                    self.guard.rule.requirement(),
                );
                error.trace();
                crate::telemetry::guard_refused(self.guard.rule.name(), error);
            }),
            Err(absent) => Err(authentication::refusal(
                absent,
                self.guard.rule.name(),
                Some((request.method(), request.uri().path())),
            )),
        };
        match verdict {
            Ok(()) => ResponseFuture::inner(self.inner.call(request), None),
            Err(error) => ResponseFuture::rejected(Rendering::of(&request, &error)),
        }
    }
}

fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> JsonClaims {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn roles_match_exact_elements_of_an_array_only() {
        let path = ClaimPath::default();
        let c = claims(json!({ "roles": ["admin", "Admin ", 7] }));
        assert!(c.has_role(&path, "admin"));
        for near_miss in ["Admin", "admin ", "adm", "7"] {
            assert!(!c.has_role(&path, near_miss), "{near_miss:?}");
        }
        assert!(!claims(json!({ "roles": "admin" })).has_role(&path, "admin"));
    }

    #[test]
    fn nested_role_paths_are_followed() {
        let c = claims(json!({
            "realm_access": { "roles": ["admin"] },
            "resource_access": { "my.client": { "roles": ["editor"] } },
        }));
        assert!(c.has_role(&ClaimPath::dotted("realm_access.roles").unwrap(), "admin"));
        let client = ClaimPath::new(["resource_access", "my.client", "roles"]).unwrap();
        assert!(c.has_role(&client, "editor"));
        assert!(!c.has_role(
            &ClaimPath::dotted("resource_access.my.client.roles").unwrap(),
            "editor"
        ));
    }

    #[test]
    fn scopes_match_whole_tokens() {
        let c = claims(json!({ "scope": "read:all  readwrite write" }));
        assert!(c.has_scope("write"));
        assert!(!c.has_scope("read"));
        assert!(!c.has_scope(""));
        assert!(claims(json!({ "scp": ["read", "write"] })).has_scope("read"));
        assert!(claims(json!({ "scp": "read write" })).has_scope("write"));
        assert!(!claims(json!({ "scope": ["read"] })).has_scope("read"));
    }

    #[test]
    fn requirements_are_validated_once() {
        assert!(RequireScope::any(Vec::<String>::new()).is_err());
        assert!(RequireScope::any(["a b"]).is_err());
        assert!(RequireScope::any(["a\"b"]).is_err());
        assert!(RequireRoles::any([""]).is_err());
        assert!(ClaimPath::dotted("a..b").is_err());
    }
}
