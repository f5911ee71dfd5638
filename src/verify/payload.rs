//! One pass over the claims set: the payload is parsed into the user's claims type, and the
//! registered claims we check are picked up on the way, instead of parsing the JSON twice.
//!
//! The parse goes through [`Tee`], a deserializer that hands the claims type the payload's
//! object through a map access that watches the keys: the value of a registered claim (`exp`,
//! `nbf`, `iat`, `iss`, `sub`, `aud`, `jti`, `sid`, `cnf`) the verifier needs ([`Wanted`]) is taken raw,
//! remembered, and then given to the claims type from that raw text; every other value goes
//! straight through. Every registered claim is counted, needed or not, so one given twice is
//! always noticed.
//!
//! A claims type may not read the object as a map or a struct at all (it might ignore the
//! payload); the registered claims are then not [`complete`](Registered::complete) and the
//! caller parses them on their own.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::claims::NOT_FINITE;
use crate::error::Shown;

/// The registered claims we check, kept raw so a claim of the wrong type is reported as such
/// instead of failing the whole payload.
#[derive(Default, Deserialize)]
pub(crate) struct Registered<'a> {
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) exp: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) nbf: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) iat: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) iss: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) sub: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) aud: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) jti: Option<&'a RawValue>,
    /// The login a token belongs to (OpenID Connect's session id), for revoking a whole login.
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) sid: Option<&'a RawValue>,
    /// The key a token is bound to (RFC 7800), whose `jkt` DPoP checks (RFC 9449 §6).
    #[serde(default, borrow, deserialize_with = "present_raw")]
    pub(crate) cnf: Option<&'a RawValue>,
}

/// A claim that is present, even as `null`: plain `Option` would read `"exp": null` as an
/// absent `exp` and an `"nbf": null` as no `nbf` at all.
fn present_raw<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(deserializer).map(Some)
}

impl<'a> Registered<'a> {
    fn slot(&mut self, claim: Wanted) -> &mut Option<&'a RawValue> {
        match claim {
            Wanted::EXP => &mut self.exp,
            Wanted::NBF => &mut self.nbf,
            Wanted::IAT => &mut self.iat,
            Wanted::ISS => &mut self.iss,
            Wanted::SUB => &mut self.sub,
            Wanted::AUD => &mut self.aud,
            Wanted::JTI => &mut self.jti,
            Wanted::SID => &mut self.sid,
            _ => &mut self.cnf,
        }
    }
}

/// A set of registered claims: those a verification needs taken raw, or those seen so far.
/// Reading a claim raw and parsing it again for the claims type is work wasted on a claim no
/// rule looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wanted(u16);

impl Wanted {
    pub(crate) const EXP: Self = Self(1);
    pub(crate) const NBF: Self = Self(1 << 1);
    pub(crate) const IAT: Self = Self(1 << 2);
    pub(crate) const ISS: Self = Self(1 << 3);
    pub(crate) const SUB: Self = Self(1 << 4);
    pub(crate) const AUD: Self = Self(1 << 5);
    pub(crate) const JTI: Self = Self(1 << 6);
    pub(crate) const SID: Self = Self(1 << 7);
    pub(crate) const CNF: Self = Self(1 << 8);
    /// What every verification needs: the time claims.
    pub(crate) const TIMES: Self = Self(Self::EXP.0 | Self::NBF.0 | Self::IAT.0);
    #[cfg(test)]
    pub(crate) const ALL: Self = Self(0x1ff);

    pub(crate) const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    const fn contains(self, claim: Self) -> bool {
        self.0 & claim.0 != 0
    }

    /// The registered claim named `key`, if it is one.
    fn named(key: &str) -> Option<Self> {
        Some(match key {
            "exp" => Self::EXP,
            "nbf" => Self::NBF,
            "iat" => Self::IAT,
            "iss" => Self::ISS,
            "sub" => Self::SUB,
            "aud" => Self::AUD,
            "jti" => Self::JTI,
            "sid" => Self::SID,
            "cnf" => Self::CNF,
            _ => return None,
        })
    }
}

