//! Storage contracts and their in-memory implementations.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use lockstep_otp::CredentialId;

use crate::event::AuditEvent;
use crate::record::Account;
use crate::token::{TokenSeed, TokenStatus};

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

/// A poisoned lock of an in-memory store or directory.
#[derive(Debug, thiserror::Error)]
#[error("the {0}'s lock was poisoned")]
struct Poisoned(&'static str);

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `replace`: the stored version is not the expected one (someone else
    /// wrote first). Reload and decide again.
    #[error("the record changed since it was loaded")]
    Conflict,
    /// `replace` of an account that does not exist.
    #[error("no such account")]
    NotFound,
    /// `create` of a user ID that exists.
    #[error("the user ID exists already")]
    AlreadyExists,
    /// The record binds a token ID that another account binds or that was
    /// ever revoked.
    #[error("the token ID is bound to another account or was revoked")]
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

/// Where accounts live. The contract every implementation must keep (and
/// `lockstep-store-tests` checks):
///
/// 1. `load` returns the last record written, with its version.
/// 2. `create` stores a new record at version 0; an existing user ID is
///    [`StoreError::AlreadyExists`].
/// 3. `replace(record, expected, events)` writes `record` with version
///    `expected + 1` **only if** the stored version is still `expected`,
///    atomically; otherwise [`StoreError::Conflict`] and nothing is written.
/// 4. A token ID is bound to at most one account, and a token ID listed in
///    any record's `revoked_tokens` can never be bound again: a write that
///    would break either is [`StoreError::TokenTaken`] and writes nothing.
/// 5. The audit log is append-only; the events given to `create` and
///    `replace` are written in the same transaction as the record (no
///    record change without its events, no events without the change), and
///    `append` stores the events of a decision that changed no record.
/// 6. Futures are `Send`; no particular async runtime is assumed.
/// 7. `note_attempt` is a durable write that costs what a `replace` costs
///    (the driver makes it in place of a known account's reservation of a
///    password attempt, so that every password step writes the same number
///    of times whether the user ID exists, is locked or not: R-LOG-5).
pub trait AccountStore: Send + Sync {
    /// Loads a record.
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;
    /// Stores a new record (its version is set to 0) and its events.
    fn create(
        &self,
        account: &Account,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Compare-and-swap: writes `account` with version `expected + 1` if the
    /// stored version is `expected`, with `events`, in one transaction.
    fn replace(
        &self,
        account: &Account,
        expected: u64,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Appends the events of a decision that changed no record.
    fn append(&self, events: &[AuditEvent]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The audit events of `user_id` with `from <= at <= to`, in the order
    /// they were written.
    fn events(
        &self,
        user_id: &str,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, StoreError>> + Send;
    /// What the store knows of a token ID, as seen from `user_id`.
    fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> impl Future<Output = Result<TokenStatus, StoreError>> + Send;
    /// Counts a password attempt that no record counts: on a user ID that
    /// does not exist (as typed, bounded), or on an account whose password
    /// is locked. A write like any other (rule 7).
    fn note_attempt(
        &self,
        user_id: &str,
        at: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// How many attempts [`AccountStore::note_attempt`] counted for
    /// `user_id`, and when the last one was (0 and 0 for none).
    fn attempts(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<(u64, u64), StoreError>> + Send;
}

/// Credential ID → token seed: the tokens the service knows, the way VIP's
/// service knows a credential's secret.
pub trait TokenDirectory: Send + Sync {
    /// The seed of a credential ID, if known.
    fn seed(
        &self,
        id: &CredentialId,
    ) -> impl Future<Output = Result<Option<TokenSeed>, StoreError>> + Send;
}

impl<S: AccountStore + ?Sized> AccountStore for Arc<S> {
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send {
        (**self).load(user_id)
    }
    fn create(
        &self,
        account: &Account,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).create(account, events)
    }
    fn replace(
        &self,
        account: &Account,
        expected: u64,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).replace(account, expected, events)
    }
    fn append(&self, events: &[AuditEvent]) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).append(events)
    }
    fn events(
        &self,
        user_id: &str,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, StoreError>> + Send {
        (**self).events(user_id, from, to)
    }
    fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> impl Future<Output = Result<TokenStatus, StoreError>> + Send {
        (**self).token_status(id, user_id)
    }
    fn note_attempt(
        &self,
        user_id: &str,
        at: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).note_attempt(user_id, at)
    }
    fn attempts(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<(u64, u64), StoreError>> + Send {
        (**self).attempts(user_id)
    }
}

impl<D: TokenDirectory + ?Sized> TokenDirectory for Arc<D> {
    fn seed(
        &self,
        id: &CredentialId,
    ) -> impl Future<Output = Result<Option<TokenSeed>, StoreError>> + Send {
        (**self).seed(id)
    }
}

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<String, Account>,
    owners: HashMap<CredentialId, String>,
    revoked: HashSet<CredentialId>,
    events: Vec<AuditEvent>,
    /// `note_attempt`'s counts: (attempts, last at) by user ID.
    attempts: HashMap<String, (u64, u64)>,
}

/// The most user IDs the in-memory store counts attempts for; past it the
/// counts start afresh (a spray of made-up IDs cannot grow it for good).
const MAX_COUNTED_IDS: usize = 100_000;

impl Inner {
    /// Checks rule 4 for `account` and, if it holds, updates the indexes.
    fn index(&mut self, account: &Account, old: Option<&Account>) -> Result<(), StoreError> {
        if let Some(binding) = &account.token {
            let id = binding.credential_id;
            let owner_ok = self.owners.get(&id).is_none_or(|o| *o == account.user_id);
            if !owner_ok || self.revoked.contains(&id) || account.revoked_tokens.contains(&id) {
                return Err(StoreError::TokenTaken);
            }
        }
        if let Some(old_binding) = old.and_then(|o| o.token.as_ref()) {
            self.owners.remove(&old_binding.credential_id);
        }
        if let Some(binding) = &account.token {
            self.owners
                .insert(binding.credential_id, account.user_id.clone());
        }
        self.revoked.extend(account.revoked_tokens.iter().copied());
        Ok(())
    }
}

/// An in-memory [`AccountStore`]: a mutex around maps. For tests, examples and
/// single-process services that need no persistence.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Backend(BackendError::permanent(Poisoned("store"))))
    }
}

impl AccountStore for MemoryStore {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.lock()?.accounts.get(user_id).cloned())
    }

    async fn create(&self, account: &Account, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if inner.accounts.contains_key(&account.user_id) {
            return Err(StoreError::AlreadyExists);
        }
        inner.index(account, None)?;
        let mut stored = account.clone();
        stored.version = 0;
        inner.accounts.insert(stored.user_id.clone(), stored);
        inner.events.extend_from_slice(events);
        Ok(())
    }

    async fn replace(
        &self,
        account: &Account,
        expected: u64,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let old = match inner.accounts.get(&account.user_id) {
            None => return Err(StoreError::NotFound),
            Some(old) if old.version != expected => return Err(StoreError::Conflict),
            Some(old) => old.clone(),
        };
        inner.index(account, Some(&old))?;
        let mut stored = account.clone();
        stored.version = expected.saturating_add(1);
        inner.accounts.insert(stored.user_id.clone(), stored);
        inner.events.extend_from_slice(events);
        Ok(())
    }

    async fn note_attempt(&self, user_id: &str, at: u64) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if inner.attempts.len() >= MAX_COUNTED_IDS && !inner.attempts.contains_key(user_id) {
            inner.attempts.clear();
        }
        let entry = inner.attempts.entry(user_id.to_owned()).or_insert((0, 0));
        *entry = (entry.0.saturating_add(1), at);
        Ok(())
    }

    async fn attempts(&self, user_id: &str) -> Result<(u64, u64), StoreError> {
        Ok(self
            .lock()?
            .attempts
            .get(user_id)
            .copied()
            .unwrap_or((0, 0)))
    }

    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.lock()?.events.extend_from_slice(events);
        Ok(())
    }

    async fn events(
        &self,
        user_id: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .lock()?
            .events
            .iter()
            .filter(|e| e.user_id == user_id && (from..=to).contains(&e.at))
            .cloned()
            .collect())
    }

    async fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> Result<TokenStatus, StoreError> {
        let inner = self.lock()?;
        Ok(if inner.revoked.contains(id) {
            TokenStatus::Revoked
        } else {
            match inner.owners.get(id) {
                None => TokenStatus::Free,
                Some(owner) if owner == user_id => TokenStatus::BoundTo,
                Some(_) => TokenStatus::BoundToOther,
            }
        })
    }
}

/// An in-memory [`TokenDirectory`].
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    seeds: Mutex<HashMap<CredentialId, TokenSeed>>,
}

impl MemoryDirectory {
    /// An empty directory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a token.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the lock is poisoned.
    pub fn insert(&self, id: CredentialId, seed: TokenSeed) -> Result<(), StoreError> {
        self.seeds
            .lock()
            .map_err(|_| StoreError::Backend(BackendError::permanent(Poisoned("directory"))))?
            .insert(id, seed);
        Ok(())
    }
}

impl TokenDirectory for MemoryDirectory {
    async fn seed(&self, id: &CredentialId) -> Result<Option<TokenSeed>, StoreError> {
        Ok(self
            .seeds
            .lock()
            .map_err(|_| StoreError::Backend(BackendError::permanent(Poisoned("directory"))))?
            .get(id)
            .cloned())
    }
}
