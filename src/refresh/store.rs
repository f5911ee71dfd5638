//! Where refresh tokens are remembered: the [`RefreshStore`] trait, and the [`RefreshRecord`]
//! and [`Rotation`] a store is given.

use std::fmt;
use std::time::Duration;

use crate::BoxFuture;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::BoxError;

/// What the server remembers of one refresh token. It never contains the token itself.
///
/// Serializable, so a custom [`RefreshStore`] can keep it as JSON.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub(super) token_hash: String,
    pub(super) subject: String,
    pub(super) family: String,
    pub(super) family_issued_at: u64,
    pub(super) issued_at: u64,
    pub(super) expires_at: u64,
    pub(super) claims: Map<String, Value>,
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

/// One rotation for [`RefreshStore::rotate`]: the presented token, the one replacing it, and
/// the bounds the store applies it within.
#[derive(Clone, Copy, Debug)]
pub struct Rotation<'a> {
    /// The SHA-256 of the presented token ([`RefreshRecord::token_hash`]).
    pub token_hash: &'a str,
    /// The record of the token replacing it, of the same family.
    pub successor: &'a RefreshRecord,
    /// The time the rotation is judged at, in Unix seconds (the sessions' clock).
    pub now: u64,
    /// The moment, in Unix milliseconds of the system clock, after which the store must not
    /// apply the rotation.
    pub deadline_ms: u64,
    /// How long after its consumption a token whose successor was never used may rotate once
    /// more; zero: never.
    pub reuse_grace: Duration,
}

/// What [`RefreshStore::rotate`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consumed {
    /// The token was active and is now consumed, its successor stored; here is its record.
    /// Exactly one of several concurrent rotations of a token gets this.
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
/// Implemented by [`MemoryRefreshStore`](super::MemoryRefreshStore) and, with the `redis` feature, `RedisRefreshStore`.
/// [`rotate`](Self::rotate) must be atomic: of two concurrent rotations of one token, exactly
/// one gets [`Consumed::Fresh`].
pub trait RefreshStore: Send + Sync + 'static {
    /// A short tag the refresh tokens and family ids of `subject` start with (`<tag>.…`), so
    /// that a store spread over shards (a Redis Cluster) finds every key of a session in one
    /// shard from the token alone. `None`, the default, leaves them untagged.
    fn slot_tag(&self, subject: &str) -> Option<String> {
        let _ = subject;
        None
    }

    /// Stores a new, active token for [`RefreshRecord::ttl`].
    fn insert<'a>(&'a self, record: &'a RefreshRecord) -> BoxFuture<'a, Result<(), BoxError>>;

    /// Atomically rotates the token whose hash is `rotation.token_hash`, at `rotation.now`
    /// (Unix seconds), in this order: missing or expired → [`Consumed::Unknown`]; already
    /// consumed → unless the reuse grace lets it rotate once more (below), the family is
    /// revoked for the rest of its life and [`Consumed::Reused`]; family or subject revoked →
    /// [`Consumed::Revoked`]; otherwise the token is marked consumed (its record is kept until
    /// it expires, so a replay is recognised), `rotation.successor` is stored, and
    /// [`Consumed::Fresh`] returned with the consumed token's record. All of it, or nothing.
    ///
    /// A store reached after `rotation.deadline_ms` (Unix milliseconds, system clock) must not
    /// change anything and fail: the caller has answered with a failure by then, and the
    /// client will present the same token again.
    ///
    /// With a non-zero `rotation.reuse_grace`, a consumed token whose successor was never used
    /// rotates once more within that long of its consumption: the unused successor is marked
    /// consumed and the new one stored.
    fn rotate<'a>(
        &'a self,
        rotation: &'a Rotation<'a>,
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
///
/// A token that starts with a slot tag (`<tag>.<random>`, see [`RefreshStore::slot_tag`])
/// keeps the tag in front of its hash, so that a store finds the token's slot from the hash.
pub(crate) fn hash_refresh_token(token: &str) -> String {
    let digest = URL_SAFE_NO_PAD.encode(crate::crypto::sha256(&[token.as_bytes()]));
    match slot_tag_of(token) {
        Some(tag) => format!("{tag}.{digest}"),
        None => digest,
    }
}

/// The slot tag a token, a token hash or a family id starts with, if any.
pub(crate) fn slot_tag_of(id: &str) -> Option<&str> {
    let (tag, _) = id.split_once('.')?;
    (!tag.is_empty() && tag.len() <= 16).then_some(tag)
}

/// Whether a family issued at `family_issued_at` falls under a subject revocation at `before`.
/// At or before, not strictly before: a login in the same second as a "log out everywhere"
/// must log in again rather than risk surviving it.
pub(crate) fn family_revoked_by_subject(family_issued_at: u64, before: u64) -> bool {
    family_issued_at <= before
}
