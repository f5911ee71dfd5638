//! [`JwtLayerBuilder`]: every option, validated once by `build`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;

use crate::checks::{AsyncChecks, DEFAULT_BACKEND_TIMEOUT};
use crate::claims::JsonClaims;
use crate::clock::Clock;
use crate::error::{
    BoxError, ConfigError, DefaultErrorHandler, DpopChallenge, ErrorHandler, Rendering,
    is_rfc6750_char,
};
use crate::issuer::JwtIssuer;
use crate::keys::{self, Key, KeySource};
use crate::revocation::{RevocationStore, RevokedIf, Revoker, RevokerPolicy, TokenFacts};
use crate::session::{CookieSessions, CsrfKey, SessionCookie};
use crate::source::TokenSource;
use crate::user::{self, UserLookup};
use crate::verify::cache::{DEFAULT_CACHE_TTL, VerifiedTokens};
use crate::verify::{Expectation, Rules, Verifier};

use super::dpop::{DpopMode, LayerDpop};
use super::tenant::{Tenant, TenantResolver};
use super::{DEFAULT_MAX_LIFETIME, DEFAULT_MAX_TOKEN_LEN, JwtLayer, MAX_LEEWAY, Mode, Shared};
use crate::dpop::{DpopVerifier, RequestOrigin};
use crate::request::RequestHead;
use crate::verify::TenantVerifier;

/// Configures and validates a [`JwtLayer`]. Every option has a safe default; [`build`] checks the
/// whole configuration once and refuses a bad one.
///
/// [`build`]: JwtLayerBuilder::build
#[must_use = "a builder does nothing until `build` is called"]
pub struct JwtLayerBuilder<C> {
    keys: Vec<Key>,
    algorithms: Option<Vec<Algorithm>>,
    source: TokenSource,
    mode: Mode,
    leeway: Duration,
    validate_nbf: bool,
    max_age: Option<Duration>,
    max_lifetime: Duration,
    audiences: Vec<String>,
    issuers: Vec<String>,
    subject: Option<String>,
    typ: Option<String>,
    max_token_len: usize,
    realm: Option<String>,
    resource_metadata: Option<String>,
    error_handler: Option<Arc<dyn ErrorHandler>>,
    clock: Clock,
    revocations: Option<(Arc<dyn RevocationStore>, bool)>,
    user_lookup: Option<UserLookup>,
    backend_timeout: Duration,
    revocation_fail_open: bool,
    subject_revocation_ttl: Option<Duration>,
    cache_capacity: Option<u64>,
    cache_ttl: Duration,
    session: Option<JwtIssuer>,
    session_cookie: SessionCookie,
    csrf_protection: bool,
    csrf_secret: Option<Vec<u8>>,
    expose_token: bool,
    trace_subject: bool,
    #[cfg(feature = "jwks")]
    remote_keys: Option<crate::keys::jwks::RemoteKeySet>,
    #[cfg(feature = "jwks")]
    issuer_keys: Vec<(String, crate::keys::jwks::RemoteKeySet)>,
    tenants: Vec<Tenant>,
    tenant_resolver: Option<TenantResolver>,
    dpop: Option<(DpopMode, DpopVerifier)>,
    dpop_origin: Option<RequestOrigin>,
    _claims: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for JwtLayerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayerBuilder")
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .field("source", &self.source)
            .field("mode", &self.mode)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtLayerBuilder<JsonClaims> {
    pub(super) fn new() -> Self {
        Self {
            keys: Vec::new(),
            algorithms: None,
            source: TokenSource::Header,
            mode: Mode::Required,
            leeway: Duration::ZERO,
            validate_nbf: true,
            max_age: None,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            audiences: Vec::new(),
            issuers: Vec::new(),
            subject: None,
            typ: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            realm: None,
            resource_metadata: None,
            error_handler: None,
            clock: Clock::default(),
            revocations: None,
            user_lookup: None,
            backend_timeout: DEFAULT_BACKEND_TIMEOUT,
            revocation_fail_open: false,
            subject_revocation_ttl: None,
            cache_capacity: None,
            cache_ttl: DEFAULT_CACHE_TTL,
            session: None,
            session_cookie: SessionCookie::default(),
            csrf_protection: true,
            csrf_secret: None,
            expose_token: false,
            trace_subject: true,
            #[cfg(feature = "jwks")]
            remote_keys: None,
            #[cfg(feature = "jwks")]
            issuer_keys: Vec::new(),
            tenants: Vec::new(),
            tenant_resolver: None,
            dpop: None,
            dpop_origin: None,
            _claims: PhantomData,
        }
    }
}

impl<C> JwtLayerBuilder<C> {
    /// The type the payload is deserialized into (default [`JsonClaims`]). A payload that does
    /// not fit it is refused with `invalid token`.
    pub fn claims<T>(self) -> JwtLayerBuilder<T> {
        JwtLayerBuilder {
            keys: self.keys,
            algorithms: self.algorithms,
            source: self.source,
            mode: self.mode,
            leeway: self.leeway,
            validate_nbf: self.validate_nbf,
            max_age: self.max_age,
            max_lifetime: self.max_lifetime,
            audiences: self.audiences,
            issuers: self.issuers,
            subject: self.subject,
            typ: self.typ,
            max_token_len: self.max_token_len,
            realm: self.realm,
            resource_metadata: self.resource_metadata,
            error_handler: self.error_handler,
            clock: self.clock,
            revocations: self.revocations,
            user_lookup: self.user_lookup,
            backend_timeout: self.backend_timeout,
            revocation_fail_open: self.revocation_fail_open,
            subject_revocation_ttl: self.subject_revocation_ttl,
            cache_capacity: self.cache_capacity,
            cache_ttl: self.cache_ttl,
            session: self.session,
            session_cookie: self.session_cookie,
            csrf_protection: self.csrf_protection,
            csrf_secret: self.csrf_secret,
            expose_token: self.expose_token,
            trace_subject: self.trace_subject,
            #[cfg(feature = "jwks")]
            remote_keys: self.remote_keys,
            #[cfg(feature = "jwks")]
            issuer_keys: self.issuer_keys,
            tenants: self.tenants,
            tenant_resolver: self.tenant_resolver,
            dpop: self.dpop,
            dpop_origin: self.dpop_origin,
            _claims: PhantomData,
        }
    }

