//! [`MemoryRefreshStore`]: refresh tokens kept in this process, bounded without ever forgetting
//! a live session or a revocation.
//!
//! A bounded cache would evict when full: a session that answered 200 at login would be gone,
//! or worse, a revoked family's marker, so that its tokens renew again. Here nothing is evicted:
//! an entry lives until what it describes expires, each subject holds at most `per_subject`
//! token records (a flood of logins ends the flooding subject's own oldest sessions, nobody
//! else's), and a write that needs room the store does not have fails, so the login or the
//! refresh answers 503 instead of 200.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::BoxFuture;
use foldhash::fast::RandomState;

use super::{Consumed, RefreshRecord, RefreshStore, Rotation, family_revoked_by_subject};
use crate::clock::{instant_after, unix_millis};
use crate::error::BoxError;

/// How many entries [`MemoryRefreshStore::default`] holds.
pub const DEFAULT_REFRESH_CAPACITY: usize = 100_000;

/// How many token records of one subject [`MemoryRefreshStore`] holds by default.
pub const DEFAULT_REFRESH_TOKENS_PER_SUBJECT: usize = 1_000;

/// Refresh tokens kept in this process: for a single instance, tests and development.
///
/// Bounded, and never by forgetting a live entry:
/// - each entry lives as long as what it describes: a token record (consumed ones too, to
///   recognise a replay) until its family expires, a revoked family or subject until no token
///   it covers can be alive;
/// - a subject holds at most [`per_subject`](Self::per_subject) token records: beyond that its
///   oldest other login ends (its refresh tokens stop working), or, when the login that grows
///   is its only one, its oldest consumed tokens are forgotten (a replay of one of them is then
///   refused as unknown rather than ending the login);
/// - at most `capacity` entries in all: a login or rotation that would need more fails with
///   [`SessionError::Unavailable`](crate::error::SessionError::Unavailable) (503), logged at error
///   level.
///
/// Everything is lost when the process ends: every login ends with it. Use `RedisRefreshStore`
/// when sessions must survive a restart or be shared by several instances. Cheap to clone;
/// clones share the entries.
#[derive(Clone)]
pub struct MemoryRefreshStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    capacity: usize,
    per_subject: usize,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, Token, RandomState>,
    families: HashMap<String, Family, RandomState>,
    subjects: HashMap<String, Subject, RandomState>,
    /// Revoked families and subjects: those count against the capacity, as tokens do.
    markers: usize,
}

struct Token {
    record: Arc<RefreshRecord>,
    until: Instant,
    state: TokenState,
}

#[derive(Clone)]
enum TokenState {
    Active,
    Consumed {
        /// When (Unix seconds, the sessions' clock).
        at: u64,
        /// The token that replaced it.
        successor: String,
        /// Its reuse grace is spent: it rotated once more, or it is the unused successor such
        /// a rotation replaced.
        regranted: bool,
    },
}

#[derive(Default)]
struct Family {
    /// Its token records, oldest first.
    tokens: Vec<String>,
    revoked_until: Option<Instant>,
}

#[derive(Default)]
struct Subject {
    /// Families with token records, oldest login first.
    families: Vec<String>,
    /// How many token records the subject holds.
    tokens: usize,
    revoked: Option<(u64, Instant)>,
}

impl fmt::Debug for MemoryRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryRefreshStore")
            .field("tokens", &state.tokens.len())
            .field("markers", &state.markers)
            .field("capacity", &self.shared.capacity)
            .field("per_subject", &self.shared.per_subject)
            .finish()
    }
}

impl Default for MemoryRefreshStore {
    /// A store of [`DEFAULT_REFRESH_CAPACITY`] entries, [`DEFAULT_REFRESH_TOKENS_PER_SUBJECT`]
    /// a subject.
    fn default() -> Self {
        Self::new(DEFAULT_REFRESH_CAPACITY as u64)
    }
}

