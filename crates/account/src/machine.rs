//! The pure state machine: `(record, input, now, config) -> (record', outcome, events)`.
//!
//! No I/O, no clock, no RNG: time, randomness, the token's seed and the
//! store's knowledge of a token ID all arrive in [`Env`]. Hashing is done
//! through the [`PasswordHasher`] passed in, which is CPU work only.

use lockstep_otp::{Code, CodeError, CredentialId, Error as OtpError, Secret, Totp, TotpParams};
use lockstep_password::{
    Context, HashError, History, Password, PasswordHash, PasswordHasher, PasswordPolicy,
};

use crate::config::Config;
use crate::event::{AuditEvent, EventKind, Factor, Outcome, Refusal, Session};
use crate::record::{
    Account, LoginTicket, MustChange, OtpState, PasswordState, PendingTicket, Stage, TokenBinding,
};

/// A token's seed as the [`crate::TokenDirectory`] knows it.
#[derive(Clone, Debug)]
pub struct TokenSeed {
    /// The shared secret.
    pub secret: Secret,
    /// The TOTP parameters.
    pub params: TotpParams,
}

/// What the store knows of a credential ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenStatus {
    /// Bound to no account and never revoked.
    Free,
    /// Bound to the account with this user ID.
    BoundTo,
    /// Bound to another account.
    BoundToOther,
    /// Revoked once: never bindable again (R-TOK-4).
    Revoked,
}

/// One input to the machine. Secrets are borrowed, never stored.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Input<'a> {
    /// Step 1 of login and enrollment: the password (R-LOG-1, R-ENR-1).
    Password {
        /// As typed.
        password: &'a Password,
    },
    /// One OTP (R-LOG-3).
    Otp {
        /// From the password step.
        ticket: &'a LoginTicket,
        /// As typed.
        code: &'a str,
    },
    /// Token registration (R-ENR-2/3).
    Enroll {
        /// From the password step.
        ticket: &'a LoginTicket,
        /// The token ID as typed.
        credential_id: &'a str,
        /// The first code.
        otp1: &'a str,
        /// The next code.
        otp2: &'a str,
    },
    /// Drift correction from the OTP stage (R-SYN-2).
    Resync {
        /// From the password step.
        ticket: &'a LoginTicket,
        /// The first code.
        otp1: &'a str,
        /// The next code.
        otp2: &'a str,
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
    /// A logged-in user's password change, which needs the current password.
    ChangePasswordLoggedIn {
        /// The current password (a wrong one counts as a password failure).
        current: &'a Password,
        /// The new password.
        new: &'a Password,
        /// Typed again (R-PWD-5).
        confirmation: &'a Password,
    },
    /// A support-desk action (R-OPS).
    Operator {
        /// Who did it, for the audit trail.
        operator_id: &'a str,
        /// What.
        action: OperatorAction<'a>,
    },
}

/// Support-desk actions (R-OPS-1..3, R-TOK-4).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum OperatorAction<'a> {
    /// Clear the password lock and its counter (R-OPS-1).
    UnlockPassword,
    /// Clear the OTP lock and its counter (R-OPS-1).
    UnlockToken,
    /// Set a new temporary password: must change, password lock cleared (R-OPS-2).
    ResetPassword {
        /// The temporary password.
        temporary: &'a Password,
    },
    /// Revoke the token: it stops working at once and can never be bound
    /// again; the user may enroll another (R-OPS-3, R-TOK-4).
    RevokeToken,
}

/// Everything the machine needs besides the record and the input.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    /// The settings.
    pub config: &'a Config,
    /// The password rules for changes.
    pub policy: &'a PasswordPolicy,
    /// Verifies and makes password hashes.
    pub hasher: &'a dyn PasswordHasher,
    /// The current Unix time.
    pub now: u64,
    /// 32 fresh random bytes: the first half for a new ticket, the second for
    /// a new password hash's salt, so that no stored salt ever reveals a
    /// ticket.
    pub random: [u8; 32],
    /// The seed of the token concerned: the bound one for OTP and resync, the
    /// typed one for enrollment.
    pub token: Option<&'a TokenSeed>,
    /// The store's knowledge of the typed token ID, for enrollment.
    pub token_status: TokenStatus,
}

