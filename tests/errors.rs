//! Every row of the error table (FoalTS hooks, extended), with exact bodies and challenges.

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;
use tower_jwt_auth::{JwtLayer, Key, TokenSource};

#[tokio::test]
async fn missing_authorization_header_is_invalid_request() {
    let answer = send(app(hs256_layer()), get_with(&[])).await;
    answer.assert_rejected(400, "invalid_request", "Authorization header not found.");
}

#[tokio::test]
async fn missing_auth_cookie_is_invalid_request() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::cookie())
        .build();
    let answer = send(app(layer.unwrap()), get_with(&[("cookie", "other=1")])).await;
    answer.assert_rejected(400, "invalid_request", "Auth cookie not found.");
}

#[tokio::test]
async fn non_bearer_scheme_is_invalid_request() {
    let token = hs256(&claims());
    for value in [
        format!("Basic {token}"),
        "Bearer".into(),
        String::new(),
        format!("Token {token}"),
    ] {
        let answer = send(app(hs256_layer()), get_with(&[("authorization", &value)])).await;
        answer.assert_rejected(
            400,
            "invalid_request",
            "Expected a bearer token. Scheme is Authorization: Bearer <token>.",
        );
    }
}

#[tokio::test]
async fn two_authorization_headers_are_multiple_tokens() {
    let token = hs256(&claims());
    let bearer = format!("Bearer {token}");
    let answer = send(
        app(hs256_layer()),
        get_with(&[("authorization", &bearer), ("authorization", &bearer)]),
    )
    .await;
    answer.assert_rejected(400, "invalid_request", "Multiple tokens in request.");
}

#[tokio::test]
async fn not_three_segments_is_jwt_malformed() {
    for token in [
        "abc", "a.b", "a.b.c.d", "a.b.c+d", "....", "a.b.c/d", "a.b.c==",
    ] {
        let answer = try_token(hs256_layer(), token).await;
        answer.assert_rejected(401, "invalid_token", "jwt malformed");
    }
}

/// `token` with the last character of segment `index` changed so that the spare bits it
/// carries are set: the same characters, still base64url, but not a canonical encoding.
fn with_spare_bits_set(token: &str, index: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let segment = &mut parts[index];
    assert_ne!(
        segment.len() % 4,
        0,
        "the last character must carry spare bits"
    );
    let last = segment.pop().unwrap();
    let value = ALPHABET.iter().position(|&c| c == last as u8).unwrap();
    segment.push(ALPHABET[value | 1] as char);
    parts.join(".")
}

