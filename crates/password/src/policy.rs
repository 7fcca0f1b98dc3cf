//! Password policies: the manual's rules, a NIST SP 800-63B profile, and a
//! builder for everything else.
//!
//! Long because every rule, its validation and its builder setting are kept
//! in one place, so that a rule cannot be added in one and missed in another.

use std::collections::BTreeSet;

use crate::blocklist::Blocklist;
use crate::hasher::{PasswordHash, PasswordHashing};
use crate::password::Password;
use crate::violation::{Violation, Violations};

/// Which characters a password may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllowedChars {
    /// Printable ASCII without space: `!` to `~`. The default; it makes
    /// accidental full-width input (`１`, `Ａ`, an ideographic space) a clear
    /// error instead of a password the user cannot type again.
    PrintableAscii,
    /// Printable ASCII with space.
    PrintableAsciiWithSpace,
    /// Any Unicode character except control characters (NIST SP 800-63B
    /// §5.1.1.2 asks verifiers to accept all printing characters and spaces).
    Unicode,
}

impl AllowedChars {
    /// Whether `c` is allowed.
    #[must_use]
    pub fn allows(self, c: char) -> bool {
        match self {
            Self::PrintableAscii => c.is_ascii_graphic(),
            Self::PrintableAsciiWithSpace => c.is_ascii_graphic() || c == ' ',
            Self::Unicode => !c.is_control(),
        }
    }
}

/// Character classes a password must contain, at least one of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[allow(clippy::struct_excessive_bools)]
pub struct Composition {
    /// A letter (`char::is_alphabetic`).
    pub letter: bool,
    /// A decimal digit (`char::is_numeric`).
    pub digit: bool,
    /// An upper-case letter.
    pub uppercase: bool,
    /// A lower-case letter.
    pub lowercase: bool,
    /// A symbol: neither alphanumeric nor whitespace.
    pub symbol: bool,
}

impl Composition {
    /// Notes the classes `c` belongs to.
    fn note(&mut self, c: char) {
        self.letter |= c.is_alphabetic();
        self.digit |= c.is_numeric();
        self.uppercase |= c.is_uppercase();
        self.lowercase |= c.is_lowercase();
        self.symbol |= !c.is_alphanumeric() && !c.is_whitespace();
    }

    /// No composition rule (NIST SP 800-63B).
    pub const NONE: Self = Self {
        letter: false,
        digit: false,
        uppercase: false,
        lowercase: false,
        symbol: false,
    };
    /// At least one letter and one digit (R-PWD-2).
    pub const LETTER_AND_DIGIT: Self = Self {
        letter: true,
        digit: true,
        ..Self::NONE
    };

    fn required(self) -> usize {
        [
            self.letter,
            self.digit,
            self.uppercase,
            self.lowercase,
            self.symbol,
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// How the password is used, for the NIST SP 800-63B profile's minimum length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NistUse {
    /// One factor of several (as with lockstep's password + OTP): minimum 8.
    MultiFactor,
    /// The only authentication factor: minimum 15 (SP 800-63B rev. 4).
    SingleFactor,
}

/// A password policy. Build one from [`PasswordPolicy::bank_default`],
/// [`PasswordPolicy::nist_800_63b`] or [`PasswordPolicy::builder`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_len: usize,
    max_len: usize,
    allowed: AllowedChars,
    composition: Composition,
    reject_user_name: bool,
    reject_user_id: bool,
    history_depth: usize,
    blocklist: Blocklist,
}

/// Why a [`PolicyBuilder`] refused its settings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The minimum length is zero.
    #[error("the minimum length must be at least 1")]
    ZeroMinimum,
    /// The minimum length exceeds the maximum.
    #[error("the minimum length {min} exceeds the maximum {max}")]
    MinAboveMax {
        /// The minimum.
        min: usize,
        /// The maximum.
        max: usize,
    },
    /// The maximum length exceeds [`PasswordPolicy::MAX_LEN_LIMIT`].
    #[error("the maximum length {max} exceeds the supported {limit}")]
    MaxTooLarge {
        /// The requested maximum.
        max: usize,
        /// The supported limit.
        limit: usize,
    },
    /// More character classes are required than the maximum length can hold.
    #[error(
        "{classes} character classes are required but passwords may have only {max} characters"
    )]
    CompositionUnsatisfiable {
        /// Required classes.
        classes: usize,
        /// The maximum length.
        max: usize,
    },
    /// The history depth exceeds [`PasswordPolicy::MAX_HISTORY`].
    #[error("a history depth of {depth} exceeds the supported {limit}")]
    HistoryTooDeep {
        /// The requested depth.
        depth: usize,
        /// The supported limit.
        limit: usize,
    },
}

