//! Tenants: one layer trusting several issuers, each with its own keys and rules; the token's
//! `iss` (or the request, through a resolver) picks the tenant before any key is tried.

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tower_jwt_auth::error::ConfigError;
use tower_jwt_auth::layer::{JwtLayerBuilder, Tenant};
use tower_jwt_auth::{JwtLayer, Key, claims::JsonClaims};

const A: &str = "https://a.example";
const B: &str = "https://b.example";
const SECRET_A: &[u8] = b"tenant-a-secret-tenant-a-secret-tenant-a";

/// A: HS256 with its secret, audience `api-a`. B: ES256 only, audience `api-b`, a 30 s leeway.
fn two_tenants() -> JwtLayerBuilder<JsonClaims> {
    JwtLayer::builder()
        .tenant(Tenant::new(A).key(Key::hmac(SECRET_A)).audience("api-a"))
        .tenant(
            Tenant::new(B)
                .key(decoding_key(Algorithm::ES256))
                .algorithms([Algorithm::ES256])
                .audience("api-b")
                .leeway(Duration::from_secs(30)),
        )
}

fn of_a(claims: Value) -> String {
    let header = json!({ "alg": "HS256" }).to_string();
    sign_raw(
        &header,
        &claims.to_string(),
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET_A),
    )
}

fn of_b(claims: Value) -> String {
    token_with(Algorithm::ES256, &claims)
}

fn claims_for(iss: &str, aud: &str, exp: u64) -> Value {
    json!({ "sub": "alice", "iss": iss, "aud": aud, "exp": exp })
}

#[tokio::test]
async fn each_tenant_verifies_its_tokens_by_its_own_rules() {
    let layer = two_tenants().build().unwrap();
    let later = now() + 60;
    try_token(layer.clone(), &of_a(claims_for(A, "api-a", later)))
        .await
        .assert_user(Some("alice"));
    try_token(layer.clone(), &of_b(claims_for(B, "api-b", later)))
        .await
        .assert_user(Some("alice"));

    // A token of tenant A with tenant B's audience: A's rules refuse it.
    try_token(layer.clone(), &of_a(claims_for(A, "api-b", later)))
        .await
        .assert_rejected(
            401,
            "invalid_token",
            "jwt audience invalid. expected: api-a",
        );
    // Signed with A's key but claiming B: B's keys and algorithms judge it.
    try_token(layer.clone(), &of_a(claims_for(B, "api-b", later)))
        .await
        .assert_rejected(401, "invalid_token", "invalid algorithm");
    // An issuer no tenant trusts, or none: refused before any key is tried.
    for claims in [
        claims_for("https://c.example", "api-a", later),
        json!({ "sub": "alice", "aud": "api-a", "exp": later }),
    ] {
        try_token(layer.clone(), &of_a(claims))
            .await
            .assert_rejected(
                401,
                "invalid_token",
                "jwt issuer invalid. expected: https://a.example,https://b.example",
            );
    }
    // B's leeway is B's: 10 s past `exp` passes B and not A.
    let just_expired = now() - 10;
    try_token(layer.clone(), &of_b(claims_for(B, "api-b", just_expired)))
        .await
        .assert_user(Some("alice"));
    try_token(layer, &of_a(claims_for(A, "api-a", just_expired)))
        .await
        .assert_rejected(401, "invalid_token", "jwt expired");
}

#[tokio::test]
async fn tenants_share_the_cache_without_mixing_their_rules() {
    let layer = two_tenants().cache(100).build().unwrap();
    let just_expired = now() - 10;
    let by_b = of_b(claims_for(B, "api-b", just_expired));
    for _ in 0..3 {
        // Hits are judged by B's leeway, as the miss was.
        try_token(layer.clone(), &by_b)
            .await
            .assert_user(Some("alice"));
    }
}

/// A request's host picks its tenant: a token of another tenant is refused there, cached or not.
#[tokio::test]
async fn a_resolver_picks_the_tenant_from_the_request() {
    let layer = two_tenants()
        .cache(100)
        .tenant_resolver(|head| match head.headers().get("host")?.to_str().ok()? {
            "a.example" => Some(A.to_owned()),
            "b.example" => Some(B.to_owned()),
            "c.example" => Some("https://c.example".to_owned()),
            _ => None,
        })
        .build()
        .unwrap();
    let at = |host: &str, token: &str| {
        get_with(&[
            ("host", host),
            ("authorization", &format!("Bearer {token}")),
        ])
    };
    let by_b = of_b(claims_for(B, "api-b", now() + 60));
    send(app(layer.clone()), at("b.example", &by_b))
        .await
        .assert_user(Some("alice"));
    // Now cached under B, and still refused at A's host: A's keys judge it, not B's hit.
    send(app(layer.clone()), at("a.example", &by_b))
        .await
        .assert_rejected(401, "invalid_token", "invalid algorithm");
    // A request no tenant serves is refused; a resolver naming an issuer no tenant has is the
    // server's mistake.
    send(app(layer.clone()), at("other.example", &by_b))
        .await
        .assert_rejected(
            401,
            "invalid_token",
            "jwt issuer invalid. expected: https://a.example,https://b.example",
        );
    send(app(layer), at("c.example", &by_b))
        .await
        .assert_misconfigured();
}

