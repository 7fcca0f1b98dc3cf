//! Attacker-style regression tests, one per finding of the review in issue
//! #5 (security items 1–8). Each one failed before the fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Fx, TEMP, refusal};
use lockstep_account::{
    Account, AccountStore, Authenticator, Config, ConfigError, Entry, Error, EventKind,
    LoginTicket, MemoryDirectory, MemoryStore, OperatorAction, Outcome, Refusal, SessionToken,
    StoreError, TokenDirectory, TokenSeed, TokenStatus,
};
use lockstep_otp::CredentialId;
use lockstep_password::{HashError, Password, PasswordHasher};

// ------------------------------------------------------------ 1. takeover

/// Item 1: the logged-in change needed only the current password, so a
/// mailed temporary password (even one the login refused), a desk reset's
/// password, or a locked token was enough to set a permanent password and
/// clear the forced change. Now it needs the session of a completed login.
#[tokio::test]
async fn a_voluntary_change_needs_a_completed_login() {
    let fx = Fx::new();
    fx.create("victim").await;
    let stolen = Password::from(TEMP); // the mailed temporary password
    let mine = Password::from("Attack123");
    for session in [
        SessionToken::from_bytes([0; 16]),
        SessionToken::from_bytes([9; 16]),
    ] {
        let r = fx
            .auth
            .change_password_logged_in("victim", &session, &stolen, &mine, &mine)
            .await
            .unwrap();
        assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    }
    let a = fx.load("victim").await;
    assert_eq!(
        a.password.must_change,
        Some(lockstep_account::MustChange::FirstLogin)
    );
    assert_eq!(
        a.password.failures.count, 0,
        "nothing evaluated without a session"
    );

    // A real session dies with the desk's reset: the reset password alone
    // does not reach the voluntary change.
    let fx = Fx::new();
    let (_, totp) = fx.ready("victim", 1, "Owner123").await;
    let session = fx.session("victim", "Owner123", &totp).await;
    fx.auth
        .operator(
            "desk",
            "victim",
            OperatorAction::ResetPassword {
                temporary: &Password::from("Reset123"),
            },
        )
        .await
        .unwrap();
    let r = fx
        .auth
        .change_password_logged_in("victim", &session.token, &"Reset123".into(), &mine, &mine)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    assert_eq!(
        fx.load("victim").await.password.must_change,
        Some(lockstep_account::MustChange::Reset)
    );
}

/// Every lock, reset, revoke and password change voids every session; the
/// sessions of two devices both work until then; sessions expire.
#[tokio::test]
async fn sessions_work_on_two_devices_and_every_void_ends_them() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Owner123").await;
    let phone = fx.session("u1", "Owner123", &totp).await;
    fx.clock.advance(30);
    let desk_pc = fx.session("u1", "Owner123", &totp).await;
    let bad = Password::from("x");
    let current = Password::from("Owner123");
    for s in [&phone, &desk_pc] {
        let r = fx
            .auth
            .change_password_logged_in("u1", &s.token, &current, &bad, &bad)
            .await
            .unwrap();
        assert!(
            matches!(refusal(&r), Some(Refusal::PasswordRejected(_))),
            "both devices pass the session gate: {:?}",
            r.outcome
        );
    }
    // A pending login elsewhere, then a change from the phone.
    let pending = fx.login("u1", "Owner123").await;
    let new = Password::from("Owner456");
    let r = fx
        .auth
        .change_password_logged_in("u1", &phone.token, &current, &new, &new)
        .await
        .unwrap();
    let Outcome::PasswordChanged(phone) = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    let r = fx
        .auth
        .change_password_logged_in("u1", &desk_pc.token, &new, &bad, &bad)
        .await
        .unwrap();
    assert_eq!(
        refusal(&r),
        Some(&Refusal::InvalidTicket),
        "the other device is out"
    );
    let r = fx.otp("u1", &pending, &totp, 0).await;
    assert_eq!(
        refusal(&r),
        Some(&Refusal::InvalidTicket),
        "the pending login is void"
    );

    // The phone's new session ends with a token lock…
    let t = fx.login("u1", "Owner456").await;
    let wrong = fx.wrong_code(&totp);
    for _ in 0..10 {
        fx.auth.submit_otp("u1", &t, wrong).await.unwrap();
    }
    let r = fx
        .auth
        .change_password_logged_in("u1", &phone.token, &new, &bad, &bad)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    fx.auth
        .operator("desk", "u1", OperatorAction::UnlockToken)
        .await
        .unwrap();
    // …and every session expires.
    fx.clock.advance(30);
    let s = fx.session("u1", "Owner456", &totp).await;
    fx.clock
        .advance(u64::from(Config::default().session_ttl_seconds()) + 1);
    let r = fx
        .auth
        .change_password_logged_in("u1", &s.token, &new, &bad, &bad)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
}

