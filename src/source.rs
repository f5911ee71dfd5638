//! Where a token comes from: the `Authorization` header, a cookie, a query parameter, a header
//! of the application's choice, the WebSocket subprotocol list, a closure, or several of these.
//!
//! The rules are strict on purpose. RFC 6750 §2 allows one method per request, so two
//! `Authorization` headers, two auth cookies, or tokens from two sources of a combination are
//! refused rather than guessed between. The header must read `Bearer <b64token>` (scheme
//! case-insensitive per RFC 9110 §11.1, one or more spaces, nothing else); every other source
//! must hold a `b64token` as it is (nothing is percent-decoded).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use cookie::Cookie;
use http::header::{AUTHORIZATION, CONNECTION, COOKIE, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::charset::{B64Token, ByteClass};
use crate::error::{AuthError, ConfigError, Shown, explained};
use crate::request::FromHead;
pub use crate::request::RequestHead;

/// The default name of the auth cookie, as in FoalTS.
pub const DEFAULT_COOKIE_NAME: &str = "auth";

/// The subprotocol that announces the token in `Sec-WebSocket-Protocol` by default.
pub const DEFAULT_WEBSOCKET_MARKER: &str = "access_token";

/// Where the layer looks for the token.
///
/// ```
/// use tower_jwt_auth::TokenSource;
///
/// // A browser's WebSocket cannot set `Authorization`: the query, on upgrades only, or the
/// // subprotocol list; API clients keep the header. A request with two tokens is refused.
/// let source = TokenSource::Header
///     .or(TokenSource::query_on_upgrades("access_token"))
///     .or(TokenSource::websocket_protocol());
/// # let _ = source;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>` (the default).
    #[default]
    Header,
    /// The cookie `name` (FoalTS `cookie: true`; the default name is `auth`).
    Cookie {
        /// The cookie's name.
        name: String,
    },
    /// The `Authorization` header or the cookie `name`; a request carrying both is refused.
    HeaderOrCookie {
        /// The cookie's name.
        name: String,
    },
    /// The query parameter `name` (`?access_token=<token>`), for clients that cannot set a
    /// header, such as a browser opening a WebSocket. Off unless configured: a URL ends up in
    /// access logs, proxy logs and browser history, and a page's URL in the `Referer` of the
    /// requests it makes, so a token there is exposed far more than in a header. Keep such
    /// tokens short-lived, and prefer [`query_on_upgrades`](Self::query_on_upgrades).
    Query {
        /// The parameter's name.
        name: String,
        /// Read only on WebSocket upgrade requests (`GET` with `Upgrade: websocket`).
        upgrades_only: bool,
    },
    /// The header `name` of the application's choice: `X-Api-Token: <token>`, or with a
    /// `scheme`, `X-Api-Token: <scheme> <token>` (scheme case-insensitive).
    NamedHeader {
        /// The header's name.
        name: String,
        /// The scheme before the token, if any.
        scheme: Option<String>,
    },
    /// The token as the subprotocol after `marker` in `Sec-WebSocket-Protocol`
    /// (`Sec-WebSocket-Protocol: access_token, <token>`), the way some browser clients send
    /// it. The handler must select `marker` in its answer (axum:
    /// `WebSocketUpgrade::protocols([marker])`), or the browser drops the connection.
    WebSocketProtocol {
        /// The subprotocol that announces the token.
        marker: String,
    },
    /// A closure of the application's, for anything else.
    Custom(CustomSource),
    /// Several sources: the token of the one that has one; a request in which two have one is
    /// refused (`MultipleTokens`).
    AnyOf(Vec<TokenSource>),
}

/// The closure of a [`TokenSource::Custom`]: it returns the request's token, or `None`.
#[derive(Clone)]
pub struct CustomSource(Arc<FromHead>);

impl fmt::Debug for CustomSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomSource(..)")
    }
}

/// The same closure, not one that behaves alike.
impl PartialEq for CustomSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CustomSource {}

impl TokenSource {
    /// The cookie `auth`.
    pub fn cookie() -> Self {
        Self::Cookie {
            name: DEFAULT_COOKIE_NAME.to_owned(),
        }
    }

