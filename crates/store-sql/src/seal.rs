//! Token secrets sealed at rest: AES-256-GCM under a keyring the embedder
//! provides, for the stores' token directories.
//!
//! The stored form is `version (1) ‖ key ID (4, big-endian) ‖ nonce (12) ‖
//! ciphertext + tag`. The associated data binds it to its row: a fixed
//! label, the format version, the key ID, the store's own ID, the
//! credential ID and the token's kind and parameters — a sealed secret
//! copied onto another credential, relabelled with other parameters, or
//! copied into another store (the desk's row into the customers' store, or
//! one replica set's into another's), does not open. One key of the
//! [`Keyring`] seals; every key in it opens, found by its ID (never by
//! trying each). A key is retired once no row names it:
//! [`Keyring::reseal`] moves a row to the active key and the current
//! format, and does nothing for a row already there, so a rotation is
//! idempotent and can resume anywhere. Rows of format 1 (before the store's
//! ID was bound in) still open, and a rotation moves them to format 2.
//!
//! Long because the format, the keyring and their one unit test (a format-1
//! row, which only the private associated-data builder can make) belong
//! together; the rest of its tests are in `tests/seal.rs`.

use core::fmt;
use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use lockstep_account::{CredentialId, Random, TokenKind, TokenSeed};
use lockstep_otp::{Algorithm, Secret};
use zeroize::Zeroizing;

/// The format version this code writes. It also reads version 1, whose
/// associated data has no store ID.
pub const SEAL_VERSION: u8 = 2;

/// The first format, read for rotation.
const SEAL_VERSION_1: u8 = 1;

/// A store's own ID, made when its tables are (a random value in its
/// `store_meta` table): bound into every secret it seals.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoreId(String);

impl StoreId {
    /// A store ID as the store keeps it.
    #[must_use]
    pub const fn new(id: String) -> Self {
        Self(id)
    }

    /// The ID's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const LABEL: &[u8] = b"lockstep sealed token secret";
const HEADER: usize = 1 + 4 + 12;
const TAG: usize = 16;

/// A key's identifier, stored beside every secret it sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why sealing or opening failed. Never contains a key or a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The stored form is too short or otherwise not a sealed secret.
    #[error("not a sealed token secret")]
    Malformed,
    /// A format version this code does not know.
    #[error("sealed with format version {0}, which this version cannot read")]
    UnsupportedVersion(u8),
    /// The keyring has no key with this ID.
    #[error("no key {0} in the keyring")]
    UnknownKey(KeyId),
    /// Authentication failed: a wrong key for this ID, a tampered row, or a
    /// secret sealed for another credential or other parameters.
    #[error("the sealed secret does not open for this token (wrong key, tampered, or moved)")]
    Tampered,
    /// The opened secret is not a usable key.
    #[error("the sealed secret is not a usable token key")]
    BadSecret,
    /// A key in a keyring description is not `ID:64 hex digits`.
    #[error("a keyring entry must be `ID:64 hex digits` (line {line})")]
    BadKeyEntry {
        /// 1-based entry number.
        line: usize,
    },
    /// Two keys with one ID.
    #[error("key {0} is listed twice")]
    DuplicateKey(KeyId),
    /// A key that is no secret: all zero, or one short pattern repeated
    /// (`00…`, `7f7f…`, `0123456701234567…`) — a placeholder, not a key.
    #[error("key entry {line} is a repeated pattern, not a random key")]
    WeakKey {
        /// 1-based entry number.
        line: usize,
    },
    /// A keyring description without any key.
    #[error("the keyring has no key")]
    NoKey,
    /// No randomness for a nonce.
    #[error("no randomness for a nonce")]
    Random,
}

/// A 256-bit sealing key with its ID. Wiped on drop; `Debug` shows the ID.
#[derive(Clone)]
pub struct SealingKey {
    id: KeyId,
    key: Zeroizing<[u8; 32]>,
}

impl SealingKey {
    /// A key from 32 bytes (from the embedder's secret store).
    #[must_use]
    pub fn new(id: KeyId, bytes: [u8; 32]) -> Self {
        Self {
            id,
            key: Zeroizing::new(bytes),
        }
    }

