//! Keys published by an identity provider: a JWKS over HTTPS, found directly or through OIDC
//! discovery (cargo feature `jwks`).
//!
//! What goes wrong elsewhere, and what this module does instead:
//! - A mutex on every request: lookups read an atomically swapped snapshot ([`ArcSwap`]); no
//!   request waits on a lock held across I/O unless it carries a `kid` nobody knows yet.
//! - Refetch storms on unknown `kid`s: at most one refetch per cooldown, single-flight (the
//!   requests that arrive during a refetch wait for it instead of starting their own).
//! - No keys after a failed refresh: a fetch that fails, times out, or yields garbage or an
//!   empty set never replaces the last good keys.
//! - No custom HTTP client: pass your own `reqwest::Client` (custom CA, proxy, mTLS).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::BoxFuture;
use arc_swap::{ArcSwap, Guard};
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use serde_json::Value;

use super::{Key, KeySet, PreparedKey};
use crate::error::{AuthError, ConfigError, Shown, explained};
use crate::keys;

/// Default refresh interval when the JWKS response has no `Cache-Control: max-age`.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Default minimum time between two fetches triggered by unknown `kid`s or failures.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// Default bound on one HTTP request.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS or discovery document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// A JWKS fetched from an identity provider and kept fresh. Cheap to clone; clones share the
/// keys and the refresh.
///
/// ```no_run
/// use tower_jwt_auth::{JwtLayer, jwks::RemoteKeySet};
///
/// # fn main() -> Result<(), tower_jwt_auth::error::ConfigError> {
/// let keys = RemoteKeySet::builder()
///     .oidc_issuer("https://login.example.com/realms/main")
///     .build()?;
/// let layer = JwtLayer::builder()
///     .remote_keys(keys)
///     .issuer("https://login.example.com/realms/main")
///     .audience("my-api")
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RemoteKeySet {
    shared: Arc<Remote>,
}

impl fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeySet")
            .field("location", &self.shared.location)
            .field("keys", &self.shared.snapshot.load().keys.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
enum Location {
    Jwks(String),
    Discovery(String),
}

struct Remote {
    location: Location,
    client: reqwest::Client,
    snapshot: ArcSwap<Snapshot>,
    /// Single flight: one fetch at a time.
    fetching: tokio::sync::Mutex<()>,
    /// When the last fetch started, for the cooldown.
    last_attempt: Mutex<Option<Instant>>,
    /// Counts finished fetches, so a caller that waited for another's fetch does not repeat it.
    generation: AtomicU64,
    /// The refresh interval the last good response asked for.
    interval: Mutex<Duration>,
    /// Whether the background refresh task runs.
    refreshing: AtomicBool,
    /// Keys already reported as skipped, so each is logged once.
    reported: Mutex<HashSet<String>>,
    /// The `jwks_uri` found through discovery.
    discovered: Mutex<Option<String>>,
    cooldown: Duration,
    interval_bounds: (Duration, Duration),
    default_interval: Duration,
    provider: &'static CryptoProvider,
}

/// The keys as last fetched.
#[derive(Default)]
struct Snapshot {
    keys: KeySet,
    ambiguous: HashSet<String>,
    loaded: bool,
}

/// Configures a [`RemoteKeySet`].
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RemoteKeySetBuilder {
    location: Option<Location>,
    client: Option<reqwest::Client>,
    cooldown: Option<Duration>,
    min_interval: Option<Duration>,
    max_interval: Option<Duration>,
    default_interval: Option<Duration>,
}

impl RemoteKeySet {
    /// Starts a builder.
    pub fn builder() -> RemoteKeySetBuilder {
        RemoteKeySetBuilder::default()
    }
}

impl RemoteKeySetBuilder {
    /// Fetch the JWKS from this URL.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.location = Some(Location::Jwks(url.into()));
        self
    }

    /// Find the JWKS through OIDC discovery: `<issuer>/.well-known/openid-configuration`, whose
    /// `issuer` must equal this one exactly.
    pub fn oidc_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.location = Some(Location::Discovery(issuer.into()));
        self
    }

    /// Use this HTTP client (custom CA, proxy, mTLS). Default: rustls, a 5 s timeout, no
    /// redirects to other schemes.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Minimum time between two fetches caused by unknown `kid`s or failures. Default: 30 s.
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = Some(cooldown);
        self
    }

    /// Bounds on the background refresh interval taken from `Cache-Control: max-age`.
    /// Default: 1 minute to 1 day.
    pub fn refresh_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_interval = Some(min);
        self.max_interval = Some(max);
        self
    }

    /// The refresh interval when the response has no `max-age`. Default: 10 minutes.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.default_interval = Some(interval);
        self
    }

    /// Validates the configuration. Nothing is fetched yet: the first request (or the first
    /// refresh) fetches, so an application can start while its identity provider is down.
    pub fn build(self) -> Result<RemoteKeySet, ConfigError> {
        let location = self.location.ok_or(ConfigError::NoKey)?;
        let url = match &location {
            Location::Jwks(url) | Location::Discovery(url) => url,
        };
        reqwest::Url::parse(url)
            .map_err(|error| ConfigError::Backend(format!("invalid JWKS/issuer URL: {error}")))?;
        let client = match self.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(DEFAULT_HTTP_TIMEOUT)
                .build()
                .map_err(|error| ConfigError::Backend(error.to_string()))?,
        };
        let min = self.min_interval.unwrap_or(Duration::from_secs(60));
        let max = self
            .max_interval
            .unwrap_or(Duration::from_secs(24 * 60 * 60));
        if min.is_zero() || min > max {
            return Err(ConfigError::Backend("invalid refresh bounds".into()));
        }
        let default_interval = self.default_interval.unwrap_or(DEFAULT_REFRESH_INTERVAL);
        Ok(RemoteKeySet {
            shared: Arc::new(Remote {
                location,
                client,
                snapshot: ArcSwap::from_pointee(Snapshot::default()),
                fetching: tokio::sync::Mutex::new(()),
                last_attempt: Mutex::new(None),
                generation: AtomicU64::new(0),
                interval: Mutex::new(default_interval.clamp(min, max)),
                refreshing: AtomicBool::new(false),
                reported: Mutex::new(HashSet::new()),
                discovered: Mutex::new(None),
                cooldown: self.cooldown.unwrap_or(DEFAULT_COOLDOWN),
                interval_bounds: (min, max),
                default_interval: default_interval.clamp(min, max),
                provider: keys::crypto_provider(),
            }),
        })
    }
}

