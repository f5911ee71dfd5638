//! Configuration from environment variables: every variable, every error, through an injected
//! lookup (the process environment is never modified).

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use jsonwebtoken::Algorithm;
use serde_json::json;
use tower_jwt_auth::{
    JwtLayer,
    env::{EnvConfig, EnvError},
    error::ConfigError,
};

/// A secret long enough for HS256, and recognisable in any output.
const SECRET_TEXT: &str = "test-secret-that-is-long-enough-for-hs512-and-then-some-more-bytes!";

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn read(pairs: &[(&str, &str)]) -> Result<EnvConfig, EnvError> {
    EnvConfig::from_vars("", lookup(pairs))
}

fn layer(pairs: &[(&str, &str)]) -> JwtLayer {
    read(pairs).unwrap().layer_builder().build().unwrap()
}

fn refused(pairs: &[(&str, &str)]) -> EnvError {
    read(pairs).unwrap_err()
}

fn key_path(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn key_text(name: &str) -> String {
    String::from_utf8(key_file(name)).unwrap()
}

/// Asserts an `Invalid` error about `variable` whose message contains `reason`.
#[track_caller]
fn assert_invalid(error: &EnvError, variable: &str, reason: &str) {
    match error {
        EnvError::Invalid {
            variable: named,
            reason: why,
        } => {
            assert_eq!(named, variable, "{error}");
            assert!(why.contains(reason), "{error}");
        }
        other => panic!("expected Invalid {{ {variable} }}, got {other:?}"),
    }
    assert!(error.to_string().contains(variable), "{error}");
    assert_eq!(error.variables(), [variable]);
}

// --- JWT_SECRET -------------------------------------------------------------------------------

#[tokio::test]
async fn raw_secret_verifies_hs256_tokens() {
    let config = read(&[("JWT_SECRET", SECRET_TEXT)]).unwrap();
    assert_eq!(config.hmac_secret(), Some(SECRET));
    assert_eq!(config.key_variable(), "JWT_SECRET");
    let layer = config.layer_builder().build().unwrap();
    try_token(layer, &hs256(&claims()))
        .await
        .assert_user(Some("alice"));
}

#[tokio::test]
async fn raw_secret_is_used_as_is_not_trimmed() {
    let padded = format!(" {SECRET_TEXT} ");
    let layer = layer(&[("JWT_SECRET", &padded)]);
    let answer = try_token(layer, &hs256(&claims())).await;
    answer.assert_rejected(401, "invalid_token", "invalid signature");
}

#[tokio::test]
async fn base64_secret_is_decoded_in_either_alphabet() {
    for encoded in [STANDARD.encode(SECRET), URL_SAFE_NO_PAD.encode(SECRET)] {
        for encoding in ["base64", "BASE64"] {
            let config =
                read(&[("JWT_SECRET", &encoded), ("JWT_SECRET_ENCODING", encoding)]).unwrap();
            assert_eq!(config.hmac_secret(), Some(SECRET));
            let layer = config.layer_builder().build().unwrap();
            try_token(layer, &hs256(&claims()))
                .await
                .assert_user(Some("alice"));
        }
    }
}

#[test]
fn invalid_base64_secret_names_the_secret_variable() {
    let error = refused(&[
        ("JWT_SECRET", "not*base64!"),
        ("JWT_SECRET_ENCODING", "base64"),
    ]);
    assert_invalid(&error, "JWT_SECRET", "not valid base64");
    assert!(!format!("{error} {error:?}").contains("not*base64!"));
}

#[test]
fn unknown_secret_encoding_names_the_encoding_variable() {
    for encoding in ["hex", "utf8", "base32"] {
        let error = refused(&[
            ("JWT_SECRET", SECRET_TEXT),
            ("JWT_SECRET_ENCODING", encoding),
        ]);
        assert_invalid(&error, "JWT_SECRET_ENCODING", "only supported encoding");
    }
}

#[test]
fn secret_encoding_without_a_secret_is_an_error() {
    let error = refused(&[
        ("JWT_PUBLIC_KEY", &key_path("rsa.pub.pem")),
        ("JWT_SECRET_ENCODING", "base64"),
    ]);
    assert_eq!(
        error,
        EnvError::Inapplicable {
            variable: "JWT_SECRET_ENCODING".into(),
            applies_to: "JWT_SECRET".into(),
        }
    );
    assert_eq!(
        error.to_string(),
        "JWT_SECRET_ENCODING is set but only applies to JWT_SECRET, which is not set"
    );
}

#[test]
fn a_short_secret_is_refused_naming_the_variable() {
    let error = refused(&[("JWT_SECRET", "too-short")]);
    assert_invalid(&error, "JWT_SECRET", "9 bytes is too short for HS256");
    assert!(error.to_string().contains("at least 32"), "{error}");
    assert!(!error.to_string().contains("too-short"), "{error}");
    // Against the strongest HMAC algorithm allowed, with the prefix.
    let error = EnvConfig::from_vars(
        "APP_",
        lookup(&[
            ("APP_JWT_SECRET", "x".repeat(40).as_str()),
            ("APP_JWT_ALGORITHMS", "HS256,HS512"),
        ]),
    )
    .unwrap_err();
    assert_invalid(&error, "APP_JWT_SECRET", "40 bytes is too short for HS512");
    assert!(
        error.to_string().contains("APP_JWT_SECRET_ENCODING=base64"),
        "{error}"
    );
    // Long enough for what is allowed: read, and the build agrees.
    let config = read(&[
        ("JWT_SECRET", "x".repeat(48).as_str()),
        ("JWT_ALGORITHMS", "HS384"),
    ])
    .unwrap();
    assert!(config.layer_builder().build().is_ok());
    // The build still refuses a secret too short for what it is given, as a ConfigError.
    let config = read(&[("JWT_SECRET", "x".repeat(32).as_str())]).unwrap();
    assert!(matches!(
        config
            .layer_builder()
            .algorithms([Algorithm::HS512])
            .build(),
        Err(ConfigError::SecretTooShort {
            minimum: 64,
            actual: 32,
            ..
        })
    ));
}

#[test]
fn pem_text_in_the_secret_variable_is_refused() {
    let error = refused(&[("JWT_SECRET", &key_text("rsa.pub.pem"))]);
    assert_invalid(&error, "JWT_SECRET", "JWT_PUBLIC_KEY");
    assert!(!error.to_string().contains("MII"));
}

// --- JWT_PUBLIC_KEY ---------------------------------------------------------------------------

const PUBLIC_KEYS: [(&str, &str, Algorithm); 4] = [
    ("rsa.pub.pem", "rsa.pub.der", Algorithm::RS256),
    ("ec256.pub.pem", "ec256.pub.der", Algorithm::ES256),
    ("ec384.pub.pem", "ec384.pub.der", Algorithm::ES384),
    ("ed25519.pub.pem", "ed25519.pub.der", Algorithm::EdDSA),
];

#[tokio::test]
async fn public_key_as_pem_text_verifies_tokens_of_its_family() {
    for (pem, _, alg) in PUBLIC_KEYS {
        let config = read(&[("JWT_PUBLIC_KEY", &key_text(pem))]).unwrap();
        assert_eq!(config.hmac_secret(), None);
        let answer = try_token(
            config.layer_builder().build().unwrap(),
            &token_with(alg, &claims()),
        )
        .await;
        assert_eq!(answer.status, 200, "{pem}: {}", answer.body);
        answer.assert_user(Some("alice"));
    }
}

#[tokio::test]
async fn public_key_as_a_file_path_verifies_tokens_of_its_family() {
    for (pem, der, alg) in PUBLIC_KEYS {
        for file in [pem, der] {
            let layer = layer(&[("JWT_PUBLIC_KEY", &key_path(file))]);
            let answer = try_token(layer, &token_with(alg, &claims())).await;
            assert_eq!(answer.status, 200, "{file}: {}", answer.body);
            answer.assert_user(Some("alice"));
        }
    }
}

#[tokio::test]
async fn public_key_pem_on_one_line_with_escaped_newlines() {
    let one_line = key_text("ed25519.pub.pem").trim().replace('\n', "\\n");
    assert!(!one_line.contains('\n'));
    let layer = layer(&[("JWT_PUBLIC_KEY", &one_line)]);
    try_token(layer, &token_with(Algorithm::EdDSA, &claims()))
        .await
        .assert_user(Some("alice"));
}

#[tokio::test]
async fn public_key_refuses_tokens_of_another_key() {
    let layer = layer(&[("JWT_PUBLIC_KEY", &key_path("rsa2.pub.pem"))]);
    let answer = try_token(layer, &token_with(Algorithm::RS256, &claims())).await;
    answer.assert_rejected(401, "invalid_token", "invalid signature");
}

#[test]
fn public_key_file_that_cannot_be_read_names_the_variable_not_the_value() {
    let path = key_path("missing.pub.pem");
    let error = refused(&[("JWT_PUBLIC_KEY", &path)]);
    assert_invalid(&error, "JWT_PUBLIC_KEY", "nor the path of a readable file");
    // A secret set in the wrong variable would be taken for a path: it is not repeated.
    let error = refused(&[("JWT_PUBLIC_KEY", SECRET_TEXT)]);
    assert_invalid(&error, "JWT_PUBLIC_KEY", "not found");
    assert!(!format!("{error} {error:?}").contains(SECRET_TEXT));
}

#[test]
fn public_key_that_is_no_key_is_refused() {
    let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let error = refused(&[("JWT_PUBLIC_KEY", garbage)]);
    assert_invalid(&error, "JWT_PUBLIC_KEY", "not an RSA, EC");
    // A file that is neither PEM nor a DER key.
    let error = refused(&[("JWT_PUBLIC_KEY", &key_path("README.md"))]);
    assert_invalid(&error, "JWT_PUBLIC_KEY", "not an RSA, EC");
}

#[test]
fn private_key_is_refused_without_showing_it() {
    let private = key_text("ec256.key");
    let error = refused(&[("JWT_PUBLIC_KEY", &private)]);
    assert_invalid(&error, "JWT_PUBLIC_KEY", "private key");
    let body = private.lines().nth(1).unwrap();
    assert!(!format!("{error} {error:?}").contains(body));
    let error = refused(&[("JWT_PUBLIC_KEY", &key_path("rsa.key"))]);
    assert_invalid(&error, "JWT_PUBLIC_KEY", "private key");
}

#[test]
fn short_rsa_key_is_refused_by_build() {
    let config = read(&[("JWT_PUBLIC_KEY", &key_path("rsa1024.pub.pem"))]).unwrap();
    assert!(matches!(
        config.layer_builder().build(),
        Err(ConfigError::RsaKeyTooShort { bits: 1024 })
    ));
}

// --- JWT_JWKS_URL, JWT_OIDC_ISSUER ------------------------------------------------------------

#[cfg(feature = "jwks")]
#[test]
fn jwks_url_builds_a_remote_key_set() {
    let config = read(&[
        (
            "JWT_JWKS_URL",
            "https://idp.example.com/.well-known/jwks.json",
        ),
        ("JWT_AUDIENCE", "my-api"),
    ])
    .unwrap();
    assert_eq!(config.key_variable(), "JWT_JWKS_URL");
    assert_eq!(config.hmac_secret(), None);
    assert!(config.issuers().is_empty());
    let debug = format!("{config:?}");
    assert!(debug.contains("RemoteKeySet"), "{debug}");
    let _ = config.layer_builder().build().unwrap();
}

#[cfg(feature = "jwks")]
#[test]
fn oidc_issuer_builds_a_remote_key_set_and_is_the_expected_issuer() {
    let issuer = "https://login.example.com/realms/main";
    let config = read(&[("JWT_OIDC_ISSUER", issuer)]).unwrap();
    assert_eq!(config.issuers(), [issuer]);
    let _ = config.layer_builder().build().unwrap();
    // An explicit JWT_ISSUER wins.
    let config = read(&[
        ("JWT_OIDC_ISSUER", issuer),
        ("JWT_ISSUER", "https://other.example.com"),
    ])
    .unwrap();
    assert_eq!(config.issuers(), ["https://other.example.com"]);
}

#[cfg(feature = "jwks")]
#[test]
fn remote_key_urls_must_be_http_urls() {
    for variable in ["JWT_JWKS_URL", "JWT_OIDC_ISSUER"] {
        let error = refused(&[(variable, "not a url")]);
        assert_invalid(&error, variable, "not a URL");
        let error = refused(&[(variable, "ftp://idp.example.com/jwks.json")]);
        assert_invalid(&error, variable, "https://");
    }
}

#[cfg(not(feature = "jwks"))]
#[test]
fn remote_keys_without_the_jwks_feature_name_variable_and_feature() {
    for variable in ["JWT_JWKS_URL", "JWT_OIDC_ISSUER"] {
        let error = refused(&[(variable, "https://idp.example.com")]);
        assert_eq!(
            error,
            EnvError::FeatureDisabled {
                variable: variable.into(),
                feature: "jwks",
            }
        );
        assert_eq!(
            error.to_string(),
            format!("{variable} is set but tower-jwt-auth was built without its `jwks` feature")
        );
    }
}

// --- Key source count -------------------------------------------------------------------------

#[test]
fn no_key_source_names_all_four_variables() {
    let error = refused(&[("JWT_AUDIENCE", "my-api")]);
    assert_eq!(
        error.variables(),
        [
            "JWT_SECRET",
            "JWT_PUBLIC_KEY",
            "JWT_JWKS_URL",
            "JWT_OIDC_ISSUER"
        ]
    );
    assert_eq!(
        error.to_string(),
        "no JWT verification key configured: set one of JWT_SECRET, JWT_PUBLIC_KEY, \
         JWT_JWKS_URL or JWT_OIDC_ISSUER"
    );
}

#[test]
fn empty_or_blank_values_count_as_unset() {
    let error = refused(&[("JWT_SECRET", ""), ("JWT_PUBLIC_KEY", "  ")]);
    assert!(matches!(error, EnvError::NoKeySource { .. }), "{error:?}");
    let config = read(&[
        ("JWT_SECRET", SECRET_TEXT),
        ("JWT_PUBLIC_KEY", ""),
        ("JWT_LEEWAY", ""),
    ])
    .unwrap();
    assert_eq!(config.leeway(), None);
}

#[test]
fn two_key_sources_are_contradictory() {
    let error = refused(&[
        ("JWT_SECRET", SECRET_TEXT),
        ("JWT_PUBLIC_KEY", &key_path("rsa.pub.pem")),
    ]);
    assert_eq!(
        error,
        EnvError::ContradictoryKeySources {
            variables: vec!["JWT_SECRET".into(), "JWT_PUBLIC_KEY".into()],
        }
    );
    assert_eq!(
        error.to_string(),
        "contradictory JWT key sources: JWT_SECRET and JWT_PUBLIC_KEY are both set; set exactly one"
    );
    let error = refused(&[
        ("JWT_JWKS_URL", "https://idp.example.com/jwks.json"),
        ("JWT_OIDC_ISSUER", "https://idp.example.com"),
        ("JWT_SECRET", SECRET_TEXT),
    ]);
    assert_eq!(
        error.variables(),
        ["JWT_SECRET", "JWT_JWKS_URL", "JWT_OIDC_ISSUER"]
    );
    assert_eq!(
        error.to_string(),
        "contradictory JWT key sources: JWT_SECRET, JWT_JWKS_URL and JWT_OIDC_ISSUER are all set; \
         set exactly one"
    );
}

// --- JWT_ALGORITHMS ---------------------------------------------------------------------------

#[tokio::test]
async fn algorithms_restrict_what_the_key_verifies() {
    let config = read(&[
        ("JWT_PUBLIC_KEY", &key_path("rsa.pub.pem")),
        ("JWT_ALGORITHMS", "RS256, ps256,PS256"),
    ])
    .unwrap();
    assert_eq!(
        config.algorithms(),
        Some(&[Algorithm::RS256, Algorithm::PS256][..])
    );
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let layer = config.layer_builder().build().unwrap();
        try_token(layer, &token_with(alg, &claims()))
            .await
            .assert_user(Some("alice"));
    }
    let layer = config.layer_builder().build().unwrap();
    let answer = try_token(layer, &token_with(Algorithm::RS384, &claims())).await;
    answer.assert_rejected(401, "invalid_token", "invalid algorithm");
}

