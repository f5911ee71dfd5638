//! Heap allocations on the verification path, counted by a global allocator.
//!
//! Verification runs on every request, so the layer's own work must not allocate: the header
//! parameters and the registered claims the rules compare are read borrowed from the token's
//! text, and only the user's claims type decides what gets allocated. Through the layer, a
//! request allocates only what handing the claims over takes: the claims' `Arc` and one request
//! extension (two with `expose_token`, which hands the token over too); a cache hit, only the
//! extension.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_jwt_auth::{JwtLayer, Key, layer::JwtLayerBuilder};

/// Counts the allocations of the current thread: tests run on threads of their own, so one
/// test's count is not disturbed by another's.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: allocations during the thread's teardown are not counted, and never panic.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is forwarded to `System` unchanged; counting touches no allocator state.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many allocations `work` made on this thread.
fn allocations<R>(work: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = work();
    (ALLOCATIONS.with(Cell::get) - before, result)
}

/// A claims type that owns no heap memory: whatever is allocated is the verifier's doing.
#[derive(Debug, Deserialize, PartialEq)]
struct Times {
    exp: u64,
    iat: u64,
}

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://api.example";

/// Every rule that compares a string: `typ`, `kid`, `iss`, `aud`, `sub`.
fn every_string_rule() -> JwtLayerBuilder<Times> {
    JwtLayer::builder()
        .key(Key::hmac(SECRET).with_kid("signing-key-1"))
        .typ("JWT")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .subject("alice")
        .claims::<Times>()
}

fn signed(header: &str, payload: &Value) -> String {
    hs256_raw(header, &payload.to_string())
}

#[test]
fn string_rules_compare_without_allocating() {
    let layer = every_string_rule().build().unwrap();
    let header = r#"{"alg":"HS256","typ":"JWT","kid":"signing-key-1"}"#;
    let one_audience = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": now() + 600, "iat": now(),
    });
    let many_audiences = json!({
        "iss": ISSUER, "aud": ["https://other.example", AUDIENCE], "sub": "alice",
        "exp": now() + 600, "iat": now(),
    });
    for payload in [one_audience, many_audiences] {
        let token = signed(header, &payload);
        // Once first, so nothing initialized on first use is counted.
        layer.verifier().verify(&token).expect("the token verifies");
        let (count, claims) = allocations(|| layer.verifier().verify(&token));
        assert_eq!(
            claims,
            Ok(Times {
                exp: payload["exp"].as_u64().unwrap(),
                iat: payload["iat"].as_u64().unwrap(),
            })
        );
        assert_eq!(count, 0, "allocations verifying {payload}");
    }
}

/// Forty Ed25519 keys taken in turn, past any per-thread cache of verifiers: each key's
/// verifier is prepared once with the key, so no verification builds one (which allocates).
/// Ed25519 verification itself allocates nothing in either backend.
#[test]
fn forty_public_keys_in_turn_verify_without_building_a_verifier() {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let pairs: Vec<(String, jsonwebtoken::EncodingKey, Value)> = (0..40)
        .map(|i| {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
                .expect("a generated key");
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("its own key");
            let kid = format!("ed-{i}");
            let jwk = json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid,
                "x": b64(pair.public_key().as_ref()),
            });
            let signing = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref());
            (kid, signing, jwk)
        })
        .collect();
    let document = json!({ "keys": pairs.iter().map(|(_, _, jwk)| jwk).collect::<Vec<_>>() });
    let layer = JwtLayer::builder()
        .keys(Key::from_jwks_json(&document.to_string()).unwrap())
        .claims::<Times>()
        .build()
        .unwrap();
    let payload = json!({ "exp": now() + 600, "iat": now() }).to_string();
    let tokens: Vec<String> = pairs
        .iter()
        .map(|(kid, signing, _)| {
            let header = json!({ "alg": "EdDSA", "kid": kid }).to_string();
            sign_raw(&header, &payload, jsonwebtoken::Algorithm::EdDSA, signing)
        })
        .collect();
    // Every key once first, so nothing initialized on first use is counted.
    for token in &tokens {
        layer.verifier().verify(token).expect("the token verifies");
    }
    for round in 0..3 {
        for (i, token) in tokens.iter().enumerate() {
            let (count, verified) = allocations(|| layer.verifier().verify(token));
            assert!(verified.is_ok(), "key {i}, round {round}");
            assert_eq!(
                count, 0,
                "allocations verifying with key {i}, round {round}"
            );
        }
    }
    // Each key verifies its own tokens only: key 1's kid on key 0's signature is refused.
    let header = json!({ "alg": "EdDSA", "kid": "ed-1" }).to_string();
    let crossed = sign_raw(
        &header,
        &payload,
        jsonwebtoken::Algorithm::EdDSA,
        &pairs[0].1,
    );
    assert!(layer.verifier().verify(&crossed).is_err());
}

