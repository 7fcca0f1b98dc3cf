//! The machine's vocabulary: its inputs, the support desk's actions, and
//! what a step depends on.

use core::fmt;

use lockstep_otp::{Code, CodeError, Digits};
use lockstep_password::{Password, PasswordHash, PasswordHashing, PasswordPolicy};

use crate::config::Config;
use crate::event::Entry;
use crate::record::{LoginTicket, SessionToken};

/// A one-time password as typed, or already parsed by the OTP engine; a
/// parsed code is used as it is, never turned back into text. `Debug`
/// shows neither.
#[derive(Clone, Copy)]
pub enum CodeInput<'a> {
    /// As typed: checked against the token's length and digits.
    Text(&'a str),
    /// Parsed already: its length must be the token's.
    Code(&'a Code),
}

impl CodeInput<'_> {
    /// The code for a token of `digits` digits.
    pub(crate) fn parse(self, digits: Digits) -> Result<Code, CodeError> {
        match self {
            Self::Text(text) => Code::parse(text, digits),
            Self::Code(code) if code.digits() == digits => Ok(code.clone()),
            Self::Code(code) => {
                let (expected, actual) = (digits.get(), usize::from(code.digits().get()));
                Err(if actual < usize::from(expected) {
                    CodeError::TooShort { expected, actual }
                } else {
                    CodeError::TooLong { expected, actual }
                })
            }
        }
    }
}

impl fmt::Debug for CodeInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeInput(..)")
    }
}

impl<'a> From<&'a str> for CodeInput<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a String> for CodeInput<'a> {
    fn from(text: &'a String) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a Code> for CodeInput<'a> {
    fn from(code: &'a Code) -> Self {
        Self::Code(code)
    }
}

/// One input to the machine, for one user ID. Secrets are borrowed, never
/// stored; `Debug` shows no code, ticket or password.
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
        /// The code.
        code: CodeInput<'a>,
    },
    /// Token registration (R-ENR-2, R-ENR-3).
    Enroll {
        /// From the password step.
        ticket: &'a LoginTicket,
        /// The token ID as typed.
        credential_id: &'a str,
        /// The first code.
        otp1: CodeInput<'a>,
        /// The next code.
        otp2: CodeInput<'a>,
    },
    /// Drift correction from the OTP stage (R-SYN-2).
    Resync {
        /// From the password step.
        ticket: &'a LoginTicket,
        /// The first code.
        otp1: CodeInput<'a>,
        /// The next code.
        otp2: CodeInput<'a>,
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
    /// Whether a session is open (every authenticated page asks): reads
    /// only.
    Session {
        /// From the completed login.
        session: &'a SessionToken,
    },
    /// Logout: ends that one session.
    Logout {
        /// From the completed login.
        session: &'a SessionToken,
    },
    /// A support-desk action (R-OPS-1, R-OPS-2, R-OPS-3).
    Operator {
        /// Who did it, for the audit trail.
        operator_id: &'a str,
        /// What.
        action: OperatorAction<'a>,
    },
    /// The support desk creates the account, with a temporary password
    /// that must itself satisfy the password rules (R-ACC-2, R-OPS-2).
    Create {
        /// Who did it, for the audit trail.
        operator_id: &'a str,
        /// The user name.
        user_name: &'a str,
        /// The customer (お客様名).
        customer_name: &'a str,
        /// The temporary password.
        temporary: &'a Password,
    },
}

