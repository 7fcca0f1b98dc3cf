//! The in-memory store and directory: for tests, examples and
//! single-process services that need no persistence.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use lockstep_otp::CredentialId;

use crate::random::Random;
use crate::record::Account;
use crate::store::{
    AccountStore, Attempts, AuditLog, BackendError, ClientFailures, Cursor, Logged,
    MAX_EVENTS_PAGE, MAX_SUSPICIOUS_CLIENTS, MAX_SUSPICIOUS_SCAN, SprayFlag, StoreError,
    Suspicious, TokenDirectory,
};
use crate::token::{TokenSeed, TokenStatus};
use crate::write::{RecordWrite, TokenChange, Write};

/// A poisoned lock of an in-memory store or directory.
#[derive(Debug, thiserror::Error)]
#[error("the {0}'s lock was poisoned")]
struct Poisoned(&'static str);

/// The most user IDs the in-memory store counts attempts for; past it the
/// counts start afresh (a spray of made-up IDs cannot grow it for good).
const MAX_COUNTED_IDS: usize = 100_000;

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<String, Account>,
    owners: HashMap<CredentialId, String>,
    revoked: HashSet<CredentialId>,
    /// The audit log, in the order written; an event's sequence number is
    /// its position.
    log: Vec<crate::event::AuditEvent>,
    /// Each user ID's positions in `log`, ascending.
    by_user: HashMap<String, Vec<u64>>,
    attempts: HashMap<String, Attempts>,
}

