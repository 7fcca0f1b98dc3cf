//! otpauth Key URIs, the format authenticator apps read from QR codes
//! (Google Authenticator's "Key Uri Format").

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use zeroize::Zeroizing;

use crate::engine::{Hotp, Totp};
use crate::error::UriError;
use crate::params::{Algorithm, Digits, Period, T0, TotpParams};
use crate::secret::{KeyStrength, Secret};

/// Everything but RFC 3986's unreserved characters is percent-encoded, so a
/// `:` inside an issuer can never be mistaken for the label separator.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The OTP type of a Key URI and its type-specific parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OtpKind {
    /// `otpauth://totp/…`, with its period (default 30 s).
    Totp {
        /// The time step.
        period: Period,
    },
    /// `otpauth://hotp/…`, with its initial counter (required by the format).
    Hotp {
        /// The counter to start from.
        counter: u64,
    },
}

/// A parsed `otpauth://` Key URI.
///
/// Parsing is tolerant where real authenticator apps are (lower-case
/// algorithm names, `%3A` as the label separator, spaces before the account
/// name, lower-case or unpadded base32, unknown parameters) and strict where
/// security needs it (a period of 0, digits outside 6..=8, an unknown
/// algorithm, a short key, duplicated or contradictory parameters).
///
/// The secret stays redacted in `Debug`; [`KeyUri::to_uri`] is the one way to
/// write it out, into a string that is wiped when dropped.
#[derive(Clone, Debug)]
pub struct KeyUri {
    /// TOTP or HOTP, with period or counter.
    pub kind: OtpKind,
    /// The shared secret.
    pub secret: Secret,
    /// The provider (`issuer=` parameter or label prefix), if any.
    pub issuer: Option<String>,
    /// The account name (label after the issuer prefix).
    pub account: String,
    /// The hash function (default SHA-1).
    pub algorithm: Algorithm,
    /// The code length (default 6).
    pub digits: Digits,
}

impl KeyUri {
    /// A TOTP Key URI with the given parameters. The URI format has no `T0`;
    /// apps assume 0.
    #[must_use]
    pub fn totp(
        secret: Secret,
        params: TotpParams,
        issuer: Option<String>,
        account: String,
    ) -> Self {
        Self {
            kind: OtpKind::Totp {
                period: params.period,
            },
            secret,
            issuer,
            account,
            algorithm: params.algorithm,
            digits: params.digits,
        }
    }

