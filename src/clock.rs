//! Reading the system clock: Unix seconds and milliseconds, and deadlines for in-memory
//! entries.

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