/// What the one pass saw of the registered claims.
pub(crate) struct Seen<'a> {
    /// The claims taken raw into `registered`; the others are left empty there.
    wanted: Wanted,
    /// Every registered claim met so far.
    met: Wanted,
    registered: Registered<'a>,
    /// The claims type read the whole object as a map or a struct.
    complete: bool,
    /// A registered claim appeared twice.
    duplicate: bool,
}

impl<'a> Seen<'a> {
    /// The registered claims, when the pass saw every key of the object exactly once each.
    pub(crate) fn complete(self) -> Option<Registered<'a>> {
        (self.complete && !self.duplicate).then_some(self.registered)
    }
}

/// Parses `json` (a JSON object) into `C`, picking up the `wanted` registered claims on the way.
pub(crate) fn parse<C: DeserializeOwned>(
    json: &str,
    wanted: Wanted,
) -> (Result<C, serde_json::Error>, Seen<'_>) {
    let mut seen = Seen {
        wanted,
        met: Wanted::default(),
        registered: Registered::default(),
        complete: false,
        duplicate: false,
    };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let claims = C::deserialize(Tee {
        inner: &mut deserializer,
        seen: &mut seen,
    })
    .and_then(|claims| deserializer.end().map(|()| claims));
    if claims.is_err() {
        seen.complete = false;
    }
    (claims, seen)
}

/// The deserializer the claims type reads: serde_json's, with the top-level object watched.
struct Tee<'s, 'a> {
    inner: &'s mut serde_json::Deserializer<serde_json::de::StrRead<'a>>,
    seen: &'s mut Seen<'a>,
}

/// Methods that do not read a map: straight to serde_json, unwatched.
macro_rules! unwatched {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.inner.$method(visitor)
            }
        )*
    };
}

impl<'s, 'a> Deserializer<'a> for Tee<'s, 'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let seen = self.seen;
        self.inner.deserialize_any(Watch { visitor, seen })
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let seen = self.seen;
        self.inner.deserialize_map(Watch { visitor, seen })
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let seen = self.seen;
        self.inner
            .deserialize_struct(name, fields, Watch { visitor, seen })
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_enum(name, variants, visitor)
    }

    unwatched! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_option
        deserialize_unit deserialize_seq deserialize_identifier deserialize_ignored_any
    }
}

/// The claims type's visitor, given a watched map access when the object is read.
struct Watch<'s, 'a, V> {
    visitor: V,
    seen: &'s mut Seen<'a>,
}

impl<'s, 'a, V: Visitor<'a>> Visitor<'a> for Watch<'s, 'a, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(formatter)
    }

    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value = self.visitor.visit_map(WatchedMap {
            inner: map,
            seen: &mut *self.seen,
            pending: None,
        })?;
        self.seen.complete = true;
        Ok(value)
    }
}

/// The object's entries: registered claims taken raw on the way to the claims type.
struct WatchedMap<'s, 'a, A> {
    inner: A,
    seen: &'s mut Seen<'a>,
    /// The registered claim whose value comes next.
    pending: Option<Wanted>,
}

impl<'s, 'a, A: MapAccess<'a>> MapAccess<'a> for WatchedMap<'s, 'a, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some(key) = self.inner.next_key_seed(KeySeed)? else {
            return Ok(None);
        };
        self.pending = Wanted::named(&key);
        match key {
            Cow::Borrowed(key) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(key))
                .map(Some),
            Cow::Owned(key) => seed
                .deserialize(de::value::StringDeserializer::new(key))
                .map(Some),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'a>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Self::Error> {
        let Some(claim) = self.pending.take() else {
            return self.inner.next_value_seed(seed);
        };
        let seen = &mut *self.seen;
        seen.duplicate |= seen.met.contains(claim);
        seen.met = seen.met.with(claim);
        if !seen.wanted.contains(claim) {
            return self.inner.next_value_seed(seed);
        }
        let raw: &'a RawValue = self.inner.next_value()?;
        *seen.registered.slot(claim) = Some(raw);
        seed.deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
            .map_err(de::Error::custom)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Why `json` (a payload that failed to parse into `C`) does not fit `C`, for the log: the path
