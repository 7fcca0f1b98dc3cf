#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod writer;

pub use writer::BATCH_SIZE;

use std::path::Path;
use std::time::Duration;

use lockstep_account::{
    Account, AccountStore, Attempts, AuditLog, BackendError, CredentialId, Cursor, Logged, Random,
    StoreError, Suspicious, TokenDirectory, TokenSeed, TokenStatus, Write,
};
use lockstep_store_sql::chain::{
    AuditChain, ChainBreak, ChainHead, ChainRow, Link, Seal, Verified,
};
use lockstep_store_sql::seal::{KeyId, Keyring};
use lockstep_store_sql::{Arg, Cell, Kind, SealedDirectory, Sql, Statement};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow,
};
use sqlx::{Row, Sqlite};

pub use lockstep_store_sql::{chain, seal};

/// How long a writer waits for another one before SQLite answers "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded store: accounts, token ownership, the token directory
/// (seeds sealed with a [`Keyring`]) and the audit log, in one SQLite file.
pub struct SqliteStore {
    path: std::path::PathBuf,
    pool: SqlitePool,
    /// The one connection that writes records and events.
    writes: SqlitePool,
    /// The task that writes for this store: the writes of a moment share
    /// one transaction and one fsync (see the `writer` module). Writers
    /// also never meet in SQLite's busy handler, which sleeps and polls (up
    /// to 100 ms a sleep) and so turns a short queue into a long tail.
    writer: writer::Writer,
    directory: SealedDirectory,
}

impl core::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("keyring", self.directory.keyring())
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

/// Where the shared queries run: the pool (reads, the directory) or one
/// connection inside the writer's transaction.
enum Target<'c> {
    Pool(&'c SqlitePool),
    Conn(&'c mut SqliteConnection),
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

fn bind<'q>(statement: Statement<'q>) -> Query<'q> {
    statement
        .args
        .into_iter()
        .fold(sqlx::query(statement.sql), |q, arg| match arg {
            Arg::Text(t) => q.bind(t),
            Arg::Int(n) => q.bind(n),
            Arg::Bytes(b) => q.bind(b),
            _ => q.bind(None::<&str>),
        })
}

fn cells(row: &SqliteRow, kinds: &[Kind]) -> Result<Vec<Cell>, StoreError> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            Ok(match kind {
                Kind::Text => Cell::Text(row.try_get(i).map_err(backend)?),
                Kind::Int => Cell::Int(row.try_get(i).map_err(backend)?),
                Kind::Bytes => Cell::Bytes(row.try_get(i).map_err(backend)?),
                _ => row
                    .try_get::<Option<String>, _>(i)
                    .map_err(backend)?
                    .map_or(Cell::Null, Cell::Text),
            })
        })
        .collect()
}

impl Sql for Target<'_> {
    async fn execute(&mut self, statement: Statement<'_>) -> Result<u64, StoreError> {
        let query = bind(statement);
        let done = match self {
            Self::Pool(pool) => query.execute(*pool).await,
            Self::Conn(conn) => query.execute(&mut **conn).await,
        };
        Ok(done.map_err(backend)?.rows_affected())
    }

    async fn fetch(
        &mut self,
        statement: Statement<'_>,
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let query = bind(statement);
        let rows = match self {
            Self::Pool(pool) => query.fetch_all(*pool).await,
            Self::Conn(conn) => query.fetch_all(&mut **conn).await,
        };
        rows.map_err(backend)?
            .iter()
            .map(|row| cells(row, kinds))
            .collect()
    }
}

