//! Item 3: burst guesses counted before they are verified.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{Fx, TEMP};
use lockstep_account::{
    Account, AccountStore, AuditEvent, Config, Entry, EventKind, MemoryStore, Outcome, StoreError,
    TokenStatus,
};
use lockstep_otp::CredentialId;

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
    async fn create(&self, account: &Account, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.inner.create(account, events).await
    }
    async fn replace(
        &self,
        account: &Account,
        expected: u64,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let n = self.replaces.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(n) == self.interfere_at {
            let mut other = self.inner.load(&account.user_id).await?.unwrap();
            other.customer_name.push('*');
            self.inner.replace(&other, other.version, &[]).await?;
        }
        let result = self.inner.replace(account, expected, events).await;
        if result.is_ok() {
            self.written.lock().unwrap().push(account.clone());
        }
        result
    }
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.inner.append(events).await
    }
    async fn events(&self, user: &str, from: u64, to: u64) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.events(user, from, to).await
    }
    async fn token_status(&self, id: &CredentialId, user: &str) -> Result<TokenStatus, StoreError> {
        self.inner.token_status(id, user).await
    }
    async fn note_attempt(&self, user: &str, at: u64) -> Result<(), StoreError> {
        self.inner.note_attempt(user, at).await
    }
    async fn attempts(&self, user: &str) -> Result<(u64, u64), StoreError> {
        self.inner.attempts(user).await
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
    let old_hash = fx.plant_older_hash("u1", TEMP).await;
    store.written.lock().unwrap().clear();
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
