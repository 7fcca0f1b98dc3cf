//! Where hashing runs: the hook is used for every hash, and the work is
//! done even by a hook that does not run it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lockstep_account::offload::{Offload, TokioBlockInPlace, TokioHashPool};
use lockstep_account::{Authenticator, Entry, MemoryDirectory, MemoryStore, Outcome, Password};
use lockstep_password::InsecureTestHasher;

/// Counts what it is handed; runs it only when told to.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
    skip: bool,
}

impl Offload for Counting {
    fn execute(&self, work: &mut (dyn FnMut() + Send)) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.skip {
            work();
        }
    }
}

async fn login_with(offload: Arc<dyn Offload>) -> Outcome {
    let auth = Authenticator::builder(MemoryStore::new(), MemoryDirectory::new())
        .hasher(Arc::new(InsecureTestHasher::new()))
        .offload(offload)
        .build()
        .unwrap();
    let pw = Password::from("tempPass1");
    auth.create_account("op", "u1", "Name", "C", &pw)
        .await
        .unwrap();
    auth.login_password("u1", &pw, Entry::Enroll)
        .await
        .unwrap()
        .outcome
}

#[tokio::test]
async fn every_hashing_step_goes_through_the_hook() {
    for skip in [false, true] {
        let hook = Arc::new(Counting {
            skip,
            ..Counting::default()
        });
        let outcome = login_with(Arc::clone(&hook) as Arc<dyn Offload>).await;
        assert!(
            matches!(outcome, Outcome::EnrollmentRequired { .. }),
            "{outcome:?}"
        );
        // One turn each: the creation's hash, the password step's
        // verification (the reservation and the answer never queue there).
        assert_eq!(hook.calls.load(Ordering::SeqCst), 2, "skip = {skip}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_block_in_place_serves_a_multi_threaded_runtime() {
    let outcome = login_with(Arc::new(TokioBlockInPlace)).await;
    assert!(matches!(outcome, Outcome::EnrollmentRequired { .. }));
}

#[tokio::test]
async fn tokio_block_in_place_runs_inline_on_a_current_thread_runtime() {
    let outcome = login_with(Arc::new(TokioBlockInPlace)).await;
    assert!(matches!(outcome, Outcome::EnrollmentRequired { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_pool_serves_a_login() {
    let outcome = login_with(Arc::new(TokioHashPool::new(1))).await;
    assert!(matches!(outcome, Outcome::EnrollmentRequired { .. }));
}

/// The pool's bound: eight hashes handed over at once, at most two run at a
/// time, and all eight run — on the caller's thread and on threads of their
/// own alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_pool_runs_at_most_its_bound_at_a_time() {
    for pool in [
        TokioHashPool::new(2),
        TokioHashPool::new(2).with_niceness(5),
    ] {
        at_most_two_at_a_time(pool).await;
    }
}

async fn at_most_two_at_a_time(pool: TokioHashPool) {
    let pool = Arc::new(pool);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (pool, running, most, done) = (
            Arc::clone(&pool),
            Arc::clone(&running),
            Arc::clone(&most),
            Arc::clone(&done),
        );
        tasks.push(tokio::spawn(async move {
            pool.execute(&mut || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
            });
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 8);
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "{}",
        most.load(Ordering::SeqCst)
    );
}

/// A hash that panics gives its turn back: the next one still runs. On a
/// thread of its own, its panic still reaches the caller.
#[test]
fn a_panicking_hash_gives_its_turn_back() {
    for pool in [
        TokioHashPool::new(1),
        TokioHashPool::new(1).with_niceness(5),
    ] {
        let pool = Arc::new(pool);
        let p = Arc::clone(&pool);
        let crashed = std::thread::spawn(move || p.execute(&mut || panic!("hash failed"))).join();
        assert!(crashed.is_err());
        let mut ran = false;
        pool.execute(&mut || ran = true);
        assert!(ran);
    }
}

/// This thread's niceness, as the kernel reports it (field 19 of
/// `/proc/thread-self/stat`).
#[cfg(target_os = "linux")]
fn niceness_here() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name
        .split_whitespace()
        .nth(16)
        .unwrap()
        .parse()
        .unwrap()
}

/// `with_niceness`: the hash runs on a thread of its own, that much below
/// its caller (capped at 19); the caller's own priority is untouched.
#[cfg(target_os = "linux")]
#[test]
fn a_hash_runs_below_its_caller_and_leaves_the_caller_as_it_was() {
    let caller = niceness_here();
    for (asked, pool) in [
        (3, TokioHashPool::new(1).with_niceness(3)),
        (19, TokioHashPool::new(1).with_niceness(200)),
        (10, TokioHashPool::for_this_machine()),
    ] {
        let mut seen = None;
        pool.execute(&mut || {
            seen = Some((
                niceness_here(),
                std::thread::current().name().map(str::to_owned),
            ));
        });
        let (niceness, name) = seen.unwrap();
        assert_eq!(niceness, (caller + asked).min(19), "asked {asked}");
        assert_eq!(name.as_deref(), Some("lockstep-hash"));
        assert_eq!(niceness_here(), caller, "the caller is as it was");
    }
    // Without it, the hash runs here, at the caller's priority.
    let mut here = None;
    TokioHashPool::new(1).execute(&mut || here = Some(niceness_here()));
    assert_eq!(here, Some(caller));
}

/// An OTP step never waits for the hook (nor, so, behind Argon2 work):
/// registration and the OTP login hand it nothing.
#[tokio::test]
async fn otp_steps_never_go_through_the_hook() {
    use lockstep_account::testing::FakeClock;
    use lockstep_account::{TotpParams, provision};

    let clock = FakeClock::at(1_790_000_010);
    let directory = Arc::new(MemoryDirectory::new());
    let hook = Arc::new(Counting::default());
    let auth = Authenticator::builder(MemoryStore::new(), Arc::clone(&directory))
        .hasher(Arc::new(InsecureTestHasher::new()))
        .clock(Arc::new(clock.clone()))
        .offload(Arc::clone(&hook) as Arc<dyn Offload>)
        .build()
        .unwrap();
    let token = provision(&[3; 36], "Bank", TotpParams::DEFAULT).unwrap();
    directory
        .put(token.credential_id, token.seed.clone())
        .unwrap();
    let totp = lockstep_otp::Totp::new(&token.seed.secret, TotpParams::DEFAULT);
    let code = |back: u64| {
        totp.generate(lockstep_account::Clock::now(&clock) - 30 * back)
            .unwrap()
            .expose()
            .to_string()
    };
    let pw = Password::from("tempPass1");
    auth.create_account("op", "u1", "Name", "C", &pw)
        .await
        .unwrap();
    let r = auth.login_password("u1", &pw, Entry::Enroll).await.unwrap();
    let before = hook.calls.load(Ordering::SeqCst);
    assert!(before > 0, "the password step hashes through the hook");
    let t = r.outcome.ticket().unwrap().clone();
    let r = auth
        .enroll("u1", &t, token.credential_id.as_str(), &code(1), &code(0))
        .await
        .unwrap();
    assert!(
        matches!(r.outcome, Outcome::Enrolled { .. }),
        "{:?}",
        r.outcome
    );
    clock.advance(30);
    let t = r.outcome.ticket().unwrap().clone();
    let r = auth.submit_otp("u1", &t, &code(0)).await.unwrap();
    assert!(
        matches!(r.outcome, Outcome::PasswordChangeRequired { .. }),
        "{:?}",
        r.outcome
    );
    assert_eq!(
        hook.calls.load(Ordering::SeqCst),
        before,
        "no OTP step used the hook"
    );
}

/// The test hasher, slowed down to a real hash's time per verification.
struct Slow(InsecureTestHasher);

impl lockstep_password::PasswordHashing for Slow {
    fn hash_with_salt(
        &self,
        password: &Password,
        salt: &[u8],
    ) -> Result<lockstep_password::PasswordHash, lockstep_password::HashError> {
        self.0.hash_with_salt(password, salt)
    }
    fn verify(
        &self,
        password: &Password,
        hash: &lockstep_password::PasswordHash,
    ) -> Result<bool, lockstep_password::HashError> {
        std::thread::sleep(std::time::Duration::from_millis(1));
        self.0.verify(password, hash)
    }
    fn needs_rehash(&self, hash: &lockstep_password::PasswordHash) -> bool {
        self.0.needs_rehash(hash)
    }
}

/// A flood of password steps waits for its turn without holding threads:
/// with 2,000 in flight — far more than tokio's 512 blocking threads — and
/// one hash at a time, a request that does not hash still completes before
/// half the flood has drained. (When the waiting was done in
/// `block_in_place`, each waiter held a thread, and this request waited
/// for 1,458 of the 2,000.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_password_steps_does_not_starve_other_requests() {
    const FLOOD: usize = 2_000;
    let auth = Arc::new(
        Authenticator::builder(MemoryStore::new(), MemoryDirectory::new())
            .hasher(Arc::new(Slow(InsecureTestHasher::new())))
            .offload(Arc::new(TokioHashPool::new(1)))
            // All of the flood waits (none is turned away as busy), so that
            // the waiting is what is measured.
            .max_waiting_hashes(FLOOD)
            .build()
            .unwrap(),
    );
    let pw = Password::from("tempPass1");
    auth.create_account("op", "u1", "Name", "C", &pw)
        .await
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let (auth, done) = (Arc::clone(&auth), Arc::clone(&done));
        flood.push(tokio::spawn(async move {
            let _ = auth
                .login_password("nobody", &Password::from("Guess1234"), Entry::Login)
                .await;
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // An OTP-stage request (a stale ticket): no hashing.
    // It runs as a task, on the runtime's workers, as a server's would.
    let ticket = lockstep_account::LoginTicket::from_bytes([7; 16]);
    let (auth2, done2) = (Arc::clone(&auth), Arc::clone(&done));
    let (r, drained) = tokio::spawn(async move {
        let r = auth2.submit_otp("u1", &ticket, "123456").await.unwrap();
        (r, done2.load(Ordering::SeqCst))
    })
    .await
    .unwrap();
    assert!(r.outcome.refusal().is_some());
    eprintln!("the request waited for {drained} of {FLOOD} password steps");
    assert!(
        drained < FLOOD / 2,
        "the request waited for {drained} of {FLOOD} password steps"
    );
    for f in flood {
        f.await.unwrap();
    }
}

/// A hook that runs hashes here and detached work on a thread of its own,
/// recording both.
#[derive(Default)]
struct Detaching {
    detached: AtomicUsize,
    done: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Offload for Detaching {
    fn execute(&self, work: &mut (dyn FnMut() + Send)) {
        work();
    }
    fn detach(&self, work: Box<dyn FnOnce() + Send + 'static>) {
        self.detached.fetch_add(1, Ordering::SeqCst);
        let done = self.done.lock().unwrap().clone();
        std::thread::spawn(move || {
            work();
            if let Some(done) = done {
                let _ = done.send(());
            }
        });
    }
}

/// A store whose counting writes land and then never answer.
struct Stalling(MemoryStore);

impl lockstep_account::AccountStore for Stalling {
    async fn load(
        &self,
        user_id: &str,
    ) -> Result<Option<lockstep_account::Account>, lockstep_account::StoreError> {
        self.0.load(user_id).await
    }
    async fn write(
        &self,
        write: lockstep_account::Write,
    ) -> Result<(), lockstep_account::StoreError> {
        let counts = write.events.iter().any(|e| {
            matches!(
                e.kind,
                lockstep_account::EventKind::PasswordAttempt { .. }
                    | lockstep_account::EventKind::AttemptNoted
            )
        });
        self.0.write(write).await?;
        if counts {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn token_status(
        &self,
        id: &lockstep_account::CredentialId,
        user_id: &str,
    ) -> Result<lockstep_account::TokenStatus, lockstep_account::StoreError> {
        self.0.token_status(id, user_id).await
    }
}

/// The hash a cancelled step owes goes where every hash goes — the hook's
/// `detach`, off the async worker — not onto the worker that dropped it.
#[tokio::test]
async fn a_cancelled_steps_owed_hash_goes_to_the_hook() {
    let hook = Arc::new(Detaching::default());
    let (done, finished) = std::sync::mpsc::channel();
    *hook.done.lock().unwrap() = Some(done);
    let hasher: Arc<lockstep_store_tests::CountingHasher> = Arc::default();
    let auth = Authenticator::builder(Stalling(MemoryStore::new()), MemoryDirectory::new())
        .hasher(Arc::clone(&hasher) as Arc<dyn lockstep_password::PasswordHashing>)
        .offload(Arc::clone(&hook) as Arc<dyn Offload>)
        .build()
        .unwrap();
    let before = hasher.verifies.load(Ordering::SeqCst);
    let pw = Password::from("Guess1234");
    let step = auth.login_password("nobody", &pw, Entry::Login);
    let left = tokio::time::timeout(std::time::Duration::from_millis(20), step).await;
    assert!(left.is_err(), "the caller left after the count");
    finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the owed hash ran");
    assert_eq!(hook.detached.load(Ordering::SeqCst), 1, "through the hook");
    assert_eq!(hasher.verifies.load(Ordering::SeqCst) - before, 1);
}
