//! What the fuzz targets share: the layers under test, a request runner that needs no runtime,
//! and the oracle every answer must satisfy.
//!
//! The oracle: the status is 200, 400 or 401 (never a 5xx, never a panic). A 4xx is exactly the
//! error table's rendering — a `{"code","description"}` JSON body whose description is one of
//! the table's fixed texts (or quotes the layer's own configuration), the same description in
//! a `Bearer error=…, error_description=…` challenge — so nothing of the input can be echoed. A
//! 200 is only for a token that the verifier accepts on its own, whose header names exactly the
//! algorithm of the key, and whose claims pass an independent re-check of the rules.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, Service};
use tower_jwt_auth::{
    Algorithm, Claims, JwtLayer, Key, TokenSource, claims::JsonClaims, source::BearerToken,
};

/// The HMAC secret of every layer here (64 bytes).
pub const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-fuzzing-secret-fuzzing-secret-1234";
/// The fixed clock of every layer, so the outcome of an input never depends on the time.
pub const NOW: u64 = 1_700_000_000;
/// The leeway of the strict layer.
pub const LEEWAY: u64 = 30;
/// The `max_age` of the strict layer.
pub const MAX_AGE: u64 = 3600;
pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "api";

const RSA_PUB: &[u8] = include_bytes!("../../tests/keys/rsa.pub.pem");
const EC256_PUB: &[u8] = include_bytes!("../../tests/keys/ec256.pub.pem");

#[allow(dead_code)]
#[path = "../../tests/common/descriptions.rs"]
mod descriptions;

/// The descriptions that quote the configuration of the layers built here.
const CONFIGURED: &[&str] = &[
    "jwt typ invalid. expected: at+jwt",
    "jwt issuer invalid. expected: https://issuer.example",
    "jwt audience invalid. expected: api",
];

/// Which rules a layer applies, for the oracle's re-check of an accepted token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// One HMAC key, default rules.
    Plain,
    /// One HMAC key, `typ` at+jwt, issuer, audience, `max_age`, a leeway.
    Strict,
    /// RSA, EC and HMAC keys chosen by `kid` (`rsa`, `ec`, `hmac`).
    KeySet,
}

pub struct Subject {
    pub layer: JwtLayer,
    pub profile: Profile,
}

pub fn layer(profile: Profile, source: TokenSource) -> Subject {
    let builder = JwtLayer::builder()
        .clock(|| NOW)
        .source(source)
        .expose_token();
    let builder = match profile {
        Profile::Plain => builder.key(Key::hmac(SECRET)),
        Profile::Strict => builder
            .key(Key::hmac(SECRET))
            .typ("at+jwt")
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .max_age(Duration::from_secs(MAX_AGE))
            .leeway(Duration::from_secs(LEEWAY)),
        Profile::KeySet => builder
            .key(Key::rsa_pem(RSA_PUB).unwrap().with_kid("rsa"))
            .key(Key::ec_pem(EC256_PUB).unwrap().with_kid("ec"))
            .key(Key::hmac(SECRET).with_kid("hmac"))
            .algorithms([
                Algorithm::HS256,
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES256,
            ]),
    };
    Subject {
        layer: builder.build().expect("a valid configuration"),
        profile,
    }
}

/// Polls `future` once: with no asynchronous checks configured, the layer answers at once.
fn now_or_never<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the layer did not answer synchronously"),
    }
}

pub struct Outcome {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// Sends a request with these headers through `layer` to a handler that answers 200 with the
/// token it was handed.
pub fn send(layer: &JwtLayer, headers: &[(HeaderName, HeaderValue)]) -> Outcome {
    send_to(layer, http::Uri::from_static("/"), headers)
}

/// [`send`] for a request to `uri`.
pub fn send_to(layer: &JwtLayer, uri: http::Uri, headers: &[(HeaderName, HeaderValue)]) -> Outcome {
    let inner = tower::service_fn(|mut request: Request<()>| async move {
        let token = request
            .extensions()
            .get::<BearerToken>()
            .expect("a verified request carries its token")
            .as_str()
            .to_owned();
        assert!(
            matches!(
                Claims::<JsonClaims>::from_extensions(request.extensions_mut()),
                Ok(Some(_))
            ),
            "a verified request carries its claims"
        );
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(token))))
    });
    let mut service = layer.layer(inner);
    let mut request = Request::new(());
    *request.uri_mut() = uri;
    for (name, value) in headers {
        request.headers_mut().append(name, value.clone());
    }
    let response = now_or_never(service.call(request)).unwrap_or_else(|e| match e {});
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = now_or_never(response.into_body().collect())
        .expect("the body never fails")
        .to_bytes();
    Outcome {
        status,
        headers,
        body,
    }
}

/// Asserts the oracle for one answer of `subject`.
pub fn check(subject: &Subject, outcome: &Outcome) {
    match outcome.status {
        200 => check_accepted(subject, outcome),
        400 | 401 => check_refusal(outcome),
        status => panic!("status {status}: never a 5xx or anything but 200/400/401"),
    }
}

