//! Error types. Each parser has its own precise error; [`Error`] is what the
//! engine's verification, resync and generation functions return.
//!
//! No error carries a secret, a code or any part of one: positions and lengths
//! only, so every error is safe to log.

/// An out-of-range OTP parameter (digits, period).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// The number of digits is outside `6..=8`.
    #[error("OTP codes have 6, 7 or 8 digits, not {digits}")]
    DigitsOutOfRange {
        /// The rejected number of digits (saturated at `u64::MAX`).
        digits: u64,
    },
    /// A period of zero seconds was given.
    #[error("the TOTP period must be at least one second")]
    ZeroPeriod,
}

/// Why a shared secret was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The decoded key is shorter than the key-strength policy allows.
    #[error(
        "the key has {bits} bits but at least {min_bits} are required \
         (use KeyStrength::AllowLegacy80 to accept 80-bit keys deliberately)"
    )]
    TooShort {
        /// Length of the decoded key, in bits.
        bits: usize,
        /// The minimum the policy requires, in bits.
        min_bits: usize,
    },
    /// The decoded key is longer than [`Secret::MAX_LEN`](crate::Secret::MAX_LEN) bytes.
    #[error("the key has {bits} bits; at most {max_bits} are supported")]
    TooLong {
        /// Length of the decoded key, in bits (saturated).
        bits: usize,
        /// The supported maximum, in bits.
        max_bits: usize,
    },
    /// A character that is not valid in the encoding, at a 1-based character position.
    #[error("character {position} of the key is not valid {encoding}")]
    InvalidCharacter {
        /// 1-based position of the offending character in the input.
        position: usize,
        /// The encoding that was expected (`"base32"` or `"hex"`).
        encoding: &'static str,
    },
    /// The number of symbols cannot encode a whole number of bytes.
    #[error(
        "the {encoding} key has a length ({symbols} symbols) that no whole number of bytes encodes"
    )]
    InvalidLength {
        /// Number of significant symbols after removing spaces and padding.
        symbols: usize,
        /// The expected encoding (`"base32"` or `"hex"`).
        encoding: &'static str,
    },
    /// Base32 padding (`=`) in the middle of the key, or unused trailing bits set.
    #[error("the base32 key is not canonical: misplaced padding or non-zero trailing bits")]
    NonCanonical,
}

/// Why user input is not an OTP code.
///
/// Positions are 1-based and count characters, not bytes, so they match what
/// the user sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Nothing was entered.
    #[error("no code was entered")]
    Empty,
    /// Fewer digits than the configured length.
    #[error("the code has {actual} digits; enter all {expected}")]
    TooShort {
        /// The configured number of digits.
        expected: u8,
        /// The number of characters entered.
        actual: usize,
    },
    /// More characters than the configured length.
    #[error("the code has {actual} characters; it must be exactly {expected} digits")]
    TooLong {
        /// The configured number of digits.
        expected: u8,
        /// The number of characters entered.
        actual: usize,
    },
    /// A full-width digit such as `１` (typed with a Japanese input method).
    #[error(
        "character {position} is a full-width digit; switch the input method to half-width (ASCII) digits"
    )]
    FullWidthDigit {
        /// 1-based character position.
        position: usize,
    },
    /// A space, tab, ideographic space or other whitespace.
    #[error("character {position} is a space; enter the digits only")]
    Whitespace {
        /// 1-based character position.
        position: usize,
    },
    /// A plus or minus sign (ASCII or full-width).
    #[error("character {position} is a sign; enter the digits only")]
    Sign {
        /// 1-based character position.
        position: usize,
    },
    /// Any other character that is not an ASCII digit.
    #[error("character {position} is not a digit 0-9")]
    NotADigit {
        /// 1-based character position.
        position: usize,
    },
}

/// Why text is not a credential ID (`VSST12345678`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialIdError {
    /// A character where one of the first four letters belongs.
    #[error("character {position} should be a letter: a token ID is 4 letters then 8 digits")]
    ExpectedLetter {
        /// 1-based character position.
        position: usize,
    },
    /// A character where one of the eight digits belongs.
    #[error("character {position} should be a digit: a token ID is 4 letters then 8 digits")]
    ExpectedDigit {
        /// 1-based character position.
        position: usize,
    },
    /// A full-width letter or digit (typed with a Japanese input method).
    #[error("character {position} is full-width; switch the input method to half-width (ASCII)")]
    FullWidth {
        /// 1-based character position.
        position: usize,
    },
    /// Fewer than 12 letters and digits.
    #[error("the token ID has {symbols} letters and digits; it needs 12")]
    TooShort {
        /// Letters and digits entered.
        symbols: usize,
    },
    /// More than 12 letters and digits.
    #[error("the token ID is longer than 12 letters and digits")]
    TooLong,
}

