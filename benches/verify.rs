//! What `JwtLayer` costs, against `jsonwebtoken::decode`, against the floor of the work any
//! verification must do, and with its verified-token cache.
//!
//! Each algorithm (HS256, RS256, ES256, EdDSA) gets one criterion group named after it. Every
//! benchmark uses the same token, a realistic access token (`sub`, `iss`, `aud`, `iat`, `exp`,
//! `jti`, `scope`, `roles`, issued a minute before the run and valid for an hour), read into
//! two claims types: `typed` (a `#[derive(Deserialize)]` struct of those claims) and `map`
//! (`serde_json`'s map, the layer's default `JsonClaims`).
//!
//! - `decode_{typed,map}`: `jsonwebtoken::decode` with a `DecodingKey` and a `Validation` (that
//!   one algorithm, `exp` required and checked) prepared once.
//! - `floor_{typed,map}`: the least any verification can do: split the token, decode and parse
//!   the header (borrowed `alg`), decode the signature, check it with a key prepared once
//!   (RustCrypto's keyed `Hmac` state cloned per token, its tag compared by aws-lc's
//!   `CRYPTO_memcmp`: faster than aws-lc-rs's `hmac::Key`; aws-lc-rs `ParsedPublicKey`), decode the payload, parse it once into the
//!   claims type, compare `exp` with the clock. Segments are decoded with `base64-simd` into
//!   uninitialized stack buffers, the fastest decoding at hand, so the floor stays a floor.
//! - `verifier_{typed,map}`: the layer's own verifier, `JwtLayer::verifier().verify(token)`.
//! - `no_auth`: a fresh `http::Request` with `Authorization: Bearer <token>`, sent with
//!   `ServiceExt::oneshot` to a clone of a `tower::service_fn` answering 200, on a current-thread
//!   runtime: the plumbing every request pays.
//! - `layer_{typed,map}`: the same request to the same service wrapped by the layer.
//! - `layer_cached_{typed,map}`: the same, the layer built with `.cache(10_000)` (every
//!   iteration after the first is a hit).
//! - `axum_no_auth` / `axum_layer_typed`: an axum `Router` of one route, without and with the
//!   layer (`route_layer`).
//!
//! Every service is checked to answer 200 before it is measured, and the layered ones to refuse
//! a request without a token, so a rejection path cannot be benchmarked by accident.
//!
//! After the groups, the binary prints the ratios the performance targets are stated in,
//! computed from the medians of this very run (criterion's `estimates.json` files written by
//! it; a benchmark that did not run in this process, say because of a filter, is left out):
//!
//! - `layer - no_auth - decode`: what the layer adds over a bare `decode`, in µs (target <= 1).
//! - `(layer - no_auth) / decode` and `/ floor`: the layer's own work against those two.
//! - `axum_layer / (axum_no_auth + floor)`: an axum request through the layer against the same
//!   request without auth plus the floor (target for HS256: <= 1.5).
//! - `layer / layer_cached`: what the cache saves end to end (targets: HS256 >= 4, RS256 >= 15).
//!
//! Then, because a shared machine's speed drifts from one minute to the next, the same targets
//! are measured a second way, robust to that drift: for each algorithm, the cases `no_auth`,
//! `decode`, `floor`, `layer`, `layer_cached`, `axum_no_auth` and `axum_layer` (typed claims)
//! take turns within each of 31 rounds of a few milliseconds each, every ratio is computed
//! within a round, and the median over the rounds is printed ("Interleaved ratios").
//! `INTERLEAVE=0` skips that pass; a criterion filter that matches nothing
//! (`-- interleaved-only`) runs only it.
//!
//! Last, the guards behind a cached HS256 layer, in an axum `Router` as users run them, taking
//! turns in the same way ("Guards behind a typed layer"): the layer of typed claims against the
//! layer of `JsonClaims` (the untyped view costs nothing unless asked for: the ratio is the
//! price of keeping the token for it), and a role guard on the route, typed (`.claims::<T>()`,
//! reading the cached claims) or untyped (reading the payload again as JSON).
//!
//! Then what the decision span and the metrics cost that cached layer ("Telemetry"): no
//! subscriber, a subscriber that refuses the span, one that records it, and (built with
//! `--features metrics`) a recorder of the kind exporters build.
//!
//! Run with `cargo bench --bench verify`; criterion options follow `--`, for example
//! `cargo bench --bench verify -- --warm-up-time 1 --measurement-time 3 HS256`. The machine is
//! shared and noisy: compare ratios from one run, never times from different runs.

use std::convert::Infallible;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{constant_time, signature};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Bencher, Criterion};
use hmac::{Hmac, Mac};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_jwt_auth::{JwtLayer, Key, claims::JsonClaims};

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes-long";

const RSA_KEY: &[u8] = include_bytes!("../tests/keys/rsa.key");
const RSA_PUB: &[u8] = include_bytes!("../tests/keys/rsa.pub.pem");
const EC256_KEY: &[u8] = include_bytes!("../tests/keys/ec256.key");
const EC256_PUB: &[u8] = include_bytes!("../tests/keys/ec256.pub.pem");
const ED25519_KEY: &[u8] = include_bytes!("../tests/keys/ed25519.key");
const ED25519_PUB: &[u8] = include_bytes!("../tests/keys/ed25519.pub.pem");

