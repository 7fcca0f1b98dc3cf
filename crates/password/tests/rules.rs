//! One test per password rule of the manual (R-PWD-1, R-PWD-2, R-PWD-3,
//! R-PWD-4, R-PWD-5, R-PWD-7; `docs/RULES.md` lists them),
//! covering both sides of every edge, and the NIST SP 800-63B profile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use lockstep_password::{
    Context, History, InsecureTestHasher, NistUse, Password, PasswordHash, PasswordHashing,
    PasswordPolicy, Violation,
};

fn bank(candidate: &str) -> Result<(), Vec<Violation>> {
    bank_with(candidate, &Context::default())
}

fn bank_with(candidate: &str, context: &Context<'_>) -> Result<(), Vec<Violation>> {
    PasswordPolicy::bank_default()
        .validate(&Password::from(candidate), context)
        .map_err(|v| v.as_slice().to_vec())
}

#[test]
fn r_pwd_1_length_is_6_to_12_characters() {
    assert_eq!(
        bank("abc12"),
        Err(vec![Violation::TooShort { min: 6, actual: 5 }])
    );
    assert_eq!(bank("abc123"), Ok(()));
    assert_eq!(bank("abcdef123456"), Ok(()));
    assert_eq!(
        bank("abcdef1234567"),
        Err(vec![Violation::TooLong {
            max: 12,
            actual: 13
        }])
    );
    assert_eq!(
        bank(""),
        Err(vec![
            Violation::TooShort { min: 6, actual: 0 },
            Violation::NoLetter,
            Violation::NoDigit,
        ])
    );
}

#[test]
fn r_pwd_1_length_counts_characters_not_bytes() {
    // Five ASCII characters and one emoji: six characters, 9 bytes.
    let v = bank("abc12😀").unwrap_err();
    assert!(
        !v.iter().any(|v| matches!(v, Violation::TooShort { .. })),
        "{v:?}"
    );
    assert_eq!(
        v,
        vec![Violation::DisallowedCharacter {
            character: '😀',
            position: 6
        }]
    );
    // Under NIST (Unicode allowed) an emoji is one character.
    let nist = PasswordPolicy::nist_800_63b(NistUse::MultiFactor);
    let v = nist
        .validate(&Password::from("😀😀😀😀😀😀😀"), &Context::default())
        .unwrap_err();
    assert_eq!(v.as_slice(), [Violation::TooShort { min: 8, actual: 7 }]);
    assert!(
        nist.validate(&Password::from("😀😀😀😀😀😀😀😀"), &Context::default())
            .is_ok()
    );
}

#[test]
fn r_pwd_2_needs_a_letter_and_a_digit() {
    assert_eq!(bank("abcdefgh"), Err(vec![Violation::NoDigit]));
    assert_eq!(bank("12345678"), Err(vec![Violation::NoLetter]));
    assert_eq!(bank("a1b2c3d4"), Ok(()));
    assert_eq!(
        bank("!#$%&()*"),
        Err(vec![Violation::NoLetter, Violation::NoDigit])
    );
    assert_eq!(bank("A!1#$%"), Ok(()), "symbols are allowed alongside");
}

#[test]
fn r_pwd_2_letters_are_case_sensitive() {
    let hasher = InsecureTestHasher::new();
    let current = hasher.hash(&Password::from("abc123")).unwrap();
    let history = [current];
    let ctx = Context {
        history: Some(History {
            hasher: &hasher,
            hashes: &history,
        }),
        ..Context::default()
    };
    assert_eq!(
        bank_with("ABC123", &ctx),
        Ok(()),
        "a case change is a different password"
    );
    assert_eq!(bank_with("abc123", &ctx), Err(vec![Violation::Reused]));
}

