//! The bounded in-process map behind [`MemoryRevocations`](crate::MemoryRevocations) and
//! [`MemoryRefreshStore`](crate::MemoryRefreshStore): each entry expires with what it
//! describes, and evicting a live entry because the map is full is logged, since it forgets a
//! revocation or a session.

use std::time::{Duration, Instant};

use moka::Expiry;
use moka::notification::RemovalCause;
use moka::sync::Cache;

/// An entry that knows how long it must be kept.
pub(crate) trait Lifetime: Clone + Send + Sync + 'static {
    /// How long the entry lives from when it is stored.
    fn ttl(&self) -> Duration;

    /// Whether storing this value over an existing entry keeps that entry's expiry instead of
    /// starting a new `ttl`.
    fn keeps_expiry_on_update(&self) -> bool {
        false
    }
}

struct ByLifetime;

impl<V: Lifetime> Expiry<String, V> for ByLifetime {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &V,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl())
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &V,
        _updated_at: Instant,
        duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        if value.keeps_expiry_on_update() {
            duration_until_expiry
        } else {
            Some(value.ttl())
        }
    }
}

/// A map of at most `capacity` entries; `full` is the warning logged when a live entry is
/// evicted for room.
pub(crate) fn bounded<V: Lifetime>(capacity: u64, full: &'static str) -> Cache<String, V> {
    Cache::builder()
        .max_capacity(capacity)
        .expire_after(ByLifetime)
        .eviction_listener(move |_key, _value, cause| {
            if cause == RemovalCause::Size {
                tracing::warn!(target: "tower_jwt_auth", "{full}");
            }
        })
        .build()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone)]
    struct Kept {
        ttl: Duration,
        keep: bool,
    }

    impl Lifetime for Kept {
        fn ttl(&self) -> Duration {
            self.ttl
        }
        fn keeps_expiry_on_update(&self) -> bool {
            self.keep
        }
    }

    fn kept(millis: u64, keep: bool) -> Kept {
        Kept {
            ttl: Duration::from_millis(millis),
            keep,
        }
    }

    #[test]
    fn entries_expire_with_their_lifetime_and_updates_may_keep_it() {
        let map = bounded::<Kept>(10, "full");
        map.insert("short".into(), kept(200, false));
        map.insert("kept".into(), kept(200, false));
        map.insert("renewed".into(), kept(200, false));
        std::thread::sleep(Duration::from_millis(20));
        // Kept: still the first 200 ms. Renewed: 2 s from now.
        map.insert("kept".into(), kept(2_000, true));
        map.insert("renewed".into(), kept(2_000, false));
        std::thread::sleep(Duration::from_millis(250));
        assert!(map.get("short").is_none());
        assert!(map.get("kept").is_none());
        assert!(map.get("renewed").is_some());
    }

    /// Collects the formatted tracing output.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn evicting_a_live_entry_for_room_is_logged_at_warn() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let map = bounded::<Kept>(2, "test store full: a live entry was evicted");
        for i in 0..20 {
            map.insert(format!("entry-{i}"), kept(60_000, false));
        }
        // The listener runs with the pending maintenance, on this thread.
        map.run_pending_tasks();
        assert!(map.entry_count() <= 2);
        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            output.contains("WARN") && output.contains("test store full: a live entry was evicted"),
            "{output}"
        );
    }
}
