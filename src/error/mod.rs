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

use axum_core::response::IntoResponse;
use http::StatusCode;

mod config;
mod render;
mod session;

pub use crate::request::RequestHead;
pub use axum_core::body::Body;
pub use config::ConfigError;
pub(crate) use config::key_refused;
pub use render::ErrorHandler;

/// The response an [`ErrorHandler`] builds (axum's, re-exported).
pub type Response = http::Response<Body>;
pub(crate) use render::{DefaultErrorHandler, DpopChallenge, Rendering, is_rfc6750_char};
pub use session::{IssueError, SessionError};

/// A boxed error: what stores, lookups and response bodies fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The `Retry-After` of a 503 `temporarily_unavailable`, in seconds.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Why a request was refused.
///
/// The descriptions never contain the token, a `kid` or a claim of the token: only fixed text and
/// values taken from the layer's own configuration. The whole table, as the default rendering
/// answers it (a JSON `{"code","description"}` body and a `WWW-Authenticate: Bearer` challenge
/// carrying the same code and description):
///
#[doc = include_str!("table.md")]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// Required mode, header source, and no `Authorization` header.
    MissingAuthorizationHeader,
    /// Required mode, cookie source, and no auth cookie.
    MissingAuthCookie,
    /// Required mode, and none of the other sources (a query parameter, a named header, the
    /// WebSocket subprotocol list, a custom source) holds a token.
    MissingToken,
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
    /// A guard or extractor that cannot work where it is: it asks for another claims type than
    /// the layer verifies into, or no layer is in front of it. A server-side misconfiguration,
    /// answered 500 with an empty body and logged at ERROR naming the mistake, never a 401 that
    /// blames the client.
    Misconfigured,
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
    /// A token under the `DPoP` scheme whose proof is missing, doubled or fails a check of
    /// RFC 9449 §4.3. Answered 401 `invalid_dpop_proof` with a `DPoP` challenge.
    InvalidDpopProof(crate::dpop::DpopError),
    /// The layer requires a server nonce in proofs and this one has none, or a stale one.
    /// Answered 401 `use_dpop_nonce` with a fresh `DPoP-Nonce` header (RFC 9449 §8).
    UseDpopNonce,
    /// A token under the `DPoP` scheme that is not bound to the proof's key: its `cnf.jkt` is
    /// another key's thumbprint, or it has none.
    DpopKeyMismatch,
    /// A token bound to a DPoP key (`cnf.jkt`) presented without a proof, as a bearer token:
    /// whoever stole it cannot prove the key (RFC 9449 §7.2).
    DpopBoundToken,
    /// A layer that requires DPoP got a token under another scheme, or in a cookie or another
    /// source.
    DpopRequired,
}

/// One row of the error table: everything the crate answers for one kind of refusal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row<'a> {
    pub(crate) status: StatusCode,
    /// The RFC 6750 error code, where the answer carries one.
    pub(crate) code: Option<&'static str>,
    /// The stable name of the kind, the `kind` field of the tracing event.
    pub(crate) kind: &'static str,
    /// The description; `{}` stands for the parameter.
    pub(crate) description: &'static str,
    /// What the description quotes: the layer's own configuration, never the token's content.
    pub(crate) parameter: Option<&'a str>,
    /// When the kind is answered: the first column of the table in the docs, which a test
    /// renders from the rows.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) when: &'static str,
}