/// The remote key sets of a verifier: one for every token, or one per trusted issuer.
pub(crate) struct RemoteKeys {
    any_issuer: Option<RemoteKeySet>,
    by_issuer: Vec<(String, RemoteKeySet)>,
    issuers_shown: Arc<str>,
}

impl RemoteKeys {
    pub(crate) fn new(
        any_issuer: Option<RemoteKeySet>,
        by_issuer: Vec<(String, RemoteKeySet)>,
    ) -> Self {
        let shown = by_issuer
            .iter()
            .map(|(iss, _)| iss.as_str())
            .collect::<Vec<_>>()
            .join(",");
        Self {
            any_issuer,
            by_issuer,
            issuers_shown: shown.into(),
        }
    }

    /// The key set that verifies a token with this payload. With several issuers the token's
    /// (not yet verified) `iss` picks one of the configured sets, never anything else; the
    /// claim itself is verified later like any other.
    fn set_for(&self, payload: &[u8]) -> Result<&RemoteKeySet, AuthError> {
        if let Some(set) = &self.any_issuer {
            return Ok(set);
        }
        let invalid = || {
            explained(
                AuthError::InvalidIssuer {
                    expected: self.issuers_shown.clone(),
                },
                format_args!(
                    "no string `iss` among the issuers with keys ({}): no key set to try",
                    self.issuers_shown
                ),
            )
        };
        #[derive(Deserialize)]
        struct IssuerOnly {
            iss: Option<String>,
        }
        let peek: IssuerOnly = serde_json::from_slice(payload).map_err(|_| invalid())?;
        let iss = peek.iss.ok_or_else(invalid)?;
        self.by_issuer
            .iter()
            .find(|(trusted, _)| *trusted == iss)
            .map(|(_, set)| set)
            .ok_or_else(invalid)
    }

    pub(crate) fn snapshot_for(&self, payload: &[u8]) -> Result<KeysGuard, AuthError> {
        let set = self.set_for(payload)?;
        set.shared.ensure_refreshing();
        let snapshot = set.shared.snapshot.load();
        if !snapshot.loaded {
            return Err(explained(
                AuthError::BackendUnavailable,
                format_args!("the remote key set has not been fetched yet"),
            ));
        }
        Ok(KeysGuard(snapshot))
    }

