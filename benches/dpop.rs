//! What a DPoP proof's check costs (issue 22), in two passes, each taking turns in rounds;
//! medians over the rounds:
//!
//! - the check alone: `DpopVerifier::verify` of ES256 and EdDSA proofs (each proof once: a
//!   replay is refused), against the verification of an HS256 bearer token by the layer's
//!   verifier;
//! - behind an axum `Router`, as users run it: a request with a bearer token through a layer
//!   without DPoP, a bearer request through a layer in `DpopMode::Allowed` (what the mode
//!   costs requests that do not use it), and DPoP requests with ES256 and EdDSA proofs.
//!
//! `cargo bench --bench dpop`. Under `cargo test --benches` (without `--bench`) it runs a few
//! proofs, as a check that it works.

#[path = "../tests/common/dpop_client.rs"]
mod dpop_client;

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use dpop_client::{ClientKey, b64, proof};
use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_jwt_auth::dpop::DpopVerifier;
use tower_jwt_auth::layer::DpopMode;
use tower_jwt_auth::{JwtLayer, Key};

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes-long";
const URI: &str = "https://api.example.com/orders";

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let (rounds, per_round) = if benching { (9, 2_000) } else { (1, 20) };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let access_token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "248289761001", "iat": now - 60, "exp": now + 3600,
                 "cnf": { "jkt": "a-thumbprint" } }),
        &EncodingKey::from_secret(SECRET),
    )
    .expect("an access token");
    let ath = b64(&Sha256::digest(access_token.as_bytes()));
    let bearer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .build()
        .expect("the layer");
    let keys = [
        ("ES256", ClientKey::p256()),
        ("EdDSA", ClientKey::ed25519()),
    ];
    let mut times: Vec<(&str, Vec<f64>)> =
        vec![("bearer", vec![]), ("ES256", vec![]), ("EdDSA", vec![])];
    for round in 0..rounds {
        // Signed before the clock starts: each proof is checked once, by a fresh verifier.
        let proofs: Vec<Vec<String>> = keys
            .iter()
            .map(|(_, key)| {
                (0..per_round)
                    .map(|i| {
                        let claims = json!({
                            "jti": format!("{round}-{i}"), "htm": "GET", "htu": URI,
                            "iat": now, "ath": ath,
                        });
                        proof(key, &claims)
                    })
                    .collect()
            })
            .collect();
        let started = Instant::now();
        for _ in 0..per_round {
            black_box(
                bearer
                    .verifier()
                    .verify(black_box(&access_token))
                    .expect("bearer"),
            );
        }
        times[0]
            .1
            .push(started.elapsed().as_nanos() as f64 / per_round as f64);
        for (index, proofs) in proofs.iter().enumerate() {
            let verifier = DpopVerifier::builder().build().expect("a verifier");
            let started = Instant::now();
            for proof in proofs {
                // The memory answers at the first poll: no runtime in the measure.
                let verified = verifier.verify(proof, &Method::GET, URI, Some(&access_token));
                black_box(
                    futures_util::FutureExt::now_or_never(verified)
                        .expect("ready at once")
                        .expect("a valid proof"),
                );
            }
            times[index + 1]
                .1
                .push(started.elapsed().as_nanos() as f64 / per_round as f64);
        }
    }
    let median = |values: &[f64]| {
        let mut values = values.to_vec();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let bearer_ns = median(&times[0].1);
    println!("DPoP proof checks ({rounds} rounds of {per_round}; medians):");
    println!("bearer HS256 verification: {bearer_ns:.0} ns");
    for (name, values) in &times[1..] {
        let proof_ns = median(values);
        println!(
            "{name} proof: {proof_ns:.0} ns, {:.1}x the bearer verification",
            proof_ns / bearer_ns
        );
    }
    behind_a_router(rounds, per_round, now);
}

/// A token for the bench's subject, bound to `jkt` when given.
fn token(now: u64, jkt: Option<&str>) -> String {
    let mut claims = json!({ "sub": "248289761001", "iat": now - 60, "exp": now + 3600 });
    if let Some(jkt) = jkt {
        claims["cnf"] = json!({ "jkt": jkt });
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("an access token")
}

fn router(dpop: bool) -> Router {
    let mut builder = JwtLayer::builder().key(Key::hmac(SECRET));
    if dpop {
        let proofs = DpopVerifier::builder().build().expect("a verifier");
        builder = builder.dpop(DpopMode::Allowed, proofs);
    }
    Router::new()
        .route("/orders", get(|| async { "ok" }))
        .layer(builder.build().expect("the layer"))
}

fn request(authorization: &str, proof: Option<&str>) -> http::Request<Body> {
    let mut builder = http::Request::get("/orders")
        .header("host", "api.example.com")
        .header("authorization", authorization);
    if let Some(proof) = proof {
        builder = builder.header("dpop", proof);
    }
    builder.body(Body::empty()).expect("a request")
}

/// The second pass: whole requests through a one-route `Router`.
fn behind_a_router(rounds: usize, per_round: usize, now: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let keys = [
        ("ES256", ClientKey::p256()),
        ("EdDSA", ClientKey::ed25519()),
    ];
    let bearer = token(now, None);
    let bound: Vec<String> = keys
        .iter()
        .map(|(_, key)| token(now, Some(&key.jwk().1)))
        .collect();
    let htu = "http://api.example.com/orders";
    let mut times: Vec<(&str, Vec<f64>)> = vec![
        ("bearer, no DPoP", vec![]),
        ("bearer, DPoP allowed", vec![]),
        ("DPoP ES256", vec![]),
        ("DPoP EdDSA", vec![]),
    ];
    let (plain, allowed) = (router(false), router(true));
    let status = |response: http::Response<axum::body::Body>| response.status().as_u16();
    for round in 0..rounds {
        let timed = |app: &Router, requests: Vec<http::Request<Body>>| {
            let started = Instant::now();
            for request in requests {
                let answer = runtime.block_on(app.clone().oneshot(request));
                assert_eq!(answer.map(status).ok(), Some(200));
            }
            started.elapsed().as_nanos() as f64 / per_round as f64
        };
        let bearer_requests = || {
            (0..per_round)
                .map(|_| request(&format!("Bearer {bearer}"), None))
                .collect()
        };
        times[0].1.push(timed(&plain, bearer_requests()));
        times[1].1.push(timed(&allowed, bearer_requests()));
        for (index, (_, key)) in keys.iter().enumerate() {
            let token = &bound[index];
            let ath = b64(&Sha256::digest(token.as_bytes()));
            // Signed before the clock starts; a new verifier per router pass is not needed:
            // every proof has its own `jti`.
            let requests = (0..per_round)
                .map(|i| {
                    let claims = json!({
                        "jti": format!("router-{round}-{index}-{i}"), "htm": "GET",
                        "htu": htu, "iat": now, "ath": ath,
                    });
                    request(&format!("DPoP {token}"), Some(&proof(key, &claims)))
                })
                .collect();
            times[index + 2].1.push(timed(&allowed, requests));
        }
    }
    let median = |values: &[f64]| {
        let mut values = values.to_vec();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let base = median(&times[0].1);
    println!("Behind a Router ({rounds} rounds of {per_round} requests; medians):");
    for (name, values) in &times {
        let ns = median(values);
        println!(
            "{name}: {ns:.0} ns a request, {:+.0} ns and {:.2}x over a bearer request without DPoP",
            ns - base,
            ns / base
        );
    }
}
