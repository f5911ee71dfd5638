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

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use moka::ops::compute::Op;
use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::checks::DEFAULT_BACKEND_TIMEOUT;
use crate::error::{ConfigError, SessionError};
use crate::issuer::{JwtIssuer, claims_object, random_base64url};
use crate::layer::{BoxError, MAX_LEEWAY};
use crate::memory_store::{self, Lifetime};
use crate::revocation::{Revocations, TokenFacts};

/// How long a login's refresh tokens work when nothing else is configured.
pub const DEFAULT_REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The registered claims the issuer and the sessions set themselves; they are not stored with a
/// refresh token.
const REGISTERED: [&str; 8] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"];

/// The longest refresh token looked up; ours are 43 characters.
const MAX_REFRESH_TOKEN_LEN: usize = 512;

/// What the server remembers of one refresh token. It never contains the token itself.
///
/// Serializable, so a custom [`RefreshStore`] can keep it as JSON.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    token_hash: String,
    subject: String,
    family: String,
    family_issued_at: u64,
    issued_at: u64,
    expires_at: u64,
    claims: Map<String, Value>,
}

impl RefreshRecord {
    /// The SHA-256 of the token, base64url without padding: the key a store finds it by.
    pub fn token_hash(&self) -> &str {
        &self.token_hash
    }

    /// The `sub` of the access tokens this refresh token renews.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The family: one per login, shared by every token rotated from it (128 random bits,
    /// base64url).
    pub fn family(&self) -> &str {
        &self.family
    }

    /// When the family's first token was issued (the login), in Unix seconds: a "log out
    /// everywhere" revokes the families issued at or before its moment.
    pub fn family_issued_at(&self) -> u64 {
        self.family_issued_at
    }

    /// When this token was issued, in Unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// When this token, and its family, expire, in Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The claims the next access token carries besides the registered ones.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// How long a store must keep the record: from its issue to its expiry, at least a second.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(self.issued_at).max(1))
    }

    /// How long the family is still alive at `now`, at least a second: how long a revoked
    /// family must be remembered.
    pub fn remaining(&self, now: u64) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(now).max(1))
    }
}

