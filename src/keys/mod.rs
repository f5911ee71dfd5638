//! Verification keys: [`Key`] as the user gives it, prepared once into a key set chosen by
//! `kid`, from the builder's keys or an identity provider's JWKS.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::jwk::{Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use crate::error::{AuthError, ConfigError};

#[cfg(feature = "jwks")]
pub(crate) mod jwks;
mod native;
mod prepare;

pub(crate) use native::NativeVerifier;
pub use prepare::install_crypto_provider;
pub(crate) use prepare::prepare_key;
pub(crate) use prepare::{check_hmac_secret, check_rsa_modulus, crypto_provider, prepare_keys};

/// A verification key: an HMAC secret or a public key, with an optional `kid` and an optional
/// binding to one algorithm.
///
/// `Debug` never shows the key material.
#[derive(Clone)]
pub struct Key {
    decoding: DecodingKey,
    kid: Option<String>,
    algorithm: Option<Algorithm>,
}

impl Key {
    /// An HMAC secret, as raw bytes.
    pub fn hmac(secret: impl AsRef<[u8]>) -> Self {
        Self::new(DecodingKey::from_secret(secret.as_ref()))
    }

    /// An HMAC secret encoded in base64 (FoalTS `secretEncoding: 'base64'`). Standard and URL-safe
    /// alphabets are accepted, padded or not.
    pub fn hmac_base64(secret: &str) -> Result<Self, ConfigError> {
        decode_base64_secret(secret)
            .map(Self::hmac)
            .ok_or_else(|| ConfigError::InvalidKey("the HMAC secret is not valid base64".into()))
    }

