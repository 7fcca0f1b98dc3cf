//! Parsing of user input: codes, secrets and otpauth Key URIs.
//!
//! Long on purpose: one file per parser family keeps every accepted and
//! refused spelling of a format side by side, where a reader checks them
//! against each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use lockstep_otp::{
    Algorithm, Code, CodeError, Digits, KeyStrength, KeyUri, OtpKind, Period, Secret, SecretError,
    TotpParams, UriError,
};

#[test]
fn code_accepts_exactly_the_configured_ascii_digits() {
    let code = Code::parse("007081", Digits::SIX).unwrap();
    assert_eq!(code.expose().to_string(), "007081", "leading zeros kept");
    assert_eq!(
        Code::parse("07081804", Digits::EIGHT)
            .unwrap()
            .expose()
            .to_string(),
        "07081804"
    );
}

#[test]
fn code_errors_name_what_is_wrong() {
    let six = Digits::SIX;
    let cases: &[(&str, CodeError)] = &[
        ("", CodeError::Empty),
        (
            "12345",
            CodeError::TooShort {
                expected: 6,
                actual: 5,
            },
        ),
        (
            "1234567",
            CodeError::TooLong {
                expected: 6,
                actual: 7,
            },
        ),
        ("１２３４５６", CodeError::FullWidthDigit { position: 1 }),
        ("12345６", CodeError::FullWidthDigit { position: 6 }),
        (" 123456", CodeError::Whitespace { position: 1 }),
        ("123 456", CodeError::Whitespace { position: 4 }),
        ("123456\n", CodeError::Whitespace { position: 7 }),
        ("123\u{3000}456", CodeError::Whitespace { position: 4 }),
        ("+123456", CodeError::Sign { position: 1 }),
        ("-12345", CodeError::Sign { position: 1 }),
        ("12a456", CodeError::NotADigit { position: 3 }),
        ("١٢٣٤٥٦", CodeError::NotADigit { position: 1 }),
        (
            "12345678901234567890",
            CodeError::TooLong {
                expected: 6,
                actual: 20,
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            Code::parse(input, six).unwrap_err(),
            *want,
            "input {input:?}"
        );
    }
}

#[test]
fn code_debug_and_errors_never_show_digits() {
    let code = Code::parse("987654", Digits::SIX).unwrap();
    assert!(!format!("{code:?}").contains("987654"));
    let err = Code::parse("98765", Digits::SIX).unwrap_err();
    assert!(!err.to_string().contains("98765"));
}

#[test]
fn digits_and_period_are_validated() {
    assert!(Digits::new(5).is_err());
    assert!(Digits::new(9).is_err());
    assert_eq!(Digits::new(7).unwrap().get(), 7);
    assert!(Period::new(0).is_err());
    assert_eq!(Period::new(60).unwrap().seconds(), 60);
}

const RFC_SEED_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

#[test]
fn base32_is_lenient_about_case_spaces_and_padding() {
    let canonical = Secret::from_base32(RFC_SEED_B32).unwrap();
    assert_eq!(canonical.expose_bytes(), b"12345678901234567890");
    for variant in [
        "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
        "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
        "gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq",
    ] {
        assert_eq!(
            Secret::from_base32(variant).unwrap().expose_bytes(),
            canonical.expose_bytes(),
            "{variant}"
        );
    }
    // 17 bytes: 28 symbols unpadded (4 unused trailing bits), 32 padded.
    let seventeen = Secret::from_bytes(b"12345678901234567").unwrap();
    let text = seventeen.to_base32();
    assert_eq!(text.len(), 28);
    let dirty = format!("{}7", &text[..27]);
    assert_eq!(
        Secret::from_base32(&dirty).unwrap_err(),
        SecretError::NonCanonical
    );
    let with_padding = format!("{}====", &*text);
    assert_eq!(
        Secret::from_base32(&with_padding).unwrap().expose_bytes(),
        seventeen.expose_bytes()
    );
}

#[test]
fn base32_errors() {
    assert_eq!(
        Secret::from_base32("GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ").unwrap_err(),
        SecretError::InvalidCharacter {
            position: 16,
            encoding: "base32"
        }
    );
    assert!(matches!(
        Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA").unwrap_err(),
        SecretError::InvalidLength { symbols: 33, .. }
    ));
    assert_eq!(
        Secret::from_base32("GEZD=GNBV").unwrap_err(),
        SecretError::NonCanonical
    );
}

#[test]
fn short_keys_need_an_explicit_opt_in() {
    let eighty = "JBSWY3DPEHPK3PXP"; // 10 bytes, the classic Google example
    assert_eq!(
        Secret::from_base32(eighty).unwrap_err(),
        SecretError::TooShort {
            bits: 80,
            min_bits: 128
        }
    );
    let s = Secret::from_base32_with(eighty, KeyStrength::AllowLegacy80).unwrap();
    assert_eq!(s.len(), 10);
    assert!(Secret::from_bytes_with(&[0; 9], KeyStrength::AllowLegacy80).is_err());
    assert!(matches!(
        Secret::from_bytes(&[0; 65]).unwrap_err(),
        SecretError::TooLong {
            bits: 520,
            max_bits: 512
        }
    ));
}

#[test]
fn hex_secrets() {
    let s = Secret::from_hex("3132333435363738393031323334353637383930").unwrap();
    assert_eq!(s.expose_bytes(), b"12345678901234567890");
    let upper = Secret::from_hex("31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36").unwrap();
    assert_eq!(upper.expose_bytes(), b"1234567890123456");
    assert!(matches!(
        Secret::from_hex("313").unwrap_err(),
        SecretError::InvalidLength { .. }
    ));
    assert!(matches!(
        Secret::from_hex("3g").unwrap_err(),
        SecretError::InvalidCharacter { position: 2, .. }
    ));
}

#[test]
fn secret_debug_is_redacted() {
    let s = Secret::from_bytes(b"very secret key bytes").unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("very"), "{shown}");
    assert!(shown.contains("168"), "the bit length is shown: {shown}");
}

