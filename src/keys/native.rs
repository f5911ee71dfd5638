//! Verifiers prepared once per key.
//!
//! `jsonwebtoken`'s verifiers parse the public key again at every call (an RSA modulus, an EC
//! point with its curve check, an Ed25519 point decompression) and rebuild the HMAC key
//! schedule. We hold that work done instead, with the very same algorithms `jsonwebtoken` maps
//! each `alg` to, so the result of a check cannot differ: only its cost.
//!
//! - HMAC keys, in every build: the keyed state of the backend's HMAC (`crate::crypto`), the
//!   padded key hashed once.
//! - Public keys, with the `aws-lc-rs` backend: its `ParsedPublicKey`, RSA keys given as
//!   modulus and exponent (a JWKS's) included; with `rust-crypto` alone, the RustCrypto keys
//!   `jsonwebtoken`'s provider builds at every call (`rsa`, `p256`, `p384`, `ed25519-dalek`),
//!   checked by the same calls.
//!
//! Every algorithm of every backend has one, so any number of keys is verified without
//! building anything per request.

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs::signature;
#[cfg(feature = "aws-lc-rs")]
use jsonwebtoken::DecodingKeyKind;
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::crypto::{HmacKey, Sha};

/// A key's verifier for one algorithm.
pub(crate) struct NativeVerifier {
    algorithm: Algorithm,
    kind: Kind,
}

enum Kind {
    Hmac(Box<HmacKey>),
    #[cfg(feature = "aws-lc-rs")]
    Public(signature::ParsedPublicKey),
    #[cfg(not(feature = "aws-lc-rs"))]
    Public(Box<rust_crypto::PublicKey>),
}