impl MemoryRefreshStore {
    /// A store holding at most `capacity` entries, [`DEFAULT_REFRESH_TOKENS_PER_SUBJECT`]
    /// token records a subject.
    pub fn new(capacity: u64) -> Self {
        Self::with_limits(
            usize::try_from(capacity).unwrap_or(usize::MAX),
            DEFAULT_REFRESH_TOKENS_PER_SUBJECT,
        )
    }

    /// Holds at most `per_subject` token records of one subject (at least 2: a rotation holds
    /// the consumed token and its successor).
    pub fn per_subject(self, per_subject: usize) -> Self {
        Self::with_limits(self.shared.capacity, per_subject.max(2))
    }

    fn with_limits(capacity: usize, per_subject: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                capacity,
                per_subject,
            }),
        }
    }

    /// The entries held (token records, revoked families and subjects), expired ones not yet
    /// swept included.
    pub fn len(&self) -> usize {
        self.lock().counted()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // Nothing panics while holding the lock, so a poisoned one holds consistent state.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn insert_now(&self, record: &RefreshRecord) -> Result<(), BoxError> {
        let now = Instant::now();
        let mut state = self.lock();
        self.make_room(&mut state, record, now)?;
        state.add(record, now);
        Ok(())
    }

    fn rotate_now(&self, rotation: &Rotation<'_>) -> Result<Consumed, BoxError> {
        if unix_millis() > rotation.deadline_ms {
            return Err(late());
        }
        let now = Instant::now();
        let mut state = self.lock();
        let Some(token) = state.live_token(rotation.token_hash, now) else {
            return Ok(Consumed::Unknown);
        };
        let record = token.record.clone();
        if record.expires_at() <= rotation.now {
            return Ok(Consumed::Unknown);
        }
        if let TokenState::Consumed {
            at,
            successor,
            regranted,
        } = token.state.clone()
        {
            let within_grace = !rotation.reuse_grace.is_zero()
                && !regranted
                && rotation.now.saturating_sub(at) <= rotation.reuse_grace.as_secs()
                && state.is_active(&successor, now);
            if !within_grace {
                let ttl = record.remaining(rotation.now);
                state.revoke_family(record.family(), ttl, now);
                return Ok(Consumed::Reused {
                    family: record.family().to_owned(),
                    subject: record.subject().to_owned(),
                });
            }
            if state.is_revoked(&record, now) {
                return Ok(Consumed::Revoked);
            }
            // Once more: the successor the client never received stops working, without a
            // grace of its own, so that presenting it later is a reuse.
            self.make_room(&mut state, rotation.successor, now)?;
            state.set(
                &successor,
                TokenState::Consumed {
                    at: rotation.now,
                    successor: rotation.successor.token_hash().to_owned(),
                    regranted: true,
                },
            );
            state.set(
                rotation.token_hash,
                TokenState::Consumed {
                    at,
                    successor: rotation.successor.token_hash().to_owned(),
                    regranted: true,
                },
            );
            state.add(rotation.successor, now);
            return Ok(Consumed::Fresh(RefreshRecord::clone(&record)));
        }
        if state.is_revoked(&record, now) {
            return Ok(Consumed::Revoked);
        }
        self.make_room(&mut state, rotation.successor, now)?;
        state.consume(
            rotation.token_hash,
            rotation.successor.token_hash(),
            rotation.now,
        );
        state.add(rotation.successor, now);
        Ok(Consumed::Fresh(RefreshRecord::clone(&record)))
    }

    /// Makes room for one more token record of `record`'s subject: within the subject's bound
    /// by ending its oldest other login (or forgetting its login's oldest consumed token), and
    /// within the capacity, or fails.
    fn make_room(
        &self,
        state: &mut State,
        record: &RefreshRecord,
        now: Instant,
    ) -> Result<(), BoxError> {
        let held = state
            .subjects
            .get(record.subject())
            .map_or(0, |subject| subject.tokens);
        if held >= self.shared.per_subject {
            state.shed(record.subject(), record.family());
        }
        let capacity = self.shared.capacity;
        if state.counted() < capacity {
            return Ok(());
        }
        state.sweep(now);
        if state.counted() < capacity {
            return Ok(());
        }
        Err(format!(
            "refresh token store full ({capacity} entries, none expired): the token was not \
             stored; raise the capacity"
        )
        .into())
    }
}

