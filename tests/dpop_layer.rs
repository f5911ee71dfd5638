//! DPoP at the layer (RFC 9449 §7): the `DPoP` scheme, the proof checked after the token, the
//! `cnf.jkt` binding, and the challenges. Proofs are built with aws-lc-rs directly
//! (`common/dpop_client.rs`), tokens with `jsonwebtoken`.

mod common;
#[path = "common/dpop_client.rs"]
mod dpop_client;
#[cfg(feature = "redis")]
#[path = "common/redis.rs"]
mod shared_redis;

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{Answer, DPOP_PROOF_DESCRIPTION_PREFIX, SECRET, TestClock, hs256, now, send};
use dpop_client::{ClientKey, proof};
use http::Request;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_jwt_auth::dpop::{DpopProof, DpopVerifier, RequestOrigin};
use tower_jwt_auth::error::ConfigError;
use tower_jwt_auth::layer::DpopMode;
use tower_jwt_auth::{Claims, JwtLayer, Key, TokenSource};

const HOST: &str = "api.example.com";
const PATH: &str = "/orders";
const ALGS: &str = "ES256 ES384 EdDSA PS256 RS256";

static JTI: AtomicU64 = AtomicU64::new(0);

fn verifier() -> DpopVerifier {
    DpopVerifier::builder().build().unwrap()
}

fn layer(mode: DpopMode) -> JwtLayer {
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .dpop(mode, verifier())
        .build()
        .unwrap()
}

/// `/orders` answers the subject and the proof's thumbprint, when there is one.
fn app(layer: JwtLayer) -> Router {
    async fn orders(
        claims: Claims,
        proof: Option<axum::Extension<DpopProof>>,
    ) -> axum::Json<Value> {
        axum::Json(json!({
            "user": claims.subject(),
            "jkt": proof.map(|proof| proof.thumbprint().to_owned()),
        }))
    }
    Router::new()
        .route(PATH, get(orders).post(orders))
        .layer(layer)
}

/// A token for alice, bound to `key` when given.
fn token(key: Option<&ClientKey>) -> String {
    let mut claims = json!({ "sub": "alice", "exp": now() + 600, "iat": now() });
    if let Some(key) = key {
        claims["cnf"] = json!({ "jkt": key.jwk().1 });
    }
    hs256(&claims)
}

