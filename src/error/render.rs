//! Rendering an [`AuthError`]: the JSON body and the RFC 6750 challenge by default, or the
//! user's [`ErrorHandler`].

use std::sync::Arc;

use axum_core::body::Body;
use axum_core::response::Response;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

use super::{AuthError, RETRY_AFTER_SECS};
use crate::dpop::{DPOP_NONCE, DpopVerifier};
use crate::request::RequestHead;

impl AuthError {
    /// The `WWW-Authenticate` challenge for this kind, or `None` for server errors.
    ///
    /// `realm`, when given, is sent first, as in `Bearer realm="api", error="invalid_token", …`.
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        self.challenge_with(&Challenge {
            realm,
            ..Challenge::default()
        })
    }

    /// The `Bearer` challenge with every parameter the layer may send.
    fn challenge_with(&self, params: &Challenge<'_>) -> Option<HeaderValue> {
        self.scheme_challenge("Bearer", params, true, None)
    }

    /// One scheme's challenge; `with_error` says whether the error's code, description and
    /// scope go in it (when two schemes are offered, only the one the request used carries
    /// them), `algs` are DPoP's (RFC 9449 §7.1).
    fn scheme_challenge(
        &self,
        scheme: &str,
        params: &Challenge<'_>,
        with_error: bool,
        algs: Option<&str>,
    ) -> Option<HeaderValue> {
        if self.status().is_server_error() || *self == Self::InvalidCsrfToken {
            return None;
        }
        let mut value = String::from(scheme);
        let mut separator = " ";
        if let Some(realm) = params.realm {
            push_param(&mut value, separator, "realm", realm);
            separator = ", ";
        }
        if with_error && let Some(code) = self.code() {
            push_param(&mut value, separator, "error", code);
            push_param(&mut value, ", ", "error_description", &self.description());
            separator = ", ";
            if let Self::InsufficientScope { required } = self {
                push_param(&mut value, ", ", "scope", required);
            }
        }
        if let Some(algs) = algs {
            push_param(&mut value, separator, "algs", algs);
            separator = ", ";
        }
        if let Some(url) = params.resource_metadata {
            push_param(&mut value, separator, "resource_metadata", url);
        }
        // Every byte pushed above is visible ASCII or a space, so this cannot fail.
        HeaderValue::from_str(&value).ok()
    }

    /// Appends the challenges `params` call for: `Bearer` alone without DPoP; with DPoP, a
    /// `DPoP` challenge too (alone when DPoP is required), the error in the one of the scheme
    /// the request used, or that the error is about.
    fn append_challenges(&self, params: &Challenge<'_>, headers: &mut http::HeaderMap) {
        let Some(dpop) = params.dpop else {
            if let Some(challenge) = self.challenge_with(params) {
                headers.append(WWW_AUTHENTICATE, challenge);
            }
            return;
        };
        let error_in_dpop = match self {
            Self::InvalidDpopProof(_)
            | Self::UseDpopNonce
            | Self::DpopKeyMismatch
            | Self::DpopRequired => true,
            Self::DpopBoundToken => false,
            _ => params.dpop_request || !dpop.bearer_too,
        };
        if dpop.bearer_too
            && let Some(challenge) = self.scheme_challenge("Bearer", params, !error_in_dpop, None)
        {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
        let algs = Some(&*dpop.algs);
        if let Some(challenge) = self.scheme_challenge("DPoP", params, error_in_dpop, algs) {
            headers.append(WWW_AUTHENTICATE, challenge);
            // Every DPoP challenge of a layer that requires nonces gives the current one, so a
            // client refused for another reason need not be refused once more for lack of it.
            if let Some(nonce) = dpop.nonces.as_ref().and_then(DpopVerifier::nonce)
                && let Ok(nonce) = HeaderValue::from_str(&nonce)
            {
                headers.insert(DPOP_NONCE, nonce);
            }
        }
    }

    /// Renders this error the default way: the status, a JSON `{"code","description"}` body
    /// (none for server errors) and the challenge header.
    pub fn to_response(&self, realm: Option<&str>) -> Response {
        self.response_with(&Challenge {
            realm,
            ..Challenge::default()
        })
    }

    fn response_with(&self, params: &Challenge<'_>) -> Response {
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
        self.append_challenges(params, response.headers_mut());
        response
    }

    /// The gRPC status code this kind is answered with: 16 `UNAUTHENTICATED` for the 400 and
    /// 401 rows, 7 `PERMISSION_DENIED` for the 403 rows, 14 `UNAVAILABLE` for the 503, 13
    /// `INTERNAL` for the 500s.
    pub fn grpc_code(&self) -> u8 {
        match self.status().as_u16() {
            403 => 7,
            503 => 14,
            500..=599 => 13,
            _ => 16,
        }
    }

    /// Renders this error as a gRPC answer: HTTP 200, `grpc-status` and the percent-encoded
    /// `grpc-message` (the table's description) in the headers of an empty body (a
    /// "Trailers-Only" response, which HTTP/2 and gRPC-Web clients read alike), the
    /// `WWW-Authenticate` challenge and the 503's `Retry-After` kept as metadata.
    pub fn to_grpc_response(&self, realm: Option<&str>) -> Response {
        let params = Challenge {
            realm,
            ..Challenge::default()
        };
        self.grpc_response(&params, None)
    }

    fn grpc_response(
        &self,
        params: &Challenge<'_>,
        content_type: Option<&HeaderValue>,
    ) -> Response {
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        let content_type = content_type
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("application/grpc"));
        headers.insert(CONTENT_TYPE, content_type);
        headers.insert(
            "grpc-status",
            HeaderValue::from(u16::from(self.grpc_code())),
        );
        // Percent-encoded bytes are visible ASCII: this cannot fail.
        if let Ok(message) = HeaderValue::from_str(&grpc_message(&self.description())) {
            headers.insert("grpc-message", message);
        }
        self.append_challenges(params, headers);
        if *self == Self::BackendUnavailable {
            headers.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }

    /// Renders this error for `request` the default way: as a gRPC answer for a gRPC call
    /// ([`to_grpc_response`](Self::to_grpc_response), echoing its `content-type`), else as
    /// [`to_response`](Self::to_response) does.
    pub fn to_response_for(&self, request: &RequestHead<'_>, realm: Option<&str>) -> Response {
        let params = Challenge {
            realm,
            ..Challenge::default()
        };
        self.response_for_with(request, &params)
    }

    fn response_for_with(&self, request: &RequestHead<'_>, params: &Challenge<'_>) -> Response {
        match request.grpc_content_type() {
            Some(content_type) => self.grpc_response(params, Some(content_type)),
            None => self.response_with(params),
        }
    }
}

