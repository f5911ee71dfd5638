//! (a) The `Authorization` header parser: arbitrary bytes as one to three header values (split
//! at `\n`), through the layer with `TokenSource::Header`.
#![no_main]

use std::sync::LazyLock;

use fuzz_harness::{Profile, Subject, authorization, check, header_values, layer, send};
use libfuzzer_sys::fuzz_target;
use tower_jwt_auth::TokenSource;

static SUBJECTS: LazyLock<[Subject; 2]> = LazyLock::new(|| {
    [
        layer(Profile::Plain, TokenSource::Header),
        layer(Profile::KeySet, TokenSource::Header),
    ]
});

fuzz_target!(|data: &[u8]| {
    let values = header_values(data, 3);
    let headers = authorization(&values);
    for subject in SUBJECTS.iter() {
        check(subject, &send(&subject.layer, &headers));
    }
});
