//! Session cookies set by handlers, renewed on the way out, and guarded against CSRF.
//!
//! A handler returns [`SetSession`] or [`ClearSession`] (as a response part, or in the
//! response's extensions); the [`JwtLayer`](crate::JwtLayer) configured with
//! [`session`](crate::layer::JwtLayerBuilder::session) signs the claims with its
//! [`JwtIssuer`] and writes the auth cookie, or clears it. Next to the HttpOnly auth cookie it
//! writes a readable `XSRF-TOKEN` cookie: the double-submit token that unsafe requests
//! authenticated by the cookie must echo in `X-CSRF-Token` or `X-XSRF-Token`.
//!
//! The CSRF token is an HMAC of the session token's `jti` (of the whole token when it has
//! none), so it is bound to that session, changes with it, and needs no server-side state.

use std::convert::Infallible;
use std::fmt;

use axum_core::response::{
    IntoResponse, IntoResponseParts, Response as AxumResponse, ResponseParts,
};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::issuer::JwtIssuer;
use crate::source::{BearerToken, DEFAULT_COOKIE_NAME, is_valid_cookie_name};

mod csrf;

pub use csrf::{CSRF_HEADERS, DEFAULT_CSRF_COOKIE_NAME};
pub(crate) use csrf::{CsrfKey, binding, is_unsafe};

/// The `SameSite` attribute of the session cookies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SameSite {
    /// Sent only with same-site requests.
    Strict,
    /// Also sent with top-level navigations from other sites (the default).
    #[default]
    Lax,
    /// Sent with every request; requires `Secure`.
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

/// How the layer writes the session cookies: `auth=<jwt>; HttpOnly; Secure; SameSite=Lax;
/// Path=/; Max-Age=<lifetime>` by default, and the `XSRF-TOKEN` cookie beside it.
#[derive(Clone)]
#[must_use = "a cookie configuration does nothing until given to the layer"]
pub struct SessionCookie {
    name: String,
    path: String,
    domain: Option<String>,
    secure: bool,
    same_site: SameSite,
    sliding: Option<f64>,
    csrf_cookie: String,
}

impl Default for SessionCookie {
    fn default() -> Self {
        Self {
            name: DEFAULT_COOKIE_NAME.to_owned(),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            same_site: SameSite::Lax,
            sliding: None,
            csrf_cookie: DEFAULT_CSRF_COOKIE_NAME.to_owned(),
        }
    }
}

impl fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCookie")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("secure", &self.secure)
            .field("same_site", &self.same_site)
            .field("sliding", &self.sliding)
            .field("csrf_cookie", &self.csrf_cookie)
            .finish()
    }
}

impl SessionCookie {
    /// The defaults: cookie `auth`, `Path=/`, `Secure`, `SameSite=Lax`, no sliding renewal.
    pub fn new() -> Self {
        Self::default()
    }

    /// The auth cookie's name (default `auth`). Use the same name in the layer's
    /// [`TokenSource`](crate::TokenSource).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The `Path` attribute (default `/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// A `Domain` attribute (none by default: the cookie goes to the exact host only).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The `SameSite` attribute (default `Lax`).
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Drops the `Secure` attribute, for plain-http development only: the browser would then
    /// send the session over unencrypted connections. Building logs a warning. (Browsers
    /// accept `Secure` cookies from `http://localhost` already.)
    pub fn insecure(mut self) -> Self {
        self.secure = false;
        self
    }

    /// Sliding sessions: once a cookie's token has used up `share` of its lifetime (say `0.5`),
    /// the layer re-issues it on the way out, with the same claims and a new `exp` and `jti`.
    /// `share` must lie strictly between 0 and 1.
    pub fn sliding(mut self, share: f64) -> Self {
        self.sliding = Some(share);
        self
    }

    /// The readable CSRF cookie's name (default `XSRF-TOKEN`).
    pub fn csrf_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.csrf_cookie = name.into();
        self
    }

    pub(crate) fn auth_cookie_name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let attribute = |value: &str| {
            !value.is_empty()
                && value
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        };
        if !is_valid_cookie_name(&self.name) || !is_valid_cookie_name(&self.csrf_cookie) {
            return Err(ConfigError::InvalidCookieName);
        }
        if !attribute(&self.path) || !self.path.starts_with('/') {
            return Err(ConfigError::InvalidSessionCookie("path"));
        }
        if self
            .domain
            .as_deref()
            .is_some_and(|domain| !attribute(domain))
        {
            return Err(ConfigError::InvalidSessionCookie("domain"));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::InvalidSessionCookie(
                "SameSite=None without Secure",
            ));
        }
        if self
            .sliding
            .is_some_and(|share| !(share > 0.0 && share < 1.0))
        {
            return Err(ConfigError::InvalidSessionCookie("sliding share"));
        }
        Ok(())
    }

    /// `name=value` and the attributes, in a fixed order.
    fn render(&self, name: &str, value: &str, http_only: bool, max_age: u64) -> String {
        let mut cookie = format!("{name}={value}");
        if http_only {
            cookie.push_str("; HttpOnly");
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie.push_str("; SameSite=");
        cookie.push_str(self.same_site.as_str());
        cookie.push_str("; Path=");
        cookie.push_str(&self.path);
        if let Some(domain) = &self.domain {
            cookie.push_str("; Domain=");
            cookie.push_str(domain);
        }
        cookie.push_str(&format!("; Max-Age={max_age}"));
        cookie
    }
}

