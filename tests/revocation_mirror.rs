//! `MirroredRevocationStore` against real redis-servers, never a mock: a logout on one instance
//! refused by another within the bound, a mirror loading what was revoked before it started,
//! and real faults (the subscription killed by Redis, Redis killed and restarted): only 2xx,
//! 401 for a revoked token, or 503, and the mirror current again without a restart.
//!
//! The propagation tests use `REDIS_URL` under their own random prefix; the fault tests start,
//! kill and restart their own `redis-server`. Without them the tests say how to run them and
//! pass, except under `CI=true`, where they fail.
#![cfg(feature = "redis")]

mod common;
#[path = "common/redis.rs"]
mod shared_redis;

use std::time::{Duration, Instant};

use common::*;
use http::Method;
use shared_redis::*;
use tower_jwt_auth::revocation::{MirroredRevocationStore, RedisRevocationStore};

const SUITE: &str = "revocation_mirror";
const HOW_TO_RUN: &str = "set REDIS_URL=redis://127.0.0.1:6379 (a Redis the tests may write to), \
     or run `scripts/redis-for-tests.sh cargo test --all-features --test revocation_mirror`";
/// The bound the tests hold the mirrors to: the default.
const MAX_STALENESS: Duration = Duration::from_secs(1);

async fn mirror(url: &str, prefix: &str) -> MirroredRevocationStore {
    RedisRevocationStore::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
        .with_prefix(prefix)
        .mirrored()
        .max_staleness(MAX_STALENESS)
        .start(Duration::from_secs(10))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_another_within_the_bound() {
    let Some(mut redis) = SharedRedis::get(SUITE, "propagation", HOW_TO_RUN).await else {
        return;
    };
    let (a, b) = (
        mirror(&redis.url, &redis.prefix).await,
        mirror(&redis.url, &redis.prefix).await,
    );
    let (first, second) = (revoking_instance(a), revoking_instance(b.clone()));
    let mut took = Vec::new();
    for round in 0..5 {
        let token = user_token("alice", Some(&format!("propagation-{round}")), now() - 5);
        assert_eq!(status_of(&second, Method::GET, "/", &token).await, 200);
        assert_eq!(
            status_of(&first, Method::POST, "/logout", &token).await,
            204
        );
        took.push(until_status(&second, &token, 401, MAX_STALENESS).await);
        // Refused by the copy, not by a round trip to Redis.
        assert!(b.is_current());
    }
    // "Log out everywhere" travels the same way.
    let other = user_token("bob", Some("propagation-bob"), now() - 5);
    assert_eq!(status_of(&second, Method::GET, "/", &other).await, 200);
    assert_eq!(
        status_of(&first, Method::POST, "/logout-all", &other).await,
        204
    );
    took.push(until_status(&second, &other, 401, MAX_STALENESS).await);
    eprintln!("revocation_mirror: propagation times {took:?}");
    redis.clear().await;
}

#[tokio::test]
async fn a_mirror_loads_what_was_revoked_before_it_started() {
    let Some(mut redis) = SharedRedis::get(SUITE, "initial_load", HOW_TO_RUN).await else {
        return;
    };
    let plain = RedisRevocationStore::connect(&redis.url)
        .await
        .unwrap()
        .with_prefix(&redis.prefix);
    let writer = revoking_instance(plain);
    let (revoked, everywhere, kept) = (
        user_token("carol", Some("load-1"), now() - 5),
        user_token("dave", Some("load-2"), now() - 5),
        user_token("erin", Some("load-3"), now() - 5),
    );
    assert_eq!(
        status_of(&writer, Method::POST, "/logout", &revoked).await,
        204
    );
    assert_eq!(
        status_of(&writer, Method::POST, "/logout-all", &everywhere).await,
        204
    );
    let store = mirror(&redis.url, &redis.prefix).await;
    assert_eq!(store.len(), 2, "one listed token, one subject");
    let reader = revoking_instance(store.clone());
    assert_eq!(status_of(&reader, Method::GET, "/", &revoked).await, 401);
    assert_eq!(status_of(&reader, Method::GET, "/", &everywhere).await, 401);
    assert_eq!(status_of(&reader, Method::GET, "/", &kept).await, 200);
    assert!(store.is_current());
    redis.clear().await;
}

/// Redis drops the mirror's subscription (`CLIENT KILL TYPE pubsub`), and a logout happens
/// at once on another instance: the mirror, stale, sends checks to Redis, then subscribes and
/// loads again, by itself; the revoked token is refused throughout.
#[tokio::test]
async fn a_dropped_subscription_falls_back_to_redis_then_resynchronises() {
    let Some(server) = RedisServer::start(SUITE, "dropped_subscription").await else {
        return;
    };
    let url = server.url();
    let store = mirror(&url, "mirror-fault:").await;
    let (writer, reader) = (
        revoking_instance(
            RedisRevocationStore::connect(&url)
                .await
                .unwrap()
                .with_prefix("mirror-fault:"),
        ),
        revoking_instance(store.clone()),
    );
    let (revoked, kept) = (
        user_token("frank", Some("fault-1"), now() - 5),
        user_token("grace", Some("fault-2"), now() - 5),
    );
    let mut raw = raw_connection(&url).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(killed, 1, "the mirror's subscription");
    assert_eq!(
        status_of(&writer, Method::POST, "/logout", &revoked).await,
        204
    );
    // Whatever the mirror's state, the revoked token is never let through again.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        assert_eq!(status_of(&reader, Method::GET, "/", &revoked).await, 401);
        assert_eq!(status_of(&reader, Method::GET, "/", &kept).await, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(store.is_current(), "the mirror subscribed and loaded again");
    assert_eq!(status_of(&reader, Method::GET, "/", &revoked).await, 401);
}

/// Redis killed, then restarted with its data: while it is down the mirror answers within its
/// bound, then goes stale and every check is a 503 (the layer fails closed), never a 200 for
/// the revoked token; once Redis is back, the mirror is current again without a restart.
#[tokio::test]
async fn redis_killed_and_restarted_gives_only_2xx_401_or_503() {
    let Some(mut server) = RedisServer::start_persistent(SUITE, "killed").await else {
        return;
    };
    let url = server.url();
    let store = mirror(&url, "mirror-kill:").await;
    let writer = revoking_instance(
        RedisRevocationStore::connect(&url)
            .await
            .unwrap()
            .with_prefix("mirror-kill:"),
    );
    let reader = revoking_instance(store.clone());
    let (revoked, kept) = (
        user_token("heidi", Some("kill-1"), now() - 5),
        user_token("ivan", Some("kill-2"), now() - 5),
    );
    assert_eq!(
        status_of(&writer, Method::POST, "/logout", &revoked).await,
        204
    );
    until_status(&reader, &revoked, 401, MAX_STALENESS).await;

    server.stop();
    let down = Instant::now();
    let mut seen_503 = false;
    while down.elapsed() < MAX_STALENESS * 3 {
        let (r, k) = (
            status_of(&reader, Method::GET, "/", &revoked).await,
            status_of(&reader, Method::GET, "/", &kept).await,
        );
        assert!(matches!(r, 401 | 503), "the revoked token got {r}");
        assert!(matches!(k, 200 | 503), "the kept token got {k}");
        seen_503 |= k == 503;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen_503,
        "a stale mirror sends checks to Redis, which is down: 503"
    );
    assert!(!store.is_current());

    server.restart().await;
    let back = Instant::now();
    while !store.is_current() {
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not current again"
        );
        let r = status_of(&reader, Method::GET, "/", &revoked).await;
        assert!(matches!(r, 401 | 503), "the revoked token got {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status_of(&reader, Method::GET, "/", &revoked).await, 401);
    assert_eq!(status_of(&reader, Method::GET, "/", &kept).await, 200);
}

#[tokio::test]
async fn a_mirror_that_cannot_work_is_refused_when_built() {
    let Some(redis) = SharedRedis::get(SUITE, "refused", HOW_TO_RUN).await else {
        return;
    };
    let store = || async {
        RedisRevocationStore::connect(&redis.url)
            .await
            .unwrap()
            .with_prefix(&redis.prefix)
    };
    // Without the URL there is nothing to subscribe through.
    let manager = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let without_url = RedisRevocationStore::from_connection(manager)
        .mirrored()
        .start_lazy();
    assert!(without_url.is_err());
    let too_short = store()
        .await
        .mirrored()
        .max_staleness(Duration::from_millis(10))
        .start_lazy();
    assert!(too_short.is_err());
    let no_room = store().await.mirrored().capacity(0).start_lazy();
    assert!(no_room.is_err());
}

/// A mirror that cannot hold every revocation stops answering (an ERROR says so): every check
/// then goes to Redis, and no revocation is missed.
#[tokio::test]
async fn a_full_mirror_sends_every_check_to_redis() {
    let Some(mut redis) = SharedRedis::get(SUITE, "full", HOW_TO_RUN).await else {
        return;
    };
    let store = RedisRevocationStore::connect(&redis.url)
        .await
        .unwrap()
        .with_prefix(&redis.prefix)
        .mirrored()
        .capacity(2)
        .start(Duration::from_secs(10))
        .await
        .unwrap();
    let app = revoking_instance(store.clone());
    let tokens: Vec<String> = (0..3)
        .map(|i| user_token("olga", Some(&format!("full-{i}")), now() - 5))
        .collect();
    for token in &tokens[..2] {
        assert_eq!(status_of(&app, Method::POST, "/logout", token).await, 204);
    }
    assert!(store.is_current());
    assert_eq!(
        status_of(&app, Method::POST, "/logout", &tokens[2]).await,
        204
    );
    assert!(!store.is_current(), "a full mirror answers nothing");
    for token in &tokens {
        assert_eq!(status_of(&app, Method::GET, "/", token).await, 401);
    }
    let kept = user_token("olga", Some("full-kept"), now() - 5);
    assert_eq!(status_of(&app, Method::GET, "/", &kept).await, 200);
    redis.clear().await;
}
