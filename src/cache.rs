//! The opt-in cache of verified tokens ([`JwtLayerBuilder::cache`](crate::JwtLayerBuilder::cache)).
//!
//! A hit skips the signature and the parse, which dominate a request's cost, but nothing that
//! depends on time or on state outside the token: the time claims are checked again against the
//! clock, and the revocation check and the user lookup run as on a miss.
//!
//! Entries are keyed by the whole token, compared byte for byte: a hit is a token whose exact
//! bytes were verified before. The hash only picks a bucket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;

use crate::verify::{ClaimFacts, TimeClaims};

/// How long an entry may live at most by default, however long its token is valid.
pub(crate) const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5 * 60);

/// A verified token's claims and what the checks need.
pub(crate) struct Verified<C> {
    pub(crate) claims: C,
    pub(crate) facts: Option<ClaimFacts>,
    pub(crate) times: TimeClaims,
    /// How long the entry lives: until the token expires, at most the configured cap.
    lifetime: Duration,
}

/// Verified tokens, bounded in number and in time.
pub(crate) struct VerifiedTokens<C> {
    entries: Cache<Box<str>, Arc<Verified<C>>>,
    max_ttl: Duration,
}

/// Each entry expires with its token, or at the cap.
struct UntilExpiry;

impl<C> Expiry<Box<str>, Arc<Verified<C>>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &Box<str>,
        verified: &Arc<Verified<C>>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(verified.lifetime)
    }
}

impl<C: Send + Sync + 'static> VerifiedTokens<C> {
    pub(crate) fn new(capacity: u64, max_ttl: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build(),
            max_ttl,
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<Verified<C>>> {
        self.entries.get(token)
    }

    /// Remembers a token verified at `now` (seconds since the epoch).
    pub(crate) fn insert(
        &self,
        token: &str,
        claims: C,
        facts: Option<ClaimFacts>,
        times: TimeClaims,
        now: u64,
    ) {
        // Whole seconds left, rounded down: the entry never outlives the token.
        let left = Duration::from_secs((times.exp - now as f64).max(0.0) as u64);
        let lifetime = left.min(self.max_ttl);
        if lifetime.is_zero() {
            return;
        }
        let verified = Verified {
            claims,
            facts,
            times,
            lifetime,
        };
        self.entries.insert(token.into(), Arc::new(verified));
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(exp: f64) -> TimeClaims {
        TimeClaims::for_tests(exp)
    }

    #[test]
    fn an_entry_never_outlives_its_token_or_the_cap() {
        let cache = VerifiedTokens::<()>::new(10, Duration::from_secs(60));
        cache.insert("a", (), None, times(1_030.9), 1_000);
        cache.insert("b", (), None, times(5_000.0), 1_000);
        assert_eq!(cache.get("a").unwrap().lifetime, Duration::from_secs(30));
        assert_eq!(cache.get("b").unwrap().lifetime, Duration::from_secs(60));
    }

    #[test]
    fn a_token_with_under_a_second_left_is_not_kept() {
        let cache = VerifiedTokens::<()>::new(10, Duration::from_secs(60));
        cache.insert("a", (), None, times(1_000.5), 1_000);
        assert!(cache.get("a").is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_hit_needs_the_exact_token() {
        let cache = VerifiedTokens::<u8>::new(10, Duration::from_secs(60));
        cache.insert("header.payload.sig", 7, None, times(5_000.0), 1_000);
        assert_eq!(cache.get("header.payload.sig").unwrap().claims, 7);
        assert!(cache.get("header.payload.si").is_none());
        assert!(cache.get("header.payload.sig ").is_none());
        assert!(cache.get("header.payload.siG").is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = VerifiedTokens::<()>::new(100, Duration::from_secs(60));
        for i in 0..1_000 {
            cache.insert(&format!("token-{i}"), (), None, times(5_000.0), 1_000);
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
    }
}
