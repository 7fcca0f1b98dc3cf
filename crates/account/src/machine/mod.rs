//! The sans-IO state machine: `(record, input, deps, facts) -> (record',
//! outcome, events)`, for those who drive it themselves; most services use
//! the [`crate::Authenticator`] instead.
//!
//! No I/O, no clock, no RNG: the fixed dependencies (settings, password
//! rules, hasher) arrive in [`Deps`], the facts of one call (time, fresh
//! randomness) in [`Facts`], and what a directory and a store know of a
//! token travels in the [`Input`] that needs it. Hashing is done through
//! the [`PasswordHasher`] passed in, which is CPU work only.
//!
//! This module holds the vocabulary and the dispatcher; each stage has its
//! own file:
//! - `machine/password.rs`: the password step and its count-first protocol;
//! - `machine/otp.rs`: OTP login, enrollment and resync;
//! - `machine/change.rs`: the forced and the voluntary password change;
//! - `machine/desk.rs`: the support desk's actions.
//!
//! Inputs that carry a password are decided in two phases, so that a burst
//! of concurrent guesses can never get more evaluated than the lock allows:
//! [`begin`] reserves the failure (the caller writes that record first),
//! [`check`] verifies, and [`finish`] turns the reservation into the
//! answer. [`decide`] runs all three on one record, for callers without
//! concurrency (tests, the model, fuzzing).

mod change;
mod desk;
mod otp;
mod password;

use core::fmt;

use lockstep_password::{HashError, Password, PasswordHash, PasswordHasher, PasswordPolicy};

use crate::config::Config;
use crate::event::{AuditEvent, Entry, EventKind, Outcome, Refusal, Session};
use crate::record::{
    Account, Failures, LoginTicket, MustChange, PasswordState, PendingTicket, SessionRecord,
    SessionToken, Stage,
};
use lockstep_otp::CredentialId;

use crate::token::{TokenSeed, TokenStatus};

pub use password::{PasswordCheck, rehash};

/// One input to the machine. Secrets are borrowed, never stored; `Debug`
/// shows no code, ticket or password.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Input<'a> {
    /// Step 1 of login and enrollment: the password, and which entry button
    /// was pressed (R-LOG-1, R-ENR-1, R-LOG-6).
    Password {
        /// As typed.
        password: &'a Password,
        /// ［利用開始登録］ or ［ワンタイムパスワードログイン］.
        entry: Entry,
    },
    /// One OTP (R-LOG-3).
    Otp {
        /// From the password step.
        ticket: &'a LoginTicket,
        /// As typed.
        code: &'a str,
        /// The bound token's seed, from the directory (`None`: unknown there).
        token: Option<&'a TokenSeed>,
    },
    /// Token registration (R-ENR-2, R-ENR-3).
    Enroll {
        /// From the password step.
        ticket: &'a LoginTicket,
        /// The token ID as typed.
        credential_id: &'a str,
        /// The first code.
        otp1: &'a str,
        /// The next code.
        otp2: &'a str,
        /// What the directory and the store know of the typed token ID
        /// (`None`: not a token ID the directory knows).
        token: Option<Candidate<'a>>,
    },
    /// Drift correction from the OTP stage (R-SYN-2).
    Resync {
        /// From the password step.
        ticket: &'a LoginTicket,
        /// The first code.
        otp1: &'a str,
        /// The next code.
        otp2: &'a str,
        /// The bound token's seed, from the directory.
        token: Option<&'a TokenSeed>,
    },
    /// The forced password change (R-LOG-4).
    ChangePassword {
        /// From the OTP step.
        ticket: &'a LoginTicket,
        /// The new password.
        new: &'a Password,
        /// Typed again (R-PWD-5).
        confirmation: &'a Password,
    },
    /// A logged-in user's voluntary password change: needs the session of
    /// a completed login and the current password.
    ChangePasswordLoggedIn {
        /// From the completed login.
        session: &'a SessionToken,
        /// The current password (a wrong one counts as a password failure).
        current: &'a Password,
        /// The new password.
        new: &'a Password,
        /// Typed again (R-PWD-5).
        confirmation: &'a Password,
    },
    /// A support-desk action (R-OPS-1, R-OPS-2, R-OPS-3).
    Operator {
        /// Who did it, for the audit trail.
        operator_id: &'a str,
        /// What.
        action: OperatorAction<'a>,
    },
}

/// A token ID typed at enrollment, as the directory and the store know it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Its seed in the directory.
    pub seed: &'a TokenSeed,
    /// Whether it is free, bound or revoked, from the store.
    pub status: TokenStatus,
}

