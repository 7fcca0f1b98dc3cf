//! Where randomness comes from.

/// The random number generator failed; its cause, when it has one, is the
/// `source()`.
#[derive(Debug, thiserror::Error)]
#[error("no randomness could be drawn")]
pub struct RandomError(#[source] Option<getrandom::Error>);

impl RandomError {
    /// A failure without an underlying cause (for other `Random`s).
    #[must_use]
    pub const fn new() -> Self {
        Self(None)
    }
}

impl Default for RandomError {
    fn default() -> Self {
        Self::new()
    }
}

/// Where randomness comes from: tickets, session tokens, salts.
pub trait Random: Send + Sync {
    /// Fills `buf` with random bytes.
    ///
    /// # Errors
    /// [`RandomError`] when no randomness is available.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's RNG (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|e| RandomError(Some(e)))
    }
}
