//! [`MemoryRevocationStore`]: revocations kept in this process, bounded without ever forgetting a
//! live one.
//!
//! A plain bounded cache would evict a live revocation when full, and make its token valid
//! again; and since any user can revoke their own tokens in bulk (log in, log out, repeat),
//! one user could push everyone else's revocations out. So the store is bounded by what a
//! user cannot multiply: each subject keeps at most `per_subject` listed tokens and logins;
//! one more collapses them into a single "every token of this subject issued before t"
//! entry, which covers all of them (and ends that subject's other tokens issued before t,
//! the price of the flood falling on the one who floods). Only then does `capacity` bound the
//! number of subjects; a revocation that cannot be stored fails, so the logout answers 503
//! instead of 204, and nothing already stored is dropped before it expires.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::BoxFuture;
use foldhash::fast::RandomState;

use super::{LOGIN_PREFIX, RevocationStore, TokenFacts, issued_before, login_id, with_joined};
use crate::clock::instant_after;
use crate::error::BoxError;

/// How many tokens and logins of one subject [`MemoryRevocationStore`] lists one by one by
/// default, before collapsing them into one "revoked before" entry.
pub const DEFAULT_REVOCATIONS_PER_SUBJECT: usize = 16;

/// How many entries [`MemoryRevocationStore::default`] holds.
pub const DEFAULT_REVOCATION_CAPACITY: usize = 100_000;

/// Revocations kept in this process: for a single instance, tests and development.
///
/// Bounded, and never by forgetting a live revocation:
/// - each entry lives as long as what it revokes can (a listed token until its `exp` plus the
///   leeway);
/// - a subject has at most [`per_subject`](Self::per_subject) tokens and logins listed one by
///   one: the next revocation replaces them all by one entry revoking every token of the
///   subject issued up to the latest of them, so one user's flood of logouts costs one entry
///   and touches nobody else;
/// - at most `capacity` entries in all: a revocation that would need more fails (the logout
///   answers 503, logged at error level) rather than evicting one.
///
/// Everything is lost when the process ends: use `RedisRevocationStore` when revocations must
/// survive a restart or be shared by several instances. Cheap to clone; clones share the
/// entries.
#[derive(Clone)]
pub struct MemoryRevocationStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: RwLock<State>,
    capacity: usize,
    per_subject: usize,
}

#[derive(Default)]
struct State {
    /// Listed tokens (`jti:…`, `sha256:…`) and logins (`sid:…`), by id.
    listed: HashMap<String, Listed, RandomState>,
    subjects: HashMap<String, Subject, RandomState>,
    /// Subjects with a "revoked before" entry: those count against the capacity, as listed
    /// entries do.
    subjects_revoked: usize,
    /// Until when nothing listed expires, as found by the last sweep: a full store is swept
    /// again only then.
    next_expiry: Option<Instant>,
}

struct Listed {
    until: Instant,
    /// Every token this entry revokes was issued before this moment (Unix seconds): what a
    /// subject revocation must reach to cover it.
    issued_before: u64,
}

#[derive(Default)]
struct Subject {
    /// The ids of this subject's listed entries (some may have expired since).
    listed: Vec<String>,
    revoked: Option<RevokedBefore>,
}

#[derive(Clone, Copy)]
struct RevokedBefore {
    before: u64,
    until: Instant,
}

impl RevokedBefore {
    fn merge(self, other: Self) -> Self {
        Self {
            before: self.before.max(other.before),
            until: self.until.max(other.until),
        }
    }
}

impl fmt::Debug for MemoryRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("MemoryRevocationStore")
            .field("listed", &state.listed.len())
            .field("subjects_revoked", &state.subjects_revoked)
            .field("capacity", &self.shared.capacity)
            .field("per_subject", &self.shared.per_subject)
            .finish()
    }
}

impl Default for MemoryRevocationStore {
    /// A store of [`DEFAULT_REVOCATION_CAPACITY`] entries, [`DEFAULT_REVOCATIONS_PER_SUBJECT`]
    /// a subject.
    fn default() -> Self {
        Self::new(DEFAULT_REVOCATION_CAPACITY as u64)
    }
}

impl MemoryRevocationStore {
    /// A store holding at most `capacity` entries, [`DEFAULT_REVOCATIONS_PER_SUBJECT`] of one
    /// subject listed one by one.
    pub fn new(capacity: u64) -> Self {
        Self::with_limits(
            usize::try_from(capacity).unwrap_or(usize::MAX),
            DEFAULT_REVOCATIONS_PER_SUBJECT,
        )
    }