    /// Adds a verification key. With several keys, each needs a distinct `kid` and tokens must
    /// name theirs. Required: at least one key.
    pub fn key(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Verifies with keys fetched from an identity provider (cargo feature `jwks`) instead of
    /// static keys. The layer's [`algorithms`](Self::algorithms), when set, further restrict
    /// what the fetched keys may verify.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn remote_keys(mut self, keys: crate::keys::jwks::RemoteKeySet) -> Self {
        self.remote_keys = Some(keys);
        self
    }

    /// Trusts `issuer` with its own remote key set (multi-tenant; cargo feature `jwks`). The
    /// token's `iss` picks the key set, only among the configured issuers, and is then verified
    /// like any other claim: `issuer` is added to the accepted issuers.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn issuer_keys(
        mut self,
        issuer: impl Into<String>,
        keys: crate::keys::jwks::RemoteKeySet,
    ) -> Self {
        self.issuer_keys.push((issuer.into(), keys));
        self
    }

    /// Trusts another issuer, with its own keys and rules: see [`Tenant`]. With tenants, the
    /// layer's own keys, remote keys and issuers are not used (configuring both is an error);
    /// its other rules are the tenants' defaults.
    pub fn tenant(mut self, tenant: Tenant) -> Self {
        self.tenants.push(tenant);
        self
    }

    /// Picks the tenant from the request rather than from the token: `resolve` returns the
    /// issuer of the request's tenant (by its `Host`, a path prefix, …), or `None` for a request
    /// no tenant serves (refused as `jwt issuer invalid`). The token's `iss` must then be that
    /// issuer. An issuer no tenant has is the resolver's mistake: a 500 and an ERROR event.
    /// Needs tenants.
    pub fn tenant_resolver(
        mut self,
        resolve: impl Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.tenant_resolver = Some(TenantResolver(Arc::new(resolve)));
        self
    }