#[tokio::test]
async fn eddsa_is_parsed_in_any_case() {
    let layer = layer(&[
        ("JWT_PUBLIC_KEY", &key_path("ed25519.pub.pem")),
        ("JWT_ALGORITHMS", "EDDSA"),
    ]);
    try_token(layer, &token_with(Algorithm::EdDSA, &claims()))
        .await
        .assert_user(Some("alice"));
}

#[test]
fn unknown_algorithm_is_named() {
    let error = refused(&[
        ("JWT_SECRET", SECRET_TEXT),
        ("JWT_ALGORITHMS", "HS256,XS999"),
    ]);
    assert_invalid(&error, "JWT_ALGORITHMS", "unknown algorithm \"XS999\"");
    let error = refused(&[("JWT_SECRET", SECRET_TEXT), ("JWT_ALGORITHMS", "none")]);
    assert_invalid(&error, "JWT_ALGORITHMS", "never accepted");
    let error = refused(&[("JWT_SECRET", SECRET_TEXT), ("JWT_ALGORITHMS", "HS256,")]);
    assert_invalid(&error, "JWT_ALGORITHMS", "empty item");
}

#[test]
fn algorithm_of_another_family_is_refused_by_build() {
    let config = read(&[("JWT_SECRET", SECRET_TEXT), ("JWT_ALGORITHMS", "RS256")]).unwrap();
    assert!(config.layer_builder().build().is_err());
}

