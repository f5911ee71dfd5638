//! Helpers shared by the integration tests: keys, token minting, a small app, a request runner.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_jwt_auth::{Claims, JsonClaims, JwtLayer, Key};

pub const SECRET: &[u8] = b"test-secret-that-is-long-enough-for-hs512-and-then-some-more-bytes!";

pub fn key_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims valid for ten minutes.
pub fn claims() -> Value {
    json!({ "sub": "alice", "exp": now() + 600, "iat": now() })
}

/// The private key used to sign for `alg` (the first key of its family).
pub fn encoding_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => EncodingKey::from_secret(SECRET),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&key_file("ec256.key")).unwrap(),
        Algorithm::ES384 => EncodingKey::from_ec_pem(&key_file("ec384.key")).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&key_file("ed25519.key")).unwrap(),
        _ => EncodingKey::from_rsa_pem(&key_file("rsa.key")).unwrap(),
    }
}

/// The public key matching [`encoding_key`].
pub fn decoding_key(alg: Algorithm) -> Key {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Key::hmac(SECRET),
        Algorithm::ES256 => Key::ec_pem(key_file("ec256.pub.pem")).unwrap(),
        Algorithm::ES384 => Key::ec_pem(key_file("ec384.pub.pem")).unwrap(),
        Algorithm::EdDSA => Key::ed_pem(key_file("ed25519.pub.pem")).unwrap(),
        _ => Key::rsa_pem(key_file("rsa.pub.pem")).unwrap(),
    }
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs exactly the given header and payload texts, so tests control every byte.
pub fn sign_raw(header: &str, payload: &str, alg: Algorithm, key: &EncodingKey) -> String {
    // With both crypto features enabled, jsonwebtoken cannot pick a backend by itself.
    tower_jwt_auth::install_crypto_provider().unwrap();
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

/// Signs `claims` with `alg` and the test key of its family.
pub fn token_with(alg: Algorithm, claims: &Value) -> String {
    let header = json!({ "alg": alg, "typ": "JWT" }).to_string();
    sign_raw(&header, &claims.to_string(), alg, &encoding_key(alg))
}

/// An HS256 token for `claims`.
pub fn hs256(claims: &Value) -> String {
    token_with(Algorithm::HS256, claims)
}

/// An HS256 token with a `kid`.
pub fn hs256_kid(kid: &str, secret: &[u8], claims: &Value) -> String {
    let header = json!({ "alg": "HS256", "kid": kid }).to_string();
    sign_raw(
        &header,
        &claims.to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(secret),
    )
}

pub fn hs256_layer() -> JwtLayer {
    JwtLayer::builder().key(Key::hmac(SECRET)).build().unwrap()
}

async fn whoami(claims: Option<Claims>) -> Json<Value> {
    Json(json!({ "user": claims.as_ref().and_then(|c| c.subject()) }))
}

async fn echo_claims(Claims(claims): Claims<JsonClaims>) -> Json<JsonClaims> {
    Json(claims)
}

/// `/` answers `{"user": <sub or null>}`; `/claims` echoes the claims.
pub fn app(layer: JwtLayer) -> Router {
    Router::new()
        .route("/", get(whoami))
        .route("/claims", get(echo_claims))
        .layer(layer)
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Answer {
    pub fn challenge(&self) -> &str {
        self.headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Asserts the whole rejection: status, JSON body, content type and challenge.
    pub fn assert_rejected(&self, status: u16, code: &str, description: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.body,
            json!({ "code": code, "description": description })
        );
        assert_eq!(self.headers["content-type"], "application/json");
        assert_eq!(
            self.challenge(),
            format!(r#"Bearer error="{code}", error_description="{description}""#)
        );
    }

    /// Asserts the 401 of a route that found no verified claims: bare `Bearer` challenge.
    pub fn assert_unauthenticated(&self) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "body: {}", self.body);
        assert_eq!(
            self.body,
            json!({ "code": "unauthorized", "description": "Authentication required." })
        );
        assert_eq!(self.headers["content-type"], "application/json");
        assert_eq!(self.challenge(), "Bearer");
    }

    pub fn assert_user(&self, user: Option<&str>) {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert_eq!(self.body, json!({ "user": user }));
    }
}

pub async fn send(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let raw = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

pub fn get_with(headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::get("/");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

pub fn bearer(token: &str) -> Request<Body> {
    get_with(&[("authorization", &format!("Bearer {token}"))])
}

/// Sends `token` as a bearer token to an app behind `layer`.
pub async fn try_token(layer: JwtLayer, token: &str) -> Answer {
    send(app(layer), bearer(token)).await
}
