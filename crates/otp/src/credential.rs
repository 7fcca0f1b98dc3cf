//! Credential IDs in the VIP Access style: four upper-case letters and eight
//! digits (`VSST12345678`), what the manual's bank calls the "token ID".

use core::fmt;
use core::str::FromStr;

use crate::error::CredentialIdError;

/// A token's public identifier: four ASCII upper-case letters then eight
/// ASCII digits. Not a secret: it is shown on the token and on login screens
/// (R-LOG-2, R-ENR-6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "alloc::string::String", into = "alloc::string::String")
)]
pub struct CredentialId([u8; 12]);

impl CredentialId {
    /// Number of distinct IDs: 26⁴ · 10⁸.
    const SPACE: u128 = 26 * 26 * 26 * 26 * 100_000_000;

    /// Parses an ID as a user types it: letters in either case; spaces and
    /// hyphens between groups are ignored (`vsst-1234-5678`).
    ///
    /// # Errors
    /// [`CredentialIdError`] naming the first wrong character (1-based
    /// position in the input) or the length problem.
    pub fn parse(input: &str) -> Result<Self, CredentialIdError> {
        let mut out = [0_u8; 12];
        let mut len = 0_usize;
        for (index, c) in input.chars().enumerate() {
            let position = index.saturating_add(1);
            if c == ' ' || c == '-' {
                continue;
            }
            let slot = out.get_mut(len).ok_or(CredentialIdError::TooLong)?;
            let want_letter = len < 4;
            *slot = match c {
                'a'..='z' | 'A'..='Z' if want_letter => c.to_ascii_uppercase() as u8,
                '0'..='9' if !want_letter => c as u8,
                '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                    return Err(CredentialIdError::FullWidth { position });
                }
                _ if want_letter => return Err(CredentialIdError::ExpectedLetter { position }),
                _ => return Err(CredentialIdError::ExpectedDigit { position }),
            };
            len = len.saturating_add(1);
        }
        if len == 12 {
            Ok(Self(out))
        } else {
            Err(CredentialIdError::TooShort { symbols: len })
        }
    }

    /// Mints an ID from 16 random bytes supplied by the caller (this crate has
    /// no RNG). The mapping is uniform to within 2⁻⁸⁰.
    #[must_use]
    pub fn from_random(random: [u8; 16]) -> Self {
        let mut n = u128::from_le_bytes(random) % Self::SPACE;
        let mut out = [0_u8; 12];
        // Fill from the right: eight digits, then four letters. Each remainder
        // is below 10 or 26, so the narrowing is exact.
        for (i, slot) in out.iter_mut().enumerate().rev() {
            let base = if i >= 4 { 10 } else { 26 };
            let d = u8::try_from(n % base).unwrap_or(0);
            n /= base;
            *slot = if i >= 4 { b'0' + d } else { b'A' + d };
        }
        Self(out)
    }

    /// The ID as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        core::str::from_utf8(&self.0).unwrap_or("????????????")
    }
}

impl FromStr for CredentialId {
    type Err = CredentialIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for CredentialId {
    type Error = CredentialIdError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<alloc::string::String> for CredentialId {
    type Error = CredentialIdError;
    fn try_from(s: alloc::string::String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CredentialId> for alloc::string::String {
    fn from(id: CredentialId) -> Self {
        id.as_str().into()
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialId({})", self.as_str())
    }
}
