//! The async driver: it carries out what the machine asks for — load, look
//! a token up, hash on the offload hook, write — and decides nothing.

use core::fmt;
use std::sync::Arc;

use lockstep_otp::TotpParams;
use lockstep_password::{Password, PasswordHash, PasswordHashing, PasswordPolicy};
use zeroize::Zeroizing;

use crate::admission::{Admission, Lanes};
use crate::builder::AuthenticatorBuilder;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::event::{AuditEvent, Entry, EventKind, Outcome, UserSession};
use crate::machine::{
    self, CodeInput, Deps, Detach, Facts, Input, Next, OperatorAction, OwedWork, Reply,
};
use crate::offload::{Inline, Offload, offloaded};
use crate::random::{OsRandom, Random};
use crate::record::{Account, LoginTicket, SessionToken};
use crate::store::{AccountStore, TokenDirectory};
use crate::token::{Provisioned, TokenStatus, provision};
use crate::write::Write;

/// Drives the machine against a store and a token directory.
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
    pub(crate) hasher: Arc<dyn PasswordHashing>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn Random>,
    pub(crate) config: Config,
    pub(crate) policy: PasswordPolicy,
    pub(crate) offload: Arc<dyn Offload>,
    /// Turns to hand work to a bounded hook ([`Offload::max_concurrent`]):
    /// the requests past the bound wait here as tasks, holding no thread.
    pub(crate) turns: Option<crate::turns::Turns>,
    /// How many hashing steps may be in flight; past it, `Busy`.
    pub(crate) admission: Arc<Admission>,
    /// One queue per user ID for the steps that count password attempts.
    pub(crate) lanes: Lanes,
    pub(crate) dummy: Arc<PasswordHash>,
}

/// Where the hash of a counted attempt goes when its caller left: to the
/// offload hook, holding an admission place until it is done.
impl<S, D> Detach for Authenticator<S, D>
where
    S: Sync,
    D: Sync,
{
    fn detach(&self, work: OwedWork) {
        let hold = self.admission.hold();
        let hasher = Arc::clone(&self.hasher);
        let dummy = Arc::clone(&self.dummy);
        let max = self.config.max_password_bytes();
        self.offload.detach(Box::new(move || {
            work.run(&*hasher, &dummy, max);
            drop(hold);
        }));
    }
}

