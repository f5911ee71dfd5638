//! What `JwtLayer` costs on top of verifying the token yourself with `jsonwebtoken::decode`.
//!
//! Each algorithm (HS256, RS256, ES256, EdDSA) gets one criterion group, named after it, with
//! these benchmarks, all on the same token (`{"sub","exp","iat"}`, valid for an hour):
//!
//! - `jsonwebtoken_decode`: `jsonwebtoken::decode::<serde_json::Value>` with a `DecodingKey`
//!   and a `Validation` (that one algorithm, `exp` required and checked) prepared once. This is
//!   the reference: the cheapest way to verify the token and get its claims.
//! - `layer_oneshot_service_fn`: a fresh `http::Request` carrying `Authorization: Bearer <token>`
//!   sent with `ServiceExt::oneshot` to a clone of a `tower::service_fn` wrapped by the layer
//!   (built once), on a current-thread tokio runtime. The layer reads the header, verifies the
//!   token and puts the claims into the request extensions; the inner service answers 200.
//! - `no_auth_oneshot`: the same request (same header) to the same inner service without the
//!   layer: what building, cloning, sending and awaiting the request costs by itself.
//! - `axum_router_with_layer` / `axum_router_no_auth`: the same pair with an axum `Router` of one
//!   route (the layer added with `route_layer`) instead of the bare `service_fn`.
//!
//! Every service is checked to answer 200 before it is measured (and the layered ones to refuse
//! a request without a token), so a rejection path cannot be benchmarked by accident.
//!
//! # Reading the results
//!
//! - `layer_oneshot_service_fn / jsonwebtoken_decode` is the whole request through the layer
//!   against a bare decode; it includes the request plumbing that any service pays anyway.
//! - `(layer_oneshot_service_fn - no_auth_oneshot) / jsonwebtoken_decode` is the layer's own cost
//!   (header extraction, verification, extensions, response wrapping) against a bare decode. About
//!   1 means the layer costs what `decode` does; below 1 it is cheaper. Do the same with the axum
//!   pair for a router.
//!
//! For RS256, ES256 and EdDSA the signature check dominates both sides, so their ratios say little
//! about the layer's own work; HS256, whose check is cheap, shows it best. Compare medians from one
//! run (criterion's `estimates.json` under `target/criterion/<alg>/<bench>/new/`), and rerun before
//! trusting a difference of a few percent on a busy machine.
//!
//! Run with `cargo bench --bench verify`; criterion options follow `--`, for example
//! `cargo bench --bench verify -- --warm-up-time 1 --measurement-time 3 HS256`.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_jwt_auth::{JwtLayer, Key};

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes-long";

const RSA_KEY: &[u8] = include_bytes!("../tests/keys/rsa.key");
const RSA_PUB: &[u8] = include_bytes!("../tests/keys/rsa.pub.pem");
const EC256_KEY: &[u8] = include_bytes!("../tests/keys/ec256.key");
const EC256_PUB: &[u8] = include_bytes!("../tests/keys/ec256.pub.pem");
const ED25519_KEY: &[u8] = include_bytes!("../tests/keys/ed25519.key");
const ED25519_PUB: &[u8] = include_bytes!("../tests/keys/ed25519.pub.pem");