impl Env<'_> {
    fn ticket_bytes(&self) -> [u8; 16] {
        let mut out = [0_u8; 16];
        for (o, r) in out.iter_mut().zip(&self.random) {
            *o = *r;
        }
        out
    }

    fn salt(&self) -> &[u8] {
        self.random.get(16..).unwrap_or(&self.random)
    }
}

impl core::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Env")
            .field("now", &self.now)
            .field("token_status", &self.token_status)
            .finish_non_exhaustive()
    }
}

/// What one input did.
#[derive(Debug)]
pub struct Decision {
    /// The new record, or `None` when nothing changed (no write needed).
    pub account: Option<Account>,
    /// The answer for the caller.
    pub outcome: Outcome,
    /// The audit trail of this decision.
    pub events: Vec<AuditEvent>,
}

/// Builds a new account with a temporary password (R-ACC-2): must change at
/// first login.
///
/// # Errors
/// [`HashError`] if hashing fails.
pub fn create_account(
    user_id: &str,
    user_name: &str,
    customer_name: &str,
    temporary: &Password,
    operator_id: &str,
    env: &Env<'_>,
) -> Result<(Account, AuditEvent), HashError> {
    let hash = env.hasher.hash_with_salt(temporary, env.salt())?;
    let account = Account {
        user_id: user_id.to_owned(),
        user_name: user_name.to_owned(),
        customer_name: customer_name.to_owned(),
        password: PasswordState {
            hash: hash.as_str().to_owned(),
            previous: Vec::new(),
            set_at: env.now,
            must_change: Some(MustChange::FirstLogin),
            failures: 0,
            locked: false,
        },
        otp: OtpState::default(),
        token: None,
        revoked_tokens: Vec::new(),
        ticket: None,
        version: 0,
    };
    let event = AuditEvent {
        at: env.now,
        user_id: user_id.to_owned(),
        operator_id: Some(operator_id.to_owned()),
        kind: EventKind::AccountCreated,
    };
    Ok((account, event))
}

/// An unknown user ID: the same work as a wrong password (one verification
/// against `dummy`, a hash made by the same hasher) and the same public
/// answer (R-LOG-5, semantics 9).
#[must_use]
pub fn decide_unknown(
    user_id: &str,
    input: &Input<'_>,
    dummy: &PasswordHash,
    env: &Env<'_>,
) -> Decision {
    let outcome = match input {
        Input::Password { password } => {
            // The result is irrelevant; the work is the point.
            let _ = env.hasher.verify(password, dummy);
            Refusal::InvalidCredentials
        }
        Input::Operator { .. } => Refusal::UnknownAccount,
        _ => Refusal::InvalidTicket,
    };
    let kind = match input {
        Input::Password { .. } => EventKind::UnknownUser,
        _ => EventKind::TicketRejected,
    };
    Decision {
        account: None,
        outcome: Outcome::Refused(outcome),
        events: vec![AuditEvent {
            at: env.now,
            user_id: user_id.to_owned(),
            operator_id: None,
            kind,
        }],
    }
}