    /// The `Authorization` header or the cookie `auth`.
    pub fn header_or_cookie() -> Self {
        Self::HeaderOrCookie {
            name: DEFAULT_COOKIE_NAME.to_owned(),
        }
    }

    /// The query parameter `name`, on every request (see [`TokenSource::Query`] for the risk).
    pub fn query(name: impl Into<String>) -> Self {
        Self::Query {
            name: name.into(),
            upgrades_only: false,
        }
    }

    /// The query parameter `name`, on WebSocket upgrade requests only.
    pub fn query_on_upgrades(name: impl Into<String>) -> Self {
        Self::Query {
            name: name.into(),
            upgrades_only: true,
        }
    }

    /// The header `name`, holding the token alone: `X-Api-Token: <token>`.
    pub fn named_header(name: impl Into<String>) -> Self {
        Self::NamedHeader {
            name: name.into(),
            scheme: None,
        }
    }

    /// The header `name`, holding `<scheme> <token>`: `X-Api-Token: Token <token>`.
    pub fn named_header_with_scheme(name: impl Into<String>, scheme: impl Into<String>) -> Self {
        Self::NamedHeader {
            name: name.into(),
            scheme: Some(scheme.into()),
        }
    }

    /// `Sec-WebSocket-Protocol: access_token, <token>`.
    pub fn websocket_protocol() -> Self {
        Self::WebSocketProtocol {
            marker: DEFAULT_WEBSOCKET_MARKER.to_owned(),
        }
    }

    /// The token `find` returns for a request's head, or none. It must be a `b64token` as it
    /// is (nothing is decoded); anything else is refused as malformed.
    pub fn custom<F>(find: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    {
        Self::Custom(CustomSource(Arc::new(find)))
    }

    /// Both sources: the token of the one that has one, and a refusal when both have one.
    pub fn or(self, other: Self) -> Self {
        let mut sources = match self {
            Self::AnyOf(sources) => sources,
            source => vec![source],
        };
        match other {
            Self::AnyOf(more) => sources.extend(more),
            source => sources.push(source),
        }
        Self::AnyOf(sources)
    }

    /// The cookie the token may be read from, if any.
    pub(crate) fn cookie_name(&self) -> Option<&str> {
        match self {
            Self::Cookie { name } | Self::HeaderOrCookie { name } => Some(name),
            Self::AnyOf(sources) => sources.iter().find_map(Self::cookie_name),
            _ => None,
        }
    }

    /// Refuses what can never find a token: an invalid header or cookie name, an empty query
    /// parameter name or marker, an empty combination.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |why: String| Err(ConfigError::InvalidTokenSource(why));
        match self {
            Self::Header => Ok(()),
            Self::Cookie { name } | Self::HeaderOrCookie { name } => {
                if is_valid_cookie_name(name) {
                    Ok(())
                } else {
                    Err(ConfigError::InvalidCookieName)
                }
            }
            Self::Query { name, .. } => {
                if name.is_empty() || name.contains(['&', '=', '#', ' ']) {
                    invalid(format!("{name:?} cannot be a query parameter's name"))
                } else {
                    Ok(())
                }
            }
            Self::NamedHeader { name, scheme } => {
                if HeaderName::try_from(name.as_str()).is_err() {
                    return invalid(format!("{name:?} is not a header name"));
                }
                match scheme {
                    Some(scheme) if !is_token(scheme) => {
                        invalid(format!("{scheme:?} is not an authentication scheme"))
                    }
                    _ => Ok(()),
                }
            }
            Self::WebSocketProtocol { marker } => {
                if is_token(marker) {
                    Ok(())
                } else {
                    invalid(format!("{marker:?} is not a subprotocol name"))
                }
            }
            Self::Custom(_) => Ok(()),
            Self::AnyOf(sources) if sources.is_empty() => {
                invalid("a combination of no source".to_owned())
            }
            Self::AnyOf(sources) => sources.iter().try_for_each(Self::validate),
        }
    }

    /// Whether this source reads the `Authorization` header, where DPoP tokens come.
    pub(crate) fn reads_authorization(&self) -> bool {
        match self {
            Self::Header | Self::HeaderOrCookie { .. } => true,
            Self::AnyOf(sources) => sources.iter().any(Self::reads_authorization),
            _ => false,
        }
    }

