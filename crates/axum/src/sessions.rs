//! Where server sessions live.
//!
//! - On the database the accounts live in: tower-sessions-sqlx-store's
//!   `SqliteStore` and `PostgresStore` (features `sqlite`, `postgres`), in
//!   tables of their own, created by [`sqlite`] / [`postgres`] and swept of
//!   expired rows by a task they start. Sessions survive a restart, and
//!   replicas share them. Rows are keyed by a digest of the session ID
//!   ([`HashedIds`]), so that reading the table (a backup, a replica) gives
//!   no cookie that opens a session.
//! - In memory, bounded: [`MemorySessions`], for tests and single-process
//!   services.
//!
//! Anonymous traffic stores nothing in either (the login page's CSRF token
//! is stateless, a refused password keeps no session): a session is
//! written only after a correct password.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

use crate::held::KEY;

/// How many sessions in the middle of a login [`MemorySessions`] keeps by
/// default.
pub const DEFAULT_STAGE_BUDGET: usize = 50_000;

/// Sessions in memory. Expired ones are removed as time passes (each write
/// sweeps what has expired). Sessions in the middle of a login have a
/// budget of their own: past it, the one that would expire soonest makes
/// room. A logged-in session is never removed to make room for anyone: it
/// ends by its own expiry, a logout, or the driver (a lock, a reset…).
/// How many there can be is bounded by who can log in, and how fast
/// ([`crate::Limits`]).
#[derive(Clone)]
pub struct MemorySessions {
    inner: Arc<Mutex<Inner>>,
    stage_budget: usize,
}

#[derive(Default)]
struct Inner {
    records: HashMap<Id, (Record, Class)>,
    /// Each class's records by (expiry, ID), soonest first.
    by_expiry: [BTreeSet<(OffsetDateTime, i128)>; 2],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Stage = 0,
    LoggedIn = 1,
}

impl Class {
    fn of(record: &Record) -> Self {
        let logged_in = record
            .data
            .get(KEY)
            .and_then(|v| v.get("held"))
            .and_then(|v| v.as_str())
            == Some("logged_in");
        if logged_in {
            Self::LoggedIn
        } else {
            Self::Stage
        }
    }
}

impl core::fmt::Debug for MemorySessions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the records: they hold tickets and session tokens.
        let (stage, logged_in) = self.counts();
        f.debug_struct("MemorySessions")
            .field("stage", &stage)
            .field("logged_in", &logged_in)
            .field("stage_budget", &self.stage_budget)
            .finish()
    }
}

impl Default for MemorySessions {
    fn default() -> Self {
        Self::new(DEFAULT_STAGE_BUDGET)
    }
}

impl MemorySessions {
    /// At most `stage_budget` sessions in the middle of a login (at least
    /// one); logged-in sessions unbounded by it.
    #[must_use]
    pub fn new(stage_budget: usize) -> Self {
        Self {
            inner: Arc::default(),
            stage_budget: stage_budget.max(1),
        }
    }

    /// How many sessions are held: (in the middle of a login, logged in),
    /// expired ones not yet swept included.
    #[must_use]
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        let [stage, logged_in] = &inner.by_expiry;
        (stage.len(), logged_in.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change below updates the map and the index before it could
        // panic (it cannot): a poisoned lock holds consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn index(&mut self, class: Class) -> &mut BTreeSet<(OffsetDateTime, i128)> {
        let [stage, logged_in] = &mut self.by_expiry;
        match class {
            Class::Stage => stage,
            Class::LoggedIn => logged_in,
        }
    }

    fn remove(&mut self, id: &Id) {
        if let Some((old, class)) = self.records.remove(id) {
            self.index(class).remove(&(old.expiry_date, id.0));
        }
    }

    fn sweep(&mut self, now: OffsetDateTime) {
        for class in [Class::Stage, Class::LoggedIn] {
            while let Some(&(expiry, raw)) = self.index(class).first() {
                if expiry > now {
                    break;
                }
                self.index(class).pop_first();
                self.records.remove(&Id(raw));
            }
        }
    }