#[test]
fn key_uri_google_example() {
    let uri =
        format!("otpauth://totp/Example:alice@google.com?secret={RFC_SEED_B32}&issuer=Example");
    let k = KeyUri::parse(&uri).unwrap();
    assert_eq!(k.issuer.as_deref(), Some("Example"));
    assert_eq!(k.account, "alice@google.com");
    assert_eq!(k.algorithm, Algorithm::Sha1);
    assert_eq!(k.digits, Digits::SIX);
    assert_eq!(
        k.kind,
        OtpKind::Totp {
            period: Period::THIRTY_SECONDS
        }
    );
    assert_eq!(k.secret.expose_bytes(), b"12345678901234567890");
}

#[test]
fn key_uri_tolerates_what_apps_send() {
    let uri = format!(
        "otpauth://TOTP/ACME%20Co%3A%20john.doe%40email.com?SECRET={}&issuer=ACME%20Co\
         &algorithm=sha256&digits=8&period=60&image=https%3A%2F%2Fx.invalid%2Fa.png",
        RFC_SEED_B32.to_lowercase()
    );
    let k = KeyUri::parse(&uri).unwrap();
    assert_eq!(k.issuer.as_deref(), Some("ACME Co"));
    assert_eq!(k.account, "john.doe@email.com");
    assert_eq!(k.algorithm, Algorithm::Sha256);
    assert_eq!(k.digits, Digits::EIGHT);
    assert_eq!(
        k.kind,
        OtpKind::Totp {
            period: Period::new(60).unwrap()
        }
    );

    let hotp = format!("otpauth://hotp/alice?secret={RFC_SEED_B32}&counter=42");
    let k = KeyUri::parse(&hotp).unwrap();
    assert_eq!(k.issuer, None);
    assert_eq!(k.kind, OtpKind::Hotp { counter: 42 });
    assert_eq!(k.to_hotp().unwrap().1, 42);
}

