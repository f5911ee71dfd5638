//! The guards applications name: [`RequireRoles`], [`RequireScope`] and [`RequireClaims`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use tower_layer::Layer;

use super::{ClaimPath, Grants, Guard, GuardService, Match, PredicateRule, RoleRule, ScopeRule};
use crate::claims::JsonClaims;
use crate::error::ConfigError;

/// What [`RequireRoles`] and [`RequireScope`] share: naming the layer's claims type,
/// preflight requests, and being a layer that is a [`Guard`].
macro_rules! guard_adapters {
    ($guard:ident, $what:literal) => {
        impl<C> $guard<C> {
            #[doc = concat!("Reads the ", $what, " from the claims type `D` of the layer in front")]
            /// (through its [`Grants`]) instead of [`JsonClaims`].
            pub fn claims<D>(self) -> $guard<D> {
                $guard {
                    rule: self.rule,
                    allow_preflight: self.allow_preflight,
                    _claims: PhantomData,
                }
            }

            /// See [`Guard::allow_preflight`].
            pub fn allow_preflight(mut self) -> Self {
                self.allow_preflight = true;
                self
            }
        }

        impl<C> Clone for $guard<C> {
            fn clone(&self) -> Self {
                Self {
                    rule: self.rule.clone(),
                    allow_preflight: self.allow_preflight,
                    _claims: PhantomData,
                }
            }
        }

        impl<S, C: Grants + Send + Sync + 'static> Layer<S> for $guard<C> {
            type Service = GuardService<S, C>;

            fn layer(&self, inner: S) -> Self::Service {
                Guard::from(self.clone()).layer(inner)
            }
        }

        /// The guard it is, to keep guards of different kinds in one type.
        impl<C: Grants + Send + Sync + 'static> From<$guard<C>> for Guard<C> {
            fn from(guard: $guard<C>) -> Self {
                Self {
                    rule: Arc::new(guard.rule),
                    allow_preflight: guard.allow_preflight,
                }
            }
        }
    };
}

/// Requires roles from the claims: [`any`](RequireRoles::any) of them or
/// [`all`](RequireRoles::all), read from the `roles` claim unless [`at`](RequireRoles::at) says
/// where, for [`JsonClaims`] unless [`claims`](RequireRoles::claims) names the layer's type.
/// Refusal: 403 `insufficient_scope`, `Insufficient role.`
///
/// ```
/// use tower_jwt_auth::RequireRoles;
/// use tower_jwt_auth::guard::ClaimPath;
///
/// # fn main() -> Result<(), tower_jwt_auth::error::ConfigError> {
/// let admins = RequireRoles::any(["admin"])?;
/// let keycloak_admins =
///     RequireRoles::any(["admin"])?.at(ClaimPath::dotted("realm_access.roles")?);
/// # let _ = (admins, keycloak_admins);
/// # Ok(())
/// # }
/// ```
#[must_use = "a guard protects nothing until it wraps a service"]
pub struct RequireRoles<C = JsonClaims> {
    rule: RoleRule,
    allow_preflight: bool,
    _claims: PhantomData<fn() -> C>,
}

impl RequireRoles<JsonClaims> {
    /// One of `roles`.
    pub fn any<I, S>(roles: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with(Match::Any, roles)
    }

    /// Every one of `roles`.
    pub fn all<I, S>(roles: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with(Match::All, roles)
    }

    fn with<I, S>(matching: Match, roles: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let roles = required_values("role", roles, |_| true)?;
        Ok(Self {
            rule: RoleRule {
                roles,
                path: ClaimPath::default(),
                matching,
            },
            allow_preflight: false,
            _claims: PhantomData,
        })
    }
}

impl<C> RequireRoles<C> {
    /// Reads the roles at `path` (`ClaimPath::dotted("realm_access.roles")?`) instead of the
    /// `roles` claim.
    pub fn at(mut self, path: ClaimPath) -> Self {
        self.rule.path = path;
        self
    }
}

