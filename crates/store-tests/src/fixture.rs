//! The shared fixture of the account tests and the conformance suite: an
//! authenticator over a store with helpers for each step of the manual.
#![allow(missing_docs)]

use std::sync::Arc;

use lockstep_account::machine::{self, Decision, Deps, Facts, Input};
use lockstep_account::testing::FakeClock;
use lockstep_account::{
    Account, AccountStore, Authenticator, Clock, Config, Entry, Error, LoginTicket,
    MemoryDirectory, MemoryStore, OperatorAction, Outcome, Reply, TokenDirectory, TokenStatus,
    UserSession, Write, provision,
};
use lockstep_otp::{CredentialId, Totp, TotpParams};
use lockstep_password::{
    Argon2Params, InsecureTestHasher, Password, PasswordHashing, PasswordPolicy,
};

use crate::CountingHasher;
use crate::expect_ticket as ticket;

/// 2025-06-15 12:00:00 UTC (21:00 JST).
pub const T: u64 = 1_749_988_800;
pub const TEMP: &str = "tempPass1";

/// A store, a directory, a counting test hasher and a fake clock at [`T`],
/// driven by an [`Authenticator`], with the steps of the manual as methods.
pub struct Fx<S = MemoryStore> {
    /// The driver.
    pub auth: Authenticator<Arc<S>, Arc<MemoryDirectory>>,
    /// The store under test.
    pub store: Arc<S>,
    /// The token directory.
    pub directory: Arc<MemoryDirectory>,
    /// The hasher, counting its work.
    pub hasher: Arc<CountingHasher>,
    /// The clock.
    pub clock: FakeClock,
}

impl Fx<MemoryStore> {
    /// Over a fresh in-memory store, with the manual's settings.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// Over a fresh in-memory store, with `config`.
    pub fn with_config(config: Config) -> Self {
        Self::over(Arc::new(MemoryStore::new()), config)
    }
}

