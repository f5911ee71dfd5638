//! Why a request was refused, and the one place that turns that into a response.
//!
//! Every rejection the crate produces is an [`AuthError`]. Each kind knows its HTTP status, its
//! OAuth 2.0 error code (RFC 6750 §3.1) and its description (the FoalTS JWT hooks' table, whose
//! messages follow node `jsonwebtoken`). [`AuthError::to_response`] renders a kind into the JSON
//! body and `WWW-Authenticate` challenge; a custom [`ErrorHandler`] can replace that rendering,
//! but never the classification.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

/// The `Retry-After` of a 503 `temporarily_unavailable`, in seconds.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Why a request was refused.
///
/// The descriptions never contain the token, a `kid` or a claim of the token: only fixed text and
/// values taken from the layer's own configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// Required mode, header source, and no `Authorization` header.
    MissingAuthorizationHeader,
    /// Required mode, cookie source, and no auth cookie.
    MissingAuthCookie,
    /// An `Authorization` header that is not `Bearer <b64token>`.
    InvalidScheme,
    /// More than one token: two `Authorization` headers, two auth cookies, or a header and a
    /// cookie when both sources are enabled (RFC 6750 §2 allows one method per request).
    MultipleTokens,
    /// Not three base64url segments, or larger than the configured size cap.
    Malformed,
    /// The header or payload is not a base64url-encoded JSON object of the expected shape.
    InvalidToken,
    /// The `alg` is `none`, unknown, not allowed, or not allowed for the selected key.
    InvalidAlgorithm,
    /// The signature segment is empty.
    MissingSignature,
    /// The signature does not verify.
    InvalidSignature,
    /// The header carries a `crit` parameter; this crate understands no extension.
    UnsupportedCritical,
    /// The header's `typ` is not the one the layer expects.
    InvalidType {
        /// The configured `typ`.
        expected: Arc<str>,
    },
    /// The `exp` claim is absent.
    MissingExpiration,
    /// A time claim (`exp`, `nbf`, `iat`) is not a JSON number.
    InvalidTimeClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotActive,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `max_age` is configured and the token has no `iat`.
    MissingIssuedAt,
    /// `max_age` is configured and the token is older than it.
    MaxAgeExceeded,
    /// `max_lifetime` is configured and `exp` lies further away than it.
    LifetimeTooLong,
    /// The audience does not match.
    InvalidAudience {
        /// The configured audiences, rendered for the description.
        expected: Arc<str>,
    },
    /// The issuer does not match.
    InvalidIssuer {
        /// The configured issuers, rendered for the description.
        expected: Arc<str>,
    },
    /// The subject does not match.
    InvalidSubject {
        /// The configured subject.
        expected: Arc<str>,
    },
    /// The key set needs a `kid` to choose a key and the token has none.
    MissingKid,
    /// The token's `kid` names no key of the key set.
    UnknownKid,
    /// The revocation check says the token is revoked.
    Revoked,
    /// A user lookup is configured and the token has no string `sub`.
    MissingSubject,
    /// The user lookup found no user for the token's `sub`.
    UnknownSubject,
    /// The revocation store or the user lookup failed or timed out: the request fails closed.
    /// Answered 503 `temporarily_unavailable` with `Retry-After`.
    BackendUnavailable,
    /// No key could be resolved at request time: a server-side misconfiguration.
    KeyUnavailable,
    /// The token lacks a required scope (RFC 6750 §3.1 `insufficient_scope`).
    InsufficientScope {
        /// The scopes the route requires, space separated (the challenge's `scope`).
        required: Arc<str>,
    },
    /// The token lacks a required role.
    InsufficientRole,
    /// A claims predicate refused the token.
    InsufficientClaims,
    /// An unsafe request authenticated by a cookie lacks the session's CSRF token in
    /// `X-CSRF-Token` / `X-XSRF-Token`, or carries another one. Answered 403
    /// `invalid_csrf_token`, without a challenge: the token itself is fine.
    InvalidCsrfToken,
    /// No verified claims where some were required (a route not behind the layer, or the optional
    /// layer and no token). Answered with a bare `WWW-Authenticate: Bearer` (RFC 6750 §3.1).
    Unauthenticated,
}

