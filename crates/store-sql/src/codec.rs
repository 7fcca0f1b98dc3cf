//! The stored forms of records, events and token seeds, and reading them
//! back: a row changed behind the store's back decodes to a typed error,
//! never a panic and never a half-read record.

use lockstep_account::{Account, AuditEvent, CredentialId, EventKind, StoreError, TokenKind};

use crate::seal::SealedSecret;
use crate::{encoding, unsigned};

/// A record as stored: its JSON text.
///
/// # Errors
/// An encoding error (cannot happen for a record the machine made).
pub fn encode_account(account: &Account) -> Result<String, StoreError> {
    serde_json::to_string(account).map_err(encoding)
}

/// A record from its stored row: the version column (authoritative over
/// the copy in the text) and the JSON text. Hashes that are not PHC
/// strings, counts that are not numbers, unknown fields' types: an error.
///
/// # Errors
/// An encoding error for anything that is not a record as written.
pub fn decode_account(version: i64, text: &str) -> Result<Account, StoreError> {
    let mut account: Account = serde_json::from_str(text).map_err(encoding)?;
    account.version = unsigned(version)?;
    Ok(account)
}

/// An audit event from its stored row.
///
/// # Errors
/// An encoding error for a negative time or a kind that is not one.
pub fn decode_event(
    user_id: String,
    at: i64,
    operator_id: Option<String>,
    client: Option<&str>,
    kind: &str,
) -> Result<AuditEvent, StoreError> {
    let client = client
        .map(|c| c.parse::<core::net::IpAddr>().map_err(encoding))
        .transpose()?;
    Ok(AuditEvent {
        at: unsigned(at)?,
        user_id,
        operator_id,
        client,
        kind: serde_json::from_str::<EventKind>(kind).map_err(encoding)?,
    })
}

/// A token seed's row: its credential ID, kind and sealed secret (still
/// sealed; [`crate::seal::Keyring::open`] authenticates it).
///
/// # Errors
/// An encoding error for an ID, a kind or a sealed form that is not one.
pub fn decode_seed_row(
    id: &str,
    kind: &str,
    sealed: &[u8],
) -> Result<(CredentialId, TokenKind, SealedSecret), StoreError> {
    let id = CredentialId::parse(id).map_err(encoding)?;
    let kind: TokenKind = serde_json::from_str(kind).map_err(encoding)?;
    let sealed = SealedSecret::parse(sealed).map_err(encoding)?;
    Ok((id, kind, sealed))
}
