//! The issuing side: signing access tokens that [`JwtLayer`](crate::JwtLayer) accepts.
//!
//! A [`JwtIssuer`] is configured once, like the layer: the builder checks that the key fits the
//! algorithm and is strong enough (the same minimums the verifying side enforces), signs a probe
//! message so a bad key is refused at start-up rather than at the first login, and encodes the
//! JOSE header once. Issuing is then one serialization and one signature.
//!
//! Tokens are RFC 9068 access tokens: header `typ: "at+jwt"`, with `iat`, `exp`, a random `jti`
//! and the configured `iss` and `aud` set by the issuer. Verify them with
//! [`JwtLayerBuilder::typ`](crate::layer::JwtLayerBuilder::typ)`("at+jwt")`, so an ID token or any other
//! JWT signed with the same key is not taken for an access token.
//!
//! Signing goes through the crypto backend this crate's features select (the same one the layer
//! verifies with), never `jsonwebtoken`'s process-wide default, so nothing panics when both
//! crypto features end up enabled.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::error::{ConfigError, IssueError};
use crate::keys;

/// The access token lifetime used when none is configured: short, because an access token
/// cannot be taken back without a revocation store.
pub const DEFAULT_ACCESS_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The header `typ` of the tokens a [`JwtIssuer`] signs (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// A private key to sign tokens with: an HMAC secret, or an RSA, EC (P-256, P-384) or Ed25519
/// private key.
///
/// `Debug` never shows the key material.
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
}

impl SigningKey {
    /// An HMAC secret, as raw bytes. It must be at least as long as the algorithm's hash output
    /// (32 bytes for HS256), which [`JwtIssuerBuilder::build`] checks.
    pub fn hmac(secret: impl AsRef<[u8]>) -> Self {
        Self::new(EncodingKey::from_secret(secret.as_ref()))
    }

    /// An HMAC secret encoded in base64, either alphabet, padded or not (as
    /// [`Key::hmac_base64`](crate::Key::hmac_base64) reads it).
    pub fn hmac_base64(secret: &str) -> Result<Self, ConfigError> {
        keys::decode_base64_secret(secret)
            .map(Self::hmac)
            .ok_or_else(|| ConfigError::InvalidKey("the HMAC secret is not valid base64".into()))
    }

    /// An RSA private key in PEM: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
    pub fn rsa_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        EncodingKey::from_rsa_pem(pem.as_ref())
            .map(Self::new)
            .map_err(invalid_key)
    }

    /// An RSA private key in DER: PKCS#8 or PKCS#1 `RSAPrivateKey`.
    pub fn rsa_der(der: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let der = der.as_ref();
        // The PEM reader unwraps PKCS#8 to the PKCS#1 key the backends sign with; anything it
        // does not recognise as PKCS#8 is taken as PKCS#1 and checked when the issuer is built.
        Self::rsa_pem(keys::der_to_pem("PRIVATE KEY", der))
            .or_else(|_| Ok(Self::new(EncodingKey::from_rsa_der(der))))
    }

    /// An EC private key (P-256 or P-384) in PKCS#8 PEM (`PRIVATE KEY`).
    pub fn ec_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        EncodingKey::from_ec_pem(pem.as_ref())
            .map(Self::new)
            .map_err(invalid_key)
    }

    /// An EC private key (P-256 or P-384) in PKCS#8 DER.
    pub fn ec_der(der: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::ec_pem(keys::der_to_pem("PRIVATE KEY", der.as_ref()))
    }

    /// An Ed25519 private key in PKCS#8 PEM (`PRIVATE KEY`).
    pub fn ed_pem(pem: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        EncodingKey::from_ed_pem(pem.as_ref())
            .map(Self::new)
            .map_err(invalid_key)
    }

    /// An Ed25519 private key in PKCS#8 DER.
    pub fn ed_der(der: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::ed_pem(keys::der_to_pem("PRIVATE KEY", der.as_ref()))
    }

    fn new(encoding: EncodingKey) -> Self {
        Self { encoding }
    }

    /// The algorithm a key of this family and curve signs with when none is configured.
    fn default_algorithm(&self, provider: &CryptoProvider) -> Result<Algorithm, ConfigError> {
        Ok(match self.encoding.family() {
            AlgorithmFamily::Hmac => Algorithm::HS256,
            AlgorithmFamily::Rsa => Algorithm::RS256,
            AlgorithmFamily::Ed => Algorithm::EdDSA,
            AlgorithmFamily::Ec => self.ec_algorithm(provider)?,
        })
    }

    /// ES256 for a P-256 key, ES384 for a P-384 key: the backends refuse a key of the other
    /// curve, which is how the curve is told.
    fn ec_algorithm(&self, provider: &CryptoProvider) -> Result<Algorithm, ConfigError> {
        [Algorithm::ES256, Algorithm::ES384]
            .into_iter()
            .find(|alg| (provider.signer_factory)(alg, &self.encoding).is_ok())
            .ok_or_else(|| ConfigError::InvalidKey("not a P-256 or P-384 private key".into()))
    }

    /// The key-strength rules of the verifying side, applied to the private key.
    fn check_strength(&self, algorithm: Algorithm) -> Result<(), ConfigError> {
        match self.encoding.family() {
            AlgorithmFamily::Hmac => {
                keys::check_hmac_secret(algorithm, self.encoding.as_bytes().len())
            }
            AlgorithmFamily::Rsa => {
                // Read from the DER ourselves: aws-lc refuses to load a short key at all, which
                // would hide the reason behind a generic "invalid key".
                let modulus = pkcs1_modulus(self.encoding.as_bytes()).ok_or_else(|| {
                    ConfigError::InvalidKey("not a PKCS#1 or PKCS#8 RSA private key".into())
                })?;
                keys::check_rsa_modulus(modulus)
            }
            AlgorithmFamily::Ec | AlgorithmFamily::Ed => Ok(()),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("family", &self.encoding.family())
            .finish_non_exhaustive()
    }
}

