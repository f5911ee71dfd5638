//! The layer's configuration read from environment variables: [`from_env`], [`EnvConfig`] and
//! [`EnvError`].
//!
//! Twelve-factor deployments configure the verification key and the claim rules through the
//! environment. This module reads them once, checks every value, and returns a
//! [`JwtLayerBuilder`] that the application can still adjust (claims type, guards, revocations)
//! before [`build`](JwtLayerBuilder::build) validates the whole configuration.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::claims::JsonClaims;
use crate::error::ConfigError;
use crate::keys::Key;
use crate::layer::{JwtLayer, JwtLayerBuilder, MAX_LEEWAY};
use crate::source::TokenSource;

mod error;

pub use error::EnvError;

const SECRET: &str = "JWT_SECRET";
const SECRET_ENCODING: &str = "JWT_SECRET_ENCODING";
const PUBLIC_KEY: &str = "JWT_PUBLIC_KEY";
const JWKS_URL: &str = "JWT_JWKS_URL";
const OIDC_ISSUER: &str = "JWT_OIDC_ISSUER";
const ALGORITHMS: &str = "JWT_ALGORITHMS";
const ISSUER: &str = "JWT_ISSUER";
const AUDIENCE: &str = "JWT_AUDIENCE";
const LEEWAY: &str = "JWT_LEEWAY";
const COOKIE_NAME: &str = "JWT_COOKIE_NAME";
const JWKS_COOLDOWN: &str = "JWT_JWKS_COOLDOWN";

/// The variables that say where the verification key comes from; exactly one must be set.
const KEY_VARIABLES: [&str; 4] = [SECRET, PUBLIC_KEY, JWKS_URL, OIDC_ISSUER];

/// Every variable read, without the prefix.
const VARIABLES: [&str; 11] = [
    SECRET,
    SECRET_ENCODING,
    PUBLIC_KEY,
    JWKS_URL,
    OIDC_ISSUER,
    ALGORITHMS,
    ISSUER,
    AUDIENCE,
    LEEWAY,
    COOKIE_NAME,
    JWKS_COOLDOWN,
];

/// Every algorithm, for case-insensitive parsing.
const ALL_ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Reads the configuration from the environment (no prefix) and returns a builder for it.
///
/// Shorthand for [`EnvConfig::from_env`] followed by [`EnvConfig::layer_builder`]; see
/// [`EnvConfig`] for the variables.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let layer = tower_jwt_auth::env::from_env()?.build()?;
/// # Ok(())
/// # }
/// ```
pub fn from_env() -> Result<JwtLayerBuilder<JsonClaims>, EnvError> {
    EnvConfig::from_env().map(|config| config.layer_builder())
}

/// Reads the configuration from the environment, every variable name starting with `prefix`
/// (with `"APP_"`: `APP_JWT_SECRET`, `APP_JWT_AUDIENCE`, …), and returns a builder for it.
///
/// Shorthand for [`EnvConfig::from_env_with_prefix`] followed by [`EnvConfig::layer_builder`].
pub fn from_env_with_prefix(prefix: &str) -> Result<JwtLayerBuilder<JsonClaims>, EnvError> {
    EnvConfig::from_env_with_prefix(prefix).map(|config| config.layer_builder())
}

