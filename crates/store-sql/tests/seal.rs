//! Sealed token secrets (issue "Durable stores", sealing part): round trip,
//! wrong key, a sealed secret moved to another row, tampering, rotation,
//! keyring descriptions, and the stored format's parser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use lockstep_account::{OsRandom, TokenKind, TokenSeed};
use lockstep_otp::{Algorithm, CredentialId, Digits, Secret, TotpParams};
use lockstep_store_sql::seal::{KeyId, Keyring, SealError, SealedSecret, SealingKey, StoreId};
use proptest::prelude::*;

/// The store every row here belongs to.
fn store() -> StoreId {
    StoreId::new("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a".into())
}

fn ring(id: u32, byte: u8) -> Keyring {
    Keyring::new(SealingKey::new(KeyId(id), [byte; 32]))
}

fn seed(bytes: &[u8]) -> TokenSeed {
    TokenSeed::totp(Secret::from_bytes(bytes).unwrap(), TotpParams::DEFAULT)
}

fn id(n: u8) -> CredentialId {
    CredentialId::from_random([n; 16])
}

#[test]
fn a_sealed_secret_opens_for_its_row_only() {
    let keys = ring(1, 7);
    let s = seed(b"0123456789abcdef0123");
    let sealed = keys.seal(&store(), &id(1), &s, &OsRandom).unwrap();
    assert!(
        !sealed
            .as_bytes()
            .windows(20)
            .any(|w| w == b"0123456789abcdef0123")
    );
    let opened = keys.open(&store(), &id(1), s.kind, &sealed).unwrap();
    assert_eq!(opened.secret.expose_bytes(), s.secret.expose_bytes());
    assert_eq!(opened.kind, s.kind);
    // Moved to another credential, or relabelled with other parameters.
    assert_eq!(
        keys.open(&store(), &id(2), s.kind, &sealed).err(),
        Some(SealError::Tampered)
    );
    let hotp = TokenKind::Hotp {
        algorithm: Algorithm::Sha1,
        digits: Digits::SIX,
    };
    assert_eq!(
        keys.open(&store(), &id(1), hotp, &sealed).err(),
        Some(SealError::Tampered)
    );
    let eight = TokenKind::Totp(TotpParams {
        digits: Digits::EIGHT,
        ..TotpParams::DEFAULT
    });
    assert_eq!(
        keys.open(&store(), &id(1), eight, &sealed).err(),
        Some(SealError::Tampered)
    );
    // Copied into another store.
    let other = StoreId::new("another store".into());
    assert_eq!(
        keys.open(&other, &id(1), s.kind, &sealed).err(),
        Some(SealError::Tampered)
    );
    // Two seals of one secret differ (fresh nonces).
    assert_ne!(sealed, keys.seal(&store(), &id(1), &s, &OsRandom).unwrap());
}

#[test]
fn a_wrong_or_unknown_key_is_a_typed_error() {
    let s = seed(b"0123456789abcdef0123");
    let sealed = ring(1, 7).seal(&store(), &id(1), &s, &OsRandom).unwrap();
    assert_eq!(
        ring(1, 8).open(&store(), &id(1), s.kind, &sealed).err(),
        Some(SealError::Tampered),
        "same ID, other bytes"
    );
    assert_eq!(
        ring(2, 7).open(&store(), &id(1), s.kind, &sealed).err(),
        Some(SealError::UnknownKey(KeyId(1)))
    );
}

#[test]
fn any_changed_byte_is_refused() {
    let keys = ring(1, 7);
    let s = seed(b"0123456789abcdef0123");
    let sealed = keys.seal(&store(), &id(1), &s, &OsRandom).unwrap();
    for at in 0..sealed.as_bytes().len() {
        let mut bytes = sealed.as_bytes().to_vec();
        bytes[at] ^= 0x01;
        let result =
            SealedSecret::parse(&bytes).and_then(|t| keys.open(&store(), &id(1), s.kind, &t));
        assert!(
            matches!(
                result,
                Err(SealError::Tampered
                    | SealError::UnsupportedVersion(_)
                    | SealError::UnknownKey(_))
            ),
            "byte {at}: {result:?}"
        );
    }
}

#[test]
fn rotation_moves_rows_to_the_active_key_idempotently() {
    let old = SealingKey::new(KeyId(1), [1; 32]);
    let new = SealingKey::new(KeyId(2), [2; 32]);
    let before = Keyring::new(old.clone());
    let rows: Vec<(CredentialId, TokenSeed, SealedSecret)> = (0..20_u8)
        .map(|n| {
            let s = seed(&[n.wrapping_add(1); 20]);
            let sealed = before.seal(&store(), &id(n), &s, &OsRandom).unwrap();
            (id(n), s, sealed)
        })
        .collect();
    let during = Keyring::new(new.clone()).with(old).unwrap();
    let mut moved = Vec::new();
    for (cid, s, sealed) in &rows {
        let again = during
            .reseal(&store(), cid, s.kind, sealed, &OsRandom)
            .unwrap()
            .unwrap();
        assert_eq!(again.key_id(), KeyId(2));
        assert_eq!(
            during
                .reseal(&store(), cid, s.kind, &again, &OsRandom)
                .unwrap(),
            None,
            "idempotent"
        );
        moved.push((cid, s, again));
    }
    // The old key retired: every moved row opens, an unmoved one names its key.
    let after = Keyring::new(new);
    for (cid, s, sealed) in &moved {
        let opened = after.open(&store(), cid, s.kind, sealed).unwrap();
        assert_eq!(opened.secret.expose_bytes(), s.secret.expose_bytes());
    }
    assert_eq!(
        after
            .open(&store(), &rows[0].0, rows[0].1.kind, &rows[0].2)
            .err(),
        Some(SealError::UnknownKey(KeyId(1)))
    );
}

