//! The verification pipeline: a token's syntax, its header, its signature and its claims, each
//! checked once, in an order that keeps an attacker's cost high and ours low.
//!
//! The size cap and the segment syntax are checked before any decoding, the header is parsed
//! once, the algorithm is checked against the allow-list bound to the selected key before any
//! cryptography, and the payload is only parsed once the signature holds. Signatures are
//! checked by verifiers prepared with each key (`keys::native`) instead of calling
//! `jsonwebtoken::decode`, which parses the header and the claims twice, builds a verifier per
//! call and picks its provider at the first request (and panics there when cargo features
//! cannot choose one).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;

use crate::clock::{Clock, Now, coarse_clock_is_fine, coarse_now};
use crate::error::{AuthError, Shown, explained};
use crate::jws::{
    Header, SIGNATURE_ON_STACK, Segment, is_base64url_text, object_text, parse_object, split,
};
use crate::keys::{KeySource, PreparedKey};

pub(crate) mod cache;
pub(crate) mod payload;
pub(crate) mod rules;

use payload::Wanted;
pub(crate) use rules::{Checked, ClaimFacts, Expectation, KeyBinding, Rules, TimeClaims};
use rules::{claims_read_by, string_claim, typ_matches};

/// The signature-checked parts of a JWS: its algorithm, `kid` and decoded payload.
#[derive(Debug)]
pub struct VerifiedJws<'a> {
    /// The algorithm the token was verified with.
    pub algorithm: Algorithm,
    /// The header's `kid`, if any.
    pub kid: Option<Cow<'a, str>>,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
}

/// Verifies tokens: the signature, the header rules and the claims, into `C`.
///
/// Built by [`JwtLayerBuilder::build`](crate::layer::JwtLayerBuilder::build) and shared by the layer;
/// reach it through [`JwtLayer::verifier`](crate::JwtLayer::verifier) to verify a token outside a
/// request (a WebSocket handshake message, a background job).
pub struct Verifier<C> {
    /// One, or one per trusted issuer (`JwtLayerBuilder::tenant`).
    tenants: Box<[TenantVerifier]>,
    /// With several tenants: the one each issuer's tokens are verified by.
    by_issuer: TenantIndex,
    /// The trusted issuers, for the description of a token no tenant trusts.
    issuers_shown: Arc<str>,
    max_token_len: usize,
    /// The clock every tenant reads.
    clock: Clock,
    /// Cache hits may read the system's coarse clock: no clock is configured, and the coarse
    /// one is fine enough (decided once, here, rather than at every hit).
    coarse_clock: bool,
    _claims: PhantomData<fn() -> C>,
}

/// Which tenant an issuer names.
enum TenantIndex {
    /// A few: compared one by one, as most issuers differ in length (one comparison each), and
    /// hashing a URL costs more than comparing a handful of them.
    Few(Box<[(Box<[u8]>, usize)]>),
    /// Many. The fast hasher: the keys are the configuration's, and a lookup's key cannot
    /// crowd a bucket.
    Many(HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>),
}

impl TenantIndex {
    /// Up to this many issuers, [`TenantIndex::Few`].
    const FEW: usize = 8;

    fn new(issuers: Vec<(Box<[u8]>, usize)>) -> Self {
        if issuers.len() <= Self::FEW {
            Self::Few(issuers.into())
        } else {
            Self::Many(issuers.into_iter().collect())
        }
    }

    fn get(&self, issuer: &[u8]) -> Option<usize> {
        match self {
            Self::Few(issuers) => issuers
                .iter()
                .find(|(trusted, _)| **trusted == *issuer)
                .map(|&(_, index)| index),
            Self::Many(issuers) => issuers.get(issuer).copied(),
        }
    }
}

