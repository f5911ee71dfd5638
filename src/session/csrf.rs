//! CSRF protection for cookie sessions: a double-submit token, an HMAC of the session token,
//! that unsafe requests echo in a header.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method};

use crate::crypto::{HmacKey, Sha, fill_random, sha256};
use crate::error::{AuthError, ConfigError, explained};
use crate::issuer::JwtIssuer;

/// The readable cookie holding the CSRF token, the name Angular and axios read by default.
pub const DEFAULT_CSRF_COOKIE_NAME: &str = "XSRF-TOKEN";

/// The request headers that may carry the CSRF token.
pub const CSRF_HEADERS: [&str; 2] = ["x-csrf-token", "x-xsrf-token"];

/// The CSRF key: from [`JwtLayerBuilder::csrf_secret`](crate::layer::JwtLayerBuilder::csrf_secret), else
/// derived from the session issuer's key, else one random key per process.
#[derive(Clone)]
pub(crate) struct CsrfKey(HmacKey);

impl CsrfKey {
    pub(crate) fn from_secret(secret: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self::derive(secret))
    }

    pub(crate) fn from_issuer(issuer: &JwtIssuer) -> Result<Self, ConfigError> {
        Ok(Self::derive(issuer.key_material()))
    }

    /// One key for every layer of this process, so a token set by one layer passes another.
    pub(crate) fn process_wide() -> Result<Self, ConfigError> {
        static KEY: OnceLock<[u8; 32]> = OnceLock::new();
        let key = match KEY.get() {
            Some(key) => key,
            None => {
                let mut fresh = [0; 32];
                fill_random(&mut fresh)
                    .map_err(|_| ConfigError::Backend("no randomness for the CSRF key".into()))?;
                KEY.get_or_init(|| fresh)
            }
        };
        Ok(Self(HmacKey::new(Sha::Sha256, key)))
    }

    fn derive(material: &[u8]) -> Self {
        // A label keeps this key apart from any other use of the material.
        let derived = HmacKey::new(Sha::Sha256, material).sign(&[b"tower-jwt-auth csrf v1"]);
        Self(HmacKey::new(Sha::Sha256, derived.as_ref()))
    }

    /// The CSRF token of the session whose binding (see [`binding`]) this is.
    pub(crate) fn token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.0.sign(&[binding.as_bytes()]))
    }

    /// Checks an unsafe request authenticated by a cookie: one of the CSRF headers must carry
    /// the session's token. Compared in constant time.
    pub(crate) fn check(&self, headers: &HeaderMap, binding: &str) -> Result<(), AuthError> {
        let refused = |why| explained(AuthError::InvalidCsrfToken, why);
        let sent = CSRF_HEADERS
            .iter()
            .find_map(|name| headers.get(*name))
            .ok_or_else(|| {
                refused(format_args!(
                    "an unsafe request with the session cookie and no X-CSRF-Token or \
                     X-XSRF-Token header"
                ))
            })?;
        let sent = URL_SAFE_NO_PAD
            .decode(sent.as_bytes())
            .map_err(|_| refused(format_args!("the CSRF header is not base64url")))?;
        if self.0.verify(binding.as_bytes(), &sent) {
            Ok(())
        } else {
            Err(refused(format_args!(
                "the CSRF header does not match the session's token"
            )))
        }
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

/// What binds a CSRF token to a session token: its `jti`, or a digest of the whole token.
pub(crate) fn binding(jti: Option<&str>, token: &str) -> String {
    match jti {
        Some(jti) => format!("jti:{jti}"),
        None => {
            let mut binding = String::with_capacity(7 + 64);
            binding.push_str("sha256:");
            for byte in sha256(&[token.as_bytes()]) {
                let _ = write!(binding, "{byte:02x}");
            }
            binding
        }
    }
}

/// Whether a method can change state, so that a cookie-authenticated request needs the CSRF
/// token (RFC 9110 §9.2.1 safe methods are exempt).
pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}
