//! The server-side session store: in memory, and bounded.
//!
//! tower-sessions' own `MemoryStore` hides an expired record but never
//! removes it, so every visitor — every cookieless `GET /`, since the login
//! form's CSRF token lives in the session — would grow the process for
//! good: a memory leak any anonymous client can drive. Here expired records
//! are removed as time passes (each write sweeps what has expired, in
//! expiry order), and at most `cap` records are kept: at the cap the record
//! that would expire soonest (the longest idle) makes room. That bounds
//! memory; it is not a rate limit — a flood of new sessions still pushes
//! out the longest-idle ones, so put the service behind a proxy that limits
//! requests per client.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

/// How many sessions one side keeps by default (a record is a few hundred
/// bytes: tens of MiB at the cap).
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// Sessions in memory, at most `cap`, expired ones removed.
#[derive(Clone)]
pub struct BoundedSessions {
    inner: Arc<Mutex<Inner>>,
    cap: usize,
}

#[derive(Default)]
struct Inner {
    records: HashMap<Id, Record>,
    /// The same records by (expiry, ID), soonest first.
    by_expiry: BTreeSet<(OffsetDateTime, i128)>,
}

impl core::fmt::Debug for BoundedSessions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the records: they hold CSRF tokens and login tickets.
        f.debug_struct("BoundedSessions")
            .field("len", &self.len())
            .field("cap", &self.cap)
            .finish()
    }
}

impl BoundedSessions {
    /// At most `cap` sessions (at least one).
    #[must_use]
    pub fn new(cap: usize) -> Self {
        Self {
            inner: Arc::default(),
            cap: cap.max(1),
        }
    }

    /// How many records are held (expired ones not yet swept included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether no record is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the two maps consistent:
        // every change below updates both before it can panic (it cannot).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn remove(&mut self, id: &Id) -> Option<Record> {
        let old = self.records.remove(id)?;
        self.by_expiry.remove(&(old.expiry_date, id.0));
        Some(old)
    }

    /// Removes every record expired at `now`.
    fn sweep(&mut self, now: OffsetDateTime) {
        while let Some(&(expiry, raw)) = self.by_expiry.first() {
            if expiry > now {
                break;
            }
            self.by_expiry.pop_first();
            self.records.remove(&Id(raw));
        }
    }

    /// Stores `record` (replacing one of the same ID), sweeping first and
    /// making room at the cap.
    fn put(&mut self, record: &Record, cap: usize) {
        let now = OffsetDateTime::now_utc();
        self.sweep(now);
        self.remove(&record.id);
        if record.expiry_date <= now {
            return;
        }
        while self.records.len() >= cap {
            let Some((_, raw)) = self.by_expiry.pop_first() else {
                break;
            };
            self.records.remove(&Id(raw));
        }
        self.by_expiry.insert((record.expiry_date, record.id.0));
        self.records.insert(record.id, record.clone());
    }
}

#[async_trait]
impl SessionStore for BoundedSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut inner = self.lock();
        while inner.records.contains_key(&record.id) {
            // A colliding random ID: draw another rather than overwrite.
            record.id = Id::default();
        }
        inner.put(record, self.cap);
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.lock().put(record, self.cap);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .lock()
            .records
            .get(id)
            .filter(|r| r.expiry_date > now)
            .cloned())
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.lock().remove(id);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashMap;

    use time::{Duration, OffsetDateTime};
    use tower_sessions::SessionStore as _;
    use tower_sessions::session::{Id, Record};

    use super::BoundedSessions;

    fn record(raw: i128, expires_in: Duration) -> Record {
        Record {
            id: Id(raw),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    /// Expired records are removed, not only hidden: the next write sweeps
    /// them.
    #[tokio::test]
    async fn expired_records_are_removed() {
        let store = BoundedSessions::new(100);
        for raw in 1..=10 {
            store
                .save(&record(raw, Duration::milliseconds(1)))
                .await
                .unwrap();
        }
        store
            .save(&record(99, Duration::minutes(10)))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(store.load(&Id(1)).await.unwrap().is_none());
        store
            .save(&record(100, Duration::minutes(10)))
            .await
            .unwrap();
        assert_eq!(store.len(), 2, "only the two live records are held");
    }

    /// At the cap the record that expires soonest makes room; one saved
    /// again (a request renews its inactivity expiry) moves back.
    #[tokio::test]
    async fn the_cap_holds_and_the_longest_idle_goes_first() {
        let store = BoundedSessions::new(3);
        store.save(&record(1, Duration::minutes(1))).await.unwrap();
        store.save(&record(2, Duration::minutes(2))).await.unwrap();
        store.save(&record(3, Duration::minutes(3))).await.unwrap();
        // 1 is active again: its expiry moves past 2's and 3's.
        store.save(&record(1, Duration::minutes(4))).await.unwrap();
        store.save(&record(4, Duration::minutes(5))).await.unwrap();
        assert_eq!(store.len(), 3);
        assert!(store.load(&Id(2)).await.unwrap().is_none(), "2 was idlest");
        for raw in [1, 3, 4] {
            assert!(store.load(&Id(raw)).await.unwrap().is_some(), "{raw}");
        }
        for raw in 10..1_000 {
            store
                .save(&record(raw, Duration::minutes(9)))
                .await
                .unwrap();
        }
        assert_eq!(store.len(), 3, "a flood stays within the cap");
    }

    /// `create` never overwrites a record whose ID it drew again; `delete`
    /// removes from both indexes.
    #[tokio::test]
    async fn create_does_not_overwrite_and_delete_removes() {
        let store = BoundedSessions::new(10);
        store.save(&record(7, Duration::minutes(5))).await.unwrap();
        let mut again = record(7, Duration::minutes(6));
        store.create(&mut again).await.unwrap();
        assert_ne!(again.id, Id(7));
        assert_eq!(store.len(), 2);
        store.delete(&Id(7)).await.unwrap();
        store.delete(&again.id).await.unwrap();
        assert!(store.is_empty());
        assert!(store.inner.lock().unwrap().by_expiry.is_empty());
    }
}
