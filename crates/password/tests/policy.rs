//! The builder, the messages, and the property tests of the validator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use lockstep_password::{
    AllowedChars, Composition, Context, Password, PasswordPolicy, PolicyError, Violation,
};
use proptest::prelude::*;

#[test]
fn builder_refuses_contradictions() {
    let b = PasswordPolicy::builder;
    assert_eq!(b().length(0, 10).build(), Err(PolicyError::ZeroMinimum));
    assert_eq!(
        b().length(13, 12).build(),
        Err(PolicyError::MinAboveMax { min: 13, max: 12 })
    );
    assert_eq!(
        b().length(8, 5000).build(),
        Err(PolicyError::MaxTooLarge {
            max: 5000,
            limit: 4096
        })
    );
    assert_eq!(
        b().history_depth(1000).build(),
        Err(PolicyError::HistoryTooDeep {
            depth: 1000,
            limit: 24
        })
    );
    let all = Composition {
        letter: true,
        digit: true,
        uppercase: true,
        lowercase: true,
        symbol: true,
    };
    assert_eq!(
        b().length(1, 3).composition(all).build(),
        Err(PolicyError::CompositionUnsatisfiable { classes: 4, max: 3 })
    );
    assert!(b().length(4, 4).composition(all).build().is_ok());
    let p = b()
        .length(10, 20)
        .allowed(AllowedChars::PrintableAsciiWithSpace)
        .composition(all)
        .history_depth(5)
        .built_in_blocklist()
        .build()
        .unwrap();
    assert_eq!((p.min_len(), p.max_len(), p.history_depth()), (10, 20, 5));
    let v = p
        .validate(&Password::from("abc def"), &Context::default())
        .unwrap_err();
    assert_eq!(
        v.codes().collect::<Vec<_>>(),
        ["too_short", "no_digit", "no_uppercase", "no_symbol"]
    );
}

fn every_violation() -> Vec<Violation> {
    vec![
        Violation::TooShort { min: 6, actual: 5 },
        Violation::TooLong {
            max: 12,
            actual: 13,
        },
        Violation::NoLetter,
        Violation::NoDigit,
        Violation::NoUppercase,
        Violation::NoLowercase,
        Violation::NoSymbol,
        Violation::DisallowedCharacter {
            character: ' ',
            position: 2,
        },
        Violation::FullWidth { count: 1 },
        Violation::SameAsUserName,
        Violation::SameAsUserId,
        Violation::Reused,
        Violation::Blocklisted,
        Violation::ConfirmationMismatch,
    ]
}

#[test]
fn every_violation_has_a_code_english_and_japanese() {
    let codes: BTreeSet<&str> = every_violation().iter().map(Violation::code).collect();
    assert_eq!(codes.len(), 14, "one distinct code per kind");
    for v in every_violation() {
        let en = v.to_string();
        let ja = v.message_ja();
        assert!(
            !en.is_empty() && en.is_ascii() || matches!(v, Violation::DisallowedCharacter { .. }),
            "{en}"
        );
        assert!(
            ja.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
            "Japanese: {ja}"
        );
        assert!(
            v.code()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        );
    }
    let fw = Violation::DisallowedCharacter {
        character: '１',
        position: 3,
    };
    assert_eq!(
        fw.to_string(),
        "character 3 is the full-width character '１', which is not allowed; switch the input method to half-width"
    );
    assert_eq!(
        fw.message_ja(),
        "3文字目の全角文字「１」は使用できません。半角で入力してください。"
    );
    assert_eq!(
        Violation::Reused.message_ja(),
        "最近使用したパスワードは使用できません。別のパスワードを入力してください。"
    );
    assert!(
        !Violation::Reused.to_string().contains("previous"),
        "which remembered password matched is not said"
    );
}

// ---------------------------------------------------------------- properties

/// A password that satisfies the bank's rules by construction: 6..=12
/// printable ASCII characters with at least one letter and one digit.
fn bank_valid() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z]",
        "[0-9]",
        proptest::collection::vec(proptest::char::range('!', '~'), 4..=10),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(letter, digit, rest, at)| {
            let mut chars: Vec<char> = rest;
            chars.insert(at.index(chars.len() + 1), letter.chars().next().unwrap());
            let pos = (at.index(chars.len() + 1) + 3) % (chars.len() + 1);
            chars.insert(pos, digit.chars().next().unwrap());
            chars.into_iter().collect()
        })
}

