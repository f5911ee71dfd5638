//! Heap allocations on the verification path, counted by a global allocator.
//!
//! Verification runs on every request, so the layer's own work must not allocate: the header
//! parameters and the registered claims the rules compare are read borrowed from the token's
//! text, and only the user's claims type decides what gets allocated.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_jwt_auth::{JwtLayer, JwtLayerBuilder, Key};

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
    sign_raw(
        header,
        &payload.to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET),
    )
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