/// Creates the database file, readable and writable by its owner only
/// (SQLite gives its `-wal` and `-shm` files the same mode), unless it
/// exists. The file holds password hashes, sealed token seeds and the
/// audit log: nobody else on the machine needs to read it.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating if missing, readable by its owner only) the database
    /// file at `path` in WAL mode, with a busy timeout and foreign keys on.
    /// Call [`SqliteStore::migrate`] before first use, and after every
    /// upgrade of this crate.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened.
    pub async fn connect(path: impl AsRef<Path>, keyring: Keyring) -> Result<Self, StoreError> {
        let path = path.as_ref();
        create_private(path).map_err(|e| StoreError::Backend(BackendError::permanent(e)))?;
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
            path: path.to_owned(),
            pool,
            writer: writer::Writer::new(writes.clone()),
            writes,
            directory: SealedDirectory::new(keyring),
        })
    }

    /// The database file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pool the store reads through, for tables of the embedder's own
    /// in the same file (say, web sessions: `lockstep-axum`'s
    /// `sessions::sqlite`). Writes through it take SQLite's one write lock
    /// in turn with the store's own writer (the busy timeout covers the
    /// wait); never touch the store's tables through it.
    #[must_use]
    pub const fn pool(&self) -> &SqlitePool {
        &self.pool
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

    /// Whether the store is ready to serve: the database answers and every
    /// migration this version embeds is applied (a readiness probe: a
    /// service should not take traffic before [`Self::migrate`] ran, or
    /// while the database is away).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database does not answer.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        let latest = sqlx::migrate!("./migrations")
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        let applied: Option<i64> =
            match sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&self.pool)
                .await
            {
                Ok(v) => v,
                // No migrations table yet: nothing applied.
                Err(sqlx::Error::Database(_)) => None,
                Err(e) => return Err(StoreError::Backend(BackendError::transient(e))),
            };
        Ok(applied == Some(latest))
    }

    /// Closes the pools (waits for connections to be returned).
    pub async fn close(&self) {
        self.writes.close().await;
        self.pool.close().await;
    }

    /// Re-seals every token seed not sealed with the active key in the
    /// current format (idempotent, resumable, a compare-and-swap per row,
    /// safe beside logins); returns how many rows moved.
    ///
    /// # Errors
    /// As [`SealedDirectory::rotate`].
    pub async fn rotate(&self, random: &dyn Random) -> Result<usize, StoreError> {
        self.directory
            .rotate(&mut Target::Pool(&self.pool), random)
            .await
    }

    /// The key IDs that seal at least one stored seed: a key not listed
    /// can be retired.
    ///
    /// # Errors
    /// As [`SealedDirectory::keys_in_use`].
    pub async fn keys_in_use(&self) -> Result<Vec<KeyId>, StoreError> {
        SealedDirectory::keys_in_use(&mut Target::Pool(&self.pool)).await
    }
}

impl AccountStore for SqliteStore {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        lockstep_store_sql::load(&mut Target::Pool(&self.pool), user_id).await
    }

    /// Hands the write to the writing task and waits until the batch it ran
    /// in is committed.
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        self.writer.write(write).await
    }

    async fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> Result<TokenStatus, StoreError> {
        lockstep_store_sql::token_status(&mut Target::Pool(&self.pool), id, user_id).await
    }
}

impl AuditChain for SqliteStore {
    /// The walk runs in a deferred transaction: its first read fixes the snapshot the walk sees (WAL).
    async fn verify_chain(
        &self,
        seals: Vec<(u64, Link)>,
    ) -> Result<Result<Verified, ChainBreak>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(backend)?;
        let walked = chain::verify_chain(&mut Target::Conn(&mut tx), seals).await;
        let _ = tx.rollback().await;
        walked
    }

    async fn chain_head(&self) -> Result<ChainHead, StoreError> {
        chain::chain_head(&mut Target::Pool(&self.pool)).await
    }

    async fn chain_rows(&self, after: u64, limit: usize) -> Result<Vec<ChainRow>, StoreError> {
        chain::chain_rows(&mut Target::Pool(&self.pool), after, limit).await
    }

    async fn first_row_since(&self, at: i64) -> Result<Option<u64>, StoreError> {
        chain::first_row_since(&mut Target::Pool(&self.pool), at).await
    }

    async fn link_of(&self, seq: u64) -> Result<Option<Link>, StoreError> {
        chain::link_of(&mut Target::Pool(&self.pool), seq).await
    }

    async fn seals(&self) -> Result<Vec<Seal>, StoreError> {
        chain::seals(&mut Target::Pool(&self.pool)).await
    }

    async fn insert_seal(&self, seal: &Seal) -> Result<(), StoreError> {
        chain::insert_seal(&mut Target::Pool(&self.pool), seal).await
    }

    async fn chain_store_id(&self) -> Result<String, StoreError> {
        let id = lockstep_store_sql::store_id(&mut Target::Pool(&self.pool)).await?;
        Ok(id.as_str().to_owned())
    }
}

impl AuditLog for SqliteStore {
    async fn events(
        &self,
        user_id: &str,
        from: Cursor,
        limit: usize,
    ) -> Result<Vec<Logged>, StoreError> {
        lockstep_store_sql::events(&mut Target::Pool(&self.pool), user_id, from, limit).await
    }

    async fn attempts(&self, user_id: &str) -> Result<Attempts, StoreError> {
        lockstep_store_sql::attempts(&mut Target::Pool(&self.pool), user_id).await
    }

    async fn suspicious(&self, from: u64, to: u64, limit: usize) -> Result<Suspicious, StoreError> {
        lockstep_store_sql::suspicious(&mut Target::Pool(&self.pool), from, to, limit).await
    }
}

impl TokenDirectory for SqliteStore {
    async fn seed(&self, id: &CredentialId) -> Result<Option<TokenSeed>, StoreError> {
        self.directory.seed(&mut Target::Pool(&self.pool), id).await
    }

    async fn insert(
        &self,
        id: &CredentialId,
        seed: &TokenSeed,
        random: &dyn Random,
    ) -> Result<(), StoreError> {
        self.directory
            .insert(&mut Target::Pool(&self.pool), id, seed, random)
            .await
    }
}
