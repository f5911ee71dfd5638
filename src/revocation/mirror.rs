//! [`MirroredRevocationStore`]: the revocations of a [`RedisRevocationStore`], mirrored in this
//! process's memory, so that a check is a local lookup (cargo feature `redis`).
//!
//! Every write of a `RedisRevocationStore` announces, in the same Lua script, what the key now
//! holds on a pub/sub channel. A mirror subscribes to it, then loads every revocation under
//! the prefix (`SCAN`), then applies what it hears. Pub/sub rather than keyspace notifications
//! (they need a server setting, often refused on managed Redis, and carry no value) or streams
//! (a log to trim, and a reader per instance to track): a mirror that misses messages knows it,
//! and loads everything again.
//!
//! How it knows: it announces a heartbeat of its own on the channel every few hundred
//! milliseconds and takes its mirror as current only while it hears them back. Redis delivers
//! a channel's messages in the order it published them, so hearing its heartbeat sent at `t`
//! means every revocation announced before `t` was heard too. A mirror that has heard none
//! sent within `max_staleness` is stale: checks go to Redis (`MGET`, as the plain store does)
//! until it has subscribed and loaded again. It never answers "not revoked" from a mirror that
//! may be missing revocations.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::BoxFuture;
use ::redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use ::redis::{Client, FromRedisValue, Msg};
use foldhash::fast::RandomState;
use futures_util::{StreamExt, TryStreamExt};

use super::{
    LOGIN_PREFIX, RedisRevocationStore, RevocationStore, TokenFacts, issued_before, with_joined,
};
use crate::clock::instant_after;
use crate::error::{BoxError, ConfigError};
use crate::redis::{Link, invalid_url};
use crate::telemetry;

/// How old the last heartbeat heard may be before a mirror stops answering checks, by
/// default.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(1);

/// How many revocations a mirror holds at most by default; beyond, it stops answering and
/// every check goes to Redis.
pub const DEFAULT_MIRROR_CAPACITY: usize = 1_000_000;

/// What a stored key's name starts with, for each kind of revocation the store writes.
const LISTED_PREFIXES: [&str; 3] = ["jti:", "sha256:", LOGIN_PREFIX];
const SUBJECT_PREFIX: &str = "sub:";

/// Revocations in Redis, checked against a copy in this process's memory.
///
/// Writes go to Redis, as with [`RedisRevocationStore`] (and are applied to this instance's
/// copy at once); checks are local lookups while the copy is current, and otherwise the
/// `MGET` round trip of the plain store (a 503 while Redis is unreachable: never an answer
/// from a copy that may lack a revocation). The copy is current when a heartbeat this
/// instance announced through Redis came back within `max_staleness` (default 1 s): a
/// revocation answered on one instance is then refused by every other within that bound.
/// After a broken subscription or a Redis restart, the mirror subscribes and loads every
/// revocation again, by itself.
///
/// Made with [`RedisRevocationStore::mirrored`]; it needs a Tokio runtime (it runs one task,
/// stopped when the last clone is dropped). Cheap to clone.
#[derive(Clone)]
pub struct MirroredRevocationStore {
    handle: Arc<Handle>,
}

/// The task's owner: dropping the last store stops it.
struct Handle {
    mirror: Arc<Mirror>,
    task: tokio::task::AbortHandle,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the task and the checks share.
struct Mirror {
    redis: RedisRevocationStore,
    channel: String,
    prefix: String,
    entries: RwLock<Entries>,
    /// Until when (milliseconds since `started`) the copy is current; 0: stale.
    current_until: AtomicU64,
    started: Instant,
    max_staleness: Duration,
    capacity: usize,
    /// Set when the copy would need more than `capacity` entries: it answers nothing then.
    overflowed: AtomicBool,
    /// Tells this instance's heartbeats from others'.
    instance: u64,
}

#[derive(Default)]
struct Entries {
    /// Revoked tokens and logins, by id (`jti:…`, `sha256:…`, `sid:…`), until when.
    listed: HashMap<String, Instant, RandomState>,
    /// Subjects whose tokens issued before a moment are revoked: the moment, and until when.
    subjects: HashMap<String, (u64, Instant), RandomState>,
    /// When expired entries were last dropped.
    swept: Option<Instant>,
}

impl Entries {
    fn len(&self) -> usize {
        self.listed.len() + self.subjects.len()
    }

    /// Whether the key `name` has its entry already.
    fn holds(&self, name: &str) -> bool {
        match name.strip_prefix(SUBJECT_PREFIX) {
            Some(subject) => self.subjects.contains_key(subject),
            None => self.listed.contains_key(name),
        }
    }

