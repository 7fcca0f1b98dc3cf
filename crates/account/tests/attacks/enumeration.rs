//! User-ID enumeration (R-LOG-5): every answer, every cost, every queue
//! the same whatever the user ID.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{Fx, TEMP, all_events, refusal, ticket};
use lockstep_account::offload::Offload;
use lockstep_account::{
    Account, AccountStore, AuditLog, Authenticator, Entry, EventKind, LoginTicket, MemoryDirectory,
    MemoryStore, Outcome, Random, Refusal, SessionToken, StoreError, TokenDirectory, TokenSeed,
    TokenStatus, Write,
};
use lockstep_otp::CredentialId;
use lockstep_password::{Password, PasswordHashing};

/// A directory that counts its lookups.
#[derive(Debug, Default)]
struct CountingDirectory {
    inner: MemoryDirectory,
    lookups: AtomicUsize,
}

impl TokenDirectory for CountingDirectory {
    async fn seed(&self, id: &CredentialId) -> Result<Option<TokenSeed>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.seed(id).await
    }
    async fn insert(
        &self,
        id: &CredentialId,
        seed: &TokenSeed,
        random: &dyn Random,
    ) -> Result<(), StoreError> {
        self.inner.insert(id, seed, random).await
    }
}

/// Every input has its unknown-user mirror. With a bad ticket, an unknown
/// and a known user ID get the same answer, and no token is looked up for
/// either (the ticket is checked first).
#[tokio::test]
async fn otp_stage_inputs_answer_alike_for_unknown_and_known_ids() {
    let fx = Fx::new();
    let (id, _) = fx.ready("known", 1, "Owner123").await;
    let directory = Arc::new(CountingDirectory::default());
    let auth = Authenticator::builder(Arc::clone(&fx.store), Arc::clone(&directory))
        .hasher(Arc::clone(&fx.hasher) as Arc<dyn PasswordHashing>)
        .clock(Arc::new(fx.clock.clone()))
        .build()
        .unwrap();
    let bad = LoginTicket::from_bytes([3; 16]);
    let session = SessionToken::from_bytes([3; 16]);
    let pw = Password::from("Owner123");
    for user in ["known", "nobody"] {
        let answers = [
            auth.submit_otp(user, &bad, "123456").await.unwrap(),
            auth.enroll(user, &bad, id.as_str(), "123456", "234567")
                .await
                .unwrap(),
            auth.resync(user, &bad, "123456", "234567").await.unwrap(),
            auth.change_password(user, &bad, &pw, &pw).await.unwrap(),
            auth.change_password_logged_in(user, &session, &pw, &pw, &pw)
                .await
                .unwrap(),
        ];
        for r in answers {
            assert_eq!(
                r.outcome,
                Outcome::refused(Refusal::InvalidTicket),
                "{user}"
            );
        }
    }
    assert_eq!(
        directory.lookups.load(Ordering::SeqCst),
        0,
        "no token looked up"
    );
}

/// The unknown-user audit events keep a bounded prefix of what was typed,
/// marked so that no account's ID can be it, and the attempt is noted under
/// it — never under the megabytes typed, and never on the account whose ID
/// the typed one starts with.
#[tokio::test]
async fn the_audited_unknown_id_is_bounded_and_never_an_accounts() {
    let fx = Fx::new();
    let real = "あ".repeat(21); // 63 bytes: an account's ID may be this
    fx.create(&real).await;
    let huge = "あ".repeat(100_000);
    let r = fx.password(&huge, "Wrong999").await;
    let kinds: Vec<_> = r.events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, [EventKind::AttemptNoted, EventKind::UnknownUser]);
    let key = r.events[0].user_id.clone();
    assert!(key.len() <= 64, "{}", key.len());
    let prefix = key.strip_suffix('\u{7f}').expect("marked");
    assert!(huge.starts_with(prefix));
    assert_eq!(fx.store.attempts(&key).await.unwrap().count, 1);
    assert_eq!(fx.store.attempts(&huge).await.unwrap().count, 0);
    assert_eq!(fx.store.attempts(&real).await.unwrap().count, 0);
    assert!(
        all_events(&*fx.store, &real)
            .await
            .iter()
            .all(|e| e.kind == EventKind::AccountCreated),
        "nothing of the long ID's in the account's log"
    );
}