    /// The error for a request that carries no token at all.
    pub(crate) fn missing_error(&self) -> AuthError {
        match self {
            Self::Cookie { .. } => AuthError::MissingAuthCookie,
            Self::Header | Self::HeaderOrCookie { .. } => AuthError::MissingAuthorizationHeader,
            Self::AnyOf(sources) => sources
                .first()
                .map_or(AuthError::MissingToken, Self::missing_error),
            _ => AuthError::MissingToken,
        }
    }

    /// Finds the request's token, borrowed from the request where it can be. `Ok(None)` means
    /// no token is present at all.
    pub(crate) fn extract<'h>(
        &self,
        head: &RequestHead<'h>,
        max_len: usize,
    ) -> Result<Option<FoundToken<'h>>, AuthError> {
        match self.find(head)? {
            Some(token) if token.len() > max_len => Err(token.refusal(explained(
                AuthError::Malformed,
                format_args!(
                    "the token is {} bytes, over the {max_len}-byte cap",
                    token.len()
                ),
            ))),
            token => Ok(token),
        }
    }

    fn find<'h>(&self, head: &RequestHead<'h>) -> Result<Option<FoundToken<'h>>, AuthError> {
        let headers = head.headers();
        match self {
            Self::Header => from_authorization(headers),
            Self::Cookie { name } => from_cookie(headers, name),
            Self::HeaderOrCookie { name } => {
                let header = from_authorization(headers)?;
                // A header token that is not a b64token is refused for that first, whatever
                // the cookies hold.
                let refuse = |error| match &header {
                    Some(token) => token.refusal(error),
                    None => error,
                };
                match (&header, from_cookie(headers, name).map_err(refuse)?) {
                    (Some(_), Some(_)) => {
                        let error = explained(
                            AuthError::MultipleTokens,
                            format_args!("a token in both the Authorization header and a cookie"),
                        );
                        Err(refuse(error))
                    }
                    (_, cookie) => Ok(header.or(cookie)),
                }
            }
            Self::Query {
                name,
                upgrades_only,
            } => {
                if *upgrades_only && !is_websocket_upgrade(head) {
                    return Ok(None);
                }
                from_query(head.uri(), name)
            }
            Self::NamedHeader { name, scheme } => {
                from_named_header(headers, name, scheme.as_deref())
            }
            Self::WebSocketProtocol { marker } => from_websocket_protocol(headers, marker),
            Self::Custom(CustomSource(find)) => from_custom(find(head)),
            Self::AnyOf(sources) => {
                let mut found: Option<FoundToken<'h>> = None;
                for source in sources {
                    if let Some(token) = source.find(head)? {
                        if let Some(first) = &found {
                            let error = explained(
                                AuthError::MultipleTokens,
                                format_args!("tokens from two of the layer's sources"),
                            );
                            return Err(first.refusal(token.refusal(error)));
                        }
                        found = Some(token);
                    }
                }
                Ok(found)
            }
        }
    }
}

/// RFC 9110 `token`: what a scheme or a subprotocol name is made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `name` is a cookie name per RFC 6265: a non-empty token, visible ASCII without
/// separators.
pub(crate) fn is_valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// The raw token of an authenticated request, as it arrived.
///
/// Handed over only when the layer is built with
/// [`expose_token`](crate::layer::JwtLayerBuilder::expose_token): the layer then puts it into the
/// request extensions next to the claims, and handlers read it with the [`BearerToken`]
/// extractor (for example to pass it on to a service called on the user's behalf). It is also
/// part of [`TokenFacts`](crate::revocation::TokenFacts) when asynchronous checks are configured. It shares
/// the header's (or the URI's) bytes instead of copying them. Its `Debug` output is redacted so
/// it never reaches a log by accident.
#[derive(Clone)]
pub struct BearerToken {
    text: KeptText,
    range: Range<usize>,
    /// For verifying it again after a key refresh.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    origin: Origin,
}

/// What a kept token's bytes belong to. The URI is boxed: a `Uri` is twice a header value's
/// size, and a token is moved with every request that keeps one, while query tokens are rare.
#[derive(Clone)]
enum KeptText {
    Header(HeaderValue),
    Uri(Box<Uri>),
}