/// The modulus of a PKCS#1 `RSAPrivateKey` (`SEQUENCE { version INTEGER, modulus INTEGER, … }`),
/// without its sign byte.
fn pkcs1_modulus(der: &[u8]) -> Option<&[u8]> {
    /// Splits one DER element of `tag` off `input`: (contents, rest).
    fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&found, input) = input.split_first()?;
        let (&first, input) = input.split_first()?;
        let (len, input) = match first {
            0..=0x7f => (usize::from(first), input),
            0x81..=0x84 => {
                let (len_bytes, input) = input.split_at_checked(usize::from(first & 0x7f))?;
                let len = len_bytes
                    .iter()
                    .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
                (len, input)
            }
            _ => return None,
        };
        (found == tag).then_some(())?;
        input.split_at_checked(len)
    }
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    let (key, _) = element(der, SEQUENCE)?;
    // Version 0 (two primes) or 1 (multi-prime). A PKCS#1 public key starts with its modulus
    // instead, and is refused here.
    let (version, key) = element(key, INTEGER)?;
    matches!(version, [0 | 1]).then_some(())?;
    let (modulus, _) = element(key, INTEGER)?;
    Some(modulus)
}

fn invalid_key(error: jsonwebtoken::errors::Error) -> ConfigError {
    crate::error::key_refused("the signing key", &error)
}

/// Signs access tokens. Built once with [`JwtIssuer::builder`]; cheap to clone (clones share
/// the prepared key and header).
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use tower_jwt_auth::{JwtLayer, Key, issuer::{JwtIssuer, SigningKey}};
///
/// let secret = b"an example secret that is 32 bytes or more";
/// let issuer = JwtIssuer::builder()
///     .key(SigningKey::hmac(secret))
///     .issuer("https://auth.example.com")
///     .audience("my-api")
///     .access_lifetime(Duration::from_secs(600))
///     .build()?;
/// let issued = issuer.issue(&json!({ "sub": "alice", "roles": ["admin"] }))?;
/// assert_eq!(issued.expires_in(), Duration::from_secs(600));
///
/// // The layer that accepts it: same key, issuer, audience, and RFC 9068's `typ`.
/// let layer = JwtLayer::builder()
///     .key(Key::hmac(secret))
///     .issuer("https://auth.example.com")
///     .audience("my-api")
///     .typ("at+jwt")
///     .build()?;
/// assert!(layer.verifier().verify(&issued.token).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct JwtIssuer {
    shared: Arc<Prepared>,
}