// ------------------------------------------------------------ 2. enumeration

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
}

/// Item 2: every input has its unknown-user mirror. With a bad ticket, an
/// unknown and a known user ID get the same answer, and no token is looked
/// up for either (the ticket is checked first).
#[tokio::test]
async fn otp_stage_inputs_answer_alike_for_unknown_and_known_ids() {
    let fx = Fx::new();
    let (id, _) = fx.ready("known", 1, "Owner123").await;
    let directory = Arc::new(CountingDirectory::default());
    let auth = Authenticator::builder(Arc::clone(&fx.store), Arc::clone(&directory))
        .hasher(Arc::clone(&fx.hasher) as Arc<dyn PasswordHasher>)
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
                format!("{:?}", r.outcome),
                format!("{:?}", Outcome::Refused(Refusal::InvalidTicket)),
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

/// The unknown-user audit event keeps a bounded prefix of what was typed.
#[tokio::test]
async fn the_audited_unknown_id_is_bounded() {
    let fx = Fx::new();
    let huge = "あ".repeat(100_000);
    let r = fx.password(&huge, "Wrong999").await;
    assert_eq!(r.events[0].kind, EventKind::UnknownUser);
    assert!(
        r.events[0].user_id.len() <= 64,
        "{}",
        r.events[0].user_id.len()
    );
    assert!(huge.starts_with(&r.events[0].user_id));
}

/// A stored hash at a cheaper, older cost is padded with a verification at
/// the configured cost until it is rehashed, so it does not answer faster.
#[tokio::test]
async fn an_older_cheaper_hash_is_padded_to_the_configured_cost() {
    let fx = Fx::new();
    fx.ready("u1", 1, "Owner123").await;
    let older =
        lockstep_password::InsecureTestHasher::with_params(lockstep_password::Argon2Params {
            memory_kib: 16,
            iterations: 1,
            parallelism: 1,
        });
    let mut a = fx.load("u1").await;
    a.password.hash = lockstep_password::PasswordHasher::hash(&older, &"Owner123".into())
        .unwrap()
        .as_str()
        .to_owned();
    fx.store.replace(&a, a.version).await.unwrap();
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

// ------------------------------------------------------------ 3. count first

/// A store that records every record written and can make one write lose a
/// race: before the `n`th replace it writes a harmless change of its own.
#[derive(Debug, Default)]
struct RacingStore {
    inner: MemoryStore,
    written: Mutex<Vec<Account>>,
    replaces: AtomicUsize,
    interfere_at: Option<usize>,
}

impl AccountStore for RacingStore {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.inner.load(user_id).await
    }
    async fn create(&self, account: &Account) -> Result<(), StoreError> {
        self.inner.create(account).await
    }
    async fn replace(&self, account: &Account, expected: u64) -> Result<(), StoreError> {
        let n = self.replaces.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(n) == self.interfere_at {
            let mut other = self.inner.load(&account.user_id).await?.unwrap();
            other.customer_name.push('*');
            self.inner.replace(&other, other.version).await?;
        }
        let result = self.inner.replace(account, expected).await;
        if result.is_ok() {
            self.written.lock().unwrap().push(account.clone());
        }
        result
    }
    async fn token_status(&self, id: &CredentialId, user: &str) -> Result<TokenStatus, StoreError> {
        self.inner.token_status(id, user).await
    }
}

async fn racing_fixture(interfere_at: Option<usize>) -> (Fx<RacingStore>, Arc<RacingStore>) {
    let store = Arc::new(RacingStore {
        interfere_at,
        ..RacingStore::default()
    });
    let fx = Fx::over(Arc::clone(&store), Config::default());
    fx.create("u1").await;
    (fx, store)
}

/// Item 3: the failure is written before the password is verified, and the
/// success after; the record with the failure counted is what a crash in
/// between would leave.
#[tokio::test]
async fn a_password_attempt_is_counted_before_it_is_verified() {
    let (fx, store) = racing_fixture(None).await;
    let r = fx
        .auth
        .login_password("u1", &TEMP.into(), Entry::Enroll)
        .await
        .unwrap();
    assert!(matches!(r.outcome, Outcome::EnrollmentRequired { .. }));
    let written = store.written.lock().unwrap().clone();
    assert_eq!(written.len(), 2, "reservation, then the answer");
    assert_eq!(written[0].password.failures.count, 1, "counted first");
    assert_eq!(written[1].password.failures.count, 0, "reset on success");
}

/// A conflict on the answer decides again on the new record without hashing
/// again while the stored hash is the one verified.
#[tokio::test]
async fn a_retry_after_a_conflict_does_not_hash_again() {
    let (fx, _store) = racing_fixture(Some(2)).await;
    let before = fx.hasher.verifies.load(Ordering::SeqCst);
    let r = fx
        .auth
        .login_password("u1", &TEMP.into(), Entry::Enroll)
        .await
        .unwrap();
    assert!(
        matches!(r.outcome, Outcome::EnrollmentRequired { .. }),
        "{:?}",
        r.outcome
    );
    assert_eq!(fx.hasher.verifies.load(Ordering::SeqCst) - before, 1);
}

/// The rehash of an older hash is its own write after the login's answer
/// is committed.
#[tokio::test]
async fn a_rehash_is_its_own_write_after_the_answer() {
    let (fx, store) = racing_fixture(None).await;
    let older =
        lockstep_password::InsecureTestHasher::with_params(lockstep_password::Argon2Params {
            memory_kib: 16,
            iterations: 1,
            parallelism: 1,
        });
    let mut a = store.load("u1").await.unwrap().unwrap();
    let old_hash = lockstep_password::PasswordHasher::hash(&older, &TEMP.into())
        .unwrap()
        .as_str()
        .to_owned();
    a.password.hash.clone_from(&old_hash);
    store.inner.replace(&a, a.version).await.unwrap();
    let r = fx
        .auth
        .login_password("u1", &TEMP.into(), Entry::Enroll)
        .await
        .unwrap();
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == EventKind::PasswordRehashed)
    );
    let written = store.written.lock().unwrap().clone();
    assert_eq!(written.len(), 3, "reservation, answer, rehash");
    assert_eq!(
        written[1].password.hash, old_hash,
        "the answer does not wait for the rehash"
    );
    assert_ne!(written[2].password.hash, old_hash);
}

