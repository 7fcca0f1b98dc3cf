//! The audit chain's tools: verify a store's chain (and its signed heads),
//! export it as JSON Lines for a SIEM with the links included, verify such
//! an export on its own, and sign the head under an Ed25519 key the
//! database never sees.
//!
//! What each level protects against (see the README's "What the audit
//! chain protects against"):
//! - the chain alone: an edit, delete or insert made with plain SQL (a
//!   hand-made fix, a restore of part of a backup, a careless script) —
//!   but not someone who knows the encoding and rewrites every link from
//!   the row they changed on;
//! - exports kept elsewhere: a rewrite of rows already exported (each
//!   export carries its links; compare an old export's last link with the
//!   store's row);
//! - signed heads: a rewrite of any row up to the newest signed one, by
//!   anyone without the signing key, even with write access to every table
//!   (deleting the signatures too shows as their absence: the operator
//!   expects one per period).

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use lockstep::account::{OsRandom, Random as _};
use lockstep::chain::{AuditChain, ChainBreak, GENESIS, Seal, Verified, WALK_PAGE, export_line};
use zeroize::Zeroizing;

/// What `audit` reports when it cannot do its work (the chain's break is
/// not this: it is the answer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] lockstep::account::StoreError),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// A key file, or a line of an export, is not what it should be.
    #[error("{0}")]
    Format(String),
}

/// A walk's answer: what was checked, or the first break.
#[derive(Debug)]
pub struct Report {
    /// The walk's result.
    pub result: Result<Verified, ChainBreak>,
    /// Signed heads whose signature did not verify under the key given
    /// (their rows are not trusted: an attacker may have written them).
    pub bad_signatures: Vec<u64>,
    /// The newest signed head's row and time, if any verified.
    pub newest_seal: Option<(u64, i64)>,
}

/// Walks `store`'s chain. With `keys`, each stored signed head's
/// signature is checked first (against any of them: keys rotate), and the
/// rows the good ones name must carry their links.
///
/// # Errors
/// The store's.
pub async fn verify<S: AuditChain>(store: &S, keys: &[VerifyingKey]) -> Result<Report, AuditError> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut newest = None;
    if !keys.is_empty() {
        let store_id = store.chain_store_id().await?;
        for seal in store.seals().await? {
            if keys.iter().any(|key| seal_verifies(key, &store_id, &seal)) {
                if newest.is_none_or(|(seq, _)| seal.seq > seq) {
                    newest = Some((seal.seq, seal.at));
                }
                good.push((seal.seq, seal.hash));
            } else {
                bad.push(seal.seq);
            }
        }
    }
    let result = store.verify_chain(good).await?;
    Ok(Report {
        result,
        bad_signatures: bad,
        newest_seal: newest,
    })
}

fn seal_verifies(key: &VerifyingKey, store_id: &str, seal: &Seal) -> bool {
    let Ok(bytes) = data_encoding::HEXLOWER.decode(seal.signature.as_bytes()) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify(&seal.message(store_id), &signature).is_ok()
}

/// Signs `store`'s current head under `key` (named `key_id`) at `now`, and
/// stores the signed head; `None` while the chain has no row.
///
/// # Errors
/// The store's.
pub async fn seal<S: AuditChain>(
    store: &S,
    key: &SigningKey,
    key_id: &str,
    now: i64,
) -> Result<Option<Seal>, AuditError> {
    let head = store.chain_head().await?;
    if head.seq < head.since {
        return Ok(None);
    }
    let store_id = store.chain_store_id().await?;
    let mut seal = Seal {
        seq: head.seq,
        hash: head.hash,
        at: now,
        key_id: key_id.to_owned(),
        signature: String::new(),
    };
    let signature = key.sign(&seal.message(&store_id));
    seal.signature = data_encoding::HEXLOWER.encode(&signature.to_bytes());
    store.insert_seal(&seal).await?;
    Ok(Some(seal))
}