    /// Parses a Key URI, requiring a key of at least 128 bits.
    ///
    /// # Errors
    /// A [`UriError`] saying what is wrong; it never contains the secret.
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        Self::parse_with(uri, KeyStrength::default())
    }

    /// Parses a Key URI under an explicit [`KeyStrength`] policy (many issued
    /// URIs carry 80-bit keys).
    ///
    /// # Errors
    /// As [`KeyUri::parse`].
    pub fn parse_with(uri: &str, strength: KeyStrength) -> Result<Self, UriError> {
        let url = url::Url::parse(uri).map_err(|_| UriError::Malformed)?;
        // `Url` keeps a copy of the whole text, secret included: take it back
        // as a `String` and wipe it whatever the outcome.
        let result = parse_url(&url, strength);
        drop(Zeroizing::new(String::from(url)));
        result
    }

    /// The TOTP parameters, for a `totp` URI (with `T0 = 0`).
    #[must_use]
    pub fn totp_params(&self) -> Option<TotpParams> {
        match self.kind {
            OtpKind::Totp { period } => Some(TotpParams {
                algorithm: self.algorithm,
                digits: self.digits,
                period,
                t0: T0::UNIX_EPOCH,
            }),
            OtpKind::Hotp { .. } => None,
        }
    }

    /// A keyed TOTP generator, for a `totp` URI.
    #[must_use]
    pub fn to_totp(&self) -> Option<Totp> {
        self.totp_params().map(|p| Totp::new(&self.secret, p))
    }

    /// A keyed HOTP generator and its starting counter, for an `hotp` URI.
    #[must_use]
    pub fn to_hotp(&self) -> Option<(Hotp, u64)> {
        match self.kind {
            OtpKind::Hotp { counter } => Some((
                Hotp::new(&self.secret, self.algorithm, self.digits),
                counter,
            )),
            OtpKind::Totp { .. } => None,
        }
    }

    /// Formats the URI with every parameter explicit. The result contains the
    /// secret and is wiped when dropped; it is written into a buffer sized
    /// for it up front, so no copy of the secret is left behind by a
    /// reallocation.
    ///
    /// An issuer with a colon is written as pyotp writes it — encoded in
    /// the label prefix and in the `issuer` parameter — which
    /// [`KeyUri::parse`] reads back whole.
    ///
    /// # Errors
    /// [`UriError::ColonInLabel`] when the account contains a colon and
    /// [`UriError::MissingLabel`] when it is empty: the format cannot
    /// express them, and [`KeyUri::parse`] refuses them too.
    pub fn to_uri(&self) -> Result<Zeroizing<String>, UriError> {
        if self.account.is_empty() {
            return Err(UriError::MissingLabel);
        }
        if self.account.contains(':') {
            return Err(UriError::ColonInLabel);
        }
        let kind = match self.kind {
            OtpKind::Totp { .. } => "totp",
            OtpKind::Hotp { .. } => "hotp",
        };
        let issuer = self
            .issuer
            .as_deref()
            .map(|i| utf8_percent_encode(i, COMPONENT));
        let account = utf8_percent_encode(&self.account, COMPONENT);
        let secret = self.secret.to_base32();
        let tail = match self.kind {
            OtpKind::Totp { period } => format!("&period={}", period.seconds()),
            OtpKind::Hotp { counter } => format!("&counter={counter}"),
        };
        let params = format!(
            "&algorithm={}&digits={}{tail}",
            self.algorithm.name(),
            self.digits
        );
        let encoded_len = |e: percent_encoding::PercentEncode<'_>| e.map(str::len).sum::<usize>();
        let issuer_len = issuer.clone().map_or(0, encoded_len);
        let size = "otpauth://".len()
            + kind.len()
            + 1
            + issuer.as_ref().map_or(0, |_| issuer_len + 1)
            + encoded_len(account.clone())
            + "?secret=".len()
            + secret.len()
            + issuer.as_ref().map_or(0, |_| "&issuer=".len() + issuer_len)
            + params.len();
        // A label that is a dot segment (`.`, `..`) would be removed by URL
        // normalisation; an empty issuer prefix keeps it a plain segment.
        let dot_segment = issuer.is_none() && matches!(self.account.as_str(), "." | "..");
        let size = size + usize::from(dot_segment);
        let mut out = Zeroizing::new(String::with_capacity(size));
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = write!(out, "otpauth://{kind}/");
        if let Some(issuer) = issuer.clone() {
            let _ = write!(out, "{issuer}:");
        } else if dot_segment {
            out.push(':');
        }
        let _ = write!(out, "{account}?secret=");
        out.push_str(&secret);
        if let Some(issuer) = issuer {
            let _ = write!(out, "&issuer={issuer}");
        }
        out.push_str(&params);
        debug_assert_eq!(out.len(), size, "the URI's size is computed exactly");
        Ok(out)
    }
}

/// Decodes one percent-encoded label part.
fn decode(part: &str) -> Result<String, UriError> {
    percent_decode_str(part)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| UriError::BadEncoding { part: "label" })
}

