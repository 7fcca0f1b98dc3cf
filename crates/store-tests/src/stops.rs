//! Steps that stop part-way: the process dies between two phases, a write
//! fails, or the caller goes away. Whatever happens, every counted attempt
//! has its audit event (the write that counts carries one), the counts
//! equal the events, and no attempt is counted without its hash.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use lockstep_account::machine::{self, Deps, Facts, Input, Next};
use lockstep_account::{
    AccountStore, BackendError, Config, Entry, EventKind, Factor, StoreError, TokenStatus, Write,
};
use lockstep_password::{Password, PasswordHashing, PasswordPolicy};

use crate::{Fx, Store, TEMP, all_events, event};

/// The store under test, failing its `fail_at`th write (counting from 1)
/// for good: nothing of that write is written.
struct Failing<S> {
    inner: Arc<S>,
    writes: std::sync::atomic::AtomicUsize,
    fail_at: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("a write failed on purpose")]
struct OnPurpose;

impl<S: Store> AccountStore for Failing<S> {
    async fn load(&self, user_id: &str) -> Result<Option<lockstep_account::Account>, StoreError> {
        self.inner.load(user_id).await
    }
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(StoreError::Backend(BackendError::permanent(OnPurpose)));
        }
        self.inner.write(write).await
    }
    async fn token_status(
        &self,
        id: &lockstep_otp::CredentialId,
        user_id: &str,
    ) -> Result<TokenStatus, StoreError> {
        self.inner.token_status(id, user_id).await
    }
}

/// Runs `input` through the machine against `store`, and stops — as a
/// process that dies — after `phases` phases, dropping the step. `true`:
/// the step ended before that.
async fn drive_until<S: AccountStore>(
    store: &S,
    user_id: &str,
    input: Input<'_>,
    deps: Deps<'_>,
    facts: Facts,
    phases: usize,
) -> bool {
    let mut next = machine::start(user_id, input, deps, facts);
    for _ in 0..phases {
        next = match next {
            Next::Load(n) => {
                let record = store.load(n.user_id()).await.unwrap();
                n.loaded(record)
            }
            Next::LookUp(n) => n.found(None, TokenStatus::Free),
            Next::Hash(n) => n.hash().resume(),
            Next::Write(n) => {
                let (w, then) = n.take();
                then.written(store.write(w).await)
            }
            Next::Done(_) => return true,
        };
    }
    matches!(next, Next::Done(_))
}

/// Checks that what `user_id`'s record and attempt notes count is what its
/// audit events say was counted: the attempt notes since the account was
/// created are its [`EventKind::AttemptNoted`] events, and replaying its
/// [`EventKind::PasswordAttempt`] events (reset by an accepted password, a
/// desk unlock or a reset) gives its password failure count and lock.
pub async fn assert_counts_match_events<S: Store>(store: &S, user_id: &str, config: &Config) {
    let events = all_events(store, user_id).await;
    let since = events
        .iter()
        .rposition(|e| e.kind == EventKind::AccountCreated)
        .map_or(0, |i| i + 1);
    let noted = events
        .iter()
        .skip(since)
        .filter(|e| e.kind == EventKind::AttemptNoted)
        .count();
    let attempts = store.attempts(user_id).await.unwrap();
    assert_eq!(
        attempts.count,
        u64::try_from(noted).unwrap(),
        "{user_id}: attempt notes without their event"
    );
    let Some(account) = store.load(user_id).await.unwrap() else {
        return;
    };
    let mut count = 0;
    for e in &events {
        match e.kind {
            EventKind::PasswordAttempt { failures } => count = failures,
            EventKind::PasswordAccepted
            | EventKind::PasswordReset
            | EventKind::Unlocked {
                factor: Factor::Password,
            } => count = 0,
            _ => {}
        }
    }
    let f = account.password.failures;
    assert_eq!(
        (f.count, f.locked),
        (count, count >= config.password_lock_after()),
        "{user_id}: a password failure counted without its event"
    );
}

/// The five password steps that must cost alike: an unknown ID, a wrong
/// password, a locked ID, the right password, a wrong password on an
/// older-cost hash.
const CASES: [(&str, &str); 5] = [
    ("nobody", "Wrong999"),
    ("known", "Wrong999"),
    ("locked", "Wrong999"),
    ("right", TEMP),
    ("older", "Wrong999"),
];

