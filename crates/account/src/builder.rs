//! Building an [`Authenticator`] with defaults for everything but the store
//! and the directory.

use core::fmt;
use std::sync::Arc;

use lockstep_password::{Argon2idHasher, Password, PasswordHashing, PasswordPolicy};

use crate::admission::{Admission, Lanes};

use crate::authenticator::Authenticator;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::offload::Offload;
use crate::random::Random;
use crate::store::{AccountStore, TokenDirectory};

/// Configures an [`Authenticator`]; every setting has the default named on
/// its method.
pub struct AuthenticatorBuilder<S, D> {
    pub(crate) store: S,
    pub(crate) directory: D,
    pub(crate) hasher: Option<Arc<dyn PasswordHashing>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn Random>,
    pub(crate) config: Config,
    pub(crate) policy: PasswordPolicy,
    pub(crate) offload: Arc<dyn Offload>,
    pub(crate) waiting_hashes: Option<usize>,
}

impl<S, D> fmt::Debug for AuthenticatorBuilder<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: AccountStore, D: TokenDirectory> AuthenticatorBuilder<S, D> {
    /// The password hasher. Default: [`Argon2idHasher`] at OWASP's cost.
    #[must_use]
    pub fn hasher(mut self, hasher: Arc<dyn PasswordHashing>) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// The clock. Default: [`crate::SystemClock`].
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The randomness. Default: [`crate::OsRandom`].
    #[must_use]
    pub fn random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// Where password hashing runs. Default: [`crate::offload::Inline`];
    /// with tokio, [`crate::offload::TokioBlockInPlace`] (feature `tokio`)
    /// keeps a worker's other requests moving while it hashes.
    #[must_use]
    pub fn offload(mut self, offload: Arc<dyn Offload>) -> Self {
        self.offload = offload;
        self
    }

    /// How many hashing steps (password steps, changes, desk resets and
    /// creations) may wait for the offload hook beyond the ones it runs at
    /// once; past that, a hashing step is answered
    /// [`crate::Refusal::Busy`] at once, nothing loaded or written, the
    /// same for every user ID. Default: four times the hook's bound
    /// ([`Offload::max_concurrent`]), or four times the machine's cores for
    /// a hook without one. A waiting step holds a few kilobytes, never a
    /// thread; what the bound limits is how long an admitted step can wait:
    /// about this many hashes.
    #[must_use]
    pub fn max_waiting_hashes(mut self, waiting: usize) -> Self {
        self.waiting_hashes = Some(waiting);
        self
    }

    /// The settings. Default: [`Config::default`], the manual's.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The password rules. Default: [`PasswordPolicy::bank_default`].
    #[must_use]
    pub fn policy(mut self, policy: PasswordPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds the driver. Hashes a random dummy password once, so that an
    /// unknown or locked user ID costs one verification like a wrong password.
    ///
    /// # Errors
    /// [`Error::Random`] or [`Error::Hash`] if the dummy hash cannot be made.
    pub fn build(self) -> Result<Authenticator<S, D>, Error> {
        let hasher = self
            .hasher
            .unwrap_or_else(|| Arc::new(Argon2idHasher::default()));
        let mut bytes = [0_u8; 32];
        self.random.fill(&mut bytes)?;
        let (password, salt) = bytes.split_at(16);
        let dummy = hasher.hash_with_salt(
            &Password::new(data_encoding::HEXLOWER.encode(password)),
            salt,
        )?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let running = self.offload.max_concurrent().unwrap_or(cores).max(1);
        let waiting = self
            .waiting_hashes
            .unwrap_or_else(|| running.saturating_mul(4));
        Ok(Authenticator {
            admission: Arc::new(Admission::new(running.saturating_add(waiting))),
            lanes: Lanes::default(),
            store: self.store,
            directory: self.directory,
            hasher,
            clock: self.clock,
            random: self.random,
            config: self.config,
            policy: self.policy,
            turns: self.offload.max_concurrent().map(crate::turns::Turns::new),
            offload: self.offload,
            dummy: Arc::new(dummy),
        })
    }
}
