#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::time::Duration;

use lockstep_account::{
    Account, AccountStore, Attempts, AuditLog, BackendError, CredentialId, Cursor, Logged, Random,
    StoreError, Suspicious, TokenDirectory, TokenSeed, TokenStatus, Write,
};
use lockstep_store_sql::chain::{
    AuditChain, ChainBreak, ChainHead, ChainRow, Link, Seal, Verified,
};
use lockstep_store_sql::seal::{KeyId, Keyring};
use lockstep_store_sql::{Arg, Cell, Kind, SealedDirectory, Sql, Statement, apply};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};

pub use lockstep_store_sql::{chain, seal};

/// How long a statement waits for a lock (the session's `lock_timeout`):
/// a session that holds the audit chain's head or an account's row for
/// long — say, an operator's `psql` left in a transaction — delays the
/// writes behind it this long, then they fail as transient (the driver
/// decides again), rather than every login hanging behind it.
pub const LOCK_TIMEOUT: &str = "5s";

/// How long a request waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The store for several replicas: accounts, token ownership, the token
/// directory (seeds sealed with a [`Keyring`]) and the audit log, in one
/// PostgreSQL database that every replica's pool shares.
pub struct PostgresStore {
    pool: PgPool,
    directory: SealedDirectory,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("keyring", self.directory.keyring())
            .finish_non_exhaustive()
    }
}

/// A backend failure: a serialization failure, a deadlock, a lost or
/// refused connection, a pool time-out or I/O are transient (the driver
/// decides again); anything else is permanent.
fn backend(e: sqlx::Error) -> StoreError {
    let transient = match &e {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 40001 serialization_failure, 40P01 deadlock_detected, class 08
            // connection exceptions, 57P01 admin shutdown, 55P03
            // lock_not_available (a lock not had within `LOCK_TIMEOUT`).
            code == "40001"
                || code == "40P01"
                || code.starts_with("08")
                || code == "57P01"
                || code == "55P03"
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

/// Where the shared queries run: the pool, or one connection inside a
/// write's transaction.
enum Target<'c> {
    Pool(&'c PgPool),
    Conn(&'c mut PgConnection),
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

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

fn cells(row: &PgRow, kinds: &[Kind]) -> Result<Vec<Cell>, StoreError> {
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

    fn writable_with(&self) -> bool {
        true
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/database`). Call
    /// [`PostgresStore::migrate`] before first use, and after every upgrade
    /// of this crate.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL is invalid or no server answers.
    pub async fn connect(url: &str, keyring: Keyring) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(backend)?;
        Self::connect_with(options, keyring).await
    }

    /// Connects with explicit options (a schema through `search_path`, TLS
    /// settings, …).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when no server answers.
    pub async fn connect_with(
        options: PgConnectOptions,
        keyring: Keyring,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // No ping before each use: it costs a round trip per statement
            // outside a transaction. A connection found dead fails its
            // statement with an I/O error, which is transient: the driver
            // decides again on a fresh one.
            .test_before_acquire(false)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.options([("lock_timeout", LOCK_TIMEOUT)]))
            .await
            .map_err(backend)?;
        Ok(Self {
            pool,
            directory: SealedDirectory::new(keyring),
        })
    }

    /// Connects to `url` with every table in `schema`, which is created if
    /// missing: several stores (a service's customers and its operators,
    /// say) can then share one database without sharing a row. The name is
    /// 1 to 63 of `a-z`, `0-9` and `_`, not starting with a digit.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for an invalid URL or schema name, or when no
    /// server answers.
    pub async fn connect_schema(
        url: &str,
        schema: &str,
        keyring: Keyring,
    ) -> Result<Self, StoreError> {
        let valid = (1..=63).contains(&schema.len())
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !schema.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(StoreError::Backend(BackendError::permanent(
                sqlx::Error::Configuration(format!("invalid schema name {schema:?}").into()),
            )));
        }
        let options: PgConnectOptions = url.parse().map_err(backend)?;
        // The name is checked above, so quoting it is enough.
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        let created = sqlx::query(&create).execute(&admin).await.map_err(backend);
        admin.close().await;
        created?;
        Self::connect_with(options.options([("search_path", schema)]), keyring).await
    }

    /// The store's pool, for tables of the embedder's own in the same
    /// database (say, web sessions: `lockstep-axum`'s `sessions::postgres`,
    /// which keeps them in a schema of their own). Its connections use the
    /// store's `search_path`; never touch the store's tables through it.
    #[must_use]
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the embedded, versioned migrations that are not applied yet
    /// (in the connection's schema); running it again does nothing.
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
            match sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
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

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Re-seals every token seed not sealed with the active key in the
    /// current format (idempotent, resumable, a compare-and-swap per row,
    /// safe beside logins and beside other replicas); returns how many rows
    /// moved.
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

impl AccountStore for PostgresStore {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        lockstep_store_sql::load(&mut Target::Pool(&self.pool), user_id).await
    }

    /// A write in a transaction of its own, read committed: the
    /// compare-and-swap is one `UPDATE … WHERE version = $n` and a bind one
    /// insert on the tokens table's primary key, both atomic, and
    /// PostgreSQL's row locks order the writers (no in-process gate). A
    /// refused part rolls the whole transaction back at once.
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        let mut conn = lockstep_store_sql::connection_out_of_transaction(&self.pool)
            .await
            .map_err(backend)?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(backend)?;
        match apply(&mut Target::Conn(&mut tx), &write).await {
            Ok(()) => tx.commit().await.map_err(backend),
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> Result<TokenStatus, StoreError> {
        lockstep_store_sql::token_status(&mut Target::Pool(&self.pool), id, user_id).await
    }
}

impl AuditChain for PostgresStore {
    /// The walk runs in a repeatable-read, read-only transaction.
    async fn verify_chain(
        &self,
        seals: Vec<(u64, Link)>,
    ) -> Result<Result<Verified, ChainBreak>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(backend)?;
        // One snapshot for the whole walk: writes during it are not seen.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
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

impl AuditLog for PostgresStore {
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

impl TokenDirectory for PostgresStore {
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
