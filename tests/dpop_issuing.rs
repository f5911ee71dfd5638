//! The issuing side of DPoP (RFC 9449 §5): sessions and tokens bound to the key of the token
//! request's proof, and refreshes that need that key. Proofs are built with aws-lc-rs directly
//! (`common/dpop_client.rs`).

mod common;
#[path = "common/dpop_client.rs"]
mod dpop_client;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{SECRET, now, payload};
use dpop_client::{ClientKey, proof};
use http::Method;
use serde_json::{Value, json};
use tower_jwt_auth::dpop::{DpopError, DpopProof, DpopVerifier};
use tower_jwt_auth::error::{RequestHead, SessionError};
use tower_jwt_auth::issuer::{JwtIssuer, SigningKey};
use tower_jwt_auth::refresh::{MemoryRefreshStore, Sessions};

const TOKEN_URL: &str = "https://auth.example.com/token";

static JTI: AtomicU64 = AtomicU64::new(0);

/// A checked proof of a token request by `key`, as a token endpoint gets it.
async fn checked_proof(verifier: &DpopVerifier, key: &ClientKey) -> DpopProof {
    let claims = json!({
        "jti": format!("issuing-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        "htm": "POST",
        "htu": TOKEN_URL,
        "iat": now(),
    });
    verifier
        .verify(&proof(key, &claims), &Method::POST, TOKEN_URL, None)
        .await
        .unwrap()
}

fn sessions() -> Sessions {
    let issuer = JwtIssuer::builder()
        .key(SigningKey::hmac(SECRET))
        .build()
        .unwrap();
    Sessions::builder(issuer, MemoryRefreshStore::default())
        .build()
        .unwrap()
}

fn jkt(token: &str) -> Value {
    payload(token)["cnf"]["jkt"].clone()
}

#[tokio::test]
async fn a_bound_login_binds_every_access_token_and_the_refresh_tokens() {
    let (verifier, sessions) = (DpopVerifier::builder().build().unwrap(), sessions());
    let (key, other) = (ClientKey::p256(), ClientKey::ed25519());
    let login = checked_proof(&verifier, &key).await;
    // A `cnf` of the caller's is replaced by the proof's.
    let claims = json!({ "sub": "alice", "cnf": { "jkt": "someone-else" } });
    let pair = sessions.login_bound(&claims, &login).await.unwrap();
    assert_eq!(pair.token_type(), "DPoP");
    assert_eq!(serde_json::to_value(&pair).unwrap()["token_type"], "DPoP");
    assert_eq!(jkt(pair.access_token()), key.jwk().1);

    // Refused before anything changes: no proof, another key's proof.
    let refused = sessions.rotate(pair.refresh_token()).await.unwrap_err();
    assert!(
        matches!(refused, SessionError::InvalidDpopProof(DpopError::Missing)),
        "{refused:?}"
    );
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.code(), Some("invalid_dpop_proof"));
    let stranger = checked_proof(&verifier, &other).await;
    let refused = sessions
        .rotate_bound(pair.refresh_token(), Some(&stranger))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SessionError::DpopKeyMismatch),
        "{refused:?}"
    );
    // A renewal that tries to rebind is ignored: the session's key stays.
    let renewed = sessions
        .rotate_bound_with(
            pair.refresh_token(),
            Some(&checked_proof(&verifier, &key).await),
            |_, mut claims| async move {
                claims.insert("cnf".into(), json!({ "jkt": "another" }));
                Ok::<_, SessionError>(Some(claims))
            },
        )
        .await
        .unwrap();
    assert_eq!(renewed.token_type(), "DPoP");
    assert_eq!(jkt(renewed.access_token()), key.jwk().1);
    // And again, from the stored claims.
    let third = sessions
        .rotate_bound(
            renewed.refresh_token(),
            Some(&checked_proof(&verifier, &key).await),
        )
        .await
        .unwrap();
    assert_eq!(jkt(third.access_token()), key.jwk().1);
    // The used token is a reuse, proof or not: the session ends.
    let reused = sessions
        .rotate_bound(
            pair.refresh_token(),
            Some(&checked_proof(&verifier, &key).await),
        )
        .await
        .unwrap_err();
    assert!(matches!(reused, SessionError::RefreshReused), "{reused:?}");
}

