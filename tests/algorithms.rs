//! Every algorithm with real keys, key formats, key sets by kid, and build-time validation.

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;
use tower_jwt_auth::{JwtLayer, Key, error::ConfigError};

const ALL: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn layer_for(alg: Algorithm) -> JwtLayer {
    JwtLayer::builder()
        .key(decoding_key(alg))
        .algorithms([alg])
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_algorithm_verifies_with_real_keys() {
    for alg in ALL {
        let answer = try_token(layer_for(alg), &token_with(alg, &claims())).await;
        assert_eq!(answer.status, 200, "{alg:?}: {}", answer.body);
        answer.assert_user(Some("alice"));
    }
}

#[tokio::test]
async fn a_signature_by_another_key_of_the_same_algorithm_is_refused() {
    let other_rsa = EncodingKey::from_rsa_pem(&key_file("rsa2.key")).unwrap();
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let header = json!({ "alg": alg }).to_string();
        let token = sign_raw(&header, &claims().to_string(), alg, &other_rsa);
        try_token(layer_for(alg), &token).await.assert_rejected(
            401,
            "invalid_token",
            "invalid signature",
        );
    }
}

#[tokio::test]
async fn default_algorithm_follows_the_key_family_and_curve() {
    let defaults = [
        (Algorithm::HS256, Algorithm::HS384),
        (Algorithm::RS256, Algorithm::PS256),
        (Algorithm::ES256, Algorithm::ES384),
        (Algorithm::ES384, Algorithm::ES256),
        (Algorithm::EdDSA, Algorithm::HS256),
    ];
    for (accepted, refused) in defaults {
        let layer = || {
            JwtLayer::builder()
                .key(decoding_key(accepted))
                .build()
                .unwrap()
        };
        let answer = try_token(layer(), &token_with(accepted, &claims())).await;
        assert_eq!(answer.status, 200, "{accepted:?}");
        let answer = try_token(layer(), &token_with(refused, &claims())).await;
        answer.assert_rejected(401, "invalid_token", "invalid algorithm");
    }
}

#[tokio::test]
async fn algorithm_of_another_family_than_the_key_is_invalid_algorithm() {
    // RS256 and PS256 are allowed for the RSA key, ES256 for the EC key; a token that names an
    // algorithm of the other family's key must never reach the crypto.
    let layer = || {
        JwtLayer::builder()
            .key(decoding_key(Algorithm::RS256).with_kid("rsa"))
            .key(decoding_key(Algorithm::ES256).with_kid("ec"))
            .algorithms([Algorithm::RS256, Algorithm::ES256])
            .build()
            .unwrap()
    };
    let es_on_rsa = {
        let header = json!({ "alg": "ES256", "kid": "rsa" }).to_string();
        sign_raw(
            &header,
            &claims().to_string(),
            Algorithm::ES256,
            &encoding_key(Algorithm::ES256),
        )
    };
    try_token(layer(), &es_on_rsa)
        .await
        .assert_rejected(401, "invalid_token", "invalid algorithm");
    let rs_on_ec = {
        let header = json!({ "alg": "RS256", "kid": "ec" }).to_string();
        sign_raw(
            &header,
            &claims().to_string(),
            Algorithm::RS256,
            &encoding_key(Algorithm::RS256),
        )
    };
    try_token(layer(), &rs_on_ec)
        .await
        .assert_rejected(401, "invalid_token", "invalid algorithm");
    let good = {
        let header = json!({ "alg": "RS256", "kid": "rsa" }).to_string();
        sign_raw(
            &header,
            &claims().to_string(),
            Algorithm::RS256,
            &encoding_key(Algorithm::RS256),
        )
    };
    assert_eq!(try_token(layer(), &good).await.status, 200);
}

