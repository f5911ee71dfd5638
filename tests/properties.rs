//! Property tests: whatever arrives in the `Authorization` header or the auth cookie, the layer
//! answers a well-formed 400 or 401 of the error table and never panics; and a valid token
//! re-encoded in any forbidden way is refused.

mod common;

use std::sync::LazyLock;

use common::*;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;
use tower_jwt_auth::{JwtLayer, Key, TokenSource};

const CASES: u32 = 256;
const BAD_SCHEME: &str = "Expected a bearer token. Scheme is Authorization: Bearer <token>.";

/// Runs `future` on one current-thread runtime per test thread.
fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// One layer per algorithm, each allowing only that algorithm with the test key of its family.
static LAYERS: LazyLock<Vec<(Algorithm, JwtLayer)>> = LazyLock::new(|| {
    ALGORITHMS
        .iter()
        .map(|&alg| {
            let layer = JwtLayer::builder()
                .key(decoding_key(alg))
                .algorithms([alg])
                .build()
                .unwrap();
            (alg, layer)
        })
        .collect()
});

/// The signing keys, parsed once: parsing an RSA key costs more than signing with it.
static SIGNING_KEYS: LazyLock<Vec<(Algorithm, EncodingKey)>> = LazyLock::new(|| {
    ALGORITHMS
        .iter()
        .map(|&alg| (alg, encoding_key(alg)))
        .collect()
});

/// What `common::token_with` makes, with the cached keys.
fn signed(alg: Algorithm, claims: &serde_json::Value) -> String {
    let key = &SIGNING_KEYS.iter().find(|(a, _)| *a == alg).unwrap().1;
    let header = json!({ "alg": alg, "typ": "JWT" }).to_string();
    sign_raw(&header, &claims.to_string(), alg, key)
}

fn layer_for(alg: Algorithm) -> JwtLayer {
    LAYERS.iter().find(|(a, _)| *a == alg).unwrap().1.clone()
}

static COOKIE_LAYER: LazyLock<JwtLayer> = LazyLock::new(|| {
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::cookie())
        .build()
        .unwrap()
});

/// Sends a request with these raw headers to the app behind `layer`.
fn send_headers(layer: JwtLayer, headers: &[(&'static str, HeaderValue)]) -> Answer {
    let mut request = get_with(&[]);
    for (name, value) in headers {
        request.headers_mut().append(*name, value.clone());
    }
    block_on(send(app(layer), request))
}

fn send_token(layer: JwtLayer, token: &str) -> Answer {
    block_on(try_token(layer, token))
}

/// The checks the properties ask for, spelled out, on top of `assert_refused`'s exact ones:
/// 400/401, a `Bearer ` challenge with `invalid_request` or `invalid_token`, an
/// `error_description` of RFC 6750 characters only, a `{"code","description"}` JSON body.
fn assert_well_formed_refusal(answer: &Answer, sent: &[u8]) -> String {
    assert!(
        matches!(answer.status.as_u16(), 400 | 401),
        "status {}",
        answer.status
    );
    let challenge = answer.challenge();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_request""#)
            || challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let marker = r#"error_description=""#;
    let start = challenge.find(marker).expect("an error_description") + marker.len();
    let description = &challenge[start..challenge.len() - 1];
    assert!(challenge.ends_with('"'));
    assert!(is_rfc6750_text(description), "{description:?}");
    let body = answer.body.as_object().expect("a JSON object body");
    assert_eq!(body.len(), 2, "{body:?}");
    assert!(body["code"].is_string() && body["description"].is_string());
    let token = String::from_utf8_lossy(sent);
    assert_refused(answer, &token)
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Any byte `HeaderValue::from_bytes` accepts: visible ASCII, space, tab and obs-text.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => 0x20u8..=0x7e,
        1 => Just(b'\t'),
        2 => 0x80u8..=0xff,
    ]
}

/// Mostly base64url and dots, so the parser is reached, with some of everything else.
fn token_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        12 => prop::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
        ),
        3 => Just(b'.'),
        1 => prop::sample::select(b"=+/~ \t,\";".to_vec()),
        1 => header_byte(),
    ]
}

fn scheme() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "Bearer ", "bearer ", "BEARER ", "Bearer  ", " Bearer ", "Bearer", "Basic ", "",
        "Bearer\t", "Token ",
    ])
}