impl<'a> Input<'a> {
    /// The credential ID whose seed (and, at enrollment, store status) this
    /// input needs, if any, and only if its ticket opens its stage on
    /// `account` at `now`: a driver asks this before it looks anything up,
    /// so a bad ticket costs the same for every account, known or not.
    #[must_use]
    pub fn token_to_look_up(&self, account: &Account, now: u64) -> Option<CredentialId> {
        if !ticket_opens(account, self, now) {
            return None;
        }
        match self {
            Self::Enroll { credential_id, .. } => CredentialId::parse(credential_id).ok(),
            Self::Otp { .. } | Self::Resync { .. } => {
                account.token.as_ref().map(|t| t.credential_id)
            }
            _ => None,
        }
    }

    /// This input with the token facts a driver looked up attached: the
    /// seed for OTP and resync, the seed and store status for enrollment.
    #[must_use]
    pub fn with_token<'b>(self, seed: Option<&'b TokenSeed>, status: TokenStatus) -> Input<'b>
    where
        'a: 'b,
    {
        match self {
            Self::Otp { ticket, code, .. } => Input::Otp {
                ticket,
                code,
                token: seed,
            },
            Self::Resync {
                ticket, otp1, otp2, ..
            } => Input::Resync {
                ticket,
                otp1,
                otp2,
                token: seed,
            },
            Self::Enroll {
                ticket,
                credential_id,
                otp1,
                otp2,
                ..
            } => Input::Enroll {
                ticket,
                credential_id,
                otp1,
                otp2,
                token: seed.map(|seed| Candidate { seed, status }),
            },
            other => other,
        }
    }
}

impl Input<'_> {
    /// The input's name, for `Debug` and the audit log.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Password { .. } => "password",
            Self::Otp { .. } => "otp",
            Self::Enroll { .. } => "enroll",
            Self::Resync { .. } => "resync",
            Self::ChangePassword { .. } => "change_password",
            Self::ChangePasswordLoggedIn { .. } => "change_password_logged_in",
            Self::Operator { .. } => "operator",
        }
    }

    /// The password this input asks to verify, if any.
    const fn password(&self) -> Option<&Password> {
        match self {
            Self::Password { password, .. } => Some(password),
            Self::ChangePasswordLoggedIn { current, .. } => Some(current),
            _ => None,
        }
    }
}

/// Shows which input it is, never what was typed.
impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Input");
        d.field("kind", &self.name());
        match self {
            Self::Password { entry, .. } => d.field("entry", entry),
            Self::Operator {
                operator_id,
                action,
            } => d.field("operator_id", operator_id).field("action", action),
            _ => &mut d,
        };
        d.finish_non_exhaustive()
    }
}

/// Support-desk actions (R-OPS-1, R-OPS-2, R-OPS-3, R-TOK-4).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum OperatorAction<'a> {
    /// Clear the password lock and its counter (R-OPS-1).
    UnlockPassword,
    /// Clear the token's OTP lock and counter, and the enrollment counter
    /// (R-OPS-1).
    UnlockToken,
    /// Set a new temporary password, which must itself satisfy the password
    /// rules: must change at next login, password lock cleared (R-OPS-2).
    ResetPassword {
        /// The temporary password.
        temporary: &'a Password,
    },
    /// Revoke the token: it stops working at once and can never be bound
    /// again; its lock and counters go with it; the user may enroll another
    /// (R-OPS-3, R-TOK-4).
    RevokeToken,
}

impl fmt::Debug for OperatorAction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnlockPassword => "UnlockPassword",
            Self::UnlockToken => "UnlockToken",
            Self::ResetPassword { .. } => "ResetPassword",
            Self::RevokeToken => "RevokeToken",
        })
    }
}

/// What the machine depends on and what stays the same from call to call:
/// the settings, the password rules, the hasher and its dummy hash.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    /// The settings.
    pub config: &'a Config,
    /// The password rules for changes and desk resets.
    pub policy: &'a PasswordPolicy,
    /// Verifies and makes password hashes.
    pub hasher: &'a dyn PasswordHasher,
    /// A hash of a random password made by `hasher` at its configured cost:
    /// verified instead of a real one wherever a real one must not be
    /// evaluated (unknown user, locked user, oversized input), so that they
    /// cost what a wrong password costs (R-LOG-5).
    pub dummy: &'a PasswordHash,
}

impl fmt::Debug for Deps<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps")
            .field("config", self.config)
            .field("dummy", self.dummy)
            .finish_non_exhaustive()
    }
}