impl Inner {
    /// Checks every part of `write` against the state, without changing it.
    fn check(&self, write: &Write) -> Result<(), StoreError> {
        match &write.record {
            Some(RecordWrite::Create(a)) if self.accounts.contains_key(&a.user_id) => {
                return Err(StoreError::AlreadyExists);
            }
            Some(RecordWrite::Replace { account, expected }) => {
                match self.accounts.get(&account.user_id) {
                    None => return Err(StoreError::NotFound),
                    Some(old) if old.version != *expected => return Err(StoreError::Conflict),
                    Some(_) => {}
                }
            }
            _ => {}
        }
        let mut bound: HashSet<CredentialId> = HashSet::new();
        for change in &write.tokens {
            match change {
                TokenChange::Bind { id, .. } => {
                    let taken = self.owners.contains_key(id) || self.revoked.contains(id);
                    if taken || !bound.insert(*id) {
                        return Err(StoreError::TokenTaken);
                    }
                }
                // Only its owner's token (or one no row names) is revoked.
                TokenChange::Revoke { id, owner } => {
                    if self.owners.get(id).is_some_and(|o| o != owner) {
                        return Err(StoreError::TokenTaken);
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies a write that [`Inner::check`] passed.
    fn apply(&mut self, write: Write) {
        match write.record {
            Some(RecordWrite::Create(mut account)) => {
                account.version = 0;
                self.attempts.remove(&account.user_id);
                self.accounts.insert(account.user_id.clone(), account);
            }
            Some(RecordWrite::Replace {
                mut account,
                expected,
            }) => {
                account.version = expected.saturating_add(1);
                self.accounts.insert(account.user_id.clone(), account);
            }
            None => {}
        }
        for change in write.tokens {
            match change {
                TokenChange::Bind { id, owner } => {
                    self.owners.insert(id, owner);
                }
                TokenChange::Revoke { id, .. } => {
                    self.owners.remove(&id);
                    self.revoked.insert(id);
                }
            }
        }
        for event in write.events {
            let seq = u64::try_from(self.log.len()).unwrap_or(u64::MAX);
            self.by_user
                .entry(event.user_id.clone())
                .or_default()
                .push(seq);
            self.log.push(event);
        }
        if let Some(note) = write.attempt {
            if self.attempts.len() >= MAX_COUNTED_IDS && !self.attempts.contains_key(&note.user_id)
            {
                self.attempts.clear();
            }
            let a = self.attempts.entry(note.user_id).or_default();
            a.count = a.count.saturating_add(1);
            a.last_at = Some(note.at);
        }
    }
}

/// An in-memory [`AccountStore`] and [`AuditLog`]: a mutex around maps.
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

    async fn write(&self, write: Write) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        inner.check(&write)?;
        inner.apply(write);
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

impl AuditLog for MemoryStore {
    async fn events(
        &self,
        user_id: &str,
        from: Cursor,
        limit: usize,
    ) -> Result<Vec<Logged>, StoreError> {
        let inner = self.lock()?;
        let Some(positions) = inner.by_user.get(user_id) else {
            return Ok(Vec::new());
        };
        let limit = limit.min(MAX_EVENTS_PAGE);
        let page: Vec<u64> = match from {
            Cursor::Oldest => positions.iter().take(limit).copied().collect(),
            Cursor::After(seq) => {
                let start = positions.partition_point(|&p| p <= seq);
                positions.iter().skip(start).take(limit).copied().collect()
            }
            Cursor::Newest => positions.iter().rev().take(limit).copied().collect(),
            Cursor::Before(seq) => {
                let end = positions.partition_point(|&p| p < seq);
                positions
                    .iter()
                    .take(end)
                    .rev()
                    .take(limit)
                    .copied()
                    .collect()
            }
        };
        Ok(page
            .into_iter()
            .filter_map(|seq| {
                let event = inner.log.get(usize::try_from(seq).ok()?)?.clone();
                Some(Logged { seq, event })
            })
            .collect())
    }

    async fn attempts(&self, user_id: &str) -> Result<Attempts, StoreError> {
        Ok(self
            .lock()?
            .attempts
            .get(user_id)
            .copied()
            .unwrap_or_default())
    }

    async fn suspicious(&self, from: u64, to: u64, limit: usize) -> Result<Suspicious, StoreError> {
        use crate::event::EventKind;
        let limit = limit.min(MAX_SUSPICIOUS_CLIENTS);
        let inner = self.lock()?;
        let mut found = Suspicious::default();
        let mut clients: HashMap<Option<core::net::IpAddr>, (u64, HashSet<&str>, u64)> =
            HashMap::new();
        let mut scanned = 0;
        for e in inner
            .log
            .iter()
            .rev()
            .filter(|e| (from..to).contains(&e.at))
        {
            match &e.kind {
                EventKind::UnknownUser | EventKind::PasswordFailed { .. } => {
                    if scanned == MAX_SUSPICIOUS_SCAN {
                        found.truncated = true;
                        continue;
                    }
                    scanned += 1;
                    let unknown = u64::from(matches!(e.kind, EventKind::UnknownUser));
                    let client = clients.entry(e.client).or_default();
                    client.0 += 1;
                    client.1.insert(&e.user_id);
                    client.2 += unknown;
                    found.failures += 1;
                    found.unknown_ids += unknown;
                }
                EventKind::Locked { .. } => found.locks_set += 1,
                EventKind::SprayFlagged { distinct_ids, .. } if found.flags.len() < limit => {
                    found.flags.push(SprayFlag {
                        at: e.at,
                        client: e.client,
                        distinct_ids: *distinct_ids,
                    });
                }
                _ => {}
            }
        }
        found.clients = clients
            .into_iter()
            .map(|(client, (failures, ids, unknown_ids))| ClientFailures {
                client,
                failures,
                distinct_ids: u64::try_from(ids.len()).unwrap_or(u64::MAX),
                unknown_ids,
            })
            .collect();
        found.clients.sort_by(|a, b| {
            (b.distinct_ids, b.failures, a.client).cmp(&(a.distinct_ids, a.failures, b.client))
        });
        found.clients.truncate(limit);
        Ok(found)
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

    fn lock(&self) -> Result<MutexGuard<'_, HashMap<CredentialId, TokenSeed>>, StoreError> {
        self.seeds
            .lock()
            .map_err(|_| StoreError::Backend(BackendError::permanent(Poisoned("directory"))))
    }

    /// The seed of `id`, at once (for code without an executor).
    #[must_use]
    pub fn get(&self, id: &CredentialId) -> Option<TokenSeed> {
        self.lock().ok()?.get(id).cloned()
    }

    /// Adds or replaces a token (a test's shortcut past
    /// [`TokenDirectory::insert`], which refuses a known ID).
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the lock is poisoned.
    pub fn put(&self, id: CredentialId, seed: TokenSeed) -> Result<(), StoreError> {
        self.lock()?.insert(id, seed);
        Ok(())
    }
}

impl TokenDirectory for MemoryDirectory {
    async fn seed(&self, id: &CredentialId) -> Result<Option<TokenSeed>, StoreError> {
        Ok(self.lock()?.get(id).cloned())
    }

    async fn insert(
        &self,
        id: &CredentialId,
        seed: &TokenSeed,
        _random: &dyn Random,
    ) -> Result<(), StoreError> {
        let mut seeds = self.lock()?;
        if seeds.contains_key(id) {
            return Err(StoreError::AlreadyExists);
        }
        seeds.insert(*id, seed.clone());
        Ok(())
    }
}