    /// Adds several keys (a static key set, for rotation).
    pub fn keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.keys.extend(keys);
        self
    }

    /// The algorithms accepted. Each key verifies only the listed algorithms of its own family
    /// (and curve); every listed algorithm needs a key. Default: per key, the usual algorithm of
    /// its family (HS256, RS256, ES256 or ES384 by curve, EdDSA), so nothing is accepted that
    /// was not asked for. `none` can never be allowed.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Where the token is read from. Default: [`TokenSource::Header`].
    pub fn source(mut self, source: TokenSource) -> Self {
        self.source = source;
        self
    }

    /// Required (default) or optional authentication.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Shorthand for [`mode(Mode::Optional)`](Self::mode).
    pub fn optional(self) -> Self {
        self.mode(Mode::Optional)
    }

    /// Clock skew tolerated on `exp`, `nbf`, `iat` and `max_age`, in whole seconds. Default: zero,
    /// as node `jsonwebtoken`; at most five minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether `nbf` is checked. Default: `true`.
    pub fn validate_nbf(mut self, validate: bool) -> Self {
        self.validate_nbf = validate;
        self
    }

    /// Refuses tokens whose `iat` is older than `max_age` (node `jsonwebtoken`'s `maxAge`); makes
    /// `iat` required. Default: off.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Refuses tokens whose `exp` lies more than `max_lifetime` after their `iat` (or after now,
    /// without `iat`), so a token minted "forever" (`exp` = 2^64 − 1) by a careless or
    /// compromised issuer is not accepted. Default: [`DEFAULT_MAX_LIFETIME`] (one year); set it
    /// to your longest token lifetime. `Duration::MAX` removes the bound, leaving lifetimes to
    /// the issuer.
    ///
    /// It is also how long a "log out everywhere" is remembered unless
    /// [`subject_revocation_ttl`](Self::subject_revocation_ttl) says otherwise: no token of
    /// this layer can outlive it.
    pub fn max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = max_lifetime;
        self
    }

    /// Adds an accepted audience; `aud` becomes required and must contain one of them. Default:
    /// `aud` is not checked.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds an accepted issuer; `iss` becomes required and must equal one of them. Default: `iss`
    /// is not checked.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// The required subject; `sub` must equal it. Default: `sub` is not checked.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The required header `typ`, such as `at+jwt` for RFC 9068 access tokens, compared
    /// case-insensitively with an optional `application/` prefix. Default: `typ` is not checked.
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The longest token accepted, in bytes; longer ones are refused before any decoding.
    /// Default: [`DEFAULT_MAX_TOKEN_LEN`] (8 KiB).
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// A `realm` for the `WWW-Authenticate` challenge. Default: none. The guards behind the
    /// layer ([`RequireRoles`](crate::RequireRoles), [`RequireScope`](crate::RequireScope),
    /// [`RequireClaims`](crate::RequireClaims)) send it too.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The URL of the resource's metadata (RFC 9728), sent as `resource_metadata="…"` in every
    /// challenge of the layer and of the guards behind it, so that a client refused a token
    /// learns where to get one. [`ProtectedResourceMetadata::metadata_url`](crate::resource::ProtectedResourceMetadata::metadata_url)
    /// gives it; serve the document there. Default: none.
    ///
    /// [`build`](Self::build) refuses a URL that is not `https` (or `http` on a loopback host),
    /// and one given with an [`error_handler`](Self::error_handler), which writes the
    /// challenges itself.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Takes DPoP tokens (RFC 9449): `Authorization: DPoP <token>` with a proof in the `DPoP`
    /// header, which `verifier` checks once the token itself is verified, and the token's
    /// `cnf.jkt` must name the proof's key. With [`DpopMode::Allowed`] bearer tokens are taken
    /// too, except those bound to a key; with [`DpopMode::Required`] only DPoP tokens are.
    /// Refusals carry a `DPoP` challenge listing the verifier's algorithms (next to the
    /// `Bearer` one when bearer tokens are taken), and the proof of an accepted request is in
    /// its extensions as a [`DpopProof`](crate::dpop::DpopProof). Default: no DPoP, and the
    /// `DPoP` scheme is refused as any unknown scheme is.
    ///
    /// [`build`](Self::build) refuses DPoP with an [`error_handler`](Self::error_handler),
    /// which writes the challenges itself, and required DPoP with a token source that never
    /// reads the `Authorization` header.
    pub fn dpop(mut self, mode: DpopMode, verifier: DpopVerifier) -> Self {
        self.dpop = Some((mode, verifier));
        self
    }

    /// Where the URI a proof's `htu` must match comes from (see [`RequestOrigin`]): behind a
    /// proxy the request's own `Host` is not the one clients address. Default:
    /// [`RequestOrigin::Direct`]. Only with [`dpop`](Self::dpop).
    pub fn dpop_origin(mut self, origin: RequestOrigin) -> Self {
        self.dpop_origin = Some(origin);
        self
    }

    /// Replaces the JSON rendering of rejections. Default: [`AuthError::to_response`](crate::AuthError::to_response).
    ///
    /// The guards behind the layer render their 401 and 403 answers with it too: the layer
    /// hands it to them in the extensions of the requests it lets through.
    pub fn error_handler(mut self, handler: impl ErrorHandler) -> Self {
        self.error_handler = Some(Arc::new(handler));
        self
    }

    /// Replaces the system clock (seconds since the Unix epoch), for tests and simulations.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Clock::from_fn(clock);
        self
    }

    /// Checks every verified token against `store` (after the signature and claims, never
    /// before) and puts a [`Revoker`] into the request extensions, so handlers can log out.
    /// Revoked → 401 `jwt revoked`. Default: no revocation check.
    pub fn revocations(mut self, store: impl RevocationStore) -> Self {
        self.revocations = Some((Arc::new(store), true));
        self
    }

    /// Checks every verified token with an async closure returning whether it is revoked
    /// (FoalTS `blackList`). No [`Revoker`] is provided: the closure owns the list.
    pub fn revoked_if<F, Fut, E>(mut self, is_revoked: F) -> Self
    where
        F: Fn(TokenFacts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.revocations = Some((Arc::new(RevokedIf(is_revoked)), false));
        self
    }

    /// Looks the user up by the token's `sub` (FoalTS `user`) and puts it into the request
    /// extensions for the [`CurrentUser`](crate::CurrentUser) extractor.
    ///
    /// The closure decides how a `sub` maps to its id type: a `sub` it cannot parse is its
    /// `Ok(None)`. No string `sub` → 401 `The token must include a subject which is the id of
    /// the user.`; `Ok(None)` → 401 `The token subject does not match any user.`; `Err` or a
    /// timeout → 503. Default: no lookup.
    pub fn user_lookup<F, Fut, U, E>(mut self, lookup: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<U>, E>> + Send + 'static,
        U: Clone + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        self.user_lookup = Some(user::erase(lookup));
        self
    }

    /// The bound on each revocation check and user lookup; past it the request fails closed
    /// with 503 `temporarily_unavailable`. Default: one second. The asynchronous checks need a
    /// Tokio runtime with its timer (any axum or hyper-on-Tokio server has one).
    pub fn backend_timeout(mut self, timeout: Duration) -> Self {
        self.backend_timeout = timeout;
        self
    }

    /// Lets requests through when the revocation store fails or times out, instead of 503.
    ///
    /// Off by default, and think twice: while the store is down, revoked tokens (stolen ones,
    /// logged-out sessions) are accepted again until they expire. Every such request is logged
    /// at warn level. The user lookup always fails closed.
    pub fn revocation_fail_open(mut self) -> Self {
        self.revocation_fail_open = true;
        self
    }

    /// How long a "log out everywhere" ([`Revoker::revoke_subject`]) is remembered: the longest
    /// lifetime a token of this layer can have. Default: the shorter of `max_age` and
    /// [`max_lifetime`](Self::max_lifetime), plus the leeway, so no token it revoked can outlive
    /// it. A shorter value forgets the revocation while tokens it covers are still valid.
    pub fn subject_revocation_ttl(mut self, ttl: Duration) -> Self {
        self.subject_revocation_ttl = Some(ttl);
        self
    }

    /// Also hands the raw token to the inner service: the request extensions get the
    /// [`BearerToken`](crate::source::BearerToken) next to the claims, for the [`BearerToken`](crate::source::BearerToken) extractor (or
    /// `extensions().get::<BearerToken>()`). Off by default.
    ///
    /// Turn it on for handlers that pass the user's token on to another service. Off, the
    /// token goes no further than the layer: a bearer credential that nothing behind the layer
    /// holds cannot leak from there, and an accepted request spends nothing on it (handing it
    /// over is one more extension entry, and one more allocation, per request). Handlers that
    /// revoke the current token need no raw token: with a revocation store configured they get
    /// [`TokenFacts`] and [`Revoker`].
    ///
    /// Without it, a handler asking for `BearerToken` is refused with a 401 and a trace event
    /// naming this method.
    pub fn expose_token(mut self) -> Self {
        self.expose_token = true;
        self
    }

    /// Whether the decision span records the token's `sub` (see [`telemetry`](crate::telemetry)).
    /// On by default: a subject is an account's id, which operators need to follow a user's
    /// requests. Turn it off where a subject is personal data your traces must not hold (an
    /// email address, say).
    pub fn trace_subject(mut self, record: bool) -> Self {
        self.trace_subject = record;
        self
    }

    /// Keeps up to `capacity` verified tokens, so a token seen again skips the signature check
    /// and the parse. Off by default.
    ///
    /// A hit is a token whose exact bytes were verified before (the whole token is the key, not
    /// a hash of it). It still has its `exp`, `nbf`, `iat` and `max_age` checked against the
    /// clock, and still goes through the revocation check and the user lookup; every other rule
    /// depends only on the token and the configuration, which do not change. An entry lives
    /// until its token expires, and never longer than [`cache_ttl`](Self::cache_ttl).
    ///
    /// Without a [`clock`](Self::clock), a hit reads the time from Linux's coarse clock, which
    /// costs a few nanoseconds where the precise one costs tens, and turns to the precise clock
    /// whenever a deadline or a time claim is within a second or two: the verdicts are those
    /// of the precise clock.
    ///
    /// Memory: up to `capacity` entries of the token plus its claims (about the token's length
    /// twice, plus your claims type).
    ///
    /// Once the cache is full (it has evicted an entry for room), a token is stored at its
    /// second miss within a window of about `capacity` misses, not its first: tokens seen once
    /// no longer push out those that come back, and a churn of more distinct tokens than the
    /// cache holds costs about what no cache costs, rather than an insertion and an eviction
    /// per request.
    ///
    /// When not to enable it:
    /// - Clients rarely send the same token twice (a token per request, short-lived one-shot
    ///   tokens): every request is a miss.
    /// - A key removed from the identity provider's JWKS must stop working at once: cached
    ///   tokens signed with it keep passing until their entry expires (bounded by
    ///   [`cache_ttl`](Self::cache_ttl)). Revoke the tokens, or keep the TTL short.
    /// - Memory is tight and tokens are large.
    ///
    /// A zero capacity is refused by [`build`](Self::build).
    pub fn cache(mut self, capacity: u64) -> Self {
        self.cache_capacity = Some(capacity);
        self
    }

    /// The longest a verified token stays in the [`cache`](Self::cache), however long it is
    /// valid. Default: five minutes. Entries are timed in whole seconds of the clock the
    /// tokens' `exp` is judged by (a fraction of a second is dropped), so a TTL under a second
    /// is refused by [`build`](Self::build).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Lets handlers start and end cookie sessions: a response carrying [`SetSession`](crate::session::SetSession) gets its
    /// claims signed by `issuer` into the auth cookie (and the `XSRF-TOKEN` cookie beside it), one
    /// carrying [`ClearSession`](crate::session::ClearSession) gets both cleared; other responses keep the cookies as they are,
    /// unless sliding renewal is on ([`SessionCookie::sliding`]). The cookies' attributes come
    /// from [`session_cookie`](Self::session_cookie).
    ///
    /// Put a layer with a session on the login route too (in [`optional`](Self::optional) mode):
    /// that is where `SetSession` is answered.
    pub fn session(mut self, issuer: JwtIssuer) -> Self {
        self.session = Some(issuer);
        self
    }

    /// The session cookies' name and attributes (see [`SessionCookie`]).
    pub fn session_cookie(mut self, cookie: SessionCookie) -> Self {
        self.session_cookie = cookie;
        self
    }

    /// CSRF protection for cookie authentication, on by default: an unsafe request (anything
    /// but `GET`, `HEAD`, `OPTIONS`, `TRACE`) whose token came from a cookie must carry the
    /// session's CSRF token (the `XSRF-TOKEN` cookie's value) in `X-CSRF-Token` or
    /// `X-XSRF-Token`, or gets 403 `invalid_csrf_token`. Requests authenticated by the
    /// `Authorization` header are not concerned: a browser never adds it on its own.
    ///
    /// Turn it off only when the cookie is `SameSite=Strict` and every client is a browser
    /// that honours it, or when another CSRF defence is in place.
    pub fn csrf_protection(mut self, enabled: bool) -> Self {
        self.csrf_protection = enabled;
        self
    }

    /// The secret CSRF tokens are derived from. Default: derived from the
    /// [`session`](Self::session) issuer's key, so instances sharing the issuer agree; without
    /// a session, a random secret per process, which other instances do not share.
    pub fn csrf_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.csrf_secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Validates the configuration and builds the layer.
    #[cfg_attr(not(feature = "jwks"), allow(unused_mut))]
    pub fn build(mut self) -> Result<JwtLayer<C>, ConfigError>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        let provider = keys::crypto_provider();
        let allowed = self.algorithms.clone();
        if self.max_token_len == 0 {
            return Err(ConfigError::ZeroSizeCap);
        }
        self.source.validate()?;
        if let Some(realm) = &self.realm
            && !realm.chars().all(is_rfc6750_char)
        {
            return Err(ConfigError::InvalidRealm);
        }
        if let Some(url) = &self.resource_metadata {
            crate::resource::metadata_url(url)?;
            if self.error_handler.is_some() {
                return Err(ConfigError::InvalidMetadata(
                    "resource_metadata is sent by the default rendering, and error_handler \
                     replaces it: send the parameter from the handler instead"
                        .to_owned(),
                ));
            }
        }
        let dpop = self.layer_dpop()?;
        // The longest a token may be accepted for, by any tenant: how long a revocation of a
        // whole subject must last.
        let mut longest_token = Duration::ZERO;
        let mut longest_leeway = Duration::ZERO;
        let mut tenants = Vec::new();
        if self.tenants.is_empty() {
            if self.tenant_resolver.is_some() {
                return Err(ConfigError::InvalidTenant(
                    "a tenant resolver needs tenants (JwtLayerBuilder::tenant)".into(),
                ));
            }
            let keys = self.own_keys(allowed.as_deref(), provider)?;
            let rules = self.rules(
                self.audiences.clone(),
                self.issuers.clone(),
                self.typ.clone(),
                self.leeway,
                self.max_age,
            )?;
            longest_token = self.longest_token(self.max_age);
            longest_leeway = self.leeway;
            tenants.push((None, TenantVerifier::new(keys, allowed, rules)));
        } else {
            #[cfg(feature = "jwks")]
            let remote = self.remote_keys.is_some() || !self.issuer_keys.is_empty();
            #[cfg(not(feature = "jwks"))]
            let remote = false;
            if !self.keys.is_empty() || remote || !self.issuers.is_empty() {
                return Err(ConfigError::InvalidTenant(
                    "the layer's own keys or issuers next to tenants: give each tenant its keys"
                        .into(),
                ));
            }
            for tenant in std::mem::take(&mut self.tenants) {
                if tenants
                    .iter()
                    .any(|(issuer, _)| issuer.as_deref() == Some(tenant.issuer.as_str()))
                {
                    return Err(ConfigError::InvalidTenant(format!(
                        "two tenants for the issuer {:?}",
                        tenant.issuer
                    )));
                }
                let leeway = tenant.leeway.unwrap_or(self.leeway);
                let max_age = tenant.max_age.or(self.max_age);
                longest_token = longest_token.max(self.longest_token(max_age));
                longest_leeway = longest_leeway.max(leeway);
                let allowed = tenant.algorithms.clone().or_else(|| allowed.clone());
                let keys = tenant_keys(&tenant, allowed.as_deref(), provider)?;
                let audiences = if tenant.audiences.is_empty() {
                    self.audiences.clone()
                } else {
                    tenant.audiences
                };
                let typ = tenant.typ.or_else(|| self.typ.clone());
                let issuers = vec![tenant.issuer.clone()];
                let rules = self.rules(audiences, issuers, typ, leeway, max_age)?;
                tenants.push((
                    Some(tenant.issuer),
                    TenantVerifier::new(keys, allowed, rules),
                ));
            }
        }
        if self.backend_timeout.is_zero() {
            return Err(ConfigError::ZeroBackendTimeout);
        }
        if self.cache_capacity == Some(0) || self.cache_ttl < Duration::from_secs(1) {
            return Err(ConfigError::EmptyCache);
        }
        let cache = self
            .cache_capacity
            .map(|capacity| VerifiedTokens::new(capacity, self.cache_ttl));
        let subject_ttl = self
            .subject_revocation_ttl
            .unwrap_or_else(|| longest_token.saturating_add(longest_leeway));
        let checks = (self.revocations.is_some() || self.user_lookup.is_some()).then(|| {
            let revoker = self.revocations.as_ref().and_then(|(store, can_revoke)| {
                can_revoke.then(|| {
                    let policy = RevokerPolicy {
                        leeway: longest_leeway,
                        subject_ttl,
                        timeout: self.backend_timeout,
                        clock: self.clock.clone(),
                    };
                    Revoker::new(store.clone(), policy)
                })
            });
            Arc::new(AsyncChecks {
                revocations: self.revocations.map(|(store, _)| store),
                revoker,
                user_lookup: self.user_lookup,
                timeout: self.backend_timeout,
                revocation_fail_open: self.revocation_fail_open,
            })
        });
        let custom = self.error_handler.is_some()
            || self.realm.is_some()
            || self.resource_metadata.is_some()
            || dpop.is_some();
        let error_handler = self.error_handler.unwrap_or_else(|| {
            Arc::new(DefaultErrorHandler {
                realm: self.realm.map(Into::into),
                resource_metadata: self.resource_metadata.map(Into::into),
                dpop: dpop.as_ref().map(|dpop| DpopChallenge {
                    algs: dpop.algs().into(),
                    bearer_too: dpop.mode == DpopMode::Allowed,
                    nonces: dpop
                        .verifier
                        .nonce()
                        .is_some()
                        .then(|| dpop.verifier.clone()),
                }),
            })
        });
        let rendering = custom.then(|| Rendering(error_handler.clone()));
        let protect = self.csrf_protection && self.source.cookie_name().is_some();
        // Keyed once, here: the CSRF check needs it, and so do sessions, which set the cookie.
        let csrf_key = match (&self.csrf_secret, &self.session) {
            _ if !protect && self.session.is_none() => None,
            (Some(secret), _) => Some(CsrfKey::from_secret(secret)?),
            (None, Some(issuer)) => Some(CsrfKey::from_issuer(issuer)?),
            (None, None) => Some(CsrfKey::process_wide()?),
        };
        let csrf = csrf_key.clone().filter(|_| protect);
        if self.session.is_some()
            && self
                .source
                .cookie_name()
                .is_some_and(|name| name != self.session_cookie.auth_cookie_name())
        {
            return Err(ConfigError::InvalidSessionCookie(
                "name differs from the token source's cookie",
            ));
        }
        let sessions = match (self.session, csrf_key) {
            (Some(issuer), Some(csrf_key)) => Some(Arc::new(CookieSessions::new(
                issuer,
                self.session_cookie,
                csrf_key,
            )?)),
            _ => None,
        };
        let verifier = Verifier::new(tenants, self.clock.clone(), self.max_token_len);
        Ok(JwtLayer {
            shared: Arc::new(Shared {
                verifier,
                source: self.source,
                mode: self.mode,
                error_handler,
                rendering,
                checks,
                cache,
                sessions,
                csrf,
                expose_token: self.expose_token,
                trace_subject: self.trace_subject,
                tenant_resolver: self.tenant_resolver,
                dpop,
            }),
        })
    }
}

