//! Requests through the layer in an axum `Router`, for instruction counts: run by
//! `scripts/instructions.sh` under callgrind, which counts instructions exactly however busy
//! the machine is (the time benches cannot tell 50 ns apart on a shared machine).
//!
//! Arguments: how many requests, then the case: `no_auth` (the router alone), `cached` (a
//! cached HS256 layer of `JsonClaims`),
//! `uncached`, `untyped_guard` (a cached layer of a typed struct behind a role guard that reads
//! the claims as JSON), `one_key` (uncached, checking the issuer) or `two_tenants` (uncached,
//! the token's `iss` picking the second of two tenants), or `cached_revocations` (`cached` with
//! an empty `MemoryRevocationStore`), or `churn_cached` and `churn_uncached` (20,000 distinct
//! tokens in a pseudo-random order through a 2,000-entry cache, warmed by 6,000 requests first,
//! and through no cache). Without arguments (as `cargo bench` runs it) it sends a few requests
//! of each case and checks their answers.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::layer::Tenant;
use tower_jwt_auth::revocation::MemoryRevocationStore;
use tower_jwt_auth::{JwtLayer, Key, RequireRoles};

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes-long";
const OTHER_SECRET: &[u8] = b"another-bench-secret-at-least-32-bytes-long";

/// The cases, as `scripts/instructions.sh` runs them.
const CASES: [&str; 9] = [
    "no_auth",
    "cached",
    "uncached",
    "untyped_guard",
    "one_key",
    "two_tenants",
    "cached_revocations",
    "churn_cached",
    "churn_uncached",
];

/// The churn cases' distinct tokens, and their cache's capacity: a churn the cache cannot hold.
const CHURN_TOKENS: usize = 20_000;
const CHURN_CAPACITY: u64 = 2_000;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Typed {
    sub: String,
    iss: String,
    iat: u64,
    exp: u64,
    roles: Vec<String>,
}

fn router(case: &str) -> Router {
    let ok = || Router::new().route("/", get(|| async { "ok" }));
    let builder = JwtLayer::builder().key(Key::hmac(SECRET));
    match case {
        "no_auth" => ok(),
        "cached" => ok().layer(builder.cache(10_000).build().expect("the layer")),
        "uncached" | "churn_uncached" => ok().layer(builder.build().expect("the layer")),
        "churn_cached" => ok().layer(builder.cache(CHURN_CAPACITY).build().expect("the layer")),
        // Cached, with the memory revocation store (empty: what every request pays).
        "cached_revocations" => ok().layer(
            builder
                .cache(10_000)
                .revocations(MemoryRevocationStore::default())
                .build()
                .expect("the layer"),
        ),
        // Uncached, so a request verifies the token: one key checking the issuer, against two
        // tenants of which the token's `iss` picks the second (the difference is the pick).
        "one_key" => ok().layer(
            builder
                .issuer("https://auth.example.com/")
                .build()
                .expect("the layer"),
        ),
        "two_tenants" => ok().layer(
            JwtLayer::builder()
                .tenant(Tenant::new("https://other.example.com/").key(Key::hmac(OTHER_SECRET)))
                .tenant(Tenant::new("https://auth.example.com/").key(Key::hmac(SECRET)))
                .build()
                .expect("the layer"),
        ),
        "untyped_guard" => ok()
            .route_layer(RequireRoles::any(["user"]).expect("a role"))
            .layer(
                builder
                    .claims::<Typed>()
                    .cache(10_000)
                    .build()
                    .expect("the layer"),
            ),
        other => panic!("no case {other:?}: {}", CASES.join(", ")),
    }
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let requests: usize = args
        .next()
        .map_or(3, |n| n.parse().expect("a number of requests"));
    let cases: Vec<String> = match args.next() {
        Some(case) => vec![case],
        None => CASES.map(String::from).to_vec(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = json!({
        "sub": "248289761001", "iss": "https://auth.example.com/",
        "iat": now - 60, "exp": now + 3600, "roles": ["user"],
    });
    let sign = |claims: &serde_json::Value| {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("signing the token");
        format!("Bearer {token}")
    };
    let one = vec![sign(&claims)];
    let churn: Vec<String> = (0..CHURN_TOKENS)
        .map(|i| {
            let mut claims = claims.clone();
            claims["jti"] = json!(format!("churn-{i}"));
            sign(&claims)
        })
        .collect();
    // A fixed pseudo-random order (an LCG).
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    // With the timer, as `#[tokio::main]` builds it: the asynchronous checks are bounded by
    // timeouts.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    for case in cases {
        let router = router(&case);
        let (tokens, warm_up) = if case.starts_with("churn") {
            (&churn, 3 * CHURN_CAPACITY as usize)
        } else {
            (&one, 0)
        };
        for _ in 0..warm_up + requests {
            let authorization = &tokens[next() % tokens.len()];
            let request = Request::get("/")
                .header("authorization", authorization)
                .body(Body::empty())
                .expect("a request");
            let response = runtime
                .block_on(router.clone().oneshot(request))
                .expect("an answer");
            assert_eq!(response.status(), 200, "{case}");
        }
    }
}
