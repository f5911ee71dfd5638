//! The Redis stores (revocations, their mirror, refresh tokens) on a real Redis Cluster of three
//! primaries on loopback, started by the test: two instances sharing it (a logout on one
//! refused by the other within the bound), a mirror loading revocations from every primary,
//! and a primary killed and restarted: only 200, 401 for a revoked token, or 503, and the
//! mirror current again without restarting the instances.
//!
//! Without redis-server and redis-cli the tests say how to run them and pass, except under
//! `CI=true`, where they fail.
#![cfg(feature = "redis")]

mod common;
#[path = "common/redis.rs"]
mod shared_redis;

use std::time::{Duration, Instant};

use common::*;
use http::Method;
use shared_redis::*;
use tower_jwt_auth::revocation::{MirroredRevocationStore, RedisRevocationStore};

const SUITE: &str = "redis_cluster";
const MAX_STALENESS: Duration = Duration::from_secs(1);

async fn cluster_store(cluster: &RedisCluster) -> RedisRevocationStore {
    RedisRevocationStore::connect_cluster(&cluster.urls())
        .await
        .unwrap()
        .with_prefix("cluster:")
}

async fn mirror(cluster: &RedisCluster) -> MirroredRevocationStore {
    cluster_store(cluster)
        .await
        .mirrored()
        .max_staleness(MAX_STALENESS)
        .start(Duration::from_secs(10))
        .await
        .unwrap()
}

#[tokio::test]
async fn instances_share_revocations_through_a_cluster() {
    let Some(cluster) = RedisCluster::start(SUITE, "shared").await else {
        return;
    };
    let (a, b) = (mirror(&cluster).await, mirror(&cluster).await);
    let plain = revoking_instance(cluster_store(&cluster).await);
    let (first, second) = (revoking_instance(a), revoking_instance(b.clone()));
    // Tokens whose ids fall in many slots, so every primary holds some.
    let tokens: Vec<String> = (0..24)
        .map(|i| {
            user_token(
                &format!("user-{i}"),
                Some(&format!("cluster-{i}")),
                now() - 5,
            )
        })
        .collect();
    for token in &tokens {
        assert_eq!(status_of(&second, Method::GET, "/", token).await, 200);
        assert_eq!(status_of(&first, Method::POST, "/logout", token).await, 204);
        until_status(&second, token, 401, MAX_STALENESS).await;
        // The plain store's `MGET` over the cluster agrees.
        assert_eq!(status_of(&plain, Method::GET, "/", token).await, 401);
    }
    // "Log out everywhere" and a mirror started now, loading from every primary.
    let everywhere = user_token("zoe", Some("cluster-zoe"), now() - 5);
    assert_eq!(
        status_of(&first, Method::POST, "/logout-all", &everywhere).await,
        204
    );
    let late = mirror(&cluster).await;
    assert_eq!(late.len(), tokens.len() + 1);
    let third = revoking_instance(late);
    for token in tokens.iter().chain([&everywhere]) {
        assert_eq!(status_of(&third, Method::GET, "/", token).await, 401);
    }
    let kept = user_token("yann", Some("cluster-kept"), now() - 5);
    assert_eq!(status_of(&third, Method::GET, "/", &kept).await, 200);
}

/// The primary the mirror subscribes through killed, then restarted with its data: only 200,
/// 401 or 503 meanwhile, never the revoked token through; the mirror goes stale (its checks
/// then fail closed: that primary's slots are down), and is current again by itself once the
/// primary is back.
#[tokio::test]
async fn a_primary_killed_and_restarted_gives_only_2xx_401_or_503() {
    let Some(mut cluster) = RedisCluster::start(SUITE, "killed").await else {
        return;
    };
    let store = mirror(&cluster).await;
    let writer = revoking_instance(cluster_store(&cluster).await);
    let reader = revoking_instance(store.clone());
    let revoked: Vec<String> = (0..12)
        .map(|i| user_token(&format!("kill-{i}"), Some(&format!("kill-{i}")), now() - 5))
        .collect();
    for token in &revoked {
        assert_eq!(
            status_of(&writer, Method::POST, "/logout", token).await,
            204
        );
    }
    let kept = user_token("kept", Some("kill-kept"), now() - 5);
    // Heard within the bound.
    for token in &revoked {
        until_status(&reader, token, 401, MAX_STALENESS).await;
    }
    let check = |seen_503: &mut bool| {
        let reader = reader.clone();
        let (revoked, kept) = (revoked.clone(), kept.clone());
        let mut seen = *seen_503;
        async move {
            for token in &revoked {
                let got = status_of(&reader, Method::GET, "/", token).await;
                assert!(matches!(got, 401 | 503), "a revoked token got {got}");
            }
            let got = status_of(&reader, Method::GET, "/", &kept).await;
            assert!(matches!(got, 200 | 503), "the kept token got {got}");
            seen |= got == 503;
            seen
        }
    };
    let mut seen_503 = false;
    seen_503 = check(&mut seen_503).await;

    // The mirror subscribes through the first node given.
    cluster.nodes[0].stop();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(4) {
        seen_503 = check(&mut seen_503).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen_503,
        "with a primary down, checks that reach Redis fail closed"
    );

    cluster.nodes[0].restart().await;
    cluster.wait_until_ok(Duration::from_secs(30)).await;
    let back = Instant::now();
    while !store.is_current() {
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "the mirror is not current again"
        );
        seen_503 = check(&mut seen_503).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for token in &revoked {
        assert_eq!(status_of(&reader, Method::GET, "/", token).await, 401);
    }
    assert_eq!(status_of(&reader, Method::GET, "/", &kept).await, 200);
}

