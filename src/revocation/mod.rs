//! Revoked tokens: the check the layer runs after verification, the stores that remember
//! revocations, and the [`Revoker`] handlers use to log out.
//!
//! The check runs only after the signature and the claims are verified, so a forged or expired
//! token never costs a store round trip. A token is revoked when its id is listed (its `jti`, or
//! the SHA-256 of the whole token when it has no `jti`), when its login (its `sid` claim) was
//! revoked (a logout, a refresh token reused), or when its subject was revoked after the token
//! was issued ("log out everywhere", compared with `iat`).
//!
//! Entries live only as long as they matter: a listed token until it would have expired anyway,
//! a revoked subject as long as the layer's longest token lifetime
//! ([`JwtLayerBuilder::max_lifetime`](crate::layer::JwtLayerBuilder::max_lifetime)).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::Clock;
use crate::error::AuthError;
use crate::error::BoxError;
use crate::source::BearerToken;
use crate::verify::ClaimFacts;

mod memory;
#[cfg(feature = "redis")]
mod mirror;
#[cfg(feature = "redis")]
mod redis;

pub use memory::{
    DEFAULT_REVOCATION_CAPACITY, DEFAULT_REVOCATIONS_PER_SUBJECT, MemoryRevocationStore,
};
#[cfg(feature = "redis")]
pub use mirror::{
    DEFAULT_MAX_STALENESS, DEFAULT_MIRROR_CAPACITY, MirrorBuilder, MirroredRevocationStore,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{DEFAULT_REDIS_PREFIX, RedisRevocationStore};

/// What the revocation check and the user lookup learn of a verified token.
///
/// The layer puts it into the request extensions when a revocation check or a user lookup is
/// configured; handlers read it with the `TokenFacts` extractor. `Debug` does not show the token.
#[derive(Clone)]
pub struct TokenFacts {
    pub(crate) token: BearerToken,
    pub(crate) claims: Arc<ClaimFacts>,
}

impl TokenFacts {
    /// The raw token.
    pub fn token(&self) -> &BearerToken {
        &self.token
    }

    /// The `jti` claim, when it is a string.
    pub fn jti(&self) -> Option<&str> {
        self.claims.jti.as_deref()
    }

    /// The `sub` claim, when it is a string.
    pub fn sub(&self) -> Option<&str> {
        self.claims.sub.as_deref()
    }

    /// The `sid` claim, when it is a string: the login the token belongs to (the family of
    /// refresh tokens that [`Sessions`](crate::refresh::Sessions) issued it with).
    pub fn sid(&self) -> Option<&str> {
        self.claims.sid.as_deref()
    }

    /// The `iat` claim in whole seconds, when present.
    pub fn iat(&self) -> Option<u64> {
        self.claims.iat
    }

    /// The `exp` claim in whole seconds.
    pub fn exp(&self) -> u64 {
        self.claims.exp
    }

    /// The identifier a store lists this token under: `jti:<jti>`, or `sha256:<digest>` of the
    /// whole token when it has no `jti`, so the store never holds a usable token.
    pub fn revocation_id(&self) -> String {
        self.with_revocation_id(str::to_owned)
    }

    /// Calls `f` with [`revocation_id`](Self::revocation_id), built on the stack when it fits:
    /// a check in memory then allocates nothing.
    pub(crate) fn with_revocation_id<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        match &self.claims.jti {
            Some(jti) => with_joined("jti:", jti, f),
            None => {
                let digest = crate::crypto::sha256(&[self.token.as_str().as_bytes()]);
                let mut encoded = [0u8; 43];
                match URL_SAFE_NO_PAD.encode_slice(digest, &mut encoded) {
                    Ok(len) => with_joined(
                        "sha256:",
                        std::str::from_utf8(&encoded[..len]).unwrap_or_default(),
                        f,
                    ),
                    Err(_) => f(&format!("sha256:{}", URL_SAFE_NO_PAD.encode(digest))),
                }
            }
        }
    }
}

/// Calls `f` with `prefix` and `rest` joined: in a buffer on the stack when they fit.
pub(crate) fn with_joined<T>(prefix: &str, rest: &str, f: impl FnOnce(&str) -> T) -> T {
    let mut buffer = [0u8; 160];
    let len = prefix.len() + rest.len();
    if let Some(joined) = buffer.get_mut(..len) {
        let (head, tail) = joined.split_at_mut(prefix.len());
        head.copy_from_slice(prefix.as_bytes());
        tail.copy_from_slice(rest.as_bytes());
        // Two strings joined are a string: this never falls through.
        if let Ok(joined) = std::str::from_utf8(joined) {
            return f(joined);
        }
    }
    f(&format!("{prefix}{rest}"))
}

