//! The claim rules: the time window, `max_age` and `max_lifetime`, audience, issuer and
//! subject, and the time checks a cache hit repeats.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::payload::{Registered, Wanted};
use crate::clock::{Clock, Now};
use crate::error::{AuthError, Shown, explained};
use crate::jws::Text;

/// The largest leeway the builder accepts: what stores add to a token's life so that a
/// revocation outlives it under any layer.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// Validation rules, prepared once at build time.
#[derive(Clone)]
pub(crate) struct Rules {
    pub(crate) leeway: u64,
    pub(crate) validate_nbf: bool,
    pub(crate) max_age: Option<u64>,
    pub(crate) max_lifetime: Option<u64>,
    pub(crate) audiences: Option<Expectation>,
    pub(crate) issuers: Option<Expectation>,
    pub(crate) subject: Option<Expectation>,
    pub(crate) typ: Option<Expectation>,
    /// A user lookup reads `sub`: a payload that does not fit the claims type and has no
    /// string `sub` is refused for that (`MissingSubject`), as it would be with `JsonClaims`.
    pub(crate) subject_required: bool,
    pub(crate) clock: Clock,
}

/// Accepted values of a claim, and the text the error description shows for them.
#[derive(Clone)]
pub(crate) struct Expectation {
    pub(crate) values: Vec<String>,
    pub(crate) shown: Arc<str>,
}

impl Expectation {
    pub(crate) fn new(values: Vec<String>, separator: &str) -> Self {
        let shown = values.join(separator).into();
        Self { values, shown }
    }

    fn accepts(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }
}

/// The time claims of a verified token, kept to check them again later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeClaims {
    pub(crate) exp: f64,
    nbf: Option<f64>,
    iat: Option<f64>,
}

#[cfg(test)]
impl TimeClaims {
    pub(crate) fn for_tests(exp: f64) -> Self {
        Self {
            exp,
            nbf: None,
            iat: None,
        }
    }
}

/// What checking a token's claims found out.
pub(crate) struct Checked {
    pub(crate) times: TimeClaims,
    /// Only when asked for: they cost allocations. Shared by every request a cached entry
    /// serves.
    pub(crate) facts: Option<Arc<ClaimFacts>>,
}

/// The registered claims the revocation check and the user lookup need.
#[derive(Clone)]
pub(crate) struct ClaimFacts {
    pub(crate) jti: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) iat: Option<u64>,
    pub(crate) exp: u64,
    /// The key the token is bound to, for DPoP.
    pub(crate) binding: KeyBinding,
}

/// What a token's `cnf` claim (RFC 7800) binds it to, as far as DPoP is concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum KeyBinding {
    /// No `cnf`, or one that binds by another method only (a certificate, RFC 8705).
    #[default]
    Unbound,
    /// `cnf.jkt`: the RFC 7638 thumbprint of the key a DPoP proof must be signed with.
    Jkt(String),
    /// A `cnf` that is not an object, or whose `jkt` is not a string: bound to no key a proof
    /// could match, so refused under either scheme.
    Unreadable,
}

impl KeyBinding {
    fn of(cnf: Option<&RawValue>) -> Self {
        #[derive(serde::Deserialize)]
        struct Confirmation {
            #[serde(default)]
            jkt: Option<Box<RawValue>>,
        }
        let Some(cnf) = cnf else {
            return Self::Unbound;
        };
        match serde_json::from_str::<Confirmation>(cnf.get()) {
            Ok(Confirmation { jkt: None }) => Self::Unbound,
            Ok(Confirmation { jkt: Some(jkt) }) => match string_claim(Some(&jkt)) {
                Some(jkt) => Self::Jkt(jkt.0.into_owned()),
                None => Self::Unreadable,
            },
            Err(_) => Self::Unreadable,
        }
    }
}

/// The registered claims `rules` read: the time claims, and those a rule is set for.
pub(crate) fn claims_read_by(rules: &Rules) -> Wanted {
    let mut wanted = Wanted::TIMES;
    if rules.audiences.is_some() {
        wanted = wanted.with(Wanted::AUD);
    }
    if rules.issuers.is_some() {
        wanted = wanted.with(Wanted::ISS);
    }
    if rules.subject.is_some() {
        wanted = wanted.with(Wanted::SUB);
    }
    wanted
}

/// RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, and the
/// `application/` prefix may be omitted.
pub(crate) fn typ_matches(typ: &str, expected: &str) -> bool {
    // `typ` is attacker-controlled and checked before the signature: no byte-index slicing,
    // which would panic inside a multi-byte character.
    // Borrowed, not copied: this runs on every request.
    fn short(t: &str) -> &str {
        let prefix = "application/";
        match (t.get(..prefix.len()), t.get(prefix.len()..)) {
            (Some(head), Some(rest)) if head.eq_ignore_ascii_case(prefix) => rest,
            _ => t,
        }
    }
    short(typ).eq_ignore_ascii_case(short(expected))
}

/// A NumericDate (RFC 7519 §2): a JSON number, possibly fractional.
pub(crate) fn numeric_date(
    raw: Option<&RawValue>,
    claim: &'static str,
) -> Result<Option<f64>, AuthError> {
    raw.map(|raw| {
        serde_json::from_str::<f64>(raw.get())
            .ok()
            .filter(|value| value.is_finite())
            .ok_or_else(|| {
                explained(
                    AuthError::InvalidTimeClaim { claim },
                    format_args!("`{claim}` is {}, not a NumericDate", json_kind(raw.get())),
                )
            })
    })
    .transpose()
}

/// What kind of JSON value `raw` is, without its content.
fn json_kind(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number out of range",
    }
}

pub(crate) fn string_claim(raw: Option<&RawValue>) -> Option<Text<'_>> {
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok())
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3); one match is enough.
pub(crate) fn audience_matches(raw: Option<&RawValue>, expected: &Expectation) -> bool {
    raw.is_some_and(|raw| {
        let mut json = serde_json::Deserializer::from_str(raw.get());
        AudienceMatches(expected)
            .deserialize(&mut json)
            .is_ok_and(|matched| matched)
    })
}

/// Reads `aud` in one pass, comparing each string where it lies in the token's text: no
/// second parse when it is an array, no vector of its values.
pub(crate) struct AudienceMatches<'e>(&'e Expectation);

impl<'de> DeserializeSeed<'de> for AudienceMatches<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AudienceMatches<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, aud: &str) -> Result<bool, E> {
        Ok(self.0.accepts(aud))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut audiences: A) -> Result<bool, A::Error> {
        // Every element is read, so an array holding anything but strings is refused whole,
        // wherever the match is.
        let mut matched = false;
        while let Some(aud) = audiences.next_element::<Text<'de>>()? {
            matched |= self.0.accepts(&aud);
        }
        Ok(matched)
    }
}

impl Rules {
    /// Seconds since the Unix epoch, from the configured clock.
    pub(crate) fn now_secs(&self) -> u64 {
        self.clock.now()
    }

    fn now(&self) -> f64 {
        self.now_secs() as f64
    }