/// Who the password belongs to and what it must differ from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context<'a> {
    /// The user name (R-PWD-3).
    pub user_name: Option<&'a str>,
    /// The user ID (R-PWD-3).
    pub user_id: Option<&'a str>,
    /// The confirmation typed a second time (R-PWD-5). `None` skips the check.
    pub confirmation: Option<&'a Password>,
    /// Remembered passwords (R-PWD-4), newest first: index 0 is the current
    /// password, 1 the one before it. Only the first
    /// [`PasswordPolicy::history_depth`] are checked.
    pub history: Option<History<'a>>,
}

/// Stored hashes of remembered passwords, and the hasher that verifies them.
#[derive(Clone, Copy)]
pub struct History<'a> {
    /// The hasher that made (or can verify) the hashes.
    pub hasher: &'a dyn PasswordHashing,
    /// The hashes, newest first (index 0 = current password).
    pub hashes: &'a [PasswordHash],
}

impl core::fmt::Debug for History<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("History")
            .field("hashes", &self.hashes.len())
            .finish_non_exhaustive()
    }
}

impl PasswordPolicy {
    /// The largest supported maximum length, in characters.
    pub const MAX_LEN_LIMIT: usize = 4096;
    /// The deepest supported password history.
    pub const MAX_HISTORY: usize = 24;
    /// At most this many distinct disallowed characters are reported; the
    /// rest of a long paste of them adds nothing a user can act on.
    pub const MAX_REPORTED_CHARACTERS: usize = 8;

    /// The manual's rules:
    /// - 6 to 12 characters (R-PWD-1);
    /// - at least one letter and one digit; letters are case-sensitive (R-PWD-2);
    /// - printable ASCII without space, so full-width input is named as such;
    /// - not the user name and not the user ID, **compared ignoring ASCII
    ///   case**: `Tanaka1` is refused for user `tanaka1`, since a password
    ///   that differs from the user name only in case is no secret (R-PWD-3);
    /// - not the current or the previous password: history depth 2 (R-PWD-4);
    /// - the confirmation must match, when given (R-PWD-5).
    ///
    /// Expiry after 90 days (R-PWD-6) is a matter of time, not of the
    /// candidate, and belongs to the account state machine.
    #[must_use]
    pub fn bank_default() -> Self {
        Self {
            min_len: 6,
            max_len: 12,
            allowed: AllowedChars::PrintableAscii,
            composition: Composition::LETTER_AND_DIGIT,
            reject_user_name: true,
            reject_user_id: true,
            history_depth: 2,
            blocklist: Blocklist::default(),
        }
    }

    /// A profile following NIST SP 800-63B §5.1.1.2, for services free to
    /// choose: at least 8 characters (15 when the password is the only
    /// factor), up to 64, any printing Unicode character and spaces, no
    /// composition rules, checked against the built-in blocklist (add your
    /// own with [`PasswordPolicy::to_builder`]). Not the user name or ID; no
    /// history rule (NIST does not ask for one).
    #[must_use]
    pub fn nist_800_63b(usage: NistUse) -> Self {
        Self {
            min_len: match usage {
                NistUse::MultiFactor => 8,
                NistUse::SingleFactor => 15,
            },
            max_len: 64,
            allowed: AllowedChars::Unicode,
            composition: Composition::NONE,
            reject_user_name: true,
            reject_user_id: true,
            history_depth: 0,
            blocklist: Blocklist::built_in(),
        }
    }

    /// A builder starting from the bank's rules.
    #[must_use]
    pub fn builder() -> PolicyBuilder {
        Self::bank_default().to_builder()
    }

    /// A builder starting from this policy.
    #[must_use]
    pub fn to_builder(&self) -> PolicyBuilder {
        PolicyBuilder {
            policy: self.clone(),
        }
    }

    /// The minimum length in characters.
    #[must_use]
    pub const fn min_len(&self) -> usize {
        self.min_len
    }