    /// The key's ID.
    #[must_use]
    pub const fn id(&self) -> KeyId {
        self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.key))
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The keys a store seals and opens token secrets with: one active key
/// seals, every key opens. `Debug` shows key IDs only.
#[derive(Clone)]
pub struct Keyring {
    active: KeyId,
    keys: BTreeMap<KeyId, SealingKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// A keyring whose one key seals and opens.
    #[must_use]
    pub fn new(active: SealingKey) -> Self {
        let id = active.id;
        Self {
            active: id,
            keys: BTreeMap::from([(id, active)]),
        }
    }

    /// Adds a key that opens what it sealed (an older key during rotation).
    ///
    /// # Errors
    /// [`SealError::DuplicateKey`] for an ID already in the ring.
    pub fn with(mut self, key: SealingKey) -> Result<Self, SealError> {
        if self.keys.contains_key(&key.id) {
            return Err(SealError::DuplicateKey(key.id));
        }
        self.keys.insert(key.id, key);
        Ok(self)
    }

    /// Parses a keyring description: entries `ID:64 hex digits` separated
    /// by commas or new lines, the first one active. This is the format of
    /// both ways an embedder hands keys over: an environment variable
    /// (`LOCKSTEP_KEYS="2:…,1:…"`, read with [`Keyring::from_env`]) or a
    /// key file (one entry per line, read with [`Keyring::from_file`]).
    ///
    /// # Errors
    /// [`SealError::BadKeyEntry`], [`SealError::WeakKey`],
    /// [`SealError::DuplicateKey`], [`SealError::NoKey`].
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let mut ring: Option<Self> = None;
        let entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'));
        for (n, entry) in entries.enumerate() {
            let bad = SealError::BadKeyEntry { line: n + 1 };
            let (id, hex) = entry.split_once(':').ok_or_else(|| bad.clone())?;
            let id = KeyId(id.trim().parse().map_err(|_| bad.clone())?);
            let mut bytes = Zeroizing::new([0_u8; 32]);
            let hex = hex.trim().as_bytes();
            let decoded = data_encoding::HEXLOWER_PERMISSIVE
                .decode_len(hex.len())
                .ok()
                .filter(|&len| len == 32)
                .and_then(|_| {
                    data_encoding::HEXLOWER_PERMISSIVE
                        .decode_mut(hex, &mut *bytes)
                        .ok()
                });
            if decoded != Some(32) {
                return Err(bad);
            }
            if repeats_a_pattern(&bytes) {
                return Err(SealError::WeakKey { line: n + 1 });
            }
            let key = SealingKey::new(id, *bytes);
            ring = Some(match ring {
                None => Self::new(key),
                Some(r) => r.with(key)?,
            });
        }
        ring.ok_or(SealError::NoKey)
    }

    /// [`Keyring::parse`] of an environment variable's value.
    ///
    /// # Errors
    /// [`SealError::NoKey`] when the variable is unset or empty; as
    /// [`Keyring::parse`] otherwise.
    pub fn from_env(var: &str) -> Result<Self, SealError> {
        let value = Zeroizing::new(std::env::var(var).unwrap_or_default());
        Self::parse(&value)
    }

    /// [`Keyring::parse`] of a key file's contents.
    ///
    /// # Errors
    /// [`SealError::NoKey`] when the file cannot be read or is empty; as
    /// [`Keyring::parse`] otherwise.
    pub fn from_file(path: &std::path::Path) -> Result<Self, SealError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).unwrap_or_default());
        Self::parse(&text)
    }

    /// A 256-bit key for another purpose (say, a web layer's CSRF key),
    /// derived from the active sealing key as HMAC-SHA256 of `purpose`:
    /// every replica that holds the keyring derives the same one, and no
    /// sealing key can be computed from it. Adding a new active key
    /// changes it.
    #[must_use]
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        use hmac::{KeyInit as _, Mac as _};
        let mut out = Zeroizing::new([0_u8; 32]);
        let Some(key) = self.keys.get(&self.active) else {
            return out;
        };
        // HMAC takes a key of any length: this cannot fail.
        if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&*key.key) {
            mac.update(b"lockstep keyring derive\0");
            mac.update(purpose.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// The ID of the key that seals.
    #[must_use]
    pub const fn active(&self) -> KeyId {
        self.active
    }

    /// The IDs of every key that opens.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.keys().copied()
    }

    fn key(&self, id: KeyId) -> Result<&SealingKey, SealError> {
        self.keys.get(&id).ok_or(SealError::UnknownKey(id))
    }

    /// Seals `seed`'s secret for `credential_id` in `store` under the
    /// active key, with a fresh random nonce.
    ///
    /// # Errors
    /// [`SealError::Random`] without randomness; [`SealError::UnknownKey`]
    /// cannot happen for the active key.
    pub fn seal(
        &self,
        store: &StoreId,
        credential_id: &CredentialId,
        seed: &TokenSeed,
        random: &dyn Random,
    ) -> Result<SealedSecret, SealError> {
        let key = self.key(self.active)?;
        let mut nonce = [0_u8; 12];
        random.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let aad = associated_data(SEAL_VERSION, key.id, Some(store), credential_id, seed.kind);
        let sealed = key
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: seed.secret.expose_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Malformed)?;
        let mut out = Vec::with_capacity(HEADER + sealed.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&key.id.0.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(SealedSecret(out))
    }

    /// Opens a sealed secret of `credential_id` with `kind`, in `store`.
    ///
    /// # Errors
    /// [`SealError::UnknownKey`] for a key not in the ring,
    /// [`SealError::Tampered`] for a wrong key, a changed byte, another
    /// credential, other parameters or another store,
    /// [`SealError::BadSecret`] for a secret the OTP engine refuses.
    pub fn open(
        &self,
        store: &StoreId,
        credential_id: &CredentialId,
        kind: TokenKind,
        sealed: &SealedSecret,
    ) -> Result<TokenSeed, SealError> {
        let (key_id, nonce, body) = sealed.parts();
        let key = self.key(key_id)?;
        let version = sealed.version();
        let store = (version != SEAL_VERSION_1).then_some(store);
        let aad = associated_data(version, key_id, store, credential_id, kind);
        let secret = Zeroizing::new(
            key.cipher()
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: body,
                        aad: &aad,
                    },
                )
                .map_err(|_| SealError::Tampered)?,
        );
        let secret = Secret::from_bytes_with(&secret, lockstep_otp::KeyStrength::AllowLegacy80)
            .map_err(|_| SealError::BadSecret)?;
        Ok(TokenSeed { secret, kind })
    }

    /// The row sealed again under the active key and in the current
    /// format, or `None` when it is already both (idempotent: a rotation
    /// re-runs safely).
    ///
    /// # Errors
    /// As [`Keyring::open`] and [`Keyring::seal`].
    pub fn reseal(
        &self,
        store: &StoreId,
        credential_id: &CredentialId,
        kind: TokenKind,
        sealed: &SealedSecret,
        random: &dyn Random,
    ) -> Result<Option<SealedSecret>, SealError> {
        if sealed.key_id() == self.active && sealed.version() == SEAL_VERSION {
            return Ok(None);
        }
        let seed = self.open(store, credential_id, kind, sealed)?;
        self.seal(store, credential_id, &seed, random).map(Some)
    }
}

