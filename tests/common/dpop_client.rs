//! DPoP clients for the tests and benches: key pairs and proofs made with aws-lc-rs's
//! primitives directly, not with the crate's signing code.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A client's key pair, and how it signs.
pub enum ClientKey {
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl ClientKey {
    pub fn p256() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self::P256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap(),
        )
    }

    pub fn ed25519() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Self::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::P256(_) => "ES256",
            Self::Ed25519(_) => "EdDSA",
        }
    }

    /// The public JWK, and its RFC 7638 thumbprint computed from its required members.
    pub fn jwk(&self) -> (Value, String) {
        let (jwk, canonical) = match self {
            Self::P256(pair) => {
                // An uncompressed point: 0x04, x, y.
                let point = pair.public_key().as_ref();
                let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
                (
                    json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
                    format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
                )
            }
            Self::Ed25519(pair) => {
                let x = b64(pair.public_key().as_ref());
                (
                    json!({ "kty": "OKP", "crv": "Ed25519", "x": x }),
                    format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
                )
            }
        };
        (jwk, b64(&Sha256::digest(canonical.as_bytes())))
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::P256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
            Self::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

/// A proof of `header` and `claims`, signed by `key`.
pub fn signed(key: &ClientKey, header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign(message.as_bytes());
    format!("{message}.{}", b64(&signature))
}

pub fn header(key: &ClientKey) -> Value {
    json!({ "typ": "dpop+jwt", "alg": key.alg(), "jwk": key.jwk().0 })
}

pub fn proof(key: &ClientKey, claims: &Value) -> String {
    signed(key, &header(key), claims)
}