/// One algorithm: the layer's key, and the `jsonwebtoken` keys to sign and to decode with.
struct Case {
    algorithm: Algorithm,
    layer_key: Key,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Case {
    fn new(algorithm: Algorithm) -> Self {
        let (layer_key, encoding, decoding) = match algorithm {
            Algorithm::HS256 => (
                Key::hmac(SECRET),
                EncodingKey::from_secret(SECRET),
                DecodingKey::from_secret(SECRET),
            ),
            Algorithm::RS256 => (
                Key::rsa_pem(RSA_PUB).expect("RSA public key"),
                EncodingKey::from_rsa_pem(RSA_KEY).expect("RSA private key"),
                DecodingKey::from_rsa_pem(RSA_PUB).expect("RSA public key"),
            ),
            Algorithm::ES256 => (
                Key::ec_pem(EC256_PUB).expect("P-256 public key"),
                EncodingKey::from_ec_pem(EC256_KEY).expect("P-256 private key"),
                DecodingKey::from_ec_pem(EC256_PUB).expect("P-256 public key"),
            ),
            Algorithm::EdDSA => (
                Key::ed_pem(ED25519_PUB).expect("Ed25519 public key"),
                EncodingKey::from_ed_pem(ED25519_KEY).expect("Ed25519 private key"),
                DecodingKey::from_ed_pem(ED25519_PUB).expect("Ed25519 public key"),
            ),
            other => unreachable!("no bench key for {other:?}"),
        };
        Self {
            algorithm,
            layer_key,
            encoding,
            decoding,
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs()
}

/// The inner service: answers 200 with an empty body, whatever the request.
async fn ok(_request: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

/// The axum route's handler.
async fn handler() -> StatusCode {
    StatusCode::OK
}

fn request(authorization: Option<&HeaderValue>) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    if let Some(value) = authorization {
        request.headers_mut().insert(AUTHORIZATION, value.clone());
    }
    request
}

/// Sends one request to a clone of `service` and returns the response's status.
fn status<S, B>(rt: &Runtime, service: &S, authorization: Option<&HeaderValue>) -> StatusCode
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    rt.block_on(service.clone().oneshot(request(authorization)))
        .expect("the service failed")
        .status()
}

/// Checks that `service` lets the token through, so the benchmark measures the success path.
fn check_accepts<S, B>(name: &str, rt: &Runtime, service: &S, authorization: &HeaderValue)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    let status = status(rt, service, Some(authorization));
    assert_eq!(status, StatusCode::OK, "{name}: the token was not accepted");
}

/// Checks that a layered `service` refuses a request without a token: the layer is really there.
fn check_guarded<S, B>(name: &str, rt: &Runtime, service: &S)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    let status = status(rt, service, None);
    assert_ne!(
        status,
        StatusCode::OK,
        "{name}: the layer let a request without a token through"
    );
}

/// One iteration: clone the service, build a fresh request and await `oneshot`.
fn bench_oneshot<S, B>(b: &mut Bencher<'_>, rt: &Runtime, service: &S, auth: &HeaderValue)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    b.iter(|| {
        let response = rt
            .block_on(service.clone().oneshot(request(Some(auth))))
            .expect("the service failed");
        black_box(response)
    });
}

fn bench_algorithm(c: &mut Criterion, rt: &Runtime, algorithm: Algorithm) {
    let case = Case::new(algorithm);
    let name = format!("{:?}", case.algorithm);

    // Building the layer also installs the crypto provider as jsonwebtoken's process default,
    // which `encode` and `decode` below need when both crypto features are enabled.
    let layer = JwtLayer::builder()
        .key(case.layer_key.clone())
        .build()
        .expect("building the layer");

    let iat = now();
    let claims = json!({ "sub": "bench", "exp": iat + 3600, "iat": iat });
    let token = jsonwebtoken::encode(&Header::new(case.algorithm), &claims, &case.encoding)
        .expect("signing the token");
    let auth = HeaderValue::try_from(format!("Bearer {token}")).expect("header value");

    let mut validation = Validation::new(case.algorithm);
    validation.validate_exp = true;
    validation.set_required_spec_claims(&["exp"]);
    let decoded = jsonwebtoken::decode::<Value>(&token, &case.decoding, &validation)
        .expect("jsonwebtoken::decode refused the token");
    assert_eq!(decoded.claims, claims);

    let plain = service_fn(ok);
    let layered = layer.layer(plain);
    let router = Router::new().route("/", get(handler));
    let router_layered = router.clone().route_layer(layer.clone());

    check_accepts("layer_oneshot_service_fn", rt, &layered, &auth);
    check_guarded("layer_oneshot_service_fn", rt, &layered);
    check_accepts("no_auth_oneshot", rt, &plain, &auth);
    check_accepts("axum_router_with_layer", rt, &router_layered, &auth);
    check_guarded("axum_router_with_layer", rt, &router_layered);
    check_accepts("axum_router_no_auth", rt, &router, &auth);

    let mut group = c.benchmark_group(name);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Value>(black_box(&token), &case.decoding, &validation)
                .expect("jsonwebtoken::decode refused the token")
        });
    });
    group.bench_function("layer_oneshot_service_fn", |b| {
        bench_oneshot(b, rt, &layered, &auth);
    });
    group.bench_function("no_auth_oneshot", |b| bench_oneshot(b, rt, &plain, &auth));
    group.bench_function("axum_router_with_layer", |b| {
        bench_oneshot(b, rt, &router_layered, &auth);
    });
    group.bench_function("axum_router_no_auth", |b| {
        bench_oneshot(b, rt, &router, &auth);
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    for algorithm in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        bench_algorithm(c, &rt, algorithm);
    }
}

criterion_group!(verify, benches);
criterion_main!(verify);