// --- JWT_ISSUER, JWT_AUDIENCE -----------------------------------------------------------------

#[tokio::test]
async fn issuer_and_audience_lists_are_applied() {
    let config = read(&[
        ("JWT_SECRET", SECRET_TEXT),
        (
            "JWT_ISSUER",
            "https://one.example.com, https://two.example.com",
        ),
        ("JWT_AUDIENCE", "a , b"),
    ])
    .unwrap();
    assert_eq!(
        config.issuers(),
        ["https://one.example.com", "https://two.example.com"]
    );
    assert_eq!(config.audiences(), ["a", "b"]);
    let layer = || config.layer_builder().build().unwrap();

    let good =
        json!({ "sub": "alice", "exp": now() + 60, "iss": "https://two.example.com", "aud": "b" });
    try_token(layer(), &hs256(&good))
        .await
        .assert_user(Some("alice"));

    let wrong_audience =
        json!({ "sub": "alice", "exp": now() + 60, "iss": "https://one.example.com", "aud": "c" });
    try_token(layer(), &hs256(&wrong_audience))
        .await
        .assert_rejected(
            401,
            "invalid_token",
            "jwt audience invalid. expected: a or b",
        );

    let wrong_issuer =
        json!({ "sub": "alice", "exp": now() + 60, "iss": "https://evil.example.com", "aud": "a" });
    try_token(layer(), &hs256(&wrong_issuer))
        .await
        .assert_rejected(
            401,
            "invalid_token",
            "jwt issuer invalid. expected: https://one.example.com,https://two.example.com",
        );
}

