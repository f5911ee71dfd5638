//! What both Redis stores share: the connection, the check that Redis keeps their keys, and
//! the scripts that never shorten a revocation (cargo feature `redis`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError};

use crate::error::{BoxError, ConfigError};

/// Sets KEYS[1] to ARGV[1] with a TTL of ARGV[2] seconds unless it already holds a later moment.
const KEEP_LATER_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return nil
";

/// Sets KEYS[1] with a TTL of ARGV[1] seconds unless it already lives at least that long.
const KEEP_LONGER_SCRIPT: &str = r"
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
end
return nil
";

/// The constructors both stores have, for a store type with the fields `connection:
/// Connection` and `prefix: Arc<str>`, and its default prefix; `$calls` names what fails closed
/// while Redis is down.
macro_rules! store_constructors {
    ($store:ident, $default_prefix:ident, $calls:literal) => {
        impl $store {
            /// Connects to `url` (`redis://host:port/db`) now; fails when Redis is unreachable
            /// or may evict keys.
            pub async fn connect(url: &str) -> Result<Self, ConfigError> {
                let store = Self::from_connection(crate::redis::connect(url).await?);
                store.connection.verify_now().await?;
                Ok(store)
            }

            /// Prepares a connection to `url` that is made at the first use, so the application
            #[doc = concat!("can start while Redis is still down (", $calls, " then fail closed")]
            /// until it is up).
            pub fn connect_lazy(url: &str) -> Result<Self, ConfigError> {
                crate::redis::connect_lazy(url).map(Self::from_connection)
            }

            /// Uses an existing connection manager (custom TLS, credentials, timeouts).
            pub fn from_connection(connection: ConnectionManager) -> Self {
                Self::with_connection(Connection::new(connection))
            }

            fn with_connection(connection: Connection) -> Self {
                Self {
                    connection,
                    prefix: $default_prefix.into(),
                }
            }

            /// Skips the eviction check, for a Redis that does not allow `CONFIG GET`: you state
            /// that its `maxmemory-policy` is `noeviction` (or that it has no memory limit).
            pub fn assume_no_eviction(mut self) -> Self {
                self.connection = self.connection.assuming_no_eviction();
                self
            }

            /// Sets the key prefix, to share one Redis between applications. Default:
            #[doc = concat!("[`", stringify!($default_prefix), "`].")]
            pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
                self.prefix = prefix.into().into();
                self
            }
        }
    };
}

pub(crate) use store_constructors;

/// How both stores connect. Short bounds: the layer answers 503 after its own timeout anyway,
/// and a reconnect loop that backs off for minutes would keep the app failing long after Redis
/// is back.
fn config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_max_delay(Duration::from_secs(1))
        // Each request retries the connection anyway; a long retry loop only delays the 503.
        .set_number_of_retries(2)
}

/// A connection manager for `url`, connected now: both stores connect the same way.
pub(crate) async fn connect(url: &str) -> Result<ConnectionManager, ConfigError> {
    Client::open(url)
        .map_err(invalid_url)?
        .get_connection_manager_with_config(config())
        .await
        .map_err(|error| ConfigError::Backend(error.to_string()))
}

/// A connection manager for `url` that connects at its first use.
pub(crate) fn connect_lazy(url: &str) -> Result<ConnectionManager, ConfigError> {
    Client::open(url)
        .map_err(invalid_url)?
        .get_connection_manager_lazy(config())
        .map_err(|error| ConfigError::Backend(error.to_string()))
}

/// A connection manager, and whether the Redis behind it was found not to evict keys.
#[derive(Clone)]
pub(crate) struct Connection {
    manager: ConnectionManager,
    /// Checked, or assumed by the user: no more `CONFIG GET` before each command.
    no_eviction: Arc<AtomicBool>,
}

impl Connection {
    pub(crate) fn new(manager: ConnectionManager) -> Self {
        Self {
            manager,
            no_eviction: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn assuming_no_eviction(self) -> Self {
        Self {
            manager: self.manager,
            no_eviction: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The connection, once Redis is known not to evict keys; until then each call checks
    /// again (the operator may fix the policy while the application runs).
    pub(crate) async fn ready(&self) -> Result<ConnectionManager, BoxError> {
        let mut manager = self.manager.clone();
        if !self.no_eviction.load(Ordering::Acquire) {
            if let Err(refusal) = check_no_eviction(&mut manager).await {
                tracing::error!(target: "tower_jwt_auth", %refusal, "Redis store not used");
                return Err(refusal);
            }
            self.no_eviction.store(true, Ordering::Release);
        }
        Ok(manager)
    }

    /// Sets `key` to `before` (Unix seconds) for `ttl`, atomically, unless it already holds a
    /// later moment: an older "revoked before" must not un-revoke tokens.
    pub(crate) async fn keep_later(
        &self,
        key: String,
        before: u64,
        ttl: Duration,
    ) -> Result<(), BoxError> {
        let mut connection = self.ready().await?;
        let () = ::redis::cmd("EVAL")
            .arg(KEEP_LATER_SCRIPT)
            .arg(1)
            .arg(key)
            .arg(before)
            .arg(ttl.as_secs().max(1))
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Sets `key` for `ttl`, atomically, unless it already lives at least that long: a shorter
    /// life must not shorten a revocation.
    pub(crate) async fn keep_longer(&self, key: String, ttl: Duration) -> Result<(), BoxError> {
        let mut connection = self.ready().await?;
        let () = ::redis::cmd("EVAL")
            .arg(KEEP_LONGER_SCRIPT)
            .arg(1)
            .arg(key)
            .arg(ttl.as_secs().max(1))
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    /// [`ready`](Self::ready) at start-up: a Redis that may evict is a configuration error.
    pub(crate) async fn verify_now(&self) -> Result<(), ConfigError> {
        self.ready()
            .await
            .map(drop)
            .map_err(|refusal| ConfigError::Backend(refusal.to_string()))
    }
}

/// Fails unless Redis keeps every key until it expires: no memory limit, or `noeviction`.
async fn check_no_eviction(connection: &mut ConnectionManager) -> Result<(), BoxError> {
    let reply: Result<Vec<String>, RedisError> = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory*")
        .query_async(connection)
        .await;
    let settings = match reply {
        Ok(settings) => settings,
        Err(error)
            if error.is_io_error() || error.is_timeout() || error.is_connection_dropped() =>
        {
            return Err(error.into());
        }
        Err(error) => {
            return Err(format!(
                "cannot read Redis's eviction policy (CONFIG GET maxmemory*: {error}); check \
                 that maxmemory-policy is noeviction, then call assume_no_eviction()"
            )
            .into());
        }
    };
    let setting = |name: &str| {
        settings
            .chunks(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair.get(1))
            .map(String::as_str)
    };
    let limit = setting("maxmemory").unwrap_or("0");
    let policy = setting("maxmemory-policy").unwrap_or("noeviction");
    if limit != "0" && policy != "noeviction" {
        return Err(format!(
            "Redis may evict keys (maxmemory {limit}, maxmemory-policy {policy}): an evicted \
             revocation or session would be forgotten; set maxmemory-policy noeviction"
        )
        .into());
    }
    Ok(())
}

fn invalid_url(error: RedisError) -> ConfigError {
    ConfigError::Backend(format!("invalid Redis URL ({:?})", error.kind()))
}
