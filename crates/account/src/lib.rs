#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod admission;
mod authenticator;
mod builder;
mod clock;
mod config;
mod error;
mod event;
pub mod machine;
mod memory;
pub mod metrics;
pub mod offload;
mod random;
mod record;
mod refusal;
mod store;
mod token;
mod turns;
mod write;

pub use authenticator::Authenticator;
pub use builder::AuthenticatorBuilder;
pub use clock::{Clock, SystemClock};
pub use config::{CodeAcceptance, Config, ConfigBuilder, ConfigError};
pub use error::Error;
pub use event::{AuditEvent, Entry, EventKind, Factor, Outcome, UserSession};
pub use machine::{CodeInput, OperatorAction, Reply};
pub use memory::{MemoryDirectory, MemoryStore};
pub use random::{OsRandom, Random, RandomError};
pub use record::{
    Account, Failures, LoginTicket, MustChange, PasswordState, PendingTicket, SessionRecord,
    SessionToken, Stage, TokenBinding,
};
pub use refusal::Refusal;
pub use store::{
    AccountStore, Attempts, AuditLog, BackendError, ClientFailures, Cursor, Logged,
    MAX_EVENTS_PAGE, MAX_SUSPICIOUS_CLIENTS, MAX_SUSPICIOUS_SCAN, SprayFlag, StoreError,
    Suspicious, TokenDirectory,
};
pub use token::{Provisioned, TokenKind, TokenSeed, TokenStatus, provision};
pub use write::{AttemptNote, RecordWrite, TokenChange, Write};

/// What a login needs from the OTP and password crates, so that a service
/// can name everything through this crate.
pub use lockstep_otp::{Code, CredentialId, TotpParams};
pub use lockstep_password::{Password, PasswordHash, PasswordPolicy};

/// Helpers for test suites: a clock that moves only when told. The cheap
/// password hasher for tests is `lockstep_password::InsecureTestHasher`
/// (feature `insecure-test-hasher`, re-exported by the `lockstep` facade).
pub mod testing {
    pub use crate::clock::FakeClock;
}
