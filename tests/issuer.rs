//! `JwtIssuer`: what it signs (lifetimes, `jti`, header, registered claims), what it refuses to
//! be built with, what its `Debug` hides, and that `JwtLayer` accepts its tokens (and, with
//! `typ("at+jwt")`, only its tokens) for every key family.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use jsonwebtoken::Algorithm;
use serde::Serialize;
use serde_json::{Value, json};
use tower_jwt_auth::{
    JwtLayer,
    error::{ConfigError, IssueError},
    issuer::{DEFAULT_ACCESS_LIFETIME, JwtIssuer, JwtIssuerBuilder, SigningKey},
};

const FAMILIES: [Algorithm; 6] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The private test key for `alg`, matching `common::decoding_key(alg)`.
fn signing_key(alg: Algorithm) -> SigningKey {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => SigningKey::hmac(SECRET),
        Algorithm::ES256 => SigningKey::ec_pem(key_file("ec256.key")).unwrap(),
        Algorithm::ES384 => SigningKey::ec_pem(key_file("ec384.key")).unwrap(),
        Algorithm::EdDSA => SigningKey::ed_pem(key_file("ed25519.key")).unwrap(),
        _ => SigningKey::rsa_pem(key_file("rsa.key")).unwrap(),
    }
}

/// The PKCS#8 DER inside a `PRIVATE KEY` PEM file.
fn pem_body(name: &str) -> Vec<u8> {
    let pem = String::from_utf8(key_file(name)).unwrap();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

fn fixed_clock(now: u64) -> impl Fn() -> u64 + Send + Sync + 'static {
    move || now
}

fn hs256_issuer() -> JwtIssuerBuilder {
    JwtIssuer::builder().key(SigningKey::hmac(SECRET))
}

fn header(token: &str) -> Value {
    jwt_part(token, 0)
}

fn at_jwt_layer(alg: Algorithm) -> JwtLayer {
    JwtLayer::builder()
        .key(decoding_key(alg))
        .algorithms([alg])
        .typ("at+jwt")
        .build()
        .unwrap()
}

#[test]
fn exp_minus_iat_is_the_configured_lifetime_by_the_issuers_clock() {
    let issuer = hs256_issuer()
        .access_lifetime(Duration::from_secs(600))
        .clock(fixed_clock(1_700_000_000))
        .build()
        .unwrap();
    let issued = issuer.issue(&json!({ "sub": "alice" })).unwrap();
    let claims = payload(&issued.token);
    assert_eq!(claims["iat"], 1_700_000_000);
    assert_eq!(claims["exp"], 1_700_000_600);
    assert_eq!(issued.issued_at, 1_700_000_000);
    assert_eq!(issued.expires_at, 1_700_000_600);
    assert_eq!(issued.expires_in(), Duration::from_secs(600));
    assert_eq!(claims["jti"], issued.jti.as_str());
}

#[test]
fn the_default_lifetime_is_fifteen_minutes_and_a_moving_clock_is_read_at_each_issue() {
    let now = Arc::new(AtomicU64::new(1_000));
    let clock = now.clone();
    let issuer = hs256_issuer()
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .unwrap();
    assert_eq!(DEFAULT_ACCESS_LIFETIME, Duration::from_secs(15 * 60));
    assert_eq!(issuer.access_lifetime(), DEFAULT_ACCESS_LIFETIME);
    let first = issuer.issue(&json!({})).unwrap();
    now.store(5_000, Ordering::SeqCst);
    let second = issuer.issue(&json!({})).unwrap();
    assert_eq!((first.issued_at, first.expires_at), (1_000, 1_900));
    assert_eq!((second.issued_at, second.expires_at), (5_000, 5_900));
}

#[test]
fn issue_with_lifetime_overrides_the_lifetime_and_refuses_zero() {
    let issuer = hs256_issuer().clock(fixed_clock(100)).build().unwrap();
    let issued = issuer
        .issue_with_lifetime(&json!({}), Duration::from_secs(30))
        .unwrap();
    assert_eq!(payload(&issued.token)["exp"], 130);
    assert_eq!(
        issuer.issue_with_lifetime(&json!({}), Duration::ZERO),
        Err(IssueError::ZeroLifetime)
    );
}

