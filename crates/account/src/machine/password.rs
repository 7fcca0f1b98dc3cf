//! The password step (R-LOG-1, R-ENR-1, R-ENR-7, R-LOG-5, R-LOG-6,
//! R-LCK-1, R-LCK-3) and its count-first protocol.
//!
//! A password attempt is counted before it is verified: [`Run::reserve`]
//! makes the record with the failure already counted (and the lock set by
//! the Nth), the caller writes it by compare-and-swap, and only then is the
//! password verified; a success resets the counter. A burst of concurrent
//! guesses therefore gets at most as many verifications as the lock allows.

use lockstep_password::{HashError, Password, PasswordHash};

use super::{Deps, Facts, Run};
use crate::event::{AuditEvent, Entry, EventKind, Factor, Outcome, Refusal};
use crate::record::{Account, Failures, Stage};

/// A reserved password attempt: the record to write before verifying, and
/// what was reserved. `Debug` shows no hash.
pub struct PasswordCheck {
    /// The record with this attempt counted as a failure. Write it (CAS on
    /// the loaded version) before [`super::check`].
    pub reserved: Account,
    /// The stored PHC string the password is checked against. If the
    /// stored record's hash is no longer this one when finishing, start
    /// again from [`super::begin`].
    pub hash: String,
    /// The failure count this attempt reserved.
    pub(crate) count: u32,
    /// Whether this attempt's reservation set the lock.
    pub(crate) locked_here: bool,
}

impl core::fmt::Debug for PasswordCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PasswordCheck")
            .field("reserved", &self.reserved)
            .field("count", &self.count)
            .field("locked_here", &self.locked_here)
            .finish_non_exhaustive()
    }
}

/// Verifies `password` against the configured-cost dummy hash, for the
/// work alone. An oversized password is replaced by an empty one, so the
/// work stays the same.
pub(super) fn dummy_verify(password: &Password, deps: &Deps<'_>) {
    let empty = Password::new(String::new());
    let p = if password.expose().len() > deps.config.max_password_bytes {
        &empty
    } else {
        password
    };
    // The result is irrelevant; the work is the point.
    let _ = deps.hasher.verify(p, deps.dummy);
}

/// [`super::check`] for a password: the stored hash, then, when it was made
/// at another cost, the hasher's padding up to its configured cost (R-LOG-5).
pub(super) fn verify(
    pending: &PasswordCheck,
    password: &Password,
    deps: &Deps<'_>,
) -> Result<bool, HashError> {
    if password.expose().len() > deps.config.max_password_bytes {
        dummy_verify(password, deps);
        return Ok(false);
    }
    let stored = PasswordHash::parse(&pending.hash)?;
    let matched = deps.hasher.verify(password, &stored)?;
    if deps.hasher.needs_rehash(&stored) {
        deps.hasher.pad_to_cost(password, &stored);
    }
    Ok(matched)
}

/// After a successful password step or voluntary change on `account`: a
/// record whose hash, still the one checked, is replaced by one at the
/// configured cost, with the event; `None` when no rehash is due. Written
/// as its own compare-and-swap after the decision; its age and history are
/// unchanged.
///
/// # Errors
/// [`HashError`] when the new hash cannot be made.
pub fn rehash(
    account: &Account,
    pending: &PasswordCheck,
    password: &Password,
    deps: &Deps<'_>,
    facts: &Facts,
) -> Result<Option<(Account, AuditEvent)>, HashError> {
    if account.password.hash != pending.hash {
        return Ok(None);
    }
    let stored = PasswordHash::parse(&pending.hash)?;
    if !deps.hasher.needs_rehash(&stored) {
        return Ok(None);
    }
    let fresh = deps.hasher.hash_with_salt(password, &facts.salt)?;
    let mut after = account.clone();
    fresh.as_str().clone_into(&mut after.password.hash);
    let event = AuditEvent {
        at: facts.now,
        user_id: account.user_id.clone(),
        operator_id: None,
        kind: EventKind::PasswordRehashed,
    };
    Ok(Some((after, event)))
}

