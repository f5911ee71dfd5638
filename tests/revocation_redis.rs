//! `RedisRevocationStore` against a real redis-server, never a mock: the outcomes of
//! `tests/revocation.rs` shared through Redis, the keys and their lifetimes, and what requests get
//! while Redis is down, comes back, or was never there.
//!
//! The shared-Redis tests use `REDIS_URL`, each under its own random key prefix, so they run in
//! parallel; their keys expire with their tokens, and those that would live a day are deleted.
//! The fault tests start and stop their own `redis-server` on a free port. Without `REDIS_URL`
//! or `redis-server` the tests say how to run them and pass, except under `CI=true`, where they
//! fail.
#![cfg(feature = "redis")]

mod common;
#[path = "common/redis.rs"]
mod shared_redis;

use std::time::{Duration, Instant};

use axum::Router;
use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use shared_redis::*;
use tower_jwt_auth::{
    JwtLayer, Key,
    claims::JsonClaims,
    error::ConfigError,
    layer::{DEFAULT_MAX_LIFETIME, JwtLayerBuilder},
    revocation::{DEFAULT_REDIS_PREFIX, RedisRevocationStore, RevocationStore},
};

const HOW_TO_RUN: &str = "set REDIS_URL=redis://127.0.0.1:6379 (a Redis the tests may write to), \
     or run `scripts/redis-for-tests.sh cargo test --all-features --test revocation_redis`, \
     which starts a throwaway redis-server";

/// The backend timeout of the fault tests: every 503 must come within it (plus a margin).
const TIMEOUT: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------------
// Where Redis comes from

const SUITE: &str = "revocation_redis";

async fn shared_redis(test: &str) -> Option<SharedRedis> {
    SharedRedis::get(SUITE, test, HOW_TO_RUN).await
}

impl SharedRedis {
    /// A store with its own connection, under this test's prefix.
    async fn store(&self) -> RedisRevocationStore {
        RedisRevocationStore::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to REDIS_URL {}: {e}", self.url))
            .with_prefix(&self.prefix)
    }
}

// ---------------------------------------------------------------------------------------------
// The app

fn builder() -> JwtLayerBuilder<JsonClaims> {
    JwtLayer::builder().key(Key::hmac(SECRET))
}

fn layer(store: RedisRevocationStore) -> JwtLayer {
    builder().revocations(store).build().unwrap()
}

/// A redis-server of `test`'s own, the fault tests' app on it, and a token it lets through.
async fn serving(test: &str) -> Option<(RedisServer, Router, String)> {
    let server = RedisServer::start(SUITE, test).await?;
    let store = RedisRevocationStore::connect(&server.url()).await.unwrap();
    let app = fault_app(store);
    let token = user_token("alice", Some("a"), now());
    assert_passes(&app, &token, "alice").await;
    Some((server, app, token))
}

/// The app of the fault tests: every call to Redis bounded by [`TIMEOUT`].
fn fault_app(store: RedisRevocationStore) -> Router {
    revoking_app(
        builder()
            .revocations(store)
            .backend_timeout(TIMEOUT)
            .build()
            .unwrap(),
    )
}

/// The id the store lists `token` under (`jti:…` or `sha256:…`), as the layer sees it.
async fn revocation_id(app: &Router, token: &str) -> String {
    let answer = send(app.clone(), bearer_to(Method::GET, "/id", token)).await;
    assert_eq!(answer.status, StatusCode::OK, "body: {}", answer.body);
    String::from_utf8(answer.raw).unwrap()
}

/// Asserts the fail-closed answer: 503 `temporarily_unavailable` with `Retry-After: 5`.
fn assert_unavailable(answer: &Answer) {
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "body: {}",
        answer.body
    );
    assert_eq!(
        answer.body,
        json!({ "code": "temporarily_unavailable", "description": "Authentication backend unavailable." })
    );
    assert_eq!(answer.headers["retry-after"], "5");
    assert!(answer.headers.get("www-authenticate").is_none());
}

/// Sends `token` and asserts the 503 came within the backend timeout (plus a margin).
async fn assert_unavailable_in_time(app: &Router, token: &str) {
    let started = Instant::now();
    let answer = send(app.clone(), bearer(token)).await;
    let elapsed = started.elapsed();
    assert_unavailable(&answer);
    assert!(
        elapsed < TIMEOUT + Duration::from_millis(1500),
        "the 503 took {elapsed:?} with a backend timeout of {TIMEOUT:?}"
    );
}