/// Decides one input for an existing account.
///
/// # Errors
/// [`HashError`] when the stored password hash cannot be used or a new one
/// cannot be made: an internal fault, not a user error.
pub fn decide(account: &Account, input: &Input<'_>, env: &Env<'_>) -> Result<Decision, HashError> {
    let mut run = Run {
        acc: account.clone(),
        env,
        events: Vec::new(),
        operator: None,
    };
    let outcome = match *input {
        Input::Password { password } => run.password(password)?,
        Input::Otp { ticket, code } => run.otp(ticket, code),
        Input::Enroll {
            ticket,
            credential_id,
            otp1,
            otp2,
        } => run.enroll(ticket, credential_id, otp1, otp2),
        Input::Resync { ticket, otp1, otp2 } => run.resync(ticket, otp1, otp2),
        Input::ChangePassword {
            ticket,
            new,
            confirmation,
        } => {
            if run.ticket_ok(ticket, Stage::ChangePassword) {
                run.change_password(new, confirmation, true)?
            } else {
                run.ticket_rejected()
            }
        }
        Input::ChangePasswordLoggedIn {
            current,
            new,
            confirmation,
        } => {
            if run.acc.password.locked {
                run.password_locked()
            } else if run.verify_password(current)? {
                run.acc.password.failures = 0;
                run.change_password(new, confirmation, false)?
            } else {
                run.password_failure()
            }
        }
        Input::Operator {
            operator_id,
            action,
        } => {
            run.operator = Some(operator_id.to_owned());
            run.operator(action)?
        }
    };
    // Every decision leaves a trace: refusals without an event of their own
    // are recorded by their reason.
    if run.events.is_empty() {
        let reason = match &outcome {
            Outcome::Refused(r) => r.code(),
            _ => "none",
        };
        run.event(EventKind::Refused {
            reason: reason.to_owned(),
        });
    }
    let changed = run.acc != *account;
    Ok(Decision {
        account: changed.then_some(run.acc),
        outcome,
        events: run.events,
    })
}

/// Parses two codes of the token's length; the first error wins.
fn parse_pair(otp1: &str, otp2: &str, params: TotpParams) -> Result<(Code, Code), CodeError> {
    Ok((
        Code::parse(otp1, params.digits)?,
        Code::parse(otp2, params.digits)?,
    ))
}

/// One decision in progress.
struct Run<'e, 'a> {
    acc: Account,
    env: &'e Env<'a>,
    events: Vec<AuditEvent>,
    operator: Option<String>,
}

impl Run<'_, '_> {
    fn event(&mut self, kind: EventKind) {
        self.events.push(AuditEvent {
            at: self.env.now,
            user_id: self.acc.user_id.clone(),
            operator_id: self.operator.clone(),
            kind,
        });
    }

    fn config(&self) -> &Config {
        self.env.config
    }

    /// A fresh ticket for `stage`, replacing any pending one.
    fn issue_ticket(&mut self, stage: Stage) -> LoginTicket {
        let ticket = LoginTicket::from_bytes(self.env.ticket_bytes());
        self.acc.ticket = Some(PendingTicket {
            digest: ticket.digest(),
            stage,
            expires_at: self
                .env
                .now
                .saturating_add(u64::from(self.config().ticket_ttl_seconds)),
        });
        ticket
    }

    fn ticket_ok(&self, ticket: &LoginTicket, stage: Stage) -> bool {
        self.acc.ticket.as_ref().is_some_and(|t| {
            t.stage == stage && self.env.now <= t.expires_at && ticket.matches(&t.digest)
        })
    }

    fn ticket_rejected(&mut self) -> Outcome {
        self.event(EventKind::TicketRejected);
        Outcome::Refused(Refusal::InvalidTicket)
    }

    fn verify_password(&self, password: &Password) -> Result<bool, HashError> {
        let stored = PasswordHash::parse(&self.acc.password.hash)?;
        self.env.hasher.verify(password, &stored)
    }

    fn password_failure(&mut self) -> Outcome {
        let cap = self.config().password_lock_after;
        let p = &mut self.acc.password;
        p.failures = p.failures.saturating_add(1).min(cap);
        let failures = p.failures;
        self.event(EventKind::PasswordFailed { failures });
        if failures >= cap {
            self.acc.password.locked = true;
            self.acc.ticket = None;
            self.event(EventKind::Locked {
                factor: Factor::Password,
            });
        }
        Outcome::Refused(Refusal::InvalidCredentials)
    }

    /// Counts an OTP failure of any kind (semantics 6); the Nth locks the
    /// token and voids the ticket (R-LCK-2).
    fn otp_failure(&mut self, kind: fn(u32) -> EventKind, refusal: Refusal) -> Outcome {
        let cap = self.config().otp_lock_after;
        let o = &mut self.acc.otp;
        o.failures = o.failures.saturating_add(1).min(cap);
        let failures = o.failures;
        self.event(kind(failures));
        if failures >= cap {
            self.acc.otp.locked = true;
            self.acc.ticket = None;
            self.event(EventKind::Locked {
                factor: Factor::Otp,
            });
            return Outcome::Refused(Refusal::TokenLocked);
        }
        Outcome::Refused(refusal)
    }

