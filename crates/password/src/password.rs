//! The candidate-password newtype.

use core::fmt;

use zeroize::Zeroizing;

/// A password as typed: wiped from memory when dropped, redacted in `Debug`,
/// with no `Display`. Read it with [`Password::expose`].
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Takes ownership of the text; it is wiped when the `Password` drops.
    #[must_use]
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The password text. The name is the warning: do not log what it returns.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in Unicode scalar values (what a user counts as characters;
    /// never bytes).
    #[must_use]
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }
}

impl From<String> for Password {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<&str> for Password {
    fn from(text: &str) -> Self {
        Self::new(text.to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Password").finish_non_exhaustive()
    }
}
