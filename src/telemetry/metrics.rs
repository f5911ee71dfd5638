//! The metrics the layer records (cargo feature `metrics`); without the feature every function
//! here is empty and inlined away.
//!
//! Names and labels are string literals, not the `telemetry` constants: the `metrics` macros
//! make a literal key a `static` whose hash is computed at compile time, where any other key is
//! built and hashed at every call. The tests read the metrics by the constants, so the two
//! cannot drift apart.

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

/// Times the synchronous part of a decision until it is dropped; nothing at all without the
/// feature.
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
}

impl Drop for Timer {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        ::metrics::histogram!("tower_jwt_auth_verification_seconds").record(self.started.elapsed());
    }
}

#[cfg(feature = "metrics")]
mod enabled {
    use super::{Backend, Duration};
    use crate::error::AuthError;
    use crate::telemetry::Verdict;

    /// Literal labels make static keys: an accepted request allocates nothing here.
    pub(crate) fn decision(verdict: Verdict<'_>) {
        let counter = match verdict {
            Verdict::Authenticated => {
                ::metrics::counter!("tower_jwt_auth_decisions_total", "outcome" => "authenticated", "kind" => "none")
            }
            Verdict::Anonymous => {
                ::metrics::counter!("tower_jwt_auth_decisions_total", "outcome" => "anonymous", "kind" => "none")
            }
            Verdict::Refused(error) => {
                ::metrics::counter!("tower_jwt_auth_decisions_total", "outcome" => "refused", "kind" => error.kind_name())
            }
        };
        counter.increment(1);
    }

    pub(crate) fn guard_refused(guard: &'static str, error: &AuthError) {
        ::metrics::counter!("tower_jwt_auth_guard_refusals_total", "guard" => guard, "kind" => error.kind_name())
            .increment(1);
    }

    pub(crate) fn cache_lookup(hit: bool) {
        match hit {
            true => ::metrics::counter!("tower_jwt_auth_cache_hits_total").increment(1),
            false => ::metrics::counter!("tower_jwt_auth_cache_misses_total").increment(1),
        }
    }

    pub(crate) fn cache_evictions(count: u64) {
        ::metrics::counter!("tower_jwt_auth_cache_evictions_total").increment(count);
    }

    #[cfg(feature = "jwks")]
    pub(crate) fn jwks_fetched(ok: bool) {
        let result = if ok { "ok" } else { "error" };
        ::metrics::counter!("tower_jwt_auth_jwks_fetches_total", "result" => result).increment(1);
    }

    pub(crate) fn backend_failed(backend: Backend, timed_out: bool) {
        let failure = if timed_out { "timeout" } else { "error" };
        ::metrics::counter!("tower_jwt_auth_backend_failures_total", "backend" => backend.label(), "failure" => failure)
            .increment(1);
    }

    #[cfg(feature = "redis")]
    pub(crate) fn mirror_loaded() {
        ::metrics::counter!("tower_jwt_auth_revocation_mirror_loads_total").increment(1);
    }

    #[cfg(feature = "redis")]
    pub(crate) fn mirror_stale() {
        ::metrics::counter!("tower_jwt_auth_revocation_mirror_stale_total").increment(1);
        ::metrics::gauge!("tower_jwt_auth_revocation_mirror_current").set(0.0);
    }

    #[cfg(feature = "redis")]
    pub(crate) fn mirror_current() {
        ::metrics::gauge!("tower_jwt_auth_revocation_mirror_current").set(1.0);
    }

    pub(crate) fn backend_seconds(backend: Backend, elapsed: Duration) {
        let histogram = match backend {
            Backend::Revocation => {
                ::metrics::histogram!("tower_jwt_auth_backend_seconds", "backend" => "revocation")
            }
            Backend::UserLookup => {
                ::metrics::histogram!("tower_jwt_auth_backend_seconds", "backend" => "user_lookup")
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
    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn mirror_loaded() {}
    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn mirror_stale() {}
    #[cfg(feature = "redis")]
    #[inline(always)]
    pub(crate) fn mirror_current() {}
}

#[cfg(feature = "jwks")]
pub(crate) use enabled::jwks_fetched;
pub(crate) use enabled::{
    backend_failed, backend_seconds, cache_evictions, cache_lookup, decision, guard_refused,
};
#[cfg(feature = "redis")]
pub(crate) use enabled::{mirror_current, mirror_loaded, mirror_stale};