#[test]
fn r_pwd_2_full_width_input_and_spaces_are_named() {
    // Full-width input: one violation for all of it, quoting none of it,
    // and no "no digit" for a digit typed full-width.
    assert_eq!(
        bank("abcde１"),
        Err(vec![Violation::FullWidth { count: 1 }])
    );
    assert_eq!(
        bank("ＡｂＣ１２３"),
        Err(vec![Violation::FullWidth { count: 6 }])
    );
    let message = Violation::FullWidth { count: 6 }.message_ja();
    for c in "ＡｂＣ１２３".chars() {
        assert!(!message.contains(c), "{message}");
    }
    // A full-width password that would break the rules half-width too.
    assert_eq!(
        bank("ａｂｃｄｅｆ"),
        Err(vec![Violation::NoDigit, Violation::FullWidth { count: 6 }])
    );
    assert_eq!(
        bank("abc 123"),
        Err(vec![Violation::DisallowedCharacter {
            character: ' ',
            position: 4
        }])
    );
    // The same disallowed character is reported once, at its first position.
    assert_eq!(
        bank("ab\t\tc1"),
        Err(vec![Violation::DisallowedCharacter {
            character: '\t',
            position: 3
        }])
    );
}

#[test]
fn r_pwd_3_differs_from_user_name_and_id_ignoring_ascii_case() {
    let ctx = Context {
        user_name: Some("Taro2024"),
        user_id: Some("fx0012345"),
        ..Context::default()
    };
    assert_eq!(
        bank_with("taro2024", &ctx),
        Err(vec![Violation::SameAsUserName])
    );
    assert_eq!(
        bank_with("TARO2024", &ctx),
        Err(vec![Violation::SameAsUserName])
    );
    assert_eq!(
        bank_with("FX0012345", &ctx),
        Err(vec![Violation::SameAsUserId])
    );
    assert_eq!(bank_with("taro2025", &ctx), Ok(()));
    assert_eq!(
        bank_with("fx00123456", &ctx),
        Ok(()),
        "equality, not containment"
    );
}

#[test]
fn r_pwd_4_differs_from_the_last_two_passwords() {
    let hasher = InsecureTestHasher::new();
    let hashes: Vec<PasswordHash> = ["curr3nt", "prev1ous", "0lder1"]
        .iter()
        .map(|p| hasher.hash(&Password::from(*p)).unwrap())
        .collect();
    let ctx = Context {
        history: Some(History {
            hasher: &hasher,
            hashes: &hashes,
        }),
        ..Context::default()
    };
    assert_eq!(bank_with("curr3nt", &ctx), Err(vec![Violation::Reused]));
    assert_eq!(bank_with("prev1ous", &ctx), Err(vec![Violation::Reused]));
    assert_eq!(
        bank_with("0lder1", &ctx),
        Ok(()),
        "the 2nd-previous password is allowed again"
    );
    assert_eq!(bank_with("brandn3w", &ctx), Ok(()));
}

