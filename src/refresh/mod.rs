//! Refresh tokens with rotation and reuse detection, and [`Sessions`], which ties them to a
//! [`JwtIssuer`] and a revocation store.
//!
//! A refresh token is an opaque random string (256 bits from the operating system's CSPRNG,
//! base64url), not a JWT: only the server can tell what it stands for, and the server keeps
//! only its SHA-256, so a leaked store holds no usable token.
//!
//! Every login starts a *family*. Each use of a refresh token consumes it and returns a new one
//! of the same family ("rotation"). A consumed token presented again means two parties hold the
//! family's tokens, the legitimate client and a thief, and nobody can tell which is which: the
//! whole family is revoked, so the thief's copy and the client's current token both stop working
//! and the user logs in again (the OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
//!
//! A family lives at most the refresh lifetime from its login: rotation does not extend it, so a
//! stolen family cannot be kept alive forever.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::checks::DEFAULT_BACKEND_TIMEOUT;
use crate::clock::unix_millis;
use crate::dpop::{DpopError, DpopProof};
use crate::error::BoxError;
use crate::error::{ConfigError, SessionError};
use crate::issuer::{JwtIssuer, claims_object, random_base64url};
use crate::revocation::{RevocationStore, TokenFacts};
use crate::verify::rules::MAX_LEEWAY;

mod memory;
#[cfg(feature = "redis")]
mod redis;
mod store;

#[cfg(feature = "redis")]
pub(crate) use memory::late;
pub use memory::{
    DEFAULT_REFRESH_CAPACITY, DEFAULT_REFRESH_TOKENS_PER_SUBJECT, MemoryRefreshStore,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{DEFAULT_REDIS_REFRESH_PREFIX, RedisRefreshStore};
pub use store::{Consumed, RefreshRecord, RefreshStore, Rotation};
pub(crate) use store::{family_revoked_by_subject, hash_refresh_token};

/// How long a login's refresh tokens work when nothing else is configured.
pub const DEFAULT_REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The claims the issuer and the sessions set themselves: the registered ones, and `cnf`, the
/// DPoP key a session is bound to ([`Sessions::login_bound`]). What callers give under these
/// names is dropped.
const REGISTERED: [&str; 9] = [
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "cnf",
];

/// The longest refresh token looked up; ours are 43 characters.
const MAX_REFRESH_TOKEN_LEN: usize = 512;

/// An access token and a refresh token, as a token endpoint answers them (RFC 6749 §5.1).
///
/// Serializes exactly as `{"access_token","refresh_token","token_type":"Bearer","expires_in"}`
/// (`"token_type":"DPoP"` for an access token bound to a DPoP key), `expires_in` being the
/// access token's lifetime in seconds. As a response it is that JSON with
/// `Cache-Control: no-store`. `Debug` does not show the tokens.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip)]
    jti: String,
    #[serde(skip)]
    family: String,
}

impl TokenPair {
    /// The access token (a JWT).
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// The refresh token (opaque).
    pub fn refresh_token(&self) -> &str {
        &self.refresh_token
    }

    /// The access token's lifetime in seconds.
    pub fn expires_in(&self) -> u64 {
        self.expires_in
    }

    /// `Bearer`, or `DPoP` for an access token bound to a DPoP key.
    pub fn token_type(&self) -> &str {
        self.token_type
    }

    /// The access token's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The refresh token's family (one per login).
    pub fn family(&self) -> &str {
        &self.family
    }
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("jti", &self.jti)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

impl IntoResponse for TokenPair {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self)
            .expect("two strings, a static string and a number always serialize");
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Logins, refresh token rotation and logouts: a [`JwtIssuer`], a [`RefreshStore`] and,
/// optionally, the [`RevocationStore`] store the layer checks.
///
/// Cheap to clone. Every store call is bounded by the backend timeout and fails closed
/// ([`SessionError::Unavailable`], a 503).
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use tower_jwt_auth::{issuer::{JwtIssuer, SigningKey}, refresh::{MemoryRefreshStore, Sessions}, revocation::MemoryRevocationStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = JwtIssuer::builder()
///     .key(SigningKey::hmac(b"an example secret that is 32 bytes or more"))
///     .build()?;
/// let revocations = MemoryRevocationStore::default(); // also given to the JwtLayer
/// let sessions = Sessions::builder(issuer, MemoryRefreshStore::default())
///     .revocations(revocations.clone())
///     .refresh_lifetime(Duration::from_secs(7 * 24 * 60 * 60))
///     .build()?;
///
/// let pair = sessions.login(&json!({ "sub": "alice", "roles": ["admin"] })).await?;
/// let next = sessions.rotate(pair.refresh_token()).await?;
/// // The first refresh token is used up: presenting it again revokes the whole session.
/// assert!(sessions.rotate(pair.refresh_token()).await.is_err());
/// assert!(sessions.rotate(next.refresh_token()).await.is_err());
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Clone)]
pub struct Sessions {
    shared: Arc<SessionsConfig>,
}