#[test]
fn jti_is_22_base64url_characters_and_unique() {
    let issuer = hs256_issuer().build().unwrap();
    let mut seen = HashSet::new();
    for _ in 0..2_000 {
        let issued = issuer.issue(&json!({ "sub": "alice" })).unwrap();
        assert_eq!(issued.jti.len(), 22, "{}", issued.jti);
        assert!(
            issued
                .jti
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{}",
            issued.jti
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&issued.jti).unwrap().len(), 16);
        assert!(seen.insert(issued.jti), "a jti repeated");
    }
}

#[test]
fn header_is_at_jwt_with_alg_and_kid() {
    let issuer = hs256_issuer().kid("2024-01").build().unwrap();
    let token = issuer.issue(&json!({})).unwrap().token;
    assert_eq!(
        header(&token),
        json!({ "alg": "HS256", "typ": "at+jwt", "kid": "2024-01" })
    );
    let no_kid = hs256_issuer().build().unwrap().issue(&json!({})).unwrap();
    assert_eq!(
        header(&no_kid.token),
        json!({ "alg": "HS256", "typ": "at+jwt" })
    );
}

#[test]
fn issuer_and_audience_are_set_and_replace_the_claims_registered_claims() {
    let issuer = hs256_issuer()
        .issuer("https://auth.example.com")
        .audience("my-api")
        .clock(fixed_clock(2_000))
        .build()
        .unwrap();
    let claims = json!({
        "sub": "alice",
        "roles": ["admin"],
        "iss": "https://evil.example.com",
        "aud": ["other"],
        "iat": 1,
        "exp": 2,
        "jti": "chosen-by-the-caller",
    });
    let issued = issuer.issue(&claims).unwrap();
    let signed = payload(&issued.token);
    assert_eq!(
        signed,
        json!({
            "sub": "alice",
            "roles": ["admin"],
            "iss": "https://auth.example.com",
            "aud": "my-api",
            "iat": 2_000,
            "exp": 2_900,
            "jti": issued.jti,
        })
    );
}

#[test]
fn without_issuer_or_audience_configured_the_claims_own_are_kept() {
    let issuer = hs256_issuer().build().unwrap();
    let issued = issuer
        .issue(&json!({ "iss": "mine", "aud": "theirs" }))
        .unwrap();
    let signed = payload(&issued.token);
    assert_eq!(
        (&signed["iss"], &signed["aud"]),
        (&json!("mine"), &json!("theirs"))
    );
}

#[test]
fn typed_claims_serialize_into_the_payload() {
    #[derive(Serialize)]
    struct User {
        sub: String,
        admin: bool,
    }
    let issuer = hs256_issuer().build().unwrap();
    let issued = issuer
        .issue(&User {
            sub: "bob".into(),
            admin: true,
        })
        .unwrap();
    let signed = payload(&issued.token);
    assert_eq!(
        (&signed["sub"], &signed["admin"]),
        (&json!("bob"), &json!(true))
    );
}

#[test]
fn claims_that_are_not_a_json_object_are_refused() {
    let issuer = hs256_issuer().build().unwrap();
    for claims in [json!("alice"), json!([1, 2]), json!(null), json!(42)] {
        assert_eq!(
            issuer.issue(&claims),
            Err(IssueError::ClaimsNotObject),
            "{claims}"
        );
    }
    assert_eq!(issuer.issue(&vec![1, 2]), Err(IssueError::ClaimsNotObject));
}

#[test]
fn the_algorithm_defaults_to_the_keys_family_and_curve() {
    for (alg, expected) in [
        (Algorithm::HS256, Algorithm::HS256),
        (Algorithm::RS256, Algorithm::RS256),
        (Algorithm::ES256, Algorithm::ES256),
        (Algorithm::ES384, Algorithm::ES384),
        (Algorithm::EdDSA, Algorithm::EdDSA),
    ] {
        let issuer = JwtIssuer::builder().key(signing_key(alg)).build().unwrap();
        assert_eq!(issuer.algorithm(), expected);
        let token = issuer.issue(&json!({})).unwrap().token;
        assert_eq!(header(&token)["alg"], json!(expected));
    }
}

#[test]
fn a_key_that_does_not_fit_the_algorithm_is_refused_at_build() {
    let mismatches = [
        (signing_key(Algorithm::HS256), Algorithm::RS256),
        (signing_key(Algorithm::RS256), Algorithm::HS256),
        (signing_key(Algorithm::RS256), Algorithm::ES256),
        (signing_key(Algorithm::ES256), Algorithm::ES384),
        (signing_key(Algorithm::ES384), Algorithm::ES256),
        (signing_key(Algorithm::EdDSA), Algorithm::ES256),
        (signing_key(Algorithm::ES256), Algorithm::EdDSA),
    ];
    for (key, alg) in mismatches {
        let error = JwtIssuer::builder()
            .key(key)
            .algorithm(alg)
            .kid("k1")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                &error,
                ConfigError::NoAlgorithmForKey { kid: Some(kid), position: 1, algorithms, .. }
                    if kid == "k1" && *algorithms == [alg]
            ),
            "{error:?}"
        );
    }
}