/// A stored hash at a cheaper, older cost is padded with a verification at
/// the configured cost until it is rehashed, so it does not answer faster.
#[tokio::test]
async fn an_older_cheaper_hash_is_padded_to_the_configured_cost() {
    let fx = Fx::new();
    fx.ready("u1", 1, "Owner123").await;
    fx.plant_older_hash("u1", "Owner123").await;
    let before = fx.hasher.verifies.load(Ordering::SeqCst);
    let r = fx.password("u1", "Wrong999").await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCredentials));
    assert_eq!(fx.hasher.verifies.load(Ordering::SeqCst) - before, 1);
    assert_eq!(
        fx.hasher.pads.load(Ordering::SeqCst),
        1,
        "the stored hash, then padding up to the configured cost"
    );
}

/// What a step did, in order: loads, lookups, turns on the hook, writes.
type Trace = Arc<Mutex<Vec<&'static str>>>;

/// A store that records its loads and writes into a trace.
struct Tracing {
    inner: MemoryStore,
    trace: Trace,
}

impl AccountStore for Tracing {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.trace.lock().unwrap().push("load");
        self.inner.load(user_id).await
    }
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        self.trace.lock().unwrap().push("write");
        self.inner.write(write).await
    }
    async fn token_status(&self, id: &CredentialId, user: &str) -> Result<TokenStatus, StoreError> {
        self.trace.lock().unwrap().push("lookup");
        self.inner.token_status(id, user).await
    }
}

impl AuditLog for Tracing {
    async fn events(
        &self,
        user: &str,
        from: lockstep_account::Cursor,
        limit: usize,
    ) -> Result<Vec<lockstep_account::Logged>, StoreError> {
        self.inner.events(user, from, limit).await
    }
    async fn attempts(&self, user: &str) -> Result<lockstep_account::Attempts, StoreError> {
        self.inner.attempts(user).await
    }
    async fn suspicious(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<lockstep_account::Suspicious, StoreError> {
        self.inner.suspicious(from, to, limit).await
    }
}

/// A hook that records its turns into a trace.
struct TracingHook(Trace);

impl Offload for TracingHook {
    fn execute(&self, work: &mut (dyn FnMut() + Send)) {
        self.0.lock().unwrap().push("hash");
        work();
    }
}

/// The attacker's count of the five password steps that must cost alike —
/// an unknown ID, a wrong password, a locked ID, the right password, and a
/// wrong password on an older-cost hash: the same phases in the same order
/// (a load, the write that counts, one turn on the hook, the answer's
/// write), so the same number of passes on the hook, the same writes, and
/// the same queue. (Before the machine decided every step, a wrong
/// password passed the hook three times and an unknown or locked ID once,
/// and a locked ID hashed before its first write.)
#[tokio::test]
async fn every_password_step_takes_the_same_path_whatever_the_user_id() {
    let trace: Trace = Arc::default();
    let store = Arc::new(Tracing {
        inner: MemoryStore::new(),
        trace: Arc::clone(&trace),
    });
    let fx = Fx::over(Arc::clone(&store), lockstep_account::Config::default());
    let auth = Authenticator::builder(Arc::clone(&store), Arc::clone(&fx.directory))
        .hasher(Arc::clone(&fx.hasher) as Arc<dyn PasswordHashing>)
        .clock(Arc::new(fx.clock.clone()))
        .offload(Arc::new(TracingHook(Arc::clone(&trace))))
        .build()
        .unwrap();
    for user in ["known", "locked", "right", "older"] {
        fx.create(user).await;
    }
    for _ in 0..5 {
        fx.password("locked", "Wrong999").await;
    }
    fx.plant_older_hash("older", TEMP).await;
    let cases = [
        ("nobody", "Wrong999"),
        ("known", "Wrong999"),
        ("locked", "Wrong999"),
        ("right", TEMP),
        ("older", "Wrong999"),
    ];
    let mut paths = Vec::new();
    for (user, pw) in cases {
        trace.lock().unwrap().clear();
        let r = auth
            .login_password(user, &Password::from(pw), Entry::Enroll)
            .await
            .unwrap();
        let expected = if user == "right" {
            None
        } else {
            Some(&Refusal::InvalidCredentials)
        };
        assert_eq!(refusal(&r), expected, "{user}");
        paths.push((user, trace.lock().unwrap().clone()));
    }
    for (user, path) in &paths {
        assert_eq!(
            path,
            &["load", "write", "hash", "write"],
            "{user}: {paths:?}"
        );
    }
}

/// A user ID with control characters (NUL, CR, LF) can name no account: it
/// answers like an unknown ID after the same hash, and touches no store
/// (it once reached PostgreSQL and failed there); an account cannot be
/// created with one.
#[tokio::test]
async fn control_characters_in_a_user_id_touch_no_store() {
    let trace: Trace = Arc::default();
    let store = Arc::new(Tracing {
        inner: MemoryStore::new(),
        trace: Arc::clone(&trace),
    });
    let fx = Fx::over(Arc::clone(&store), lockstep_account::Config::default());
    let ticket = LoginTicket::from_bytes([1; 16]);
    for id in ["nul\0id", "cr\rlf\nid", "\u{7f}"] {
        trace.lock().unwrap().clear();
        let before = fx.hasher.verifies.load(Ordering::SeqCst);
        let r = fx
            .auth
            .login_password(id, &Password::from("Wrong999"), Entry::Login)
            .await
            .unwrap();
        assert_eq!(refusal(&r), Some(&Refusal::InvalidCredentials), "{id:?}");
        assert_eq!(fx.hasher.verifies.load(Ordering::SeqCst) - before, 1);
        let r = fx.auth.submit_otp(id, &ticket, "123456").await.unwrap();
        assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
        assert!(trace.lock().unwrap().is_empty(), "{id:?} touched the store");
        let r = fx
            .auth
            .create_account("op", id, "Name", "C", &Password::from(TEMP))
            .await
            .unwrap();
        assert_eq!(refusal(&r), Some(&Refusal::UserIdRejected), "{id:?}");
    }
    let long = "a".repeat(65);
    let r = fx
        .auth
        .create_account("op", &long, "Name", "C", &Password::from(TEMP))
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::UserIdRejected));
}

