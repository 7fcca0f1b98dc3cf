//! The async driver: load → decide → compare-and-swap, with a clock and an RNG.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lockstep_otp::CredentialId;
use lockstep_password::{HashError, Password, PasswordHash, PasswordHasher, PasswordPolicy};

use crate::config::Config;
use crate::event::{AuditEvent, Entry, EventKind, Outcome, Refusal};
use crate::machine::{self, Decision, Env, Input, OperatorAction, Step};
use crate::record::{Account, LoginTicket, SessionToken};
use crate::store::{AccountStore, StoreError, TokenDirectory};
use crate::token::{TokenSeed, TokenStatus};

/// Where the time comes from.
pub trait Clock: Send + Sync {
    /// Unix seconds now.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that moves only when told, for tests. Clones share the time.
#[derive(Clone, Debug, Default)]
pub struct FakeClock(Arc<AtomicU64>);

impl FakeClock {
    /// A clock at `unix` seconds.
    #[must_use]
    pub fn at(unix: u64) -> Self {
        Self(Arc::new(AtomicU64::new(unix)))
    }
    /// Moves the clock forward.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
    /// Sets the clock.
    pub fn set(&self, unix: u64) {
        self.0.store(unix, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where randomness comes from.
pub trait Random: Send + Sync {
    /// Fills `buf` with random bytes.
    ///
    /// # Errors
    /// [`AuthError::Rng`] when no randomness is available.
    fn fill(&self, buf: &mut [u8]) -> Result<(), AuthError>;
}

/// The operating system's RNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), AuthError> {
        getrandom::fill(buf).map_err(|_| AuthError::Rng)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}

impl<R: Random + ?Sized> Random for Arc<R> {
    fn fill(&self, buf: &mut [u8]) -> Result<(), AuthError> {
        (**self).fill(buf)
    }
}

/// Why the driver could not decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The store kept changing: compare-and-swap failed every attempt.
    #[error("too much contention on the account; try again")]
    Contention,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed (a malformed stored hash, …).
    #[error(transparent)]
    Hash(#[from] HashError),
    /// No randomness.
    #[error("the random number generator failed")]
    Rng,
}

/// The answer to one request: the outcome and its audit events.
#[derive(Debug)]
pub struct Response {
    /// For the caller.
    pub outcome: Outcome,
    /// For the audit log.
    pub events: Vec<AuditEvent>,
}

/// Drives the machine against a store: load, decide, compare-and-swap, and
/// on conflict load and decide again, up to the configured attempts.
#[derive(Debug)]
pub struct Authenticator<S, D, H, C, R> {
    store: S,
    directory: D,
    hasher: H,
    clock: C,
    random: R,
    config: Config,
    policy: PasswordPolicy,
    dummy: PasswordHash,
}

impl<S, D, H, C, R> Authenticator<S, D, H, C, R>
where
    S: AccountStore,
    D: TokenDirectory,
    H: PasswordHasher,
    C: Clock,
    R: Random,
{
    /// Assembles a driver. Hashes a random dummy password once, so that an
    /// unknown user ID costs one verification like a wrong password.
    ///
    /// # Errors
    /// [`AuthError::Rng`] or [`AuthError::Hash`] if the dummy hash fails.
    pub fn new(
        store: S,
        directory: D,
        hasher: H,
        clock: C,
        random: R,
        config: Config,
        policy: PasswordPolicy,
    ) -> Result<Self, AuthError> {
        let mut bytes = [0_u8; 32];
        random.fill(&mut bytes)?;
        let dummy_password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let (salt, _) = bytes.split_at(16);
        let dummy = hasher.hash_with_salt(&Password::new(dummy_password), salt)?;
        Ok(Self {
            store,
            directory,
            hasher,
            clock,
            random,
            config,
            policy,
            dummy,
        })
    }

    /// The password hasher.
    pub const fn hasher(&self) -> &H {
        &self.hasher
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Creates an account with a temporary password (R-ACC-2, support desk).
    ///
    /// # Errors
    /// [`AuthError::Store`] ([`StoreError::AlreadyExists`] for a taken user
    /// ID), [`AuthError::Hash`], [`AuthError::Rng`].
    pub async fn create_account(
        &self,
        operator_id: &str,
        user_id: &str,
        user_name: &str,
        customer_name: &str,
        temporary: &Password,
    ) -> Result<Response, AuthError> {
        let env = self.env(None, TokenStatus::Free)?;
        let context = lockstep_password::Context {
            user_name: Some(user_name),
            user_id: Some(user_id),
            ..lockstep_password::Context::default()
        };
        if let Err(violations) = self.policy.validate(temporary, &context) {
            let event = AuditEvent {
                at: env.now,
                user_id: user_id.to_owned(),
                operator_id: Some(operator_id.to_owned()),
                kind: EventKind::PasswordChangeRejected {
                    codes: violations.codes().map(str::to_owned).collect(),
                },
            };
            return Ok(Response {
                outcome: Outcome::Refused(Refusal::PasswordRejected(violations)),
                events: vec![event],
            });
        }
        let (account, event) = machine::create_account(
            user_id,
            user_name,
            customer_name,
            temporary,
            operator_id,
            &env,
        )?;
        self.store.create(&account).await?;
        Ok(Response {
            outcome: Outcome::Done,
            events: vec![event],
        })
    }

    /// Login step 1: user ID, password and the entry button pressed
    /// (R-LOG-1, R-ENR-1, R-LOG-6).
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn login_password(
        &self,
        user_id: &str,
        password: &Password,
        entry: Entry,
    ) -> Result<Response, AuthError> {
        self.run(user_id, Input::Password { password, entry }).await
    }

    /// Login step 2: one OTP (R-LOG-3).
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn submit_otp(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        code: &str,
    ) -> Result<Response, AuthError> {
        self.run(user_id, Input::Otp { ticket, code }).await
    }

    /// Enrollment: token ID and two consecutive codes (R-ENR-2, R-ENR-3).
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn enroll(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        credential_id: &str,
        otp1: &str,
        otp2: &str,
    ) -> Result<Response, AuthError> {
        self.run(
            user_id,
            Input::Enroll {
                ticket,
                credential_id,
                otp1,
                otp2,
            },
        )
        .await
    }

    /// Resync from the OTP stage (R-SYN-2).
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn resync(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        otp1: &str,
        otp2: &str,
    ) -> Result<Response, AuthError> {
        self.run(user_id, Input::Resync { ticket, otp1, otp2 })
            .await
    }

    /// The forced password change (R-LOG-4).
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn change_password(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Response, AuthError> {
        self.run(
            user_id,
            Input::ChangePassword {
                ticket,
                new,
                confirmation,
            },
        )
        .await
    }

    /// A logged-in user's voluntary password change: the session of a
    /// completed login, the current password, and the new one twice.
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn change_password_logged_in(
        &self,
        user_id: &str,
        session: &SessionToken,
        current: &Password,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Response, AuthError> {
        self.run(
            user_id,
            Input::ChangePasswordLoggedIn {
                session,
                current,
                new,
                confirmation,
            },
        )
        .await
    }

    /// A support-desk action (R-OPS-1, R-OPS-2, R-OPS-3).
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn operator(
        &self,
        operator_id: &str,
        user_id: &str,
        action: OperatorAction<'_>,
    ) -> Result<Response, AuthError> {
        self.run(
            user_id,
            Input::Operator {
                operator_id,
                action,
            },
        )
        .await
    }

    fn env<'a>(
        &'a self,
        token: Option<&'a TokenSeed>,
        token_status: TokenStatus,
    ) -> Result<Env<'a>, AuthError> {
        let mut ticket_random = [0_u8; 16];
        let mut salt = [0_u8; 16];
        self.random.fill(&mut ticket_random)?;
        self.random.fill(&mut salt)?;
        Ok(Env {
            config: &self.config,
            policy: &self.policy,
            hasher: &self.hasher,
            dummy: &self.dummy,
            now: self.clock.now(),
            ticket_random,
            salt,
            token,
            token_status,
        })
    }

    /// The token concerned by `input` and what the store knows of it, looked
    /// up only once the input's ticket has passed: a bad ticket costs the
    /// same for every account.
    async fn token_facts(
        &self,
        account: &Account,
        input: &Input<'_>,
        now: u64,
    ) -> Result<(Option<TokenSeed>, TokenStatus), AuthError> {
        if !machine::ticket_opens(account, input, now) {
            return Ok((None, TokenStatus::Free));
        }
        let id = match input {
            Input::Enroll { credential_id, .. } => CredentialId::parse(credential_id).ok(),
            Input::Otp { .. } | Input::Resync { .. } => {
                account.token.as_ref().map(|t| t.credential_id)
            }
            _ => None,
        };
        let Some(id) = id else {
            return Ok((None, TokenStatus::Free));
        };
        let seed = self.directory.seed(&id).await?;
        let status = self.store.token_status(&id, &account.user_id).await?;
        Ok((seed, status))
    }

    /// Load → decide → compare-and-swap, deciding again on a conflict. An
    /// input with a password runs the count-first protocol: the reserved
    /// failure is written before the password is verified, the answer after;
    /// a conflict on the answer decides again on the new record without
    /// hashing again while the stored hash is the one verified; a rehash is
    /// its own write after that.
    async fn run(&self, user_id: &str, input: Input<'_>) -> Result<Response, AuthError> {
        let mut attempts = 0_u32;
        let mut attempt = || {
            attempts = attempts.saturating_add(1);
            if attempts > self.config.max_retries {
                Err(AuthError::Contention)
            } else {
                Ok(())
            }
        };
        'load: loop {
            attempt()?;
            let Some(account) = self.store.load(user_id).await? else {
                let env = self.env(None, TokenStatus::Free)?;
                let d = machine::decide_unknown(user_id, &input, &env);
                return Ok(Response::from(d));
            };
            let (seed, status) = self.token_facts(&account, &input, self.clock.now()).await?;
            let env = self.env(seed.as_ref(), status)?;
            let pending = match machine::begin(&account, &input, &env)? {
                Step::Done(decision) => {
                    if let Some(new) = &decision.account
                        && !self.write(new, account.version).await?
                    {
                        continue 'load;
                    }
                    return Ok(Response::from(decision));
                }
                Step::Verify(pending) => pending,
            };
            if !self.write(&pending.reserved, account.version).await? {
                continue 'load;
            }
            let matched = machine::check(&pending, &input, &env)?;
            let mut current = pending.reserved.clone();
            current.version = account.version.saturating_add(1);
            loop {
                let decision = machine::finish(&current, &input, &pending, matched, &env)?;
                if let Some(new) = &decision.account
                    && !self.write(new, current.version).await?
                {
                    attempt()?;
                    match self.store.load(user_id).await? {
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
                    self.rehash_after(user_id, &input, &pending, &env, &mut response)
                        .await?;
                }
                return Ok(response);
            }
        }
    }

    /// The rehash after a successful password step: its own
    /// compare-and-swap, retried while the stored hash is still the old one.
    async fn rehash_after(
        &self,
        user_id: &str,
        input: &Input<'_>,
        pending: &machine::PasswordCheck,
        env: &Env<'_>,
        response: &mut Response,
    ) -> Result<(), AuthError> {
        let (Input::Password { password, .. }
        | Input::ChangePasswordLoggedIn {
            current: password, ..
        }) = *input
        else {
            return Ok(());
        };
        for _ in 0..self.config.max_retries {
            let Some(account) = self.store.load(user_id).await? else {
                return Ok(());
            };
            let Some((after, event)) = machine::rehash(&account, pending, password, env)? else {
                return Ok(());
            };
            if self.write(&after, account.version).await? {
                response.events.push(event);
                return Ok(());
            }
        }
        // Not worth an error: the next login rehashes.
        Ok(())
    }

    /// Compare-and-swap; `false` when someone wrote first (or bound the
    /// token first): decide again on what is stored now.
    async fn write(&self, account: &Account, expected: u64) -> Result<bool, AuthError> {
        match self.store.replace(account, expected).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict | StoreError::TokenTaken) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

impl From<Decision> for Response {
    fn from(d: Decision) -> Self {
        Self {
            outcome: d.outcome,
            events: d.events,
        }
    }
}

impl Response {
    /// The refusal, if the outcome is one.
    #[must_use]
    pub const fn refusal(&self) -> Option<&Refusal> {
        self.outcome.refusal()
    }
}
