//! The test identity provider applications test with: each kind of token it mints meets the
//! verdict the error table gives it, and served on 127.0.0.1 it publishes, rotates and retires
//! keys that a remote key set follows.

#![cfg(feature = "test-util")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tower_jwt_auth::Algorithm;
use tower_jwt_auth::issuer::{DISCOVERY_PATH, JWKS_PATH, SigningKey};
use tower_jwt_auth::test_util::{
    DEFAULT_TEST_AUDIENCE, DEFAULT_TEST_ISSUER, DEFAULT_TEST_SUBJECT, TestIdentityProvider,
};

#[tokio::test]
async fn each_minted_token_gets_its_verdict() {
    let idp = TestIdentityProvider::new();
    let layer = idp.layer().build().unwrap();
    let valid = idp.token().sign();
    let header = jwt_part(&valid, 0);
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("EdDSA"), Some("at+jwt"))
    );
    assert_eq!(header["kid"], idp.kid().as_str());
    let claims = payload(&valid);
    assert_eq!(claims["iss"], DEFAULT_TEST_ISSUER);
    assert_eq!(claims["aud"], DEFAULT_TEST_AUDIENCE);
    assert_eq!(claims["sub"], DEFAULT_TEST_SUBJECT);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() == 22));
    try_token(layer.clone(), &valid)
        .await
        .assert_user(Some(DEFAULT_TEST_SUBJECT));

    let cases = [
        (idp.token().expired().sign(), "jwt expired"),
        (idp.token().not_yet_valid().sign(), "jwt not active"),
        (
            idp.token().audience("another-api").sign(),
            "jwt audience invalid. expected: test-api",
        ),
        (
            idp.token().issuer("https://elsewhere.test").sign(),
            "jwt issuer invalid. expected: https://idp.test",
        ),
        (
            idp.token().signed_by_unknown_key().sign(),
            "invalid signature",
        ),
        (idp.token().without("exp").sign(), "jwt expiration required"),
        (
            idp.token().claim("exp", "tomorrow").sign(),
            "invalid exp value",
        ),
    ];
    for (token, description) in cases {
        try_token(layer.clone(), &token)
            .await
            .assert_rejected(401, "invalid_token", description);
    }
    // A forgery carries the kid of the key it imitates.
    let forged = idp.token().signed_by_unknown_key().sign();
    assert_eq!(jwt_part(&forged, 0)["kid"], idp.kid().as_str());
}

#[tokio::test]
async fn any_claims_reach_the_handler_and_the_guards() {
    let idp = TestIdentityProvider::builder().audience("orders").build();
    let token = idp
        .token()
        .subject("alice")
        .claims(json!({ "roles": ["admin"], "tenant": "t1" }))
        .claim("scope", "orders:read orders:write")
        .lifetime(Duration::from_secs(60))
        .without("jti")
        .sign();
    let claims = payload(&token);
    assert_eq!(claims["aud"], "orders");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        60
    );
    assert!(claims.get("jti").is_none());
    let layer = idp.layer().build().unwrap();
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|claims: tower_jwt_auth::Claims| async move {
                axum::Json(json!({ "sub": claims["sub"], "tenant": claims["tenant"] }))
            }),
        )
        .route_layer(tower_jwt_auth::RequireRoles::any(["admin"]).unwrap())
        .route_layer(tower_jwt_auth::RequireScope::all(["orders:write"]).unwrap())
        .layer(layer);
    let answer = send(app, bearer(&token)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, json!({ "sub": "alice", "tenant": "t1" }));
}

#[tokio::test]
async fn a_provider_of_another_algorithm_is_held_to_the_layers_algorithms() {
    let idp = TestIdentityProvider::builder()
        .key(SigningKey::ec_pem(key_file("ec256.key")).unwrap())
        .build();
    let token = idp.token().sign();
    assert_eq!(jwt_part(&token, 0)["alg"], "ES256");
    let es256 = idp.layer().algorithms([Algorithm::ES256]).build().unwrap();
    try_token(es256, &token)
        .await
        .assert_user(Some(DEFAULT_TEST_SUBJECT));
    let eddsa_only = idp.layer().algorithms([Algorithm::EdDSA]).build();
    assert!(
        eddsa_only.is_err(),
        "a P-256 key under an EdDSA-only layer is a configuration error"
    );

    // Rotated to another algorithm: both keys published, the new one signs.
    let first = idp.kid();
    let kid = idp.rotate_to(SigningKey::ed_pem(key_file("ed25519.key")).unwrap());
    let token = idp.token().sign();
    assert_eq!(jwt_part(&token, 0)["alg"], "EdDSA");
    assert_eq!(jwt_part(&token, 0)["kid"], kid.as_str());
    let jwks = idp.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [kid.as_str(), first.as_str()]);
    let both = idp.layer().build().unwrap();
    try_token(both, &token)
        .await
        .assert_user(Some(DEFAULT_TEST_SUBJECT));
}

#[test]
#[should_panic(expected = "not an HMAC secret")]
fn a_shared_secret_cannot_be_published() {
    let _ = TestIdentityProvider::builder()
        .key(SigningKey::hmac(SECRET))
        .build();
}

#[tokio::test]
async fn a_served_provider_publishes_its_documents_and_counts_the_fetches() {
    let idp = TestIdentityProvider::serve().await;
    assert!(idp.url().starts_with("http://127.0.0.1:"));
    assert_eq!(idp.issuer(), idp.url());
    let discovery = get_json(&format!("{}{DISCOVERY_PATH}", idp.url())).await;
    assert_eq!(discovery["issuer"], idp.url());
    assert_eq!(discovery["jwks_uri"], format!("{}{JWKS_PATH}", idp.url()));
    assert_eq!(idp.jwks_requests(), 0);
    let jwks = get_json(&format!("{}{JWKS_PATH}", idp.url())).await;
    assert_eq!(jwks, idp.jwks());
    assert_eq!(idp.jwks_requests(), 1);
    let missing = reqwest::get(format!("{}/elsewhere", idp.url()))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Dropped, it stops serving.
    let url = idp.url().to_owned();
    drop(idp);
    tokio::task::yield_now().await;
    assert!(reqwest::get(format!("{url}{JWKS_PATH}")).await.is_err());
}

async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_remote_key_set_follows_the_providers_rotation() {
    let idp = TestIdentityProvider::serve().await;
    let keys = idp
        .remote_keys()
        .cooldown(Duration::from_millis(50))
        .refresh_bounds(Duration::from_millis(200), Duration::from_secs(1))
        .build()
        .unwrap();
    let layer = idp.remote_layer(keys).build().unwrap();
    let first = idp.kid();
    let by_first = idp.token().sign();
    assert_eq!(status_below_500(&layer, &by_first).await, 200);
    let fetches = idp.jwks_requests();
    assert!(fetches >= 1);

    let second = idp.rotate();
    assert_ne!(first, second);
    let by_second = idp.token().sign();
    assert_eq!(jwt_part(&by_second, 0)["kid"], second.as_str());
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        status_below_500(&layer, &by_second).await,
        200,
        "found by its kid"
    );
    assert!(
        idp.jwks_requests() > fetches,
        "the unknown kid made a fetch"
    );
    assert_eq!(
        status_below_500(&layer, &by_first).await,
        200,
        "the retiring key still works"
    );

    assert!(idp.retire(&first));
    assert!(!idp.retire(&first), "retired once");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_below_500(&layer, &by_first).await == 200 {
        assert!(
            Instant::now() < deadline,
            "the retired key is still accepted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status_below_500(&layer, &by_second).await, 200);
}
