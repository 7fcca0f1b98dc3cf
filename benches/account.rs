//! A full login (password + OTP) through the `Authenticator` on the in-memory
//! store with the insecure test hasher, and the pure machine's own cost per
//! step (hashing replaced by a free stub, so only the machine is measured).
//!
//! Run: `cargo bench --bench account`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use lockstep_account::{
    Authenticator, Config, Env, FakeClock, Input, MemoryDirectory, MemoryStore, OsRandom, Outcome,
    TokenStatus, decide, provision,
};
use lockstep_otp::{Totp, TotpParams};
use lockstep_password::{
    HashError, InsecureTestHasher, Password, PasswordHash, PasswordHasher, PasswordPolicy,
};

const T: u64 = 1_750_000_000;

fn ticket(o: Outcome) -> lockstep_account::LoginTicket {
    match o {
        Outcome::OtpRequired { ticket, .. }
        | Outcome::EnrollmentRequired { ticket }
        | Outcome::Enrolled { ticket, .. }
        | Outcome::PasswordChangeRequired { ticket, .. } => ticket,
        other => panic!("{other:?}"),
    }
}

/// Hashing at no cost, to isolate the machine.
struct FreeHasher(PasswordHash);

impl PasswordHasher for FreeHasher {
    fn hash_with_salt(&self, _: &Password, _: &[u8]) -> Result<PasswordHash, HashError> {
        Ok(self.0.clone())
    }
    fn verify(&self, _: &Password, _: &PasswordHash) -> Result<bool, HashError> {
        Ok(true)
    }
    fn needs_rehash(&self, _: &PasswordHash) -> bool {
        false
    }
}

fn login(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let clock = FakeClock::at(T);
    // Each iteration moves the clock a step; keep the password valid
    // through the millions of iterations criterion may run.
    let config = Config::builder()
        .password_validity_days(365_000, 30)
        .build()
        .unwrap();
    let directory = Arc::new(MemoryDirectory::new());
    let auth = Authenticator::new(
        Arc::new(MemoryStore::new()),
        Arc::clone(&directory),
        InsecureTestHasher::new(),
        clock.clone(),
        OsRandom,
        config.clone(),
        PasswordPolicy::bank_default(),
    )
    .unwrap();
    let p = provision(&[5; 36], "Bank", TotpParams::DEFAULT).unwrap();
    directory.insert(p.credential_id, p.seed.clone()).unwrap();
    let totp = Totp::new(&p.seed.secret, p.seed.params);
    let pw = Password::from("tempPass1");
    let new = Password::from("Newpass1");
    let code = |clock: &FakeClock| {
        totp.generate(lockstep_account::Clock::now(clock))
            .unwrap()
            .expose()
            .to_string()
    };

    // Set up: account, enrollment, first login with the forced change.
    let account = rt.block_on(async {
        auth.create_account("op", "u1", "Name", "Customer", &pw)
            .await
            .unwrap();
        let t = ticket(auth.login_password("u1", &pw).await.unwrap().outcome);
        let step = totp.step_at(T).unwrap();
        let (a, b) = (
            totp.generate_at_step(step - 1).expose().to_string(),
            totp.generate_at_step(step).expose().to_string(),
        );
        let t = ticket(
            auth.enroll("u1", &t, p.credential_id.as_str(), &a, &b)
                .await
                .unwrap()
                .outcome,
        );
        clock.advance(30);
        let t = ticket(
            auth.submit_otp("u1", &t, &code(&clock))
                .await
                .unwrap()
                .outcome,
        );
        auth.change_password("u1", &t, &new, &new).await.unwrap();
        clock.advance(30);
        lockstep_account::AccountStore::load(auth.store(), "u1")
            .await
            .unwrap()
            .unwrap()
    });

    let mut g = c.benchmark_group("account");
    g.bench_function("full_login_memory_store_test_hasher", |b| {
        b.iter(|| {
            clock.advance(30); // a fresh code each time (replay guard)
            rt.block_on(async {
                let t = ticket(auth.login_password("u1", &new).await.unwrap().outcome);
                let r = auth.submit_otp("u1", &t, &code(&clock)).await.unwrap();
                // Once in ~500 000 steps the next step's code equals this
                // one's, the higher step is taken, and the next login's code
                // is then (correctly) a replay.
                assert!(
                    matches!(
                        r.outcome,
                        Outcome::LoggedIn(_)
                            | Outcome::Refused(lockstep_account::Refusal::InvalidCode)
                    ),
                    "{:?}",
                    r.outcome
                );
            });
        });
    });

    // The pure machine alone.
    let free = FreeHasher(PasswordHash::parse(&account.password.hash).unwrap());
    let policy = PasswordPolicy::bank_default();
    let now = lockstep_account::Clock::now(&clock);
    let env = |token| Env {
        config: &config,
        policy: &policy,
        hasher: &free,
        now,
        random: [9; 32],
        token,
        token_status: TokenStatus::BoundTo,
    };
    let e = env(None);
    g.bench_function("machine_password_step", |b| {
        b.iter(|| decide(black_box(&account), &Input::Password { password: &new }, &e).unwrap());
    });
    let d = decide(&account, &Input::Password { password: &new }, &e).unwrap();
    let with_ticket = d.account.unwrap();
    let t = ticket(d.outcome);
    let valid = totp.generate(now).unwrap().expose().to_string();
    let e = env(Some(&p.seed));
    g.bench_function("machine_otp_step", |b| {
        b.iter(|| {
            let d = decide(
                black_box(&with_ticket),
                &Input::Otp {
                    ticket: &t,
                    code: &valid,
                },
                &e,
            )
            .unwrap();
            assert!(matches!(d.outcome, Outcome::LoggedIn(_)), "{:?}", d.outcome);
        });
    });
    g.finish();
}

criterion_group!(benches, login);
criterion_main!(benches);
