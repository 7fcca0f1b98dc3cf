//! What a candidate password did wrong, in English, in Japanese and as a
//! stable machine-readable code.

use core::fmt;

/// One broken rule. [`crate::PasswordPolicy::validate`] reports every broken
/// rule, each once, in the order of this enum.
///
/// A violation is meant for the user who typed the password. Only
/// [`Violation::DisallowedCharacter`] quotes the input, and only a character
/// that can never be part of an accepted password. For logs and metrics use
/// [`Violation::code`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// Fewer characters than the minimum (R-PWD-1).
    TooShort {
        /// The policy's minimum length.
        min: usize,
        /// The candidate's length in characters.
        actual: usize,
    },
    /// More characters than the maximum (R-PWD-1).
    TooLong {
        /// The policy's maximum length.
        max: usize,
        /// The candidate's length in characters.
        actual: usize,
    },
    /// No letter although one is required (R-PWD-2).
    NoLetter,
    /// No digit although one is required (R-PWD-2).
    NoDigit,
    /// No upper-case letter although one is required.
    NoUppercase,
    /// No lower-case letter although one is required.
    NoLowercase,
    /// No symbol although one is required.
    NoSymbol,
    /// A character the policy does not allow, such as a full-width digit
    /// `１` or a space. Reported once per distinct character, at its first
    /// occurrence.
    DisallowedCharacter {
        /// The character.
        character: char,
        /// Its 1-based position in characters.
        position: usize,
    },
    /// Full-width characters (`Ａ`, `１`, an ideographic space), typed with a
    /// Japanese input method left in full-width mode: reported once for all
    /// of them, without quoting any (they are the password's own
    /// characters in another width). The rules of letters and digits are
    /// judged as if they had been typed half-width, so that their absence
    /// is not reported as well.
    FullWidth {
        /// How many characters are full-width.
        count: usize,
    },
    /// Equal to the user name, ignoring ASCII case (R-PWD-3).
    SameAsUserName,
    /// Equal to the user ID, ignoring ASCII case (R-PWD-3).
    SameAsUserId,
    /// Equal to a recent password (R-PWD-4). Which one is not said: the
    /// answer would tell whoever holds a session which of their guesses was
    /// an earlier password.
    Reused,
    /// On the list of common or compromised passwords.
    Blocklisted,
    /// The confirmation differs from the new password (R-PWD-5).
    ConfirmationMismatch,
}

impl Violation {
    /// A stable, machine-readable identifier: `too_short`, `too_long`,
    /// `no_letter`, `no_digit`, `no_uppercase`, `no_lowercase`, `no_symbol`,
    /// `disallowed_character`, `same_as_user_name`, `same_as_user_id`,
    /// `reused`, `blocklisted`, `confirmation_mismatch`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::NoLetter => "no_letter",
            Self::NoDigit => "no_digit",
            Self::NoUppercase => "no_uppercase",
            Self::NoLowercase => "no_lowercase",
            Self::NoSymbol => "no_symbol",
            Self::DisallowedCharacter { .. } => "disallowed_character",
            Self::FullWidth { .. } => "full_width",
            Self::SameAsUserName => "same_as_user_name",
            Self::SameAsUserId => "same_as_user_id",
            Self::Reused => "reused",
            Self::Blocklisted => "blocklisted",
            Self::ConfirmationMismatch => "confirmation_mismatch",
        }
    }

    /// The message in Japanese, for the bank's pages of the manual.
    #[must_use]
    pub fn message_ja(&self) -> String {
        match self {
            Self::TooShort { min, actual } => {
                format!("パスワードは{min}文字以上で入力してください（入力は{actual}文字です）。")
            }
            Self::TooLong { max, actual } => {
                format!("パスワードは{max}文字以内で入力してください（入力は{actual}文字です）。")
            }
            Self::NoLetter => "パスワードには英字を1文字以上含めてください。".into(),
            Self::NoDigit => "パスワードには数字を1文字以上含めてください。".into(),
            Self::NoUppercase => "パスワードには英大文字を1文字以上含めてください。".into(),
            Self::NoLowercase => "パスワードには英小文字を1文字以上含めてください。".into(),
            Self::NoSymbol => "パスワードには記号を1文字以上含めてください。".into(),
            Self::DisallowedCharacter {
                character,
                position,
            } => format!(
                "{position}文字目の{}は使用できません。{}",
                describe_ja(*character),
                if is_full_width(*character) {
                    "半角で入力してください。"
                } else {
                    ""
                }
            ),
            Self::FullWidth { count } => format!(
                "全角文字が{count}文字含まれています。入力モードを半角に切り替えて、半角英数字で入力してください。"
            ),
            Self::SameAsUserName => "ユーザ名と同じパスワードは使用できません。".into(),
            Self::SameAsUserId => "ユーザ ID と同じパスワードは使用できません。".into(),
            Self::Reused => {
                "最近使用したパスワードは使用できません。別のパスワードを入力してください。".into()
            }
            Self::Blocklisted => {
                "推測されやすいパスワードのため使用できません。別のパスワードを入力してください。"
                    .into()
            }
            Self::ConfirmationMismatch => {
                "新しいパスワードと確認用パスワードが一致しません。".into()
            }
        }
    }
}