#[test]
fn empty_list_items_are_refused() {
    for variable in ["JWT_ISSUER", "JWT_AUDIENCE"] {
        for value in ["a,,b", "a,", ", a"] {
            let error = refused(&[("JWT_SECRET", SECRET_TEXT), (variable, value)]);
            assert_invalid(&error, variable, "empty item");
        }
    }
}

// --- JWT_LEEWAY -------------------------------------------------------------------------------

#[tokio::test]
async fn leeway_tolerates_recently_expired_tokens() {
    let expired = hs256(&json!({ "sub": "alice", "exp": now() - 10 }));
    let config = read(&[("JWT_SECRET", SECRET_TEXT), ("JWT_LEEWAY", " 30 ")]).unwrap();
    assert_eq!(config.leeway(), Some(Duration::from_secs(30)));
    try_token(config.layer_builder().build().unwrap(), &expired)
        .await
        .assert_user(Some("alice"));
    let strict = layer(&[("JWT_SECRET", SECRET_TEXT)]);
    try_token(strict, &expired)
        .await
        .assert_rejected(401, "invalid_token", "jwt expired");
}

#[test]
fn leeway_must_be_whole_seconds_up_to_five_minutes() {
    for value in ["1.5", "30s", "-1", "ten"] {
        let error = refused(&[("JWT_SECRET", SECRET_TEXT), ("JWT_LEEWAY", value)]);
        assert_invalid(&error, "JWT_LEEWAY", "whole number of seconds");
    }
    let error = refused(&[("JWT_SECRET", SECRET_TEXT), ("JWT_LEEWAY", "301")]);
    assert_invalid(&error, "JWT_LEEWAY", "at most 300 seconds");
    assert!(
        read(&[("JWT_SECRET", SECRET_TEXT), ("JWT_LEEWAY", "300")])
            .unwrap()
            .layer_builder()
            .build()
            .is_ok()
    );
}

