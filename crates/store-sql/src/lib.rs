//! What the lockstep SQL stores share, as ordinary generic code: the
//! queries of the account store, the audit log and the token directory,
//! written once against [`Sql`] — a small trait a store implements for its
//! driver's connections (SQLite and PostgreSQL run the same statements:
//! `$n` placeholders, an integer `revoked` flag) — and the sealing of token
//! secrets ([`seal`]), and the audit log's hash chain ([`chain`]).
//!
//! A store crate provides the connections and the transactions (SQLite
//! batches the writes of a moment into one transaction, PostgreSQL gives
//! each its own) and calls [`apply`] inside them; the rest is here.
#![forbid(unsafe_code)]

pub mod chain;
mod codec;
mod directory;
mod queries;
pub mod seal;

use std::future::Future;

use lockstep_account::{BackendError, StoreError};

pub use codec::{decode_account, decode_event, decode_seed_row, encode_account};
pub use directory::{SealedDirectory, SeedCache};
pub use queries::{apply, attempts, events, load, store_id, suspicious, token_status};

/// A value bound to a placeholder of a [`Statement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arg<'q> {
    /// Text.
    Text(&'q str),
    /// A 64-bit integer.
    Int(i64),
    /// Bytes.
    Bytes(&'q [u8]),
    /// SQL `NULL` (of a text column).
    Null,
}

/// How a column of a result row is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Text, never `NULL`.
    Text,
    /// Text or `NULL`.
    OptText,
    /// A 64-bit integer.
    Int,
    /// Bytes.
    Bytes,
}

/// A value read from a result row, as its [`Kind`] asked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cell {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// Bytes.
    Bytes(Vec<u8>),
    /// `NULL`.
    Null,
}

/// One SQL statement with its arguments, in placeholder order.
#[derive(Clone, Debug)]
pub struct Statement<'q> {
    /// The text, with `$1`, `$2`, … placeholders.
    pub sql: &'q str,
    /// The arguments.
    pub args: Vec<Arg<'q>>,
}

impl<'q> Statement<'q> {
    /// A statement with its arguments.
    #[must_use]
    pub const fn new(sql: &'q str, args: Vec<Arg<'q>>) -> Self {
        Self { sql, args }
    }
}

/// What the shared queries need of a database connection (or a
/// transaction, or a pool): to run a statement, and to read rows. A store
/// implements it for its driver, mapping the driver's errors with the
/// transient codes of its database.
pub trait Sql: Send {
    /// Runs `statement`; the number of rows it affected.
    fn execute(
        &mut self,
        statement: Statement<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs a query; each row's columns read as `kinds` asks.
    fn fetch(
        &mut self,
        statement: Statement<'_>,
        kinds: &[Kind],
    ) -> impl Future<Output = Result<Vec<Vec<Cell>>, StoreError>> + Send;

    /// Whether the database runs a data-modifying statement in a `WITH`
    /// and takes row locks with `SELECT … FOR UPDATE` (PostgreSQL does
    /// both, SQLite neither): the queries then save a round trip and a row
    /// version where it counts.
    fn writable_with(&self) -> bool {
        false
    }
}

/// A stored value that could not be read back as it was written (or was
/// changed behind the store's back).
#[derive(Debug, thiserror::Error)]
#[error("a stored value could not be encoded or decoded: {0}")]
pub struct Encoding(String);

/// The error for a value that does not decode or encode.
pub fn encoding(what: impl core::fmt::Display) -> StoreError {
    StoreError::Backend(BackendError::permanent(Encoding(what.to_string())))
}

/// A number for an `INTEGER`/`BIGINT` column (past `i64::MAX`, which no
/// sequence number or Unix time reaches, it stays there).
pub(crate) fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A number read back from such a column: a negative one was not written
/// by a store.
pub(crate) fn unsigned(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(encoding)
}

/// Whether a write's error is the store's answer about the data (conflict,
/// not found, exists, token taken), after which the transaction it ran in
/// is still sound, rather than the backend's failure.
#[must_use]
pub const fn is_refusal(e: &StoreError) -> bool {
    !matches!(e, StoreError::Backend(_))
}

/// A pooled connection that is in no transaction. A write whose future is
/// dropped (its request cancelled) after the database ran its `BEGIN` but
/// before sqlx handed the transaction over leaves the connection inside
/// that transaction with nothing to roll it back: sqlx would refuse the
/// next `BEGIN IMMEDIATE` on it for good, and on PostgreSQL nest the next
/// write in a savepoint that is never committed. Such a connection is
/// closed instead of used.
///
/// # Errors
/// The pool's error.
pub async fn connection_out_of_transaction<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> Result<sqlx::pool::PoolConnection<DB>, sqlx::Error> {
    for _ in 0..8 {
        let mut conn = pool.acquire().await?;
        if !sqlx::Connection::is_in_transaction(&*conn) {
            return Ok(conn);
        }
        conn.close_on_drop();
    }
    pool.acquire().await
}