fn check_refusal(outcome: &Outcome) {
    let code = if outcome.status == 400 {
        "invalid_request"
    } else {
        "invalid_token"
    };
    let body: Value = serde_json::from_slice(&outcome.body).expect("a JSON body");
    let description = body["description"].as_str().expect("a description");
    assert!(
        // The layers built here have no revocation store: "jwt revoked" cannot be theirs.
        (descriptions::REFUSAL_DESCRIPTIONS.contains(&description) && description != "jwt revoked")
            || CONFIGURED.contains(&description),
        "{description:?} is not in the error table"
    );
    assert_eq!(body, json!({ "code": code, "description": description }));
    assert_eq!(outcome.headers[CONTENT_TYPE], "application/json");
    let challenge = format!(r#"Bearer error="{code}", error_description="{description}""#);
    assert_eq!(outcome.headers[WWW_AUTHENTICATE], challenge.as_str());
    assert_eq!(
        outcome.headers.len(),
        2,
        "no other header: {:?}",
        outcome.headers
    );
}

fn check_accepted(subject: &Subject, outcome: &Outcome) {
    let token = std::str::from_utf8(&outcome.body).expect("the handler echoes the token");
    subject
        .layer
        .verifier()
        .verify(token)
        .expect("the layer accepted a token its verifier refuses");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "three segments");
    let header = json_of(parts[0]).expect("a JSON header");
    let payload = json_of(parts[1]).expect("a JSON payload");
    assert!(header.is_object() && payload.is_object());
    assert!(header.get("crit").is_none(), "crit accepted");
    let alg = header["alg"].as_str().expect("a string alg");
    let kid = header.get("kid").and_then(Value::as_str);
    match subject.profile {
        Profile::Plain | Profile::Strict => assert_eq!(alg, "HS256"),
        Profile::KeySet => match kid {
            Some("hmac") => assert_eq!(alg, "HS256"),
            Some("rsa") => assert!(alg == "RS256" || alg == "PS256", "{alg}"),
            Some("ec") => assert_eq!(alg, "ES256"),
            other => panic!("a key set accepted kid {other:?}"),
        },
    }
    check_claims(subject.profile, &header, &payload);
}

/// The JSON value of a base64url segment of an accepted token, which must be UTF-8.
fn json_of(segment: &str) -> serde_json::Result<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url");
    let text = String::from_utf8(bytes).expect("a token with invalid UTF-8 was accepted");
    serde_json::from_str(&text)
}

/// An independent re-check of the claim rules of an accepted token.
fn check_claims(profile: Profile, header: &Value, payload: &Value) {
    let now = NOW as f64;
    let leeway = if profile == Profile::Strict {
        LEEWAY as f64
    } else {
        0.0
    };
    // A time claim is a JSON number (never null); absent is allowed for nbf and iat.
    let time = |name: &str| -> Option<f64> {
        match payload.get(name) {
            None => None,
            Some(value) => Some(
                value
                    .as_f64()
                    .unwrap_or_else(|| panic!("{name} accepted but not a number: {value}")),
            ),
        }
    };
    let exp = time("exp").expect("exp accepted but absent");
    assert!(now < exp + leeway, "expired token accepted: exp {exp}");
    // The clock reads whole seconds: a start inside the current second has been reached.
    let second_end = now + 1.0;
    if let Some(nbf) = time("nbf") {
        assert!(
            nbf < second_end + leeway,
            "token not yet valid accepted: nbf {nbf}"
        );
    }
    let iat = time("iat");
    if let Some(iat) = iat {
        assert!(
            iat < second_end + leeway,
            "iat in the future accepted: {iat}"
        );
    }
    // The default maximum lifetime, from iat (or from now).
    let start = iat.unwrap_or(now).min(now);
    assert!(
        exp - start <= tower_jwt_auth::layer::DEFAULT_MAX_LIFETIME.as_secs() as f64,
        "a lifetime over the maximum accepted: exp {exp}, from {start}"
    );
    if profile == Profile::Strict {
        let iat = iat.expect("max_age without iat accepted");
        assert!(
            now < iat + MAX_AGE as f64 + leeway,
            "maxAge exceeded accepted"
        );
        let typ = header["typ"].as_str().expect("typ accepted but absent");
        let typ = typ.to_ascii_lowercase();
        assert!(
            typ == "at+jwt" || typ == "application/at+jwt",
            "typ {typ} accepted"
        );
        assert_eq!(payload["iss"], ISSUER, "issuer");
        let audience_ok = match &payload["aud"] {
            Value::String(aud) => aud == AUDIENCE,
            Value::Array(auds) => auds.iter().any(|aud| aud == AUDIENCE),
            _ => false,
        };
        assert!(audience_ok, "audience {} accepted", payload["aud"]);
    }
}

/// Splits `data` into header values at `\n` (which no header value can hold), keeping those
/// `HeaderValue` accepts; at most `max` of them.
pub fn header_values(data: &[u8], max: usize) -> Vec<HeaderValue> {
    data.split(|b| *b == b'\n')
        .take(max)
        .filter_map(|part| HeaderValue::from_bytes(part).ok())
        .collect()
}

pub fn authorization(values: &[HeaderValue]) -> Vec<(HeaderName, HeaderValue)> {
    values.iter().map(|v| (AUTHORIZATION, v.clone())).collect()
}

pub fn cookies(values: &[HeaderValue]) -> Vec<(HeaderName, HeaderValue)> {
    values.iter().map(|v| (COOKIE, v.clone())).collect()
}

/// `header_json` and `payload_json`, signed with HS256 and [`SECRET`]: lets the fuzzer reach
/// everything after the signature check.
pub fn hs256_signed(header_json: &[u8], payload_json: &[u8]) -> String {
    tower_jwt_auth::keys::install_crypto_provider().expect("a crypto backend");
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(payload_json)
    );
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
        .expect("HMAC signing");
    format!("{message}.{signature}")
}
