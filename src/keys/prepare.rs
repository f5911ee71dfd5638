//! Preparing keys: the crypto provider, each key's algorithms and their strength checks, and
//! the verifiers held ready for them.

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};

use super::{Key, KeySet, PreparedKey, invalid_key};
use crate::error::ConfigError;

/// Installs the crypto backend our cargo features select as `jsonwebtoken`'s process-wide
/// default, unless one is installed already.
///
/// Building a layer does this. Call it yourself when your program uses `jsonwebtoken::encode`
/// or `decode` before building any layer: when both the `aws-lc-rs` and `rust-crypto` features
/// end up enabled in a build, `jsonwebtoken` cannot choose on its own and panics at its first
/// use.
///
/// It cannot fail today (a build without a backend does not compile); the `Result` leaves room
/// for a backend that can.
pub fn install_crypto_provider() -> Result<(), ConfigError> {
    crypto_provider();
    Ok(())
}

/// The crypto provider our cargo features select. Installing it as the process default too
/// means `jsonwebtoken::encode`/`decode` calls elsewhere in the program do not panic either.
pub(crate) fn crypto_provider() -> &'static CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    let provider: &'static CryptoProvider = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
    #[cfg(not(feature = "aws-lc-rs"))]
    let provider: &'static CryptoProvider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    // Fails only when a provider is already installed, which is then the user's choice.
    let _ = provider.install_default();
    provider
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
        .enumerate()
        .map(|(i, key)| {
            let kid = key.kid.clone();
            prepare_key(key, allowed, provider).map_err(|error| naming(error, i + 1, kid))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(allowed) = allowed {
        for alg in allowed {
            if !prepared.iter().any(|key| key.algorithms.contains(alg)) {
                return Err(ConfigError::NoKeyForAlgorithm(*alg));
            }
        }
    }
    Ok(KeySet::new(prepared))
}

/// Says which key an error is about: by its place among the configured keys and its `kid`.
fn naming(error: ConfigError, place: usize, kid: Option<String>) -> ConfigError {
    match error {
        ConfigError::NoAlgorithmForKey {
            kid,
            family,
            algorithms,
            ..
        } => ConfigError::NoAlgorithmForKey {
            kid,
            position: place,
            family,
            algorithms,
        },
        ConfigError::InvalidKey(why) => {
            let why = why.strip_prefix("the key: ").unwrap_or(&why);
            ConfigError::InvalidKey(match kid {
                Some(kid) => format!("key #{place} (kid {kid:?}): {why}"),
                None => format!("key #{place}: {why}"),
            })
        }
        error => error,
    }
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
        return Err(ConfigError::NoAlgorithmForKey {
            kid: key.kid,
            position: 1,
            family: super::family_name(key.decoding.family()),
            algorithms: match (key.algorithm, allowed) {
                (_, Some(allowed)) => allowed.to_vec(),
                (bound, None) => bound.into_iter().collect(),
            },
        });
    }
    check_key_strength(&key.decoding, &algorithms, provider)?;
    for alg in &algorithms {
        (provider.verifier_factory)(alg, &key.decoding).map_err(invalid_key)?;
    }
    let native = algorithms
        .iter()
        .map(|alg| {
            super::native::NativeVerifier::new(*alg, &key.decoding).ok_or_else(|| {
                ConfigError::InvalidKey(format!(
                    "the key: the crypto library cannot verify {alg:?} with it"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(PreparedKey {
        kid: key.kid.map(String::into_boxed_str),
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
    use super::*;

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
}