    pub(crate) fn refresh_for(
        &self,
        error: &AuthError,
        token: &str,
    ) -> Option<BoxFuture<'static, ()>> {
        if !matches!(error, AuthError::UnknownKid | AuthError::BackendUnavailable) {
            return None;
        }
        let payload = crate::jws::decode_base64url(token.split('.').nth(1)?).ok()?;
        let remote = self.set_for(&payload).ok()?.shared.clone();
        // Joining a fetch already under way costs nothing and may bring the key.
        (remote.cooldown_allows() || remote.fetch_in_flight()).then(|| {
            Box::pin(async move { remote.refresh_single_flight().await }) as BoxFuture<'static, ()>
        })
    }
}

/// A loaded snapshot of keys, held while one token is verified.
pub(crate) struct KeysGuard(Guard<Arc<Snapshot>>);

impl KeysGuard {
    pub(crate) fn select(&self, kid: Option<&str>) -> Result<&PreparedKey, AuthError> {
        if kid.is_some_and(|kid| self.0.ambiguous.contains(kid)) {
            return Err(explained(
                AuthError::UnknownKid,
                format_args!(
                    "kid {} names several keys of the fetched set",
                    Shown(kid.unwrap_or_default())
                ),
            ));
        }
        self.0.keys.select(kid)
    }
}

impl Remote {
    fn fetch_in_flight(&self) -> bool {
        self.fetching.try_lock().is_err()
    }

    fn cooldown_allows(&self) -> bool {
        let last = self.last_attempt.lock().map(|last| *last).unwrap_or(None);
        last.is_none_or(|last| last.elapsed() >= self.cooldown)
    }

    /// Fetches unless another fetch finished while this caller waited for its turn, or the
    /// cooldown started meanwhile.
    async fn refresh_single_flight(self: Arc<Self>) {
        let seen = self.generation.load(Ordering::Acquire);
        let _turn = self.fetching.lock().await;
        if self.generation.load(Ordering::Acquire) != seen || !self.cooldown_allows() {
            return;
        }
        self.refresh().await;
    }

    /// One fetch; a failure keeps the last good keys. Returns the next refresh interval.
    async fn refresh(&self) -> Duration {
        if let Ok(mut last) = self.last_attempt.lock() {
            *last = Some(Instant::now());
        }
        let outcome = self.fetch().await;
        self.generation.fetch_add(1, Ordering::AcqRel);
        crate::telemetry::jwks_fetched(outcome.is_ok());
        match outcome {
            Ok((snapshot, max_age)) => {
                tracing::debug!(
                    target: "tower_jwt_auth",
                    location = ?self.location,
                    keys = snapshot.keys.len(),
                    "JWKS refreshed"
                );
                self.snapshot.store(Arc::new(snapshot));
                let (min, max) = self.interval_bounds;
                let interval = max_age.map_or(self.default_interval, |age| age.clamp(min, max));
                if let Ok(mut current) = self.interval.lock() {
                    *current = interval;
                }
                interval
            }
            Err(cause) => {
                tracing::warn!(
                    target: "tower_jwt_auth",
                    location = ?self.location,
                    %cause,
                    "JWKS refresh failed; keeping the last good keys"
                );
                self.cooldown.max(self.interval_bounds.0)
            }
        }
    }