impl NativeVerifier {
    /// The verifier of `key` for `algorithm`, or `None` when the key cannot verify it.
    pub(crate) fn new(algorithm: Algorithm, key: &DecodingKey) -> Option<Self> {
        let kind = match algorithm {
            Algorithm::HS256 => keyed(Sha::Sha256, key),
            Algorithm::HS384 => keyed(Sha::Sha384, key),
            Algorithm::HS512 => keyed(Sha::Sha512, key),
            #[cfg(feature = "aws-lc-rs")]
            _ => public(algorithm, key),
            #[cfg(not(feature = "aws-lc-rs"))]
            _ => rust_crypto::PublicKey::new(algorithm, key).map(|key| Kind::Public(Box::new(key))),
        }?;
        Some(Self { algorithm, kind })
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether `signature` holds over `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.kind {
            Kind::Hmac(key) => key.verify(message, signature),
            #[cfg(feature = "aws-lc-rs")]
            Kind::Public(key) => key.verify_sig(message, signature).is_ok(),
            #[cfg(not(feature = "aws-lc-rs"))]
            Kind::Public(key) => key.verify(message, signature),
        }
    }
}

/// The HMAC state keyed with `key`'s secret; `None` for a key that is not a secret.
fn keyed(sha: Sha, key: &DecodingKey) -> Option<Kind> {
    let secret = key.try_get_as_bytes().ok()?;
    Some(Kind::Hmac(Box::new(HmacKey::new(sha, secret))))
}

/// A public key parsed once by aws-lc-rs, for the algorithm `jsonwebtoken` maps `algorithm` to.
#[cfg(feature = "aws-lc-rs")]
fn public(algorithm: Algorithm, key: &DecodingKey) -> Option<Kind> {
    let rsa = |alg: &'static signature::RsaParameters| match key.kind() {
        DecodingKeyKind::SecretOrDer(der) => signature::ParsedPublicKey::new(alg, der)
            .ok()
            .map(Kind::Public),
        // A JWKS key: the components, big-endian, as aws-lc takes them.
        DecodingKeyKind::RsaModulusExponent { n, e } => signature::RsaPublicKeyComponents {
            n: n.as_slice(),
            e: e.as_slice(),
        }
        .to_parsed_public_key(alg)
        .ok()
        .map(Kind::Public),
    };
    let point = |alg: &'static dyn signature::VerificationAlgorithm| {
        signature::ParsedPublicKey::new(alg, key.try_get_as_bytes().ok()?)
            .ok()
            .map(Kind::Public)
    };
    match algorithm {
        Algorithm::RS256 => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => rsa(&signature::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => rsa(&signature::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => rsa(&signature::RSA_PSS_2048_8192_SHA512),
        Algorithm::ES256 => point(&signature::ECDSA_P256_SHA256_FIXED),
        Algorithm::ES384 => point(&signature::ECDSA_P384_SHA384_FIXED),
        Algorithm::EdDSA => point(&signature::ED25519),
        _ => None,
    }
}

/// Public keys parsed once with the RustCrypto crates, checked exactly as `jsonwebtoken`'s
/// `rust_crypto` provider checks them (the same constructors, digests and verify calls).
#[cfg(not(feature = "aws-lc-rs"))]
mod rust_crypto {
    use ed25519_dalek::Verifier as _;
    use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
    use sha2::{Digest, Sha256, Sha384, Sha512};

    use crate::crypto::Sha;

    pub(super) enum PublicKey {
        Rsa {
            key: RsaPublicKey,
            pss: bool,
            sha: Sha,
        },
        P256(p256::ecdsa::VerifyingKey),
        P384(p384::ecdsa::VerifyingKey),
        Ed25519(ed25519_dalek::VerifyingKey),
    }

    impl PublicKey {
        pub(super) fn new(algorithm: Algorithm, key: &DecodingKey) -> Option<Self> {
            let rsa = |pss, sha| {
                let key = match key.kind() {
                    DecodingKeyKind::SecretOrDer(der) => RsaPublicKey::from_pkcs1_der(der).ok()?,
                    DecodingKeyKind::RsaModulusExponent { n, e } => {
                        RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                            .ok()?
                    }
                };
                Some(Self::Rsa { key, pss, sha })
            };
            let point = || key.try_get_as_bytes().ok();
            match algorithm {
                Algorithm::RS256 => rsa(false, Sha::Sha256),
                Algorithm::RS384 => rsa(false, Sha::Sha384),
                Algorithm::RS512 => rsa(false, Sha::Sha512),
                Algorithm::PS256 => rsa(true, Sha::Sha256),
                Algorithm::PS384 => rsa(true, Sha::Sha384),
                Algorithm::PS512 => rsa(true, Sha::Sha512),
                Algorithm::ES256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point()?)
                    .ok()
                    .map(Self::P256),
                Algorithm::ES384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point()?)
                    .ok()
                    .map(Self::P384),
                Algorithm::EdDSA => {
                    let bytes = <&[u8; 32]>::try_from(point()?).ok()?;
                    ed25519_dalek::VerifyingKey::from_bytes(bytes)
                        .ok()
                        .map(Self::Ed25519)
                }
                _ => None,
            }
        }

        pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
            match self {
                Self::Rsa { key, pss, sha } => match sha {
                    Sha::Sha256 => rsa::<Sha256>(key, *pss, message, signature),
                    Sha::Sha384 => rsa::<Sha384>(key, *pss, message, signature),
                    Sha::Sha512 => rsa::<Sha512>(key, *pss, message, signature),
                },
                Self::P256(key) => p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
                Self::P384(key) => p384::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
                Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            }
        }
    }

    fn rsa<H>(key: &RsaPublicKey, pss: bool, message: &[u8], signature: &[u8]) -> bool
    where
        H: Digest + rsa::pkcs8::AssociatedOid + sha2::digest::DynDigest + Send + Sync + 'static,
    {
        let digest = H::digest(message);
        if pss {
            key.verify(Pss::new::<H>(), &digest, signature).is_ok()
        } else {
            key.verify(Pkcs1v15Sign::new::<H>(), &digest, signature)
                .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKeyKind, EncodingKey, Header};

    use super::*;

    const SECRET: &[u8] = b"native-verifier-test-secret-of-64-bytes-for-hs512-0123456789abcd";

    /// The signing input and the decoded signature of a token `jsonwebtoken` signs.
    fn signed(alg: Algorithm, key: &EncodingKey) -> (String, Vec<u8>) {
        crate::keys::crypto_provider();
        let token = jsonwebtoken::encode(&Header::new(alg), &serde_json::json!({}), key).unwrap();
        let (message, signature) = token.rsplit_once('.').unwrap();
        let signature =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
                .unwrap();
        (message.to_owned(), signature)
    }

    /// `native` verifies what jsonwebtoken signs and refuses a signature over another message
    /// or with a flipped bit.
    fn checks_like_the_provider(alg: Algorithm, encoding: &EncodingKey, decoding: &DecodingKey) {
        let (message, signature) = signed(alg, encoding);
        let native = NativeVerifier::new(alg, decoding)
            .unwrap_or_else(|| panic!("{alg:?} not prepared natively"));
        assert_eq!(native.algorithm(), alg);
        assert!(native.verify(message.as_bytes(), &signature), "{alg:?}");
        assert!(!native.verify(b"another message", &signature), "{alg:?}");
        let mut flipped = signature.clone();
        flipped[0] ^= 1;
        assert!(!native.verify(message.as_bytes(), &flipped), "{alg:?}");
        let last = signature.len() - 1;
        let mut flipped = signature;
        flipped[last] ^= 0x80;
        assert!(!native.verify(message.as_bytes(), &flipped), "{alg:?}");
    }

    #[test]
    fn every_hmac_is_prepared_and_checks_like_the_provider() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let encoding = EncodingKey::from_secret(SECRET);
            checks_like_the_provider(alg, &encoding, &DecodingKey::from_secret(SECRET));
        }
    }

    /// A tag is compared whole: a truncated one, one with a byte more, one made with the same
    /// secret for another HMAC, or one from another secret are all refused.
    #[test]
    fn an_hmac_tag_of_another_length_or_key_is_refused() {
        let decoding = DecodingKey::from_secret(SECRET);
        let native = NativeVerifier::new(Algorithm::HS256, &decoding).unwrap();
        let (message, tag) = signed(Algorithm::HS256, &EncodingKey::from_secret(SECRET));
        assert!(native.verify(message.as_bytes(), &tag));
        assert!(!native.verify(message.as_bytes(), &tag[..16]));
        assert!(!native.verify(message.as_bytes(), &tag[..31]));
        assert!(!native.verify(message.as_bytes(), &[tag.as_slice(), &[0]].concat()));
        assert!(!native.verify(message.as_bytes(), &[]));
        let (message, tag) = signed(Algorithm::HS512, &EncodingKey::from_secret(SECRET));
        assert!(!native.verify(message.as_bytes(), &tag));
        assert!(!native.verify(message.as_bytes(), &tag[..32]));
        let other = EncodingKey::from_secret(b"another-secret-of-32-bytes-or-more!!");
        let (message, tag) = signed(Algorithm::HS256, &other);
        assert!(!native.verify(message.as_bytes(), &tag));
    }

    /// The prepared key is cloned per message, never updated in place: checks in any order and
    /// from several threads at once give the same verdicts.
    #[test]
    fn an_hmac_key_is_not_changed_by_its_checks() {
        let native =
            NativeVerifier::new(Algorithm::HS256, &DecodingKey::from_secret(SECRET)).unwrap();
        let (message, tag) = signed(Algorithm::HS256, &EncodingKey::from_secret(SECRET));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        assert!(!native.verify(b"noise", &tag));
                        assert!(native.verify(message.as_bytes(), &tag));
                    }
                });
            }
        });
    }

    #[test]
    fn every_public_key_family_is_prepared_and_checks_like_the_provider() {
        let pem = |name: &str| std::fs::read(format!("tests/keys/{name}")).unwrap();
        let rsa = || {
            (
                EncodingKey::from_rsa_pem(&pem("rsa.key")).unwrap(),
                DecodingKey::from_rsa_pem(&pem("rsa.pub.pem")).unwrap(),
            )
        };
        let cases = [
            (Algorithm::RS256, rsa()),
            (Algorithm::PS384, rsa()),
            (
                Algorithm::ES256,
                (
                    EncodingKey::from_ec_pem(&pem("ec256.key")).unwrap(),
                    DecodingKey::from_ec_pem(&pem("ec256.pub.pem")).unwrap(),
                ),
            ),
            (
                Algorithm::ES384,
                (
                    EncodingKey::from_ec_pem(&pem("ec384.key")).unwrap(),
                    DecodingKey::from_ec_pem(&pem("ec384.pub.pem")).unwrap(),
                ),
            ),
            (
                Algorithm::EdDSA,
                (
                    EncodingKey::from_ed_pem(&pem("ed25519.key")).unwrap(),
                    DecodingKey::from_ed_pem(&pem("ed25519.pub.pem")).unwrap(),
                ),
            ),
        ];
        for (alg, (encoding, decoding)) in cases {
            checks_like_the_provider(alg, &encoding, &decoding);
        }
    }

    /// An RSA key from a JWKS (modulus and exponent) is prepared too, so that any number of
    /// an identity provider's keys is verified without building a verifier per request.
    #[test]
    fn an_rsa_key_from_its_components_is_prepared_and_checks_like_the_provider() {
        let pem = |name: &str| std::fs::read(format!("tests/keys/{name}")).unwrap();
        let encoding = EncodingKey::from_rsa_pem(&pem("rsa.key")).unwrap();
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap();
        let decoding = DecodingKey::from_jwk(&jwk).unwrap();
        assert!(matches!(
            decoding.kind(),
            DecodingKeyKind::RsaModulusExponent { .. }
        ));
        for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS256] {
            checks_like_the_provider(alg, &encoding, &decoding);
        }
    }

    #[test]
    fn a_key_of_another_family_is_not_prepared() {
        let secret = DecodingKey::from_secret(SECRET);
        assert!(NativeVerifier::new(Algorithm::RS256, &secret).is_none());
        assert!(NativeVerifier::new(Algorithm::ES256, &secret).is_none());
        assert!(NativeVerifier::new(Algorithm::EdDSA, &secret).is_none());
    }
}