struct SessionsConfig {
    issuer: JwtIssuer,
    store: Arc<dyn RefreshStore>,
    revocations: Option<Arc<dyn RevocationStore>>,
    refresh_lifetime: Duration,
    timeout: Duration,
    reuse_grace: Duration,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sessions").field(&self.shared).finish()
    }
}

impl fmt::Debug for SessionsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionsConfig")
            .field("issuer", &self.issuer)
            .field("revocations", &self.revocations.is_some())
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("timeout", &self.timeout)
            .field("reuse_grace", &self.reuse_grace)
            .finish_non_exhaustive()
    }
}

/// Configures [`Sessions`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct SessionsBuilder {
    config: SessionsConfig,
}

impl fmt::Debug for SessionsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SessionsBuilder")
            .field(&self.config)
            .finish()
    }
}

impl SessionsBuilder {
    /// The revocation store [`Sessions::logout`] lists access tokens in; give the layer the
    /// same store (a clone of a `MemoryRevocationStore` or `RedisRevocationStore` shares it). Default:
    /// none, and a logout only ends the refresh token's session: its access token stays valid
    /// until it expires.
    pub fn revocations(mut self, store: impl RevocationStore) -> Self {
        self.config.revocations = Some(Arc::new(store));
        self
    }

    /// How long a login's refresh tokens work, counted from the login: rotation does not extend
    /// it. Default: [`DEFAULT_REFRESH_LIFETIME`] (30 days). Whole seconds; zero is refused.
    pub fn refresh_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.refresh_lifetime = lifetime;
        self
    }

    /// The bound on each store call. Default: [`DEFAULT_BACKEND_TIMEOUT`] (1 s).
    pub fn backend_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Accepts a refresh token once more within `grace` of its rotation, when the token that
    /// rotation issued was never used: for the client whose refresh was applied but whose
    /// answer was lost (a dropped connection, a timeout after the store committed), which
    /// would otherwise present the old token again and be logged out as a reuse. Auth0 calls
    /// it a reuse interval, Okta a grace period.
    ///
    /// Default: zero, off. The trade-off: within the grace, a thief replaying a stolen token
    /// before the client has used its new one gets a fresh pair instead of ending the login
    /// (the client's pair then stops working, and its next use is detected as a reuse, which
    /// ends the login, the thief's pair included). Keep it to seconds.
    pub fn reuse_grace(mut self, grace: Duration) -> Self {
        self.config.reuse_grace = grace;
        self
    }

    /// Checks the configuration and builds the sessions.
    pub fn build(self) -> Result<Sessions, ConfigError> {
        let config = self.config;
        if config.refresh_lifetime.as_secs() == 0 {
            return Err(ConfigError::ZeroLifetime("refresh token"));
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::ZeroBackendTimeout);
        }
        Ok(Sessions {
            shared: Arc::new(config),
        })
    }
}

impl Sessions {
    /// Starts configuring sessions that sign with `issuer` and keep refresh tokens in `store`.
    pub fn builder(issuer: JwtIssuer, store: impl RefreshStore) -> SessionsBuilder {
        SessionsBuilder {
            config: SessionsConfig {
                issuer,
                store: Arc::new(store),
                revocations: None,
                refresh_lifetime: DEFAULT_REFRESH_LIFETIME,
                timeout: DEFAULT_BACKEND_TIMEOUT,
                reuse_grace: Duration::ZERO,
            },
        }
    }

