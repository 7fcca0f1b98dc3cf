//! The PostgreSQL store against a real server: the conformance suite
//! unchanged (races included), two replicas on two pools behaving as one,
//! records surviving a reconnect, sealed seeds. Each test works in a schema
//! of its own, created for it and dropped after it, so runs never see each
//! other. Without a server the tests print why and pass without running;
//! `.ci/run` makes sure one answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use lockstep_account::{
    Account, AccountStore, Attempts, AuditLog, Config, CredentialId, Cursor, Logged, OsRandom,
    Random, StoreError, TokenDirectory, TokenSeed, TokenStatus, Write,
};
use lockstep_otp::{Secret, TotpParams};
use lockstep_store_postgres::PostgresStore;
use lockstep_store_postgres::chain::{
    AuditChain, ChainBreak, ChainHead, ChainRow, Link, Seal, Verified,
};
use lockstep_store_postgres::seal::{KeyId, Keyring, SealError, SealingKey};
use lockstep_store_tests::{Fx, TEMP, all_events};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

fn url() -> String {
    std::env::var("LOCKSTEP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn keys(id: u32, byte: u8) -> Keyring {
    Keyring::new(SealingKey::new(KeyId(id), [byte; 32]))
}

/// A store in a fresh schema; the schema is dropped with the last clone.
struct TestStore {
    store: PostgresStore,
    /// Kept for its `Drop`, which drops the schema.
    _schema: Arc<Schema>,
}

/// A schema of this test run; dropped when the last user goes.
struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        let (name, url) = (self.0.clone(), url());
        // Drop runs inside the test's runtime: do the async work on a
        // thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

async fn new_schema() -> Option<Arc<Schema>> {
    let url = url();
    let admin = match PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            println!("skipped: no PostgreSQL answers at {url} ({e})");
            return None;
        }
    };
    let mut bytes = [0_u8; 8];
    OsRandom.fill(&mut bytes).unwrap();
    let name = format!(
        "lockstep_test_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    Some(Arc::new(Schema(name)))
}

async fn store_in(schema: &Arc<Schema>, keyring: Keyring) -> TestStore {
    let options: PgConnectOptions = url().parse().unwrap();
    let options = options.options([("search_path", schema.0.as_str())]);
    let store = PostgresStore::connect_with(options, keyring).await.unwrap();
    store.migrate().await.unwrap();
    TestStore {
        store,
        _schema: Arc::clone(schema),
    }
}

async fn temp_store() -> Option<TestStore> {
    let schema = new_schema().await?;
    Some(store_in(&schema, keys(1, 7)).await)
}

impl AccountStore for TestStore {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.store.load(user_id).await
    }
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        self.store.write(write).await
    }
    async fn token_status(&self, id: &CredentialId, user: &str) -> Result<TokenStatus, StoreError> {
        self.store.token_status(id, user).await
    }
}

impl AuditLog for TestStore {
    async fn events(
        &self,
        user: &str,
        from: Cursor,
        limit: usize,
    ) -> Result<Vec<Logged>, StoreError> {
        self.store.events(user, from, limit).await
    }
    async fn attempts(&self, user: &str) -> Result<Attempts, StoreError> {
        self.store.attempts(user).await
    }
    async fn suspicious(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<lockstep_account::Suspicious, StoreError> {
        self.store.suspicious(from, to, limit).await
    }
}

/// Cuts a write off half-way: a connection of its own changes the record
/// and adds an event inside a transaction, then goes away without a commit
/// or a rollback.
async fn tear(store: Arc<TestStore>, user: &'static str) {
    use sqlx::Connection;
    let options: PgConnectOptions = url().parse().unwrap();
    let options = options.options([("search_path", store._schema.0.as_str())]);
    let mut cut = sqlx::PgConnection::connect_with(&options).await.unwrap();
    let mut tx = cut.begin().await.unwrap();
    sqlx::query("UPDATE accounts SET version = version + 1, record = 'torn' WHERE user_id = $1")
        .bind(user)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (id, user_id, at, operator_id, kind) \
         SELECT COALESCE(MAX(id), 0) + 1, $1, 1, NULL, 'x' FROM events",
    )
    .bind(user)
    .execute(&mut *tx)
    .await
    .unwrap();
    // The connection goes away mid-transaction: no commit, no rollback sent.
    drop(tx);
    cut.close_hard().await.unwrap();
}

