//! The crypto backend is chosen by our cargo features when the layer is built: with both
//! features or either one, nothing panics at the first request. With neither the crate does not
//! compile (`.ci/run` checks the message).

mod common;

use tower_jwt_auth::{JwtLayer, Key};

#[tokio::test]
async fn the_selected_backend_verifies_every_family() {
    use common::*;

    for alg in ONE_ALGORITHM_A_FAMILY {
        let layer = JwtLayer::builder()
            .key(decoding_key(alg))
            .algorithms([alg])
            .build()
            .unwrap();
        let answer = try_token(layer, &token_with(alg, &claims())).await;
        assert_eq!(answer.status, 200, "{alg:?}");
    }
}

#[test]
fn with_a_backend_build_succeeds() {
    let result = JwtLayer::builder().key(Key::hmac([7u8; 32])).build();
    assert!(result.is_ok());
}

#[test]
fn install_crypto_provider_lets_jsonwebtoken_encode_whatever_the_features() {
    // Under `--all-features` jsonwebtoken alone would panic here: it cannot pick between two
    // backends. This test runs in its own process, before any layer is built.
    tower_jwt_auth::keys::install_crypto_provider().unwrap();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "exp": 1 }),
        &jsonwebtoken::EncodingKey::from_secret(&[1u8; 32]),
    );
    assert!(token.is_ok());
}