impl fmt::Debug for RefreshRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The claims may be personal data; the hash is enough to correlate.
        f.debug_struct("RefreshRecord")
            .field("token_hash", &self.token_hash)
            .field("family", &self.family)
            .field("family_issued_at", &self.family_issued_at)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What [`RefreshStore::consume`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consumed {
    /// The token was active and is now consumed; here is its record. Exactly one of several
    /// concurrent consumes of a token gets this.
    Fresh(RefreshRecord),
    /// The token had already been consumed: its family is now revoked.
    Reused {
        /// The revoked family.
        family: String,
        /// Its subject.
        subject: String,
    },
    /// The token is active but its family, or its subject's families, were revoked (a logout,
    /// an earlier reuse, a "log out everywhere").
    Revoked,
    /// No such token, or it expired.
    Unknown,
}

/// Where refresh tokens are remembered.
///
/// Implemented by [`MemoryRefreshStore`] and, with the `redis` feature, `RedisRefreshStore`.
/// [`consume`](Self::consume) must be atomic: of two concurrent consumes of one token, exactly
/// one gets [`Consumed::Fresh`].
pub trait RefreshStore: Send + Sync + 'static {
    /// Stores a new, active token for [`RefreshRecord::ttl`].
    fn insert<'a>(&'a self, record: &'a RefreshRecord) -> BoxFuture<'a, Result<(), BoxError>>;

    /// Atomically consumes the token whose hash is `token_hash`, at `now` (Unix seconds), in
    /// this order: missing or expired → [`Consumed::Unknown`]; already consumed → the family is
    /// revoked for the rest of its life and [`Consumed::Reused`]; family or subject revoked →
    /// [`Consumed::Revoked`]; otherwise the token is marked consumed (its record is kept until it
    /// expires, so a replay is recognised) and [`Consumed::Fresh`].
    fn consume<'a>(
        &'a self,
        token_hash: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Consumed, BoxError>>;

    /// The record of an unexpired token, consumed or not, without changing it (to find the
    /// family to revoke at logout).
    fn find<'a>(
        &'a self,
        token_hash: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<RefreshRecord>, BoxError>>;

    /// Revokes every token of `family`, remembered for `ttl` (the family's remaining life).
    /// A shorter `ttl` than one already stored never shortens it.
    fn revoke_family<'a>(
        &'a self,
        family: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>>;

    /// Revokes every family of `subject` issued at or before `before` (Unix seconds), remembered
    /// for `ttl` (the refresh lifetime). An earlier `before` never replaces a later one.
    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        before: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// The SHA-256 of a refresh token, base64url without padding: what stores key records by.
pub(crate) fn hash_refresh_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Whether a family issued at `family_issued_at` falls under a subject revocation at `before`.
/// At or before, not strictly before: a login in the same second as a "log out everywhere"
/// must log in again rather than risk surviving it.
pub(crate) fn family_revoked_by_subject(family_issued_at: u64, before: u64) -> bool {
    family_issued_at <= before
}

#[derive(Clone)]
enum Entry {
    Token {
        record: Arc<RefreshRecord>,
        consumed: bool,
    },
    FamilyRevoked {
        ttl: Duration,
    },
    SubjectRevoked {
        before: u64,
        ttl: Duration,
    },
}

impl Lifetime for Entry {
    fn ttl(&self) -> Duration {
        match self {
            Self::Token { record, .. } => record.ttl(),
            Self::FamilyRevoked { ttl } | Self::SubjectRevoked { ttl, .. } => *ttl,
        }
    }

    /// Consuming a token keeps its expiry.
    fn keeps_expiry_on_update(&self) -> bool {
        matches!(self, Self::Token { .. })
    }
}

/// Refresh tokens kept in this process: for a single instance, tests and development.
///
/// Bounded: at most `capacity` entries (tokens, consumed ones until they expire, and revoked
/// families and subjects), each expiring with what it describes. Evicting a live entry because
/// the cache is full forgets a session, or worse a revocation, so size it above the number of
/// refresh tokens issued within one refresh lifetime; every such eviction is logged at warn
/// level. Cheap to clone; clones share the entries.
#[derive(Clone)]
pub struct MemoryRefreshStore {
    entries: Cache<String, Entry>,
}

impl fmt::Debug for MemoryRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRefreshStore")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl Default for MemoryRefreshStore {
    /// A store of 100,000 entries.
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl MemoryRefreshStore {
    /// A store holding at most `capacity` entries.
    pub fn new(capacity: u64) -> Self {
        let entries = memory_store::bounded(
            capacity,
            "refresh token store full: a live entry was evicted",
        );
        Self { entries }
    }

    fn is_revoked(&self, record: &RefreshRecord) -> bool {
        if self.entries.contains_key(&family_key(&record.family)) {
            return true;
        }
        matches!(
            self.entries.get(&subject_key(&record.subject)),
            Some(Entry::SubjectRevoked { before, .. })
                if family_revoked_by_subject(record.family_issued_at, before)
        )
    }

    fn consume_now(&self, token_hash: &str, now: u64) -> Consumed {
        let mut outcome = Consumed::Unknown;
        let mut family_ttl = Duration::ZERO;
        self.entries
            .entry(token_key(token_hash))
            .and_compute_with(|current| {
                let Some(Entry::Token { record, consumed }) = current.map(|e| e.into_value())
                else {
                    return Op::Nop;
                };
                if record.expires_at <= now {
                    return Op::Nop;
                }
                if consumed {
                    family_ttl = record.remaining(now);
                    outcome = Consumed::Reused {
                        family: record.family.clone(),
                        subject: record.subject.clone(),
                    };
                    return Op::Nop;
                }
                if self.is_revoked(&record) {
                    outcome = Consumed::Revoked;
                    return Op::Nop;
                }
                outcome = Consumed::Fresh(RefreshRecord::clone(&record));
                Op::Put(Entry::Token {
                    record,
                    consumed: true,
                })
            });
        if let Consumed::Reused { family, .. } = &outcome {
            self.revoke_family_now(family, family_ttl);
        }
        outcome
    }

    fn revoke_family_now(&self, family: &str, ttl: Duration) {
        self.entries
            .entry(family_key(family))
            .and_compute_with(|current| match current.map(|e| e.into_value()) {
                Some(Entry::FamilyRevoked { ttl: stored }) if stored >= ttl => Op::Nop,
                _ => Op::Put(Entry::FamilyRevoked { ttl }),
            });
    }
}

fn token_key(token_hash: &str) -> String {
    format!("token:{token_hash}")
}

fn family_key(family: &str) -> String {
    format!("family:{family}")
}

fn subject_key(subject: &str) -> String {
    format!("sub:{subject}")
}

impl RefreshStore for MemoryRefreshStore {
    fn insert<'a>(&'a self, record: &'a RefreshRecord) -> BoxFuture<'a, Result<(), BoxError>> {
        self.entries.insert(
            token_key(&record.token_hash),
            Entry::Token {
                record: Arc::new(record.clone()),
                consumed: false,
            },
        );
        Box::pin(async { Ok(()) })
    }

    fn consume<'a>(
        &'a self,
        token_hash: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Consumed, BoxError>> {
        let outcome = self.consume_now(token_hash, now);
        Box::pin(async move { Ok(outcome) })
    }

    fn find<'a>(
        &'a self,
        token_hash: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<RefreshRecord>, BoxError>> {
        let found = match self.entries.get(&token_key(token_hash)) {
            Some(Entry::Token { record, .. }) if record.expires_at > now => {
                Some(RefreshRecord::clone(&record))
            }
            _ => None,
        };
        Box::pin(async move { Ok(found) })
    }

    fn revoke_family<'a>(
        &'a self,
        family: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        self.revoke_family_now(family, ttl);
        Box::pin(async { Ok(()) })
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        before: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        self.entries
            .entry(subject_key(subject))
            .and_compute_with(|current| match current.map(|e| e.into_value()) {
                Some(Entry::SubjectRevoked { before: stored, .. }) if stored >= before => Op::Nop,
                _ => Op::Put(Entry::SubjectRevoked { before, ttl }),
            });
        Box::pin(async { Ok(()) })
    }
}