/// Splits the still-encoded label into issuer prefix and account.
///
/// When the `issuer` parameter is given and the decoded label starts with
/// it and a colon, the rest is the account — so an issuer that itself
/// holds a colon, as pyotp writes it (`a%3Ab:bob` with `issuer=a%3Ab`),
/// reads as it was meant. Otherwise a literal `:` separates them; failing
/// that, an encoded `%3A` (which the format also allows). Splitting before
/// decoding keeps an encoded `:` inside an issuer. What stays ambiguous is
/// refused: an account with a colon, or a label prefix with one that the
/// parameter does not name.
fn split_label(
    raw: &str,
    issuer_param: Option<&str>,
) -> Result<(Option<String>, String), UriError> {
    if let Some(issuer) = issuer_param.filter(|i| !i.is_empty()) {
        let label = decode(raw)?;
        if let Some(rest) = label
            .strip_prefix(issuer)
            .and_then(|rest| rest.strip_prefix(':'))
        {
            let account = rest.trim_start_matches(' ');
            if account.contains(':') {
                return Err(UriError::ColonInLabel);
            }
            return Ok((Some(issuer.into()), account.into()));
        }
    }
    let (issuer, account) = match raw.split_once(':') {
        Some((issuer, account)) => (Some(issuer), account),
        None => {
            let lower = raw.to_ascii_lowercase();
            match lower.find("%3a") {
                Some(at) => (
                    raw.get(..at),
                    raw.get(at.saturating_add(3)..).unwrap_or_default(),
                ),
                None => (None, raw),
            }
        }
    };
    let issuer = issuer.map(decode).transpose()?.filter(|i| !i.is_empty());
    let account = decode(account)?;
    // The format allows spaces before the account name (`Issuer: account`);
    // only ASCII spaces, so that an account of other whitespace survives.
    let account: String = account.trim_start_matches(' ').into();
    if account.contains(':') || issuer.as_ref().is_some_and(|i| i.contains(':')) {
        return Err(UriError::ColonInLabel);
    }
    Ok((issuer, account))
}

/// One recognised parameter slot: refuses a second occurrence.
fn set_once<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), UriError> {
    if slot.is_some() {
        return Err(UriError::DuplicateParameter(name));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_url(url: &url::Url, strength: KeyStrength) -> Result<KeyUri, UriError> {
    if url.scheme() != "otpauth" {
        return Err(UriError::WrongScheme);
    }
    let host = url.host_str().unwrap_or_default();
    let is_totp = if host.eq_ignore_ascii_case("totp") {
        true
    } else if host.eq_ignore_ascii_case("hotp") {
        false
    } else {
        return Err(UriError::WrongType);
    };
    let mut secret = None;
    let mut issuer = None;
    let mut algorithm = None;
    let mut digits = None;
    let mut period = None;
    let mut counter = None;
    for (name, value) in url.query_pairs() {
        // A value that had to be decoded is an owned copy: wipe it after use.
        let value = Zeroizing::new(value.into_owned());
        match name.to_ascii_lowercase().as_str() {
            "secret" => set_once(
                &mut secret,
                Secret::from_base32_with(&value, strength)?,
                "secret",
            )?,
            "issuer" => set_once(&mut issuer, String::from(value.as_str()), "issuer")?,
            "algorithm" => set_once(
                &mut algorithm,
                Algorithm::from_name(&value).ok_or(UriError::UnknownAlgorithm)?,
                "algorithm",
            )?,
            "digits" => {
                let d = value
                    .parse::<u8>()
                    .ok()
                    .and_then(|d| Digits::new(d).ok())
                    .ok_or(UriError::DigitsOutOfRange)?;
                set_once(&mut digits, d, "digits")?;
            }
            "period" => {
                let p = value
                    .parse::<u32>()
                    .ok()
                    .and_then(|p| Period::new(p).ok())
                    .ok_or(UriError::BadPeriod)?;
                set_once(&mut period, p, "period")?;
            }
            "counter" => {
                let c = value.parse::<u64>().map_err(|_| UriError::BadCounter)?;
                set_once(&mut counter, c, "counter")?;
            }
            // Unknown parameters (image, color, …) are ignored, as apps do.
            _ => {}
        }
    }

    let raw_label = url.path().strip_prefix('/').unwrap_or(url.path());
    let issuer = issuer.filter(|i: &String| !i.is_empty());
    let (label_issuer, account) = split_label(raw_label, issuer.as_deref())?;
    if account.is_empty() {
        return Err(UriError::MissingLabel);
    }
    let secret = secret.ok_or(UriError::MissingSecret)?;
    let issuer = match (label_issuer, issuer) {
        (Some(a), Some(b)) if a != b => return Err(UriError::IssuerMismatch),
        (a, b) => b.or(a),
    };
    let kind = if is_totp {
        OtpKind::Totp {
            period: period.unwrap_or_default(),
        }
    } else {
        OtpKind::Hotp {
            counter: counter.ok_or(UriError::BadCounter)?,
        }
    };
    Ok(KeyUri {
        kind,
        secret,
        issuer,
        account,
        algorithm: algorithm.unwrap_or_default(),
        digits: digits.unwrap_or_default(),
    })
}
