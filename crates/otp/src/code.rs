//! One-time codes: parsing user input and showing generated codes.

use core::fmt;

use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::CodeError;
use crate::params::Digits;

/// An OTP code of a known number of digits.
///
/// Codes are secrets until used: `Debug` is redacted, the value is wiped on
/// drop, and equality is constant-time. To show a generated code to its owner,
/// call [`Code::expose`].
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Code {
    value: u32,
    #[zeroize(skip)]
    digits: Digits,
}

impl Code {
    /// Parses what a user typed: exactly `digits` ASCII digits, nothing else.
    ///
    /// Leading zeros are significant (`007081` is a 6-digit code). Nothing is
    /// trimmed or converted: a full-width digit, a space or a sign is reported
    /// with its position so the user can be told precisely what to fix.
    ///
    /// # Errors
    /// A [`CodeError`] naming the first offending character, or the length
    /// problem when every character is a digit.
    pub fn parse(input: &str, digits: Digits) -> Result<Self, CodeError> {
        let expected = digits.get();
        let mut value: u32 = 0;
        let mut count: usize = 0;
        for c in input.chars() {
            count = count.saturating_add(1);
            let position = count;
            match c {
                '0'..='9' => {
                    let d = u32::from(c) - u32::from('0');
                    // Saturation only matters once the input is too long,
                    // which is reported below.
                    value = value.saturating_mul(10).saturating_add(d);
                }
                '\u{FF10}'..='\u{FF19}' => return Err(CodeError::FullWidthDigit { position }),
                '+' | '-' | '\u{FF0B}' | '\u{FF0D}' | '\u{2212}' => {
                    return Err(CodeError::Sign { position });
                }
                c if c.is_whitespace() => return Err(CodeError::Whitespace { position }),
                _ => return Err(CodeError::NotADigit { position }),
            }
        }
        let want = usize::from(expected);
        if count == 0 {
            Err(CodeError::Empty)
        } else if count < want {
            Err(CodeError::TooShort {
                expected,
                actual: count,
            })
        } else if count > want {
            Err(CodeError::TooLong {
                expected,
                actual: count,
            })
        } else {
            Ok(Self { value, digits })
        }
    }

    /// Builds a code from its numeric value, as the generator does.
    pub(crate) const fn from_value(value: u32, digits: Digits) -> Self {
        Self { value, digits }
    }

    /// The number of digits.
    #[must_use]
    pub const fn digits(&self) -> Digits {
        self.digits
    }

    pub(crate) const fn value(&self) -> u32 {
        self.value
    }

    /// A view that displays the code, zero-padded (`007081`). The name is the
    /// warning: use it to show a code to its owner, never to log one.
    #[must_use]
    pub const fn expose(&self) -> Exposed<'_> {
        Exposed(self)
    }
}

impl ConstantTimeEq for Code {
    fn ct_eq(&self, other: &Self) -> Choice {
        // The digit count is public; the value is compared in constant time.
        Choice::from(u8::from(self.digits == other.digits)) & self.value.ct_eq(&other.value)
    }
}

impl PartialEq for Code {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Code {}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Code")
            .field("digits", &self.digits.get())
            .finish_non_exhaustive()
    }
}

/// Displays a [`Code`]'s digits; returned by [`Code::expose`].
#[derive(Clone, Copy)]
pub struct Exposed<'a>(&'a Code);

impl fmt::Display for Exposed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = usize::from(self.0.digits.get());
        write!(f, "{:0width$}", self.0.value)
    }
}

impl fmt::Debug for Exposed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}