impl AuthError {
    /// The HTTP status this kind is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingAuthorizationHeader
            | Self::MissingAuthCookie
            | Self::InvalidScheme
            | Self::MultipleTokens => StatusCode::BAD_REQUEST,
            Self::KeyUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientScope { .. }
            | Self::InsufficientRole
            | Self::InsufficientClaims
            | Self::InvalidCsrfToken => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 error code (`invalid_request`, `invalid_token`), or `None` where the response
    /// carries no code.
    pub fn code(&self) -> Option<&'static str> {
        match self.status() {
            StatusCode::BAD_REQUEST => Some("invalid_request"),
            StatusCode::UNAUTHORIZED if *self == Self::Unauthenticated => None,
            StatusCode::FORBIDDEN if *self == Self::InvalidCsrfToken => Some("invalid_csrf_token"),
            StatusCode::UNAUTHORIZED => Some("invalid_token"),
            StatusCode::FORBIDDEN => Some("insufficient_scope"),
            StatusCode::SERVICE_UNAVAILABLE => Some("temporarily_unavailable"),
            _ => None,
        }
    }

    /// The human-readable description, as in the FoalTS table.
    pub fn description(&self) -> Cow<'static, str> {
        let fixed = match self {
            Self::MissingAuthorizationHeader => "Authorization header not found.",
            Self::MissingAuthCookie => "Auth cookie not found.",
            Self::InvalidScheme => {
                "Expected a bearer token. Scheme is Authorization: Bearer <token>."
            }
            Self::MultipleTokens => "Multiple tokens in request.",
            Self::Malformed => "jwt malformed",
            Self::InvalidToken => "invalid token",
            Self::InvalidAlgorithm => "invalid algorithm",
            Self::MissingSignature => "jwt signature is required",
            Self::InvalidSignature => "invalid signature",
            Self::UnsupportedCritical => "jwt crit header not supported",
            Self::MissingExpiration => "jwt expiration required",
            Self::Expired => "jwt expired",
            Self::NotActive => "jwt not active",
            Self::IssuedInFuture => "jwt issued in the future",
            Self::MissingIssuedAt => "iat required when maxAge is specified",
            Self::MaxAgeExceeded => "maxAge exceeded",
            Self::LifetimeTooLong => "jwt lifetime exceeds the maximum",
            Self::MissingKid => "missing kid",
            Self::UnknownKid => "invalid kid",
            Self::KeyUnavailable => "Internal server error.",
            Self::Revoked => "jwt revoked",
            Self::MissingSubject => "The token must include a subject which is the id of the user.",
            Self::UnknownSubject => "The token subject does not match any user.",
            Self::BackendUnavailable => "Authentication backend unavailable.",
            Self::Unauthenticated => "Authentication required.",
            Self::InsufficientScope { .. } => "Insufficient scope.",
            Self::InsufficientRole => "Insufficient role.",
            Self::InsufficientClaims => "Insufficient claims.",
            Self::InvalidCsrfToken => "CSRF token missing or incorrect.",
            Self::InvalidTimeClaim { claim } => return format!("invalid {claim} value").into(),
            Self::InvalidType { expected } => {
                return format!("jwt typ invalid. expected: {expected}").into();
            }
            Self::InvalidAudience { expected } => {
                return format!("jwt audience invalid. expected: {expected}").into();
            }
            Self::InvalidIssuer { expected } => {
                return format!("jwt issuer invalid. expected: {expected}").into();
            }
            Self::InvalidSubject { expected } => {
                return format!("jwt subject invalid. expected: {expected}").into();
            }
        };
        Cow::Borrowed(fixed)
    }

    /// A short stable name of the kind, used as the `kind` field of the tracing event.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::MissingAuthorizationHeader => "missing_authorization_header",
            Self::MissingAuthCookie => "missing_auth_cookie",
            Self::InvalidScheme => "invalid_scheme",
            Self::MultipleTokens => "multiple_tokens",
            Self::Malformed => "malformed",
            Self::InvalidToken => "invalid_token",
            Self::InvalidAlgorithm => "invalid_algorithm",
            Self::MissingSignature => "missing_signature",
            Self::InvalidSignature => "invalid_signature",
            Self::UnsupportedCritical => "unsupported_critical",
            Self::InvalidType { .. } => "invalid_type",
            Self::MissingExpiration => "missing_expiration",
            Self::InvalidTimeClaim { .. } => "invalid_time_claim",
            Self::Expired => "expired",
            Self::NotActive => "not_active",
            Self::IssuedInFuture => "issued_in_future",
            Self::MissingIssuedAt => "missing_issued_at",
            Self::MaxAgeExceeded => "max_age_exceeded",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::InvalidAudience { .. } => "invalid_audience",
            Self::InvalidIssuer { .. } => "invalid_issuer",
            Self::InvalidSubject { .. } => "invalid_subject",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid => "unknown_kid",
            Self::KeyUnavailable => "key_unavailable",
            Self::Revoked => "revoked",
            Self::MissingSubject => "missing_subject",
            Self::UnknownSubject => "unknown_subject",
            Self::BackendUnavailable => "backend_unavailable",
            Self::Unauthenticated => "unauthenticated",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::InsufficientRole => "insufficient_role",
            Self::InsufficientClaims => "insufficient_claims",
            Self::InvalidCsrfToken => "invalid_csrf_token",
        }
    }

    /// The `WWW-Authenticate` challenge for this kind, or `None` for server errors.
    ///
    /// `realm`, when given, is sent first, as in `Bearer realm="api", error="invalid_token", …`.
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        if self.status().is_server_error() || *self == Self::InvalidCsrfToken {
            return None;
        }
        let mut value = String::from("Bearer");
        let mut separator = " ";
        if let Some(realm) = realm {
            push_param(&mut value, separator, "realm", realm);
            separator = ", ";
        }
        if let Some(code) = self.code() {
            push_param(&mut value, separator, "error", code);
            push_param(&mut value, ", ", "error_description", &self.description());
        }
        if let Self::InsufficientScope { required } = self {
            push_param(&mut value, ", ", "scope", required);
        }
        // Every byte pushed above is visible ASCII or a space, so this cannot fail.
        HeaderValue::from_str(&value).ok()
    }

    /// Renders this error the default way: the status, a JSON `{"code","description"}` body
    /// (none for server errors) and the challenge header.
    pub fn to_response(&self, realm: Option<&str>) -> Response {
        let status = self.status();
        let mut response = if *self == Self::KeyUnavailable {
            Response::new(Body::empty())
        } else {
            let body = serde_json::json!({
                "code": self.code().unwrap_or("unauthorized"),
                "description": self.description(),
            });
            let mut response = Response::new(Body::from(body.to_string()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        };
        *response.status_mut() = status;
        if *self == Self::BackendUnavailable {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if let Some(challenge) = self.challenge(realm) {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }

    pub(crate) fn trace(&self) {
        self.trace_with_cause(None);
    }

    /// The one event of a rejection; `cause` is the backend failure behind a 503.
    pub(crate) fn trace_with_cause(&self, cause: Option<&dyn fmt::Display>) {
        if let Some(cause) = cause {
            let kind = self.kind_name();
            tracing::error!(target: "tower_jwt_auth", kind, %cause, "request rejected");
        } else if self.status().is_server_error() {
            tracing::error!(target: "tower_jwt_auth", kind = self.kind_name(), "request rejected");
        } else {
            tracing::debug!(target: "tower_jwt_auth", kind = self.kind_name(), "request rejected");
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

impl std::error::Error for AuthError {}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.to_response(None)
    }
}

/// Appends `name="value"`, replacing every character RFC 6750 §3 does not allow inside a quoted
/// auth-param (`"`, `\`, controls, non-ASCII) so the header is always well-formed.
fn push_param(out: &mut String, separator: &str, name: &str, value: &str) {
    out.push_str(separator);
    out.push_str(name);
    out.push_str("=\"");
    out.extend(
        value
            .chars()
            .map(|c| if is_rfc6750_char(c) { c } else { '?' }),
    );
    out.push('"');
}

/// `%x20-21 / %x23-5B / %x5D-7E`: the characters allowed in `error_description` and `scope`.
pub(crate) fn is_rfc6750_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// Renders an [`AuthError`] into a response, replacing the default JSON rendering.
///
/// Implemented for every `Fn(&AuthError) -> Response + Send + Sync + 'static`. Use
/// [`AuthError::status`] and [`AuthError::challenge`] to keep the status and challenge the
/// default rendering would have sent.
///
/// ```
/// use axum_core::response::{IntoResponse, Response};
/// use tower_jwt_auth::{AuthError, JwtLayer, Key};
///
/// let layer = JwtLayer::builder()
///     .key(Key::hmac(b"an example secret that is 32 bytes+"))
///     .error_handler(|error: &AuthError| -> Response {
///         (error.status(), format!("denied: {}", error.description())).into_response()
///     })
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
pub trait ErrorHandler: Send + Sync + 'static {
    /// Builds the response for `error`.
    fn render(&self, error: &AuthError) -> Response;
}

impl<F> ErrorHandler for F
where
    F: Fn(&AuthError) -> Response + Send + Sync + 'static,
{
    fn render(&self, error: &AuthError) -> Response {
        self(error)
    }
}

/// A layer's rendering, put into the extensions of the requests it lets through when it is not
/// the default one (an [`ErrorHandler`] or a realm is configured), so the guards behind the
/// layer answer in the same format and with the same challenge.
#[derive(Clone)]
pub(crate) struct Rendering(pub(crate) Arc<dyn ErrorHandler>);

impl Rendering {
    /// Renders `error` the way the layer in front of this request would, or by default.
    pub(crate) fn of(extensions: &http::Extensions, error: &AuthError) -> Response {
        match extensions.get::<Self>() {
            Some(Self(handler)) => handler.render(error),
            None => error.to_response(None),
        }
    }
}

/// The rendering used when no [`ErrorHandler`] is set: [`AuthError::to_response`] with the
/// configured realm.
#[derive(Clone, Debug, Default)]
pub(crate) struct DefaultErrorHandler {
    pub(crate) realm: Option<Arc<str>>,
}

impl ErrorHandler for DefaultErrorHandler {
    fn render(&self, error: &AuthError) -> Response {
        error.to_response(self.realm.as_deref())
    }
}

/// Why [`JwtLayerBuilder::build`](crate::JwtLayerBuilder::build) refused a configuration.
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
    /// A [`JwtIssuer`](crate::JwtIssuer) was built without a signing key.
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

/// Why [`JwtIssuer::issue`](crate::JwtIssuer::issue) could not sign a token.
///
/// These are server-side faults (the claims type, the operating system's random source): a
/// handler answers them with a 500.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueError {
    /// The claims did not serialize to a JSON object.
    ClaimsNotObject,
    /// The claims could not be serialized; the serializer's message.
    Claims(String),
    /// The lifetime is zero.
    ZeroLifetime,
    /// The operating system's random source failed.
    Random,
    /// The crypto backend failed to sign.
    Signing,
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClaimsNotObject => f.write_str("the claims do not serialize to a JSON object"),
            Self::Claims(why) => write!(f, "the claims cannot be serialized: {why}"),
            Self::ZeroLifetime => f.write_str("the token lifetime is zero"),
            Self::Random => f.write_str("the system random number generator failed"),
            Self::Signing => f.write_str("signing failed"),
        }
    }
}

