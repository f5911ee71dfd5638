//! [`Tenant`]: one of the issuers a layer trusts, with its own keys and rules.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::keys::Key;
use crate::request::FromHead;

/// One issuer a multi-tenant layer trusts ([`JwtLayerBuilder::tenant`](super::JwtLayerBuilder::tenant)),
/// with its own keys (static or remote), audiences, algorithms, `typ`, leeway and `max_age`.
/// What a tenant leaves unset it takes from the layer's builder.
///
/// The token's `iss` picks the tenant before any key is tried: a token whose `iss` no tenant
/// trusts is refused (`jwt issuer invalid`) without a key lookup or a fetch. Or a
/// [`tenant_resolver`](super::JwtLayerBuilder::tenant_resolver) picks it from the request (each
/// tenant on its own domain), and the token's `iss` must then be that tenant's. Tenants share
/// the layer's cache, revocation check, user lookup and error rendering.
///
/// ```
/// use tower_jwt_auth::layer::Tenant;
/// use tower_jwt_auth::{Algorithm, JwtLayer, Key};
///
/// # fn main() -> Result<(), tower_jwt_auth::error::ConfigError> {
/// let layer = JwtLayer::builder()
///     .tenant(
///         Tenant::new("https://a.example.com")
///             .key(Key::hmac(b"tenant A's secret, 32 bytes or more"))
///             .audience("api-a"),
///     )
///     .tenant(
///         Tenant::new("https://b.example.com")
///             .key(Key::hmac(b"tenant B's secret, 32 bytes or more").with_algorithm(Algorithm::HS512))
///             .audience("api-b")
///             .leeway(std::time::Duration::from_secs(30)),
///     )
///     .build();
/// # assert!(layer.is_err(), "B's secret is too short for HS512");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a tenant is trusted only once given to JwtLayerBuilder::tenant"]
pub struct Tenant {
    pub(crate) issuer: String,
    pub(crate) keys: Vec<Key>,
    #[cfg(feature = "jwks")]
    pub(crate) remote_keys: Option<crate::keys::jwks::RemoteKeySet>,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) typ: Option<String>,
    pub(crate) leeway: Option<Duration>,
    pub(crate) max_age: Option<Duration>,
}

impl Tenant {
    /// The tenant whose tokens carry `iss: issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: Vec::new(),
            #[cfg(feature = "jwks")]
            remote_keys: None,
            audiences: Vec::new(),
            algorithms: None,
            typ: None,
            leeway: None,
            max_age: None,
        }
    }

    /// A key of this tenant's (several are chosen by `kid`).
    pub fn key(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Keys of this tenant's.
    pub fn keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.keys.extend(keys);
        self
    }

    /// This tenant's keys, fetched from its identity provider (feature `jwks`).
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn remote_keys(mut self, keys: crate::keys::jwks::RemoteKeySet) -> Self {
        self.remote_keys = Some(keys);
        self
    }

    /// An audience this tenant's tokens may carry (one of them is enough). Default: the
    /// layer's.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The algorithms this tenant's tokens may use. Default: the layer's allow-list.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// The header `typ` this tenant's tokens must carry. Default: the layer's.
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The leeway for this tenant's time claims. Default: the layer's.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// The oldest `iat` this tenant's tokens may have. Default: the layer's.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }
}

/// Picks the tenant of a request: the issuer of the tenant, or `None` for a request no tenant
/// serves.
#[derive(Clone)]
pub(crate) struct TenantResolver(pub(crate) Arc<FromHead>);

impl fmt::Debug for TenantResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TenantResolver(..)")
    }
}
