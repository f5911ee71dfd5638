//! [`RedisDpopReplayStore`]: the proofs accepted by every instance, in Redis (cargo feature
//! `redis`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;
use ::redis::aio::ConnectionManager;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::DpopReplayStore;
use crate::error::{BoxError, ConfigError};
use crate::redis::{Connection, cluster_constructor, store_constructors};

/// The key prefix used when none is configured.
pub const DEFAULT_DPOP_REDIS_PREFIX: &str = "tower-jwt-auth:dpop:";

/// DPoP proofs accepted, in Redis, so that a proof one instance accepted is a replay to all.
///
/// An accepted proof is a key `<prefix><id>` (the base64url SHA-256 of its key's thumbprint
/// and `jti`) set with `SET … NX EX <window>`: one round trip that records the proof and tells
/// a replay, atomically, and Redis forgets it when the proof could no longer pass anyway.
///
/// Redis must not evict these keys: an evicted one lets its proof be replayed within its
/// window. As the other Redis stores, it checks `maxmemory-policy` before its first command
/// and refuses to work while Redis may evict ([`assume_no_eviction`](Self::assume_no_eviction)
/// where `CONFIG GET` is not allowed). Cheap to clone; clones share the connection.
///
/// A Redis restarted without persistence forgets the proofs of the last window (60 s by
/// default): each of them can then be replayed once, within what is left of its window. Run
/// Redis with `appendonly yes` (and `appendfsync always` to lose none in a crash) where that
/// matters. While Redis is down or late, proofs are refused with a 503, never taken unchecked.
#[derive(Clone)]
pub struct RedisDpopReplayStore {
    connection: Connection,
    prefix: Arc<str>,
}

impl fmt::Debug for RedisDpopReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: it is not kept, and not shown.
        f.debug_struct("RedisDpopReplayStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

store_constructors!(
    RedisDpopReplayStore,
    DEFAULT_DPOP_REDIS_PREFIX,
    "DPoP requests"
);
// One key a proof.
cluster_constructor!(RedisDpopReplayStore);

impl DpopReplayStore for RedisDpopReplayStore {
    fn remember<'a>(
        &'a self,
        id: &'a [u8; 32],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, BoxError>> {
        Box::pin(async move {
            let mut connection = self.connection.ready().await?;
            let key = format!("{}{}", self.prefix, URL_SAFE_NO_PAD.encode(id));
            let set: Option<String> = ::redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .query_async(&mut connection)
                .await?;
            Ok(set.is_some())
        })
    }
}