/// A stand-in for the `BearerToken` a hand-written middleware would hand over.
#[derive(Clone)]
#[allow(dead_code)] // Only its size matters.
struct TokenSized([u64; 8]);

type Inner = tower::util::ServiceFn<
    fn(
        http::Request<axum::body::Body>,
    )
        -> std::future::Ready<Result<http::Response<axum::body::Body>, std::convert::Infallible>>,
>;

fn inner() -> Inner {
    tower::service_fn(|_request| {
        std::future::ready(Ok(http::Response::new(axum::body::Body::empty())))
    })
}

/// A request whose `Authorization` value is what hyper makes of one: a slice of the
/// connection's read buffer, which its clones share (a value built from a `String` would
/// allocate a shared header at its first clone, which no server request does).
fn bearer_request(token: &str) -> http::Request<axum::body::Body> {
    let mut read_buffer = bytes::BytesMut::from(format!("Bearer {token}\r\n").as_bytes());
    let value = read_buffer.split_to(read_buffer.len() - 2).freeze();
    http::Request::builder()
        .uri("/")
        .header(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_maybe_shared(value).unwrap(),
        )
        .body(axum::body::Body::empty())
        .unwrap()
}

/// Allocations of one request through `service`, built beforehand, answered, then dropped.
fn request_allocations<S>(runtime: &tokio::runtime::Runtime, service: &S, token: &str) -> usize
where
    S: tower::Service<http::Request<axum::body::Body>> + Clone,
    S::Error: std::fmt::Debug,
{
    use tower::ServiceExt;
    let request = bearer_request(token);
    let service = service.clone();
    allocations(|| drop(runtime.block_on(service.oneshot(request)).unwrap())).0
}

/// A service behind which a hand-written middleware inserts what the layer hands over: the
/// claims in an `Arc` (unless `shared`: then a clone of one `Arc`, as a cache hit hands over) and,
/// when `with_token`, a value the size of a `BearerToken`.
fn by_hand(
    with_token: bool,
    shared: Option<tower_jwt_auth::Claims<Times>>,
) -> impl tower::Service<
    http::Request<axum::body::Body>,
    Response = http::Response<axum::body::Body>,
    Error = std::convert::Infallible,
> + Clone {
    tower::service_fn(move |mut request: http::Request<axum::body::Body>| {
        let extensions = request.extensions_mut();
        match &shared {
            Some(claims) => extensions.insert(claims.clone()),
            None => extensions.insert(tower_jwt_auth::Claims::new(Times { exp: 0, iat: 0 })),
        };
        if with_token {
            extensions.insert(TokenSized([0; 8]));
        }
        tower::Service::call(&mut inner(), request)
    })
}

#[test]
fn an_accepted_request_allocates_no_more_than_handing_its_claims_over() {
    assert_eq!(
        std::mem::size_of::<TokenSized>(),
        std::mem::size_of::<tower_jwt_auth::source::BearerToken>()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let token = signed(
        r#"{"alg":"HS256","typ":"JWT","kid":"signing-key-1"}"#,
        &json!({
            "iss": ISSUER, "aud": [AUDIENCE], "sub": "alice", "exp": now() + 600, "iat": now(),
        }),
    );
    let shared = Some(tower_jwt_auth::Claims::new(Times { exp: 0, iat: 0 }));
    let cases = [
        ("default", every_string_rule(), by_hand(false, None)),
        (
            "expose_token",
            every_string_rule().expose_token(),
            by_hand(true, None),
        ),
        (
            "cache hit",
            every_string_rule().cache(10),
            by_hand(false, shared.clone()),
        ),
        (
            "cache hit, expose_token",
            every_string_rule().cache(10).expose_token(),
            by_hand(true, shared),
        ),
    ];
    for (name, builder, by_hand) in cases {
        let layered = tower::Layer::layer(&builder.build().unwrap(), inner());
        // Warm both up (and fill the cache), then compare request for request.
        for _ in 0..3 {
            request_allocations(&runtime, &layered, &token);
            request_allocations(&runtime, &by_hand, &token);
        }
        let through_layer = request_allocations(&runtime, &layered, &token);
        let handed_over = request_allocations(&runtime, &by_hand, &token);
        assert_eq!(
            through_layer, handed_over,
            "{name}: the layer allocates {through_layer} times per request where handing its \
             claims over takes {handed_over}"
        );
    }
}