/// Full-width forms (U+FF01..U+FF5E) and the ideographic space.
fn is_full_width(c: char) -> bool {
    matches!(c, '\u{FF01}'..='\u{FF5E}' | '\u{3000}')
}

fn describe_ja(c: char) -> String {
    match c {
        ' ' => "半角スペース".into(),
        '\u{3000}' => "全角スペース".into(),
        c if c.is_control() || c.is_whitespace() => {
            format!("制御文字・空白（U+{:04X}）", u32::from(c))
        }
        c if is_full_width(c) => format!("全角文字「{c}」"),
        c => format!("文字「{c}」"),
    }
}

fn describe_en(c: char, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match c {
        ' ' => f.write_str("a space"),
        '\u{3000}' => f.write_str("a full-width space"),
        c if c.is_control() || c.is_whitespace() => {
            write!(f, "the character U+{:04X}", u32::from(c))
        }
        c if is_full_width(c) => write!(f, "the full-width character '{c}'"),
        c => write!(f, "the character '{c}'"),
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { min, actual } => write!(
                f,
                "the password has {actual} characters; use at least {min}"
            ),
            Self::TooLong { max, actual } => {
                write!(f, "the password has {actual} characters; use at most {max}")
            }
            Self::NoLetter => f.write_str("the password needs at least one letter"),
            Self::NoDigit => f.write_str("the password needs at least one digit"),
            Self::NoUppercase => f.write_str("the password needs at least one upper-case letter"),
            Self::NoLowercase => f.write_str("the password needs at least one lower-case letter"),
            Self::NoSymbol => f.write_str("the password needs at least one symbol"),
            Self::DisallowedCharacter {
                character,
                position,
            } => {
                write!(f, "character {position} is ")?;
                describe_en(*character, f)?;
                f.write_str(", which is not allowed")?;
                if is_full_width(*character) {
                    f.write_str("; switch the input method to half-width")?;
                }
                Ok(())
            }
            Self::FullWidth { count } => write!(
                f,
                "the password has full-width characters ({count}); switch the input method to half-width"
            ),
            Self::SameAsUserName => f.write_str("the password must differ from the user name"),
            Self::SameAsUserId => f.write_str("the password must differ from the user ID"),
            Self::Reused => f.write_str("the password must differ from your recent passwords"),
            Self::Blocklisted => {
                f.write_str("the password is too common or known to be compromised; choose another")
            }
            Self::ConfirmationMismatch => {
                f.write_str("the confirmation does not match the new password")
            }
        }
    }
}

/// Every rule a candidate broke; never empty. Returned by
/// [`crate::PasswordPolicy::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violations(pub(crate) Vec<Violation>);

impl Violations {
    /// The violations, in a stable order.
    #[must_use]
    pub fn as_slice(&self) -> &[Violation] {
        &self.0
    }

    /// Iterates over the violations.
    pub fn iter(&self) -> core::slice::Iter<'_, Violation> {
        self.0.iter()
    }

    /// The machine-readable codes, in order.
    pub fn codes(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(Violation::code)
    }

    /// Whether a violation with this code is present.
    #[must_use]
    pub fn contains_code(&self, code: &str) -> bool {
        self.codes().any(|c| c == code)
    }
}

impl<'a> IntoIterator for &'a Violations {
    type Item = &'a Violation;
    type IntoIter = core::slice::Iter<'a, Violation>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the password was refused: ")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            fmt::Display::fmt(v, f)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}