impl<S, D> fmt::Debug for Authenticator<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .field("admission", &self.admission.bound())
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
            waiting_hashes: None,
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

    /// How many hashing steps may be in flight at once before a password
    /// step is answered [`crate::Refusal::Busy`].
    pub fn admission_bound(&self) -> usize {
        self.admission.bound()
    }

    /// Runs one step of the machine to its answer: the one executor behind
    /// every method below. An input that hashes ([`Input::hashes`]) is
    /// refused at once with [`crate::Refusal::Busy`] when the admission
    /// bound is reached.
    ///
    /// # Errors
    /// [`Error::Store`] when the store or the directory fails for good,
    /// [`Error::Contention`] after too many lost writes, [`Error::Hash`],
    /// [`Error::Random`].
    pub async fn step(&self, user_id: &str, input: Input<'_>) -> Result<Reply, Error> {
        self.step_from(None, user_id, input).await
    }

    /// [`Authenticator::step`] for a step that came from `client` (the web
    /// layer's idea of the remote address): every audit event the step
    /// writes carries it ([`crate::AuditEvent::client`]).
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn step_from(
        &self,
        client: Option<core::net::IpAddr>,
        user_id: &str,
        input: Input<'_>,
    ) -> Result<Reply, Error> {
        let admitted = input.hashes().then(|| self.admission.try_enter());
        if let Some(None) = admitted {
            crate::metrics::busy();
            return Ok(machine::busy(&input));
        }
        let _lane = match input.counts_attempts() {
            true => Some(self.lanes.enter(&machine::bounded(user_id)).await),
            false => None,
        };
        let mut next = machine::start(user_id, input, self.deps(), self.facts(client)?);
        loop {
            next = match next {
                Next::Load(n) => {
                    let record = self.load(n.user_id()).await?;
                    n.loaded(record)
                }
                Next::LookUp(n) => {
                    let id = n.token_id();
                    let seed = self.directory.seed(&id).await?;
                    let status = match n.wants_status() {
                        true => self.store.token_status(&id, n.user_id()).await?,
                        false => TokenStatus::Free,
                    };
                    n.found(seed, status)
                }
                Next::Hash(n) => {
                    let queued = crate::metrics::Queued::enter();
                    // First come, first served, whatever the step.
                    let _turn = match &self.turns {
                        Some(turns) => Some(turns.acquire().await),
                        None => None,
                    };
                    offloaded(&*self.offload, move || {
                        queued.started();
                        n.hash()
                    })
                    .resume()
                }
                Next::Write(n) => {
                    let (write, then) = n.take();
                    let writing = crate::metrics::Writing::of(&write.events);
                    let written = self.store.write(write).await;
                    writing.done(&written);
                    then.written(written)
                }
                Next::Done(reply) => return reply,
            };
        }
    }

    /// Creates an account with a temporary password (R-ACC-2, support desk),
    /// which must satisfy the password rules (R-OPS-2). A taken user ID is
    /// [`crate::Refusal::UserIdTaken`]; an empty one, one longer than
    /// [`machine::MAX_USER_ID_BYTES`] or with control characters is
    /// [`crate::Refusal::UserIdRejected`].
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn create_account(
        &self,
        operator_id: &str,
        user_id: &str,
        user_name: &str,
        customer_name: &str,
        temporary: &Password,
    ) -> Result<Reply, Error> {
        let input = Input::Create {
            operator_id,
            user_name,
            customer_name,
            temporary,
        };
        self.step(user_id, input).await
    }

    /// Login step 1: user ID, password and the entry button pressed
    /// (R-LOG-1, R-ENR-1, R-LOG-6).
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn login_password(
        &self,
        user_id: &str,
        password: &Password,
        entry: Entry,
    ) -> Result<Reply, Error> {
        self.step(user_id, Input::Password { password, entry })
            .await
    }

    /// Login step 2: one OTP (R-LOG-3), as text or a parsed code.
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn submit_otp<'c>(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        code: impl Into<CodeInput<'c>>,
    ) -> Result<Reply, Error> {
        let code = code.into();
        self.step(user_id, Input::Otp { ticket, code }).await
    }

    /// Enrollment: token ID and two consecutive codes (R-ENR-2, R-ENR-3).
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn enroll<'c>(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        credential_id: &str,
        otp1: impl Into<CodeInput<'c>>,
        otp2: impl Into<CodeInput<'c>>,
    ) -> Result<Reply, Error> {
        let input = Input::Enroll {
            ticket,
            credential_id,
            otp1: otp1.into(),
            otp2: otp2.into(),
        };
        self.step(user_id, input).await
    }

    /// Resync from the OTP stage (R-SYN-2).
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn resync<'c>(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        otp1: impl Into<CodeInput<'c>>,
        otp2: impl Into<CodeInput<'c>>,
    ) -> Result<Reply, Error> {
        let input = Input::Resync {
            ticket,
            otp1: otp1.into(),
            otp2: otp2.into(),
        };
        self.step(user_id, input).await
    }

    /// The forced password change (R-LOG-4).
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn change_password(
        &self,
        user_id: &str,
        ticket: &LoginTicket,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Reply, Error> {
        let input = Input::ChangePassword {
            ticket,
            new,
            confirmation,
        };
        self.step(user_id, input).await
    }

    /// A logged-in user's voluntary password change: the session of a
    /// completed login, the current password, and the new one twice.
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn change_password_logged_in(
        &self,
        user_id: &str,
        session: &SessionToken,
        current: &Password,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Reply, Error> {
        let input = Input::ChangePasswordLoggedIn {
            session,
            current,
            new,
            confirmation,
        };
        self.step(user_id, input).await
    }

    /// A support-desk action (R-OPS-1, R-OPS-2, R-OPS-3).
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn operator(
        &self,
        operator_id: &str,
        user_id: &str,
        action: OperatorAction<'_>,
    ) -> Result<Reply, Error> {
        let input = Input::Operator {
            operator_id,
            action,
        };
        self.step(user_id, input).await
    }

    /// The open session `token` of `user_id`, with what the initial screen
    /// shows (R-ACC-1): `None` when the token is not an open session of the
    /// account (never was, expired, logged out, or ended by a lock, a reset,
    /// a revoke or a password change). A web service calls it on every
    /// authenticated page, so that what ends sessions ends them at once.
    /// Reads only; the comparison is in constant time.
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn session(
        &self,
        user_id: &str,
        token: &SessionToken,
    ) -> Result<Option<UserSession>, Error> {
        let reply = self
            .step(user_id, Input::Session { session: token })
            .await?;
        Ok(match reply.outcome {
            Outcome::SessionOpen(session) => Some(session),
            _ => None,
        })
    }

    /// Ends one session (logout), recorded as [`EventKind::LoggedOut`] in the
    /// same write. `false` when `token` opens no session — unknown, expired
    /// or already ended — and nothing is written then.
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    pub async fn logout(&self, user_id: &str, token: &SessionToken) -> Result<bool, Error> {
        let reply = self.step(user_id, Input::Logout { session: token }).await?;
        Ok(matches!(reply.outcome, Outcome::LoggedOut))
    }

    /// Records that `client` was flagged for password spraying (the web
    /// layer's watch saw more than a person's share of distinct user IDs
    /// from it within `window_secs`): an audit event of its own
    /// ([`EventKind::SprayFlagged`]), so the desk's view of an attack and
    /// the audit chain both hold it.
    ///
    /// # Errors
    /// [`Error::Store`] when the event cannot be written.
    pub async fn flag_spray(
        &self,
        client: core::net::IpAddr,
        distinct_ids: u32,
        window_secs: u64,
    ) -> Result<(), Error> {
        let kind = EventKind::SprayFlagged {
            distinct_ids,
            window_secs,
        };
        self.record(String::new(), None, Some(client), kind).await
    }

    /// Writes one audit event that goes with no account step (a flag, a
    /// token issued), stamped by the driver's clock.
    async fn record(
        &self,
        user_id: String,
        operator_id: Option<String>,
        client: Option<core::net::IpAddr>,
        kind: EventKind,
    ) -> Result<(), Error> {
        let event = AuditEvent {
            at: self.clock.now(),
            user_id,
            operator_id,
            client,
            kind,
        };
        self.store.write(Write::events(vec![event])).await?;
        Ok(())
    }

    /// Issues a new token (provisioning, as VIP's service does for the
    /// bank): a credential ID and a 160-bit secret drawn from this driver's
    /// randomness, added to the directory, bound to nobody (the customer
    /// registers it with two codes, R-ENR), with a
    /// [`EventKind::TokenIssued`] audit event under `for_user` and
    /// `operator_id`. The [`Provisioned`] value holds the otpauth URI to
    /// hand to the customer's authenticator.
    ///
    /// The token is in the directory before its event is written: if the
    /// event cannot be written the token exists unaudited (and bound to
    /// nobody); the error says so, and issuing again makes another.
    ///
    /// # Errors
    /// [`Error::InvalidId`] for an operator or user ID that is empty or
    /// holds control characters (checked before anything is written);
    /// [`Error::Random`]; [`Error::Provision`] (cannot happen for a
    /// credential ID); [`Error::Store`] when the directory or the audit log
    /// cannot be written.
    pub async fn issue_token(
        &self,
        operator_id: &str,
        for_user: &str,
        issuer: &str,
        params: TotpParams,
    ) -> Result<Provisioned, Error> {
        let nameable = |id: &str| !id.is_empty() && !id.chars().any(char::is_control);
        if !nameable(operator_id) || !nameable(for_user) {
            return Err(Error::InvalidId);
        }
        let mut random = Zeroizing::new([0_u8; 36]);
        self.random.fill(&mut *random)?;
        let token = provision(&random, issuer, params)?;
        self.directory
            .insert(&token.credential_id, &token.seed, &*self.random)
            .await?;
        let kind = EventKind::TokenIssued {
            token_id: token.credential_id,
        };
        let (user, operator) = (machine::bounded(for_user), machine::bounded(operator_id));
        self.record(user, Some(operator), None, kind).await?;
        Ok(token)
    }

    fn deps(&self) -> Deps<'_> {
        Deps {
            config: &self.config,
            policy: &self.policy,
            hasher: &*self.hasher,
            dummy: &self.dummy,
            detach: Some(self as &dyn Detach),
        }
    }

    fn facts(&self, client: Option<core::net::IpAddr>) -> Result<Facts, Error> {
        let mut ticket_random = [0_u8; 16];
        let mut salt = [0_u8; 16];
        self.random.fill(&mut ticket_random)?;
        self.random.fill(&mut salt)?;
        Ok(Facts {
            now: self.clock.now(),
            ticket_random,
            salt,
            client,
        })
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
