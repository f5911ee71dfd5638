//! What both Redis stores share: the connection, the check that Redis keeps their keys, and
//! the scripts that never shorten a revocation (cargo feature `redis`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError};

use crate::error::{BoxError, ConfigError};

/// Sets KEYS[1] to ARGV[1] with a TTL of ARGV[2] seconds unless it already holds a later moment.
macro_rules! keep_later {
    () => {
        r"
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
"
    };
}

/// Sets KEYS[1] with a TTL of ARGV[1] seconds unless it already lives at least that long.
macro_rules! keep_longer {
    () => {
        r"
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
end
"
    };
}

/// Sets KEYS[1] to 1 with a TTL of ARGV[1] seconds.
macro_rules! set_for {
    () => {
        r"
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
"
    };
}

/// Announces what KEYS[1] now holds on the channel ARGV[#ARGV - 1], as `<ttl> <value> <name>`,
/// ARGV[#ARGV] being the key's name without the prefix: in the same script as the write, so a
/// revocation stored is a revocation announced (see `revocation::mirror`).
macro_rules! announce {
    () => {
        r"
local ttl = redis.call('TTL', KEYS[1])
local value = redis.call('GET', KEYS[1])
if ttl > 0 and value then
    redis.call('PUBLISH', ARGV[#ARGV - 1], ttl .. ' ' .. value .. ' ' .. ARGV[#ARGV])
end
"
    };
}

const KEEP_LATER_SCRIPT: &str = concat!(keep_later!(), "return nil");
const KEEP_LONGER_SCRIPT: &str = concat!(keep_longer!(), "return nil");

/// The writes of the revocation store, each announced.
const KEEP_LATER_ANNOUNCED: &str = concat!(keep_later!(), announce!(), "return nil");
const KEEP_LONGER_ANNOUNCED: &str = concat!(keep_longer!(), announce!(), "return nil");
const SET_ANNOUNCED: &str = concat!(set_for!(), announce!(), "return nil");

/// How a revocation write is announced: on `channel`, naming the key `name` (without prefix).
pub(crate) struct Announce<'a> {
    pub(crate) channel: &'a str,
    pub(crate) name: &'a str,
}

/// The constructors both stores have, for a store type with the fields `connection:
/// Connection` and `prefix: Arc<str>`, and its default prefix; `$calls` names what fails closed
/// while Redis is down.
macro_rules! store_constructors {
    ($store:ident, $default_prefix:ident, $calls:literal) => {
        impl $store {
            /// Connects to `url` (`redis://host:port/db`) now; fails when Redis is unreachable
            /// or may evict keys.
            pub async fn connect(url: &str) -> Result<Self, ConfigError> {
                let link = crate::redis::Link::Single(crate::redis::connect(url).await?);
                let store = Self::with_connection(Connection::of(link, Some(url)));
                store.connection.verify_now().await?;
                Ok(store)
            }

            /// Prepares a connection to `url` that is made at the first use, so the application
            #[doc = concat!("can start while Redis is still down (", $calls, " then fail closed")]
            /// until it is up).
            pub fn connect_lazy(url: &str) -> Result<Self, ConfigError> {
                let link = crate::redis::Link::Single(crate::redis::connect_lazy(url)?);
                Ok(Self::with_connection(Connection::of(link, Some(url))))
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

/// `connect_cluster`, for a store whose keys work on a Redis Cluster.
macro_rules! cluster_constructor {
    ($store:ident) => {
        impl $store {
            /// Connects to the Redis Cluster of `nodes` (`redis://` URLs of some of its nodes;
            /// the others are discovered) now; fails when none answers or a node given may
            /// evict keys.
            pub async fn connect_cluster(nodes: &[impl AsRef<str>]) -> Result<Self, ConfigError> {
                let nodes: Vec<String> =
                    nodes.iter().map(|node| node.as_ref().to_owned()).collect();
                let link = crate::redis::connect_cluster(&nodes).await?;
                let store = Self::with_connection(Connection::of(link, None));
                store.connection.verify_now().await?;
                Ok(store)
            }
        }
    };
}

pub(crate) use cluster_constructor;

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

/// A cluster connection for `nodes` (`redis://` URLs of some of its nodes), connected now.
pub(crate) async fn connect_cluster(nodes: &[String]) -> Result<Link, ConfigError> {
    if nodes.is_empty() {
        return Err(ConfigError::Backend(
            "a Redis Cluster needs the URL of one node at least".into(),
        ));
    }
    let client = ::redis::cluster::ClusterClientBuilder::new(nodes.iter().map(String::as_str))
        .connection_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(1))
        .retries(2)
        .build()
        .map_err(invalid_url)?;
    let connection = client
        .get_async_connection()
        .await
        .map_err(|error| ConfigError::Backend(error.to_string()))?;
    Ok(Link::Cluster {
        connection,
        nodes: nodes.iter().cloned().collect(),
    })
}

/// What a store talks to: one Redis (or a primary), or a Redis Cluster.
#[derive(Clone)]
pub(crate) enum Link {
    Single(ConnectionManager),
    Cluster {
        connection: ::redis::cluster_async::ClusterConnection,
        /// The nodes it was given, which the eviction check and the revocation mirror visit
        /// one by one. Never shown: a URL may carry a password.
        nodes: Arc<[String]>,
    },
}

impl ::redis::aio::ConnectionLike for Link {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a ::redis::Cmd,
    ) -> ::redis::RedisFuture<'a, ::redis::Value> {
        match self {
            Self::Single(manager) => manager.req_packed_command(cmd),
            Self::Cluster { connection, .. } => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a ::redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> ::redis::RedisFuture<'a, Vec<::redis::Value>> {
        match self {
            Self::Single(manager) => manager.req_packed_commands(cmd, offset, count),
            Self::Cluster { connection, .. } => connection.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(manager) => manager.get_db(),
            Self::Cluster { connection, .. } => connection.get_db(),
        }
    }
}

/// A link to Redis, and whether the Redis behind it was found not to evict keys.
#[derive(Clone)]
pub(crate) struct Connection {
    link: Link,
    /// The URL of a single Redis, when the store was given one: the revocation mirror
    /// subscribes through it. Never shown: it may carry a password.
    url: Option<Arc<str>>,
    /// Checked, or assumed by the user: no more `CONFIG GET` before each command.
    no_eviction: Arc<AtomicBool>,
}

impl Connection {
    pub(crate) fn new(manager: ConnectionManager) -> Self {
        Self::of(Link::Single(manager), None)
    }

    pub(crate) fn of(link: Link, url: Option<&str>) -> Self {
        Self {
            link,
            url: url.map(Into::into),
            no_eviction: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn assuming_no_eviction(self) -> Self {
        Self {
            no_eviction: Arc::new(AtomicBool::new(true)),
            ..self
        }
    }

    /// The URLs of the Redis nodes behind this connection, when known: the single Redis's,
    /// or the cluster nodes given.
    pub(crate) fn node_urls(&self) -> Option<Vec<String>> {
        match (&self.link, &self.url) {
            (Link::Cluster { nodes, .. }, _) => Some(nodes.to_vec()),
            (Link::Single(_), Some(url)) => Some(vec![url.to_string()]),
            (Link::Single(_), None) => None,
        }
    }

    /// Whether this is a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.link, Link::Cluster { .. })
    }

    /// The connection, once Redis is known not to evict keys; until then each call checks
    /// again (the operator may fix the policy while the application runs).
    pub(crate) async fn ready(&self) -> Result<Link, BoxError> {
        let mut link = self.link.clone();
        if !self.no_eviction.load(Ordering::Acquire) {
            let checked = match &link {
                Link::Single(_) => check_no_eviction(&mut link).await,
                Link::Cluster { nodes, .. } => check_nodes(nodes).await,
            };
            if let Err(refusal) = checked {
                tracing::error!(target: "tower_jwt_auth", %refusal, "Redis store not used");
                return Err(refusal);
            }
            self.no_eviction.store(true, Ordering::Release);
        }
        Ok(link)
    }

    /// Sets `key` to `before` (Unix seconds) for `ttl`, atomically, unless it already holds a
    /// later moment: an older "revoked before" must not un-revoke tokens.
    pub(crate) async fn keep_later(
        &self,
        key: String,
        before: u64,
        ttl: Duration,
    ) -> Result<(), BoxError> {
        self.keep_later_announced(key, before, ttl, None).await
    }

    /// [`keep_later`](Self::keep_later), announcing the result when `announce` says where.
    pub(crate) async fn keep_later_announced(
        &self,
        key: String,
        before: u64,
        ttl: Duration,
        announce: Option<Announce<'_>>,
    ) -> Result<(), BoxError> {
        let script = match announce {
            Some(_) => KEEP_LATER_ANNOUNCED,
            None => KEEP_LATER_SCRIPT,
        };
        let mut command = ::redis::cmd("EVAL");
        command
            .arg(script)
            .arg(1)
            .arg(key)
            .arg(before)
            .arg(ttl.as_secs().max(1));
        self.run(command, announce).await
    }

    /// Sets `key` for `ttl`, atomically, unless it already lives at least that long: a shorter
    /// life must not shorten a revocation.
    pub(crate) async fn keep_longer(&self, key: String, ttl: Duration) -> Result<(), BoxError> {
        self.keep_longer_announced(key, ttl, None).await
    }

    /// [`keep_longer`](Self::keep_longer), announcing the result when `announce` says where.
    pub(crate) async fn keep_longer_announced(
        &self,
        key: String,
        ttl: Duration,
        announce: Option<Announce<'_>>,
    ) -> Result<(), BoxError> {
        let script = match announce {
            Some(_) => KEEP_LONGER_ANNOUNCED,
            None => KEEP_LONGER_SCRIPT,
        };
        let mut command = ::redis::cmd("EVAL");
        command
            .arg(script)
            .arg(1)
            .arg(key)
            .arg(ttl.as_secs().max(1));
        self.run(command, announce).await
    }

    /// Sets `key` to 1 for `ttl` and announces it.
    pub(crate) async fn set_announced(
        &self,
        key: String,
        ttl: Duration,
        announce: Announce<'_>,
    ) -> Result<(), BoxError> {
        let mut command = ::redis::cmd("EVAL");
        command
            .arg(SET_ANNOUNCED)
            .arg(1)
            .arg(key)
            .arg(ttl.as_secs().max(1));
        self.run(command, Some(announce)).await
    }

    /// Runs a script `command`, with the announcement's channel and name as its last
    /// arguments.
    async fn run(
        &self,
        mut command: ::redis::Cmd,
        announce: Option<Announce<'_>>,
    ) -> Result<(), BoxError> {
        if let Some(announce) = announce {
            command.arg(announce.channel).arg(announce.name);
        }
        let mut connection = self.ready().await?;
        let () = command.query_async(&mut connection).await?;
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

/// [`check_no_eviction`] on every node given of a cluster, each on a connection of its own:
/// `CONFIG GET` answers for one node only.
async fn check_nodes(nodes: &[String]) -> Result<(), BoxError> {
    for node in nodes {
        let mut connection = Client::open(node.as_str())?
            .get_multiplexed_async_connection()
            .await?;
        check_no_eviction(&mut connection).await?;
    }
    Ok(())
}

/// Fails unless Redis keeps every key until it expires: no memory limit, or `noeviction`.
async fn check_no_eviction(
    connection: &mut impl ::redis::aio::ConnectionLike,
) -> Result<(), BoxError> {
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

pub(crate) fn invalid_url(error: RedisError) -> ConfigError {
    ConfigError::Backend(format!("invalid Redis URL ({:?})", error.kind()))
}
