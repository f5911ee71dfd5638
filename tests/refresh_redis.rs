//! `RedisRefreshStore` against a real redis-server, never a mock: the behaviours of
//! `tests/refresh.rs` through Redis (rotation, reuse detection, concurrent rotation, logout,
//! logout everywhere), the keys, their lifetimes and prefixes, and failing closed.
//!
//! The tests use `REDIS_URL`, each under its own random key prefix, and delete their keys
//! (`tests/common/redis.rs`, shared with `tests/revocation_redis.rs`). Without `REDIS_URL` they
//! say how to run them and pass, except under `CI=true`, where they fail (`scripts/test` starts a
//! Redis and sets it).
#![cfg(feature = "redis")]

mod common;
#[path = "common/redis.rs"]
mod shared_redis;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared_redis::*;
use tower_jwt_auth::{
    error::SessionError,
    issuer::{JwtIssuer, SigningKey},
    refresh::{Consumed, DEFAULT_REDIS_REFRESH_PREFIX, RedisRefreshStore, Sessions},
    revocation::RedisRevocationStore,
};

const HOW_TO_RUN: &str = "set REDIS_URL=redis://127.0.0.1:6379 (a Redis the tests may write to), \
     or run `scripts/redis-for-tests.sh cargo test --all-features --test refresh_redis`, \
     which starts a throwaway redis-server";

const DAY: u64 = 24 * 60 * 60;

const SUITE: &str = "refresh_redis";

async fn shared_redis(test: &str) -> Option<SharedRedis> {
    SharedRedis::get(SUITE, test, HOW_TO_RUN).await
}

impl SharedRedis {
    async fn store(&self) -> RedisRefreshStore {
        RedisRefreshStore::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to REDIS_URL {}: {e}", self.url))
            .with_prefix(&self.prefix)
    }
}

fn issuer(clock: &TestClock) -> JwtIssuer {
    JwtIssuer::builder()
        .key(SigningKey::hmac(SECRET))
        .clock(clock.reader())
        .build()
        .unwrap()
}

fn sessions(clock: &TestClock, store: RedisRefreshStore) -> Sessions {
    Sessions::builder(issuer(clock), store).build().unwrap()
}

fn alice() -> Value {
    json!({ "sub": "alice", "roles": ["admin"] })
}

fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[tokio::test]
async fn rotation_and_reuse_detection_through_redis() {
    let Some(mut redis) = shared_redis("rotation_and_reuse_detection_through_redis").await else {
        return;
    };
    let clock = TestClock::at(now());
    let sessions = sessions(&clock, redis.store().await);
    let first = sessions.login(&alice()).await.unwrap();
    clock.advance(60);
    let second = sessions.rotate(first.refresh_token()).await.unwrap();
    assert_eq!(second.family(), first.family());
    assert_eq!(payload(second.access_token())["roles"], json!(["admin"]));
    let third = sessions.rotate(second.refresh_token()).await.unwrap();

    // The thief replays the second token: reuse, and the family is revoked.
    let replay = sessions.rotate(second.refresh_token()).await.unwrap_err();
    assert!(matches!(replay, SessionError::RefreshReused), "{replay:?}");
    let error = sessions.rotate(third.refresh_token()).await.unwrap_err();
    assert!(matches!(error, SessionError::InvalidGrant), "{error:?}");
    let unknown = sessions.rotate("not-a-refresh-token").await.unwrap_err();
    assert!(matches!(unknown, SessionError::InvalidGrant), "{unknown:?}");

    // Three token records (two consumed, one revoked by its family) and the family marker.
    let keys = redis.keys().await;
    let mut expected = vec![
        format!("family:{}", first.family()),
        format!("token:{}", hash(first.refresh_token())),
        format!("token:{}", hash(second.refresh_token())),
        format!("token:{}", hash(third.refresh_token())),
    ];
    expected.sort();
    assert_eq!(keys, expected);
    redis.clear().await;
}

