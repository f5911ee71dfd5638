//! Verifiers prepared once per key on aws-lc-rs, when that backend is compiled in.
//!
//! `jsonwebtoken`'s aws-lc verifiers parse the public key again at every call (an RSA modulus,
//! an EC point with its curve check, an Ed25519 point decompression) and rebuild the HMAC key
//! schedule. aws-lc-rs's `ParsedPublicKey` and `hmac::Key` hold that work done, are `Send` and
//! `Sync`, and verify with the very same algorithms `jsonwebtoken` maps each `alg` to, so the
//! result of a check cannot differ: only its cost. Keys we do not prepare here (an RSA key
//! given as modulus and exponent) keep going through the provider.

use aws_lc_rs::{hmac, signature};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

/// A key's verifier for one algorithm.
pub(crate) struct NativeVerifier {
    algorithm: Algorithm,
    kind: Kind,
}

enum Kind {
    Hmac(Box<hmac::Key>),
    Public(signature::ParsedPublicKey),
}

impl NativeVerifier {
    /// The verifier of `key` for `algorithm`, or `None` when it is left to the provider.
    pub(crate) fn new(algorithm: Algorithm, key: &DecodingKey) -> Option<Self> {
        let hmac = |alg| {
            let secret = key.try_get_as_bytes().ok()?;
            Some(Kind::Hmac(Box::new(hmac::Key::new(alg, secret))))
        };
        let rsa = |alg: &'static signature::RsaParameters| match key.kind() {
            DecodingKeyKind::SecretOrDer(der) => signature::ParsedPublicKey::new(alg, der)
                .ok()
                .map(Kind::Public),
            DecodingKeyKind::RsaModulusExponent { .. } => None,
        };
        let point = |alg: &'static dyn signature::VerificationAlgorithm| {
            signature::ParsedPublicKey::new(alg, key.try_get_as_bytes().ok()?)
                .ok()
                .map(Kind::Public)
        };
        let kind = match algorithm {
            Algorithm::HS256 => hmac(hmac::HMAC_SHA256),
            Algorithm::HS384 => hmac(hmac::HMAC_SHA384),
            Algorithm::HS512 => hmac(hmac::HMAC_SHA512),
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
        }?;
        Some(Self { algorithm, kind })
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether `signature` holds over `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.kind {
            Kind::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Kind::Public(key) => key.verify_sig(message, signature).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    const SECRET: &[u8] = b"native-verifier-test-secret-of-64-bytes-for-hs512-0123456789abcd";

    /// Every family is prepared natively, verifies what jsonwebtoken signs, and refuses a
    /// signature over another message or made for another algorithm.
    #[test]
    fn every_family_is_prepared_and_checks_like_the_provider() {
        let pem = |name: &str| std::fs::read(format!("tests/keys/{name}")).unwrap();
        let cases = [
            (
                Algorithm::HS256,
                EncodingKey::from_secret(SECRET),
                DecodingKey::from_secret(SECRET),
            ),
            (
                Algorithm::HS512,
                EncodingKey::from_secret(SECRET),
                DecodingKey::from_secret(SECRET),
            ),
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(&pem("rsa.key")).unwrap(),
                DecodingKey::from_rsa_pem(&pem("rsa.pub.pem")).unwrap(),
            ),
            (
                Algorithm::PS384,
                EncodingKey::from_rsa_pem(&pem("rsa.key")).unwrap(),
                DecodingKey::from_rsa_pem(&pem("rsa.pub.pem")).unwrap(),
            ),
            (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(&pem("ec256.key")).unwrap(),
                DecodingKey::from_ec_pem(&pem("ec256.pub.pem")).unwrap(),
            ),
            (
                Algorithm::ES384,
                EncodingKey::from_ec_pem(&pem("ec384.key")).unwrap(),
                DecodingKey::from_ec_pem(&pem("ec384.pub.pem")).unwrap(),
            ),
            (
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(&pem("ed25519.key")).unwrap(),
                DecodingKey::from_ed_pem(&pem("ed25519.pub.pem")).unwrap(),
            ),
        ];
        for (alg, encoding, decoding) in cases {
            let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
            let token =
                jsonwebtoken::encode(&Header::new(alg), &serde_json::json!({}), &encoding).unwrap();
            let (message, signature) = token.rsplit_once('.').unwrap();
            let signature = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                signature,
            )
            .unwrap();
            let native = NativeVerifier::new(alg, &decoding)
                .unwrap_or_else(|| panic!("{alg:?} not prepared natively"));
            assert!(native.verify(message.as_bytes(), &signature), "{alg:?}");
            assert!(!native.verify(b"another message", &signature), "{alg:?}");
            let mut flipped = signature.clone();
            flipped[0] ^= 1;
            assert!(!native.verify(message.as_bytes(), &flipped), "{alg:?}");
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
