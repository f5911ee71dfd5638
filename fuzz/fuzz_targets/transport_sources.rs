//! (d) The sources of other transports: arbitrary bytes split at `\n` into a query string, an
//! `X-Api-Token` header and up to two `Sec-WebSocket-Protocol` lines, on a WebSocket upgrade,
//! through layers that read the query (on every request, or on upgrades only), the named header
//! with a scheme, and the subprotocol list, alone and combined.
#![no_main]

use std::sync::LazyLock;

use fuzz_harness::{Profile, Subject, check, header_values, layer, send_to};
use http::header::{CONNECTION, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use http::{HeaderName, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use tower_jwt_auth::TokenSource;

static SUBJECTS: LazyLock<[Subject; 4]> = LazyLock::new(|| {
    let api_token = || TokenSource::named_header_with_scheme("x-api-token", "Token");
    [
        layer(Profile::Plain, TokenSource::query("access_token")),
        layer(Profile::Plain, api_token()),
        layer(Profile::Plain, TokenSource::websocket_protocol()),
        layer(
            Profile::Strict,
            TokenSource::Header
                .or(TokenSource::query_on_upgrades("access_token"))
                .or(api_token())
                .or(TokenSource::websocket_protocol()),
        ),
    ]
});

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == b'\n');
    let query = parts.next().unwrap_or_default();
    let uri = std::str::from_utf8(query)
        .ok()
        .and_then(|query| format!("/ws?{query}").parse::<Uri>().ok())
        .unwrap_or_else(|| Uri::from_static("/ws"));
    let values = header_values(parts.next().unwrap_or_default(), 3);
    let mut headers = vec![
        (UPGRADE, HeaderValue::from_static("websocket")),
        (CONNECTION, HeaderValue::from_static("Upgrade")),
    ];
    let mut names = [
        HeaderName::from_static("x-api-token"),
        SEC_WEBSOCKET_PROTOCOL,
        SEC_WEBSOCKET_PROTOCOL,
    ]
    .into_iter();
    for value in values {
        if let Some(name) = names.next() {
            headers.push((name, value));
        }
    }
    for subject in SUBJECTS.iter() {
        check(subject, &send_to(&subject.layer, uri.clone(), &headers));
    }
});