#[tokio::test]
async fn keys_expire_with_the_family_and_never_hold_the_token() {
    let Some(mut redis) =
        shared_redis("keys_expire_with_the_family_and_never_hold_the_token").await
    else {
        return;
    };
    let clock = TestClock::at(now());
    let store = redis.store().await;
    let sessions = Sessions::builder(issuer(&clock), store.clone())
        .refresh_lifetime(Duration::from_secs(10 * DAY))
        .build()
        .unwrap();
    let pair = sessions.login(&alice()).await.unwrap();
    let token_key = format!("token:{}", hash(pair.refresh_token()));
    let ttl = redis.ttl(&token_key).await;
    assert!(
        (10 * DAY as i64 - 5..=10 * DAY as i64).contains(&ttl),
        "TTL {ttl}"
    );
    let stored: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(format!("{}{token_key}", redis.prefix))
        .query_async(&mut redis.raw)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|(name, value)| !name.contains(pair.refresh_token())
                && !value.contains(pair.refresh_token())),
        "{stored:?}"
    );

    // A rotation four days later: the new token lives as long as the family, six more days.
    clock.advance(4 * DAY);
    let next = sessions.rotate(pair.refresh_token()).await.unwrap();
    let next_key = format!("token:{}", hash(next.refresh_token()));
    let ttl = redis.ttl(&next_key).await;
    assert!(
        (6 * DAY as i64 - 5..=6 * DAY as i64).contains(&ttl),
        "TTL {ttl}"
    );
    // The consumed record keeps its TTL, to recognise a replay until then.
    assert!(redis.ttl(&token_key).await > 9 * DAY as i64);

    // A successor of another family (or subject) is no successor of this token: the script,
    // which touches the successor's family and subject keys, answers unknown and changes
    // nothing.
    let now = clock.reader()();
    let next_hash = hash(next.refresh_token());
    for (family, subject) in [("another-family", "alice"), (pair.family(), "mallory")] {
        assert_eq!(
            rotate_in_store(&store, &next_hash, (family, subject), now).await,
            Consumed::Unknown
        );
    }
    let state: String = redis::cmd("HGET")
        .arg(format!("{}{next_key}", redis.prefix))
        .arg("state")
        .query_async(&mut redis.raw)
        .await
        .unwrap();
    assert_eq!(state, "active");

    // A reuse revokes the family for the rest of its life.
    assert!(matches!(
        sessions.rotate(pair.refresh_token()).await,
        Err(SessionError::RefreshReused)
    ));
    let family_ttl = redis.ttl(&format!("family:{}", pair.family())).await;
    assert!(
        (6 * DAY as i64 - 5..=6 * DAY as i64).contains(&family_ttl),
        "TTL {family_ttl}"
    );

    // Past the family's end, its tokens are unknown even before Redis drops them.
    clock.advance(6 * DAY);
    let later = clock.reader()();
    assert_eq!(
        rotate_in_store(
            &store,
            &hash(next.refresh_token()),
            (pair.family(), "alice"),
            later
        )
        .await,
        Consumed::Unknown
    );
    redis.clear().await;
}

#[test]
fn concurrent_rotations_through_redis_have_exactly_one_winner() {
    let runtime = four_worker_runtime();
    runtime.block_on(async {
        let Some(mut redis) =
            shared_redis("concurrent_rotations_through_redis_have_exactly_one_winner").await
        else {
            return;
        };
        let clock = TestClock::at(now());
        let sessions = sessions(&clock, redis.store().await);
        for _ in 0..5 {
            let pair = sessions.login(&alice()).await.unwrap();
            let winners = rotate_concurrently(&sessions, pair.refresh_token()).await;
            assert_eq!(winners.len(), 1);
            // The losers' reuse revoked the family: the winner's token is refused too.
            assert!(matches!(
                sessions.rotate(winners[0].refresh_token()).await,
                Err(SessionError::InvalidGrant)
            ));
        }
        redis.clear().await;
    });
}

