//! (c) The whole layer on arbitrary bytes: as a raw `Authorization` value, as the token after
//! `Bearer `, as the auth cookie, straight into the verifier, and, split at the first NUL into
//! header and payload JSON, as a correctly HS256-signed token, which reaches everything after the
//! signature check (claims, `typ`, `crit`, `kid`, the claims type).
#![no_main]

use std::sync::LazyLock;

use fuzz_harness::{Profile, Subject, authorization, check, cookies, hs256_signed, layer, send};
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use tower_jwt_auth::TokenSource;

static SUBJECTS: LazyLock<[Subject; 3]> = LazyLock::new(|| {
    [
        layer(Profile::Plain, TokenSource::header_or_cookie()),
        layer(Profile::Strict, TokenSource::header_or_cookie()),
        layer(Profile::KeySet, TokenSource::header_or_cookie()),
    ]
});

fn try_all(value: Vec<u8>, as_cookie: bool) {
    let Ok(value) = HeaderValue::from_bytes(&value) else {
        return;
    };
    let headers = if as_cookie {
        cookies(&[value])
    } else {
        authorization(&[value])
    };
    for subject in SUBJECTS.iter() {
        check(subject, &send(&subject.layer, &headers));
    }
}

fuzz_target!(|data: &[u8]| {
    try_all(data.to_vec(), false);
    try_all([b"Bearer ".as_slice(), data].concat(), false);
    try_all([b"auth=".as_slice(), data].concat(), true);
    if let Ok(text) = std::str::from_utf8(data) {
        for subject in SUBJECTS.iter() {
            // Whatever the verifier says, it must say it without panicking.
            let _ = subject.layer.verifier().verify(text);
        }
    }
    let (header, payload) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (&br#"{"alg":"HS256","typ":"at+jwt","kid":"hmac"}"#[..], data),
    };
    let token = hs256_signed(header, payload);
    try_all(format!("Bearer {token}").into_bytes(), false);
});