impl<C> fmt::Debug for RequireRoles<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireRoles")
            .field("roles", &self.rule.roles)
            .field("path", &self.rule.path)
            .field("matching", &self.rule.matching)
            .finish_non_exhaustive()
    }
}

guard_adapters!(RequireRoles, "roles");

/// Requires OAuth scopes (RFC 6749 §3.3): [`any`](RequireScope::any) of them or
/// [`all`](RequireScope::all), for [`JsonClaims`] unless [`claims`](RequireScope::claims)
/// names the layer's type. Refusal: 403 `insufficient_scope`, `Insufficient scope.`, and the
/// required scopes in the challenge's `scope` attribute (RFC 6750 §3.1).
#[must_use = "a guard protects nothing until it wraps a service"]
pub struct RequireScope<C = JsonClaims> {
    rule: ScopeRule,
    allow_preflight: bool,
    _claims: PhantomData<fn() -> C>,
}

impl RequireScope<JsonClaims> {
    /// One of `scopes`.
    pub fn any<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with(Match::Any, scopes)
    }

    /// Every one of `scopes`.
    pub fn all<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with(Match::All, scopes)
    }

    fn with<I, S>(matching: Match, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        let scopes = required_values("scope", scopes, |scope| {
            scope
                .bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        })?;
        let shown = scopes.join(" ").into();
        Ok(Self {
            rule: ScopeRule {
                scopes,
                shown,
                matching,
            },
            allow_preflight: false,
            _claims: PhantomData,
        })
    }
}

impl<C> fmt::Debug for RequireScope<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScope")
            .field("scopes", &self.rule.scopes)
            .field("matching", &self.rule.matching)
            .finish_non_exhaustive()
    }
}

guard_adapters!(RequireScope, "scopes");

/// Requires a predicate over the claims, for what roles and scopes do not cover (a tenant,
/// `email_verified`, …). Refusal: 403 `insufficient_scope`, `Insufficient claims.`
///
/// ```
/// use tower_jwt_auth::{RequireClaims, claims::JsonClaims};
///
/// let verified_email = RequireClaims::matching(|claims: &JsonClaims| {
///     claims.get("email_verified") == Some(&serde_json::Value::Bool(true))
/// });
/// # let _ = verified_email;
/// ```
#[derive(Debug)]
pub struct RequireClaims;

impl RequireClaims {
    /// A guard that lets a request through when `predicate` returns `true`.
    pub fn matching<C, F>(predicate: F) -> Guard<C>
    where
        C: Send + Sync + 'static,
        F: Fn(&C) -> bool + Send + Sync + 'static,
    {
        Guard::new(PredicateRule(predicate))
    }
}

fn required_values<I, S>(
    what: &str,
    values: I,
    valid: impl Fn(&str) -> bool,
) -> Result<Vec<String>, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let values: Vec<String> = values.into_iter().map(Into::into).collect();
    if values.is_empty() {
        return Err(ConfigError::InvalidRequirement(format!("no {what} given")));
    }
    if let Some(bad) = values
        .iter()
        .find(|value| value.is_empty() || !valid(value))
    {
        return Err(ConfigError::InvalidRequirement(format!(
            "invalid {what} {bad:?}"
        )));
    }
    Ok(values)
}

/// `any` is one alternative per value, `all` one alternative of every value.
#[cfg(feature = "utoipa")]
fn alternatives(values: &[String], matching: Match) -> Vec<Vec<String>> {
    match matching {
        Match::Any => values.iter().map(|value| vec![value.clone()]).collect(),
        Match::All => vec![values.to_vec()],
    }
}

#[cfg(feature = "utoipa")]
impl<C> crate::openapi::RequiredScopes for RequireScope<C> {
    fn required_scopes(&self) -> Vec<Vec<String>> {
        alternatives(&self.rule.scopes, self.rule.matching)
    }
}

#[cfg(feature = "utoipa")]
impl<C> crate::openapi::RequiredScopes for RequireRoles<C> {
    fn required_scopes(&self) -> Vec<Vec<String>> {
        alternatives(&self.rule.roles, self.rule.matching)
    }
}