impl fmt::Debug for TokenFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFacts")
            .field("jti", &self.claims.jti)
            .field("sub", &self.claims.sub)
            .field("sid", &self.claims.sid)
            .field("iat", &self.claims.iat)
            .field("exp", &self.claims.exp)
            .finish_non_exhaustive()
    }
}

/// A source of revocations: answers whether a verified token is revoked, and, for stores,
/// remembers new revocations.
///
/// Implemented by [`MemoryRevocationStore`] and, with the `redis` feature, `RedisRevocationStore`.
/// A plain async closure works too, through
/// [`JwtLayerBuilder::revoked_if`](crate::layer::JwtLayerBuilder::revoked_if).
pub trait RevocationStore: Send + Sync + 'static {
    /// Whether `token` is revoked. An error fails the request closed (503) unless the layer is
    /// configured to fail open.
    fn is_revoked<'a>(&'a self, token: &'a TokenFacts) -> BoxFuture<'a, Result<bool, BoxError>>;

    /// Whether `token` is revoked, when the source knows without waiting (it holds its
    /// revocations in memory); `None` sends the layer to [`is_revoked`](Self::is_revoked).
    ///
    /// The layer asks this first. An answer here is the whole check: no future, no timeout,
    /// and, with no user lookup configured, the request goes on without leaving the layer's
    /// synchronous path. It must not block: a source that would wait returns `None`. The
    /// default knows nothing at once.
    fn is_revoked_now(&self, token: &TokenFacts) -> Option<Result<bool, BoxError>> {
        let _ = token;
        None
    }

    /// Lists `token` as revoked for `ttl`. The default refuses: a read-only source.
    fn revoke_token<'a>(
        &'a self,
        token: &'a TokenFacts,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let _ = (token, ttl);
        Box::pin(async { Err("this revocation source cannot revoke".into()) })
    }

    /// Revokes every token whose `sid` is `login`, a login of `subject` revoked at
    /// `revoked_at` (Unix seconds; no token of the login is issued after it), remembered for
    /// `ttl`. The default refuses: a read-only source.
    fn revoke_login<'a>(
        &'a self,
        login: &'a str,
        subject: &'a str,
        revoked_at: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let _ = (login, subject, revoked_at, ttl);
        Box::pin(async { Err("this revocation source cannot revoke".into()) })
    }

    /// Revokes every token of `subject` issued before `before` (Unix seconds), remembered for
    /// `ttl`; a store keeps the later of `before` and what it holds. The default refuses: a
    /// read-only source.
    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        before: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let _ = (subject, before, ttl);
        Box::pin(async { Err("this revocation source cannot revoke".into()) })
    }
}

/// A revocation check from an async closure (FoalTS `blackList`).
pub(crate) struct RevokedIf<F>(pub(crate) F);

impl<F, Fut, E> RevocationStore for RevokedIf<F>
where
    F: Fn(TokenFacts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<bool, E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn is_revoked<'a>(&'a self, token: &'a TokenFacts) -> BoxFuture<'a, Result<bool, BoxError>> {
        let check = (self.0)(token.clone());
        Box::pin(async move { check.await.map_err(Into::into) })
    }
}

#[cfg(feature = "redis")]
pub(crate) fn subject_key(subject: &str) -> String {
    format!("sub:{subject}")
}

/// What the id of a revoked login starts with.
pub(crate) const LOGIN_PREFIX: &str = "sid:";

/// The id a revoked login is listed under.
pub(crate) fn login_id(sid: &str) -> String {
    format!("{LOGIN_PREFIX}{sid}")
}

/// Whether `token` was issued strictly before `before`. A token without `iat` cannot prove it
/// was issued afterwards, so it counts as revoked.
pub(crate) fn issued_before(token: &TokenFacts, before: u64) -> bool {
    token.claims.iat.is_none_or(|iat| iat < before)
}

/// Revokes tokens from a handler. The layer puts it into the request extensions when it was
/// built with a revocation store; a logout route is three lines:
///
/// ```
/// use axum::http::StatusCode;
/// use tower_jwt_auth::{AuthError, revocation::{Revoker, TokenFacts}};
///
/// async fn logout(revoker: Revoker, token: TokenFacts) -> Result<StatusCode, AuthError> {
///     revoker.revoke(&token).await?;
///     Ok(StatusCode::NO_CONTENT)
/// }
/// ```
#[derive(Clone)]
pub struct Revoker {
    /// One reference count per request that gets a clone.
    shared: Arc<RevokerShared>,
}

