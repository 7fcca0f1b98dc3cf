//! The async driver: load → decide → compare-and-swap, with a clock and an RNG.

use core::fmt;
use std::sync::Arc;

use lockstep_password::{Password, PasswordHash, PasswordHasher, PasswordPolicy};

use crate::builder::AuthenticatorBuilder;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::event::{AuditEvent, Entry, EventKind, Outcome, Refusal, Session};
use crate::machine::{self, Decision, Deps, Facts, Input, OperatorAction, PasswordCheck, Step};
use crate::offload::{Inline, Offload, offloaded};
use crate::random::{OsRandom, Random};
use crate::record::{Account, LoginTicket, SessionToken};
use crate::request::{CodeInput, Response};
use crate::store::{AccountStore, StoreError, TokenDirectory};
use crate::token::TokenStatus;

/// Drives the machine against a store: load, decide, compare-and-swap, and
/// on conflict load and decide again, up to the configured attempts.
///
/// Built in one line for the common case — Argon2id at OWASP's cost, the
/// system clock, the OS's randomness, the manual's settings and password
/// rules — and configured with [`Authenticator::builder`] for the rest:
///
/// ```
/// # use lockstep_account::{Authenticator, MemoryDirectory, MemoryStore};
/// let auth = Authenticator::new(MemoryStore::new(), MemoryDirectory::new())?;
/// # Ok::<(), lockstep_account::Error>(())
/// ```
pub struct Authenticator<S, D> {
    pub(crate) store: S,
    pub(crate) directory: D,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn Random>,
    pub(crate) config: Config,
    pub(crate) policy: PasswordPolicy,
    pub(crate) offload: Arc<dyn Offload>,
    /// Turns to hand work to a bounded hook ([`Offload::max_concurrent`]):
    /// the requests past the bound wait here as tasks, holding no thread.
    pub(crate) turns: Option<Arc<async_lock::Semaphore>>,
    pub(crate) dummy: PasswordHash,
}

impl<S, D> fmt::Debug for Authenticator<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .field("dummy", &self.dummy)
            .finish_non_exhaustive()
    }
}

impl<S: AccountStore, D: TokenDirectory> Authenticator<S, D> {
    /// A driver with every default (see [`AuthenticatorBuilder`]).
    ///
    /// # Errors
    /// As [`AuthenticatorBuilder::build`].
    pub fn new(store: S, directory: D) -> Result<Self, Error> {
        Self::builder(store, directory).build()
    }

    /// A builder over a store and a token directory.
    #[must_use]
    pub fn builder(store: S, directory: D) -> AuthenticatorBuilder<S, D> {
        AuthenticatorBuilder {
            store,
            directory,
            hasher: None,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            config: Config::default(),
            policy: PasswordPolicy::bank_default(),
            offload: Arc::new(Inline),
        }
    }

    /// The store.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// The token directory.
    pub const fn directory(&self) -> &D {
        &self.directory
    }

    /// The settings.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// Creates an account with a temporary password (R-ACC-2, support desk),
    /// which must satisfy the password rules (R-OPS-2).
    ///
    /// # Errors
    /// [`Error::Store`] ([`StoreError::AlreadyExists`] for a taken user ID),
    /// [`Error::Hash`], [`Error::Random`].
    pub async fn create_account(
        &self,
        operator_id: &str,
        user_id: &str,
        user_name: &str,
        customer_name: &str,
        temporary: &Password,
    ) -> Result<Response, Error> {
        let facts = self.facts()?;
        let context = lockstep_password::Context {
            user_name: Some(user_name),
            user_id: Some(user_id),
            ..lockstep_password::Context::default()
        };
        if let Err(violations) = self.policy.validate(temporary, &context) {
            let event = AuditEvent {
                at: facts.now,
                user_id: user_id.to_owned(),
                operator_id: Some(operator_id.to_owned()),
                kind: EventKind::PasswordChangeRejected {
                    codes: violations.codes().map(str::to_owned).collect(),
                },
            };
            let events = vec![event];
            self.store.append(&events).await?;
            return Ok(Response {
                outcome: Outcome::Refused(Refusal::PasswordRejected(violations)),
                events,
            });
        }
        let deps = self.deps();
        let (account, event) = self
            .offloaded(|| {
                machine::create_account(
                    user_id,
                    user_name,
                    customer_name,
                    temporary,
                    operator_id,
                    &deps,
                    &facts,
                )
            })
            .await?;
        let events = vec![event];
        self.store.create(&account, &events).await?;
        Ok(Response {
            outcome: Outcome::Done,
            events,
        })
    }

