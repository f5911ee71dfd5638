//! What the layer tells operators: a `tracing` span per authentication decision, events for
//! what happens beside requests, and (cargo feature `metrics`) counters and histograms through
//! the [`metrics`](https://docs.rs/metrics) facade. The names on this page are an interface:
//! dashboards and alerts are built on them, and they change only with a major version.
//!
//! # The decision span
//!
//! Every request through [`JwtLayer`](crate::JwtLayer) opens one span, target [`TARGET`], name
//! [`DECISION_SPAN`], level DEBUG (enable it with `RUST_LOG=tower_jwt_auth=debug`, or a
//! per-target filter in front of an OpenTelemetry exporter). It covers the decision (the token's
//! extraction and verification, a key refetch, the revocation check and the user lookup), not
//! the inner service; the layer's own events (why a token was refused) are inside it. Fields:
//!
//! | field | when | value |
//! |---|---|---|
//! | `outcome` | always | `authenticated`, `anonymous` (optional mode, no token) or `refused` |
//! | `kind` | refused | the error kind, as [`AuthError::kind_name`](crate::AuthError::kind_name) gives it (`expired`, `revoked`, …) |
//! | `alg` | a token whose header parses | the header's `alg` |
//! | `kid` | the header has one | the header's `kid` |
//! | `iss` | authenticated | the `iss` claim |
//! | `sub` | authenticated, unless [`trace_subject(false)`](crate::layer::JwtLayerBuilder::trace_subject) | the `sub` claim |
//! | `cache` | a layer with the cache, token verified | `hit` or `miss` |
//! | `revocation_us` | a revocation store was asked | microseconds the check took |
//! | `user_lookup_us` | the user lookup ran | microseconds it took |
//!
//! Never the token, nor any other claim. Header values and claims are cut after 64 characters
//! (subscribers escape them). With the span disabled (no subscriber wants it) the layer does no work for it
//! beyond the check; enabled, it reads the token's header (and, once verified, its `iss` and
//! `sub`) a second time, about a microsecond.
//!
//! # Events
//!
//! All with target [`TARGET`]:
//! - DEBUG `token refused: …` for every refusal, saying which rule failed and why; ERROR
//!   `request rejected` for a 5xx, with the backend's failure.
//! - DEBUG `JWKS refreshed` (`location`, `keys`) after a successful fetch of a remote key set;
//!   WARN `JWKS refresh failed` with the cause.
//! - ERROR `revocation store failed` / `session store failed` with the cause.
//! - DEBUG `verified-token cache evicted entries` (`evicted`) when the cache is full.
//!
//! # Metrics (cargo feature `metrics`)
//!
//! Recorded through the `metrics` facade, so they go to whatever recorder the application
//! installs (Prometheus, StatsD, OpenTelemetry); without the feature, no call is compiled in.
//!
//! | name | type | labels |
//! |---|---|---|
//! | [`DECISIONS`] | counter | `outcome` (as the span's), `kind` (the error kind, or `none`) |
//! | [`GUARD_REFUSALS`] | counter | `guard` (`RequireRoles`, `RequireScope`, `RequireClaims`), `kind` |
//! | [`CACHE_HITS`], [`CACHE_MISSES`], [`CACHE_EVICTIONS`] | counter | |
//! | [`JWKS_FETCHES`] | counter | `result`: `ok` or `error` |
//! | [`BACKEND_FAILURES`] | counter | `backend`: `revocation` or `user_lookup`; `failure`: `error` or `timeout` |
//! | [`VERIFICATION_SECONDS`] | histogram | the synchronous part of a decision: the token's extraction and verification (or cache hit) |
//! | [`BACKEND_SECONDS`] | histogram | `backend`: `revocation` or `user_lookup` |

use std::borrow::Cow;
use std::time::Instant;

use tracing::Span;
use tracing::field::Empty;

