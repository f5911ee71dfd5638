//! The compact JWS syntax (RFC 7515 §7.1): three base64url segments, and a header that is a
//! JSON object; decoded onto the stack when they fit.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use crate::error::AuthError;

#[derive(Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub(crate) alg: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) kid: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub(crate) typ: Option<Text<'a>>,
    #[serde(default, deserialize_with = "present")]
    pub(crate) crit: bool,
}

/// A JSON string, borrowed from the token's text unless it holds escapes. serde's own
/// `Cow<str>` (and so `Option<Cow<str>>`) always copies; the derive borrows only a `Cow` field
/// marked `borrow`, which this wrapper is, so header parameters and claims compared on every
/// request cost no allocation.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Any value at all, even `null`, marks the parameter as present.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// The text of a JOSE header or a claims set: UTF-8 (RFC 7515 §4, RFC 8259 §8.1; serde_json
/// does not check the UTF-8 of values it skips, so it is checked here, once) and a JSON
/// object (a derived struct would also accept an array, positionally).
pub(crate) fn object_text(json: &[u8]) -> Result<&str, AuthError> {
    let text = std::str::from_utf8(json).map_err(|_| AuthError::InvalidToken)?;
    if text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        Ok(text)
    } else {
        Err(AuthError::InvalidToken)
    }
}

/// Parses an object checked by [`object_text`].
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T, AuthError> {
    serde_json::from_str(json).map_err(|_| AuthError::InvalidToken)
}

/// Splits `header.payload.signature` at its first and its last dot. The segments' characters
/// are not looked at here: every segment is decoded before anything else is done with the
/// token, and the decoder refuses whatever is not base64url (a third dot included), so a
/// separate pass over the characters would only repeat that work.
pub(crate) fn split(token: &str) -> Result<(&str, &str, &str), AuthError> {
    // The signature's dot is looked for from the end: it is a few dozen characters away there,
    // and hundreds (the whole payload) from the header's dot.
    let (signed, signature) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
    let (header, payload) = signed.split_once('.').ok_or(AuthError::Malformed)?;
    if header.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok((header, payload, signature))
}

/// The longest signature decoded on the stack: RSA with an 8192-bit modulus.
pub(crate) const SIGNATURE_ON_STACK: usize = 1024;

/// A decoded base64url segment: on the stack when it fits in `N` bytes, on the heap otherwise.
/// The stack buffer starts uninitialized: zeroing it for every request costs more than the
/// decoding itself.
pub(crate) struct Segment<const N: usize> {
    stack: [MaybeUninit<u8>; N],
    heap: Vec<u8>,
}

impl<const N: usize> Segment<N> {
    pub(crate) fn new() -> Self {
        Self {
            stack: [MaybeUninit::uninit(); N],
            heap: Vec::new(),
        }
    }

    /// Decodes `segment`: base64url (RFC 4648 §5) without padding, the unused bits of the last
    /// character zero; anything else is `Malformed`.
    pub(crate) fn decode(&mut self, segment: &str) -> Result<&[u8], AuthError> {
        let base64url = base64_simd::URL_SAFE_NO_PAD;
        let len = base64url
            .decoded_length(segment.as_bytes())
            .map_err(|_| AuthError::Malformed)?;
        if len <= N {
            let out = base64_simd::Out::from_uninit_slice(&mut self.stack);
            let decoded = base64url.decode(segment.as_bytes(), out);
            decoded
                .map(|bytes| &*bytes)
                .map_err(|_| AuthError::Malformed)
        } else {
            self.heap = decode_base64url(segment)?;
            Ok(&self.heap)
        }
    }
}

/// Whether `segment` has the characters and length of base64url text; when it does and still
/// does not decode, the unused bits of its last character are set.
pub(crate) fn is_base64url_text(segment: &str) -> bool {
    segment.len() % 4 != 1
        && segment
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Decodes a base64url segment into a new vector, as strictly as [`Segment::decode`].
pub(crate) fn decode_base64url(segment: &str) -> Result<Vec<u8>, AuthError> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(segment.as_bytes())
        .map_err(|_| AuthError::Malformed)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[test]
    fn segments_decode_on_the_stack_or_the_heap_alike() {
        let short = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"HS256\"}");
        let long = URL_SAFE_NO_PAD.encode(vec![b'x'; 3000]);
        let mut segment = Segment::<64>::new();
        assert_eq!(segment.decode(&short).unwrap(), b"{\"alg\":\"HS256\"}");
        assert!(
            segment.heap.is_empty(),
            "a short segment stays on the stack"
        );
        let mut segment = Segment::<64>::new();
        assert_eq!(segment.decode(&long).unwrap(), vec![b'x'; 3000]);
        // Padding, characters of the other alphabet, a dot, a lone last character, and last
        // characters whose unused bits are not zero ("QR" for "QQ", "QUJ" for "QUI").
        for bad in [
            "a",
            "ab=",
            "a+b/",
            "a.b",
            "QR",
            "QUJ",
            &format!("{long}!"),
            &format!("{long}QR"),
        ] {
            assert_eq!(
                Segment::<64>::new().decode(bad),
                Err(AuthError::Malformed),
                "{bad}"
            );
            assert_eq!(decode_base64url(bad), Err(AuthError::Malformed), "{bad}");
        }
    }

    proptest::proptest! {
        /// The segment decoder accepts exactly what the strict `base64` engine accepts, and
        /// decodes it to the same bytes, on the stack and on the heap.
        #[test]
        fn segments_decode_as_the_strict_base64_engine_does(
            text in "[A-Za-z0-9_=+/.!-]{0,40}",
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            for input in [text.as_str(), encoded.as_str()] {
                let expected = URL_SAFE_NO_PAD.decode(input).map_err(|_| AuthError::Malformed);
                let on_stack = Segment::<256>::new().decode(input).map(<[u8]>::to_vec);
                let on_heap = Segment::<0>::new().decode(input).map(<[u8]>::to_vec);
                proptest::prop_assert_eq!(&on_stack, &expected, "{:?}", input);
                proptest::prop_assert_eq!(&on_heap, &expected, "{:?}", input);
            }
        }
    }

    #[test]
    fn split_wants_two_dots_and_a_header() {
        assert_eq!(split("a.b.c"), Ok(("a", "b", "c")));
        assert_eq!(split("a.b."), Ok(("a", "b", "")));
        // A third dot stays in the payload, which the decoder then refuses.
        assert_eq!(split("a.b.c.d"), Ok(("a", "b.c", "d")));
        for token in ["a.b", ".b.c", ""] {
            assert_eq!(split(token), Err(AuthError::Malformed), "{token:?}");
        }
    }
}
