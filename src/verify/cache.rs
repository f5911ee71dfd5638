//! The opt-in cache of verified tokens ([`JwtLayerBuilder::cache`](crate::layer::JwtLayerBuilder::cache)).
//!
//! A hit skips the signature and the parse, which dominate a request's cost, but nothing that
//! depends on time or on state outside the token: the time claims are checked again against the
//! clock, and the revocation check and the user lookup run as on a miss.
//!
//! Entries are keyed by the whole token, compared byte for byte: a hit is a token whose exact
//! bytes were verified before. The hash only picks a bucket, and it reads only the token's
//! length and its last bytes (signature bytes): hashing a whole token cost more than the rest of
//! a lookup, and since only verified tokens are ever inserted, nobody can crowd a bucket with
//! chosen keys.
//!
//! The map is `quick_cache`'s: a lookup is a shard's read lock, a hash-table probe and an `Arc`
//! clone. Its hasher is `foldhash`'s (seeded per process): the standard SipHash cost more than
//! the probe, and resistance to chosen keys is not needed for keys nobody can choose. A cache
//! that records every read for an eviction policy or a timer wheel would make the lookup the
//! largest cost of a hit. Entries carry their own deadline, checked at every hit; an expired
//! entry is dropped when it is found, and until then counts against the capacity like any
//! other, so memory stays bounded.
//!
//! A full cache admits a token at its second miss (a doorkeeper, see `Doorkeeper`), so that a
//! churn it cannot hold does not pay an insertion and an eviction at every miss.
//!
//! Deadlines are in the verifier's clock (whole seconds since the epoch), the clock `exp` and
//! `nbf` are judged by: a hit then reads the time once, for both checks, rather than a second
//! clock for the TTL. (The measurements behind these choices are in BENCHMARKS.md.)

use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use equivalent::Equivalent;
use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, UnitWeighter};

use serde::de::DeserializeOwned;

use super::{Checked, ClaimFacts, TimeClaims, Verifier};
use crate::error::AuthError;
use crate::source::FoundToken;
use crate::telemetry;

/// How long an entry may live at most by default, however long its token is valid.
pub(crate) const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5 * 60);

/// A verified token's claims and what the checks need.
pub(crate) struct Verified<C> {
    /// Shared with every request the entry serves, never copied.
    pub(crate) claims: Arc<C>,
    pub(crate) facts: Option<Arc<ClaimFacts>>,
    pub(crate) times: TimeClaims,
    /// The tenant that verified it, whose rules judge its time claims at every hit.
    pub(crate) tenant: usize,
    /// Until when (seconds since the epoch, excluded) the entry may serve: the token's expiry,
    /// at most the configured cap after it was stored.
    pub(crate) deadline: u64,
    /// The seconds, before the deadline, at which the token's time claims are known to pass
    /// every time rule (`Verifier::passing_seconds`): a hit whose clock reading lies inside
    /// needs no other time check. Empty when that could not be settled.
    pub(crate) passing: Range<u64>,
}

/// Verified tokens, bounded in number and in time.
pub(crate) struct VerifiedTokens<C> {
    entries: Cache<
        TokenKey,
        Arc<Verified<C>>,
        UnitWeighter,
        foldhash::fast::RandomState,
        CountEvictions,
    >,
    /// Set at the first eviction for room: from then on a token is stored only when the
    /// doorkeeper has seen it miss before.
    full: Arc<AtomicBool>,
    /// Made when the cache is first full: an unbounded cache that never fills has none.
    doorkeeper: OnceLock<Doorkeeper>,
    capacity: u64,
    /// The cap, in whole seconds (a fraction of a second is dropped: never longer than asked).
    max_ttl: u64,
}

/// Reports the entries evicted for room (not those dropped for their deadline), and marks the
/// cache full. Like the default lifecycle, it drops up to two evicted entries after the
/// shard's lock is released.
#[derive(Clone)]
struct CountEvictions {
    full: Arc<AtomicBool>,
}

