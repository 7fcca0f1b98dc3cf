//! Storage contracts and their in-memory implementations.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use lockstep_otp::CredentialId;

use crate::record::Account;
use crate::token::{TokenSeed, TokenStatus};

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
    /// The backend failed.
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// Where accounts live. The contract every implementation must keep (and
/// `lockstep-store-tests` checks):
///
/// 1. `load` returns the last record written, with its version.
/// 2. `create` stores a new record at version 0; an existing user ID is
///    [`StoreError::AlreadyExists`].
/// 3. `replace(record, expected)` writes `record` with version `expected + 1`
///    **only if** the stored version is still `expected`, atomically;
///    otherwise [`StoreError::Conflict`] and nothing is written.
/// 4. A token ID is bound to at most one account, and a token ID listed in
///    any record's `revoked_tokens` can never be bound again: a write that
///    would break either is [`StoreError::TokenTaken`] and writes nothing.
/// 5. Futures are `Send`; no particular async runtime is assumed.
pub trait AccountStore: Send + Sync {
    /// Loads a record.
    fn load(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;
    /// Stores a new record (its version is set to 0).
    fn create(&self, account: &Account) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Compare-and-swap: writes `account` with version `expected + 1` if the
    /// stored version is `expected`.
    fn replace(
        &self,
        account: &Account,
        expected: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// What the store knows of a token ID, as seen from `user_id`.
    fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> impl Future<Output = Result<TokenStatus, StoreError>> + Send;
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
    fn create(&self, account: &Account) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).create(account)
    }
    fn replace(
        &self,
        account: &Account,
        expected: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).replace(account, expected)
    }
    fn token_status(
        &self,
        id: &CredentialId,
        user_id: &str,
    ) -> impl Future<Output = Result<TokenStatus, StoreError>> + Send {
        (**self).token_status(id, user_id)
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
}

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
            .map_err(|_| StoreError::Backend("the store's lock was poisoned".into()))
    }
}

impl AccountStore for MemoryStore {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.lock()?.accounts.get(user_id).cloned())
    }

    async fn create(&self, account: &Account) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if inner.accounts.contains_key(&account.user_id) {
            return Err(StoreError::AlreadyExists);
        }
        inner.index(account, None)?;
        let mut stored = account.clone();
        stored.version = 0;
        inner.accounts.insert(stored.user_id.clone(), stored);
        Ok(())
    }

    async fn replace(&self, account: &Account, expected: u64) -> Result<(), StoreError> {
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
        Ok(())
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
            .map_err(|_| StoreError::Backend("the directory's lock was poisoned".into()))?
            .insert(id, seed);
        Ok(())
    }
}

impl TokenDirectory for MemoryDirectory {
    async fn seed(&self, id: &CredentialId) -> Result<Option<TokenSeed>, StoreError> {
        Ok(self
            .seeds
            .lock()
            .map_err(|_| StoreError::Backend("the directory's lock was poisoned".into()))?
            .get(id)
            .cloned())
    }
}