impl State {
    fn counted(&self) -> usize {
        self.tokens.len() + self.markers
    }

    fn live_token(&self, hash: &str, now: Instant) -> Option<&Token> {
        self.tokens.get(hash).filter(|token| token.until > now)
    }

    fn is_active(&self, hash: &str, now: Instant) -> bool {
        self.live_token(hash, now)
            .is_some_and(|token| matches!(token.state, TokenState::Active))
    }

    fn is_revoked(&self, record: &RefreshRecord, now: Instant) -> bool {
        let family_revoked = self
            .families
            .get(record.family())
            .and_then(|family| family.revoked_until)
            .is_some_and(|until| until > now);
        family_revoked
            || self
                .subjects
                .get(record.subject())
                .and_then(|subject| subject.revoked)
                .is_some_and(|(before, until)| {
                    until > now && family_revoked_by_subject(record.family_issued_at(), before)
                })
    }

    fn add(&mut self, record: &RefreshRecord, now: Instant) {
        let hash = record.token_hash().to_owned();
        let until = instant_after(now, record.ttl());
        let family = self.families.entry(record.family().to_owned()).or_default();
        if family.tokens.is_empty() {
            self.subjects
                .entry(record.subject().to_owned())
                .or_default()
                .families
                .push(record.family().to_owned());
        }
        family.tokens.push(hash.clone());
        self.subjects
            .entry(record.subject().to_owned())
            .or_default()
            .tokens += 1;
        self.tokens.insert(
            hash,
            Token {
                record: Arc::new(record.clone()),
                until,
                state: TokenState::Active,
            },
        );
    }

    fn set(&mut self, hash: &str, state: TokenState) {
        if let Some(token) = self.tokens.get_mut(hash) {
            token.state = state;
        }
    }

    fn consume(&mut self, hash: &str, successor: &str, at: u64) {
        self.set(
            hash,
            TokenState::Consumed {
                at,
                successor: successor.to_owned(),
                regranted: false,
            },
        );
    }

    /// Keeps the longer life: a shorter one never shortens a revocation. A family without
    /// token records has nothing left to revoke: any token of it is unknown.
    fn revoke_family(&mut self, family: &str, ttl: Duration, now: Instant) {
        let until = instant_after(now, ttl);
        let Some(entry) = self.families.get_mut(family) else {
            return;
        };
        match &mut entry.revoked_until {
            Some(held) => *held = (*held).max(until),
            None => {
                entry.revoked_until = Some(until);
                self.markers += 1;
            }
        }
    }

    /// Keeps the later moment and the longer life.
    fn revoke_subject(&mut self, subject: &str, before: u64, ttl: Duration, now: Instant) {
        let until = instant_after(now, ttl);
        let entry = self.subjects.entry(subject.to_owned()).or_default();
        entry.revoked = Some(match entry.revoked {
            Some((held, held_until)) => (held.max(before), held_until.max(until)),
            None => {
                self.markers += 1;
                (before, until)
            }
        });
    }

    /// Frees one token record of `subject`: all of its oldest login other than `keep`, or else
    /// the oldest consumed token of `keep`.
    fn shed(&mut self, subject: &str, keep: &str) {
        let Some(entry) = self.subjects.get(subject) else {
            return;
        };
        if let Some(oldest) = entry
            .families
            .iter()
            .find(|family| *family != keep)
            .cloned()
        {
            let ended = self.drop_family_tokens(&oldest);
            tracing::warn!(
                target: "tower_jwt_auth",
                tokens = ended,
                "refresh tokens of one subject at their bound: its oldest login ended"
            );
            return;
        }
        let oldest_consumed = self.families.get(keep).and_then(|family| {
            family.tokens.iter().find(|hash| {
                self.tokens
                    .get(*hash)
                    .is_some_and(|token| matches!(token.state, TokenState::Consumed { .. }))
            })
        });
        if let Some(hash) = oldest_consumed.cloned() {
            self.drop_token(&hash);
            tracing::warn!(
                target: "tower_jwt_auth",
                "refresh tokens of one subject at their bound: the oldest consumed token of its \
                 login is forgotten"
            );
        }
    }