    /// Reads only the claims the tenant's [`Wanted`] says: the others may be absent from
    /// `claims` even when the token has them.
    pub(super) fn check_claims(
        &self,
        claims: &Registered<'_>,
        collect: bool,
    ) -> Result<Checked, AuthError> {
        let rules = self;
        let now = self.now();

        let exp = numeric_date(claims.exp, "exp")?.ok_or_else(|| {
            explained(AuthError::MissingExpiration, format_args!("no `exp` claim"))
        })?;
        let times = TimeClaims {
            exp,
            nbf: numeric_date(claims.nbf, "nbf")?,
            iat: numeric_date(claims.iat, "iat")?,
        };
        self.check_window(&times, now)
            .map_err(|error| self.explain_time(error, &times, now))?;
        if let Some(expected) = &rules.audiences
            && !audience_matches(claims.aud, expected)
        {
            return Err(explained(
                AuthError::InvalidAudience {
                    expected: expected.shown.clone(),
                },
                format_args!(
                    "aud {} holds none of {:?}",
                    Shown(claims.aud.map_or("(none)", RawValue::get)),
                    expected.values
                ),
            ));
        }
        if let Some(expected) = &rules.issuers
            && !string_claim(claims.iss).is_some_and(|iss| expected.accepts(&iss))
        {
            return Err(explained(
                AuthError::InvalidIssuer {
                    expected: expected.shown.clone(),
                },
                format_args!(
                    "iss {} is none of {:?}",
                    Shown(claims.iss.map_or("(none)", RawValue::get)),
                    expected.values
                ),
            ));
        }
        if let Some(expected) = &rules.subject
            && !string_claim(claims.sub).is_some_and(|sub| expected.accepts(&sub))
        {
            // Not the token's `sub`: it names a user.
            return Err(explained(
                AuthError::InvalidSubject {
                    expected: expected.shown.clone(),
                },
                format_args!(
                    "sub is absent, not a string, or not {:?}",
                    expected.values[0]
                ),
            ));
        }
        if let Some(max_lifetime) = rules.max_lifetime {
            // From `iat` when the token states it, else from now: either way a token cannot be
            // valid for longer than this, whatever `exp` says. Once true, true for good: `iat`
            // is never after now, and without it the lifetime left only shrinks.
            let TimeClaims { exp, iat, .. } = times;
            let from = iat.unwrap_or(now).min(now);
            if exp - from > max_lifetime as f64 {
                return Err(explained(
                    AuthError::LifetimeTooLong,
                    format_args!(
                        "exp {exp} is {} s after {}, more than max_lifetime {max_lifetime} s",
                        exp - from,
                        if iat.is_some_and(|iat| iat <= now) {
                            "iat"
                        } else {
                            "now"
                        },
                    ),
                ));
            }
        }
        self.check_max_age(&times, now)
            .map_err(|error| self.explain_time(error, &times, now))?;
        let facts = collect.then(|| {
            Arc::new(ClaimFacts {
                jti: string_claim(claims.jti).map(|jti| jti.0.into_owned()),
                sub: string_claim(claims.sub).map(|sub| sub.0.into_owned()),
                sid: string_claim(claims.sid).map(|sid| sid.0.into_owned()),
                // Whole seconds: a fractional NumericDate is floored, as node does.
                iat: times.iat.map(|iat| iat.max(0.0) as u64),
                // Rounded up: the token is accepted until its fractional `exp`, so a revocation
                // must last at least that long.
                exp: times.exp.max(0.0).ceil() as u64,
                binding: KeyBinding::of(claims.cnf),
            })
        });
        Ok(Checked { times, facts })
    }

    /// Checks again, at `now`, the rules that depend on the time: for a token verified earlier
    /// (the verified-token cache), every other rule still holds.
    ///
    /// When `now` is only known to lie in a range, the rules are checked at both ends: each
    /// one fails only past a boundary (`exp`, `max_age`) or before one (`nbf`, `iat`), so
    /// holding at both ends means holding throughout. Otherwise the precise clock decides.
    pub(crate) fn recheck_times(&self, times: &TimeClaims, now: Now) -> Result<(), AuthError> {
        let at = |now: u64| self.check_times_at(times, now);
        let settled =
            |now: u64| at(now).map_err(|error| self.explain_time(error, times, now as f64));
        if now.earliest == now.latest {
            return settled(now.earliest);
        }
        match (at(now.earliest), at(now.latest)) {
            (Ok(()), Ok(())) => Ok(()),
            _ => settled(self.now_secs()),
        }
    }

    /// Why a time rule refused `times` at `now`: the claim, how far it is from now, the leeway.
    fn explain_time(&self, error: AuthError, times: &TimeClaims, now: f64) -> AuthError {
        let leeway = self.leeway;
        let (claim, value) = match error {
            AuthError::Expired => ("exp", times.exp),
            AuthError::NotActive => ("nbf", times.nbf.unwrap_or_default()),
            AuthError::IssuedInFuture => ("iat", times.iat.unwrap_or_default()),
            AuthError::MaxAgeExceeded => {
                let iat = times.iat.unwrap_or_default();
                let max_age = self.max_age.unwrap_or_default();
                let why = format_args!(
                    "iat {iat} is {} s ago, more than max_age {max_age} s (leeway {leeway} s)",
                    now - iat
                );
                return explained(error, why);
            }
            AuthError::MissingIssuedAt => {
                let why = format_args!("max_age is configured and the token has no `iat`");
                return explained(error, why);
            }
            error => return error,
        };
        let (distance, side) = if value <= now {
            (now - value, "past")
        } else {
            (value - now, "future")
        };
        explained(
            error,
            format_args!("{claim} {value} is {distance} s in the {side} (leeway {leeway} s)"),
        )
    }

