//! What the verified-token cache holds in memory per entry (issue 24: at most 350 bytes an entry
//! beyond the claims themselves).
//!
//! Sends N distinct HS256 tokens (the `verify` bench's realistic access token with an `email`
//! and a `sid`, about 490 bytes, a distinct `sub`, `jti` and `sid` each) through an axum `Router` behind a layer with `.cache(N)`, and reads the
//! process's resident memory (`VmRSS`, Linux) before and after. Then it holds the same N claims
//! alone, each in an `Arc` as the cache holds them, and reads it again. The difference is what
//! an entry costs beyond its claims: the key, the facts, the entry's bookkeeping and the map.
//!
//! `cargo bench --bench cache_memory` measures 1,000,000 entries; `-- N` another count. Under
//! `cargo test --benches` (without `--bench`) it runs 2,000, as a check that it works.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::{JwtLayer, Key};

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes-long";

/// The typed claims, as in the `verify` bench.
#[derive(Deserialize)]
#[allow(dead_code)]
struct TypedClaims {
    sub: String,
    iss: String,
    aud: String,
    iat: u64,
    exp: u64,
    jti: String,
    scope: String,
    roles: Vec<String>,
}

/// The claims of the `i`th token.
fn claims(i: usize, iat: u64) -> serde_json::Value {
    json!({
        "sub": format!("{:012}", 248_289_761_001u64 + i as u64), "iss": "https://auth.example.com/",
        "aud": "https://api.example.com/", "iat": iat, "exp": iat + 3600,
        "jti": format!("{i:032x}"), "scope": "openid profile email read:users",
        "roles": ["user", "editor"], "email": format!("user-{i}@example.com"),
        "sid": format!("{:08x}-4b1d-4c7a-9e2f-{i:012x}", i),
    })
}

/// Resident memory of this process, in bytes.
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("VmRSS");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}

fn main() {
    let mut args = std::env::args().skip(1);
    let benching = std::env::args().any(|arg| arg == "--bench");
    let count: usize = args
        .find(|arg| !arg.starts_with('-'))
        .map_or(if benching { 1_000_000 } else { 2_000 }, |n| {
            n.parse().expect("a count of entries")
        });
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        - 60;
    let key = EncodingKey::from_secret(SECRET);
    let token = |i: usize| {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(i, iat), &key)
            .expect("signing a token")
    };
    let router = Router::new().route("/", get(|| async { "ok" })).layer(
        JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .claims::<TypedClaims>()
            // An eighth to spare, so that no shard of the map fills up before the others and
            // evicts.
            .cache(count as u64 + count as u64 / 8)
            .build()
            .expect("the layer"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let send = |token: &str| {
        let request = Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("a request");
        let response = runtime
            .block_on(router.clone().oneshot(request))
            .expect("an answer");
        assert_eq!(response.status(), 200);
    };
    // The allocator's and the runtime's first growth, out of the figure.
    send(&token(count));
    let token_len = token(0).len();
    let before = resident();
    for i in 0..count {
        send(&token(i));
    }
    let cached = resident().saturating_sub(before);
    let before_claims = resident();
    let claims: Vec<Arc<TypedClaims>> = (0..count)
        .map(|i| Arc::new(serde_json::from_value(claims(i, iat)).expect("the claims")))
        .collect();
    let claims_alone = resident().saturating_sub(before_claims);
    black_box(&claims);
    let per_entry = cached as f64 / count as f64;
    let per_claims = claims_alone as f64 / count as f64;
    println!(
        "cache memory: {count} entries of {token_len}-byte tokens: {per_entry:.0} bytes an entry \
         ({:.1} MB), of which the claims alone {per_claims:.0}: {:.0} bytes an entry beyond the \
         claims (target <= 350)",
        cached as f64 / 1e6,
        per_entry - per_claims,
    );
}