struct Prepared {
    key: EncodingKey,
    algorithm: Algorithm,
    /// The base64url JOSE header, the same for every token.
    header_b64: String,
    kid: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    lifetime: Duration,
    clock: Clock,
    provider: &'static CryptoProvider,
}

impl fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("JwtIssuer")
            .field("algorithm", &shared.algorithm)
            .field("kid", &shared.kid)
            .field("issuer", &shared.issuer)
            .field("audience", &shared.audience)
            .field("access_lifetime", &shared.lifetime)
            .finish_non_exhaustive()
    }
}

/// A signed access token and what a client or a session store needs to know about it.
///
/// `Debug` does not show the token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// Its `jti`: 128 random bits, base64url without padding (22 characters).
    pub jti: String,
    /// Its `iat`, in seconds since the Unix epoch.
    pub issued_at: u64,
    /// Its `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl IssuedToken {
    /// How long the token is valid from its issue: `exp - iat`.
    pub fn expires_in(&self) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(self.issued_at))
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("jti", &self.jti)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// Starts configuring an issuer.
    pub fn builder() -> JwtIssuerBuilder {
        JwtIssuerBuilder::default()
    }

    /// Signs an access token carrying `claims`, valid for the configured access lifetime.
    ///
    /// `claims` must serialize to a JSON object. The issuer sets `iat` (now), `exp` (now plus the
    /// lifetime), a fresh random `jti`, and `iss` and `aud` when they are configured; these
    /// replace any value `claims` carries, so the claims of a verified token (its `JsonClaims`)
    /// can be issued again as they are. Everything else, `sub` included, is copied unchanged.
    pub fn issue(&self, claims: &impl Serialize) -> Result<IssuedToken, IssueError> {
        self.issue_with_lifetime(claims, self.shared.lifetime)
    }

    /// Like [`issue`](Self::issue), with another lifetime than the configured one (a shorter one
    /// for a step-up token, say). A zero lifetime is refused.
    pub fn issue_with_lifetime(
        &self,
        claims: &impl Serialize,
        lifetime: Duration,
    ) -> Result<IssuedToken, IssueError> {
        let claims = claims_object(claims)?;
        self.issue_object(claims, lifetime)
    }

    /// The access token lifetime.
    pub fn access_lifetime(&self) -> Duration {
        self.shared.lifetime
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.shared.algorithm
    }

    /// The signing key's bytes (an HMAC secret or a private key's DER), to derive other keys
    /// from: never to be shown.
    pub(crate) fn key_material(&self) -> &[u8] {
        self.shared.key.as_bytes()
    }

    /// The current time by the issuer's clock, in seconds since the Unix epoch.
    pub(crate) fn now(&self) -> u64 {
        self.shared.clock.now()
    }

    pub(crate) fn issue_object(
        &self,
        mut claims: Map<String, Value>,
        lifetime: Duration,
    ) -> Result<IssuedToken, IssueError> {
        if lifetime.is_zero() {
            return Err(IssueError::ZeroLifetime);
        }
        let shared = &*self.shared;
        let issued_at = self.now();
        let expires_at = issued_at.saturating_add(lifetime.as_secs());
        let jti = random_base64url::<16>()?;
        claims.insert("iat".into(), issued_at.into());
        claims.insert("exp".into(), expires_at.into());
        claims.insert("jti".into(), jti.clone().into());
        if let Some(issuer) = &shared.issuer {
            claims.insert("iss".into(), issuer.clone().into());
        }
        if let Some(audience) = &shared.audience {
            claims.insert("aud".into(), audience.clone().into());
        }
        let payload =
            serde_json::to_vec(&claims).map_err(|error| IssueError::Claims(error.to_string()))?;
        let mut token = String::with_capacity(shared.header_b64.len() + payload.len() * 2);
        token.push_str(&shared.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = sign(shared.provider, shared.algorithm, &shared.key, &token)
            .map_err(|_| IssueError::Signing)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(IssuedToken {
            token,
            jti,
            issued_at,
            expires_at,
        })
    }
}