lockstep_store_tests::store_conformance!(temp_store(), torn: tear);

impl AuditChain for TestStore {
    async fn verify_chain(
        &self,
        seals: Vec<(u64, Link)>,
    ) -> Result<Result<Verified, ChainBreak>, StoreError> {
        self.store.verify_chain(seals).await
    }
    async fn chain_head(&self) -> Result<ChainHead, StoreError> {
        self.store.chain_head().await
    }
    async fn chain_rows(&self, after: u64, limit: usize) -> Result<Vec<ChainRow>, StoreError> {
        self.store.chain_rows(after, limit).await
    }
    async fn first_row_since(&self, at: i64) -> Result<Option<u64>, StoreError> {
        self.store.first_row_since(at).await
    }
    async fn link_of(&self, seq: u64) -> Result<Option<Link>, StoreError> {
        self.store.link_of(seq).await
    }
    async fn seals(&self) -> Result<Vec<Seal>, StoreError> {
        self.store.seals().await
    }
    async fn insert_seal(&self, seal: &Seal) -> Result<(), StoreError> {
        self.store.insert_seal(seal).await
    }
    async fn chain_store_id(&self) -> Result<String, StoreError> {
        self.store.chain_store_id().await
    }
}

/// Runs `sql` on the store's schema through a connection of its own.
async fn tamper(store: Arc<TestStore>, sql: String) {
    sqlx::raw_sql(&sql)
        .execute(store.store.pool())
        .await
        .unwrap();
}

lockstep_store_tests::chain_conformance!(temp_store(), tamper: tamper);

/// A session that holds the chain's head (an operator's `psql` left in a
/// transaction) delays the writes behind it by the lock timeout, then they
/// fail as transient — no login hangs for good — and once it lets go they
/// go through.
#[tokio::test]
async fn a_held_head_times_out_as_transient() {
    use sqlx::Connection as _;
    let Some(store) = temp_store().await else {
        return;
    };
    let options: PgConnectOptions = url().parse().unwrap();
    let options = options.options([("search_path", store._schema.0.as_str())]);
    let mut holder = sqlx::PgConnection::connect_with(&options).await.unwrap();
    let mut tx = holder.begin().await.unwrap();
    sqlx::query("SELECT seq FROM audit_head WHERE one = 1 FOR UPDATE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let event = || lockstep_store_tests::event("held", 1, lockstep_account::EventKind::LoggedIn);
    // Bounded: without the lock timeout the write would wait for good.
    let refused = tokio::time::timeout(
        Duration::from_secs(60),
        store.write(Write::events(vec![event()])),
    )
    .await
    .expect("a write behind a held head fails in time, not hangs")
    .unwrap_err();
    assert!(refused.is_transient(), "{refused:?}");
    tx.rollback().await.unwrap();
    store.write(Write::events(vec![event()])).await.unwrap();
}

/// Two replicas, two pools, one database: 64 wrong passwords spread over
/// both count exactly five and lock; one token enrolled by two users on
/// two replicas binds to exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_behave_as_one() {
    let Some(schema) = new_schema().await else {
        return;
    };
    let a = Arc::new(Fx::over(
        Arc::new(store_in(&schema, keys(1, 7)).await),
        Config::default(),
    ));
    let b = Arc::new(Fx::over(
        Arc::new(store_in(&schema, keys(1, 7)).await),
        Config::default(),
    ));
    a.create("victim").await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let fx = Arc::clone(if i % 2 == 0 { &a } else { &b });
            tokio::spawn(async move { fx.password("victim", &format!("wrong{i}pw")).await })
        })
        .collect();
    let mut counted = 0;
    for t in tasks {
        let r = t.await.unwrap();
        counted += r
            .events
            .iter()
            .filter(|e| matches!(e.kind, lockstep_account::EventKind::PasswordFailed { .. }))
            .count();
    }
    assert_eq!(counted, 5);
    let seen_by_b = b.load("victim").await;
    assert!(seen_by_b.password.failures.locked);
    assert_eq!(seen_by_b.password.failures.count, 5);

    // One token, two users, one on each replica.
    let (id, totp) = a.token(9);
    b.directory.put(id, a.seed(id).await).unwrap();
    a.create("left").await;
    b.create("right").await;
    let (tl, tr) = (a.login("left", TEMP).await, b.login("right", TEMP).await);
    let (left, right) = tokio::join!(
        a.enroll("left", &tl, id, &totp, -1, 0),
        b.enroll("right", &tr, id, &totp, -1, 0)
    );
    let enrolled = [left, right]
        .iter()
        .filter(|r| matches!(r.outcome, lockstep_account::Outcome::Enrolled { .. }))
        .count();
    assert_eq!(enrolled, 1);
}

