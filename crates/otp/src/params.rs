//! Validated OTP parameters: algorithm, digits, period and epoch.

use core::fmt;
use core::num::NonZeroU32;

use crate::error::ParamError;

/// The HMAC hash function (RFC 6238 §1.2 allows SHA-1, SHA-256 and SHA-512).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA-1, the RFC 4226 default and what almost every authenticator app uses.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in otpauth Key URIs: `SHA1`, `SHA256` or `SHA512`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    /// Parses an algorithm name, ignoring ASCII case and an optional hyphen
    /// (`SHA1`, `sha1`, `SHA-256`, …). Returns `None` for anything else.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = |s: &str| name.eq_ignore_ascii_case(s);
        if lower("sha1") || lower("sha-1") {
            Some(Self::Sha1)
        } else if lower("sha256") || lower("sha-256") {
            Some(Self::Sha256)
        } else if lower("sha512") || lower("sha-512") {
            Some(Self::Sha512)
        } else {
            None
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of digits in a code: 6, 7 or 8 (RFC 4226 §5.3 requires at least 6;
/// more than 8 cannot be drawn from 31 bits without bias worth the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "u8", into = "u8")
)]
pub struct Digits(u8);

impl Digits {
    /// Six digits, what VIP Access and most authenticators show.
    pub const SIX: Self = Self(6);
    /// Seven digits.
    pub const SEVEN: Self = Self(7);
    /// Eight digits (the RFC 6238 Appendix B vectors).
    pub const EIGHT: Self = Self(8);

    /// Validates a digit count.
    ///
    /// # Errors
    /// [`ParamError::DigitsOutOfRange`] unless `digits` is 6, 7 or 8.
    pub const fn new(digits: u8) -> Result<Self, ParamError> {
        match digits {
            6..=8 => Ok(Self(digits)),
            _ => Err(ParamError::DigitsOutOfRange {
                digits: digits as u64,
            }),
        }
    }

    /// The digit count.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// `10^digits`, the modulus of the dynamic truncation.
    pub(crate) const fn modulus(self) -> u32 {
        match self.0 {
            6 => 1_000_000,
            7 => 10_000_000,
            _ => 100_000_000,
        }
    }
}

impl Default for Digits {
    fn default() -> Self {
        Self::SIX
    }
}

impl TryFrom<u8> for Digits {
    type Error = ParamError;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Digits> for u8 {
    fn from(d: Digits) -> Self {
        d.0
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The TOTP time step `X` in seconds (RFC 6238 §4.1); never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "u32", into = "u32")
)]
pub struct Period(NonZeroU32);

impl Period {
    /// 30 seconds, the RFC 6238 default and the manual's token (R-TOK-3).
    pub const THIRTY_SECONDS: Self = Self(NonZeroU32::MIN.saturating_add(29));

    /// Validates a period in seconds.
    ///
    /// # Errors
    /// [`ParamError::ZeroPeriod`] when `seconds` is zero.
    pub const fn new(seconds: u32) -> Result<Self, ParamError> {
        match NonZeroU32::new(seconds) {
            Some(n) => Ok(Self(n)),
            None => Err(ParamError::ZeroPeriod),
        }
    }

    /// The period in seconds.
    #[must_use]
    pub const fn seconds(self) -> u32 {
        self.0.get()
    }
}

impl Default for Period {
    fn default() -> Self {
        Self::THIRTY_SECONDS
    }
}

impl TryFrom<u32> for Period {
    type Error = ParamError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Period> for u32 {
    fn from(p: Period) -> Self {
        p.seconds()
    }
}

/// The Unix time `T0` at which TOTP step 0 begins (RFC 6238 §4.1; default 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct T0(pub u64);

impl T0 {
    /// The Unix epoch, the RFC default.
    pub const UNIX_EPOCH: Self = Self(0);
}

/// Everything that defines a TOTP token besides its secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TotpParams {
    /// The HMAC hash function.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: Digits,
    /// Time step.
    pub period: Period,
    /// Epoch of step 0.
    pub t0: T0,
}

impl TotpParams {
    /// SHA-1, 6 digits, 30 seconds, T0 = 0: Google Authenticator's and VIP Access's
    /// parameters.
    pub const DEFAULT: Self = Self {
        algorithm: Algorithm::Sha1,
        digits: Digits::SIX,
        period: Period::THIRTY_SECONDS,
        t0: T0::UNIX_EPOCH,
    };
}

/// Upper bounds on the work and tolerance a caller may ask of the engine.
///
/// A window wider than these is refused with
/// [`Error::WindowTooLarge`](crate::Error::WindowTooLarge) rather than silently
/// clamped: every extra step accepted is another code an attacker may guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Limits {
    /// Largest side of a verification window, and the largest HOTP look-ahead
    /// at verification. Default 10 (RFC 6238 §5.2 recommends at most one step
    /// of network delay; 10 leaves room for a generous deployment).
    pub max_window: u32,
    /// Largest side of a resync search window, and the largest HOTP resync
    /// look-ahead. Default 2880 steps: one day at 30 s.
    pub max_resync_window: u32,
    /// Largest stored drift magnitude in steps accepted by verification.
    /// Default 2880 steps: one day at 30 s.
    pub max_drift: u32,
}

impl Limits {
    /// The defaults described on each field.
    pub const DEFAULT: Self = Self {
        max_window: 10,
        max_resync_window: 2880,
        max_drift: 2880,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