    /// An RSA public key in PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), or a certificate.
    pub fn rsa_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = DecodingKey::from_rsa_pem(pem.as_ref()).map_err(invalid_key)?;
        // jsonwebtoken takes the body of an `RSA PUBLIC KEY` block as it is: parse it now, so
        // anything else (an EC key, a text file) is refused here and not at build time.
        if let Ok(der) = key.try_get_as_bytes() {
            (crypto_provider()
                .key_utils
                .rsa_pub_components_from_public_key)(der)
            .map_err(invalid_key)?;
        }
        Ok(Self::new(key))
    }

    /// An EC public key (P-256 or P-384) in PEM.
    pub fn ec_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        DecodingKey::from_ec_pem(pem.as_ref())
            .map(Self::new)
            .map_err(invalid_key)
    }

    /// An Ed25519 public key in PEM.
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        DecodingKey::from_ed_pem(pem.as_ref())
            .map(Self::new)
            .map_err(invalid_key)
    }

    /// An RSA public key in DER: SubjectPublicKeyInfo (what `openssl pkey -pubout -outform DER`
    /// writes) or PKCS#1 `RSAPublicKey`.
    pub fn rsa_der(der: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let der = der.as_ref();
        Self::rsa_pem(der_to_pem("PUBLIC KEY", der))
            .or_else(|_| Self::rsa_pem(der_to_pem("RSA PUBLIC KEY", der)))
    }

    /// An EC public key in DER: SubjectPublicKeyInfo, or the raw uncompressed point.
    pub fn ec_der(der: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let der = der.as_ref();
        Self::ec_pem(der_to_pem("PUBLIC KEY", der)).or_else(|error| {
            if matches!(der.len(), 65 | 97) && der[0] == 0x04 {
                Ok(Self::new(DecodingKey::from_ec_der(der)))
            } else {
                Err(error)
            }
        })
    }

    /// An Ed25519 public key in DER (SubjectPublicKeyInfo).
    pub fn ed_der(der: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::ed_pem(der_to_pem("PUBLIC KEY", der.as_ref()))
    }

    /// A public key from a JWK. `oct` keys are refused (a shared secret does not belong in a key
    /// set), as are keys whose `use` is not `sig` or whose `key_ops` lack `verify`. The JWK's
    /// `kid` is kept and its `alg`, when present, binds the key to that algorithm.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, ConfigError> {
        Self::from_jwk_allowing(jwk, false)
    }

    /// The keys of a whole JWKS document (`{"keys": [...]}`), as text, under the policy of
    /// remote key sets: each key as [`from_jwk`](Self::from_jwk) takes it (`use`, `key_ops`,
    /// `alg`; no `oct` key), RSA keys of 2048 bits or more. Unlike a remote set, where a bad
    /// key is skipped and logged, a bad key here is an error naming it, and so are two keys
    /// sharing a `kid`, or several keys one of which has none, when the layer is built.
    ///
    /// ```
    /// use tower_jwt_auth::{JwtLayer, Key};
    ///
    /// # fn main() -> Result<(), tower_jwt_auth::error::ConfigError> {
    /// let jwks = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "2026-12",
    ///     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    /// let layer = JwtLayer::builder().keys(Key::from_jwks_json(jwks)?).build()?;
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_jwks_json(document: &str) -> Result<Vec<Self>, ConfigError> {
        Self::jwks(document, false)
    }

    /// [`from_jwks_json`](Self::from_jwks_json), reading the document from the file at `path`.
    pub fn from_jwks_file(path: impl AsRef<std::path::Path>) -> Result<Vec<Self>, ConfigError> {
        let path = path.as_ref();
        let document = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::InvalidKey(format!("the JWKS file {}: {error}", path.display()))
        })?;
        Self::from_jwks_json(&document)
    }

    /// [`from_jwks_json`](Self::from_jwks_json) that also takes `oct` keys (HMAC secrets): for a
    /// document the application holds as a secret itself, never one fetched or published.
    pub fn from_jwks_json_with_secrets(document: &str) -> Result<Vec<Self>, ConfigError> {
        Self::jwks(document, true)
    }

    fn jwks(document: &str, secrets: bool) -> Result<Vec<Self>, ConfigError> {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(document).map_err(|error| {
            // serde_json's message says where, and what was expected, never the key material.
            ConfigError::InvalidKey(format!("the JWKS document is not a JWK set: {error}"))
        })?;
        if set.keys.is_empty() {
            return Err(ConfigError::NoKey);
        }
        set.keys
            .iter()
            .enumerate()
            .map(|(index, jwk)| {
                Self::from_jwk_allowing(jwk, secrets).map_err(|error| match error {
                    ConfigError::InvalidKey(why) => {
                        let why = why.strip_prefix("the key: ").unwrap_or(&why);
                        ConfigError::InvalidKey(match &jwk.common.key_id {
                            Some(kid) => {
                                format!("key #{} (kid {kid:?}) of the JWKS: {why}", index + 1)
                            }
                            None => format!("key #{} of the JWKS: {why}", index + 1),
                        })
                    }
                    error => error,
                })
            })
            .collect()
    }

    fn from_jwk_allowing(jwk: &Jwk, secrets: bool) -> Result<Self, ConfigError> {
        let common = &jwk.common;
        if let Some(key_use) = &common.public_key_use
            && *key_use != PublicKeyUse::Signature
        {
            return Err(ConfigError::InvalidKey(
                "the JWK's use is not \"sig\"".into(),
            ));
        }
        if let Some(ops) = &common.key_operations
            && !ops.contains(&KeyOperations::Verify)
        {
            return Err(ConfigError::InvalidKey(
                "the JWK's key_ops lack \"verify\"".into(),
            ));
        }
        let decoding = DecodingKey::from_jwk(jwk).map_err(invalid_key)?;
        if decoding.family() == AlgorithmFamily::Hmac && !secrets {
            return Err(ConfigError::InvalidKey(
                "symmetric (oct) JWKs are not accepted".into(),
            ));
        }
        let mut key = Self::new(decoding);
        if let Some(alg) = common.key_algorithm {
            let alg = Algorithm::try_from(alg).map_err(|_| {
                ConfigError::InvalidKey("the JWK's alg is not a signature algorithm".into())
            })?;
            key = key.with_algorithm(alg);
        }
        if let Some(kid) = &common.key_id {
            key = key.with_kid(kid.clone());
        }
        Ok(key)
    }

    /// Names the key; tokens choose it through their header's `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Binds the key to one algorithm (like a JWK's `alg`): tokens signed with any other
    /// algorithm are refused for this key even when the layer allows that algorithm.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The key's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn new(decoding: DecodingKey) -> Self {
        Self {
            decoding,
            kid: None,
            algorithm: None,
        }
    }

    /// The algorithm a key of this family and size is used with when nothing else is said.
    fn default_algorithm(&self) -> Algorithm {
        match self.decoding.family() {
            AlgorithmFamily::Hmac => Algorithm::HS256,
            AlgorithmFamily::Rsa => Algorithm::RS256,
            AlgorithmFamily::Ed => Algorithm::EdDSA,
            AlgorithmFamily::Ec => match self.decoding.try_get_as_bytes().map(<[u8]>::len) {
                Ok(97) => Algorithm::ES384,
                _ => Algorithm::ES256,
            },
        }
    }

    /// Whether `alg` can verify with this key: same family, and for EC the matching curve.
    fn fits(&self, alg: Algorithm) -> bool {
        alg.family() == self.decoding.family()
            && (alg.family() != AlgorithmFamily::Ec || alg == self.default_algorithm())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("family", &self.decoding.family())
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Decodes a base64 secret as node's `Buffer.from(s, 'base64')` would: either alphabet, padded
/// or not, surrounding whitespace ignored.
pub(crate) fn decode_base64_secret(secret: &str) -> Option<Vec<u8>> {
    const INDIFFERENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, INDIFFERENT);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, INDIFFERENT);
    let secret = secret.trim();
    standard
        .decode(secret)
        .or_else(|_| url_safe.decode(secret))
        .ok()
}