/// Records and revoked token IDs survive closing the pool and connecting
/// again; sealed seeds open with the right key only.
#[tokio::test]
async fn records_and_seeds_survive_a_reconnect() {
    let Some(schema) = new_schema().await else {
        return;
    };
    let first = Arc::new(store_in(&schema, keys(1, 7)).await);
    let fx = Fx::over(Arc::clone(&first), Config::default());
    let (id, totp) = fx.token(3);
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    fx.enroll("u1", &t, id, &totp, -1, 0).await;
    fx.desk("u1", lockstep_account::OperatorAction::RevokeToken)
        .await;
    let secret = Secret::from_bytes(&[0x5a; 20]).unwrap();
    let seed = TokenSeed::totp(secret.clone(), TotpParams::DEFAULT);
    let tid = CredentialId::from_random([8; 16]);
    first.store.insert(&tid, &seed, &OsRandom).await.unwrap();
    let before = fx.load("u1").await;
    let events = all_events(&*first, "u1").await;
    first.store.close().await;
    drop(fx);

    let again = store_in(&schema, keys(1, 7)).await;
    assert_eq!(again.load("u1").await.unwrap().unwrap(), before);
    assert_eq!(
        again.token_status(&id, "x").await.unwrap(),
        TokenStatus::Revoked
    );
    assert_eq!(all_events(&again, "u1").await, events);
    let opened = again.store.seed(&tid).await.unwrap().unwrap();
    assert_eq!(opened.secret.expose_bytes(), secret.expose_bytes());
    let wrong = store_in(&schema, keys(1, 8)).await;
    let err = wrong.store.seed(&tid).await.unwrap_err();
    let source = std::error::Error::source(&err)
        .and_then(std::error::Error::source)
        .and_then(|e| e.downcast_ref::<SealError>());
    assert_eq!(source, Some(&SealError::Tampered));
}