#[tokio::test]
async fn an_unbound_session_binds_only_the_access_token_of_a_refresh_with_a_proof() {
    let (verifier, sessions) = (DpopVerifier::builder().build().unwrap(), sessions());
    let key = ClientKey::p256();
    let pair = sessions.login(&json!({ "sub": "alice" })).await.unwrap();
    assert_eq!(pair.token_type(), "Bearer");
    assert_eq!(jkt(pair.access_token()), Value::Null);
    let bound = sessions
        .rotate_bound(
            pair.refresh_token(),
            Some(&checked_proof(&verifier, &key).await),
        )
        .await
        .unwrap();
    assert_eq!(bound.token_type(), "DPoP");
    assert_eq!(jkt(bound.access_token()), key.jwk().1);
    // The refresh token is not bound: the next refresh needs no proof.
    let plain = sessions.rotate(bound.refresh_token()).await.unwrap();
    assert_eq!(plain.token_type(), "Bearer");
    assert_eq!(jkt(plain.access_token()), Value::Null);
}

/// `cnf` is the sessions' to set: given to an unbound login, or returned by a renewal, it is
/// dropped, so no caller binds a session to a key nobody proved.
#[tokio::test]
async fn a_cnf_the_caller_gives_is_dropped() {
    let sessions = sessions();
    let forged = json!({ "jkt": "a-key-nobody-proved" });
    let pair = sessions
        .login(&json!({ "sub": "alice", "cnf": forged }))
        .await
        .unwrap();
    assert_eq!(pair.token_type(), "Bearer");
    assert_eq!(payload(pair.access_token())["cnf"], Value::Null);
    let renewed = sessions
        .rotate_with(pair.refresh_token(), |_, mut claims| async move {
            claims.insert("cnf".into(), json!({ "jkt": "a-key-nobody-proved" }));
            Ok::<_, SessionError>(Some(claims))
        })
        .await
        .unwrap();
    assert_eq!(renewed.token_type(), "Bearer");
    assert_eq!(payload(renewed.access_token())["cnf"], Value::Null);
    // Nor is it stored for the next rotation.
    let next = sessions.rotate(renewed.refresh_token()).await.unwrap();
    assert_eq!(payload(next.access_token())["cnf"], Value::Null);
}

#[tokio::test]
async fn an_issuer_binds_a_token_to_the_proofs_key() {
    let verifier = DpopVerifier::builder().build().unwrap();
    let key = ClientKey::ed25519();
    let issuer = JwtIssuer::builder()
        .key(SigningKey::hmac(SECRET))
        .build()
        .unwrap();
    let proof = checked_proof(&verifier, &key).await;
    let issued = issuer
        .issue_bound(&json!({ "sub": "alice", "cnf": { "jkt": "x" } }), &proof)
        .unwrap();
    assert_eq!(jkt(&issued.token), key.jwk().1);
    assert_eq!(payload(&issued.token)["sub"], "alice");
}

#[tokio::test]
async fn a_token_endpoint_tells_no_proof_from_a_bad_one() {
    let verifier = DpopVerifier::builder().build().unwrap();
    let origin = tower_jwt_auth::dpop::RequestOrigin::fixed("https://auth.example.com").unwrap();
    let request = |proof: Option<&str>| {
        let mut builder = http::Request::post("/token");
        if let Some(proof) = proof {
            builder = builder.header("dpop", proof);
        }
        builder.body(()).unwrap()
    };
    let none = request(None);
    assert_eq!(
        verifier
            .verify_request(&RequestHead::of(&none), &origin)
            .await,
        Ok(None)
    );
    let key = ClientKey::p256();
    let claims = json!({ "jti": "endpoint-1", "htm": "POST", "htu": TOKEN_URL, "iat": now() });
    let good = request(Some(&proof(&key, &claims)));
    let checked = verifier
        .verify_request(&RequestHead::of(&good), &origin)
        .await
        .unwrap();
    assert_eq!(checked.unwrap().thumbprint(), key.jwk().1);
    let bad = request(Some("not.a.proof"));
    let refused = verifier
        .verify_request(&RequestHead::of(&bad), &origin)
        .await
        .unwrap_err();
    assert!(matches!(refused, DpopError::Malformed(_)), "{refused:?}");
    let answer = SessionError::from(refused);
    assert_eq!(answer.status(), 400);
    assert_eq!(answer.code(), Some("invalid_dpop_proof"));
    // A replay check that cannot be made is the server's trouble: 503.
    assert_eq!(SessionError::from(DpopError::ReplayCacheFull).status(), 503);
}
