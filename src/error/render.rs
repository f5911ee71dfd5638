//! Rendering an [`AuthError`]: the JSON body and the RFC 6750 challenge by default, or the
//! user's [`ErrorHandler`].

use std::sync::Arc;

use axum_core::body::Body;
use axum_core::response::Response;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

use super::{AuthError, RETRY_AFTER_SECS};

impl AuthError {
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
        let mut response = if status == StatusCode::INTERNAL_SERVER_ERROR {
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