use crate::error::{AuthError, first_chars};
use crate::jws::{Header, decode_base64url, parse_object, split};
use crate::source::FoundToken;

mod metrics;

#[cfg(feature = "jwks")]
pub(crate) use metrics::jwks_fetched;
pub(crate) use metrics::{
    Backend, Timer, backend_failed, cache_evictions, cache_lookup, guard_refused,
};
#[cfg(feature = "redis")]
pub(crate) use metrics::{mirror_current, mirror_loaded, mirror_stale};

/// The target of the layer's spans and events.
pub const TARGET: &str = "tower_jwt_auth";

/// The name of the span of each authentication decision.
pub const DECISION_SPAN: &str = "authenticate";

/// Counter of the layer's decisions, by `outcome` and `kind`.
pub const DECISIONS: &str = "tower_jwt_auth_decisions_total";
/// Counter of the guards' refusals, by `guard` and `kind`.
pub const GUARD_REFUSALS: &str = "tower_jwt_auth_guard_refusals_total";
/// Counter of verified-token cache hits.
pub const CACHE_HITS: &str = "tower_jwt_auth_cache_hits_total";
/// Counter of verified-token cache misses (the token was verified in full).
pub const CACHE_MISSES: &str = "tower_jwt_auth_cache_misses_total";
/// Counter of entries the verified-token cache evicted for room.
pub const CACHE_EVICTIONS: &str = "tower_jwt_auth_cache_evictions_total";
/// Counter of remote key set fetches, by `result`.
pub const JWKS_FETCHES: &str = "tower_jwt_auth_jwks_fetches_total";
/// Counter of revocation store and user lookup failures, by `backend` and `failure`.
pub const BACKEND_FAILURES: &str = "tower_jwt_auth_backend_failures_total";
/// Histogram of the synchronous part of each decision, in seconds.
pub const VERIFICATION_SECONDS: &str = "tower_jwt_auth_verification_seconds";
/// Histogram of revocation checks and user lookups, in seconds, by `backend`.
pub const BACKEND_SECONDS: &str = "tower_jwt_auth_backend_seconds";
/// Counter of the revocation mirror's complete loads from Redis (at start and after each
/// break).
pub const MIRROR_LOADS: &str = "tower_jwt_auth_revocation_mirror_loads_total";
/// Counter of the times the revocation mirror went stale (its checks then go to Redis).
pub const MIRROR_STALE: &str = "tower_jwt_auth_revocation_mirror_stale_total";
/// Gauge: 1 while the revocation mirror hears its heartbeats and answers checks, 0 from when
/// it finds it has stopped hearing them (within twice its `max_staleness`).
pub const MIRROR_CURRENT: &str = "tower_jwt_auth_revocation_mirror_current";

/// How a decision ended.
#[derive(Clone, Copy)]
pub(crate) enum Verdict<'a> {
    Authenticated,
    Anonymous,
    Refused(&'a AuthError),
}

impl Verdict<'_> {
    fn outcome(self) -> &'static str {
        match self {
            Verdict::Authenticated => "authenticated",
            Verdict::Anonymous => "anonymous",
            Verdict::Refused(_) => "refused",
        }
    }
}

/// The span of one decision, its fields recorded as they are known; none unless a subscriber
/// wants DEBUG spans of the target. That is asked first, and every method is a test of one
/// `Option` when it says no: nobody pays for a disabled span (with tracing's `log` feature and
/// no subscriber, making, entering and dropping one would report its life to `log`).
pub(crate) struct DecisionSpan(Option<Span>);

impl DecisionSpan {
    #[inline]
    pub(crate) fn new() -> Self {
        if !tracing::enabled!(target: "tower_jwt_auth", tracing::Level::DEBUG) {
            return Self(None);
        }
        Self(Some(tracing::debug_span!(
            target: "tower_jwt_auth",
            "authenticate",
            outcome = Empty,
            kind = Empty,
            alg = Empty,
            kid = Empty,
            iss = Empty,
            sub = Empty,
            cache = Empty,
            revocation_us = Empty,
            user_lookup_us = Empty,
        )))
    }