// ------------------------------------------------------------ 4. resync

/// Item 4: a ±2880-step resync window centred on the real clock let three
/// phished codes log in 23 hours later. The window is now minutes, centred
/// on the stored drift, and capped.
#[tokio::test]
async fn phished_codes_cannot_resync_hours_later() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Owner123").await;
    let phished: Vec<String> = (0..3).map(|o| fx.code(&totp, o)).collect();
    fx.clock.advance(23 * 3600);
    let t = fx.login("u1", "Owner123").await; // the attacker also has the password
    let r = fx
        .auth
        .resync("u1", &t, &phished[0], &phished[1])
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode));
    let r = fx.auth.submit_otp("u1", &t, &phished[2]).await.unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode));
    // Nor can a password holder push the drift far: a pair a day back fails.
    let r = fx.resync("u1", &t, &totp, -2760, -2759).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode));
    assert_eq!(fx.load("u1").await.token.unwrap().drift, 0);
}

#[test]
fn windows_and_bounds_have_hard_caps() {
    for built in [
        Config::builder().resync(u32::MAX, 20).build(),
        Config::builder().resync(20, u32::MAX).build(),
        Config::builder()
            .resync(Config::MAX_RESYNC_WINDOW + 1, 20)
            .build(),
        Config::builder().hotp_look_ahead(u32::MAX, 100).build(),
        Config::builder().max_password_bytes(usize::MAX).build(),
    ] {
        assert!(
            matches!(built, Err(ConfigError::OverCap { .. })),
            "{built:?}"
        );
    }
}

