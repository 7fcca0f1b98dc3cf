//! The sans-IO state machine: `(record, input, deps, facts) -> (record',
//! outcome, events)`, for those who drive it themselves; most services use
//! the [`crate::Authenticator`] instead.
//!
//! No I/O, no clock, no RNG: the fixed dependencies (settings, password
//! rules, hasher) arrive in [`Deps`], the facts of one call (time, fresh
//! randomness) in [`Facts`], and what a directory and a store know of a
//! token travels in the [`Input`] that needs it. Hashing is done through
//! the [`PasswordHasher`](lockstep_password::PasswordHasher) passed in, which is CPU work only.
//!
//! This module holds the vocabulary and the dispatcher; each stage has its
//! own file:
//! - `machine/password.rs`: the password step and its count-first protocol;
//! - `machine/otp.rs`: OTP login, enrollment and resync;
//! - `machine/change.rs`: the forced and the voluntary password change;
//! - `machine/desk.rs`: the support desk's actions;
//! - `machine/session.rs`: whether a session is open, and logout.
//!
//! Inputs that carry a password are decided in two phases, so that a burst
//! of concurrent guesses can never get more evaluated than the lock allows:
//! [`begin`] reserves the failure (the caller writes that record first),
//! [`check`] verifies, and [`finish`] turns the reservation into the
//! answer. [`decide`] runs all three on one record, for callers without
//! concurrency (tests, the model, fuzzing).

mod change;
mod desk;
mod input;
mod otp;
mod password;
mod run;
mod session;

use core::fmt;

use lockstep_password::{HashError, Password};

use crate::event::{AuditEvent, EventKind, Outcome, Refusal};
use crate::record::{Account, Failures, LoginTicket, MustChange, PasswordState, Stage};

pub use input::{Candidate, Deps, Facts, Input, OperatorAction};
pub use password::{PasswordCheck, rehash};
pub use session::{logout, session};

use run::Run;

/// What one input did.
pub struct Decision {
    /// The new record, or `None` when nothing changed (no write needed).
    pub account: Option<Account>,
    /// The answer for the caller.
    pub outcome: Outcome,
    /// The audit trail of this decision.
    pub events: Vec<AuditEvent>,
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("writes", &self.account.is_some())
            .field("outcome", &self.outcome)
            .field("events", &self.events)
            .finish()
    }
}

/// The first phase of an input.
#[derive(Debug)]
pub enum Step {
    /// Decided: write `account` (if any) and answer.
    Done(Decision),
    /// A password must be verified: write [`PasswordCheck::reserved`] first
    /// (compare-and-swap on the loaded version), then [`check`], then
    /// [`finish`].
    Verify(PasswordCheck),
}

/// Builds a new account with a temporary password (R-ACC-2): must change at
/// first login. The password is hashed as given; the desk's tools should
/// check it against the policy first (the driver does).
///
/// # Errors
/// [`HashError`] if hashing fails.
pub fn create_account(
    user_id: &str,
    user_name: &str,
    customer_name: &str,
    temporary: &Password,
    operator_id: &str,
    deps: &Deps<'_>,
    facts: &Facts,
) -> Result<(Account, AuditEvent), HashError> {
    let hash = deps.hasher.hash_with_salt(temporary, &facts.salt)?;
    let account = Account {
        user_id: user_id.to_owned(),
        user_name: user_name.to_owned(),
        customer_name: customer_name.to_owned(),
        password: PasswordState {
            hash: hash.as_str().to_owned(),
            previous: Vec::new(),
            set_at: facts.now,
            must_change: Some(MustChange::FirstLogin),
            failures: Failures::default(),
        },
        enrollment: Failures::default(),
        token: None,
        revoked_tokens: Vec::new(),
        ticket: None,
        sessions: Vec::new(),
        version: 0,
    };
    let event = AuditEvent {
        at: facts.now,
        user_id: user_id.to_owned(),
        operator_id: Some(operator_id.to_owned()),
        kind: EventKind::AccountCreated,
    };
    Ok((account, event))
}

