//! Item 2: user-ID enumeration (R-LOG-5).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{Fx, refusal};
use lockstep_account::{
    Authenticator, EventKind, LoginTicket, MemoryDirectory, Outcome, Refusal, SessionToken,
    StoreError, TokenDirectory, TokenSeed,
};
use lockstep_otp::CredentialId;
use lockstep_password::{Password, PasswordHasher};

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
    // The attempt is counted under the same bounded prefix, not the whole.
    use lockstep_account::AccountStore as _;
    let prefix = r.events[0].user_id.clone();
    assert_eq!(fx.store.attempts(&prefix).await.unwrap().0, 1);
    assert_eq!(fx.store.attempts(&huge).await.unwrap().0, 0);
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

// ------------------------------------------------------------ 3. count first

/// A store that counts its writes.
#[derive(Debug, Default)]
struct CountingWrites {
    inner: lockstep_account::MemoryStore,
    writes: AtomicUsize,
}

impl CountingWrites {
    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }
}

impl lockstep_account::AccountStore for CountingWrites {
    async fn load(&self, u: &str) -> Result<Option<lockstep_account::Account>, StoreError> {
        self.inner.load(u).await
    }
    async fn create(
        &self,
        a: &lockstep_account::Account,
        e: &[lockstep_account::AuditEvent],
    ) -> Result<(), StoreError> {
        self.wrote();
        self.inner.create(a, e).await
    }
    async fn replace(
        &self,
        a: &lockstep_account::Account,
        expected: u64,
        e: &[lockstep_account::AuditEvent],
    ) -> Result<(), StoreError> {
        self.wrote();
        self.inner.replace(a, expected, e).await
    }
    async fn append(&self, e: &[lockstep_account::AuditEvent]) -> Result<(), StoreError> {
        self.wrote();
        self.inner.append(e).await
    }
    async fn events(
        &self,
        u: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<lockstep_account::AuditEvent>, StoreError> {
        self.inner.events(u, from, to).await
    }
    async fn token_status(
        &self,
        id: &CredentialId,
        u: &str,
    ) -> Result<lockstep_account::TokenStatus, StoreError> {
        self.inner.token_status(id, u).await
    }
    async fn note_attempt(&self, u: &str, at: u64) -> Result<(), StoreError> {
        self.wrote();
        self.inner.note_attempt(u, at).await
    }
    async fn attempts(&self, u: &str) -> Result<(u64, u64), StoreError> {
        self.inner.attempts(u).await
    }
}

/// Item 2, in the store's writes: a wrong password writes twice (the
/// count-first reservation, then the answer), so an unknown user ID and a
/// locked one must too — on a durable store each write is an fsync, and
/// one write less was 7 % less time on SQLite. The extra writes count the
/// attempt where no record does.
#[tokio::test]
async fn every_password_step_writes_as_often_whatever_the_user_id() {
    use lockstep_account::AccountStore as _;
    let store = Arc::new(CountingWrites::default());
    let auth = Authenticator::builder(Arc::clone(&store), MemoryDirectory::new())
        .hasher(Arc::new(lockstep_password::InsecureTestHasher::new()))
        .build()
        .unwrap();
    let right = Password::from("Right123");
    let wrong = Password::from("Wrong999");
    for user in ["wrong", "locked"] {
        auth.create_account("op", user, "Name", "C", &right)
            .await
            .unwrap();
    }
    for _ in 0..5 {
        auth.login_password("locked", &wrong, lockstep_account::Entry::Enroll)
            .await
            .unwrap();
    }
    let mut writes = Vec::new();
    for user in ["wrong", "locked", "nobody"] {
        let before = store.writes.load(Ordering::SeqCst);
        let r = auth
            .login_password(user, &wrong, lockstep_account::Entry::Enroll)
            .await
            .unwrap();
        assert_eq!(refusal(&r), Some(&Refusal::InvalidCredentials), "{user}");
        writes.push((user, store.writes.load(Ordering::SeqCst) - before));
    }
    assert_eq!(
        writes,
        vec![("wrong", 2), ("locked", 2), ("nobody", 2)],
        "writes per password step"
    );
    assert_eq!(store.attempts("nobody").await.unwrap().0, 1);
    assert_eq!(store.attempts("locked").await.unwrap().0, 1);
    assert_eq!(
        store.attempts("wrong").await.unwrap().0,
        0,
        "its record counts it"
    );
    // An OTP-stage input on an unknown ID is no password attempt.
    let bad = LoginTicket::from_bytes([9; 16]);
    auth.submit_otp("nobody", &bad, "123456").await.unwrap();
    assert_eq!(store.attempts("nobody").await.unwrap().0, 1);
}