    /// The issuer of the access tokens.
    pub fn issuer(&self) -> &JwtIssuer {
        &self.shared.issuer
    }

    /// Starts a session for a user whose credentials the application has checked: an access
    /// token carrying `claims`, and the first refresh token of a new family, which remembers
    /// the claims (without the registered ones) for the access tokens it renews.
    ///
    /// `claims` must be a JSON object with a string `sub`, else [`SessionError::MissingSubject`].
    pub async fn login(&self, claims: &impl Serialize) -> Result<TokenPair, SessionError> {
        self.start(claims, None).await
    }

    /// Like [`login`](Self::login), binding the session to the key of `proof` (RFC 9449 §5),
    /// the login request's DPoP proof, checked by
    /// [`DpopVerifier::verify_request`](crate::dpop::DpopVerifier::verify_request): every
    /// access token of the session carries `cnf.jkt`, the pair says `"token_type": "DPoP"`,
    /// and the refresh tokens are bound too: a refresh needs a proof by the same key
    /// ([`rotate_bound`](Self::rotate_bound)).
    pub async fn login_bound(
        &self,
        claims: &impl Serialize,
        proof: &DpopProof,
    ) -> Result<TokenPair, SessionError> {
        self.start(claims, Some(proof.thumbprint())).await
    }

    async fn start(
        &self,
        claims: &impl Serialize,
        jkt: Option<&str>,
    ) -> Result<TokenPair, SessionError> {
        let mut claims = claims_object(claims)?;
        let Some(Value::String(subject)) = claims.remove("sub") else {
            return Err(SessionError::MissingSubject);
        };
        let now = self.shared.issuer.now();
        let family = FamilyStart {
            family: tagged(
                self.shared.store.slot_tag(&subject),
                random_base64url::<16>()?,
            ),
            issued_at: now,
            expires_at: now.saturating_add(self.shared.refresh_lifetime.as_secs()),
        };
        let mut claims = strip_registered(claims);
        if let Some(jkt) = jkt {
            claims.insert("cnf".into(), confirmation(jkt));
        }
        let (pair, record) = self.new_pair(subject, claims, jkt, &family, now)?;
        self.bounded(self.shared.store.insert(&record)).await?;
        Ok(pair)
    }

    /// Renews a session: consumes `refresh_token` and stores the family's next refresh token
    /// in one atomic step (of concurrent uses, one wins), and returns a new access token with
    /// the stored claims and that refresh token. A rotation answered with an error is never
    /// applied, even by a store that receives it late (see [`Rotation::deadline_ms`]), so the
    /// client may retry with the same token.
    ///
    /// A token used twice revokes its whole family and fails with
    /// [`SessionError::RefreshReused`]; an unknown, expired or revoked one fails with
    /// [`SessionError::InvalidGrant`].
    ///
    /// The refresh token of a session bound to a DPoP key is refused here
    /// ([`SessionError::InvalidDpopProof`]): see [`rotate_bound`](Self::rotate_bound).
    pub async fn rotate(&self, refresh_token: &str) -> Result<TokenPair, SessionError> {
        self.rotate_bound(refresh_token, None).await
    }

    /// Like [`rotate`](Self::rotate), with the refresh request's DPoP proof, when it has one
    /// (checked by [`DpopVerifier::verify_request`](crate::dpop::DpopVerifier::verify_request)).
    /// A session bound to a key ([`login_bound`](Self::login_bound)) needs a proof by that key:
    /// none is [`SessionError::InvalidDpopProof`], another key
    /// [`SessionError::DpopKeyMismatch`], both refused before anything changes, so the token
    /// stays usable. An unbound session's access token is bound to the proof's key, its
    /// refresh tokens stay unbound (RFC 9449 §5).
    pub async fn rotate_bound(
        &self,
        refresh_token: &str,
        proof: Option<&DpopProof>,
    ) -> Result<TokenPair, SessionError> {
        self.rotate_bound_with(refresh_token, proof, |_, claims| async move {
            Ok::<_, BoxError>(Some(claims))
        })
        .await
    }