/// Three segments, each the base64url of arbitrary bytes or of a JSON-ish object, so that the
/// header and payload parsers and the key selection are reached too.
fn segmented_token() -> impl Strategy<Value = Vec<u8>> {
    let json_header = (
        prop::sample::select(vec![
            "HS256", "HS384", "RS256", "PS256", "ES256", "ES384", "EdDSA", "none", "", "hs256",
        ]),
        prop::option::of("[a-z0-9./' ]{0,12}"),
        prop::option::of(prop::sample::select(vec!["JWT", "at+jwt", ""])),
        any::<bool>(),
    )
        .prop_map(|(alg, kid, typ, crit)| {
            let mut header = json!({ "alg": alg });
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            if let Some(typ) = typ {
                header["typ"] = json!(typ);
            }
            if crit {
                header["crit"] = json!(["exp"]);
            }
            header.to_string().into_bytes()
        });
    let header = prop_oneof![
        2 => json_header,
        1 => prop::collection::vec(any::<u8>(), 0..48),
    ];
    let payload = prop_oneof![
        Just(claims().to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..48),
        (any::<i64>(), prop::option::of(any::<i64>()))
            .prop_map(|(exp, nbf)| json!({ "exp": exp, "nbf": nbf }).to_string().into_bytes()),
    ];
    let signature = prop::collection::vec(any::<u8>(), 0..80);
    (header, payload, signature)
        .prop_map(|(h, p, s)| format!("{}.{}.{}", b64(h), b64(p), b64(s)).into_bytes())
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Arbitrary header bytes.
        prop::collection::vec(header_byte(), 0..160),
        // A scheme, then arbitrary token bytes.
        (scheme(), prop::collection::vec(token_byte(), 0..160)).prop_map(|(scheme, token)| [
            scheme.as_bytes(),
            &token
        ]
        .concat()),
        // A scheme, then a token of three base64url segments.
        (scheme(), segmented_token())
            .prop_map(|(scheme, token)| [scheme.as_bytes(), &token].concat()),
    ]
}

fn cookie_header() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec!["auth", "AUTH", "auth ", "other", "auth2", ""]);
    let value = prop_oneof![
        prop::collection::vec(token_byte(), 0..120),
        segmented_token(),
        prop::collection::vec(header_byte(), 0..60),
    ];
    prop::collection::vec((name, value), 1..4).prop_map(|pairs| {
        let mut out = Vec::new();
        for (i, (name, value)) in pairs.into_iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend(value);
        }
        out
    })
}

/// Claims for a valid token, distinct per `jti`.
fn valid_claims() -> impl Strategy<Value = serde_json::Value> {
    ("[a-zA-Z0-9 _.@-]{0,40}", "[a-z0-9]{8,16}", any::<u32>()).prop_map(
        |(sub, jti, n)| json!({ "sub": sub, "jti": jti, "n": n, "exp": now() + 600, "iat": now() }),
    )
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(ALGORITHMS.to_vec())
}

/// The three segments of a token.
fn segments(token: &str) -> Vec<String> {
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3);
    parts
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input: always a well-formed 400 or 401
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_authorization_headers_get_a_well_formed_refusal(value in header_value()) {
        let header = HeaderValue::from_bytes(&value).expect("the strategy makes valid values");
        let answer = send_headers(layer_for(Algorithm::HS256), &[("authorization", header)]);
        assert_well_formed_refusal(&answer, &value);
    }

    #[test]
    fn arbitrary_tokens_after_bearer_get_a_well_formed_refusal(
        token in prop_oneof![
            prop::collection::vec(token_byte(), 0..200),
            segmented_token(),
        ],
        alg in algorithm(),
    ) {
        let value = [b"Bearer ".as_slice(), &token].concat();
        let header = HeaderValue::from_bytes(&value).expect("the strategy makes valid values");
        let answer = send_headers(layer_for(alg), &[("authorization", header)]);
        assert_well_formed_refusal(&answer, &token);
    }

    #[test]
    fn arbitrary_cookie_headers_get_a_well_formed_refusal(
        cookies in prop::collection::vec(cookie_header(), 1..3),
    ) {
        let headers: Vec<(&'static str, HeaderValue)> = cookies
            .iter()
            .map(|c| ("cookie", HeaderValue::from_bytes(c).expect("valid header bytes")))
            .collect();
        let answer = send_headers(COOKIE_LAYER.clone(), &headers);
        assert_well_formed_refusal(&answer, &cookies.concat());
    }
}