/// What verifies the tokens of one issuer (or of every issuer, for a layer without tenants):
/// its keys, its algorithms and its rules.
pub(crate) struct TenantVerifier {
    keys: KeySource,
    /// The allow-list, applied on top of each key's own algorithms (remote keys are prepared
    /// without knowing it).
    allowed: Option<Vec<Algorithm>>,
    pub(crate) rules: Rules,
    /// The registered claims the rules read, taken raw by the claims parse.
    rule_claims: Wanted,
}

impl TenantVerifier {
    pub(crate) fn new(keys: KeySource, allowed: Option<Vec<Algorithm>>, rules: Rules) -> Self {
        let rule_claims = claims_read_by(&rules);
        Self {
            keys,
            allowed,
            rules,
            rule_claims,
        }
    }

    /// The registered claims `check_claims` reads: those of the rules, and with `collect` the
    /// facts.
    fn wanted(&self, collect: bool) -> Wanted {
        if collect {
            self.rule_claims
                .with(Wanted::SUB)
                .with(Wanted::JTI)
                .with(Wanted::SID)
                .with(Wanted::CNF)
        } else {
            self.rule_claims
        }
    }
}

/// A key in a log line: its `kid`, or the only key of its set.
struct KeyName<'a>(Option<&'a str>);

impl fmt::Display for KeyName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(kid) => write!(f, "with kid {}", Shown(kid)),
            None => f.write_str("of the key set (no kid)"),
        }
    }
}

/// Why no key was selected.
fn unselected(error: AuthError, kid: Option<&str>) -> AuthError {
    match (&error, kid) {
        (AuthError::MissingKid, _) => explained(
            error,
            format_args!("the key set holds several keys and the token has no kid"),
        ),
        (_, Some(kid)) => explained(
            error,
            format_args!("kid {} is not in the key set", Shown(kid)),
        ),
        _ => error,
    }
}

impl<C> fmt::Debug for Verifier<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("tenants", &self.tenants.len())
            .field("max_token_len", &self.max_token_len)
            .finish_non_exhaustive()
    }
}

impl<C: DeserializeOwned> Verifier<C> {
    /// `tenants` holds one tenant, or one per issuer (the issuer its rules expect); the
    /// clock is the tenants' one.
    pub(crate) fn new(
        tenants: Vec<(Option<String>, TenantVerifier)>,
        clock: Clock,
        max_token_len: usize,
    ) -> Self {
        let coarse_clock = clock.is_system() && coarse_clock_is_fine();
        let mut by_issuer = Vec::new();
        let mut shown = Vec::new();
        if tenants.len() > 1 {
            for (index, (issuer, _)) in tenants.iter().enumerate() {
                if let Some(issuer) = issuer {
                    by_issuer.push((issuer.as_bytes().into(), index));
                    shown.push(issuer.as_str());
                }
            }
        }
        let by_issuer = TenantIndex::new(by_issuer);
        let issuers_shown = shown.join(",").into();
        Self {
            tenants: tenants.into_iter().map(|(_, tenant)| tenant).collect(),
            by_issuer,
            issuers_shown,
            max_token_len,
            clock,
            coarse_clock,
            _claims: PhantomData,
        }
    }

    /// The rules of the only tenant (tests of the time rules).
    #[cfg(test)]
    pub(crate) fn rules(&self) -> &Rules {
        &self.tenants[0].rules
    }

    /// The tenant of `index`, as [`verify_tenant`](Self::verify_tenant) returned it.
    pub(crate) fn tenant(&self, index: usize) -> &TenantVerifier {
        &self.tenants[index]
    }

    /// The issuers the tenants trust, for the description of a refusal.
    pub(crate) fn issuers_shown(&self) -> Arc<str> {
        self.issuers_shown.clone()
    }

    /// The tenant whose issuer is `issuer`, for a layer that picks the tenant from the request.
    pub(crate) fn tenant_of(&self, issuer: &str) -> Option<usize> {
        match self.tenants.len() {
            1 => Some(0),
            _ => self.by_issuer.get(issuer.as_bytes()),
        }
    }

