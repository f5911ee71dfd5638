//! Revocations shared by many instances through Redis (cargo feature `redis`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, Client, RedisError};
use futures_util::future::BoxFuture;

use crate::error::ConfigError;
use crate::layer::BoxError;
use crate::revocation::{Revocations, TokenFacts, issued_before, login_id, subject_key};

/// Sets KEYS[1] to ARGV[1] with a TTL of ARGV[2] seconds unless it already holds a later moment.
pub(crate) const KEEP_LATER_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return nil
";

/// Sets KEYS[1] with a TTL of ARGV[1] seconds unless it already lives at least that long.
pub(crate) const KEEP_LONGER_SCRIPT: &str = r"
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
end
return nil
";

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
#[derive(Clone)]
pub struct RedisRevocations {
    connection: ConnectionManager,
    prefix: Arc<str>,
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: it is not kept, and not shown.
        f.debug_struct("RedisRevocations")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRevocations {
    /// Connects to `url` (`redis://host:port/db`) now; fails when Redis is unreachable.
    pub async fn connect(url: &str) -> Result<Self, ConfigError> {
        connect(url).await.map(Self::from_connection)
    }

    /// Prepares a connection to `url` that is made at the first use, so the application can
    /// start while Redis is still down (requests then fail closed until it is up).
    pub fn connect_lazy(url: &str) -> Result<Self, ConfigError> {
        connect_lazy(url).map(Self::from_connection)
    }

    /// Uses an existing connection manager (custom TLS, credentials, timeouts).
    pub fn from_connection(connection: ConnectionManager) -> Self {
        Self {
            connection,
            prefix: DEFAULT_REDIS_PREFIX.into(),
        }
    }

    /// Sets the key prefix, to share one Redis between applications. Default:
    /// [`DEFAULT_REDIS_PREFIX`].
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().into();
        self
    }

    fn config() -> ConnectionManagerConfig {
        // Short bounds: the layer answers 503 after its own timeout anyway, and a reconnect
        // loop that backs off for minutes would keep the app failing long after Redis is back.
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_max_delay(Duration::from_secs(1))
            // Each request retries the connection anyway; a long retry loop only delays the 503.
            .set_number_of_retries(2)
    }

    /// The shared connection, for a `RedisRefreshStore` on the same Redis.
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }
}

/// A connection manager for `url`, connected now: both stores connect the same way.
pub(crate) async fn connect(url: &str) -> Result<ConnectionManager, ConfigError> {
    Client::open(url)
        .map_err(invalid_url)?
        .get_connection_manager_with_config(RedisRevocations::config())
        .await
        .map_err(|error| ConfigError::Backend(error.to_string()))
}

/// A connection manager for `url` that connects at its first use.
pub(crate) fn connect_lazy(url: &str) -> Result<ConnectionManager, ConfigError> {
    Client::open(url)
        .map_err(invalid_url)?
        .get_connection_manager_lazy(RedisRevocations::config())
        .map_err(|error| ConfigError::Backend(error.to_string()))
}

fn invalid_url(error: RedisError) -> ConfigError {
    ConfigError::Backend(format!("invalid Redis URL ({:?})", error.kind()))
}

impl Revocations for RedisRevocations {
    fn is_revoked<'a>(&'a self, token: &'a TokenFacts) -> BoxFuture<'a, Result<bool, BoxError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
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
            let mut connection = self.connection.clone();
            let () = connection
                .set_ex(self.key(&token.revocation_id()), 1, seconds)
                .await?;
            Ok(())
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
            let mut connection = self.connection.clone();
            let () = ::redis::cmd("EVAL")
                .arg(KEEP_LONGER_SCRIPT)
                .arg(1)
                .arg(self.key(&login_id(login)))
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
            let seconds = ttl.as_secs().max(1);
            // Atomically keep the later moment: an older `before` must not un-revoke tokens.
            let () = ::redis::cmd("EVAL")
                .arg(KEEP_LATER_SCRIPT)
                .arg(1)
                .arg(self.key(&subject_key(subject)))
                .arg(before)
                .arg(seconds)
                .query_async(&mut connection)
                .await?;
            Ok(())
        })
    }
}