impl Input<'_> {
    /// Whether this input hashes a password (Argon2: milliseconds), so
    /// that a driver bounds how many wait to be hashed.
    #[must_use]
    pub const fn hashes(&self) -> bool {
        matches!(
            self,
            Self::Password { .. }
                | Self::ChangePassword { .. }
                | Self::ChangePasswordLoggedIn { .. }
                | Self::Create { .. }
                | Self::Operator {
                    action: OperatorAction::ResetPassword { .. },
                    ..
                }
        )
    }

    /// Whether this input counts a password attempt (the password step, and
    /// the voluntary change's current password): a driver runs such steps
    /// one at a time per user ID, whatever the ID.
    #[must_use]
    pub const fn counts_attempts(&self) -> bool {
        matches!(
            self,
            Self::Password { .. } | Self::ChangePasswordLoggedIn { .. }
        )
    }

    /// Whether this input presents a ticket or a session that opens a stage.
    #[must_use]
    pub const fn presents_stage(&self) -> bool {
        matches!(
            self,
            Self::Otp { .. }
                | Self::Enroll { .. }
                | Self::Resync { .. }
                | Self::ChangePassword { .. }
                | Self::ChangePasswordLoggedIn { .. }
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
            Self::Session { .. } => "session",
            Self::Logout { .. } => "logout",
            Self::Operator { .. } => "operator",
            Self::Create { .. } => "create",
        }
    }

    /// The operator who acts, for desk inputs.
    pub(crate) const fn operator(&self) -> Option<&str> {
        match self {
            Self::Operator { operator_id, .. } | Self::Create { operator_id, .. } => {
                Some(operator_id)
            }
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
            Self::Create { operator_id, .. } => d.field("operator_id", operator_id),
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
    /// The password rules for changes and temporary passwords.
    pub policy: &'a PasswordPolicy,
    /// Verifies and makes password hashes.
    pub hasher: &'a dyn PasswordHashing,
    /// A hash of a random password made by `hasher` at its configured cost:
    /// verified instead of a real one wherever a real one must not be
    /// evaluated (unknown user, locked user, oversized input), so that they
    /// cost what a wrong password costs (R-LOG-5).
    pub dummy: &'a PasswordHash,
    /// Where a hash that a counted attempt owes goes when its step is
    /// dropped unfinished (its caller left): `None` runs it there, inline.
    /// A driver hands it to where it runs every hash (the
    /// [`crate::Authenticator`] does).
    pub detach: Option<&'a dyn Detach>,
}

/// Takes the hash a counted attempt still owes when its step is dropped
/// unfinished, to run it where hashes run, with nobody waiting.
pub trait Detach: Sync {
    /// Runs `work` (or has it run) to completion, later.
    fn detach(&self, work: OwedWork);
}

/// The hash a counted attempt owes, owned (so that it outlives the step):
/// a password to verify against a stored hash, or against the dummy.
pub struct OwedWork {
    pub(crate) password: zeroize::Zeroizing<String>,
    pub(crate) against: Option<PasswordHash>,
}

impl OwedWork {
    /// Does the work: the verification (padded to the configured cost, for
    /// an older hash), or the dummy's for an unknown or locked user ID or an
    /// oversized password — what the attempt would have cost had its caller
    /// stayed. The result is dropped.
    pub fn run(
        self,
        hasher: &dyn PasswordHashing,
        dummy: &PasswordHash,
        max_password_bytes: usize,
    ) {
        let password = Password::new(self.password.as_str().to_owned());
        match self
            .against
            .filter(|_| password.expose().len() <= max_password_bytes)
        {
            Some(stored) => {
                let _ = hasher.verify(&password, &stored);
                if hasher.needs_rehash(&stored) {
                    hasher.pad_to_cost(&password, &stored);
                }
            }
            None if password.expose().len() <= max_password_bytes => {
                let _ = hasher.verify(&password, dummy);
            }
            None => {
                let _ = hasher.verify(&Password::new(String::new()), dummy);
            }
        }
    }
}

/// Shows nothing of the password.
impl fmt::Debug for OwedWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwedWork")
            .field("against", &self.against)
            .finish_non_exhaustive()
    }
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
    /// The address the step came from, for its audit events
    /// ([`crate::AuditEvent::client`]).
    pub client: Option<core::net::IpAddr>,
}

/// Shows the time, never the randomness.
impl fmt::Debug for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facts")
            .field("now", &self.now)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}
