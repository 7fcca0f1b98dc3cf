//! Outcomes for the caller and audit events for the log.

use core::fmt;

use lockstep_otp::{CodeError, CredentialId, CredentialIdError};
use lockstep_password::Violations;
use serde::{Deserialize, Serialize};

use crate::record::{LoginTicket, MustChange};

/// What the logged-in user's initial screen shows (R-ACC-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The customer (お客様名).
    pub customer_name: String,
    /// The user ID.
    pub user_id: String,
    /// The user name.
    pub user_name: String,
}

/// The result of one input, for the caller to act on. Tickets inside are
/// secrets for the client only: `Debug` redacts them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Password accepted; enter an OTP for the token shown (R-LOG-2).
    OtpRequired {
        /// Opens the OTP stage.
        ticket: LoginTicket,
        /// The registered token ID to show.
        token_id: CredentialId,
    },
    /// Password accepted; no token yet, so register one (R-ENR-2).
    EnrollmentRequired {
        /// Opens the enrollment stage.
        ticket: LoginTicket,
    },
    /// Token registered (R-ENR-6); now enter a fresh OTP.
    Enrolled {
        /// Opens the OTP stage.
        ticket: LoginTicket,
        /// The registered token ID to show.
        token_id: CredentialId,
    },
    /// Drift corrected (R-SYN-3); now enter a fresh OTP.
    Resynced {
        /// Opens the OTP stage.
        ticket: LoginTicket,
    },
    /// Both factors accepted, but the password must be changed first (R-LOG-4).
    PasswordChangeRequired {
        /// Opens the password-change stage.
        ticket: LoginTicket,
        /// Why.
        reason: MustChange,
    },
    /// Logged in (R-LOG-3), with what the initial screen shows (R-ACC-1).
    LoggedIn(Session),
    /// A logged-in user's password was changed.
    PasswordChanged,
    /// An operator action or account creation was carried out.
    Done,
    /// Refused; see [`Refusal`].
    Refused(Refusal),
}

/// Why an input was refused. [`Refusal::InvalidCredentials`] is the one
/// public answer for an unknown user ID and a wrong password (R-LOG-5).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Unknown user ID or wrong password: the same answer for both.
    InvalidCredentials,
    /// The password is locked; the support desk must unlock it (R-LCK-1).
    PasswordLocked,
    /// The temporary password has expired; the support desk must reset it.
    TemporaryPasswordExpired,
    /// The token is locked; the support desk must unlock it (R-LCK-2).
    TokenLocked,
    /// No valid ticket for this stage: missing, wrong, expired, used, or for
    /// another stage. Not counted.
    InvalidTicket,
    /// The code is wrong or already used. Counted.
    InvalidCode,
    /// The code is not N ASCII digits (not counted at login and resync).
    MalformedCode(CodeError),
    /// The token ID is not 4 letters and 8 digits (counted at enrollment).
    MalformedTokenId(CredentialIdError),
    /// The token ID is unknown, bound to another user or revoked. Counted.
    TokenUnavailable,
    /// No token is bound (OTP or resync without enrollment).
    NoToken,
    /// The new password breaks rules; every broken rule is listed (R-PWD-7).
    PasswordRejected(Violations),
    /// The account does not exist (operator actions only).
    UnknownAccount,
}

impl Refusal {
    /// A stable machine-readable identifier, for logs and metrics.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::PasswordLocked => "password_locked",
            Self::TemporaryPasswordExpired => "temporary_password_expired",
            Self::TokenLocked => "token_locked",
            Self::InvalidTicket => "invalid_ticket",
            Self::InvalidCode => "invalid_code",
            Self::MalformedCode(_) => "malformed_code",
            Self::MalformedTokenId(_) => "malformed_token_id",
            Self::TokenUnavailable => "token_unavailable",
            Self::NoToken => "no_token",
            Self::PasswordRejected(_) => "password_rejected",
            Self::UnknownAccount => "unknown_account",
        }
    }
}