    fn password_locked(&mut self) -> Outcome {
        self.event(EventKind::LockedAttempt {
            factor: Factor::Password,
        });
        Outcome::Refused(Refusal::PasswordLocked)
    }

    fn otp_locked(&mut self) -> Outcome {
        self.event(EventKind::LockedAttempt {
            factor: Factor::Otp,
        });
        Outcome::Refused(Refusal::TokenLocked)
    }

    /// The keyed TOTP of the token concerned.
    fn totp(&self) -> Option<Totp> {
        self.env.token.map(|seed| {
            Totp::new(&seed.secret, seed.params).with_limits(self.config().otp_limits())
        })
    }

    fn password(&mut self, password: &Password) -> Result<Outcome, HashError> {
        if self.acc.password.locked {
            // Not evaluated, not counted (semantics 1).
            return Ok(self.password_locked());
        }
        let stored = PasswordHash::parse(&self.acc.password.hash)?;
        if !self.env.hasher.verify(password, &stored)? {
            return Ok(self.password_failure());
        }
        self.acc.password.failures = 0;
        self.event(EventKind::PasswordAccepted);
        // A hash made with other (older, cheaper) parameters is replaced now,
        // while the password is at hand; its age and history are unchanged.
        if self.env.hasher.needs_rehash(&stored) {
            let fresh = self.env.hasher.hash_with_salt(password, self.env.salt())?;
            self.acc.password.hash = fresh.as_str().to_owned();
            self.event(EventKind::PasswordRehashed);
        }
        let temporary = matches!(
            self.acc.password.must_change,
            Some(MustChange::FirstLogin | MustChange::Reset)
        );
        if temporary
            && self.config().expired(
                self.acc.password.set_at,
                self.config().temporary_password_days,
                self.env.now,
            )
        {
            self.acc.ticket = None;
            self.event(EventKind::TemporaryPasswordExpired);
            return Ok(Outcome::Refused(Refusal::TemporaryPasswordExpired));
        }
        if self.acc.otp.locked {
            self.acc.ticket = None;
            return Ok(self.otp_locked());
        }
        Ok(match self.acc.token.as_ref().map(|t| t.credential_id) {
            Some(token_id) => Outcome::OtpRequired {
                ticket: self.issue_ticket(Stage::Otp),
                token_id,
            },
            None => Outcome::EnrollmentRequired {
                ticket: self.issue_ticket(Stage::Enroll),
            },
        })
    }

    /// The gate of every OTP-stage input: a valid ticket for `stage`, then
    /// an unlocked token (semantics 1: a locked factor is neither evaluated
    /// nor counted). `Some` is the refusal.
    fn otp_gate(&mut self, ticket: &LoginTicket, stage: Stage) -> Option<Outcome> {
        if !self.ticket_ok(ticket, stage) {
            return Some(self.ticket_rejected());
        }
        self.acc.otp.locked.then(|| self.otp_locked())
    }

    /// A valid code (or pair) at `step`: the counter resets (R-LCK-3) and
    /// the step becomes the last used one (semantics 4).
    fn otp_accepted(&mut self, step: u64) {
        self.acc.otp.failures = 0;
        self.acc.otp.last_used_step = Some(step);
    }

