#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod code;
mod credential;
mod engine;
mod error;
mod keyed;
mod params;
mod secret;
#[cfg(feature = "serde")]
pub mod serde_secret;
mod uri;

pub use code::{Code, Exposed};
pub use credential::CredentialId;
pub use engine::{Hotp, Resynced, Totp, Verified, Window};
pub use error::{CodeError, CredentialIdError, Error, ParamError, SecretError, UriError};
pub use params::{Algorithm, Digits, Limits, Period, T0, TotpParams};
pub use secret::{KeyStrength, Secret};
pub use uri::{KeyUri, OtpKind};

// Re-exported so callers can name the constant-time comparison on `Code`.
pub use subtle;