impl Refusal {
    /// The message in Japanese, for the seed bank's pages. The wording for an
    /// unknown user ID and a wrong password is one and the same (R-LOG-5).
    #[must_use]
    pub fn message_ja(&self) -> String {
        match self {
            Self::InvalidCredentials => "ユーザーIDまたはパスワードが正しくありません。".into(),
            Self::PasswordLocked => {
                "ユーザーIDがロックされています。サポートデスクへご連絡ください。".into()
            }
            Self::TemporaryPasswordExpired => {
                "仮パスワードの有効期限が切れています。サポートデスクへご連絡ください。".into()
            }
            Self::TokenLocked => {
                "ワンタイムパスワードがロックされています。サポートデスクへご連絡ください。".into()
            }
            Self::InvalidTicket => {
                "操作の有効期限が切れました。最初からやり直してください。".into()
            }
            Self::InvalidCode => "セキュリティコードが正しくありません。".into(),
            Self::MalformedCode(CodeError::FullWidthDigit { position }) => format!(
                "セキュリティコードの{position}文字目が全角です。半角数字で入力してください。"
            ),
            Self::MalformedCode(_) => {
                "セキュリティコードは半角数字で、表示されている桁数をそのまま入力してください。"
                    .into()
            }
            Self::MalformedTokenId(_) => {
                "トークンIDは英字4文字と数字8桁で入力してください。".into()
            }
            Self::TokenUnavailable => "このトークンIDは登録できません。".into(),
            Self::NoToken => "トークンが登録されていません。".into(),
            Self::PasswordRejected(v) => v
                .iter()
                .map(lockstep_password::Violation::message_ja)
                .collect::<Vec<_>>()
                .join("\n"),
            Self::UnknownAccount => "該当するユーザーIDがありません。".into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCredentials => f.write_str("the user ID or password is incorrect"),
            Self::PasswordLocked => f.write_str("the user ID is locked; contact the support desk"),
            Self::TemporaryPasswordExpired => {
                f.write_str("the temporary password has expired; contact the support desk")
            }
            Self::TokenLocked => f.write_str("the token is locked; contact the support desk"),
            Self::InvalidTicket => f.write_str("the login has expired; start again"),
            Self::InvalidCode => f.write_str("the security code is incorrect"),
            Self::MalformedCode(e) => fmt::Display::fmt(e, f),
            Self::MalformedTokenId(e) => fmt::Display::fmt(e, f),
            Self::TokenUnavailable => f.write_str("this token ID cannot be registered"),
            Self::NoToken => f.write_str("no token is registered"),
            Self::PasswordRejected(v) => fmt::Display::fmt(v, f),
            Self::UnknownAccount => f.write_str("no such account"),
        }
    }
}

/// The two factors, for events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Factor {
    /// The login password.
    Password,
    /// The one-time password (token).
    Otp,
}

/// What happened, for the audit log. Never a password, code, secret or ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventKind {
    /// A login with an unknown user ID (after a dummy verification).
    UnknownUser,
    /// Correct password.
    PasswordAccepted,
    /// The stored hash was made with other parameters and was replaced.
    PasswordRehashed,
    /// Wrong password; `failures` consecutive so far.
    PasswordFailed {
        /// Consecutive failures including this one.
        failures: u32,
    },
    /// An attempt on a locked factor, refused without evaluation, not counted.
    LockedAttempt {
        /// Which factor.
        factor: Factor,
    },
    /// A factor was locked by its Nth failure.
    Locked {
        /// Which factor.
        factor: Factor,
    },
    /// A valid OTP at `step`; drift now `drift`.
    OtpAccepted {
        /// The accepted step.
        step: u64,
        /// The drift now stored.
        drift: i64,
    },
    /// A wrong OTP; `failures` consecutive so far.
    OtpFailed {
        /// Consecutive failures including this one.
        failures: u32,
    },
    /// A replayed OTP (matched only at a used step); counted like a wrong one.
    OtpReplayed {
        /// Consecutive failures including this one.
        failures: u32,
    },
    /// A ticket that was missing, wrong, expired or for another stage.
    TicketRejected,
    /// The right temporary password, but past its validity: the login ends.
    TemporaryPasswordExpired,
    /// Both factors accepted; the password must change first (R-LOG-4).
    PasswordChangeRequired {
        /// Why.
        reason: MustChange,
    },
    /// Any other refusal, not counted (a malformed code, no token bound, …),
    /// by its machine-readable reason.
    Refused {
        /// The refusal's code, e.g. `malformed_code`.
        reason: String,
    },
    /// A token was registered.
    Enrolled {
        /// Its credential ID.
        token_id: CredentialId,
        /// Its measured drift.
        drift: i64,
    },
    /// A failed enrollment; counted as an OTP failure.
    EnrollmentFailed {
        /// Consecutive OTP failures including this one.
        failures: u32,
    },
    /// A successful resync.
    Resynced {
        /// The new drift in steps.
        drift: i64,
    },
    /// A failed resync; counted as an OTP failure.
    ResyncFailed {
        /// Consecutive OTP failures including this one.
        failures: u32,
    },
    /// The user changed the password.
    PasswordChanged,
    /// A new password was refused; the violations' codes.
    PasswordChangeRejected {
        /// Machine-readable violation codes.
        codes: Vec<String>,
    },
    /// Both factors (and any required change) done.
    LoggedIn,
    /// The support desk created the account with a temporary password.
    AccountCreated,
    /// The support desk unlocked a factor.
    Unlocked {
        /// Which factor.
        factor: Factor,
    },
    /// The support desk reset the password to a temporary one.
    PasswordReset,
    /// The support desk revoked the token.
    TokenRevoked {
        /// Its credential ID.
        token_id: CredentialId,
    },
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unix time of the decision.
    pub at: u64,
    /// The user ID concerned (as typed, for unknown users).
    pub user_id: String,
    /// The operator, for support-desk actions.
    pub operator_id: Option<String>,
    /// What happened.
    pub kind: EventKind,
}
