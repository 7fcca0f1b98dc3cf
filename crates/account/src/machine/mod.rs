//! The sans-IO state machine. Every decision of a login is made here; a
//! driver (the [`crate::Authenticator`], or your own) only carries out
//! what the machine asks for next, and hands back the result.
//!
//! No I/O, no clock, no RNG: the fixed dependencies (settings, password
//! rules, hasher) arrive in [`Deps`], the facts of one call (time, fresh
//! randomness) in [`Facts`].
//!
//! A step starts with [`start`] and returns a [`Next`]: one of four things
//! to do, each a continuation that is consumed by value and resumed with
//! exactly what it asked for, until the answer.
//!
//! ```text
//!             start(user_id, input, deps, facts)
//!                          │
//!      ┌───────────────────┼────────────────────┬───────────────────┐
//!      ▼                   ▼                    ▼                   ▼
//!  Next::Load          Next::LookUp         Next::Hash          Next::Write
//!  AwaitRecord         AwaitToken           AwaitHash           AwaitWrite
//!  .loaded(record)     .found(seed,status)  .hash()  (on the    .take() → (Write, AwaitWritten)
//!                                             offload   hook)   .written(store's result)
//!                                           HashDone.resume()
//!      └───────────────────┴────────┬───────────┴───────────────────┘
//!                                   ▼
//!                     the next Next … or Next::Done(reply)
//! ```
//!
//! The password step, whatever the user ID — unknown, wrong, locked or
//! right, with a current or an older-cost hash — takes the same path:
//!
//! ```text
//!  Load ─► Write (the count: a reservation, or an attempt note, with its event)
//!       ─► Hash  (one turn: the stored hash, or the dummy)
//!       ─► Write (the answer, with its events) ─► Done
//! ```
//!
//! - A reservation that loses its compare-and-swap starts over from the
//!   load, nothing counted. An answer that loses its write is decided again
//!   on the new record without hashing again, while the stored hash is the
//!   one verified. A rehash (the password was right and its stored hash is
//!   due for one) is made in the same turn and written after the answer,
//!   as its own write.
//! - A counted attempt owes its hash: dropping the continuation of a
//!   counting write, or of the hash that follows it, runs the hash where
//!   it is dropped. A caller that goes away costs what one that stays does.
//! - Skipping a phase, or feeding one phase's result to another, does not
//!   compile: each continuation has its own type and its own resume method.
//!
//! [`decide`] runs a step on one record with no store, for tests, models
//! and fuzzing.

mod change;
mod desk;
mod draft;
mod flow;
mod hash;
mod input;
mod local;
mod otp;
mod password;
mod session;
mod steps;

use core::fmt;

use lockstep_otp::CredentialId;

pub use flow::start;
pub use input::{CodeInput, Deps, Detach, Facts, Input, OperatorAction, OwedWork};
pub use local::{Decision, decide};

use draft::Draft;
use flow::{AfterHash, AfterWrite, Ctx, OnLoad};
use hash::{Job, Owed};

use crate::error::Error;
use crate::event::{AuditEvent, Outcome};
use crate::record::{Account, LoginTicket, Stage};
use crate::store::StoreError;
use crate::token::{TokenSeed, TokenStatus};
use crate::write::Write;

/// The answer to one step: the outcome and every audit event the step
/// wrote, in order.
#[derive(Debug)]
pub struct Reply {
    /// For the caller.
    pub outcome: Outcome,
    /// What the audit log holds of this step.
    pub events: Vec<AuditEvent>,
}

impl Reply {
    /// The refusal, if the outcome is one.
    #[must_use]
    pub const fn refusal(&self) -> Option<&crate::Refusal> {
        self.outcome.refusal()
    }
}