    /// Enters the span until the guard is dropped, so the events meanwhile are the span's.
    #[inline]
    pub(crate) fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        self.0.as_ref().map(Span::enter)
    }

    /// The span, to instrument a future with.
    pub(crate) fn span(&self) -> Span {
        self.0.clone().unwrap_or_else(Span::none)
    }

    /// Records how the decision ended, on the span and in the decisions counter.
    #[inline]
    pub(crate) fn decided(&self, verdict: Verdict<'_>) {
        metrics::decision(verdict);
        if let Some(span) = &self.0 {
            record_verdict(span, verdict);
        }
    }

    /// Records the token's `alg` and `kid`, and once it is verified its `iss`, `sub` (when
    /// `with_subject`) and whether the cache knew it.
    #[inline]
    pub(crate) fn record_token(&self, token: &FoundToken<'_>, verified: Option<Verified>) {
        if let Some(span) = &self.0 {
            record_token(span, token.as_str(), verified);
        }
    }

    /// Times a backend call when anyone reads the time: the span, or the metrics.
    #[inline]
    pub(crate) fn backend_timer(&self) -> Option<Instant> {
        (metrics::ENABLED || self.0.is_some()).then(Instant::now)
    }

    /// Records the time a backend call took, started by [`backend_timer`](Self::backend_timer).
    pub(crate) fn backend_done(&self, backend: Backend, started: Option<Instant>) {
        let Some(started) = started else {
            return;
        };
        let elapsed = started.elapsed();
        metrics::backend_seconds(backend, elapsed);
        if let Some(span) = &self.0 {
            let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            span.record(backend.span_field(), micros);
        }
    }
}

fn record_verdict(span: &Span, verdict: Verdict<'_>) {
    span.record("outcome", verdict.outcome());
    if let Verdict::Refused(error) = verdict {
        span.record("kind", error.kind_name());
    }
}

/// Reads the token again for the span's fields: only for a span someone listens to.
fn record_token(span: &Span, token: &str, verified: Option<Verified>) {
    let Ok((header, payload, _)) = split(token) else {
        return;
    };
    if let Ok(json) = decode_base64url(header)
        && let Ok(text) = std::str::from_utf8(&json)
        && let Ok(header) = parse_object::<Header<'_>>(text)
    {
        span.record("alg", first_chars(&header.alg));
        if let Some(kid) = header.kid.as_deref() {
            span.record("kid", first_chars(kid));
        }
    }
    let Some(verified) = verified else {
        return;
    };
    if let Some(hit) = verified.cache_hit {
        span.record("cache", if hit { "hit" } else { "miss" });
    }
    #[derive(serde::Deserialize)]
    struct Names<'a> {
        #[serde(default, borrow)]
        iss: Option<Name<'a>>,
        #[serde(default, borrow)]
        sub: Option<Name<'a>>,
    }
    /// A string claim, or anything else (which is not recorded).
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Name<'a> {
        Text(#[serde(borrow)] Cow<'a, str>),
        #[allow(dead_code)]
        Other(serde::de::IgnoredAny),
    }
    let Ok(json) = decode_base64url(payload) else {
        return;
    };
    let Ok(names) = serde_json::from_slice::<Names<'_>>(&json) else {
        return;
    };
    if let Some(Name::Text(iss)) = &names.iss {
        span.record("iss", first_chars(iss));
    }
    if verified.with_subject
        && let Some(Name::Text(sub)) = &names.sub
    {
        span.record("sub", first_chars(sub));
    }
}

/// What a verified token's span records besides its header.
#[derive(Clone, Copy)]
pub(crate) struct Verified {
    /// `None` without a cache.
    pub(crate) cache_hit: Option<bool>,
    pub(crate) with_subject: bool,
}
