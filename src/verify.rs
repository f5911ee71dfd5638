//! Keys, validation rules and the decode pipeline.
//!
//! The pipeline does each piece of work once and in an order that keeps an attacker's cost
//! high and ours low: the size cap and the segment syntax are checked before any decoding, the
//! header is parsed once, the algorithm is checked against the allow-list bound to the selected
//! key before any cryptography, and the payload is only parsed once the signature holds.
//!
//! We drive `jsonwebtoken`'s crypto provider directly instead of calling `jsonwebtoken::decode`:
//! `decode` parses the header twice, builds its verifier from the process-wide default provider
//! (which panics at the first request when the provider cannot be chosen from cargo features)
//! and parses the claims twice. Holding our own `&'static CryptoProvider`, chosen when the layer
//! is built, removes the panic and the duplicated work.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::Arc;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::{Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::clock::unix_now;
use crate::error::{AuthError, ConfigError};
use crate::payload::{self, Registered, Wanted};
use crate::verifiers;

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
        if let (Ok(provider), Ok(der)) = (crypto_provider(), key.try_get_as_bytes()) {
            (provider.key_utils.rsa_pub_components_from_public_key)(der).map_err(invalid_key)?;
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
        if decoding.family() == AlgorithmFamily::Hmac {
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

fn invalid_key(error: jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::InvalidKey(error.to_string())
}

pub(crate) fn der_to_pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

/// A key prepared for verification: its material and the algorithms it may verify.
#[derive(Clone)]
pub(crate) struct PreparedKey {
    pub(crate) kid: Option<Box<str>>,
    /// Names this key material for the per-thread verifiers; clones share it.
    id: u64,
    decoding: DecodingKey,
    algorithms: Vec<Algorithm>,
    /// Verifiers prepared once, per algorithm, where we can hold them (see `native`).
    native: Arc<[crate::native::NativeVerifier]>,
}

/// The keys of a verifier, selected by `kid` when there are several.
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    keys: Vec<PreparedKey>,
}

/// Where a verifier's keys come from.
pub(crate) enum KeySource {
    /// Keys configured on the builder.
    Static(KeySet),
    /// Keys fetched from identity providers.
    #[cfg(feature = "jwks")]
    Remote(crate::jwks::RemoteKeys),
}

impl KeySet {
    #[cfg(feature = "jwks")]
    pub(crate) fn new(keys: Vec<PreparedKey>) -> Self {
        Self { keys }
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
            (keys, Some(kid)) => keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .ok_or(AuthError::UnknownKid),
        }
    }
}

/// Reads the current time in whole seconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Validation rules, prepared once at build time.
#[derive(Clone)]
pub(crate) struct Rules {
    pub(crate) leeway: u64,
    pub(crate) validate_nbf: bool,
    pub(crate) max_age: Option<u64>,
    pub(crate) max_lifetime: Option<u64>,
    pub(crate) audiences: Option<Expectation>,
    pub(crate) issuers: Option<Expectation>,
    pub(crate) subject: Option<Expectation>,
    pub(crate) typ: Option<Expectation>,
    pub(crate) clock: Option<Clock>,
}

/// Accepted values of a claim, and the text the error description shows for them.
#[derive(Clone)]
pub(crate) struct Expectation {
    pub(crate) values: Vec<String>,
    pub(crate) shown: Arc<str>,
}

impl Expectation {
    pub(crate) fn new(values: Vec<String>, separator: &str) -> Self {
        let shown = values.join(separator).into();
        Self { values, shown }
    }

    fn accepts(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }
}

/// The signature-checked parts of a JWS: its algorithm, `kid` and decoded payload.
#[derive(Debug)]
pub struct VerifiedJws<'a> {
    /// The algorithm the token was verified with.
    pub algorithm: Algorithm,
    /// The header's `kid`, if any.
    pub kid: Option<Cow<'a, str>>,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
}

/// Verifies tokens: the signature, the header rules and the claims, into `C`.
///
/// Built by [`JwtLayerBuilder::build`](crate::JwtLayerBuilder::build) and shared by the layer;
/// reach it through [`JwtLayer::verifier`](crate::JwtLayer::verifier) to verify a token outside a
/// request (a WebSocket handshake message, a background job).
pub struct Verifier<C> {
    keys: KeySource,
    /// The builder's allow-list, applied on top of each key's own algorithms (remote keys are
    /// prepared without knowing it).
    allowed: Option<Vec<Algorithm>>,
    rules: Rules,
    provider: &'static CryptoProvider,
    max_token_len: usize,
    /// The registered claims the rules read, taken raw by the claims parse.
    rule_claims: Wanted,
    /// Cache hits may read the system's coarse clock: no clock is configured, and the coarse
    /// one is fine enough (decided once, here, rather than at every hit).
    coarse_clock: bool,
    _claims: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for Verifier<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("allowed", &self.allowed)
            .field("max_token_len", &self.max_token_len)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default, borrow)]
    kid: Option<Text<'a>>,
    #[serde(default, borrow)]
    typ: Option<Text<'a>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// A JSON string, borrowed from the token's text unless it holds escapes. serde's own
/// `Cow<str>` (and so `Option<Cow<str>>`) always copies; the derive borrows only a `Cow` field
/// marked `borrow`, which this wrapper is, so header parameters and claims compared on every
/// request cost no allocation.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Any value at all, even `null`, marks the parameter as present.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// The time claims of a verified token, kept to check them again later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeClaims {
    pub(crate) exp: f64,
    nbf: Option<f64>,
    iat: Option<f64>,
}

#[cfg(test)]
impl TimeClaims {
    pub(crate) fn for_tests(exp: f64) -> Self {
        Self {
            exp,
            nbf: None,
            iat: None,
        }
    }
}

/// What checking a token's claims found out.
pub(crate) struct Checked {
    pub(crate) times: TimeClaims,
    /// Only when asked for: they cost allocations.
    pub(crate) facts: Option<ClaimFacts>,
}

