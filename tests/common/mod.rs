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
use tower_jwt_auth::{Claims, JwtLayer, Key, claims::JsonClaims};

mod descriptions;

#[allow(unused_imports)]
pub use descriptions::{
    CONFIGURED_DESCRIPTION_PREFIXES, DPOP_PROOF_DESCRIPTION_PREFIX, REFUSAL_DESCRIPTIONS,
};

pub const SECRET: &[u8] = b"test-secret-that-is-long-enough-for-hs512-and-then-some-more-bytes!";

pub fn key_file(name: &str) -> Vec<u8> {
    // The library's tests/keys, also from the demo package (demo/).
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let keys = [package, package.parent().unwrap_or(package)]
        .map(|root| root.join("tests/keys"))
        .into_iter()
        .find(|keys| keys.is_dir())
        .unwrap_or_else(|| package.join("tests/keys"));
    let path = keys.join(name).display().to_string();
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A loopback port nothing listens on (as of now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    tower_jwt_auth::keys::install_crypto_provider().unwrap();
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

/// An HS256 token of exactly these header and payload texts, signed with the tests' secret.
pub fn hs256_raw(header: &str, payload: &str) -> String {
    sign_raw(
        header,
        payload,
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET),
    )
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

async fn echo_claims(claims: Claims<JsonClaims>) -> Json<JsonClaims> {
    Json(claims.into_inner())
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

    /// Asserts the 500 of a guard or extractor that cannot work where it is: no body, no
    /// challenge (the client did nothing wrong).
    pub fn assert_misconfigured(&self) {
        assert_eq!(
            self.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "body: {}",
            self.body
        );
        assert!(self.raw.is_empty(), "body: {}", self.body);
        assert!(!self.headers.contains_key("www-authenticate"));
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

/// The status of `token` through `layer`, which must never be a 5xx (a key rollover's).
pub async fn status_below_500(layer: &JwtLayer, token: &str) -> u16 {
    let status = try_token(layer.clone(), token).await.status.as_u16();
    assert!(status < 500, "a {status} on the way");
    status
}

/// `%x20-21 / %x23-5B / %x5D-7E` (RFC 6750 §3).
pub fn is_rfc6750_text(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// The longest run of the token's bytes a response may repeat without counting as an echo.
pub const ECHO_LIMIT: usize = 10;

/// Panics when the response (any header value or the body) repeats more than [`ECHO_LIMIT`]
/// consecutive bytes of `secret`.
pub fn assert_no_echo(answer: &Answer, secret: &[u8]) {
    let window = ECHO_LIMIT + 1;
    let mut parts: Vec<&[u8]> = answer.headers.values().map(|v| v.as_bytes()).collect();
    parts.push(&answer.raw);
    // The responses are short and the secrets may be megabytes (and the tests run unoptimized):
    // hash every window of the response, then roll one hash over the secret (Rabin-Karp).
    let mut wanted: Vec<(u64, &[u8])> = parts
        .iter()
        .flat_map(|part| part.windows(window))
        .map(|piece| (window_hash(piece), piece))
        .collect();
    wanted.sort_unstable();
    if wanted.is_empty() || secret.len() < window {
        return;
    }
    let high = (1..window).fold(1u64, |pow, _| pow.wrapping_mul(HASH_BASE));
    let mut hash = window_hash(&secret[..window]);
    for start in 0..=secret.len() - window {
        if start > 0 {
            let gone = u64::from(secret[start - 1]).wrapping_mul(high);
            let new = u64::from(secret[start + window - 1]);
            hash = hash
                .wrapping_sub(gone)
                .wrapping_mul(HASH_BASE)
                .wrapping_add(new);
        }
        let candidates = wanted.partition_point(|(h, _)| *h < hash);
        for (h, piece) in &wanted[candidates..] {
            if *h != hash {
                break;
            }
            let here = &secret[start..start + window];
            assert!(
                here != *piece,
                "the response repeats {:?} from the token",
                String::from_utf8_lossy(piece)
            );
        }
    }
}

const HASH_BASE: u64 = 257;

fn window_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |hash, byte| {
        hash.wrapping_mul(HASH_BASE).wrapping_add(u64::from(*byte))
    })
}

/// Asserts a refusal from the error table for a bad token or a bad request: 400
/// `invalid_request` or 401 `invalid_token` (never 2xx, never 5xx), the JSON body, the content
/// type and the exact challenge, and no piece of `token` longer than [`ECHO_LIMIT`] in the
/// response. Returns the description.
pub fn assert_refused(answer: &Answer, token: &str) -> String {
    let status = answer.status.as_u16();
    let code = match status {
        400 => "invalid_request",
        401 => "invalid_token",
        _ => panic!(
            "expected a 400 or 401 refusal, got {status}: {}",
            String::from_utf8_lossy(&answer.raw)
        ),
    };
    let description = answer.body["description"]
        .as_str()
        .unwrap_or_else(|| panic!("no description in {}", String::from_utf8_lossy(&answer.raw)))
        .to_owned();
    assert_eq!(
        answer.body,
        serde_json::json!({ "code": code, "description": description }),
        "the body is exactly {{code, description}}"
    );
    assert!(
        REFUSAL_DESCRIPTIONS.contains(&description.as_str())
            || CONFIGURED_DESCRIPTION_PREFIXES
                .iter()
                .any(|prefix| description.starts_with(prefix)),
        "{description:?} is not in the error table"
    );
    assert!(is_rfc6750_text(&description), "{description:?}");
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(
        answer.challenge(),
        format!(r#"Bearer error="{code}", error_description="{description}""#)
    );
    assert_no_echo(answer, token.as_bytes());
    description
}

/// Logs the presented token out.
pub async fn logout(
    revoker: tower_jwt_auth::revocation::Revoker,
    token: tower_jwt_auth::revocation::TokenFacts,
) -> Result<StatusCode, tower_jwt_auth::AuthError> {
    revoker.revoke(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Logs the presented token's subject out everywhere.
pub async fn logout_all(
    revoker: tower_jwt_auth::revocation::Revoker,
    token: tower_jwt_auth::revocation::TokenFacts,
) -> Result<StatusCode, tower_jwt_auth::AuthError> {
    revoker
        .revoke_subject(token.sub().unwrap_or_default())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /` answers the subject; `GET /id` the token's revocation id; `POST /logout` and
/// `POST /logout-all` revoke.
pub fn revoking_app(layer: JwtLayer) -> Router {
    use axum::routing::post;
    Router::new()
        .route(
            "/",
            get(|Claims(c): Claims| async move { c.subject().unwrap_or("").to_owned() }),
        )
        .route(
            "/id",
            get(|facts: tower_jwt_auth::revocation::TokenFacts| async move { facts.revocation_id() }),
        )
        .route("/logout", post(logout))
        .route("/logout-all", post(logout_all))
        .layer(layer)
}

/// An instance of [`revoking_app`] checking revocations in `store`, failing closed after
/// 500 ms.
pub fn revoking_instance(store: impl tower_jwt_auth::revocation::RevocationStore) -> Router {
    revoking_app(
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .revocations(store)
            .backend_timeout(std::time::Duration::from_millis(500))
            .build()
            .unwrap(),
    )
}

/// The status `app` answers a bearer request for `token` with `method` to `path`.
pub async fn status_of(app: &Router, method: http::Method, path: &str, token: &str) -> u16 {
    send(app.clone(), bearer_to(method, path, token))
        .await
        .status
        .as_u16()
}

/// Polls `GET /` with `token` until `app` answers `expected`, within `bound`: how long it
/// took.
pub async fn until_status(
    app: &Router,
    token: &str,
    expected: u16,
    bound: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let got = status_of(app, http::Method::GET, "/", token).await;
        if got == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "still {got} after {:?}, expected {expected}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Rotates the token `token_hash` of `store` (of `family` and `subject`) straight through the
/// store, at `now`, to a successor of the same family that no session will use: what the store
/// answers for that token.
pub async fn rotate_in_store(
    store: &impl tower_jwt_auth::refresh::RefreshStore,
    token_hash: &str,
    (family, subject): (&str, &str),
    now: u64,
) -> tower_jwt_auth::refresh::Consumed {
    let successor: tower_jwt_auth::refresh::RefreshRecord = serde_json::from_value(json!({
        "token_hash": format!("successor-of-{token_hash}"), "subject": subject,
        "family": family, "family_issued_at": now, "issued_at": now, "expires_at": now + 60,
        "claims": {}
    }))
    .unwrap();
    let rotation = tower_jwt_auth::refresh::Rotation {
        token_hash,
        successor: &successor,
        now,
        deadline_ms: u64::MAX,
        reuse_grace: std::time::Duration::ZERO,
    };
    store.rotate(&rotation).await.unwrap()
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl TestClock {
    pub fn at(now: u64) -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(now)))
    }

    pub fn advance(&self, seconds: u64) {
        self.0
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn reader(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let now = self.0.clone();
        move || now.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The reuse grace, as any store must keep it: `sessions(clock, grace)` gives sessions of a
/// fresh store with that grace, on `clock`.
pub async fn reuse_grace_is_kept(
    sessions: impl Fn(&TestClock, std::time::Duration) -> tower_jwt_auth::refresh::Sessions,
) {
    use std::time::Duration;
    use tower_jwt_auth::error::SessionError;
    let alice = json!({ "sub": "alice" });
    let reused = |result: Result<tower_jwt_auth::refresh::TokenPair, SessionError>| {
        matches!(result, Err(SessionError::RefreshReused))
    };

    // Off (the default): the old token presented again ends the login.
    let clock = TestClock::at(now());
    let off = sessions(&clock, Duration::ZERO);
    let r0 = off.login(&alice).await.unwrap();
    let lost = off.rotate(r0.refresh_token()).await.unwrap();
    assert!(reused(off.rotate(r0.refresh_token()).await));
    assert!(off.rotate(lost.refresh_token()).await.is_err());

    // On: the old token rotates once more while its successor is unused; the unused
    // successor then stops working, and presenting it is a reuse that ends the login.
    let clock = TestClock::at(now());
    let on = sessions(&clock, Duration::from_secs(10));
    let r0 = on.login(&alice).await.unwrap();
    let lost = on.rotate(r0.refresh_token()).await.unwrap();
    clock.advance(5);
    let again = on.rotate(r0.refresh_token()).await.unwrap();
    assert_eq!(again.family(), r0.family());
    // Once only.
    assert!(reused(on.rotate(r0.refresh_token()).await));
    assert!(
        on.rotate(again.refresh_token()).await.is_err(),
        "the login ended"
    );

    let r0 = on.login(&alice).await.unwrap();
    let lost = {
        let _ = lost;
        on.rotate(r0.refresh_token()).await.unwrap()
    };
    let retried = on.rotate(r0.refresh_token()).await.unwrap();
    assert!(reused(on.rotate(lost.refresh_token()).await));
    assert!(
        on.rotate(retried.refresh_token()).await.is_err(),
        "the login ended"
    );

    // Not once the successor was used: that is a reuse.
    let r0 = on.login(&alice).await.unwrap();
    let r1 = on.rotate(r0.refresh_token()).await.unwrap();
    let _r2 = on.rotate(r1.refresh_token()).await.unwrap();
    assert!(reused(on.rotate(r0.refresh_token()).await));

    // Not past the grace.
    let r0 = on.login(&alice).await.unwrap();
    let _r1 = on.rotate(r0.refresh_token()).await.unwrap();
    clock.advance(11);
    assert!(reused(on.rotate(r0.refresh_token()).await));
}

/// A JWT's header (`part` 0) or claims (`part` 1) as JSON.
pub fn jwt_part(token: &str, part: usize) -> Value {
    let segment = token.split('.').nth(part).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// A JWT's claims as JSON.
pub fn payload(token: &str) -> Value {
    jwt_part(token, 1)
}

/// An HS256 token of `sub` issued at `iat`, valid for ten minutes, with `jti` when given.
pub fn user_token(sub: &str, jti: Option<&str>, iat: u64) -> String {
    let mut claims = json!({ "sub": sub, "iat": iat, "exp": now() + 600 });
    if let Some(jti) = jti {
        claims["jti"] = json!(jti);
    }
    hs256(&claims)
}

/// A bearer request for `token` with `method` to `path`.
pub fn bearer_to(method: http::Method, path: &str, token: &str) -> Request<Body> {
    let mut request = bearer(token);
    *request.method_mut() = method;
    *request.uri_mut() = path.parse().unwrap();
    request
}

/// Asserts that `token` passes: 200 with its subject.
pub async fn assert_passes(app: &Router, token: &str, sub: &str) {
    let answer = send(app.clone(), bearer(token)).await;
    assert_eq!(
        (answer.status, String::from_utf8_lossy(&answer.raw).as_ref()),
        (StatusCode::OK, sub),
        "the token should pass"
    );
}

/// Asserts that `token` is refused as revoked.
pub async fn assert_revoked(app: &Router, token: &str) {
    send(app.clone(), bearer(token))
        .await
        .assert_rejected(401, "invalid_token", "jwt revoked");
}

/// The status of a POST with `token` to `path`.
pub async fn post_status(app: &Router, path: &str, token: &str) -> StatusCode {
    send(app.clone(), bearer_to(http::Method::POST, path, token))
        .await
        .status
}

/// 32 rotations of `token` released at once, on as many tasks: the pairs of those that won.
/// Every other one must be refused as a reuse.
pub async fn rotate_concurrently(
    sessions: &tower_jwt_auth::refresh::Sessions,
    token: &str,
) -> Vec<tower_jwt_auth::refresh::TokenPair> {
    use std::sync::Arc;
    use tower_jwt_auth::error::SessionError;
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let sessions = sessions.clone();
            let token = token.to_owned();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                sessions.rotate(&token).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(pair) => winners.push(pair),
            Err(SessionError::RefreshReused) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    winners
}

/// A layer with two HMAC keys, chosen by `kid` (`k1`: [`SECRET`], `k2`).
pub fn two_key_layer() -> JwtLayer {
    JwtLayer::builder()
        .key(Key::hmac(SECRET).with_kid("k1"))
        .key(Key::hmac(b"second-secret-second-secret-second-secret").with_kid("k2"))
        .build()
        .unwrap()
}

/// One algorithm of each key family.
pub const ONE_ALGORITHM_A_FAMILY: [Algorithm; 5] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// A multi-threaded runtime of four workers, for tests of concurrent requests.
pub fn four_worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// The layer in front of the apps that `Sessions` issues for: HS256 with [`SECRET`], RFC 9068
/// access tokens, checked against `revocations`.
pub fn access_token_layer(
    revocations: impl tower_jwt_auth::revocation::RevocationStore,
) -> JwtLayer {
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .typ("at+jwt")
        .revocations(revocations)
        .build()
        .unwrap()
}

/// `token` with the first character of its signature changed: the same length, canonical
/// base64url still, and a signature that no longer verifies.
pub fn forged(token: &str) -> String {
    let at = token.rfind('.').unwrap() + 1;
    let first = if token.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    format!("{}{first}{}", &token[..at], &token[at + 1..])
}

/// The public JWK of `key` for `alg`, named `kid`.
pub fn public_jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    // jsonwebtoken derives the public half through its process-wide provider.
    tower_jwt_auth::keys::install_crypto_provider().unwrap();
    let mut jwk =
        serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(key, alg).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    jwk
}

/// The public JWK of the test key of `alg`.
pub fn jwk(alg: Algorithm, kid: &str) -> Value {
    public_jwk(&encoding_key(alg), alg, kid)
}

/// A token of [`claims`] signed with the test key of `alg`, naming `kid`.
pub fn kid_signed(alg: Algorithm, kid: &str) -> String {
    let header = json!({ "alg": alg, "kid": kid }).to_string();
    sign_raw(&header, &claims().to_string(), alg, &encoding_key(alg))
}
