//! The token directory of a SQL store: seeds sealed with the embedder's
//! keyring, bound to their row and to the store.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use lockstep_account::{BackendError, CredentialId, Random, StoreError, TokenKind, TokenSeed};

use crate::codec::decode_seed_row;
use crate::queries::store_id;
use crate::seal::{KeyId, Keyring, SealedSecret, StoreId};
use crate::{Arg, Cell, Kind, Sql, Statement, encoding};

/// The most sealed seeds a store keeps in memory; past it the cache starts
/// afresh.
const SEED_CACHE_LIMIT: usize = 100_000;

/// Sealed token seeds as last read from the directory table, so that a
/// login does not read the same row again: the rows are written once and
/// only ever re-sealed (rotation), and what is kept is the ciphertext,
/// opened on every use. A cached seed that no longer opens (its key was
/// retired) is dropped and read again.
#[derive(Debug, Default)]
pub struct SeedCache(Mutex<HashMap<CredentialId, (TokenKind, SealedSecret)>>);

impl SeedCache {
    /// The cached sealed seed of `id`.
    #[must_use]
    pub fn get(&self, id: &CredentialId) -> Option<(TokenKind, SealedSecret)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Keeps the sealed seed of `id`.
    pub fn put(&self, id: CredentialId, kind: TokenKind, sealed: SealedSecret) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= SEED_CACHE_LIMIT {
            map.clear();
        }
        map.insert(id, (kind, sealed));
    }

    /// Forgets `id`, or everything.
    pub fn forget(&self, id: Option<&CredentialId>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match id {
            Some(id) => {
                map.remove(id);
            }
            None => map.clear(),
        }
    }
}

fn sealing(e: crate::seal::SealError) -> StoreError {
    StoreError::Backend(BackendError::permanent(e))
}

/// The token directory of a SQL store: the `token_seeds` table, its seeds
/// sealed under a [`Keyring`] and bound to this store's ID.
#[derive(Debug)]
pub struct SealedDirectory {
    keyring: Keyring,
    cache: SeedCache,
    store: OnceLock<StoreId>,
}