/// of the field and serde's account of the mistake, without the value, which serde's messages
/// quote (`invalid type: string "…"`) and which may be a secret. Parsed again with the path
/// tracked: a refusal's cost, never a success's.
pub(crate) fn why_it_does_not_fit<C: DeserializeOwned>(json: &str) -> String {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let error = match serde_path_to_error::deserialize::<_, C>(&mut deserializer) {
        Ok(_) => return "the payload is not one JSON object".to_owned(),
        Err(error) => error,
    };
    let what = without_values(&error.inner().to_string());
    match error.path().to_string().as_str() {
        "." => what,
        path => format!("field {}: {what}", Shown(path)),
    }
}

/// serde's message without the values it quotes; a message of another form (a claims type's
/// own `Deserialize`) is not repeated at all, as it may quote anything.
fn without_values(message: &str) -> String {
    // serde_json appends the position.
    let message = message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at]);
    let expected = message.rfind(", expected ").map_or("", |at| &message[at..]);
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // `string "…"`, `integer `5``, `floating point `1.5``, `map`, …: the kind only.
            let kind = rest
                .split(['`', '"', ','])
                .next()
                .unwrap_or_default()
                .trim_end();
            return format!("{prefix}{kind}{expected}");
        }
    }
    if message.starts_with("unknown variant ") {
        return format!("unknown variant{expected}");
    }
    let names_a_field = ["missing field ", "duplicate field ", "unknown field "]
        .iter()
        .any(|prefix| message.starts_with(prefix));
    if names_a_field
        || message.starts_with("invalid length ")
        || message == "number out of range"
        || message == NOT_FINITE
    {
        return message
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
    }
    "the claims type's own Deserialize refused a value".to_owned()
}

/// The first `iss` of a JSON object, read without parsing what follows it: which tenant's keys
/// to try is decided on every request of a multi-tenant layer, before the signature. The whole
/// object is checked later, with the claims (a second `iss` is refused then).
///
/// Bytes, not text: the issuer is only compared with the configured ones, which are text, so
/// bytes that are not UTF-8 match none of them, and the whole payload's UTF-8 is checked with
/// the claims.
pub(crate) fn peek_issuer(json: &[u8]) -> Option<Cow<'_, [u8]>> {
    match scan_issuer(json) {
        Scan::Found(iss) => Some(Cow::Borrowed(iss)),
        Scan::Absent => None,
        Scan::Unsure => parse_issuer(json).map(|iss| match iss {
            Cow::Borrowed(iss) => Cow::Borrowed(iss.as_bytes()),
            Cow::Owned(iss) => Cow::Owned(iss.into_bytes()),
        }),
    }
}

/// What the byte scan made of a payload.
enum Scan<'a> {
    Found(&'a [u8]),
    Absent,
    /// An escape, or anything else the scan does not follow: parse instead.
    Unsure,
}

/// The top-level `"iss": "<text>"` of a compact object, found by a byte scan that follows
/// strings and nesting and gives up (`Unsure`) on an escape or anything malformed, so that the
/// parser decides those. A JWT payload is a flat object of plain strings and numbers, and the
/// scan stops at `iss`.
fn scan_issuer(json: &[u8]) -> Scan<'_> {
    let skip_blank = |mut at: usize| {
        while json
            .get(at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            at += 1;
        }
        at
    };
    // A plain string starting after the quote at `at`: its end, or `None` for an escape. The
    // vectorized search: strings (keys, subjects, scopes) are most of a payload's bytes.
    let string_end = |at: usize| -> Option<usize> {
        let len = memchr::memchr2(b'"', b'\\', json.get(at + 1..)?)?;
        (json[at + 1 + len] == b'"').then_some(at + 1 + len)
    };
    let mut depth = 0usize;
    let mut at = 0;
    loop {
        // Between strings only quotes and brackets matter: one pass over the run of digits,
        // commas and colons before the next.
        let next = json
            .get(at..)
            .and_then(|rest| rest.iter().position(|&b| STRUCTURAL[usize::from(b)]));
        let Some(skip) = next else {
            return Scan::Unsure;
        };
        at += skip;
        match json[at] {
            b'"' => {
                let Some(end) = string_end(at) else {
                    return Scan::Unsure;
                };
                if depth == 1 && &json[at + 1..end] == b"iss" {
                    let after = skip_blank(end + 1);
                    if json.get(after) != Some(&b':') {
                        // `iss` as a value, not a key.
                        at = end + 1;
                        continue;
                    }
                    let value = skip_blank(after + 1);
                    if json.get(value) != Some(&b'"') {
                        return Scan::Unsure;
                    }
                    let Some(value_end) = string_end(value) else {
                        return Scan::Unsure;
                    };
                    return Scan::Found(&json[value + 1..value_end]);
                }
                at = end + 1;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => match depth.checked_sub(1) {
                Some(0) => return Scan::Absent,
                Some(outer) => depth = outer,
                None => return Scan::Unsure,
            },
            _ => {}
        }
        at += 1;
    }
}