/// Rotation under concurrent reads and logins on PostgreSQL: none lost,
/// none left on the old key, idempotent, the old key retires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_concurrent_logins_loses_no_token() {
    let Some(schema) = new_schema().await else {
        return;
    };
    let old = store_in(&schema, keys(1, 7)).await;
    let seeds: Vec<(CredentialId, TokenSeed)> = (0..300_u32)
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
        old.store.insert(id, seed, &OsRandom).await.unwrap();
    }
    old.store.close().await;
    let ring = Keyring::new(SealingKey::new(KeyId(2), [9; 32]))
        .with(SealingKey::new(KeyId(1), [7; 32]))
        .unwrap();
    let store = Arc::new(store_in(&schema, ring).await);
    let fx = Arc::new(Fx::over(Arc::clone(&store), Config::default()));
    fx.create("busy").await;
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (store, seeds) = (Arc::clone(&store), seeds.clone());
            tokio::spawn(async move {
                for (id, seed) in seeds.iter().skip(r).step_by(3) {
                    let opened = store.store.seed(id).await.unwrap().unwrap();
                    assert_eq!(opened.secret.expose_bytes(), seed.secret.expose_bytes());
                }
            })
        })
        .collect();
    let login = {
        let fx = Arc::clone(&fx);
        tokio::spawn(async move {
            for _ in 0..10 {
                fx.password("busy", TEMP).await;
            }
        })
    };
    assert_eq!(store.store.rotate(&OsRandom).await.unwrap(), 300);
    for r in readers {
        r.await.unwrap();
    }
    login.await.unwrap();
    assert_eq!(store.store.keys_in_use().await.unwrap(), [KeyId(2)]);
    assert_eq!(store.store.rotate(&OsRandom).await.unwrap(), 0);
    let retired = store_in(&schema, keys(2, 9)).await;
    for (id, seed) in &seeds {
        let opened = retired.store.seed(id).await.unwrap().unwrap();
        assert_eq!(opened.secret.expose_bytes(), seed.secret.expose_bytes());
    }
}

/// Two schemas of one database are two stores: a sealed seed row copied
/// from one (the desk's) into the other (the customers') does not open.
#[tokio::test]
async fn a_sealed_row_copied_into_another_schema_does_not_open() {
    let (Some(one), Some(two)) = (new_schema().await, new_schema().await) else {
        return;
    };
    let a = store_in(&one, keys(1, 7)).await;
    let b = store_in(&two, keys(1, 7)).await;
    let id = CredentialId::from_random([4; 16]);
    let seed = TokenSeed::totp(Secret::from_bytes(&[4; 20]).unwrap(), TotpParams::DEFAULT);
    a.store.insert(&id, &seed, &OsRandom).await.unwrap();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url())
        .await
        .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {}.token_seeds SELECT * FROM {}.token_seeds",
        two.0, one.0
    ))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let err = b.store.seed(&id).await.unwrap_err();
    let source = std::error::Error::source(&err)
        .and_then(std::error::Error::source)
        .and_then(|e| e.downcast_ref::<SealError>());
    assert_eq!(source, Some(&SealError::Tampered), "{err:?}");
}

/// A schema name is an identifier spliced into `CREATE SCHEMA`: anything
/// but 1–63 of `a-z0-9_` (not starting with a digit) is refused before any
/// connection is made.
#[tokio::test]
async fn connect_schema_refuses_names_that_are_not_plain_identifiers() {
    let long = "a".repeat(64);
    for name in [
        "",
        "x\"; DROP SCHEMA public CASCADE; --",
        "Upper",
        "1abc",
        "a-b",
        "a b",
        long.as_str(),
    ] {
        // No server is needed: the name is checked first (an unroutable URL
        // would otherwise time out).
        let r =
            PostgresStore::connect_schema("postgres://nobody@127.0.0.1:1/none", name, keys(1, 7))
                .await;
        let Err(StoreError::Backend(e)) = r else {
            panic!("{name:?} accepted");
        };
        let text = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(text.contains("invalid schema name"), "{name:?}: {text}");
    }
}

/// Ready only once every embedded migration is applied in its schema.
#[tokio::test]
async fn ready_once_migrated() {
    let Some(schema) = new_schema().await else {
        return;
    };
    let options: PgConnectOptions = url().parse().unwrap();
    let options = options.options([("search_path", schema.0.as_str())]);
    let store = PostgresStore::connect_with(options, keys(1, 7))
        .await
        .unwrap();
    assert!(!store.ready().await.unwrap(), "not migrated yet");
    store.migrate().await.unwrap();
    assert!(store.ready().await.unwrap());
    store.close().await;
    assert!(
        store.ready().await.is_err(),
        "a closed store does not answer"
    );
}
