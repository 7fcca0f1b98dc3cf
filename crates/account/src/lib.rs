#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod config;
mod driver;
mod event;
mod machine;
mod record;
mod store;

pub use config::{Config, ConfigBuilder, ConfigError};
pub use driver::{
    AuthError, Authenticator, Clock, FakeClock, OsRandom, Random, Response, SystemClock,
};
pub use event::{AuditEvent, EventKind, Factor, Outcome, Refusal, Session};
pub use machine::{
    Decision, Env, Input, OperatorAction, TokenSeed, TokenStatus, create_account, decide,
    decide_unknown,
};
pub use record::{
    Account, LoginTicket, MustChange, OtpState, PasswordState, PendingTicket, Stage, TokenBinding,
};
pub use store::{
    AccountStore, MemoryDirectory, MemoryStore, Provisioned, StoreError, TokenDirectory, provision,
};
