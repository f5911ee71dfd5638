//! Known attacks on JWT verifiers, each sent through the real layer (an axum router driven with
//! `oneshot`). Every one must be refused with a 4xx of the error table: never a 2xx, never a
//! 5xx, never a panic, and the response never repeats more than ten consecutive bytes of the
//! token (see `common::assert_refused`).

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use common::*;
use http::{HeaderValue, Request};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tower_jwt_auth::{JwtLayer, Key, TokenSource};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Sends `token` as a bearer token and asserts a refusal; returns its description.
async fn refused(layer: JwtLayer, token: &str) -> String {
    assert_refused(&try_token(layer, token).await, token)
}

/// Sends `token` as a bearer token and asserts the refusal with exactly `description`.
async fn refused_with(layer: JwtLayer, token: &str, description: &str) {
    let got = refused(layer, token).await;
    assert_eq!(got, description, "token {}", preview(token));
}

fn preview(token: &str) -> String {
    token.chars().take(80).collect()
}

fn rsa_layer() -> JwtLayer {
    JwtLayer::builder()
        .key(decoding_key(Algorithm::RS256))
        .build()
        .unwrap()
}

fn layer_allowing(key: Key, algorithms: &[Algorithm]) -> JwtLayer {
    JwtLayer::builder()
        .key(key)
        .algorithms(algorithms.iter().copied())
        .build()
        .unwrap()
}