const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// The typed claims: what an application would declare for this token.
#[derive(Clone, Debug, PartialEq, Deserialize)]
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

impl tower_jwt_auth::guard::Grants for TypedClaims {
    fn has_role(&self, _path: &tower_jwt_auth::guard::ClaimPath, role: &str) -> bool {
        self.roles.iter().any(|granted| granted == role)
    }
}

/// A claims type the floor can read `exp` from.
trait Expiring: DeserializeOwned {
    fn exp(&self) -> Option<u64>;
}

impl Expiring for TypedClaims {
    fn exp(&self) -> Option<u64> {
        Some(self.exp)
    }
}

impl Expiring for Map<String, Value> {
    fn exp(&self) -> Option<u64> {
        self.get("exp").and_then(Value::as_u64)
    }
}

/// The floor's key: prepared once.
enum FloorKey {
    Hmac(Box<Hmac<Sha256>>),
    Public(signature::ParsedPublicKey),
}

impl FloorKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(key) => {
                let mut mac = (**key).clone();
                mac.update(message);
                let tag = mac.finalize().into_bytes();
                constant_time::verify_slices_are_equal(&tag, signature).is_ok()
            }
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
        }
    }
}

#[derive(Deserialize)]
struct FloorHeader<'a> {
    alg: &'a str,
}

/// The floor pipeline; `None` on any failure.
fn floor<C: Expiring>(token: &str, key: &FloorKey, alg: &str, now: u64) -> Option<C> {
    let (signed, signature) = token.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    let mut buffer = [MaybeUninit::uninit(); 2048];
    let header = decode_floor(header, &mut buffer)?;
    let header: FloorHeader<'_> = serde_json::from_slice(header).ok()?;
    if header.alg != alg {
        return None;
    }
    let mut buffer = [MaybeUninit::uninit(); 1024];
    let signature = decode_floor(signature, &mut buffer)?;
    if !key.verify(signed.as_bytes(), signature) {
        return None;
    }
    let mut buffer = [MaybeUninit::uninit(); 2048];
    let payload = decode_floor(payload, &mut buffer)?;
    let claims: C = serde_json::from_slice(payload).ok()?;
    (claims.exp()? > now).then_some(claims)
}

/// The fastest base64url decoding at hand: SIMD, into an uninitialized stack buffer.
fn decode_floor<'b>(segment: &str, buffer: &'b mut [MaybeUninit<u8>]) -> Option<&'b [u8]> {
    let base64url = base64_simd::URL_SAFE_NO_PAD;
    if base64url.decoded_length(segment.as_bytes()).ok()? > buffer.len() {
        return None;
    }
    let out = base64_simd::Out::from_uninit_slice(buffer);
    base64url
        .decode(segment.as_bytes(), out)
        .ok()
        .map(|bytes| &*bytes)
}

/// The DER inside a PEM file.
fn pem_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).expect("PEM is text");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM body is base64")
}

/// One algorithm: the layer's key, `jsonwebtoken`'s keys and the floor's key.
struct Case {
    algorithm: Algorithm,
    layer_key: Key,
    encoding: EncodingKey,
    decoding: DecodingKey,
    floor_key: FloorKey,
}

