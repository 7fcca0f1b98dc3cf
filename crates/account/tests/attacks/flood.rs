//! A flood of password steps costs the flooder, not the customers: past
//! the admission bound a hashing step is refused at once, `Busy`, the same
//! for every user ID, with nothing loaded, written or counted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::common::{TEMP, all_events};
use lockstep_account::offload::Offload;
use lockstep_account::{
    AccountStore, AuditLog, Authenticator, Config, Entry, MemoryDirectory, MemoryStore, Refusal,
};
use lockstep_password::{InsecureTestHasher, Password};

/// A hook that holds every hash until released, one at a time.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    entered: AtomicUsize,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_admission_bound_every_user_id_is_busy_at_once() {
    let gate = Arc::new(Gate::default());
    let store = Arc::new(MemoryStore::new());
    let auth = Arc::new(
        Authenticator::builder(Arc::clone(&store), MemoryDirectory::new())
            .hasher(Arc::new(InsecureTestHasher::new()))
            .offload(Arc::clone(&gate) as Arc<dyn Offload>)
            .max_waiting_hashes(2)
            .config(Config::default())
            .build()
            .unwrap(),
    );
    assert_eq!(auth.admission_bound(), 3, "one hashing and two waiting");
    // Accounts made before the gate closes everything (creation hashes).
    *gate.open.lock().unwrap() = true;
    for user in ["known", "locked"] {
        auth.create_account("op", user, "N", "C", &Password::from(TEMP))
            .await
            .unwrap();
    }
    for _ in 0..5 {
        auth.login_password("locked", &Password::from("Wrong999"), Entry::Login)
            .await
            .unwrap();
    }
    *gate.open.lock().unwrap() = false;
    let entered = gate.entered.load(Ordering::SeqCst);
    // The flood fills every place: one in the gate, two waiting.
    let flood: Vec<_> = (0..3)
        .map(|i| {
            let auth = Arc::clone(&auth);
            tokio::spawn(async move {
                auth.login_password(
                    &format!("flood{i}"),
                    &Password::from("Guess1234"),
                    Entry::Login,
                )
                .await
            })
        })
        .collect();
    while gate.entered.load(Ordering::SeqCst) == entered {
        tokio::task::yield_now().await;
    }
    // The other two hold their places once their attempts are counted
    // (after admission, before the turn): waited for, not slept on.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for i in 0..3 {
        while store.attempts(&format!("flood{i}")).await.unwrap().count == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "flood{i} never counted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let events_before = all_events(&*store, "known").await.len();
    let locked_before = all_events(&*store, "locked").await.len();
    for user in ["known", "locked", "nobody"] {
        let r = auth
            .login_password(user, &Password::from("Wrong999"), Entry::Login)
            .await
            .unwrap();
        assert_eq!(r.refusal(), Some(&Refusal::Busy), "{user}");
        assert!(r.events.is_empty(), "{user}: nothing written");
    }
    assert_eq!(all_events(&*store, "known").await.len(), events_before);
    assert_eq!(all_events(&*store, "locked").await.len(), locked_before);
    let known = store.load("known").await.unwrap().unwrap();
    assert_eq!(known.password.failures.count, 0, "not counted");
    assert_eq!(store.attempts("nobody").await.unwrap().count, 0);
    // Nothing was read or written: a ticket presented still opens its stage,
    // so the customer at the forced change tries again on the same page.
    let t = lockstep_account::LoginTicket::from_bytes([2; 16]);
    let pw = Password::from("Fresh2027x");
    let r = auth.change_password("known", &t, &pw, &pw).await.unwrap();
    assert_eq!(r.refusal(), Some(&Refusal::Busy));
    assert!(r.outcome.stage_open(), "busy does not end a stage");
    // An OTP step is no hashing input: it is never busy.
    let t = lockstep_account::LoginTicket::from_bytes([1; 16]);
    let r = auth.submit_otp("known", &t, "123456").await.unwrap();
    assert_eq!(r.refusal(), Some(&Refusal::InvalidTicket));
    *gate.open.lock().unwrap() = true;
    gate.opened.notify_all();
    for f in flood {
        let r = f.await.unwrap().unwrap();
        assert_eq!(r.refusal(), Some(&Refusal::InvalidCredentials));
    }
    // Places are given back: the next step is served.
    let r = auth
        .login_password("known", &Password::from("Wrong999"), Entry::Login)
        .await
        .unwrap();
    assert_eq!(r.refusal(), Some(&Refusal::InvalidCredentials));
}