/// The facts of one call: the time and fresh randomness.
#[derive(Clone, Copy)]
pub struct Facts {
    /// The current Unix time.
    pub now: u64,
    /// 16 fresh random bytes for a new ticket or session token.
    pub ticket_random: [u8; 16],
    /// 16 fresh random bytes for a new password hash's salt, apart from the
    /// ticket's so that no stored salt ever reveals a ticket.
    pub salt: [u8; 16],
}

/// Shows the time, never the randomness.
impl fmt::Debug for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facts")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

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
fn bounded(id: &str) -> String {
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
/// [`PasswordHasher::pad_to_cost`], so that it never answers faster.
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

/// One decision in progress.
struct Run<'e, 'a> {
    acc: Account,
    deps: &'e Deps<'a>,
    facts: Facts,
    events: Vec<AuditEvent>,
    operator: Option<String>,
}

impl<'e, 'a> Run<'e, 'a> {
    fn new(account: &Account, deps: &'e Deps<'a>, facts: &Facts) -> Self {
        Self {
            acc: account.clone(),
            deps,
            facts: *facts,
            events: Vec::new(),
            operator: None,
        }
    }

    /// Closes the run: every decision leaves a trace (refusals without an
    /// event of their own are recorded by their reason), and the record is
    /// returned only if it changed.
    fn done(mut self, before: &Account, outcome: Outcome) -> Decision {
        if self.events.is_empty() {
            let reason = outcome.refusal().map_or("none", Refusal::code);
            self.event(EventKind::Refused {
                reason: reason.to_owned(),
            });
        }
        let changed = self.acc != *before;
        Decision {
            account: changed.then_some(self.acc),
            outcome,
            events: self.events,
        }
    }

    fn event(&mut self, kind: EventKind) {
        self.events.push(AuditEvent {
            at: self.facts.now,
            user_id: self.acc.user_id.clone(),
            operator_id: self.operator.clone(),
            kind,
        });
    }

    fn config(&self) -> &Config {
        self.deps.config
    }

    /// A fresh ticket for `stage`, replacing any pending one.
    fn issue_ticket(&mut self, stage: Stage) -> LoginTicket {
        let ticket = LoginTicket::from_bytes(self.facts.ticket_random);
        self.acc.ticket = Some(PendingTicket {
            digest: ticket.digest(),
            stage,
            expires_at: self
                .facts
                .now
                .saturating_add(u64::from(self.config().ticket_ttl_seconds)),
        });
        ticket
    }

    fn ticket_ok(&self, ticket: &LoginTicket, stage: Stage) -> bool {
        ticket_ok(&self.acc, ticket, stage, self.facts.now)
    }

    fn ticket_rejected(&mut self) -> Outcome {
        self.event(EventKind::TicketRejected);
        Outcome::Refused(Refusal::InvalidTicket)
    }

    /// Ends the pending login and every session: a lock, a reset, a revoke
    /// or a password change.
    fn void_logins(&mut self) {
        self.acc.ticket = None;
        self.acc.sessions.clear();
    }

    /// Whether `token` is an open session of this account.
    fn session_ok(&self, token: &SessionToken) -> bool {
        let now = self.facts.now;
        // Every stored session is compared (no early exit).
        self.acc.sessions.iter().fold(false, |found, s| {
            found | (now <= s.expires_at && token.matches(&s.digest))
        })
    }

    /// A completed login: the pending ticket ends and a new session opens
    /// (the oldest ends beyond [`Config::MAX_SESSIONS`]; expired ones are
    /// dropped).
    fn open_session(&mut self) -> Session {
        let now = self.facts.now;
        self.acc.ticket = None;
        self.acc.sessions.retain(|s| now <= s.expires_at);
        while self.acc.sessions.len() >= Config::MAX_SESSIONS {
            self.acc.sessions.remove(0);
        }
        let token = SessionToken::from_bytes(self.facts.ticket_random);
        let expires_at = now.saturating_add(u64::from(self.config().session_ttl_seconds));
        self.acc.sessions.push(SessionRecord {
            digest: token.digest(),
            expires_at,
        });
        Session {
            customer_name: self.acc.customer_name.clone(),
            user_id: self.acc.user_id.clone(),
            user_name: self.acc.user_name.clone(),
            token,
            expires_at,
        }
    }

    /// Whether the temporary password has passed an opt-in expiry.
    fn temporary_expired(&self) -> bool {
        let p = &self.acc.password;
        let temporary = matches!(
            p.must_change,
            Some(MustChange::FirstLogin | MustChange::Reset)
        );
        temporary
            && self
                .config()
                .temporary_password_days
                .is_some_and(|days| self.config().expired(p.set_at, days, self.facts.now))
    }
}
