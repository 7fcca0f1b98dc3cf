#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod writer;

use std::path::Path;
use std::time::Duration;

use lockstep_account::seal::Keyring;
use lockstep_account::{BackendError, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// How long a writer waits for another one before SQLite answers "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded store: accounts, token ownership, the token directory
/// (seeds sealed with a [`Keyring`]) and the audit log, in one SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection that writes records and events.
    writes: SqlitePool,
    keyring: Keyring,
    /// The task that writes for this store: the writes of a moment share
    /// one transaction and one fsync (see the `writer` module). Writers
    /// also never meet in SQLite's busy handler, which sleeps and polls (up
    /// to 100 ms a sleep) and so turns a short queue into a long tail.
    writer: writer::Writer,
    /// Sealed seeds already read.
    seeds: lockstep_store_sql::SeedCache,
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

/// A backend failure: busy, locked, a pool time-out or I/O are transient
/// (the driver decides again); anything else is permanent.
fn backend(e: sqlx::Error) -> StoreError {
    let transient = match &e {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
            matches!(code.as_ref(), "5" | "6" | "261" | "262" | "517" | "773")
        }),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        _ => false,
    };
    StoreError::Backend(if transient {
        BackendError::transient(e)
    } else {
        BackendError::permanent(e)
    })
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` in WAL mode,
    /// with a busy timeout and foreign keys on. Call [`SqliteStore::migrate`]
    /// before first use, and after every upgrade of this crate.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened.
    pub async fn connect(path: impl AsRef<Path>, keyring: Keyring) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // No ping before each use: it costs a round trip per statement
            // outside a transaction. A connection found dead fails its
            // statement with an I/O error, which is transient: the driver
            // decides again on a fresh one.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        // SQLite has one writer at a time: one connection kept for writes,
        // so a writer never waits for a connection that readers hold.
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(backend)?;
        Ok(Self {
            pool,
            writer: writer::Writer::new(writes.clone()),
            writes,
            keyring,
            seeds: lockstep_store_sql::SeedCache::default(),
        })
    }

    /// Applies the embedded, versioned migrations that are not applied yet;
    /// running it again does nothing.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(BackendError::permanent(e)))
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.writes.close().await;
        self.pool.close().await;
    }

    /// Hands `op` to the writing task and waits until the batch it ran in
    /// is committed.
    async fn commit(&self, op: lockstep_store_sql::Write) -> Result<(), StoreError> {
        self.writer.write(op).await
    }
}

lockstep_store_sql::sql_store!(SqliteStore, Sqlite, sqlx::sqlite::SqliteRow);
