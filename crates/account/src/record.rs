//! The account record, login tickets and sessions.

use core::fmt;

use lockstep_otp::CredentialId;
use lockstep_password::PasswordHash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::token::TokenKind;

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
    /// Enter one OTP (R-LOG-2, R-LOG-3), or resync from there (R-SYN-2).
    Otp,
    /// Register a token: token ID, OTP1, OTP2 (R-ENR-2).
    Enroll,
    /// Change the password before logging in (R-LOG-4).
    ChangePassword,
}

/// A factor's consecutive failures and its lock (R-LCK-1, R-LCK-2, R-LCK-3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    /// Consecutive failures, reset only by a success of the same factor and
    /// capped at the lock threshold.
    pub count: u32,
    /// Set by the Nth failure; only the support desk clears it.
    pub locked: bool,
}

impl Failures {
    /// Counts one more failure against the lock threshold `cap`, for the
    /// password and the OTP alike: the count (capped) and whether it is
    /// the Nth, which locks (R-LCK-1, R-LCK-2).
    pub(crate) fn count_one(&mut self, cap: u32) -> (u32, bool) {
        self.count = self.count.saturating_add(1).min(cap);
        let locks = self.count >= cap;
        self.locked |= locks;
        (self.count, locks)
    }
}

/// A PHC string in a record: stored as text, parsed once when the record
/// is read, so a record whose hash is not a PHC string does not load.
mod phc {
    use lockstep_password::PasswordHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(hash: &PasswordHash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(hash.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PasswordHash, D::Error> {
        let text = String::deserialize(d)?;
        PasswordHash::parse(&text).map_err(serde::de::Error::custom)
    }

    pub(super) mod list {
        use lockstep_password::PasswordHash;
        use serde::ser::SerializeSeq;
        use serde::{Deserialize, Deserializer, Serializer};

        pub(in crate::record) fn serialize<S: Serializer>(
            hashes: &[PasswordHash],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(hashes.len()))?;
            for h in hashes {
                seq.serialize_element(h.as_str())?;
            }
            seq.end()
        }

        pub(in crate::record) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<PasswordHash>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|t| PasswordHash::parse(t).map_err(serde::de::Error::custom))
                .collect()
        }
    }
}

/// The password factor's state.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordState {
    /// The current password's hash.
    #[serde(with = "phc")]
    pub hash: PasswordHash,
    /// Earlier passwords' hashes, newest first (the one before the current
    /// first), for the history rule (R-PWD-4).
    #[serde(with = "phc::list")]
    pub previous: Vec<PasswordHash>,
    /// When the current password was set (Unix seconds).
    pub set_at: u64,
    /// Set while the current password is temporary.
    pub must_change: Option<MustChange>,
    /// Consecutive failures and the password lock (R-LCK-1).
    pub failures: Failures,
}

/// Shows the hashes' algorithm and cost only, never the salt or the hash.
impl fmt::Debug for PasswordState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordState")
            .field("hash", &self.hash)
            .field("previous", &self.previous.len())
            .field("set_at", &self.set_at)
            .field("must_change", &self.must_change)
            .field("failures", &self.failures)
            .finish()
    }
}

/// The token bound to an account (R-TOK-1: one at a time), with everything
/// that belongs to the token rather than to the account: its replay guard,
/// its drift and its failure counter and lock (manual 2.5.2: そのトークン ID
/// は使用不能). A revoke removes all of it; a new token starts afresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBinding {
    /// The token's credential ID (R-LOG-2 shows it).
    pub credential_id: CredentialId,
    /// Time or event token, and its parameters, as the directory gave them.
    pub kind: TokenKind,
    /// A time token's clock offset in whole steps, set only by enrollment
    /// and resync (R-TOK-3, R-SYN-3). Always 0 for an event token.
    pub drift: i64,
    /// The highest step (time token) or counter (event token) ever accepted
    /// for this token: codes at or below it never pass again (R-TOK-3, R-ENR-4).
    pub last_used: u64,
    /// Consecutive OTP failures and the OTP lock of this token (R-LCK-2).
    pub failures: Failures,
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