#[test]
fn tenants_that_cannot_work_are_refused_at_build() {
    let tenant = || Tenant::new(A).key(Key::hmac(SECRET_A));
    for (builder, why) in [
        (
            JwtLayer::builder().tenant(tenant()).tenant(tenant()),
            "two tenants for the issuer",
        ),
        (
            JwtLayer::builder().key(Key::hmac(SECRET)).tenant(tenant()),
            "the layer's own keys or issuers next to tenants",
        ),
        (
            JwtLayer::builder().issuer(B).tenant(tenant()),
            "the layer's own keys or issuers next to tenants",
        ),
        (
            JwtLayer::builder()
                .key(Key::hmac(SECRET))
                .tenant_resolver(|_| None),
            "a tenant resolver needs tenants",
        ),
    ] {
        match builder.build() {
            Err(ConfigError::InvalidTenant(message)) => {
                assert!(message.contains(why), "{message}")
            }
            other => panic!("{why}: {other:?}"),
        }
    }
    // A tenant's own key and algorithm rules apply as the layer's would.
    let short = Tenant::new(A).key(Key::hmac(b"short"));
    assert!(matches!(
        JwtLayer::builder().tenant(short).build(),
        Err(ConfigError::SecretTooShort { .. })
    ));
    let too_lenient = tenant().leeway(Duration::from_secs(600));
    assert_eq!(
        JwtLayer::builder().tenant(too_lenient).build().unwrap_err(),
        ConfigError::LeewayTooLarge
    );
}

/// Two identity providers over HTTP, of two algorithms: each tenant's keys come from its own,
/// and a token whose `iss` no tenant trusts makes no fetch at all.
#[cfg(feature = "test-util")]
#[tokio::test]
async fn remote_tenants_fetch_only_from_the_issuer_the_token_names() {
    use tower_jwt_auth::issuer::SigningKey;
    use tower_jwt_auth::test_util::TestIdentityProvider;

    let idp_a = TestIdentityProvider::builder()
        .audience("api-a")
        .serve()
        .await;
    let idp_b = TestIdentityProvider::builder()
        .audience("api-b")
        .key(SigningKey::ec_pem(key_file("ec256.key")).unwrap())
        .serve()
        .await;
    let layer = JwtLayer::builder()
        .typ("at+jwt")
        .tenant(
            Tenant::new(idp_a.issuer())
                .remote_keys(idp_a.remote_keys().build().unwrap())
                .audience("api-a")
                .algorithms([Algorithm::EdDSA]),
        )
        .tenant(
            Tenant::new(idp_b.issuer())
                .remote_keys(idp_b.remote_keys().build().unwrap())
                .audience("api-b")
                .algorithms([Algorithm::ES256]),
        )
        .build()
        .unwrap();

    let stranger = TestIdentityProvider::builder().audience("api-a").build();
    let token = stranger.token().subject("mallory").sign();
    try_token(layer.clone(), &token).await.assert_rejected(
        401,
        "invalid_token",
        &format!(
            "jwt issuer invalid. expected: {},{}",
            idp_a.issuer(),
            idp_b.issuer()
        ),
    );
    assert_eq!(
        (idp_a.jwks_requests(), idp_b.jwks_requests()),
        (0, 0),
        "an issuer no tenant trusts makes no fetch"
    );

    let by_a = idp_a.token().subject("alice").sign();
    try_token(layer.clone(), &by_a)
        .await
        .assert_user(Some("alice"));
    assert_eq!(idp_b.jwks_requests(), 0, "B was not asked");
    let by_b = idp_b.token().subject("bob").sign();
    try_token(layer.clone(), &by_b)
        .await
        .assert_user(Some("bob"));
    // B's key and issuer with A's audience: B's rules say no.
    let crossed = idp_b.token().subject("bob").audience("api-a").sign();
    try_token(layer, &crossed).await.assert_rejected(
        401,
        "invalid_token",
        "jwt audience invalid. expected: api-b",
    );
    assert_eq!(idp_a.jwks_requests(), 1);
    assert_eq!(idp_b.jwks_requests(), 1);
}

/// Up to eight issuers are compared one by one, more are looked up in a map: every count on
/// both sides of that line picks each tenant by its `iss`, and refuses another's key or an
/// unknown issuer before any key is tried.
#[test]
fn any_number_of_tenants_is_picked_by_iss() {
    let issuer = |i: usize| format!("https://tenant-{i}.example");
    let secret = |i: usize| format!("tenant-{i}-secret-of-at-least-thirty-two-bytes");
    for count in [2, 8, 9, 12] {
        let layer = (0..count)
            .fold(JwtLayer::builder(), |builder, i| {
                builder.tenant(Tenant::new(issuer(i)).key(Key::hmac(secret(i))))
            })
            .build()
            .unwrap();
        let token = |iss: &str, signer: usize| {
            let header = json!({ "alg": "HS256" }).to_string();
            let claims = json!({ "sub": "alice", "iss": iss, "exp": now() + 600 });
            sign_raw(
                &header,
                &claims.to_string(),
                Algorithm::HS256,
                &EncodingKey::from_secret(secret(signer).as_bytes()),
            )
        };
        for i in 0..count {
            let claims = layer.verifier().verify(&token(&issuer(i), i));
            assert!(claims.is_ok(), "{count} tenants, tenant {i}: {claims:?}");
            // Tenant i's issuer with the key of another tenant.
            let crossed = layer.verifier().verify(&token(&issuer(i), (i + 1) % count));
            assert!(crossed.is_err(), "{count} tenants, tenant {i} crossed");
        }
        let unknown = layer
            .verifier()
            .verify(&token("https://nobody.example", 0))
            .unwrap_err();
        assert_eq!(unknown.kind_name(), "invalid_issuer", "{count} tenants");
    }
}
