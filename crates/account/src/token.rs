//! Token vocabulary: what kind of token a credential is, its seed as the
//! directory knows it, and what the store knows of its ID.

use core::fmt;

use lockstep_otp::{Algorithm, CredentialId, Digits, Hotp, KeyUri, Secret, Totp, TotpParams};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A time token (TOTP, RFC 6238: the manual's 30-second codes) or an event
/// token (HOTP, RFC 4226: a new code per button press). Manual 2.6.1
/// explains drift as a mismatch in the number of codes generated, which is
/// the event token's kind of drift (R-SYN-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TokenKind {
    /// A time token and its parameters.
    Totp(TotpParams),
    /// An event token: hash and code length; its counter lives in the
    /// binding's `last_used`.
    Hotp {
        /// The HMAC hash function.
        algorithm: Algorithm,
        /// The code length.
        digits: Digits,
    },
}

impl TokenKind {
    /// The code length of this token.
    #[must_use]
    pub const fn digits(self) -> Digits {
        match self {
            Self::Totp(p) => p.digits,
            Self::Hotp { digits, .. } => digits,
        }
    }
}

/// A token's seed as the [`crate::TokenDirectory`] knows it.
#[derive(Clone)]
pub struct TokenSeed {
    /// The shared secret.
    pub secret: Secret,
    /// Time or event token, with its parameters.
    pub kind: TokenKind,
}

impl TokenSeed {
    /// A time token.
    #[must_use]
    pub const fn totp(secret: Secret, params: TotpParams) -> Self {
        Self {
            secret,
            kind: TokenKind::Totp(params),
        }
    }

    /// An event token.
    #[must_use]
    pub const fn hotp(secret: Secret, algorithm: Algorithm, digits: Digits) -> Self {
        Self {
            secret,
            kind: TokenKind::Hotp { algorithm, digits },
        }
    }

    /// The code generator of this token, keyed with its secret.
    pub(crate) fn generator(&self) -> Generator {
        match self.kind {
            TokenKind::Totp(p) => Generator::Totp(Totp::new(&self.secret, p)),
            TokenKind::Hotp { algorithm, digits } => {
                Generator::Hotp(Hotp::new(&self.secret, algorithm, digits))
            }
        }
    }
}

impl fmt::Debug for TokenSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSeed")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A token's code generator, keyed for its kind.
pub(crate) enum Generator {
    Totp(Totp),
    Hotp(Hotp),
}

/// What the store knows of a credential ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenStatus {
    /// Bound to no account and never revoked.
    Free,
    /// Bound to the account with this user ID.
    BoundTo,
    /// Bound to another account.
    BoundToOther,
    /// Revoked once: never bindable again (R-TOK-4).
    Revoked,
}

/// A freshly provisioned token: what to put in the directory, and what to give
/// the user's authenticator.
#[derive(Debug)]
pub struct Provisioned {
    /// The new credential ID.
    pub credential_id: CredentialId,
    /// Its seed.
    pub seed: TokenSeed,
    /// The otpauth URI (contains the secret; wiped on drop).
    pub uri: Zeroizing<String>,
}

/// Mints a token from 36 caller-supplied random bytes: a credential ID (4
/// letters + 8 digits, like VIP's) from the first 16 and a 160-bit secret
/// (RFC 4226's recommendation) from the other 20, with the default TOTP
/// parameters and its otpauth URI.
///
/// # Errors
/// A [`lockstep_otp::UriError`] from the Key URI writer, which cannot
/// happen here: the account of the URI is the credential ID (never empty,
/// no colon), and any issuer is written (one with a colon as pyotp does).
pub fn provision(
    random: &[u8; 36],
    issuer: &str,
    params: TotpParams,
) -> Result<Provisioned, lockstep_otp::UriError> {
    let (id_bytes, key) = random.split_at(16);
    let mut id_random = [0_u8; 16];
    id_random.copy_from_slice(id_bytes);
    let credential_id = CredentialId::from_random(id_random);
    let secret = Secret::from_bytes(key)?;
    let uri = KeyUri::totp(
        secret.clone(),
        params,
        Some(issuer.to_owned()),
        credential_id.to_string(),
    )
    .to_uri()?;
    Ok(Provisioned {
        credential_id,
        seed: TokenSeed::totp(secret, params),
        uri,
    })
}