    fn put(&mut self, record: &Record, stage_budget: usize) {
        let now = OffsetDateTime::now_utc();
        self.sweep(now);
        self.remove(&record.id);
        if record.expiry_date <= now {
            return;
        }
        let class = Class::of(record);
        if class == Class::Stage {
            while self.index(Class::Stage).len() >= stage_budget {
                let Some((_, raw)) = self.index(Class::Stage).pop_first() else {
                    break;
                };
                self.records.remove(&Id(raw));
            }
        }
        self.index(class).insert((record.expiry_date, record.id.0));
        self.records.insert(record.id, (record.clone(), class));
    }
}

#[async_trait::async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut inner = self.lock();
        while inner.records.contains_key(&record.id) {
            // A colliding random ID: draw another rather than overwrite.
            record.id = Id::default();
        }
        inner.put(record, self.stage_budget);
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.lock().put(record, self.stage_budget);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .lock()
            .records
            .get(id)
            .filter(|(r, _)| r.expiry_date > now)
            .map(|(r, _)| r.clone()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.lock().remove(id);
        Ok(())
    }
}

/// A session store whose rows are keyed by SHA-256 of the session ID (the
/// cookie's value), not by the ID: whoever reads the table learns no
/// cookie. The ID is 128 random bits, so its digest needs no key.
#[derive(Clone, Debug)]
pub struct HashedIds<S>(pub S);

/// The row key of session `id`.
fn row_key(id: Id) -> Id {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"lockstep session id\0")
        .chain_update(id.0.to_le_bytes())
        .finalize();
    let mut first = [0_u8; 16];
    first.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    Id(i128::from_le_bytes(first))
}

#[async_trait::async_trait]
impl<S: SessionStore> SessionStore for HashedIds<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let key = row_key(record.id);
            if self.0.load(&key).await?.is_none() {
                let row = Record {
                    id: key,
                    ..record.clone()
                };
                return self.0.save(&row).await;
            }
            // A colliding random ID: draw another rather than overwrite.
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let row = Record {
            id: row_key(record.id),
            ..record.clone()
        };
        self.0.save(&row).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self.0.load(&row_key(*id)).await?.map(|mut row| {
            row.id = *id;
            row
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.0.delete(&row_key(*id)).await
    }
}

/// Sessions in the SQLite database of the accounts, in a table of their
/// own (`tower_sessions`, created here), with a task sweeping expired rows
/// every `sweep` (on the current tokio runtime).
///
/// # Errors
/// The table's creation failed.
#[cfg(feature = "sqlite")]
pub async fn sqlite(
    pool: sqlx::SqlitePool,
    sweep: std::time::Duration,
) -> Result<HashedIds<tower_sessions_sqlx_store::SqliteStore>, sqlx::Error> {
    use tower_sessions::session_store::ExpiredDeletion as _;
    let store = tower_sessions_sqlx_store::SqliteStore::new(pool);
    store.migrate().await?;
    tokio::spawn(store.clone().continuously_delete_expired(sweep));
    Ok(HashedIds(store))
}

/// Sessions in the PostgreSQL database of the accounts, in a schema of
/// their own (`tower_sessions`, created here), with a task sweeping expired
/// rows every `sweep` (on the current tokio runtime).
///
/// # Errors
/// The schema's creation failed.
#[cfg(feature = "postgres")]
pub async fn postgres(
    pool: sqlx::PgPool,
    sweep: std::time::Duration,
) -> Result<HashedIds<tower_sessions_sqlx_store::PostgresStore>, sqlx::Error> {
    use tower_sessions::session_store::ExpiredDeletion as _;
    let store = tower_sessions_sqlx_store::PostgresStore::new(pool);
    store.migrate().await?;
    tokio::spawn(store.clone().continuously_delete_expired(sweep));
    Ok(HashedIds(store))
}