    /// Records what a key holds for `ttl` from now; the later moment and the longer life win.
    fn apply(&mut self, name: &str, value: &str, ttl: Duration, now: Instant) {
        let until = instant_after(now, ttl);
        if let Some(subject) = name.strip_prefix(SUBJECT_PREFIX) {
            let Ok(before) = value.parse::<u64>() else {
                return;
            };
            let entry = self
                .subjects
                .entry(subject.to_owned())
                .or_insert((before, until));
            *entry = (entry.0.max(before), entry.1.max(until));
        } else if LISTED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            let entry = self.listed.entry(name.to_owned()).or_insert(until);
            *entry = (*entry).max(until);
        }
    }

    fn sweep(&mut self, now: Instant) {
        self.listed.retain(|_, until| *until > now);
        self.subjects.retain(|_, (_, until)| *until > now);
        self.swept = Some(now);
    }

    fn revokes(&self, token: &TokenFacts, now: Instant) -> bool {
        if !self.listed.is_empty() {
            let listed = |id: &str| self.listed.get(id).is_some_and(|until| *until > now);
            if token.with_revocation_id(listed) {
                return true;
            }
            if let Some(sid) = token.sid()
                && with_joined(LOGIN_PREFIX, sid, listed)
            {
                return true;
            }
        }
        !self.subjects.is_empty()
            && token
                .sub()
                .and_then(|sub| self.subjects.get(sub))
                .is_some_and(|(before, until)| *until > now && issued_before(token, *before))
    }
}

impl Mirror {
    fn millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_current(&self) -> bool {
        self.is_current_at(self.millis())
    }

    /// Whether the copy is current at `millis` (since `started`).
    fn is_current_at(&self, millis: u64) -> bool {
        !self.overflowed.load(Ordering::Acquire)
            && self.current_until.load(Ordering::Acquire) > millis
    }