/// What a found token's bytes belong to: borrowed from the request, or made by a
/// [`TokenSource::custom`] closure.
#[derive(Clone)]
enum FoundText<'h> {
    Header(&'h HeaderValue),
    Uri(&'h Uri),
    Made(HeaderValue),
}

/// Where a token was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// `Authorization: Bearer`, whose syntax errors are `InvalidScheme`.
    Authorization,
    /// `Authorization: DPoP` (RFC 9449 §7.1): a token that comes with a proof.
    Dpop,
    /// A cookie: a request the browser may have sent on its own (CSRF), and a session the layer
    /// may renew.
    Cookie,
    /// Any other source.
    Other,
}

/// The bytes of a URI that a query token points into.
fn uri_text(uri: &Uri) -> &str {
    uri.path_and_query().map_or("", |path| path.as_str())
}

impl BearerToken {
    /// The token (`header.payload.signature`).
    pub fn as_str(&self) -> &str {
        let text = match &self.text {
            KeptText::Header(header) => header.as_bytes(),
            KeptText::Uri(uri) => uri_text(uri).as_bytes(),
        };
        let bytes = text.get(self.range.clone()).unwrap_or_default();
        // A kept token is one that verified, or is being verified again: ASCII.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// The token's length in bytes.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// Whether the token is empty (never true for a token the layer accepted).
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    /// The same token, borrowed, to be verified again (after a key refresh).
    #[cfg(feature = "jwks")]
    pub(crate) fn found(&self) -> FoundToken<'_> {
        FoundToken {
            text: match &self.text {
                KeptText::Header(header) => FoundText::Header(header),
                KeptText::Uri(uri) => FoundText::Uri(uri),
            },
            start: self.range.start,
            end: self.range.end,
            origin: self.origin,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(token: &str) -> Self {
        let header = HeaderValue::from_str(token).expect("test tokens are visible ASCII");
        Self {
            origin: Origin::Authorization,
            range: 0..header.len(),
            text: KeptText::Header(header),
        }
    }
}

/// A request's token, borrowed from the request while it is verified.
///
/// Most accepted requests need no token of their own afterwards (a cache hit compares bytes, the
/// claims are what handlers get), so the request's bytes are shared into an owned
/// [`BearerToken`] only where one is kept: see [`FoundToken::keep`].
#[derive(Clone)]
pub(crate) struct FoundToken<'h> {
    text: FoundText<'h>,
    start: usize,
    end: usize,
    origin: Origin,
}

impl<'h> FoundToken<'h> {
    /// `token` must be a view of `header`'s bytes.
    fn within(header: &'h HeaderValue, token: &str, origin: Origin) -> Option<Self> {
        let (start, end) = offsets(header.as_bytes(), token)?;
        Some(Self {
            text: FoundText::Header(header),
            start,
            end,
            origin,
        })
    }

    /// `token` must be a view of `uri`'s path and query.
    fn within_uri(uri: &'h Uri, token: &str) -> Option<Self> {
        let (start, end) = offsets(uri_text(uri).as_bytes(), token)?;
        Some(Self {
            text: FoundText::Uri(uri),
            start,
            end,
            origin: Origin::Other,
        })
    }

    /// The token, when it is UTF-8.
    pub(crate) fn as_str(&self) -> &str {
        // A token handed to handlers verified, so it is ASCII. Before that, a header token's
        // characters are unchecked: one that is not UTF-8 reads as "", which fails
        // verification, and the refusal is then `InvalidScheme` (see `refusal`).
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The token's bytes, which only verification tells apart from any header bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let text = match &self.text {
            FoundText::Header(header) => header.as_bytes(),
            FoundText::Uri(uri) => uri_text(uri).as_bytes(),
            FoundText::Made(made) => made.as_bytes(),
        };
        text.get(self.start..self.end).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the token came from a cookie.
    pub(crate) fn is_from_cookie(&self) -> bool {
        self.origin == Origin::Cookie
    }

    /// Whether the token came under the `DPoP` scheme, so a proof must come with it.
    pub(crate) fn is_dpop(&self) -> bool {
        self.origin == Origin::Dpop
    }