/// Sets up the accounts of [`CASES`] on `fx`.
async fn five_cases<S: Store>(fx: &Fx<S>) {
    for user in ["known", "locked", "right", "older"] {
        fx.create(user).await;
    }
    for _ in 0..5 {
        fx.password("locked", "Wrong999").await;
    }
    fx.plant_older_hash("older", TEMP).await;
}

/// Every password step, stopped after each number of phases in turn (as a
/// process killed between two phases), and with each of its writes failing
/// in turn: the counts always equal the events.
pub async fn counts_equal_events_when_a_step_stops_between_phases<S: Store>(store: Arc<S>) {
    let config = Config::default();
    let fx = Fx::over(Arc::clone(&store), config.clone());
    five_cases(&fx).await;
    let policy = PasswordPolicy::bank_default();
    let dummy = fx
        .hasher
        .hash_with_salt(&Password::from("dummy-pass1"), b"dummysalt")
        .unwrap();
    let deps = Deps {
        config: &config,
        policy: &policy,
        hasher: &*fx.hasher,
        dummy: &dummy,
        detach: None,
    };
    for phases in 0..8 {
        for (n, (user, pw)) in CASES.iter().enumerate() {
            let pw = Password::from(*pw);
            let input = Input::Password {
                password: &pw,
                entry: Entry::Enroll,
            };
            let facts = Facts {
                now: fx.now(),
                ticket_random: [u8::try_from(phases * 8 + n).unwrap(); 16],
                salt: [9; 16],
                client: None,
            };
            drive_until(&*store, user, input, deps, facts, phases).await;
            let failing = Failing {
                inner: Arc::clone(&store),
                writes: 0.into(),
                fail_at: phases % 3 + 1,
            };
            drive_until(&failing, user, input, deps, facts, 16).await;
        }
    }
    for (user, _) in CASES {
        assert_counts_match_events(&*store, user, &config).await;
    }
}

/// Hundreds of password steps whose callers go away at random moments
/// (a request cancelled, a client that disconnects): no attempt is counted
/// without its hash — the steps that counted hashed as one that stays
/// would — and every counted attempt has its audit event.
pub async fn cancelled_password_steps_hash_what_they_count<S: Store>(store: Arc<S>) {
    let config = Config::default();
    let fx = Arc::new(Fx::over(Arc::clone(&store), config.clone()));
    five_cases(&fx).await;
    let counted = || async {
        let mut n = 0;
        for (user, _) in CASES {
            n += all_events(&*store, user)
                .await
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EventKind::PasswordAttempt { .. } | EventKind::AttemptNoted
                    )
                })
                .count();
        }
        n
    };
    let (counted_before, hashed_before) =
        (counted().await, fx.hasher.verifies.load(Ordering::SeqCst));
    let mut tasks = Vec::new();
    for i in 0..300_u64 {
        let fx = Arc::clone(&fx);
        let (user, pw) = CASES[usize::try_from(i % 5).unwrap()];
        let task = tokio::spawn(async move {
            let _ = fx.password_with(user, pw, Entry::Enroll).await;
        });
        // Spread over a few milliseconds: before, inside and after writes.
        let delay = std::time::Duration::from_micros(i * 7_919 % 4_000);
        let handle = task.abort_handle();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            handle.abort();
        });
        tasks.push(task);
    }
    let mut cancelled = 0;
    for t in tasks {
        if let Err(e) = t.await {
            assert!(e.is_cancelled(), "a step failed: {e}");
            cancelled += 1;
        }
    }
    // A write handed over before its caller left may land a moment later:
    // one more write after all of them is the barrier.
    store
        .write(Write::events(vec![event(
            "barrier",
            0,
            EventKind::LoggedIn,
        )]))
        .await
        .unwrap();
    let counted = counted().await - counted_before;
    let hashed = fx.hasher.verifies.load(Ordering::SeqCst) - hashed_before;
    assert!(
        cancelled > 0,
        "no step was cancelled: the test shows nothing"
    );
    assert!(
        counted <= hashed,
        "{counted} attempts counted, {hashed} hashes done ({cancelled} cancelled)"
    );
    for (user, _) in CASES {
        assert_counts_match_events(&*store, user, &config).await;
    }
}
