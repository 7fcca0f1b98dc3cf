//! The unit of persistence: one [`Write`] is what one step of the machine
//! asks a store to make durable, all of it or none of it.

use lockstep_otp::CredentialId;

use crate::event::AuditEvent;
use crate::record::Account;

/// What a [`Write`] does to the account record, if anything.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordWrite {
    /// A new account, stored at version 0. Refused with
    /// [`crate::StoreError::AlreadyExists`] for a taken user ID. It starts
    /// the user ID's attempt count afresh: attempts typed before the
    /// account existed are not its attempts.
    Create(Account),
    /// Compare-and-swap: `account` is stored at version `expected + 1` only
    /// if the stored version is still `expected`; otherwise
    /// [`crate::StoreError::Conflict`] ([`crate::StoreError::NotFound`] when
    /// there is no such account).
    Replace {
        /// The record to store.
        account: Account,
        /// The version the stored record must have.
        expected: u64,
    },
}

impl RecordWrite {
    /// The record written.
    #[must_use]
    pub const fn account(&self) -> &Account {
        match self {
            Self::Create(account) | Self::Replace { account, .. } => account,
        }
    }
}

/// A change of which account a token ID belongs to. The machine decides
/// it; a store only applies it, and its unique constraint refuses a second
/// binding of one token ID (R-TOK-1) with
/// [`crate::StoreError::TokenTaken`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenChange {
    /// `owner` registers the token (R-ENR-6). Refused when the ID is bound
    /// to anyone (the owner included) or was ever revoked (R-TOK-4).
    Bind {
        /// The token ID.
        id: CredentialId,
        /// The user ID registering it.
        owner: String,
    },
    /// The desk revokes `owner`'s token: it is bound to nobody and can
    /// never be bound again (R-OPS-3, R-TOK-4).
    Revoke {
        /// The token ID.
        id: CredentialId,
        /// The user ID it was bound to.
        owner: String,
    },
}

/// One password attempt that no record counts: on a user ID that does not
/// exist (as typed, cut to [`crate::machine::MAX_AUDITED_ID_BYTES`]), or on
/// an account whose password is locked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptNote {
    /// The user ID the attempt was made on.
    pub user_id: String,
    /// When (Unix seconds).
    pub at: u64,
}

/// Everything one step of the machine makes durable, applied by a store in
/// one transaction: the record's compare-and-swap, the token changes, the
/// audit events and an attempt note. If any part is refused, nothing of it
/// is written.
///
/// The machine builds writes; a store reads the fields. Stores never diff
/// records to find out what changed: what changes is listed here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Write {
    /// The record, created or compare-and-swapped.
    pub record: Option<RecordWrite>,
    /// Token bindings and revocations, in order.
    pub tokens: Vec<TokenChange>,
    /// The audit events, in order (never a password, code or secret).
    pub events: Vec<AuditEvent>,
    /// A password attempt counted where no record counts it.
    pub attempt: Option<AttemptNote>,
}

impl Write {
    /// A write of audit events alone.
    #[must_use]
    pub fn events(events: Vec<AuditEvent>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    /// A new account and its events.
    #[must_use]
    pub fn create(account: Account, events: Vec<AuditEvent>) -> Self {
        Self {
            record: Some(RecordWrite::Create(account)),
            events,
            ..Self::default()
        }
    }

    /// A compare-and-swap of `account` on the stored version `expected`,
    /// with its events.
    #[must_use]
    pub fn replace(account: Account, expected: u64, events: Vec<AuditEvent>) -> Self {
        Self {
            record: Some(RecordWrite::Replace { account, expected }),
            events,
            ..Self::default()
        }
    }

    /// This write with a token change added.
    #[must_use]
    pub fn with_token(mut self, change: TokenChange) -> Self {
        self.tokens.push(change);
        self
    }

    /// This write with an attempt note.
    #[must_use]
    pub fn with_attempt(mut self, note: AttemptNote) -> Self {
        self.attempt = Some(note);
        self
    }

    /// Whether the write changes nothing at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.record.is_none()
            && self.tokens.is_empty()
            && self.events.is_empty()
            && self.attempt.is_none()
    }
}