// --- JWT_COOKIE_NAME --------------------------------------------------------------------------

#[tokio::test]
async fn cookie_name_reads_the_header_or_that_cookie() {
    let config = read(&[("JWT_SECRET", SECRET_TEXT), ("JWT_COOKIE_NAME", "session")]).unwrap();
    assert_eq!(config.cookie_name(), Some("session"));
    let layer = || config.layer_builder().build().unwrap();
    let token = hs256(&claims());

    let cookie = format!("session={token}");
    send(app(layer()), get_with(&[("cookie", &cookie)]))
        .await
        .assert_user(Some("alice"));
    try_token(layer(), &token).await.assert_user(Some("alice"));
    let other = format!("auth={token}");
    send(app(layer()), get_with(&[("cookie", &other)]))
        .await
        .assert_rejected(400, "invalid_request", "Authorization header not found.");
}

#[tokio::test]
async fn without_cookie_name_only_the_header_is_read() {
    let token = hs256(&claims());
    let cookie = format!("auth={token}");
    send(
        app(layer(&[("JWT_SECRET", SECRET_TEXT)])),
        get_with(&[("cookie", &cookie)]),
    )
    .await
    .assert_rejected(400, "invalid_request", "Authorization header not found.");
}

#[test]
fn invalid_cookie_name_is_named() {
    for value in ["my session", "a=b", "a;b", "sess\u{e9}"] {
        let error = refused(&[("JWT_SECRET", SECRET_TEXT), ("JWT_COOKIE_NAME", value)]);
        assert_invalid(&error, "JWT_COOKIE_NAME", "not a valid cookie name");
    }
}

