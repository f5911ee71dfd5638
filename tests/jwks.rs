//! Remote key sets against a real JWKS / discovery server on 127.0.0.1 that counts its hits.
#![cfg(feature = "jwks")]

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tower_jwt_auth::{JwtLayer, jwks::RemoteKeySet};

/// What the fake identity provider serves, and how.
struct Idp {
    base: String,
    jwks: Mutex<Value>,
    status: Mutex<StatusCode>,
    body_override: Mutex<Option<Vec<u8>>>,
    delay_ms: AtomicU64,
    cache_control: Mutex<Option<String>>,
    discovery_issuer: Mutex<Option<String>>,
    jwks_hits: AtomicUsize,
}

impl Idp {
    async fn start() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let idp = Arc::new(Idp {
            base,
            jwks: Mutex::new(json!({ "keys": [] })),
            status: Mutex::new(StatusCode::OK),
            body_override: Mutex::new(None),
            delay_ms: AtomicU64::new(0),
            cache_control: Mutex::new(None),
            discovery_issuer: Mutex::new(None),
            jwks_hits: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/jwks", get(serve_jwks))
            .route("/.well-known/openid-configuration", get(serve_discovery))
            .with_state(idp.clone());
        tokio::spawn(axum::serve(listener, app).into_future());
        idp
    }

    fn url(&self) -> String {
        format!("{}/jwks", self.base)
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    fn hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(idp): State<Arc<Idp>>) -> Response {
    idp.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let delay = idp.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = *idp.status.lock().unwrap();
    let body = idp
        .body_override
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| idp.jwks.lock().unwrap().to_string().into_bytes());
    let mut response = (status, body).into_response();
    if let Some(cache_control) = idp.cache_control.lock().unwrap().clone() {
        response
            .headers_mut()
            .insert("cache-control", cache_control.parse().unwrap());
    }
    response
}

async fn serve_discovery(State(idp): State<Arc<Idp>>) -> Response {
    let issuer = idp
        .discovery_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| idp.base.clone());
    axum::Json(json!({ "issuer": issuer, "jwks_uri": idp.url() })).into_response()
}

/// The public JWK of a private key, with a kid.
fn rsa2_jwk(kid: &str) -> Value {
    let key = EncodingKey::from_rsa_pem(&key_file("rsa2.key")).unwrap();
    public_jwk(&key, Algorithm::RS256, kid)
}

fn rsa2_signed(kid: &str) -> String {
    let header = json!({ "alg": "RS256", "kid": kid }).to_string();
    let key = EncodingKey::from_rsa_pem(&key_file("rsa2.key")).unwrap();
    sign_raw(&header, &claims().to_string(), Algorithm::RS256, &key)
}

fn remote(idp: &Idp, cooldown: Duration) -> RemoteKeySet {
    RemoteKeySet::builder()
        .jwks_url(idp.url())
        .cooldown(cooldown)
        .build()
        .unwrap()
}

fn layer(keys: RemoteKeySet) -> JwtLayer {
    JwtLayer::builder().remote_keys(keys).build().unwrap()
}

async fn status_of(layer: &JwtLayer, token: &str) -> u16 {
    try_token(layer.clone(), token).await.status.as_u16()
}