/// A [`JwtLayer`] configuration read from environment variables.
///
/// | Variable | Meaning |
/// |---|---|
/// | `JWT_SECRET` | An HMAC secret, its UTF-8 bytes used as they are (not trimmed). |
/// | `JWT_SECRET_ENCODING` | `base64` (any case): `JWT_SECRET` is base64, standard or URL-safe alphabet, padded or not. Any other value is an error, and so is setting it without `JWT_SECRET`. |
/// | `JWT_PUBLIC_KEY` | A public key: PEM text when the value starts with `-----BEGIN` (literal `\n` sequences count as line breaks, for one-line variables), otherwise the path of a PEM or DER file. RSA, EC (P-256, P-384) and Ed25519 are recognised by trying each. |
/// | `JWT_JWKS_URL` | The URL of an identity provider's JWKS (cargo feature `jwks`). |
/// | `JWT_OIDC_ISSUER` | An OIDC issuer whose discovery document points to its JWKS (cargo feature `jwks`). Unless `JWT_ISSUER` is set, it is also the only accepted `iss`. A whitespace-separated list trusts several issuers, each a [`Tenant`](crate::layer::Tenant) discovered on its own, with `JWT_AUDIENCE` and `JWT_ALGORITHMS` shared (`JWT_ISSUER` must then be unset). |
/// | `JWT_ALGORITHMS` | Comma-separated accepted algorithms, such as `RS256,PS256` (JWA names, any case). Default: the usual algorithm of the key's family, see [`JwtLayerBuilder::algorithms`]. |
/// | `JWT_ISSUER` | Comma-separated accepted issuers; `iss` becomes required. |
/// | `JWT_AUDIENCE` | Comma-separated accepted audiences; `aud` becomes required. |
/// | `JWT_JWKS_COOLDOWN` | Seconds, at least 1, between two refetches of a remote key set for an unknown `kid` (default 30). Only with `JWT_JWKS_URL` or `JWT_OIDC_ISSUER`. |
/// | `JWT_LEEWAY` | Clock skew tolerated, in whole seconds, at most 300. |
/// | `JWT_COOKIE_NAME` | Also read the token from this cookie: the source becomes [`TokenSource::HeaderOrCookie`] with this name (a request carrying both is refused). Unset: the `Authorization` header only. |
///
/// Exactly one of the key variables (`JWT_SECRET`, `JWT_PUBLIC_KEY`, `JWT_JWKS_URL`,
/// `JWT_OIDC_ISSUER`) must be set. A variable set to an empty or blank value counts as unset.
/// Items of the comma-separated lists are trimmed and may not be empty.
///
/// Everything is checked when the configuration is read, and every [`EnvError`] names the
/// variables at fault (with the prefix). What needs the whole configuration (a secret too short
/// for its algorithm, an RSA key under 2048 bits, an algorithm without a key) is checked by
/// [`JwtLayerBuilder::build`].
///
/// `Debug` never shows the secret.
///
/// ```
/// use tower_jwt_auth::env::EnvConfig;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // `from_vars` reads any lookup; `from_env` reads the process environment.
/// let vars = [
///     ("APP_JWT_SECRET", "a-secret-of-at-least-32-bytes-for-hs256"),
///     ("APP_JWT_ISSUER", "https://auth.example.com"),
///     ("APP_JWT_AUDIENCE", "my-api,my-other-api"),
///     ("APP_JWT_LEEWAY", "30"),
/// ];
/// let lookup = |name: &str| {
///     vars.iter()
///         .find(|(var, _)| *var == name)
///         .map(|(_, value)| value.to_string())
/// };
/// let config = EnvConfig::from_vars("APP_", lookup)?;
/// assert_eq!(config.audiences(), ["my-api", "my-other-api"]);
///
/// let layer = config.layer_builder().build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct EnvConfig {
    key: KeySource,
    key_variable: String,
    algorithms: Option<Vec<Algorithm>>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Option<Duration>,
    cookie_name: Option<String>,
}

#[derive(Clone)]
enum KeySource {
    Secret(Vec<u8>),
    PublicKey(Key),
    #[cfg(feature = "jwks")]
    Remote(crate::keys::jwks::RemoteKeySet),
    /// Several OIDC issuers, each discovered on its own: one tenant each.
    #[cfg(feature = "jwks")]
    Tenants(Vec<(String, crate::keys::jwks::RemoteKeySet)>),
}

impl fmt::Debug for EnvConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("EnvConfig");
        match &self.key {
            KeySource::Secret(secret) => debug.field(
                "secret",
                &format_args!("<{} bytes, redacted>", secret.len()),
            ),
            KeySource::PublicKey(key) => debug.field("public_key", key),
            #[cfg(feature = "jwks")]
            KeySource::Remote(keys) => debug.field("remote_keys", keys),
            #[cfg(feature = "jwks")]
            KeySource::Tenants(tenants) => debug.field("tenants", tenants),
        };
        debug
            .field("key_variable", &self.key_variable)
            .field("algorithms", &self.algorithms)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("cookie_name", &self.cookie_name)
            .finish()
    }
}

