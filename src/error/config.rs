//! Why a configuration was refused.

use std::fmt;

/// Why [`JwtLayerBuilder::build`](crate::layer::JwtLayerBuilder::build) refused a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No key was configured.
    NoKey,
    /// The algorithm allow-list is empty.
    NoAlgorithms,
    /// An HMAC secret is shorter than its algorithm needs (RFC 7518 §3.2).
    SecretTooShort {
        /// The algorithm.
        algorithm: jsonwebtoken::Algorithm,
        /// The minimum length in bytes.
        minimum: usize,
        /// The secret's length in bytes.
        actual: usize,
    },
    /// A key cannot be used with any allowed algorithm of its family.
    NoAlgorithmForKey {
        /// The key's `kid`, if it has one.
        kid: Option<String>,
    },
    /// An allowed algorithm has no key of its family.
    NoKeyForAlgorithm(jsonwebtoken::Algorithm),
    /// A key could not be parsed, or the crypto backend refused it.
    InvalidKey(String),
    /// An RSA key is shorter than 2048 bits.
    RsaKeyTooShort {
        /// The modulus length in bits.
        bits: usize,
    },
    /// Two keys share a `kid`, or several keys are configured and one has no `kid`.
    AmbiguousKid(Option<String>),
    /// The leeway is over five minutes.
    LeewayTooLarge,
    /// An expected issuer, audience, subject or `typ` is empty.
    EmptyExpectation(&'static str),
    /// The token size cap is zero.
    ZeroSizeCap,
    /// The backend timeout is zero.
    ZeroBackendTimeout,
    /// A session cookie attribute is invalid: the path, the domain, the sliding share, or
    /// `SameSite=None` without `Secure`.
    InvalidSessionCookie(&'static str),
    /// The verified-token cache was given a zero capacity or a zero TTL.
    EmptyCache,
    /// Static keys and remote key sets are both configured.
    MixedKeySources,
    /// A backend (a revocation store, a key set endpoint) could not be set up: an invalid URL,
    /// an unreachable server.
    Backend(String),
    /// The cookie name is not a valid cookie name.
    InvalidCookieName,
    /// The realm contains characters a quoted auth-param cannot carry.
    InvalidRealm,
    /// A guard was given no role or scope, or one that is empty or not a valid scope token.
    InvalidRequirement(String),
    /// Neither the `aws-lc-rs` nor the `rust-crypto` feature is enabled.
    NoCryptoBackend,
    /// A [`JwtIssuer`](crate::issuer::JwtIssuer) was built without a signing key.
    NoSigningKey,
    /// A token lifetime (access or refresh) is zero.
    ZeroLifetime(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKey => f.write_str("no verification key configured"),
            Self::NoAlgorithms => f.write_str("the algorithm allow-list is empty"),
            Self::SecretTooShort { algorithm, minimum, actual } => write!(
                f,
                "{algorithm:?} needs a secret of at least {minimum} bytes, got {actual} (RFC 7518 section 3.2)"
            ),
            Self::NoAlgorithmForKey { kid } => {
                write!(f, "key {kid:?} fits none of the allowed algorithms")
            }
            Self::NoKeyForAlgorithm(alg) => {
                write!(f, "algorithm {alg:?} is allowed but no key of its family is configured")
            }
            Self::InvalidKey(why) => write!(f, "invalid key: {why}"),
            Self::RsaKeyTooShort { bits } => {
                write!(f, "RSA key of {bits} bits is too short: 2048 bits at least")
            }
            Self::AmbiguousKid(kid) => match kid {
                Some(kid) => write!(f, "two keys share the kid {kid:?}"),
                None => f.write_str("with several keys, every key needs a distinct kid"),
            },
            Self::LeewayTooLarge => f.write_str("leeway over 5 minutes"),
            Self::EmptyExpectation(what) => write!(f, "the expected {what} is empty"),
            Self::ZeroSizeCap => f.write_str("the token size cap is zero"),
            Self::ZeroBackendTimeout => f.write_str("the backend timeout is zero"),
            Self::InvalidSessionCookie(what) => write!(f, "invalid session cookie: {what}"),
            Self::EmptyCache => f.write_str("the token cache has a zero capacity or a TTL under a second"),
            Self::MixedKeySources => {
                f.write_str("static keys and remote key sets cannot be combined")
            }
            Self::Backend(why) => write!(f, "backend: {why}"),
            Self::InvalidCookieName => f.write_str("invalid cookie name"),
            Self::InvalidRealm => f.write_str("the realm contains characters not allowed"),
            Self::InvalidRequirement(why) => write!(f, "invalid guard requirement: {why}"),
            Self::NoCryptoBackend => f.write_str(
                "no crypto backend: enable the `aws-lc-rs` or `rust-crypto` feature of tower-jwt-auth",
            ),
            Self::NoSigningKey => f.write_str("no signing key configured"),
            Self::ZeroLifetime(what) => write!(f, "the {what} lifetime is zero"),
        }
    }
}

impl std::error::Error for ConfigError {}