/// The registered claims the revocation check and the user lookup need.
#[derive(Clone)]
pub(crate) struct ClaimFacts {
    pub(crate) jti: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) iat: Option<u64>,
    pub(crate) exp: u64,
}

impl<C: DeserializeOwned> Verifier<C> {
    pub(crate) fn new(
        keys: KeySource,
        allowed: Option<Vec<Algorithm>>,
        rules: Rules,
        provider: &'static CryptoProvider,
        max_token_len: usize,
    ) -> Self {
        let rule_claims = claims_read_by(&rules);
        let coarse_clock = rules.clock.is_none() && coarse_clock_is_fine();
        Self {
            keys,
            allowed,
            rules,
            provider,
            max_token_len,
            rule_claims,
            coarse_clock,
            _claims: PhantomData,
        }
    }

    /// The longest token accepted, in bytes.
    pub fn max_token_len(&self) -> usize {
        self.max_token_len
    }

    /// Verifies `token` completely and returns its claims.
    pub fn verify(&self, token: &str) -> Result<C, AuthError> {
        self.verify_collecting(token, false)
            .map(|(claims, _)| claims)
    }

    /// Verifies `token`; with `collect`, also returns the registered claims the asynchronous
    /// checks need (allocated only then).
    pub(crate) fn verify_collecting(
        &self,
        token: &str,
        collect: bool,
    ) -> Result<(C, Checked), AuthError> {
        self.verify_signed(token, |_, _, payload| self.read_claims(payload, collect))
    }

    /// The claims of a payload whose signature holds.
    fn read_claims(&self, payload: &[u8], collect: bool) -> Result<(C, Checked), AuthError> {
        let json = object_text(payload)?;
        // One pass fills both the claims and the registered claims; when it cannot (the
        // claims type does not fit the payload, or does not read it as an object), the
        // registered claims are read on their own, and their verdict comes first, as always.
        let (claims, seen) = payload::parse::<C>(json, self.wanted(collect));
        let (claims, registered) = match (claims, seen.complete()) {
            (Ok(claims), Some(registered)) => (Ok(claims), registered),
            (claims, _) => (claims, parse_object(json)?),
        };
        let checked = self.check_claims(&registered, collect)?;
        let claims = claims.map_err(|_| AuthError::InvalidToken)?;
        Ok((claims, checked))
    }

