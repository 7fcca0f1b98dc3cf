//! Password changes: the forced change of a login (R-LOG-4), a logged-in
//! user's voluntary change, and the temporary passwords the desk sets
//! (creation, reset), all under the password rules (R-PWD-1, R-PWD-2,
//! R-PWD-3, R-PWD-4, R-PWD-5, R-PWD-7, R-OPS-2). The rules and the hash run
//! in the step's hash job; what they found is decided here. Any change
//! starts a new password age (R-PWD-6), ends the pending login and every
//! session.

use lockstep_password::{PasswordHash, Violations};

use super::password::Reservation;
use super::{Draft, session};
use crate::event::{EventKind, Factor, Outcome, Refusal};
use crate::record::{Account, Failures, MustChange, SessionToken};

/// The hashes a new password must differ from (R-PWD-4): the current one,
/// then the earlier ones, newest first.
pub(super) fn history(account: &Account) -> Vec<PasswordHash> {
    core::iter::once(&account.password.hash)
        .chain(&account.password.previous)
        .cloned()
        .collect()
}

impl Draft<'_, '_> {
    /// The forced change (R-LOG-4, R-ACC-2, R-OPS-2), once the ticket of
    /// the OTP step passed: a valid new password completes the login
    /// (R-ACC-1).
    pub(super) fn forced_change(&mut self, new: Result<PasswordHash, Violations>) -> Outcome {
        match self.new_password(new, None) {
            Err(refused) => refused,
            Ok(()) => {
                self.event(EventKind::LoggedIn);
                Outcome::LoggedIn(self.open_session())
            }
        }
    }

    /// The voluntary change's gate (R-LOG-4, R-LCK-1, R-LCK-2): the session
    /// of a completed login, no required change pending, no expired
    /// temporary password, neither factor locked. `None`: go on to reserve
    /// the current password's check.
    pub(super) fn voluntary_gate(&mut self, token: &SessionToken) -> Option<Outcome> {
        if let Some(barred) = self.voluntary_bar(token) {
            return Some(barred);
        }
        if self.acc.password.failures.locked {
            self.locked_attempt(Factor::Password);
            return Some(Outcome::refused(Refusal::InvalidCredentials));
        }
        None
    }

    /// What bars a voluntary change on the record as it stands, the
    /// password lock aside (the attempt's own reservation may have set it):
    /// its session ended (logout, a lock, a revoke), a required change, an
    /// expired temporary password, a locked token. Checked at the gate and
    /// again on the record the answer is written to, so that a logout or a
    /// revoke that lands while the current password is hashed is not undone.
    fn voluntary_bar(&mut self, token: &SessionToken) -> Option<Outcome> {
        if session::open(&self.acc, token, self.facts.now).is_none() {
            return Some(self.ticket_rejected());
        }
        let refusal = if self.acc.password.must_change.is_some() {
            Refusal::ChangeRequired
        } else if self.temporary_expired() {
            Refusal::TemporaryPasswordExpired
        } else if self.acc.otp_locked() {
            self.locked_attempt(Factor::Otp);
            Refusal::TokenLocked
        } else {
            return None;
        };
        Some(Outcome::refused(refusal))
    }

    /// The voluntary change's answer once the current password is verified:
    /// a wrong one counts as a password failure (R-LCK-1) and says so (the
    /// user is logged in: there is no user ID to hide); a right one resets
    /// the counter (R-LCK-3) and the new password is checked and set
    /// (R-PWD-4, R-PWD-5, R-PWD-7). The device that changed it gets a new
    /// session; every other one ends.
    pub(super) fn voluntary_change(
        &mut self,
        token: &SessionToken,
        reserved: &Reservation,
        current_matched: bool,
        new: Option<Result<PasswordHash, Violations>>,
    ) -> Outcome {
        // A reservation that locked voided the sessions itself: that is this
        // attempt's own failure, concluded below.
        if !reserved.locked_here
            && let Some(barred) = self.voluntary_bar(token)
        {
            return barred;
        }
        if !self.conclude_password(reserved, current_matched) {
            let refusal = if current_matched {
                // Right, but another attempt locked the password meanwhile.
                Refusal::InvalidCredentials
            } else {
                Refusal::WrongCurrentPassword
            };
            return Outcome::refused(refusal);
        }
        self.event(EventKind::PasswordAccepted);
        let Some(new) = new else {
            return Outcome::refused(Refusal::WrongCurrentPassword);
        };
        match self.new_password(new, None) {
            Err(refused) => refused,
            Ok(()) => Outcome::PasswordChanged(self.open_session()),
        }
    }

    /// The desk's reset to a temporary password that satisfies the rules
    /// itself (R-OPS-2): must change at next login, password lock cleared.
    /// The history is not consulted: a refusal for reuse would tell the
    /// operator the customer's recent password.
    pub(super) fn reset_password(
        &mut self,
        temporary: Result<PasswordHash, Violations>,
    ) -> Outcome {
        if let Err(refused) = self.new_password(temporary, Some(MustChange::Reset)) {
            return refused;
        }
        self.acc.password.failures = Failures::default();
        self.event(EventKind::PasswordReset);
        Outcome::Done
    }

    /// Sets a new password whose rules and hash the job checked, or
    /// refuses it listing every broken rule (R-PWD-7).
    fn new_password(
        &mut self,
        new: Result<PasswordHash, Violations>,
        must_change: Option<MustChange>,
    ) -> Result<(), Outcome> {
        match new {
            Err(violations) => {
                self.event(EventKind::PasswordChangeRejected {
                    codes: violations.codes().map(str::to_owned).collect(),
                });
                Err(Outcome::refused(Refusal::PasswordRejected(violations)))
            }
            Ok(hash) => {
                self.set_password(hash, must_change);
                if must_change.is_none() {
                    self.event(EventKind::PasswordChanged);
                }
                Ok(())
            }
        }
    }

    /// Rotates the history (R-PWD-4), sets the new hash and date (R-PWD-6),
    /// and ends the pending login and every session.
    fn set_password(&mut self, hash: PasswordHash, must_change: Option<MustChange>) {
        let keep = self.deps.policy.history_depth().saturating_sub(1);
        let p = &mut self.acc.password;
        let old = core::mem::replace(&mut p.hash, hash);
        p.previous.insert(0, old);
        p.previous.truncate(keep);
        p.set_at = self.facts.now;
        p.must_change = must_change;
        self.void_logins();
    }
}