impl std::error::Error for IssueError {}

/// Why a [`Sessions`](crate::Sessions) call failed: the token endpoint's error table.
///
/// A refresh token that cannot be used is the client's problem: 400 `invalid_grant`
/// (RFC 6749 §5.2) with the crate's JSON `{"code","description"}` body. A store that fails or
/// times out fails closed: 503 `temporarily_unavailable` with `Retry-After`, exactly as
/// [`AuthError::BackendUnavailable`]. Anything else is a server fault: an empty 500, as
/// [`AuthError::KeyUnavailable`]. The descriptions never carry a token or a claim.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionError {
    /// The refresh token is unknown, expired, malformed, or its session was logged out.
    InvalidGrant,
    /// The refresh token was already used: it was stolen, or replayed. The whole session (every
    /// refresh token descending from the same login) is now revoked.
    RefreshReused,
    /// The `rotate_with` callback refused to renew the session (the user was deactivated,
    /// say); the session is now revoked.
    Refused,
    /// The claims given to `login` have no string `sub`.
    MissingSubject,
    /// The access token could not be issued.
    Issue(IssueError),
    /// The refresh store, the revocation store or the `rotate_with` callback failed or timed
    /// out.
    Unavailable(crate::BoxError),
}

impl SessionError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidGrant | Self::RefreshReused | Self::Refused => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingSubject | Self::Issue(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OAuth 2.0 error code, or `None` for a server fault.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidGrant | Self::RefreshReused | Self::Refused => Some("invalid_grant"),
            Self::Unavailable(_) => AuthError::BackendUnavailable.code(),
            Self::MissingSubject | Self::Issue(_) => None,
        }
    }

    /// The human-readable description.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            Self::InvalidGrant => "Invalid refresh token.".into(),
            Self::RefreshReused => "Refresh token already used; the session is revoked.".into(),
            Self::Refused => "The session can no longer be renewed.".into(),
            Self::Unavailable(_) => AuthError::BackendUnavailable.description(),
            Self::MissingSubject | Self::Issue(_) => AuthError::KeyUnavailable.description(),
        }
    }

    /// Renders this error: the status, the JSON body (none for a 500) and, for a 503,
    /// `Retry-After`. Token endpoint errors carry no `WWW-Authenticate` challenge.
    pub fn to_response(&self) -> Response {
        match self {
            Self::Unavailable(_) => AuthError::BackendUnavailable.to_response(None),
            Self::MissingSubject | Self::Issue(_) => AuthError::KeyUnavailable.to_response(None),
            _ => {
                let body = serde_json::json!({
                    "code": self.code(),
                    "description": self.description(),
                });
                let mut response = Response::new(Body::from(body.to_string()));
                *response.status_mut() = self.status();
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                // RFC 6749 §5.1/§5.2: token endpoint answers are not cached.
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingSubject => f.write_str("the claims have no string sub"),
            Self::Issue(error) => write!(f, "issuing the access token failed: {error}"),
            Self::Unavailable(cause) => write!(f, "session store unavailable: {cause}"),
            _ => f.write_str(&self.description()),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Issue(error) => Some(error),
            Self::Unavailable(cause) => Some(&**cause),
            _ => None,
        }
    }
}

