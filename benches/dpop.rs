//! What a DPoP proof's check costs (issue 22): `DpopVerifier::verify` of ES256 and EdDSA
//! proofs (each proof once: a replay is refused), against the verification of an HS256 bearer
//! token by the layer's verifier, the three taking turns in rounds; medians over the rounds.
//!
//! `cargo bench --bench dpop`. Under `cargo test --benches` (without `--bench`) it runs a few
//! proofs, as a check that it works.

#[path = "../tests/common/dpop_client.rs"]
mod dpop_client;

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dpop_client::{ClientKey, b64, proof};
use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use sha2::{Digest, Sha256};
use tower_jwt_auth::dpop::DpopVerifier;
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
}