impl Run<'_, '_> {
    /// A locked password is neither evaluated nor counted (R-LCK-1), and
    /// answers exactly like a wrong password after the same work: one
    /// verification, of the dummy (R-LOG-5). `None`: go on to [`Run::reserve`].
    pub(super) fn password_gate(&mut self, password: &Password) -> Option<Outcome> {
        if !self.acc.password.failures.locked {
            return None;
        }
        dummy_verify(password, self.deps);
        self.event(EventKind::LockedAttempt {
            factor: Factor::Password,
        });
        Some(Outcome::Refused(Refusal::InvalidCredentials))
    }

    /// Counts this attempt as a failure before it is verified; the Nth locks
    /// and ends the pending login and every session (R-LCK-1).
    pub(super) fn reserve(mut self) -> PasswordCheck {
        let cap = self.config().password_lock_after;
        let f = &mut self.acc.password.failures;
        f.count = f.count.saturating_add(1).min(cap);
        let count = f.count;
        let locked_here = count >= cap;
        if locked_here {
            f.locked = true;
            self.void_logins();
        }
        PasswordCheck {
            hash: self.acc.password.hash.clone(),
            reserved: self.acc,
            count,
            locked_here,
        }
    }

    /// A verified attempt (R-LCK-1, R-LCK-3): a failure stays counted; a
    /// success resets the counter unless another attempt's failure has
    /// locked the password meanwhile. `true`: the password factor passed.
    pub(super) fn conclude_password(&mut self, pending: &PasswordCheck, matched: bool) -> bool {
        if !matched {
            self.event(EventKind::PasswordFailed {
                failures: pending.count,
            });
            if pending.locked_here {
                self.event(EventKind::Locked {
                    factor: Factor::Password,
                });
            }
            return false;
        }
        if self.acc.password.failures.locked && !pending.locked_here {
            self.event(EventKind::LockedAttempt {
                factor: Factor::Password,
            });
            return false;
        }
        self.acc.password.failures = Failures::default();
        true
    }

    /// The password step's answer (R-LOG-2, R-ENR-2, R-LOG-6).
    pub(super) fn password_result(
        &mut self,
        pending: &PasswordCheck,
        matched: bool,
        entry: Entry,
    ) -> Outcome {
        if !self.conclude_password(pending, matched) {
            return Outcome::Refused(Refusal::InvalidCredentials);
        }
        self.event(EventKind::PasswordAccepted);
        if self.temporary_expired() {
            self.acc.ticket = None;
            self.event(EventKind::TemporaryPasswordExpired);
            return Outcome::Refused(Refusal::TemporaryPasswordExpired);
        }
        let token = self
            .acc
            .token
            .as_ref()
            .map(|t| (t.credential_id, t.failures.locked));
        let refused = match (entry, token) {
            (Entry::Login, None) => Some(Refusal::NotEnrolled),
            (Entry::Enroll, Some(_)) => Some(Refusal::AlreadyEnrolled),
            _ => None,
        };
        if let Some(refusal) = refused {
            self.acc.ticket = None;
            self.event(EventKind::Refused {
                reason: refusal.code().to_owned(),
            });
            return Outcome::Refused(refusal);
        }
        match token {
            Some((token_id, true)) => {
                self.acc.ticket = None;
                self.event(EventKind::LockedAttempt {
                    factor: Factor::Otp,
                });
                Outcome::OtpRefused {
                    refusal: Refusal::TokenLocked,
                    token_id,
                }
            }
            Some((token_id, false)) => Outcome::OtpRequired {
                ticket: self.issue_ticket(Stage::Otp),
                token_id,
            },
            None if self.acc.enrollment.locked => {
                self.acc.ticket = None;
                self.event(EventKind::LockedAttempt {
                    factor: Factor::Otp,
                });
                Outcome::Refused(Refusal::TokenLocked)
            }
            None => Outcome::EnrollmentRequired {
                ticket: self.issue_ticket(Stage::Enroll),
            },
        }
    }
}