impl Case {
    fn new(algorithm: Algorithm) -> Self {
        let public = |alg: &'static dyn signature::VerificationAlgorithm, pem: &[u8]| {
            FloorKey::Public(
                signature::ParsedPublicKey::new(alg, pem_der(pem)).expect("floor public key"),
            )
        };
        let (layer_key, encoding, decoding, floor_key) = match algorithm {
            Algorithm::HS256 => (
                Key::hmac(SECRET),
                EncodingKey::from_secret(SECRET),
                DecodingKey::from_secret(SECRET),
                FloorKey::Hmac(Box::new(
                    Hmac::new_from_slice(SECRET).expect("any HMAC key length"),
                )),
            ),
            Algorithm::RS256 => (
                Key::rsa_pem(RSA_PUB).expect("RSA public key"),
                EncodingKey::from_rsa_pem(RSA_KEY).expect("RSA private key"),
                DecodingKey::from_rsa_pem(RSA_PUB).expect("RSA public key"),
                public(&signature::RSA_PKCS1_2048_8192_SHA256, RSA_PUB),
            ),
            Algorithm::ES256 => (
                Key::ec_pem(EC256_PUB).expect("P-256 public key"),
                EncodingKey::from_ec_pem(EC256_KEY).expect("P-256 private key"),
                DecodingKey::from_ec_pem(EC256_PUB).expect("P-256 public key"),
                public(&signature::ECDSA_P256_SHA256_FIXED, EC256_PUB),
            ),
            Algorithm::EdDSA => (
                Key::ed_pem(ED25519_PUB).expect("Ed25519 public key"),
                EncodingKey::from_ed_pem(ED25519_KEY).expect("Ed25519 private key"),
                DecodingKey::from_ed_pem(ED25519_PUB).expect("Ed25519 public key"),
                public(&signature::ED25519, ED25519_PUB),
            ),
            other => unreachable!("no bench key for {other:?}"),
        };
        Self {
            algorithm,
            layer_key,
            encoding,
            decoding,
            floor_key,
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

/// Checks that `service` lets the token through (and, when `guarded`, refuses a request
/// without one), so the benchmark measures the success path of a layer that is really there.
fn check<S, B>(name: &str, rt: &Runtime, service: &S, authorization: &HeaderValue, guarded: bool)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    let status_with = status(rt, service, Some(authorization));
    assert_eq!(status_with, StatusCode::OK, "{name}: the token was refused");
    if guarded {
        let status_without = status(rt, service, None);
        assert_ne!(status_without, StatusCode::OK, "{name}: no layer");
    }
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

fn layer<C: DeserializeOwned + Send + Sync + 'static>(
    key: &Key,
    cache: Option<u64>,
) -> JwtLayer<C> {
    let builder = JwtLayer::builder().key(key.clone()).claims::<C>();
    let builder = match cache {
        Some(capacity) => builder.cache(capacity),
        None => builder,
    };
    builder.build().expect("building the layer")
}

fn bench_algorithm(c: &mut Criterion, rt: &Runtime, algorithm: Algorithm) {
    let case = Case::new(algorithm);
    let alg = format!("{:?}", case.algorithm);

    // Building a layer also installs the crypto provider as jsonwebtoken's process default,
    // which `encode` and `decode` below need when both crypto features are enabled.
    let typed = layer::<TypedClaims>(&case.layer_key, None);
    let map = layer::<JsonClaims>(&case.layer_key, None);
    let typed_cached = layer::<TypedClaims>(&case.layer_key, Some(10_000));
    let map_cached = layer::<JsonClaims>(&case.layer_key, Some(10_000));

    // Issued a minute ago, as the tokens of steady traffic are. A token in the first second or
    // two of its life is one the coarse clock cannot tell from one issued in the future, so
    // its cache hits take the full time checks and a precise clock read; measuring only such
    // tokens would measure that edge instead of the usual hit (BENCHMARKS.md has both).
    let iat = now() - 60;
    let claims = json!({
        "sub": "248289761001",
        "iss": "https://auth.example.com/",
        "aud": "https://api.example.com/",
        "iat": iat,
        "exp": iat + 3600,
        "jti": "5f2b7c9a0d8e4f61a3b2c1d0e9f8a7b6",
        "scope": "openid profile email read:users",
        "roles": ["user", "editor"],
    });
    let token = jsonwebtoken::encode(&Header::new(case.algorithm), &claims, &case.encoding)
        .expect("signing the token");
    let auth = HeaderValue::try_from(format!("Bearer {token}")).expect("header value");
    let expected_typed: TypedClaims = serde_json::from_value(claims.clone()).expect("typed");

    let mut validation = Validation::new(case.algorithm);
    validation.validate_exp = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let decoded = jsonwebtoken::decode::<TypedClaims>(&token, &case.decoding, &validation)
        .expect("jsonwebtoken::decode refused the token");
    assert_eq!(decoded.claims, expected_typed);
    let floored: TypedClaims =
        floor(&token, &case.floor_key, &alg, now()).expect("the floor refused the token");
    assert_eq!(floored, expected_typed);
    assert_eq!(
        typed.verifier().verify(&token).expect("verifier"),
        expected_typed
    );
    assert_eq!(
        Value::Object(map.verifier().verify(&token).expect("verifier").0),
        claims
    );

    let plain = service_fn(ok);
    let typed_service = typed.layer(plain);
    let map_service = map.layer(plain);
    let typed_cached_service = typed_cached.layer(plain);
    let map_cached_service = map_cached.layer(plain);
    let router = Router::new().route("/", get(handler));
    let router_layered = router.clone().route_layer(typed.clone());

    check("no_auth", rt, &plain, &auth, false);
    check("layer_typed", rt, &typed_service, &auth, true);
    check("layer_map", rt, &map_service, &auth, true);
    check("layer_cached_typed", rt, &typed_cached_service, &auth, true);
    check("layer_cached_map", rt, &map_cached_service, &auth, true);
    check("axum_no_auth", rt, &router, &auth, false);
    check("axum_layer_typed", rt, &router_layered, &auth, true);

    let mut group = c.benchmark_group(&alg);
    group.bench_function("decode_typed", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<TypedClaims>(black_box(&token), &case.decoding, &validation)
                .expect("decode")
        });
    });
    group.bench_function("decode_map", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Map<String, Value>>(
                black_box(&token),
                &case.decoding,
                &validation,
            )
            .expect("decode")
        });
    });
    group.bench_function("floor_typed", |b| {
        b.iter(|| {
            floor::<TypedClaims>(black_box(&token), &case.floor_key, &alg, now()).expect("floor")
        });
    });
    group.bench_function("floor_map", |b| {
        b.iter(|| {
            floor::<Map<String, Value>>(black_box(&token), &case.floor_key, &alg, now())
                .expect("floor")
        });
    });
    group.bench_function("verifier_typed", |b| {
        b.iter(|| typed.verifier().verify(black_box(&token)).expect("verify"));
    });
    group.bench_function("verifier_map", |b| {
        b.iter(|| map.verifier().verify(black_box(&token)).expect("verify"));
    });
    group.bench_function("no_auth", |b| bench_oneshot(b, rt, &plain, &auth));
    group.bench_function("layer_typed", |b| {
        bench_oneshot(b, rt, &typed_service, &auth);
    });
    group.bench_function("layer_map", |b| bench_oneshot(b, rt, &map_service, &auth));
    group.bench_function("layer_cached_typed", |b| {
        bench_oneshot(b, rt, &typed_cached_service, &auth);
    });
    group.bench_function("layer_cached_map", |b| {
        bench_oneshot(b, rt, &map_cached_service, &auth);
    });
    group.bench_function("axum_no_auth", |b| bench_oneshot(b, rt, &router, &auth));
    group.bench_function("axum_layer_typed", |b| {
        bench_oneshot(b, rt, &router_layered, &auth);
    });
    group.finish();

    if interleaving() {
        let mut cases: Vec<Turn<'_>> = vec![
            turn("no_auth", rt, &plain, &auth),
            (
                "decode",
                Box::new(|| {
                    black_box(
                        jsonwebtoken::decode::<TypedClaims>(&token, &case.decoding, &validation)
                            .expect("decode"),
                    );
                }),
            ),
            (
                "floor",
                Box::new(|| {
                    black_box(
                        floor::<TypedClaims>(&token, &case.floor_key, &alg, now()).expect("floor"),
                    );
                }),
            ),
            turn("layer", rt, &typed_service, &auth),
            turn("layer_cached", rt, &typed_cached_service, &auth),
            turn("axum_no_auth", rt, &router, &auth),
            turn("axum_layer", rt, &router_layered, &auth),
        ];
        let rounds = interleave(&mut cases);
        INTERLEAVED.with(|all| all.borrow_mut().push((alg.clone(), rounds)));
    }
}