impl<C> JwtLayerBuilder<C> {
    /// The DPoP configuration, checked against the rest.
    fn layer_dpop(&mut self) -> Result<Option<LayerDpop>, ConfigError> {
        let Some((mode, verifier)) = self.dpop.take() else {
            if self.dpop_origin.is_some() {
                return Err(ConfigError::InvalidDpop(
                    "dpop_origin without dpop: the origin is only used to check proofs".into(),
                ));
            }
            return Ok(None);
        };
        if self.error_handler.is_some() {
            return Err(ConfigError::InvalidDpop(
                "the DPoP challenges are sent by the default rendering, and error_handler \
                 replaces it"
                    .into(),
            ));
        }
        if mode == DpopMode::Required && !self.source.reads_authorization() {
            return Err(ConfigError::InvalidDpop(
                "DPoP is required and the token source never reads the Authorization header, \
                 where DPoP tokens come"
                    .into(),
            ));
        }
        Ok(Some(LayerDpop {
            verifier,
            origin: self.dpop_origin.take().unwrap_or_default(),
            mode,
        }))
    }

    /// The layer's own keys: static, or remote (feature `jwks`).
    fn own_keys(
        &mut self,
        allowed: Option<&[Algorithm]>,
        provider: &'static jsonwebtoken::crypto::CryptoProvider,
    ) -> Result<KeySource, ConfigError> {
        #[cfg(feature = "jwks")]
        if self.remote_keys.is_some() || !self.issuer_keys.is_empty() {
            if !self.keys.is_empty() {
                return Err(ConfigError::MixedKeySources);
            }
            if allowed.is_some_and(<[Algorithm]>::is_empty) {
                return Err(ConfigError::NoAlgorithms);
            }
            for (issuer, _) in &self.issuer_keys {
                if !self.issuers.contains(issuer) {
                    self.issuers.push(issuer.clone());
                }
            }
            let remote = crate::keys::jwks::RemoteKeys::new(
                self.remote_keys.take(),
                std::mem::take(&mut self.issuer_keys),
            );
            return Ok(KeySource::Remote(remote));
        }
        let keys = std::mem::take(&mut self.keys);
        Ok(KeySource::Static(keys::prepare_keys(
            keys, allowed, provider,
        )?))
    }