    /// Checks everything but the claims: the token's syntax, its header (`alg`, `crit`, `typ`,
    /// `kid`) and its signature. The payload may be any bytes.
    pub fn verify_signature<'t>(&self, token: &'t str) -> Result<VerifiedJws<'t>, AuthError> {
        self.verify_signed(token, |algorithm, kid, payload| {
            Ok(VerifiedJws {
                algorithm,
                kid: kid.map(|kid| Cow::Owned(kid.to_owned())),
                payload: payload.to_vec(),
            })
        })
    }

    /// [`verify_signature`](Self::verify_signature) without allocating: the header and the
    /// payload are decoded into stack buffers when they fit, and handed to `then`.
    fn verify_signed<R>(
        &self,
        token: &str,
        then: impl FnOnce(Algorithm, Option<&str>, &[u8]) -> Result<R, AuthError>,
    ) -> Result<R, AuthError> {
        if token.len() > self.max_token_len {
            return Err(AuthError::Malformed);
        }
        let (header_b64, payload_b64, signature_b64) = split(token)?;
        // All three decoded first, each once: a character outside base64url anywhere is
        // `Malformed` before any other verdict.
        let mut header_json = Segment::<512>::new();
        let header_json = header_json.decode(header_b64)?;
        let mut signature = Segment::<SIGNATURE_ON_STACK>::new();
        let signature = signature.decode(signature_b64)?;
        // A JWS payload may be any octets; the claims set's UTF-8 is checked with the claims.
        let mut payload = Segment::<4096>::new();
        let payload = payload.decode(payload_b64);
        // Spare bits set in the payload's last character: the signature is judged first, as
        // it covers that very text (a forged payload gets "invalid signature").
        if payload.is_err() && !is_base64url_text(payload_b64) {
            return Err(AuthError::Malformed);
        }
        let header: Header<'_> = parse_object(object_text(header_json)?)?;
        if signature.is_empty() {
            return Err(AuthError::MissingSignature);
        }
        let algorithm: Algorithm = header
            .alg
            .parse()
            .map_err(|_| AuthError::InvalidAlgorithm)?;
        if header.crit {
            return Err(AuthError::UnsupportedCritical);
        }
        if let Some(expected) = &self.rules.typ
            && !header
                .typ
                .as_deref()
                .is_some_and(|typ| typ_matches(typ, &expected.values[0]))
        {
            return Err(AuthError::InvalidType {
                expected: expected.shown.clone(),
            });
        }
        let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        let kid = header.kid.as_deref();
        match &self.keys {
            KeySource::Static(keys) => {
                self.check_signature(keys.select(kid)?, algorithm, message, signature)?;
            }
            #[cfg(feature = "jwks")]
            KeySource::Remote(remote) => {
                let keys =
                    remote.snapshot_for(payload.as_deref().map_err(|_| AuthError::Malformed)?)?;
                self.check_signature(keys.select(kid)?, algorithm, message, signature)?;
            }
        }
        then(algorithm, kid, payload?)
    }

    fn check_signature(
        &self,
        key: &PreparedKey,
        algorithm: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AuthError> {
        let allowed_here = self
            .allowed
            .as_ref()
            .is_none_or(|allowed| allowed.contains(&algorithm));
        if !key.algorithms.contains(&algorithm) || !allowed_here {
            return Err(AuthError::InvalidAlgorithm);
        }
        if let Some(native) = key.native.iter().find(|v| v.algorithm() == algorithm) {
            return match native.verify(message, signature) {
                true => Ok(()),
                false => Err(AuthError::InvalidSignature),
            };
        }
        let provider = self.provider;
        let build = || (provider.verifier_factory)(&algorithm, &key.decoding);
        verifiers::verify(key.id, algorithm, build, message, signature).map_err(|failure| {
            match failure {
                verifiers::Failure::Build(_) => AuthError::KeyUnavailable,
                verifiers::Failure::Mismatch => AuthError::InvalidSignature,
            }
        })
    }

    /// When `error` may go away with fresher remote keys (an unknown `kid`, no keys yet), a
    /// refetch to await before verifying again; `None` when it cannot help or the cooldown
    /// forbids it.
    #[cfg(feature = "jwks")]
    pub(crate) fn refresh_for(
        &self,
        error: &AuthError,
        token: &str,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        match &self.keys {
            KeySource::Remote(remote) => remote.refresh_for(error, token),
            KeySource::Static(_) => None,
        }
    }

    /// The registered claims `check_claims` reads: those of the rules, and with `collect` the
    /// facts.
    fn wanted(&self, collect: bool) -> Wanted {
        if collect {
            self.rule_claims
                .with(Wanted::SUB)
                .with(Wanted::JTI)
                .with(Wanted::SID)
        } else {
            self.rule_claims
        }
    }

    /// Reads only the claims [`wanted`](Self::wanted) says: the others may be absent from
    /// `claims` even when the token has them.
    fn check_claims(&self, claims: &Registered<'_>, collect: bool) -> Result<Checked, AuthError> {
        let rules = &self.rules;
        let now = self.now();

        let times = TimeClaims {
            exp: numeric_date(claims.exp, "exp")?.ok_or(AuthError::MissingExpiration)?,
            nbf: numeric_date(claims.nbf, "nbf")?,
            iat: numeric_date(claims.iat, "iat")?,
        };
        self.check_window(&times, now)?;
        if let Some(expected) = &rules.audiences
            && !audience_matches(claims.aud, expected)
        {
            return Err(AuthError::InvalidAudience {
                expected: expected.shown.clone(),
            });
        }
        if let Some(expected) = &rules.issuers
            && !string_claim(claims.iss).is_some_and(|iss| expected.accepts(&iss))
        {
            return Err(AuthError::InvalidIssuer {
                expected: expected.shown.clone(),
            });
        }
        if let Some(expected) = &rules.subject
            && !string_claim(claims.sub).is_some_and(|sub| expected.accepts(&sub))
        {
            return Err(AuthError::InvalidSubject {
                expected: expected.shown.clone(),
            });
        }
        if let Some(max_lifetime) = rules.max_lifetime {
            // From `iat` when the token states it, else from now: either way a token cannot be
            // valid for longer than this, whatever `exp` says. Once true, true for good: `iat`
            // is never after now, and without it the lifetime left only shrinks.
            let TimeClaims { exp, iat, .. } = times;
            if exp - iat.unwrap_or(now).min(now) > max_lifetime as f64 {
                return Err(AuthError::LifetimeTooLong);
            }
        }
        self.check_max_age(&times, now)?;
        let facts = collect.then(|| ClaimFacts {
            jti: string_claim(claims.jti).map(|jti| jti.0.into_owned()),
            sub: string_claim(claims.sub).map(|sub| sub.0.into_owned()),
            sid: string_claim(claims.sid).map(|sid| sid.0.into_owned()),
            // Whole seconds: a fractional NumericDate is floored, as node does.
            iat: times.iat.map(|iat| iat.max(0.0) as u64),
            // Rounded up: the token is accepted until its fractional `exp`, so a revocation
            // must last at least that long.
            exp: times.exp.max(0.0).ceil() as u64,
        });
        Ok(Checked { times, facts })
    }

    /// Checks again, at `now`, the rules that depend on the time: for a token verified earlier
    /// (the verified-token cache), every other rule still holds.
    ///
    /// When `now` is only known to lie in a range, the rules are checked at both ends: each
    /// one fails only past a boundary (`exp`, `max_age`) or before one (`nbf`, `iat`), so
    /// holding at both ends means holding throughout. Otherwise the precise clock decides.
    pub(crate) fn recheck_times(&self, times: &TimeClaims, now: Now) -> Result<(), AuthError> {
        let at = |now: u64| self.check_times_at(times, now);
        if now.earliest == now.latest {
            return at(now.earliest);
        }
        match (at(now.earliest), at(now.latest)) {
            (Ok(()), Ok(())) => Ok(()),
            _ => at(self.now_secs()),
        }
    }

    /// The whole seconds before `until` (a cache entry's deadline) at which every time rule holds
    /// for `times`, or an empty range. A cache entry keeps it, so that a hit whose clock range
    /// lies inside it needs no other time check. It starts where the rules say, not when the
    /// entry is stored: the coarse clock's range starts a second before the precise time, and
    /// the hits right after the first request must be settled too.
    ///
    /// The arithmetic only proposes the bounds; the rules themselves confirm them. Each rule
    /// fails only past a boundary (`exp`, `max_age`) or before one (`nbf`, `iat`), so the
    /// seconds that pass them all form one interval, and holding at both ends of the range
    /// means holding throughout. A bound the arithmetic gets wrong by rounding gives an empty
    /// range: hits then take the full checks, never a wrong verdict.
    pub(crate) fn passing_seconds(&self, times: &TimeClaims, until: u64) -> Range<u64> {
        let leeway = self.rules.leeway as f64;
        // A start holds from the second it falls in (see `check_window`): `start < s + 1`.
        let mut lower = f64::NEG_INFINITY;
        if self.rules.validate_nbf
            && let Some(nbf) = times.nbf
        {
            lower = lower.max(nbf - leeway - 1.0);
        }
        if let Some(iat) = times.iat {
            lower = lower.max(iat - leeway - 1.0);
        }
        let mut upper = times.exp + leeway;
        if let Some(max_age) = self.rules.max_age {
            upper = upper.min(
                times
                    .iat
                    .map_or(f64::NEG_INFINITY, |iat| iat + max_age as f64)
                    + leeway,
            );
        }
        // Float-to-integer casts saturate (NaN gives 0): the checks below have the last word.
        let start = (lower.floor() + 1.0) as u64;
        let end = until.min(upper.ceil() as u64);
        let holds = |second: u64| self.check_times_at(times, second).is_ok();
        if start < end && holds(start) && holds(end - 1) {
            start..end
        } else {
            0..0
        }
    }

    /// Every time rule (the `exp`/`nbf`/`iat` window, `max_age`) at `second` (since the epoch).
    fn check_times_at(&self, times: &TimeClaims, second: u64) -> Result<(), AuthError> {
        let now = second as f64;
        self.check_window(times, now)?;
        self.check_max_age(times, now)
    }

    /// Whether the time is before `deadline` (seconds since the epoch): from `now` when the
    /// whole range is on one side of it, else from the precise clock.
    pub(crate) fn is_before(&self, now: Now, deadline: u64) -> bool {
        if now.latest < deadline {
            true
        } else if now.earliest >= deadline {
            false
        } else {
            self.now_secs() < deadline
        }
    }

    /// The time for a cache hit: the configured clock's reading when there is one; else the
    /// system's coarse clock, a few nanoseconds against the precise clock's tens (a hit costs
    /// a few hundred), read as a range of seconds the precise time lies in.
    pub(crate) fn rough_now(&self) -> Now {
        self.coarse_clock
            .then(coarse_now)
            .flatten()
            .unwrap_or_else(|| Now::exactly(self.now_secs()))
    }

    /// Seconds since the Unix epoch, from the configured clock.
    pub(crate) fn now_secs(&self) -> u64 {
        self.rules
            .clock
            .as_ref()
            .map_or_else(unix_now, |clock| clock())
    }

    fn now(&self) -> f64 {
        self.now_secs() as f64
    }

    /// `nbf`, `exp` and an `iat` in the future, at the whole second `now`.
    ///
    /// The clock is read to the second, so `now` stands for the whole second `[now, now + 1)`:
    /// a start (`nbf`, `iat`) inside it has been reached (a token issued this second is never
    /// refused), and an end (`exp`) is judged from the second's start. For whole-second claims
    /// this is the usual `nbf <= now < exp`.
    fn check_window(&self, times: &TimeClaims, now: f64) -> Result<(), AuthError> {
        let leeway = self.rules.leeway as f64;
        let second_end = now + 1.0;
        if self.rules.validate_nbf && times.nbf.is_some_and(|nbf| nbf >= second_end + leeway) {
            return Err(AuthError::NotActive);
        }
        if now >= times.exp + leeway {
            return Err(AuthError::Expired);
        }
        if times.iat.is_some_and(|iat| iat >= second_end + leeway) {
            return Err(AuthError::IssuedInFuture);
        }
        Ok(())
    }

    fn check_max_age(&self, times: &TimeClaims, now: f64) -> Result<(), AuthError> {
        if let Some(max_age) = self.rules.max_age {
            let iat = times.iat.ok_or(AuthError::MissingIssuedAt)?;
            if now >= iat + max_age as f64 + self.rules.leeway as f64 {
                return Err(AuthError::MaxAgeExceeded);
            }
        }
        Ok(())
    }
}

