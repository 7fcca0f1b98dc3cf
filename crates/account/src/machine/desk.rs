//! The support desk's actions that hash nothing (R-OPS-1, R-OPS-3,
//! R-TOK-4); the reset is in `change.rs` with the other new passwords.
//! Each one is audited with the operator's ID.

use super::Draft;
use crate::event::{EventKind, Factor, Outcome, Refusal};
use crate::record::Failures;
use crate::write::TokenChange;

impl Draft<'_, '_> {
    /// R-OPS-1: only the password's lock and counter.
    pub(super) fn unlock_password(&mut self) -> Outcome {
        self.acc.password.failures = Failures::default();
        self.event(EventKind::Unlocked {
            factor: Factor::Password,
        });
        Outcome::Done
    }

    /// R-OPS-1: the token's lock and counter, and the enrollment counter.
    pub(super) fn unlock_token(&mut self) -> Outcome {
        if let Some(t) = self.acc.token.as_mut() {
            t.failures = Failures::default();
        }
        self.acc.enrollment = Failures::default();
        self.event(EventKind::Unlocked {
            factor: Factor::Otp,
        });
        Outcome::Done
    }

    /// R-OPS-3, R-TOK-4: the token stops at once, with its lock and
    /// counters; its ID is never bindable again (the store marks it).
    pub(super) fn revoke_token(&mut self) -> Outcome {
        let Some(binding) = self.acc.token.take() else {
            return Outcome::refused(Refusal::NoToken);
        };
        let id = binding.credential_id;
        self.acc.revoked_tokens.push(id);
        self.tokens.push(TokenChange::Revoke {
            id,
            owner: self.acc.user_id.clone(),
        });
        self.void_logins();
        self.event(EventKind::TokenRevoked { token_id: id });
        Outcome::Done
    }
}