    /// Starts the background refresh once, from within a Tokio runtime.
    fn ensure_refreshing(self: &Arc<Self>) {
        // One atomic load per request once running; no lock on the request path.
        if self.refreshing.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        // The first fetch is the first request's (single-flight); the task keeps keys fresh
        // from then on: it sleeps out the interval since the last fetch, whoever made it, and
        // retries every cooldown while nothing could be loaded.
        let mut next = self.cooldown.max(Duration::from_millis(100));
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(next).await;
                // The task holds only a weak reference so dropping every layer stops it.
                let Some(remote) = weak.upgrade() else {
                    return;
                };
                let _turn = remote.fetching.lock().await;
                let interval = remote
                    .interval
                    .lock()
                    .map_or(remote.default_interval, |i| *i);
                let since = remote
                    .last_attempt
                    .lock()
                    .ok()
                    .and_then(|last| *last)
                    .map(|l| l.elapsed());
                next = match since {
                    Some(since) if remote.snapshot.load().loaded && since < interval => {
                        interval - since
                    }
                    _ => remote.refresh().await,
                };
            }
        });
    }

    async fn fetch(&self) -> Result<(Snapshot, Option<Duration>), String> {
        let url = self.jwks_url().await?;
        let (body, max_age) = self.get(&url).await?;
        let snapshot = self.load(&body)?;
        Ok((snapshot, max_age))
    }

    async fn jwks_url(&self) -> Result<String, String> {
        let issuer = match &self.location {
            Location::Jwks(url) => return Ok(url.clone()),
            Location::Discovery(issuer) => issuer,
        };
        if let Some(found) = self.discovered.lock().ok().and_then(|found| found.clone()) {
            return Ok(found);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let (body, _) = self.get(&url).await?;
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let discovery: Discovery = serde_json::from_slice(&body)
            .map_err(|error| format!("invalid discovery document: {error}"))?;
        if discovery.issuer != *issuer {
            return Err("the discovery document names another issuer".into());
        }
        if let Ok(mut found) = self.discovered.lock() {
            *found = Some(discovery.jwks_uri.clone());
        }
        Ok(discovery.jwks_uri)
    }

    /// GETs `url` with the size cap; returns the body and the `Cache-Control: max-age`.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), String> {
        let mut response = self
            .client
            .get(url)
            .timeout(DEFAULT_HTTP_TIMEOUT)
            .send()
            .await
            .map_err(|error| format!("request failed: {error}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
        {
            return Err("document larger than 1 MiB".into());
        }
        let max_age = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err("document larger than 1 MiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }

    /// Applies the key policy to a JWKS document.
    fn load(&self, body: &[u8]) -> Result<Snapshot, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document =
            serde_json::from_slice(body).map_err(|error| format!("invalid JWKS: {error}"))?;
        let mut by_kid: HashMap<String, PreparedKey> = HashMap::new();
        let mut without_kid = Vec::new();
        let mut ambiguous = HashSet::new();
        for (index, value) in document.keys.into_iter().enumerate() {
            let label = value
                .get("kid")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{index}"), |kid| format!("kid {kid:?}"));
            match self.prepare(value) {
                Ok(key) => match key.kid.clone() {
                    Some(kid) if ambiguous.contains(&*kid) => {}
                    Some(kid) if by_kid.contains_key(&*kid) => {
                        self.report(
                            &label,
                            "two keys share this kid: tokens naming it are refused",
                        );
                        by_kid.remove(&*kid);
                        ambiguous.insert(kid.into_string());
                    }
                    Some(kid) => {
                        by_kid.insert(kid.into_string(), key);
                    }
                    None => without_kid.push(key),
                },
                Err(why) => self.report(&label, &why),
            }
        }
        // Keys without a kid can only be chosen when they are the only key.
        let keys = match (by_kid.len(), without_kid.len()) {
            (0, 1) => without_kid,
            (_, 0) => by_kid.into_values().collect(),
            (_, _) => {
                self.report(
                    "keys without kid",
                    "skipped: a set of several keys needs kids",
                );
                by_kid.into_values().collect()
            }
        };
        if keys.is_empty() && ambiguous.is_empty() {
            return Err("the JWKS holds no usable key".into());
        }
        Ok(Snapshot {
            keys: KeySet::new(keys),
            ambiguous,
            loaded: true,
        })
    }

    fn prepare(&self, value: Value) -> Result<PreparedKey, String> {
        if value.get("kty").and_then(Value::as_str) == Some("oct") {
            return Err("symmetric (oct) keys are never taken from a JWKS".into());
        }
        let jwk: Jwk =
            serde_json::from_value(value).map_err(|error| format!("unsupported key: {error}"))?;
        let key = Key::from_jwk(&jwk).map_err(|error| error.to_string())?;
        keys::prepare_key(key, None, self.provider).map_err(|error| error.to_string())
    }

    fn report(&self, key: &str, why: &str) {
        let first_time = self
            .reported
            .lock()
            .map(|mut reported| reported.insert(format!("{key}: {why}")))
            .unwrap_or(true);
        if first_time {
            tracing::warn!(target: "tower_jwt_auth", key, why, "JWKS key skipped");
        }
    }
}

/// `max-age=N` from a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let (name, value) = directive.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        value
            .trim()
            .trim_matches('"')
            .parse()
            .ok()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            max_age("MAX-AGE=\"60\", must-revalidate"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