/// Which verdict comes first when a segment is not canonical base64url, or not base64url at
/// all: characters outside the alphabet anywhere are "jwt malformed" before anything else; the
/// payload's spare bits are judged after the signature, which covers that very text.
#[tokio::test]
async fn segments_that_do_not_decode_get_a_stable_verdict() {
    // Segments whose base64url length is not a multiple of 4 (the signature's is 43): a
    // `kid` and a claim padded until the header and the payload are such.
    let token = (0..3)
        .flat_map(|kid| (0..3).map(move |pad| (kid, pad)))
        .map(|(kid, pad)| {
            let claims = json!({ "exp": now() + 60, "x": "x".repeat(pad) });
            hs256_kid(&"k".repeat(kid + 1), SECRET, &claims)
        })
        .find(|token| token.split('.').all(|segment| segment.len() % 4 != 0))
        .unwrap();

    let answer = try_token(hs256_layer(), &with_spare_bits_set(&token, 1)).await;
    answer.assert_rejected(401, "invalid_token", "invalid signature");
    let answer = try_token(hs256_layer(), &with_spare_bits_set(&token, 2)).await;
    answer.assert_rejected(401, "invalid_token", "jwt malformed");
    let answer = try_token(hs256_layer(), &with_spare_bits_set(&token, 0)).await;
    answer.assert_rejected(401, "invalid_token", "jwt malformed");

    let parts: Vec<&str> = token.split('.').collect();
    for bad in [
        format!("{}.{}+.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}~.{}", parts[0], parts[1], parts[2]),
        format!("{}/.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}+", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
        format!("{}.{}.{}", parts[0], "", parts[2]),
    ] {
        let answer = try_token(hs256_layer(), &bad).await;
        let expected = if bad.split('.').nth(1) == Some("") {
            // An empty payload decodes (to nothing), is signed over, and does not match.
            "invalid signature"
        } else {
            "jwt malformed"
        };
        answer.assert_rejected(401, "invalid_token", expected);
    }
}

#[tokio::test]
async fn token_over_the_size_cap_is_jwt_malformed() {
    let token = hs256(&json!({ "exp": now() + 60, "pad": "x".repeat(300) }));
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .max_token_len(token.len() - 1)
        .build();
    let answer = try_token(layer.unwrap(), &token).await;
    answer.assert_rejected(401, "invalid_token", "jwt malformed");

    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .max_token_len(token.len())
        .build();
    try_token(layer.unwrap(), &token).await.assert_user(None);
}

#[tokio::test]
async fn default_size_cap_is_eight_kib() {
    let token = hs256(&json!({ "exp": now() + 60, "pad": "x".repeat(9000) }));
    assert!(token.len() > 8 * 1024);
    try_token(hs256_layer(), &token)
        .await
        .assert_rejected(401, "invalid_token", "jwt malformed");
}

#[tokio::test]
async fn undecodable_header_or_payload_is_invalid_token() {
    let key = EncodingKey::from_secret(SECRET);
    let cases = [
        sign_raw("not json", &claims().to_string(), Algorithm::HS256, &key),
        sign_raw("[\"HS256\"]", &claims().to_string(), Algorithm::HS256, &key),
        sign_raw(r#"{"alg":"HS256"}"#, "not json", Algorithm::HS256, &key),
        sign_raw(r#"{"alg":"HS256"}"#, "[1,2,3]", Algorithm::HS256, &key),
        sign_raw(r#"{"alg":"HS256"}"#, "42", Algorithm::HS256, &key),
        sign_raw(
            r#"{"alg":"HS256","alg":"HS256"}"#,
            &claims().to_string(),
            Algorithm::HS256,
            &key,
        ),
        sign_raw(
            r#"{"alg":"HS256","kid":7}"#,
            &claims().to_string(),
            Algorithm::HS256,
            &key,
        ),
    ];
    for token in cases {
        try_token(hs256_layer(), &token).await.assert_rejected(
            401,
            "invalid_token",
            "invalid token",
        );
    }
}

#[tokio::test]
async fn disallowed_or_none_algorithm_is_invalid_algorithm() {
    let payload = claims().to_string();
    let key = EncodingKey::from_secret(SECRET);
    // HS512 is a valid signature with our secret, but only HS256 is allowed.
    let hs512 = sign_raw(r#"{"alg":"HS512"}"#, &payload, Algorithm::HS512, &key);
    let rs256 = token_with(Algorithm::RS256, &claims());
    let mut cases = vec![hs512, rs256];
    for none in ["none", "None", "NONE", "nOnE"] {
        cases.push(format!(
            "{}.{}.{}",
            b64(format!(r#"{{"alg":"{none}"}}"#)),
            b64(&payload),
            b64("x")
        ));
    }
    cases.push(format!(
        "{}.{}.{}",
        b64(r#"{"alg":"hs256"}"#),
        b64(&payload),
        b64("x")
    ));
    for token in cases {
        try_token(hs256_layer(), &token).await.assert_rejected(
            401,
            "invalid_token",
            "invalid algorithm",
        );
    }
}

#[tokio::test]
async fn empty_signature_is_jwt_signature_is_required() {
    let payload = claims().to_string();
    for alg in ["HS256", "none"] {
        let token = format!(
            "{}.{}.",
            b64(format!(r#"{{"alg":"{alg}"}}"#)),
            b64(&payload)
        );
        try_token(hs256_layer(), &token).await.assert_rejected(
            401,
            "invalid_token",
            "jwt signature is required",
        );
    }
}

#[tokio::test]
async fn bad_signature_is_invalid_signature() {
    let token = hs256_kid(
        "x",
        b"another-secret-another-secret-another-secret",
        &claims(),
    );
    try_token(hs256_layer(), &token).await.assert_rejected(
        401,
        "invalid_token",
        "invalid signature",
    );

    // One flipped character in the signature.
    let good = hs256(&claims());
    let (rest, signature) = good.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let token = format!("{rest}.{flipped}{}", &signature[1..]);
    try_token(hs256_layer(), &token).await.assert_rejected(
        401,
        "invalid_token",
        "invalid signature",
    );
}

#[tokio::test]
async fn expired_token_is_rejected_with_jwt_expired() {
    let token = hs256(&json!({ "sub": "alice", "exp": now() - 10 }));
    try_token(hs256_layer(), &token)
        .await
        .assert_rejected(401, "invalid_token", "jwt expired");
}

#[tokio::test]
async fn future_nbf_is_jwt_not_active() {
    let token = hs256(&json!({ "exp": now() + 600, "nbf": now() + 300 }));
    try_token(hs256_layer(), &token)
        .await
        .assert_rejected(401, "invalid_token", "jwt not active");
}

#[tokio::test]
async fn wrong_audience_lists_expected_audiences_joined_with_or() {
    let layer = || {
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .audience("a")
            .audience("b")
            .build()
            .unwrap()
    };
    let expected = "jwt audience invalid. expected: a or b";
    for aud in [json!("c"), json!(["c", "d"]), json!(null), json!(5)] {
        let token = hs256(&json!({ "exp": now() + 60, "aud": aud }));
        try_token(layer(), &token)
            .await
            .assert_rejected(401, "invalid_token", expected);
    }
    let token = hs256(&json!({ "exp": now() + 60 }));
    try_token(layer(), &token)
        .await
        .assert_rejected(401, "invalid_token", expected);
}

#[tokio::test]
async fn wrong_issuer_lists_expected_issuers_joined_with_comma() {
    let layer = || {
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .issuer("a")
            .issuer("b")
            .build()
            .unwrap()
    };
    let expected = "jwt issuer invalid. expected: a,b";
    for claims in [
        json!({ "exp": now() + 60, "iss": "c" }),
        json!({ "exp": now() + 60 }),
    ] {
        try_token(layer(), &hs256(&claims))
            .await
            .assert_rejected(401, "invalid_token", expected);
    }
}

#[tokio::test]
async fn wrong_subject_is_jwt_subject_invalid() {
    let layer = || {
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .subject("x")
            .build()
            .unwrap()
    };
    for claims in [
        json!({ "exp": now() + 60, "sub": "y" }),
        json!({ "exp": now() + 60 }),
    ] {
        try_token(layer(), &hs256(&claims)).await.assert_rejected(
            401,
            "invalid_token",
            "jwt subject invalid. expected: x",
        );
    }
}

#[tokio::test]
async fn key_set_without_kid_in_token_is_missing_kid() {
    let token = hs256(&claims());
    try_token(two_key_layer(), &token)
        .await
        .assert_rejected(401, "invalid_token", "missing kid");
}

#[tokio::test]
async fn unknown_kid_is_invalid_kid() {
    let token = hs256_kid("k3", SECRET, &claims());
    try_token(two_key_layer(), &token)
        .await
        .assert_rejected(401, "invalid_token", "invalid kid");
}

#[tokio::test]
async fn descriptions_never_echo_the_token_kid_or_claims() {
    let sneaky = "k\"zebra<b>";
    let token = hs256_kid(
        sneaky,
        SECRET,
        &json!({ "exp": now() - 5, "sub": "secret-sub" }),
    );
    for layer in [two_key_layer(), hs256_layer()] {
        let answer = try_token(layer, &token).await;
        let everything = format!(
            "{:?}{}",
            answer.headers,
            String::from_utf8_lossy(&answer.raw)
        );
        assert!(!everything.contains(&token[..20]));
        assert!(!everything.contains("secret-sub"));
        assert!(!everything.contains("zebra"));
    }
}

#[tokio::test]
async fn realm_is_sent_first_in_the_challenge() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .realm("api")
        .build()
        .unwrap();
    let answer = send(app(layer), get_with(&[])).await;
    assert_eq!(
        answer.challenge(),
        r#"Bearer realm="api", error="invalid_request", error_description="Authorization header not found.""#
    );
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_its_claims() {
    let claims = json!({ "sub": "alice", "exp": now() + 60, "roles": ["user"] });
    let answer = send(app(hs256_layer()), {
        let mut request = bearer(&hs256(&claims));
        *request.uri_mut() = "/claims".parse().unwrap();
        request
    })
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, claims);
}