impl SealedDirectory {
    /// A directory sealing with `keyring`.
    #[must_use]
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring,
            cache: SeedCache::default(),
            store: OnceLock::new(),
        }
    }

    /// The keyring.
    #[must_use]
    pub const fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    async fn store_id<S: Sql>(&self, sql: &mut S) -> Result<StoreId, StoreError> {
        if let Some(id) = self.store.get() {
            return Ok(id.clone());
        }
        let id = store_id(sql).await?;
        Ok(self.store.get_or_init(|| id).clone())
    }

    /// The seed of a known token, opened with the keyring. A row that does
    /// not open (wrong key, tampered, moved to another row or store) is an
    /// error with the [`crate::seal::SealError`] as its source, never
    /// "unknown".
    ///
    /// # Errors
    /// As described; the backend's.
    pub async fn seed<S: Sql>(
        &self,
        sql: &mut S,
        id: &CredentialId,
    ) -> Result<Option<TokenSeed>, StoreError> {
        let store = self.store_id(sql).await?;
        if let Some((kind, sealed)) = self.cache.get(id) {
            if let Ok(seed) = self.keyring.open(&store, id, kind, &sealed) {
                return Ok(Some(seed));
            }
            // Re-sealed under a key this keyring has retired, say: what
            // the table holds now decides.
            self.cache.forget(Some(id));
        }
        let rows = sql
            .fetch(
                Statement::new(
                    "SELECT credential_id, kind, sealed FROM token_seeds WHERE credential_id = $1",
                    vec![Arg::Text(id.as_str())],
                ),
                &[Kind::Text, Kind::Text, Kind::Bytes],
            )
            .await?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let (stored_id, kind, sealed) = seed_row(row)?;
        let seed = self
            .keyring
            .open(&store, &stored_id, kind, &sealed)
            .map_err(sealing)?;
        self.cache.put(stored_id, kind, sealed);
        Ok(Some(seed))
    }

    /// Adds a token, its seed sealed with the active key.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] for a known credential ID; the
    /// backend's.
    pub async fn insert<S: Sql>(
        &self,
        sql: &mut S,
        id: &CredentialId,
        seed: &TokenSeed,
        random: &dyn Random,
    ) -> Result<(), StoreError> {
        let store = self.store_id(sql).await?;
        let sealed = self
            .keyring
            .seal(&store, id, seed, random)
            .map_err(sealing)?;
        let kind = serde_json::to_string(&seed.kind).map_err(encoding)?;
        let done = sql
            .execute(Statement::new(
                "INSERT INTO token_seeds (credential_id, kind, sealed) VALUES ($1, $2, $3) \
                 ON CONFLICT (credential_id) DO NOTHING",
                vec![
                    Arg::Text(id.as_str()),
                    Arg::Text(&kind),
                    Arg::Bytes(sealed.as_bytes()),
                ],
            ))
            .await?;
        if done == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    /// Re-seals every token seed not sealed with the active key in the
    /// current format, each by a compare-and-swap on its old bytes:
    /// idempotent, safe beside logins, and resumable after an interruption.
    /// Returns how many rows it moved.
    ///
    /// # Errors
    /// [`StoreError::Backend`] with a [`crate::seal::SealError`] as source
    /// for a row that does not open, or a backend failure.
    pub async fn rotate<S: Sql>(
        &self,
        sql: &mut S,
        random: &dyn Random,
    ) -> Result<usize, StoreError> {
        let store = self.store_id(sql).await?;
        let rows = sql
            .fetch(
                Statement::new(
                    "SELECT credential_id, kind, sealed FROM token_seeds",
                    Vec::new(),
                ),
                &[Kind::Text, Kind::Text, Kind::Bytes],
            )
            .await?;
        let mut moved = 0_usize;
        for row in rows {
            let (id, kind, sealed) = seed_row(row)?;
            let fresh = self
                .keyring
                .reseal(&store, &id, kind, &sealed, random)
                .map_err(sealing)?;
            let Some(fresh) = fresh else {
                continue;
            };
            let done = sql
                .execute(Statement::new(
                    "UPDATE token_seeds SET sealed = $1 WHERE credential_id = $2 AND sealed = $3",
                    vec![
                        Arg::Bytes(fresh.as_bytes()),
                        Arg::Text(id.as_str()),
                        Arg::Bytes(sealed.as_bytes()),
                    ],
                ))
                .await?;
            moved = moved.saturating_add(usize::try_from(done).unwrap_or(0));
        }
        self.cache.forget(None);
        Ok(moved)
    }

    /// The key IDs that seal at least one stored seed: a key not listed can
    /// be retired.
    ///
    /// # Errors
    /// The backend's, or an encoding error for a row that is not sealed.
    pub async fn keys_in_use<S: Sql>(sql: &mut S) -> Result<Vec<KeyId>, StoreError> {
        let rows = sql
            .fetch(
                Statement::new("SELECT sealed FROM token_seeds", Vec::new()),
                &[Kind::Bytes],
            )
            .await?;
        let mut ids = Vec::new();
        for row in rows {
            let Some(Cell::Bytes(bytes)) = row.into_iter().next() else {
                return Err(encoding("a sealed column"));
            };
            let sealed = SealedSecret::parse(&bytes).map_err(encoding)?;
            if !ids.contains(&sealed.key_id()) {
                ids.push(sealed.key_id());
            }
        }
        ids.sort();
        Ok(ids)
    }
}

fn seed_row(row: Vec<Cell>) -> Result<(CredentialId, TokenKind, SealedSecret), StoreError> {
    let mut cells = row.into_iter();
    match (cells.next(), cells.next(), cells.next()) {
        (Some(Cell::Text(id)), Some(Cell::Text(kind)), Some(Cell::Bytes(sealed))) => {
            decode_seed_row(&id, &kind, &sealed)
        }
        _ => Err(encoding("a token seed row")),
    }
}