/// The associated data binding a sealed secret to its row (and, from
/// format 2, to its store).
fn associated_data(
    version: u8,
    key_id: KeyId,
    store: Option<&StoreId>,
    credential_id: &CredentialId,
    kind: TokenKind,
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(LABEL.len() + 80);
    aad.extend_from_slice(LABEL);
    aad.push(version);
    aad.extend_from_slice(&key_id.0.to_be_bytes());
    if let Some(store) = store {
        let id = store.as_str().as_bytes();
        aad.extend_from_slice(&u32::try_from(id.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(id);
    }
    aad.extend_from_slice(credential_id.as_str().as_bytes()); // always 12 characters
    // Each field length-prefixed or fixed-size, so no two rows share bytes.
    let mut name = |a: Algorithm| {
        let name = a.name().as_bytes();
        aad.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        aad.extend_from_slice(name);
    };
    match kind {
        TokenKind::Totp(p) => {
            name(p.algorithm);
            aad.push(b'T');
            aad.push(p.digits.get());
            aad.extend_from_slice(&p.period.seconds().to_be_bytes());
            aad.extend_from_slice(&p.t0.0.to_be_bytes());
        }
        TokenKind::Hotp { algorithm, digits } => {
            name(algorithm);
            aad.push(b'H');
            aad.push(digits.get());
        }
        // A kind added later: its stored form, whole.
        other => {
            aad.push(b'?');
            aad.extend_from_slice(&serde_json::to_vec(&other).unwrap_or_default());
        }
    }
    aad
}

/// A token secret as a store keeps it: sealed, with its format version and
/// key ID in the clear. `Debug` shows those two only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// Reads the stored form, checking its shape and version (not its
    /// authenticity: that is [`Keyring::open`]'s).
    ///
    /// # Errors
    /// [`SealError::Malformed`] for anything shorter than a header and a
    /// tag; [`SealError::UnsupportedVersion`].
    pub fn parse(bytes: &[u8]) -> Result<Self, SealError> {
        let Some(&version) = bytes.first() else {
            return Err(SealError::Malformed);
        };
        if version != SEAL_VERSION && version != SEAL_VERSION_1 {
            return Err(SealError::UnsupportedVersion(version));
        }
        if bytes.len() < HEADER + TAG {
            return Err(SealError::Malformed);
        }
        Ok(Self(bytes.to_vec()))
    }

    /// The stored form.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The ID of the key that sealed it.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.parts().0
    }

    /// The format version it was sealed in.
    #[must_use]
    pub fn version(&self) -> u8 {
        self.0.first().copied().unwrap_or(SEAL_VERSION)
    }

    fn parts(&self) -> (KeyId, [u8; 12], &[u8]) {
        let mut id = [0_u8; 4];
        let mut nonce = [0_u8; 12];
        if let Some(b) = self.0.get(1..5) {
            id.copy_from_slice(b);
        }
        if let Some(b) = self.0.get(5..HEADER) {
            nonce.copy_from_slice(b);
        }
        let body = self.0.get(HEADER..).unwrap_or_default();
        (KeyId(u32::from_be_bytes(id)), nonce, body)
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("version", &self.0.first())
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// Whether `key` is one pattern of at most 16 bytes repeated (all zero is
/// the pattern `00`).
fn repeats_a_pattern(key: &[u8; 32]) -> bool {
    (1..=16).any(|period| key.iter().zip(key.iter().skip(period)).all(|(a, b)| a == b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use lockstep_account::{CredentialId, OsRandom, TokenSeed, TotpParams};
    use lockstep_otp::Secret;

    use super::*;

    /// A row sealed in the first format (no store ID in its associated
    /// data), as stores wrote them before: it still opens, in any store,
    /// and a rotation moves it to the current format, bound to its store —
    /// where a copy no longer opens elsewhere.
    #[test]
    fn format_1_rows_open_and_rotate_to_the_current_format() {
        let ring = Keyring::new(SealingKey::new(KeyId(1), [7; 32]));
        let id = CredentialId::from_random([3; 16]);
        let seed = TokenSeed::totp(Secret::from_bytes(&[3; 20]).unwrap(), TotpParams::DEFAULT);
        let nonce = [1_u8; 12];
        let key = ring.key(KeyId(1)).unwrap();
        let aad = associated_data(SEAL_VERSION_1, KeyId(1), None, &id, seed.kind);
        let body = key
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: seed.secret.expose_bytes(),
                    aad: &aad,
                },
            )
            .unwrap();
        let mut bytes = vec![SEAL_VERSION_1];
        bytes.extend_from_slice(&1_u32.to_be_bytes());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&body);
        let old = SealedSecret::parse(&bytes).unwrap();
        let (here, there) = (StoreId::new("here".into()), StoreId::new("there".into()));
        assert!(ring.open(&there, &id, seed.kind, &old).is_ok());
        let moved = ring
            .reseal(&here, &id, seed.kind, &old, &OsRandom)
            .unwrap()
            .unwrap();
        assert_eq!(moved.version(), SEAL_VERSION);
        let opened = ring.open(&here, &id, seed.kind, &moved).unwrap();
        assert_eq!(opened.secret.expose_bytes(), seed.secret.expose_bytes());
        assert_eq!(
            ring.open(&there, &id, seed.kind, &moved).err(),
            Some(SealError::Tampered)
        );
        assert!(
            ring.reseal(&here, &id, seed.kind, &moved, &OsRandom)
                .unwrap()
                .is_none()
        );
    }
}