impl AuthError {
    /// The error table: one arm per kind, no default, so a new kind cannot go unanswered.
    pub(crate) fn row(&self) -> Row<'_> {
        match self {
            Self::MissingAuthorizationHeader => Row {
                status: StatusCode::BAD_REQUEST,
                code: Some("invalid_request"),
                kind: "missing_authorization_header",
                description: "Authorization header not found.",
                parameter: None,
                when: "no `Authorization` header (header source)",
            },
            Self::MissingAuthCookie => Row {
                status: StatusCode::BAD_REQUEST,
                code: Some("invalid_request"),
                kind: "missing_auth_cookie",
                description: "Auth cookie not found.",
                parameter: None,
                when: "no auth cookie (cookie source)",
            },
            Self::MissingToken => Row {
                status: StatusCode::BAD_REQUEST,
                code: Some("invalid_request"),
                kind: "missing_token",
                description: "Token not found.",
                parameter: None,
                when: "no token in a query, named header, subprotocol or custom source",
            },
            Self::InvalidScheme => Row {
                status: StatusCode::BAD_REQUEST,
                code: Some("invalid_request"),
                kind: "invalid_scheme",
                description: "Expected a bearer token. Scheme is Authorization: Bearer <token>.",
                parameter: None,
                when: "`Authorization` is not `Bearer <b64token>`",
            },
            Self::MultipleTokens => Row {
                status: StatusCode::BAD_REQUEST,
                code: Some("invalid_request"),
                kind: "multiple_tokens",
                description: "Multiple tokens in request.",
                parameter: None,
                when: "two headers, two auth cookies, or a header and a cookie",
            },
            Self::Malformed => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "malformed",
                description: "jwt malformed",
                parameter: None,
                when: "not three base64url segments, or over the size cap",
            },
            Self::InvalidToken => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "invalid_token",
                description: "invalid token",
                parameter: None,
                when: "header or claims not a JSON object of the expected shape",
            },
            Self::InvalidAlgorithm => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "invalid_algorithm",
                description: "invalid algorithm",
                parameter: None,
                when: "`alg` `none`, unknown or not allowed for the key",
            },
            Self::MissingSignature => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "missing_signature",
                description: "jwt signature is required",
                parameter: None,
                when: "empty signature",
            },
            Self::InvalidSignature => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "invalid_signature",
                description: "invalid signature",
                parameter: None,
                when: "the signature does not verify",
            },
            Self::UnsupportedCritical => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "unsupported_critical",
                description: "jwt crit header not supported",
                parameter: None,
                when: "a `crit` header parameter",
            },
            Self::InvalidType { expected } => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "invalid_type",
                description: "jwt typ invalid. expected: {}",
                parameter: Some(expected.as_ref()),
                when: "`typ` not the expected one",
            },
            Self::MissingExpiration => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "missing_expiration",
                description: "jwt expiration required",
                parameter: None,
                when: "no `exp`",
            },
            Self::InvalidTimeClaim { claim } => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "invalid_time_claim",
                description: "invalid {} value",
                parameter: Some(*claim),
                when: "`exp`, `nbf` or `iat` not a number",
            },
            Self::Expired => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "expired",
                description: "jwt expired",
                parameter: None,
                when: "`exp` passed (beyond the leeway)",
            },
            Self::NotActive => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "not_active",
                description: "jwt not active",
                parameter: None,
                when: "`nbf` in the future",
            },
            Self::IssuedInFuture => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "issued_in_future",
                description: "jwt issued in the future",
                parameter: None,
                when: "`iat` in the future",
            },
            Self::MissingIssuedAt => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "missing_issued_at",
                description: "iat required when maxAge is specified",
                parameter: None,
                when: "`max_age` set, no `iat`",
            },
            Self::MaxAgeExceeded => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "max_age_exceeded",
                description: "maxAge exceeded",
                parameter: None,
                when: "older than `max_age`",
            },
            Self::LifetimeTooLong => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "lifetime_too_long",
                description: "jwt lifetime exceeds the maximum",
                parameter: None,
                when: "`exp` further than `max_lifetime` (default a year)",
            },
            Self::InvalidAudience { expected } => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "invalid_audience",
                description: "jwt audience invalid. expected: {}",
                parameter: Some(expected.as_ref()),
                when: "audience not accepted",
            },
            Self::InvalidIssuer { expected } => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "invalid_issuer",
                description: "jwt issuer invalid. expected: {}",
                parameter: Some(expected.as_ref()),
                when: "issuer not accepted",
            },
            Self::InvalidSubject { expected } => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "invalid_subject",
                description: "jwt subject invalid. expected: {}",
                parameter: Some(expected.as_ref()),
                when: "subject not the required one",
            },
            Self::MissingKid => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "missing_kid",
                description: "missing kid",
                parameter: None,
                when: "several keys and no `kid`",
            },
            Self::UnknownKid => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "unknown_kid",
                description: "invalid kid",
                parameter: None,
                when: "`kid` names no key",
            },
            Self::Revoked => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "revoked",
                description: "jwt revoked",
                parameter: None,
                when: "the revocation check says revoked",
            },
            Self::MissingSubject => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "missing_subject",
                description: "The token must include a subject which is the id of the user.",
                parameter: None,
                when: "user lookup, no string `sub`",
            },
            Self::UnknownSubject => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "unknown_subject",
                description: "The token subject does not match any user.",
                parameter: None,
                when: "user lookup found no user",
            },
            Self::InvalidDpopProof(error) => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_dpop_proof"),
                kind: "invalid_dpop_proof",
                description: "invalid DPoP proof: {}",
                parameter: Some(error.reason()),
                when: "a `DPoP` token's proof missing, doubled, or failing a check (`DPoP` challenge)",
            },
            Self::UseDpopNonce => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("use_dpop_nonce"),
                kind: "use_dpop_nonce",
                description: "DPoP proof nonce required",
                parameter: None,
                when: "nonces required and the proof's is missing or stale (`DPoP-Nonce` header)",
            },
            Self::DpopKeyMismatch => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "dpop_key_mismatch",
                description: "DPoP key binding invalid",
                parameter: None,
                when: "a `DPoP` token whose `cnf.jkt` is not the proof's key",
            },
            Self::DpopBoundToken => Row {
                status: StatusCode::UNAUTHORIZED,
                code: Some("invalid_token"),
                kind: "dpop_bound_token",
                description: "jwt bound to a DPoP key",
                parameter: None,
                when: "a token with `cnf.jkt` presented as a bearer token",
            },
            Self::DpopRequired => Row {
                status: StatusCode::BAD_REQUEST,
                code: Some("invalid_request"),
                kind: "dpop_required",
                description: "Expected a DPoP token. Scheme is Authorization: DPoP <token>.",
                parameter: None,
                when: "DPoP required and the token came under another scheme or source",
            },
            Self::Unauthenticated => Row {
                status: StatusCode::UNAUTHORIZED,
                code: None,
                kind: "unauthenticated",
                description: "Authentication required.",
                parameter: None,
                when: "no verified claims where some are required (body code `unauthorized`)",
            },
            Self::InsufficientScope { .. } => Row {
                status: StatusCode::FORBIDDEN,
                code: Some("insufficient_scope"),
                kind: "insufficient_scope",
                description: "Insufficient scope.",
                parameter: None,
                when: "a guard's scope missing (challenge with `scope`)",
            },
            Self::InsufficientRole => Row {
                status: StatusCode::FORBIDDEN,
                code: Some("insufficient_scope"),
                kind: "insufficient_role",
                description: "Insufficient role.",
                parameter: None,
                when: "a guard's role missing",
            },
            Self::InsufficientClaims => Row {
                status: StatusCode::FORBIDDEN,
                code: Some("insufficient_scope"),
                kind: "insufficient_claims",
                description: "Insufficient claims.",
                parameter: None,
                when: "a claims predicate refused",
            },
            Self::InvalidCsrfToken => Row {
                status: StatusCode::FORBIDDEN,
                code: Some("invalid_csrf_token"),
                kind: "invalid_csrf_token",
                description: "CSRF token missing or incorrect.",
                parameter: None,
                when: "unsafe cookie request without the session's CSRF token (no challenge)",
            },
            Self::BackendUnavailable => Row {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: Some("temporarily_unavailable"),
                kind: "backend_unavailable",
                description: "Authentication backend unavailable.",
                parameter: None,
                when: "revocation store or user lookup failed or timed out (`Retry-After`)",
            },
            Self::KeyUnavailable => Row {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: None,
                kind: "key_unavailable",
                description: "Internal server error.",
                parameter: None,
                when: "no key could be resolved: a server misconfiguration (empty body)",
            },
            Self::Misconfigured => Row {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: None,
                kind: "misconfigured",
                description: "Internal server error.",
                parameter: None,
                when: "a guard or extractor of another claims type, or with no layer in front (empty body)",
            },
        }
    }

    /// The HTTP status this kind is answered with.
    pub fn status(&self) -> StatusCode {
        self.row().status
    }

    /// The RFC 6750 error code (`invalid_request`, `invalid_token`), or `None` where the response
    /// carries no code.
    pub fn code(&self) -> Option<&'static str> {
        self.row().code
    }

    /// The human-readable description, as in the FoalTS table.
    pub fn description(&self) -> Cow<'static, str> {
        let row = self.row();
        match row.parameter {
            Some(parameter) => row.description.replacen("{}", parameter, 1).into(),
            None => Cow::Borrowed(row.description),
        }
    }

    /// A short stable name of the kind, used as the `kind` field of the tracing event.
    pub fn kind_name(&self) -> &'static str {
        self.row().kind
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

