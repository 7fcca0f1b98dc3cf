#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

/// The HOTP/TOTP engine (feature `otp`).
#[cfg(feature = "otp")]
pub use lockstep_otp as otp;

/// Password rules and hashing (feature `password`; `insecure-test-hasher`
/// adds the cheap hasher for test suites).
#[cfg(feature = "password")]
pub use lockstep_password as password;

/// The login life cycle and its driver (feature `account`).
#[cfg(feature = "account")]
pub use lockstep_account as account;

/// The embedded SQLite store (feature `sqlite`, on by default).
#[cfg(feature = "sqlite")]
pub use lockstep_store_sqlite as sqlite;

/// The PostgreSQL store (feature `postgres`).
#[cfg(feature = "postgres")]
pub use lockstep_store_postgres as postgres;

/// The web layer for axum (feature `axum`).
#[cfg(feature = "axum")]
pub use lockstep_axum as axum;

/// Sealing token secrets at rest, for the SQL stores' keys.
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
pub use lockstep_store_postgres::seal;
/// Sealing token secrets at rest, for the SQL stores' keys.
#[cfg(feature = "sqlite")]
pub use lockstep_store_sqlite::seal;

/// The SQL stores' audit hash chain: verify, export, sign its head.
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
pub use lockstep_store_postgres::chain;
/// The SQL stores' audit hash chain: verify, export, sign its head.
#[cfg(feature = "sqlite")]
pub use lockstep_store_sqlite::chain;
