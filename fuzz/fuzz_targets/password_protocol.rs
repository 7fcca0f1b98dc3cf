//! The password protocol over a store that misbehaves between phases: any
//! sequence of password steps (unknown, wrong, locked, right), where each
//! write may land, lose a race to an interfering write (a desk unlock, a
//! desk reset, an unrelated change), fail transiently, or be the moment
//! the caller goes away (before the write, or after it landed). Whatever
//! happens: nothing panics, the stored counts equal the audit events
//! (every counted attempt has its event), and no attempt is counted
//! without its hash.
#![no_main]

use std::future::Future;
use std::sync::atomic::Ordering;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_account::machine::{self, Deps, Facts, Input, Next};
use lockstep_account::{
    AccountStore, AuditEvent, BackendError, Config, Entry, EventKind, Factor, Failures,
    MemoryStore, StoreError, TokenStatus, Write,
};
use lockstep_password::{Password, PasswordHashing, PasswordPolicy};
use lockstep_store_tests::{CountingHasher, StubHasher, all_events, assert_counts_match_events};

#[derive(Debug, Arbitrary)]
struct Attempt {
    user: u8,
    right: bool,
    faults: Vec<Fault>,
}

#[derive(Clone, Copy, Debug, Arbitrary)]
enum Fault {
    Land,
    LoseTo(Interference),
    Transient,
    CallerLeaves,
    LandsThenCallerLeaves,
}

#[derive(Clone, Copy, Debug, Arbitrary)]
enum Interference {
    Unlock,
    Reset,
    Unrelated,
}

const USERS: [&str; 4] = ["nobody", "u1", "u2", "u3"];
const RIGHT: &str = "Right123";

/// Runs a future of the in-memory store, which is always ready at once.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the in-memory store waited"),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("transient on purpose")]
struct Flaky;

fn interfere(store: &MemoryStore, user: &str, how: Interference, hasher: &dyn PasswordHashing) {
    let Some(mut a) = now(store.load(user)).unwrap() else {
        return;
    };
    let v = a.version;
    let event = |kind| AuditEvent {
        at: 1,
        user_id: user.into(),
        operator_id: Some("desk".into()),
        client: None,
        kind,
    };
    let events = match how {
        Interference::Unlock => {
            a.password.failures = Failures::default();
            vec![event(EventKind::Unlocked {
                factor: Factor::Password,
            })]
        }
        Interference::Reset => {
            a.password.hash = hasher.hash_with_salt(&RIGHT.into(), b"resetsalt").unwrap();
            a.password.failures = Failures::default();
            vec![event(EventKind::PasswordReset)]
        }
        Interference::Unrelated => {
            a.customer_name.push('*');
            Vec::new()
        }
    };
    now(store.write(Write::replace(a, v, events))).unwrap();
}

fuzz_target!(|attempts: Vec<Attempt>| {
    let config = Config::default();
    let policy = PasswordPolicy::bank_default();
    let hasher = CountingHasher::new(StubHasher);
    let dummy = StubHasher
        .hash_with_salt(&"dummy".into(), b"dummysalt")
        .unwrap();
    let deps = Deps {
        config: &config,
        policy: &policy,
        hasher: &hasher,
        dummy: &dummy,
        detach: None,
    };
    let store = MemoryStore::new();
    let temporary = Password::from(RIGHT);
    for user in &USERS[1..] {
        let create = Input::Create {
            operator_id: "op",
            user_name: "name",
            customer_name: "C",
            temporary: &temporary,
        };
        let no_tokens = |_: &lockstep_otp::CredentialId| (None, TokenStatus::Free);
        let d = machine::decide(None, user, create, deps, facts(0), &no_tokens).unwrap();
        for w in d.writes {
            now(store.write(w)).unwrap();
        }
    }
    let wrong = Password::from("Wrong999");
    for (n, a) in attempts.iter().take(64).enumerate() {
        let user = USERS[usize::from(a.user) % USERS.len()];
        let input = Input::Password {
            password: if a.right { &temporary } else { &wrong },
            entry: Entry::Enroll,
        };
        let mut faults = a.faults.iter().copied();
        let mut next = machine::start(user, input, deps, facts(n));
        for _ in 0..64 {
            next = match next {
                Next::Load(s) => s.loaded(now(store.load(user)).unwrap()),
                Next::LookUp(s) => s.found(None, TokenStatus::Free),
                Next::Hash(s) => s.hash().resume(),
                Next::Write(s) => {
                    let (w, then) = s.take();
                    match faults.next().unwrap_or(Fault::Land) {
                        Fault::Land => then.written(now(store.write(w))),
                        Fault::LoseTo(how) => {
                            interfere(&store, user, how, &hasher);
                            then.written(now(store.write(w)))
                        }
                        Fault::Transient => {
                            then.written(Err(StoreError::Backend(BackendError::transient(Flaky))))
                        }
                        Fault::CallerLeaves => break,
                        Fault::LandsThenCallerLeaves => {
                            let _ = now(store.write(w));
                            break;
                        }
                    }
                }
                Next::Done(_) => break,
            };
        }
    }
    let mut counted = 0;
    for user in USERS {
        now(assert_counts_match_events(&store, user, &config));
        counted += now(all_events(&store, user))
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::PasswordAttempt { .. } | EventKind::AttemptNoted
                )
            })
            .count();
    }
    let hashed = hasher.verifies.load(Ordering::SeqCst);
    assert!(
        counted <= hashed,
        "{counted} attempts counted, {hashed} hashes done"
    );
});

fn facts(n: usize) -> Facts {
    let mut ticket_random = [7; 16];
    ticket_random[0] = u8::try_from(n % 256).unwrap_or(0);
    Facts {
        now: 1_750_000_000,
        ticket_random,
        salt: [5; 16],
        client: None,
    }
}
