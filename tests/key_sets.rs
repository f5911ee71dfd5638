//! Static key sets: a whole JWKS document under the remote sets' policy, and `kid` lookup among
//! many keys.

mod common;

use common::*;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tower_jwt_auth::error::ConfigError;
use tower_jwt_auth::{JwtLayer, Key};

fn document(keys: Vec<Value>) -> String {
    json!({ "keys": keys }).to_string()
}

fn build(keys: Vec<Key>) -> Result<JwtLayer, ConfigError> {
    JwtLayer::builder().keys(keys).build()
}

#[tokio::test]
async fn a_jwks_document_verifies_tokens_of_each_of_its_keys() {
    let families = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];
    let text = document(
        families
            .iter()
            .map(|alg| jwk(*alg, &format!("{alg:?}")))
            .collect(),
    );
    let layer = build(Key::from_jwks_json(&text).unwrap()).unwrap();
    for alg in families {
        try_token(layer.clone(), &kid_signed(alg, &format!("{alg:?}")))
            .await
            .assert_user(Some("alice"));
    }
    // The same document from a file.
    let path = std::env::temp_dir().join(format!("jwks-{}.json", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let from_file = build(Key::from_jwks_file(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    try_token(from_file, &kid_signed(Algorithm::ES256, "ES256"))
        .await
        .assert_user(Some("alice"));
    // The key is the one the kid names, and it takes only its own algorithms.
    try_token(layer, &kid_signed(Algorithm::ES256, "RS256"))
        .await
        .assert_rejected(401, "invalid_token", "invalid algorithm");
}

#[test]
fn a_jwks_document_is_held_to_the_key_policy() {
    let oct = json!({ "kty": "oct", "k": b64(SECRET), "kid": "secret" });
    let error =
        Key::from_jwks_json(&document(vec![jwk(Algorithm::ES256, "a"), oct.clone()])).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"invalid key: key #2 (kid "secret") of the JWKS: symmetric (oct) JWKs are not accepted"#
    );
    // Secrets only when asked for, and then they verify.
    let keys = Key::from_jwks_json_with_secrets(&document(vec![oct])).unwrap();
    assert!(build(keys).is_ok());

    let mut encrypting = jwk(Algorithm::ES256, "enc");
    encrypting["use"] = json!("enc");
    let error = Key::from_jwks_json(&document(vec![encrypting])).unwrap_err();
    assert!(
        error.to_string().contains("key #1 (kid \"enc\")"),
        "{error}"
    );

    let weak: Value = serde_json::from_slice(&key_file("rsa1024.jwk.json")).unwrap();
    let weak = Key::from_jwks_json(&document(vec![weak])).unwrap();
    assert!(matches!(
        build(weak),
        Err(ConfigError::RsaKeyTooShort { bits: 1024 })
    ));

    let twice = document(vec![jwk(Algorithm::ES256, "k"), jwk(Algorithm::EdDSA, "k")]);
    assert_eq!(
        build(Key::from_jwks_json(&twice).unwrap()).unwrap_err(),
        ConfigError::AmbiguousKid(Some("k".into()))
    );
    let mut nameless = jwk(Algorithm::EdDSA, "x");
    nameless.as_object_mut().unwrap().remove("kid");
    let mixed = document(vec![jwk(Algorithm::ES256, "k"), nameless]);
    assert_eq!(
        build(Key::from_jwks_json(&mixed).unwrap()).unwrap_err(),
        ConfigError::AmbiguousKid(None)
    );

    for (text, expected) in [
        ("{}", "not a JWK set"),
        (r#"{"keys": 7}"#, "not a JWK set"),
        ("not json", "not a JWK set"),
    ] {
        let error = Key::from_jwks_json(text).unwrap_err();
        assert!(error.to_string().contains(expected), "{text}: {error}");
    }
    assert_eq!(
        Key::from_jwks_json(r#"{"keys": []}"#).unwrap_err(),
        ConfigError::NoKey
    );
    let missing = Key::from_jwks_file("/nonexistent/jwks.json").unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/jwks.json"),
        "{missing}"
    );
}

/// A thousand keys: every kid is found, the last as well as the first, and an unknown one is
/// refused.
#[tokio::test]
async fn a_thousand_keys_are_each_found_by_kid() {
    let secret = |i: usize| format!("secret-number-{i:04}-of-a-thousand-keys-padding");
    let keys = (0..1000).map(|i| Key::hmac(secret(i)).with_kid(format!("k{i}")));
    let layer = build(keys.collect()).unwrap();
    for i in [0, 1, 499, 998, 999] {
        let token = hs256_kid(&format!("k{i}"), secret(i).as_bytes(), &claims());
        try_token(layer.clone(), &token)
            .await
            .assert_user(Some("alice"));
    }
    let unknown = hs256_kid("k1000", secret(999).as_bytes(), &claims());
    try_token(layer.clone(), &unknown)
        .await
        .assert_rejected(401, "invalid_token", "invalid kid");
    // The right kid with another key's secret is a bad signature, not a match.
    let crossed = hs256_kid("k5", secret(6).as_bytes(), &claims());
    try_token(layer, &crossed)
        .await
        .assert_rejected(401, "invalid_token", "invalid signature");
}

/// A public key the crypto library cannot use, a P-256 point off the curve, is refused when
/// the layer is built, naming the key: before, it was taken, and every token signed for its
/// kid was answered 401 as if the client had sent a bad signature.
#[test]
fn a_public_key_the_crypto_library_refuses_is_a_build_error() {
    let mut bent = jwk(Algorithm::ES256, "bent");
    let mut y = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        bent["y"].as_str().unwrap(),
    )
    .unwrap();
    y[31] ^= 1;
    bent["y"] = json!(b64(y));
    let keys = Key::from_jwks_json(&document(vec![jwk(Algorithm::ES256, "fine"), bent])).unwrap();
    match build(keys) {
        Err(ConfigError::InvalidKey(why)) => {
            assert!(why.contains("key #2") && why.contains("\"bent\""), "{why}");
        }
        other => panic!("expected InvalidKey, got {:?}", other.map(|_| "a layer")),
    }
}
