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
use support::{Demo, start_demo_with};

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

    // Log in on A, refresh on B: the refresh token A issued is in the shared store.
    let pair = login(&a).await;
    let (status, renewed) = refresh(&b, &pair).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let access = access_token(&renewed);
    // The used refresh token is a reuse on any instance.
    let (status, reused) = refresh(&c, &pair).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reused}");
    assert_eq!(reused["code"], "invalid_grant");
    // That reuse ended the login on every instance: log in again for the rest.
    for demo in [&a, &b, &c] {
        refused_within(demo, &access, Duration::from_secs(1)).await;
    }

    let pair = login(&a).await;
    let (status, renewed) = refresh(&b, &pair).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let access = access_token(&renewed);
    for demo in [&a, &b, &c] {
        assert_eq!(me(demo, &access).await, StatusCode::OK, "{}", demo.base);
    }

    // Log out on C, with the refresh token: the access token is refused by A and B within
    // the mirror's second, and the refresh token on any instance.
    logout(&c, &access, &renewed).await;
    for demo in [&a, &b] {
        refused_within(demo, &access, Duration::from_secs(1)).await;
    }
    let (status, refused) = refresh(&a, &renewed).await;
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
    let pair = login(&a).await;
    let (status, renewed) = refresh(&b, &pair).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let access = access_token(&renewed);
    assert_eq!(me(&a, &access).await, StatusCode::OK);
    logout(&b, &access, &renewed).await;
    refused_within(&a, &access, Duration::from_secs(1)).await;
    let (status, refused) = refresh(&a, &renewed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}

/// Logs alice in on `demo`: the token pair.
async fn login(demo: &Demo) -> Value {
    let credentials = json!({ "username": "alice", "password": "alice-password" });
    let url = format!("{}/auth/login", demo.base);
    let (status, pair) = call("POST", &url, None, Some(credentials)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    pair
}

/// Refreshes on `demo` with the refresh token of `pair`.
async fn refresh(demo: &Demo, pair: &Value) -> (StatusCode, Value) {
    let body = json!({ "refresh_token": pair["refresh_token"] });
    call(
        "POST",
        &format!("{}/auth/refresh", demo.base),
        None,
        Some(body),
    )
    .await
}

/// Logs out on `demo` with the access token and the refresh token of `pair`.
async fn logout(demo: &Demo, access: &str, pair: &Value) {
    let body = json!({ "refresh_token": pair["refresh_token"] });
    let url = format!("{}/auth/logout", demo.base);
    let (status, _) = call("POST", &url, Some(access), Some(body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

fn access_token(pair: &Value) -> String {
    pair["access_token"].as_str().unwrap().to_owned()
}

/// `GET /auth/me` on `demo` with `access`.
async fn me(demo: &Demo, access: &str) -> StatusCode {
    call("GET", &format!("{}/auth/me", demo.base), Some(access), None)
        .await
        .0
}

/// Waits until `demo` refuses `access` (401), taking it (200) until then, for at most
/// `within`.
async fn refused_within(demo: &Demo, access: &str, within: Duration) {
    let since = Instant::now();
    loop {
        let status = me(demo, access).await;
        if status == StatusCode::UNAUTHORIZED {
            return;
        }
        assert_eq!(status, StatusCode::OK, "{}", demo.base);
        assert!(
            since.elapsed() < within,
            "{} still takes the token after {:?}",
            demo.base,
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
