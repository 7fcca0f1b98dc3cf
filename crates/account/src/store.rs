//! Storage contracts: where accounts live ([`AccountStore`]), what the
//! desk reads back ([`AuditLog`]) and where token seeds come from
//! ([`TokenDirectory`]).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use lockstep_otp::CredentialId;

use crate::event::AuditEvent;
use crate::random::Random;
use crate::record::Account;
use crate::token::{TokenSeed, TokenStatus};
use crate::write::Write;

/// A backend's own failure, kept as the `source()`, and whether trying
/// again may succeed (busy, serialization failure, connection lost): the
/// driver retries only those.
#[derive(Clone, Debug)]
pub struct BackendError {
    transient: bool,
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl core::fmt::Display for BackendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.transient {
            "a transient storage failure"
        } else {
            "a storage failure"
        })
    }
}

/// The backend's own error is the source, as its own type (downcastable).
impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

impl BackendError {
    /// A failure that trying again will not mend.
    pub fn permanent(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            transient: false,
            source: Arc::new(source),
        }
    }

    /// A failure that trying again may mend.
    pub fn transient(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            transient: true,
            source: Arc::new(source),
        }
    }

    /// Whether trying again may succeed.
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        self.transient
    }
}

/// Two backend errors are equal only when they are the same failure.
impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.transient == other.transient && Arc::ptr_eq(&self.source, &other.source)
    }
}

impl Eq for BackendError {}

/// Why a store operation failed. A refused [`AccountStore::write`]
/// ([`StoreError::Conflict`], [`StoreError::NotFound`],
/// [`StoreError::AlreadyExists`], [`StoreError::TokenTaken`]) wrote
/// nothing; after a [`StoreError::Backend`] failure whether it was written
/// is not known (a commit whose answer was lost), and the machine acts on
/// both possibilities.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored version is not the expected one (someone else wrote
    /// first). The machine loads and decides again.
    #[error("the record changed since it was loaded")]
    Conflict,
    /// A compare-and-swap of an account that does not exist.
    #[error("no such account")]
    NotFound,
    /// A create of a user ID, or an insert of a token ID, that exists.
    #[error("the user ID or token ID exists already")]
    AlreadyExists,
    /// A token change that would bind a token ID bound to an account or
    /// ever revoked.
    #[error("the token ID is bound to an account or was revoked")]
    TokenTaken,
    /// The backend failed; its error is the `source()`.
    #[error("storage backend error")]
    Backend(#[source] BackendError),
}

impl StoreError {
    /// Whether trying again may succeed: a conflict or a transient backend
    /// failure.
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        match self {
            Self::Conflict => true,
            Self::Backend(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Where accounts live: the three things only a store can do. Everything
/// else — what to write, when, what a conflict means — is the machine's.
/// The contract every implementation keeps (`lockstep-store-tests` checks
/// it; see the workspace README, "Writing your own store"):
///
/// 1. `load` returns the last record written, with its version.
/// 2. `write` applies a [`Write`] in one transaction, all of it or none (a
///    refusal writes nothing; a backend failure may leave the outcome
///    unknown, never half of it):
///    - its [`crate::RecordWrite`]: a create at version 0
///      ([`StoreError::AlreadyExists`] for a taken user ID; it also starts
///      that user ID's attempt count afresh), or a compare-and-swap that
///      stores the record at `expected + 1` only if the stored version is
///      `expected` ([`StoreError::Conflict`]; [`StoreError::NotFound`]);
///    - its token changes, in order: a bind of a token ID bound to anyone
///      or ever revoked is [`StoreError::TokenTaken`] (a unique constraint,
///      so that two racing binds cannot both pass); a revoke marks the ID
///      revoked for good;
///    - its events, appended to the audit log in order;
///    - its attempt note, added to that user ID's count.
/// 3. `token_status` tells what the token changes made of a token ID.
/// 4. Every write costs about the same whatever it holds — a note costs
///    what a compare-and-swap costs — so that the number and the duration
///    of a password step's writes do not tell whether its user ID exists
///    (R-LOG-5).
/// 5. Futures are `Send`; no particular async runtime is assumed.
///
/// Why `token_status` is here and not in the [`TokenDirectory`]: the
/// directory knows which tokens exist (a service may provision them
/// elsewhere); only the store knows which account holds one, inside the
/// same transactions that bind and revoke.
pub trait AccountStore: Send + Sync {
    /// Loads a record.
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Applies `write` in one transaction (rule 2).
    fn write(&self, write: Write) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What the store knows of a token ID, as seen from `user_id`.
    fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> impl Future<Output = Result<TokenStatus, StoreError>> + Send;
}

/// The most audit events one [`AuditLog::events`] call returns, whatever
/// limit is asked for.
pub const MAX_EVENTS_PAGE: usize = 500;

/// Where a page of one user's audit events starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cursor {
    /// The oldest first.
    Oldest,
    /// Oldest first, after the event with this sequence number.
    After(u64),
    /// The newest first.
    Newest,
    /// Newest first, before the event with this sequence number.
    Before(u64),
}

/// An audit event as the log holds it: with its place in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// The event's sequence number in this store's log: increasing in the
    /// order of writing.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
}

/// The password attempts that no record counts, for one user ID (see
/// [`crate::AttemptNote`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    /// How many.
    pub count: u64,
    /// When the last one was (Unix seconds); `None` for none.
    pub last_at: Option<u64>,
}

