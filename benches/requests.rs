//! Requests through the layer in an axum `Router`, for instruction counts: run by
//! `scripts/instructions.sh` under callgrind, which counts instructions exactly however busy
//! the machine is (the time benches cannot tell 50 ns apart on a shared machine).
//!
//! Arguments: how many requests, then the case: `no_auth` (the router alone), `cached` (a
//! cached HS256 layer of `JsonClaims`),
//! `uncached`, `untyped_guard` (a cached layer of a typed struct behind a role guard that reads
//! the claims as JSON), `one_key` (uncached, checking the issuer) or `two_tenants` (uncached,
//! the token's `iss` picking the second of two tenants), or `cached_revocations` (`cached` with
//! an empty `MemoryRevocationStore`). Without arguments (as `cargo bench` runs it) it sends a
//! few requests of each case and checks their answers.

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
const CASES: [&str; 7] = [
    "no_auth",
    "cached",
    "uncached",
    "untyped_guard",
    "one_key",
    "two_tenants",
    "cached_revocations",
];

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
        "uncached" => ok().layer(builder.build().expect("the layer")),
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
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("signing the token");
    let authorization = format!("Bearer {token}");
    // With the timer, as `#[tokio::main]` builds it: the asynchronous checks are bounded by
    // timeouts.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    for case in cases {
        let router = router(&case);
        for _ in 0..requests {
            let request = Request::get("/")
                .header("authorization", &authorization)
                .body(Body::empty())
                .expect("a request");
            let response = runtime
                .block_on(router.clone().oneshot(request))
                .expect("an answer");
            assert_eq!(response.status(), 200, "{case}");
        }
    }
}