/// Logs, at DEBUG, why `error` is the verdict, and returns it. For the operator only: the client
/// gets the table's row. Never the token, nor a claim value that could be a secret: only the
/// layer's configuration, time claims, and header parameters and issuer or audience names
/// (public identifiers), these through [`Shown`].
pub(crate) fn explained(error: AuthError, why: fmt::Arguments<'_>) -> AuthError {
    tracing::debug!(target: "tower_jwt_auth", kind = error.kind_name(), "token refused: {why}");
    error
}

/// A value from the token in a log line: quoted and escaped (no line breaks nor control
/// characters reach the log), and cut after 64 characters.
pub(crate) struct Shown<'a>(pub(crate) &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = first_chars(self.0);
        write!(f, "{head:?}")?;
        if head.len() < self.0.len() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// The first 64 characters of a value from the token: as much of it as a log or a trace shows.
pub(crate) fn first_chars(value: &str) -> &str {
    const MOST: usize = 64;
    match value.char_indices().nth(MOST) {
        Some((end, _)) => &value[..end],
        None => value,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of each kind; the match makes a new kind a compile error here until it is
    /// listed.
    fn every_kind() -> Vec<AuthError> {
        let expected: Arc<str> = "<configured>".into();
        let all = vec![
            AuthError::MissingAuthorizationHeader,
            AuthError::MissingAuthCookie,
            AuthError::MissingToken,
            AuthError::InvalidScheme,
            AuthError::MultipleTokens,
            AuthError::Malformed,
            AuthError::InvalidToken,
            AuthError::InvalidAlgorithm,
            AuthError::MissingSignature,
            AuthError::InvalidSignature,
            AuthError::UnsupportedCritical,
            AuthError::InvalidType {
                expected: expected.clone(),
            },
            AuthError::MissingExpiration,
            AuthError::InvalidTimeClaim { claim: "exp" },
            AuthError::Expired,
            AuthError::NotActive,
            AuthError::IssuedInFuture,
            AuthError::MissingIssuedAt,
            AuthError::MaxAgeExceeded,
            AuthError::LifetimeTooLong,
            AuthError::InvalidAudience {
                expected: expected.clone(),
            },
            AuthError::InvalidIssuer {
                expected: expected.clone(),
            },
            AuthError::InvalidSubject { expected },
            AuthError::MissingKid,
            AuthError::UnknownKid,
            AuthError::Revoked,
            AuthError::MissingSubject,
            AuthError::UnknownSubject,
            AuthError::Unauthenticated,
            AuthError::InsufficientScope {
                required: "users:read".into(),
            },
            AuthError::InsufficientRole,
            AuthError::InsufficientClaims,
            AuthError::InvalidCsrfToken,
            AuthError::BackendUnavailable,
            AuthError::KeyUnavailable,
            AuthError::Misconfigured,
            AuthError::InvalidDpopProof(crate::dpop::DpopError::Replayed),
            AuthError::UseDpopNonce,
            AuthError::DpopKeyMismatch,
            AuthError::DpopBoundToken,
            AuthError::DpopRequired,
        ];
        for error in &all {
            match error {
                AuthError::MissingAuthorizationHeader
                | AuthError::MissingAuthCookie
                | AuthError::MissingToken
                | AuthError::InvalidScheme
                | AuthError::MultipleTokens
                | AuthError::Malformed
                | AuthError::InvalidToken
                | AuthError::InvalidAlgorithm
                | AuthError::MissingSignature
                | AuthError::InvalidSignature
                | AuthError::UnsupportedCritical
                | AuthError::InvalidType { .. }
                | AuthError::MissingExpiration
                | AuthError::InvalidTimeClaim { .. }
                | AuthError::Expired
                | AuthError::NotActive
                | AuthError::IssuedInFuture
                | AuthError::MissingIssuedAt
                | AuthError::MaxAgeExceeded
                | AuthError::LifetimeTooLong
                | AuthError::InvalidAudience { .. }
                | AuthError::InvalidIssuer { .. }
                | AuthError::InvalidSubject { .. }
                | AuthError::MissingKid
                | AuthError::UnknownKid
                | AuthError::Revoked
                | AuthError::MissingSubject
                | AuthError::UnknownSubject
                | AuthError::Unauthenticated
                | AuthError::InsufficientScope { .. }
                | AuthError::InsufficientRole
                | AuthError::InsufficientClaims
                | AuthError::InvalidCsrfToken
                | AuthError::BackendUnavailable
                | AuthError::KeyUnavailable
                | AuthError::Misconfigured
                | AuthError::InvalidDpopProof(_)
                | AuthError::UseDpopNonce
                | AuthError::DpopKeyMismatch
                | AuthError::DpopBoundToken
                | AuthError::DpopRequired => {}
            }
        }
        all
    }

    /// The table in `AuthError`'s docs, from the rows themselves.
    fn rendered_table() -> String {
        let mut table = String::from("| when | status | code | description |\n|---|---|---|---|\n");
        for error in every_kind() {
            let row = error.row();
            let code = row.code.map_or("—".to_owned(), |code| format!("`{code}`"));
            let description = row.description.replace("{}", "…");
            table.push_str(&format!(
                "| {} | {} | {code} | `{description}` |\n",
                row.when,
                row.status.as_u16(),
            ));
        }
        table
    }

    #[test]
    fn the_documented_table_is_the_error_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/error/table.md");
        let documented = std::fs::read_to_string(path).unwrap_or_default();
        let rendered = rendered_table();
        if documented != rendered {
            if std::env::var_os("UPDATE_ERROR_TABLE").is_some() {
                std::fs::write(path, &rendered).unwrap();
            }
            panic!(
                "src/error/table.md is not the error table; run the test with \
                 UPDATE_ERROR_TABLE=1 to rewrite it:\n{rendered}"
            );
        }
    }

    #[test]
    fn every_kind_has_its_own_name() {
        let mut names: Vec<&str> = every_kind().iter().map(AuthError::kind_name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
