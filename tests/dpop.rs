//! DPoP proofs (RFC 9449 §4.3), each check with its near miss. The proofs are built with
//! aws-lc-rs's primitives directly (`common/dpop_client.rs`), not with the crate's signing
//! code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[path = "common/dpop_client.rs"]
mod dpop_client;

use dpop_client::{ClientKey, b64, header, proof, signed};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_jwt_auth::dpop::{DpopError, DpopVerifier};

const URI: &str = "https://api.example.com/orders";
const ACCESS_TOKEN: &str = "an.access.token";
const NOW: u64 = 1_800_000_000;

static JTI: AtomicU64 = AtomicU64::new(0);

/// The claims of a valid proof for `GET URI` with `ACCESS_TOKEN`, at `NOW`.
fn claims() -> Value {
    json!({
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        "htm": "GET",
        "htu": URI,
        "iat": NOW,
        "ath": b64(&Sha256::digest(ACCESS_TOKEN.as_bytes())),
    })
}

fn verifier() -> DpopVerifier {
    DpopVerifier::builder().clock(|| NOW).build().unwrap()
}

/// The answer of a verifier that remembers in memory: ready at the first poll, no runtime.
fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
    futures_util::FutureExt::now_or_never(future).expect("the memory answers at once")
}

fn check(verifier: &DpopVerifier, proof: &str) -> Result<String, DpopError> {
    ready(verifier.verify(proof, &Method::GET, URI, Some(ACCESS_TOKEN)))
        .map(|proof| proof.thumbprint().to_owned())
}

#[test]
fn a_valid_proof_passes_and_names_its_key_by_thumbprint() {
    let verifier = verifier();
    for key in [ClientKey::p256(), ClientKey::ed25519()] {
        let claims = claims();
        let passed =
            ready(verifier.verify(&proof(&key, &claims), &Method::GET, URI, Some(ACCESS_TOKEN)))
                .unwrap();
        assert_eq!(passed.thumbprint(), key.jwk().1, "{}", key.alg());
        assert_eq!(passed.jti(), claims["jti"]);
        assert_eq!(passed.iat(), NOW);
    }
    // At a token endpoint there is no access token, and no `ath` to check.
    let key = ClientKey::p256();
    let mut login = claims();
    login["htm"] = json!("POST");
    login.as_object_mut().unwrap().remove("ath");
    assert!(ready(verifier.verify(&proof(&key, &login), &Method::POST, URI, None)).is_ok());
}

#[test]
fn htm_and_htu_must_be_the_requests() {
    let (verifier, key) = (verifier(), ClientKey::p256());
    let with = |member: &str, value: &str| {
        let mut claims = claims();
        claims[member] = json!(value);
        check(&verifier, &proof(&key, &claims))
    };
    assert_eq!(with("htm", "POST"), Err(DpopError::MethodMismatch));
    assert_eq!(with("htm", "get"), Err(DpopError::MethodMismatch));
    assert_eq!(
        with("htu", "https://api.example.com/orders?page=2"),
        Err(DpopError::UriMismatch)
    );
    assert_eq!(
        with("htu", "https://api.example.com/orders/7"),
        Err(DpopError::UriMismatch)
    );
    assert_eq!(
        with("htu", "http://api.example.com/orders"),
        Err(DpopError::UriMismatch)
    );
    assert!(with("htu", "https://API.example.com:443/orders").is_ok());
    // The request's own query does not matter.
    let passed = ready(verifier.verify(
        &proof(&key, &claims()),
        &Method::GET,
        "https://api.example.com/orders?page=2",
        Some(ACCESS_TOKEN),
    ));
    assert!(passed.is_ok(), "{passed:?}");
}

#[test]
fn iat_must_be_within_the_window() {
    let (verifier, key) = (verifier(), ClientKey::ed25519());
    let at = |iat: u64| {
        let mut claims = claims();
        claims["iat"] = json!(iat);
        check(&verifier, &proof(&key, &claims))
    };
    assert!(at(NOW - 60).is_ok());
    assert_eq!(at(NOW - 61), Err(DpopError::Expired));
    assert!(at(NOW + 5).is_ok());
    assert_eq!(at(NOW + 6), Err(DpopError::IssuedInTheFuture));
    let mut claims = claims();
    claims["iat"] = json!("now");
    assert!(matches!(
        check(&verifier, &proof(&key, &claims)),
        Err(DpopError::Malformed(_))
    ));
}

#[test]
fn a_jti_is_accepted_once_by_every_clone_of_the_verifier() {
    let (verifier, key) = (verifier(), ClientKey::p256());
    let proof = proof(&key, &claims());
    assert!(check(&verifier, &proof).is_ok());
    assert_eq!(check(&verifier, &proof), Err(DpopError::Replayed));
    assert_eq!(check(&verifier.clone(), &proof), Err(DpopError::Replayed));
    // Another verifier has its own memory.
    assert!(check(&self::verifier(), &proof).is_ok());
}