    /// Which tenant verifies a token with this (decoded, unverified) payload: the only one, or
    /// the one its `iss` names; a token no tenant trusts is refused before any key is tried.
    fn tenant_for(&self, payload: Result<&[u8], &AuthError>) -> Result<usize, AuthError> {
        if self.tenants.len() == 1 {
            return Ok(0);
        }
        let iss = payload.ok().and_then(payload::peek_issuer);
        let tenant = iss.as_deref().and_then(|iss| self.by_issuer.get(iss));
        tenant.ok_or_else(|| {
            explained(
                AuthError::InvalidIssuer {
                    expected: self.issuers_shown.clone(),
                },
                format_args!(
                    "iss {} is none of the tenants' issuers ({}): no key tried",
                    Shown(
                        &iss.as_deref()
                            .map_or("(none)".into(), String::from_utf8_lossy)
                    ),
                    self.issuers_shown
                ),
            )
        })
    }

    /// The longest token accepted, in bytes.
    pub fn max_token_len(&self) -> usize {
        self.max_token_len
    }

    /// Verifies `token` completely and returns its claims.
    pub fn verify(&self, token: &str) -> Result<C, AuthError> {
        self.verify_tenant(token, None, false)
            .map(|(claims, _, _)| claims)
    }

    /// Verifies `token`, by `tenant` when the request picked one, else by the tenant its
    /// `iss` picks; with `collect`, also returns the registered claims the asynchronous checks
    /// need (allocated only then). Returns the tenant too.
    pub(crate) fn verify_tenant(
        &self,
        token: &str,
        tenant: Option<usize>,
        collect: bool,
    ) -> Result<(C, Checked, usize), AuthError> {
        self.verify_signed(token, tenant, |index, _, _, payload| {
            let (claims, checked) = self.read_claims(&self.tenants[index], payload, collect)?;
            Ok((claims, checked, index))
        })
    }

    /// The claims of a payload whose signature holds.
    fn read_claims(
        &self,
        tenant: &TenantVerifier,
        payload: &[u8],
        collect: bool,
    ) -> Result<(C, Checked), AuthError> {
        let json = object_text(payload)?;
        // One pass fills both the claims and the registered claims; when it cannot (the
        // claims type does not fit the payload, or does not read it as an object), the
        // registered claims are read on their own, and their verdict comes first, as always.
        let (claims, seen) = payload::parse::<C>(json, tenant.wanted(collect));
        let (claims, registered) = match (claims, seen.complete()) {
            (Ok(claims), Some(registered)) => (Ok(claims), registered),
            (claims, _) => (claims, parse_object(json)?),
        };
        let checked = tenant.rules.check_claims(&registered, collect)?;
        let claims = claims.map_err(|_| claims_type_refusal::<C>(tenant, json, &registered))?;
        Ok((claims, checked))
    }
}

/// The refusal of a payload whose registered claims pass but which does not fit `C`: the
/// registered-claim rule it breaks when there is one (a user lookup needs a string `sub`),
/// else `InvalidToken`, logged with the field and what was wrong with it.
fn claims_type_refusal<C: DeserializeOwned>(
    tenant: &TenantVerifier,
    json: &str,
    registered: &payload::Registered<'_>,
) -> AuthError {
    {
        if tenant.rules.subject_required && string_claim(registered.sub).is_none() {
            return explained(
                AuthError::MissingSubject,
                format_args!("a user lookup is configured and `sub` is absent or not a string"),
            );
        }
        let why = payload::why_it_does_not_fit::<C>(json);
        explained(
            AuthError::InvalidToken,
            format_args!("claims type `{}`: {why}", std::any::type_name::<C>()),
        )
    }
}