#[test]
fn keyring_descriptions_parse_strictly_and_print_no_key() {
    let hex = "d18406d891c765d7369598d41ecb350e6043c184d7dc5a684480ac5cb53fc8c2";
    let other = "da9a70fe87ae0566bb6386b95acdcca44256c9b3527fd1bbf21d798cbca1b07c";
    let ring =
        Keyring::parse(&format!("2:{hex}, 1:{}\n# comment\n", other.to_uppercase())).unwrap();
    assert_eq!(ring.active(), KeyId(2));
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), [KeyId(1), KeyId(2)]);
    let shown = format!("{ring:?}");
    assert!(
        !shown.contains(hex) && !shown.to_lowercase().contains(other),
        "{shown}"
    );
    for (text, err) in [
        (String::new(), SealError::NoKey),
        (format!("x:{hex}"), SealError::BadKeyEntry { line: 1 }),
        (
            format!("1:{}", &hex[..62]),
            SealError::BadKeyEntry { line: 1 },
        ),
        (format!("1:{hex}zz"), SealError::BadKeyEntry { line: 1 }),
        (
            format!("1:{hex}\n1:{hex}"),
            SealError::DuplicateKey(KeyId(1)),
        ),
        (format!("1:{hex}\n2"), SealError::BadKeyEntry { line: 2 }),
        // Placeholders, not keys: all zero, one byte or a short pattern
        // repeated, even behind a good key.
        (
            format!("1:{}", "00".repeat(32)),
            SealError::WeakKey { line: 1 },
        ),
        (
            format!("1:{}", "7f".repeat(32)),
            SealError::WeakKey { line: 1 },
        ),
        (
            format!("2:{hex}\n1:{}", "0123456789abcdef".repeat(4)),
            SealError::WeakKey { line: 2 },
        ),
        (
            format!("1:{}", "00112233445566778899aabbccddeeff".repeat(2)),
            SealError::WeakKey { line: 1 },
        ),
    ] {
        assert_eq!(Keyring::parse(&text).err(), Some(err), "{text:?}");
    }
    let path = std::env::temp_dir().join(format!("lockstep-keys-{}", std::process::id()));
    std::fs::write(&path, format!("7:{hex}\n")).unwrap();
    assert_eq!(Keyring::from_file(&path).unwrap().active(), KeyId(7));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        Keyring::from_env("LOCKSTEP_TEST_SURELY_UNSET_VARIABLE").err(),
        Some(SealError::NoKey)
    );
}

proptest! {
    /// The stored format's parser: never panics, keeps what it accepts as
    /// it is, and accepts only forms of version 1 or 2 of header + tag
    /// length.
    #[test]
    fn the_stored_format_parses_exactly(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let known = |v: u8| v == 1 || v == 2;
        match SealedSecret::parse(&bytes) {
            Ok(s) => {
                prop_assert_eq!(s.as_bytes(), &bytes[..]);
                prop_assert!(bytes.len() >= 33 && known(bytes[0]));
            }
            Err(SealError::UnsupportedVersion(v)) => prop_assert!(!known(v)),
            Err(e) => {
                prop_assert_eq!(e, SealError::Malformed);
                prop_assert!(bytes.is_empty() || (known(bytes[0]) && bytes.len() < 33));
            }
        }
    }

    /// Any secret of any kind seals and opens to itself, through the stored bytes.
    #[test]
    fn any_secret_round_trips(
        secret in proptest::collection::vec(any::<u8>(), 16..64),
        n in any::<u8>(),
        hotp in any::<bool>(),
        key in any::<[u8; 32]>(),
    ) {
        let kind = if hotp {
            TokenKind::Hotp { algorithm: Algorithm::Sha256, digits: Digits::SEVEN }
        } else {
            TokenKind::Totp(TotpParams::DEFAULT)
        };
        let keys = Keyring::new(SealingKey::new(KeyId(u32::from(n)), key));
        let s = TokenSeed { secret: Secret::from_bytes(&secret).unwrap(), kind };
        let stored = keys.seal(&store(), &id(n), &s, &OsRandom).unwrap().as_bytes().to_vec();
        let opened = keys.open(&store(), &id(n), kind, &SealedSecret::parse(&stored).unwrap()).unwrap();
        prop_assert_eq!(opened.secret.expose_bytes(), &secret[..]);
    }
}

/// A derived key is the same for the same keyring and purpose, differs by
/// purpose and by active key, and is not a sealing key.
#[test]
fn derived_keys_follow_the_active_key_and_the_purpose() {
    let a = "d18406d891c765d7369598d41ecb350e6043c184d7dc5a684480ac5cb53fc8c2";
    let b = "da9a70fe87ae0566bb6386b95acdcca44256c9b3527fd1bbf21d798cbca1b07c";
    let one = Keyring::parse(&format!("1:{a}")).unwrap();
    let again = Keyring::parse(&format!("1:{a}")).unwrap();
    let rotated = Keyring::parse(&format!("2:{b},1:{a}")).unwrap();
    assert_eq!(*one.derive("csrf"), *again.derive("csrf"));
    assert_ne!(*one.derive("csrf"), *one.derive("other"));
    assert_ne!(*one.derive("csrf"), *rotated.derive("csrf"));
    let hex = data_encoding::HEXLOWER.encode(&*one.derive("csrf"));
    assert_ne!(hex, a);
}
