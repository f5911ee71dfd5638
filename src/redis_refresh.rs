//! Refresh tokens shared by many instances through Redis (cargo feature `redis`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::AsyncCommands;
use ::redis::aio::ConnectionManager;
use futures_util::future::BoxFuture;

use crate::error::ConfigError;
use crate::layer::BoxError;
use crate::redis_store::{self, KEEP_LATER_SCRIPT, KEEP_LONGER_SCRIPT, RedisRevocations};
use crate::refresh::{Consumed, RefreshRecord, RefreshStore};

/// The key prefix of refresh tokens when none is configured.
pub const DEFAULT_REDIS_REFRESH_PREFIX: &str = "tower-jwt-auth:refresh:";

/// Consumes a token in one atomic step. KEYS[1]: the token's hash; ARGV[1]: the prefix,
/// ARGV[2]: now. Returns `{'unknown'}`, `{'revoked'}`, `{'reused', family, subject}` (after
/// revoking the family for the rest of its life) or `{'fresh', record}`.
///
/// The family and subject keys are derived from the record, so the script touches keys it was
/// not given: fine on a single Redis (what `ConnectionManager` talks to), not on a cluster.
const CONSUME_SCRIPT: &str = r"
local f = redis.call('HMGET', KEYS[1], 'state', 'family', 'sub', 'family_iat', 'exp', 'record')
if not f[1] then return {'unknown'} end
local now = tonumber(ARGV[2])
local exp = tonumber(f[5])
if exp <= now then return {'unknown'} end
local family_key = ARGV[1] .. 'family:' .. f[2]
if f[1] == 'consumed' then
    local ttl = exp - now
    if redis.call('TTL', family_key) < ttl then
        redis.call('SET', family_key, '1', 'EX', ttl)
    end
    return {'reused', f[2], f[3]}
end
if redis.call('EXISTS', family_key) == 1 then return {'revoked'} end
local before = tonumber(redis.call('GET', ARGV[1] .. 'sub:' .. f[3]))
if before and tonumber(f[4]) <= before then return {'revoked'} end
redis.call('HSET', KEYS[1], 'state', 'consumed')
return {'fresh', f[6]}
";

/// Refresh tokens in Redis, shared by every instance of the application.
///
/// A token is a hash `<prefix>token:<sha256>` (its state, family, subject, expiry and the record
/// as JSON; never the token) that expires with the token (`EXPIRE`), so Redis forgets it on its
/// own; consuming it keeps it, marked consumed, until then, so a replay is recognised. A revoked
/// family is `<prefix>family:<family>`, a "log out everywhere" `<prefix>sub:<subject>`, each
/// expiring when no token it covers can be alive. Consuming is one Lua script, atomic in Redis:
/// of concurrent rotations of one token, exactly one wins.
///
/// Cheap to clone; clones share the connection. Meant for a single Redis (or a primary), like
/// [`RedisRevocations`]; the consume script derives keys from the record, which a cluster would
/// refuse.
#[derive(Clone)]
pub struct RedisRefreshStore {
    connection: ConnectionManager,
    prefix: Arc<str>,
}

impl fmt::Debug for RedisRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRefreshStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRefreshStore {
    /// Connects to `url` (`redis://host:port/db`) now; fails when Redis is unreachable.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        redis_store::connect(url).await.map(Self::from_connection)
    }

    /// Prepares a connection to `url` that is made at the first use, so the application can
    /// start while Redis is still down (token calls then fail closed until it is up).
    pub fn connect_lazy(url: &str) -> Result<Self, ConfigError> {
        redis_store::connect_lazy(url).map(Self::from_connection)
    }

    /// Uses an existing connection manager (custom TLS, credentials, timeouts).
    pub fn from_connection(connection: ConnectionManager) -> Self {
        Self {
            connection,
            prefix: DEFAULT_REDIS_REFRESH_PREFIX.into(),
        }
    }

    /// Shares the connection of a revocation store: one multiplexed connection for both.
    pub fn sharing(revocations: &RedisRevocations) -> Self {
        Self::from_connection(revocations.connection())
    }

    /// Sets the key prefix, to share one Redis between applications. Default:
    /// [`DEFAULT_REDIS_REFRESH_PREFIX`].
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().into();
        self
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }
}

impl RefreshStore for RedisRefreshStore {
    fn insert<'a>(&'a self, record: &'a RefreshRecord) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let json = serde_json::to_string(record)?;
            let key = self.key("token", record.token_hash());
            let mut connection = self.connection.clone();
            let () = ::redis::pipe()
                .atomic()
                .hset_multiple(
                    &key,
                    &[
                        ("state", "active"),
                        ("family", record.family()),
                        ("sub", record.subject()),
                        ("family_iat", &record.family_issued_at().to_string()),
                        ("exp", &record.expires_at().to_string()),
                        ("record", &json),
                    ],
                )
                .ignore()
                .expire(&key, record.ttl().as_secs() as i64)
                .ignore()
                .query_async(&mut connection)
                .await?;
            Ok(())
        })
    }

    fn consume<'a>(
        &'a self,
        token_hash: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Consumed, BoxError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let reply: Vec<String> = ::redis::cmd("EVAL")
                .arg(CONSUME_SCRIPT)
                .arg(1)
                .arg(self.key("token", token_hash))
                .arg(&*self.prefix)
                .arg(now)
                .query_async(&mut connection)
                .await?;
            match reply.as_slice() {
                [state] if state == "unknown" => Ok(Consumed::Unknown),
                [state] if state == "revoked" => Ok(Consumed::Revoked),
                [state, family, subject] if state == "reused" => Ok(Consumed::Reused {
                    family: family.clone(),
                    subject: subject.clone(),
                }),
                [state, record] if state == "fresh" => {
                    Ok(Consumed::Fresh(serde_json::from_str(record)?))
                }
                _ => Err("unexpected reply from the refresh token script".into()),
            }
        })
    }

    fn find<'a>(
        &'a self,
        token_hash: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<RefreshRecord>, BoxError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let record: Option<String> = connection
                .hget(self.key("token", token_hash), "record")
                .await?;
            let record = record
                .map(|json| serde_json::from_str::<RefreshRecord>(&json))
                .transpose()?;
            Ok(record.filter(|record| record.expires_at() > now))
        })
    }

    fn revoke_family<'a>(
        &'a self,
        family: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let () = ::redis::cmd("EVAL")
                .arg(KEEP_LONGER_SCRIPT)
                .arg(1)
                .arg(self.key("family", family))
                .arg(ttl.as_secs().max(1))
                .query_async(&mut connection)
                .await?;
            Ok(())
        })
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        before: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let () = ::redis::cmd("EVAL")
                .arg(KEEP_LATER_SCRIPT)
                .arg(1)
                .arg(self.key("sub", subject))
                .arg(before)
                .arg(ttl.as_secs().max(1))
                .query_async(&mut connection)
                .await?;
            Ok(())
        })
    }
}