    /// Marks the copy stale; whether it was current until now.
    fn mark_stale(&self) -> bool {
        self.current_until.swap(0, Ordering::AcqRel) > 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        // Nothing panics while the lock is held: a poisoned one holds consistent state.
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies an entry, unless the copy is full: then it stops answering, and says why.
    /// An entry already held is merged, and needs no room.
    fn apply(&self, entries: &mut Entries, name: &str, value: &str, ttl: Duration) {
        let now = Instant::now();
        if entries.holds(name) {
            entries.apply(name, value, ttl, now);
            return;
        }
        if entries.len() >= self.capacity
            && entries
                .swept
                .is_none_or(|swept| now.duration_since(swept) > Duration::from_secs(1))
        {
            entries.sweep(now);
        }
        if entries.len() >= self.capacity {
            if !self.overflowed.swap(true, Ordering::AcqRel) {
                tracing::error!(
                    target: "tower_jwt_auth",
                    capacity = self.capacity,
                    "revocation mirror full: every check now goes to Redis; raise its capacity"
                );
            }
            return;
        }
        entries.apply(name, value, ttl, now);
    }

    /// What a message on the channel says: a revocation (`<ttl> <value> <name>`), or a
    /// heartbeat (`h <instance> <sent>`), which makes the copy current when it is this one's.
    fn hear(&self, payload: &str) -> bool {
        let mut parts = payload.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("h"), Some(instance), Some(sent)) => {
                let (Ok(instance), Ok(sent)) = (instance.parse::<u64>(), sent.parse::<u64>())
                else {
                    return false;
                };
                if instance != self.instance {
                    return false;
                }
                let until = sent.saturating_add(
                    u64::try_from(self.max_staleness.as_millis()).unwrap_or(u64::MAX),
                );
                self.current_until.fetch_max(until, Ordering::AcqRel);
                true
            }
            (Some(ttl), Some(value), Some(name)) => {
                if let Ok(ttl) = ttl.parse::<u64>() {
                    let mut entries = self.write();
                    self.apply(&mut entries, name, value, Duration::from_secs(ttl));
                }
                false
            }
            _ => false,
        }
    }

    /// Every revocation under the prefix, as Redis holds them now: `SCAN` on the single
    /// Redis, or on each primary of a cluster.
    async fn load(&self) -> Result<Entries, BoxError> {
        let mut link = self.redis.connection().ready().await?;
        let pattern = format!("{}*", escape_glob(&self.prefix));
        let mut entries = Entries::default();
        let nodes = match &mut link {
            Link::Single(_) => vec![None],
            Link::Cluster { connection, .. } => {
                primaries(connection).await?.into_iter().map(Some).collect()
            }
        };
        for node in nodes {
            let mut cursor = 0u64;
            loop {
                let mut scan = ::redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000);
                let (next, keys): (u64, Vec<String>) = match (&mut link, &node) {
                    (Link::Cluster { connection, .. }, Some((host, port))) => {
                        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        let reply = connection.route_command(scan, routing).await?;
                        FromRedisValue::from_redis_value(reply)?
                    }
                    (link, _) => scan.query_async(link).await?,
                };
                for (key, value, ttl) in values_of(&link, keys).await? {
                    // -1: no expiry (not written by this crate); -2: gone since the scan.
                    let ttl = match ttl {
                        -1 => Duration::MAX,
                        ttl if ttl > 0 => Duration::from_secs(ttl.unsigned_abs()),
                        _ => continue,
                    };
                    let name = &key[self.prefix.len().min(key.len())..];
                    self.apply(&mut entries, name, &value, ttl);
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(entries)
    }

    /// Subscribes, loads, then follows the channel until the subscription breaks or goes
    /// silent: returns why.
    async fn follow(&self, client: &Client) -> BoxError {
        match self.subscribe_and_follow(client).await {
            Ok(never) => match never {},
            Err(error) => error,
        }
    }

    async fn subscribe_and_follow(
        &self,
        client: &Client,
    ) -> Result<std::convert::Infallible, BoxError> {
        let timeout = self.max_staleness.max(Duration::from_secs(1));
        let pubsub = tokio::time::timeout(timeout, client.get_async_pubsub())
            .await
            .map_err(|_| "subscribing timed out")??;
        let (mut sink, mut messages) = pubsub.split();
        tokio::time::timeout(timeout, sink.subscribe(&self.channel))
            .await
            .map_err(|_| "subscribing timed out")??;
        // Subscribed first: what is announced while loading waits in the subscription.
        let loaded = tokio::time::timeout(timeout * 10, self.load())
            .await
            .map_err(|_| "loading the revocations timed out")??;
        self.overflowed.store(false, Ordering::Release);
        *self.write() = loaded;
        telemetry::mirror_loaded();
        let beat = self.max_staleness / 4;
        let mut heartbeat = tokio::time::interval(beat.max(Duration::from_millis(10)));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = Instant::now();
        let mut publisher = self.redis.connection().ready().await?;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        return Err("the subscription closed".into());
                    };
                    if let Some(payload) = payload(&message)
                        && self.hear(payload)
                    {
                        heard = Instant::now();
                        telemetry::mirror_current();
                    }
                }
                _ = heartbeat.tick() => {
                    if heard.elapsed() > self.max_staleness * 2 {
                        return Err("no heartbeat came back through Redis".into());
                    }
                    let message = format!("h {} {}", self.instance, self.millis());
                    let mut publish = ::redis::cmd("PUBLISH");
                    publish.arg(&self.channel).arg(message);
                    tokio::time::timeout(timeout, publish.query_async::<i64>(&mut publisher))
                        .await
                        .map_err(|_| "publishing a heartbeat timed out")??;
                    let now = Instant::now();
                    let mut entries = self.write();
                    if entries.swept.is_none_or(|swept| now.duration_since(swept) > Duration::from_secs(10)) {
                        entries.sweep(now);
                    }
                }
            }
        }
    }
}