#[test]
fn r_pwd_4_an_unreadable_stored_hash_refuses_rather_than_allows() {
    let hasher = InsecureTestHasher::new();
    let hashes = [PasswordHash::parse(
        "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .unwrap()];
    let ctx = Context {
        history: Some(History {
            hasher: &hasher,
            hashes: &hashes,
        }),
        ..Context::default()
    };
    assert!(bank_with("anyth1ng", &ctx).is_err());
}

#[test]
fn r_pwd_5_confirmation_must_match() {
    let same = Password::from("abc123");
    let other = Password::from("abc124");
    let ok = Context {
        confirmation: Some(&same),
        ..Context::default()
    };
    let bad = Context {
        confirmation: Some(&other),
        ..Context::default()
    };
    assert_eq!(bank_with("abc123", &ok), Ok(()));
    assert_eq!(
        bank_with("abc123", &bad),
        Err(vec![Violation::ConfirmationMismatch])
    );
}

#[test]
fn r_pwd_7_every_broken_rule_is_reported_once() {
    let confirmation = Password::from("x");
    let ctx = Context {
        user_name: Some("１ａ"),
        user_id: Some("１ａ"),
        confirmation: Some(&confirmation),
        ..Context::default()
    };
    assert_eq!(
        bank_with("１ａ", &ctx),
        Err(vec![
            Violation::TooShort { min: 6, actual: 2 },
            Violation::FullWidth { count: 2 },
            Violation::SameAsUserName,
            Violation::SameAsUserId,
            Violation::ConfirmationMismatch,
        ])
    );
}

#[test]
fn nist_profile_lengths_blocklist_and_no_composition() {
    let multi = PasswordPolicy::nist_800_63b(NistUse::MultiFactor);
    let single = PasswordPolicy::nist_800_63b(NistUse::SingleFactor);
    let none = Context::default();
    let check = |p: &PasswordPolicy, s: &str| {
        p.validate(&Password::from(s), &none)
            .map_err(|v| v.as_slice().to_vec())
    };
    assert_eq!(
        check(&multi, "correcthorse"),
        Ok(()),
        "no composition rules"
    );
    assert_eq!(
        check(&multi, "seven77"),
        Err(vec![Violation::TooShort { min: 8, actual: 7 }])
    );
    assert_eq!(
        check(&single, "correcthorse"),
        Err(vec![Violation::TooShort {
            min: 15,
            actual: 12
        }])
    );
    assert_eq!(
        check(&single, "correct horse battery"),
        Ok(()),
        "spaces allowed"
    );
    assert_eq!(
        check(&multi, "パスワードは長い文章"),
        Ok(()),
        "any printing Unicode"
    );
    assert_eq!(check(&multi, &"a".repeat(64)), Ok(()));
    assert_eq!(
        check(&multi, &"a".repeat(65)),
        Err(vec![Violation::TooLong {
            max: 64,
            actual: 65
        }])
    );
    assert_eq!(
        check(&multi, "PASSWORD"),
        Err(vec![Violation::Blocklisted]),
        "case-insensitive"
    );
    assert_eq!(
        check(&multi, "tab\there1"),
        Err(vec![Violation::DisallowedCharacter {
            character: '\t',
            position: 4
        }])
    );

    let custom = multi
        .to_builder()
        .blocklist(["lockstep-bank"])
        .build()
        .unwrap();
    assert_eq!(
        check(&custom, "Lockstep-Bank"),
        Err(vec![Violation::Blocklisted])
    );
    assert_eq!(
        check(&custom, "password1"),
        Err(vec![Violation::Blocklisted]),
        "built-in kept"
    );
}

/// 320,000 distinct characters took 16 s (an O(n²) dedup).
/// Oversized input is now refused as too long before any other work: the
/// history hasher is never called and nothing else is reported.
#[test]
fn oversized_input_is_refused_before_any_work() {
    let hasher = counting::Counting::default();
    let stored = [hasher.hash(&Password::from("curr3nt")).unwrap()];
    let before = hasher.calls();
    let huge: String = ('\u{100}'..).take(320_000).collect();
    let ctx = Context {
        history: Some(History {
            hasher: &hasher,
            hashes: &stored,
        }),
        ..Context::default()
    };
    let got = bank_with(&huge, &ctx);
    assert_eq!(
        got,
        Err(vec![Violation::TooLong {
            max: 12,
            actual: 320_000
        }])
    );
    assert_eq!(hasher.calls(), before, "no history verification");
}

/// Within the byte bound, distinct disallowed characters are reported at
/// most `MAX_REPORTED_CHARACTERS` times, each once.
#[test]
fn reported_characters_are_capped_and_distinct() {
    let policy = PasswordPolicy::builder().length(6, 4096).build().unwrap();
    let text: String = ('\u{3041}'..).take(4000).collect::<String>() + "ab12";
    let v = policy
        .validate(&Password::new(text), &Context::default())
        .unwrap_err();
    let chars: Vec<char> = v
        .iter()
        .filter_map(|v| match v {
            Violation::DisallowedCharacter { character, .. } => Some(*character),
            _ => None,
        })
        .collect();
    assert_eq!(chars.len(), PasswordPolicy::MAX_REPORTED_CHARACTERS);
    assert_eq!(chars, ('\u{3041}'..).take(8).collect::<Vec<_>>());
}

mod counting {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use lockstep_password::{
        HashError, InsecureTestHasher, Password, PasswordHash, PasswordHashing,
    };

    /// The test hasher, counting verifications.
    #[derive(Default)]
    pub(crate) struct Counting(InsecureTestHasher, AtomicUsize);

    impl Counting {
        pub(crate) fn calls(&self) -> usize {
            self.1.load(Ordering::SeqCst)
        }
    }

    impl PasswordHashing for Counting {
        fn hash_with_salt(&self, p: &Password, s: &[u8]) -> Result<PasswordHash, HashError> {
            self.0.hash_with_salt(p, s)
        }
        fn verify(&self, p: &Password, h: &PasswordHash) -> Result<bool, HashError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.verify(p, h)
        }
        fn needs_rehash(&self, h: &PasswordHash) -> bool {
            self.0.needs_rehash(h)
        }
    }
}