// ---------------------------------------------------------------------------------------------
// A valid token re-encoded in a forbidden way
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// The control: the tokens the other properties mutate are accepted as they are.
    #[test]
    fn unmodified_tokens_are_accepted(alg in algorithm(), claims in valid_claims()) {
        let token = signed(alg, &claims);
        let answer = send_token(layer_for(alg), &token);
        prop_assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    }

    #[test]
    fn padding_added_to_a_segment_is_refused(
        alg in algorithm(),
        claims in valid_claims(),
        segment in 0usize..3,
        count in 1usize..=3,
    ) {
        let mut parts = segments(&signed(alg, &claims));
        parts[segment].push_str(&"=".repeat(count));
        let token = parts.join(".");
        let description = assert_refused(&send_token(layer_for(alg), &token), &token);
        // RFC 6750's b64token allows `=` only at the end of the token.
        let expected = if segment == 2 { "jwt malformed" } else { BAD_SCHEME };
        prop_assert_eq!(description, expected);
    }

    #[test]
    fn standard_base64_alphabet_is_refused(alg in algorithm(), claims in valid_claims()) {
        let token = signed(alg, &claims);
        prop_assume!(token.contains(['-', '_']));
        let token = token.replace('-', "+").replace('_', "/");
        let description = assert_refused(&send_token(layer_for(alg), &token), &token);
        prop_assert_eq!(description, "jwt malformed");
    }

    #[test]
    fn whitespace_inside_the_token_is_refused(
        alg in algorithm(),
        claims in valid_claims(),
        at in any::<Index>(),
        space in prop::sample::select(vec![" ", "\t", "  ", " \t"]),
    ) {
        let token = signed(alg, &claims);
        let at = 1 + at.index(token.len() - 1);
        let token = format!("{}{space}{}", &token[..at], &token[at..]);
        let description = assert_refused(&send_token(layer_for(alg), &token), &token);
        prop_assert_eq!(description, BAD_SCHEME);
    }

    #[test]
    fn a_letter_of_another_case_is_refused(
        alg in algorithm(),
        claims in valid_claims(),
        segment in 0usize..3,
        at in any::<Index>(),
    ) {
        let mut parts = segments(&signed(alg, &claims));
        let letters: Vec<usize> = parts[segment]
            .char_indices()
            .filter(|(_, c)| c.is_ascii_alphabetic())
            .map(|(i, _)| i)
            .collect();
        prop_assume!(!letters.is_empty());
        let i = letters[at.index(letters.len())];
        let mut bytes = parts[segment].clone().into_bytes();
        bytes[i] ^= 0x20;
        parts[segment] = String::from_utf8(bytes).unwrap();
        let token = parts.join(".");
        let answer = send_token(layer_for(alg), &token);
        let description = assert_refused(&answer, &token);
        prop_assert_eq!(answer.status.as_u16(), 401);
        match segment {
            // The signature covers the payload's base64url text.
            1 => prop_assert_eq!(description, "invalid signature"),
            // A bad signature, or base64 whose last character has spare bits set.
            2 => prop_assert!(
                ["invalid signature", "jwt malformed"].contains(&description.as_str()),
                "{}", description
            ),
            // The header decodes to other bytes: any invalid_token refusal.
            _ => {}
        }
    }

    #[test]
    fn a_whole_segment_in_another_case_is_refused(
        alg in algorithm(),
        claims in valid_claims(),
        segment in 0usize..3,
        upper in any::<bool>(),
    ) {
        let mut parts = segments(&signed(alg, &claims));
        let changed = if upper {
            parts[segment].to_ascii_uppercase()
        } else {
            parts[segment].to_ascii_lowercase()
        };
        prop_assume!(changed != parts[segment]);
        parts[segment] = changed;
        let token = parts.join(".");
        let answer = send_token(layer_for(alg), &token);
        assert_refused(&answer, &token);
        prop_assert_eq!(answer.status.as_u16(), 401);
    }

    #[test]
    fn an_extra_segment_is_refused(
        alg in algorithm(),
        claims in valid_claims(),
        extra in "[A-Za-z0-9_-]{0,24}",
        at in any::<Index>(),
        append in any::<bool>(),
    ) {
        let token = signed(alg, &claims);
        let token = if append {
            format!("{token}.{extra}")
        } else {
            let at = at.index(token.len() + 1);
            format!("{}.{}", &token[..at], &token[at..])
        };
        let description = assert_refused(&send_token(layer_for(alg), &token), &token);
        prop_assert_eq!(description, "jwt malformed");
    }

    #[test]
    fn the_signature_of_another_token_is_refused(
        alg in algorithm(),
        claims in valid_claims(),
        other in valid_claims(),
    ) {
        prop_assume!(claims["jti"] != other["jti"]);
        let (message, _) = signed(alg, &claims).rsplit_once('.').map(|(m, s)| (m.to_owned(), s.to_owned())).unwrap();
        let foreign = signed(alg, &other);
        let (_, signature) = foreign.rsplit_once('.').unwrap();
        let token = format!("{message}.{signature}");
        let description = assert_refused(&send_token(layer_for(alg), &token), &token);
        prop_assert_eq!(description, "invalid signature");
    }

    #[test]
    fn a_changed_alg_is_refused(
        alg in algorithm(),
        claims in valid_claims(),
        other in prop_oneof![
            prop::sample::select(vec![
                "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                "ES256", "ES384", "EdDSA", "none", "None", "ES512", "Ed25519", "",
            ]).prop_map(str::to_owned),
            "[A-Za-z0-9+_-]{0,10}",
        ],
    ) {
        let alg_name = serde_json::to_value(alg).unwrap();
        prop_assume!(alg_name != json!(other));
        let token = signed(alg, &claims);
        let (_, rest) = token.split_once('.').unwrap();
        let header = json!({ "alg": other, "typ": "JWT" }).to_string();
        let token = format!("{}.{rest}", b64(header));
        let description = assert_refused(&send_token(layer_for(alg), &token), &token);
        prop_assert_eq!(description, "invalid algorithm");
    }
}
