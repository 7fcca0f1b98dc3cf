//! Outcomes for the caller and audit events for the log.

use core::net::IpAddr;
use lockstep_otp::CredentialId;
use serde::{Deserialize, Serialize};

use crate::record::{LoginTicket, MustChange, SessionToken};
pub(crate) use crate::refusal::Refusal;

/// A completed login: what the initial screen shows (R-ACC-1), and the
/// session token that later sensitive inputs (a voluntary password change)
/// must present. (Named apart from the web framework's own sessions, which
/// an embedder imports beside it.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSession {
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
/// secrets for the client only: `Debug` redacts them, and equality compares
/// them in constant time.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    LoggedIn(UserSession),
    /// A logged-in user's password was changed; every other session of the
    /// account has ended, and this one continues with a new token.
    PasswordChanged(UserSession),
    /// The session presented is open (an authenticated page's check).
    SessionOpen(UserSession),
    /// The session presented was ended (logout).
    LoggedOut,
    /// An operator action or account creation was carried out.
    Done,
    /// Refused; see [`Refusal`].
    Refused {
        /// Why.
        refusal: Refusal,
        /// At the OTP stage, the registered token ID the error screen keeps
        /// showing (manual 2.5.2, R-LOG-2).
        token_id: Option<CredentialId>,
        /// Whether the ticket or session presented still opens its stage,
        /// so that the user may correct the input on the same page (a wrong
        /// code, a password that breaks a rule). `false`: the login or the
        /// session has ended (a lock, a bad or expired ticket) or there was
        /// no stage (the password step, a desk action); start again. A web
        /// layer reads this instead of keeping its own list of refusals.
        stage_open: bool,
    },
}

impl Outcome {
    /// A refusal that ends any stage (no token ID to show).
    #[must_use]
    pub const fn refused(refusal: Refusal) -> Self {
        Self::Refused {
            refusal,
            token_id: None,
            stage_open: false,
        }
    }

    /// The refusal, if the outcome is one.
    #[must_use]
    pub const fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    /// Whether the ticket or session presented still opens its stage: a
    /// refusal the user may correct on the same page. `false` for every
    /// outcome that is no refusal (those hand over a new ticket or end).
    #[must_use]
    pub const fn stage_open(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                stage_open: true,
                ..
            }
        )
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
            | Self::Resynced { token_id, .. } => Some(*token_id),
            Self::Refused { token_id, .. } => *token_id,
            _ => None,
        }
    }

    /// The session of a completed login, a voluntary change or a session
    /// check.
    #[must_use]
    pub const fn session(&self) -> Option<&UserSession> {
        match self {
            Self::LoggedIn(s) | Self::PasswordChanged(s) | Self::SessionOpen(s) => Some(s),
            _ => None,
        }
    }

    /// Whether both factors (and any required change) are done.
    #[must_use]
    pub const fn is_logged_in(&self) -> bool {
        matches!(self, Self::LoggedIn(_))
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
    /// A password attempt on an account, counted before it is verified (the
    /// count-first protocol) and written with that count: `failures`
    /// consecutive including this one, should it fail. Its outcome follows
    /// in a later write ([`EventKind::PasswordFailed`],
    /// [`EventKind::PasswordAccepted`], [`EventKind::LockedAttempt`]); an
    /// attempt with no outcome after it was cut off (a crash, a caller that
    /// left before the answer was written).
    PasswordAttempt {
        /// Consecutive failures including this attempt.
        failures: u32,
    },
    /// A password attempt that no record counts — on a user ID that does
    /// not exist, or on an account whose password is locked — noted in the
    /// store's attempt count, with its outcome ([`EventKind::UnknownUser`]
    /// or [`EventKind::LockedAttempt`]) in a later write.
    AttemptNoted,
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
    /// The user ended a session (logout).
    LoggedOut,
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
    /// A new token was added to the directory (bound to nobody yet).
    TokenIssued {
        /// Its credential ID.
        token_id: CredentialId,
    },
    /// The event's client tried more distinct user IDs within a window
    /// than a person would (password spraying: one password against many
    /// IDs, which no per-account lock sees). The event's `user_id` is
    /// empty: it concerns no one account.
    SprayFlagged {
        /// Distinct user IDs seen from the client when it was flagged.
        distinct_ids: u32,
        /// The window, in seconds.
        window_secs: u64,
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
    /// The address the step came from, as the web layer made it out (the
    /// peer, or the client a trusted proxy names): `None` for steps taken
    /// without one ([`crate::Authenticator::step`], the command line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<IpAddr>,
    /// What happened.
    pub kind: EventKind,
}