/// Sends `token` until it passes, for at most `within`; every answer until then is the 503.
async fn poll_until_ok(app: &Router, token: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let answer = send(app.clone(), bearer(token)).await;
        if answer.status == StatusCode::OK {
            return;
        }
        assert_unavailable(&answer);
        assert!(
            Instant::now() < deadline,
            "still 503 after {within:?} ({attempts} attempts)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Against the shared Redis (REDIS_URL)

#[tokio::test]
async fn logout_revokes_the_presented_token_in_redis_and_only_it() {
    let Some(mut redis) =
        shared_redis("logout_revokes_the_presented_token_in_redis_and_only_it").await
    else {
        return;
    };
    let app = revoking_app(layer(redis.store().await));
    let sub = random_id("alice");
    let (jti_1, jti_2) = (random_id("jti"), random_id("jti"));
    for jti in [Some(jti_1.as_str()), None] {
        let token = user_token(&sub, jti, now() - 10);
        let other = user_token(&sub, jti.map(|_| jti_2.as_str()), now() - 5);
        assert_passes(&app, &token, &sub).await;
        let id = revocation_id(&app, &token).await;
        assert_eq!(post_status(&app, "/logout", &token).await, 204);
        assert_revoked(&app, &token).await;
        assert_passes(&app, &other, &sub).await;
        assert!(redis.keys().await.contains(&id), "{id} not in Redis");
        match jti {
            Some(jti) => assert_eq!(id, format!("jti:{jti}")),
            // Listed by digest: Redis never holds a usable token.
            None => {
                assert!(id.starts_with("sha256:"), "{id}");
                assert!(token.split('.').all(|part| !id.contains(part)), "{id}");
            }
        }
    }
    // One key per logout, nothing else.
    assert_eq!(redis.keys().await.len(), 2, "{:?}", redis.keys().await);
}

#[tokio::test]
async fn logout_everywhere_revokes_the_subjects_tokens_issued_before_it() {
    let Some(mut redis) =
        shared_redis("logout_everywhere_revokes_the_subjects_tokens_issued_before_it").await
    else {
        return;
    };
    let app = revoking_app(layer(redis.store().await));
    let (bob, carol) = (random_id("bob"), random_id("carol"));
    let old = user_token(&bob, Some("old"), now() - 100);
    let other_old = user_token(&bob, None, now() - 90);
    let bystander = user_token(&carol, Some("c"), now() - 100);
    assert_eq!(post_status(&app, "/logout-all", &old).await, 204);
    assert_revoked(&app, &old).await;
    assert_revoked(&app, &other_old).await;
    assert_passes(&app, &bystander, &carol).await;
    assert_eq!(redis.keys().await, [format!("sub:{bob}")]);

    // The boundary, with an explicit moment: strictly before it is revoked, at it and after
    // it is not.
    let store = redis.store().await;
    let dave = random_id("dave");
    let t = now();
    store
        .revoke_subject(&dave, t - 50, Duration::from_secs(60))
        .await
        .unwrap();
    assert_revoked(&app, &user_token(&dave, Some("d1"), t - 100)).await;
    assert_revoked(&app, &user_token(&dave, Some("d2"), t - 51)).await;
    assert_passes(&app, &user_token(&dave, Some("d3"), t - 50), &dave).await;
    assert_passes(&app, &user_token(&dave, Some("d4"), t - 49), &dave).await;
    // A token without `iat` cannot prove it came after: revoked.
    let no_iat = hs256(&json!({ "sub": dave, "exp": now() + 600 }));
    assert_revoked(&app, &no_iat).await;
    // An earlier moment never shortens the revocation, nor its lifetime.
    store
        .revoke_subject(&dave, t - 500, Duration::from_secs(5))
        .await
        .unwrap();
    assert_revoked(&app, &user_token(&dave, Some("d5"), t - 51)).await;
    assert!(redis.ttl(&format!("sub:{dave}")).await > 50);
    redis.clear().await;
}

#[tokio::test]
async fn two_app_instances_with_their_own_connections_share_revocations() {
    let Some(mut redis) =
        shared_redis("two_app_instances_with_their_own_connections_share_revocations").await
    else {
        return;
    };
    let first = revoking_app(layer(redis.store().await));
    let second = revoking_app(layer(redis.store().await));
    let (alice, bob) = (random_id("alice"), random_id("bob"));

    let token = user_token(&alice, Some("shared"), now() - 1);
    let hashed = user_token(&alice, None, now() - 1);
    assert_passes(&second, &token, &alice).await;
    assert_eq!(post_status(&first, "/logout", &token).await, 204);
    assert_eq!(post_status(&first, "/logout", &hashed).await, 204);
    assert_revoked(&second, &token).await;
    assert_revoked(&second, &hashed).await;

    // And the other way round, for log-out-everywhere.
    let bobs = [
        user_token(&bob, Some("b1"), now() - 10),
        user_token(&bob, Some("b2"), now() - 10),
    ];
    assert_passes(&first, &bobs[1], &bob).await;
    assert_eq!(post_status(&second, "/logout-all", &bobs[0]).await, 204);
    assert_revoked(&first, &bobs[1]).await;
    assert_passes(
        &first,
        &user_token(&alice, Some("still-fine"), now()),
        &alice,
    )
    .await;
    redis.clear().await;
}

#[tokio::test]
async fn revocation_entry_lives_as_long_as_the_token_could() {
    let Some(mut redis) = shared_redis("revocation_entry_lives_as_long_as_the_token_could").await
    else {
        return;
    };
    let store = redis.store().await;
    let plain = revoking_app(layer(store.clone()));
    let lenient = revoking_app(
        builder()
            .revocations(store)
            .leeway(Duration::from_secs(30))
            .build()
            .unwrap(),
    );
    for (app, leeway, lifetime) in [(&plain, 0, 600), (&plain, 0, 45), (&lenient, 30, 600)] {
        let exp = now() + lifetime;
        let token = hs256(&json!({ "sub": "alice", "jti": random_id("jti"), "exp": exp }));
        let id = revocation_id(app, &token).await;
        assert_eq!(post_status(app, "/logout", &token).await, 204);
        let expected = (exp + leeway - now()) as i64;
        let ttl = redis.ttl(&id).await;
        assert!(
            (expected - 2..=expected + 2).contains(&ttl),
            "TTL {ttl} s, expected about {expected} s (exp - now + leeway {leeway})"
        );
    }
}

#[tokio::test]
async fn revocation_entry_disappears_when_the_token_expires() {
    let Some(mut redis) = shared_redis("revocation_entry_disappears_when_the_token_expires").await
    else {
        return;
    };
    let app = revoking_app(layer(redis.store().await));
    let token = hs256(&json!({ "sub": "alice", "jti": random_id("jti"), "exp": now() + 2 }));
    let id = revocation_id(&app, &token).await;
    assert_eq!(post_status(&app, "/logout", &token).await, 204);
    let revoked_at = Instant::now();
    let ttl = redis.ttl(&id).await;
    assert!((1..=2).contains(&ttl), "TTL {ttl}");
    assert_revoked(&app, &token).await;
    // Redis drops the key by itself once the token is expired anyway.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ttl = redis.ttl(&id).await;
    assert_eq!(
        ttl,
        -2,
        "the key outlived the token: still there {:?} after the revocation",
        revoked_at.elapsed()
    );
    assert_eq!(redis.keys().await, Vec::<String>::new());
}

#[tokio::test]
async fn subject_revocation_is_kept_for_the_configured_ttl() {
    let Some(mut redis) = shared_redis("subject_revocation_is_kept_for_the_configured_ttl").await
    else {
        return;
    };
    let store = redis.store().await;
    let configured = revoking_app(
        builder()
            .revocations(store.clone())
            .subject_revocation_ttl(Duration::from_secs(120))
            .build()
            .unwrap(),
    );
    let default = revoking_app(layer(store));
    // As long as any token of the layer can live: its maximum lifetime (the leeway is 0).
    let default_ttl = DEFAULT_MAX_LIFETIME.as_secs() as i64;
    for (app, expected) in [(&configured, 120), (&default, default_ttl)] {
        let sub = random_id("erin");
        let before = now();
        let token = user_token(&sub, None, before - 10);
        assert_eq!(post_status(app, "/logout-all", &token).await, 204);
        let ttl = redis.ttl(&format!("sub:{sub}")).await;
        assert!(
            (expected - 2..=expected).contains(&ttl),
            "TTL {ttl}, expected {expected}"
        );
        let key = format!("{}sub:{sub}", redis.prefix);
        let stored: u64 = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut redis.raw)
            .await
            .unwrap();
        assert!(
            (before..=now()).contains(&stored),
            "{key} = {stored}, the moment of the logout was {before}"
        );
    }
    redis.clear().await;
}

#[tokio::test]
async fn keys_live_under_the_default_or_the_configured_prefix() {
    let Some(mut redis) =
        shared_redis("keys_live_under_the_default_or_the_configured_prefix").await
    else {
        return;
    };
    // The default prefix is shared with every other user of this Redis (the demo server too):
    // a subject and a jti of this test's own.
    let (sub, jti) = (random_id("alice"), random_id("jti"));
    let token = hs256(&json!({ "sub": sub, "jti": jti, "iat": now() - 1, "exp": now() + 60 }));
    // Presented to log out everywhere once `token` is revoked.
    let other = user_token(&sub, Some(&random_id("jti")), now() - 1);
    let default_jti_key = format!("{DEFAULT_REDIS_PREFIX}jti:{jti}");
    let default_sub_key = format!("{DEFAULT_REDIS_PREFIX}sub:{sub}");
    assert_eq!(DEFAULT_REDIS_PREFIX, "tower-jwt-auth:revoked:");

    // A custom prefix: the keys are under it, and not under the default one.
    let custom = revoking_app(layer(redis.store().await));
    assert_eq!(post_status(&custom, "/logout", &token).await, 204);
    assert_eq!(post_status(&custom, "/logout-all", &other).await, 204);
    assert_eq!(
        redis.keys().await,
        [format!("jti:{jti}"), format!("sub:{sub}")]
    );
    assert_eq!(ttl(&mut redis.raw, &default_jti_key).await, -2);
    assert_eq!(ttl(&mut redis.raw, &default_sub_key).await, -2);
    assert_revoked(&custom, &token).await;

    // The default prefix: an app under it shares the Redis but not the revocations.
    let unprefixed = RedisRevocationStore::connect(&redis.url).await.unwrap();
    let default = revoking_app(layer(unprefixed));
    assert_passes(&default, &token, &sub).await;
    assert_eq!(post_status(&default, "/logout", &token).await, 204);
    let jti_ttl = ttl(&mut redis.raw, &default_jti_key).await;
    assert!(
        (58..=60).contains(&jti_ttl),
        "{default_jti_key}: TTL {jti_ttl}"
    );
    assert_revoked(&default, &token).await;
    assert_eq!(post_status(&default, "/logout-all", &other).await, 204);
    let sub_ttl = ttl(&mut redis.raw, &default_sub_key).await;
    assert!(sub_ttl > 0, "{default_sub_key}: TTL {sub_ttl}");

    // Day-long subject keys are not left behind in a developer's Redis.
    let removed: u32 = redis::cmd("DEL")
        .arg(&default_jti_key)
        .arg(&default_sub_key)
        .query_async(&mut redis.raw)
        .await
        .unwrap();
    assert_eq!(removed, 2);
    redis.clear().await;
}

// ---------------------------------------------------------------------------------------------
// Faults, against a redis-server each test owns

#[tokio::test]
async fn stopped_redis_fails_closed_with_503_within_the_backend_timeout() {
    let test = "stopped_redis_fails_closed_with_503_within_the_backend_timeout";
    let Some((mut server, app, token)) = serving(test).await else {
        return;
    };

    server.stop();
    // Every request while it is down, not only the first one that finds the connection gone.
    for _ in 0..3 {
        assert_unavailable_in_time(&app, &token).await;
    }
    // Logging out is refused as well: the layer fails closed before the handler runs.
    let answer = send(app.clone(), bearer_to(Method::POST, "/logout", &token)).await;
    assert_unavailable(&answer);
}

#[tokio::test]
async fn restarted_redis_serves_again_without_rebuilding_the_app() {
    let test = "restarted_redis_serves_again_without_rebuilding_the_app";
    let Some((mut server, app, token)) = serving(test).await else {
        return;
    };

    server.stop();
    assert_unavailable_in_time(&app, &token).await;
    server.restart().await;
    poll_until_ok(&app, &token, Duration::from_secs(10)).await;

    // The same app writes and reads revocations through the new connection.
    assert_eq!(post_status(&app, "/logout", &token).await, 204);
    assert_revoked(&app, &token).await;
    assert_passes(&app, &user_token("alice", Some("b"), now()), "alice").await;
}

#[tokio::test]
async fn fail_open_lets_requests_through_while_redis_is_down() {
    let test = "fail_open_lets_requests_through_while_redis_is_down";
    let Some(mut server) = RedisServer::start(SUITE, test).await else {
        return;
    };
    let store = RedisRevocationStore::connect(&server.url()).await.unwrap();
    let app = revoking_app(
        builder()
            .revocations(store)
            .backend_timeout(TIMEOUT)
            .revocation_fail_open()
            .build()
            .unwrap(),
    );
    let token = user_token("alice", Some("a"), now());
    let revoked = user_token("alice", Some("r"), now());
    assert_eq!(post_status(&app, "/logout", &revoked).await, 204);
    assert_revoked(&app, &revoked).await;

    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        assert_passes(&app, &token, "alice").await;
        assert!(started.elapsed() < TIMEOUT + Duration::from_millis(1500));
    }
    // Failing open means the revocation list is not consulted: the price of the option.
    assert_passes(&app, &revoked, "alice").await;
    let started = Instant::now();
    let answer = send(app.clone(), bearer_to(Method::POST, "/logout", &token)).await;
    eprintln!(
        "EXPERIMENT logout while down: {} after {:?}",
        answer.status,
        started.elapsed()
    );
}