    /// Lists at most `per_subject` tokens and logins of one subject one by one; the next
    /// revocation of that subject collapses them into one entry. `0` collapses at once: every
    /// revocation of a subject then ends all its tokens issued until then.
    pub fn per_subject(self, per_subject: usize) -> Self {
        Self::with_limits(self.shared.capacity, per_subject)
    }

    fn with_limits(capacity: usize, per_subject: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: RwLock::new(State::default()),
                capacity,
                per_subject,
            }),
        }
    }

    /// The entries held (listed tokens and logins, revoked subjects), expired ones not yet
    /// swept included.
    pub fn len(&self) -> usize {
        self.read().counted()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // Nothing panics while holding the lock, so a poisoned one holds consistent state.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.shared
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `token` is revoked: without allocating, and without a lookup in a map that is
    /// empty.
    fn check(&self, token: &TokenFacts) -> bool {
        let state = self.read();
        let live = |until: Instant| until > Instant::now();
        if !state.listed.is_empty() {
            let listed = |id: &str| state.listed.get(id).is_some_and(|entry| live(entry.until));
            if token.with_revocation_id(listed) {
                return true;
            }
            if let Some(sid) = token.sid()
                && with_joined(LOGIN_PREFIX, sid, listed)
            {
                return true;
            }
        }
        if state.subjects_revoked == 0 {
            return false;
        }
        token
            .sub()
            .and_then(|sub| state.subjects.get(sub))
            .and_then(|subject| subject.revoked)
            .is_some_and(|revoked| live(revoked.until) && issued_before(token, revoked.before))
    }

    /// Lists `id` for `ttl`, under `subject` when there is one.
    fn list(
        &self,
        id: String,
        subject: Option<&str>,
        issued_before: u64,
        ttl: Duration,
    ) -> Result<(), BoxError> {
        if ttl.is_zero() {
            return Ok(());
        }
        let now = Instant::now();
        let until = instant_after(now, ttl);
        let mut state = self.write();
        if let Some(entry) = state.listed.get_mut(&id) {
            entry.until = entry.until.max(until);
            entry.issued_before = entry.issued_before.max(issued_before);
            return Ok(());
        }
        let entry = Listed {
            until,
            issued_before,
        };
        if let Some(subject) = subject {
            let revoked = state.subject_revocation(subject, now);
            if revoked.is_some_and(|r| r.before >= issued_before && r.until >= until) {
                // Already covered by the subject's revocation.
                return Ok(());
            }
            if state.live_listed(subject, now) >= self.shared.per_subject {
                let covering = RevokedBefore {
                    before: issued_before,
                    until,
                };
                return self.collapse(&mut state, subject, covering, now);
            }
        }
        self.make_room(&mut state, 1, now)?;
        state.expiring_at(until);
        if let Some(subject) = subject {
            state
                .subjects
                .entry(subject.to_owned())
                .or_default()
                .listed
                .push(id.clone());
        }
        state.listed.insert(id, entry);
        Ok(())
    }

    /// Replaces the subject's listed entries by one revocation of every token issued before
    /// the latest of them (and of `covering`).
    fn collapse(
        &self,
        state: &mut State,
        subject: &str,
        covering: RevokedBefore,
        now: Instant,
    ) -> Result<(), BoxError> {
        let ids = state
            .subjects
            .get(subject)
            .map(|entry| entry.listed.clone())
            .unwrap_or_default();
        let revoked =
            ids.iter()
                .filter_map(|id| state.listed.get(id))
                .fold(covering, |revoked, entry| {
                    revoked.merge(RevokedBefore {
                        before: entry.issued_before,
                        until: entry.until,
                    })
                });
        // Stored before the entries it replaces are dropped: a failure leaves them in place.
        self.revoke_before(state, subject, revoked, ids.len(), now)?;
        for id in &ids {
            state.listed.remove(id);
        }
        if let Some(entry) = state.subjects.get_mut(subject) {
            entry.listed.clear();
        }
        tracing::info!(
            target: "tower_jwt_auth",
            listed = ids.len(),
            "revocations of one subject collapsed into one: its tokens issued before the \
             latest of them are revoked"
        );
        Ok(())
    }

    /// Keeps the later moment and the longer life: neither an older `before` nor a shorter
    /// life may un-revoke tokens.
    /// `freed` entries are about to be dropped for it.
    fn revoke_before(
        &self,
        state: &mut State,
        subject: &str,
        revoked: RevokedBefore,
        freed: usize,
        now: Instant,
    ) -> Result<(), BoxError> {
        if state.subject_revocation(subject, now).is_none() {
            self.make_room(state, 1usize.saturating_sub(freed), now)?;
            state.subjects_revoked += 1;
        }
        state.expiring_at(revoked.until);
        let entry = state.subjects.entry(subject.to_owned()).or_default();
        entry.revoked = Some(entry.revoked.map_or(revoked, |held| held.merge(revoked)));
        Ok(())
    }

    /// Makes sure `needed` more entries fit, sweeping expired ones when full; fails when they
    /// do not.
    fn make_room(&self, state: &mut State, needed: usize, now: Instant) -> Result<(), BoxError> {
        let capacity = self.shared.capacity;
        if state.counted() + needed <= capacity {
            return Ok(());
        }
        if state.next_expiry.is_none_or(|next| next <= now) {
            state.sweep(now);
        }
        if state.counted() + needed <= capacity {
            return Ok(());
        }
        Err(format!(
            "revocation store full ({capacity} entries, none expired): the revocation was \
             not stored; raise the capacity"
        )
        .into())
    }
}