/// The admission of a full cache: a token is stored at its second miss within a window of
/// about as many misses as the cache holds entries. Under a churn the cache cannot hold (each
/// token comes back after more than that), nothing is stored, so misses cost a lookup and
/// this check over no cache rather than an insertion and an eviction each; a token that does
/// come back within the window pays one more verification before it is stored.
///
/// One slot per hash bucket remembers the fingerprint of the last token that missed there; a
/// second miss of that token finds it. Two tokens sharing a slot only change which of them is
/// stored first: admission is never a security decision, as every entry is a verified token.
struct Doorkeeper {
    slots: Box<[AtomicU64]>,
    hasher: foldhash::fast::RandomState,
}

impl Doorkeeper {
    fn new(capacity: u64) -> Self {
        let len = usize::try_from(capacity)
            .unwrap_or(usize::MAX)
            .clamp(64, 1 << 22)
            .next_power_of_two();
        Self {
            slots: (0..len).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Whether `token` missed in its slot before; if not, it is remembered there.
    fn admits(&self, token: &[u8]) -> bool {
        // Zero marks an empty slot.
        let fingerprint = self.hasher.hash_one(Lookup(token)) | 1;
        let slot = &self.slots[(fingerprint >> 1) as usize & (self.slots.len() - 1)];
        if slot.load(Ordering::Relaxed) == fingerprint {
            slot.store(0, Ordering::Relaxed);
            true
        } else {
            slot.store(fingerprint, Ordering::Relaxed);
            false
        }
    }
}

/// The evicted entries of one insertion, dropped outside the lock, and how many there were.
type Evicted<V> = ([Option<(TokenKey, V)>; 2], u64);

impl<V> Lifecycle<TokenKey, V> for CountEvictions {
    type RequestState = Evicted<V>;

    #[inline]
    fn begin_request(&self) -> Self::RequestState {
        ([None, None], 0)
    }

    #[inline]
    fn on_evict(&self, (slots, count): &mut Self::RequestState, key: TokenKey, value: V) {
        *count += 1;
        self.full.store(true, Ordering::Relaxed);
        if let Some(slot) = slots.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some((key, value));
        }
    }

    #[inline]
    fn end_request(&self, (_, count): Self::RequestState) {
        if count > 0 {
            telemetry::cache_evictions(count);
            tracing::debug!(
                target: "tower_jwt_auth",
                evicted = count,
                "verified-token cache evicted entries"
            );
        }
    }
}

/// A cached token: equal when the whole token is, hashed by its tail (see the module docs).
#[derive(PartialEq, Eq)]
struct TokenKey(Box<str>);

/// A token looked up, without copying it into a key. Bytes, not `str`: a hit needs no UTF-8
/// check of the request's token, as it equals a token that was verified.
struct Lookup<'a>(&'a [u8]);

/// How many bytes of the end of a token the hash reads.
const HASHED_TAIL: usize = 32;

fn hash_token<H: Hasher>(bytes: &[u8], state: &mut H) {
    state.write_usize(bytes.len());
    state.write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
}

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_token(self.0.as_bytes(), state);
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_token(self.0, state);
    }
}

impl Equivalent<TokenKey> for Lookup<'_> {
    fn equivalent(&self, key: &TokenKey) -> bool {
        *self.0 == *key.0.as_bytes()
    }
}

