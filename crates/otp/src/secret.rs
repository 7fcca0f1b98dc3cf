//! The shared secret (the HMAC key `K` of RFC 4226).

use alloc::vec::Vec;
use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::SecretError;

/// How short a key may be.
///
/// RFC 4226 §4 (R6) requires at least 128 bits and recommends 160. Many real
/// services (Google Authenticator's examples, some bank tokens) still issue
/// 80-bit keys; accepting one is an explicit, visible choice at the call site.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyStrength {
    /// At least 128 bits, as RFC 4226 requires. The default.
    #[default]
    Rfc4226,
    /// Also accept keys of 80 to 127 bits, for interoperability with services
    /// that issue them. An 80-bit key is below current guidance; prefer
    /// re-enrolling such tokens with a 160-bit key.
    AllowLegacy80,
}

impl KeyStrength {
    /// The smallest accepted key, in bytes.
    #[must_use]
    pub const fn min_len(self) -> usize {
        match self {
            Self::Rfc4226 => 16,
            Self::AllowLegacy80 => 10,
        }
    }
}

/// A shared OTP secret.
///
/// The bytes are wiped when the value is dropped, `Debug` prints only the
/// length, and there is deliberately no `Display`, `Serialize` or
/// `PartialEq`: to write a secret out, call [`Secret::expose_bytes`] or
/// [`Secret::to_base32`], whose names show what happens.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret {
    bytes: Vec<u8>,
}

impl Secret {
    /// The longest supported key, in bytes (512 bits).
    ///
    /// Keys up to this length fit in one HMAC block for every supported hash,
    /// so a key is used exactly as given (RFC 2104 §2 pads it with zeros).
    pub const MAX_LEN: usize = 64;

    /// Takes key bytes, requiring at least 128 bits.
    ///
    /// # Errors
    /// [`SecretError::TooShort`] under 128 bits, [`SecretError::TooLong`] over 512.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        Self::from_bytes_with(bytes, KeyStrength::default())
    }

    /// Takes key bytes under an explicit [`KeyStrength`] policy.
    ///
    /// # Errors
    /// [`SecretError::TooShort`] or [`SecretError::TooLong`].
    pub fn from_bytes_with(bytes: &[u8], strength: KeyStrength) -> Result<Self, SecretError> {
        check_len(bytes.len(), strength)?;
        Ok(Self {
            bytes: bytes.to_vec(),
        })
    }

    /// Decodes RFC 4648 base32, leniently as authenticator apps do: lower case,
    /// spaces and hyphens between groups, and missing `=` padding are accepted.
    /// At least 128 bits are required.
    ///
    /// # Errors
    /// [`SecretError::InvalidCharacter`], [`SecretError::InvalidLength`],
    /// [`SecretError::NonCanonical`], or a length error as for [`Secret::from_bytes`].
    pub fn from_base32(text: &str) -> Result<Self, SecretError> {
        Self::from_base32_with(text, KeyStrength::default())
    }

    /// [`Secret::from_base32`] under an explicit [`KeyStrength`] policy.
    ///
    /// # Errors
    /// As [`Secret::from_base32`].
    pub fn from_base32_with(text: &str, strength: KeyStrength) -> Result<Self, SecretError> {
        let symbols = normalise(text, "base32", true, |c| {
            let c = c.to_ascii_uppercase();
            matches!(c, 'A'..='Z' | '2'..='7').then_some(c)
        })?;
        let bytes = Zeroizing::new(
            data_encoding::BASE32_NOPAD
                .decode(&symbols)
                .map_err(|e| decode_error(e, symbols.len(), "base32"))?,
        );
        Self::from_bytes_with(&bytes, strength)
    }

    /// Decodes hexadecimal (either case; spaces ignored). At least 128 bits are required.
    ///
    /// # Errors
    /// As [`Secret::from_base32`], for hex.
    pub fn from_hex(text: &str) -> Result<Self, SecretError> {
        Self::from_hex_with(text, KeyStrength::default())
    }

    /// [`Secret::from_hex`] under an explicit [`KeyStrength`] policy.
    ///
    /// # Errors
    /// As [`Secret::from_hex`].
    pub fn from_hex_with(text: &str, strength: KeyStrength) -> Result<Self, SecretError> {
        let symbols = normalise(text, "hex", false, |c| {
            let c = c.to_ascii_lowercase();
            matches!(c, '0'..='9' | 'a'..='f').then_some(c)
        })?;
        let bytes = Zeroizing::new(
            data_encoding::HEXLOWER
                .decode(&symbols)
                .map_err(|e| decode_error(e, symbols.len(), "hex"))?,
        );
        Self::from_bytes_with(&bytes, strength)
    }

    /// The key length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always `false`: a secret is never empty. Present for API symmetry with `len`.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The raw key bytes. The name is the warning: whatever receives them must
    /// protect them as this type does.
    #[must_use]
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key as unpadded upper-case base32, the form of otpauth URIs. The
    /// string is wiped when dropped.
    #[must_use]
    pub fn to_base32(&self) -> Zeroizing<alloc::string::String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.bytes))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("bits", &self.bytes.len().saturating_mul(8))
            .finish_non_exhaustive()
    }
}

fn check_len(len: usize, strength: KeyStrength) -> Result<(), SecretError> {
    let bits = len.saturating_mul(8);
    if len < strength.min_len() {
        Err(SecretError::TooShort {
            bits,
            min_bits: strength.min_len() * 8,
        })
    } else if len > Secret::MAX_LEN {
        Err(SecretError::TooLong {
            bits,
            max_bits: Secret::MAX_LEN * 8,
        })
    } else {
        Ok(())
    }
}

/// Drops separators (whitespace, hyphens) and, where the encoding has it,
/// trailing `=` padding; maps each remaining character through `accept`, and
/// reports the first one it refuses by its 1-based character position.
fn normalise(
    text: &str,
    encoding: &'static str,
    padded: bool,
    accept: impl Fn(char) -> Option<char>,
) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut padding_seen = false;
    for (index, c) in text.chars().enumerate() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        if c == '=' && padded {
            padding_seen = true;
            continue;
        }
        if padding_seen {
            return Err(SecretError::NonCanonical);
        }
        match accept(c) {
            // `accept` only returns ASCII characters, so this cast is exact.
            Some(c) => out.push(u8::try_from(c).unwrap_or(b'?')),
            None => {
                return Err(SecretError::InvalidCharacter {
                    position: index.saturating_add(1),
                    encoding,
                });
            }
        }
    }
    Ok(out)
}

fn decode_error(
    e: data_encoding::DecodeError,
    symbols: usize,
    encoding: &'static str,
) -> SecretError {
    match e.kind {
        data_encoding::DecodeKind::Length => SecretError::InvalidLength { symbols, encoding },
        data_encoding::DecodeKind::Trailing | data_encoding::DecodeKind::Padding => {
            SecretError::NonCanonical
        }
        // `normalise` let only alphabet symbols through; keep a typed answer anyway.
        _ => SecretError::InvalidCharacter {
            position: e.position.saturating_add(1),
            encoding,
        },
    }
}
