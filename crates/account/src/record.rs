//! The account record and the login ticket.

use core::fmt;

use lockstep_otp::{CredentialId, TotpParams};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Why the password must be changed before anything else (R-LOG-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MustChange {
    /// The temporary password from the application form (R-ACC-2).
    FirstLogin,
    /// The support desk reset the password (R-OPS-2).
    Reset,
    /// The password is older than its validity (R-PWD-6).
    Expired,
}

/// The login stage a ticket opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Stage {
    /// Enter one OTP (R-LOG-2/3), or resync from there (R-SYN-2).
    Otp,
    /// Register a token: token ID, OTP1, OTP2 (R-ENR-2).
    Enroll,
    /// Change the password before logging in (R-LOG-4).
    ChangePassword,
}

/// The password factor's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordState {
    /// The current password's PHC hash.
    pub hash: String,
    /// Earlier passwords' hashes, newest first (the one before the current first).
    pub previous: Vec<String>,
    /// When the current password was set (Unix seconds).
    pub set_at: u64,
    /// Set while the current password is temporary or expired by decision.
    pub must_change: Option<MustChange>,
    /// Consecutive failures (reset only by a password success).
    pub failures: u32,
    /// Locked by the Nth failure; only the support desk unlocks (R-LCK-1).
    pub locked: bool,
}

/// The OTP factor's counters, kept per account so that enrollment failures
/// count before any token is bound (R-ENR-5, semantics 6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpState {
    /// Consecutive failures (reset only by an OTP success).
    pub failures: u32,
    /// Locked by the Nth failure; only the support desk unlocks (R-LCK-2).
    pub locked: bool,
    /// The highest step ever accepted: one monotonic guard for login,
    /// enrollment and resync (semantics 4).
    pub last_used_step: Option<u64>,
}

/// The token bound to an account (R-TOK-1: one at a time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBinding {
    /// The token's credential ID (R-LOG-2 shows it).
    pub credential_id: CredentialId,
    /// Its TOTP parameters, as the directory gave them at enrollment.
    pub params: TotpParams,
    /// The token's clock offset in whole steps (semantics 5).
    pub drift: i64,
    /// When it was bound.
    pub bound_at: u64,
}

/// The pending login: the hash of the ticket the client holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTicket {
    /// SHA-256 of the ticket's 16 bytes.
    pub digest: [u8; 32],
    /// The stage it opens.
    pub stage: Stage,
    /// Unix time after which it is void.
    pub expires_at: u64,
}

impl fmt::Debug for PendingTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingTicket")
            .field("stage", &self.stage)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One user's record: identity, both factors, the pending login, and the
/// version that compare-and-swap checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The user ID (mailed to the customer, R-ACC-1).
    pub user_id: String,
    /// The user name.
    pub user_name: String,
    /// The customer (お客様名) the user belongs to.
    pub customer_name: String,
    /// The password factor.
    pub password: PasswordState,
    /// The OTP factor's counters.
    pub otp: OtpState,
    /// The bound token, if any.
    pub token: Option<TokenBinding>,
    /// Tokens revoked from this account: never bindable again (R-TOK-4).
    pub revoked_tokens: Vec<CredentialId>,
    /// At most one pending login.
    pub ticket: Option<PendingTicket>,
    /// Incremented by the store at every replace.
    pub version: u64,
}

/// A login ticket as the client holds it: 128 random bits. Wiped on drop,
/// redacted in `Debug`; the record keeps only its SHA-256.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LoginTicket([u8; 16]);

impl LoginTicket {
    /// Wraps 16 random bytes (from the caller's RNG).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The ticket as 32 lower-case hex digits, for a hidden form field or a
    /// cookie. The name is the warning: never log it.
    #[must_use]
    pub fn expose_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 32 hex digits; `None` for anything else.
    #[must_use]
    pub fn parse_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 32 {
            return None;
        }
        let mut out = [0_u8; 16];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hex = core::str::from_utf8(pair).ok()?;
            *slot = u8::from_str_radix(hex, 16).ok()?;
        }
        Some(Self(out))
    }

    pub(crate) fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }

    /// Constant-time comparison of this ticket's digest with a stored one.
    pub(crate) fn matches(&self, stored: &[u8; 32]) -> bool {
        self.digest().ct_eq(stored).into()
    }
}

impl fmt::Debug for LoginTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginTicket").finish_non_exhaustive()
    }
}