impl From<IssueError> for SessionError {
    fn from(error: IssueError) -> Self {
        Self::Issue(error)
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_carries_realm_code_and_description() {
        let challenge = AuthError::Expired.challenge(Some("api")).unwrap();
        assert_eq!(
            challenge,
            r#"Bearer realm="api", error="invalid_token", error_description="jwt expired""#
        );
    }

    #[test]
    fn unauthenticated_challenge_has_no_error_code() {
        assert_eq!(
            AuthError::Unauthenticated.challenge(None).unwrap(),
            "Bearer"
        );
        assert_eq!(
            AuthError::Unauthenticated.challenge(Some("api")).unwrap(),
            r#"Bearer realm="api""#
        );
    }

    #[test]
    fn description_characters_outside_rfc6750_are_replaced() {
        let error = AuthError::InvalidIssuer {
            expected: "a\"b\\c\u{e9}".into(),
        };
        assert_eq!(
            error.challenge(None).unwrap(),
            r#"Bearer error="invalid_token", error_description="jwt issuer invalid. expected: a?b?c?""#
        );
    }

    #[test]
    fn insufficient_scope_challenge_names_the_required_scopes() {
        let error = AuthError::InsufficientScope {
            required: "users:read users:write".into(),
        };
        assert_eq!(
            error.challenge(None).unwrap(),
            r#"Bearer error="insufficient_scope", error_description="Insufficient scope.", scope="users:read users:write""#
        );
    }

    #[test]
    fn server_errors_have_no_challenge() {
        assert!(AuthError::KeyUnavailable.challenge(Some("api")).is_none());
    }
}
