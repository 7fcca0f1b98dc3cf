//! The SQLite store: the conformance suite unchanged (races included), and
//! what only a durable store can show — records, revoked token IDs and
//! sealed seeds survive closing and reopening the file; a wrong key is a
//! typed error; rotation under concurrent logins loses no token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::Arc;

use lockstep_account::{
    AccountStore, Config, OsRandom, Random, StoreError, TokenDirectory, TokenSeed, TokenStatus,
};
use lockstep_otp::{CredentialId, Secret, Totp, TotpParams};
use lockstep_store_sqlite::SqliteStore;
use lockstep_store_sqlite::seal::{KeyId, Keyring, SealError, SealingKey};
use lockstep_store_tests::{Fx, TEMP, all_events};

/// A fresh database file in the temporary directory (never `:memory:`:
/// with a pool, each connection would get its own database).
fn temp_path() -> PathBuf {
    let mut bytes = [0_u8; 8];
    OsRandom.fill(&mut bytes).unwrap();
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("lockstep-test-{name}.db"))
}

fn keys(id: u32, byte: u8) -> Keyring {
    Keyring::new(SealingKey::new(KeyId(id), [byte; 32]))
}

async fn open(path: &PathBuf, keyring: Keyring) -> SqliteStore {
    let store = SqliteStore::connect(path, keyring).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn temp_store() -> SqliteStore {
    open(&temp_path(), keys(1, 7)).await
}

/// Cuts a write off half-way: a connection of its own changes the record
/// and adds an event inside a transaction, then goes away without a commit
/// or a rollback.
async fn tear(store: Arc<SqliteStore>, user: &'static str) {
    use sqlx::Connection;
    let path = store.path();
    let mut cut = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut tx = cut.begin().await.unwrap();
    sqlx::query("UPDATE accounts SET version = version + 1, record = 'torn' WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO events (user_id, at, operator_id, kind) VALUES ($1, 1, NULL, 'x')")
        .bind(user)
        .execute(&mut *tx)
        .await
        .unwrap();
    // The connection goes away mid-transaction: no commit, no rollback sent.
    drop(tx);
    cut.close_hard().await.unwrap();
}

lockstep_store_tests::store_conformance!(async { Some(temp_store().await) }, torn: tear);

/// Runs `sql` on the store's file through the store's reading pool.
async fn tamper(store: Arc<SqliteStore>, sql: String) {
    sqlx::raw_sql(&sql).execute(store.pool()).await.unwrap();
}

lockstep_store_tests::chain_conformance!(async { Some(temp_store().await) }, tamper: tamper);

#[tokio::test]
async fn migrations_run_again_harmlessly() {
    let store = temp_store().await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
}

/// Records, revoked token IDs, sealed seeds and the audit log survive
/// closing and reopening the database.
#[tokio::test]
async fn everything_survives_a_reopen() {
    let path = temp_path();
    let store = Arc::new(open(&path, keys(1, 7)).await);
    let fx = Fx::over(Arc::clone(&store), Config::default());
    // A token in the SQLite directory, not the fixture's memory one.
    let secret = Secret::from_bytes(&[5; 20]).unwrap();
    let seed = TokenSeed::totp(secret.clone(), TotpParams::DEFAULT);
    let id = CredentialId::from_random([5; 16]);
    store.insert(&id, &seed, &OsRandom).await.unwrap();
    fx.directory.put(id, seed.clone()).unwrap();
    let totp = Totp::new(&secret, TotpParams::DEFAULT);
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    fx.enroll("u1", &t, id, &totp, -1, 0).await;
    fx.desk("u1", lockstep_account::OperatorAction::RevokeToken)
        .await;
    let before = fx.load("u1").await;
    let events = all_events(&*store, "u1").await;
    assert!(events.len() >= 4, "{events:?}");
    store.close().await;
    drop(fx);
    drop(store);

    let again = open(&path, keys(1, 7)).await;
    assert_eq!(again.load("u1").await.unwrap().unwrap(), before);
    assert_eq!(
        again.token_status(&id, "u1").await.unwrap(),
        TokenStatus::Revoked
    );
    assert_eq!(
        again.token_status(&id, "other").await.unwrap(),
        TokenStatus::Revoked
    );
    assert_eq!(all_events(&again, "u1").await, events);
    let opened = again.seed(&id).await.unwrap().unwrap();
    assert_eq!(opened.secret.expose_bytes(), secret.expose_bytes());
    again.close().await;
    std::fs::remove_file(&path).unwrap();
}

/// Seeds are never stored in clear, and a wrong keyring is a typed error
/// (the `SealError` is the source), never "no such token".
#[tokio::test]
async fn seeds_are_sealed_and_a_wrong_key_is_an_error() {
    let path = temp_path();
    let store = open(&path, keys(1, 7)).await;
    let secret = [0x5a_u8; 20];
    let id = CredentialId::from_random([9; 16]);
    let seed = TokenSeed::totp(Secret::from_bytes(&secret).unwrap(), TotpParams::DEFAULT);
    store.insert(&id, &seed, &OsRandom).await.unwrap();
    assert_eq!(
        store.insert(&id, &seed, &OsRandom).await,
        Err(StoreError::AlreadyExists)
    );
    store.close().await;
    let file = std::fs::read(&path).unwrap();
    let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
    for bytes in [&file, &wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "a seed in clear"
        );
    }
    let wrong = open(&path, keys(1, 8)).await;
    let err = wrong.seed(&id).await.unwrap_err();
    let source = std::error::Error::source(&err)
        .and_then(std::error::Error::source)
        .and_then(|e| e.downcast_ref::<SealError>());
    assert_eq!(source, Some(&SealError::Tampered), "{err:?}");
    let unknown = open(&path, keys(2, 7)).await;
    assert!(unknown.seed(&id).await.is_err());
    assert!(matches!(
        unknown.seed(&CredentialId::from_random([1; 16])).await,
        Ok(None)
    ));
    std::fs::remove_file(&path).unwrap();
}

