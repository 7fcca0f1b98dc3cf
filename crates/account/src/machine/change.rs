//! Password changes: the forced change of a login (R-LOG-4) and a logged-in
//! user's voluntary change, both under the password rules (R-PWD-1,
//! R-PWD-2, R-PWD-3, R-PWD-4, R-PWD-5, R-PWD-7). Any change starts a new
//! password age (R-PWD-6), ends the pending login and every session.

use lockstep_password::{Context, HashError, History, Password, PasswordHash};

use super::Run;
use super::password::PasswordCheck;
use crate::event::{EventKind, Factor, Outcome, Refusal};
use crate::record::{LoginTicket, MustChange, SessionToken, Stage};

impl Run<'_, '_> {
    /// The forced change (R-LOG-4, R-ACC-2, R-OPS-2), with the ticket of the
    /// OTP step: a valid new password completes the login (R-ACC-1).
    pub(super) fn forced_change(
        &mut self,
        ticket: &LoginTicket,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Outcome, HashError> {
        if !self.ticket_ok(ticket, Stage::ChangePassword) {
            return Ok(self.ticket_rejected());
        }
        if let Err(refused) = self.change_password(new, confirmation)? {
            return Ok(refused);
        }
        self.event(EventKind::LoggedIn);
        Ok(Outcome::LoggedIn(self.open_session()))
    }

    /// The voluntary change's gate (R-LOG-4, R-LCK-1, R-LCK-2): the session
    /// of a completed login, no required change pending, no expired
    /// temporary password, neither factor locked. `None`: go on to reserve the current password's check.
    pub(super) fn voluntary_gate(&mut self, session: &SessionToken) -> Option<Outcome> {
        if !self.session_ok(session) {
            return Some(self.ticket_rejected());
        }
        let refusal = if self.acc.password.must_change.is_some() {
            Refusal::ChangeRequired
        } else if self.temporary_expired() {
            Refusal::TemporaryPasswordExpired
        } else if self.acc.password.failures.locked {
            self.event(EventKind::LockedAttempt {
                factor: Factor::Password,
            });
            Refusal::InvalidCredentials
        } else if self.acc.otp_locked() {
            self.event(EventKind::LockedAttempt {
                factor: Factor::Otp,
            });
            Refusal::TokenLocked
        } else {
            return None;
        };
        Some(Outcome::Refused(refusal))
    }

    /// The voluntary change's answer once the current password is verified:
    /// a wrong one counts as a password failure (R-LCK-1); a right one
    /// resets the counter (R-LCK-3) and the new password is checked and set
    /// (R-PWD-4, R-PWD-5, R-PWD-7). The
    /// device that changed it gets a new session; every other one ends.
    pub(super) fn voluntary_result(
        &mut self,
        pending: &PasswordCheck,
        matched: bool,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Outcome, HashError> {
        if !self.conclude_password(pending, matched) {
            return Ok(Outcome::Refused(Refusal::InvalidCredentials));
        }
        if let Err(refused) = self.change_password(new, confirmation)? {
            return Ok(refused);
        }
        Ok(Outcome::PasswordChanged(self.open_session()))
    }

    /// Checks `new` against every rule, history included (R-PWD-4), and
    /// sets it. `Err` is the refusal listing every broken rule (R-PWD-7).
    fn change_password(
        &mut self,
        new: &Password,
        confirmation: &Password,
    ) -> Result<Result<(), Outcome>, HashError> {
        let hashes: Vec<PasswordHash> = core::iter::once(&self.acc.password.hash)
            .chain(&self.acc.password.previous)
            .filter_map(|h| PasswordHash::parse(h).ok())
            .collect();
        let context = Context {
            user_name: Some(&self.acc.user_name),
            user_id: Some(&self.acc.user_id),
            confirmation: Some(confirmation),
            history: Some(History {
                hasher: self.deps.hasher,
                hashes: &hashes,
            }),
        };
        if let Err(violations) = self.deps.policy.validate(new, &context) {
            self.event(EventKind::PasswordChangeRejected {
                codes: violations.codes().map(str::to_owned).collect(),
            });
            return Ok(Err(Outcome::Refused(Refusal::PasswordRejected(violations))));
        }
        let hash = self.deps.hasher.hash_with_salt(new, &self.facts.salt)?;
        self.set_password(&hash, None);
        self.event(EventKind::PasswordChanged);
        Ok(Ok(()))
    }

    /// Rotates the history (R-PWD-4), sets the new hash and date (R-PWD-6),
    /// and ends the pending login and every session.
    pub(super) fn set_password(&mut self, hash: &PasswordHash, must_change: Option<MustChange>) {
        let keep = self.deps.policy.history_depth().saturating_sub(1);
        let p = &mut self.acc.password;
        let old = core::mem::replace(&mut p.hash, hash.as_str().to_owned());
        p.previous.insert(0, old);
        p.previous.truncate(keep);
        p.set_at = self.facts.now;
        p.must_change = must_change;
        self.void_logins();
    }
}