/// Writes every chained row written at or after unix time `since` to
/// `out`, one JSON object a line, each with the link before it (`prev`)
/// and its own: the export verifies on its own ([`lockstep::chain::verify_export`]). Rows
/// are read a page at a time, up to the head as it was at the start.
/// Returns how many lines were written.
///
/// # Errors
/// The store's, or the writer's.
pub async fn export<S: AuditChain>(
    store: &S,
    since: i64,
    out: &mut dyn Write,
) -> Result<u64, AuditError> {
    let head = store.chain_head().await?;
    let Some(first) = store.first_row_since(since).await? else {
        return Ok(0);
    };
    let first = first.max(head.since).max(1);
    let mut prev = if first <= head.since {
        GENESIS.to_owned()
    } else {
        // The row before is part of the chain: without its link the export
        // would start from a made-up anchor.
        store.link_of(first - 1).await?.ok_or_else(|| {
            AuditError::Format(format!(
                "row {} has no link: the chain is broken there; run `audit verify`",
                first - 1
            ))
        })?
    };
    let mut after = first - 1;
    let mut written = 0;
    while after < head.seq {
        let rows = store.chain_rows(after, WALK_PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in rows.iter().take_while(|r| r.seq <= head.seq) {
            let line = export_line(row, &prev);
            prev = row.link.clone().unwrap_or_default();
            writeln!(out, "{line}").map_err(|e| AuditError::Io(e.to_string()))?;
            written += 1;
        }
    }
    out.flush().map_err(|e| AuditError::Io(e.to_string()))?;
    Ok(written)
}

/// A new signing key, written to `path` (0600, never overwritten) as 64
/// hex digits; returns its public half as 64 hex digits.
///
/// # Errors
/// [`AuditError::Io`] when the file exists or cannot be written.
pub fn keygen(path: &Path) -> Result<String, AuditError> {
    let mut secret = Zeroizing::new([0_u8; 32]);
    OsRandom
        .fill(&mut *secret)
        .map_err(|e| AuditError::Io(e.to_string()))?;
    let key = SigningKey::from_bytes(&secret);
    let line = Zeroizing::new(format!("{}\n", data_encoding::HEXLOWER.encode(&*secret)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
    Ok(data_encoding::HEXLOWER.encode(key.verifying_key().as_bytes()))
}

/// The signing key in `path` (64 hex digits).
///
/// # Errors
/// [`AuditError::Io`] or [`AuditError::Format`], naming the file (never
/// its content).
pub fn signing_key(path: &Path) -> Result<SigningKey, AuditError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?,
    );
    let bytes = Zeroizing::new(
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .map_err(|_| AuditError::Format(format!("{}: not 64 hex digits", path.display())))?,
    );
    let secret: &[u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| AuditError::Format(format!("{}: not 64 hex digits", path.display())))?;
    Ok(SigningKey::from_bytes(secret))
}

/// A public key given as 64 hex digits (or a file holding them).
///
/// # Errors
/// [`AuditError::Format`] when it is not a valid Ed25519 public key.
pub fn verifying_key(text_or_path: &str) -> Result<VerifyingKey, AuditError> {
    let text = if Path::new(text_or_path).is_file() {
        std::fs::read_to_string(text_or_path)
            .map_err(|e| AuditError::Io(format!("{text_or_path}: {e}")))?
    } else {
        text_or_path.to_owned()
    };
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.trim().as_bytes())
        .map_err(|_| AuditError::Format("the public key is not 64 hex digits".into()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| AuditError::Format("the public key is not 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| AuditError::Format("not an Ed25519 public key".into()))
}

/// Unix seconds as Japan time, `2026-11-26 09:30:00` (as the desk shows
/// times).
#[must_use]
pub fn japan_time(at: i64) -> String {
    crate::desk::jst(u64::try_from(at).unwrap_or(0))
}

/// A time for `--since`: unix seconds, or RFC 3339
/// (`2026-12-01T00:00:00+09:00`).
///
/// # Errors
/// [`AuditError::Format`] naming both forms.
pub fn parse_since(text: &str) -> Result<i64, AuditError> {
    if let Ok(n) = text.trim().parse::<i64>() {
        return Ok(n);
    }
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp)
        .map_err(|_| {
            AuditError::Format(format!(
                "--since {text:?}: give unix seconds or an RFC 3339 time such as 2026-12-01T00:00:00+09:00"
            ))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_key_made_by_keygen_signs_what_its_public_key_verifies() {
        let dir = std::env::temp_dir().join(format!("bank-audit-key-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let public = keygen(&dir).unwrap();
        assert!(keygen(&dir).is_err(), "never overwritten");
        let key = signing_key(&dir).unwrap();
        let signature = key.sign(b"head");
        assert!(
            verifying_key(&public)
                .unwrap()
                .verify(b"head", &signature)
                .is_ok()
        );
        // Another key (its first digit changed, so it always differs): the
        // signature does not verify, or it is no key at all.
        let first = if public.starts_with('0') { "1" } else { "0" };
        let other = format!("{first}{}", &public[1..]);
        assert_ne!(other, public);
        assert!(verifying_key(&other).map_or(true, |k| k.verify(b"head", &signature).is_err()));
        assert!(verifying_key("xyz").is_err());
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn since_takes_seconds_and_rfc3339_and_names_both_when_neither() {
        assert_eq!(parse_since("1764547200").unwrap(), 1_764_547_200);
        assert_eq!(
            parse_since("2025-12-01T09:00:00+09:00").unwrap(),
            1_764_547_200
        );
        let e = parse_since("yesterday").unwrap_err().to_string();
        assert!(e.contains("RFC 3339") && e.contains("unix seconds"), "{e}");
    }
}
