//! Reading the system clock: Unix seconds and milliseconds, and deadlines for in-memory
//! entries.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// `now + ttl`, for any `ttl` (a token's `exp` may be 2^64 − 1 when no maximum lifetime bounds
/// it): an in-memory entry kept a century is kept for ever.
pub(crate) fn instant_after(now: Instant, ttl: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    now.checked_add(ttl.min(CENTURY)).unwrap_or(now)
}

/// The time rules' clock, in whole seconds since the Unix epoch: the system's, or one the
/// user configured (`clock(..)` on the builders, for tests and simulations). Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Clock(Option<Arc<dyn Fn() -> u64 + Send + Sync>>);

impl Clock {
    /// A clock that reads `read`.
    pub(crate) fn from_fn(read: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(read)))
    }

    /// Whether this is the system clock, which a cache hit may read coarsely.
    pub(crate) fn is_system(&self) -> bool {
        self.0.is_none()
    }

    /// Now, in whole seconds since the Unix epoch.
    pub(crate) fn now(&self) -> u64 {
        self.0.as_ref().map_or_else(unix_now, |read| read())
    }
}

/// The current time in whole seconds since the Unix epoch: exactly, or somewhere in
/// `earliest..=latest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Now {
    pub(crate) earliest: u64,
    pub(crate) latest: u64,
}

impl Now {
    pub(crate) fn exactly(secs: u64) -> Self {
        Self {
            earliest: secs,
            latest: secs,
        }
    }

    /// Whether the whole range lies within `seconds`.
    pub(crate) fn within(&self, seconds: &Range<u64>) -> bool {
        seconds.start <= self.earliest && self.latest < seconds.end
    }
}

/// Whether Linux's `CLOCK_REALTIME_COARSE` ticks well under a second apart, which every kernel
/// we know of does (4 ms at 250 Hz); [`coarse_now`] relies on it.
#[cfg(target_os = "linux")]
pub(crate) fn coarse_clock_is_fine() -> bool {
    let resolution = rustix::time::clock_getres(rustix::time::ClockId::RealtimeCoarse);
    resolution.tv_sec == 0 && resolution.tv_nsec < 100_000_000
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn coarse_clock_is_fine() -> bool {
    false
}

/// Linux's `CLOCK_REALTIME_COARSE`: the time of the last timer tick, read without the clock
/// source. It lags the precise clock by less than a tick, so the precise whole seconds are its
/// own or the next; one more second on each side absorbs any disagreement. Read only when
/// [`coarse_clock_is_fine`]; `None` before the epoch.
#[cfg(target_os = "linux")]
pub(crate) fn coarse_now() -> Option<Now> {
    let coarse = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    let secs = u64::try_from(coarse.tv_sec).ok()?;
    Some(Now {
        earliest: secs.saturating_sub(1),
        latest: secs.saturating_add(1),
    })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn coarse_now() -> Option<Now> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_coarse_range_holds_the_precise_time() {
        assert!(coarse_clock_is_fine());
        for _ in 0..1_000 {
            let before = unix_now();
            let now = coarse_now().expect("after the epoch");
            let after = unix_now();
            assert!(
                now.earliest <= before && after <= now.latest,
                "{before}..={after} outside {now:?}"
            );
        }
    }
}