impl EnvConfig {
    /// Reads the variables of the process environment (no prefix). A value that is not valid
    /// Unicode is an error.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_env_with_prefix("")
    }

    /// Reads the variables of the process environment, every name starting with `prefix`
    /// (with `"APP_"`: `APP_JWT_SECRET`, `APP_JWT_AUDIENCE`, …; the prefix is used as given).
    pub fn from_env_with_prefix(prefix: &str) -> Result<Self, EnvError> {
        for var in VARIABLES {
            let name = format!("{prefix}{var}");
            if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(&name) {
                return Err(EnvError::NotUnicode { variable: name });
            }
        }
        Self::from_vars(prefix, |name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`, which gets each full variable name (prefix
    /// included) and returns its value, or `None` when unset. For tests, and for configuration
    /// kept elsewhere than in the process environment (a `.env` file, a secrets manager).
    pub fn from_vars(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, EnvError> {
        let vars = Vars { prefix, lookup };

        let set: Vec<(&str, String)> = KEY_VARIABLES
            .iter()
            .filter_map(|var| vars.get(var).map(|value| (*var, value)))
            .collect();
        let (key_var, value) = match <[_; 1]>::try_from(set) {
            Ok([only]) => only,
            Err(set) if set.is_empty() => {
                return Err(EnvError::NoKeySource {
                    variables: KEY_VARIABLES.iter().map(|var| vars.name(var)).collect(),
                });
            }
            Err(set) => {
                return Err(EnvError::ContradictoryKeySources {
                    variables: set.iter().map(|(var, _)| vars.name(var)).collect(),
                });
            }
        };
        let encoding = vars.get(SECRET_ENCODING);
        if encoding.is_some() && key_var != SECRET {
            return Err(EnvError::Inapplicable {
                variable: vars.name(SECRET_ENCODING),
                applies_to: vars.name(SECRET),
            });
        }

        let cooldown = vars
            .get(JWKS_COOLDOWN)
            .map(|value| cooldown(&vars.name(JWKS_COOLDOWN), &value))
            .transpose()?;
        if cooldown.is_some() && matches!(key_var, SECRET | PUBLIC_KEY) {
            return Err(EnvError::Inapplicable {
                variable: vars.name(JWKS_COOLDOWN),
                applies_to: format!("{} or {}", vars.name(JWKS_URL), vars.name(OIDC_ISSUER)),
            });
        }
        let mut issuers = vars.list(ISSUER)?;
        let key = match key_var {
            SECRET => KeySource::Secret(secret(&vars, value, encoding.as_deref())?),
            PUBLIC_KEY => KeySource::PublicKey(public_key(&vars.name(PUBLIC_KEY), &value)?),
            OIDC_ISSUER if value.split_whitespace().nth(1).is_some() => {
                if !issuers.is_empty() {
                    return Err(invalid(
                        &vars.name(ISSUER),
                        format!(
                            "with several issuers in {}, each is trusted for its own tokens: \
                             leave {} unset",
                            vars.name(OIDC_ISSUER),
                            vars.name(ISSUER)
                        ),
                    ));
                }
                tenants(&vars.name(OIDC_ISSUER), &value, cooldown)?
            }
            _ => {
                let value = value.trim();
                if key_var == OIDC_ISSUER && issuers.is_empty() {
                    issuers.push(value.to_owned());
                }
                remote(&vars.name(key_var), key_var == OIDC_ISSUER, value, cooldown)?
            }
        };

        let algorithms = vars
            .get(ALGORITHMS)
            .map(|value| algorithms(&vars.name(ALGORITHMS), &value))
            .transpose()?;
        if let KeySource::Secret(secret) = &key {
            secret_fits(&vars, secret.len(), algorithms.as_deref())?;
        }
        Ok(Self {
            key,
            key_variable: vars.name(key_var),
            algorithms,
            issuers,
            audiences: vars.list(AUDIENCE)?,
            leeway: vars
                .get(LEEWAY)
                .map(|value| leeway(&vars.name(LEEWAY), &value))
                .transpose()?,
            cookie_name: vars
                .get(COOKIE_NAME)
                .map(|value| cookie_name(&vars.name(COOKIE_NAME), &value))
                .transpose()?,
        })
    }

    /// A layer builder with this configuration, to adjust (claims type, mode, revocations, …)
    /// and [`build`](JwtLayerBuilder::build). Each call starts a fresh builder; remote key sets
    /// are shared between them.
    pub fn layer_builder(&self) -> JwtLayerBuilder<JsonClaims> {
        let mut builder = JwtLayer::builder();
        builder = match &self.key {
            KeySource::Secret(secret) => builder.key(Key::hmac(secret)),
            KeySource::PublicKey(key) => builder.key(key.clone()),
            #[cfg(feature = "jwks")]
            KeySource::Remote(keys) => builder.remote_keys(keys.clone()),
            #[cfg(feature = "jwks")]
            KeySource::Tenants(tenants) => {
                tenants.iter().fold(builder, |builder, (issuer, keys)| {
                    builder.tenant(crate::layer::Tenant::new(issuer).remote_keys(keys.clone()))
                })
            }
        };
        if let Some(algorithms) = &self.algorithms {
            builder = builder.algorithms(algorithms.iter().copied());
        }
        for issuer in &self.issuers {
            builder = builder.issuer(issuer.clone());
        }
        for audience in &self.audiences {
            builder = builder.audience(audience.clone());
        }
        if let Some(leeway) = self.leeway {
            builder = builder.leeway(leeway);
        }
        if let Some(name) = &self.cookie_name {
            builder = builder.source(TokenSource::HeaderOrCookie { name: name.clone() });
        }
        builder
    }

    /// The key variable that was set, prefix included (such as `JWT_SECRET`).
    pub fn key_variable(&self) -> &str {
        &self.key_variable
    }

    /// The HMAC secret's bytes (decoded when `JWT_SECRET_ENCODING=base64`) when the key source
    /// is `JWT_SECRET`: for applications that also sign their tokens.
    pub fn hmac_secret(&self) -> Option<&[u8]> {
        match &self.key {
            KeySource::Secret(secret) => Some(secret),
            _ => None,
        }
    }

    /// The accepted algorithms from `JWT_ALGORITHMS`, or `None` for the per-key defaults.
    pub fn algorithms(&self) -> Option<&[Algorithm]> {
        self.algorithms.as_deref()
    }

    /// The accepted issuers: `JWT_ISSUER`, or else the `JWT_OIDC_ISSUER`; empty when `iss` is
    /// not checked.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The accepted audiences from `JWT_AUDIENCE`; empty when `aud` is not checked.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The leeway from `JWT_LEEWAY`, or `None` for the builder's default (zero).
    pub fn leeway(&self) -> Option<Duration> {
        self.leeway
    }

    /// The cookie from `JWT_COOKIE_NAME`, read besides the `Authorization` header.
    pub fn cookie_name(&self) -> Option<&str> {
        self.cookie_name.as_deref()
    }
}

/// The variables behind a lookup and a prefix.
struct Vars<'a, F> {
    prefix: &'a str,
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn name(&self, var: &str) -> String {
        format!("{}{var}", self.prefix)
    }

    /// The value, unless unset, empty or blank.
    fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(&self.name(var)).filter(|value| !value.trim().is_empty())
    }

    /// A comma-separated list; empty when unset.
    fn list(&self, var: &str) -> Result<Vec<String>, EnvError> {
        let Some(value) = self.get(var) else {
            return Ok(Vec::new());
        };
        value
            .split(',')
            .map(|item| match item.trim() {
                "" => Err(invalid(
                    &self.name(var),
                    "empty item in the comma-separated list",
                )),
                item => Ok(item.to_owned()),
            })
            .collect()
    }
}

fn invalid(variable: &str, reason: impl Into<String>) -> EnvError {
    EnvError::Invalid {
        variable: variable.to_owned(),
        reason: reason.into(),
    }
}

fn secret<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
    value: String,
    encoding: Option<&str>,
) -> Result<Vec<u8>, EnvError> {
    let name = &vars.name(SECRET);
    if value.trim_start().starts_with("-----BEGIN") {
        return Err(invalid(
            name,
            format!(
                "this looks like a PEM key, not an HMAC secret; a public key goes in {}",
                vars.name(PUBLIC_KEY)
            ),
        ));
    }
    match encoding.map(str::trim) {
        None => Ok(value.into_bytes()),
        Some(encoding) if encoding.eq_ignore_ascii_case("base64") => {
            crate::keys::decode_base64_secret(&value).ok_or_else(|| {
                invalid(
                    name,
                    format!("not valid base64 (as {} says)", vars.name(SECRET_ENCODING)),
                )
            })
        }
        Some(_) => Err(invalid(
            &vars.name(SECRET_ENCODING),
            "the only supported encoding is `base64` (unset: the secret's bytes as they are)",
        )),
    }
}

/// An HMAC secret long enough for every HMAC algorithm it is to verify (RFC 7518 §3.2),
/// checked here so that the error names the variable rather than leaving it to the build.
fn secret_fits<F: Fn(&str) -> Option<String>>(
    vars: &Vars<'_, F>,
    len: usize,
    algorithms: Option<&[Algorithm]>,
) -> Result<(), EnvError> {
    let hmac = algorithms.map_or(vec![Algorithm::HS256], |algorithms| {
        algorithms
            .iter()
            .copied()
            .filter(|alg| matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect()
    });
    for algorithm in hmac {
        if let Err(ConfigError::SecretTooShort { minimum, .. }) =
            crate::keys::check_hmac_secret(algorithm, len)
        {
            return Err(invalid(
                &vars.name(SECRET),
                format!(
                    "{len} bytes is too short for {algorithm:?}, which needs at least {minimum} \
                     (RFC 7518 section 3.2); make one with `openssl rand -base64 {minimum}` and \
                     set {}=base64",
                    vars.name(SECRET_ENCODING)
                ),
            ));
        }
    }
    Ok(())
}

fn public_key(name: &str, value: &str) -> Result<Key, EnvError> {
    let value = value.trim();
    let (bytes, file) = if value.starts_with("-----BEGIN") {
        (value.replace("\\n", "\n").into_bytes(), None)
    } else {
        let path = Path::new(value);
        // The value is not repeated: it may be a secret set in the wrong variable.
        let bytes = std::fs::read(path).map_err(|error| {
            invalid(
                name,
                format!(
                    "neither PEM text (starting with -----BEGIN) nor the path of a readable \
                     file ({})",
                    error.kind()
                ),
            )
        })?;
        (bytes, Some(path))
    };
    let within = || match file {
        Some(path) => format!("the file {}", path.display()),
        None => "the PEM text".to_owned(),
    };
    if bytes.windows(11).any(|window| window == b"PRIVATE KEY") {
        return Err(invalid(
            name,
            format!("{} holds a private key; give the public key only", within()),
        ));
    }
    type Parser = fn(&[u8]) -> Result<Key, ConfigError>;
    let parsers: [Parser; 3] = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        [|b| Key::rsa_pem(b), |b| Key::ec_pem(b), |b| Key::ed_pem(b)]
    } else {
        [|b| Key::rsa_der(b), |b| Key::ec_der(b), |b| Key::ed_der(b)]
    };
    // Some parsers accept bytes of another key type and leave the check to the provider when
    // the layer is built; a trial build tells which family the key really is. Other build
    // errors (an RSA key too short, no crypto backend) are left to the application's build.
    let parsed = parsers
        .iter()
        .filter_map(|parse| parse(&bytes).ok())
        .find(|key| {
            !matches!(
                JwtLayer::builder().key(key.clone()).build(),
                Err(ConfigError::InvalidKey(_))
            )
        })
        .ok_or(());
    parsed.map_err(|_| {
        invalid(
            name,
            format!(
                "{} is not an RSA, EC (P-256, P-384) or Ed25519 public key in PEM or DER",
                within()
            ),
        )
    })
}

#[cfg(feature = "jwks")]
fn remote(
    name: &str,
    discovery: bool,
    url: &str,
    cooldown: Option<Duration>,
) -> Result<KeySource, EnvError> {
    remote_set(name, discovery, url, cooldown).map(KeySource::Remote)
}

#[cfg(feature = "jwks")]
fn remote_set(
    name: &str,
    discovery: bool,
    url: &str,
    cooldown: Option<Duration>,
) -> Result<crate::keys::jwks::RemoteKeySet, EnvError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|error| invalid(name, format!("not a URL: {error}")))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(invalid(name, "not an https:// (or http://) URL"));
    }
    let builder = crate::keys::jwks::RemoteKeySet::builder();
    let builder = if discovery {
        builder.oidc_issuer(url)
    } else {
        builder.jwks_url(url)
    };
    let builder = match cooldown {
        Some(cooldown) => builder.cooldown(cooldown),
        None => builder,
    };
    builder
        .build()
        .map_err(|error| invalid(name, error.to_string()))
}

/// One tenant per whitespace-separated issuer of `value`, each discovered on its own.
#[cfg(feature = "jwks")]
fn tenants(name: &str, value: &str, cooldown: Option<Duration>) -> Result<KeySource, EnvError> {
    let mut tenants: Vec<(String, crate::keys::jwks::RemoteKeySet)> = Vec::new();
    for issuer in value.split_whitespace() {
        if tenants.iter().any(|(known, _)| known == issuer) {
            return Err(invalid(name, format!("{issuer} is listed twice")));
        }
        tenants.push((issuer.to_owned(), remote_set(name, true, issuer, cooldown)?));
    }
    Ok(KeySource::Tenants(tenants))
}

#[cfg(not(feature = "jwks"))]
fn tenants(name: &str, _value: &str, _cooldown: Option<Duration>) -> Result<KeySource, EnvError> {
    remote(name, true, "", None)
}

#[cfg(not(feature = "jwks"))]
fn remote(
    name: &str,
    _discovery: bool,
    _url: &str,
    _cooldown: Option<Duration>,
) -> Result<KeySource, EnvError> {
    Err(EnvError::FeatureDisabled {
        variable: name.to_owned(),
        feature: "jwks",
    })
}

fn algorithms(name: &str, value: &str) -> Result<Vec<Algorithm>, EnvError> {
    let mut algorithms = Vec::new();
    for item in value.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(invalid(name, "empty item in the comma-separated list"));
        }
        if item.eq_ignore_ascii_case("none") {
            return Err(invalid(name, "`none` (unsigned tokens) is never accepted"));
        }
        let algorithm = ALL_ALGORITHMS
            .into_iter()
            .find(|algorithm| format!("{algorithm:?}").eq_ignore_ascii_case(item))
            .ok_or_else(|| {
                invalid(
                    name,
                    format!(
                        "unknown algorithm {item:?}; known: HS256, HS384, HS512, RS256, RS384, \
                         RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
                    ),
                )
            })?;
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    Ok(algorithms)
}

fn leeway(name: &str, value: &str) -> Result<Duration, EnvError> {
    let seconds: u64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(name, "expected a whole number of seconds"))?;
    let leeway = Duration::from_secs(seconds);
    if leeway > MAX_LEEWAY {
        return Err(invalid(
            name,
            format!("at most {} seconds", MAX_LEEWAY.as_secs()),
        ));
    }
    Ok(leeway)
}

/// Whole seconds, at least one: a refetch for every unknown `kid` would let anyone make the
/// layer hammer the identity provider.
fn cooldown(name: &str, value: &str) -> Result<Duration, EnvError> {
    match value.trim().parse::<u64>() {
        Ok(seconds) if seconds >= 1 => Ok(Duration::from_secs(seconds)),
        _ => Err(invalid(
            name,
            "expected a whole number of seconds, at least 1",
        )),
    }
}

fn cookie_name(name: &str, value: &str) -> Result<String, EnvError> {
    let value = value.trim();
    // The rule `JwtLayerBuilder::build` applies: an RFC 6265 token.
    if !crate::source::is_valid_cookie_name(value) {
        return Err(invalid(
            name,
            "not a valid cookie name (visible ASCII without separators such as = ; , or spaces)",
        ));
    }
    Ok(value.to_owned())
}