impl<C: DeserializeOwned> Verifier<C> {
    /// Checks everything but the claims: the token's syntax, its header (`alg`, `crit`, `typ`,
    /// `kid`) and its signature. The payload may be any bytes.
    pub fn verify_signature<'t>(&self, token: &'t str) -> Result<VerifiedJws<'t>, AuthError> {
        self.verify_signed(token, None, |_, algorithm, kid, payload| {
            Ok(VerifiedJws {
                algorithm,
                kid: kid.map(|kid| Cow::Owned(kid.to_owned())),
                payload: payload.to_vec(),
            })
        })
    }

    /// [`verify_signature`](Self::verify_signature) without allocating: the header and the
    /// payload are decoded into stack buffers when they fit, and handed to `then`.
    fn verify_signed<R>(
        &self,
        token: &str,
        tenant: Option<usize>,
        then: impl FnOnce(usize, Algorithm, Option<&str>, &[u8]) -> Result<R, AuthError>,
    ) -> Result<R, AuthError> {
        if token.len() > self.max_token_len {
            return Err(explained(
                AuthError::Malformed,
                format_args!(
                    "the token is {} bytes, over the {}-byte cap",
                    token.len(),
                    self.max_token_len
                ),
            ));
        }
        let (header_b64, payload_b64, signature_b64) = split(token)
            .map_err(|error| explained(error, format_args!("not three dot-separated segments")))?;
        let not_base64url = |segment: &'static str| {
            move |error| explained(error, format_args!("the {segment} is not base64url"))
        };
        // All three decoded first, each once: a character outside base64url anywhere is
        // `Malformed` before any other verdict.
        let mut header_json = Segment::<512>::new();
        let header_json = header_json
            .decode(header_b64)
            .map_err(not_base64url("header"))?;
        let mut signature = Segment::<SIGNATURE_ON_STACK>::new();
        let signature = signature
            .decode(signature_b64)
            .map_err(not_base64url("signature"))?;
        // A JWS payload may be any octets; the claims set's UTF-8 is checked with the claims.
        let mut payload = Segment::<4096>::new();
        let payload = payload.decode(payload_b64);
        // Spare bits set in the payload's last character: the signature is judged first, as
        // it covers that very text (a forged payload gets "invalid signature").
        if payload.is_err() && !is_base64url_text(payload_b64) {
            return Err(not_base64url("payload")(AuthError::Malformed));
        }
        let header: Header<'_> =
            object_text(header_json)
                .and_then(parse_object)
                .map_err(|error| {
                    explained(
                        error,
                        format_args!("the header is not a UTF-8 JSON object with a string `alg`"),
                    )
                })?;
        if signature.is_empty() {
            return Err(explained(
                AuthError::MissingSignature,
                format_args!("the signature segment is empty"),
            ));
        }
        let algorithm: Algorithm = header.alg.parse().map_err(|_| {
            explained(
                AuthError::InvalidAlgorithm,
                format_args!(
                    "alg {} is no JWS algorithm this crate verifies",
                    Shown(&header.alg)
                ),
            )
        })?;
        if header.crit {
            return Err(explained(
                AuthError::UnsupportedCritical,
                format_args!("the header has a `crit` parameter"),
            ));
        }
        let index = match tenant {
            Some(index) => index,
            None => self.tenant_for(payload.as_deref())?,
        };
        let tenant = &self.tenants[index];
        if let Some(expected) = &tenant.rules.typ
            && !header
                .typ
                .as_deref()
                .is_some_and(|typ| typ_matches(typ, &expected.values[0]))
        {
            let typ = header.typ.as_deref().map(Shown);
            return Err(explained(
                AuthError::InvalidType {
                    expected: expected.shown.clone(),
                },
                format_args!(
                    "typ {} is not the expected {}",
                    typ.as_ref().map_or(&"(none)" as &dyn fmt::Display, |t| t),
                    Shown(&expected.values[0])
                ),
            ));
        }
        let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        let kid = header.kid.as_deref();
        match &tenant.keys {
            KeySource::Static(keys) => {
                let key = keys.select(kid).map_err(|error| unselected(error, kid))?;
                self.check_signature(tenant, key, algorithm, kid, message, signature)?;
            }
            #[cfg(feature = "jwks")]
            KeySource::Remote(remote) => {
                let keys =
                    remote.snapshot_for(payload.as_deref().map_err(|_| AuthError::Malformed)?)?;
                let key = keys.select(kid).map_err(|error| unselected(error, kid))?;
                self.check_signature(tenant, key, algorithm, kid, message, signature)?;
            }
        }
        then(index, algorithm, kid, payload?)
    }

    fn check_signature(
        &self,
        tenant: &TenantVerifier,
        key: &PreparedKey,
        algorithm: Algorithm,
        kid: Option<&str>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AuthError> {
        let allowed_here = tenant
            .allowed
            .as_ref()
            .is_none_or(|allowed| allowed.contains(&algorithm));
        if !key.algorithms.contains(&algorithm) || !allowed_here {
            return Err(explained(
                AuthError::InvalidAlgorithm,
                format_args!(
                    "alg {algorithm:?} is not allowed for the key {} (it takes {:?}{})",
                    KeyName(kid),
                    key.algorithms,
                    tenant
                        .allowed
                        .as_ref()
                        .map_or(String::new(), |allowed| format!(", the layer {allowed:?}")),
                ),
            ));
        }
        let mismatch = || {
            explained(
                AuthError::InvalidSignature,
                format_args!(
                    "the {algorithm:?} signature does not verify with the key {}",
                    KeyName(kid)
                ),
            )
        };
        if let Some(native) = key.native.iter().find(|v| v.algorithm() == algorithm) {
            return match native.verify(message, signature) {
                true => Ok(()),
                false => Err(mismatch()),
            };
        }
        // Unreachable: a key is prepared with a verifier for each algorithm it takes, and the
        // algorithm was checked against them above. A 500 rather than a panic all the same.
        Err(explained(
            AuthError::KeyUnavailable,
            format_args!(
                "no {algorithm:?} verifier was prepared for the key {}",
                KeyName(kid)
            ),
        ))
    }

    /// When `error` may go away with fresher remote keys (an unknown `kid`, no keys yet), a
    /// refetch to await before verifying again; `None` when it cannot help or the cooldown
    /// forbids it.
    #[cfg(feature = "jwks")]
    pub(crate) fn refresh_for(
        &self,
        error: &AuthError,
        token: &str,
    ) -> Option<crate::BoxFuture<'static, ()>> {
        let payload = crate::jws::decode_base64url(token.split('.').nth(1)?).ok();
        let tenant = self.tenant_for(payload.as_deref().ok_or(error)).ok()?;
        match &self.tenants[tenant].keys {
            KeySource::Remote(remote) => remote.refresh_for(error, token),
            KeySource::Static(_) => None,
        }
    }

    /// The time for a cache hit: the configured clock's reading when there is one; else the
    /// system's coarse clock, a few nanoseconds against the precise clock's tens (a hit costs
    /// a few hundred), read as a range of seconds the precise time lies in.
    pub(crate) fn rough_now(&self) -> Now {
        self.coarse_clock
            .then(coarse_now)
            .flatten()
            .unwrap_or_else(|| Now::exactly(self.now_secs()))
    }

    /// Seconds since the Unix epoch, from the configured clock.
    pub(crate) fn now_secs(&self) -> u64 {
        self.clock.now()
    }

    /// Whether the time is before `deadline`: see [`Rules::is_before`] (the clock is shared).
    pub(crate) fn is_before(&self, now: Now, deadline: u64) -> bool {
        self.tenants[0].rules.is_before(now, deadline)
    }
}

impl<C> Verifier<C> {
    /// Every issuer a tenant's rules ask for, once each, in the order configured.
    pub(crate) fn trusted_issuers(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = Vec::new();
        self.tenants
            .iter()
            .filter_map(|tenant| tenant.rules.issuers.as_ref())
            .flat_map(|expected| expected.values.iter().map(String::as_str))
            .filter(move |issuer| {
                let new = !seen.contains(issuer);
                seen.push(issuer);
                new
            })
    }
}
