//! The machine's vocabulary: its inputs (with the token facts a driver
//! looked up), the support desk's actions, and what a call depends on.

use core::fmt;

use lockstep_otp::CredentialId;
use lockstep_password::{Password, PasswordHash, PasswordHasher, PasswordPolicy};

use super::ticket_opens;
use crate::config::Config;
use crate::event::Entry;
use crate::record::{Account, LoginTicket, SessionToken};
use crate::token::{TokenSeed, TokenStatus};

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
    /// Whether deciding this input hashes a password (Argon2: milliseconds),
    /// so that the driver runs it through its offload hook.
    pub(crate) const fn hashes(&self) -> bool {
        matches!(
            self,
            Self::Password { .. }
                | Self::ChangePassword { .. }
                | Self::ChangePasswordLoggedIn { .. }
                | Self::Operator {
                    action: OperatorAction::ResetPassword { .. },
                    ..
                }
        )
    }

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
    pub(super) const fn password(&self) -> Option<&Password> {
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