    fn otp(&mut self, ticket: &LoginTicket, typed: &str) -> Outcome {
        if let Some(refused) = self.otp_gate(ticket, Stage::Otp) {
            return refused;
        }
        let (Some(totp), Some(binding)) = (self.totp(), self.acc.token.clone()) else {
            return Outcome::Refused(Refusal::NoToken);
        };
        let code = match Code::parse(typed, binding.params.digits) {
            Ok(code) => code,
            Err(e) => return Outcome::Refused(Refusal::MalformedCode(e)),
        };
        let window = self.config().login_window;
        match totp.verify(
            &code,
            self.env.now,
            window,
            binding.drift,
            self.acc.otp.last_used_step,
        ) {
            Ok(v) => {
                self.otp_accepted(v.step);
                let bound = i64::from(self.config().max_drift);
                let drift = v.offset.clamp(-bound, bound);
                if let Some(t) = self.acc.token.as_mut() {
                    t.drift = drift;
                }
                self.event(EventKind::OtpAccepted {
                    step: v.step,
                    drift,
                });
                self.after_both_factors()
            }
            Err(OtpError::Replay { .. }) => self.otp_failure(
                |failures| EventKind::OtpReplayed { failures },
                Refusal::InvalidCode,
            ),
            Err(_) => self.otp_failure(
                |failures| EventKind::OtpFailed { failures },
                Refusal::InvalidCode,
            ),
        }
    }

    /// After a valid OTP: a required password change, or logged in.
    fn after_both_factors(&mut self) -> Outcome {
        let p = &self.acc.password;
        let expired = self.env.config.expired(
            p.set_at,
            self.env.config.password_max_age_days,
            self.env.now,
        );
        let reason = p.must_change.or(expired.then_some(MustChange::Expired));
        match reason {
            Some(reason) => {
                self.event(EventKind::PasswordChangeRequired { reason });
                Outcome::PasswordChangeRequired {
                    ticket: self.issue_ticket(Stage::ChangePassword),
                    reason,
                }
            }
            None => self.logged_in(),
        }
    }

    fn logged_in(&mut self) -> Outcome {
        self.acc.ticket = None;
        self.event(EventKind::LoggedIn);
        Outcome::LoggedIn(Session {
            customer_name: self.acc.customer_name.clone(),
            user_id: self.acc.user_id.clone(),
            user_name: self.acc.user_name.clone(),
        })
    }

    fn enroll(&mut self, ticket: &LoginTicket, typed_id: &str, otp1: &str, otp2: &str) -> Outcome {
        if self.acc.token.is_some() {
            // R-TOK-1: one token; the Enroll stage is never opened with one bound.
            return self.ticket_rejected();
        }
        if let Some(refused) = self.otp_gate(ticket, Stage::Enroll) {
            return refused;
        }
        let failed = |failures| EventKind::EnrollmentFailed { failures };
        let id = match CredentialId::parse(typed_id) {
            Ok(id) => id,
            Err(e) => return self.otp_failure(failed, Refusal::MalformedTokenId(e)),
        };
        let usable = matches!(self.env.token_status, TokenStatus::Free)
            && !self.acc.revoked_tokens.contains(&id);
        let (Some(totp), Some(seed), true) = (self.totp(), self.env.token, usable) else {
            return self.otp_failure(failed, Refusal::TokenUnavailable);
        };
        // R-ENR-5: a failure of any kind counts, a malformed code included.
        let Ok((first, second)) = parse_pair(otp1, otp2, seed.params) else {
            return self.otp_failure(failed, Refusal::InvalidCode);
        };
        let window = self.config().enrollment_window;
        match totp.resync(
            &first,
            &second,
            self.env.now,
            window,
            self.acc.otp.last_used_step,
        ) {
            Ok(r) => {
                // Both codes are consumed: the second's step is the last used (R-ENR-4).
                self.otp_accepted(r.step);
                self.acc.token = Some(TokenBinding {
                    credential_id: id,
                    params: seed.params,
                    drift: r.drift,
                    bound_at: self.env.now,
                });
                self.event(EventKind::Enrolled {
                    token_id: id,
                    drift: r.drift,
                });
                Outcome::Enrolled {
                    ticket: self.issue_ticket(Stage::Otp),
                    token_id: id,
                }
            }
            Err(_) => self.otp_failure(failed, Refusal::InvalidCode),
        }
    }

