//! The code both SQL stores share, as one macro: the queries are the same
//! text on SQLite and PostgreSQL (`$n` placeholders, an integer `revoked`
//! flag), and only the driver's types differ. Each store crate defines its
//! struct (with `pool`, `keyring` and `seeds: SeedCache` fields),
//! `backend(sqlx::Error) -> StoreError` (its transient codes) and a
//! `commit(&self, Write) -> Result<(), StoreError>` method that carries out
//! one [`Write`] in a transaction of its own or in a batch (the macro's
//! `sql::write_alone` and `sql::apply` do the statements), then invokes
//! [`sql_store!`].
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use lockstep_account::seal::SealedSecret;
use lockstep_account::{Account, AuditEvent, CredentialId, StoreError, TokenKind};

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

/// One write of the account store, owned, so that it can be handed to the
/// task that writes (SQLite batches the writes of a moment into one
/// transaction, each in a savepoint of its own).
#[derive(Debug)]
pub enum Write {
    /// `create`: the record (version 0) and its events.
    Create {
        /// The record as stored.
        account: Account,
        /// Its audit events.
        events: Vec<AuditEvent>,
    },
    /// `replace`: the record (its version already the next one) if the
    /// stored version is `expected`, and its events.
    Replace {
        /// The record as stored.
        account: Account,
        /// The version the stored record must have.
        expected: u64,
        /// Its audit events.
        events: Vec<AuditEvent>,
    },
    /// `append`: events alone.
    Append {
        /// The audit events.
        events: Vec<AuditEvent>,
    },
    /// `note_attempt`: one more attempt counted for a user ID no record
    /// counts it for.
    NoteAttempt {
        /// The user ID as typed (bounded).
        user_id: String,
        /// When.
        at: u64,
    },
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

/// Generates, in a module `sql` of the calling crate, the store's
/// `AccountStore` and `TokenDirectory` implementations and its
/// `insert_token`, `rotate` and `keys_in_use` methods.
#[macro_export]
macro_rules! sql_store {
    ($Store:ident, $Db:ident, $Row:ty) => {
        mod sql {
        use ::lockstep_account::seal::{KeyId, SealedSecret};
        use ::lockstep_account::{
            Account, AccountStore, AuditEvent, BackendError, CredentialId, EventKind, Random,
            StoreError, TokenDirectory, TokenKind, TokenSeed, TokenStatus,
        };
        use ::lockstep_store_sql::Write;
        use ::sqlx::{$Db, Row, Transaction};

        use super::{$Store, backend};

        /// The driver's connection.
        type Conn = <$Db as ::sqlx::Database>::Connection;

        /// A value that could not be stored or read back as it was written.
        #[derive(Debug, thiserror::Error)]
        #[error("a stored value could not be encoded or decoded: {0}")]
        struct Encoding(String);

        fn encoding(what: impl core::fmt::Display) -> StoreError {
            StoreError::Backend(BackendError::permanent(Encoding(what.to_string())))
        }

        fn signed(n: u64) -> i64 {
            i64::try_from(n).unwrap_or(i64::MAX)
        }

        impl $Store {
            /// Adds a token to the directory, its seed sealed with the active key.
            ///
            /// # Errors
            /// [`StoreError::AlreadyExists`] for a known credential ID;
            /// [`StoreError::Backend`] otherwise.
            pub async fn insert_token(
                &self,
                id: &CredentialId,
                seed: &TokenSeed,
                random: &dyn Random,
            ) -> Result<(), StoreError> {
                let sealed = self
                    .keyring
                    .seal(id, seed, random)
                    .map_err(|e| StoreError::Backend(BackendError::permanent(e)))?;
                let kind = serde_json::to_string(&seed.kind).map_err(encoding)?;
                let done = sqlx::query(
                    "INSERT INTO token_seeds (credential_id, kind, sealed) VALUES ($1, $2, $3) \
                     ON CONFLICT (credential_id) DO NOTHING",
                )
                .bind(id.as_str())
                .bind(kind)
                .bind(sealed.as_bytes())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::AlreadyExists);
                }
                Ok(())
            }

            /// Re-seals every token seed not sealed with the active key, each by a
            /// compare-and-swap on its old bytes: idempotent, safe beside logins,
            /// and resumable after an interruption. Returns how many rows it moved.
            ///
            /// # Errors
            /// [`StoreError::Backend`] with a [`lockstep_account::seal::SealError`]
            /// as source for a row that does not open, or a backend failure.
            pub async fn rotate(&self, random: &dyn Random) -> Result<usize, StoreError> {
                let rows = sqlx::query("SELECT credential_id, kind, sealed FROM token_seeds")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                let mut moved = 0_usize;
                for row in rows {
                    let (id, kind, sealed) = decode_seed_row(&row)?;
                    let fresh = self
                        .keyring
                        .reseal(&id, kind, &sealed, random)
                        .map_err(|e| StoreError::Backend(BackendError::permanent(e)))?;
                    let Some(fresh) = fresh else {
                        continue;
                    };
                    let done = sqlx::query(
                        "UPDATE token_seeds SET sealed = $1 WHERE credential_id = $2 AND sealed = $3",
                    )
                    .bind(fresh.as_bytes())
                    .bind(id.as_str())
                    .bind(sealed.as_bytes())
                    .execute(&self.pool)
                    .await
                    .map_err(backend)?;
                    moved = moved.saturating_add(usize::try_from(done.rows_affected()).unwrap_or(0));
                }
                self.seeds.forget(None);
                Ok(moved)
            }

            /// The key IDs that seal at least one stored seed: a key not listed can
            /// be retired.
            ///
            /// # Errors
            /// [`StoreError::Backend`].
            pub async fn keys_in_use(&self) -> Result<Vec<KeyId>, StoreError> {
                let rows = sqlx::query("SELECT sealed FROM token_seeds")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                let mut ids = Vec::new();
                for row in rows {
                    let bytes: Vec<u8> = row.try_get("sealed").map_err(backend)?;
                    let sealed = SealedSecret::parse(&bytes)
                        .map_err(|e| StoreError::Backend(BackendError::permanent(e)))?;
                    if !ids.contains(&sealed.key_id()) {
                        ids.push(sealed.key_id());
                    }
                }
                ids.sort();
                Ok(ids)
            }
        }

        fn decode_seed_row(
            row: &$Row,
        ) -> Result<(CredentialId, TokenKind, SealedSecret), StoreError> {
            let id: String = row.try_get("credential_id").map_err(backend)?;
            let kind: String = row.try_get("kind").map_err(backend)?;
            let sealed: Vec<u8> = row.try_get("sealed").map_err(backend)?;
            let id = CredentialId::parse(&id).map_err(encoding)?;
            let kind: TokenKind = serde_json::from_str(&kind).map_err(encoding)?;
            let sealed = SealedSecret::parse(&sealed)
                .map_err(|e| StoreError::Backend(BackendError::permanent(e)))?;
            Ok((id, kind, sealed))
        }

        /// Rule 4 of the store contract inside the record's transaction: the bound
        /// token is inserted or kept for this owner only while never revoked;
        /// revoked tokens are marked for good; a token no longer bound is released.
        async fn index_tokens(
            tx: &mut Conn,
            account: &Account,
        ) -> Result<(), StoreError> {
            let bound = account.token.as_ref().map(|t| t.credential_id);
            if let Some(id) = bound {
                if account.revoked_tokens.contains(&id) {
                    return Err(StoreError::TokenTaken);
                }
                let done = sqlx::query(
                    "INSERT INTO tokens (credential_id, owner, revoked) VALUES ($1, $2, 0) \
                     ON CONFLICT (credential_id) DO UPDATE SET owner = excluded.owner \
                     WHERE tokens.owner = excluded.owner AND tokens.revoked = 0",
                )
                .bind(id.as_str())
                .bind(&account.user_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::TokenTaken);
                }
            }
            for id in &account.revoked_tokens {
                sqlx::query(
                    "INSERT INTO tokens (credential_id, owner, revoked) VALUES ($1, $2, 1) \
                     ON CONFLICT (credential_id) DO UPDATE SET revoked = 1 \
                     WHERE tokens.owner = excluded.owner",
                )
                .bind(id.as_str())
                .bind(&account.user_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
            sqlx::query("DELETE FROM tokens WHERE owner = $1 AND revoked = 0 AND credential_id <> $2")
                .bind(&account.user_id)
                .bind(bound.as_ref().map_or("", CredentialId::as_str))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            Ok(())
        }

        async fn insert_events(
            tx: &mut Conn,
            events: &[AuditEvent],
        ) -> Result<(), StoreError> {
            // One statement per 16 events (a decision makes one to three),
            // rows in the order given, so ids keep the order of writing.
            for chunk in events.chunks(16) {
                let mut text = String::from(
                    "INSERT INTO events (user_id, at, operator_id, kind) VALUES ",
                );
                for n in 0..chunk.len() {
                    let p = n * 4;
                    if n > 0 {
                        text.push_str(", ");
                    }
                    text.push_str(&format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4));
                }
                let mut query = sqlx::query(&text);
                for e in chunk {
                    let kind = serde_json::to_string(&e.kind).map_err(encoding)?;
                    query = query
                        .bind(e.user_id.clone())
                        .bind(signed(e.at))
                        .bind(e.operator_id.clone())
                        .bind(kind);
                }
                query.execute(&mut *tx).await.map_err(backend)?;
            }
            Ok(())
        }

        /// Commits on success; on failure rolls back at once, releasing the locks
        /// (a dropped transaction would roll back only when its connection is
        /// next used).
        async fn finish(
            tx: Transaction<'_, $Db>,
            result: Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            match result {
                Ok(()) => tx.commit().await.map_err(backend),
                Err(e) => {
                    let _ = tx.rollback().await;
                    Err(e)
                }
            }
        }

        /// The statements of `op`, in the transaction (or savepoint) that
        /// `conn` is in.
        pub(super) async fn apply(conn: &mut Conn, op: &Write) -> Result<(), StoreError> {
            match op {
                Write::Create { account, events } => create_in(conn, account, events).await,
                Write::Replace {
                    account,
                    expected,
                    events,
                } => replace_in(conn, account, *expected, events).await,
                Write::Append { events } => insert_events(conn, events).await,
                Write::NoteAttempt { user_id, at } => {
                    sqlx::query(
                        "INSERT INTO attempts (user_id, count, last_at) VALUES ($1, 1, $2) \
                         ON CONFLICT (user_id) DO UPDATE \
                         SET count = attempts.count + 1, last_at = excluded.last_at",
                    )
                    .bind(user_id)
                    .bind(signed(*at))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    Ok(())
                }
            }
        }

        /// `op` in a transaction of its own, opened with `begin`: committed
        /// when it succeeds, rolled back at once when it fails.
        pub(super) async fn write_alone(
            conn: &mut Conn,
            begin: &'static str,
            op: &Write,
        ) -> Result<(), StoreError> {
            let mut tx = ::sqlx::Connection::begin_with(conn, begin)
                .await
                .map_err(backend)?;
            let result = apply(&mut *tx, op).await;
            finish(tx, result).await
        }

        async fn create_in(
            tx: &mut Conn,
            stored: &Account,
            events: &[AuditEvent],
        ) -> Result<(), StoreError> {
            let done = sqlx::query(
                "INSERT INTO accounts (user_id, version, record, token_key) VALUES ($1, 0, $2, $3) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(&stored.user_id)
            .bind(record(stored)?)
            .bind(token_key(stored))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::AlreadyExists);
            }
            index_tokens(tx, stored).await?;
            insert_events(tx, events).await
        }