#[test]
fn key_uri_errors() {
    let s = RFC_SEED_B32;
    let cases: Vec<(String, UriError)> = vec![
        ("not a uri".into(), UriError::Malformed),
        (format!("https://totp/a?secret={s}"), UriError::WrongScheme),
        (format!("otpauth://motp/a?secret={s}"), UriError::WrongType),
        (
            format!("otpauth://totp/?secret={s}"),
            UriError::MissingLabel,
        ),
        ("otpauth://totp/a?issuer=x".into(), UriError::MissingSecret),
        (
            "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP".into(),
            UriError::BadSecret(SecretError::TooShort {
                bits: 80,
                min_bits: 128,
            }),
        ),
        (
            format!("otpauth://totp/a?secret={s}&algorithm=MD5"),
            UriError::UnknownAlgorithm,
        ),
        (
            format!("otpauth://totp/a?secret={s}&digits=9"),
            UriError::DigitsOutOfRange,
        ),
        (
            format!("otpauth://totp/a?secret={s}&digits=x"),
            UriError::DigitsOutOfRange,
        ),
        (
            format!("otpauth://totp/a?secret={s}&period=0"),
            UriError::BadPeriod,
        ),
        (format!("otpauth://hotp/a?secret={s}"), UriError::BadCounter),
        (
            format!("otpauth://hotp/a?secret={s}&counter=-1"),
            UriError::BadCounter,
        ),
        (
            format!("otpauth://totp/A:a?secret={s}&issuer=B"),
            UriError::IssuerMismatch,
        ),
        (
            format!("otpauth://totp/a?secret={s}&secret={s}"),
            UriError::DuplicateParameter("secret"),
        ),
        (
            format!("otpauth://totp/%FF?secret={s}"),
            UriError::BadEncoding { part: "label" },
        ),
    ];
    for (uri, want) in cases {
        let got = KeyUri::parse(&uri).unwrap_err();
        assert_eq!(got, want, "{uri}");
        assert!(!got.to_string().contains(s), "no secret in {got}");
    }
    let legacy = "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP";
    assert!(KeyUri::parse_with(legacy, KeyStrength::AllowLegacy80).is_ok());
}

#[test]
fn key_uri_format_is_explicit() {
    let k = KeyUri::totp(
        Secret::from_base32(RFC_SEED_B32).unwrap(),
        TotpParams::DEFAULT,
        Some("Bank FX".into()),
        "taro yamada".into(),
    );
    let uri = k.to_uri().unwrap();
    let expected = format!(
        "otpauth://totp/Bank%20FX:taro%20yamada?secret={RFC_SEED_B32}\
         &issuer=Bank%20FX&algorithm=SHA1&digits=6&period=30"
    );
    assert_eq!(uri.as_str(), expected);
    assert_eq!(
        uri.capacity(),
        expected.len(),
        "sized exactly, never reallocated"
    );
    let back = KeyUri::parse(&uri).unwrap();
    assert_eq!(back.issuer.as_deref(), Some("Bank FX"));
    assert_eq!(back.account, "taro yamada");
    assert!(!format!("{back:?}").contains(RFC_SEED_B32));
}

/// The Key URI format reserves the colon as the issuer/account separator:
/// a colon that leaves it ambiguous — in the account, or in a label prefix
/// no `issuer` parameter names — is refused when parsing and when
/// formatting, so that nothing formats to a URI that does not parse back
/// (the case the `key_uri` fuzz target found: `/totp/:a:` parsed as account
/// `a:` and formatted as `/totp/a%3A`, which parses as an empty account).
#[test]
fn an_ambiguous_colon_is_refused_on_both_sides() {
    for uri in [
        "otpauth://totp/:a:?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/Bank%3A%20FX:taro?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/Bank:ta%3Aro?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "otpauth://totp/a%3Ab:bo%3Ab?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=a%3Ab",
    ] {
        assert_eq!(
            KeyUri::parse(uri).err(),
            Some(UriError::ColonInLabel),
            "{uri}"
        );
    }
    let secret = || Secret::from_base32(RFC_SEED_B32).unwrap();
    let p = TotpParams::DEFAULT;
    for (issuer, account) in [(None, "a:"), (Some("Bank"), "x:y"), (Some("a:b"), "b:c")] {
        let k = KeyUri::totp(secret(), p, issuer.map(str::to_owned), account.to_owned());
        assert_eq!(
            k.to_uri().err(),
            Some(UriError::ColonInLabel),
            "{issuer:?} {account}"
        );
    }
    let empty = KeyUri::totp(secret(), p, None, String::new());
    assert_eq!(empty.to_uri().err(), Some(UriError::MissingLabel));
}