/// How many sessions in the SQLite table of [`sqlite`] have not expired
/// (for a gauge: a count, read when asked).
///
/// # Errors
/// The database's.
#[cfg(feature = "sqlite")]
pub async fn open_in_sqlite(pool: &sqlx::SqlitePool) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tower_sessions WHERE expiry_date > ?")
        .bind(OffsetDateTime::now_utc())
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// How many sessions in the PostgreSQL table of [`postgres`] have not
/// expired (every pool of one database shares it).
///
/// # Errors
/// The database's.
#[cfg(feature = "postgres")]
pub async fn open_in_postgres(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM \"tower_sessions\".\"session\" WHERE expiry_date > now()",
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use time::{Duration, OffsetDateTime};
    use tower_sessions::SessionStore as _;
    use tower_sessions::session::{Id, Record};

    use super::MemorySessions;

    fn record(raw: i128, expires_in: Duration, logged_in: bool) -> Record {
        let mut data = HashMap::new();
        let held = if logged_in { "logged_in" } else { "pending" };
        data.insert(super::KEY.to_owned(), serde_json::json!({ "held": held }));
        Record {
            id: Id(raw),
            data,
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    /// A flood of sessions in the middle of a login stays within its
    /// budget and never removes a logged-in one.
    #[tokio::test]
    async fn logged_in_sessions_are_never_evicted() {
        let store = MemorySessions::new(10);
        for raw in 0..5 {
            store
                .save(&record(raw, Duration::minutes(1), true))
                .await
                .unwrap();
        }
        for raw in 100..10_100 {
            store
                .save(&record(raw, Duration::minutes(9), false))
                .await
                .unwrap();
        }
        assert_eq!(store.counts(), (10, 5));
        for raw in 0..5 {
            assert!(store.load(&Id(raw)).await.unwrap().is_some(), "{raw}");
        }
        // A stage session that logs in moves out of the budget.
        store
            .save(&record(10_099, Duration::minutes(9), true))
            .await
            .unwrap();
        assert_eq!(store.counts(), (9, 6));
    }

    /// Expired records are removed, not only hidden.
    #[tokio::test]
    async fn expired_records_are_removed() {
        let store = MemorySessions::new(100);
        for raw in 1..=10 {
            store
                .save(&record(raw, Duration::milliseconds(1), raw % 2 == 0))
                .await
                .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(store.load(&Id(1)).await.unwrap().is_none());
        store
            .save(&record(99, Duration::minutes(10), false))
            .await
            .unwrap();
        assert_eq!(store.counts(), (1, 0));
    }

    /// A hashed store keeps no session ID in its rows, and reads back what
    /// it was given under the caller's ID.
    #[tokio::test]
    async fn hashed_ids_keep_no_cookie_in_the_rows() {
        let inner = MemorySessions::new(10);
        let store = super::HashedIds(inner.clone());
        let mut r = record(42, Duration::minutes(5), true);
        store.create(&mut r).await.unwrap();
        assert_eq!(store.load(&r.id).await.unwrap().unwrap().id, r.id);
        assert!(
            inner.load(&r.id).await.unwrap().is_none(),
            "no row under the ID"
        );
        assert!(inner.load(&super::row_key(r.id)).await.unwrap().is_some());
        store.delete(&r.id).await.unwrap();
        assert!(store.load(&r.id).await.unwrap().is_none());
        assert_eq!(inner.counts(), (0, 0));
    }

    /// `create` never overwrites a record whose ID it drew again; `delete`
    /// removes from both indexes.
    #[tokio::test]
    async fn create_does_not_overwrite_and_delete_removes() {
        let store = MemorySessions::new(10);
        store
            .save(&record(7, Duration::minutes(5), true))
            .await
            .unwrap();
        let mut again = record(7, Duration::minutes(6), false);
        store.create(&mut again).await.unwrap();
        assert_ne!(again.id, Id(7));
        assert_eq!(store.counts(), (1, 1));
        store.delete(&Id(7)).await.unwrap();
        store.delete(&again.id).await.unwrap();
        assert_eq!(store.counts(), (0, 0));
    }
}