/// The bank's rules written out independently of the library, as the oracle
/// for generated rule-breakers. It is written differently from the library
/// on purpose (lower-casing rather than `eq_ignore_ascii_case`).
#[allow(clippy::manual_ignore_case_cmp)]
fn expected_bank_violations(p: &str, name: &str, id: &str, confirmation: &str) -> Vec<Violation> {
    let chars: Vec<char> = p.chars().collect();
    let ok = |c: char| ('!'..='~').contains(&c);
    // Full-width forms: U+FF01 is '!' moved up; the ideographic space a
    // space. They count as full-width, and as the character they stand for.
    let wide = |c: char| ('\u{FF01}'..='\u{FF5E}').contains(&c) || c == '\u{3000}';
    let narrow = |c: char| match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFF01 + 0x21).unwrap(),
        '\u{3000}' => ' ',
        c => c,
    };
    let meant: Vec<char> = chars.iter().map(|&c| narrow(c)).collect();
    let mut v = Vec::new();
    // More bytes than 12 characters of 4 bytes can hold: too long, nothing else.
    if p.len() > 48 {
        return vec![Violation::TooLong {
            max: 12,
            actual: chars.len(),
        }];
    }
    if chars.len() < 6 {
        v.push(Violation::TooShort {
            min: 6,
            actual: chars.len(),
        });
    }
    if chars.len() > 12 {
        v.push(Violation::TooLong {
            max: 12,
            actual: chars.len(),
        });
    }
    if !meant.iter().any(|c| c.is_ascii_alphabetic()) {
        v.push(Violation::NoLetter);
    }
    if !meant.iter().any(|c| c.is_ascii_digit()) {
        v.push(Violation::NoDigit);
    }
    let mut seen = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if !ok(c) && !wide(c) && !seen.contains(&c) && seen.len() < 8 {
            seen.push(c);
            v.push(Violation::DisallowedCharacter {
                character: c,
                position: i + 1,
            });
        }
    }
    let wide_count = chars.iter().filter(|&&c| wide(c)).count();
    if wide_count > 0 {
        v.push(Violation::FullWidth { count: wide_count });
    }
    if p.to_ascii_lowercase() == name.to_ascii_lowercase() {
        v.push(Violation::SameAsUserName);
    }
    if p.to_ascii_lowercase() == id.to_ascii_lowercase() {
        v.push(Violation::SameAsUserId);
    }
    if p != confirmation {
        v.push(Violation::ConfirmationMismatch);
    }
    v
}

/// Characters a user might type, including the ones that break rules.
fn any_typed() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => proptest::char::range('A', 'Z'),
        3 => proptest::char::range('0', '9'),
        2 => proptest::char::range('!', '/'),
        1 => Just(' '),
        1 => proptest::char::range('\u{FF10}', '\u{FF19}'),
        1 => proptest::char::range('\u{FF21}', '\u{FF3A}'),
        1 => proptest::char::range('\u{3041}', '\u{3096}'),
        1 => Just('😀'),
        1 => Just('\u{3000}'),
    ];
    proptest::collection::vec(c, 0..=16).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn passwords_made_to_the_bank_rules_pass(p in bank_valid(), name in "[a-z]{3,8}", id in "[0-9]{8}") {
        prop_assume!(!p.eq_ignore_ascii_case(&name) && !p.eq_ignore_ascii_case(&id));
        let confirmation = Password::from(p.as_str());
        let ctx = Context { user_name: Some(&name), user_id: Some(&id), confirmation: Some(&confirmation), history: None };
        let result = PasswordPolicy::bank_default().validate(&Password::from(p.as_str()), &ctx);
        prop_assert!(result.is_ok(), "{:?}", result);
    }

    #[test]
    fn reported_violations_are_exactly_the_rules_broken(
        p in any_typed(),
        same_name in any::<bool>(),
        same_id in any::<bool>(),
        confirm_matches in any::<bool>(),
        other in any_typed(),
    ) {
        let name = if same_name { p.to_uppercase() } else { format!("{other}name") };
        let id = if same_id { p.clone() } else { format!("{other}id") };
        let confirmation = if confirm_matches { p.clone() } else { format!("{p}x") };
        let conf = Password::from(confirmation.as_str());
        let ctx = Context { user_name: Some(&name), user_id: Some(&id), confirmation: Some(&conf), history: None };
        let got = PasswordPolicy::bank_default()
            .validate(&Password::from(p.as_str()), &ctx)
            .map_or_else(|v| v.as_slice().to_vec(), |()| Vec::new());
        prop_assert_eq!(got, expected_bank_violations(&p, &name, &id, &confirmation));
    }

    #[test]
    fn validation_is_deterministic_and_each_violation_appears_once(p in "\\PC{0,40}") {
        let policy = PasswordPolicy::nist_800_63b(lockstep_password::NistUse::MultiFactor);
        let a = policy.validate(&Password::from(p.as_str()), &Context::default());
        let b = policy.validate(&Password::from(p.as_str()), &Context::default());
        prop_assert_eq!(&a, &b);
        if let Err(v) = a {
            let set: BTreeSet<String> = v.iter().map(|x| format!("{x:?}")).collect();
            prop_assert_eq!(set.len(), v.as_slice().len());
        }
    }
}