// ------------------------------------------------------------ 5, 6. sizes

/// Items 5 and 6: megabytes of password cost no hashing: a login counts a
/// wrong password after a dummy verification of nothing, and a change
/// refuses the new password as too long before any history verification.
#[tokio::test]
async fn megabytes_of_password_cost_no_hashing() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Owner123").await;
    let stored = fx.load("u1").await.password.hash;
    let huge = Password::new("Aa1".repeat(1 << 20));
    let r = fx
        .auth
        .login_password("u1", &huge, Entry::Login)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCredentials));
    assert_eq!(
        fx.load("u1").await.password.failures.count,
        1,
        "counted like a wrong password"
    );
    assert_eq!(fx.hasher.verifications_of(&stored), 0, "never hashed");

    let s = fx.session("u1", "Owner123", &totp).await;
    let before = fx.hasher.verifies.load(Ordering::SeqCst);
    let r = fx
        .auth
        .change_password_logged_in("u1", &s.token, &"Owner123".into(), &huge, &huge)
        .await
        .unwrap();
    match refusal(&r) {
        Some(Refusal::PasswordRejected(v)) => {
            assert_eq!(v.codes().collect::<Vec<_>>(), ["too_long"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fx.hasher.verifies.load(Ordering::SeqCst) - before,
        1,
        "the current password only, no history check of the huge one"
    );
}

/// Item 6: a stored PHC string chose its own cost (m = 1 GiB took 2.4 s and
/// 1 GiB of memory). Out-of-range parameters are a malformed hash, refused
/// before any verification (this test would take seconds otherwise).
#[tokio::test]
async fn a_planted_hash_cannot_choose_its_cost() {
    let fx = Fx::new();
    fx.create("u1").await;
    let mut a = fx.load("u1").await;
    a.password.hash =
        "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .into();
    fx.store.replace(&a, a.version).await.unwrap();
    let r = fx
        .auth
        .login_password("u1", &TEMP.into(), Entry::Enroll)
        .await;
    assert!(
        matches!(r, Err(Error::Hash(HashError::CostOutOfRange))),
        "{r:?}"
    );
}

// ------------------------------------------------------------ 8. smaller

#[test]
fn tickets_parse_only_in_their_canonical_spelling() {
    let t = LoginTicket::from_bytes([0xab; 16]);
    let hex = t.expose_hex();
    assert_eq!(hex, "ab".repeat(16));
    assert!(LoginTicket::parse_hex(&hex).is_some());
    for bad in [
        hex.to_uppercase(),
        format!("+{}", &hex[1..]),
        format!("{}+b", &hex[..30]),
        format!(" {}", &hex[1..]),
        format!("{hex}0"),
        hex[..31].to_owned(),
        String::new(),
    ] {
        assert!(LoginTicket::parse_hex(&bad).is_none(), "{bad:?}");
        assert!(SessionToken::parse_hex(&bad).is_none(), "{bad:?}");
    }
}