/// The text of a JOSE header or a claims set: UTF-8 (RFC 7515 §4, RFC 8259 §8.1; serde_json
/// does not check the UTF-8 of values it skips, so it is checked here, once) and a JSON
/// object (a derived struct would also accept an array, positionally).
fn object_text(json: &[u8]) -> Result<&str, AuthError> {
    let text = std::str::from_utf8(json).map_err(|_| AuthError::InvalidToken)?;
    if text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        Ok(text)
    } else {
        Err(AuthError::InvalidToken)
    }
}

/// Parses an object checked by [`object_text`].
fn parse_object<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T, AuthError> {
    serde_json::from_str(json).map_err(|_| AuthError::InvalidToken)
}

/// The current time in whole seconds since the Unix epoch: exactly, or somewhere in
/// `earliest..=latest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Now {
    pub(crate) earliest: u64,
    pub(crate) latest: u64,
}

impl Now {
    pub(crate) fn exactly(secs: u64) -> Self {
        Self {
            earliest: secs,
            latest: secs,
        }
    }

    /// Whether the whole range lies within `seconds`.
    pub(crate) fn within(&self, seconds: &Range<u64>) -> bool {
        seconds.start <= self.earliest && self.latest < seconds.end
    }
}

/// Whether Linux's `CLOCK_REALTIME_COARSE` ticks well under a second apart, which every kernel
/// we know of does (4 ms at 250 Hz); [`coarse_now`] relies on it.
#[cfg(target_os = "linux")]
fn coarse_clock_is_fine() -> bool {
    let resolution = rustix::time::clock_getres(rustix::time::ClockId::RealtimeCoarse);
    resolution.tv_sec == 0 && resolution.tv_nsec < 100_000_000
}

#[cfg(not(target_os = "linux"))]
fn coarse_clock_is_fine() -> bool {
    false
}

/// Linux's `CLOCK_REALTIME_COARSE`: the time of the last timer tick, read without the clock
/// source. It lags the precise clock by less than a tick, so the precise whole seconds are its
/// own or the next; one more second on each side absorbs any disagreement. Read only when
/// [`coarse_clock_is_fine`]; `None` before the epoch.
#[cfg(target_os = "linux")]
fn coarse_now() -> Option<Now> {
    let coarse = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    let secs = u64::try_from(coarse.tv_sec).ok()?;
    Some(Now {
        earliest: secs.saturating_sub(1),
        latest: secs.saturating_add(1),
    })
}

#[cfg(not(target_os = "linux"))]
fn coarse_now() -> Option<Now> {
    None
}

/// The registered claims `rules` read: the time claims, and those a rule is set for.
fn claims_read_by(rules: &Rules) -> Wanted {
    let mut wanted = Wanted::TIMES;
    if rules.audiences.is_some() {
        wanted = wanted.with(Wanted::AUD);
    }
    if rules.issuers.is_some() {
        wanted = wanted.with(Wanted::ISS);
    }
    if rules.subject.is_some() {
        wanted = wanted.with(Wanted::SUB);
    }
    wanted
}

