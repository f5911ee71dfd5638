//! The verified-token cache: a hit skips the signature and the parse, and nothing else.
//!
//! Whether a request hit the cache is observed through a claims type that counts how often it
//! is deserialized: a miss parses the payload into it, a hit shares the cached value.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use common::*;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use tower_jwt_auth::{
    Claims, CurrentUser, JwtLayer, Key,
    error::ConfigError,
    layer::JwtLayerBuilder,
    revocation::{MemoryRevocationStore, TokenFacts},
};

/// Typed claims that count their deserializations, each test with its own counter. Not
/// `Clone`: the layer, its cache and the extractor share the claims and never copy them.
#[derive(Debug)]
struct Counted {
    sub: String,
    role: String,
}

static PARSES: [AtomicUsize; 16] = [const { AtomicUsize::new(0) }; 16];

/// The counter of the test whose tokens carry `"counter": n`.
fn parses(counter: usize) -> usize {
    PARSES[counter].load(Ordering::SeqCst)
}

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            sub: String,
            role: String,
            counter: usize,
        }
        let raw = Raw::deserialize(deserializer)?;
        PARSES[raw.counter].fetch_add(1, Ordering::SeqCst);
        Ok(Counted {
            sub: raw.sub,
            role: raw.role,
        })
    }
}

fn counted_claims(counter: usize, exp: u64) -> Value {
    json!({ "sub": "alice", "role": "admin", "counter": counter, "exp": exp, "iat": now() })
}

fn app_for(layer: JwtLayer<Counted>) -> Router {
    Router::new()
        .route(
            "/",
            get(|c: Claims<Counted>| async move {
                axum::Json(json!({ "user": c.sub, "role": c.role }))
            }),
        )
        .layer(layer)
}

/// A layer reading `Counted` claims, signed with the tests' secret, to configure further.
fn counted() -> JwtLayerBuilder<Counted> {
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .claims::<Counted>()
}

fn ok(answer: &Answer) {
    assert_eq!(answer.status, 200, "body: {}", answer.body);
    assert_eq!(answer.body, json!({ "user": "alice", "role": "admin" }));
}

