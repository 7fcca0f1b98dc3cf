//! The SQLite store: the conformance suite unchanged (races included), and
//! what only a durable store can show — records, revoked token IDs and
//! sealed seeds survive closing and reopening the file; a wrong key is a
//! typed error; rotation under concurrent logins loses no token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::Arc;

use lockstep_account::seal::{KeyId, Keyring, SealError, SealingKey};
use lockstep_account::{
    AccountStore, Config, OsRandom, Random, StoreError, TokenDirectory, TokenSeed, TokenStatus,
};
use lockstep_otp::{CredentialId, Secret, Totp, TotpParams};
use lockstep_store_sqlite::SqliteStore;
use lockstep_store_tests::{Fx, TEMP};

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

lockstep_store_tests::store_conformance!(async { Some(temp_store().await) });

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
    store.insert_token(&id, &seed, &OsRandom).await.unwrap();
    fx.directory.insert(id, seed.clone()).unwrap();
    let totp = Totp::new(&secret, TotpParams::DEFAULT);
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    fx.enroll("u1", &t, id, &totp, -1, 0).await;
    fx.desk("u1", lockstep_account::OperatorAction::RevokeToken)
        .await;
    let before = fx.load("u1").await;
    let events = store.events("u1", 0, u64::MAX).await.unwrap();
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
    assert_eq!(again.events("u1", 0, u64::MAX).await.unwrap(), events);
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
    store.insert_token(&id, &seed, &OsRandom).await.unwrap();
    assert_eq!(
        store.insert_token(&id, &seed, &OsRandom).await,
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
        old.insert_token(id, seed, &OsRandom).await.unwrap();
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

/// A write that dies half-way (its connection closed after the record's
/// update, before the commit) leaves the old record, its tokens and its
/// events as they were.
#[tokio::test]
async fn a_write_cut_off_half_way_leaves_the_old_record() {
    use sqlx::Connection;
    let path = temp_path();
    let store = Arc::new(open(&path, keys(1, 7)).await);
    let fx = Fx::over(Arc::clone(&store), Config::default());
    fx.create("u1").await;
    let before = fx.load("u1").await;
    let events = store.events("u1", 0, u64::MAX).await.unwrap();
    let mut cut = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut tx = cut.begin().await.unwrap();
    sqlx::query("UPDATE accounts SET version = version + 1, record = 'torn' WHERE user_id = 'u1'")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO events (user_id, at, operator_id, kind) VALUES ('u1', 1, NULL, 'x')")
        .execute(&mut *tx)
        .await
        .unwrap();
    // The connection goes away mid-transaction: no commit, no rollback sent.
    drop(tx);
    cut.close_hard().await.unwrap();
    assert_eq!(fx.load("u1").await, before);
    assert_eq!(store.events("u1", 0, u64::MAX).await.unwrap(), events);
    // And the store writes on as before.
    let r = fx.reset("u1", "Reset123").await;
    assert!(
        matches!(r.outcome, lockstep_account::Outcome::Done),
        "{r:?}"
    );
    assert_eq!(fx.load("u1").await.version, before.version + 1);
    store.close().await;
    std::fs::remove_file(&path).unwrap();
}