/// The longest user ID an audit event keeps of what was typed, in bytes.
pub const MAX_AUDITED_ID_BYTES: usize = 64;

/// `id` cut to [`MAX_AUDITED_ID_BYTES`] at a character boundary.
pub(crate) fn bounded(id: &str) -> String {
    let mut end = id.len().min(MAX_AUDITED_ID_BYTES);
    while !id.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    id.get(..end).unwrap_or_default().to_owned()
}

/// An unknown user ID: the same public answer and the same work as for a
/// known one (R-LOG-5). A password costs one verification against the dummy
/// hash, like a wrong password; a ticket or session costs its digest and a
/// comparison, like a wrong ticket; the refusal is the known user's.
#[must_use]
pub fn decide_unknown(
    user_id: &str,
    input: &Input<'_>,
    deps: &Deps<'_>,
    facts: &Facts,
) -> Decision {
    let outcome = match input {
        Input::Password { password, .. } => {
            password::dummy_verify(password, deps);
            Refusal::InvalidCredentials
        }
        Input::ChangePasswordLoggedIn { session, .. } => {
            let _ = session.matches(&[0; 32]);
            Refusal::InvalidTicket
        }
        Input::Otp { ticket, .. }
        | Input::Enroll { ticket, .. }
        | Input::Resync { ticket, .. }
        | Input::ChangePassword { ticket, .. } => {
            let _ = ticket.matches(&[0; 32]);
            Refusal::InvalidTicket
        }
        Input::Operator { .. } => Refusal::UnknownAccount,
    };
    Decision {
        account: None,
        outcome: Outcome::Refused(outcome),
        events: vec![AuditEvent {
            at: facts.now,
            user_id: bounded(user_id),
            operator_id: match input {
                Input::Operator { operator_id, .. } => Some(bounded(operator_id)),
                _ => None,
            },
            kind: EventKind::UnknownUser,
        }],
    }
}

/// The stage and ticket an OTP-stage input presents, if it is one.
const fn presented_ticket<'a>(input: &Input<'a>) -> Option<(&'a LoginTicket, Stage)> {
    match *input {
        Input::Otp { ticket, .. } | Input::Resync { ticket, .. } => Some((ticket, Stage::Otp)),
        Input::Enroll { ticket, .. } => Some((ticket, Stage::Enroll)),
        Input::ChangePassword { ticket, .. } => Some((ticket, Stage::ChangePassword)),
        _ => None,
    }
}

/// Whether `input`'s ticket opens its stage on `account` at `now`. The
/// driver asks this before it looks a token up anywhere, so an input with
/// a bad ticket costs the same for every account, known or not.
#[must_use]
pub fn ticket_opens(account: &Account, input: &Input<'_>, now: u64) -> bool {
    presented_ticket(input).is_some_and(|(ticket, stage)| ticket_ok(account, ticket, stage, now))
}

fn ticket_ok(account: &Account, ticket: &LoginTicket, stage: Stage, now: u64) -> bool {
    account
        .ticket
        .as_ref()
        .is_some_and(|t| t.stage == stage && now <= t.expires_at && ticket.matches(&t.digest))
}

/// Decides one input for an existing account, in one go: for inputs with a
/// password, [`begin`], [`check`] and [`finish`] on the same record, then
/// [`rehash`]. Under concurrency use the phases (the driver does).
///
/// # Errors
/// [`HashError`] when the stored password hash cannot be used or a new one
/// cannot be made: an internal fault, not a user error.
pub fn decide(
    account: &Account,
    input: &Input<'_>,
    deps: &Deps<'_>,
    facts: &Facts,
) -> Result<Decision, HashError> {
    match begin(account, input, deps, facts)? {
        Step::Done(d) => Ok(d),
        Step::Verify(pending) => {
            let matched = check(&pending, input, deps)?;
            let mut d = finish(&pending.reserved, input, &pending, matched, deps, facts)?;
            let written = d.account.get_or_insert_with(|| pending.reserved.clone());
            if let Some(p) = input
                .password()
                .filter(|_| password_passed(matched, &d.outcome))
                && let Some((after, event)) = rehash(written, &pending, p, deps, facts)?
            {
                *written = after;
                d.events.push(event);
            }
            if *written == *account {
                d.account = None;
            }
            Ok(d)
        }
    }
}

