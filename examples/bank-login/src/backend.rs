//! The two stores the service runs on, behind one trait, and how each is
//! opened: an SQLite file in the data directory (the default) or a
//! PostgreSQL URL. Customers and desk operators live in two stores of the
//! same kind — two files, or two schemas — so that no customer credential
//! ever opens the desk and no operator is a customer.

use std::path::Path;

use lockstep::account::{AccountStore, AuditLog, StoreError, TokenDirectory};
use lockstep::chain::AuditChain;
use lockstep::postgres::PostgresStore;
use lockstep::seal::Keyring;
use lockstep::sqlite::SqliteStore;

/// A store the service can run on: accounts, the desk's reads of the audit
/// log, the audit chain's tools, and the token directory; whether it is ready (it answers, and its
/// migrations are applied), and closing it at shutdown.
pub trait Backend:
    AccountStore + AuditLog + AuditChain + TokenDirectory + Send + Sync + 'static
{
    /// Whether the store answers and is migrated (any failure: not ready).
    fn ready(&self) -> impl std::future::Future<Output = bool> + Send;

    /// Closes the store: what was written is on disk (SQLite checkpoints
    /// its log when its last connection closes).
    fn close(&self) -> impl std::future::Future<Output = ()> + Send;

    /// Whether every store of this kind in one database shares one session
    /// table (PostgreSQL's sessions live in a schema of their own).
    const SHARED_SESSIONS: bool;

    /// The web sessions open in this store's database (`None`: it did not
    /// answer).
    fn sessions_open(&self) -> impl std::future::Future<Output = Option<u64>> + Send;
}

impl Backend for SqliteStore {
    async fn ready(&self) -> bool {
        Self::ready(self).await.unwrap_or(false)
    }
    async fn close(&self) {
        Self::close(self).await;
    }
    const SHARED_SESSIONS: bool = false;
    async fn sessions_open(&self) -> Option<u64> {
        lockstep_axum::sessions::open_in_sqlite(self.pool())
            .await
            .ok()
    }
}

impl Backend for PostgresStore {
    async fn ready(&self) -> bool {
        Self::ready(self).await.unwrap_or(false)
    }
    async fn close(&self) {
        Self::close(self).await;
    }
    const SHARED_SESSIONS: bool = true;
    async fn sessions_open(&self) -> Option<u64> {
        lockstep_axum::sessions::open_in_postgres(self.pool())
            .await
            .ok()
    }
}

/// Opens and migrates the customers' and the desk's SQLite files in `dir`
/// (created if missing).
///
/// # Errors
/// [`StoreError::Backend`] when a file cannot be opened or migrated.
pub async fn open_sqlite(
    dir: &Path,
    keyring: &Keyring,
) -> Result<(SqliteStore, SqliteStore), StoreError> {
    let customers = SqliteStore::connect(dir.join("customers.sqlite"), keyring.clone()).await?;
    customers.migrate().await?;
    let desk = SqliteStore::connect(dir.join("desk.sqlite"), keyring.clone()).await?;
    desk.migrate().await?;
    Ok((customers, desk))
}

/// Opens and migrates the customers' and the desk's schemas (`{prefix}` and
/// `{prefix}_desk`, created if missing) in the PostgreSQL database at `url`.
///
/// # Errors
/// [`StoreError::Backend`] when no server answers, the URL is invalid, or a
/// migration fails.
pub async fn open_postgres(
    url: &str,
    prefix: &str,
    keyring: &Keyring,
) -> Result<(PostgresStore, PostgresStore), StoreError> {
    let customers = PostgresStore::connect_schema(url, prefix, keyring.clone()).await?;
    customers.migrate().await?;
    let desk_schema = format!("{prefix}_desk");
    let desk = PostgresStore::connect_schema(url, &desk_schema, keyring.clone()).await?;
    desk.migrate().await?;
    Ok((customers, desk))
}