impl<C: Send + Sync + 'static> VerifiedTokens<C> {
    pub(crate) fn new(capacity: u64, max_ttl: Duration) -> Self {
        let full = Arc::new(AtomicBool::new(false));
        let entries = Cache::with(
            usize::try_from(capacity).unwrap_or(usize::MAX),
            capacity,
            UnitWeighter,
            foldhash::fast::RandomState::default(),
            CountEvictions { full: full.clone() },
        );
        Self {
            entries,
            full,
            doorkeeper: OnceLock::new(),
            capacity,
            max_ttl: max_ttl.as_secs(),
        }
    }

    /// The entry of `token`, when there is one and `serves(entry)` says it may still serve
    /// (by its deadline, in seconds since the epoch in the verifier's clock).
    pub(crate) fn get<T: AsRef<[u8]> + ?Sized>(
        &self,
        token: &T,
        serves: impl FnOnce(&Verified<C>) -> bool,
    ) -> Option<Arc<Verified<C>>> {
        let token = token.as_ref();
        let verified = self.entries.get(&Lookup(token))?;
        if serves(&verified) {
            return Some(verified);
        }
        // Only this very entry: another thread may have stored a fresh one meanwhile.
        self.entries
            .remove_if(&Lookup(token), |current| Arc::ptr_eq(current, &verified));
        None
    }

    /// Whether a token that missed is to be stored: always until the cache is full, then at
    /// its second miss (see [`Doorkeeper`]).
    pub(crate) fn admits(&self, token: &str) -> bool {
        !self.full.load(Ordering::Relaxed)
            || self
                .doorkeeper
                .get_or_init(|| Doorkeeper::new(self.capacity))
                .admits(token.as_bytes())
    }

    /// Remembers a token verified at `now` (seconds since the epoch), when it
    /// [`admits`](Self::admits) it (the layer asks first, so as not to read the clock for a
    /// token it will not store). `passing(times, deadline)` gives the seconds before the
    /// deadline at which the time claims pass (see [`Verified`]).
    #[cfg(test)]
    pub(crate) fn insert(
        &self,
        token: &str,
        claims: Arc<C>,
        tenant: usize,
        checked: &Checked,
        now: u64,
        passing: impl FnOnce(&TimeClaims, u64) -> Range<u64>,
    ) {
        if self.admits(token) {
            self.store(token, claims, tenant, checked, now, passing);
        }
    }

    /// [`insert`](Self::insert) without asking the doorkeeper, for a token it admitted.
    pub(crate) fn store(
        &self,
        token: &str,
        claims: Arc<C>,
        tenant: usize,
        checked: &Checked,
        now: u64,
        passing: impl FnOnce(&TimeClaims, u64) -> Range<u64>,
    ) {
        let (times, facts) = (checked.times, checked.facts.clone());
        // Whole seconds left, rounded down: the entry never outlives the token.
        let left = (times.exp - now as f64).max(0.0) as u64;
        let lifetime = left.min(self.max_ttl);
        if lifetime == 0 {
            return;
        }
        let Some(deadline) = now.checked_add(lifetime) else {
            return;
        };
        let passing = passing(&times, deadline);
        let verified = Verified {
            claims,
            facts,
            times,
            tenant,
            deadline,
            passing,
        };
        self.entries
            .insert(TokenKey(token.into()), Arc::new(verified));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// What a verification for the layer yields, from the cache or not.
pub(crate) struct Outcome<C> {
    pub(crate) claims: Arc<C>,
    /// The registered claims the asynchronous checks need, when asked for.
    pub(crate) facts: Option<Arc<ClaimFacts>>,
    pub(crate) exp: f64,
    /// Whether the cache knew the token; `None` without a cache.
    pub(crate) cache_hit: Option<bool>,
}

impl<C: DeserializeOwned + Send + Sync + 'static> Verifier<C> {
    /// Verifies `token` for the layer: through `cache` when there is one, where a hit is a
    /// token verified before whose time claims still hold; `collect` asks for the facts.
    pub(crate) fn verify_through(
        &self,
        cache: Option<&VerifiedTokens<C>>,
        token: &FoundToken<'_>,
        tenant: Option<usize>,
        collect: bool,
    ) -> Result<Outcome<C>, AuthError> {
        let Some(cache) = cache else {
            let (claims, checked, _) = self.verify_tenant(token.as_str(), tenant, collect)?;
            return Ok(Outcome {
                claims: Arc::new(claims),
                facts: checked.facts,
                exp: checked.times.exp,
                cache_hit: None,
            });
        };
        // One clock read serves the entry's deadline and the token's time claims; inside the
        // seconds the entry knows to pass, it settles both.
        let now = self.rough_now();
        let hit = cache.get(token.as_bytes(), |hit| {
            now.within(&hit.passing) || self.is_before(now, hit.deadline)
        });
        // A token verified for another tenant than the request picks is verified again, and
        // refused by that tenant's issuer rule.
        if let Some(hit) = hit.filter(|hit| tenant.is_none_or(|tenant| tenant == hit.tenant)) {
            if !now.within(&hit.passing) {
                self.tenant(hit.tenant)
                    .rules
                    .recheck_times(&hit.times, now)?;
            }
            telemetry::cache_lookup(true);
            return Ok(Outcome {
                claims: hit.claims.clone(),
                facts: hit.facts.clone(),
                exp: hit.times.exp,
                cache_hit: Some(true),
            });
        }
        telemetry::cache_lookup(false);
        let token = token.as_str();
        let (claims, checked, tenant) = self.verify_tenant(token, tenant, collect)?;
        let claims = Arc::new(claims);
        if cache.admits(token) {
            // Read after verifying, so the entry cannot outlive the token.
            let now = self.now_secs();
            let rules = &self.tenant(tenant).rules;
            cache.store(
                token,
                claims.clone(),
                tenant,
                &checked,
                now,
                |times, deadline| rules.passing_seconds(times, deadline),
            );
        }
        Ok(Outcome {
            claims,
            facts: checked.facts,
            exp: checked.times.exp,
            cache_hit: Some(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deadline test of a lookup at `now`.
    fn at<C>(now: u64) -> impl FnOnce(&Verified<C>) -> bool {
        move |verified| now < verified.deadline
    }

    /// No seconds known to pass: hits take the full checks.
    fn unsettled(_: &TimeClaims, _: u64) -> Range<u64> {
        0..0
    }

    fn times(exp: f64) -> Checked {
        Checked {
            times: TimeClaims::for_tests(exp),
            facts: None,
        }
    }

    #[test]
    fn an_entry_never_outlives_its_token_or_the_cap() {
        // A cap of 60.9 s is 60 s: never longer than asked.
        let cache = VerifiedTokens::<()>::new(10, Duration::from_millis(60_900));
        cache.insert("a", Arc::new(()), 0, &times(1_030.9), 1_000, unsettled);
        cache.insert("b", Arc::new(()), 0, &times(5_000.0), 1_000, unsettled);
        // `a` serves until its token's last whole second, `b` for the cap.
        assert!(cache.get("a", at(1_029)).is_some());
        assert!(cache.get("a", at(1_030)).is_none());
        assert!(cache.get("b", at(1_059)).is_some());
        assert!(cache.get("b", at(1_060)).is_none());
    }

    #[test]
    fn an_expired_entry_is_a_miss_and_is_dropped() {
        let cache = VerifiedTokens::<()>::new(10, Duration::from_secs(30));
        cache.insert("a", Arc::new(()), 0, &times(5_000.0), 1_000, unsettled);
        cache.insert("b", Arc::new(()), 0, &times(5_000.0), 1_000, unsettled);
        assert!(cache.get("a", at(1_000)).is_some());
        assert!(cache.get("a", at(1_030)).is_none());
        assert_eq!(cache.len(), 1);
        // Stored again, it serves again.
        cache.insert("a", Arc::new(()), 0, &times(5_000.0), 1_030, unsettled);
        assert!(cache.get("a", at(1_030)).is_some());
    }

    #[test]
    fn a_token_with_under_a_second_left_or_a_cap_under_a_second_is_not_kept() {
        let cache = VerifiedTokens::<()>::new(10, Duration::from_secs(60));
        cache.insert("a", Arc::new(()), 0, &times(1_000.5), 1_000, unsettled);
        assert!(cache.get("a", at(1_000)).is_none());
        assert_eq!(cache.len(), 0);
        let cache = VerifiedTokens::<()>::new(10, Duration::from_millis(999));
        cache.insert("a", Arc::new(()), 0, &times(5_000.0), 1_000, unsettled);
        assert!(cache.get("a", at(1_000)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_hit_needs_the_exact_token() {
        let cache = VerifiedTokens::<u8>::new(10, Duration::from_secs(60));
        cache.insert(
            "header.payload.sig",
            Arc::new(7),
            0,
            &times(5_000.0),
            1_000,
            unsettled,
        );
        assert_eq!(
            cache.get("header.payload.sig", at(1_000)).unwrap().claims,
            Arc::new(7)
        );
        assert!(cache.get("header.payload.si", at(1_000)).is_none());
        assert!(cache.get("header.payload.sig ", at(1_000)).is_none());
        assert!(cache.get("header.payload.siG", at(1_000)).is_none());
    }

    #[test]
    fn tokens_with_the_same_tail_are_still_told_apart() {
        let cache = VerifiedTokens::<u8>::new(10, Duration::from_secs(60));
        let tail = "s".repeat(HASHED_TAIL);
        let (first, second) = (format!("aaaa.{tail}"), format!("bbbb.{tail}"));
        cache.insert(&first, Arc::new(1), 0, &times(5_000.0), 1_000, unsettled);
        assert!(cache.get(&second, at(1_000)).is_none());
        cache.insert(&second, Arc::new(2), 0, &times(5_000.0), 1_000, unsettled);
        assert_eq!(cache.get(&first, at(1_000)).unwrap().claims, Arc::new(1));
        assert_eq!(cache.get(&second, at(1_000)).unwrap().claims, Arc::new(2));
        assert!(cache.get(&format!("aaab.{tail}"), at(1_000)).is_none());
        assert!(cache.get("", at(1_000)).is_none());
    }

    #[test]
    fn a_full_cache_stores_a_token_at_its_second_miss() {
        let cache = VerifiedTokens::<u8>::new(16, Duration::from_secs(60));
        let store = |token: &str| {
            cache.insert(token, Arc::new(1), 0, &times(5_000.0), 1_000, unsettled);
        };
        // Before it is full, a token is stored at its first miss.
        store("early");
        assert!(cache.get("early", at(1_000)).is_some());
        for filler in 0..200 {
            store(&format!("filler-{filler}"));
        }
        assert!(cache.full.load(Ordering::Relaxed));
        store("late");
        assert!(cache.get("late", at(1_000)).is_none());
        store("late");
        assert!(cache.get("late", at(1_000)).is_some());
    }

    #[test]
    fn a_huge_capacity_allocates_nothing_up_front() {
        let cache = VerifiedTokens::<u8>::new(u64::MAX, Duration::from_secs(60));
        cache.insert("a", Arc::new(1), 0, &times(5_000.0), 1_000, unsettled);
        assert_eq!(cache.get("a", at(1_000)).unwrap().claims, Arc::new(1));
        assert!(cache.doorkeeper.get().is_none());
    }

    #[test]
    fn an_entry_keeps_the_passing_seconds_it_was_given() {
        let cache = VerifiedTokens::<()>::new(10, Duration::from_secs(60));
        cache.insert(
            "a",
            Arc::new(()),
            0,
            &times(1_030.0),
            1_000,
            |times, deadline| {
                // Asked for the seconds before the entry's deadline.
                assert_eq!((times.exp, deadline), (1_030.0, 1_030));
                990..deadline
            },
        );
        let hit = cache.get("a", at(1_000)).unwrap();
        assert_eq!((hit.deadline, hit.passing.clone()), (1_030, 990..1_030));
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = VerifiedTokens::<()>::new(100, Duration::from_secs(60));
        for i in 0..1_000 {
            cache.insert(
                &format!("token-{i}"),
                Arc::new(()),
                0,
                &times(5_000.0),
                1_000,
                unsettled,
            );
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
    }
}