        async fn replace_in(
            tx: &mut Conn,
            stored: &Account,
            expected: u64,
            events: &[AuditEvent],
        ) -> Result<(), StoreError> {
            let text = record(stored)?;
            let key = token_key(stored);
            // The common case, every login: the binding is the one the tokens
            // rows were indexed for, and one statement is the whole check.
            const KEEPING: &str = "UPDATE accounts SET version = $1, record = $2 \
                 WHERE user_id = $3 AND version = $4 AND token_key = $5";
            const REINDEXING: &str = "UPDATE accounts SET version = $1, record = $2, token_key = $5 \
                 WHERE user_id = $3 AND version = $4";
            let update = async |tx: &mut Conn, statement: &'static str| {
                sqlx::query(statement)
                    .bind(signed(stored.version))
                    .bind(&text)
                    .bind(&stored.user_id)
                    .bind(signed(expected))
                    .bind(&key)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)
            };
            if update(tx, KEEPING).await?.rows_affected() == 1 {
                return insert_events(tx, events).await;
            }
            let done = update(tx, REINDEXING).await?;
            if done.rows_affected() == 0 {
                let exists = sqlx::query("SELECT 1 FROM accounts WHERE user_id = $1")
                    .bind(&stored.user_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                return Err(if exists.is_some() {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                });
            }
            index_tokens(tx, stored).await?;
            insert_events(tx, events).await
        }

        /// What the tokens rows of `account` are indexed for: the bound
        /// token and how many were revoked (a revoke always unbinds, so the
        /// count tells a changed revoked list apart).
        fn token_key(account: &Account) -> String {
            let bound = account
                .token
                .as_ref()
                .map_or("", |t| t.credential_id.as_str());
            format!("{bound}|{}", account.revoked_tokens.len())
        }

        fn record(account: &Account) -> Result<String, StoreError> {
            serde_json::to_string(account).map_err(encoding)
        }

        impl AccountStore for $Store {
            async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
                let row = sqlx::query("SELECT version, record FROM accounts WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let version: i64 = row.try_get("version").map_err(backend)?;
                let text: String = row.try_get("record").map_err(backend)?;
                let mut account: Account = serde_json::from_str(&text).map_err(encoding)?;
                account.version = u64::try_from(version).map_err(encoding)?;
                Ok(Some(account))
            }

            async fn create(&self, account: &Account, events: &[AuditEvent]) -> Result<(), StoreError> {
                let mut account = account.clone();
                account.version = 0;
                self.commit(Write::Create {
                    account,
                    events: events.to_vec(),
                })
                .await
            }

            async fn replace(
                &self,
                account: &Account,
                expected: u64,
                events: &[AuditEvent],
            ) -> Result<(), StoreError> {
                let mut account = account.clone();
                account.version = expected.saturating_add(1);
                self.commit(Write::Replace {
                    account,
                    expected,
                    events: events.to_vec(),
                })
                .await
            }

            async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
                if events.is_empty() {
                    return Ok(());
                }
                self.commit(Write::Append {
                    events: events.to_vec(),
                })
                .await
            }

            async fn note_attempt(&self, user_id: &str, at: u64) -> Result<(), StoreError> {
                self.commit(Write::NoteAttempt {
                    user_id: user_id.to_owned(),
                    at,
                })
                .await
            }

            async fn attempts(&self, user_id: &str) -> Result<(u64, u64), StoreError> {
                let row = sqlx::query("SELECT count, last_at FROM attempts WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                let Some(row) = row else {
                    return Ok((0, 0));
                };
                let count: i64 = row.try_get("count").map_err(backend)?;
                let last_at: i64 = row.try_get("last_at").map_err(backend)?;
                Ok((
                    u64::try_from(count).map_err(encoding)?,
                    u64::try_from(last_at).map_err(encoding)?,
                ))
            }

            async fn events(
                &self,
                user_id: &str,
                from: u64,
                to: u64,
            ) -> Result<Vec<AuditEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT at, operator_id, kind FROM events \
                     WHERE user_id = $1 AND at >= $2 AND at <= $3 ORDER BY id",
                )
                .bind(user_id)
                .bind(signed(from))
                .bind(signed(to))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                rows.iter()
                    .map(|row| {
                        let at: i64 = row.try_get("at").map_err(backend)?;
                        let operator_id: Option<String> = row.try_get("operator_id").map_err(backend)?;
                        let kind: String = row.try_get("kind").map_err(backend)?;
                        let kind: EventKind = serde_json::from_str(&kind).map_err(encoding)?;
                        Ok(AuditEvent {
                            at: u64::try_from(at).map_err(encoding)?,
                            user_id: user_id.to_owned(),
                            operator_id,
                            kind,
                        })
                    })
                    .collect()
            }

            async fn token_status(
                &self,
                id: &CredentialId,
                user_id: &str,
            ) -> Result<TokenStatus, StoreError> {
                let row = sqlx::query("SELECT owner, revoked FROM tokens WHERE credential_id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?;
                let Some(row) = row else {
                    return Ok(TokenStatus::Free);
                };
                let owner: String = row.try_get("owner").map_err(backend)?;
                let revoked: i64 = row.try_get("revoked").map_err(backend)?;
                Ok(if revoked != 0 {
                    TokenStatus::Revoked
                } else if owner == user_id {
                    TokenStatus::BoundTo
                } else {
                    TokenStatus::BoundToOther
                })
            }
        }

        impl TokenDirectory for $Store {
            /// The seed of a known token, opened with the keyring. A row that does
            /// not open (wrong key, tampered, moved) is an error with the
            /// [`lockstep_account::seal::SealError`] as its source, never "unknown".
            async fn seed(&self, id: &CredentialId) -> Result<Option<TokenSeed>, StoreError> {
                if let Some((kind, sealed)) = self.seeds.get(id) {
                    if let Ok(seed) = self.keyring.open(id, kind, &sealed) {
                        return Ok(Some(seed));
                    }
                    // Re-sealed under a key this keyring has retired, say:
                    // what the table holds now decides.
                    self.seeds.forget(Some(id));
                }
                let row = sqlx::query(
                    "SELECT credential_id, kind, sealed FROM token_seeds WHERE credential_id = $1",
                )
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let (stored_id, kind, sealed) = decode_seed_row(&row)?;
                let seed = self
                    .keyring
                    .open(&stored_id, kind, &sealed)
                    .map_err(|e| StoreError::Backend(BackendError::permanent(e)))?;
                self.seeds.put(stored_id, kind, sealed);
                Ok(Some(seed))
            }
        }

        }
    };
}