#[tokio::test]
async fn tokens_verify_against_the_published_keys_of_every_family() {
    let idp = Idp::start().await;
    let algs = [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    idp.serve(
        algs.iter()
            .map(|alg| jwk(*alg, &format!("{alg:?}")))
            .collect(),
    );
    let layer = layer(remote(&idp, Duration::from_secs(30)));
    for alg in algs {
        let answer = try_token(layer.clone(), &kid_signed(alg, &format!("{alg:?}"))).await;
        answer.assert_user(Some("alice"));
    }
    assert_eq!(idp.hits(), 1, "one fetch serves every later request");
}

#[tokio::test]
async fn rotation_picks_up_new_kids_and_drops_removed_ones() {
    let idp = Idp::start().await;
    idp.serve(vec![jwk(Algorithm::RS256, "old")]);
    let layer = layer(remote(&idp, Duration::from_millis(100)));
    assert_eq!(
        status_of(&layer, &kid_signed(Algorithm::RS256, "old")).await,
        200
    );

    idp.serve(vec![rsa2_jwk("new")]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        status_of(&layer, &rsa2_signed("new")).await,
        200,
        "the unknown kid triggers a refetch"
    );
    // "old" is cached from the first fetch? No: the refetch replaced the snapshot.
    try_token(layer.clone(), &kid_signed(Algorithm::RS256, "old"))
        .await
        .assert_rejected(401, "invalid_token", "invalid kid");
    assert_eq!(idp.hits(), 2);
}

#[tokio::test]
async fn unknown_kid_flood_is_bounded_by_the_cooldown() {
    let idp = Idp::start().await;
    idp.serve(vec![jwk(Algorithm::RS256, "known")]);
    let layer = layer(remote(&idp, Duration::from_millis(300)));
    let known = kid_signed(Algorithm::RS256, "known");
    assert_eq!(status_of(&layer, &known).await, 200);
    // Within the cooldown of the first fetch, unknown kids cause no fetch at all.
    let early = kid_signed(Algorithm::RS256, "attacker-early");
    try_token(layer.clone(), &early)
        .await
        .assert_rejected(401, "invalid_token", "invalid kid");
    assert_eq!(idp.hits(), 1);
    // After it, a flood of unknown kids costs one fetch per cooldown.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let started = Instant::now();
    let flood = (0..200).map(|i| {
        let (layer, token) = (
            layer.clone(),
            kid_signed(Algorithm::RS256, &format!("attacker-{i}")),
        );
        tokio::spawn(async move { try_token(layer, &token).await.status })
    });
    for status in futures_util::future::join_all(flood).await {
        assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let cooldowns = started.elapsed().as_millis() / 300 + 1;
    let refetches = idp.hits() - 1;
    assert!(
        (1..=cooldowns as usize).contains(&refetches),
        "{refetches} refetches for 200 unknown kids in {cooldowns} cooldown(s)"
    );
    assert_eq!(status_of(&layer, &known).await, 200);
}

#[tokio::test]
async fn concurrent_requests_with_one_new_kid_make_one_fetch() {
    let idp = Idp::start().await;
    idp.serve(vec![jwk(Algorithm::RS256, "a")]);
    let layer = layer(remote(&idp, Duration::from_millis(50)));
    assert_eq!(
        status_of(&layer, &kid_signed(Algorithm::RS256, "a")).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(60)).await;

    idp.serve(vec![jwk(Algorithm::RS256, "a"), rsa2_jwk("b")]);
    idp.delay_ms.store(200, Ordering::SeqCst);
    let token = rsa2_signed("b");
    let requests = (0..100).map(|_| {
        let (layer, token) = (layer.clone(), token.clone());
        tokio::spawn(async move { status_of(&layer, &token).await })
    });
    for status in futures_util::future::join_all(requests).await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(
        idp.hits(),
        2,
        "100 concurrent requests, one single-flight fetch"
    );
}

#[tokio::test]
async fn last_good_keys_keep_serving_when_the_endpoint_breaks() {
    let idp = Idp::start().await;
    idp.serve(vec![jwk(Algorithm::ES256, "good")]);
    let keys = RemoteKeySet::builder()
        .jwks_url(idp.url())
        .cooldown(Duration::from_millis(20))
        .http_client(
            reqwest::Client::builder()
                .timeout(Duration::from_millis(300))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let layer = layer(keys);
    let good = kid_signed(Algorithm::ES256, "good");
    assert_eq!(status_of(&layer, &good).await, 200);

    type Breakage = Box<dyn Fn(&Idp)>;
    let breakages: Vec<(&str, Breakage)> = vec![
        (
            "500",
            Box::new(|idp| *idp.status.lock().unwrap() = StatusCode::INTERNAL_SERVER_ERROR),
        ),
        (
            "slow",
            Box::new(|idp| idp.delay_ms.store(1000, Ordering::SeqCst)),
        ),
        (
            "huge",
            Box::new(|idp| *idp.body_override.lock().unwrap() = Some(vec![b' '; 2 * 1024 * 1024])),
        ),
        (
            "invalid json",
            Box::new(|idp| *idp.body_override.lock().unwrap() = Some(b"{not json".to_vec())),
        ),
        (
            "empty set",
            Box::new(|idp| *idp.body_override.lock().unwrap() = Some(br#"{"keys":[]}"#.to_vec())),
        ),
        (
            "only unusable keys",
            Box::new(|idp| idp.serve(vec![json!({ "kty": "oct", "k": "AAAA", "kid": "x" })])),
        ),
    ];
    for (name, break_it) in breakages {
        break_it(&idp);
        let hits = idp.hits();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // An unknown kid forces a refetch, which fails...
        let started = Instant::now();
        let unknown = kid_signed(Algorithm::ES256, "unknown");
        try_token(layer.clone(), &unknown).await.assert_rejected(
            401,
            "invalid_token",
            "invalid kid",
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name}: {:?}",
            started.elapsed()
        );
        assert_eq!(idp.hits(), hits + 1, "{name}");
        // ...and the last good keys still verify.
        assert_eq!(status_of(&layer, &good).await, 200, "{name}");
        // Repair for the next breakage.
        *idp.status.lock().unwrap() = StatusCode::OK;
        idp.delay_ms.store(0, Ordering::SeqCst);
        *idp.body_override.lock().unwrap() = None;
        idp.serve(vec![jwk(Algorithm::ES256, "good")]);
    }
}

#[tokio::test]
async fn no_keys_ever_loaded_is_503_not_401() {
    let idp = Idp::start().await;
    *idp.status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
    let layer = layer(remote(&idp, Duration::from_secs(30)));
    let answer = try_token(layer.clone(), &kid_signed(Algorithm::RS256, "k")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.body["code"], "temporarily_unavailable");
    assert_eq!(answer.headers["retry-after"], "5");
    // Within the cooldown, no second fetch: still 503.
    assert_eq!(
        status_of(&layer, &kid_signed(Algorithm::RS256, "k")).await,
        503
    );
    assert_eq!(idp.hits(), 1);
}

#[tokio::test]
async fn unreachable_endpoint_is_503() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let keys = RemoteKeySet::builder()
        .jwks_url(format!("http://127.0.0.1:{port}/jwks"))
        .build()
        .unwrap();
    let answer = try_token(layer(keys), &kid_signed(Algorithm::RS256, "k")).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn key_policy_keeps_only_verification_keys() {
    let idp = Idp::start().await;
    let mut enc = jwk(Algorithm::ES256, "enc");
    enc["use"] = json!("enc");
    let mut ops = jwk(Algorithm::ES384, "ops");
    ops["key_ops"] = json!(["encrypt"]);
    let mut bound = jwk(Algorithm::RS256, "bound");
    bound["alg"] = json!("RS256");
    // aws-lc refuses to even load a 1024-bit private key, so its public JWK is a fixture.
    let weak_rsa: Value = serde_json::from_slice(&key_file("rsa1024.jwk.json")).unwrap();
    let small_order =
        json!({ "kty": "OKP", "crv": "Ed25519", "x": b64([0u8; 32]), "kid": "small" });
    let oct = json!({ "kty": "oct", "k": b64(SECRET), "kid": "oct", "alg": "HS256" });
    let unsupported =
        json!({ "kty": "OKP", "crv": "X25519", "x": b64([9u8; 32]), "kid": "x25519" });
    let p521 = json!({ "kty": "EC", "crv": "P-521", "x": b64([1u8; 66]), "y": b64([2u8; 66]), "kid": "p521" });
    let mut dup_a = jwk(Algorithm::EdDSA, "dup");
    dup_a["use"] = json!("sig");
    let dup_b = rsa2_jwk("dup");
    // A P-256 point off the curve: the crypto library cannot verify with it.
    let mut bent = jwk(Algorithm::ES256, "bent");
    let mut y = URL_SAFE_NO_PAD.decode(bent["y"].as_str().unwrap()).unwrap();
    y[31] ^= 1;
    bent["y"] = json!(b64(y));
    idp.serve(vec![
        bent,
        enc,
        ops,
        bound,
        weak_rsa,
        small_order,
        oct,
        unsupported,
        p521,
        dup_a,
        dup_b,
        jwk(Algorithm::EdDSA, "fine"),
    ]);
    let layer = layer(remote(&idp, Duration::from_secs(30)));

    assert_eq!(
        status_of(&layer, &kid_signed(Algorithm::EdDSA, "fine")).await,
        200,
        "usable keys survive"
    );
    assert_eq!(
        status_of(&layer, &kid_signed(Algorithm::RS256, "bound")).await,
        200
    );
    try_token(layer.clone(), &kid_signed(Algorithm::PS256, "bound"))
        .await
        .assert_rejected(401, "invalid_token", "invalid algorithm");
    for kid in [
        "enc", "ops", "weak", "small", "oct", "x25519", "p521", "dup", "bent",
    ] {
        let alg = match kid {
            "enc" | "bent" => Algorithm::ES256,
            "ops" => Algorithm::ES384,
            "oct" => Algorithm::HS256,
            "dup" => Algorithm::EdDSA,
            _ => Algorithm::RS256,
        };
        try_token(layer.clone(), &kid_signed(alg, kid))
            .await
            .assert_rejected(401, "invalid_token", "invalid kid");
    }
}

#[tokio::test]
async fn several_keys_require_a_kid() {
    let idp = Idp::start().await;
    idp.serve(vec![jwk(Algorithm::RS256, "a"), jwk(Algorithm::ES256, "b")]);
    let layer = layer(remote(&idp, Duration::from_secs(30)));
    assert_eq!(
        status_of(&layer, &kid_signed(Algorithm::RS256, "a")).await,
        200
    );
    let no_kid = token_with(Algorithm::RS256, &claims());
    try_token(layer, &no_kid)
        .await
        .assert_rejected(401, "invalid_token", "missing kid");
}

#[tokio::test]
async fn background_refresh_follows_cache_control_max_age() {
    let idp = Idp::start().await;
    idp.serve(vec![jwk(Algorithm::RS256, "a")]);
    *idp.cache_control.lock().unwrap() = Some("public, max-age=1".into());
    let keys = RemoteKeySet::builder()
        .jwks_url(idp.url())
        .cooldown(Duration::from_millis(100))
        .refresh_bounds(Duration::from_secs(1), Duration::from_secs(60))
        .build()
        .unwrap();
    let layer = layer(keys);
    assert_eq!(
        status_of(&layer, &kid_signed(Algorithm::RS256, "a")).await,
        200
    );
    // Without any request, the background task refetches about once a second.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let hits = idp.hits();
    assert!(
        (3..=5).contains(&hits),
        "{hits} fetches in 3.5 s with max-age=1"
    );
}

#[tokio::test]
async fn discovery_finds_the_jwks_and_checks_the_issuer() {
    let idp = Idp::start().await;
    idp.serve(vec![jwk(Algorithm::ES256, "k")]);
    let keys = RemoteKeySet::builder()
        .oidc_issuer(idp.base.clone())
        .build()
        .unwrap();
    let layer = JwtLayer::builder()
        .remote_keys(keys)
        .issuer(idp.base.clone())
        .build()
        .unwrap();
    let header = json!({ "alg": "ES256", "kid": "k" }).to_string();
    let claims = json!({ "sub": "alice", "exp": now() + 60, "iss": idp.base });
    let token = sign_raw(
        &header,
        &claims.to_string(),
        Algorithm::ES256,
        &encoding_key(Algorithm::ES256),
    );
    assert_eq!(try_token(layer, &token).await.status, 200);

    let impostor = Idp::start().await;
    impostor.serve(vec![jwk(Algorithm::ES256, "k")]);
    *impostor.discovery_issuer.lock().unwrap() = Some("https://someone-else.example".into());
    let keys = RemoteKeySet::builder()
        .oidc_issuer(impostor.base.clone())
        .build()
        .unwrap();
    let answer = try_token(
        JwtLayer::builder().remote_keys(keys).build().unwrap(),
        &token,
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a mismatched issuer loads no keys"
    );
    assert_eq!(
        impostor.hits(),
        0,
        "the JWKS of a mismatched issuer is never fetched"
    );
}

#[tokio::test]
async fn each_trusted_issuer_has_its_own_key_set() {
    let (first, second) = (Idp::start().await, Idp::start().await);
    first.serve(vec![jwk(Algorithm::RS256, "shared-kid")]);
    second.serve(vec![rsa2_jwk("shared-kid")]);
    let layer = JwtLayer::builder()
        .issuer_keys(
            "https://one.example",
            remote(&first, Duration::from_secs(30)),
        )
        .issuer_keys(
            "https://two.example",
            remote(&second, Duration::from_secs(30)),
        )
        .build()
        .unwrap();
    let header = json!({ "alg": "RS256", "kid": "shared-kid" }).to_string();
    let mint = |iss: &str, key: &EncodingKey| {
        let claims = json!({ "sub": "alice", "exp": now() + 60, "iss": iss });
        sign_raw(&header, &claims.to_string(), Algorithm::RS256, key)
    };
    let first_key = encoding_key(Algorithm::RS256);
    let second_key = EncodingKey::from_rsa_pem(&key_file("rsa2.key")).unwrap();
    assert_eq!(
        status_of(&layer, &mint("https://one.example", &first_key)).await,
        200
    );
    assert_eq!(
        status_of(&layer, &mint("https://two.example", &second_key)).await,
        200
    );
    // Issuer one's name with issuer two's key: issuer one's keys are used, and refuse it.
    try_token(layer.clone(), &mint("https://one.example", &second_key))
        .await
        .assert_rejected(401, "invalid_token", "invalid signature");
    try_token(layer, &mint("https://evil.example", &second_key))
        .await
        .assert_rejected(
            401,
            "invalid_token",
            "jwt issuer invalid. expected: https://one.example,https://two.example",
        );
}

#[test]
fn static_and_remote_keys_do_not_mix() {
    let keys = RemoteKeySet::builder()
        .jwks_url("http://127.0.0.1:9/jwks")
        .build()
        .unwrap();
    let result = JwtLayer::builder()
        .key(tower_jwt_auth::Key::hmac(SECRET))
        .remote_keys(keys)
        .build();
    assert_eq!(
        result.unwrap_err(),
        tower_jwt_auth::error::ConfigError::MixedKeySources
    );
    assert!(
        RemoteKeySet::builder()
            .jwks_url("not a url")
            .build()
            .is_err()
    );
}