    /// The whole seconds before `until` (a cache entry's deadline) at which every time rule holds
    /// for `times`, or an empty range. A cache entry keeps it, so that a hit whose clock range
    /// lies inside it needs no other time check. It starts where the rules say, not when the
    /// entry is stored: the coarse clock's range starts a second before the precise time, and
    /// the hits right after the first request must be settled too.
    ///
    /// The arithmetic only proposes the bounds; the rules themselves confirm them. Each rule
    /// fails only past a boundary (`exp`, `max_age`) or before one (`nbf`, `iat`), so the
    /// seconds that pass them all form one interval, and holding at both ends of the range
    /// means holding throughout. A bound the arithmetic gets wrong by rounding gives an empty
    /// range: hits then take the full checks, never a wrong verdict.
    pub(crate) fn passing_seconds(&self, times: &TimeClaims, until: u64) -> Range<u64> {
        let leeway = self.leeway as f64;
        // A start holds from the second it falls in (see `check_window`): `start < s + 1`.
        let mut lower = f64::NEG_INFINITY;
        if self.validate_nbf
            && let Some(nbf) = times.nbf
        {
            lower = lower.max(nbf - leeway - 1.0);
        }
        if let Some(iat) = times.iat {
            lower = lower.max(iat - leeway - 1.0);
        }
        let mut upper = times.exp + leeway;
        if let Some(max_age) = self.max_age {
            upper = upper.min(
                times
                    .iat
                    .map_or(f64::NEG_INFINITY, |iat| iat + max_age as f64)
                    + leeway,
            );
        }
        // Float-to-integer casts saturate (NaN gives 0): the checks below have the last word.
        let start = (lower.floor() + 1.0) as u64;
        let end = until.min(upper.ceil() as u64);
        let holds = |second: u64| self.check_times_at(times, second).is_ok();
        if start < end && holds(start) && holds(end - 1) {
            start..end
        } else {
            0..0
        }
    }

    /// Every time rule (the `exp`/`nbf`/`iat` window, `max_age`) at `second` (since the epoch).
    fn check_times_at(&self, times: &TimeClaims, second: u64) -> Result<(), AuthError> {
        let now = second as f64;
        self.check_window(times, now)?;
        self.check_max_age(times, now)
    }

    /// Whether the time is before `deadline` (seconds since the epoch): from `now` when the
    /// whole range is on one side of it, else from the precise clock.
    pub(crate) fn is_before(&self, now: Now, deadline: u64) -> bool {
        if now.latest < deadline {
            true
        } else if now.earliest >= deadline {
            false
        } else {
            self.now_secs() < deadline
        }
    }

    /// `nbf`, `exp` and an `iat` in the future, at the whole second `now`.
    ///
    /// The clock is read to the second, so `now` stands for the whole second `[now, now + 1)`:
    /// a start (`nbf`, `iat`) inside it has been reached (a token issued this second is never
    /// refused), and an end (`exp`) is judged from the second's start. For whole-second claims
    /// this is the usual `nbf <= now < exp`.
    fn check_window(&self, times: &TimeClaims, now: f64) -> Result<(), AuthError> {
        let leeway = self.leeway as f64;
        let second_end = now + 1.0;
        if self.validate_nbf && times.nbf.is_some_and(|nbf| nbf >= second_end + leeway) {
            return Err(AuthError::NotActive);
        }
        if now >= times.exp + leeway {
            return Err(AuthError::Expired);
        }
        if times.iat.is_some_and(|iat| iat >= second_end + leeway) {
            return Err(AuthError::IssuedInFuture);
        }
        Ok(())
    }