#[test]
fn a_replay_is_remembered_until_the_proof_is_too_old_and_no_longer() {
    let now = Arc::new(AtomicU64::new(NOW));
    let clock = now.clone();
    let verifier = DpopVerifier::builder()
        .clock(move || clock.load(Ordering::Relaxed))
        .replay_capacity(1)
        .build()
        .unwrap();
    let key = ClientKey::p256();
    let first = proof(&key, &claims());
    assert!(check(&verifier, &first).is_ok());
    // Full, with its one entry still in the window: a new proof is refused, not let through
    // unchecked.
    assert_eq!(
        check(&verifier, &proof(&key, &claims())),
        Err(DpopError::ReplayCacheFull)
    );
    now.store(NOW + 61, Ordering::Relaxed);
    assert_eq!(check(&verifier, &first), Err(DpopError::Expired));
    let mut fresh = claims();
    fresh["iat"] = json!(NOW + 61);
    assert!(check(&verifier, &proof(&key, &fresh)).is_ok());
}

#[test]
fn ath_must_hash_the_access_token() {
    let (verifier, key) = (verifier(), ClientKey::p256());
    let mut wrong = claims();
    wrong["ath"] = json!(b64(&Sha256::digest(b"another.access.token")));
    assert_eq!(
        check(&verifier, &proof(&key, &wrong)),
        Err(DpopError::AccessTokenHashMismatch)
    );
    let mut missing = claims();
    missing.as_object_mut().unwrap().remove("ath");
    assert_eq!(
        check(&verifier, &proof(&key, &missing)),
        Err(DpopError::AccessTokenHashMismatch)
    );
}

#[test]
fn the_header_must_be_a_dpop_header_with_a_public_key_of_an_allowed_alg() {
    let (verifier, key) = (verifier(), ClientKey::p256());
    let with = |change: &dyn Fn(&mut Value)| {
        let mut header = header(&key);
        change(&mut header);
        check(&verifier, &signed(&key, &header, &claims()))
    };
    assert_eq!(
        with(&|h| h["typ"] = json!("JWT")),
        Err(DpopError::WrongType)
    );
    assert_eq!(
        with(&|h| {
            h.as_object_mut().unwrap().remove("typ");
        }),
        Err(DpopError::WrongType)
    );
    assert_eq!(
        with(&|h| h["alg"] = json!("HS256")),
        Err(DpopError::AlgorithmNotAllowed)
    );
    assert_eq!(
        with(&|h| h["alg"] = json!("none")),
        Err(DpopError::AlgorithmNotAllowed)
    );
    // The key of another family than the alg's.
    assert_eq!(
        with(&|h| h["alg"] = json!("EdDSA")),
        Err(DpopError::InvalidKey)
    );
    assert_eq!(
        with(&|h| {
            h.as_object_mut().unwrap().remove("jwk");
        }),
        Err(DpopError::InvalidKey)
    );
    assert_eq!(
        with(&|h| h["jwk"]["d"] = json!(b64(&[7; 32]))),
        Err(DpopError::PrivateKey)
    );
    // An HMAC proof, with its secret as an `oct` key.
    let secret = b64(b"a shared secret of thirty-two bytes!");
    let hmac_header = json!({
        "typ": "dpop+jwt", "alg": "HS256", "jwk": { "kty": "oct", "k": secret },
    });
    assert_eq!(
        check(&verifier, &signed(&key, &hmac_header, &claims())),
        Err(DpopError::AlgorithmNotAllowed)
    );
    let allowed_hs256 = DpopVerifier::builder()
        .algorithms([tower_jwt_auth::Algorithm::HS256])
        .build();
    assert!(allowed_hs256.is_err());
}

#[test]
fn the_signature_must_hold_with_the_header_key() {
    let (verifier, key, other) = (verifier(), ClientKey::p256(), ClientKey::p256());
    // Signed by another key than the one in the header.
    let forged = signed(&other, &header(&key), &claims());
    assert_eq!(check(&verifier, &forged), Err(DpopError::InvalidSignature));
    // A claim changed after signing.
    let genuine = proof(&key, &claims());
    let (signed_part, signature) = genuine.rsplit_once('.').unwrap();
    let (header_part, _) = signed_part.split_once('.').unwrap();
    let mut changed = claims();
    changed["htm"] = json!("GET");
    let tampered = format!(
        "{header_part}.{}.{signature}",
        b64(changed.to_string().as_bytes())
    );
    assert_eq!(
        check(&verifier, &tampered),
        Err(DpopError::InvalidSignature)
    );
    // Two keys, two thumbprints: a token bound to one is not bound to the other.
    assert_ne!(key.jwk().1, other.jwk().1);
}

#[test]
fn malformed_proofs_are_refused_without_a_panic() {
    let verifier = verifier();
    for proof in [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        &"x".repeat(9 * 1024),
        &format!("{}.e30.AA", b64(b"not json")),
    ] {
        assert!(
            matches!(check(&verifier, proof), Err(DpopError::Malformed(_))),
            "{proof:.20}"
        );
    }
}

#[test]
fn the_request_must_carry_exactly_one_proof() {
    let mut headers = HeaderMap::new();
    assert_eq!(DpopVerifier::proof_in(&headers), Err(DpopError::Missing));
    headers.append("dpop", HeaderValue::from_static("first"));
    assert_eq!(DpopVerifier::proof_in(&headers), Ok("first"));
    headers.append("DPoP", HeaderValue::from_static("second"));
    assert_eq!(DpopVerifier::proof_in(&headers), Err(DpopError::Multiple));
    let window = DpopVerifier::builder()
        .max_age(Duration::from_secs(30))
        .build()
        .unwrap();
    assert_eq!(
        window.algorithms(),
        tower_jwt_auth::dpop::DEFAULT_DPOP_ALGORITHMS
    );
}
