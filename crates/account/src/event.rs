//! Outcomes for the caller and audit events for the log.

use core::fmt;

use lockstep_otp::{CodeError, CredentialId, CredentialIdError};
use lockstep_password::Violations;
use serde::{Deserialize, Serialize};

use crate::record::{LoginTicket, MustChange, SessionToken};

/// A completed login: what the initial screen shows (R-ACC-1), and the
/// session token that later sensitive inputs (a voluntary password change)
/// must present.
#[derive(Clone, Debug)]
pub struct Session {
    /// The customer (お客様名).
    pub customer_name: String,
    /// The user ID.
    pub user_id: String,
    /// The user name.
    pub user_name: String,
    /// Proof of this completed login, for the client only (redacted in `Debug`).
    pub token: SessionToken,
    /// Unix time after which the session is void.
    pub expires_at: u64,
}

/// Which button the user pressed on the login screen (R-LOG-6): the two
/// entries of manual 2.3 and 2.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Entry {
    /// ［利用開始登録］: first use, register a token (R-ENR-1).
    Enroll,
    /// ［ワンタイムパスワードログイン］: log in with the registered token (R-LOG-1).
    Login,
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
        /// The registered token ID to show.
        token_id: CredentialId,
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
    /// A logged-in user's password was changed; every other session of the
    /// account has ended, and this one continues with a new token.
    PasswordChanged(Session),
    /// An operator action or account creation was carried out.
    Done,
    /// Refused; see [`Refusal`].
    Refused(Refusal),
    /// Refused at the OTP stage: the error screen keeps showing the
    /// registered token ID (manual 2.5.2, R-LOG-2).
    OtpRefused {
        /// Why.
        refusal: Refusal,
        /// The registered token ID to show.
        token_id: CredentialId,
    },
}

impl Outcome {
    /// The refusal, if the outcome is one.
    #[must_use]
    pub const fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused(r) | Self::OtpRefused { refusal: r, .. } => Some(r),
            _ => None,
        }
    }

    /// The ticket for the next stage, if the outcome opens one.
    #[must_use]
    pub const fn ticket(&self) -> Option<&LoginTicket> {
        match self {
            Self::OtpRequired { ticket, .. }
            | Self::EnrollmentRequired { ticket }
            | Self::Enrolled { ticket, .. }
            | Self::Resynced { ticket, .. }
            | Self::PasswordChangeRequired { ticket, .. } => Some(ticket),
            _ => None,
        }
    }

    /// The token ID the screen shows, if any.
    #[must_use]
    pub const fn token_id(&self) -> Option<CredentialId> {
        match self {
            Self::OtpRequired { token_id, .. }
            | Self::Enrolled { token_id, .. }
            | Self::Resynced { token_id, .. }
            | Self::OtpRefused { token_id, .. } => Some(*token_id),
            _ => None,
        }
    }

    /// The session of a completed login or a voluntary change.
    #[must_use]
    pub const fn session(&self) -> Option<&Session> {
        match self {
            Self::LoggedIn(s) | Self::PasswordChanged(s) => Some(s),
            _ => None,
        }
    }

    /// Whether both factors (and any required change) are done.
    #[must_use]
    pub const fn is_logged_in(&self) -> bool {
        matches!(self, Self::LoggedIn(_))
    }
}

/// Why an input was refused. [`Refusal::InvalidCredentials`] is the one
/// public answer for an unknown user ID, a wrong password and a locked user
/// ID (R-LOG-5): the audit event records which it was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Unknown user ID, wrong password or locked user ID: one answer for all.
    InvalidCredentials,
    /// The temporary password has expired (only with an opt-in expiry).
    TemporaryPasswordExpired,
    /// The token is locked (or, before one is bound, enrollment is): the
    /// support desk must unlock it (R-LCK-2).
    TokenLocked,
    /// No valid ticket or session for this input: missing, wrong, expired,
    /// used, for another stage, or voided. Not counted.
    InvalidTicket,
    /// The code is wrong or already used. Counted.
    InvalidCode,
    /// The code is not N ASCII digits (not counted at login and resync).
    MalformedCode(CodeError),
    /// The token ID is not 4 letters and 8 digits (counted at enrollment).
    MalformedTokenId(CredentialIdError),
    /// The token ID is unknown, bound to another user or revoked. Counted.
    TokenUnavailable,
    /// The stored drift lies beyond the configured bound (the bound was
    /// lowered): resynchronise first. Not counted.
    ResyncRequired,
    /// ［利用開始登録］ was chosen, but a token is registered: use
    /// ［ワンタイムパスワードログイン］ (R-LOG-6, R-TOK-1).
    AlreadyEnrolled,
    /// ［ワンタイムパスワードログイン］ was chosen, but no token is registered:
    /// use ［利用開始登録］ (R-LOG-6, R-ENR-1).
    NotEnrolled,
    /// A voluntary change while a required change is pending: the login
    /// must finish it first (R-LOG-4).
    ChangeRequired,
    /// The new password breaks rules; every broken rule is listed (R-PWD-7).
    PasswordRejected(Violations),
    /// No token is bound (revoke of nothing).
    NoToken,
    /// The account does not exist (operator actions only).
    UnknownAccount,
}

