//! The metrics the layer records (cargo feature `metrics`); without the feature every function
//! here is empty and inlined away.

use std::time::Duration;
#[cfg(feature = "metrics")]
use std::time::Instant;

/// A backend the layer waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Revocation,
    UserLookup,
}

impl Backend {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            Backend::Revocation => "revocation",
            Backend::UserLookup => "user_lookup",
        }
    }

    pub(super) fn span_field(self) -> &'static str {
        match self {
            Backend::Revocation => "revocation_us",
            Backend::UserLookup => "user_lookup_us",
        }
    }
}

/// Whether metrics are compiled in.
pub(super) const ENABLED: bool = cfg!(feature = "metrics");

/// Times the synchronous part of a decision; nothing at all without the feature.
pub(crate) struct Timer {
    #[cfg(feature = "metrics")]
    started: Instant,
}

impl Timer {
    #[inline]
    pub(crate) fn start() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            started: Instant::now(),
        }
    }

    #[inline]
    pub(crate) fn verified(self) {
        #[cfg(feature = "metrics")]
        ::metrics::histogram!(super::VERIFICATION_SECONDS).record(self.started.elapsed());
    }
}

#[cfg(feature = "metrics")]
mod enabled {
    use super::{Backend, Duration};
    use crate::error::AuthError;
    use crate::telemetry::{
        BACKEND_FAILURES, BACKEND_SECONDS, CACHE_EVICTIONS, CACHE_HITS, CACHE_MISSES, DECISIONS,
    };
    use crate::telemetry::{GUARD_REFUSALS, Verdict};

    /// Literal labels make static keys: an accepted request allocates nothing here.
    pub(crate) fn decision(verdict: Verdict<'_>) {
        let counter = match verdict {
            Verdict::Authenticated => {
                ::metrics::counter!(DECISIONS, "outcome" => "authenticated", "kind" => "none")
            }
            Verdict::Anonymous => {
                ::metrics::counter!(DECISIONS, "outcome" => "anonymous", "kind" => "none")
            }
            Verdict::Refused(error) => {
                ::metrics::counter!(DECISIONS, "outcome" => "refused", "kind" => error.kind_name())
            }
        };
        counter.increment(1);
    }

    pub(crate) fn guard_refused(guard: &'static str, error: &AuthError) {
        ::metrics::counter!(GUARD_REFUSALS, "guard" => guard, "kind" => error.kind_name())
            .increment(1);
    }

    pub(crate) fn cache_lookup(hit: bool) {
        match hit {
            true => ::metrics::counter!(CACHE_HITS).increment(1),
            false => ::metrics::counter!(CACHE_MISSES).increment(1),
        }
    }

    pub(crate) fn cache_evictions(count: u64) {
        ::metrics::counter!(CACHE_EVICTIONS).increment(count);
    }

    #[cfg(feature = "jwks")]
    pub(crate) fn jwks_fetched(ok: bool) {
        let result = if ok { "ok" } else { "error" };
        ::metrics::counter!(crate::telemetry::JWKS_FETCHES, "result" => result).increment(1);
    }

    pub(crate) fn backend_failed(backend: Backend, timed_out: bool) {
        let failure = if timed_out { "timeout" } else { "error" };
        ::metrics::counter!(BACKEND_FAILURES, "backend" => backend.label(), "failure" => failure)
            .increment(1);
    }

    pub(crate) fn backend_seconds(backend: Backend, elapsed: Duration) {
        let histogram = match backend {
            Backend::Revocation => {
                ::metrics::histogram!(BACKEND_SECONDS, "backend" => "revocation")
            }
            Backend::UserLookup => {
                ::metrics::histogram!(BACKEND_SECONDS, "backend" => "user_lookup")
            }
        };
        histogram.record(elapsed);
    }
}

#[cfg(not(feature = "metrics"))]
mod enabled {
    use super::{Backend, Duration};

    #[inline(always)]
    pub(crate) fn decision(_: crate::telemetry::Verdict<'_>) {}
    #[inline(always)]
    pub(crate) fn guard_refused(_: &'static str, _: &crate::error::AuthError) {}
    #[inline(always)]
    pub(crate) fn cache_lookup(_: bool) {}
    #[inline(always)]
    pub(crate) fn cache_evictions(_: u64) {}
    #[cfg(feature = "jwks")]
    #[inline(always)]
    pub(crate) fn jwks_fetched(_: bool) {}
    #[inline(always)]
    pub(crate) fn backend_failed(_: Backend, _: bool) {}
    #[inline(always)]
    pub(crate) fn backend_seconds(_: Backend, _: Duration) {}
}

#[cfg(feature = "jwks")]
pub(crate) use enabled::jwks_fetched;
pub(crate) use enabled::{
    backend_failed, backend_seconds, cache_evictions, cache_lookup, decision, guard_refused,
};
