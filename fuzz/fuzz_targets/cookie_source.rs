//! (b) The cookie source: arbitrary bytes as one to three `Cookie` header values (split at
//! `\n`), through the layer with `TokenSource::cookie()` and `TokenSource::header_or_cookie()`.
#![no_main]

use std::sync::LazyLock;

use fuzz_harness::{Profile, Subject, check, cookies, header_values, layer, send};
use libfuzzer_sys::fuzz_target;
use tower_jwt_auth::TokenSource;

static SUBJECTS: LazyLock<[Subject; 3]> = LazyLock::new(|| {
    [
        layer(Profile::Plain, TokenSource::cookie()),
        layer(Profile::Plain, TokenSource::header_or_cookie()),
        layer(Profile::Strict, TokenSource::cookie()),
    ]
});

fuzz_target!(|data: &[u8]| {
    let values = header_values(data, 3);
    let headers = cookies(&values);
    for subject in SUBJECTS.iter() {
        check(subject, &send(&subject.layer, &headers));
    }
});
