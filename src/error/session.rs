//! Why issuing a token, or a call of the token endpoint, failed.

use std::borrow::Cow;
use std::fmt;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};

use super::AuthError;

/// Why [`JwtIssuer::issue`](crate::issuer::JwtIssuer::issue) could not sign a token.
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

/// Why a [`Sessions`](crate::refresh::Sessions) call failed: the token endpoint's error table.
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
    Unavailable(crate::error::BoxError),
    /// The request's DPoP proof is invalid (RFC 9449 §5): a login is refused rather than
    /// answered with an unbound token, and the refresh of a session bound to a key needs that
    /// key's proof.
    InvalidDpopProof(crate::dpop::DpopError),
    /// The refresh of a session bound to a DPoP key came with a proof by another key.
    DpopKeyMismatch,
}

impl SessionError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidGrant
            | Self::RefreshReused
            | Self::Refused
            | Self::InvalidDpopProof(_)
            | Self::DpopKeyMismatch => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingSubject | Self::Issue(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OAuth 2.0 error code, or `None` for a server fault.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidGrant | Self::RefreshReused | Self::Refused => Some("invalid_grant"),
            Self::InvalidDpopProof(_) | Self::DpopKeyMismatch => Some("invalid_dpop_proof"),
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
            Self::InvalidDpopProof(error) => {
                AuthError::InvalidDpopProof(error.clone()).description()
            }
            Self::DpopKeyMismatch => "DPoP proof key is not the session's key".into(),
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

impl From<crate::dpop::DpopError> for SessionError {
    /// A proof that cannot be checked (its replay check failed) is a 503; any other refusal a
    /// 400 `invalid_dpop_proof`.
    fn from(error: crate::dpop::DpopError) -> Self {
        use crate::dpop::DpopError;
        match error {
            DpopError::ReplayCacheFull | DpopError::ReplayStoreUnavailable => {
                Self::Unavailable(error.to_string().into())
            }
            error => Self::InvalidDpopProof(error),
        }
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}