/// Why an `otpauth://` Key URI was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The text is not a URI at all.
    #[error("not a valid URI")]
    Malformed,
    /// The scheme is not `otpauth`.
    #[error("the URI scheme must be otpauth")]
    WrongScheme,
    /// The type (the URI's host part) is not `totp` or `hotp`.
    #[error("the OTP type must be totp or hotp")]
    WrongType,
    /// The label (account name) is missing or empty.
    #[error("the URI has no account name in its label")]
    MissingLabel,
    /// The label or a parameter is not valid percent-encoded UTF-8.
    #[error("the URI's {part} is not valid percent-encoded UTF-8")]
    BadEncoding {
        /// Which part: `"label"` or the parameter name.
        part: &'static str,
    },
    /// The `secret` parameter is absent.
    #[error("the URI has no secret parameter")]
    MissingSecret,
    /// The `secret` parameter is present but not an acceptable key.
    #[error("the URI's secret is unusable: {0}")]
    BadSecret(SecretError),
    /// The `algorithm` parameter names no supported algorithm.
    #[error("unsupported algorithm; use SHA1, SHA256 or SHA512")]
    UnknownAlgorithm,
    /// The `digits` parameter is not a number in `6..=8`.
    #[error("the digits parameter must be 6, 7 or 8")]
    DigitsOutOfRange,
    /// The `period` parameter is zero or not a number of seconds.
    #[error("the period parameter must be a whole number of seconds, at least 1")]
    BadPeriod,
    /// An `hotp` URI without a valid `counter` parameter.
    #[error("an hotp URI needs a counter parameter (a whole number)")]
    BadCounter,
    /// The issuer in the label prefix and the `issuer` parameter differ.
    #[error("the issuer in the label and the issuer parameter differ")]
    IssuerMismatch,
    /// A security-relevant parameter appears more than once.
    #[error("the parameter {0} appears more than once")]
    DuplicateParameter(&'static str),
    /// The issuer or the account name contains a colon, which the Key URI
    /// format reserves for the separator between them. Refused when parsing
    /// and when formatting, so that every formatted URI parses back.
    #[error("the issuer and the account name may not contain a colon")]
    ColonInLabel,
}

impl From<SecretError> for UriError {
    fn from(e: SecretError) -> Self {
        Self::BadSecret(e)
    }
}

/// Errors of the OTP engine: configuration problems and verification rejections.
///
/// [`Error::NoMatch`] and [`Error::Replay`] are the two rejections; they are
/// kept apart for the audit log, but a service should show the user one and
/// the same "invalid code" message for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No candidate in the window matched the code.
    #[error("the code does not match")]
    NoMatch,
    /// The code matched, but only at a step (or counter) that was already used.
    #[error("the code was already used (matched step {step}, not after the last used step)")]
    Replay {
        /// The highest step at which the code matched.
        step: u64,
    },
    /// The time is before the TOTP epoch `T0`.
    #[error("the time {now} is before the TOTP epoch T0 = {t0}")]
    TimeBeforeT0 {
        /// The Unix time given.
        now: u64,
        /// The configured T0.
        t0: u64,
    },
    /// A window side or look-ahead exceeds the configured [`Limits`](crate::Limits).
    #[error("the window side {requested} exceeds the configured maximum {max}")]
    WindowTooLarge {
        /// The requested window side (or look-ahead).
        requested: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The stored drift exceeds the configured [`Limits`](crate::Limits).
    #[error("the drift {drift} steps exceeds the configured maximum {max}")]
    DriftTooLarge {
        /// The drift given.
        drift: i64,
        /// The configured maximum magnitude.
        max: u32,
    },
    /// A code parsed for a different number of digits than the generator's.
    #[error("the code has {code} digits but the token has {expected}")]
    DigitsMismatch {
        /// Digits of the code.
        code: u8,
        /// Digits configured for the token.
        expected: u8,
    },
    /// The HOTP counter cannot advance any further (it would pass `u64::MAX`).
    #[error("the HOTP counter is exhausted; issue a new secret")]
    CounterExhausted,
}