/// Sessions on two instances sharing the cluster's refresh store and revocations: a login on
/// one rotates on the other, a reuse is caught across instances and ends the login on both,
/// and every key of a session sits in the slot of its subject's tag.
#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_is_caught_across_instances_on_a_cluster() {
    use tower_jwt_auth::error::SessionError;
    use tower_jwt_auth::issuer::{JwtIssuer, SigningKey};
    use tower_jwt_auth::refresh::{RedisRefreshStore, Sessions};

    let Some(cluster) = RedisCluster::start(SUITE, "refresh").await else {
        return;
    };
    let issuer = JwtIssuer::builder()
        .key(SigningKey::hmac(SECRET))
        .build()
        .unwrap();
    let instance = || async {
        let store = RedisRefreshStore::connect_cluster(&cluster.urls())
            .await
            .unwrap()
            .with_prefix("cluster-refresh:");
        Sessions::builder(issuer.clone(), store)
            .revocations(cluster_store(&cluster).await)
            .build()
            .unwrap()
    };
    let (first, second) = (instance().await, instance().await);
    let mut pairs = Vec::new();
    for user in ["ana", "ben", "cleo", "dan", "eve", "fay"] {
        let pair = first
            .login(&serde_json::json!({ "sub": user }))
            .await
            .unwrap();
        // Tokens and families start with the subject's tag.
        let tag = pair.refresh_token().split_once('.').unwrap().0.to_owned();
        assert!(pair.family().starts_with(&format!("{tag}.")));
        pairs.push((user, tag, pair));
    }
    for (user, _, pair) in &pairs {
        let next = second.rotate(pair.refresh_token()).await.unwrap();
        let reused = first.rotate(pair.refresh_token()).await;
        assert!(
            matches!(reused, Err(SessionError::RefreshReused)),
            "{user}: {reused:?}"
        );
        // The reuse ended the login: its newest token is refused on either instance.
        assert!(matches!(
            second.rotate(next.refresh_token()).await,
            Err(SessionError::InvalidGrant)
        ));
    }
    // "Log out everywhere" of one subject, on the other instance.
    let pair = first
        .login(&serde_json::json!({ "sub": "gus" }))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    second.logout_everywhere("gus").await.unwrap();
    assert!(matches!(
        first.rotate(pair.refresh_token()).await,
        Err(SessionError::InvalidGrant)
    ));

    // Every key the sessions wrote carries its subject's tag: the keys of each subject
    // (tokens, consumed and active, and revoked families) sit in one slot.
    let mut slots: std::collections::HashMap<String, std::collections::HashSet<i64>> =
        Default::default();
    for url in cluster.urls() {
        let mut raw = raw_connection(&url).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("cluster-refresh:*")
            .query_async(&mut raw)
            .await
            .unwrap();
        for key in keys {
            let tag = key
                .split_once('{')
                .and_then(|(_, rest)| rest.split_once('}'))
                .map(|(tag, _)| tag.to_owned())
                .unwrap_or_else(|| panic!("{key} has no hash tag"));
            let slot: i64 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query_async(&mut raw)
                .await
                .unwrap();
            slots.entry(tag).or_default().insert(slot);
        }
    }
    for (_, tag, _) in &pairs {
        assert_eq!(
            slots.get(tag).map(|slots| slots.len()),
            Some(1),
            "{tag}: {slots:?}"
        );
    }
}