#[tokio::test]
async fn logout_through_redis_revokes_the_access_token_and_the_family() {
    let Some(mut redis) =
        shared_redis("logout_through_redis_revokes_the_access_token_and_the_family").await
    else {
        return;
    };
    let revocations = RedisRevocationStore::connect(&redis.url)
        .await
        .unwrap()
        .with_prefix(format!("{}revoked:", redis.prefix));
    // One connection for both stores.
    let store = RedisRefreshStore::sharing(&revocations).with_prefix(&redis.prefix);
    let clock = TestClock::at(now());
    let sessions = Sessions::builder(issuer(&clock), store)
        .revocations(revocations.clone())
        .build()
        .unwrap();
    let layer = access_token_layer(revocations);
    let pair = sessions.login(&alice()).await.unwrap();
    let other = sessions.login(&alice()).await.unwrap();

    // The handler's view of the access token, from a real request through the layer.
    let app = axum::Router::new()
        .route(
            "/logout",
            axum::routing::post(
                |facts: tower_jwt_auth::revocation::TokenFacts,
                 axum::extract::State((sessions, refresh)): axum::extract::State<(
                    Sessions,
                    String,
                )>| async move {
                    sessions
                        .logout(&facts, Some(&refresh))
                        .await
                        .map(|()| http::StatusCode::NO_CONTENT)
                },
            ),
        )
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(layer.clone())
        .with_state((sessions.clone(), pair.refresh_token().to_owned()));
    let request = http::Request::post("/logout")
        .header("authorization", format!("Bearer {}", pair.access_token()))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(app.clone(), request).await.status, 204);

    send(app, bearer(pair.access_token()))
        .await
        .assert_rejected(401, "invalid_token", "jwt revoked");
    assert!(matches!(
        sessions.rotate(pair.refresh_token()).await,
        Err(SessionError::InvalidGrant)
    ));
    sessions.rotate(other.refresh_token()).await.unwrap();
    // The logout revoked the login (the access token's `sid`), for as long as its access
    // tokens can live: their lifetime plus the largest leeway.
    let login_ttl = redis.ttl(&format!("revoked:sid:{}", pair.family())).await;
    assert!((900..=900 + 300).contains(&login_ttl), "TTL {login_ttl}");
    redis.clear().await;
}

#[tokio::test]
async fn logout_everywhere_through_redis_ends_every_family_of_the_subject() {
    let Some(mut redis) =
        shared_redis("logout_everywhere_through_redis_ends_every_family_of_the_subject").await
    else {
        return;
    };
    let clock = TestClock::at(now());
    let sessions = sessions(&clock, redis.store().await);
    let a = sessions.login(&alice()).await.unwrap();
    let b = sessions.login(&alice()).await.unwrap();
    let bob = sessions.login(&json!({ "sub": "bob" })).await.unwrap();
    sessions.logout_everywhere("alice").await.unwrap();
    for pair in [&a, &b] {
        assert!(matches!(
            sessions.rotate(pair.refresh_token()).await,
            Err(SessionError::InvalidGrant)
        ));
    }
    sessions.rotate(bob.refresh_token()).await.unwrap();
    let sub_ttl = redis.ttl("sub:alice").await;
    assert!(
        (30 * DAY as i64 - 5..=30 * DAY as i64).contains(&sub_ttl),
        "TTL {sub_ttl}"
    );
    clock.advance(1);
    let fresh = sessions.login(&alice()).await.unwrap();
    sessions.rotate(fresh.refresh_token()).await.unwrap();
    redis.clear().await;
}

#[tokio::test]
async fn keys_live_under_the_configured_or_the_default_prefix() {
    let Some(mut redis) =
        shared_redis("keys_live_under_the_configured_or_the_default_prefix").await
    else {
        return;
    };
    let clock = TestClock::at(now());
    let prefixed = sessions(&clock, redis.store().await);
    let pair = prefixed.login(&alice()).await.unwrap();
    let token_key = format!("token:{}", hash(pair.refresh_token()));
    assert_eq!(redis.keys().await, vec![token_key.clone()]);
    let default_key = format!("{DEFAULT_REDIS_REFRESH_PREFIX}{token_key}");
    assert_eq!(ttl(&mut redis.raw, &default_key).await, -2);

    // Under the default prefix, the same Redis keeps another application's sessions apart.
    assert_eq!(DEFAULT_REDIS_REFRESH_PREFIX, "tower-jwt-auth:refresh:");
    let unprefixed = sessions(
        &clock,
        RedisRefreshStore::connect(&redis.url).await.unwrap(),
    );
    assert!(matches!(
        unprefixed.rotate(pair.refresh_token()).await,
        Err(SessionError::InvalidGrant)
    ));
    let other = unprefixed.login(&alice()).await.unwrap();
    let other_key = format!(
        "{DEFAULT_REDIS_REFRESH_PREFIX}token:{}",
        hash(other.refresh_token())
    );
    assert!(ttl(&mut redis.raw, &other_key).await > 0);
    let () = redis::cmd("DEL")
        .arg(&other_key)
        .query_async(&mut redis.raw)
        .await
        .unwrap();
    redis.clear().await;
}

