//! The Redis the `*_redis` suites share: the one of `REDIS_URL`, seen by each test under its own
//! random key prefix so the tests run in parallel, and what a test does when there is none.
//!
//! Included with `#[path]` by those suites only (the other suites have no Redis to talk to).
//! Each suite adds its own `SharedRedis::store` for the store type it tests.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Mutex;

use redis::aio::MultiplexedConnection;

/// Whether this is a CI run, where a test that cannot reach its Redis must fail, not pass.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// Fails under CI; otherwise says why `suite::test` did not run (and, once per `how`, how to run
/// it). Written to stderr directly, so it shows without `--nocapture`.
pub fn cannot_run(suite: &str, test: &str, why: &str, how: &str) {
    assert!(
        !in_ci(),
        "{suite}::{test}: {why}; under CI=true this test must run: {how}"
    );
    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut stderr = std::io::stderr().lock();
    if !said.iter().any(|told| told == how) {
        said.push(how.to_owned());
        let _ = writeln!(stderr, "{suite}: to run the tests below, {how}.");
    }
    let _ = writeln!(stderr, "{suite}::{test} did not run: {why}.");
}

/// `label` and 64 random bits: a name no other test or run uses.
pub fn random_id(label: &str) -> String {
    format!("{label}-{:016x}", rand::random::<u64>())
}

/// The Redis of `REDIS_URL`, seen by one test under its own key prefix.
pub struct SharedRedis {
    pub url: String,
    pub prefix: String,
    pub raw: MultiplexedConnection,
}

impl SharedRedis {
    /// `None`, after saying how to run `suite::test` (`how`), when `REDIS_URL` is unset
    /// (outside CI).
    pub async fn get(suite: &str, test: &str, how: &str) -> Option<Self> {
        let url = match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                cannot_run(suite, test, "REDIS_URL is not set", how);
                return None;
            }
        };
        let raw = raw_connection(&url).await;
        let prefix = format!("tower-jwt-auth-test:{suite}-{}:", random_id(test));
        Some(Self { url, prefix, raw })
    }

    /// Every key under this test's prefix, without the prefix, sorted.
    pub async fn keys(&mut self) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut self.raw)
            .await
            .unwrap();
        keys.sort();
        keys.iter()
            .map(|key| key[self.prefix.len()..].to_owned())
            .collect()
    }

    /// Deletes every key under this test's prefix: long-lived keys are not left behind in a
    /// developer's Redis.
    pub async fn clear(&mut self) {
        let keys = self.keys().await;
        if keys.is_empty() {
            return;
        }
        let keys: Vec<String> = keys
            .iter()
            .map(|id| format!("{}{id}", self.prefix))
            .collect();
        let removed: usize = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut self.raw)
            .await
            .unwrap();
        assert_eq!(removed, keys.len());
    }

    /// The remaining lifetime of a key under this test's prefix (-2: no such key).
    pub async fn ttl(&mut self, id: &str) -> i64 {
        ttl(&mut self.raw, &format!("{}{id}", self.prefix)).await
    }
}

/// A connection of its own to the Redis at `url`, for looking at keys.
pub async fn raw_connection(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("connecting to REDIS_URL {url}: {e}"))
}

/// The remaining lifetime of `key` (-2: no such key, -1: no expiry).
pub async fn ttl(raw: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("TTL").arg(key).query_async(raw).await.unwrap()
}
