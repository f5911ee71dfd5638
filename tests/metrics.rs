//! Metrics through the `metrics` facade (feature `metrics`), read by a real recorder
//! (`metrics-util`'s debugging recorder): decisions by outcome and kind, the cache, JWKS
//! fetches, backend failures, and the latency histograms.

#![cfg(all(feature = "metrics", feature = "test-util"))]

mod common;
#[cfg(feature = "redis")]
#[path = "common/redis.rs"]
mod shared_redis;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;
use tower_jwt_auth::jwks::RemoteKeySet;
use tower_jwt_auth::revocation::TokenFacts;
use tower_jwt_auth::telemetry::{
    BACKEND_FAILURES, BACKEND_SECONDS, CACHE_EVICTIONS, CACHE_HITS, CACHE_MISSES, DECISIONS,
    GUARD_REFUSALS, JWKS_FETCHES, VERIFICATION_SECONDS,
};
use tower_jwt_auth::test_util::TestIdentityProvider;
use tower_jwt_auth::{JwtLayer, Key};

/// Runs `test` on a runtime of this thread with `recorder` as the thread's recorder, so
/// tests in parallel do not see each other's metrics.
fn recorded<F: Future<Output = ()>>(test: impl FnOnce() -> F) -> Snapshotter {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(test()));
    snapshotter
}

/// Each metric as `name{label=value,…}`: a counter's value, a histogram's number of samples.
fn values(snapshotter: &Snapshotter) -> BTreeMap<String, u64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            let value = match value {
                DebugValue::Counter(count) => count,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(gauge) => gauge.into_inner() as u64,
            };
            (name, value)
        })
        .collect()
}

fn token_for(sub: &str) -> String {
    hs256(&json!({ "sub": sub, "exp": now() + 600 }))
}

#[test]
fn decisions_and_the_cache_are_counted() {
    let snapshotter = recorded(|| async {
        let cached = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .cache(1)
            .build()
            .unwrap();
        let (alice, bob) = (token_for("alice"), token_for("bob"));
        for token in [&alice, &alice, &bob, &alice, &alice, &alice] {
            assert_eq!(try_token(cached.clone(), token).await.status, 200);
        }
        let expired = hs256(&json!({ "sub": "carol", "exp": now() - 600 }));
        try_token(cached.clone(), &expired).await;
        send(app(cached), get_with(&[])).await;
        let optional = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .optional()
            .build()
            .unwrap();
        send(app(optional), get_with(&[])).await;
    });
    let values = values(&snapshotter);
    let expected = [
        (format!("{DECISIONS}{{outcome=authenticated,kind=none}}"), 6),
        (format!("{DECISIONS}{{outcome=refused,kind=expired}}"), 1),
        (
            format!("{DECISIONS}{{outcome=refused,kind=missing_authorization_header}}"),
            1,
        ),
        (format!("{DECISIONS}{{outcome=anonymous,kind=none}}"), 1),
        // alice's second request, and her last.
        (CACHE_HITS.to_owned(), 2),
        // alice, bob, alice twice after bob took the only place (the full cache stores a token
        // at its second miss), and the expired token.
        (CACHE_MISSES.to_owned(), 5),
        // bob evicts alice, then alice, at her second miss, evicts bob.
        (CACHE_EVICTIONS.to_owned(), 2),
        // Every request's synchronous decision, timed.
        (VERIFICATION_SECONDS.to_owned(), 9),
    ];
    for (name, value) in expected {
        assert_eq!(values.get(&name), Some(&value), "{name} in {values:#?}");
    }
}

#[test]
fn guard_refusals_are_counted_by_guard_and_kind() {
    let snapshotter = recorded(|| async {
        let app = axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .route_layer(tower_jwt_auth::RequireRoles::any(["admin"]).unwrap())
            .layer(hs256_layer());
        let admin = hs256(&json!({ "sub": "root", "roles": ["admin"], "exp": now() + 600 }));
        let user = hs256(&json!({ "sub": "alice", "roles": ["user"], "exp": now() + 600 }));
        assert_eq!(send(app.clone(), bearer(&admin)).await.status, 200);
        assert_eq!(send(app.clone(), bearer(&user)).await.status, 403);
        assert_eq!(send(app, bearer(&user)).await.status, 403);
    });
    let values = values(&snapshotter);
    assert_eq!(
        values.get(&format!(
            "{GUARD_REFUSALS}{{guard=RequireRoles,kind=insufficient_role}}"
        )),
        Some(&2),
        "{values:#?}"
    );
    // The layer authenticated all three.
    assert_eq!(
        values.get(&format!("{DECISIONS}{{outcome=authenticated,kind=none}}")),
        Some(&3)
    );
}