#[tokio::test]
async fn connect_to_a_closed_port_is_an_error_not_a_panic() {
    let port = free_port();
    let started = Instant::now();
    let error = RedisRevocationStore::connect(&format!("redis://:hunter2@127.0.0.1:{port}"))
        .await
        .unwrap_err();
    let ConfigError::Backend(why) = &error else {
        panic!("{error:?}")
    };
    assert!(
        why.contains("refused"),
        "{why} (after {:?})",
        started.elapsed()
    );
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains("hunter2"), "the password leaked: {shown}");
    }

    // A URL that is not one is refused by both, before any connection attempt.
    let eager = RedisRevocationStore::connect("not a url")
        .await
        .unwrap_err();
    let lazy = RedisRevocationStore::connect_lazy("not a url").unwrap_err();
    for error in [eager, lazy] {
        assert!(
            matches!(&error, ConfigError::Backend(why) if why.starts_with("invalid Redis URL")),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn lazy_store_builds_without_redis_and_fails_closed() {
    let port = free_port();
    let store = RedisRevocationStore::connect_lazy(&format!("redis://127.0.0.1:{port}")).unwrap();
    let app = fault_app(store);
    let token = user_token("alice", Some("a"), now());
    for _ in 0..3 {
        assert_unavailable_in_time(&app, &token).await;
    }
}

#[tokio::test]
async fn lazy_store_serves_once_redis_comes_up() {
    let test = "lazy_store_serves_once_redis_comes_up";
    let Some(mut server) = RedisServer::start(SUITE, test).await else {
        return;
    };
    // The app starts while Redis is down…
    server.stop();
    let store = RedisRevocationStore::connect_lazy(&server.url()).unwrap();
    let app = fault_app(store);
    let token = user_token("alice", Some("a"), now());
    assert_unavailable_in_time(&app, &token).await;
    // …and serves once it is up, without being rebuilt.
    server.restart().await;
    poll_until_ok(&app, &token, Duration::from_secs(10)).await;
    assert_eq!(post_status(&app, "/logout", &token).await, 204);
    assert_revoked(&app, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_through_a_redis_restart_get_only_2xx_or_503_and_lose_no_revocation() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let test =
        "concurrent_clients_through_a_redis_restart_get_only_2xx_or_503_and_lose_no_revocation";
    let Some(mut server) = RedisServer::start_persistent(SUITE, test).await else {
        return;
    };
    let store = RedisRevocationStore::connect(&server.url()).await.unwrap();
    let app = fault_app(store);
    let revoked: Vec<String> = (0..5)
        .map(|i| user_token("mallory", Some(&format!("stolen-{i}")), now()))
        .collect();
    for token in &revoked {
        assert_eq!(
            post_status(&app, "/logout", token).await,
            StatusCode::NO_CONTENT
        );
    }
    let good = user_token("alice", Some("good"), now());

    // 16 clients, each alternating a good and a revoked token, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let (app, stop, good) = (app.clone(), stop.clone(), good.clone());
            let bad = revoked[client % revoked.len()].clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for (token, is_revoked) in [(&good, false), (&bad, true)] {
                        let started = Instant::now();
                        let answer = send(app.clone(), bearer(token)).await;
                        seen.push((is_revoked, answer.status, started.elapsed()));
                    }
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(700)).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart().await;
    poll_until_ok(&app, &good, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);

    let mut outcomes: Vec<(bool, StatusCode, Duration)> = Vec::new();
    for client in clients {
        outcomes.extend(client.await.unwrap());
    }
    let bound = TIMEOUT + Duration::from_millis(1500);
    for (is_revoked, status, elapsed) in &outcomes {
        let allowed: &[StatusCode] = if *is_revoked {
            // A revoked token is never let through, during the outage either.
            &[StatusCode::UNAUTHORIZED, StatusCode::SERVICE_UNAVAILABLE]
        } else {
            &[StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE]
        };
        assert!(allowed.contains(status), "revoked={is_revoked}: {status}");
        assert!(
            *elapsed < bound,
            "a request took {elapsed:?} (bound {bound:?})"
        );
    }
    let count = |status| outcomes.iter().filter(|(_, s, _)| *s == status).count();
    assert!(
        count(StatusCode::SERVICE_UNAVAILABLE) > 0,
        "the outage was not observed"
    );
    assert!(count(StatusCode::OK) > 0 && count(StatusCode::UNAUTHORIZED) > 0);
    eprintln!(
        "{test}: {} requests: {} ok, {} revoked, {} unavailable",
        outcomes.len(),
        count(StatusCode::OK),
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::SERVICE_UNAVAILABLE)
    );
    // No revocation was lost across the kill and the restart.
    for token in &revoked {
        assert_revoked(&app, token).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Memory limits: Redis must never evict a revocation

/// A Redis with a memory limit and an evicting policy could drop a live revocation (its token
/// would work again): both stores refuse it at `connect`, and a lazily connected one refuses
/// every request (503) rather than risk it.
#[tokio::test]
async fn a_redis_that_may_evict_keys_is_refused() {
    let test = "a_redis_that_may_evict_keys_is_refused";
    for policy in ["allkeys-lru", "volatile-ttl"] {
        let Some(server) = RedisServer::start_with(
            SUITE,
            test,
            &["--maxmemory", "16mb", "--maxmemory-policy", policy],
        )
        .await
        else {
            return;
        };
        let error = RedisRevocationStore::connect(&server.url())
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("maxmemory-policy") && message.contains(policy),
            "{message}"
        );
        let error = tower_jwt_auth::refresh::RedisRefreshStore::connect(&server.url())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("noeviction"), "{error}");

        let lazy = RedisRevocationStore::connect_lazy(&server.url()).unwrap();
        let app = fault_app(lazy);
        let token = user_token("alice", Some("a"), now());
        let answer = send(app.clone(), bearer(&token)).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{policy}");
        // The user may vouch for the policy (a Redis without CONFIG); then it is used.
        let vouched = RedisRevocationStore::connect_lazy(&server.url())
            .unwrap()
            .assume_no_eviction();
        let app = revoking_app(builder().revocations(vouched).build().unwrap());
        assert_passes(&app, &token, "alice").await;
    }
}

/// With `noeviction`, a full Redis refuses writes: the logout answers 503 (not 204), and every
/// revocation stored before is still there.
#[tokio::test]
async fn a_full_redis_with_noeviction_refuses_the_logout_and_keeps_every_revocation() {
    let test = "a_full_redis_with_noeviction_refuses_the_logout_and_keeps_every_revocation";
    let Some(server) = RedisServer::start_refusing_writes_when_full(SUITE, test).await else {
        return;
    };
    let store = RedisRevocationStore::connect(&server.url()).await.unwrap();
    let app = fault_app(store);
    let mut revoked = Vec::new();
    for i in 0..20 {
        let token = user_token(&format!("user-{i}"), Some(&format!("j-{i}")), now());
        assert_eq!(post_status(&app, "/logout", &token).await, 204);
        revoked.push(token);
    }
    // Out of memory: every write is refused.
    set_maxmemory(&server.url(), "1").await;
    let one_more = user_token("late", Some("late"), now());
    assert_eq!(post_status(&app, "/logout", &one_more).await, 503);
    // Not stored, so not revoked, and the client was told so.
    assert_passes(&app, &one_more, "late").await;
    for token in &revoked {
        assert_revoked(&app, token).await;
    }
}