// --- Prefix -----------------------------------------------------------------------------------

#[tokio::test]
async fn prefix_applies_to_every_variable_and_error() {
    let config = EnvConfig::from_vars(
        "APP_",
        lookup(&[
            ("APP_JWT_SECRET", SECRET_TEXT),
            ("APP_JWT_AUDIENCE", "my-api"),
            ("JWT_AUDIENCE", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(config.key_variable(), "APP_JWT_SECRET");
    assert_eq!(config.audiences(), ["my-api"]);
    let token = hs256(&json!({ "sub": "alice", "exp": now() + 60, "aud": "my-api" }));
    try_token(config.layer_builder().build().unwrap(), &token)
        .await
        .assert_user(Some("alice"));

    // Unprefixed variables are not read.
    let error = EnvConfig::from_vars("APP_", lookup(&[("JWT_SECRET", SECRET_TEXT)])).unwrap_err();
    assert_eq!(
        error.variables(),
        [
            "APP_JWT_SECRET",
            "APP_JWT_PUBLIC_KEY",
            "APP_JWT_JWKS_URL",
            "APP_JWT_OIDC_ISSUER"
        ]
    );
    let error = EnvConfig::from_vars(
        "APP_",
        lookup(&[("APP_JWT_SECRET", SECRET_TEXT), ("APP_JWT_LEEWAY", "soon")]),
    )
    .unwrap_err();
    assert_invalid(&error, "APP_JWT_LEEWAY", "whole number");
    let error = EnvConfig::from_vars(
        "APP_",
        lookup(&[
            ("APP_JWT_SECRET", SECRET_TEXT),
            ("APP_JWT_SECRET_ENCODING", "hex"),
        ]),
    )
    .unwrap_err();
    assert_invalid(&error, "APP_JWT_SECRET_ENCODING", "encoding");
}

#[test]
fn only_prefixed_jwt_variables_are_looked_up() {
    let asked = RefCell::new(Vec::new());
    let _ = EnvConfig::from_vars("APP_", |name: &str| {
        asked.borrow_mut().push(name.to_owned());
        (name == "APP_JWT_SECRET").then(|| SECRET_TEXT.to_owned())
    })
    .unwrap();
    let asked = asked.into_inner();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|name| name.starts_with("APP_JWT_")),
        "{asked:?}"
    );
}

#[test]
fn process_environment_is_read_with_the_prefix() {
    // Nothing in the environment carries this prefix: the real lookup finds no key source.
    let prefix = "TOWER_JWT_AUTH_ENV_TEST_NEVER_SET_";
    let error = EnvConfig::from_env_with_prefix(prefix).unwrap_err();
    assert!(matches!(error, EnvError::NoKeySource { .. }), "{error:?}");
    assert_eq!(error.variables()[0], format!("{prefix}JWT_SECRET").as_str());
    assert!(tower_jwt_auth::env::from_env_with_prefix(prefix).is_err());
}

// --- Secrets stay secret ----------------------------------------------------------------------

#[test]
fn the_secret_never_appears_in_errors_or_debug_output() {
    let secret = "s3cr3t!value-that-must-never-be-printed-anywhere";
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("JWT_SECRET", secret), ("JWT_PUBLIC_KEY", "/x.pem")],
        vec![
            ("JWT_SECRET", secret),
            ("JWT_JWKS_URL", "https://idp.example.com"),
        ],
        vec![("JWT_SECRET", secret), ("JWT_SECRET_ENCODING", "base64")],
        vec![("JWT_SECRET", secret), ("JWT_SECRET_ENCODING", "hex")],
        vec![("JWT_SECRET", secret), ("JWT_LEEWAY", "x")],
        vec![("JWT_SECRET", secret), ("JWT_ALGORITHMS", "XS1")],
        vec![("JWT_SECRET", secret), ("JWT_AUDIENCE", ",")],
        vec![("JWT_SECRET", secret), ("JWT_COOKIE_NAME", "a b")],
    ];
    for pairs in cases {
        let error = refused(&pairs);
        let shown = format!("{error} {error:?} {error:#?}");
        assert!(!shown.contains(secret), "{pairs:?}: {shown}");
    }
    let encoded = STANDARD.encode(secret);
    let config = read(&[("JWT_SECRET", secret)]).unwrap();
    let config_b64 = read(&[
        ("JWT_SECRET", encoded.as_str()),
        ("JWT_SECRET_ENCODING", "base64"),
    ])
    .unwrap();
    for config in [config, config_b64] {
        let shown = format!(
            "{config:?} {config:#?} {:?}",
            config.layer_builder().claims::<serde_json::Value>()
        );
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains(&encoded), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        let layer = config.layer_builder().build().unwrap();
        assert!(!format!("{layer:?}").contains(secret));
    }
}