/// Serializes `claims`, which must be a JSON object.
pub(crate) fn claims_object(claims: &impl Serialize) -> Result<Map<String, Value>, IssueError> {
    match serde_json::to_value(claims) {
        Ok(Value::Object(claims)) => Ok(claims),
        Ok(_) => Err(IssueError::ClaimsNotObject),
        Err(error) => Err(IssueError::Claims(error.to_string())),
    }
}

fn sign(
    provider: &CryptoProvider,
    algorithm: Algorithm,
    key: &EncodingKey,
    message: &str,
) -> Result<Vec<u8>, jsonwebtoken::errors::Error> {
    // The backends' signers are not `Sync`, so one cannot be kept in the shared issuer; making
    // one is cheap next to the signature itself.
    let signer = (provider.signer_factory)(&algorithm, key)?;
    Ok(signer.try_sign(message.as_bytes())?)
}

/// `N` bytes from the operating system's CSPRNG, base64url without padding.
pub(crate) fn random_base64url<const N: usize>() -> Result<String, IssueError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| IssueError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Configures a [`JwtIssuer`]. Every option has a safe default except the key.
#[derive(Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct JwtIssuerBuilder {
    key: Option<SigningKey>,
    algorithm: Option<Algorithm>,
    kid: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    lifetime: Option<Duration>,
    clock: Clock,
}

impl fmt::Debug for JwtIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtIssuerBuilder")
            .field("key", &self.key)
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl JwtIssuerBuilder {
    /// The signing key. Required.
    pub fn key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The signing algorithm. Default: the key's usual one: HS256 for an HMAC secret, RS256 for
    /// RSA, ES256 or ES384 by the EC key's curve, EdDSA for Ed25519. It must fit the key.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The header's `kid`, so verifiers with several keys pick this one. Default: none.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The `iss` claim of every token. Default: none (the claims' own `iss`, if any, is kept).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` claim of every token. Default: none (the claims' own `aud`, if any, is kept).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long access tokens are valid, in whole seconds. Default:
    /// [`DEFAULT_ACCESS_LIFETIME`] (15 minutes): short, because a stolen access token works until
    /// it expires unless a revocation store is checked. Zero is refused.
    pub fn access_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Replaces the system clock (seconds since the Unix epoch), for tests and simulations.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Clock::from_fn(clock);
        self
    }

    /// Checks the configuration once (the key fits the algorithm, is strong enough and signs)
    /// and builds the issuer.
    pub fn build(self) -> Result<JwtIssuer, ConfigError> {
        let provider = keys::crypto_provider()?;
        let key = self.key.ok_or(ConfigError::NoSigningKey)?;
        let algorithm = match self.algorithm {
            Some(algorithm) => algorithm,
            None => key.default_algorithm(provider)?,
        };
        let fits = algorithm.family() == key.encoding.family()
            && (algorithm.family() != AlgorithmFamily::Ec
                || key.ec_algorithm(provider)? == algorithm);
        if !fits {
            return Err(ConfigError::NoAlgorithmForKey {
                kid: self.kid,
                position: 1,
                family: crate::keys::family_name(key.encoding.family()),
                algorithms: vec![algorithm],
            });
        }
        key.check_strength(algorithm)?;
        // A public key passed as a private one, or a truncated file, fails here, not at the
        // first login.
        sign(provider, algorithm, &key.encoding, "probe").map_err(invalid_key)?;
        let lifetime = self.lifetime.unwrap_or(DEFAULT_ACCESS_LIFETIME);
        if lifetime.as_secs() == 0 {
            return Err(ConfigError::ZeroLifetime("access token"));
        }
        for (what, value) in [("issuer", &self.issuer), ("audience", &self.audience)] {
            if value.as_deref() == Some("") {
                return Err(ConfigError::EmptyExpectation(what));
            }
        }
        let mut header = Header::new(algorithm);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid.clone_from(&self.kid);
        let header_json = serde_json::to_vec(&header)
            .map_err(|error| ConfigError::InvalidKey(error.to_string()))?;
        Ok(JwtIssuer {
            shared: Arc::new(Prepared {
                key: key.encoding,
                algorithm,
                header_b64: URL_SAFE_NO_PAD.encode(header_json),
                kid: self.kid,
                issuer: self.issuer,
                audience: self.audience,
                lifetime,
                clock: self.clock,
                provider,
            }),
        })
    }
}