    fn resync(&mut self, ticket: &LoginTicket, otp1: &str, otp2: &str) -> Outcome {
        if let Some(refused) = self.otp_gate(ticket, Stage::Otp) {
            return refused;
        }
        let (Some(totp), Some(binding)) = (self.totp(), self.acc.token.clone()) else {
            return Outcome::Refused(Refusal::NoToken);
        };
        let (first, second) = match parse_pair(otp1, otp2, binding.params) {
            Ok(pair) => pair,
            Err(e) => return Outcome::Refused(Refusal::MalformedCode(e)),
        };
        // The resync window is at most the drift bound (`ConfigBuilder::build`
        // checks it), so any drift found here is within the bound.
        let window = self.config().resync_window;
        match totp.resync(
            &first,
            &second,
            self.env.now,
            window,
            self.acc.otp.last_used_step,
        ) {
            Ok(r) => {
                self.otp_accepted(r.step);
                if let Some(t) = self.acc.token.as_mut() {
                    t.drift = r.drift;
                }
                self.event(EventKind::Resynced { drift: r.drift });
                Outcome::Resynced {
                    ticket: self.issue_ticket(Stage::Otp),
                }
            }
            Err(_) => self.otp_failure(
                |failures| EventKind::ResyncFailed { failures },
                Refusal::InvalidCode,
            ),
        }
    }

    fn change_password(
        &mut self,
        new: &Password,
        confirmation: &Password,
        via_ticket: bool,
    ) -> Result<Outcome, HashError> {
        let hashes: Vec<PasswordHash> = core::iter::once(&self.acc.password.hash)
            .chain(&self.acc.password.previous)
            .filter_map(|h| PasswordHash::parse(h).ok())
            .collect();
        let context = Context {
            user_name: Some(&self.acc.user_name),
            user_id: Some(&self.acc.user_id),
            confirmation: Some(confirmation),
            history: Some(History {
                hasher: self.env.hasher,
                hashes: &hashes,
            }),
        };
        if let Err(violations) = self.env.policy.validate(new, &context) {
            self.event(EventKind::PasswordChangeRejected {
                codes: violations.codes().map(str::to_owned).collect(),
            });
            return Ok(Outcome::Refused(Refusal::PasswordRejected(violations)));
        }
        let hash = self.env.hasher.hash_with_salt(new, self.env.salt())?;
        self.set_password(hash, None);
        self.event(EventKind::PasswordChanged);
        Ok(if via_ticket {
            self.logged_in()
        } else {
            Outcome::PasswordChanged
        })
    }

    /// Rotates the history (R-PWD-4) and sets the new hash and date (R-PWD-6).
    fn set_password(&mut self, hash: PasswordHash, must_change: Option<MustChange>) {
        let keep = self.env.policy.history_depth().saturating_sub(1);
        let p = &mut self.acc.password;
        let old = core::mem::replace(&mut p.hash, hash.as_str().to_owned());
        p.previous.insert(0, old);
        p.previous.truncate(keep);
        p.set_at = self.env.now;
        p.must_change = must_change;
    }

    fn operator(&mut self, action: OperatorAction<'_>) -> Result<Outcome, HashError> {
        match action {
            OperatorAction::UnlockPassword => {
                self.acc.password.locked = false;
                self.acc.password.failures = 0;
                self.event(EventKind::Unlocked {
                    factor: Factor::Password,
                });
            }
            OperatorAction::UnlockToken => {
                self.acc.otp.locked = false;
                self.acc.otp.failures = 0;
                self.event(EventKind::Unlocked {
                    factor: Factor::Otp,
                });
            }
            OperatorAction::ResetPassword { temporary } => {
                let hash = self.env.hasher.hash_with_salt(temporary, self.env.salt())?;
                self.set_password(hash, Some(MustChange::Reset));
                self.acc.password.locked = false;
                self.acc.password.failures = 0;
                self.acc.ticket = None;
                self.event(EventKind::PasswordReset);
            }
            OperatorAction::RevokeToken => {
                let Some(binding) = self.acc.token.take() else {
                    return Ok(Outcome::Refused(Refusal::NoToken));
                };
                self.acc.revoked_tokens.push(binding.credential_id);
                self.acc.ticket = None;
                self.event(EventKind::TokenRevoked {
                    token_id: binding.credential_id,
                });
            }
        }
        Ok(Outcome::Done)
    }
}
