//! The password step (R-LOG-1, R-ENR-1, R-ENR-7, R-LOG-5, R-LOG-6,
//! R-LCK-1, R-LCK-3): its gate, the count-first reservation and the answer.
//!
//! A password attempt is counted before it is verified: the reservation is
//! the record with the failure already counted (and the lock set by the
//! Nth), written by compare-and-swap with a [`EventKind::PasswordAttempt`]
//! event, and only then is the password verified; the answer resets the
//! counter on success. A burst of concurrent guesses therefore gets at most
//! as many verifications as the lock allows.

use lockstep_password::PasswordHash;

use super::Draft;
use crate::event::{Entry, EventKind, Factor, Outcome, Refusal};
use crate::record::{Failures, Stage};

/// A reserved password attempt: what was counted, and the stored hash it
/// is verified against.
#[derive(Clone)]
pub(super) struct Reservation {
    /// The failure count this attempt reserved.
    pub(super) count: u32,
    /// Whether this attempt's reservation set the lock.
    pub(super) locked_here: bool,
    /// The stored hash verified. If the stored record's hash is no longer
    /// this one when the answer is decided again, the attempt starts over.
    pub(super) checked: PasswordHash,
}

impl Draft<'_, '_> {
    /// Counts this attempt as a failure before it is verified; the Nth
    /// locks and ends the pending login and every session (R-LCK-1).
    pub(super) fn reserve(&mut self) -> Reservation {
        let checked = self.acc.password.hash.clone();
        let locked_here = self.count_failure(Factor::Password, |failures| {
            EventKind::PasswordAttempt { failures }
        });
        Reservation {
            count: self.acc.password.failures.count,
            locked_here,
            checked,
        }
    }

    /// A verified attempt (R-LCK-1, R-LCK-3): a failure stays counted; a
    /// success resets the counter unless another attempt's failure has
    /// locked the password meanwhile. `true`: the password factor passed.
    pub(super) fn conclude_password(&mut self, reserved: &Reservation, matched: bool) -> bool {
        if !matched {
            self.event(EventKind::PasswordFailed {
                failures: reserved.count,
            });
            if reserved.locked_here {
                self.event(EventKind::Locked {
                    factor: Factor::Password,
                });
            }
            return false;
        }
        if self.acc.password.failures.locked && !reserved.locked_here {
            self.locked_attempt(Factor::Password);
            return false;
        }
        self.acc.password.failures = Failures::default();
        true
    }

    /// The password step's answer (R-LOG-2, R-ENR-2, R-LOG-6), and whether
    /// the password factor passed (a rehash is then due, if any).
    pub(super) fn password_result(
        &mut self,
        reserved: &Reservation,
        matched: bool,
        entry: Entry,
    ) -> (Outcome, bool) {
        if !self.conclude_password(reserved, matched) {
            return (Outcome::refused(Refusal::InvalidCredentials), false);
        }
        self.event(EventKind::PasswordAccepted);
        if self.temporary_expired() {
            self.acc.ticket = None;
            self.event(EventKind::TemporaryPasswordExpired);
            return (Outcome::refused(Refusal::TemporaryPasswordExpired), true);
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
            return (Outcome::refused(refusal), true);
        }
        let outcome = match token {
            Some((token_id, true)) => {
                self.acc.ticket = None;
                self.locked_attempt(Factor::Otp);
                Outcome::Refused {
                    refusal: Refusal::TokenLocked,
                    token_id: Some(token_id),
                    stage_open: false,
                }
            }
            Some((token_id, false)) => Outcome::OtpRequired {
                ticket: self.issue_ticket(Stage::Otp),
                token_id,
            },
            None if self.acc.enrollment.locked => {
                self.acc.ticket = None;
                self.locked_attempt(Factor::Otp);
                Outcome::refused(Refusal::TokenLocked)
            }
            None => Outcome::EnrollmentRequired {
                ticket: self.issue_ticket(Stage::Enroll),
            },
        };
        (outcome, true)
    }
}