    /// How to refuse this token for `error`: RFC 6750 syntax comes first, so a token from the
    /// `Authorization` header that is not a `b64token` gets `InvalidScheme` (400) instead.
    ///
    /// The header's token is checked only here, once something failed: a token that verifies
    /// is three base64url segments and two dots, so a `b64token`, and checking every byte of
    /// every accepted token again would be wasted work. The other sources are checked when read.
    pub(crate) fn refusal(&self, error: AuthError) -> AuthError {
        if !matches!(self.origin, Origin::Authorization | Origin::Dpop)
            || is_b64token(self.as_bytes())
        {
            error
        } else {
            explained(
                AuthError::InvalidScheme,
                format_args!("the Authorization header's token has characters outside b64token"),
            )
        }
    }

    /// An owned token sharing the request's bytes (a reference count, no copy).
    pub(crate) fn keep(&self) -> BearerToken {
        BearerToken {
            text: match &self.text {
                FoundText::Header(header) => KeptText::Header((*header).clone()),
                FoundText::Uri(uri) => KeptText::Uri(Box::new((*uri).clone())),
                FoundText::Made(made) => KeptText::Header(made.clone()),
            },
            range: self.start..self.end,
            origin: self.origin,
        }
    }
}

/// Where `token`, a view of `text`, lies in it.
fn offsets(text: &[u8], token: &str) -> Option<(usize, usize)> {
    let start = (token.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(token.len())?;
    (end <= text.len()).then_some((start, end))
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

fn from_authorization(headers: &HeaderMap) -> Result<Option<FoundToken<'_>>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(explained(
            AuthError::MultipleTokens,
            format_args!("two Authorization headers"),
        ));
    }
    // On the bytes, and without looking at the token's characters yet: see
    // `FoundToken::refusal`. Whether the layer takes the DPoP scheme is the layer's to say.
    let (range, origin) = match locate_bearer(value.as_bytes()) {
        Some(range) => (range, Origin::Authorization),
        None => match locate_scheme(value.as_bytes(), b"dpop") {
            Some(range) => (range, Origin::Dpop),
            None => {
                return Err(explained(
                    AuthError::InvalidScheme,
                    format_args!("the Authorization header is not `Bearer <token>`"),
                ));
            }
        },
    };
    Ok(Some(FoundToken {
        text: FoundText::Header(value),
        start: range.start,
        end: range.end,
        origin,
    }))
}

/// `Bearer 1*SP b64token`, surrounding spaces and tabs ignored; returns where the token is.
#[cfg(test)]
fn parse_bearer(bytes: &[u8]) -> Option<Range<usize>> {
    let range = locate_bearer(bytes)?;
    is_b64token(&bytes[range.clone()]).then_some(range)
}

/// `Bearer 1*SP token`, surrounding spaces and tabs ignored; returns where the token is,
/// without checking that it is a `b64token`.
fn locate_bearer(bytes: &[u8]) -> Option<Range<usize>> {
    // What clients send: `Bearer <token>`, one space, nothing around it. Answered at once, the
    // same as the general rule would.
    if let Some([scheme @ .., b' ']) = bytes.get(..7)
        && scheme.eq_ignore_ascii_case(b"bearer")
        && bytes.get(7).is_some_and(|byte| !is_blank(byte))
        && bytes.last().is_some_and(|byte| !is_blank(byte))
    {
        return Some(7..bytes.len());
    }
    locate_bearer_generally(bytes)
}

fn is_blank(byte: &u8) -> bool {
    matches!(byte, b' ' | b'\t')
}

/// [`locate_bearer`] for any spacing.
fn locate_bearer_generally(bytes: &[u8]) -> Option<Range<usize>> {
    locate_scheme(bytes, b"bearer")
}

/// `<scheme> 1*SP token`, the scheme case-insensitive, surrounding spaces and tabs ignored;
/// returns where the token is, without checking that it is a `b64token`.
fn locate_scheme(bytes: &[u8], scheme: &[u8]) -> Option<Range<usize>> {
    let start = bytes.iter().position(|byte| !is_blank(byte))?;
    let end = bytes.iter().rposition(|byte| !is_blank(byte))? + 1;
    let text = &bytes[start..end];
    let space = text.iter().position(|&byte| byte == b' ')?;
    if !text[..space].eq_ignore_ascii_case(scheme) {
        return None;
    }
    let spaces = text[space..]
        .iter()
        .take_while(|&&byte| byte == b' ')
        .count();
    Some(start + space + spaces..end)
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&byte| byte == b'=').count();
    let body = &token[..token.len() - padding];
    !body.is_empty() && B64Token::contains_all(body)
}