/// The gRPC spec's percent-encoding of a status message: every byte outside `%x20-7E`, and `%`
/// itself, as `%XX`.
fn grpc_message(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
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

/// Renders an [`AuthError`] into a response, replacing the default rendering, for the layer
/// and the guards behind it.
///
/// Implemented for every `Fn(&AuthError, &RequestHead<'_>) -> Response + Send + Sync +
/// 'static`. The request's head tells a gRPC call ([`RequestHead::is_grpc`]) from a browser;
/// [`AuthError::to_response_for`] is the default rendering to fall back on, and
/// [`AuthError::status`] and [`AuthError::challenge`] keep the status and challenge it would
/// have sent. [`Response`] and [`Body`] are re-exported here, so no dependency on `axum-core`
/// is needed.
///
/// ```
/// use tower_jwt_auth::error::{Body, RequestHead, Response};
/// use tower_jwt_auth::{AuthError, JwtLayer, Key};
///
/// let layer = JwtLayer::builder()
///     .key(Key::hmac(b"an example secret that is 32 bytes+"))
///     .error_handler(|error: &AuthError, request: &RequestHead<'_>| -> Response {
///         if request.is_grpc() {
///             return error.to_response_for(request, None);
///         }
///         let mut response = Response::new(Body::from(format!("denied: {error}")));
///         *response.status_mut() = error.status();
///         response
///     })
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
pub trait ErrorHandler: Send + Sync + 'static {
    /// Builds the response for `error`, refusing `request`.
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response;
}

impl<F> ErrorHandler for F
where
    F: Fn(&AuthError, &RequestHead<'_>) -> Response + Send + Sync + 'static,
{
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response {
        self(error, request)
    }
}

/// A layer's rendering, put into the extensions of the requests it lets through when it is not
/// the default one (an [`ErrorHandler`] or a realm is configured), so the guards behind the
/// layer answer in the same format and with the same challenge.
#[derive(Clone)]
pub(crate) struct Rendering(pub(crate) Arc<dyn ErrorHandler>);

impl Rendering {
    /// Renders `error` the way the layer in front of `request` would, or by default.
    pub(crate) fn of<B>(request: &http::Request<B>, error: &AuthError) -> Response {
        let head = RequestHead::of(request);
        match request.extensions().get::<Self>() {
            Some(Self(handler)) => handler.render(error, &head),
            None => error.to_response_for(&head, None),
        }
    }
}

/// The rendering used when no [`ErrorHandler`] is set: [`AuthError::to_response`] with the
/// configured realm.
#[derive(Clone, Debug, Default)]
pub(crate) struct DefaultErrorHandler {
    pub(crate) realm: Option<Arc<str>>,
    /// The URL of the resource's metadata (RFC 9728), sent in every challenge.
    pub(crate) resource_metadata: Option<Arc<str>>,
    /// Set when the layer takes DPoP tokens.
    pub(crate) dpop: Option<DpopChallenge>,
}

impl ErrorHandler for DefaultErrorHandler {
    fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Response {
        let params = Challenge {
            realm: self.realm.as_deref(),
            resource_metadata: self.resource_metadata.as_deref(),
            dpop: self.dpop.as_ref(),
            dpop_request: self.dpop.is_some() && uses_dpop_scheme(request),
        };
        error.response_for_with(request, &params)
    }
}

/// The parameters of a challenge beyond the error's own.
#[derive(Default)]
struct Challenge<'a> {
    realm: Option<&'a str>,
    resource_metadata: Option<&'a str>,
    /// Set when the layer takes DPoP tokens.
    dpop: Option<&'a DpopChallenge>,
    /// Whether the request's `Authorization` header uses the `DPoP` scheme.
    dpop_request: bool,
}