impl State {
    fn counted(&self) -> usize {
        self.listed.len() + self.subjects_revoked
    }

    /// Notes an entry expiring at `until`, so a full store sweeps once it has.
    fn expiring_at(&mut self, until: Instant) {
        if let Some(next) = &mut self.next_expiry {
            *next = (*next).min(until);
        }
    }

    /// The subject's revocation, when it is live; an expired one is dropped.
    fn subject_revocation(&mut self, subject: &str, now: Instant) -> Option<RevokedBefore> {
        let entry = self.subjects.get_mut(subject)?;
        match entry.revoked {
            Some(revoked) if revoked.until > now => Some(revoked),
            Some(_) => {
                entry.revoked = None;
                self.subjects_revoked -= 1;
                None
            }
            None => None,
        }
    }

    /// How many of the subject's listed entries are live, after dropping the others.
    fn live_listed(&mut self, subject: &str, now: Instant) -> usize {
        let Some(entry) = self.subjects.get_mut(subject) else {
            return 0;
        };
        let listed = &mut self.listed;
        entry.listed.retain(|id| match listed.get(id) {
            Some(held) if held.until > now => true,
            Some(_) => {
                listed.remove(id);
                false
            }
            None => false,
        });
        entry.listed.len()
    }

    /// Drops every expired entry, and remembers when the next one expires.
    fn sweep(&mut self, now: Instant) {
        self.listed.retain(|_, entry| entry.until > now);
        let listed = &self.listed;
        let mut revoked = 0;
        self.subjects.retain(|_, subject| {
            subject.listed.retain(|id| listed.contains_key(id));
            subject.revoked = subject.revoked.filter(|r| r.until > now);
            revoked += usize::from(subject.revoked.is_some());
            subject.revoked.is_some() || !subject.listed.is_empty()
        });
        self.subjects_revoked = revoked;
        let next_listed = self.listed.values().map(|entry| entry.until).min();
        let next_subject = self
            .subjects
            .values()
            .filter_map(|subject| subject.revoked.map(|r| r.until))
            .min();
        self.next_expiry = match (next_listed, next_subject) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

impl RevocationStore for MemoryRevocationStore {
    fn is_revoked<'a>(&'a self, token: &'a TokenFacts) -> BoxFuture<'a, Result<bool, BoxError>> {
        let revoked = self.check(token);
        Box::pin(async move { Ok(revoked) })
    }

    fn is_revoked_now(&self, token: &TokenFacts) -> Option<Result<bool, BoxError>> {
        Some(Ok(self.check(token)))
    }

    fn revoke_token<'a>(
        &'a self,
        token: &'a TokenFacts,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        // A token without `iat` is covered by any subject revocation.
        let issued_before = token.iat().map_or(0, |iat| iat.saturating_add(1));
        let stored = self.list(token.revocation_id(), token.sub(), issued_before, ttl);
        Box::pin(async move { stored })
    }

    fn revoke_login<'a>(
        &'a self,
        login: &'a str,
        subject: &'a str,
        revoked_at: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        // No token of a revoked login is issued after it: its tokens were issued up to now.
        let issued_before = revoked_at.saturating_add(1);
        let stored = self.list(login_id(login), Some(subject), issued_before, ttl);
        Box::pin(async move { stored })
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        before: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        let now = Instant::now();
        let revoked = RevokedBefore {
            before,
            until: instant_after(now, ttl),
        };
        let stored = self.revoke_before(&mut self.write(), subject, revoked, 0, now);
        Box::pin(async move { stored })
    }
}
