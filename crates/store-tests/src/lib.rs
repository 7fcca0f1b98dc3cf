//! The conformance suite every [`AccountStore`] must pass: CRUD,
//! compare-and-swap conflicts, token-ID uniqueness and revocation, and the
//! login races (one valid code submitted 64 times at once, 64 wrong
//! passwords at once, one token ID enrolled by two users at once).
//!
//! Instantiate it for a store with [`store_conformance!`], in a test file of
//! a crate that has `tokio` (with `rt-multi-thread` and `macros`) as a
//! dev-dependency:
//!
//! ```ignore
//! lockstep_store_tests::store_conformance!(async { Some(lockstep_account::MemoryStore::new()) });
//! ```
//!
//! Each generated test gets a fresh store from the expression.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::sync::Arc;

use lockstep_account::{
    Account, AccountStore, AuditEvent, Config, Entry, EventKind, Failures, LoginTicket, Outcome,
    Refusal, StoreError, TokenBinding, TokenKind, TokenStatus,
};
use lockstep_otp::{CredentialId, TotpParams};
use lockstep_password::Password;

pub use tokio;

pub mod fixture;
pub mod hashers;
pub mod model;

pub use fixture::{Fx, T, TEMP};
pub use hashers::{CountingHasher, StubHasher};

/// Generates one `#[tokio::test]` per conformance check. `$make` is a
/// future (evaluated once per test) that yields `Some(store)`, or `None`
/// when the store's server is not there (the maker prints why, and the
/// test passes without running).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        #[tokio::test]
        async fn conformance_attempts_are_counted_per_user_id() {
            if let Some(store) = $make.await {
                $crate::attempts_are_counted_per_user_id(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test]
        async fn conformance_create_and_load() {
            if let Some(store) = $make.await {
                $crate::create_and_load(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test]
        async fn conformance_replace_is_compare_and_swap() {
            if let Some(store) = $make.await {
                $crate::replace_is_compare_and_swap(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test]
        async fn conformance_token_ids_are_unique_and_revocation_is_final() {
            if let Some(store) = $make.await {
                $crate::token_ids_are_unique_and_revocation_is_final(std::sync::Arc::new(store))
                    .await;
            }
        }
        #[tokio::test]
        async fn conformance_audit_log_is_written_with_the_record() {
            if let Some(store) = $make.await {
                $crate::audit_log_is_written_with_the_record(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn conformance_writes_dropped_half_way_leave_no_part_behind() {
            if let Some(store) = $make.await {
                $crate::writes_dropped_half_way_leave_no_part_behind(std::sync::Arc::new(store))
                    .await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conformance_concurrent_replaces_lose_no_update() {
            if let Some(store) = $make.await {
                $crate::concurrent_replaces_lose_no_update(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conformance_race_one_valid_code_one_success() {
            if let Some(store) = $make.await {
                $crate::race_one_valid_code_one_success(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conformance_race_wrong_passwords_lock_at_exactly_five() {
            if let Some(store) = $make.await {
                $crate::race_wrong_passwords_lock_at_exactly_five(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conformance_race_one_token_two_users() {
            if let Some(store) = $make.await {
                $crate::race_one_token_two_users(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conformance_audit_rows_match_the_decisions() {
            if let Some(store) = $make.await {
                $crate::audit_rows_match_the_decisions(std::sync::Arc::new(store)).await;
            }
        }
    };
}

/// Rule 7: `note_attempt` counts per user ID (any text, as typed) and keeps
/// the time of the last; IDs never noted read as none.
pub async fn attempts_are_counted_per_user_id<S: AccountStore + 'static>(store: Arc<S>) {
    for at in [10, 20, 30] {
        store.note_attempt("nobody", at).await.unwrap();
    }
    store.note_attempt("ユーザー'; --", 5).await.unwrap();
    assert_eq!(store.attempts("nobody").await.unwrap(), (3, 30));
    assert_eq!(store.attempts("ユーザー'; --").await.unwrap(), (1, 5));
    assert_eq!(store.attempts("never").await.unwrap(), (0, 0));
    // Concurrent notes are all counted.
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.note_attempt("raced", n).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.attempts("raced").await.unwrap().0, 16);
}

/// A record for `user_id` with a placeholder hash.
#[must_use]
pub fn sample(user_id: &str) -> Account {
    Account {
        user_id: user_id.into(),
        user_name: format!("{user_id} name"),
        customer_name: "Customer".into(),
        password: lockstep_account::PasswordState {
            hash:
                "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                    .into(),
            previous: Vec::new(),
            set_at: 0,
            must_change: None,
            failures: Failures::default(),
        },
        enrollment: Failures::default(),
        token: None,
        revoked_tokens: Vec::new(),
        ticket: None,
        sessions: Vec::new(),
        version: 0,
    }
}

fn binding(id: CredentialId) -> TokenBinding {
    TokenBinding {
        credential_id: id,
        kind: TokenKind::Totp(TotpParams::DEFAULT),
        drift: 0,
        last_used: 0,
        failures: Failures::default(),
        bound_at: 0,
    }
}

/// Rules 1 and 2: create, load, duplicate create.
pub async fn create_and_load<S: AccountStore>(store: Arc<S>) {
    assert_eq!(store.load("alice").await.unwrap(), None);
    let mut a = sample("alice");
    a.version = 41; // create resets it
    store.create(&a, &[]).await.unwrap();
    let loaded = store.load("alice").await.unwrap().unwrap();
    assert_eq!(loaded.version, 0);
    assert_eq!(loaded.user_name, "alice name");
    assert_eq!(store.create(&a, &[]).await, Err(StoreError::AlreadyExists));
    assert_eq!(
        store.replace(&sample("nobody"), 0, &[]).await,
        Err(StoreError::NotFound)
    );
}

/// Rule 3: replace writes only at the expected version, and bumps it.
pub async fn replace_is_compare_and_swap<S: AccountStore>(store: Arc<S>) {
    store.create(&sample("bob"), &[]).await.unwrap();
    let mut b = store.load("bob").await.unwrap().unwrap();
    b.user_name = "Bob".into();
    store.replace(&b, 0, &[]).await.unwrap();
    let after = store.load("bob").await.unwrap().unwrap();
    assert_eq!((after.version, after.user_name.as_str()), (1, "Bob"));
    b.user_name = "stale".into();
    assert_eq!(store.replace(&b, 0, &[]).await, Err(StoreError::Conflict));
    assert_eq!(
        store.load("bob").await.unwrap().unwrap().user_name,
        "Bob",
        "nothing written"
    );
}

/// Rule 4: one account per token ID; revoked IDs never bind again.
pub async fn token_ids_are_unique_and_revocation_is_final<S: AccountStore>(store: Arc<S>) {
    let id = CredentialId::parse("VSST12345678").unwrap();
    store.create(&sample("carol"), &[]).await.unwrap();
    store.create(&sample("dave"), &[]).await.unwrap();
    assert_eq!(
        store.token_status(&id, "carol").await.unwrap(),
        TokenStatus::Free
    );

    let mut c = store.load("carol").await.unwrap().unwrap();
    c.token = Some(binding(id));
    store.replace(&c, 0, &[]).await.unwrap();
    assert_eq!(
        store.token_status(&id, "carol").await.unwrap(),
        TokenStatus::BoundTo
    );
    assert_eq!(
        store.token_status(&id, "dave").await.unwrap(),
        TokenStatus::BoundToOther
    );

    let mut d = store.load("dave").await.unwrap().unwrap();
    d.token = Some(binding(id));
    assert_eq!(store.replace(&d, 0, &[]).await, Err(StoreError::TokenTaken));
    let mut e = sample("erin");
    e.token = Some(binding(id));
    assert_eq!(store.create(&e, &[]).await, Err(StoreError::TokenTaken));

    // Revoke from carol: then nobody, carol included, may bind it.
    let mut c = store.load("carol").await.unwrap().unwrap();
    c.token = None;
    c.revoked_tokens.push(id);
    store.replace(&c, 1, &[]).await.unwrap();
    assert_eq!(
        store.token_status(&id, "dave").await.unwrap(),
        TokenStatus::Revoked
    );
    assert_eq!(store.replace(&d, 0, &[]).await, Err(StoreError::TokenTaken));
    let mut c = store.load("carol").await.unwrap().unwrap();
    c.token = Some(binding(id));
    assert_eq!(store.replace(&c, 2, &[]).await, Err(StoreError::TokenTaken));
    // Another ID is fine.
    let other = CredentialId::parse("VSST87654321").unwrap();
    d.token = Some(binding(other));
    store.replace(&d, 0, &[]).await.unwrap();
}

/// Rules 3 and 5 when requests are cancelled: waves of writers, each
/// writing again and again until it is aborted at a moment that lands
/// anywhere (before, inside or after a write). Every account's stored
/// version and its events must still agree write for write, and writing
/// must go on afterwards (a write dropped half-way must not leave a pooled
/// connection inside a transaction).
pub async fn writes_dropped_half_way_leave_no_part_behind<S: AccountStore + 'static>(
    store: Arc<S>,
) {
    let users: Vec<String> = (0..8).map(|i| format!("g{i}")).collect();
    for u in &users {
        store.create(&sample(u), &[]).await.unwrap();
    }
    let event = |u: &str, at: u64| AuditEvent {
        at,
        user_id: u.to_owned(),
        operator_id: None,
        kind: EventKind::LoggedIn,
    };
    for wave in 0..12_u64 {
        let mut tasks = Vec::new();
        for (n, u) in (0_u64..).zip(users.iter().cycle().take(16)) {
            let (store, u) = (Arc::clone(&store), u.clone());
            let task = tokio::spawn(async move {
                loop {
                    let Some(account) = store.load(&u).await.unwrap() else {
                        return;
                    };
                    // The event says which version it belongs to.
                    let e = event(&u, account.version + 1);
                    match store.replace(&account, account.version, &[e]).await {
                        Ok(()) | Err(StoreError::Conflict) => {}
                        Err(e) if e.is_transient() => {}
                        Err(e) => panic!("{e}: {:?}", std::error::Error::source(&e)),
                    }
                    // A store that never waits (in memory) must still let
                    // the abort in.
                    tokio::task::yield_now().await;
                }
            });
            let delay = std::time::Duration::from_micros(2_000 + (wave * 16 + n) * 7_919 % 20_000);
            let handle = task.abort_handle();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                handle.abort();
            });
            tasks.push(task);
        }
        for t in tasks {
            if let Err(e) = t.await {
                assert!(e.is_cancelled(), "a writer failed: {e}");
            }
        }
    }
    for u in &users {
        // A write whose caller was cancelled may still land a moment later
        // (a store that commits for its callers, as a server does for a
        // client that disconnected): a conflict here means another try.
        let mut version = None;
        for _ in 0..100 {
            let account = store.load(u).await.unwrap().unwrap();
            let e = event(u, account.version + 1);
            match store.replace(&account, account.version, &[e]).await {
                Ok(()) => {
                    version = Some(account.version + 1);
                    break;
                }
                Err(StoreError::Conflict) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(e) => panic!("writing does not go on: {e}"),
            }
        }
        let version = version.expect("a write goes through once the writers are gone");
        let mut ats: Vec<u64> = store
            .events(u, 0, u64::MAX)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::LoggedIn)
            .map(|e| e.at)
            .collect();
        ats.sort_unstable();
        assert_eq!(
            ats,
            (1..=version).collect::<Vec<u64>>(),
            "{u}: version {version}"
        );
    }
}

/// Rule 3 under load: 64 tasks each add one to a counter by load + CAS
/// retries; none is lost.
pub async fn concurrent_replaces_lose_no_update<S: AccountStore + 'static>(store: Arc<S>) {
    store.create(&sample("counter"), &[]).await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                loop {
                    let mut a = store.load("counter").await.unwrap().unwrap();
                    let v = a.version;
                    a.enrollment.count += 1;
                    match store.replace(&a, v, &[]).await {
                        Ok(()) => break,
                        Err(StoreError::Conflict) => tokio::task::yield_now().await,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let a = store.load("counter").await.unwrap().unwrap();
    assert_eq!((a.enrollment.count, a.version), (64, 64));
}

/// The ticket in an outcome that carries one.
///
/// # Panics
/// When the outcome carries no ticket.
pub fn expect_ticket(outcome: Outcome) -> LoginTicket {
    match outcome.ticket() {
        Some(ticket) => ticket.clone(),
        None => panic!("expected a ticket, got {outcome:?}"),
    }
}

/// 64 concurrent submissions of one valid code with one ticket: exactly one
/// success.
pub async fn race_one_valid_code_one_success<S: AccountStore + 'static>(store: Arc<S>) {
    let fx = Arc::new(Fx::over(store, Config::default()));
    let (_, totp) = fx.enrolled("racer", 1).await;
    let ticket = fx.login("racer", TEMP).await;
    let code = fx.code(&totp, 0);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (fx, ticket, code) = (Arc::clone(&fx), ticket.clone(), code.clone());
            tokio::spawn(async move {
                fx.auth
                    .submit_otp("racer", &ticket, &code)
                    .await
                    .unwrap()
                    .outcome
            })
        })
        .collect();
    let mut successes = 0;
    for t in tasks {
        match t.await.unwrap() {
            Outcome::PasswordChangeRequired { .. } | Outcome::LoggedIn(_) => successes += 1,
            other
                if matches!(
                    other.refusal(),
                    Some(Refusal::InvalidTicket | Refusal::InvalidCode)
                ) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(successes, 1);
}

/// 64 concurrent wrong passwords: exactly five counted, then locked; and,
/// because each attempt is counted before it is verified, exactly five
/// verified against the account's hash (the rest cost a verification of the
/// dummy and answer alike, R-LOG-5).
pub async fn race_wrong_passwords_lock_at_exactly_five<S: AccountStore + 'static>(store: Arc<S>) {
    let fx = Arc::new(Fx::over(store, Config::default()));
    fx.create("victim").await;
    let stored = fx.load("victim").await.password.hash;
    let before = fx.hasher.verifications_of(&stored);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let fx = Arc::clone(&fx);
            tokio::spawn(async move {
                let pw = Password::from(format!("wrong{i}pw"));
                fx.auth
                    .login_password("victim", &pw, Entry::Enroll)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut counted, mut locked_attempts) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.refusal(), Some(&Refusal::InvalidCredentials));
        for e in &r.events {
            match e.kind {
                EventKind::PasswordFailed { .. } => counted += 1,
                EventKind::LockedAttempt { .. } => locked_attempts += 1,
                _ => {}
            }
        }
    }
    assert_eq!(counted, 5, "exactly five failures counted");
    assert_eq!(locked_attempts, 59);
    assert_eq!(
        fx.hasher.verifications_of(&stored) - before,
        5,
        "exactly five guesses evaluated"
    );
    let a = fx.load("victim").await;
    assert!(a.password.failures.locked);
    assert_eq!(a.password.failures.count, 5);
}

/// One token ID enrolled by two users at once: bound to exactly one.
pub async fn race_one_token_two_users<S: AccountStore + 'static>(store: Arc<S>) {
    let fx = Arc::new(Fx::over(store, Config::default()));
    let (id, totp) = fx.token(9);
    let mut tickets = Vec::new();
    for user in ["left", "right"] {
        fx.create(user).await;
        tickets.push(fx.login(user, TEMP).await);
    }
    let tasks: Vec<_> = ["left", "right"]
        .into_iter()
        .zip(tickets)
        .map(|(user, ticket)| {
            let (fx, totp) = (Arc::clone(&fx), totp.clone());
            tokio::spawn(async move { fx.enroll(user, &ticket, id, &totp, -1, 0).await.outcome })
        })
        .collect();
    let mut enrolled = 0;
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Enrolled { .. } => enrolled += 1,
            Outcome::Refused(Refusal::TokenUnavailable | Refusal::AlreadyEnrolled) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(enrolled, 1);
    let mut bound = 0;
    for user in ["left", "right"] {
        bound += usize::from(fx.load(user).await.token.is_some());
    }
    assert_eq!(bound, 1);
}

/// Rule 5: events go in with the record they belong to, and nowhere else.
pub async fn audit_log_is_written_with_the_record<S: AccountStore>(store: Arc<S>) {
    let event = |user: &str, at: u64| lockstep_account::AuditEvent {
        at,
        user_id: user.into(),
        operator_id: None,
        kind: EventKind::LoggedIn,
    };
    store
        .create(&sample("erin"), &[event("erin", 10)])
        .await
        .unwrap();
    let mut e = store.load("erin").await.unwrap().unwrap();
    e.user_name = "Erin".into();
    store
        .replace(&e, 0, &[event("erin", 20), event("erin", 30)])
        .await
        .unwrap();
    // A failed compare-and-swap writes neither the record nor its events.
    assert_eq!(
        store.replace(&e, 0, &[event("erin", 40)]).await,
        Err(StoreError::Conflict)
    );
    store
        .append(&[event("erin", 50), event("frank", 50)])
        .await
        .unwrap();
    let all = store.events("erin", 0, u64::MAX).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        [10, 20, 30, 50],
        "in order, the failed write's event absent"
    );
    let window = store.events("erin", 20, 30).await.unwrap();
    assert_eq!(window.iter().map(|e| e.at).collect::<Vec<_>>(), [20, 30]);
    assert_eq!(store.events("frank", 0, u64::MAX).await.unwrap().len(), 1);
}

/// The audit log holds exactly the events of the decisions the driver
/// returned, one for one, under concurrency too.
pub async fn audit_rows_match_the_decisions<S: AccountStore + 'static>(store: Arc<S>) {
    // Many logins of one account at once contend for its record: give the
    // driver room to retry rather than answer "contention".
    let config = Config::builder().max_retries(64).build().unwrap();
    let fx = Arc::new(Fx::over(store, config));
    let mut returned = Vec::new();
    returned.extend(
        fx.auth
            .create_account("op", "amy", "Amy", "C", &Password::from(TEMP))
            .await
            .unwrap()
            .events,
    );
    let (_, totp) = fx.token(4);
    let r = fx.password("amy", "Wrong999").await;
    returned.extend(r.events);
    let r = fx.password("amy", TEMP).await;
    let t = expect_ticket(r.outcome.clone());
    returned.extend(r.events);
    let (id, _) = fx.token(4);
    let r = fx.enroll("amy", &t, id, &totp, -1, 0).await;
    returned.extend(r.events);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let fx = Arc::clone(&fx);
            tokio::spawn(async move {
                fx.password("amy", if i % 2 == 0 { TEMP } else { "Wrong999" })
                    .await
                    .events
            })
        })
        .collect();
    for t in tasks {
        returned.extend(t.await.unwrap());
    }
    let stored = fx.store.events("amy", 0, u64::MAX).await.unwrap();
    let key = |e: &lockstep_account::AuditEvent| format!("{e:?}");
    let mut a: Vec<String> = stored.iter().map(key).collect();
    let mut b: Vec<String> = returned.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(
        a, b,
        "the log holds what the decisions returned, one for one"
    );
}