/// pyotp writes an issuer with a colon encoded in the label prefix and in
/// the `issuer` parameter (`TOTP(…, issuer='a:b').provisioning_uri('bob')`);
/// the parameter names the prefix, so the label reads unambiguously, and a
/// `KeyUri` with such an issuer formats the same way and parses back.
#[test]
fn an_issuer_with_a_colon_reads_as_pyotp_writes_it() {
    let pyotp = "otpauth://totp/a%3Ab:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=a%3Ab";
    let k = KeyUri::parse(pyotp).unwrap();
    assert_eq!(
        (k.issuer.as_deref(), k.account.as_str()),
        (Some("a:b"), "bob")
    );
    let written = k.to_uri().unwrap();
    assert!(
        written.starts_with("otpauth://totp/a%3Ab:bob?secret="),
        "{}",
        *written
    );
    assert!(written.contains("&issuer=a%3Ab&"), "{}", *written);
    let again = KeyUri::parse(&written).unwrap();
    assert_eq!((again.issuer, again.account), (k.issuer, k.account));
    // Named by the parameter alone, with no prefix in the label.
    let bare = "otpauth://totp/taro?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=a%3Ab";
    let k = KeyUri::parse(bare).unwrap();
    assert_eq!(
        (k.issuer.as_deref(), k.account.as_str()),
        (Some("a:b"), "taro")
    );
    // A prefix the parameter does not name is a contradiction.
    let other = "otpauth://totp/x%3Ay:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=a%3Ab";
    assert!(KeyUri::parse(other).is_err());
    let formatted = KeyUri::totp(
        Secret::from_base32(RFC_SEED_B32).unwrap(),
        TotpParams::DEFAULT,
        Some("Bank: FX".into()),
        "taro".into(),
    );
    let back = KeyUri::parse(&formatted.to_uri().unwrap()).unwrap();
    assert_eq!(back.issuer.as_deref(), Some("Bank: FX"));
    assert_eq!(back.account, "taro");
}

/// URL normalisation removes `.` and `..` path segments: an account named
/// so is written behind an empty issuer prefix and parses back.
#[test]
fn dot_segment_accounts_round_trip() {
    for account in [".", ".."] {
        let k = KeyUri::totp(
            Secret::from_base32(RFC_SEED_B32).unwrap(),
            TotpParams::DEFAULT,
            None,
            account.into(),
        );
        let uri = k.to_uri().unwrap();
        assert_eq!(uri.capacity(), uri.len());
        let back = KeyUri::parse(&uri).unwrap();
        assert_eq!((back.account.as_str(), back.issuer), (account, None));
    }
}

mod credential_id {
    use lockstep_otp::{CredentialId, CredentialIdError};
    use proptest::prelude::*;

    #[test]
    fn parses_what_users_type() {
        for input in [
            "VSST12345678",
            "vsst12345678",
            "VSST-1234-5678",
            "VSST 1234 5678",
        ] {
            assert_eq!(
                CredentialId::parse(input).unwrap().as_str(),
                "VSST12345678",
                "{input}"
            );
        }
    }

    #[test]
    fn errors_name_the_character() {
        let cases = [
            (
                "VSS112345678",
                CredentialIdError::ExpectedLetter { position: 4 },
            ),
            (
                "VSSTA2345678",
                CredentialIdError::ExpectedDigit { position: 5 },
            ),
            (
                "ＶSST12345678",
                CredentialIdError::FullWidth { position: 1 },
            ),
            (
                "VSST1234567８",
                CredentialIdError::FullWidth { position: 12 },
            ),
            ("VSST1234567", CredentialIdError::TooShort { symbols: 11 }),
            ("", CredentialIdError::TooShort { symbols: 0 }),
            ("VSST123456789", CredentialIdError::TooLong),
        ];
        for (input, want) in cases {
            assert_eq!(CredentialId::parse(input).unwrap_err(), want, "{input}");
        }
    }

    proptest! {
        #[test]
        fn minted_ids_have_the_vip_shape_and_parse_back(random in any::<[u8; 16]>()) {
            let id = CredentialId::from_random(random);
            let text = id.as_str();
            prop_assert!(text.len() == 12);
            prop_assert!(text[..4].bytes().all(|b| b.is_ascii_uppercase()));
            prop_assert!(text[4..].bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(CredentialId::parse(text).unwrap(), id);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,20}") {
            let _ = CredentialId::parse(&input);
        }
    }
}

mod code_properties {
    use lockstep_otp::{Code, Digits};
    use proptest::prelude::*;

    proptest! {
        /// Any string: no panic; accepted exactly when it is N ASCII digits,
        /// and then it displays as itself.
        #[test]
        fn parse_accepts_exactly_n_ascii_digits(input in "\\PC{0,12}|[0-9]{5,9}", d in 6_u8..=8) {
            let digits = Digits::new(d).unwrap();
            let ok = input.len() == usize::from(d) && input.bytes().all(|b| b.is_ascii_digit());
            match Code::parse(&input, digits) {
                Ok(code) => {
                    prop_assert!(ok);
                    prop_assert_eq!(code.expose().to_string(), input);
                }
                Err(_) => prop_assert!(!ok),
            }
        }
    }
}