/// What `keys` hold and their TTLs (keys gone since the scan left out): one pipeline on a
/// single Redis; on a cluster, where a pipeline must stay in one slot, a `GET` and a `TTL` per
/// key, 64 keys at a time.
async fn values_of(link: &Link, keys: Vec<String>) -> Result<Vec<(String, String, i64)>, BoxError> {
    async fn one(mut link: Link, key: String) -> Result<Option<(String, String, i64)>, BoxError> {
        let mut pipe = ::redis::pipe();
        pipe.cmd("GET").arg(&key).cmd("TTL").arg(&key);
        let (value, ttl): (Option<String>, i64) = pipe.query_async(&mut link).await?;
        Ok(value.map(|value| (key, value, ttl)))
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    match link {
        Link::Single(_) => {
            let mut link = link.clone();
            let mut pipe = ::redis::pipe();
            for key in &keys {
                pipe.cmd("GET").arg(key).cmd("TTL").arg(key);
            }
            let replies: Vec<::redis::Value> = pipe.query_async(&mut link).await?;
            Ok(keys
                .into_iter()
                .zip(replies.chunks(2))
                .filter_map(|(key, reply)| {
                    let [value, ttl] = reply else { return None };
                    let value =
                        <Option<String> as FromRedisValue>::from_redis_value_ref(value).ok()??;
                    let ttl = <i64 as FromRedisValue>::from_redis_value_ref(ttl).ok()?;
                    Some((key, value, ttl))
                })
                .collect())
        }
        Link::Cluster { .. } => {
            let found: Vec<Option<(String, String, i64)>> =
                futures_util::stream::iter(keys.into_iter().map(|key| one(link.clone(), key)))
                    .buffer_unordered(64)
                    .try_collect()
                    .await?;
            Ok(found.into_iter().flatten().collect())
        }
    }
}

/// The primaries of a cluster, by address, from `CLUSTER NODES`.
async fn primaries(
    connection: &mut ::redis::cluster_async::ClusterConnection,
) -> Result<Vec<(String, u16)>, BoxError> {
    let nodes: String = ::redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(connection)
        .await?;
    let mut primaries = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else {
            continue;
        };
        if !flags.split(',').any(|flag| flag == "master") {
            continue;
        }
        // `host:port@cport[,hostname]`
        let address = address.split(['@', ',']).next().unwrap_or_default();
        if let Some((host, port)) = address.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
            && !host.is_empty()
        {
            primaries.push((host.to_owned(), port));
        }
    }
    if primaries.is_empty() {
        return Err("CLUSTER NODES named no primary".into());
    }
    Ok(primaries)
}

fn payload(message: &Msg) -> Option<&str> {
    std::str::from_utf8(message.get_payload_bytes()).ok()
}

/// `text` with the characters `SCAN MATCH` reads as a pattern escaped.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Builds a [`MirroredRevocationStore`]: see [`RedisRevocationStore::mirrored`].
#[must_use = "a mirror does nothing until started"]
pub struct MirrorBuilder {
    redis: RedisRevocationStore,
    /// A client for each node it may subscribe through.
    clients: Result<Vec<Client>, ConfigError>,
    max_staleness: Duration,
    capacity: usize,
}

impl fmt::Debug for MirrorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MirrorBuilder")
            .field("redis", &self.redis)
            .field("max_staleness", &self.max_staleness)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl RedisRevocationStore {
    /// Mirrors this store's revocations in this process's memory: see
    /// [`MirroredRevocationStore`]. It subscribes through the store's Redis (a cluster's nodes
    /// one after the other), so the store must know its URL: one made by
    /// [`from_connection`](Self::from_connection) cannot be mirrored
    /// ([`start`](MirrorBuilder::start) fails).
    pub fn mirrored(self) -> MirrorBuilder {
        let clients = match self.connection().node_urls() {
            Some(urls) => urls
                .iter()
                .map(|url| Client::open(url.as_str()).map_err(invalid_url))
                .collect(),
            None => Err(ConfigError::Backend(
                "a store made from a connection manager cannot be mirrored: the mirror needs \
                 the URL to subscribe through; use connect or connect_lazy"
                    .into(),
            )),
        };
        MirrorBuilder {
            clients,
            redis: self,
            max_staleness: DEFAULT_MAX_STALENESS,
            capacity: DEFAULT_MIRROR_CAPACITY,
        }
    }
}