/// An access token and a refresh token, as a token endpoint answers them (RFC 6749 §5.1).
///
/// Serializes exactly as `{"access_token","refresh_token","token_type":"Bearer","expires_in"}`,
/// `expires_in` being the access token's lifetime in seconds. As a response it is that JSON with
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
/// optionally, the [`Revocations`] store the layer checks.
///
/// Cheap to clone. Every store call is bounded by the backend timeout and fails closed
/// ([`SessionError::Unavailable`], a 503).
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use tower_jwt_auth::{JwtIssuer, MemoryRefreshStore, MemoryRevocations, Sessions, SigningKey};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = JwtIssuer::builder()
///     .key(SigningKey::hmac(b"an example secret that is 32 bytes or more"))
///     .build()?;
/// let revocations = MemoryRevocations::default(); // also given to the JwtLayer
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
    shared: Arc<SessionsInner>,
}

struct SessionsInner {
    issuer: JwtIssuer,
    store: Arc<dyn RefreshStore>,
    revocations: Option<Arc<dyn Revocations>>,
    refresh_lifetime: Duration,
    timeout: Duration,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("issuer", &self.shared.issuer)
            .field("revocations", &self.shared.revocations.is_some())
            .field("refresh_lifetime", &self.shared.refresh_lifetime)
            .field("timeout", &self.shared.timeout)
            .finish_non_exhaustive()
    }
}

/// Configures [`Sessions`].
pub struct SessionsBuilder {
    issuer: JwtIssuer,
    store: Arc<dyn RefreshStore>,
    revocations: Option<Arc<dyn Revocations>>,
    refresh_lifetime: Duration,
    timeout: Duration,
}

impl fmt::Debug for SessionsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionsBuilder")
            .field("issuer", &self.issuer)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SessionsBuilder {
    /// The revocation store [`Sessions::logout`] lists access tokens in; give the layer the
    /// same store (a clone of a `MemoryRevocations` or `RedisRevocations` shares it). Default:
    /// none, and a logout only ends the refresh token's session: its access token stays valid
    /// until it expires.
    pub fn revocations(mut self, store: impl Revocations) -> Self {
        self.revocations = Some(Arc::new(store));
        self
    }

    /// How long a login's refresh tokens work, counted from the login: rotation does not extend
    /// it. Default: [`DEFAULT_REFRESH_LIFETIME`] (30 days). Whole seconds; zero is refused.
    pub fn refresh_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_lifetime = lifetime;
        self
    }

    /// The bound on each store call. Default: [`DEFAULT_BACKEND_TIMEOUT`] (1 s).
    pub fn backend_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the configuration and builds the sessions.
    pub fn build(self) -> Result<Sessions, ConfigError> {
        if self.refresh_lifetime.as_secs() == 0 {
            return Err(ConfigError::ZeroLifetime("refresh token"));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::ZeroBackendTimeout);
        }
        Ok(Sessions {
            shared: Arc::new(SessionsInner {
                issuer: self.issuer,
                store: self.store,
                revocations: self.revocations,
                refresh_lifetime: self.refresh_lifetime,
                timeout: self.timeout,
            }),
        })
    }
}