impl<S> std::fmt::Debug for Fx<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fx")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Default for Fx<MemoryStore> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: AccountStore + 'static> Fx<S> {
    /// Over `store`, with `config`.
    pub fn over(store: Arc<S>, config: Config) -> Self {
        let directory = Arc::new(MemoryDirectory::new());
        let hasher = Arc::new(CountingHasher::default());
        let clock = FakeClock::at(T);
        let auth = Authenticator::builder(Arc::clone(&store), Arc::clone(&directory))
            .hasher(Arc::clone(&hasher) as Arc<dyn PasswordHashing>)
            .clock(Arc::new(clock.clone()))
            .config(config)
            // The races send 64 password steps at once: none is turned
            // away as busy here (admission has tests of its own).
            .max_waiting_hashes(4096)
            .build()
            .unwrap();
        Self {
            auth,
            store,
            directory,
            hasher,
            clock,
        }
    }

    /// Another driver over the same store, directory, hasher and clock,
    /// with other settings (a service restarted with a new configuration).
    pub fn sibling(&self, config: Config) -> Authenticator<Arc<S>, Arc<MemoryDirectory>> {
        Authenticator::builder(Arc::clone(&self.store), Arc::clone(&self.directory))
            .hasher(Arc::clone(&self.hasher) as Arc<dyn PasswordHashing>)
            .clock(Arc::new(self.clock.clone()))
            .config(config)
            .build()
            .unwrap()
    }

    /// The pure machine on `record` at the fixture's time and settings,
    /// for what the driver never lets through (a locked record with a live
    /// ticket, say); tokens are looked up in the fixture's directory as
    /// free.
    ///
    /// # Errors
    /// As [`machine::decide`].
    pub fn decide(&self, record: &Account, input: Input<'_>) -> Result<Decision, Error> {
        let dummy = self
            .hasher
            .hash_with_salt(&Password::from("dummy-pass1"), b"dummysalt")?;
        let policy = PasswordPolicy::bank_default();
        let deps = Deps {
            config: self.auth.config(),
            policy: &policy,
            hasher: &*self.hasher,
            dummy: &dummy,
            detach: None,
        };
        let facts = Facts {
            now: self.now(),
            ticket_random: [5; 16],
            salt: [6; 16],
            client: None,
        };
        let tokens = |id: &CredentialId| {
            let seed = self.directory.get(id);
            (seed, TokenStatus::Free)
        };
        machine::decide(Some(record), &record.user_id, input, deps, facts, &tokens)
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// A token in the directory; `n` makes it distinct.
    pub fn token(&self, n: u8) -> (CredentialId, Totp) {
        let p = provision(&[n; 36], "Bank", TotpParams::DEFAULT).unwrap();
        self.directory.put(p.credential_id, p.seed.clone()).unwrap();
        (
            p.credential_id,
            Totp::new(&p.seed.secret, TotpParams::DEFAULT),
        )
    }

    /// The seed the directory holds for `id`.
    pub async fn seed(&self, id: CredentialId) -> lockstep_account::TokenSeed {
        self.directory.seed(&id).await.unwrap().unwrap()
    }

    /// The stored record.
    pub async fn load(&self, user: &str) -> lockstep_account::Account {
        self.store.load(user).await.unwrap().unwrap()
    }

    pub async fn create(&self, user: &str) {
        let r = self
            .auth
            .create_account(
                "op-1",
                user,
                &format!("{user}-name"),
                "Yamada Trading",
                &Password::from(TEMP),
            )
            .await
            .unwrap();
        assert_eq!(r.outcome, Outcome::Done, "{r:?}");
    }

    /// The password step with the entry button a user who knows their
    /// state would press: first use while no token is bound, else login.
    pub async fn password(&self, user: &str, pw: &str) -> Reply {
        let entry = match self.store.load(user).await.unwrap() {
            Some(a) if a.token.is_none() => Entry::Enroll,
            _ => Entry::Login,
        };
        self.password_with(user, pw, entry).await
    }

    /// The password step with a given entry button.
    pub async fn password_with(&self, user: &str, pw: &str, entry: Entry) -> Reply {
        self.auth
            .login_password(user, &Password::from(pw), entry)
            .await
            .unwrap()
    }

    /// Code of the token at the step `offset` steps from now.
    pub fn code(&self, totp: &Totp, offset: i64) -> String {
        let step = totp.step_at(self.now()).unwrap();
        totp.generate_at_step(step.checked_add_signed(offset).unwrap())
            .expose()
            .to_string()
    }

    /// Step 1 of a login that is expected to succeed: its ticket.
    pub async fn login(&self, user: &str, pw: &str) -> LoginTicket {
        ticket(self.password(user, pw).await.outcome)
    }

    /// Step 2 with the token's code `offset` steps from now.
    pub async fn otp(&self, user: &str, t: &LoginTicket, totp: &Totp, offset: i64) -> Reply {
        self.auth
            .submit_otp(user, t, &self.code(totp, offset))
            .await
            .unwrap()
    }

    /// Enrollment with the token's codes `a` and `b` steps from now.
    pub async fn enroll(
        &self,
        user: &str,
        t: &LoginTicket,
        id: CredentialId,
        totp: &Totp,
        a: i64,
        b: i64,
    ) -> Reply {
        self.auth
            .enroll(
                user,
                t,
                id.as_str(),
                &self.code(totp, a),
                &self.code(totp, b),
            )
            .await
            .unwrap()
    }

    /// Resync with the token's codes `a` and `b` steps from now.
    pub async fn resync(&self, user: &str, t: &LoginTicket, totp: &Totp, a: i64, b: i64) -> Reply {
        self.auth
            .resync(user, t, &self.code(totp, a), &self.code(totp, b))
            .await
            .unwrap()
    }

    /// Moves the clock to `seconds` into the current 30-second step.
    pub fn seconds_into_step(&self, seconds: u64) {
        let now = self.now();
        self.clock.set(now - now % 30 + seconds);
    }

    /// Stores, as `user`'s password hash, one of `password` made by an
    /// older deployment of the test hasher's kind (m = 16 KiB: another cost
    /// within the range it accepts), as a store might still hold it. Returns
    /// the planted PHC string.
    pub async fn plant_older_hash(&self, user: &str, password: &str) -> String {
        let older = InsecureTestHasher::with_params(Argon2Params {
            memory_kib: 16,
            iterations: 1,
            parallelism: 1,
        });
        let hash = older
            .hash(&Password::from(password))
            .unwrap()
            .as_str()
            .to_owned();
        let mut a = self.load(user).await;
        a.password.hash = lockstep_password::PasswordHash::parse(&hash).unwrap();
        let version = a.version;
        self.store
            .write(Write::replace(a, version, Vec::new()))
            .await
            .unwrap();
        hash
    }

    /// A support-desk action by `op`.
    pub async fn desk(&self, user: &str, action: OperatorAction<'_>) -> Reply {
        self.auth.operator("op", user, action).await.unwrap()
    }

    /// The desk resets `user`'s password to `temporary`.
    pub async fn reset(&self, user: &str, temporary: &str) -> Reply {
        let temporary = Password::from(temporary);
        self.desk(
            user,
            OperatorAction::ResetPassword {
                temporary: &temporary,
            },
        )
        .await
    }

    /// `n` wrong codes with ticket `t` (ten lock the token).
    pub async fn wrong_codes(&self, user: &str, t: &LoginTicket, totp: &Totp, n: usize) {
        let bad = self.wrong_code(totp);
        for _ in 0..n {
            self.auth.submit_otp(user, t, bad).await.unwrap();
        }
    }

    /// Whether submitting `code` with ticket `t` logs `user` in.
    pub async fn logs_in(&self, user: &str, t: &LoginTicket, code: &str) -> bool {
        self.auth
            .submit_otp(user, t, code)
            .await
            .unwrap()
            .outcome
            .is_logged_in()
    }

    /// Six digits that are the token's code at no step near now.
    pub fn wrong_code(&self, totp: &Totp) -> &'static str {
        let near: Vec<String> = (-3..=3).map(|o| self.code(totp, o)).collect();
        ["000000", "111111", "222222"]
            .into_iter()
            .find(|c| !near.iter().any(|n| n == c))
            .unwrap()
    }

    /// Creates `user`, logs in with the temporary password, enrolls token
    /// `n` with the codes of the previous and current steps, and moves the
    /// clock one step on. Returns the token.
    pub async fn enrolled(&self, user: &str, n: u8) -> (CredentialId, Totp) {
        self.create(user).await;
        let ticket = self.login(user, TEMP).await;
        let (id, totp) = self.token(n);
        let r = self
            .auth
            .enroll(
                user,
                &ticket,
                id.as_str(),
                &self.code(&totp, -1),
                &self.code(&totp, 0),
            )
            .await
            .unwrap();
        assert!(
            matches!(r.outcome, Outcome::Enrolled { .. }),
            "{:?}",
            r.outcome
        );
        self.clock.advance(30);
        (id, totp)
    }

    /// `enrolled`, then the first login with its forced change to `new`.
    pub async fn ready(&self, user: &str, n: u8, new: &str) -> (CredentialId, Totp) {
        let (id, totp) = self.enrolled(user, n).await;
        let t = self.login(user, TEMP).await;
        let t = ticket(self.otp(user, &t, &totp, 0).await.outcome);
        let r = self
            .auth
            .change_password(user, &t, &Password::from(new), &Password::from(new))
            .await
            .unwrap();
        assert!(matches!(r.outcome, Outcome::LoggedIn(_)), "{:?}", r.outcome);
        self.clock.advance(30);
        (id, totp)
    }

    /// A whole daily login (password, then the current code): its session.
    pub async fn session(&self, user: &str, pw: &str, totp: &Totp) -> UserSession {
        let t = self.login(user, pw).await;
        match self.otp(user, &t, totp, 0).await.outcome {
            Outcome::LoggedIn(session) => session,
            other => panic!("expected a login, got {other:?}"),
        }
    }
}