/// Splits `header.payload.signature` at its first and its last dot. The segments' characters
/// are not looked at here: every segment is decoded before anything else is done with the
/// token, and the decoder refuses whatever is not base64url (a third dot included), so a
/// separate pass over the characters would only repeat that work.
fn split(token: &str) -> Result<(&str, &str, &str), AuthError> {
    // The signature's dot is looked for from the end: it is a few dozen characters away there,
    // and hundreds (the whole payload) from the header's dot.
    let (signed, signature) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
    let (header, payload) = signed.split_once('.').ok_or(AuthError::Malformed)?;
    if header.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok((header, payload, signature))
}

/// The longest signature decoded on the stack: RSA with an 8192-bit modulus.
const SIGNATURE_ON_STACK: usize = 1024;

/// A decoded base64url segment: on the stack when it fits in `N` bytes, on the heap otherwise.
/// The stack buffer starts uninitialized: zeroing it for every request costs more than the
/// decoding itself.
struct Segment<const N: usize> {
    stack: [MaybeUninit<u8>; N],
    heap: Vec<u8>,
}

impl<const N: usize> Segment<N> {
    fn new() -> Self {
        Self {
            stack: [MaybeUninit::uninit(); N],
            heap: Vec::new(),
        }
    }

    /// Decodes `segment`: base64url (RFC 4648 §5) without padding, the unused bits of the last
    /// character zero; anything else is `Malformed`.
    fn decode(&mut self, segment: &str) -> Result<&[u8], AuthError> {
        let base64url = base64_simd::URL_SAFE_NO_PAD;
        let len = base64url
            .decoded_length(segment.as_bytes())
            .map_err(|_| AuthError::Malformed)?;
        if len <= N {
            let out = base64_simd::Out::from_uninit_slice(&mut self.stack);
            let decoded = base64url.decode(segment.as_bytes(), out);
            decoded
                .map(|bytes| &*bytes)
                .map_err(|_| AuthError::Malformed)
        } else {
            self.heap = decode_base64url(segment)?;
            Ok(&self.heap)
        }
    }
}

/// Whether `segment` has the characters and length of base64url text; when it does and still
/// does not decode, the unused bits of its last character are set.
fn is_base64url_text(segment: &str) -> bool {
    segment.len() % 4 != 1
        && segment
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Decodes a base64url segment into a new vector, as strictly as [`Segment::decode`].
pub(crate) fn decode_base64url(segment: &str) -> Result<Vec<u8>, AuthError> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(segment.as_bytes())
        .map_err(|_| AuthError::Malformed)
}

/// RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, and the
/// `application/` prefix may be omitted.
fn typ_matches(typ: &str, expected: &str) -> bool {
    // `typ` is attacker-controlled and checked before the signature: no byte-index slicing,
    // which would panic inside a multi-byte character.
    // Borrowed, not copied: this runs on every request.
    fn short(t: &str) -> &str {
        let prefix = "application/";
        match (t.get(..prefix.len()), t.get(prefix.len()..)) {
            (Some(head), Some(rest)) if head.eq_ignore_ascii_case(prefix) => rest,
            _ => t,
        }
    }
    short(typ).eq_ignore_ascii_case(short(expected))
}

/// A NumericDate (RFC 7519 §2): a JSON number, possibly fractional.
fn numeric_date(raw: Option<&RawValue>, claim: &'static str) -> Result<Option<f64>, AuthError> {
    raw.map(|raw| {
        serde_json::from_str::<f64>(raw.get())
            .ok()
            .filter(|value| value.is_finite())
            .ok_or(AuthError::InvalidTimeClaim { claim })
    })
    .transpose()
}

fn string_claim(raw: Option<&RawValue>) -> Option<Text<'_>> {
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok())
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3); one match is enough.
fn audience_matches(raw: Option<&RawValue>, expected: &Expectation) -> bool {
    raw.is_some_and(|raw| {
        let mut json = serde_json::Deserializer::from_str(raw.get());
        AudienceMatches(expected)
            .deserialize(&mut json)
            .is_ok_and(|matched| matched)
    })
}

/// Reads `aud` in one pass, comparing each string where it lies in the token's text: no
/// second parse when it is an array, no vector of its values.
struct AudienceMatches<'e>(&'e Expectation);

impl<'de> DeserializeSeed<'de> for AudienceMatches<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AudienceMatches<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, aud: &str) -> Result<bool, E> {
        Ok(self.0.accepts(aud))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut audiences: A) -> Result<bool, A::Error> {
        // Every element is read, so an array holding anything but strings is refused whole,
        // wherever the match is.
        let mut matched = false;
        while let Some(aud) = audiences.next_element::<Text<'de>>()? {
            matched |= self.0.accepts(&aud);
        }
        Ok(matched)
    }
}

/// Installs the crypto backend our cargo features select as `jsonwebtoken`'s process-wide
/// default, unless one is installed already.
///
/// Building a layer does this. Call it yourself when your program uses `jsonwebtoken::encode`
/// or `decode` before building any layer: when both the `aws-lc-rs` and `rust-crypto` features
/// end up enabled in a build, `jsonwebtoken` cannot choose on its own and panics at its first
/// use.
pub fn install_crypto_provider() -> Result<(), ConfigError> {
    crypto_provider().map(|_| ())
}

/// The crypto provider our cargo features select. Installing it as the process default too
/// means `jsonwebtoken::encode`/`decode` calls elsewhere in the program do not panic either.
pub(crate) fn crypto_provider() -> Result<&'static CryptoProvider, ConfigError> {
    #[cfg(feature = "aws-lc-rs")]
    let provider: Option<&'static CryptoProvider> =
        Some(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    let provider: Option<&'static CryptoProvider> =
        Some(&jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER);
    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    let provider: Option<&'static CryptoProvider> = None;

    let provider = provider.ok_or(ConfigError::NoCryptoBackend)?;
    // Fails only when a provider is already installed, which is then the user's choice.
    let _ = provider.install_default();
    Ok(provider)
}