/// Whether a finished password check passed the password factor (so that
/// a [`rehash`] is due): the password matched and was not refused because
/// another attempt locked it meanwhile.
#[must_use]
pub fn password_passed(matched: bool, outcome: &Outcome) -> bool {
    matched && outcome.refusal() != Some(&Refusal::InvalidCredentials)
}

/// Phase one: decides every input that needs no password verification, and
/// for those that do, reserves the failure.
///
/// # Errors
/// [`HashError`] as for [`decide`].
pub fn begin(
    account: &Account,
    input: &Input<'_>,
    deps: &Deps<'_>,
    facts: &Facts,
) -> Result<Step, HashError> {
    let mut run = Run::new(account, deps, facts);
    let outcome = match *input {
        Input::Password { password, .. } => match run.password_gate(password) {
            Some(refused) => refused,
            None => return Ok(Step::Verify(run.reserve())),
        },
        Input::ChangePasswordLoggedIn { session, .. } => match run.voluntary_gate(session) {
            Some(refused) => refused,
            None => return Ok(Step::Verify(run.reserve())),
        },
        Input::Otp {
            ticket,
            code,
            token,
        } => run.otp(ticket, code, token),
        Input::Enroll {
            ticket,
            credential_id,
            otp1,
            otp2,
            token,
        } => run.enroll(ticket, credential_id, otp1, otp2, token),
        Input::Resync {
            ticket,
            otp1,
            otp2,
            token,
        } => run.resync(ticket, otp1, otp2, token),
        Input::ChangePassword {
            ticket,
            new,
            confirmation,
        } => run.forced_change(ticket, new, confirmation)?,
        Input::Operator {
            operator_id,
            action,
        } => {
            run.operator = Some(bounded(operator_id));
            run.operator(action)?
        }
    };
    Ok(Step::Done(run.done(account, outcome)))
}

/// Phase two: verifies the password of `input` for a reservation made by
/// [`begin`]. Oversized input is not hashed (the dummy is verified instead,
/// for the same work); a stored hash made at a cheaper cost is followed by
/// [`PasswordHasher::pad_to_cost`](lockstep_password::PasswordHasher::pad_to_cost), so that it never answers faster.
///
/// # Errors
/// [`HashError`] when the stored hash is malformed or out of range.
pub fn check(
    pending: &PasswordCheck,
    input: &Input<'_>,
    deps: &Deps<'_>,
) -> Result<bool, HashError> {
    match input.password() {
        Some(p) => password::verify(pending, p, deps),
        None => Ok(false),
    }
}

/// Phase three: the answer, on `current` (the stored record, which may have
/// moved on since the reservation: the caller must restart from [`begin`]
/// when its password hash is no longer the one checked).
///
/// # Errors
/// [`HashError`] as for [`decide`].
pub fn finish(
    current: &Account,
    input: &Input<'_>,
    pending: &PasswordCheck,
    matched: bool,
    deps: &Deps<'_>,
    facts: &Facts,
) -> Result<Decision, HashError> {
    let mut run = Run::new(current, deps, facts);
    let outcome = match *input {
        Input::Password { entry, .. } => run.password_result(pending, matched, entry),
        Input::ChangePasswordLoggedIn {
            new, confirmation, ..
        } => run.voluntary_result(pending, matched, new, confirmation)?,
        _ => Outcome::Refused(Refusal::InvalidTicket),
    };
    Ok(run.done(current, outcome))
}