impl Refusal {
    /// A stable machine-readable identifier, for logs and metrics.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::TemporaryPasswordExpired => "temporary_password_expired",
            Self::TokenLocked => "token_locked",
            Self::InvalidTicket => "invalid_ticket",
            Self::InvalidCode => "invalid_code",
            Self::MalformedCode(_) => "malformed_code",
            Self::MalformedTokenId(_) => "malformed_token_id",
            Self::TokenUnavailable => "token_unavailable",
            Self::ResyncRequired => "resync_required",
            Self::AlreadyEnrolled => "already_enrolled",
            Self::NotEnrolled => "not_enrolled",
            Self::ChangeRequired => "change_required",
            Self::PasswordRejected(_) => "password_rejected",
            Self::NoToken => "no_token",
            Self::UnknownAccount => "unknown_account",
        }
    }

    /// The message in Japanese, for the manual's pages. An unknown user ID,
    /// a wrong password and a locked user ID read the same (R-LOG-5), and
    /// the text says what the manual says: five failures lock the ID, and
    /// the branch or the support desk unlocks it.
    #[must_use]
    pub fn message_ja(&self) -> String {
        match self {
            Self::InvalidCredentials => "ユーザIDまたはログインパスワードが正しくありません。\
                 ログインパスワードを5回続けて誤るとユーザIDがロックされます。\
                 ロックされた場合は、お取引店またはサポートデスクへご連絡ください。"
                .into(),
            Self::TemporaryPasswordExpired => {
                "仮パスワードの有効期限が切れています。お取引店またはサポートデスクへご連絡ください。"
                    .into()
            }
            Self::TokenLocked => "このトークンIDは使用できません（ワンタイムパスワードがロックされています）。\
                 お取引店またはサポートデスクへご連絡ください。"
                .into(),
            Self::InvalidTicket => {
                "操作の有効期限が切れました。最初からやり直してください。".into()
            }
            Self::InvalidCode => "ワンタイムパスワードが正しくありません。\
                 10回続けて誤るとトークンIDが使用できなくなります。"
                .into(),
            Self::MalformedCode(CodeError::FullWidthDigit { position }) => format!(
                "ワンタイムパスワードの{position}文字目が全角です。半角数字で入力してください。"
            ),
            Self::MalformedCode(_) => {
                "ワンタイムパスワードは半角数字で、表示されている桁数をそのまま入力してください。"
                    .into()
            }
            Self::MalformedTokenId(_) => {
                "トークンIDは英字4文字と数字8桁で入力してください。".into()
            }
            Self::TokenUnavailable => "このトークンIDは登録できません。".into(),
            Self::ResyncRequired => {
                "トークンの時刻がずれています。同期ズレ補正を行ってください。".into()
            }
            Self::AlreadyEnrolled => "トークンは登録済みです。\
                 ［ワンタイムパスワードログイン］からログインしてください。"
                .into(),
            Self::NotEnrolled => "トークンが登録されていません。\
                 ［利用開始登録］から登録してください。"
                .into(),
            Self::ChangeRequired => {
                "パスワードの変更が必要です。ログインからやり直してください。".into()
            }
            Self::PasswordRejected(v) => v
                .iter()
                .map(lockstep_password::Violation::message_ja)
                .collect::<Vec<_>>()
                .join("\n"),
            Self::NoToken => "トークンが登録されていません。".into(),
            Self::UnknownAccount => "該当するユーザIDがありません。".into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCredentials => f.write_str(
                "the user ID or password is incorrect; five wrong passwords in a row lock the \
                 user ID, after which contact your branch or the support desk",
            ),
            Self::TemporaryPasswordExpired => f.write_str(
                "the temporary password has expired; contact your branch or the support desk",
            ),
            Self::TokenLocked => f.write_str(
                "this token ID cannot be used (the one-time password is locked); contact your \
                 branch or the support desk",
            ),
            Self::InvalidTicket => f.write_str("the login has expired; start again"),
            Self::InvalidCode => f.write_str(
                "the one-time password is incorrect; ten in a row make the token ID unusable",
            ),
            Self::MalformedCode(e) => fmt::Display::fmt(e, f),
            Self::MalformedTokenId(e) => fmt::Display::fmt(e, f),
            Self::TokenUnavailable => f.write_str("this token ID cannot be registered"),
            Self::ResyncRequired => {
                f.write_str("the token's clock is off; correct the drift (resync) first")
            }
            Self::AlreadyEnrolled => {
                f.write_str("a token is registered already; use the one-time-password login")
            }
            Self::NotEnrolled => {
                f.write_str("no token is registered yet; use first-use registration")
            }
            Self::ChangeRequired => f.write_str("the password must be changed first; log in again"),
            Self::PasswordRejected(v) => fmt::Display::fmt(v, f),
            Self::NoToken => f.write_str("no token is registered"),
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
    /// An input for an unknown user ID (after the same work as for a known
    /// one); the event's `user_id` is the typed ID, cut to 64 bytes.
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
    /// A valid OTP at `step` (a time step or an event counter); the drift
    /// is unchanged by a login (R-TOK-3).
    OtpAccepted {
        /// The accepted step or counter.
        step: u64,
        /// The token's stored drift.
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
    /// A ticket or session that was missing, wrong, expired or for another stage.
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
        /// The token.
        token_id: CredentialId,
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