/// The answer to a hashing input refused at admission: the driver holds
/// too many hashing steps already. The same for every user ID; nothing is
/// loaded, written or counted, so a ticket or session the input presented
/// still opens its stage (the user tries again on the same page).
#[must_use]
pub fn busy(input: &Input<'_>) -> Reply {
    Reply {
        outcome: Outcome::Refused {
            refusal: crate::Refusal::Busy,
            token_id: None,
            stage_open: input.presents_stage(),
        },
        events: Vec::new(),
    }
}

/// What the machine needs next.
#[must_use = "a step is carried out by resuming its continuation"]
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a step moves its continuation four or five times; boxing would allocate at \
              every phase to save copying about a kilobyte"
)]
pub enum Next<'a> {
    /// Load the record of a user ID.
    Load(AwaitRecord<'a>),
    /// Look a token ID up: its seed in the directory and its status in the
    /// store.
    LookUp(AwaitToken<'a>),
    /// Hash: the one heavy part of a step, for the offload hook.
    Hash(AwaitHash<'a>),
    /// Write one [`Write`], atomically.
    Write(AwaitWrite<'a>),
    /// The step is over.
    Done(Result<Reply, Error>),
}

/// Waits for a record: resume with [`AwaitRecord::loaded`].
pub struct AwaitRecord<'a> {
    ctx: Ctx<'a>,
    on: OnLoad,
}

impl<'a> AwaitRecord<'a> {
    /// The user ID whose record to load: as typed, or, for one longer
    /// than any account's, a key no account can have.
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.ctx.key
    }

    /// Resumes with the record as stored (`None`: no such account).
    pub fn loaded(self, record: Option<Account>) -> Next<'a> {
        flow::loaded(self.ctx, self.on, record)
    }
}

/// Waits for what the directory and the store know of a token ID: resume
/// with [`AwaitToken::found`].
pub struct AwaitToken<'a> {
    ctx: Ctx<'a>,
    account: Account,
    id: CredentialId,
}

impl<'a> AwaitToken<'a> {
    /// The token ID to look up.
    #[must_use]
    pub const fn token_id(&self) -> CredentialId {
        self.id
    }

    /// The user ID asking (the store's status is as seen from it).
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.account.user_id
    }

    /// Whether the store's status of the token ID is needed (at enrollment
    /// only; an OTP step or a resync needs the seed alone).
    #[must_use]
    pub const fn wants_status(&self) -> bool {
        matches!(self.ctx.input, Input::Enroll { .. })
    }

    /// Resumes with the token's seed from the directory (`None`: unknown
    /// there) and its status from the store ([`TokenStatus::Free`] when
    /// [`AwaitToken::wants_status`] is `false`: it is not read).
    pub fn found(self, seed: Option<TokenSeed>, status: TokenStatus) -> Next<'a> {
        steps::found(self.ctx, &self.account, self.id, seed.as_ref(), status)
    }
}

/// Waits for the step's hashing: run [`AwaitHash::hash`] — CPU work only,
/// milliseconds of Argon2 — where the service runs such work (the
/// driver's offload hook), then [`HashDone::resume`] anywhere.
///
/// If this value is dropped unrun after a write counted an attempt (the
/// caller went away while waiting for a turn), the hash runs as it drops.
pub struct AwaitHash<'a> {
    ctx: Ctx<'a>,
    job: Option<Job<'a>>,
    owed: Owed<'a>,
    then: AfterHash,
}

impl<'a> AwaitHash<'a> {
    /// Runs the hashing. Nothing else of the step happens here.
    pub fn hash(self) -> HashDone<'a> {
        let Self {
            ctx,
            job,
            owed,
            then,
        } = self;
        let job = owed.take().or(job);
        let result = match job {
            Some(job) => job.run(&ctx.deps, &ctx.facts.salt),
            None => Ok(hash::Hashed::Dummy),
        };
        HashDone { ctx, result, then }
    }

    /// Whether this hash is owed by an attempt already counted.
    #[must_use]
    pub const fn is_owed(&self) -> bool {
        self.owed.is_owed()
    }
}