#[tokio::test]
async fn an_unreachable_redis_fails_closed_within_the_timeout() {
    // A port nothing listens on: no Redis needed, and none is touched.
    let port = free_port();
    let store = RedisRefreshStore::connect_lazy(&format!("redis://127.0.0.1:{port}")).unwrap();
    let clock = TestClock::at(now());
    let sessions = Sessions::builder(issuer(&clock), store)
        .backend_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for attempt in 0..2 {
        let started = Instant::now();
        let error = if attempt == 0 {
            sessions.login(&alice()).await.unwrap_err()
        } else {
            sessions.rotate("some-refresh-token").await.unwrap_err()
        };
        assert!(matches!(error, SessionError::Unavailable(_)), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(error.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test]
async fn the_reuse_grace_is_off_by_default_and_kept_through_redis() {
    let Some(mut redis) =
        shared_redis("the_reuse_grace_is_off_by_default_and_kept_through_redis").await
    else {
        return;
    };
    let (url, prefix) = (redis.url.clone(), redis.prefix.clone());
    reuse_grace_is_kept(|clock, grace| {
        let store = RedisRefreshStore::connect_lazy(&url)
            .unwrap()
            .with_prefix(&prefix);
        Sessions::builder(issuer(clock), store)
            .reuse_grace(grace)
            .build()
            .unwrap()
    })
    .await;
    redis.clear().await;
}

/// Issue 17: a refresh answered 503 was applied anyway once Redis resumed, so the client that
/// retried as told (`Retry-After`) was logged out as a reuse. Redis is frozen with SIGSTOP
/// while the rotation waits in its socket, and resumed after the backend timeout: the script
/// runs past its deadline and does nothing, and the retry gets 200 and a new pair.
#[tokio::test]
async fn a_rotation_answered_503_while_redis_was_frozen_is_never_applied() {
    use axum::response::IntoResponse;
    let test = "a_rotation_answered_503_while_redis_was_frozen_is_never_applied";
    let Some(server) = RedisServer::start(SUITE, test).await else {
        return;
    };
    let store = RedisRefreshStore::connect(&server.url()).await.unwrap();
    let clock = TestClock::at(now());
    let sessions = Sessions::builder(issuer(&clock), store)
        .backend_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let pair = sessions.login(&alice()).await.unwrap();

    server.freeze();
    let started = Instant::now();
    let error = sessions.rotate(pair.refresh_token()).await.unwrap_err();
    assert!(matches!(error, SessionError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let response = error.into_response();
    assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Resumed after the timeout: the queued script runs now, late.
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.thaw();

    // The client obeys Retry-After and presents the same token again.
    let retry_at = started + Duration::from_secs(retry_after);
    tokio::time::sleep_until(retry_at.into()).await;
    let renewed = sessions
        .rotate(pair.refresh_token())
        .await
        .unwrap_or_else(|error| panic!("the retry was refused: {error:?}"));
    assert_eq!(renewed.family(), pair.family());
    // Reuse detection is intact: the renewed token works once, the old one no more.
    let next = sessions.rotate(renewed.refresh_token()).await.unwrap();
    assert!(matches!(
        sessions.rotate(pair.refresh_token()).await,
        Err(SessionError::RefreshReused)
    ));
    assert!(sessions.rotate(next.refresh_token()).await.is_err());
}

/// With `noeviction`, a full Redis refuses the rotation (503) as a whole: nothing of it is
/// applied, and once there is room the same token rotates (200).
#[tokio::test]
async fn a_full_redis_refuses_the_rotation_whole_and_it_succeeds_once_there_is_room() {
    let test = "a_full_redis_refuses_the_rotation_whole_and_it_succeeds_once_there_is_room";
    let Some(server) = RedisServer::start_refusing_writes_when_full(SUITE, test).await else {
        return;
    };
    let store = RedisRefreshStore::connect(&server.url()).await.unwrap();
    let clock = TestClock::at(now());
    let sessions = Sessions::builder(issuer(&clock), store).build().unwrap();
    let pair = sessions.login(&alice()).await.unwrap();
    // Out of memory: every write is refused.
    set_maxmemory(&server.url(), "1").await;

    let error = sessions.login(&alice()).await.unwrap_err();
    assert!(matches!(error, SessionError::Unavailable(_)), "{error:?}");
    let error = sessions.rotate(pair.refresh_token()).await.unwrap_err();
    assert!(matches!(error, SessionError::Unavailable(_)), "{error:?}");

    set_maxmemory(&server.url(), "4mb").await;
    let next = sessions.rotate(pair.refresh_token()).await.unwrap();
    sessions.rotate(next.refresh_token()).await.unwrap();
}