impl MirrorBuilder {
    /// How long after the last heartbeat heard the copy still answers. Default:
    /// [`DEFAULT_MAX_STALENESS`]. A revocation answered on one instance is refused by the
    /// others within this bound; heartbeats go out four times as often.
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// How many revocations the copy holds at most. Default: [`DEFAULT_MIRROR_CAPACITY`].
    /// Beyond it, the copy answers nothing (every check goes to Redis), logged at ERROR.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Starts the mirror and waits until it has loaded every revocation and heard its first
    /// heartbeat back, at most `within`: fails when it could not (Redis unreachable, say).
    pub async fn start(self, within: Duration) -> Result<MirroredRevocationStore, ConfigError> {
        let store = self.start_lazy()?;
        let deadline = Instant::now() + within;
        while !store.handle.mirror.is_current() {
            if Instant::now() >= deadline {
                return Err(ConfigError::Backend(
                    "the revocation mirror did not load from Redis in time".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(store)
    }

    /// Starts the mirror and returns at once: until it has loaded, checks go to Redis.
    pub fn start_lazy(self) -> Result<MirroredRevocationStore, ConfigError> {
        if self.max_staleness < Duration::from_millis(40) || self.capacity == 0 {
            return Err(ConfigError::Backend(
                "a revocation mirror needs a max_staleness of 40 ms at least and room for one \
                 revocation"
                    .into(),
            ));
        }
        let clients = self.clients?;
        let mirror = Arc::new(Mirror {
            channel: self.redis.channel(),
            prefix: self.redis.prefix().to_owned(),
            redis: self.redis,
            entries: RwLock::new(Entries::default()),
            current_until: AtomicU64::new(0),
            started: Instant::now(),
            max_staleness: self.max_staleness,
            capacity: self.capacity,
            overflowed: AtomicBool::new(false),
            instance: rand_instance(),
        });
        let task = tokio::spawn(run(mirror.clone(), clients)).abort_handle();
        Ok(MirroredRevocationStore {
            handle: Arc::new(Handle { mirror, task }),
        })
    }
}

/// A random id for this mirror's heartbeats.
fn rand_instance() -> u64 {
    let mut bytes = [0u8; 8];
    // Without randomness two mirrors of one process could share an id: still correct (each
    // hears the other's heartbeats only after its own channel delivered them).
    let _ = crate::crypto::fill_random(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// The mirror's task: follows the channel, and after each break marks the copy stale and
/// starts again (through the next node of a cluster), waiting a little longer each time (at
/// most a second).
async fn run(mirror: Arc<Mirror>, clients: Vec<Client>) {
    let mut pause = Duration::from_millis(50);
    for attempt in 0usize.. {
        let started = Instant::now();
        let Some(client) = clients.get(attempt % clients.len().max(1)) else {
            return;
        };
        let why = mirror.follow(client).await;
        // Counted once when it goes stale, not at each failed attempt after.
        if mirror.mark_stale() {
            telemetry::mirror_stale();
        }
        tracing::warn!(
            target: "tower_jwt_auth",
            %why,
            "revocation mirror stale: checks go to Redis until it has loaded again"
        );
        if started.elapsed() > Duration::from_secs(5) {
            pause = Duration::from_millis(50);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

impl MirroredRevocationStore {
    /// Whether checks are answered from the copy now (it is loaded and current).
    pub fn is_current(&self) -> bool {
        self.handle.mirror.is_current()
    }

    /// How many revocations the copy holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.handle.mirror.read().len()
    }

    /// Whether the copy holds no revocation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn local(&self, token: &TokenFacts) -> Option<bool> {
        let mirror = &self.handle.mirror;
        // One clock read for the whole check.
        let now = Instant::now();
        let millis =
            u64::try_from(now.duration_since(mirror.started).as_millis()).unwrap_or(u64::MAX);
        if !mirror.is_current_at(millis) {
            return None;
        }
        let revoked = mirror.read().revokes(token, now);
        // Read, then confirmed current: a copy marked stale meanwhile is not trusted.
        mirror.is_current_at(millis).then_some(revoked)
    }

    /// Applies a write this instance made, at once, rather than when it is heard back.
    fn apply_own(&self, name: &str, value: &str, ttl: Duration) {
        let mirror = &self.handle.mirror;
        let mut entries = mirror.write();
        mirror.apply(&mut entries, name, value, ttl);
    }
}

impl fmt::Debug for MirroredRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MirroredRevocationStore")
            .field("redis", &self.handle.mirror.redis)
            .field("current", &self.is_current())
            .field("len", &self.len())
            .finish()
    }
}

impl RevocationStore for MirroredRevocationStore {
    fn is_revoked<'a>(&'a self, token: &'a TokenFacts) -> BoxFuture<'a, Result<bool, BoxError>> {
        match self.local(token) {
            Some(revoked) => Box::pin(async move { Ok(revoked) }),
            None => self.handle.mirror.redis.is_revoked(token),
        }
    }

    fn is_revoked_now(&self, token: &TokenFacts) -> Option<Result<bool, BoxError>> {
        self.local(token).map(Ok)
    }

    fn revoke_token<'a>(
        &'a self,
        token: &'a TokenFacts,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            self.handle.mirror.redis.revoke_token(token, ttl).await?;
            self.apply_own(&token.revocation_id(), "1", ttl);
            Ok(())
        })
    }

    fn revoke_login<'a>(
        &'a self,
        login: &'a str,
        subject: &'a str,
        revoked_at: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let redis = &self.handle.mirror.redis;
            redis.revoke_login(login, subject, revoked_at, ttl).await?;
            self.apply_own(&super::login_id(login), "1", ttl);
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
            let redis = &self.handle.mirror.redis;
            redis.revoke_subject(subject, before, ttl).await?;
            self.apply_own(&super::subject_key(subject), &before.to_string(), ttl);
            Ok(())
        })
    }
}
