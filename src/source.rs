//! Where a token comes from: the `Authorization` header, a cookie, or either.
//!
//! The rules are strict on purpose. RFC 6750 §2 allows one method per request, so two
//! `Authorization` headers, two auth cookies, or a header and a cookie together are refused
//! rather than guessed between. The header must read `Bearer <b64token>` (scheme
//! case-insensitive per RFC 9110 §11.1, one or more spaces, nothing else).

use std::fmt;
use std::ops::Range;

use cookie::Cookie;
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue};

use crate::charset::{B64Token, ByteClass};
use crate::error::{AuthError, Shown, explained};

/// The default name of the auth cookie, as in FoalTS.
pub const DEFAULT_COOKIE_NAME: &str = "auth";

/// Where the layer looks for the token.
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
}

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

    pub(crate) fn cookie_name(&self) -> Option<&str> {
        match self {
            Self::Header => None,
            Self::Cookie { name } | Self::HeaderOrCookie { name } => Some(name),
        }
    }

    /// The error for a request that carries no token at all.
    pub(crate) fn missing_error(&self) -> AuthError {
        match self {
            Self::Cookie { .. } => AuthError::MissingAuthCookie,
            Self::Header | Self::HeaderOrCookie { .. } => AuthError::MissingAuthorizationHeader,
        }
    }

    /// Finds the request's token, borrowed from its headers. `Ok(None)` means no token is
    /// present at all.
    pub(crate) fn extract<'h>(
        &self,
        headers: &'h HeaderMap,
        max_len: usize,
    ) -> Result<Option<FoundToken<'h>>, AuthError> {
        let token = match self {
            Self::Header => from_authorization(headers)?,
            Self::Cookie { name } => from_cookie(headers, name)?,
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
                        return Err(refuse(error));
                    }
                    (_, cookie) => header.or(cookie),
                }
            }
        };
        match token {
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
/// the header's bytes instead of copying them. Its `Debug` output is redacted so it never
/// reaches a log by accident.
#[derive(Clone)]
pub struct BearerToken {
    header: HeaderValue,
    range: Range<usize>,
    /// Read from a cookie rather than the `Authorization` header: a request the browser may
    /// have sent on its own (CSRF), and a session the layer may renew.
    from_cookie: bool,
}

impl BearerToken {
    /// The token (`header.payload.signature`).
    pub fn as_str(&self) -> &str {
        self.found().as_str()
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
    pub(crate) fn found(&self) -> FoundToken<'_> {
        FoundToken {
            header: &self.header,
            start: self.range.start,
            end: self.range.end,
            from_cookie: self.from_cookie,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(token: &str) -> Self {
        let header = HeaderValue::from_str(token).expect("test tokens are visible ASCII");
        Self {
            from_cookie: false,
            range: 0..header.len(),
            header,
        }
    }
}

/// A request's token, borrowed from its headers while it is verified.
///
/// Most accepted requests need no token of their own afterwards (a cache hit compares bytes, the
/// claims are what handlers get), so the header is shared into an owned [`BearerToken`] only
/// where one is kept: see [`FoundToken::keep`].
#[derive(Clone, Copy)]
pub(crate) struct FoundToken<'h> {
    header: &'h HeaderValue,
    start: usize,
    end: usize,
    from_cookie: bool,
}

impl<'h> FoundToken<'h> {
    /// `token` must be a view of `header`'s bytes.
    fn within(header: &'h HeaderValue, token: &str, from_cookie: bool) -> Option<Self> {
        let start = (token.as_ptr() as usize).checked_sub(header.as_bytes().as_ptr() as usize)?;
        let end = start.checked_add(token.len())?;
        (end <= header.len()).then_some(Self {
            header,
            start,
            end,
            from_cookie,
        })
    }

    /// The token, when it is UTF-8.
    pub(crate) fn as_str(&self) -> &'h str {
        // A token handed to handlers verified, so it is ASCII. Before that, a header token's
        // characters are unchecked: one that is not UTF-8 reads as "", which fails
        // verification, and the refusal is then `InvalidScheme` (see `refusal`).
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The token's bytes, which only verification tells apart from any header bytes.
    pub(crate) fn as_bytes(&self) -> &'h [u8] {
        self.header
            .as_bytes()
            .get(self.start..self.end)
            .unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the token came from a cookie.
    pub(crate) fn is_from_cookie(&self) -> bool {
        self.from_cookie
    }

    /// How to refuse this token for `error`: RFC 6750 syntax comes first, so a token from the
    /// `Authorization` header that is not a `b64token` gets `InvalidScheme` (400) instead.
    ///
    /// The header's token is checked only here, once something failed: a token that verifies
    /// is three base64url segments and two dots, so a `b64token`, and checking every byte of
    /// every accepted token again would be wasted work. Cookie values are checked when read.
    pub(crate) fn refusal(&self, error: AuthError) -> AuthError {
        if self.from_cookie || is_b64token(self.as_bytes()) {
            error
        } else {
            explained(
                AuthError::InvalidScheme,
                format_args!("the Authorization header's token has characters outside b64token"),
            )
        }
    }

    /// An owned token sharing the header's bytes (a reference count, no copy).
    pub(crate) fn keep(self) -> BearerToken {
        BearerToken {
            header: self.header.clone(),
            range: self.start..self.end,
            from_cookie: self.from_cookie,
        }
    }
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
    // `FoundToken::refusal`.
    let range = locate_bearer(value.as_bytes()).ok_or_else(|| {
        explained(
            AuthError::InvalidScheme,
            format_args!("the Authorization header is not `Bearer <token>`"),
        )
    })?;
    Ok(Some(FoundToken {
        header: value,
        start: range.start,
        end: range.end,
        from_cookie: false,
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
    let start = bytes.iter().position(|byte| !is_blank(byte))?;
    let end = bytes.iter().rposition(|byte| !is_blank(byte))? + 1;
    let text = &bytes[start..end];
    let space = text.iter().position(|&byte| byte == b' ')?;
    if !text[..space].eq_ignore_ascii_case(b"bearer") {
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
            found = Some(FoundToken::within(header, value, true).ok_or(AuthError::Malformed)?);
        }
    }
    Ok(found)
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
        let token = TokenSource::cookie()
            .extract(&headers, 100)
            .unwrap()
            .unwrap();
        assert_eq!(token.as_str(), "a.b.c");
        assert_eq!(format!("{:?}", token.keep()), "BearerToken { len: 5, .. }");
    }
}
