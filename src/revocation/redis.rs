//! [`RedisRevocationStore`]: revocations shared by many instances through Redis (cargo feature
//! `redis`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;
use ::redis::aio::ConnectionManager;

use super::{RevocationStore, TokenFacts, issued_before, login_id, subject_key};
use crate::error::{BoxError, ConfigError};
use crate::redis::{Announce, Connection, cluster_constructor, store_constructors};

/// The key prefix used when none is configured.
pub const DEFAULT_REDIS_PREFIX: &str = "tower-jwt-auth:revoked:";

/// Revocations in Redis, shared by every instance of the application.
///
/// A revoked token is a key `<prefix>jti:<jti>` (or `<prefix>sha256:<digest>` for a token
/// without `jti`) set with `SET … EX <remaining lifetime>`, so Redis forgets it when the token
/// would have expired anyway. "Log out everywhere" is a key `<prefix>sub:<subject>` holding the
/// moment before which the subject's tokens are revoked. A check is one `MGET` round trip.
///
/// The connection is multiplexed and reconnects by itself after a Redis restart; while Redis is
/// unreachable the layer fails closed (503) unless configured otherwise. Cheap to clone; clones
/// share the connection.
///
/// Redis must not evict these keys: a revocation evicted for room makes its token valid again.
/// The store reads `maxmemory` and `maxmemory-policy` before its first command (at
/// [`connect`](Self::connect), or the first request after [`connect_lazy`](Self::connect_lazy))
/// and refuses to work while Redis may evict (a memory limit with any policy but
/// `noeviction`); with `noeviction`, a full Redis refuses the write and the logout answers 503.
/// Where `CONFIG GET` is not allowed (managed Redis), check the policy yourself and call
/// [`assume_no_eviction`](Self::assume_no_eviction).
#[derive(Clone)]
pub struct RedisRevocationStore {
    connection: Connection,
    prefix: Arc<str>,
}

impl fmt::Debug for RedisRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: it is not kept, and not shown.
        f.debug_struct("RedisRevocationStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

store_constructors!(RedisRevocationStore, DEFAULT_REDIS_PREFIX, "requests");
// Every write is one key, and a check's `MGET` is split by slot by the cluster client.
cluster_constructor!(RedisRevocationStore);

impl RedisRevocationStore {
    /// The shared connection, for a `RedisRefreshStore` on the same Redis.
    pub(crate) fn connection(&self) -> Connection {
        self.connection.clone()
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// The channel every revocation is announced on, for the mirrors
    /// ([`MirroredRevocationStore`](super::MirroredRevocationStore)).
    pub(crate) fn channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Announces a write of `name` (a key without the prefix) on the channel.
    fn announce<'a>(channel: &'a str, name: &'a str) -> Option<Announce<'a>> {
        Some(Announce { channel, name })
    }
}

impl RevocationStore for RedisRevocationStore {
    fn is_revoked<'a>(&'a self, token: &'a TokenFacts) -> BoxFuture<'a, Result<bool, BoxError>> {
        Box::pin(async move {
            let mut connection = self.connection.ready().await?;
            // One round trip: the token's id, its login's and its subject's, those it has.
            let mut keys = vec![self.key(&token.revocation_id())];
            keys.extend(token.sid().map(|sid| self.key(&login_id(sid))));
            keys.extend(token.sub().map(|sub| self.key(&subject_key(sub))));
            let values: Vec<Option<u64>> = ::redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut connection)
                .await?;
            let listed = 1 + usize::from(token.sid().is_some());
            let (listed, subject) = values.split_at(listed.min(values.len()));
            Ok(listed.iter().any(Option::is_some)
                || subject
                    .first()
                    .copied()
                    .flatten()
                    .is_some_and(|before| issued_before(token, before)))
        })
    }

    fn revoke_token<'a>(
        &'a self,
        token: &'a TokenFacts,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let seconds = ttl.as_secs();
            if seconds == 0 {
                return Ok(());
            }
            let (id, channel) = (token.revocation_id(), self.channel());
            let announce = Announce {
                channel: &channel,
                name: &id,
            };
            self.connection
                .set_announced(self.key(&id), Duration::from_secs(seconds), announce)
                .await
        })
    }

    fn revoke_login<'a>(
        &'a self,
        login: &'a str,
        _subject: &'a str,
        _revoked_at: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let (id, channel) = (login_id(login), self.channel());
            self.connection
                .keep_longer_announced(self.key(&id), ttl, Self::announce(&channel, &id))
                .await
        })
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        before: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let (id, channel) = (subject_key(subject), self.channel());
            self.connection
                .keep_later_announced(self.key(&id), before, ttl, Self::announce(&channel, &id))
                .await
        })
    }
}