/// Enrollment tells nobody which token IDs exist: after the password step,
/// a token ID the directory does not know, one bound to another user, and
/// a known free one with wrong codes answer alike, are counted alike, and
/// leave the same events.
#[tokio::test]
async fn enrollment_is_no_token_id_oracle() {
    let fx = Fx::new();
    let (taken, _) = fx.enrolled("owner", 1).await;
    let (free, _) = fx.token(2);
    let unknown = CredentialId::from_random([99; 16]);
    let mut answers = Vec::new();
    for (n, id) in [unknown, taken, free].into_iter().enumerate() {
        let user = format!("probe{n}");
        fx.create(&user).await;
        let t = ticket(fx.password(&user, TEMP).await.outcome);
        let r = fx
            .auth
            .enroll(&user, &t, id.as_str(), "123456", "234567")
            .await
            .unwrap();
        let kinds: Vec<_> = r.events.iter().map(|e| e.kind.clone()).collect();
        answers.push((r.outcome, kinds, fx.load(&user).await.enrollment));
    }
    assert_eq!(
        answers[0].0.refusal(),
        Some(&Refusal::EnrollmentFailed),
        "{answers:?}"
    );
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

/// Attempts typed on a user ID before an account had it are not that
/// account's: the desk would show a count on an account never tried.
#[tokio::test]
async fn attempts_before_an_account_existed_are_not_its_own() {
    let fx = Fx::new();
    for _ in 0..3 {
        fx.password("later", "Guess1234").await;
    }
    assert_eq!(fx.store.attempts("later").await.unwrap().count, 3);
    fx.create("later").await;
    assert_eq!(fx.store.attempts("later").await.unwrap().count, 0);
    let events = all_events(&*fx.store, "later").await;
    assert_eq!(
        events.last().map(|e| &e.kind),
        Some(&EventKind::AccountCreated)
    );
}