/// One request through `service`, awaited.
fn send<S, B>(rt: &Runtime, service: &S, auth: &HeaderValue) -> Response<B>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    rt.block_on(service.clone().oneshot(request(Some(auth))))
        .expect("the service failed")
}

/// The case of the interleaved pass that sends one request through `service`.
fn turn<'a, S, B>(
    name: &'static str,
    rt: &'a Runtime,
    service: &'a S,
    auth: &'a HeaderValue,
) -> Turn<'a>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    (
        name,
        Box::new(move || drop(black_box(send(rt, service, auth)))),
    )
}

/// A named case of the interleaved pass.
type Turn<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Reads one case's time within a round.
type Lookup<'a> = &'a dyn Fn(&str) -> f64;

/// Per-round times (ns per call) of each case, the cases taking turns within every round, so
/// that a slow minute of a shared machine weighs on all of them alike.
type Rounds = Vec<Vec<(&'static str, f64)>>;

thread_local! {
    static INTERLEAVED: std::cell::RefCell<Vec<(String, Rounds)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether to run the interleaved pass: under `cargo bench` (not `cargo test --benches`), unless
/// `INTERLEAVE=0`.
fn interleaving() -> bool {
    std::env::args().any(|arg| arg == "--bench")
        && std::env::var("INTERLEAVE").map_or(true, |value| value != "0")
}

fn interleave(cases: &mut [Turn<'_>]) -> Rounds {
    const ROUNDS: usize = 31;
    const ROUND_TARGET: Duration = Duration::from_millis(4);
    // Calibrate: how many calls of each case fill a round's slot.
    let counts: Vec<u32> = cases
        .iter_mut()
        .map(|(_, case)| {
            let start = Instant::now();
            let mut calls = 0u32;
            while start.elapsed() < ROUND_TARGET / 4 {
                case();
                calls += 1;
            }
            (calls * 4).max(1)
        })
        .collect();
    (0..ROUNDS)
        .map(|_| {
            cases
                .iter_mut()
                .zip(&counts)
                .map(|((name, case), &calls)| {
                    let start = Instant::now();
                    for _ in 0..calls {
                        case();
                    }
                    (*name, start.elapsed().as_nanos() as f64 / f64::from(calls))
                })
                .collect()
        })
        .collect()
}

/// The median over `rounds` of a figure computed within each round.
fn median_over(rounds: &Rounds, figure: &dyn Fn(Lookup<'_>) -> f64) -> f64 {
    middle(
        rounds
            .iter()
            .map(|round| {
                figure(&|name: &str| {
                    round
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or(f64::NAN, |(_, ns)| *ns)
                })
            })
            .collect(),
    )
}

fn middle(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The target ratios, each computed within every round, then their median over the rounds.
fn report_interleaved() {
    INTERLEAVED.with(|all| {
        let all = all.borrow();
        if all.is_empty() {
            return;
        }
        println!("\nInterleaved ratios (median over rounds of per-round ratios):");
        for (alg, rounds) in all.iter() {
            let ratio = |figure: &dyn Fn(Lookup<'_>) -> f64| median_over(rounds, figure);
            println!(
                "{alg}: layer-no_auth-decode {:+.2} µs | (layer-no_auth)/decode {:.2} | \
                 (layer-no_auth)/floor {:.2} | axum_layer/(axum_no_auth+floor) {:.2} | \
                 layer/layer_cached {:.1} | decode {:.2} µs, floor {:.2} µs, no_auth {:.2} µs, \
                 layer {:.2} µs, layer_cached {:.2} µs, axum_no_auth {:.2} µs, axum_layer {:.2} µs",
                ratio(&|t| (t("layer") - t("no_auth") - t("decode")) / 1_000.0),
                ratio(&|t| (t("layer") - t("no_auth")) / t("decode")),
                ratio(&|t| (t("layer") - t("no_auth")) / t("floor")),
                ratio(&|t| t("axum_layer") / (t("axum_no_auth") + t("floor"))),
                ratio(&|t| t("layer") / t("layer_cached")),
                ratio(&|t| t("decode") / 1_000.0),
                ratio(&|t| t("floor") / 1_000.0),
                ratio(&|t| t("no_auth") / 1_000.0),
                ratio(&|t| t("layer") / 1_000.0),
                ratio(&|t| t("layer_cached") / 1_000.0),
                ratio(&|t| t("axum_no_auth") / 1_000.0),
                ratio(&|t| t("axum_layer") / 1_000.0),
            );
        }
    });
}

/// Where criterion writes its results, found as criterion finds it.
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// The median of a benchmark, in nanoseconds, if it ran in this process (after `since`).
fn median(group: &str, bench: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_home()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let estimates: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

/// Prints the ratios of the targets, from this run's medians.
fn report(since: SystemTime) {
    let mut lines = Vec::new();
    for algorithm in ALGORITHMS {
        let group = format!("{algorithm:?}");
        let m = |bench: &str| median(&group, bench, since);
        let mut row = Vec::new();
        for kind in ["typed", "map"] {
            let (Some(layer), Some(no_auth), Some(decode), Some(floor)) = (
                m(&format!("layer_{kind}")),
                m("no_auth"),
                m(&format!("decode_{kind}")),
                m(&format!("floor_{kind}")),
            ) else {
                continue;
            };
            let own = layer - no_auth;
            row.push(format!(
                "{kind}: layer-no_auth-decode {:+.2} µs, (layer-no_auth)/decode {:.2}, \
                 (layer-no_auth)/floor {:.2}",
                (own - decode) / 1_000.0,
                own / decode,
                own / floor,
            ));
            if let Some(cached) = m(&format!("layer_cached_{kind}")) {
                row.push(format!("{kind}: layer/layer_cached {:.1}", layer / cached));
            }
        }
        if let (Some(axum_layer), Some(axum_plain), Some(floor)) =
            (m("axum_layer_typed"), m("axum_no_auth"), m("floor_typed"))
        {
            row.push(format!(
                "axum_layer_typed/(axum_no_auth+floor_typed) {:.2}",
                axum_layer / (axum_plain + floor)
            ));
        }
        if !row.is_empty() {
            lines.push(format!("{group}:\n  {}", row.join("\n  ")));
        }
    }
    if !lines.is_empty() {
        println!("\nRatios from this run's medians:\n{}", lines.join("\n"));
    }
}

/// The guards behind a cached typed layer, behind a Router: interleaved only (see the module docs).
fn bench_guards(rt: &Runtime) {
    if !interleaving() {
        return;
    }
    use tower_jwt_auth::RequireRoles;
    let key = Key::hmac(SECRET);
    let auth = hs256_authorization();
    let typed = layer::<TypedClaims>(&key, Some(10_000));
    let map = layer::<JsonClaims>(&key, Some(10_000));
    let route = || Router::new().route("/", get(handler));
    let editors = || RequireRoles::any(["editor"]).expect("a role");
    let typed_router = route().layer(typed.clone());
    let map_router = route().layer(map);
    let typed_guard = route()
        .route_layer(editors().claims::<TypedClaims>())
        .layer(typed.clone());
    let untyped_guard = route().route_layer(editors()).layer(typed);
    for (name, router) in [
        ("typed", &typed_router),
        ("map", &map_router),
        ("typed_guard", &typed_guard),
        ("untyped_guard", &untyped_guard),
    ] {
        check(name, rt, router, &auth, true);
    }
    let mut cases = vec![
        turn("typed", rt, &typed_router, &auth),
        turn("map", rt, &map_router, &auth),
        turn("typed_guard", rt, &typed_guard, &auth),
        turn("untyped_guard", rt, &untyped_guard, &auth),
    ];
    let rounds = interleave(&mut cases);
    let ratio = |figure: &dyn Fn(Lookup<'_>) -> f64| median_over(&rounds, figure);
    println!(
        "\nGuards behind a typed layer (HS256, cached, axum Router; medians of per-round \
         ratios):\ntyped/map {:.3} | typed_guard/typed {:.3} | untyped_guard/typed {:.3} | \
         untyped_guard-typed_guard {:+.0} ns | typed {:.0} ns, map {:.0} ns, typed_guard {:.0} ns, \
         untyped_guard {:.0} ns",
        ratio(&|t| t("typed") / t("map")),
        ratio(&|t| t("typed_guard") / t("typed")),
        ratio(&|t| t("untyped_guard") / t("typed")),
        ratio(&|t| t("untyped_guard") - t("typed_guard")),
        ratio(&|t| t("typed")),
        ratio(&|t| t("map")),
        ratio(&|t| t("typed_guard")),
        ratio(&|t| t("untyped_guard")),
    );
}

/// `Authorization: Bearer` with the benches' access token, signed with HS256.
fn hs256_authorization() -> HeaderValue {
    let iat = now() - 60;
    let claims = json!({
        "sub": "248289761001", "iss": "https://auth.example.com/",
        "aud": "https://api.example.com/", "iat": iat, "exp": iat + 3600,
        "jti": "5f2b7c9a0d8e4f61a3b2c1d0e9f8a7b6", "scope": "openid profile email read:users",
        "roles": ["user", "editor"],
    });
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("signing the token");
    HeaderValue::try_from(format!("Bearer {token}")).expect("header value")
}

/// What the decision span and the metrics cost a cached HS256 layer in an axum `Router`:
/// interleaved only, and last, as it installs tracing dispatchers (which makes every
/// callsite's interest dynamic from then on).
///
/// - `quiet`: no subscriber, no recorder: the span's callsite is disabled once and for all.
/// - `muted`: each request under a subscriber at INFO, so the DEBUG span is asked for and
///   refused at every request, as under a filter that changes at run time.
/// - `traced`: each request under a subscriber at DEBUG (the registry, storing the span and
///   its fields): what an enabled span costs over `muted`.
/// - `recorded` (feature `metrics`): each request with a recorder built on `metrics-util`'s
///   registry of atomic metrics, as exporters are: what the metrics cost over `quiet`.
fn bench_telemetry(rt: &Runtime) {
    if !interleaving() {
        return;
    }
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt;
    let auth = hs256_authorization();
    let router = Router::new()
        .route("/", get(handler))
        .layer(layer::<TypedClaims>(&Key::hmac(SECRET), Some(10_000)));
    check("telemetry", rt, &router, &auth, true);
    let dispatch =
        |level: LevelFilter| tracing::Dispatch::new(tracing_subscriber::registry().with(level));
    let (muted, traced) = (dispatch(LevelFilter::INFO), dispatch(LevelFilter::DEBUG));
    let under = |dispatch: &tracing::Dispatch| {
        tracing::dispatcher::with_default(dispatch, || drop(black_box(send(rt, &router, &auth))))
    };
    #[cfg(feature = "metrics")]
    let recorder = metrics_recorder::Atomic::default();
    let mut cases = vec![
        turn("quiet", rt, &router, &auth),
        ("muted", Box::new(|| under(&muted)) as Box<dyn FnMut()>),
        ("traced", Box::new(|| under(&traced))),
    ];
    #[cfg(feature = "metrics")]
    cases.push((
        "recorded",
        Box::new(|| {
            metrics::with_local_recorder(&recorder, || drop(black_box(send(rt, &router, &auth))))
        }),
    ));
    let rounds = interleave(&mut cases);
    let ratio = |figure: &dyn Fn(Lookup<'_>) -> f64| median_over(&rounds, figure);
    print!(
        "\nTelemetry (HS256, cached, axum Router; medians of per-round figures):\n\
         traced-muted {:+.0} ns | muted-quiet {:+.0} ns | traced/quiet {:.3} | quiet {:.0} ns",
        ratio(&|t| t("traced") - t("muted")),
        ratio(&|t| t("muted") - t("quiet")),
        ratio(&|t| t("traced") / t("quiet")),
        ratio(&|t| t("quiet")),
    );
    #[cfg(feature = "metrics")]
    print!(
        " | recorded-quiet {:+.0} ns | recorded/quiet {:.3}",
        ratio(&|t| t("recorded") - t("quiet")),
        ratio(&|t| t("recorded") / t("quiet")),
    );
    println!();
}

/// A recorder as metrics exporters build theirs: `metrics-util`'s registry of atomic
/// counters and histograms (buckets of samples), each looked up by its key at every call.
#[cfg(feature = "metrics")]
mod metrics_recorder {
    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };
    use metrics_util::registry::{AtomicStorage, Registry};

    pub(super) struct Atomic(Registry<Key, AtomicStorage>);

    impl Default for Atomic {
        fn default() -> Self {
            Self(Registry::atomic())
        }
    }

    impl Recorder for Atomic {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            self.0
                .get_or_create_counter(key, |counter| Counter::from_arc(counter.clone()))
        }

        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            self.0
                .get_or_create_gauge(key, |gauge| Gauge::from_arc(gauge.clone()))
        }

        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            self.0
                .get_or_create_histogram(key, |histogram| Histogram::from_arc(histogram.clone()))
        }
    }
}

/// Issue 24's targets, behind a one-route axum `Router` as users run the layer (HS256, typed
/// claims): interleaved only.
///
/// - `no_auth`: the router without the layer; `floor`: the floor pipeline alone.
/// - `cached`: the layer with `.cache(10_000)`, every request a hit.
/// - `cached_revocations`: the same with a `MemoryRevocationStore` holding 2,000 revocations of
///   other logins and subjects, so its lookups probe filled maps.
/// - `uncached`: the layer without a cache.
/// - `churn_cached` / `churn_uncached`: 100,000 distinct tokens in a fixed pseudo-random order
///   through a 10,000-entry cache, and through no cache: a churn the cache cannot hold. The
///   cache is first filled by 30,000 requests of the same churn, as in a churn that lasts.
fn bench_router() {
    if !interleaving() {
        return;
    }
    // With the timer, as `#[tokio::main]` builds it: the asynchronous checks are bounded by
    // timeouts.
    let rt = &tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    use tower_jwt_auth::revocation::{MemoryRevocationStore, RevocationStore};
    const DISTINCT: usize = 100_000;
    let key = Key::hmac(SECRET);
    let auth = hs256_authorization();
    let route = || Router::new().route("/", get(handler));
    let store = MemoryRevocationStore::default();
    let ttl = Duration::from_secs(3600);
    rt.block_on(async {
        for i in 0..1_000 {
            let subject = format!("revoked-subject-{i}");
            store
                .revoke_subject(&subject, now(), ttl)
                .await
                .expect("a subject revoked");
            store
                .revoke_login(&format!("login-{i}"), &format!("other-{i}"), now(), ttl)
                .await
                .expect("a login revoked");
        }
    });
    let no_auth = route();
    let cached = route().layer(layer::<TypedClaims>(&key, Some(10_000)));
    let cached_revocations = route().layer(
        JwtLayer::builder()
            .key(key.clone())
            .claims::<TypedClaims>()
            .cache(10_000)
            .revocations(store)
            .build()
            .expect("the layer"),
    );
    let uncached = route().layer(layer::<TypedClaims>(&key, None));
    let churn_cached = route().layer(layer::<TypedClaims>(&key, Some(10_000)));
    let churn_uncached = uncached.clone();
    for (name, router) in [
        ("cached", &cached),
        ("cached_revocations", &cached_revocations),
        ("uncached", &uncached),
    ] {
        check(name, rt, router, &auth, true);
    }
    let iat = now() - 60;
    let tokens: Vec<HeaderValue> = (0..DISTINCT)
        .map(|i| {
            let claims = json!({
                "sub": format!("user-{i}"), "iss": "https://auth.example.com/",
                "aud": "https://api.example.com/", "iat": iat, "exp": iat + 3600,
                "jti": format!("{i:032x}"), "scope": "openid profile email read:users",
                "roles": ["user", "editor"],
            });
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .expect("signing a token");
            HeaderValue::try_from(format!("Bearer {token}")).expect("header value")
        })
        .collect();
    // A fixed pseudo-random order (an LCG), the same for both churn cases.
    let order: Vec<usize> = std::iter::successors(Some(12_345u64), |x| {
        Some(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        )
    })
    .map(|x| (x >> 33) as usize % DISTINCT)
    .take(1 << 20)
    .collect();
    // The steady state: the churn cache full (more than its capacity of distinct tokens
    // seen), as under a churn that lasts.
    let mut warm_up = churn_turn("warm-up", rt, &churn_cached, &tokens, &order[DISTINCT..]);
    for _ in 0..3 * 10_000 {
        (warm_up.1)();
    }
    drop(warm_up);
    let (token, case) = (
        auth.to_str().expect("ASCII")["Bearer ".len()..].to_owned(),
        Case::new(Algorithm::HS256),
    );
    let mut cases: Vec<Turn<'_>> = vec![
        turn("no_auth", rt, &no_auth, &auth),
        (
            "floor",
            Box::new(|| {
                black_box(
                    floor::<TypedClaims>(&token, &case.floor_key, "HS256", now()).expect("floor"),
                );
            }),
        ),
        turn("cached", rt, &cached, &auth),
        turn("cached_revocations", rt, &cached_revocations, &auth),
        turn("uncached", rt, &uncached, &auth),
        churn_turn("churn_cached", rt, &churn_cached, &tokens, &order),
        churn_turn("churn_uncached", rt, &churn_uncached, &tokens, &order),
    ];
    let rounds = interleave(&mut cases);
    let ratio = |figure: &dyn Fn(Lookup<'_>) -> f64| median_over(&rounds, figure);
    println!(
        "\nBehind a Router (HS256, typed claims; medians of per-round figures):\n\
         cached-no_auth {:+.0} ns (target <= 400) | cached_revocations-cached {:+.0} ns \
         (target <= 150) | uncached/(no_auth+floor) {:.3} (target <= 1.2) | \
         churn_cached/churn_uncached {:.3} (target <= 1.03) | no_auth {:.0} ns, floor {:.0} ns, \
         cached {:.0} ns, cached_revocations {:.0} ns, uncached {:.0} ns, churn_cached {:.0} ns, \
         churn_uncached {:.0} ns",
        ratio(&|t| t("cached") - t("no_auth")),
        ratio(&|t| t("cached_revocations") - t("cached")),
        ratio(&|t| t("uncached") / (t("no_auth") + t("floor"))),
        ratio(&|t| t("churn_cached") / t("churn_uncached")),
        ratio(&|t| t("no_auth")),
        ratio(&|t| t("floor")),
        ratio(&|t| t("cached")),
        ratio(&|t| t("cached_revocations")),
        ratio(&|t| t("uncached")),
        ratio(&|t| t("churn_cached")),
        ratio(&|t| t("churn_uncached")),
    );
}

/// The case of the interleaved pass that sends, at each call, the next of `tokens` in `order`.
fn churn_turn<'a>(
    name: &'static str,
    rt: &'a Runtime,
    router: &'a Router,
    tokens: &'a [HeaderValue],
    order: &'a [usize],
) -> Turn<'a> {
    let mut next = 0usize;
    (
        name,
        Box::new(move || {
            let token = &tokens[order[next % order.len()]];
            next += 1;
            drop(black_box(send(rt, router, token)));
        }),
    )
}

/// `kid` lookup among 1 and 1,000 keys, and the tenant picked by `iss` among two, through the
/// verifier (HS256); and RS256 keys from a JWKS under 32 kids taken in turn, against one kid:
/// interleaved only.
fn bench_keys_and_tenants() {
    if !interleaving() {
        return;
    }
    use tower_jwt_auth::layer::Tenant;
    let secret = |i: usize| format!("bench-secret-{i:04}-that-is-at-least-32-bytes-long");
    let sign = |kid: &str, secret: &str, claims: &Value| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("signing the token")
    };
    let iat = now() - 60;
    let claims =
        |iss: &str| json!({ "sub": "248289761001", "iss": iss, "iat": iat, "exp": iat + 3600 });
    // The same issuer rule as each tenant's, so that the difference is the tenant's selection.
    let one = JwtLayer::builder()
        .key(Key::hmac(secret(0)).with_kid("k0"))
        .issuer("https://b.example/")
        .build()
        .expect("one key");
    let thousand = JwtLayer::builder()
        .keys((0..1000).map(|i| Key::hmac(secret(i)).with_kid(format!("k{i}"))))
        .build()
        .expect("a thousand keys");
    let tenants = JwtLayer::builder()
        .tenant(Tenant::new("https://a.example/").key(Key::hmac(secret(1)).with_kid("k1")))
        .tenant(Tenant::new("https://b.example/").key(Key::hmac(secret(0)).with_kid("k0")))
        .build()
        .expect("two tenants");
    let first = sign("k0", &secret(0), &claims("https://b.example/"));
    let last = sign("k999", &secret(999), &claims("https://b.example/"));
    for (layer, token) in [
        (&one, &first),
        (&thousand, &first),
        (&thousand, &last),
        (&tenants, &first),
    ] {
        layer.verifier().verify(token).expect("the token verifies");
    }
    // RSA keys as a JWKS gives them (modulus and exponent): the same key under 32 kids, one
    // token for each, taken in turn, so that no per-thread set of a few verifiers could hold
    // them all; against one kid.
    let rsa = EncodingKey::from_rsa_pem(RSA_KEY).expect("RSA private key");
    let jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&rsa, Algorithm::RS256).expect("a JWK"),
    )
    .expect("JWK as JSON");
    let jwks = json!({ "keys": (0..32).map(|i| {
        let mut key = jwk.clone();
        key["kid"] = json!(format!("r{i}"));
        key["use"] = json!("sig");
        key
    }).collect::<Vec<_>>() });
    let rsa_keys = JwtLayer::builder()
        .keys(Key::from_jwks_json(&jwks.to_string()).expect("the JWKS"))
        .build()
        .expect("RSA keys");
    let rsa_tokens: Vec<String> = (0..32)
        .map(|i| {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(format!("r{i}"));
            jsonwebtoken::encode(&header, &claims("https://b.example/"), &rsa).expect("signing")
        })
        .collect();
    for token in &rsa_tokens {
        rsa_keys
            .verifier()
            .verify(token)
            .expect("an RSA token verifies");
    }
    let verify = |layer: &JwtLayer, token: &String| {
        drop(black_box(layer.verifier().verify(black_box(token))));
    };
    let mut next_rsa = 0usize;
    let mut cases: Vec<Turn<'_>> = vec![
        ("one_key", Box::new(|| verify(&one, &first))),
        ("thousand_first", Box::new(|| verify(&thousand, &first))),
        ("thousand_last", Box::new(|| verify(&thousand, &last))),
        ("two_tenants", Box::new(|| verify(&tenants, &first))),
        (
            "rsa_one_kid",
            Box::new(|| verify(&rsa_keys, &rsa_tokens[0])),
        ),
        (
            "rsa_32_kids",
            Box::new(|| {
                next_rsa = (next_rsa + 1) % rsa_tokens.len();
                verify(&rsa_keys, &rsa_tokens[next_rsa]);
            }),
        ),
    ];
    let rounds = interleave(&mut cases);
    let ratio = |figure: &dyn Fn(Lookup<'_>) -> f64| median_over(&rounds, figure);
    println!(
        "\nKeys and tenants (HS256, Verifier::verify; medians of per-round ratios):\n\
         thousand_last/one_key {:.3} | thousand_first/one_key {:.3} | \
         two_tenants-one_key {:+.0} ns | rsa_32_kids/rsa_one_kid {:.3} | one_key {:.0} ns, \
         thousand_last {:.0} ns, two_tenants {:.0} ns, rsa_one_kid {:.0} ns",
        ratio(&|t| t("thousand_last") / t("one_key")),
        ratio(&|t| t("thousand_first") / t("one_key")),
        ratio(&|t| t("two_tenants") - t("one_key")),
        ratio(&|t| t("rsa_32_kids") / t("rsa_one_kid")),
        ratio(&|t| t("one_key")),
        ratio(&|t| t("thousand_last")),
        ratio(&|t| t("two_tenants")),
        ratio(&|t| t("rsa_one_kid")),
    );
}

fn main() {
    let since = SystemTime::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let mut criterion = Criterion::default().configure_from_args();
    for algorithm in ALGORITHMS {
        bench_algorithm(&mut criterion, &rt, algorithm);
    }
    criterion.final_summary();
    report(since);
    report_interleaved();
    bench_router();
    bench_guards(&rt);
    bench_keys_and_tenants();
    bench_telemetry(&rt);
}