    /// The maximum length in characters.
    #[must_use]
    pub const fn max_len(&self) -> usize {
        self.max_len
    }

    /// How many remembered passwords a new one must differ from.
    #[must_use]
    pub const fn history_depth(&self) -> usize {
        self.history_depth
    }

    /// The allowed characters.
    #[must_use]
    pub const fn allowed(&self) -> AllowedChars {
        self.allowed
    }

    /// The required character classes.
    #[must_use]
    pub const fn composition(&self) -> Composition {
        self.composition
    }

    /// Checks `candidate` against every rule and reports **every** broken
    /// rule, each once, in the order of [`Violation`]'s variants (R-PWD-7).
    /// Lengths count Unicode scalar values, never bytes.
    ///
    /// The work is linear in the input and bounded: input of more than four
    /// bytes per allowed character is refused as too long before anything
    /// else is looked at, and at most [`PasswordPolicy::MAX_REPORTED_CHARACTERS`]
    /// distinct disallowed characters are reported.
    ///
    /// When `context.history` is given, the candidate is verified against
    /// the first [`PasswordPolicy::history_depth`] stored hashes, all of them
    /// (no early exit), which costs one hash verification each.
    ///
    /// # Errors
    /// [`Violations`], never empty, when a rule is broken. A stored hash that
    /// cannot be verified counts as a match (reported as
    /// [`Violation::Reused`]): refusing a password is safer than accepting
    /// one that may be a reuse.
    pub fn validate(&self, candidate: &Password, context: &Context<'_>) -> Result<(), Violations> {
        let text = candidate.expose();
        // Oversized input is refused before any other work: no character
        // scan, no history verification, no blocklist lookup. A character
        // is at most 4 bytes of UTF-8, so more bytes than that cannot be a
        // password this policy accepts.
        if text.len() > self.max_len.saturating_mul(4) {
            return Err(Violations(vec![Violation::TooLong {
                max: self.max_len,
                actual: text.chars().count(),
            }]));
        }
        let mut found = Vec::new();

        let mut length = 0_usize;
        let mut classes = Composition::NONE;
        let mut disallowed: Vec<Violation> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut full_width = 0_usize;
        for c in text.chars() {
            length = length.saturating_add(1);
            if !self.allowed.allows(c) {
                if let Some(narrow) = half_width(c) {
                    // Counted, never quoted; its class is judged as typed
                    // half-width, which is what the user meant.
                    full_width = full_width.saturating_add(1);
                    if self.allowed.allows(narrow) {
                        classes.note(narrow);
                    }
                    continue;
                }
                if disallowed.len() < Self::MAX_REPORTED_CHARACTERS && seen.insert(c) {
                    disallowed.push(Violation::DisallowedCharacter {
                        character: c,
                        position: length,
                    });
                }
                continue;
            }
            classes.note(c);
        }

        if length < self.min_len {
            found.push(Violation::TooShort {
                min: self.min_len,
                actual: length,
            });
        }
        if length > self.max_len {
            found.push(Violation::TooLong {
                max: self.max_len,
                actual: length,
            });
        }
        let need = self.composition;
        let missing = [
            (need.letter && !classes.letter, Violation::NoLetter),
            (need.digit && !classes.digit, Violation::NoDigit),
            (need.uppercase && !classes.uppercase, Violation::NoUppercase),
            (need.lowercase && !classes.lowercase, Violation::NoLowercase),
            (need.symbol && !classes.symbol, Violation::NoSymbol),
        ];
        found.extend(missing.into_iter().filter(|(m, _)| *m).map(|(_, v)| v));
        found.append(&mut disallowed);
        if full_width > 0 {
            found.push(Violation::FullWidth { count: full_width });
        }

        let same = |other: Option<&str>| other.is_some_and(|o| o.eq_ignore_ascii_case(text));
        if self.reject_user_name && same(context.user_name) {
            found.push(Violation::SameAsUserName);
        }
        if self.reject_user_id && same(context.user_id) {
            found.push(Violation::SameAsUserId);
        }
        if let Some(history) = context.history {
            // Every remembered hash is verified (no early exit), and a match
            // is reported once, without saying which one matched.
            let mut reused = false;
            for hash in history.hashes.iter().take(self.history_depth) {
                // Any failure to verify is treated as a match: see `# Errors`.
                reused |= history.hasher.verify(candidate, hash).unwrap_or(true);
            }
            if reused {
                found.push(Violation::Reused);
            }
        }
        if self.blocklist.contains(text) {
            found.push(Violation::Blocklisted);
        }
        if context
            .confirmation
            .is_some_and(|confirmation| confirmation.expose() != text)
        {
            found.push(Violation::ConfirmationMismatch);
        }

        if found.is_empty() {
            Ok(())
        } else {
            Err(Violations(found))
        }
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::bank_default()
    }
}