#[test]
fn backend_failures_and_times_are_counted() {
    let snapshotter = recorded(|| async {
        let token = token_for("alice");
        let failing_store = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .revoked_if(|_: TokenFacts| async {
                Err::<bool, _>(std::io::Error::other("store down"))
            })
            .build()
            .unwrap();
        assert_eq!(try_token(failing_store, &token).await.status, 503);
        let slow_lookup = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .backend_timeout(Duration::from_millis(20))
            .user_lookup(|sub: String| async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, std::io::Error>(Some(sub))
            })
            .build()
            .unwrap();
        assert_eq!(try_token(slow_lookup, &token).await.status, 503);
        let working = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .revoked_if(|_: TokenFacts| async { Ok::<_, std::io::Error>(false) })
            .user_lookup(|sub: String| async move { Ok::<_, std::io::Error>(Some(sub)) })
            .build()
            .unwrap();
        assert_eq!(try_token(working, &token).await.status, 200);
    });
    let values = values(&snapshotter);
    let expected = [
        (
            format!("{BACKEND_FAILURES}{{backend=revocation,failure=error}}"),
            1,
        ),
        (
            format!("{BACKEND_FAILURES}{{backend=user_lookup,failure=timeout}}"),
            1,
        ),
        (format!("{BACKEND_SECONDS}{{backend=revocation}}"), 2),
        (format!("{BACKEND_SECONDS}{{backend=user_lookup}}"), 2),
        (
            format!("{DECISIONS}{{outcome=refused,kind=backend_unavailable}}"),
            2,
        ),
        (format!("{DECISIONS}{{outcome=authenticated,kind=none}}"), 1),
    ];
    for (name, value) in expected {
        assert_eq!(values.get(&name), Some(&value), "{name} in {values:#?}");
    }
}

#[test]
fn jwks_fetches_are_counted_by_result() {
    let snapshotter = recorded(|| async {
        let idp = TestIdentityProvider::serve().await;
        let keys = idp.remote_keys().build().unwrap();
        let layer = idp.remote_layer(keys).build().unwrap();
        assert_eq!(try_token(layer, &idp.token().sign()).await.status, 200);

        // Nobody listens there: the fetch fails, and the token is refused (never a 200).
        let port = free_port();
        let unreachable = RemoteKeySet::builder()
            .jwks_url(format!("http://127.0.0.1:{port}/jwks.json"))
            .build()
            .unwrap();
        let layer = idp.remote_layer(unreachable).build().unwrap();
        let status = try_token(layer, &idp.token().sign()).await.status;
        assert_ne!(status, 200);
    });
    let values = values(&snapshotter);
    assert_eq!(
        values.get(&format!("{JWKS_FETCHES}{{result=ok}}")),
        Some(&1),
        "{values:#?}"
    );
    assert_eq!(
        values.get(&format!("{JWKS_FETCHES}{{result=error}}")),
        Some(&1),
        "{values:#?}"
    );
}

/// The revocation mirror's loads, its going stale, and whether it is current, with a real
/// redis-server killed and restarted.
#[cfg(feature = "redis")]
#[test]
fn the_revocation_mirror_reports_its_loads_and_staleness() {
    use std::time::Instant;
    use tower_jwt_auth::revocation::RedisRevocationStore;
    use tower_jwt_auth::telemetry::{MIRROR_CURRENT, MIRROR_LOADS, MIRROR_STALE};

    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let finished = ran.clone();
    let snapshotter = recorded(|| async move {
        let Some(mut server) = shared_redis::RedisServer::start("metrics", "mirror").await else {
            return;
        };
        let store = RedisRevocationStore::connect(&server.url())
            .await
            .unwrap()
            .mirrored()
            .max_staleness(Duration::from_millis(200))
            .start(Duration::from_secs(10))
            .await
            .unwrap();
        server.stop();
        let started = Instant::now();
        while store.is_current() {
            assert!(started.elapsed() < Duration::from_secs(5), "never stale");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let the task find out and count it.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!store.is_current());
        server.restart().await;
        let started = Instant::now();
        while !store.is_current() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never current again"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    if !ran.load(std::sync::atomic::Ordering::SeqCst) {
        return; // no redis-server here (outside CI, where that fails)
    }
    let values = values(&snapshotter);
    assert_eq!(values.get(MIRROR_LOADS), Some(&2), "{values:#?}");
    assert_eq!(values.get(MIRROR_STALE), Some(&1), "{values:#?}");
    assert_eq!(values.get(MIRROR_CURRENT), Some(&1), "{values:#?}");
}