    fn check_max_age(&self, times: &TimeClaims, now: f64) -> Result<(), AuthError> {
        if let Some(max_age) = self.max_age {
            let iat = times.iat.ok_or(AuthError::MissingIssuedAt)?;
            if now >= iat + max_age as f64 + self.leeway as f64 {
                return Err(AuthError::MaxAgeExceeded);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::clock::unix_now;
    use crate::keys::Key;

    /// A layer whose verifier's precise clock reads `clock` (shared, so a test can move it).
    fn layer_at(
        clock: &Arc<AtomicU64>,
    ) -> crate::layer::JwtLayerBuilder<crate::claims::JsonClaims> {
        let clock = clock.clone();
        crate::JwtLayer::builder()
            .key(Key::hmac(b"a secret long enough for HS256 keys, 32+ bytes"))
            .clock(move || clock.load(Ordering::Relaxed))
    }

    fn verifier_at(clock: &Arc<AtomicU64>) -> crate::JwtLayer {
        layer_at(clock).build().unwrap()
    }

    fn range(earliest: u64, latest: u64) -> Now {
        Now { earliest, latest }
    }

    #[test]
    fn a_time_range_inside_the_window_needs_no_precise_reading() {
        // The precise clock says expired: it is not read when the whole range is fine.
        let layer = verifier_at(&Arc::new(5_000.into()));
        let verifier = layer.verifier();
        let times = TimeClaims::for_tests(1_000.0);
        assert_eq!(
            verifier.rules().recheck_times(&times, range(997, 999)),
            Ok(())
        );
        assert_eq!(
            verifier.rules().recheck_times(&times, Now::exactly(1_000)),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn a_time_range_across_a_boundary_is_settled_by_the_precise_clock() {
        let clock = Arc::new(AtomicU64::new(999));
        let layer = verifier_at(&clock);
        let verifier = layer.verifier();
        let expiring = TimeClaims::for_tests(1_000.0);
        assert_eq!(
            verifier.rules().recheck_times(&expiring, range(998, 1_000)),
            Ok(())
        );
        clock.store(1_000, Ordering::Relaxed);
        assert_eq!(
            verifier.rules().recheck_times(&expiring, range(998, 1_000)),
            Err(AuthError::Expired)
        );

        let starting = TimeClaims {
            exp: 2_000.0,
            nbf: Some(1_000.0),
            iat: Some(1_000.0),
        };
        assert_eq!(
            verifier.rules().recheck_times(&starting, range(999, 1_001)),
            Ok(())
        );
        clock.store(999, Ordering::Relaxed);
        assert_eq!(
            verifier.rules().recheck_times(&starting, range(999, 1_001)),
            Err(AuthError::NotActive)
        );
    }

    #[test]
    fn max_age_across_a_time_range_is_settled_by_the_precise_clock() {
        let clock = Arc::new(AtomicU64::new(1_059));
        let layer = layer_at(&clock)
            .max_age(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        let verifier = layer.verifier();
        let times = TimeClaims {
            exp: 5_000.0,
            nbf: None,
            iat: Some(1_000.0),
        };
        assert_eq!(
            verifier.rules().recheck_times(&times, range(1_057, 1_059)),
            Ok(())
        );
        assert_eq!(
            verifier.rules().recheck_times(&times, range(1_058, 1_060)),
            Ok(())
        );
        clock.store(1_060, Ordering::Relaxed);
        assert_eq!(
            verifier.rules().recheck_times(&times, range(1_058, 1_060)),
            Err(AuthError::MaxAgeExceeded)
        );
        assert_eq!(
            verifier.rules().recheck_times(&times, range(1_060, 1_062)),
            Err(AuthError::MaxAgeExceeded)
        );
    }

    /// The seconds in `from..until` at which every time rule holds, one by one.
    fn passing_one_by_one(
        verifier: &crate::verify::Verifier<crate::claims::JsonClaims>,
        times: &TimeClaims,
        from: u64,
        until: u64,
    ) -> Vec<u64> {
        (from..until)
            .filter(|&second| verifier.rules().check_times_at(times, second).is_ok())
            .collect()
    }

    #[test]
    fn passing_seconds_are_exactly_those_at_which_every_time_rule_holds() {
        use std::time::Duration;
        let clock = Arc::new(AtomicU64::new(1_000));
        let builders = [
            layer_at(&clock),
            layer_at(&clock).leeway(Duration::from_secs(7)),
            layer_at(&clock).max_age(Duration::from_secs(60)),
            layer_at(&clock)
                .max_age(Duration::from_secs(45))
                .leeway(Duration::from_secs(3)),
            layer_at(&clock).validate_nbf(false),
        ];
        let claims = [
            None,
            Some(990.0),
            Some(1_010.0),
            Some(1_010.5),
            Some(1_100.0),
        ];
        for builder in builders {
            let layer = builder.build().unwrap();
            let verifier = layer.verifier();
            for exp in [995.0, 1_000.0, 1_030.0, 1_030.9, 1_200.25, 9_999.0] {
                for nbf in claims {
                    for iat in claims {
                        let times = TimeClaims { exp, nbf, iat };
                        for (from, until) in [(900, 1_300), (900, 1_020), (1_015, 1_016)] {
                            let passing = verifier.rules().passing_seconds(&times, until);
                            let seen: Vec<u64> =
                                passing.clone().filter(|second| *second >= from).collect();
                            let expected = passing_one_by_one(verifier, &times, from, until);
                            assert_eq!(seen, expected, "{times:?} in {from}..{until}: {passing:?}");
                            // Before `from` too, every second claimed passes.
                            let before = passing.start..from.min(passing.end);
                            assert_eq!(
                                passing_one_by_one(verifier, &times, before.start, before.end),
                                before.clone().collect::<Vec<_>>(),
                                "{times:?} before {from}: {passing:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn passing_seconds_are_none_without_the_iat_max_age_needs() {
        let clock = Arc::new(AtomicU64::new(1_000));
        let layer = layer_at(&clock)
            .max_age(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        let times = TimeClaims::for_tests(5_000.0);
        assert_eq!(
            layer.verifier().rules().passing_seconds(&times, 2_000),
            0..0
        );
    }

    #[test]
    fn a_cache_entry_passes_the_seconds_before_it_was_stored() {
        let clock = Arc::new(AtomicU64::new(1_000));
        let layer = verifier_at(&clock);
        let times = TimeClaims {
            exp: 5_000.0,
            nbf: None,
            iat: Some(900.0),
        };
        // Stored at 1_000 for 300 s: a hit at once reads a coarse range from 999.
        let passing = layer.verifier().rules().passing_seconds(&times, 1_300);
        assert_eq!(passing, 900..1_300);
        assert!(range(999, 1_001).within(&passing));
    }

    #[test]
    fn a_time_range_within_the_passing_seconds_is_settled_by_them() {
        let passing = 1_000..1_030;
        assert!(range(1_000, 1_002).within(&passing));
        assert!(range(1_027, 1_029).within(&passing));
        assert!(Now::exactly(1_029).within(&passing));
        assert!(!range(999, 1_001).within(&passing));
        assert!(!range(1_028, 1_030).within(&passing));
        assert!(!Now::exactly(1_030).within(&passing));
        assert!(!Now::exactly(1_000).within(&(0..0)));
    }

    #[test]
    fn a_deadline_within_the_time_range_is_settled_by_the_precise_clock() {
        let clock = Arc::new(AtomicU64::new(5_000));
        let layer = verifier_at(&clock);
        let verifier = layer.verifier();
        // Clear cases do not read the clock, which says otherwise here.
        assert!(verifier.rules().is_before(range(997, 999), 1_000));
        clock.store(0, Ordering::Relaxed);
        assert!(!verifier.rules().is_before(range(1_000, 1_002), 1_000));
        assert!(verifier.rules().is_before(range(999, 1_001), 1_000));
        clock.store(1_000, Ordering::Relaxed);
        assert!(!verifier.rules().is_before(range(999, 1_001), 1_000));
        assert!(!verifier.rules().is_before(Now::exactly(1_000), 1_000));
        assert!(verifier.rules().is_before(Now::exactly(999), 1_000));
    }

    #[test]
    fn a_configured_clock_is_read_exactly() {
        let layer = verifier_at(&Arc::new(1_234.into()));
        assert_eq!(layer.verifier().rough_now(), Now::exactly(1_234));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn without_a_configured_clock_a_hit_reads_the_coarse_range() {
        let layer = crate::JwtLayer::builder()
            .key(Key::hmac(b"a secret long enough for HS256 keys, 32+ bytes"))
            .build()
            .unwrap();
        let before = unix_now();
        let now = layer.verifier().rough_now();
        assert_eq!(now.latest - now.earliest, 2, "{now:?}");
        assert!(
            now.earliest <= before && before <= now.latest,
            "{before} outside {now:?}"
        );
    }

    #[test]
    fn typ_with_multibyte_characters_never_panics() {
        assert!(!typ_matches("applicatioi\u{6be}T+JWT", "at+jwt"));
        assert!(!typ_matches(
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            "at+jwt"
        ));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
    }

    #[test]
    fn typ_comparison_ignores_case_and_application_prefix() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("AT+JWT", "at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
    }

    #[test]
    fn numeric_dates_must_be_finite_numbers() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        assert_eq!(numeric_date(Some(&raw("12.5")), "exp"), Ok(Some(12.5)));
        for bad in ["\"12\"", "null", "true", "[1]", "{}"] {
            assert_eq!(
                numeric_date(Some(&raw(bad)), "exp"),
                Err(AuthError::InvalidTimeClaim { claim: "exp" }),
                "{bad}"
            );
        }
    }
}