    /// The rules of a tenant (or of the layer), the rest taken from the builder.
    fn rules(
        &self,
        audiences: Vec<String>,
        issuers: Vec<String>,
        typ: Option<String>,
        leeway: Duration,
        max_age: Option<Duration>,
    ) -> Result<Rules, ConfigError> {
        if leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge);
        }
        Ok(Rules {
            leeway: leeway.as_secs(),
            validate_nbf: self.validate_nbf,
            max_age: max_age.map(|age| age.as_secs()),
            max_lifetime: (self.max_lifetime != Duration::MAX)
                .then_some(self.max_lifetime.as_secs()),
            audiences: expectation("audience", audiences, " or ")?,
            issuers: expectation("issuer", issuers, ",")?,
            subject: expectation("subject", self.subject.clone().into_iter().collect(), "")?,
            typ: expectation("typ", typ.into_iter().collect(), "")?,
            subject_required: self.user_lookup.is_some(),
            clock: self.clock.clone(),
        })
    }

    /// How long a token may be accepted for, with this `max_age`.
    fn longest_token(&self, max_age: Option<Duration>) -> Duration {
        max_age.map_or(self.max_lifetime, |age| age.min(self.max_lifetime))
    }
}

/// A tenant's keys: static, or remote (feature `jwks`), never both.
fn tenant_keys(
    tenant: &Tenant,
    allowed: Option<&[Algorithm]>,
    provider: &'static jsonwebtoken::crypto::CryptoProvider,
) -> Result<KeySource, ConfigError> {
    #[cfg(feature = "jwks")]
    if let Some(remote) = &tenant.remote_keys {
        if !tenant.keys.is_empty() {
            return Err(ConfigError::MixedKeySources);
        }
        if allowed.is_some_and(<[Algorithm]>::is_empty) {
            return Err(ConfigError::NoAlgorithms);
        }
        return Ok(KeySource::Remote(crate::keys::jwks::RemoteKeys::new(
            Some(remote.clone()),
            Vec::new(),
        )));
    }
    Ok(KeySource::Static(keys::prepare_keys(
        tenant.keys.clone(),
        allowed,
        provider,
    )?))
}

/// `None` when nothing is expected; an error when an expected value is empty.
fn expectation(
    what: &'static str,
    values: Vec<String>,
    separator: &str,
) -> Result<Option<Expectation>, ConfigError> {
    if values.iter().any(String::is_empty) {
        return Err(ConfigError::EmptyExpectation(what));
    }
    Ok((!values.is_empty()).then(|| Expectation::new(values, separator)))
}
