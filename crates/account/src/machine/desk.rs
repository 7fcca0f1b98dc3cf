//! The support desk's actions (R-OPS-1, R-OPS-2, R-OPS-3, R-TOK-4). Each
//! one is audited with the operator's ID.

use lockstep_password::{Context, HashError};

use super::{OperatorAction, Run};
use crate::event::{EventKind, Factor, Outcome, Refusal};
use crate::record::{Failures, MustChange};

impl Run<'_, '_> {
    /// A support-desk action (R-OPS-1, R-OPS-2, R-OPS-3, R-TOK-4), audited
    /// with the operator's ID.
    pub(super) fn operator(&mut self, action: OperatorAction<'_>) -> Result<Outcome, HashError> {
        match action {
            // R-OPS-1: only that factor's lock and counter.
            OperatorAction::UnlockPassword => {
                self.acc.password.failures = Failures::default();
                self.event(EventKind::Unlocked {
                    factor: Factor::Password,
                });
            }
            OperatorAction::UnlockToken => {
                if let Some(t) = self.acc.token.as_mut() {
                    t.failures = Failures::default();
                }
                self.acc.enrollment = Failures::default();
                self.event(EventKind::Unlocked {
                    factor: Factor::Otp,
                });
            }
            // R-OPS-2: the temporary password satisfies the rules itself
            // (length, letters and digits, not the user name or ID). The
            // history is not consulted: a refusal for reuse would tell the
            // operator the customer's recent password.
            OperatorAction::ResetPassword { temporary } => {
                let context = Context {
                    user_name: Some(&self.acc.user_name),
                    user_id: Some(&self.acc.user_id),
                    ..Context::default()
                };
                if let Err(violations) = self.deps.policy.validate(temporary, &context) {
                    self.event(EventKind::PasswordChangeRejected {
                        codes: violations.codes().map(str::to_owned).collect(),
                    });
                    return Ok(Outcome::Refused(Refusal::PasswordRejected(violations)));
                }
                let hash = self
                    .deps
                    .hasher
                    .hash_with_salt(temporary, &self.facts.salt)?;
                self.set_password(&hash, Some(MustChange::Reset));
                self.acc.password.failures = Failures::default();
                self.event(EventKind::PasswordReset);
            }
            // R-OPS-3, R-TOK-4: the token stops at once, with its lock and
            // counters; its ID is never bindable again.
            OperatorAction::RevokeToken => {
                let Some(binding) = self.acc.token.take() else {
                    return Ok(Outcome::Refused(Refusal::NoToken));
                };
                self.acc.revoked_tokens.push(binding.credential_id);
                self.void_logins();
                self.event(EventKind::TokenRevoked {
                    token_id: binding.credential_id,
                });
            }
        }
        Ok(Outcome::Done)
    }
}