/// Proof claims for `method` on `htu` with `token`, issued now.
fn proof_claims(method: &str, htu: &str, token: &str) -> Value {
    json!({
        "jti": format!("layer-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        "htm": method,
        "htu": htu,
        "iat": now(),
        "ath": dpop_client::b64(&Sha256::digest(token.as_bytes())),
    })
}

fn htu() -> String {
    format!("http://{HOST}{PATH}")
}

/// A valid proof by `key` for `GET /orders` with `token`.
fn valid_proof(key: &ClientKey, token: &str) -> String {
    proof(key, &proof_claims("GET", &htu(), token))
}

fn request(authorization: &str, proofs: &[&str]) -> Request<Body> {
    let mut builder = Request::get(PATH)
        .header("host", HOST)
        .header("authorization", authorization);
    for proof in proofs {
        builder = builder.header("dpop", *proof);
    }
    builder.body(Body::empty()).unwrap()
}

fn dpop_request(token: &str, proofs: &[&str]) -> Request<Body> {
    request(&format!("DPoP {token}"), proofs)
}

fn challenges(answer: &Answer) -> Vec<String> {
    answer
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// A refusal: status, body, and the challenges (`Bearer` then `DPoP`, as the mode offers).
fn assert_refused(
    answer: &Answer,
    status: u16,
    code: &str,
    description: &str,
    expected: &[String],
) {
    assert_eq!(answer.status.as_u16(), status, "body: {}", answer.body);
    assert_eq!(
        answer.body,
        json!({ "code": code, "description": description })
    );
    assert_eq!(challenges(answer), expected);
}

fn with_error(scheme: &str, code: &str, description: &str) -> String {
    let algs = if scheme == "DPoP" {
        format!(r#", algs="{ALGS}""#)
    } else {
        String::new()
    };
    format!(r#"{scheme} error="{code}", error_description="{description}"{algs}"#)
}

fn bare_dpop() -> String {
    format!(r#"DPoP algs="{ALGS}""#)
}

#[tokio::test]
async fn a_dpop_token_with_its_holders_proof_passes_and_the_handler_sees_the_key() {
    for mode in [DpopMode::Allowed, DpopMode::Required] {
        for key in [ClientKey::p256(), ClientKey::ed25519()] {
            let token = token(Some(&key));
            let answer = send(
                app(layer(mode)),
                dpop_request(&token, &[&valid_proof(&key, &token)]),
            )
            .await;
            assert_eq!(
                answer.status,
                200,
                "{mode:?} {}: {}",
                key.alg(),
                answer.body
            );
            assert_eq!(answer.body, json!({ "user": "alice", "jkt": key.jwk().1 }));
        }
    }
}

#[tokio::test]
async fn allowed_mode_takes_unbound_bearer_tokens_and_refuses_bound_ones() {
    let app = app(layer(DpopMode::Allowed));
    let answer = send(
        app.clone(),
        request(&format!("Bearer {}", token(None)), &[]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, json!({ "user": "alice", "jkt": null }));

    // A stolen bound token is no bearer token.
    let key = ClientKey::p256();
    let answer = send(
        app.clone(),
        request(&format!("Bearer {}", token(Some(&key))), &[]),
    )
    .await;
    let description = "jwt bound to a DPoP key";
    assert_refused(
        &answer,
        401,
        "invalid_token",
        description,
        &[
            with_error("Bearer", "invalid_token", description),
            bare_dpop(),
        ],
    );
    // Nor does a proof sent along make it one: the scheme says which rules apply.
    let bound = token(Some(&key));
    let answer = send(
        app,
        request(&format!("Bearer {bound}"), &[&valid_proof(&key, &bound)]),
    )
    .await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.body["description"], description);
}

#[tokio::test]
async fn a_token_whose_cnf_cannot_be_read_is_refused_under_both_schemes() {
    let key = ClientKey::p256();
    let app = app(layer(DpopMode::Allowed));
    for cnf in [json!("jkt"), json!({ "jkt": 7 }), json!([1])] {
        let token = hs256(&json!({ "sub": "alice", "exp": now() + 600, "cnf": cnf }));
        let bearer = send(app.clone(), request(&format!("Bearer {token}"), &[])).await;
        assert_eq!(
            bearer.body["description"], "jwt bound to a DPoP key",
            "{cnf}"
        );
        let dpop = send(
            app.clone(),
            dpop_request(&token, &[&valid_proof(&key, &token)]),
        )
        .await;
        assert_eq!(
            dpop.body["description"], "DPoP key binding invalid",
            "{cnf}"
        );
    }
    // A binding by certificate (RFC 8705) is no DPoP binding: the bearer token goes through.
    let token = hs256(&json!({ "sub": "alice", "exp": now() + 600, "cnf": { "x5t#S256": "abc" } }));
    let answer = send(app, request(&format!("Bearer {token}"), &[])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_dpop_token_without_one_proof_is_refused_with_a_dpop_challenge() {
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let app = app(layer(DpopMode::Allowed));
    let one = valid_proof(&key, &token);
    let two = valid_proof(&key, &token);
    for (proofs, reason) in [
        (vec![], "none in the request"),
        (
            vec![one.as_str(), two.as_str()],
            "more than one in the request",
        ),
    ] {
        let answer = send(app.clone(), dpop_request(&token, &proofs)).await;
        let description = format!("{DPOP_PROOF_DESCRIPTION_PREFIX}{reason}");
        assert_refused(
            &answer,
            401,
            "invalid_dpop_proof",
            &description,
            &[
                "Bearer".to_owned(),
                with_error("DPoP", "invalid_dpop_proof", &description),
            ],
        );
    }
}

#[tokio::test]
async fn each_check_of_the_proof_refuses_at_the_layer() {
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let app = app(layer(DpopMode::Required));
    let other_token =
        hs256(&json!({ "sub": "bob", "exp": now() + 600, "cnf": { "jkt": key.jwk().1 } }));
    let cases = [
        (
            proof(&key, &proof_claims("POST", &htu(), &token)),
            "htm does not match the request method",
        ),
        (
            proof(
                &key,
                &proof_claims("GET", &format!("http://{HOST}/other"), &token),
            ),
            "htu does not match the request URI",
        ),
        (
            proof(
                &key,
                &proof_claims("GET", &format!("https://{HOST}{PATH}"), &token),
            ),
            "htu does not match the request URI",
        ),
        (
            proof(&key, &proof_claims("GET", &htu(), &other_token)),
            "ath does not match the access token",
        ),
        (
            proof(&key, &{
                let mut claims = proof_claims("GET", &htu(), &token);
                claims["iat"] = json!(now() - 600);
                claims
            }),
            "iat too old",
        ),
    ];
    for (proof, reason) in cases {
        let answer = send(app.clone(), dpop_request(&token, &[&proof])).await;
        let description = format!("{DPOP_PROOF_DESCRIPTION_PREFIX}{reason}");
        assert_refused(
            &answer,
            401,
            "invalid_dpop_proof",
            &description,
            &[with_error("DPoP", "invalid_dpop_proof", &description)],
        );
    }
}

#[tokio::test]
async fn the_query_is_not_part_of_the_uri_a_proof_names() {
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let request = Request::get(format!("{PATH}?page=2"))
        .header("host", HOST)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", valid_proof(&key, &token))
        .body(Body::empty())
        .unwrap();
    let answer = send(app(layer(DpopMode::Required)), request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_proof_by_another_key_or_for_an_unbound_token_breaks_the_binding() {
    let (holder, thief) = (ClientKey::p256(), ClientKey::ed25519());
    let app = app(layer(DpopMode::Allowed));
    let description = "DPoP key binding invalid";
    let expected = [
        "Bearer".to_owned(),
        with_error("DPoP", "invalid_token", description),
    ];
    let bound = token(Some(&holder));
    let answer = send(
        app.clone(),
        dpop_request(&bound, &[&valid_proof(&thief, &bound)]),
    )
    .await;
    assert_refused(&answer, 401, "invalid_token", description, &expected);
    let unbound = token(None);
    let answer = send(
        app,
        dpop_request(&unbound, &[&valid_proof(&holder, &unbound)]),
    )
    .await;
    assert_refused(&answer, 401, "invalid_token", description, &expected);
}

#[tokio::test]
async fn a_replayed_proof_is_refused_by_every_clone_of_the_layer() {
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let layer = layer(DpopMode::Required);
    let proof = valid_proof(&key, &token);
    let first = send(app(layer.clone()), dpop_request(&token, &[&proof])).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = send(app(layer), dpop_request(&token, &[&proof])).await;
    assert_eq!(
        again.body["description"],
        "invalid DPoP proof: jti already used"
    );
}

#[tokio::test]
async fn the_token_is_verified_before_its_proof_and_its_errors_go_in_the_dpop_challenge() {
    let key = ClientKey::p256();
    let expired =
        hs256(&json!({ "sub": "alice", "exp": now() - 600, "cnf": { "jkt": key.jwk().1 } }));
    let app = app(layer(DpopMode::Allowed));
    // No proof at all: the token's own refusal comes first.
    let answer = send(app.clone(), dpop_request(&expired, &[])).await;
    assert_refused(
        &answer,
        401,
        "invalid_token",
        "jwt expired",
        &[
            "Bearer".to_owned(),
            with_error("DPoP", "invalid_token", "jwt expired"),
        ],
    );
    // A bearer token's refusal goes in the Bearer challenge.
    let expired_bearer = hs256(&json!({ "sub": "alice", "exp": now() - 600 }));
    let answer = send(app, request(&format!("Bearer {expired_bearer}"), &[])).await;
    assert_refused(
        &answer,
        401,
        "invalid_token",
        "jwt expired",
        &[
            with_error("Bearer", "invalid_token", "jwt expired"),
            bare_dpop(),
        ],
    );
}

#[tokio::test]
async fn required_mode_refuses_every_other_scheme_and_source() {
    let app = app(layer(DpopMode::Required));
    let description = "Expected a DPoP token. Scheme is Authorization: DPoP <token>.";
    let answer = send(
        app.clone(),
        request(&format!("Bearer {}", token(None)), &[]),
    )
    .await;
    assert_refused(
        &answer,
        400,
        "invalid_request",
        description,
        &[with_error("DPoP", "invalid_request", description)],
    );
    let missing = Request::get(PATH)
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let answer = send(app, missing).await;
    let description = "Authorization header not found.";
    assert_refused(
        &answer,
        400,
        "invalid_request",
        description,
        &[with_error("DPoP", "invalid_request", description)],
    );

    let cookie_only = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::cookie())
        .dpop(DpopMode::Required, verifier())
        .build();
    assert!(
        matches!(cookie_only, Err(ConfigError::InvalidDpop(_))),
        "{cookie_only:?}"
    );
}

#[tokio::test]
async fn a_layer_without_dpop_refuses_the_scheme_as_it_always_did() {
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let layer = JwtLayer::builder().key(Key::hmac(SECRET)).build().unwrap();
    let answer = send(
        app(layer.clone()),
        dpop_request(&token, &[&valid_proof(&key, &token)]),
    )
    .await;
    answer.assert_rejected(
        400,
        "invalid_request",
        "Expected a bearer token. Scheme is Authorization: Bearer <token>.",
    );
    // Unaware of DPoP, it reads a bound token as the bearer token it is to it (RFC 9449 §7.2).
    let answer = send(app(layer), request(&format!("Bearer {token}"), &[])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_cached_token_keeps_its_binding_and_still_needs_a_fresh_proof() {
    let clock = TestClock::at(now());
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .cache(1_000)
        .clock(clock.reader())
        .dpop(
            DpopMode::Allowed,
            DpopVerifier::builder()
                .clock(clock.reader())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = app(layer);
    let first = send(
        app.clone(),
        dpop_request(&token, &[&valid_proof(&key, &token)]),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    // From the cache now: the binding came along.
    let bearer = send(app.clone(), request(&format!("Bearer {token}"), &[])).await;
    assert_eq!(bearer.body["description"], "jwt bound to a DPoP key");
    let again = send(app.clone(), dpop_request(&token, &[])).await;
    assert_eq!(
        again.body["description"],
        "invalid DPoP proof: none in the request"
    );
    // A proof made now, checked two minutes later: stale, cached token or not.
    let stale = valid_proof(&key, &token);
    clock.advance(120);
    let late = send(app.clone(), dpop_request(&token, &[&stale])).await;
    assert_eq!(late.body["description"], "invalid DPoP proof: iat too old");
    let fresh = proof(&key, &{
        let mut claims = proof_claims("GET", &htu(), &token);
        claims["iat"] = json!(now() + 120);
        claims
    });
    let ok = send(app, dpop_request(&token, &[&fresh])).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn a_full_replay_memory_is_a_503_never_an_unchecked_proof() {
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .dpop(
            DpopMode::Required,
            DpopVerifier::builder().replay_capacity(1).build().unwrap(),
        )
        .build()
        .unwrap();
    let first = send(
        app(layer.clone()),
        dpop_request(&token, &[&valid_proof(&key, &token)]),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = send(
        app(layer),
        dpop_request(&token, &[&valid_proof(&key, &token)]),
    )
    .await;
    assert_eq!(second.status, 503, "{}", second.body);
    assert_eq!(second.body["code"], "temporarily_unavailable");
    assert!(second.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_configuration_that_cannot_work_is_a_build_error() {
    let with_handler = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .dpop(DpopMode::Allowed, verifier())
        .error_handler(
            |error: &tower_jwt_auth::AuthError, _: &tower_jwt_auth::error::RequestHead<'_>| {
                error.to_response(None)
            },
        )
        .build();
    assert!(
        matches!(with_handler, Err(ConfigError::InvalidDpop(_))),
        "{with_handler:?}"
    );
    let origin_alone = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .dpop_origin(RequestOrigin::fixed("https://api.example.com").unwrap())
        .build();
    assert!(
        matches!(origin_alone, Err(ConfigError::InvalidDpop(_))),
        "{origin_alone:?}"
    );
}

#[tokio::test]
async fn behind_a_proxy_the_configured_origin_is_the_one_proofs_name() {
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .dpop(DpopMode::Required, verifier())
        .dpop_origin(RequestOrigin::fixed("https://api.example.com").unwrap())
        .build()
        .unwrap();
    let public = proof(
        &key,
        &proof_claims("GET", "https://api.example.com/orders", &token),
    );
    // The proxy forwarded it to an internal host.
    let request = Request::get(PATH)
        .header("host", "10.0.0.7:8080")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", public)
        .body(Body::empty())
        .unwrap();
    let answer = send(app(layer.clone()), request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let internal = proof(
        &key,
        &proof_claims("GET", "http://10.0.0.7:8080/orders", &token),
    );
    let request = Request::get(PATH)
        .header("host", "10.0.0.7:8080")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", internal)
        .body(Body::empty())
        .unwrap();
    let answer = send(app(layer), request).await;
    assert_eq!(
        answer.body["description"],
        "invalid DPoP proof: htu does not match the request URI"
    );
}

#[tokio::test]
async fn the_layers_metadata_names_the_proof_algorithms() {
    let metadata = layer(DpopMode::Required)
        .protected_resource_metadata("https://api.example.com")
        .document()
        .unwrap();
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "ES384", "EdDSA", "PS256", "RS256"])
    );
    assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
}

#[tokio::test]
async fn end_to_end_over_a_real_server_the_direct_origin_is_the_address_dialled() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app(layer(DpopMode::Allowed)))
            .await
            .unwrap();
    });
    let key = ClientKey::ed25519();
    let token = token(Some(&key));
    let client = reqwest::Client::new();
    let url = format!("http://{address}{PATH}");
    let proof = proof(&key, &proof_claims("POST", &url, &token));
    let response = client
        .post(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body, json!({ "user": "alice", "jkt": key.jwk().1 }));
    // The same proof again: a replay.
    let response = client
        .post(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .collect();
    assert_eq!(challenges.len(), 2);
    server.abort();
}

const NONCE_SECRET: &[u8] = b"a nonce secret shared by every instance, 32+ bytes";

fn nonce_layer(clock: &TestClock, secret: &[u8]) -> JwtLayer {
    let verifier = DpopVerifier::builder()
        .clock(clock.reader())
        .nonces(secret, std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .clock(clock.reader())
        .dpop(DpopMode::Required, verifier)
        .build()
        .unwrap()
}

fn proof_with_nonce(key: &ClientKey, token: &str, nonce: &str, iat: u64) -> String {
    let mut claims = proof_claims("GET", &htu(), token);
    claims["nonce"] = json!(nonce);
    claims["iat"] = json!(iat);
    proof(key, &claims)
}

fn nonce_of(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get("dpop-nonce")
        .map(|nonce| nonce.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn server_nonces_round_trip_and_roll_over() {
    let clock = TestClock::at(now());
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let app = app(nonce_layer(&clock, NONCE_SECRET));

    // A proof without a nonce: refused, and told which one to use.
    let answer = send(
        app.clone(),
        dpop_request(&token, &[&valid_proof(&key, &token)]),
    )
    .await;
    let description = "DPoP proof nonce required";
    assert_refused(
        &answer,
        401,
        "use_dpop_nonce",
        description,
        &[with_error("DPoP", "use_dpop_nonce", description)],
    );
    let nonce = nonce_of(&answer).expect("a DPoP-Nonce header");

    let at = |clock: &TestClock| clock.reader()();
    let answer = send(
        app.clone(),
        dpop_request(
            &token,
            &[&proof_with_nonce(&key, &token, &nonce, at(&clock))],
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        nonce_of(&answer),
        None,
        "the nonce is current: nothing new to say"
    );

    // The next period: the old nonce still passes, and the answer gives the new one.
    clock.advance(60);
    let answer = send(
        app.clone(),
        dpop_request(
            &token,
            &[&proof_with_nonce(&key, &token, &nonce, at(&clock))],
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let next = nonce_of(&answer).expect("the next nonce");
    assert_ne!(next, nonce);

    // One more period: the first nonce is stale, the second still good.
    clock.advance(60);
    let answer = send(
        app.clone(),
        dpop_request(
            &token,
            &[&proof_with_nonce(&key, &token, &nonce, at(&clock))],
        ),
    )
    .await;
    assert_eq!(answer.body["code"], "use_dpop_nonce");
    assert!(nonce_of(&answer).is_some());
    let answer = send(
        app.clone(),
        dpop_request(
            &token,
            &[&proof_with_nonce(&key, &token, &next, at(&clock))],
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // Any other refusal with a DPoP challenge gives the current nonce too, so the client's
    // next try is not refused for the lack of it.
    let thief = ClientKey::ed25519();
    let answer = send(
        app.clone(),
        dpop_request(
            &token,
            &[&proof_with_nonce(&thief, &token, &next, at(&clock))],
        ),
    )
    .await;
    assert_eq!(answer.body["description"], "DPoP key binding invalid");
    let given = nonce_of(&answer).expect("a DPoP-Nonce header");
    let answer = send(
        app.clone(),
        dpop_request(
            &token,
            &[&proof_with_nonce(&key, &token, &given, at(&clock))],
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // A nonce of our making, altered; and one that is not ours at all.
    let mut forged = next.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for nonce in [forged.as_str(), "not-a-nonce", ""] {
        let answer = send(
            app.clone(),
            dpop_request(
                &token,
                &[&proof_with_nonce(&key, &token, nonce, at(&clock))],
            ),
        )
        .await;
        assert_eq!(answer.body["code"], "use_dpop_nonce", "{nonce:?}");
    }
}

#[tokio::test]
async fn instances_sharing_the_nonce_secret_accept_each_others_nonces() {
    let clock = TestClock::at(now());
    let key = ClientKey::p256();
    let token = token(Some(&key));
    let first = app(nonce_layer(&clock, NONCE_SECRET));
    let second = app(nonce_layer(&clock, NONCE_SECRET));
    let stranger = app(nonce_layer(
        &clock,
        b"another secret, for another deployment!!",
    ));
    let answer = send(first, dpop_request(&token, &[&valid_proof(&key, &token)])).await;
    let nonce = nonce_of(&answer).unwrap();
    let now = clock.reader()();
    let answer = send(
        second,
        dpop_request(&token, &[&proof_with_nonce(&key, &token, &nonce, now)]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = send(
        stranger,
        dpop_request(&token, &[&proof_with_nonce(&key, &token, &nonce, now)]),
    )
    .await;
    assert_eq!(answer.body["code"], "use_dpop_nonce");
}

#[test]
fn a_short_nonce_secret_is_a_build_error() {
    let short = DpopVerifier::builder()
        .nonces(b"too short", std::time::Duration::from_secs(60))
        .build();
    assert!(
        matches!(short, Err(ConfigError::InvalidDpop(_))),
        "{short:?}"
    );
    let no_time = DpopVerifier::builder()
        .nonces(NONCE_SECRET, std::time::Duration::ZERO)
        .build();
    assert!(
        matches!(no_time, Err(ConfigError::InvalidDpop(_))),
        "{no_time:?}"
    );
}

/// Replays refused across instances through Redis: real redis-servers, never a mock (the
/// shared one of `REDIS_URL`, and one per fault test that the test kills or freezes).
#[cfg(feature = "redis")]
mod shared_replays {
    use std::time::{Duration, Instant};

    use tower_jwt_auth::dpop::RedisDpopReplayStore;

    use super::*;
    use crate::shared_redis::{RedisServer, SharedRedis, ttl};

    const SUITE: &str = "dpop_layer";
    const HOW_TO_RUN: &str = "set REDIS_URL=redis://127.0.0.1:6379 (a Redis the tests may write \
         to), or run `scripts/redis-for-tests.sh cargo test --all-features --test dpop_layer`";
    const TIMEOUT: Duration = Duration::from_millis(500);

    /// An instance: its own verifier (its own memory), its own connection to the shared store.
    async fn instance(url: &str, prefix: &str) -> Router {
        let store = RedisDpopReplayStore::connect(url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
            .with_prefix(prefix);
        let verifier = DpopVerifier::builder()
            .replay_store(store)
            .replay_timeout(TIMEOUT)
            .build()
            .unwrap();
        app(JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .dpop(DpopMode::Required, verifier)
            .build()
            .unwrap())
    }

    #[tokio::test]
    async fn a_proof_accepted_by_one_instance_is_a_replay_to_another() {
        let Some(mut redis) = SharedRedis::get(SUITE, "replay_across_instances", HOW_TO_RUN).await
        else {
            return;
        };
        let (first, second) = (
            instance(&redis.url, &redis.prefix).await,
            instance(&redis.url, &redis.prefix).await,
        );
        let key = ClientKey::p256();
        let token = token(Some(&key));
        let proof = valid_proof(&key, &token);
        let answer = send(first.clone(), dpop_request(&token, &[&proof])).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        for instance in [second.clone(), first] {
            let again = send(instance, dpop_request(&token, &[&proof])).await;
            assert_eq!(again.status, 401, "{}", again.body);
            assert_eq!(
                again.body["description"],
                format!("{DPOP_PROOF_DESCRIPTION_PREFIX}jti already used")
            );
        }
        // One key, living no longer than the proof could pass: the window and a second.
        let keys = redis.keys().await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        let left = ttl(&mut redis.raw, &format!("{}{}", redis.prefix, keys[0])).await;
        assert!((1..=61).contains(&left), "ttl {left}");
        // A new proof of the same key passes on the other instance.
        let fresh = send(second, dpop_request(&token, &[&valid_proof(&key, &token)])).await;
        assert_eq!(fresh.status, 200, "{}", fresh.body);
        redis.clear().await;
    }

    /// With a shared replay store, the proof's check waits for Redis, then the revocation
    /// check runs as always: a revoked bound token is refused even with a good proof.
    #[tokio::test]
    async fn the_revocation_check_follows_a_proof_checked_in_redis() {
        let Some(mut redis) = SharedRedis::get(SUITE, "revocation_after_store", HOW_TO_RUN).await
        else {
            return;
        };
        let store = RedisDpopReplayStore::connect(&redis.url)
            .await
            .unwrap()
            .with_prefix(&redis.prefix);
        let revocations = tower_jwt_auth::revocation::MemoryRevocationStore::default();
        let layer = JwtLayer::builder()
            .key(Key::hmac(SECRET))
            .revocations(revocations.clone())
            .dpop(
                DpopMode::Required,
                DpopVerifier::builder().replay_store(store).build().unwrap(),
            )
            .build()
            .unwrap();
        let key = ClientKey::p256();
        let bound_to = |sub: &str| {
            let cnf = json!({ "jkt": key.jwk().1 });
            hs256(&json!({ "sub": sub, "iat": now() - 10, "exp": now() + 600, "cnf": cnf }))
        };
        let (kept, revoked) = (bound_to("bob"), bound_to("alice"));
        // Alice logged out everywhere: her tokens issued before now are revoked.
        tower_jwt_auth::revocation::RevocationStore::revoke_subject(
            &revocations,
            "alice",
            now() - 5,
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
        let answer = send(
            app(layer.clone()),
            dpop_request(&kept, &[&valid_proof(&key, &kept)]),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let answer = send(
            app(layer),
            dpop_request(&revoked, &[&valid_proof(&key, &revoked)]),
        )
        .await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(answer.body["description"], "jwt revoked");
        redis.clear().await;
    }

    /// Every answer while Redis is down or frozen is a 503 within the timeout, never a 200 for
    /// a proof nobody could check; once Redis is back, proofs pass and replays are refused.
    #[tokio::test]
    async fn a_store_that_is_down_or_frozen_refuses_with_503_then_recovers() {
        let Some(mut server) = RedisServer::start(SUITE, "store_down").await else {
            return;
        };
        let app = instance(&server.url(), "dpop-fault:").await;
        let key = ClientKey::ed25519();
        let token = token(Some(&key));
        let proof = valid_proof(&key, &token);
        let ok = send(app.clone(), dpop_request(&token, &[&proof])).await;
        assert_eq!(ok.status, 200, "{}", ok.body);

        let unavailable = |answer: &Answer| {
            assert_eq!(answer.status, 503, "{}", answer.body);
            assert_eq!(answer.body["code"], "temporarily_unavailable");
            assert!(answer.headers.contains_key("retry-after"));
        };
        server.freeze();
        let started = Instant::now();
        let frozen = send(
            app.clone(),
            dpop_request(&token, &[&valid_proof(&key, &token)]),
        )
        .await;
        unavailable(&frozen);
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(2));
        server.thaw();

        server.stop();
        let down = send(
            app.clone(),
            dpop_request(&token, &[&valid_proof(&key, &token)]),
        )
        .await;
        unavailable(&down);

        server.restart().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = send(
                app.clone(),
                dpop_request(&token, &[&valid_proof(&key, &token)]),
            )
            .await;
            match answer.status.as_u16() {
                200 => break,
                503 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                status => panic!("{status} after the restart: {}", answer.body),
            }
        }
        // Back for good: a proof accepted now is a replay the next time.
        let after = valid_proof(&key, &token);
        let first = send(app.clone(), dpop_request(&token, &[&after])).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let replay = send(app, dpop_request(&token, &[&after])).await;
        assert_eq!(replay.status, 401, "{}", replay.body);
    }
}

/// A cookie is a bearer credential: a bound token in one is refused, as in a `Bearer` header.
#[tokio::test]
async fn a_bound_token_in_a_cookie_is_refused() {
    let key = ClientKey::p256();
    let layer = JwtLayer::builder()
        .key(Key::hmac(SECRET))
        .source(TokenSource::header_or_cookie())
        .dpop(DpopMode::Allowed, verifier())
        .build()
        .unwrap();
    let cookie = |token: String| {
        Request::get(PATH)
            .header("host", HOST)
            .header("cookie", format!("auth={token}"))
            .body(Body::empty())
            .unwrap()
    };
    let answer = send(app(layer.clone()), cookie(token(Some(&key)))).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.body["description"], "jwt bound to a DPoP key");
    let answer = send(app(layer), cookie(token(None))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}