#[tokio::test]
async fn key_bound_to_an_algorithm_refuses_the_others_of_its_family() {
    let layer = JwtLayer::builder()
        .key(decoding_key(Algorithm::RS256).with_algorithm(Algorithm::PS256))
        .build()
        .unwrap();
    try_token(layer.clone(), &token_with(Algorithm::RS256, &claims()))
        .await
        .assert_rejected(401, "invalid_token", "invalid algorithm");
    assert_eq!(
        try_token(layer, &token_with(Algorithm::PS256, &claims()))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn public_keys_load_from_der_too() {
    let keys = [
        (
            Algorithm::RS256,
            Key::rsa_der(key_file("rsa.pub.der")).unwrap(),
        ),
        (
            Algorithm::ES256,
            Key::ec_der(key_file("ec256.pub.der")).unwrap(),
        ),
        (
            Algorithm::ES384,
            Key::ec_der(key_file("ec384.pub.der")).unwrap(),
        ),
        (
            Algorithm::EdDSA,
            Key::ed_der(key_file("ed25519.pub.der")).unwrap(),
        ),
    ];
    for (alg, key) in keys {
        let layer = JwtLayer::builder().key(key).build().unwrap();
        assert_eq!(
            try_token(layer, &token_with(alg, &claims())).await.status,
            200,
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn hmac_secret_can_be_given_in_base64() {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET);
    let layer = JwtLayer::builder()
        .key(Key::hmac_base64(&encoded).unwrap())
        .build()
        .unwrap();
    assert_eq!(try_token(layer, &hs256(&claims())).await.status, 200);
    assert!(matches!(
        Key::hmac_base64("not base64!"),
        Err(ConfigError::InvalidKey(_))
    ));
}

#[tokio::test]
async fn key_rotation_selects_the_key_by_kid() {
    let old = b"old-secret-old-secret-old-secret-old-secret";
    let new = b"new-secret-new-secret-new-secret-new-secret";
    let layer = || {
        JwtLayer::builder()
            .key(Key::hmac(old).with_kid("2025"))
            .key(Key::hmac(new).with_kid("2026"))
            .key(decoding_key(Algorithm::RS256).with_kid("rsa"))
            .algorithms([Algorithm::HS256, Algorithm::RS256])
            .build()
            .unwrap()
    };
    assert_eq!(
        try_token(layer(), &hs256_kid("2025", old, &claims()))
            .await
            .status,
        200
    );
    assert_eq!(
        try_token(layer(), &hs256_kid("2026", new, &claims()))
            .await
            .status,
        200
    );
    try_token(layer(), &hs256_kid("2026", old, &claims()))
        .await
        .assert_rejected(401, "invalid_token", "invalid signature");
    // An HMAC token naming the RSA key's kid: the HMAC algorithm is not allowed for that key.
    try_token(layer(), &hs256_kid("rsa", old, &claims()))
        .await
        .assert_rejected(401, "invalid_token", "invalid algorithm");
}

#[tokio::test]
async fn single_key_with_kid_refuses_a_different_kid() {
    let layer = || {
        JwtLayer::builder()
            .key(Key::hmac(SECRET).with_kid("a"))
            .build()
            .unwrap()
    };
    assert_eq!(
        try_token(layer(), &hs256_kid("a", SECRET, &claims()))
            .await
            .status,
        200
    );
    assert_eq!(try_token(layer(), &hs256(&claims())).await.status, 200);
    try_token(layer(), &hs256_kid("b", SECRET, &claims()))
        .await
        .assert_rejected(401, "invalid_token", "invalid kid");
}

fn build_error(
    builder: tower_jwt_auth::layer::JwtLayerBuilder<tower_jwt_auth::claims::JsonClaims>,
) -> ConfigError {
    builder.build().unwrap_err()
}

#[test]
fn configuration_errors_are_reported_at_build() {
    let b = JwtLayer::builder;
    assert_eq!(build_error(b()), ConfigError::NoKey);
    assert_eq!(
        build_error(b().key(Key::hmac(SECRET)).algorithms([])),
        ConfigError::NoAlgorithms
    );
    assert_eq!(
        build_error(b().key(Key::hmac(SECRET)).leeway(Duration::from_secs(301))),
        ConfigError::LeewayTooLarge
    );
    assert!(
        b().key(Key::hmac(SECRET))
            .leeway(Duration::from_secs(300))
            .build()
            .is_ok()
    );
    assert_eq!(
        build_error(b().key(Key::hmac(SECRET)).issuer("")),
        ConfigError::EmptyExpectation("issuer")
    );
    assert_eq!(
        build_error(b().key(Key::hmac(SECRET)).audience("")),
        ConfigError::EmptyExpectation("audience")
    );
    assert_eq!(
        build_error(b().key(Key::hmac(SECRET)).max_token_len(0)),
        ConfigError::ZeroSizeCap
    );
    assert_eq!(
        build_error(b().key(Key::hmac(SECRET)).realm("a\"b")),
        ConfigError::InvalidRealm
    );
    assert_eq!(
        build_error(b().key(Key::hmac(SECRET)).algorithms([Algorithm::RS256])),
        ConfigError::NoAlgorithmForKey {
            kid: None,
            position: 1,
            family: "HMAC",
            algorithms: vec![Algorithm::RS256],
        }
    );
    assert_eq!(
        build_error(
            b().key(decoding_key(Algorithm::RS256))
                .algorithms([Algorithm::RS256, Algorithm::HS256])
        ),
        ConfigError::NoKeyForAlgorithm(Algorithm::HS256)
    );
    assert_eq!(
        build_error(
            b().key(decoding_key(Algorithm::ES256))
                .algorithms([Algorithm::ES384])
        ),
        ConfigError::NoAlgorithmForKey {
            kid: None,
            position: 1,
            family: "EC",
            algorithms: vec![Algorithm::ES384],
        }
    );
}

#[test]
fn hmac_secrets_must_be_as_long_as_the_hash() {
    for (alg, minimum) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        let short = vec![7u8; minimum - 1];
        assert_eq!(
            build_error(JwtLayer::builder().key(Key::hmac(&short)).algorithms([alg])),
            ConfigError::SecretTooShort {
                algorithm: alg,
                minimum,
                actual: minimum - 1
            }
        );
        let long_enough = vec![7u8; minimum];
        assert!(
            JwtLayer::builder()
                .key(Key::hmac(&long_enough))
                .algorithms([alg])
                .build()
                .is_ok()
        );
    }
    assert!(matches!(
        build_error(JwtLayer::builder().key(Key::hmac(b""))),
        ConfigError::SecretTooShort { actual: 0, .. }
    ));
}

#[test]
fn rsa_keys_under_2048_bits_are_refused() {
    let key = Key::rsa_pem(key_file("rsa1024.pub.pem")).unwrap();
    assert_eq!(
        build_error(JwtLayer::builder().key(key)),
        ConfigError::RsaKeyTooShort { bits: 1024 }
    );
}

#[test]
fn several_keys_need_distinct_kids() {
    let two = |a: Key, b: Key| build_error(JwtLayer::builder().key(a).key(b));
    assert_eq!(
        two(Key::hmac(SECRET), Key::hmac(SECRET).with_kid("x")),
        ConfigError::AmbiguousKid(None)
    );
    assert_eq!(
        two(
            Key::hmac(SECRET).with_kid("x"),
            Key::hmac(SECRET).with_kid("x")
        ),
        ConfigError::AmbiguousKid(Some("x".into()))
    );
}

#[test]
fn unparsable_keys_are_refused() {
    assert!(matches!(
        Key::rsa_pem(b"garbage"),
        Err(ConfigError::InvalidKey(_))
    ));
    assert!(matches!(
        Key::ec_der(b"garbage"),
        Err(ConfigError::InvalidKey(_))
    ));
    assert!(matches!(
        Key::ed_pem(key_file("rsa.pub.pem")),
        Err(ConfigError::InvalidKey(_))
    ));
    // jsonwebtoken does not look inside an `RSA PUBLIC KEY` block; we do.
    for not_rsa in [
        key_file("ec256.pub.der"),
        key_file("ed25519.pub.der"),
        b"hello".to_vec(),
    ] {
        assert!(matches!(
            Key::rsa_der(&not_rsa),
            Err(ConfigError::InvalidKey(_))
        ));
    }
    let fake = "-----BEGIN RSA PUBLIC KEY-----\naGVsbG8gd29ybGQ=\n-----END RSA PUBLIC KEY-----\n";
    assert!(matches!(
        Key::rsa_pem(fake),
        Err(ConfigError::InvalidKey(_))
    ));
}

#[test]
fn debug_output_never_shows_key_material() {
    let secret = "super-secret-value-that-must-not-leak-0123456789";
    let key = Key::hmac(secret);
    let layer = JwtLayer::builder().key(key.clone()).build().unwrap();
    for text in [
        format!("{key:?}"),
        format!("{layer:?}"),
        format!("{:?}", JwtLayer::builder().key(key)),
    ] {
        assert!(!text.contains("super-secret"), "{text}");
        assert!(
            !text.contains(&format!("{:?}", secret.as_bytes())[..20]),
            "{text}"
        );
    }
}

/// Configuration errors are sentences that say which key, what was expected and how to fix it:
/// never a Rust `Debug` form (`None`, `InvalidKeyFormat`).
#[test]
fn configuration_errors_are_sentences_naming_the_key() {
    let message = |builder: tower_jwt_auth::layer::JwtLayerBuilder<_>| {
        let message = build_error(builder).to_string();
        for debug_form in ["None", "Some(", "InvalidKeyFormat", "Error("] {
            assert!(!message.contains(debug_form), "{message}");
        }
        message
    };
    let b = JwtLayer::builder;
    assert_eq!(
        message(b().key(Key::hmac(SECRET)).algorithms([Algorithm::RS256])),
        "key #1 is an HMAC key and cannot work with RS256: allow an algorithm of its kind (an EC \
         key takes only the one of its curve), or bind the key to one with Key::with_algorithm"
    );
    let two = b()
        .key(Key::hmac(SECRET).with_kid("k1"))
        .key(decoding_key(Algorithm::ES256).with_kid("k2"))
        .algorithms([Algorithm::HS256, Algorithm::ES384, Algorithm::RS256]);
    assert!(message(two).starts_with(
        r#"key #2 (kid "k2") is an EC key and cannot work with any of HS256, ES384 or RS256"#
    ),);
    // A key the crypto library refuses: its place, its kid, and why in words.
    let not_a_key = Key::rsa_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
        .unwrap_err()
        .to_string();
    assert!(
        not_a_key.starts_with("invalid key: the key: its bytes are not a key of the kind"),
        "{not_a_key}"
    );
    let zero = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64([0u8; 32]) });
    let zero = Key::from_jwk(&serde_json::from_value(zero).unwrap()).unwrap();
    let refused = message(
        b().key(Key::hmac(SECRET).with_kid("k1"))
            .key(zero.with_kid("k2")),
    );
    assert_eq!(
        refused,
        r#"invalid key: key #2 (kid "k2"): a small-order Ed25519 key"#
    );
}