/// What a layer that takes DPoP tokens says in its challenges.
#[derive(Clone, Debug)]
pub(crate) struct DpopChallenge {
    /// The proof algorithms, space separated (`algs`).
    pub(crate) algs: Arc<str>,
    /// Whether bearer tokens are taken too, so a `Bearer` challenge is offered as well.
    pub(crate) bearer_too: bool,
    /// The verifier, when it requires nonces: the challenges give the current one.
    pub(crate) nonces: Option<DpopVerifier>,
}

/// Whether `request` presents its token under the `DPoP` scheme.
fn uses_dpop_scheme(request: &RequestHead<'_>) -> bool {
    request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().trim_ascii_start().get(..5))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"dpop "))
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
    fn the_metadata_url_follows_the_other_parameters_or_the_bare_scheme() {
        let url = "https://api.example.com/.well-known/oauth-protected-resource";
        let with = |realm| Challenge {
            realm,
            resource_metadata: Some(url),
            ..Challenge::default()
        };
        assert_eq!(
            AuthError::Unauthenticated
                .challenge_with(&with(None))
                .unwrap(),
            format!(r#"Bearer resource_metadata="{url}""#).as_str()
        );
        assert_eq!(
            AuthError::Unauthenticated
                .challenge_with(&with(Some("api")))
                .unwrap(),
            format!(r#"Bearer realm="api", resource_metadata="{url}""#).as_str()
        );
        assert_eq!(
            AuthError::Revoked.challenge_with(&with(None)).unwrap(),
            format!(
                r#"Bearer error="invalid_token", error_description="jwt revoked", resource_metadata="{url}""#
            )
            .as_str()
        );
        assert!(
            AuthError::BackendUnavailable
                .challenge_with(&with(None))
                .is_none()
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
    fn grpc_codes_follow_the_status() {
        for (error, code) in [
            (AuthError::MissingAuthorizationHeader, 16),
            (AuthError::Expired, 16),
            (AuthError::Unauthenticated, 16),
            (AuthError::InsufficientRole, 7),
            (AuthError::InvalidCsrfToken, 7),
            (AuthError::BackendUnavailable, 14),
            (AuthError::KeyUnavailable, 13),
            (AuthError::Misconfigured, 13),
        ] {
            assert_eq!(error.grpc_code(), code, "{error:?}");
        }
    }

    #[test]
    fn grpc_messages_are_percent_encoded_as_the_spec_says() {
        assert_eq!(grpc_message("jwt expired"), "jwt expired");
        assert_eq!(grpc_message("100% s\u{fb}r\n"), "100%25 s%C3%BBr%0A");
    }

    #[test]
    fn a_grpc_call_gets_a_trailers_only_answer_in_its_content_type() {
        let (method, uri) = (http::Method::POST, http::Uri::from_static("/pkg.Svc/Call"));
        for content_type in ["application/grpc", "application/grpc-web+proto"] {
            let mut headers = http::HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            let head = RequestHead::new(&method, &uri, &headers);
            let response = AuthError::Expired.to_response_for(&head, Some("api"));
            assert_eq!(response.status(), StatusCode::OK);
            let headers = response.headers();
            assert_eq!(headers[CONTENT_TYPE], content_type);
            assert_eq!(headers["grpc-status"], "16");
            assert_eq!(headers["grpc-message"], "jwt expired");
            assert_eq!(
                headers[WWW_AUTHENTICATE],
                r#"Bearer realm="api", error="invalid_token", error_description="jwt expired""#
            );
        }
        let headers = http::HeaderMap::new();
        let plain =
            AuthError::Expired.to_response_for(&RequestHead::new(&method, &uri, &headers), None);
        assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn server_errors_have_no_challenge() {
        assert!(AuthError::KeyUnavailable.challenge(Some("api")).is_none());
    }
}