/// The bytes [`scan_issuer`] stops at between strings: a quote and the four brackets.
static STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'[' as usize] = true;
    table[b'}' as usize] = true;
    table[b']' as usize] = true;
    table
};

/// [`peek_issuer`] by the parser, for what the scan does not follow.
fn parse_issuer(json: &[u8]) -> Option<Cow<'_, str>> {
    struct Peek<'s, 'a>(&'s mut Option<Cow<'a, str>>);

    impl<'a> Visitor<'a> for Peek<'_, 'a> {
        type Value = ();

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a claims set")
        }

        fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key_seed(KeySeed)? {
                if key == "iss" {
                    *self.0 = Some(map.next_value_seed(KeySeed)?);
                    return Ok(());
                }
                map.next_value::<de::IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let mut iss = None;
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    // Leaving the object early makes serde_json report it unfinished: of no concern here.
    let _ = deserializer.deserialize_map(Peek(&mut iss));
    iss
}

/// A map key, borrowed from the payload unless it holds escapes.
struct KeySeed;

impl<'a> DeserializeSeed<'a> for KeySeed {
    type Value = Cow<'a, str>;

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'a> Visitor<'a> for KeySeed {
    type Value = Cow<'a, str>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a claim name")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'a str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::*;

    fn raw(value: Option<&RawValue>) -> Option<&str> {
        value.map(RawValue::get)
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Typed {
        sub: String,
        exp: u64,
        role: String,
    }

    #[test]
    fn one_pass_fills_the_claims_and_the_registered_claims() {
        let json = r#"{"sub":"alice","exp":1700000000,"role":"admin","aud":["a","b"],"nbf":null}"#;
        let (typed, seen) = parse::<Typed>(json, Wanted::ALL);
        assert_eq!(
            typed.unwrap(),
            Typed {
                sub: "alice".into(),
                exp: 1_700_000_000,
                role: "admin".into()
            }
        );
        let registered = seen.complete().expect("complete");
        assert_eq!(raw(registered.exp), Some("1700000000"));
        assert_eq!(raw(registered.sub), Some(r#""alice""#));
        assert_eq!(raw(registered.aud), Some(r#"["a","b"]"#));
        assert_eq!(raw(registered.nbf), Some("null"));
        assert_eq!(raw(registered.iat), None);

        let (map, seen) = parse::<Map<String, Value>>(json, Wanted::ALL);
        assert_eq!(
            map.unwrap(),
            serde_json::from_str::<Map<_, _>>(json).unwrap()
        );
        assert_eq!(raw(seen.complete().unwrap().exp), Some("1700000000"));
    }

    #[test]
    fn escaped_names_are_the_same_claims() {
        let json = r#"{"\u0065xp":5,"s\u0075b":"x","role":"r"}"#;
        let (typed, seen) = parse::<Typed>(json, Wanted::ALL);
        assert_eq!(typed.unwrap().exp, 5);
        let registered = seen.complete().unwrap();
        assert_eq!(raw(registered.exp), Some("5"));
        assert_eq!(raw(registered.sub), Some(r#""x""#));
    }

    #[test]
    fn a_registered_claim_given_twice_is_not_complete() {
        let json = r#"{"exp":5,"exp":6}"#;
        let (map, seen) = parse::<Map<String, Value>>(json, Wanted::ALL);
        assert!(map.is_ok());
        assert!(seen.complete().is_none());
    }

    #[test]
    fn a_type_that_does_not_read_the_object_leaves_it_incomplete() {
        let (ignored, seen) = parse::<de::IgnoredAny>(r#"{"exp":5}"#, Wanted::ALL);
        assert!(ignored.is_ok());
        assert!(seen.complete().is_none());
        let (failed, seen) = parse::<Typed>(r#"{"exp":5}"#, Wanted::ALL);
        assert!(failed.is_err());
        assert!(seen.complete().is_none());
    }

    #[test]
    fn only_the_wanted_claims_are_taken_but_every_duplicate_is_noticed() {
        let json = r#"{"sub":"alice","exp":1700000000,"role":"admin","iss":"me"}"#;
        let (typed, seen) = parse::<Typed>(json, Wanted::TIMES);
        assert_eq!(typed.unwrap().sub, "alice");
        let registered = seen.complete().expect("complete");
        assert_eq!(raw(registered.exp), Some("1700000000"));
        assert_eq!(raw(registered.sub), None, "not wanted, not taken");
        assert_eq!(raw(registered.iss), None, "not wanted, not taken");

        let (_, seen) = parse::<Map<String, Value>>(json, Wanted::TIMES.with(Wanted::ISS));
        assert_eq!(raw(seen.complete().unwrap().iss), Some(r#""me""#));

        for twice in [
            r#"{"exp":5,"iss":"a","iss":"b"}"#,
            r#"{"jti":"a","exp":5,"jti":"a"}"#,
        ] {
            let (map, seen) = parse::<Map<String, Value>>(twice, Wanted::TIMES);
            assert!(map.is_ok());
            assert!(seen.complete().is_none(), "{twice}");
        }
    }

    #[test]
    fn a_misfit_is_explained_by_field_and_kind_without_the_value() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Strict {
            exp: u64,
            scope: String,
            level: Level,
            #[serde(default)]
            tags: [u8; 2],
        }
        #[derive(Debug, Deserialize)]
        enum Level {
            Low,
        }
        for (json, why) in [
            (r#"{"exp":1}"#, "missing field `scope`"),
            (
                r#"{"exp":"s3cret","scope":"a","level":"Low"}"#,
                r#"field "exp": invalid type: string, expected u64"#,
            ),
            (
                r#"{"exp":1700000000.5,"scope":"a","level":"Low"}"#,
                r#"field "exp": invalid type: floating point, expected u64"#,
            ),
            (
                r#"{"exp":-1,"scope":"a","level":"Low"}"#,
                r#"field "exp": invalid value: integer, expected u64"#,
            ),
            (
                r#"{"exp":1,"scope":"a","level":"s3cret"}"#,
                r#"field "level": unknown variant, expected `Low`"#,
            ),
            (
                r#"{"exp":1,"scope":"a","level":"Low","tags":[1]}"#,
                r#"field "tags": invalid length 1, expected an array of length 2"#,
            ),
        ] {
            assert_eq!(why_it_does_not_fit::<Strict>(json), why, "{json}");
        }

        #[derive(Debug)]
        struct Custom;
        impl<'de> Deserialize<'de> for Custom {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Err(de::Error::custom(format!("bad {text}")))
            }
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct WithCustom {
            key: Custom,
        }
        let why = why_it_does_not_fit::<WithCustom>(r#"{"key":"s3cret"}"#);
        assert!(!why.contains("s3cret"), "{why}");
        assert!(why.starts_with(r#"field "key": "#), "{why}");
    }

    #[test]
    fn the_issuer_is_peeked_without_reading_on() {
        for (json, iss) in [
            (
                r#"{"sub":"a","iss":"https://a","exp":1}"#,
                Some("https://a"),
            ),
            (
                r#"{"iss":"https://a", "then": not json at all"#,
                Some("https://a"),
            ),
            (r#"{"nested":{"iss":"x"},"iss":"\u0061"}"#, Some("a")),
            (r#"{"iss":"first","iss":"second"}"#, Some("first")),
            (r#"{"iss":7}"#, None),
            (r#"{"sub":"a"}"#, None),
            (r#"["iss","a"]"#, None),
            ("", None),
            // A value that reads "iss", and nesting, do not fool the scan.
            (
                r#"{"a":"iss","b":{"iss":"x","c":[1,{"iss":"y"}]},"iss":"z"}"#,
                Some("z"),
            ),
            (r#" { "iss" : "spaced" } "#, Some("spaced")),
            (
                r#"{"k\"":"iss","iss":"after an escape"}"#,
                Some("after an escape"),
            ),
            (r#"{"iss":"with \"quotes\""}"#, Some("with \"quotes\"")),
            (r#"{"sub":"a"} {"iss":"after the object"}"#, None),
            (r#"{"iss""#, None),
            (
                r#"{"sub":"ünïcödé","iss":"https://ëxample.com"}"#,
                Some("https://ëxample.com"),
            ),
            (r#"{"iss":"a","sub":"after"}"#, Some("a")),
            (r#"{"a":"x}","iss":"y"}"#, Some("y")),
            (r#"{"aud":"iss","iss":"y"}"#, Some("y")),
            (r#"{"a":"\"iss\":\"evil\"","iss":"good"}"#, Some("good")),
        ] {
            let iss = iss.map(str::as_bytes);
            assert_eq!(peek_issuer(json.as_bytes()).as_deref(), iss, "{json}");
        }
    }

    /// What the parser reads as the issuer, as bytes.
    fn parsed_issuer(json: &str) -> Option<&[u8]> {
        match parse_issuer(json.as_bytes())? {
            Cow::Borrowed(iss) => Some(iss.as_bytes()),
            Cow::Owned(_) => panic!("an escaped issuer is the parser's alone: {json}"),
        }
    }

    /// The scan and the parser agree on every payload, whichever decides.
    #[test]
    fn the_scan_agrees_with_the_parser() {
        for json in [
            r#"{"sub":"a","iss":"https://a","exp":1}"#,
            r#"{"nested":{"iss":"x"},"iss":"a"}"#,
            r#"{"list":["iss",{"iss":1}],"iss":"b"}"#,
            r#"{"iss":7}"#,
            r#"{"sub":"a"}"#,
            r#"{"iss":null}"#,
            r#"{"iss":"a""#,
        ] {
            let scanned = match scan_issuer(json.as_bytes()) {
                Scan::Found(iss) => Some(iss),
                Scan::Absent => None,
                Scan::Unsure => continue,
            };
            assert_eq!(scanned, parsed_issuer(json), "{json}");
        }
    }

    use proptest::prelude::Strategy as _;

    proptest::proptest! {
        /// On any object of the keys and values that matter, as serde_json writes it (compact
        /// or pretty), the scan finds what the parser finds whenever it decides.
        #[test]
        fn the_scan_never_disagrees_with_the_parser(
            entries in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["iss", "sub", "is", "iss\"", "aud"]),
                    proptest::prop_oneof![
                        "[a-z:/.\"\\\\ {}\\[\\]]{0,8}".prop_map(Value::String),
                        proptest::num::i64::ANY.prop_map(Value::from),
                        proptest::collection::vec("[a-z]{0,3}", 0..3).prop_map(|items| {
                            let object: Map<String, Value> =
                                items.into_iter().map(|item| ("iss".to_owned(), Value::String(item))).collect();
                            Value::Object(object)
                        }),
                    ],
                ),
                0..6,
            ),
            pretty in proptest::bool::ANY,
        ) {
            let object: Map<String, Value> = entries
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect();
            let json = if pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                serde_json::to_string(&object).unwrap()
            };
            let scanned = match scan_issuer(json.as_bytes()) {
                Scan::Found(iss) => Some(iss),
                Scan::Absent => None,
                Scan::Unsure => return Ok(()),
            };
            proptest::prop_assert_eq!(scanned, parsed_issuer(&json), "{}", json);
        }
    }

    #[test]
    fn trailing_text_fails_the_parse() {
        let (map, _) = parse::<Map<String, Value>>(r#"{"exp":5} x"#, Wanted::ALL);
        assert!(map.is_err());
    }
}