    /// Drops `family` with every token record of it (any token of it is then unknown, so its
    /// revocation marker goes too); returns how many records.
    fn drop_family_tokens(&mut self, family: &str) -> usize {
        let hashes = self
            .families
            .get(family)
            .map(|entry| entry.tokens.clone())
            .unwrap_or_default();
        for hash in &hashes {
            self.drop_token(hash);
        }
        if let Some(entry) = self.families.remove(family)
            && entry.revoked_until.is_some()
        {
            self.markers -= 1;
        }
        hashes.len()
    }

    fn drop_token(&mut self, hash: &str) {
        let Some(token) = self.tokens.remove(hash) else {
            return;
        };
        let (family, subject) = (token.record.family(), token.record.subject());
        let mut family_empty = false;
        if let Some(entry) = self.families.get_mut(family) {
            entry.tokens.retain(|held| held != hash);
            family_empty = entry.tokens.is_empty();
            if family_empty {
                // No token of it is left to refuse: its marker has nothing to do.
                if entry.revoked_until.is_some() {
                    self.markers -= 1;
                }
                self.families.remove(family);
            }
        }
        if let Some(entry) = self.subjects.get_mut(subject) {
            entry.tokens = entry.tokens.saturating_sub(1);
            if family_empty {
                entry.families.retain(|held| held != family);
            }
            if entry.families.is_empty() && entry.revoked.is_none() {
                self.subjects.remove(subject);
            }
        }
    }

    /// Drops every expired entry.
    fn sweep(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .tokens
            .iter()
            .filter(|(_, token)| token.until <= now)
            .map(|(hash, _)| hash.clone())
            .collect();
        for hash in &expired {
            self.drop_token(hash);
        }
        let mut markers = 0;
        self.families.retain(|_, family| {
            family.revoked_until = family.revoked_until.filter(|until| *until > now);
            markers += usize::from(family.revoked_until.is_some());
            !family.tokens.is_empty()
        });
        self.subjects.retain(|_, subject| {
            subject.revoked = subject.revoked.filter(|(_, until)| *until > now);
            markers += usize::from(subject.revoked.is_some());
            subject.revoked.is_some() || !subject.families.is_empty()
        });
        self.markers = markers;
    }
}

/// The error of a rotation that reached the store after its deadline.
pub(crate) fn late() -> BoxError {
    "the rotation reached the store after its deadline: not applied".into()
}

impl RefreshStore for MemoryRefreshStore {
    fn insert<'a>(&'a self, record: &'a RefreshRecord) -> BoxFuture<'a, Result<(), BoxError>> {
        let stored = self.insert_now(record);
        Box::pin(async move { stored })
    }

    fn rotate<'a>(
        &'a self,
        rotation: &'a Rotation<'a>,
    ) -> BoxFuture<'a, Result<Consumed, BoxError>> {
        let outcome = self.rotate_now(rotation);
        Box::pin(async move { outcome })
    }

    fn find<'a>(
        &'a self,
        token_hash: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<RefreshRecord>, BoxError>> {
        let found = self
            .lock()
            .live_token(token_hash, Instant::now())
            .filter(|token| token.record.expires_at() > now)
            .map(|token| RefreshRecord::clone(&token.record));
        Box::pin(async move { Ok(found) })
    }

    fn revoke_family<'a>(
        &'a self,
        family: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        self.lock().revoke_family(family, ttl, Instant::now());
        Box::pin(async { Ok(()) })
    }

    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        before: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        self.lock()
            .revoke_subject(subject, before, ttl, Instant::now());
        Box::pin(async { Ok(()) })
    }
}