/// A finished hash: resume with [`HashDone::resume`].
pub struct HashDone<'a> {
    ctx: Ctx<'a>,
    result: Result<hash::Hashed, lockstep_password::HashError>,
    then: AfterHash,
}

impl<'a> HashDone<'a> {
    /// Decides what the hash found.
    pub fn resume(self) -> Next<'a> {
        steps::hashed(self.ctx, self.then, self.result)
    }
}

/// Waits for a write: [`AwaitWrite::take`] the [`Write`] to hand to the
/// store, and resume the [`AwaitWritten`] with the store's answer.
pub struct AwaitWrite<'a> {
    write: Write,
    then: AwaitWritten<'a>,
}

impl<'a> AwaitWrite<'a> {
    /// What to write.
    #[must_use]
    pub const fn write(&self) -> &Write {
        &self.write
    }

    /// The write, and the continuation that waits for its result.
    pub fn take(self) -> (Write, AwaitWritten<'a>) {
        (self.write, self.then)
    }
}

/// Waits for a write's result: resume with [`AwaitWritten::written`]. If
/// this value is dropped while the write of a counted attempt is pending,
/// the attempt's hash runs as it drops.
pub struct AwaitWritten<'a> {
    ctx: Ctx<'a>,
    events: Vec<AuditEvent>,
    then: AfterWrite,
    owed: Owed<'a>,
}

impl<'a> AwaitWritten<'a> {
    /// Resumes with the store's answer. A refused write
    /// ([`StoreError::Conflict`], [`StoreError::TokenTaken`], a transient
    /// failure) is decided again on the record as stored; a permanent
    /// failure ends the step.
    pub fn written(self, result: Result<(), StoreError>) -> Next<'a> {
        flow::written(self, result)
    }
}

/// The longest user ID an audit event or an attempt note keeps of what was
/// typed, in bytes.
pub const MAX_AUDITED_ID_BYTES: usize = 64;

/// The longest user ID an account may have, in bytes: what the audit log
/// keeps whole.
pub const MAX_USER_ID_BYTES: usize = MAX_AUDITED_ID_BYTES;

/// `id` as the store and the audit log key it: as typed when it could be
/// an account's (at most [`MAX_USER_ID_BYTES`]); otherwise cut at a
/// character boundary and marked with U+007F, a control character no
/// account's ID can hold, so that a long typed ID is never counted or
/// logged as the account whose ID it starts with.
pub(crate) fn bounded(id: &str) -> String {
    if id.len() <= MAX_USER_ID_BYTES {
        return id.to_owned();
    }
    let mut end = MAX_AUDITED_ID_BYTES.saturating_sub(1);
    while !id.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    let mut key = id.get(..end).unwrap_or_default().to_owned();
    key.push('\u{7f}');
    key
}

/// Whether a typed user ID can name an account at all: no control
/// characters (NUL, CR, LF, …). Anything else is looked up as typed.
fn plausible(user_id: &str) -> bool {
    !user_id.chars().any(char::is_control)
}

/// Whether `ticket` opens `stage` on `account` at `now`: the one place
/// tickets are checked.
fn ticket_opens(account: &Account, ticket: &LoginTicket, stage: Stage, now: u64) -> bool {
    account
        .ticket
        .as_ref()
        .is_some_and(|t| t.stage == stage && now <= t.expires_at && ticket.matches(&t.digest))
}

macro_rules! redacted_debug {
    ($($name:ident),*) => {$(
        /// Shows where the step is, never what was typed.
        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("input", &self.ctx.input)
                    .finish_non_exhaustive()
            }
        }
    )*};
}

redacted_debug!(AwaitRecord, AwaitToken, AwaitHash, HashDone, AwaitWritten);

/// Shows the write's shape, never a secret (events hold none).
impl fmt::Debug for AwaitWrite<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwaitWrite")
            .field("events", &self.write.events)
            .field("then", &self.then)
            .finish_non_exhaustive()
    }
}
