#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
mod driver;
mod event;
pub mod machine;
mod record;
mod store;
mod token;

pub use config::{CodeAcceptance, Config, ConfigBuilder, ConfigError};
pub use driver::{
    AuthError, Authenticator, Clock, FakeClock, OsRandom, Random, Response, SystemClock,
};
pub use event::{AuditEvent, Entry, EventKind, Factor, Outcome, Refusal, Session};
pub use machine::{Decision, Env, Input, OperatorAction, create_account, decide, decide_unknown};
pub use record::{
    Account, Failures, LoginTicket, MustChange, PasswordState, PendingTicket, SessionRecord,
    SessionToken, Stage, TokenBinding,
};
pub use store::{
    AccountStore, MemoryDirectory, MemoryStore, Provisioned, StoreError, TokenDirectory, provision,
};
pub use token::{TokenKind, TokenSeed, TokenStatus};
