//! The two stores the service runs on, behind one trait, and how each is
//! opened: an SQLite file in the data directory (the default) or a
//! PostgreSQL URL. Customers and desk operators live in two stores of the
//! same kind — two files, or two schemas — so that no customer credential
//! ever opens the desk and no operator is a customer.

use std::path::Path;

use lockstep::account::{AccountStore, AuditLog, BackendError, StoreError, TokenDirectory};
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

/// What opening a store does about its schema: the service applies the
/// migrations a store lacks; the audit tools require them applied, so that
/// checking a database never changes it (a newer binary does not upgrade a
/// production schema by verifying it, and a mistyped schema is refused,
/// not audited empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migrations {
    /// Apply the missing migrations.
    Apply,
    /// Refuse a store whose migrations are not all applied.
    Require,
}

impl Migrations {
    async fn prepare<S: Backend>(
        self,
        store: &S,
        name: &str,
        migrate: impl std::future::Future<Output = Result<(), StoreError>>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Apply => migrate.await,
            Self::Require if store.ready().await => Ok(()),
            Self::Require => Err(StoreError::Backend(BackendError::permanent(
                std::io::Error::other(format!(
                    "the {name} store is not this version's: run the service (its migrations) first, or check the store's name"
                )),
            ))),
        }
    }
}

/// Opens the customers' and the desk's SQLite files in `dir` (created if
/// missing), migrated as `migrations` says.
///
/// # Errors
/// [`StoreError::Backend`] when a file cannot be opened or migrated, or is
/// not migrated and `migrations` requires it.
pub async fn open_sqlite(
    dir: &Path,
    keyring: &Keyring,
    migrations: Migrations,
) -> Result<(SqliteStore, SqliteStore), StoreError> {
    let customers = SqliteStore::connect(dir.join("customers.sqlite"), keyring.clone()).await?;
    migrations
        .prepare(&customers, "customers'", customers.migrate())
        .await?;
    let desk = SqliteStore::connect(dir.join("desk.sqlite"), keyring.clone()).await?;
    migrations.prepare(&desk, "desk's", desk.migrate()).await?;
    Ok((customers, desk))
}

/// Opens the customers' and the desk's schemas (`{prefix}` and
/// `{prefix}_desk`, created if missing) in the PostgreSQL database at `url`,
/// migrated as `migrations` says.
///
/// # Errors
/// [`StoreError::Backend`] when no server answers, the URL is invalid, a
/// migration fails, or a schema is not migrated and `migrations` requires
/// it.
pub async fn open_postgres(
    url: &str,
    prefix: &str,
    keyring: &Keyring,
    migrations: Migrations,
) -> Result<(PostgresStore, PostgresStore), StoreError> {
    let customers = PostgresStore::connect_schema(url, prefix, keyring.clone()).await?;
    migrations
        .prepare(&customers, "customers'", customers.migrate())
        .await?;
    let desk_schema = format!("{prefix}_desk");
    let desk = PostgresStore::connect_schema(url, &desk_schema, keyring.clone()).await?;
    migrations.prepare(&desk, "desk's", desk.migrate()).await?;
    Ok((customers, desk))
}