/// Rotation of a thousand tokens under concurrent logins: none lost, none
/// left on the old key, the old key then retires; a second run moves
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_concurrent_logins_loses_no_token() {
    let path = temp_path();
    let old = open(&path, keys(1, 7)).await;
    let seeds: Vec<(CredentialId, TokenSeed)> = (0..1000_u32)
        .map(|n| {
            let mut random = [0_u8; 16];
            random[..4].copy_from_slice(&n.to_be_bytes());
            let mut key = [3_u8; 20];
            key[..4].copy_from_slice(&n.to_be_bytes());
            let seed = TokenSeed::totp(Secret::from_bytes(&key).unwrap(), TotpParams::DEFAULT);
            (CredentialId::from_random(random), seed)
        })
        .collect();
    for (id, seed) in &seeds {
        old.insert(id, seed, &OsRandom).await.unwrap();
    }
    old.close().await;

    let ring = Keyring::new(SealingKey::new(KeyId(2), [9; 32]))
        .with(SealingKey::new(KeyId(1), [7; 32]))
        .unwrap();
    let store = Arc::new(open(&path, ring).await);
    assert_eq!(store.keys_in_use().await.unwrap(), [KeyId(1)]);
    // Logins read seeds while the rotation runs.
    let fx = Arc::new(Fx::over(Arc::clone(&store), Config::default()));
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (store, seeds) = (Arc::clone(&store), seeds.clone());
            tokio::spawn(async move {
                for (id, seed) in seeds.iter().skip(r).step_by(4) {
                    let opened = store.seed(id).await.unwrap().unwrap();
                    assert_eq!(opened.secret.expose_bytes(), seed.secret.expose_bytes());
                }
            })
        })
        .collect();
    fx.create("busy").await;
    let login = {
        let fx = Arc::clone(&fx);
        tokio::spawn(async move {
            for _ in 0..20 {
                fx.password("busy", TEMP).await;
            }
        })
    };
    let moved = store.rotate(&OsRandom).await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
    login.await.unwrap();
    assert_eq!(moved, 1000);
    assert_eq!(store.keys_in_use().await.unwrap(), [KeyId(2)]);
    assert_eq!(store.rotate(&OsRandom).await.unwrap(), 0, "idempotent");
    store.close().await;
    // The old key retired: every seed still opens.
    let retired = open(&path, keys(2, 9)).await;
    for (id, seed) in &seeds {
        let opened = retired.seed(id).await.unwrap().unwrap();
        assert_eq!(opened.secret.expose_bytes(), seed.secret.expose_bytes());
    }
    retired.close().await;
    std::fs::remove_file(&path).unwrap();
}

/// The database file, its WAL and its shared memory are readable by their
/// owner only: they hold password hashes, sealed seeds and the audit log.
#[cfg(unix)]
#[tokio::test]
async fn the_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let path = temp_path();
    let store = open(&path, keys(1, 7)).await;
    let fx = Fx::over(Arc::new(store), Config::default());
    fx.create("u1").await;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{p:?}: {mode:o}");
    }
    std::fs::remove_file(&path).unwrap();
}

/// A sealed seed row copied from one store into another (the desk's into
/// the customers', say) does not open there: the seal names its store.
#[tokio::test]
async fn a_sealed_row_copied_into_another_store_does_not_open() {
    let (a_path, b_path) = (temp_path(), temp_path());
    let a = open(&a_path, keys(1, 7)).await;
    let b = open(&b_path, keys(1, 7)).await;
    let id = CredentialId::from_random([4; 16]);
    let seed = TokenSeed::totp(Secret::from_bytes(&[4; 20]).unwrap(), TotpParams::DEFAULT);
    a.insert(&id, &seed, &OsRandom).await.unwrap();
    assert!(a.seed(&id).await.unwrap().is_some());
    let row: (String, String, Vec<u8>) =
        sqlx::query_as("SELECT credential_id, kind, sealed FROM token_seeds")
            .fetch_one(
                &sqlx::SqlitePool::connect(&format!("sqlite://{}", a_path.display()))
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
    let other = sqlx::SqlitePool::connect(&format!("sqlite://{}", b_path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO token_seeds (credential_id, kind, sealed) VALUES ($1, $2, $3)")
        .bind(&row.0)
        .bind(&row.1)
        .bind(&row.2)
        .execute(&other)
        .await
        .unwrap();
    let err = b.seed(&id).await.unwrap_err();
    let source = std::error::Error::source(&err)
        .and_then(std::error::Error::source)
        .and_then(|e| e.downcast_ref::<SealError>());
    assert_eq!(source, Some(&SealError::Tampered), "{err:?}");
    for p in [a_path, b_path] {
        std::fs::remove_file(&p).unwrap();
    }
}

/// Ready only once every embedded migration is applied; a closed store is
/// not ready (it answers with an error).
#[tokio::test]
async fn ready_once_migrated() {
    let path = temp_path();
    let store = SqliteStore::connect(&path, keys(1, 7)).await.unwrap();
    assert!(!store.ready().await.unwrap(), "not migrated yet");
    store.migrate().await.unwrap();
    assert!(store.ready().await.unwrap());
    store.close().await;
    assert!(
        store.ready().await.is_err(),
        "a closed store does not answer"
    );
    let _ = std::fs::remove_file(path);
}
