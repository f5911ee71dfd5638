//! Several demo processes sharing one real redis-server (`REDIS_URL`), as a scaled-out
//! deployment runs: log in on one, refresh on another, log out on a third, and the logged-out
//! tokens refused everywhere within the mirror's bound.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/redis.rs"]
mod shared_redis;
mod support;

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{Value, json};
use shared_redis::{RedisCluster, RedisServer};
use support::start_demo_with;

/// [`support::call`] with the access token, when given, as a bearer token.
async fn call(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|value| ("authorization", value.as_str()))
        .collect();
    support::call(method, url, &headers, body).await
}

#[tokio::test]
async fn three_demos_share_logins_refreshes_and_logouts_through_redis() {
    let Some(redis) = RedisServer::start("demo_instances", "three_demos").await else {
        return;
    };
    let url = redis.url();
    let env = [("REDIS_URL", url.as_str())];
    let (a, b, c) = (
        start_demo_with(&env).await,
        start_demo_with(&env).await,
        start_demo_with(&env).await,
    );

    // Log in on A.
    let credentials = json!({ "username": "alice", "password": "alice-password" });
    let (status, pair) = call(
        "POST",
        &format!("{}/auth/login", a.base),
        None,
        Some(credentials),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pair}");

    // Refresh on B: the refresh token A issued is in the shared store.
    let refresh = |token: &str| json!({ "refresh_token": token });
    let (status, renewed) = call(
        "POST",
        &format!("{}/auth/refresh", b.base),
        None,
        Some(refresh(pair["refresh_token"].as_str().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let access = renewed["access_token"].as_str().unwrap().to_owned();
    // The used refresh token is a reuse on any instance.
    let (status, reused) = call(
        "POST",
        &format!("{}/auth/refresh", c.base),
        None,
        Some(refresh(pair["refresh_token"].as_str().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reused}");
    assert_eq!(reused["code"], "invalid_grant");
    // That reuse ended the login on every instance: log in again for the rest.
    for demo in [&a, &b, &c] {
        let (status, _) = call(
            "GET",
            &format!("{}/auth/me", demo.base),
            Some(&access),
            None,
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut status = status;
        while status != StatusCode::UNAUTHORIZED && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            status = call(
                "GET",
                &format!("{}/auth/me", demo.base),
                Some(&access),
                None,
            )
            .await
            .0;
        }
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{} still takes the reused login's token",
            demo.base
        );
    }

    let credentials = json!({ "username": "alice", "password": "alice-password" });
    let (status, pair) = call(
        "POST",
        &format!("{}/auth/login", a.base),
        None,
        Some(credentials),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (status, renewed) = call(
        "POST",
        &format!("{}/auth/refresh", b.base),
        None,
        Some(refresh(pair["refresh_token"].as_str().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let access = renewed["access_token"].as_str().unwrap().to_owned();
    for demo in [&a, &b, &c] {
        let (status, me) = call(
            "GET",
            &format!("{}/auth/me", demo.base),
            Some(&access),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {me}", demo.base);
    }

    // Log out on C, with the refresh token: the access token is refused by A and B within
    // the mirror's second, and the refresh token on any instance.
    let (status, _) = call(
        "POST",
        &format!("{}/auth/logout", c.base),
        Some(&access),
        Some(refresh(renewed["refresh_token"].as_str().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let logged_out = Instant::now();
    for demo in [&a, &b] {
        loop {
            let (status, _) = call(
                "GET",
                &format!("{}/auth/me", demo.base),
                Some(&access),
                None,
            )
            .await;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert_eq!(status, StatusCode::OK);
            assert!(
                logged_out.elapsed() < Duration::from_secs(1),
                "{} still takes a logged-out token after {:?}",
                demo.base,
                logged_out.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let (status, refused) = call(
        "POST",
        &format!("{}/auth/refresh", a.base),
        None,
        Some(refresh(renewed["refresh_token"].as_str().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}

/// Two demos on a real three-primary Redis Cluster (`REDIS_CLUSTER_NODES`): a login on one,
/// refreshed and logged out on the other, its token refused on the first within a second.
#[tokio::test]
async fn two_demos_share_a_redis_cluster() {
    let Some(cluster) = RedisCluster::start("demo_instances", "cluster").await else {
        return;
    };
    let nodes = cluster.urls().join(",");
    let env = [("REDIS_CLUSTER_NODES", nodes.as_str())];
    let (a, b) = (start_demo_with(&env).await, start_demo_with(&env).await);
    let credentials = json!({ "username": "alice", "password": "alice-password" });
    let (status, pair) = call(
        "POST",
        &format!("{}/auth/login", a.base),
        None,
        Some(credentials),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (status, renewed) = call(
        "POST",
        &format!("{}/auth/refresh", b.base),
        None,
        Some(json!({ "refresh_token": pair["refresh_token"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let access = renewed["access_token"].as_str().unwrap().to_owned();
    let (status, me) = call("GET", &format!("{}/auth/me", a.base), Some(&access), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, _) = call(
        "POST",
        &format!("{}/auth/logout", b.base),
        Some(&access),
        Some(json!({ "refresh_token": renewed["refresh_token"] })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let logged_out = Instant::now();
    loop {
        let (status, _) = call("GET", &format!("{}/auth/me", a.base), Some(&access), None).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(logged_out.elapsed() < Duration::from_secs(1), "still taken");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, refused) = call(
        "POST",
        &format!("{}/auth/refresh", a.base),
        None,
        Some(json!({ "refresh_token": renewed["refresh_token"] })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}