/// A request carrying exactly these (name, raw value) headers.
fn request_with(headers: &[(&'static str, HeaderValue)]) -> Request<Body> {
    let mut request = get_with(&[]);
    for (name, value) in headers {
        request
            .headers_mut()
            .append(http::header::HeaderName::from_static(name), value.clone());
    }
    request
}

fn with_source(source: TokenSource) -> JwtLayer {
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(source)
        .build()
        .unwrap()
}

/// `header.payload` of a token, and its signature.
fn split_signature(token: &str) -> (&str, &str) {
    token.rsplit_once('.').unwrap()
}

/// One DER TLV: the tag, the contents and what follows.
fn der(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, start) = if input[1] < 0x80 {
        (usize::from(input[1]), 2)
    } else {
        let count = usize::from(input[1] & 0x7f);
        let len = input[2..2 + count]
            .iter()
            .fold(0usize, |len, byte| len << 8 | usize::from(*byte));
        (len, 2 + count)
    };
    (tag, &input[start..start + len], &input[start + len..])
}

/// The subjectPublicKey bits of a SubjectPublicKeyInfo.
fn spki_public_key(spki: &[u8]) -> &[u8] {
    let (_, info, _) = der(spki);
    let (_, _algorithm, rest) = der(info);
    let (tag, bits, _) = der(rest);
    assert_eq!(tag, 0x03, "a BIT STRING");
    assert_eq!(bits[0], 0, "no unused bits");
    &bits[1..]
}

/// The PKCS#1 `RSAPublicKey` DER, the modulus (no leading zero) and the exponent of an RSA
/// SubjectPublicKeyInfo file.
fn rsa_parts(der_file: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let spki = key_file(der_file);
    let pkcs1 = spki_public_key(&spki).to_vec();
    let (_, sequence, _) = der(&pkcs1);
    let (_, n, rest) = der(sequence);
    let (_, e, _) = der(rest);
    let n = n.iter().copied().skip_while(|b| *b == 0).collect();
    (pkcs1.clone(), n, e.to_vec())
}

fn rsa_jwk(der_file: &str) -> Value {
    let (_, n, e) = rsa_parts(der_file);
    json!({ "kty": "RSA", "n": b64(n), "e": b64(e) })
}

/// The uncompressed point `04 || x || y` of an EC SubjectPublicKeyInfo file.
fn ec_point(der_file: &str) -> Vec<u8> {
    spki_public_key(&key_file(der_file)).to_vec()
}

fn ec_jwk(der_file: &str, crv: &str) -> Value {
    let point = ec_point(der_file);
    let half = (point.len() - 1) / 2;
    json!({
        "kty": "EC",
        "crv": crv,
        "x": b64(&point[1..=half]),
        "y": b64(&point[1 + half..]),
    })
}

/// A DER INTEGER of the unsigned big-endian `value`.
fn der_integer(value: &[u8]) -> Vec<u8> {
    let mut value: Vec<u8> = value.iter().copied().skip_while(|b| *b == 0).collect();
    if value.first().is_none_or(|b| *b >= 0x80) {
        value.insert(0, 0);
    }
    let mut out = vec![0x02, value.len() as u8];
    out.extend(value);
    out
}

/// The ASN.1 DER `ECDSA-Sig-Value` of a JOSE `r || s` signature.
fn ecdsa_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = der_integer(r);
    body.extend(der_integer(s));
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The order n of P-256 and of P-384.
const P256_ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P384_ORDER: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
                          581a0db248b0a77aecec196accc52973";

fn payload() -> String {
    claims().to_string()
}

fn hs256_with_header(header: &Value, payload: &str) -> String {
    hs256_raw(&header.to_string(), payload)
}

/// An HS256 token over exactly these header and payload bytes, UTF-8 or not.
fn hs256_bytes(header: &[u8], payload: &[u8]) -> String {
    tower_jwt_auth::keys::install_crypto_provider().unwrap();
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

// ---------------------------------------------------------------------------------------------
// alg: none
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn alg_none_in_every_casing_and_with_every_signature_shape_is_refused() {
    let payload = payload();
    let genuine = hs256(&claims());
    let (_, genuine_signature) = split_signature(&genuine);
    for none in [
        "none",
        "None",
        "NONE",
        "nOnE",
        "none ",
        " none",
        "none\u{0}",
    ] {
        for header in [
            json!({ "alg": none }),
            json!({ "alg": none, "typ": "JWT" }),
            json!({ "typ": "JWT", "alg": none, "kid": "k1" }),
        ] {
            let unsigned = format!("{}.{}", b64(header.to_string()), b64(&payload));
            for layer in [hs256_layer, rsa_layer] {
                // An empty signature, no signature segment, and signatures of any content.
                refused_with(
                    layer(),
                    &format!("{unsigned}."),
                    "jwt signature is required",
                )
                .await;
                refused_with(layer(), &unsigned, "jwt malformed").await;
                for signature in [b64("x"), b64([0u8; 32]), genuine_signature.to_owned()] {
                    let token = format!("{unsigned}.{signature}");
                    refused_with(layer(), &token, "invalid algorithm").await;
                }
            }
        }
    }
}

#[tokio::test]
async fn missing_empty_or_non_string_alg_is_refused() {
    let payload = payload();
    let cases = [
        (json!({ "typ": "JWT" }), "invalid token"),
        (json!({ "alg": null }), "invalid token"),
        (json!({ "alg": ["HS256"] }), "invalid token"),
        (json!({ "alg": { "name": "HS256" } }), "invalid token"),
        (json!({ "alg": 256 }), "invalid token"),
        (json!({ "alg": "" }), "invalid algorithm"),
        (json!({ "alg": "hs256" }), "invalid algorithm"),
        (json!({ "alg": "HS256 " }), "invalid algorithm"),
        (json!({ "alg": "HMAC-SHA256" }), "invalid algorithm"),
    ];
    for (header, description) in cases {
        let token = hs256_with_header(&header, &payload);
        refused_with(hs256_layer(), &token, description).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Key confusion: RS→HS and ES→HS
// ---------------------------------------------------------------------------------------------

/// The forms in which an attacker may hold a public key: each becomes an HMAC secret.
fn rsa_public_key_forms() -> Vec<(&'static str, Vec<u8>)> {
    let pem = key_file("rsa.pub.pem");
    let pem_trimmed = String::from_utf8(pem.clone())
        .unwrap()
        .trim()
        .as_bytes()
        .to_vec();
    let (pkcs1, n, _) = rsa_parts("rsa.pub.der");
    let jwk = rsa_jwk("rsa.pub.der");
    vec![
        ("PEM text", pem),
        ("PEM text, trimmed", pem_trimmed),
        ("SPKI DER", key_file("rsa.pub.der")),
        ("PKCS#1 DER", pkcs1),
        ("raw modulus", n),
        ("JWK JSON", jwk.to_string().into_bytes()),
        ("JWK JSON, pretty", serde_json::to_vec_pretty(&jwk).unwrap()),
    ]
}

fn ec_public_key_forms(name: &str, crv: &str) -> Vec<(&'static str, Vec<u8>)> {
    let point = ec_point(&format!("{name}.pub.der"));
    let jwk = ec_jwk(&format!("{name}.pub.der"), crv);
    vec![
        ("PEM text", key_file(&format!("{name}.pub.pem"))),
        ("SPKI DER", key_file(&format!("{name}.pub.der"))),
        ("raw uncompressed point", point.clone()),
        ("raw x || y", point[1..].to_vec()),
        ("JWK JSON", jwk.to_string().into_bytes()),
    ]
}

#[tokio::test]
async fn rs_to_hs_key_confusion_is_refused() {
    let public = || Key::rsa_pem(key_file("rsa.pub.pem")).unwrap();
    let single = || layer_allowing(public(), &[Algorithm::RS256]);
    let single_default = || JwtLayer::builder().key(public()).build().unwrap();
    let mixed = || {
        JwtLayer::builder()
            .key(public().with_kid("rsa"))
            .key(Key::hmac(SECRET).with_kid("hmac"))
            .algorithms([Algorithm::RS256, Algorithm::HS256])
            .build()
            .unwrap()
    };
    // The layers do accept their genuine tokens.
    assert_eq!(
        try_token(single(), &token_with(Algorithm::RS256, &claims()))
            .await
            .status,
        200
    );
    let genuine_hmac = hs256_kid("hmac", SECRET, &claims());
    assert_eq!(try_token(mixed(), &genuine_hmac).await.status, 200);

    // The forms really are the public key: each of them verifies a genuine token.
    let (pkcs1, n, e) = rsa_parts("rsa.pub.der");
    assert_eq!((n.len(), e.as_slice()), (256, &[1u8, 0, 1][..]));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(rsa_jwk("rsa.pub.der")).unwrap();
    for key in [Key::rsa_der(&pkcs1).unwrap(), Key::from_jwk(&jwk).unwrap()] {
        let layer = JwtLayer::builder().key(key).build().unwrap();
        let answer = try_token(layer, &token_with(Algorithm::RS256, &claims())).await;
        assert_eq!(answer.status, 200);
    }

    for (form, secret) in rsa_public_key_forms() {
        let key = EncodingKey::from_secret(&secret);
        let sign =
            |header: Value| sign_raw(&header.to_string(), &payload(), Algorithm::HS256, &key);
        for hs in ["HS256", "HS384", "HS512"] {
            let alg: Algorithm = hs.parse().unwrap();
            let plain = sign_raw(
                &json!({ "alg": hs, "typ": "JWT" }).to_string(),
                &payload(),
                alg,
                &key,
            );
            for layer in [single(), single_default()] {
                let description = refused(layer, &plain).await;
                assert_eq!(description, "invalid algorithm", "{form} {hs}");
            }
        }
        let naming_rsa = sign(json!({ "alg": "HS256", "kid": "rsa" }));
        let description = refused(mixed(), &naming_rsa).await;
        assert_eq!(description, "invalid algorithm", "{form}, kid rsa");
        // Naming the HMAC key instead only checks against the real secret.
        let naming_hmac = sign(json!({ "alg": "HS256", "kid": "hmac" }));
        let description = refused(mixed(), &naming_hmac).await;
        assert_eq!(description, "invalid signature", "{form}, kid hmac");
    }
}

#[tokio::test]
async fn es_to_hs_key_confusion_is_refused() {
    for (name, crv, alg) in [
        ("ec256", "P-256", Algorithm::ES256),
        ("ec384", "P-384", Algorithm::ES384),
    ] {
        let public = || Key::ec_pem(key_file(&format!("{name}.pub.pem"))).unwrap();
        let single = || JwtLayer::builder().key(public()).build().unwrap();
        let mixed = || {
            JwtLayer::builder()
                .key(public().with_kid("ec"))
                .key(Key::hmac(SECRET).with_kid("hmac"))
                .algorithms([alg, Algorithm::HS256])
                .build()
                .unwrap()
        };
        assert_eq!(
            try_token(single(), &token_with(alg, &claims()))
                .await
                .status,
            200
        );
        // The forms really are the public key: each of them verifies a genuine token.
        let point = ec_point(&format!("{name}.pub.der"));
        assert_eq!(point[0], 0x04);
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(ec_jwk(&format!("{name}.pub.der"), crv)).unwrap();
        for key in [Key::ec_der(&point).unwrap(), Key::from_jwk(&jwk).unwrap()] {
            let layer = JwtLayer::builder().key(key).build().unwrap();
            let answer = try_token(layer, &token_with(alg, &claims())).await;
            assert_eq!(answer.status, 200, "{name}");
        }
        for (form, secret) in ec_public_key_forms(name, crv) {
            let key = EncodingKey::from_secret(&secret);
            let sign =
                |header: Value| sign_raw(&header.to_string(), &payload(), Algorithm::HS256, &key);
            let plain = sign(json!({ "alg": "HS256" }));
            let description = refused(single(), &plain).await;
            assert_eq!(description, "invalid algorithm", "{name} {form}");
            let naming_ec = sign(json!({ "alg": "HS256", "kid": "ec" }));
            let description = refused(mixed(), &naming_ec).await;
            assert_eq!(description, "invalid algorithm", "{name} {form}, kid ec");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Algorithm mix-ups within a family
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ps_and_rs_are_not_interchangeable() {
    let rsa = || decoding_key(Algorithm::RS256);
    let rs_only = || layer_allowing(rsa(), &[Algorithm::RS256]);
    let ps_only = || layer_allowing(rsa(), &[Algorithm::PS256]);
    refused_with(
        rs_only(),
        &token_with(Algorithm::PS256, &claims()),
        "invalid algorithm",
    )
    .await;
    refused_with(
        ps_only(),
        &token_with(Algorithm::RS256, &claims()),
        "invalid algorithm",
    )
    .await;
    // The header names the allowed scheme, the signature is of the other one.
    let rsa_key = encoding_key(Algorithm::RS256);
    let rs_header_ps_signature =
        sign_raw(r#"{"alg":"RS256"}"#, &payload(), Algorithm::PS256, &rsa_key);
    refused_with(rs_only(), &rs_header_ps_signature, "invalid signature").await;
    let ps_header_rs_signature =
        sign_raw(r#"{"alg":"PS256"}"#, &payload(), Algorithm::RS256, &rsa_key);
    refused_with(ps_only(), &ps_header_rs_signature, "invalid signature").await;
    // Another hash of the same scheme.
    let rs512_as_rs256 = sign_raw(r#"{"alg":"RS256"}"#, &payload(), Algorithm::RS512, &rsa_key);
    refused_with(rs_only(), &rs512_as_rs256, "invalid signature").await;
}

#[tokio::test]
async fn es384_tokens_are_refused_by_an_es256_key() {
    let es256 = || decoding_key(Algorithm::ES256);
    let es384_token = token_with(Algorithm::ES384, &claims());
    refused_with(
        JwtLayer::builder().key(es256()).build().unwrap(),
        &es384_token,
        "invalid algorithm",
    )
    .await;
    refused_with(
        layer_allowing(es256(), &[Algorithm::ES256]),
        &es384_token,
        "invalid algorithm",
    )
    .await;
    // The allow-list is bound to the curve: ES384 cannot be allowed for a P-256 key at all.
    assert!(
        JwtLayer::builder()
            .key(es256())
            .algorithms([Algorithm::ES384])
            .build()
            .is_err()
    );
    // An ES384 signature under an ES256 header.
    let es256_header_es384_signature = sign_raw(
        r#"{"alg":"ES256"}"#,
        &payload(),
        Algorithm::ES384,
        &encoding_key(Algorithm::ES384),
    );
    refused_with(
        layer_allowing(es256(), &[Algorithm::ES256]),
        &es256_header_es384_signature,
        "invalid signature",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Psychic ECDSA signatures (CVE-2022-21449) and signature encodings
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn psychic_and_der_encoded_ecdsa_signatures_are_refused() {
    for (alg, order) in [
        (Algorithm::ES256, hex(P256_ORDER)),
        (Algorithm::ES384, hex(P384_ORDER)),
    ] {
        let size = order.len();
        let layer = || layer_allowing(decoding_key(alg), &[alg]);
        let genuine = token_with(alg, &claims());
        assert_eq!(try_token(layer(), &genuine).await.status, 200, "{alg:?}");
        let (message, signature) = split_signature(&genuine);
        let valid =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
                .unwrap();
        assert_eq!(valid.len(), 2 * size);
        let (r, s) = valid.split_at(size);
        let zero = vec![0u8; size];
        let one = {
            let mut one = vec![0u8; size];
            one[size - 1] = 1;
            one
        };
        let cat = |a: &[u8], b: &[u8]| [a, b].concat();
        let forged = [
            ("r = s = 0", cat(&zero, &zero)),
            ("r = s = n", cat(&order, &order)),
            ("r = 0, s valid", cat(&zero, s)),
            ("r valid, s = 0", cat(r, &zero)),
            ("r = n, s valid", cat(&order, s)),
            ("r valid, s = n", cat(r, &order)),
            ("r = s = 1", cat(&one, &one)),
            ("r = s = 0xff..", vec![0xff; 2 * size]),
            ("DER of the valid signature", ecdsa_der(&valid)),
            (
                "DER of r = s = 0",
                vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
            ),
            ("r || s || extra byte", cat(&valid, &[0])),
            ("r || s short one byte", valid[..2 * size - 1].to_vec()),
        ];
        for (what, signature) in forged {
            let token = format!("{message}.{}", b64(&signature));
            let description = refused(layer(), &token).await;
            assert_eq!(description, "invalid signature", "{alg:?}: {what}");
        }
    }
}

#[tokio::test]
async fn empty_stripped_truncated_and_padded_signatures_are_refused() {
    for alg in ONE_ALGORITHM_A_FAMILY {
        let layer = || layer_allowing(decoding_key(alg), &[alg]);
        let genuine = token_with(alg, &claims());
        assert_eq!(try_token(layer(), &genuine).await.status, 200, "{alg:?}");
        let (message, signature) = split_signature(&genuine);
        let exact = [
            (format!("{message}."), "jwt signature is required"),
            (message.to_owned(), "jwt malformed"),
            (format!("{message}.{signature}="), "jwt malformed"),
            (format!("{message}.{signature}=="), "jwt malformed"),
            // `=` inside the token is not a b64token (RFC 6750 §2.1): the header is refused.
            (
                format!("{message}.={signature}"),
                "Expected a bearer token. Scheme is Authorization: Bearer <token>.",
            ),
            (format!("{message}.{signature}."), "jwt malformed"),
            (format!("{message}..{signature}"), "jwt malformed"),
            // Appended base64url characters that still decode: more bytes, a bad signature.
            (format!("{message}.{signature}AAAA"), "invalid signature"),
            (
                format!("{message}.{}", {
                    let mut bytes = base64::Engine::decode(
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        signature,
                    )
                    .unwrap();
                    bytes.extend_from_slice(b"extra bytes");
                    b64(bytes)
                }),
                "invalid signature",
            ),
        ];
        for (token, description) in exact {
            refused_with(layer(), &token, description).await;
        }
        // Cut signatures: a bad signature, or undecodable base64 when the length or the last
        // character's spare bits make it so; refused either way.
        for cut in [signature.len() / 2, signature.len() - 1, 1] {
            let token = format!("{message}.{}", &signature[..cut]);
            let description = refused(layer(), &token).await;
            assert!(
                ["invalid signature", "jwt malformed"].contains(&description.as_str()),
                "{alg:?} cut at {cut}: {description}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Header injection: jwk, jku, x5u, x5c
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn embedded_jwk_of_the_attacker_is_ignored() {
    let attacker = EncodingKey::from_rsa_pem(&key_file("rsa2.key")).unwrap();
    let mut attacker_jwk = rsa_jwk("rsa2.pub.der");
    // The embedded JWK really is the attacker's key: as a configured key it verifies.
    let attacker_token = sign_raw(
        r#"{"alg":"RS256"}"#,
        &payload(),
        Algorithm::RS256,
        &attacker,
    );
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(attacker_jwk.clone()).unwrap();
    let trusting = JwtLayer::builder()
        .key(Key::from_jwk(&jwk).unwrap())
        .build()
        .unwrap();
    assert_eq!(try_token(trusting, &attacker_token).await.status, 200);
    let mixed = || {
        JwtLayer::builder()
            .key(decoding_key(Algorithm::RS256).with_kid("rsa"))
            .key(Key::hmac(SECRET).with_kid("hmac"))
            .algorithms([Algorithm::RS256, Algorithm::HS256])
            .build()
            .unwrap()
    };
    let headers = [
        json!({ "alg": "RS256", "jwk": attacker_jwk }),
        json!({ "alg": "RS256", "typ": "JWT", "kid": "rsa", "jwk": attacker_jwk }),
        {
            attacker_jwk["kid"] = json!("rsa");
            attacker_jwk["alg"] = json!("RS256");
            attacker_jwk["use"] = json!("sig");
            json!({ "alg": "RS256", "kid": "rsa", "jwk": attacker_jwk })
        },
    ];
    for header in headers {
        let token = sign_raw(&header.to_string(), &payload(), Algorithm::RS256, &attacker);
        refused_with(rsa_layer(), &token, "invalid signature").await;
        if header.get("kid").is_some() {
            refused_with(mixed(), &token, "invalid signature").await;
        }
    }
    // An embedded EC key (the attacker's own pair) against an RSA-only layer: the algorithm is
    // refused before any key in the header could matter.
    let ec_header = json!({ "alg": "ES256", "jwk": ec_jwk("ec256.pub.der", "P-256") });
    let token = sign_raw(
        &ec_header.to_string(),
        &payload(),
        Algorithm::ES256,
        &encoding_key(Algorithm::ES256),
    );
    refused_with(rsa_layer(), &token, "invalid algorithm").await;
    // An embedded symmetric key naming the attacker's own secret.
    let oct = json!({ "alg": "HS256", "jwk": { "kty": "oct", "k": b64(b"attacker-secret-attacker-secret!") } });
    let token = sign_raw(
        &oct.to_string(),
        &payload(),
        Algorithm::HS256,
        &EncodingKey::from_secret(b"attacker-secret-attacker-secret!"),
    );
    refused_with(hs256_layer(), &token, "invalid signature").await;
}

#[tokio::test]
async fn jku_x5u_and_x5c_are_never_fetched_nor_trusted() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let attacker = EncodingKey::from_rsa_pem(&key_file("rsa2.key")).unwrap();
    let attacker_der = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        key_file("rsa2.pub.der"),
    );
    let two_keys = || {
        JwtLayer::builder()
            .key(decoding_key(Algorithm::RS256).with_kid("k1"))
            .key(Key::hmac(SECRET).with_kid("k2"))
            .algorithms([Algorithm::RS256, Algorithm::HS256])
            .build()
            .unwrap()
    };
    let headers = [
        json!({ "alg": "RS256", "jku": format!("{base}/jwks.json") }),
        json!({ "alg": "RS256", "jku": format!("{base}/jwks.json"), "kid": "attacker" }),
        json!({ "alg": "RS256", "jku": format!("{base}/jwks.json"), "kid": "k1" }),
        json!({ "alg": "RS256", "x5u": format!("{base}/cert.pem") }),
        json!({ "alg": "RS256", "x5u": format!("{base}/cert.pem"), "kid": "k1" }),
        json!({ "alg": "RS256", "x5c": [attacker_der], "kid": "k1" }),
        json!({
            "alg": "RS256",
            "kid": "k1",
            "jku": format!("{base}/jwks.json"),
            "x5u": format!("{base}/cert.pem"),
            "x5c": [attacker_der],
            "jwk": rsa_jwk("rsa2.pub.der"),
        }),
    ];
    for header in headers {
        let token = sign_raw(&header.to_string(), &payload(), Algorithm::RS256, &attacker);
        let description = refused(rsa_layer(), &token).await;
        assert_eq!(description, "invalid signature", "{header}");
        let description = refused(two_keys(), &token).await;
        let expected = match header.get("kid").and_then(Value::as_str) {
            None => "missing kid",
            Some("k1") => "invalid signature",
            Some(_) => "invalid kid",
        };
        assert_eq!(description, expected, "{header}");
    }
    // Give any background fetch the layer might have started a chance to connect.
    let connection = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
    assert!(
        connection.is_err(),
        "the layer connected to the URL of a token header"
    );
}

// ---------------------------------------------------------------------------------------------
// kid
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hostile_kid_values_are_refused_and_never_echoed() {
    let long_but_capped = "x".repeat(4000);
    let strings = [
        "../../etc/passwd",
        "../../../../../../dev/null",
        "' OR 1=1 --",
        "k1' OR '1'='1",
        "$(rm -rf /)",
        "`id`",
        "a\u{0}b",
        "k1\u{0}",
        "K1",
        "k1 ",
        " k1",
        "",
        "k1\nk2",
        "<script>alert(1)</script>",
        "\u{202e}1k",
        "%6b%31",
        long_but_capped.as_str(),
    ];
    for kid in strings {
        let token = hs256_kid(kid, SECRET, &claims());
        let answer = try_token(two_key_layer(), &token).await;
        let description = assert_refused(&answer, &token);
        assert_eq!(description, "invalid kid", "kid {}", preview(kid));
        assert_no_echo(&answer, kid.as_bytes());
    }
    // Over the size cap: refused before the header is even decoded.
    let huge = "A".repeat(100 * 1024);
    let token = hs256_kid(&huge, SECRET, &claims());
    let answer = try_token(two_key_layer(), &token).await;
    assert_eq!(assert_refused(&answer, &token), "jwt malformed");
    assert_no_echo(&answer, huge.as_bytes());

    let payload = payload();
    let typed = [
        (json!(42), "invalid token"),
        (json!(1.5), "invalid token"),
        (json!(true), "invalid token"),
        (json!([]), "invalid token"),
        (json!(["k1"]), "invalid token"),
        (json!({ "kid": "k1" }), "invalid token"),
        // A null kid is no kid.
        (json!(null), "missing kid"),
    ];
    for (kid, description) in typed {
        let token = hs256_with_header(&json!({ "alg": "HS256", "kid": kid }), &payload);
        let got = refused(two_key_layer(), &token).await;
        assert_eq!(got, description, "kid {kid}");
    }
}

// ---------------------------------------------------------------------------------------------
// crit, payload shapes, duplicate members
// ---------------------------------------------------------------------------------------------

/// The `typ` check runs on the header before the signature is verified, so any client can choose
/// the `typ` text: one with a multi-byte character across byte 12 (where `application/` would
/// end) must be refused like any other wrong `typ`, not crash the service. Found by fuzzing.
#[tokio::test]
async fn typ_with_a_multibyte_character_at_the_media_type_prefix_is_refused() {
    let layer = || {
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .typ("at+jwt")
            .build()
            .unwrap()
    };
    let payload = payload();
    for typ in [
        "applicatioi\u{6be}T+JWT",
        "applicationé+jwt",
        "\u{1f600}\u{1f600}\u{1f600}x",
    ] {
        // No valid signature needed: the garbage one below is never reached.
        let header = json!({ "alg": "HS256", "typ": typ }).to_string();
        let token = format!("{}.{}.{}", b64(header), b64(&payload), b64("garbage"));
        let outcome = tokio::spawn({
            let token = token.clone();
            async move { try_token(layer(), &token).await }
        })
        .await;
        let answer = match outcome {
            Ok(answer) => answer,
            Err(error) if error.is_panic() => {
                panic!("the layer panicked on typ {typ:?}, before any signature check")
            }
            Err(error) => panic!("{error}"),
        };
        let description = assert_refused(&answer, &token);
        assert_eq!(description, "jwt typ invalid. expected: at+jwt", "{typ:?}");
    }
}

#[tokio::test]
async fn any_crit_header_is_refused() {
    let payload = payload();
    for crit in [
        json!(["exp"]),
        json!([]),
        json!(["b64"]),
        json!(null),
        json!("exp"),
        json!({}),
    ] {
        let token = hs256_with_header(&json!({ "alg": "HS256", "crit": crit }), &payload);
        refused_with(hs256_layer(), &token, "jwt crit header not supported").await;
    }
    // b64: false (RFC 7797) with crit: the payload is not base64url; refused all the same.
    let token = hs256_with_header(
        &json!({ "alg": "HS256", "b64": false, "crit": ["b64"] }),
        &payload,
    );
    refused_with(hs256_layer(), &token, "jwt crit header not supported").await;
}

#[tokio::test]
async fn non_object_payloads_are_refused() {
    let header = json!({ "alg": "HS256" });
    for payload in [
        "[]",
        "1",
        "\"x\"",
        "null",
        "true",
        "",
        " ",
        "{",
        "{}{}",
        "[{\"exp\":1}]",
    ] {
        let token = hs256_with_header(&header, payload);
        refused_with(hs256_layer(), &token, "invalid token").await;
    }
    // Not JSON text at all: invalid UTF-8 and a byte-order mark.
    for payload in [
        vec![0xff, 0xfe, b'{', b'}'],
        b"\xef\xbb\xbf{\"exp\":9999999999}".to_vec(),
    ] {
        let token = hs256_bytes(header.to_string().as_bytes(), &payload);
        refused_with(hs256_layer(), &token, "invalid token").await;
    }
}

/// RFC 7515 §5.2 step 3: the header must be "a UTF-8-encoded representation of a completely
/// valid JSON object"; RFC 7519 §7.2 step 10 says the same of a JWT's claims, and RFC 8259 §8.1
/// makes JSON text UTF-8. Invalid UTF-8 anywhere in them, even in a member the layer does not
/// read, is not JSON: `invalid token`, like any header or payload that does not decode.
#[tokio::test]
async fn invalid_utf8_in_the_header_or_the_claims_is_refused() {
    #[derive(Clone, serde::Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        exp: u64,
    }
    let typed = || {
        JwtLayer::builder()
            .claims::<Typed>()
            .key(Key::hmac(SECRET))
            .build()
            .unwrap()
    };
    let typed_app = |layer| {
        axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .layer(layer)
    };
    let later = now() + 600;
    let good_payload = format!(r#"{{"exp":{later}}}"#).into_bytes();
    let bad_payload = [
        format!(r#"{{"exp":{later},"note":""#).as_bytes(),
        b"\xff\xfe",
        b"\"}",
    ]
    .concat();
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "header, ignored member",
            b"{\"alg\":\"HS256\",\"x\":\"\xa0\"}".to_vec(),
            good_payload.clone(),
        ),
        (
            "header, typ-like member",
            b"{\"alg\":\"HS256\",\"ty`p\":\"applicati\xa0n/at+jwt\"}".to_vec(),
            good_payload.clone(),
        ),
        (
            "header, nested",
            b"{\"alg\":\"HS256\",\"x\":[{\"y\":\"\xc3\"}]}".to_vec(),
            good_payload.clone(),
        ),
        (
            "claims",
            br#"{"alg":"HS256"}"#.to_vec(),
            bad_payload.clone(),
        ),
    ];
    let mut failures = Vec::new();
    for (what, header, payload) in cases {
        let token = hs256_bytes(&header, &payload);
        let answers = [
            ("JsonClaims", try_token(hs256_layer(), &token).await),
            (
                "typed claims",
                send(typed_app(typed()), bearer(&token)).await,
            ),
        ];
        for (claims, answer) in answers {
            if answer.status.is_success() {
                failures.push(format!("{what}, {claims}: accepted ({})", answer.status));
                continue;
            }
            let description = assert_refused(&answer, &token);
            if description != "invalid token" {
                failures.push(format!("{what}, {claims}: {description:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn duplicate_header_members_are_refused() {
    let payload = payload();
    let cases = [
        (r#"{"alg":"HS256","alg":"none"}"#, hs256_layer()),
        (r#"{"alg":"none","alg":"HS256"}"#, hs256_layer()),
        (r#"{"alg":"HS256","alg":"HS256"}"#, hs256_layer()),
        (r#"{"alg":"HS256","kid":"k1","kid":"k2"}"#, two_key_layer()),
        (r#"{"alg":"HS256","kid":"k2","kid":"k1"}"#, two_key_layer()),
        (
            r#"{"alg":"HS256","crit":["exp"],"crit":null}"#,
            hs256_layer(),
        ),
        (
            r#"{"alg":"HS256","typ":"JWT","typ":"at+jwt"}"#,
            JwtLayer::builder()
                .key(Key::hmac(SECRET))
                .typ("at+jwt")
                .build()
                .unwrap(),
        ),
    ];
    for (header, layer) in cases {
        let token = sign_raw(
            header,
            &payload,
            Algorithm::HS256,
            &EncodingKey::from_secret(SECRET),
        );
        let description = refused(layer, &token).await;
        assert_eq!(description, "invalid token", "{header}");
    }
}

#[tokio::test]
async fn duplicate_registered_claims_are_refused() {
    let later = now() + 600;
    let header = json!({ "alg": "HS256" });
    let cases = [
        r#"{"exp":1,"exp":9999999999}"#.to_owned(),
        r#"{"exp":9999999999,"exp":1}"#.to_owned(),
        format!(r#"{{"exp":{later},"sub":"alice","sub":"admin"}}"#),
        format!(r#"{{"exp":{later},"iss":"a","iss":"b"}}"#),
        format!(r#"{{"exp":{later},"aud":"a","aud":"b"}}"#),
        format!(r#"{{"exp":{later},"nbf":1,"nbf":9999999999}}"#),
        format!(r#"{{"exp":{later},"iat":1,"iat":1}}"#),
        format!(r#"{{"exp":{later},"jti":"a","jti":"b"}}"#),
    ];
    for payload in cases {
        let token = hs256_with_header(&header, &payload);
        let description = refused(hs256_layer(), &token).await;
        assert_eq!(description, "invalid token", "{payload}");
    }
}

/// Not an attack the layer can refuse on its own: RFC 7519 §4 lets a parser keep the lexically
/// last of duplicate members, which is what serde_json does for the claims the layer does not
/// check itself. A typed claims struct (`#[derive(Deserialize)]`) refuses duplicates instead.
#[tokio::test]
async fn duplicate_private_claims_keep_the_last_member_as_rfc7519_allows() {
    let later = now() + 600;
    let payload = format!(r#"{{"exp":{later},"roles":["user"],"roles":["admin"]}}"#);
    let token = hs256_with_header(&json!({ "alg": "HS256" }), &payload);
    let mut request = bearer(&token);
    *request.uri_mut() = "/claims".parse().unwrap();
    let answer = send(app(hs256_layer()), request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({ "exp": later, "roles": ["admin"] }));

    #[derive(Clone, serde::Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        exp: u64,
        roles: Vec<String>,
    }
    let typed = JwtLayer::builder()
        .claims::<Typed>()
        .key(Key::hmac(SECRET))
        .build()
        .unwrap();
    let router = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(typed);
    let answer = send(router, bearer(&token)).await;
    assert_eq!(assert_refused(&answer, &token), "invalid token");
}

// ---------------------------------------------------------------------------------------------
// Time claims of the wrong type or out of range
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn time_claims_of_the_wrong_type_or_out_of_range() {
    let now = now();
    let later = now + 600;
    let header = json!({ "alg": "HS256" });
    // (payload, Some(description) when refused, None when accepted)
    let cases: Vec<(String, Option<&str>)> = vec![
        // exp
        (r#"{"exp":"9999999999"}"#.into(), Some("invalid exp value")),
        (r#"{"exp":true}"#.into(), Some("invalid exp value")),
        (r#"{"exp":[9999999999]}"#.into(), Some("invalid exp value")),
        (r#"{"exp":{"$gt":0}}"#.into(), Some("invalid exp value")),
        (r#"{"exp":-1}"#.into(), Some("jwt expired")),
        (r#"{"exp":0}"#.into(), Some("jwt expired")),
        (r#"{"exp":-1e308}"#.into(), Some("jwt expired")),
        (
            r#"{"exp":-18446744073709551615}"#.into(),
            Some("jwt expired"),
        ),
        (r#"{"exp":1e400}"#.into(), Some("invalid exp value")),
        (r#"{"exp":-1e400}"#.into(), Some("invalid exp value")),
        (format!(r#"{{"exp":{}.5}}"#, now - 10), Some("jwt expired")),
        (format!(r#"{{"exp":{later}.5}}"#), None),
        (format!(r#"{{"exp":{later}e0}}"#), None),
        // nbf
        (
            format!(r#"{{"exp":{later},"nbf":"0"}}"#),
            Some("invalid nbf value"),
        ),
        (
            format!(r#"{{"exp":{later},"nbf":1e308}}"#),
            Some("jwt not active"),
        ),
        (
            format!(r#"{{"exp":{later},"nbf":18446744073709551615}}"#),
            Some("jwt not active"),
        ),
        (
            format!(r#"{{"exp":{later},"nbf":1e400}}"#),
            Some("invalid nbf value"),
        ),
        (format!(r#"{{"exp":{later},"nbf":-1}}"#), None),
        (format!(r#"{{"exp":{later},"nbf":-1e308}}"#), None),
        (format!(r#"{{"exp":{later},"nbf":{}.25}}"#, now - 5), None),
        // iat
        (
            format!(r#"{{"exp":{later},"iat":"0"}}"#),
            Some("invalid iat value"),
        ),
        (
            format!(r#"{{"exp":{later},"iat":1e308}}"#),
            Some("jwt issued in the future"),
        ),
        (
            format!(r#"{{"exp":{later},"iat":18446744073709551615}}"#),
            Some("jwt issued in the future"),
        ),
        // A lifetime from 1969: over the default maximum of a year.
        (
            format!(r#"{{"exp":{later},"iat":-1}}"#),
            Some("jwt lifetime exceeds the maximum"),
        ),
        (format!(r#"{{"exp":{later},"iat":{}.75}}"#, now - 5), None),
    ];
    for (payload, expected) in cases {
        let token = hs256_with_header(&header, &payload);
        let answer = try_token(hs256_layer(), &token).await;
        match expected {
            Some(description) => {
                assert_eq!(assert_refused(&answer, &token), description, "{payload}")
            }
            None => assert_eq!(answer.status, 200, "{payload}: {}", answer.body),
        }
    }
}

/// `null` is not a NumericDate. The error table (and node `jsonwebtoken`, whose messages it
/// follows: `payload.nbf !== undefined && typeof payload.nbf !== 'number'`) refuses a time claim
/// that is present but not a number with `invalid <claim> value`; a `null` must not pass for an
/// absent claim, least of all `nbf`, whose purpose is to refuse.
#[tokio::test]
async fn null_time_claims_are_invalid_values() {
    let later = now() + 600;
    let header = json!({ "alg": "HS256" });
    let cases = [
        (r#"{"exp":null}"#.to_owned(), "invalid exp value"),
        (
            format!(r#"{{"exp":{later},"nbf":null}}"#),
            "invalid nbf value",
        ),
        (
            format!(r#"{{"exp":{later},"iat":null}}"#),
            "invalid iat value",
        ),
    ];
    let mut failures = Vec::new();
    for (payload, description) in cases {
        let token = hs256_with_header(&header, &payload);
        let answer = try_token(hs256_layer(), &token).await;
        if answer.status.is_success() {
            failures.push(format!("{payload}: accepted ({})", answer.status));
            continue;
        }
        let got = assert_refused(&answer, &token);
        if got != description {
            failures.push(format!("{payload}: {got:?} instead of {description:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A token signed with a real key and `exp` = u64::MAX (or 1e308) would be valid for ever;
/// `max_lifetime` refuses it (`max_age` would not: it bounds the age from `iat`, not `exp`),
/// and by default (a year) too.
#[tokio::test]
async fn huge_exp_is_refused_by_default_and_by_a_configured_maximum_lifetime() {
    let now = now();
    let header = json!({ "alg": "HS256" });
    let with_max_lifetime = || {
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .max_lifetime(Duration::from_secs(3600))
            .build()
            .unwrap()
    };
    for exp in ["18446744073709551615", "1e308", "1.7976931348623157e308"] {
        for payload in [
            format!(r#"{{"exp":{exp},"iat":{now}}}"#),
            format!(r#"{{"exp":{exp}}}"#),
        ] {
            let token = hs256_with_header(&header, &payload);
            for layer in [hs256_layer(), with_max_lifetime()] {
                try_token(layer, &token).await.assert_rejected(
                    401,
                    "invalid_token",
                    "jwt lifetime exceeds the maximum",
                );
            }
            // Removing the bound leaves lifetimes to the issuer (documented in SECURITY.md).
            let unbounded = JwtLayer::builder()
                .key(Key::hmac(SECRET))
                .max_lifetime(Duration::MAX)
                .build()
                .unwrap();
            assert_eq!(try_token(unbounded, &token).await.status, 200, "{exp}");
        }
    }
}

/// A token with `exp` = u64::MAX reaches the revocation store: revoking it must neither panic
/// nor fail, and the revocation must hold.
#[tokio::test]
async fn revoking_a_token_with_a_huge_exp_works() {
    use tower_jwt_auth::{
        AuthError,
        revocation::{MemoryRevocationStore, Revoker, TokenFacts},
    };
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .max_lifetime(Duration::MAX)
        .revocations(MemoryRevocationStore::default())
        .build()
        .unwrap();
    let router = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .route(
            "/logout",
            axum::routing::get(|revoker: Revoker, token: TokenFacts| async move {
                revoker.revoke(&token).await?;
                Ok::<_, AuthError>("revoked")
            }),
        )
        .layer(layer);
    for exp in ["18446744073709551615", "1e308"] {
        let payload = format!(r#"{{"exp":{exp},"jti":"huge-{exp}"}}"#);
        let token = hs256_with_header(&json!({ "alg": "HS256" }), &payload);
        let answer = send(router.clone(), bearer(&token)).await;
        assert_eq!(answer.status, 200, "{exp}");
        let mut logout = bearer(&token);
        *logout.uri_mut() = "/logout".parse().unwrap();
        let answer = send(router.clone(), logout).await;
        assert_eq!(
            answer.status,
            200,
            "{exp}: {}",
            String::from_utf8_lossy(&answer.raw)
        );
        let answer = send(router.clone(), bearer(&token)).await;
        assert_eq!(assert_refused(&answer, &token), "jwt revoked", "{exp}");
    }
}

// ---------------------------------------------------------------------------------------------
// Size
// ---------------------------------------------------------------------------------------------

/// Sends `token` and asserts a refusal that took less than a second.
async fn refused_quickly(layer: JwtLayer, request: Request<Body>, token: &str) -> String {
    let started = Instant::now();
    let answer = send(app(layer), request).await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert_refused(&answer, token)
}

#[tokio::test]
async fn huge_tokens_are_refused_quickly() {
    let header = b64(r#"{"alg":"HS256"}"#);
    let mebibyte_payload = b64(vec![b'a'; 1024 * 1024]);
    let mebibyte_token = format!("{header}.{mebibyte_payload}.{}", b64([7u8; 32]));
    let dots = ".".repeat(100_000);
    let unbroken = "A".repeat(1024 * 1024);
    let huge_cap = || {
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .max_token_len(4 * 1024 * 1024)
            .build()
            .unwrap()
    };
    let cookie = || with_source(TokenSource::cookie());
    for token in [&mebibyte_token, &dots, &unbroken] {
        let description = refused_quickly(hs256_layer(), bearer(token), token).await;
        assert_eq!(description, "jwt malformed");
        let request = get_with(&[("cookie", &format!("auth={token}"))]);
        let description = refused_quickly(cookie(), request, token).await;
        assert_eq!(description, "jwt malformed");
        // With the cap raised out of the way, the parser itself must stay linear.
        refused_quickly(huge_cap(), bearer(token), token).await;
    }
    let description = refused_quickly(huge_cap(), bearer(&dots), &dots).await;
    assert_eq!(description, "jwt malformed");
    let description = refused_quickly(huge_cap(), bearer(&mebibyte_token), &mebibyte_token).await;
    assert_eq!(description, "invalid signature");
}

// ---------------------------------------------------------------------------------------------
// Header and cookie bytes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn obs_text_in_authorization_is_refused() {
    let token = hs256(&claims());
    let values: Vec<Vec<u8>> = vec![
        b"Bearer \xff\xfe.a.b".to_vec(),
        [b"Bearer ", token.as_bytes(), b"\x80"].concat(),
        [b"\xffBearer ", token.as_bytes()].concat(),
        [b"Bearer\xa0", token.as_bytes()].concat(),
        [
            b"Bearer ",
            &token.as_bytes()[..20],
            b"\xc3\xa9",
            &token.as_bytes()[20..],
        ]
        .concat(),
        "Bearer é.é.é".as_bytes().to_vec(),
        [b"Bearer\t", token.as_bytes()].concat(),
    ];
    for value in values {
        let value = HeaderValue::from_bytes(&value).unwrap();
        let answer = send(
            app(hs256_layer()),
            request_with(&[("authorization", value)]),
        )
        .await;
        let description = assert_refused(&answer, &token);
        assert_eq!(
            description,
            "Expected a bearer token. Scheme is Authorization: Bearer <token>."
        );
    }
}

#[tokio::test]
async fn obs_text_in_cookies_is_refused() {
    let token = hs256(&claims());
    let cookie = || with_source(TokenSource::cookie());
    // An auth cookie that is not UTF-8 is nobody's token: the cookie is not found.
    for value in [
        b"auth=\xff\xfe".to_vec(),
        [b"auth=", token.as_bytes(), b"\x80"].concat(),
    ] {
        let value = HeaderValue::from_bytes(&value).unwrap();
        let answer = send(app(cookie()), request_with(&[("cookie", value)])).await;
        assert_eq!(assert_refused(&answer, &token), "Auth cookie not found.");
    }
    // UTF-8 that is not base64url: malformed.
    for value in ["auth=é.é.é", "auth=\u{202e}abc.def.ghi"] {
        let value = HeaderValue::from_str(value).unwrap();
        let answer = send(app(cookie()), request_with(&[("cookie", value)])).await;
        assert_eq!(assert_refused(&answer, &token), "jwt malformed");
    }
}

/// CR, LF and NUL cannot reach the layer: the `http` crate refuses them in any header value,
/// so header splitting through the token is impossible at the type level.
#[test]
fn cr_lf_and_nul_cannot_be_put_in_a_header_value() {
    for value in [
        &b"Bearer a.b.c\r\nX-Injected: 1"[..],
        b"Bearer a.b.c\n",
        b"Bearer a.b.c\r",
        b"Bearer a\0.b.c",
        b"auth=a.b.c\r\nSet-Cookie: auth=x",
        b"\x7f",
        b"Bearer a.b.c\x0b",
        b"Bearer \x1b[31m",
    ] {
        assert!(HeaderValue::from_bytes(value).is_err(), "{value:?}");
    }
    assert!(
        Request::get("/")
            .header("authorization", "Bearer a.b.c\r\nX-Injected: 1")
            .body(())
            .is_err()
    );
    assert!(
        Request::get("/")
            .header("cookie", "auth=a\nb")
            .body(())
            .is_err()
    );
}

#[tokio::test]
async fn duplicate_auth_cookies_are_refused() {
    let a = hs256(&claims());
    let b = hs256(&json!({ "sub": "mallory", "exp": now() + 600 }));
    let multiple = "Multiple tokens in request.";
    for source in [TokenSource::cookie(), TokenSource::header_or_cookie()] {
        let cases = [
            vec![format!("auth={a}; auth={b}")],
            vec![format!("auth={a}; auth={a}")],
            vec![format!("auth={a}; theme=dark; auth=garbage")],
            vec![format!("auth={a}"), format!("auth={b}")],
            vec![format!("theme=dark; auth={a}"), format!("auth={a}")],
        ];
        for cookies in cases {
            let headers: Vec<(&'static str, HeaderValue)> = cookies
                .iter()
                .map(|c| ("cookie", HeaderValue::from_str(c).unwrap()))
                .collect();
            let answer = send(app(with_source(source.clone())), request_with(&headers)).await;
            assert_eq!(assert_refused(&answer, &a), multiple, "{cookies:?}");
            assert_no_echo(&answer, b.as_bytes());
        }
    }
    // A header and a cookie together, when both sources are enabled.
    let headers = [
        (
            "authorization",
            HeaderValue::from_str(&format!("Bearer {a}")).unwrap(),
        ),
        (
            "cookie",
            HeaderValue::from_str(&format!("auth={a}")).unwrap(),
        ),
    ];
    let answer = send(
        app(with_source(TokenSource::header_or_cookie())),
        request_with(&headers),
    )
    .await;
    assert_eq!(assert_refused(&answer, &a), multiple);
}
