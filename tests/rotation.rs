//! Key rollover end to end: an issuer publishing its keys over HTTP on 127.0.0.1, and a layer
//! reading them as a remote key set. Sign with k1, rotate to k2: both accepted; retire k1: its
//! tokens refused once the layer refreshes; never a 5xx on the way.

#![cfg(feature = "jwks")]

mod common;

use std::time::{Duration, Instant};

use axum::Router;
use common::*;
use serde_json::{Value, json};
use tower_jwt_auth::issuer::{DISCOVERY_PATH, JWKS_PATH, JwtIssuer, SigningKey};
use tower_jwt_auth::jwks::RemoteKeySet;
use tower_jwt_auth::{JwtLayer, Key};

fn ed25519() -> SigningKey {
    SigningKey::ed_pem(key_file("ed25519.key")).unwrap()
}

fn p256() -> SigningKey {
    SigningKey::ec_pem(key_file("ec256.key")).unwrap()
}

/// Serves `issuer`'s documents; returns its URL.
async fn publish(issuer: &JwtIssuer) -> String {
    let app = Router::new()
        .route_service(JWKS_PATH, issuer.jwks_service())
        .route_service(DISCOVERY_PATH, issuer.discovery_service().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    url
}

async fn get_json(url: &str) -> (String, Value) {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    (
        cache,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn the_issuer_publishes_its_public_keys_and_its_discovery_document() {
    let issuer = JwtIssuer::builder()
        .key(ed25519())
        .issuer("http://issuer.example")
        .documents_max_age(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = publish(&issuer).await;
    let (cache, jwks) = get_json(&format!("{url}{JWKS_PATH}")).await;
    assert_eq!(cache, "public, max-age=120");
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let kid = issuer.kid().expect("a thumbprint kid");
    assert_eq!(keys[0]["kid"], kid.as_str());
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert!(keys[0].get("d").is_none(), "no private part: {jwks}");
    // The kid is the RFC 7638 thumbprint of the published key, and tokens carry it.
    let published = Key::from_jwks_json(&jwks.to_string()).unwrap();
    assert_eq!(published[0].kid(), Some(kid.as_str()));
    let token = issuer.issue(&json!({ "sub": "alice" })).unwrap().token;
    assert_eq!(jwt_part(&token, 0)["kid"], kid.as_str());

    let (_, discovery) = get_json(&format!("{url}{DISCOVERY_PATH}")).await;
    assert_eq!(discovery["issuer"], "http://issuer.example");
    assert_eq!(
        discovery["jwks_uri"],
        format!("http://issuer.example{JWKS_PATH}")
    );
    let post = reqwest::Client::new()
        .post(format!("{url}{JWKS_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    // A shared secret is never published, and a discovery document needs an issuer.
    let hmac = JwtIssuer::builder()
        .key(SigningKey::hmac(SECRET))
        .build()
        .unwrap();
    assert_eq!(hmac.jwks(), json!({ "keys": [] }));
    assert!(hmac.discovery_service().is_err());
}

#[tokio::test]
async fn a_key_rolls_over_without_downtime() {
    let issuer = JwtIssuer::builder()
        .key(ed25519())
        .kid("k1")
        .issuer("http://issuer.example")
        .documents_max_age(Duration::from_secs(1))
        .build()
        .unwrap();
    let url = publish(&issuer).await;
    let keys = RemoteKeySet::builder()
        .jwks_url(format!("{url}{JWKS_PATH}"))
        .cooldown(Duration::from_millis(50))
        .refresh_bounds(Duration::from_millis(200), Duration::from_secs(1))
        .build()
        .unwrap();
    let layer = JwtLayer::builder()
        .remote_keys(keys)
        .issuer("http://issuer.example")
        .typ("at+jwt")
        .build()
        .unwrap();
    let claims = json!({ "sub": "alice" });
    let by_k1 = issuer.issue(&claims).unwrap().token;
    assert_eq!(status_below_500(&layer, &by_k1).await, 200);

    // Rotate: k2 signs from now on, k1 is still published.
    let kid = issuer.rotate(p256(), None, Some("k2".into())).unwrap();
    assert_eq!(kid.as_deref(), Some("k2"));
    let by_k2 = issuer.issue(&claims).unwrap().token;
    assert_eq!(jwt_part(&by_k2, 0)["kid"], "k2");
    assert_eq!(jwt_part(&by_k2, 0)["alg"], "ES256");
    // The layer finds k2 through its unknown-kid refetch, once the cooldown allows one.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(status_below_500(&layer, &by_k2).await, 200);
    assert_eq!(status_below_500(&layer, &by_k1).await, 200);

    // Retire k1: refused once the layer's background refresh has seen the new set.
    assert!(issuer.retire("k1"));
    assert!(!issuer.retire("k1"), "retired once");
    assert!(!issuer.retire("k2"), "the active key cannot be retired");
    let started = Instant::now();
    loop {
        match status_below_500(&layer, &by_k1).await {
            401 => break,
            200 if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("k1's token answered {other} after {:?}", started.elapsed()),
        }
        assert_eq!(status_below_500(&layer, &by_k2).await, 200);
    }
    assert_eq!(status_below_500(&layer, &by_k2).await, 200);
    // A rotation to a kid that is still published is refused.
    let error = issuer
        .rotate(ed25519(), None, Some("k2".into()))
        .unwrap_err();
    assert_eq!(
        error,
        tower_jwt_auth::error::ConfigError::AmbiguousKid(Some("k2".into()))
    );
}
