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
    writes: AtomicUsize,
    interfere_at: Option<usize>,
}

impl AccountStore for RacingStore {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.inner.load(user_id).await
    }
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
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

/// A store whose counting write commits and then answers with a transient
/// failure, once (a commit whose answer was lost on the way back).
struct LostAnswer {
    inner: MemoryStore,
    lost: std::sync::atomic::AtomicBool,
}

impl AccountStore for LostAnswer {
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
        if counts && !self.lost.swap(true, Ordering::SeqCst) {
            return Err(StoreError::Backend(
                lockstep_account::BackendError::transient(std::io::Error::other(
                    "the answer was lost",
                )),
            ));
        }
        Ok(())
    }
    async fn token_status(&self, id: &CredentialId, user: &str) -> Result<TokenStatus, StoreError> {
        self.inner.token_status(id, user).await
    }
}

/// A backend failure after a count may have landed: the attempt is never
/// counted twice and never without its hash — the hash runs, and the step
/// fails (it used to be retried: counted again, hashed once).
#[tokio::test]
async fn a_count_whose_answer_was_lost_is_hashed_once_and_counted_once() {
    for user in ["u1", "nobody"] {
        let store = Arc::new(LostAnswer {
            inner: MemoryStore::new(),
            lost: true.into(),
        });
        let fx = Fx::over(Arc::clone(&store), Config::default());
        fx.create("u1").await;
        store.lost.store(false, Ordering::SeqCst);
        let before = fx.hasher.verifies.load(Ordering::SeqCst);
        let r = fx
            .auth
            .login_password(user, &Password::from("Wrong999"), Entry::Login)
            .await;
        assert!(r.is_err(), "{user}: the step fails, its outcome unknown");
        assert_eq!(
            fx.hasher.verifies.load(Ordering::SeqCst) - before,
            1,
            "{user}"
        );
        let counted = match user {
            "u1" => u64::from(
                store
                    .inner
                    .load("u1")
                    .await
                    .unwrap()
                    .unwrap()
                    .password
                    .failures
                    .count,
            ),
            _ => {
                lockstep_account::AuditLog::attempts(&store.inner, user)
                    .await
                    .unwrap()
                    .count
            }
        };
        assert_eq!(counted, 1, "{user}: counted once");
    }
}

/// Thirty-two wrong passwords at once on a real account and on an unknown
/// ID: the same answers, the same writes — two each — and no contention
/// errors (steps that count attempts run one at a time per ID, so a real
/// account's compare-and-swap never loses to another guess).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_cost_the_same_on_a_real_and_an_unknown_id() {
    let mut writes = Vec::new();
    for user in ["victim", "nobody"] {
        let store = Arc::new(RacingStore::default());
        let fx = Arc::new(Fx::over(Arc::clone(&store), Config::default()));
        fx.create("victim").await;
        fx.auth
            .operator(
                "op",
                "victim",
                lockstep_account::OperatorAction::UnlockPassword,
            )
            .await
            .unwrap();
        let before = store.writes.load(Ordering::SeqCst);
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let fx = Arc::clone(&fx);
                tokio::spawn(async move {
                    let r = fx
                        .auth
                        .login_password(user, &Password::from("Wrong999"), Entry::Login)
                        .await
                        .expect("no contention error");
                    assert_eq!(
                        r.refusal(),
                        Some(&lockstep_account::Refusal::InvalidCredentials)
                    );
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        writes.push((user, store.writes.load(Ordering::SeqCst) - before));
    }
    assert_eq!(writes, [("victim", 64), ("nobody", 64)], "two writes each");
}

/// A voluntary change is decided again on the record it is written to: a
/// desk revoke (which ends every session) that lands while the current
/// password is hashed is not undone by the change, which would set the new
/// password and open a fresh session.
#[tokio::test]
async fn a_revoke_during_a_voluntary_change_ends_it() {
    let store = Arc::new(RacingStore {
        // The reservation is the first record write of the change; the
        // revoke lands before the answer.
        interfere_at: None,
        ..RacingStore::default()
    });
    let fx = Fx::over(Arc::clone(&store), Config::default());
    let (_, totp) = fx.ready("u1", 1, "Owner123").await;
    let session = fx.session("u1", "Owner123", &totp).await;
    let before = store.replaces.load(Ordering::SeqCst);
    let revoker = RevokeAt {
        store: Arc::clone(&store),
        at: before + 2,
    };
    let auth =
        lockstep_account::Authenticator::builder(Arc::new(revoker), Arc::clone(&fx.directory))
            .hasher(Arc::clone(&fx.hasher) as Arc<dyn PasswordHashing>)
            .clock(Arc::new(fx.clock.clone()))
            .build()
            .unwrap();
    let new = Password::from("Thief9999");
    let r = auth
        .change_password_logged_in(
            "u1",
            &session.token,
            &Password::from("Owner123"),
            &new,
            &new,
        )
        .await
        .unwrap();
    assert_eq!(
        r.refusal(),
        Some(&lockstep_account::Refusal::InvalidTicket),
        "{r:?}"
    );
    let after = fx.load("u1").await;
    assert!(after.token.is_none(), "revoked");
    assert!(after.sessions.is_empty(), "no session opened by the change");
    let stays = fx
        .hasher
        .verify(&Password::from("Owner123"), &after.password.hash)
        .unwrap();
    assert!(stays, "the password is not changed");
}

/// Over a racing store: before its `at`th record write, the desk revokes
/// the token (every session ends).
struct RevokeAt {
    store: Arc<RacingStore>,
    at: usize,
}

impl AccountStore for RevokeAt {
    async fn load(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.store.load(user_id).await
    }
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        if write.record.is_some() && self.store.replaces.load(Ordering::SeqCst) + 1 == self.at {
            let mut a = self.store.inner.load("u1").await?.unwrap();
            if let Some(t) = a.token.take() {
                a.revoked_tokens.push(t.credential_id);
            }
            a.sessions.clear();
            a.ticket = None;
            let v = a.version;
            self.store.replaces.fetch_add(1, Ordering::SeqCst);
            self.store
                .inner
                .write(Write::replace(a, v, Vec::new()))
                .await?;
        }
        self.store.write(write).await
    }
    async fn token_status(&self, id: &CredentialId, user: &str) -> Result<TokenStatus, StoreError> {
        self.store.token_status(id, user).await
    }
}