/// Builds a [`PasswordPolicy`]; [`PolicyBuilder::build`] refuses
/// contradictory settings.
#[derive(Clone, Debug)]
pub struct PolicyBuilder {
    policy: PasswordPolicy,
}

impl PolicyBuilder {
    /// Minimum and maximum length in characters.
    #[must_use]
    pub fn length(mut self, min: usize, max: usize) -> Self {
        self.policy.min_len = min;
        self.policy.max_len = max;
        self
    }

    /// The allowed characters.
    #[must_use]
    pub fn allowed(mut self, allowed: AllowedChars) -> Self {
        self.policy.allowed = allowed;
        self
    }

    /// The required character classes.
    #[must_use]
    pub fn composition(mut self, composition: Composition) -> Self {
        self.policy.composition = composition;
        self
    }

    /// Whether the password must differ from the user name and from the user
    /// ID (ignoring ASCII case).
    #[must_use]
    pub fn reject_user_name_and_id(mut self, user_name: bool, user_id: bool) -> Self {
        self.policy.reject_user_name = user_name;
        self.policy.reject_user_id = user_id;
        self
    }

    /// How many remembered passwords (current included) a new one must differ from.
    #[must_use]
    pub fn history_depth(mut self, depth: usize) -> Self {
        self.policy.history_depth = depth;
        self
    }

    /// Adds the built-in list of common passwords.
    #[must_use]
    pub fn built_in_blocklist(mut self) -> Self {
        self.policy
            .blocklist
            .extend(crate::blocklist::BUILT_IN.iter().copied());
        self
    }

    /// Adds caller-supplied refused passwords (compared case-insensitively).
    #[must_use]
    pub fn blocklist<'a>(mut self, entries: impl IntoIterator<Item = &'a str>) -> Self {
        self.policy.blocklist.extend(entries);
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// A [`PolicyError`] for a zero minimum, a minimum above the maximum, a
    /// maximum over [`PasswordPolicy::MAX_LEN_LIMIT`], more required classes
    /// than the maximum length holds, required letters or digits that the
    /// allowed characters cannot supply, or a history deeper than
    /// [`PasswordPolicy::MAX_HISTORY`].
    pub fn build(self) -> Result<PasswordPolicy, PolicyError> {
        let p = self.policy;
        if p.min_len == 0 {
            return Err(PolicyError::ZeroMinimum);
        }
        if p.min_len > p.max_len {
            return Err(PolicyError::MinAboveMax {
                min: p.min_len,
                max: p.max_len,
            });
        }
        if p.max_len > PasswordPolicy::MAX_LEN_LIMIT {
            return Err(PolicyError::MaxTooLarge {
                max: p.max_len,
                limit: PasswordPolicy::MAX_LEN_LIMIT,
            });
        }
        let classes = p.composition.required();
        // Upper and lower case are both letters; a letter requirement is then
        // met by them, so count the distinct characters needed.
        let needed = classes
            - usize::from(
                p.composition.letter && (p.composition.uppercase || p.composition.lowercase),
            );
        if needed > p.max_len {
            return Err(PolicyError::CompositionUnsatisfiable {
                classes: needed,
                max: p.max_len,
            });
        }
        if p.history_depth > PasswordPolicy::MAX_HISTORY {
            return Err(PolicyError::HistoryTooDeep {
                depth: p.history_depth,
                limit: PasswordPolicy::MAX_HISTORY,
            });
        }
        Ok(p)
    }
}

impl PasswordPolicy {
    /// Number of entries on this policy's blocklist.
    #[must_use]
    pub fn blocklist_len(&self) -> usize {
        self.blocklist.len()
    }
}

/// The half-width form of a full-width character (U+FF01..U+FF5E, and the
/// ideographic space as a space), if it is one.
fn half_width(c: char) -> Option<char> {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0),
        '\u{3000}' => Some(' '),
        _ => None,
    }
}