    /// Login step 1: user ID, password and the entry button pressed
    /// (R-LOG-1, R-ENR-1, R-LOG-6).
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn login_password(
        &self,
        user_id: &str,
        password: &Password,
        entry: Entry,
    ) -> Result<Response, Error> {
        self.run(user_id, Input::Password { password, entry }).await
    }

    /// Login step 2: one OTP (R-LOG-3), as text or a parsed code.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn submit_otp<'c>(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        code: impl Into<CodeInput<'c>>,
    ) -> Result<Response, Error> {
        let code = code.into().text();
        let input = Input::Otp {
            ticket,
            code: &code,
            token: None,
        };
        self.run(user_id, input).await
    }

    /// Enrollment: token ID and two consecutive codes (R-ENR-2, R-ENR-3).
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn enroll<'c>(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        credential_id: &str,
        otp1: impl Into<CodeInput<'c>>,
        otp2: impl Into<CodeInput<'c>>,
    ) -> Result<Response, Error> {
        let (otp1, otp2) = (otp1.into().text(), otp2.into().text());
        let input = Input::Enroll {
            ticket,
            credential_id,
            otp1: &otp1,
            otp2: &otp2,
            token: None,
        };
        self.run(user_id, input).await
    }

    /// Resync from the OTP stage (R-SYN-2).
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn resync<'c>(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        otp1: impl Into<CodeInput<'c>>,
        otp2: impl Into<CodeInput<'c>>,
    ) -> Result<Response, Error> {
        let (otp1, otp2) = (otp1.into().text(), otp2.into().text());
        let input = Input::Resync {
            ticket,
            otp1: &otp1,
            otp2: &otp2,
            token: None,
        };
        self.run(user_id, input).await
    }

    /// The forced password change (R-LOG-4).
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn change_password(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Response, Error> {
        let input = Input::ChangePassword {
            ticket,
            new,
            confirmation,
        };
        self.run(user_id, input).await
    }

    /// A logged-in user's voluntary password change: the session of a
    /// completed login, the current password, and the new one twice.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn change_password_logged_in(
        &self,
        user_id: &str,
        session: &SessionToken,
        current: &Password,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Response, Error> {
        let input = Input::ChangePasswordLoggedIn {
            session,
            current,
            new,
            confirmation,
        };
        self.run(user_id, input).await
    }

    /// A support-desk action (R-OPS-1, R-OPS-2, R-OPS-3).
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn operator(
        &self,
        operator_id: &str,
        user_id: &str,
        action: OperatorAction<'_>,
    ) -> Result<Response, Error> {
        let input = Input::Operator {
            operator_id,
            action,
        };
        self.run(user_id, input).await
    }

    /// The open session `token` of `user_id`, with what the initial screen
    /// shows (R-ACC-1): `None` when the token is not an open session of the
    /// account (never was, expired, logged out, or ended by a lock, a reset,
    /// a revoke or a password change). A web service calls it on every
    /// authenticated page, so that what ends sessions ends them at once.
    /// Reads only; the comparison is in constant time.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn session(
        &self,
        user_id: &str,
        token: &SessionToken,
    ) -> Result<Option<Session>, Error> {
        let Some(account) = self.load(user_id).await? else {
            return Ok(None);
        };
        Ok(machine::session(&account, token, self.clock.now()))
    }

    /// Ends one session (logout), recorded as [`EventKind::LoggedOut`] in the
    /// same write. `false` when `token` opens no session — unknown, expired
    /// or already ended — and nothing is written then.
    ///
    /// # Errors
    /// [`Error::Store`]; [`Error::Contention`] after too many conflicts.
    pub async fn logout(&self, user_id: &str, token: &SessionToken) -> Result<bool, Error> {
        for _ in 0..self.config.max_retries {
            let Some(account) = self.load(user_id).await? else {
                return Ok(false);
            };
            let Some((after, event)) = machine::logout(&account, token, self.clock.now()) else {
                return Ok(false);
            };
            if self
                .write(&after, account.version, core::slice::from_ref(&event))
                .await?
            {
                return Ok(true);
            }
        }
        Err(Error::Contention)
    }

    fn deps(&self) -> Deps<'_> {
        Deps {
            config: &self.config,
            policy: &self.policy,
            hasher: &*self.hasher,
            dummy: &self.dummy,
        }
    }

    fn facts(&self) -> Result<Facts, Error> {
        let mut ticket_random = [0_u8; 16];
        let mut salt = [0_u8; 16];
        self.random.fill(&mut ticket_random)?;
        self.random.fill(&mut salt)?;
        Ok(Facts {
            now: self.clock.now(),
            ticket_random,
            salt,
        })
    }

    /// Load → decide → compare-and-swap, deciding again on a conflict. The
    /// token an input needs is looked up only once its ticket has passed. An
    /// input with a password runs the count-first protocol: the reserved
    /// failure is written before the password is verified, the answer after;
    /// a conflict on the answer decides again on the new record without
    /// hashing again while the stored hash is the one verified; a rehash is
    /// its own write after that.
    async fn run(&self, user_id: &str, request: Input<'_>) -> Result<Response, Error> {
        let deps = self.deps();
        let mut attempts = 0_u32;
        let mut attempt = || {
            attempts = attempts.saturating_add(1);
            if attempts > self.config.max_retries {
                Err(Error::Contention)
            } else {
                Ok(())
            }
        };
        // Only inputs that hash a password go through the offload hook: an
        // OTP step never queues behind Argon2 work.
        let heavy = request.hashes();
        // A password step writes twice whatever the user ID: in place of a
        // known account's reservation, an unknown ID or a locked password
        // has its attempt noted (once, however often the loop runs), so
        // that the number of writes tells nothing (R-LOG-5).
        let password_step = matches!(request, Input::Password { .. });
        let mut noted = false;
        'load: loop {
            attempt()?;
            let facts = self.facts()?;
            let Some(account) = self.load(user_id).await? else {
                if password_step && !noted {
                    self.store
                        .note_attempt(&machine::bounded(user_id), facts.now)
                        .await?;
                }
                let d = self
                    .work(heavy, || {
                        machine::decide_unknown(user_id, &request, &deps, &facts)
                    })
                    .await;
                self.store.append(&d.events).await?;
                return Ok(Response::from(d));
            };
            let (seed, status) = match request.token_to_look_up(&account, facts.now) {
                Some(id) => (
                    self.directory.seed(&id).await?,
                    self.store.token_status(&id, &account.user_id).await?,
                ),
                None => (None, TokenStatus::Free),
            };
            let input = request.with_token(seed.as_ref(), status);
            let begun = self
                .work(heavy, || machine::begin(&account, &input, &deps, &facts))
                .await;
            let pending = match begun? {
                Step::Done(decision) => {
                    // A password step decided without a reservation met a
                    // locked password (the machine's gate, not a copy of it).
                    if password_step && !noted {
                        self.store.note_attempt(&account.user_id, facts.now).await?;
                        noted = true;
                    }
                    if !self.commit(&decision, account.version).await? {
                        continue 'load;
                    }
                    return Ok(Response::from(decision));
                }
                Step::Verify(pending) => pending,
            };
            // The reservation is no decision yet: its events come with the answer.
            if !self.write(&pending.reserved, account.version, &[]).await? {
                continue 'load;
            }
            let matched = self
                .work(heavy, || machine::check(&pending, &input, &deps))
                .await?;
            let mut current = pending.reserved.clone();
            current.version = account.version.saturating_add(1);
            loop {
                let decision = self
                    .work(heavy, || {
                        machine::finish(&current, &input, &pending, matched, &deps, &facts)
                    })
                    .await?;
                if !self.commit(&decision, current.version).await? {
                    attempt()?;
                    match self.load(user_id).await? {
                        Some(now) if now.password.hash == pending.hash => {
                            current = now;
                            continue;
                        }
                        // Changed or gone: a new attempt from the start.
                        _ => continue 'load,
                    }
                }
                let mut response = Response::from(decision);
                if machine::password_passed(matched, &response.outcome) {
                    self.rehash_after(user_id, &input, &pending, &facts, &mut response)
                        .await?;
                }
                return Ok(response);
            }
        }
    }

    /// Runs a step of the machine through the offload hook when it hashes
    /// (`heavy`), here otherwise.
    async fn work<T: Send>(&self, heavy: bool, f: impl FnOnce() -> T + Send) -> T {
        if heavy { self.offloaded(f).await } else { f() }
    }

    /// Runs `f` through the offload hook, after waiting (as a task) for a
    /// turn when the hook is bounded.
    async fn offloaded<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let _turn = match &self.turns {
            Some(turns) => Some(turns.acquire().await),
            None => None,
        };
        offloaded(&*self.offload, f)
    }

    /// The rehash after a successful password check: its own
    /// compare-and-swap, retried while the stored hash is still the old one.
    async fn rehash_after(
        &self,
        user_id: &str,
        input: &Input<'_>,
        pending: &PasswordCheck,
        facts: &Facts,
        response: &mut Response,
    ) -> Result<(), Error> {
        let (Input::Password { password, .. }
        | Input::ChangePasswordLoggedIn {
            current: password, ..
        }) = *input
        else {
            return Ok(());
        };
        let deps = self.deps();
        for _ in 0..self.config.max_retries {
            let Some(account) = self.load(user_id).await? else {
                return Ok(());
            };
            let rehashed = self
                .offloaded(|| machine::rehash(&account, pending, password, &deps, facts))
                .await;
            let Some((after, event)) = rehashed? else {
                return Ok(());
            };
            if self
                .write(&after, account.version, core::slice::from_ref(&event))
                .await?
            {
                response.events.push(event);
                return Ok(());
            }
        }
        // Not worth an error: the next login rehashes.
        Ok(())
    }

    /// Stores a decision: its record and events in one compare-and-swap,
    /// or, when no record changed, its events alone. `false`: decide again.
    async fn commit(&self, decision: &Decision, expected: u64) -> Result<bool, Error> {
        match &decision.account {
            Some(new) => self.write(new, expected, &decision.events).await,
            None => {
                self.store.append(&decision.events).await?;
                Ok(true)
            }
        }
    }

    /// Compare-and-swap; `false` when someone wrote first, bound the token
    /// first, or the backend failed transiently: decide again on what is
    /// stored now.
    async fn write(
        &self,
        account: &Account,
        expected: u64,
        events: &[AuditEvent],
    ) -> Result<bool, Error> {
        match self.store.replace(account, expected, events).await {
            Ok(()) => Ok(true),
            Err(StoreError::TokenTaken) => Ok(false),
            Err(e) if e.is_transient() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Loads a record, trying again after a transient backend failure.
    async fn load(&self, user_id: &str) -> Result<Option<Account>, Error> {
        let mut tries = 0_u32;
        loop {
            match self.store.load(user_id).await {
                Err(e) if e.is_transient() && tries < self.config.max_retries => {
                    tries = tries.saturating_add(1);
                }
                other => return Ok(other?),
            }
        }
    }
}
