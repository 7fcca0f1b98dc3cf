//! The one error of the driver.

use lockstep_password::HashError;

use crate::random::RandomError;
use crate::store::StoreError;

/// Why the [`crate::Authenticator`] could not decide. Each cause is kept as
/// the error's `source()`. Refusals of a user's input are not errors: they
/// are [`crate::Outcome::Refused`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store kept changing: compare-and-swap failed every attempt.
    #[error("too much contention on the account; try again")]
    Contention,
    /// The store failed.
    #[error("the account store failed")]
    Store(#[from] StoreError),
    /// Hashing failed (a malformed stored hash, one with costs out of range, …).
    #[error("password hashing failed")]
    Hash(#[from] HashError),
    /// No randomness.
    #[error("the random number generator failed")]
    Random(#[from] RandomError),
    /// A user ID or operator ID that can name nobody (empty, or with
    /// control characters), given where one is recorded.
    #[error("the user ID or operator ID is empty or holds control characters")]
    InvalidId,
    /// A token could not be provisioned: its issuer cannot be carried by
    /// an otpauth URI.
    #[error("the token could not be provisioned")]
    Provision(#[from] lockstep_otp::UriError),
}