/// A clock the test moves.
fn clock() -> (Arc<AtomicU64>, impl Fn() -> u64 + Send + Sync + 'static) {
    let time = Arc::new(AtomicU64::new(now()));
    let read = time.clone();
    (time, move || read.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_token_seen_again_is_not_parsed_again_and_gets_the_same_claims() {
    let layer = counted().cache(100).build().unwrap();
    let token = hs256(&counted_claims(0, now() + 600));
    for _ in 0..5 {
        ok(&send(app_for(layer.clone()), bearer(&token)).await);
    }
    assert_eq!(parses(0), 1, "one parse for five requests");

    // The same layer without the cache parses every time.
    let uncached = counted().build().unwrap();
    let other = hs256(&counted_claims(1, now() + 600));
    for _ in 0..3 {
        ok(&send(app_for(uncached.clone()), bearer(&other)).await);
    }
    assert_eq!(parses(1), 3);
}

/// Every request served from one cache entry reads the very claims the miss parsed; without
/// the cache each request gets its own. The handler keeps every `Claims` it gets alive, so an
/// address cannot be reused between requests and equal addresses mean one shared value.
#[tokio::test]
async fn a_hit_shares_the_cached_claims_instead_of_copying_them() {
    async fn seen_addresses(layer: JwtLayer<Counted>, token: &str) -> Vec<usize> {
        let kept: Arc<std::sync::Mutex<Vec<Claims<Counted>>>> = Arc::default();
        let keep = kept.clone();
        let app = Router::new()
            .route(
                "/",
                get(move |claims: Claims<Counted>| async move {
                    keep.lock().unwrap().push(claims);
                }),
            )
            .layer(layer);
        for _ in 0..3 {
            assert_eq!(send(app.clone(), bearer(token)).await.status, 200);
        }
        let kept = kept.lock().unwrap();
        kept.iter()
            .map(|claims| Arc::as_ptr(&claims.0) as usize)
            .collect()
    }
    let token = hs256(&counted_claims(7, now() + 600));

    let cached = seen_addresses(counted().cache(100).build().unwrap(), &token).await;
    assert_eq!(cached.len(), 3);
    assert!(
        cached.iter().all(|address| *address == cached[0]),
        "{cached:?}"
    );

    let uncached = seen_addresses(counted().build().unwrap(), &token).await;
    assert_eq!(uncached.len(), 3);
    assert!(uncached[0] != uncached[1] && uncached[1] != uncached[2] && uncached[0] != uncached[2]);
    assert_eq!(parses(7), 1 + 3);
}

#[tokio::test]
async fn map_claims_from_a_hit_equal_those_from_a_miss() {
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .cache(100)
        .build()
        .unwrap();
    let claims = json!({ "sub": "bob", "exp": now() + 600, "nested": { "a": [1, 2.5, null] } });
    let token = hs256(&claims);
    let request = || {
        let mut request = bearer(&token);
        *request.uri_mut() = "/claims".parse().unwrap();
        request
    };
    let first = send(app(layer.clone()), request()).await;
    let second = send(app(layer.clone()), request()).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, claims);
    assert_eq!(second.body, claims);
}

#[tokio::test]
async fn a_cached_token_still_expires_on_time() {
    let (time, read) = clock();
    let start = time.load(Ordering::SeqCst);
    let layer = counted().clock(read).cache(100).build().unwrap();
    let token = hs256(&counted_claims(2, start + 60));
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    time.store(start + 59, Ordering::SeqCst);
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    assert_eq!(parses(2), 1, "the second request was a hit");

    time.store(start + 60, Ordering::SeqCst);
    let answer = send(app_for(layer.clone()), bearer(&token)).await;
    answer.assert_rejected(401, "invalid_token", "jwt expired");
    // The entry ends with its token, in the same clock: the token was looked at afresh.
    assert_eq!(parses(2), 2, "the entry did not outlive its token");
    let answer = send(app_for(layer.clone()), bearer(&token)).await;
    answer.assert_rejected(401, "invalid_token", "jwt expired");
}

/// Without a configured clock a hit reads the system's coarse clock, which lags the precise
/// one: around `exp` the precise clock must decide, so the token is refused from the very
/// moment it expires, and not a tick later.
#[tokio::test]
async fn a_cached_token_expires_on_time_by_the_system_clock() {
    fn precise_now() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }
    let layer = counted().cache(100).build().unwrap();
    let exp = now() + 3;
    let token = hs256(&counted_claims(8, exp));
    for _ in 0..3 {
        ok(&send(app_for(layer.clone()), bearer(&token)).await);
    }
    assert_eq!(parses(8), 1, "far from exp, requests hit");

    let (mut accepted, mut refused) = (0, 0);
    while precise_now() < exp as f64 + 0.3 {
        let before = precise_now();
        let answer = send(app_for(layer.clone()), bearer(&token)).await;
        let after = precise_now();
        if answer.status == 200 {
            assert!(
                before < exp as f64,
                "accepted at {before}, expired at {exp}"
            );
            accepted += 1;
        } else {
            answer.assert_rejected(401, "invalid_token", "jwt expired");
            assert!(after >= exp as f64, "refused at {after}, valid until {exp}");
            refused += 1;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

/// A clock set back (an NTP step, a test clock) below `nbf` after the token was cached: the hit
/// is refused as a miss would be, though the entry was stored while the token was valid.
#[tokio::test]
async fn a_cached_token_is_refused_when_the_clock_goes_back_before_nbf() {
    let (time, read) = clock();
    let start = time.load(Ordering::SeqCst);
    let layer = counted().clock(read).cache(100).build().unwrap();
    let mut claims = counted_claims(9, start + 600);
    claims["nbf"] = json!(start);
    let token = hs256(&claims);
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    assert_eq!(parses(9), 1, "the second request was a hit");
    time.store(start - 1, Ordering::SeqCst);
    let answer = send(app_for(layer.clone()), bearer(&token)).await;
    answer.assert_rejected(401, "invalid_token", "jwt not active");
    time.store(start, Ordering::SeqCst);
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    assert_eq!(
        parses(9),
        1,
        "the entry still serves once the token is valid again"
    );
}

#[tokio::test]
async fn a_cached_token_still_ages_out_under_max_age() {
    let (time, read) = clock();
    let start = time.load(Ordering::SeqCst);
    let layer = counted()
        .clock(read)
        .max_age(Duration::from_secs(30))
        .cache(100)
        .build()
        .unwrap();
    let mut claims = counted_claims(3, start + 600);
    claims["iat"] = json!(start);
    let token = hs256(&claims);
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    time.store(start + 30, Ordering::SeqCst);
    let answer = send(app_for(layer.clone()), bearer(&token)).await;
    answer.assert_rejected(401, "invalid_token", "maxAge exceeded");
    assert_eq!(parses(3), 1);
}

#[tokio::test]
async fn a_cached_token_is_still_checked_for_revocation() {
    let layer = cached_revoking_layer();
    let app = revoking_app(layer);
    let token = hs256(&json!({ "sub": "alice", "jti": "j-1", "exp": now() + 600 }));
    assert_eq!(send(app.clone(), bearer(&token)).await.status, 200);
    assert_eq!(send(app.clone(), bearer(&token)).await.status, 200);

    let mut logout = bearer(&token);
    *logout.method_mut() = http::Method::POST;
    *logout.uri_mut() = "/logout".parse().unwrap();
    assert_eq!(send(app.clone(), logout).await.status, 204);

    let answer = send(app.clone(), bearer(&token)).await;
    answer.assert_rejected(401, "invalid_token", "jwt revoked");
}

#[tokio::test]
async fn a_cached_token_still_goes_through_the_user_lookup() {
    let users = Arc::new(std::sync::Mutex::new(vec!["alice".to_owned()]));
    let directory = users.clone();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .user_lookup(move |sub: String| {
            let found = directory.lock().unwrap().contains(&sub);
            async move { Ok::<_, std::io::Error>(found.then_some(sub)) }
        })
        .cache(100)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|CurrentUser(user): CurrentUser<String>| async move { user }),
        )
        .layer(layer);
    let token = hs256(&json!({ "sub": "alice", "exp": now() + 600 }));
    assert_eq!(send(app.clone(), bearer(&token)).await.raw, b"alice");
    assert_eq!(send(app.clone(), bearer(&token)).await.raw, b"alice");

    users.lock().unwrap().clear();
    let answer = send(app.clone(), bearer(&token)).await;
    answer.assert_rejected(
        401,
        "invalid_token",
        "The token subject does not match any user.",
    );
}

#[tokio::test]
async fn the_facts_of_a_hit_are_those_of_the_token() {
    let layer = cached_revoking_layer();
    let app = Router::new()
        .route(
            "/",
            post(|facts: TokenFacts| async move {
                axum::Json(json!({
                    "jti": facts.jti(), "sub": facts.sub(), "iat": facts.iat(),
                    "exp": facts.exp(), "token": facts.token().as_str(),
                }))
            }),
        )
        .layer(layer);
    let exp = now() + 600;
    let iat = now() - 1_000;
    let token = hs256(&json!({ "sub": "carol", "jti": "j-9", "iat": iat, "exp": exp }));
    let expected = json!({ "jti": "j-9", "sub": "carol", "iat": iat, "exp": exp, "token": token });
    for _ in 0..2 {
        let mut request = bearer(&token);
        *request.method_mut() = http::Method::POST;
        assert_eq!(send(app.clone(), request).await.body, expected);
    }
}

#[tokio::test]
async fn a_tampered_token_never_hits() {
    let layer = counted().cache(100).build().unwrap();
    let token = hs256(&counted_claims(4, now() + 600));
    ok(&send(app_for(layer.clone()), bearer(&token)).await);

    // The last character of the signature changed, the payload changed, a trailing byte added.
    // A 32-byte signature's last character carries four bits and two zero bits; only the
    // characters whose two low bits are zero (A, E, I, ..., Q) keep the encoding canonical, so
    // those are the ones that must fail on the signature rather than as malformed.
    let (body, last) = token.split_at(token.len() - 1);
    let tampered_signatures = ["A", "E", "I", "Q"]
        .into_iter()
        .filter(|replacement| *replacement != last)
        .map(|replacement| format!("{body}{replacement}"));
    let (header, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other_payload = b64(serde_json::to_vec(&counted_claims(4, now() + 900)).unwrap());
    let tampered_payload = format!("{header}.{other_payload}.{signature}");
    for bad in tampered_signatures.chain([tampered_payload]) {
        let answer = send(app_for(layer.clone()), bearer(&bad)).await;
        answer.assert_rejected(401, "invalid_token", "invalid signature");
    }
    let answer = send(app_for(layer.clone()), bearer(&format!("{token}A"))).await;
    assert_eq!(answer.status, 401);
    // A rejected token is not cached: it fails the same way again.
    let answer = send(app_for(layer.clone()), bearer(&format!("{token}A"))).await;
    assert_eq!(answer.status, 401);
    assert_eq!(parses(4), 1);
}

#[tokio::test]
async fn an_entry_lives_no_longer_than_the_ttl() {
    let layer = counted()
        .cache(100)
        .cache_ttl(Duration::from_secs(1))
        .build()
        .unwrap();
    let token = hs256(&counted_claims(5, now() + 600));
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    assert_eq!(parses(5), 1);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    ok(&send(app_for(layer.clone()), bearer(&token)).await);
    assert_eq!(parses(5), 2, "verified again once the entry expired");
}

#[tokio::test]
async fn each_layer_has_its_own_cache() {
    let build = || counted().cache(100).build().unwrap();
    let (first, second) = (build(), build());
    let token = hs256(&counted_claims(6, now() + 600));
    ok(&send(app_for(first.clone()), bearer(&token)).await);
    ok(&send(app_for(second.clone()), bearer(&token)).await);
    ok(&send(app_for(first), bearer(&token)).await);
    assert_eq!(parses(6), 2);

    // A layer with another key does not accept what the first one cached.
    let strict = JwtLayer::builder()
        .key(Key::hmac(b"another-secret-of-at-least-thirty-two-bytes"))
        .claims::<Counted>()
        .cache(100)
        .build()
        .unwrap();
    let answer = send(app_for(strict), bearer(&token)).await;
    answer.assert_rejected(401, "invalid_token", "invalid signature");
}

#[test]
fn an_empty_cache_is_refused() {
    let zero = JwtLayer::builder().key(Key::hmac(SECRET)).cache(0).build();
    assert!(matches!(zero, Err(ConfigError::EmptyCache)), "{zero:?}");
    let no_ttl = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .cache(10)
        .cache_ttl(Duration::ZERO)
        .build();
    assert!(matches!(no_ttl, Err(ConfigError::EmptyCache)), "{no_ttl:?}");
    // Entries are timed in whole seconds: a shorter TTL would keep nothing.
    let under_a_second = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .cache(10)
        .cache_ttl(Duration::from_millis(999))
        .build();
    assert!(
        matches!(under_a_second, Err(ConfigError::EmptyCache)),
        "{under_a_second:?}"
    );
    let one_second = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .cache(10)
        .cache_ttl(Duration::from_secs(1))
        .build();
    assert!(one_second.is_ok());
}

/// A cached layer with a memory revocation store.
fn cached_revoking_layer() -> JwtLayer {
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .revocations(MemoryRevocationStore::new(1_000))
        .cache(100)
        .build()
        .unwrap()
}
