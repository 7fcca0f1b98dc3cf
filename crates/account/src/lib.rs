#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod authenticator;
mod builder;
mod clock;
mod config;
mod error;
mod event;
pub mod machine;
pub mod offload;
mod random;
mod record;
mod refusal;
mod request;
pub mod seal;
mod store;
mod token;

pub use authenticator::Authenticator;
pub use builder::AuthenticatorBuilder;
pub use clock::{Clock, SystemClock};
pub use config::{CodeAcceptance, Config, ConfigBuilder, ConfigError};
pub use error::Error;
pub use event::{AuditEvent, Entry, EventKind, Factor, Outcome, Session};
pub use machine::OperatorAction;
pub use random::{OsRandom, Random, RandomError};
pub use record::{
    Account, Failures, LoginTicket, MustChange, PasswordState, PendingTicket, SessionRecord,
    SessionToken, Stage, TokenBinding,
};
pub use refusal::Refusal;
pub use request::{CodeInput, Response};
pub use store::{
    AccountStore, BackendError, MemoryDirectory, MemoryStore, StoreError, TokenDirectory,
};
pub use token::{Provisioned, TokenKind, TokenSeed, TokenStatus, provision};

/// What a login needs from the OTP and password crates, so that a service
/// can name everything through this crate.
pub use lockstep_otp::{Code, CredentialId, TotpParams};
pub use lockstep_password::{Password, PasswordPolicy};

/// Helpers for test suites: a clock that moves only when told. The cheap
/// password hasher for tests is `lockstep_password::InsecureTestHasher`
/// (feature `insecure-test-hasher`, re-exported by the `lockstep` facade).
pub mod testing {
    pub use crate::clock::FakeClock;
}