/// Response part: sign these claims into the session cookie. The layer's
/// [`JwtIssuer`] sets `iat`, `exp`, `jti` (and `iss`, `aud` when configured).
///
/// ```
/// use axum::Json;
/// use serde_json::json;
/// use tower_jwt_auth::session::SetSession;
///
/// async fn login() -> (SetSession, Json<serde_json::Value>) {
///     let claims = json!({ "sub": "alice", "roles": ["user"] });
///     (SetSession::new(&claims), Json(json!({ "ok": true })))
/// }
/// ```
///
/// Claims that do not serialize to a JSON object make the layer answer 500 (and log why):
/// a programming error, not the client's.
#[derive(Clone)]
pub struct SetSession {
    claims: Result<Map<String, Value>, String>,
}

impl SetSession {
    /// The claims of the session to start.
    pub fn new(claims: &impl Serialize) -> Self {
        let claims = match serde_json::to_value(claims) {
            Ok(Value::Object(claims)) => Ok(claims),
            Ok(_) => Err("the session claims are not a JSON object".to_owned()),
            Err(error) => Err(format!("the session claims do not serialize: {error}")),
        };
        Self { claims }
    }
}

impl fmt::Debug for SetSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetSession").finish_non_exhaustive()
    }
}

impl IntoResponseParts for SetSession {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// On its own: an empty 200 that starts the session.
impl IntoResponse for SetSession {
    fn into_response(self) -> AxumResponse {
        (self, ()).into_response()
    }
}

/// Response part: clear the session cookies (`Max-Age=0`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClearSession;

/// On its own: an empty 200 that ends the session.
impl IntoResponse for ClearSession {
    fn into_response(self) -> AxumResponse {
        (self, ()).into_response()
    }
}

impl IntoResponseParts for ClearSession {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// The layer's session configuration, built once.
pub(crate) struct CookieSessions {
    issuer: JwtIssuer,
    cookie: SessionCookie,
    csrf: CsrfKey,
}

impl CookieSessions {
    pub(crate) fn new(
        issuer: JwtIssuer,
        cookie: SessionCookie,
        csrf: CsrfKey,
    ) -> Result<Self, ConfigError> {
        cookie.validate()?;
        if !cookie.secure {
            tracing::warn!(
                target: "tower_jwt_auth",
                "session cookies without Secure: for plain-http development only"
            );
        }
        Ok(Self {
            issuer,
            cookie,
            csrf,
        })
    }

    /// Whether a cookie token with `exp` should be renewed now.
    pub(crate) fn due_for_renewal(&self, exp: f64, now: u64) -> bool {
        let Some(share) = self.cookie.sliding else {
            return false;
        };
        let lifetime = self.issuer.access_lifetime().as_secs_f64();
        exp - now as f64 <= (1.0 - share) * lifetime
    }

    /// Writes, clears or renews the session cookies on the way out. An error means the session
    /// the handler asked for cannot be issued: the caller answers 500 instead.
    pub(crate) fn apply<B>(
        &self,
        response: &mut Response<B>,
        renew: Option<&BearerToken>,
    ) -> Result<(), SessionFailure> {
        let extensions = response.extensions_mut();
        let set = extensions.remove::<SetSession>();
        let clear = extensions.remove::<ClearSession>();
        let claims = match (set, clear) {
            (_, Some(ClearSession)) => {
                self.clear(response.headers_mut());
                return Ok(());
            }
            (Some(SetSession { claims: Ok(claims) }), None) => claims,
            (Some(SetSession { claims: Err(cause) }), None) => return Err(fail(&cause)),
            (None, None) => match renew.and_then(|token| claims_of(token.as_str())) {
                // A refusal or a failure is no time to extend the session.
                Some(claims)
                    if response.status().is_success() || response.status().is_redirection() =>
                {
                    claims
                }
                _ => return Ok(()),
            },
        };
        match self.issuer.issue(&claims) {
            Ok(issued) => {
                let max_age = issued.expires_in().as_secs();
                let csrf = self.csrf.token(&binding(Some(&issued.jti), &issued.token));
                let headers = response.headers_mut();
                let name = &self.cookie.name;
                self.append(headers, name, &issued.token, true, max_age);
                self.append(headers, &self.cookie.csrf_cookie, &csrf, false, max_age);
                Ok(())
            }
            Err(error) => Err(fail(&error.to_string())),
        }
    }

    fn clear(&self, headers: &mut HeaderMap) {
        self.append(headers, &self.cookie.name, "", true, 0);
        self.append(headers, &self.cookie.csrf_cookie, "", false, 0);
    }

    fn append(&self, headers: &mut HeaderMap, name: &str, value: &str, http_only: bool, age: u64) {
        let cookie = self.cookie.render(name, value, http_only, age);
        // Names and attributes were validated at build, values are base64url: always valid.
        if let Ok(value) = HeaderValue::try_from(cookie) {
            headers.append(SET_COOKIE, value);
        }
    }
}

impl fmt::Debug for CookieSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieSessions")
            .field("issuer", &self.issuer)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

/// The claims of a verified token, to issue them again.
fn claims_of(token: &str) -> Option<Map<String, Value>> {
    let payload = crate::jws::decode_base64url(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice(&payload).ok()
}

/// A session the handler asked for cannot be signed: a server error, not the client's.
#[derive(Debug)]
pub(crate) struct SessionFailure;

fn fail(cause: &str) -> SessionFailure {
    tracing::error!(target: "tower_jwt_auth", %cause, "the session cookie could not be issued");
    SessionFailure
}