#[test]
fn hmac_secrets_shorter_than_the_hash_are_refused_at_build() {
    for (alg, minimum) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        let short = vec![b'k'; minimum - 1];
        let error = JwtIssuer::builder()
            .key(SigningKey::hmac(&short))
            .algorithm(alg)
            .build()
            .unwrap_err();
        assert_eq!(
            error,
            ConfigError::SecretTooShort {
                algorithm: alg,
                minimum,
                actual: minimum - 1
            }
        );
        let exact = vec![b'k'; minimum];
        JwtIssuer::builder()
            .key(SigningKey::hmac(&exact))
            .algorithm(alg)
            .build()
            .unwrap();
    }
}

#[test]
fn rsa_keys_under_2048_bits_are_refused_at_build() {
    let error = JwtIssuer::builder()
        .key(SigningKey::rsa_pem(key_file("rsa1024.key")).unwrap())
        .build()
        .unwrap_err();
    assert_eq!(error, ConfigError::RsaKeyTooShort { bits: 1024 });
}

#[test]
fn a_public_key_or_garbage_is_refused_as_a_signing_key() {
    assert!(matches!(
        SigningKey::ec_pem(key_file("ec256.pub.pem")),
        Err(ConfigError::InvalidKey(_))
    ));
    assert!(matches!(
        SigningKey::ed_pem(b"not a key"),
        Err(ConfigError::InvalidKey(_))
    ));
    // DER is parsed at once as far as its PKCS#8 structure goes; a key that still is not a
    // private key (a public key inside, an RSA key taken as PKCS#1) is refused when the issuer
    // is built, as it signs a probe.
    assert!(matches!(
        SigningKey::ec_der(b"garbage"),
        Err(ConfigError::InvalidKey(_))
    ));
    for key in [
        SigningKey::ed_der(key_file("ed25519.pub.der")).unwrap(),
        SigningKey::rsa_der(key_file("rsa.pub.der")).unwrap(),
    ] {
        let error = JwtIssuer::builder().key(key).build().unwrap_err();
        assert!(matches!(error, ConfigError::InvalidKey(_)), "{error:?}");
    }
}

#[test]
fn build_refuses_no_key_a_zero_lifetime_and_empty_issuer_or_audience() {
    assert_eq!(
        JwtIssuer::builder().build().unwrap_err(),
        ConfigError::NoSigningKey
    );
    for lifetime in [Duration::ZERO, Duration::from_millis(999)] {
        assert_eq!(
            hs256_issuer()
                .access_lifetime(lifetime)
                .build()
                .unwrap_err(),
            ConfigError::ZeroLifetime("access token")
        );
    }
    assert_eq!(
        hs256_issuer().issuer("").build().unwrap_err(),
        ConfigError::EmptyExpectation("issuer")
    );
    assert_eq!(
        hs256_issuer().audience("").build().unwrap_err(),
        ConfigError::EmptyExpectation("audience")
    );
}

#[test]
fn base64_secrets_and_der_keys_sign_like_their_pem_forms() {
    let issuer = JwtIssuer::builder()
        .key(SigningKey::hmac_base64(&STANDARD.encode(SECRET)).unwrap())
        .build()
        .unwrap();
    let token = issuer.issue(&claims()).unwrap().token;
    assert!(
        hs256_layer().verifier().verify(&token).is_ok(),
        "base64 secret"
    );
    assert!(matches!(
        SigningKey::hmac_base64("not base64!"),
        Err(ConfigError::InvalidKey(_))
    ));

    let der_keys = [
        (
            Algorithm::RS256,
            SigningKey::rsa_der(pem_body("rsa.key")).unwrap(),
        ),
        (
            Algorithm::ES256,
            SigningKey::ec_der(pem_body("ec256.key")).unwrap(),
        ),
        (
            Algorithm::ES384,
            SigningKey::ec_der(pem_body("ec384.key")).unwrap(),
        ),
        (
            Algorithm::EdDSA,
            SigningKey::ed_der(pem_body("ed25519.key")).unwrap(),
        ),
    ];
    for (alg, key) in der_keys {
        let issuer = JwtIssuer::builder().key(key).build().unwrap();
        assert_eq!(issuer.algorithm(), alg);
        let token = issuer.issue(&claims()).unwrap().token;
        assert!(
            at_jwt_layer(alg).verifier().verify(&token).is_ok(),
            "{alg:?} from DER"
        );
    }
}