fn from_cookie<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<FoundToken<'h>>, AuthError> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        // Each cookie is decoded on its own: one that is not UTF-8 cannot be ours, and the
        // cookies other applications of the site set are not ours to judge, so it must not hide
        // the auth cookie next to it.
        for piece in header.as_bytes().split(|&byte| byte == b';') {
            let Ok(text) = std::str::from_utf8(piece) else {
                continue;
            };
            let Ok(cookie) = Cookie::parse(text) else {
                continue;
            };
            if cookie.name() != name {
                continue;
            }
            let value = cookie.value_trimmed();
            if value.is_empty() {
                continue;
            }
            if found.is_some() {
                return Err(explained(
                    AuthError::MultipleTokens,
                    format_args!("two {} cookies", Shown(name)),
                ));
            }
            if !is_b64token(value.as_bytes()) {
                return Err(explained(
                    AuthError::Malformed,
                    format_args!("the {} cookie has characters outside b64token", Shown(name)),
                ));
            }
            found = Some(
                FoundToken::within(header, value, Origin::Cookie).ok_or(AuthError::Malformed)?,
            );
        }
    }
    Ok(found)
}

/// A WebSocket upgrade over HTTP/1.1: `GET` with `Upgrade: websocket` and `Connection: upgrade`.
fn is_websocket_upgrade(head: &RequestHead<'_>) -> bool {
    let lists = |name, wanted: &str| {
        head.headers().get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|list| {
                list.split(',')
                    .any(|item| item.trim().eq_ignore_ascii_case(wanted))
            })
        })
    };
    head.method() == Method::GET && lists(UPGRADE, "websocket") && lists(CONNECTION, "upgrade")
}

/// A token read as it is from a source that is not `Authorization`: a `b64token`, or refused.
fn checked<'h>(
    token: Option<FoundToken<'h>>,
    what: fmt::Arguments<'_>,
) -> Result<Option<FoundToken<'h>>, AuthError> {
    match token {
        Some(token) if !is_b64token(token.as_bytes()) => Err(explained(
            AuthError::Malformed,
            format_args!("{what} has characters outside b64token (nothing is percent-decoded)"),
        )),
        token => Ok(token),
    }
}

fn from_query<'h>(uri: &'h Uri, name: &str) -> Result<Option<FoundToken<'h>>, AuthError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let mut found = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != name || value.is_empty() {
            continue;
        }
        if found.is_some() {
            return Err(explained(
                AuthError::MultipleTokens,
                format_args!("two {} query parameters", Shown(name)),
            ));
        }
        found = Some(FoundToken::within_uri(uri, value).ok_or(AuthError::Malformed)?);
    }
    checked(found, format_args!("the {} query parameter", Shown(name)))
}

fn from_named_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
    scheme: Option<&str>,
) -> Result<Option<FoundToken<'h>>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(explained(
            AuthError::MultipleTokens,
            format_args!("two {} headers", Shown(name)),
        ));
    }
    let bytes = value.as_bytes();
    let range = match scheme {
        Some(scheme) => locate_scheme(bytes, scheme.as_bytes()).ok_or_else(|| {
            explained(
                AuthError::Malformed,
                format_args!("the {} header is not `{scheme} <token>`", Shown(name)),
            )
        })?,
        None => {
            let start = bytes.iter().position(|byte| !is_blank(byte)).unwrap_or(0);
            let end = bytes
                .iter()
                .rposition(|byte| !is_blank(byte))
                .map_or(0, |end| end + 1);
            start..end.max(start)
        }
    };
    if range.is_empty() {
        return Ok(None);
    }
    let token = FoundToken {
        text: FoundText::Header(value),
        start: range.start,
        end: range.end,
        origin: Origin::Other,
    };
    checked(Some(token), format_args!("the {} header", Shown(name)))
}