struct RevokerShared {
    store: Arc<dyn RevocationStore>,
    policy: RevokerPolicy,
}

/// How a layer's [`Revoker`] writes: the layer's leeway, clock and backend timeout.
pub(crate) struct RevokerPolicy {
    pub(crate) leeway: Duration,
    pub(crate) subject_ttl: Duration,
    pub(crate) timeout: Duration,
    pub(crate) clock: Clock,
}

impl fmt::Debug for Revoker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revoker")
            .field("subject_ttl", &self.shared.policy.subject_ttl)
            .field("timeout", &self.shared.policy.timeout)
            .finish_non_exhaustive()
    }
}

impl Revoker {
    pub(crate) fn new(store: Arc<dyn RevocationStore>, policy: RevokerPolicy) -> Self {
        Self {
            shared: Arc::new(RevokerShared { store, policy }),
        }
    }

    fn now(&self) -> u64 {
        self.shared.policy.clock.now()
    }

    /// Bounds a store write like the layer bounds its checks, so a logout route answers 503 in
    /// time when the store is down instead of hanging on reconnects.
    async fn bounded(&self, write: BoxFuture<'_, Result<(), BoxError>>) -> Result<(), AuthError> {
        match tokio::time::timeout(self.shared.policy.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(cause)) => Err(backend_failure(cause)),
            Err(_) => Err(backend_failure("revocation store write timed out".into())),
        }
    }

    /// Revokes one token until it would have expired anyway (its `exp` plus the layer's leeway).
    pub async fn revoke(&self, token: &TokenFacts) -> Result<(), AuthError> {
        let until = token
            .claims
            .exp
            .saturating_add(self.shared.policy.leeway.as_secs());
        let ttl = Duration::from_secs(until.saturating_sub(self.now()));
        self.bounded(self.shared.store.revoke_token(token, ttl))
            .await
    }

    /// Revokes every token of the login `token` belongs to (its `sid`), for the layer's
    /// longest token lifetime. A token without `sid` or `sub` belongs to no login the store
    /// can name: only the token itself is revoked then.
    pub async fn revoke_login(&self, token: &TokenFacts) -> Result<(), AuthError> {
        let (Some(sid), Some(sub)) = (token.sid(), token.sub()) else {
            return self.revoke(token).await;
        };
        let ttl = self.shared.policy.subject_ttl;
        self.bounded(self.shared.store.revoke_login(sid, sub, self.now(), ttl))
            .await
    }

    /// Revokes every token of `subject` issued before now ("log out everywhere").
    pub async fn revoke_subject(&self, subject: &str) -> Result<(), AuthError> {
        self.revoke_subject_before(subject, self.now()).await
    }

    /// Revokes every token of `subject` issued before `before` (Unix seconds). An earlier
    /// `before` than one already stored never shortens the revocation.
    pub async fn revoke_subject_before(&self, subject: &str, before: u64) -> Result<(), AuthError> {
        let ttl = self.shared.policy.subject_ttl;
        self.bounded(self.shared.store.revoke_subject(subject, before, ttl))
            .await
    }
}

fn backend_failure(cause: BoxError) -> AuthError {
    tracing::error!(target: "tower_jwt_auth", %cause, "revocation store failed");
    AuthError::BackendUnavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_without_iat_counts_as_issued_before_a_subject_revocation() {
        let facts = |iat| TokenFacts {
            token: BearerToken::for_tests("a.b.c"),
            claims: Arc::new(ClaimFacts {
                jti: None,
                sub: Some("alice".into()),
                sid: None,
                iat,
                exp: 0,
                binding: Default::default(),
            }),
        };
        assert!(issued_before(&facts(None), 100));
        assert!(issued_before(&facts(Some(99)), 100));
        assert!(!issued_before(&facts(Some(100)), 100));
    }

    #[test]
    fn tokens_without_jti_are_listed_by_digest_not_by_value() {
        let facts = TokenFacts {
            token: BearerToken::for_tests("header.payload.signature"),
            claims: Arc::new(ClaimFacts {
                jti: None,
                sub: None,
                sid: None,
                iat: None,
                exp: 0,
                binding: Default::default(),
            }),
        };
        let id = facts.revocation_id();
        assert!(id.starts_with("sha256:"));
        assert!(!id.contains("payload"));
        assert_eq!(id.len(), "sha256:".len() + 43);
    }
}