pub(super) fn invalid_key(error: jsonwebtoken::errors::Error) -> ConfigError {
    crate::error::key_refused("the key", &error)
}

pub(crate) fn der_to_pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

/// A key prepared for verification: its material and the algorithms it may verify.
#[derive(Clone)]
pub(crate) struct PreparedKey {
    pub(crate) kid: Option<Box<str>>,
    pub(crate) decoding: DecodingKey,
    pub(crate) algorithms: Vec<Algorithm>,
    /// A verifier prepared once for each of `algorithms` (see `native`).
    pub(crate) native: Arc<[NativeVerifier]>,
}

impl PreparedKey {
    /// Whether `signature` over `message` holds with this key under `algorithm`, with its own
    /// verifier or one the provider builds for this call (a key seen once, a DPoP proof's).
    pub(crate) fn verifies(
        &self,
        algorithm: Algorithm,
        message: &[u8],
        signature: &[u8],
        provider: &'static jsonwebtoken::crypto::CryptoProvider,
    ) -> bool {
        if !self.algorithms.contains(&algorithm) {
            return false;
        }
        if let Some(native) = self.native.iter().find(|v| v.algorithm() == algorithm) {
            return native.verify(message, signature);
        }
        (provider.verifier_factory)(&algorithm, &self.decoding)
            .is_ok_and(|verifier| verifier.verify(message, &signature.to_vec()).is_ok())
    }
}

/// The keys of a verifier, selected by `kid` when there are several: one hash lookup, however
/// many keys (a scan cost a microsecond more for the 100th key than for the first).
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    keys: Vec<PreparedKey>,
    /// Where each `kid` is in `keys`, when there are several keys (each then has a distinct
    /// `kid`). A `kid` is chosen by the token, unverified: the hasher is seeded per process.
    by_kid: HashMap<Box<str>, usize, foldhash::quality::RandomState>,
}

/// Where a verifier's keys come from.
pub(crate) enum KeySource {
    /// Keys configured on the builder.
    Static(KeySet),
    /// Keys fetched from identity providers.
    #[cfg(feature = "jwks")]
    Remote(jwks::RemoteKeys),
}

impl KeySet {
    /// `keys` must have distinct `kid`s when there are several.
    pub(crate) fn new(keys: Vec<PreparedKey>) -> Self {
        let by_kid = match keys.as_slice() {
            [] | [_] => HashMap::default(),
            keys => keys
                .iter()
                .enumerate()
                .filter_map(|(index, key)| key.kid.clone().map(|kid| (kid, index)))
                .collect(),
        };
        Self { keys, by_kid }
    }

    #[cfg(feature = "jwks")]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn select(&self, kid: Option<&str>) -> Result<&PreparedKey, AuthError> {
        match (self.keys.as_slice(), kid) {
            ([only], kid) => match (only.kid.as_deref(), kid) {
                (Some(expected), Some(kid)) if expected != kid => Err(AuthError::UnknownKid),
                _ => Ok(only),
            },
            (_, None) => Err(AuthError::MissingKid),
            (keys, Some(kid)) => self
                .by_kid
                .get(kid)
                .and_then(|&index| keys.get(index))
                .ok_or(AuthError::UnknownKid),
        }
    }
}

/// A key family in words, for configuration errors.
pub(crate) fn family_name(family: AlgorithmFamily) -> &'static str {
    match family {
        AlgorithmFamily::Hmac => "HMAC",
        AlgorithmFamily::Rsa => "RSA",
        AlgorithmFamily::Ec => "EC",
        AlgorithmFamily::Ed => "Ed25519",
    }
}