#[test]
fn env_error_is_a_std_error() {
    fn assert_error<E: std::error::Error + Send + Sync + Clone + 'static>(_: &E) {}
    let error = refused(&[]);
    assert_error(&error);
    let boxed: Box<dyn std::error::Error> = Box::new(error);
    assert!(boxed.to_string().starts_with("no JWT verification key"));
}

#[tokio::test]
async fn from_env_shorthand_builder_matches_the_config() {
    // `from_vars` + `layer_builder` is what `from_env` does on the process environment.
    let builder = read(&[
        ("JWT_SECRET", SECRET_TEXT),
        ("JWT_ALGORITHMS", "HS256,HS384"),
    ])
    .unwrap()
    .layer_builder();
    let layer = builder.build().unwrap();
    for alg in [Algorithm::HS256, Algorithm::HS384] {
        try_token(layer.clone(), &token_with(alg, &claims()))
            .await
            .assert_user(Some("alice"));
    }
}

/// `JWT_OIDC_ISSUER` with several issuers: one tenant each, discovered on its own from a real
/// identity provider on 127.0.0.1, with `JWT_AUDIENCE` shared.
#[cfg(feature = "jwks")]
#[tokio::test]
async fn several_oidc_issuers_are_tenants_each_discovered_on_its_own() {
    use tower_jwt_auth::issuer::{DISCOVERY_PATH, JWKS_PATH, JwtIssuer, SigningKey};

    async fn identity_provider(key: SigningKey) -> (String, JwtIssuer) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let issuer = JwtIssuer::builder()
            .key(key)
            .issuer(&url)
            .audience("api")
            .build()
            .unwrap();
        let app = axum::Router::new()
            .route_service(JWKS_PATH, issuer.jwks_service())
            .route_service(DISCOVERY_PATH, issuer.discovery_service().unwrap());
        tokio::spawn(axum::serve(listener, app).into_future());
        (url, issuer)
    }
    let (url_a, a) = identity_provider(SigningKey::ed_pem(key_file("ed25519.key")).unwrap()).await;
    let (url_b, b) = identity_provider(SigningKey::ec_pem(key_file("ec256.key")).unwrap()).await;
    let issuers = format!("{url_a}\n  {url_b} ");
    let config = read(&[("JWT_OIDC_ISSUER", &issuers), ("JWT_AUDIENCE", "api")]).unwrap();
    let layer = config.layer_builder().typ("at+jwt").build().unwrap();
    for (issuer, sub) in [(&a, "alice"), (&b, "bob")] {
        let token = issuer.issue(&json!({ "sub": sub })).unwrap().token;
        try_token(layer.clone(), &token)
            .await
            .assert_user(Some(sub));
    }
    // The shared audience holds for each.
    let elsewhere = JwtIssuer::builder()
        .key(SigningKey::ed_pem(key_file("ed25519.key")).unwrap())
        .issuer(&url_a)
        .audience("other")
        .build()
        .unwrap();
    let token = elsewhere.issue(&json!({ "sub": "alice" })).unwrap().token;
    try_token(layer, &token).await.assert_rejected(
        401,
        "invalid_token",
        "jwt audience invalid. expected: api",
    );

    // Several issuers trust each its own tokens: JWT_ISSUER cannot say otherwise.
    let error = refused(&[("JWT_OIDC_ISSUER", &issuers), ("JWT_ISSUER", &url_a)]);
    assert_invalid(&error, "JWT_ISSUER", "leave JWT_ISSUER unset");
    let twice = format!("{url_a} {url_a}");
    let error = refused(&[("JWT_OIDC_ISSUER", &twice)]);
    assert_invalid(&error, "JWT_OIDC_ISSUER", "listed twice");
}

#[test]
fn the_jwks_cooldown_applies_to_remote_keys_only_and_is_at_least_a_second() {
    let error = refused(&[("JWT_SECRET", &"x".repeat(32)), ("JWT_JWKS_COOLDOWN", "5")]);
    assert!(
        matches!(&error, EnvError::Inapplicable { variable, .. } if variable == "JWT_JWKS_COOLDOWN"),
        "{error:?}"
    );
    #[cfg(feature = "jwks")]
    {
        let url = ("JWT_JWKS_URL", "https://idp.example/jwks.json");
        for bad in ["0", "soon", "-1"] {
            let error = refused(&[url, ("JWT_JWKS_COOLDOWN", bad)]);
            assert_invalid(&error, "JWT_JWKS_COOLDOWN", "at least 1");
        }
        assert!(read(&[url, ("JWT_JWKS_COOLDOWN", "2")]).is_ok());
    }
}