/// One logged-in session of the account: the hash of the session token the
/// client holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// SHA-256 of the session token's 16 bytes.
    pub digest: [u8; 32],
    /// Unix time after which it is void.
    pub expires_at: u64,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One user's record: identity, both factors, the pending login, the open
/// sessions, and the version that compare-and-swap checks.
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
    /// Failed enrollments while no token is bound: the same cap as a
    /// token's OTP lock (R-ENR-5, R-LCK-2), cleared by the desk's token unlock.
    pub enrollment: Failures,
    /// The bound token, if any, with its own replay guard, drift and lock.
    pub token: Option<TokenBinding>,
    /// Tokens revoked from this account: never bindable again (R-TOK-4).
    pub revoked_tokens: Vec<CredentialId>,
    /// At most one pending login.
    pub ticket: Option<PendingTicket>,
    /// Open sessions (several devices may be logged in at once). Every lock,
    /// reset, revoke and password change empties it.
    pub sessions: Vec<SessionRecord>,
    /// Incremented by the store at every replace.
    pub version: u64,
}

impl Account {
    /// Whether the bound token, or the enrollment counter when none is
    /// bound, is locked (R-LCK-2).
    #[must_use]
    pub fn otp_locked(&self) -> bool {
        self.token
            .as_ref()
            .map_or(self.enrollment.locked, |t| t.failures.locked)
    }
}

/// 16 random bytes the client holds and the record keeps only as a SHA-256
/// digest: the shared core of [`LoginTicket`] and [`SessionToken`].
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct Bearer([u8; 16]);

impl Bearer {
    fn expose_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// Exactly 32 lower-case hex digits: the one spelling `expose_hex`
    /// writes, so no second spelling of a ticket is ever accepted.
    fn parse_hex(text: &str) -> Option<Self> {
        let mut out = [0_u8; 16];
        if text.len() != 32 {
            return None;
        }
        let written = data_encoding::HEXLOWER
            .decode_mut(text.as_bytes(), &mut out)
            .ok()?;
        (written == 16).then_some(Self(out))
    }

    fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }

    fn matches(&self, stored: &[u8; 32]) -> bool {
        self.digest().ct_eq(stored).into()
    }
}

macro_rules! bearer_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Bearer);

        impl $name {
            /// Wraps 16 random bytes (from the caller's RNG).
            #[must_use]
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Bearer(bytes))
            }

            /// The value as 32 lower-case hex digits, for a hidden form field
            /// or a cookie. The name is the warning: never log it.
            #[must_use]
            pub fn expose_hex(&self) -> String {
                self.0.expose_hex()
            }

            /// Parses exactly 32 lower-case hex digits (what
            /// [`Self::expose_hex`] writes); `None` for anything else.
            #[must_use]
            pub fn parse_hex(text: &str) -> Option<Self> {
                Bearer::parse_hex(text).map(Self)
            }

            pub(crate) fn digest(&self) -> [u8; 32] {
                self.0.digest()
            }

            /// Constant-time comparison of this value's digest with a stored one.
            pub(crate) fn matches(&self, stored: &[u8; 32]) -> bool {
                self.0.matches(stored)
            }
        }

        /// Compares the digests in constant time: equal tickets are equal
        /// values, and the comparison reveals nothing of where they differ.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.matches(&other.digest())
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

bearer_type!(
    /// A login ticket as the client holds it: 128 random bits that open the
    /// next stage of one login. Wiped on drop, redacted in `Debug`; the
    /// record keeps only its SHA-256.
    LoginTicket
);

bearer_type!(
    /// A session token as the client holds it: 128 random bits issued only
    /// by a completed login (password + OTP + any required change), needed
    /// for a voluntary password change. Wiped on drop, redacted in `Debug`;
    /// the record keeps only its SHA-256.
    SessionToken
);
