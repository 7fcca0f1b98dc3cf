//! A small built-in list of the most common passwords, and caller-supplied lists.

use std::collections::BTreeSet;

use zeroize::Zeroizing;

/// The built-in list: among the most frequent passwords of public breach
/// corpora (and the obvious variants a bank's customers try). It is a floor,
/// not a substitute for a large list: NIST SP 800-63B §5.1.1.2 asks for a
/// check against a list of commonly used, expected or compromised values, so
/// pass your own through [`crate::PolicyBuilder::blocklist`].
pub const BUILT_IN: &[&str] = &[
    "000000",
    "111111",
    "112233",
    "121212",
    "123123",
    "123321",
    "1234",
    "12345",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "123abc",
    "123qwe",
    "1q2w3e",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "654321",
    "666666",
    "696969",
    "7777777",
    "987654321",
    "aa123456",
    "abc123",
    "abcd1234",
    "access",
    "admin",
    "admin123",
    "asdfgh",
    "asdfghjkl",
    "azerty",
    "baseball",
    "batman",
    "charlie",
    "dragon",
    "football",
    "freedom",
    "hello",
    "hello123",
    "iloveyou",
    "letmein",
    "login",
    "master",
    "monkey",
    "mustang",
    "passw0rd",
    "password",
    "password1",
    "password123",
    "princess",
    "qazwsx",
    "qwe123",
    "qwerty",
    "qwerty123",
    "qwertyuiop",
    "shadow",
    "starwars",
    "sunshine",
    "superman",
    "trustno1",
    "welcome",
    "welcome1",
    "whatever",
    "zaq12wsx",
    "zxcvbnm",
    "a123456",
    "abc12345",
    "pass1234",
    "test123",
    "test1234",
    "p@ssw0rd",
    "pa55word",
    "secret",
    "secret1",
    "changeme",
    "default",
    "guest",
    "root",
    "user",
    "user1234",
    "temp1234",
    "bank1234",
    "money1",
    "sakura",
    "doraemon",
    "pokemon",
    "naruto",
    "tokyo",
    "tokyo123",
    "nihon",
    "nippon",
    "japan",
    "japan123",
    "yokohama",
    "osaka",
    "kyoto",
    "fuji",
    "samurai",
    "ninja",
];

/// A set of refused passwords, compared case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Blocklist {
    entries: BTreeSet<String>,
    /// The longest entry, in bytes.
    longest: usize,
}

impl Blocklist {
    pub(crate) fn built_in() -> Self {
        let mut list = Self::default();
        list.extend(BUILT_IN.iter().copied());
        list
    }

    pub(crate) fn extend<'a>(&mut self, entries: impl IntoIterator<Item = &'a str>) {
        for entry in entries {
            let lower = entry.to_lowercase();
            self.longest = self.longest.max(lower.len());
            self.entries.insert(lower);
        }
    }

    /// Whether the list holds `candidate`, ignoring case. The lower-cased
    /// copy of the candidate is wiped after the lookup; a candidate longer
    /// than every entry is not copied at all.
    pub(crate) fn contains(&self, candidate: &str) -> bool {
        if candidate.len() > self.longest.saturating_mul(4) {
            return false;
        }
        let lower = Zeroizing::new(candidate.to_lowercase());
        self.entries.contains(lower.as_str())
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
