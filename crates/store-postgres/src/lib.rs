#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::time::Duration;

use lockstep_account::seal::Keyring;
use lockstep_account::{BackendError, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// How long a request waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The store for several replicas: accounts, token ownership, the token
/// directory (seeds sealed with a [`Keyring`]) and the audit log, in one
/// PostgreSQL database that every replica's pool shares.
pub struct PostgresStore {
    pool: PgPool,
    keyring: Keyring,
    /// Sealed seeds already read.
    seeds: lockstep_store_sql::SeedCache,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("keyring", &self.keyring)
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
            // connection exceptions, 57P01 admin shutdown.
            code == "40001" || code == "40P01" || code.starts_with("08") || code == "57P01"
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
            .connect_with(options)
            .await
            .map_err(backend)?;
        Ok(Self {
            pool,
            keyring,
            seeds: lockstep_store_sql::SeedCache::default(),
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

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write in a transaction of its own, read committed: the
    /// compare-and-swap is one `UPDATE … WHERE version = $n` and the token
    /// rule one upsert on the tokens table's primary key, both atomic, and
    /// PostgreSQL's row locks order the writers (no in-process gate).
    async fn commit(&self, op: lockstep_store_sql::Write) -> Result<(), StoreError> {
        let mut conn = lockstep_store_sql::connection_out_of_transaction(&self.pool)
            .await
            .map_err(backend)?;
        sql::write_alone(&mut conn, "BEGIN", &op).await
    }
}

lockstep_store_sql::sql_store!(PostgresStore, Postgres, sqlx::postgres::PgRow);