impl Sessions {
    /// Starts configuring sessions that sign with `issuer` and keep refresh tokens in `store`.
    pub fn builder(issuer: JwtIssuer, store: impl RefreshStore) -> SessionsBuilder {
        SessionsBuilder {
            issuer,
            store: Arc::new(store),
            revocations: None,
            refresh_lifetime: DEFAULT_REFRESH_LIFETIME,
            timeout: DEFAULT_BACKEND_TIMEOUT,
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
        let mut claims = claims_object(claims)?;
        let Some(Value::String(subject)) = claims.remove("sub") else {
            return Err(SessionError::MissingSubject);
        };
        let now = self.shared.issuer.now();
        let family = FamilyStart {
            family: random_base64url::<16>()?,
            issued_at: now,
            expires_at: now.saturating_add(self.shared.refresh_lifetime.as_secs()),
        };
        self.issue_pair(subject, strip_registered(claims), &family, now)
            .await
    }

    /// Renews a session: consumes `refresh_token` (atomically: of concurrent uses, one wins)
    /// and returns a new access token with the stored claims and the family's next refresh
    /// token.
    ///
    /// A token used twice revokes its whole family and fails with
    /// [`SessionError::RefreshReused`]; an unknown, expired or revoked one fails with
    /// [`SessionError::InvalidGrant`].
    pub async fn rotate(&self, refresh_token: &str) -> Result<TokenPair, SessionError> {
        self.rotate_with(refresh_token, |_, claims| async move {
            Ok::<_, BoxError>(Some(claims))
        })
        .await
    }

    /// Like [`rotate`](Self::rotate), asking `renew` first: it gets the subject and the stored
    /// claims, and answers `Ok(Some(claims))` to issue them (updated roles, say: they are
    /// stored for the next rotation too), `Ok(None)` to refuse (the user was deactivated: the
    /// family is revoked and [`SessionError::Refused`] returned), or an error, which fails
    /// closed as [`SessionError::Unavailable`], as does a callback slower than the backend
    /// timeout (the token is consumed by then: the client must log in again).
    ///
    /// Registered claims (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`) returned by `renew`
    /// are ignored: the subject of a family never changes.
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
        if refresh_token.is_empty() || refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(SessionError::InvalidGrant);
        }
        let shared = &self.shared;
        let now = shared.issuer.now();
        let hash = hash_refresh_token(refresh_token);
        let record = match self.bounded(shared.store.consume(&hash, now)).await? {
            Consumed::Fresh(record) => record,
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
                return Err(SessionError::RefreshReused);
            }
            Consumed::Revoked | Consumed::Unknown => return Err(SessionError::InvalidGrant),
        };
        let family = FamilyStart {
            family: record.family.clone(),
            issued_at: record.family_issued_at,
            expires_at: record.expires_at,
        };
        let ttl = record.remaining(now);
        let renewed =
            tokio::time::timeout(shared.timeout, renew(record.subject.clone(), record.claims))
                .await;
        let claims = match renewed {
            Ok(Ok(Some(claims))) => strip_registered(claims),
            Ok(Ok(None)) => {
                self.bounded(shared.store.revoke_family(&family.family, ttl))
                    .await?;
                return Err(SessionError::Refused);
            }
            Ok(Err(cause)) => return Err(unavailable(cause.into())),
            Err(_) => return Err(unavailable("session renewal timed out".into())),
        };
        self.issue_pair(record.subject, claims, &family, now).await
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

    async fn issue_pair(
        &self,
        subject: String,
        claims: Map<String, Value>,
        family: &FamilyStart,
        now: u64,
    ) -> Result<TokenPair, SessionError> {
        let shared = &self.shared;
        let mut access_claims = claims.clone();
        access_claims.insert("sub".into(), subject.clone().into());
        // The login the token belongs to, so that ending the login ends the token.
        access_claims.insert("sid".into(), family.family.clone().into());
        let access = shared
            .issuer
            .issue_object(access_claims, shared.issuer.access_lifetime())?;
        let refresh_token = random_base64url::<32>()?;
        let record = RefreshRecord {
            token_hash: hash_refresh_token(&refresh_token),
            subject,
            family: family.family.clone(),
            family_issued_at: family.issued_at,
            issued_at: now,
            expires_at: family.expires_at,
            claims,
        };
        self.bounded(shared.store.insert(&record)).await?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token,
            token_type: "Bearer",
            expires_in: shared.issuer.access_lifetime().as_secs(),
            jti: access.jti,
            family: record.family,
        })
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