/// `Sec-WebSocket-Protocol: …, <marker>, <token>, …`, over any number of header lines.
fn from_websocket_protocol<'h>(
    headers: &'h HeaderMap,
    marker: &str,
) -> Result<Option<FoundToken<'h>>, AuthError> {
    let mut offered = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|header| {
            let list = header.to_str().unwrap_or_default();
            list.split(',').map(move |item| (header, item.trim()))
        });
    let mut found = None;
    while let Some((_, item)) = offered.next() {
        if item != marker {
            continue;
        }
        if found.is_some() {
            return Err(explained(
                AuthError::MultipleTokens,
                format_args!("two {} subprotocols", Shown(marker)),
            ));
        }
        let Some((header, token)) = offered.next() else {
            return Err(explained(
                AuthError::Malformed,
                format_args!("no subprotocol after {}", Shown(marker)),
            ));
        };
        found = Some(FoundToken::within(header, token, Origin::Other).ok_or(AuthError::Malformed)?);
    }
    checked(
        found,
        format_args!("the subprotocol after {}", Shown(marker)),
    )
}

fn from_custom(token: Option<String>) -> Result<Option<FoundToken<'static>>, AuthError> {
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        return Ok(None);
    };
    let made = HeaderValue::try_from(token).map_err(|_| {
        explained(
            AuthError::Malformed,
            format_args!("the custom source's token is not visible ASCII"),
        )
    })?;
    let token = FoundToken {
        start: 0,
        end: made.len(),
        text: FoundText::Made(made),
        origin: Origin::Other,
    };
    checked(Some(token), format_args!("the custom source's token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(text: &str) -> Option<&str> {
        parse_bearer(text.as_bytes()).map(|range| &text[range])
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_allows_extra_spaces() {
        assert_eq!(bearer("Bearer a.b.c"), Some("a.b.c"));
        assert_eq!(bearer("bearer a.b.c"), Some("a.b.c"));
        assert_eq!(bearer("BEARER    a.b.c"), Some("a.b.c"));
        assert_eq!(bearer("  Bearer a.b.c \t"), Some("a.b.c"));
        assert_eq!(bearer("\tBearer a.b.c=="), Some("a.b.c=="));
    }

    #[test]
    fn other_schemes_separators_and_characters_are_refused() {
        for text in [
            "Basic a.b.c",
            "Bearer",
            "Bearer ",
            "",
            " \t ",
            "Bearer\ta.b.c",
            "Bearer a.b.c extra",
            "Bearer a,b",
            "Bearera.b.c",
            "Bearer \"a.b.c\"",
            "Bearer ===",
            "Bearer a.b.\u{e9}",
            "B\u{e9}arer a.b.c",
        ] {
            assert_eq!(bearer(text), None, "{text:?}");
        }
        assert_eq!(parse_bearer(b"Bearer a.b.\xff"), None);
        assert_eq!(parse_bearer(b"\xffBearer a.b.c"), None);
    }

    /// The shortcut for the usual `Bearer <token>` answers as the general rule does, on every
    /// short text of the characters that matter.
    #[test]
    fn the_usual_form_is_located_as_the_general_rule_locates_it() {
        let tails: [&[u8]; 9] = [b"", b"a", b" ", b"\t", b"a ", b"a\t", b" a", b"ab", b"a b"];
        for prefix in [
            &b"Bearer "[..],
            b"bearer ",
            b"BEARER ",
            b"Bearer",
            b"Bearer\t",
            b" Bearer ",
            b"Bearer  ",
            b"Beare ",
            b"Bearer\xff",
            b"",
        ] {
            for tail in tails {
                for more in tails {
                    let text = [prefix, tail, more].concat();
                    assert_eq!(
                        locate_bearer(&text),
                        locate_bearer_generally(&text),
                        "{text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn b64token_allows_trailing_padding_only() {
        assert!(is_b64token(b"abc=="));
        assert!(is_b64token(b"a+/~-._"));
        assert!(!is_b64token(b"a=b"));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b""));
    }

    #[test]
    fn token_range_points_into_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("x=1; auth=\"a.b.c\"; y=2"));
        let (method, uri) = (Method::GET, Uri::from_static("/"));
        let token = TokenSource::cookie()
            .extract(&RequestHead::new(&method, &uri, &headers), 100)
            .unwrap()
            .unwrap();
        assert_eq!(token.as_str(), "a.b.c");
        assert_eq!(format!("{:?}", token.keep()), "BearerToken { len: 5, .. }");
    }
}
