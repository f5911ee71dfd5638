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
        /// The key's place among the configured keys, from 1.
        position: usize,
        /// The key's kind: `HMAC`, `RSA`, `EC` or `Ed25519`.
        family: &'static str,
        /// The algorithms it was asked to work with.
        algorithms: Vec<jsonwebtoken::Algorithm>,
    },
    /// An allowed algorithm has no key of its family.
    NoKeyForAlgorithm(jsonwebtoken::Algorithm),
    /// A key could not be parsed, or the crypto backend refused it: a sentence saying which
    /// key and why.
    InvalidKey(String),
    /// Protected-resource metadata (RFC 9728) or the URL of it given to the layer is not
    /// valid: a sentence saying which member and why.
    InvalidMetadata(String),
    /// A DPoP configuration that cannot work: a sentence saying why.
    InvalidDpop(String),
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
    /// The tenants cannot work: two for one issuer, the layer's own keys or issuers next to
    /// them, or a tenant resolver without tenants.
    InvalidTenant(String),
    /// A token source can never find a token: an invalid header name, scheme, query parameter
    /// name or subprotocol, or a combination of no source.
    InvalidTokenSource(String),
    /// The realm contains characters a quoted auth-param cannot carry.
    InvalidRealm,
    /// A guard was given no role or scope, or one that is empty or not a valid scope token.
    InvalidRequirement(String),
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
            Self::SecretTooShort {
                algorithm,
                minimum,
                actual,
            } => write!(
                f,
                "{algorithm:?} needs a secret of at least {minimum} bytes, got {actual} (RFC 7518 section 3.2)"
            ),
            Self::NoAlgorithmForKey {
                kid,
                position,
                family,
                algorithms,
            } => {
                write!(f, "key #{position}")?;
                if let Some(kid) = kid {
                    write!(f, " (kid {kid:?})")?;
                }
                write!(
                    f,
                    " is an {family} key and cannot work with {}: allow an algorithm of its \
                     kind (an EC key takes only the one of its curve), or bind the key to one \
                     with Key::with_algorithm",
                    AlgorithmList(algorithms)
                )
            }
            Self::NoKeyForAlgorithm(alg) => {
                write!(
                    f,
                    "algorithm {alg:?} is allowed but no key of its family is configured"
                )
            }
            Self::InvalidKey(why) => write!(f, "invalid key: {why}"),
            Self::InvalidMetadata(why) => write!(f, "invalid protected-resource metadata: {why}"),
            Self::InvalidDpop(why) => write!(f, "invalid DPoP configuration: {why}"),
            Self::RsaKeyTooShort { bits } => {
                write!(
                    f,
                    "an RSA key of {bits} bits is too short: use one of 2048 bits at least"
                )
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
            Self::EmptyCache => {
                f.write_str("the token cache has a zero capacity or a TTL under a second")
            }
            Self::MixedKeySources => {
                f.write_str("static keys and remote key sets cannot be combined")
            }
            Self::Backend(why) => write!(f, "backend: {why}"),
            Self::InvalidCookieName => f.write_str("invalid cookie name"),
            Self::InvalidTokenSource(why) => write!(f, "invalid token source: {why}"),
            Self::InvalidTenant(why) => write!(f, "invalid tenants: {why}"),
            Self::InvalidRealm => f.write_str("the realm contains characters not allowed"),
            Self::InvalidRequirement(why) => write!(f, "invalid guard requirement: {why}"),
            Self::NoSigningKey => f.write_str("no signing key configured"),
            Self::ZeroLifetime(what) => write!(f, "the {what} lifetime is zero"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// `RS256`, `RS256 or PS256`, `any of HS256, HS384 or HS512`.
struct AlgorithmList<'a>(&'a [jsonwebtoken::Algorithm]);

impl fmt::Display for AlgorithmList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("no algorithm"),
            [one] => write!(f, "{one:?}"),
            [first @ .., last] => {
                if first.len() > 1 {
                    f.write_str("any of ")?;
                }
                for (i, alg) in first.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{alg:?}")?;
                }
                write!(f, " or {last:?}")
            }
        }
    }
}

/// A key the crypto library refused, in words: which key and why, never the library's
/// `Debug` form.
pub(crate) fn key_refused(which: &str, error: &jsonwebtoken::errors::Error) -> ConfigError {
    use jsonwebtoken::errors::ErrorKind;
    let why = match error.kind() {
        ErrorKind::InvalidKeyFormat => {
            "its bytes are not a key of the kind it was given as (check the PEM, DER or JWK \
             text, and that it is a public key for verifying, a private one for signing)"
                .to_owned()
        }
        ErrorKind::InvalidRsaKey(detail) => format!("it is not a valid RSA key ({detail})"),
        ErrorKind::InvalidEcdsaKey => {
            "it is not a valid P-256 or P-384 key for its algorithm".to_owned()
        }
        ErrorKind::InvalidEddsaKey => "it is not a valid Ed25519 key".to_owned(),
        ErrorKind::UnsupportedAlgorithm | ErrorKind::InvalidAlgorithm => {
            "the crypto backend does not support its algorithm".to_owned()
        }
        ErrorKind::Base64(detail) => format!("a base64 part of it does not decode ({detail})"),
        ErrorKind::Json(detail) => format!("its JWK is not valid JSON ({detail})"),
        _ => format!("the crypto backend refused it ({error})"),
    };
    ConfigError::InvalidKey(format!("{which}: {why}"))
}