#[cfg(test)]
mod tests {
    use lockstep_account::seal::{KeyId, Keyring, SealingKey};
    use lockstep_account::{CredentialId, OsRandom, TotpParams, provision};

    use super::SeedCache;

    #[test]
    fn the_seed_cache_keeps_forgets_and_forgets_all() {
        let ring = Keyring::new(SealingKey::new(KeyId(1), [7; 32]));
        let cache = SeedCache::default();
        let mut ids: Vec<CredentialId> = Vec::new();
        for n in 0..3_u8 {
            let t =
                provision(&[n; 36], "Bank", TotpParams::DEFAULT).unwrap_or_else(|e| panic!("{e}"));
            let sealed = ring
                .seal(&t.credential_id, &t.seed, &OsRandom)
                .unwrap_or_else(|e| panic!("{e}"));
            cache.put(t.credential_id, t.seed.kind, sealed);
            ids.push(t.credential_id);
        }
        assert!(ids.iter().all(|id| cache.get(id).is_some()));
        cache.forget(ids.first());
        assert!(ids.first().is_some_and(|id| cache.get(id).is_none()));
        assert!(ids.get(1).is_some_and(|id| cache.get(id).is_some()));
        cache.forget(None);
        assert!(ids.iter().all(|id| cache.get(id).is_none()));
    }
}