/// What the support desk reads back: a user's audit events, a page at a
/// time, and the attempts noted for a user ID. Reads are bounded: no call
/// returns more than [`MAX_EVENTS_PAGE`] events, so no view of the desk
/// can be made to read a log that anyone can grow.
pub trait AuditLog: Send + Sync {
    /// At most `limit` (capped at [`MAX_EVENTS_PAGE`]) events of `user_id`,
    /// from `from` in its direction.
    fn events(
        &self,
        user_id: &str,
        from: Cursor,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Logged>, StoreError>> + Send;

    /// The attempts noted for `user_id` since it was last created (or ever,
    /// for a user ID that has no account).
    fn attempts(&self, user_id: &str) -> impl Future<Output = Result<Attempts, StoreError>> + Send;

    /// The desk's view of an attack over `[from, to)` (unix seconds): the
    /// failed password steps (wrong passwords and unknown user IDs) by
    /// client, the `limit` (capped at [`MAX_SUSPICIOUS_CLIENTS`]) clients
    /// that tried the most distinct user IDs first; the unknown-ID
    /// attempts; the locks set; the spray flags. Bounded: at most the
    /// newest [`MAX_SUSPICIOUS_SCAN`] failures of the window are counted
    /// ([`Suspicious::truncated`] says so).
    fn suspicious(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Suspicious, StoreError>> + Send;
}

/// The most failures [`AuditLog::suspicious`] counts in one window.
pub const MAX_SUSPICIOUS_SCAN: usize = 20_000;

/// The most clients (and spray flags) [`AuditLog::suspicious`] lists.
pub const MAX_SUSPICIOUS_CLIENTS: usize = 200;

/// One client's failed password steps in a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientFailures {
    /// The client's address (`None`: steps that came with none).
    pub client: Option<IpAddr>,
    /// Failed password steps (wrong passwords and unknown user IDs).
    pub failures: u64,
    /// Distinct user IDs among them.
    pub distinct_ids: u64,
    /// Of them, on user IDs that do not exist.
    pub unknown_ids: u64,
}

/// A client flagged for password spraying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SprayFlag {
    /// When.
    pub at: u64,
    /// The client.
    pub client: Option<IpAddr>,
    /// Distinct user IDs it had tried in its window.
    pub distinct_ids: u32,
}

/// The desk's view of an attack over a window ([`AuditLog::suspicious`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suspicious {
    /// Clients by distinct user IDs tried, then by failures, most first.
    pub clients: Vec<ClientFailures>,
    /// Failed password steps in the window (all clients).
    pub failures: u64,
    /// Of them, on user IDs that do not exist.
    pub unknown_ids: u64,
    /// Factors locked in the window.
    pub locks_set: u64,
    /// Spray flags in the window, newest first.
    pub flags: Vec<SprayFlag>,
    /// The window held more failures than [`MAX_SUSPICIOUS_SCAN`]: the
    /// counts are of the newest that many.
    pub truncated: bool,
}

/// Credential ID → token seed: the tokens the service knows, the way VIP's
/// service knows a credential's secret.
pub trait TokenDirectory: Send + Sync {
    /// The seed of a credential ID, if known.
    fn seed(
        &self,
        id: &CredentialId,
    ) -> impl Future<Output = Result<Option<TokenSeed>, StoreError>> + Send;

    /// Adds a token (provisioning): [`StoreError::AlreadyExists`] for a
    /// known credential ID. `random` is for a directory that seals seeds.
    fn insert(
        &self,
        id: &CredentialId,
        seed: &TokenSeed,
        random: &dyn Random,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<S: AccountStore + ?Sized> AccountStore for &S {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send {
        (**self).load(user_id)
    }
    fn write(&self, write: Write) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).write(write)
    }
    fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> impl Future<Output = Result<TokenStatus, StoreError>> + Send {
        (**self).token_status(id, user_id)
    }
}

impl<S: AuditLog + ?Sized> AuditLog for &S {
    fn events(
        &self,
        user_id: &str,
        from: Cursor,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Logged>, StoreError>> + Send {
        (**self).events(user_id, from, limit)
    }
    fn attempts(&self, user_id: &str) -> impl Future<Output = Result<Attempts, StoreError>> + Send {
        (**self).attempts(user_id)
    }
    fn suspicious(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Suspicious, StoreError>> + Send {
        (**self).suspicious(from, to, limit)
    }
}

impl<D: TokenDirectory + ?Sized> TokenDirectory for &D {
    fn seed(
        &self,
        id: &CredentialId,
    ) -> impl Future<Output = Result<Option<TokenSeed>, StoreError>> + Send {
        (**self).seed(id)
    }
    fn insert(
        &self,
        id: &CredentialId,
        seed: &TokenSeed,
        random: &dyn Random,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).insert(id, seed, random)
    }
}

impl<S: AccountStore + ?Sized> AccountStore for Arc<S> {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send {
        (**self).load(user_id)
    }
    fn write(&self, write: Write) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).write(write)
    }
    fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> impl Future<Output = Result<TokenStatus, StoreError>> + Send {
        (**self).token_status(id, user_id)
    }
}

impl<S: AuditLog + ?Sized> AuditLog for Arc<S> {
    fn events(
        &self,
        user_id: &str,
        from: Cursor,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Logged>, StoreError>> + Send {
        (**self).events(user_id, from, limit)
    }
    fn attempts(&self, user_id: &str) -> impl Future<Output = Result<Attempts, StoreError>> + Send {
        (**self).attempts(user_id)
    }
    fn suspicious(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Suspicious, StoreError>> + Send {
        (**self).suspicious(from, to, limit)
    }
}

impl<D: TokenDirectory + ?Sized> TokenDirectory for Arc<D> {
    fn seed(
        &self,
        id: &CredentialId,
    ) -> impl Future<Output = Result<Option<TokenSeed>, StoreError>> + Send {
        (**self).seed(id)
    }
    fn insert(
        &self,
        id: &CredentialId,
        seed: &TokenSeed,
        random: &dyn Random,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).insert(id, seed, random)
    }
}
