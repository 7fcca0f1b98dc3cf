//! Burst guesses counted before they are verified, and a counted attempt
//! that always pays for its hash.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar};

use crate::common::{Fx, TEMP};
use lockstep_account::offload::Offload;
use lockstep_account::{
    Account, AccountStore, Authenticator, Config, Entry, EventKind, MemoryDirectory, MemoryStore,
    Outcome, RecordWrite, StoreError, TokenStatus, Write,
};
use lockstep_otp::CredentialId;
use lockstep_password::{Password, PasswordHashing};

/// A store that records every record written and can make one write lose a
/// race: before the `n`th record write it writes a harmless change of its
/// own.
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
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        let Some(RecordWrite::Replace { account, .. }) = &write.record else {
            return self.inner.write(write).await;
        };
        let account = account.clone();
        let n = self.replaces.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(n) == self.interfere_at {
            let mut other = self.inner.load(&account.user_id).await?.unwrap();
            other.customer_name.push('*');
            let v = other.version;
            self.inner
                .write(Write::replace(other, v, Vec::new()))
                .await?;
        }
        let result = self.inner.write(write).await;
        if result.is_ok() {
            self.written.lock().unwrap().push(account);
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

/// The failure is written before the password is verified, and the
/// success after; the record with the failure counted is what a crash in
/// between would leave — with its own event.
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
    assert_eq!(
        r.events.first().map(|e| &e.kind),
        Some(&EventKind::PasswordAttempt { failures: 1 }),
        "the count's own event"
    );
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

/// The rehash of an older hash is made in the verification's own turn and
/// written as its own write after the answer.
#[tokio::test]
async fn a_rehash_is_its_own_write_after_the_answer() {
    let (fx, store) = racing_fixture(None).await;
    let old_hash = fx.plant_older_hash("u1", TEMP).await;
    store.written.lock().unwrap().clear();
    let hashes = fx.hasher.hashes.load(Ordering::SeqCst);
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
    assert_eq!(fx.hasher.hashes.load(Ordering::SeqCst) - hashes, 1);
    let written = store.written.lock().unwrap().clone();
    assert_eq!(written.len(), 3, "reservation, answer, rehash");
    assert_eq!(written[1].password.hash.as_str(), old_hash);
    assert_ne!(written[2].password.hash.as_str(), old_hash);
}

/// A store whose counting writes land and then never answer: the caller
/// gives up while the count is written, as a client that disconnects.
struct Stalling {
    inner: MemoryStore,
}

impl AccountStore for Stalling {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.inner.load(user_id).await
    }
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        let counts = write.events.iter().any(|e| {
            matches!(
                e.kind,
                EventKind::PasswordAttempt { .. } | EventKind::AttemptNoted
            )
        });
        self.inner.write(write).await?;
        if counts {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn token_status(&self, id: &CredentialId, user: &str) -> Result<TokenStatus, StoreError> {
        self.inner.token_status(id, user).await
    }
}

/// A password step whose caller goes away once its attempt is counted
/// costs what one that stays costs: the hash still runs. (It did not: the
/// attempt was written and the Argon2 skipped — 1,393 counted attempts for
/// 7 hashes in one measurement.)
#[tokio::test]
async fn a_caller_that_leaves_after_the_count_still_pays_the_hash() {
    let store = Arc::new(Stalling {
        inner: MemoryStore::new(),
    });
    let fx = Fx::over(Arc::clone(&store), Config::default());
    fx.auth
        .create_account("op", "u1", "N", "C", &Password::from(TEMP))
        .await
        .unwrap();
    for user in ["u1", "nobody"] {
        let before = fx.hasher.verifies.load(Ordering::SeqCst);
        let wrong = Password::from("Wrong999");
        let step = fx.auth.login_password(user, &wrong, Entry::Login);
        let left = tokio::time::timeout(std::time::Duration::from_millis(20), step).await;
        assert!(left.is_err(), "{user}: the caller left");
        assert_eq!(
            fx.hasher.verifies.load(Ordering::SeqCst) - before,
            1,
            "{user}: the counted attempt's hash ran"
        );
    }
    assert_eq!(
        store
            .inner
            .load("u1")
            .await
            .unwrap()
            .unwrap()
            .password
            .failures
            .count,
        1
    );
}

/// A hook that holds every hash until released: requests pile up behind it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    entered: AtomicUsize,
}

impl Gate {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Offload for Gate {
    fn execute(&self, work: &mut (dyn FnMut() + Send)) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        work();
    }
    fn max_concurrent(&self) -> Option<usize> {
        Some(1)
    }
}

/// A caller that leaves while its counted attempt waits for a turn on the
/// hook (behind a flood) still pays the hash: the count and the work go
/// together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_leaves_while_waiting_for_a_turn_still_pays_the_hash() {
    let gate = Arc::new(Gate::default());
    let hasher: Arc<lockstep_store_tests::CountingHasher> = Arc::default();
    let auth = Arc::new(
        Authenticator::builder(MemoryStore::new(), MemoryDirectory::new())
            .hasher(Arc::clone(&hasher) as Arc<dyn PasswordHashing>)
            .offload(Arc::clone(&gate) as Arc<dyn Offload>)
            .build()
            .unwrap(),
    );
    // The first step takes the only turn and holds it, in the gate.
    let first = {
        let auth = Arc::clone(&auth);
        tokio::spawn(async move {
            auth.login_password("a", &Password::from("Guess1234"), Entry::Login)
                .await
        })
    };
    while gate.entered.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let before = hasher.verifies.load(Ordering::SeqCst);
    let guess = Password::from("Guess1234");
    let waiting = auth.login_password("b", &guess, Entry::Login);
    let left = tokio::time::timeout(std::time::Duration::from_millis(50), waiting).await;
    assert!(left.is_err(), "the second step waits for the turn");
    assert_eq!(
        hasher.verifies.load(Ordering::SeqCst) - before,
        1,
        "its counted attempt was hashed as it was dropped"
    );
    gate.release();
    first.await.unwrap().unwrap();
}
