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
use std::sync::{Arc, RwLock};
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

/// How long verifiers may keep the published documents by default: `Cache-Control: max-age`.
pub const DEFAULT_DOCUMENTS_MAX_AGE: Duration = Duration::from_secs(5 * 60);

mod publish;

pub use publish::{DISCOVERY_PATH, JWKS_PATH, PublishedDocument};

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

    /// Whether this is a shared secret, which is never published.
    #[cfg(feature = "test-util")]
    pub(crate) fn is_hmac(&self) -> bool {
        self.encoding.family() == AlgorithmFamily::Hmac
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
    /// The signing key and the published ones, replaced whole by a rotation.
    ring: RwLock<Arc<KeyRing>>,
    /// The first signing key's bytes, which the CSRF key of cookie sessions is derived from:
    /// a rotation must not invalidate every session's CSRF token.
    first_key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
    lifetime: Duration,
    clock: Clock,
    provider: &'static CryptoProvider,
    /// The `Cache-Control: max-age` of the published documents.
    documents_max_age: Duration,
}

/// The key tokens are signed with, and the public keys verifiers are told about.
struct KeyRing {
    active: ActiveKey,
    /// The public JWKs of the active key (first, when it has a public part) and of the retiring
    /// keys, which verifiers must keep accepting until they are retired.
    published: Vec<PublishedKey>,
}

struct ActiveKey {
    key: EncodingKey,
    algorithm: Algorithm,
    kid: Option<String>,
    /// The base64url JOSE header, the same for every token.
    header_b64: String,
}

/// A public key as a JWK, with its `kid`.
#[derive(Clone)]
struct PublishedKey {
    kid: String,
    jwk: Value,
}