/// Binds every key to the algorithms it may verify and checks each key once with the provider.
pub(crate) fn prepare_keys(
    keys: Vec<Key>,
    allowed: Option<&[Algorithm]>,
    provider: &'static CryptoProvider,
) -> Result<KeySet, ConfigError> {
    if keys.is_empty() {
        return Err(ConfigError::NoKey);
    }
    if allowed.is_some_and(<[Algorithm]>::is_empty) {
        return Err(ConfigError::NoAlgorithms);
    }
    if keys.len() > 1 {
        for (i, key) in keys.iter().enumerate() {
            let kid = key.kid.as_deref().ok_or(ConfigError::AmbiguousKid(None))?;
            if keys[..i]
                .iter()
                .any(|other| other.kid.as_deref() == Some(kid))
            {
                return Err(ConfigError::AmbiguousKid(Some(kid.to_owned())));
            }
        }
    }
    let prepared = keys
        .into_iter()
        .map(|key| prepare_key(key, allowed, provider))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(allowed) = allowed {
        for alg in allowed {
            if !prepared.iter().any(|key| key.algorithms.contains(alg)) {
                return Err(ConfigError::NoKeyForAlgorithm(*alg));
            }
        }
    }
    Ok(KeySet { keys: prepared })
}

/// Binds one key to the algorithms it may verify (its own `alg`, else the allow-list's
/// algorithms of its family, else its family's usual one) and checks it with the provider.
pub(crate) fn prepare_key(
    key: Key,
    allowed: Option<&[Algorithm]>,
    provider: &'static CryptoProvider,
) -> Result<PreparedKey, ConfigError> {
    let algorithms: Vec<Algorithm> = match (key.algorithm, allowed) {
        (Some(bound), Some(allowed)) => allowed
            .iter()
            .copied()
            .filter(|alg| *alg == bound)
            .collect(),
        (Some(bound), None) => vec![bound],
        (None, Some(allowed)) => allowed
            .iter()
            .copied()
            .filter(|alg| key.fits(*alg))
            .collect(),
        (None, None) => vec![key.default_algorithm()],
    };
    if algorithms.is_empty() || !algorithms.iter().all(|alg| key.fits(*alg)) {
        return Err(ConfigError::NoAlgorithmForKey { kid: key.kid });
    }
    check_key_strength(&key.decoding, &algorithms, provider)?;
    for alg in &algorithms {
        (provider.verifier_factory)(alg, &key.decoding).map_err(invalid_key)?;
    }
    let native = algorithms
        .iter()
        .filter_map(|alg| crate::native::NativeVerifier::new(*alg, &key.decoding))
        .collect();
    Ok(PreparedKey {
        kid: key.kid.map(String::into_boxed_str),
        id: verifiers::next_key_id(),
        native,
        decoding: key.decoding,
        algorithms,
    })
}

fn check_key_strength(
    key: &DecodingKey,
    algorithms: &[Algorithm],
    provider: &'static CryptoProvider,
) -> Result<(), ConfigError> {
    match key.family() {
        AlgorithmFamily::Hmac => {
            let actual = key.try_get_as_bytes().map_err(invalid_key)?.len();
            for &algorithm in algorithms {
                check_hmac_secret(algorithm, actual)?;
            }
        }
        AlgorithmFamily::Rsa => {
            let modulus = match key.kind() {
                DecodingKeyKind::RsaModulusExponent { n, .. } => n.clone(),
                DecodingKeyKind::SecretOrDer(der) => {
                    (provider.key_utils.rsa_pub_components_from_public_key)(der)
                        .map_err(invalid_key)?
                        .0
                }
            };
            check_rsa_modulus(&modulus)?;
        }
        AlgorithmFamily::Ec => {
            let point = key.try_get_as_bytes().map_err(invalid_key)?;
            if !matches!(point.len(), 65 | 97) || point[0] != 0x04 {
                return Err(ConfigError::InvalidKey(
                    "not an uncompressed P-256/P-384 point".into(),
                ));
            }
        }
        AlgorithmFamily::Ed => {
            let point = key.try_get_as_bytes().map_err(invalid_key)?;
            if point.len() != 32 {
                return Err(ConfigError::InvalidKey("not an Ed25519 public key".into()));
            }
            if is_small_order_ed25519(point) {
                return Err(ConfigError::InvalidKey("a small-order Ed25519 key".into()));
            }
        }
    }
    Ok(())
}

/// RFC 7518 §3.2: an HMAC key of the same size as the hash output, or larger. Shared by the
/// verifying and the signing side, so both refuse the same secrets.
pub(crate) fn check_hmac_secret(algorithm: Algorithm, actual: usize) -> Result<(), ConfigError> {
    let minimum = match algorithm {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    };
    if actual < minimum {
        return Err(ConfigError::SecretTooShort {
            algorithm,
            minimum,
            actual,
        });
    }
    Ok(())
}

/// RSA keys of fewer than 2048 bits are refused, for verifying and for signing alike.
pub(crate) fn check_rsa_modulus(modulus: &[u8]) -> Result<(), ConfigError> {
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    if significant * 8 < 2048 {
        return Err(ConfigError::RsaKeyTooShort {
            bits: significant * 8,
        });
    }
    Ok(())
}