#[test]
fn debug_never_shows_key_material_or_tokens() {
    let secret = "a-very-recognisable-secret-of-more-than-32-bytes";
    let key = SigningKey::hmac(secret);
    assert_eq!(format!("{key:?}"), "SigningKey { family: Hmac, .. }");
    let builder = JwtIssuer::builder().key(key);
    assert!(!format!("{builder:?}").contains(secret));
    let issuer = builder.kid("k1").issuer("iss").build().unwrap();
    let shown = format!("{issuer:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("HS256") && shown.contains("k1"), "{shown}");

    let pem = String::from_utf8(key_file("rsa.key")).unwrap();
    let rsa = SigningKey::rsa_pem(&pem).unwrap();
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!format!("{rsa:?}").contains(body_line));
    assert!(!format!("{rsa:#?}").contains(&body_line[..16]));

    let issued = issuer.issue(&claims()).unwrap();
    let shown = format!("{issued:?}");
    assert!(!shown.contains(&issued.token), "{shown}");
    assert!(!shown.contains(issued.token.split('.').nth(2).unwrap()));
    assert!(shown.contains(&issued.jti));
}

#[test]
fn clones_share_the_configuration() {
    let issuer = hs256_issuer().kid("k").build().unwrap();
    let clone = issuer.clone();
    let token = clone.issue(&json!({})).unwrap().token;
    assert_eq!(header(&token)["kid"], "k");
}

#[tokio::test]
async fn every_key_family_issues_tokens_the_at_jwt_layer_accepts() {
    for alg in FAMILIES {
        let issuer = JwtIssuer::builder()
            .key(signing_key(alg))
            .algorithm(alg)
            .build()
            .unwrap();
        let issued = issuer.issue(&json!({ "sub": "alice" })).unwrap();
        let answer = try_token(at_jwt_layer(alg), &issued.token).await;
        assert_eq!(answer.status, 200, "{alg:?}: {}", answer.body);
        answer.assert_user(Some("alice"));
    }
}

#[tokio::test]
async fn the_at_jwt_layer_refuses_a_token_of_the_same_key_without_that_typ() {
    for alg in FAMILIES {
        // An ID token: same key, valid claims, `typ: JWT`; and one with no `typ` at all.
        let id_token = token_with(alg, &claims());
        let header = json!({ "alg": alg }).to_string();
        let untyped = sign_raw(&header, &claims().to_string(), alg, &encoding_key(alg));
        for token in [id_token, untyped] {
            try_token(at_jwt_layer(alg), &token).await.assert_rejected(
                401,
                "invalid_token",
                "jwt typ invalid. expected: at+jwt",
            );
        }
    }
}

#[tokio::test]
async fn issuer_and_audience_round_trip_through_a_layer_expecting_them() {
    let issuer = hs256_issuer()
        .issuer("https://auth.example.com")
        .audience("my-api")
        .build()
        .unwrap();
    let layer = |audience: &str| {
        JwtLayer::builder()
            .key(decoding_key(Algorithm::HS256))
            .issuer("https://auth.example.com")
            .audience(audience)
            .typ("at+jwt")
            .max_lifetime(DEFAULT_ACCESS_LIFETIME)
            .build()
            .unwrap()
    };
    let token = issuer.issue(&json!({ "sub": "alice" })).unwrap().token;
    try_token(layer("my-api"), &token)
        .await
        .assert_user(Some("alice"));
    try_token(layer("other-api"), &token).await.assert_rejected(
        401,
        "invalid_token",
        "jwt audience invalid. expected: other-api",
    );
}

#[tokio::test]
async fn an_expired_issued_token_is_refused_by_the_layer() {
    let issuer = hs256_issuer()
        .access_lifetime(Duration::from_secs(60))
        .clock(fixed_clock(now() - 120))
        .build()
        .unwrap();
    let token = issuer.issue(&json!({ "sub": "alice" })).unwrap().token;
    try_token(at_jwt_layer(Algorithm::HS256), &token)
        .await
        .assert_rejected(401, "invalid_token", "jwt expired");
}