impl fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        let ring = self.ring();
        f.debug_struct("JwtIssuer")
            .field("algorithm", &ring.active.algorithm)
            .field("kid", &ring.active.kid)
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

    /// Like [`issue`](Self::issue), bound to the key of `proof`, the DPoP proof of the token
    /// request: the token carries `cnf.jkt` (RFC 9449 §6.1), replacing any `cnf` of `claims`,
    /// and a layer with [DPoP](crate::layer::JwtLayerBuilder::dpop) takes it only with a proof
    /// by that key.
    pub fn issue_bound(
        &self,
        claims: &impl Serialize,
        proof: &crate::dpop::DpopProof,
    ) -> Result<IssuedToken, IssueError> {
        let mut claims = claims_object(claims)?;
        claims.insert(
            "cnf".into(),
            serde_json::json!({ "jkt": proof.thumbprint() }),
        );
        self.issue_object(claims, self.shared.lifetime)
    }

    /// The access token lifetime.
    pub fn access_lifetime(&self) -> Duration {
        self.shared.lifetime
    }

    /// The algorithm tokens are signed with (the active key's).
    pub fn algorithm(&self) -> Algorithm {
        self.ring().active.algorithm
    }

    /// The `kid` tokens are signed with (the active key's), if any.
    pub fn kid(&self) -> Option<String> {
        self.ring().active.kid.clone()
    }

    /// The first signing key's bytes (an HMAC secret or a private key's DER), to derive other
    /// keys from: never to be shown. The same after a rotation.
    pub(crate) fn key_material(&self) -> &[u8] {
        self.shared.first_key.as_bytes()
    }

    fn ring(&self) -> Arc<KeyRing> {
        let ring = self.shared.ring.read();
        Arc::clone(&ring.unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Signs with `key` from now on, under `kid` (default: the RFC 7638 thumbprint of its
    /// public key; none for an HMAC secret), after the same checks as the builder's. The key
    /// it replaces is retiring: its public part stays in [`jwks`](Self::jwks), so verifiers
    /// that fetch it keep accepting the tokens it signed, until [`retire`](Self::retire)
    /// removes it. Returns the new key's `kid`.
    ///
    /// Rotation without downtime: publish the new key first (verifiers find an unknown `kid`
    /// through their refetch), keep the old one published for as long as its tokens live
    /// (the access lifetime, plus verifiers' cache time), then retire it.
    pub fn rotate(
        &self,
        key: SigningKey,
        algorithm: Option<Algorithm>,
        kid: Option<String>,
    ) -> Result<Option<String>, ConfigError> {
        let (active, published) = prepare_signer(self.shared.provider, key, algorithm, kid)?;
        let mut ring = self
            .shared
            .ring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let (Some(new), Some(kid)) = (&published, &active.kid)
            && ring.published.iter().any(|old| old.kid == new.kid)
        {
            return Err(ConfigError::AmbiguousKid(Some(kid.clone())));
        }
        let kid = active.kid.clone();
        let mut keys: Vec<PublishedKey> = published.into_iter().collect();
        keys.extend(ring.published.iter().cloned());
        *ring = Arc::new(KeyRing {
            active,
            published: keys,
        });
        Ok(kid)
    }

    /// Stops publishing the retiring key `kid`: verifiers that refetch the key set refuse its
    /// tokens from then on. `false` when no retiring key has that `kid` (the active key cannot
    /// be retired: rotate first).
    pub fn retire(&self, kid: &str) -> bool {
        let mut ring = self
            .shared
            .ring
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ring.active.kid.as_deref() == Some(kid)
            || !ring.published.iter().any(|key| key.kid == kid)
        {
            return false;
        }
        let published = ring
            .published
            .iter()
            .filter(|key| key.kid != kid)
            .cloned()
            .collect();
        let active = ActiveKey {
            key: ring.active.key.clone(),
            algorithm: ring.active.algorithm,
            kid: ring.active.kid.clone(),
            header_b64: ring.active.header_b64.clone(),
        };
        *ring = Arc::new(KeyRing { active, published });
        true
    }

    /// The public keys verifiers should accept, as a JWKS document (RFC 7517 §5): the active
    /// key and the retiring ones, each with its `kid`, `use: "sig"` and `alg`. Empty for an
    /// HMAC issuer: a shared secret is never published.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .ring()
            .published
            .iter()
            .map(|key| key.jwk.clone())
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// An OpenID-style discovery document for this issuer: its `issuer`, the `jwks_uri` at
    /// `<issuer>/.well-known/jwks.json`, and the signing algorithm. Needs an issuer
    /// ([`JwtIssuerBuilder::issuer`]).
    pub fn discovery_document(&self) -> Result<Value, ConfigError> {
        let issuer = self
            .shared
            .issuer
            .as_deref()
            .ok_or(ConfigError::EmptyExpectation("issuer"))?;
        let algorithm = format!("{:?}", self.ring().active.algorithm);
        Ok(serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{}{}", issuer.trim_end_matches('/'), publish::JWKS_PATH),
            "id_token_signing_alg_values_supported": [algorithm],
        }))
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
        let ring = self.ring();
        let active = &ring.active;
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
        Ok(IssuedToken {
            token: self.sign_with(active, &claims)?,
            jti,
            issued_at,
            expires_at,
        })
    }

    /// Signs `claims` as they are, with the active key: no claim is added or replaced.
    #[cfg(feature = "test-util")]
    pub(crate) fn sign_claims(&self, claims: &Map<String, Value>) -> Result<String, IssueError> {
        self.sign_with(&self.ring().active, claims)
    }

    fn sign_with(
        &self,
        key: &ActiveKey,
        claims: &Map<String, Value>,
    ) -> Result<String, IssueError> {
        let payload =
            serde_json::to_vec(claims).map_err(|error| IssueError::Claims(error.to_string()))?;
        let mut token = String::with_capacity(key.header_b64.len() + payload.len() * 2);
        token.push_str(&key.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = sign(self.shared.provider, key.algorithm, &key.key, &token)
            .map_err(|_| IssueError::Signing)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
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
    crate::crypto::fill_random(&mut bytes).map_err(|_| IssueError::Random)?;
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
    documents_max_age: Option<Duration>,
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

    /// The header's `kid`, so verifiers with several keys pick this one. Default: the RFC 7638
    /// thumbprint of the public key (SHA-256), which the published [`JwtIssuer::jwks`] carries
    /// too; none for an HMAC secret.
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

    /// The `Cache-Control: max-age` of the published JWKS and discovery documents: how long a
    /// verifier may keep them before it looks again. Default:
    /// [`DEFAULT_DOCUMENTS_MAX_AGE`] (5 minutes). A retiring key must stay published at least
    /// this long plus the access lifetime.
    pub fn documents_max_age(mut self, max_age: Duration) -> Self {
        self.documents_max_age = Some(max_age);
        self
    }

    /// Checks the configuration once (the key fits the algorithm, is strong enough and signs)
    /// and builds the issuer.
    pub fn build(self) -> Result<JwtIssuer, ConfigError> {
        let provider = keys::crypto_provider();
        let key = self.key.ok_or(ConfigError::NoSigningKey)?;
        let first_key = key.encoding.clone();
        let (active, published) = prepare_signer(provider, key, self.algorithm, self.kid)?;
        let lifetime = self.lifetime.unwrap_or(DEFAULT_ACCESS_LIFETIME);
        if lifetime.as_secs() == 0 {
            return Err(ConfigError::ZeroLifetime("access token"));
        }
        for (what, value) in [("issuer", &self.issuer), ("audience", &self.audience)] {
            if value.as_deref() == Some("") {
                return Err(ConfigError::EmptyExpectation(what));
            }
        }
        Ok(JwtIssuer {
            shared: Arc::new(Prepared {
                ring: RwLock::new(Arc::new(KeyRing {
                    active,
                    published: published.into_iter().collect(),
                })),
                first_key,
                issuer: self.issuer,
                audience: self.audience,
                lifetime,
                clock: self.clock,
                provider,
                documents_max_age: self.documents_max_age.unwrap_or(DEFAULT_DOCUMENTS_MAX_AGE),
            }),
        })
    }
}

/// Checks a signing key as the builder does (it fits the algorithm, is strong enough and
/// signs), and prepares its header and, for an asymmetric key, its public JWK.
fn prepare_signer(
    provider: &'static CryptoProvider,
    key: SigningKey,
    algorithm: Option<Algorithm>,
    kid: Option<String>,
) -> Result<(ActiveKey, Option<PublishedKey>), ConfigError> {
    let algorithm = match algorithm {
        Some(algorithm) => algorithm,
        None => key.default_algorithm(provider)?,
    };
    let fits = algorithm.family() == key.encoding.family()
        && (algorithm.family() != AlgorithmFamily::Ec || key.ec_algorithm(provider)? == algorithm);
    if !fits {
        return Err(ConfigError::NoAlgorithmForKey {
            kid,
            position: 1,
            family: crate::keys::family_name(key.encoding.family()),
            algorithms: vec![algorithm],
        });
    }
    key.check_strength(algorithm)?;
    // A public key passed as a private one, or a truncated file, fails here, not at the
    // first login.
    sign(provider, algorithm, &key.encoding, "probe").map_err(invalid_key)?;
    let public = public_jwk(&key.encoding, algorithm)?;
    let kid = match (kid, &public) {
        (Some(kid), _) if kid.is_empty() => return Err(ConfigError::AmbiguousKid(Some(kid))),
        (Some(kid), _) => Some(kid),
        (None, Some(jwk)) => Some(
            jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .map_err(invalid_key)?,
        ),
        (None, None) => None,
    };
    let published = match (public, &kid) {
        (Some(jwk), Some(kid)) => {
            let mut jwk = serde_json::to_value(jwk)
                .map_err(|error| ConfigError::InvalidKey(error.to_string()))?;
            jwk["kid"] = Value::String(kid.clone());
            jwk["use"] = Value::String("sig".to_owned());
            Some(PublishedKey {
                kid: kid.clone(),
                jwk,
            })
        }
        _ => None,
    };
    let mut header = Header::new(algorithm);
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid.clone_from(&kid);
    let header_json =
        serde_json::to_vec(&header).map_err(|error| ConfigError::InvalidKey(error.to_string()))?;
    let active = ActiveKey {
        key: key.encoding,
        algorithm,
        kid,
        header_b64: URL_SAFE_NO_PAD.encode(header_json),
    };
    Ok((active, published))
}

/// The public half of an asymmetric signing key as a JWK (with its `alg`); `None` for an HMAC
/// secret, which must never be published.
fn public_jwk(
    key: &EncodingKey,
    algorithm: Algorithm,
) -> Result<Option<jsonwebtoken::jwk::Jwk>, ConfigError> {
    if key.family() == AlgorithmFamily::Hmac {
        return Ok(None);
    }
    jsonwebtoken::jwk::Jwk::from_encoding_key(key, algorithm)
        .map(Some)
        .map_err(invalid_key)
}