    /// Like [`rotate`](Self::rotate), asking `renew` first: it gets the subject and the stored
    /// claims, and answers `Ok(Some(claims))` to issue them (updated roles, say: they are
    /// stored for the next rotation too), `Ok(None)` to refuse (the user was deactivated: the
    /// family is revoked and [`SessionError::Refused`] returned), or an error, which fails
    /// closed as [`SessionError::Unavailable`], as does a callback slower than the backend
    /// timeout. `renew` runs before the store is changed, so after a failure the token is
    /// still unused and the client may present it again; it also runs for a token presented
    /// twice, before the store tells the reuse.
    ///
    /// Registered claims (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`) and `cnf` returned
    /// by `renew` are ignored: the subject of a family never changes, nor does its key. As
    /// [`rotate`](Self::rotate), it refuses the refresh token of a session bound to a DPoP key.
    pub async fn rotate_with<F, Fut, E>(
        &self,
        refresh_token: &str,
        renew: F,
    ) -> Result<TokenPair, SessionError>
    where
        F: FnOnce(String, Map<String, Value>) -> Fut,
        Fut: Future<Output = Result<Option<Map<String, Value>>, E>>,
        E: Into<BoxError>,
    {
        self.rotate_bound_with(refresh_token, None, renew).await
    }

    /// [`rotate_with`](Self::rotate_with) and [`rotate_bound`](Self::rotate_bound) together:
    /// the refresh request's DPoP proof is checked against the session's key first, then
    /// `renew` is asked.
    pub async fn rotate_bound_with<F, Fut, E>(
        &self,
        refresh_token: &str,
        proof: Option<&DpopProof>,
        renew: F,
    ) -> Result<TokenPair, SessionError>
    where
        F: FnOnce(String, Map<String, Value>) -> Fut,
        Fut: Future<Output = Result<Option<Map<String, Value>>, E>>,
        E: Into<BoxError>,
    {
        if refresh_token.is_empty() || refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(SessionError::InvalidGrant);
        }
        let shared = &self.shared;
        let now = shared.issuer.now();
        let hash = hash_refresh_token(refresh_token);
        // Read first, written last: the renewal and the signing happen before the store is
        // changed, and the store applies the rotation whole (consumed token and successor) or
        // not at all, so a rotation answered with a failure is never half done.
        let Some(record) = self.bounded(shared.store.find(&hash, now)).await? else {
            return Err(SessionError::InvalidGrant);
        };
        // The key before anything else: a refusal here changes nothing.
        let bound = record.claims.get("cnf").cloned();
        let access_jkt = match (bound_key(bound.as_ref()), proof) {
            (Some(jkt), Some(proof)) if jkt == proof.thumbprint() => Some(jkt.to_owned()),
            (Some(_), Some(_)) => return Err(SessionError::DpopKeyMismatch),
            (Some(_), None) => return Err(SessionError::InvalidDpopProof(DpopError::Missing)),
            // A `cnf` no proof could match: a binding nobody can prove.
            (None, _) if bound.is_some() => return Err(SessionError::DpopKeyMismatch),
            (None, proof) => proof.map(|proof| proof.thumbprint().to_owned()),
        };
        let family = FamilyStart {
            family: record.family.clone(),
            issued_at: record.family_issued_at,
            expires_at: record.expires_at,
        };
        let renewed = tokio::time::timeout(
            shared.timeout,
            renew(record.subject.clone(), record.claims.clone()),
        )
        .await;
        let claims = match renewed {
            Ok(Ok(Some(claims))) => {
                let mut claims = strip_registered(claims);
                if let Some(cnf) = bound {
                    claims.insert("cnf".into(), cnf);
                }
                claims
            }
            Ok(Ok(None)) => {
                let logins = [(record.family.as_str(), record.subject.as_str())];
                self.bounded(
                    shared
                        .store
                        .revoke_family(&family.family, record.remaining(now)),
                )
                .await?;
                self.revoke_logins_access(&logins, now).await?;
                return Err(SessionError::Refused);
            }
            Ok(Err(cause)) => return Err(unavailable(cause.into())),
            Err(_) => return Err(unavailable("session renewal timed out".into())),
        };
        let (pair, successor) = self.new_pair(
            record.subject.clone(),
            claims,
            access_jkt.as_deref(),
            &family,
            now,
        )?;
        // Half the timeout: a rotation applied just before its deadline still has the other
        // half for its answer to arrive before this call gives up.
        let rotation = Rotation {
            token_hash: &hash,
            successor: &successor,
            now,
            deadline_ms: unix_millis()
                .saturating_add(u64::try_from((shared.timeout / 2).as_millis()).unwrap_or(0)),
            reuse_grace: shared.reuse_grace,
        };
        match self.bounded(shared.store.rotate(&rotation)).await? {
            Consumed::Fresh(_) => Ok(pair),
            Consumed::Reused { family, subject } => {
                tracing::warn!(
                    target: "tower_jwt_auth",
                    %family,
                    "refresh token reused: its family is revoked"
                );
                // The login ends, its access tokens too. Should this fail, the 503 can be
                // retried: the token stays consumed, so it is recognised as reused again.
                self.revoke_logins_access(&[(&family, &subject)], now)
                    .await?;
                Err(SessionError::RefreshReused)
            }
            Consumed::Revoked | Consumed::Unknown => Err(SessionError::InvalidGrant),
        }
    }

    /// Logs out: ends the login of the access token (its `sid`) and that of `refresh_token`,
    /// if given: their refresh tokens stop working and, with a revocation store, so do all
    /// their access tokens (a token without `sid` is revoked alone). An unknown or expired
    /// refresh token is not an error: there is nothing left to end.
    ///
    /// Every step can be repeated, so a logout that failed (503) can be retried: the refresh
    /// store is written first, and the presented access token stays valid until the last
    /// step.
    ///
    /// Behind a layer with a revocation store, the handler gets `access` from the
    /// [`TokenFacts`] extractor.
    pub async fn logout(
        &self,
        access: &TokenFacts,
        refresh_token: Option<&str>,
    ) -> Result<(), SessionError> {
        let shared = &self.shared;
        let now = shared.issuer.now();
        let record = match refresh_token {
            Some(token) if !token.is_empty() && token.len() <= MAX_REFRESH_TOKEN_LEN => {
                let hash = hash_refresh_token(token);
                self.bounded(shared.store.find(&hash, now)).await?
            }
            _ => None,
        };
        let mut logins: Vec<(&str, &str)> = Vec::with_capacity(2);
        if let Some(record) = &record {
            logins.push((&record.family, &record.subject));
        }
        if let (Some(sid), Some(sub)) = (access.sid(), access.sub())
            && !logins.iter().any(|(family, _)| *family == sid)
        {
            logins.push((sid, sub));
        }
        for (family, _) in &logins {
            let ttl = match &record {
                Some(record) if record.family == *family => record.remaining(now),
                // The family's own record is not at hand: as long as any family lives.
                _ => shared.refresh_lifetime,
            };
            self.bounded(shared.store.revoke_family(family, ttl))
                .await?;
        }
        self.revoke_logins_access(&logins, now).await?;
        if access.sid().is_none()
            && let Some(revocations) = &shared.revocations
        {
            // Any layer's leeway is at most MAX_LEEWAY: keep the entry that much longer.
            let until = access.exp().saturating_add(MAX_LEEWAY.as_secs());
            let ttl = Duration::from_secs(until.saturating_sub(now));
            self.bounded(revocations.revoke_token(access, ttl)).await?;
        }
        Ok(())
    }

    /// Revokes every access token of these logins (family, subject) in the revocation store,
    /// when there is one: for as long as the last one issued, by `now`, can live.
    async fn revoke_logins_access(
        &self,
        logins: &[(&str, &str)],
        now: u64,
    ) -> Result<(), SessionError> {
        let shared = &self.shared;
        let Some(revocations) = &shared.revocations else {
            return Ok(());
        };
        let ttl = shared.issuer.access_lifetime() + MAX_LEEWAY;
        for (family, subject) in logins {
            self.bounded(revocations.revoke_login(family, subject, now, ttl))
                .await?;
        }
        Ok(())
    }

    /// Logs `subject` out everywhere: every family of the subject issued until now is revoked
    /// and, with a revocation store, every access token issued before now.
    ///
    /// `iat` and the families' issue times have whole seconds, so a token issued a moment
    /// before this call cannot be told from one issued a moment after it: both end. A login in
    /// the same second as the call is therefore ended too, and works again from the next one.
    pub async fn logout_everywhere(&self, subject: &str) -> Result<(), SessionError> {
        let shared = &self.shared;
        let now = shared.issuer.now();
        self.bounded(
            shared
                .store
                .revoke_subject(subject, now, shared.refresh_lifetime),
        )
        .await?;
        if let Some(revocations) = &shared.revocations {
            let ttl = shared.issuer.access_lifetime() + MAX_LEEWAY;
            // Access tokens issued in this very second count as issued before (`iat < now + 1`).
            self.bounded(revocations.revoke_subject(subject, now.saturating_add(1), ttl))
                .await?;
        }
        Ok(())
    }

    /// Revokes one session (a family) for the rest of its life: an administrator's "end this
    /// session", with the family taken from [`TokenPair::family`] or [`RefreshRecord::family`].
    pub async fn revoke_family(&self, family: &str) -> Result<(), SessionError> {
        let ttl = self.shared.refresh_lifetime;
        self.bounded(self.shared.store.revoke_family(family, ttl))
            .await
    }

    /// Signs an access token and makes a refresh token of `family`, with the record a store
    /// keeps of it; nothing is stored yet.
    /// A new access token and the refresh record that renews it; `claims` are stored with the
    /// record, and `access_jkt`, when given, binds the access token to that DPoP key.
    fn new_pair(
        &self,
        subject: String,
        claims: Map<String, Value>,
        access_jkt: Option<&str>,
        family: &FamilyStart,
        now: u64,
    ) -> Result<(TokenPair, RefreshRecord), SessionError> {
        let shared = &self.shared;
        let mut access_claims = claims.clone();
        if let Some(jkt) = access_jkt {
            access_claims.insert("cnf".into(), confirmation(jkt));
        }
        access_claims.insert("sub".into(), subject.clone().into());
        // The login the token belongs to, so that ending the login ends the token.
        access_claims.insert("sid".into(), family.family.clone().into());
        let access = shared
            .issuer
            .issue_object(access_claims, shared.issuer.access_lifetime())?;
        let refresh_token = tagged(shared.store.slot_tag(&subject), random_base64url::<32>()?);
        let record = RefreshRecord {
            token_hash: hash_refresh_token(&refresh_token),
            subject,
            family: family.family.clone(),
            family_issued_at: family.issued_at,
            issued_at: now,
            expires_at: family.expires_at,
            claims,
        };
        let pair = TokenPair {
            access_token: access.token,
            refresh_token,
            token_type: if access_jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            },
            expires_in: shared.issuer.access_lifetime().as_secs(),
            jti: access.jti,
            family: record.family.clone(),
        };
        Ok((pair, record))
    }

    async fn bounded<T>(
        &self,
        call: BoxFuture<'_, Result<T, BoxError>>,
    ) -> Result<T, SessionError> {
        match tokio::time::timeout(self.shared.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(cause)) => Err(unavailable(cause)),
            Err(_) => Err(unavailable("session store call timed out".into())),
        }
    }
}

/// The family a new refresh token belongs to.
struct FamilyStart {
    family: String,
    issued_at: u64,
    expires_at: u64,
}

/// `random` behind the store's slot tag, when it has one.
fn tagged(tag: Option<String>, random: String) -> String {
    match tag {
        Some(tag) => format!("{tag}.{random}"),
        None => random,
    }
}

/// The `cnf` claim binding a token to the DPoP key `jkt` (RFC 9449 §6.1).
fn confirmation(jkt: &str) -> Value {
    serde_json::json!({ "jkt": jkt })
}

/// The DPoP key a stored `cnf` binds a session to.
fn bound_key(cnf: Option<&Value>) -> Option<&str> {
    cnf?.get("jkt")?.as_str()
}

fn strip_registered(mut claims: Map<String, Value>) -> Map<String, Value> {
    for name in REGISTERED {
        claims.remove(name);
    }
    claims
}

fn unavailable(cause: BoxError) -> SessionError {
    tracing::error!(target: "tower_jwt_auth", %cause, "session store failed");
    SessionError::Unavailable(cause)
}