/// The Ed25519 points of small order (1, 2, 4, 8), canonical and non-canonical encodings: a
/// public key among them lets signatures verify for many messages.
fn is_small_order_ed25519(point: &[u8]) -> bool {
    const SMALL_ORDER: [[u8; 32]; 7] = [
        // 0 (order 4), 1 (order 1), and the order-8 points.
        [0; 32],
        [
            0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0,
        ],
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        // p - 1 (order 2), p, p + 1: y = -1, and non-canonical encodings of 0 and 1.
        [
            0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        [
            0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
        [
            0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x7f,
        ],
    ];
    // The sign bit (top bit of the last byte) selects x; both signs of these points are small.
    let mut unsigned = [0u8; 32];
    unsigned.copy_from_slice(point);
    unsigned[31] &= 0x7f;
    SMALL_ORDER.contains(&unsigned)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A layer whose verifier's precise clock reads `clock` (shared, so a test can move it).
    fn layer_at(clock: &Arc<AtomicU64>) -> crate::JwtLayerBuilder<crate::JsonClaims> {
        let clock = clock.clone();
        crate::JwtLayer::builder()
            .key(Key::hmac(b"a secret long enough for HS256 keys, 32+ bytes"))
            .clock(move || clock.load(Ordering::Relaxed))
    }

    fn verifier_at(clock: &Arc<AtomicU64>) -> crate::JwtLayer {
        layer_at(clock).build().unwrap()
    }

    fn range(earliest: u64, latest: u64) -> Now {
        Now { earliest, latest }
    }

    #[test]
    fn a_time_range_inside_the_window_needs_no_precise_reading() {
        // The precise clock says expired: it is not read when the whole range is fine.
        let layer = verifier_at(&Arc::new(5_000.into()));
        let verifier = layer.verifier();
        let times = TimeClaims::for_tests(1_000.0);
        assert_eq!(verifier.recheck_times(&times, range(997, 999)), Ok(()));
        assert_eq!(
            verifier.recheck_times(&times, Now::exactly(1_000)),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn a_time_range_across_a_boundary_is_settled_by_the_precise_clock() {
        let clock = Arc::new(AtomicU64::new(999));
        let layer = verifier_at(&clock);
        let verifier = layer.verifier();
        let expiring = TimeClaims::for_tests(1_000.0);
        assert_eq!(verifier.recheck_times(&expiring, range(998, 1_000)), Ok(()));
        clock.store(1_000, Ordering::Relaxed);
        assert_eq!(
            verifier.recheck_times(&expiring, range(998, 1_000)),
            Err(AuthError::Expired)
        );

        let starting = TimeClaims {
            exp: 2_000.0,
            nbf: Some(1_000.0),
            iat: Some(1_000.0),
        };
        assert_eq!(verifier.recheck_times(&starting, range(999, 1_001)), Ok(()));
        clock.store(999, Ordering::Relaxed);
        assert_eq!(
            verifier.recheck_times(&starting, range(999, 1_001)),
            Err(AuthError::NotActive)
        );
    }

    #[test]
    fn max_age_across_a_time_range_is_settled_by_the_precise_clock() {
        let clock = Arc::new(AtomicU64::new(1_059));
        let layer = layer_at(&clock)
            .max_age(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        let verifier = layer.verifier();
        let times = TimeClaims {
            exp: 5_000.0,
            nbf: None,
            iat: Some(1_000.0),
        };
        assert_eq!(verifier.recheck_times(&times, range(1_057, 1_059)), Ok(()));
        assert_eq!(verifier.recheck_times(&times, range(1_058, 1_060)), Ok(()));
        clock.store(1_060, Ordering::Relaxed);
        assert_eq!(
            verifier.recheck_times(&times, range(1_058, 1_060)),
            Err(AuthError::MaxAgeExceeded)
        );
        assert_eq!(
            verifier.recheck_times(&times, range(1_060, 1_062)),
            Err(AuthError::MaxAgeExceeded)
        );
    }

    /// The seconds in `from..until` at which every time rule holds, one by one.
    fn passing_one_by_one(
        verifier: &Verifier<crate::JsonClaims>,
        times: &TimeClaims,
        from: u64,
        until: u64,
    ) -> Vec<u64> {
        (from..until)
            .filter(|&second| verifier.check_times_at(times, second).is_ok())
            .collect()
    }

    #[test]
    fn passing_seconds_are_exactly_those_at_which_every_time_rule_holds() {
        use std::time::Duration;
        let clock = Arc::new(AtomicU64::new(1_000));
        let builders = [
            layer_at(&clock),
            layer_at(&clock).leeway(Duration::from_secs(7)),
            layer_at(&clock).max_age(Duration::from_secs(60)),
            layer_at(&clock)
                .max_age(Duration::from_secs(45))
                .leeway(Duration::from_secs(3)),
            layer_at(&clock).validate_nbf(false),
        ];
        let claims = [
            None,
            Some(990.0),
            Some(1_010.0),
            Some(1_010.5),
            Some(1_100.0),
        ];
        for builder in builders {
            let layer = builder.build().unwrap();
            let verifier = layer.verifier();
            for exp in [995.0, 1_000.0, 1_030.0, 1_030.9, 1_200.25, 9_999.0] {
                for nbf in claims {
                    for iat in claims {
                        let times = TimeClaims { exp, nbf, iat };
                        for (from, until) in [(900, 1_300), (900, 1_020), (1_015, 1_016)] {
                            let passing = verifier.passing_seconds(&times, until);
                            let seen: Vec<u64> =
                                passing.clone().filter(|second| *second >= from).collect();
                            let expected = passing_one_by_one(verifier, &times, from, until);
                            assert_eq!(seen, expected, "{times:?} in {from}..{until}: {passing:?}");
                            // Before `from` too, every second claimed passes.
                            let before = passing.start..from.min(passing.end);
                            assert_eq!(
                                passing_one_by_one(verifier, &times, before.start, before.end),
                                before.clone().collect::<Vec<_>>(),
                                "{times:?} before {from}: {passing:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn passing_seconds_are_none_without_the_iat_max_age_needs() {
        let clock = Arc::new(AtomicU64::new(1_000));
        let layer = layer_at(&clock)
            .max_age(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        let times = TimeClaims::for_tests(5_000.0);
        assert_eq!(layer.verifier().passing_seconds(&times, 2_000), 0..0);
    }

    #[test]
    fn a_cache_entry_passes_the_seconds_before_it_was_stored() {
        let clock = Arc::new(AtomicU64::new(1_000));
        let layer = verifier_at(&clock);
        let times = TimeClaims {
            exp: 5_000.0,
            nbf: None,
            iat: Some(900.0),
        };
        // Stored at 1_000 for 300 s: a hit at once reads a coarse range from 999.
        let passing = layer.verifier().passing_seconds(&times, 1_300);
        assert_eq!(passing, 900..1_300);
        assert!(range(999, 1_001).within(&passing));
    }

    #[test]
    fn a_time_range_within_the_passing_seconds_is_settled_by_them() {
        let passing = 1_000..1_030;
        assert!(range(1_000, 1_002).within(&passing));
        assert!(range(1_027, 1_029).within(&passing));
        assert!(Now::exactly(1_029).within(&passing));
        assert!(!range(999, 1_001).within(&passing));
        assert!(!range(1_028, 1_030).within(&passing));
        assert!(!Now::exactly(1_030).within(&passing));
        assert!(!Now::exactly(1_000).within(&(0..0)));
    }

    #[test]
    fn a_deadline_within_the_time_range_is_settled_by_the_precise_clock() {
        let clock = Arc::new(AtomicU64::new(5_000));
        let layer = verifier_at(&clock);
        let verifier = layer.verifier();
        // Clear cases do not read the clock, which says otherwise here.
        assert!(verifier.is_before(range(997, 999), 1_000));
        clock.store(0, Ordering::Relaxed);
        assert!(!verifier.is_before(range(1_000, 1_002), 1_000));
        assert!(verifier.is_before(range(999, 1_001), 1_000));
        clock.store(1_000, Ordering::Relaxed);
        assert!(!verifier.is_before(range(999, 1_001), 1_000));
        assert!(!verifier.is_before(Now::exactly(1_000), 1_000));
        assert!(verifier.is_before(Now::exactly(999), 1_000));
    }

    #[test]
    fn a_configured_clock_is_read_exactly() {
        let layer = verifier_at(&Arc::new(1_234.into()));
        assert_eq!(layer.verifier().rough_now(), Now::exactly(1_234));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_coarse_range_holds_the_precise_time() {
        assert!(coarse_clock_is_fine());
        for _ in 0..1_000 {
            let before = unix_now();
            let now = coarse_now().expect("after the epoch");
            let after = unix_now();
            assert!(
                now.earliest <= before && after <= now.latest,
                "{before}..={after} outside {now:?}"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn without_a_configured_clock_a_hit_reads_the_coarse_range() {
        let layer = crate::JwtLayer::builder()
            .key(Key::hmac(b"a secret long enough for HS256 keys, 32+ bytes"))
            .build()
            .unwrap();
        let before = unix_now();
        let now = layer.verifier().rough_now();
        assert_eq!(now.latest - now.earliest, 2, "{now:?}");
        assert!(
            now.earliest <= before && before <= now.latest,
            "{before} outside {now:?}"
        );
    }

    #[test]
    fn small_order_ed25519_points_are_recognised() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(is_small_order_ed25519(&identity));
        identity[31] = 0x80;
        assert!(is_small_order_ed25519(&identity));
        assert!(is_small_order_ed25519(&[0u8; 32]));
        // A real public key (RFC 8032 test 1).
        let real = [
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ];
        assert!(!is_small_order_ed25519(&real));
    }

    #[test]
    fn segments_decode_on_the_stack_or_the_heap_alike() {
        let short = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"HS256\"}");
        let long = URL_SAFE_NO_PAD.encode(vec![b'x'; 3000]);
        let mut segment = Segment::<64>::new();
        assert_eq!(segment.decode(&short).unwrap(), b"{\"alg\":\"HS256\"}");
        assert!(
            segment.heap.is_empty(),
            "a short segment stays on the stack"
        );
        let mut segment = Segment::<64>::new();
        assert_eq!(segment.decode(&long).unwrap(), vec![b'x'; 3000]);
        // Padding, characters of the other alphabet, a dot, a lone last character, and last
        // characters whose unused bits are not zero ("QR" for "QQ", "QUJ" for "QUI").
        for bad in [
            "a",
            "ab=",
            "a+b/",
            "a.b",
            "QR",
            "QUJ",
            &format!("{long}!"),
            &format!("{long}QR"),
        ] {
            assert_eq!(
                Segment::<64>::new().decode(bad),
                Err(AuthError::Malformed),
                "{bad}"
            );
            assert_eq!(decode_base64url(bad), Err(AuthError::Malformed), "{bad}");
        }
    }

    proptest::proptest! {
        /// The segment decoder accepts exactly what the strict `base64` engine accepts, and
        /// decodes it to the same bytes, on the stack and on the heap.
        #[test]
        fn segments_decode_as_the_strict_base64_engine_does(
            text in "[A-Za-z0-9_=+/.!-]{0,40}",
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            for input in [text.as_str(), encoded.as_str()] {
                let expected = URL_SAFE_NO_PAD.decode(input).map_err(|_| AuthError::Malformed);
                let on_stack = Segment::<256>::new().decode(input).map(<[u8]>::to_vec);
                let on_heap = Segment::<0>::new().decode(input).map(<[u8]>::to_vec);
                proptest::prop_assert_eq!(&on_stack, &expected, "{:?}", input);
                proptest::prop_assert_eq!(&on_heap, &expected, "{:?}", input);
            }
        }
    }

    #[test]
    fn split_wants_two_dots_and_a_header() {
        assert_eq!(split("a.b.c"), Ok(("a", "b", "c")));
        assert_eq!(split("a.b."), Ok(("a", "b", "")));
        // A third dot stays in the payload, which the decoder then refuses.
        assert_eq!(split("a.b.c.d"), Ok(("a", "b.c", "d")));
        for token in ["a.b", ".b.c", ""] {
            assert_eq!(split(token), Err(AuthError::Malformed), "{token:?}");
        }
    }

    #[test]
    fn typ_with_multibyte_characters_never_panics() {
        assert!(!typ_matches("applicatioi\u{6be}T+JWT", "at+jwt"));
        assert!(!typ_matches(
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            "at+jwt"
        ));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
    }

    #[test]
    fn typ_comparison_ignores_case_and_application_prefix() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("AT+JWT", "at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
    }

    #[test]
    fn numeric_dates_must_be_finite_numbers() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        assert_eq!(numeric_date(Some(&raw("12.5")), "exp"), Ok(Some(12.5)));
        for bad in ["\"12\"", "null", "true", "[1]", "{}"] {
            assert_eq!(
                numeric_date(Some(&raw(bad)), "exp"),
                Err(AuthError::InvalidTimeClaim { claim: "exp" }),
                "{bad}"
            );
        }
    }
}
