//! The Argon2id hasher, the insecure test hasher, and their PHC strings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use lockstep_password::{
    Argon2Params, Argon2idHasher, HashError, InsecureTestHasher, MAX_PASSWORD_BYTES, Password,
    PasswordHash, PasswordHashing,
};

#[test]
fn owasp_default_hashes_verifies_and_needs_no_rehash() {
    let hasher = Argon2idHasher::default();
    assert_eq!(
        hasher.params(),
        Argon2Params {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1
        }
    );
    let pw = Password::from("abc123");
    let hash = hasher.hash(&pw).unwrap();
    assert!(
        hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        hash.as_str()
    );
    assert!(hasher.verify(&pw, &hash).unwrap());
    assert!(!hasher.verify(&Password::from("abc124"), &hash).unwrap());
    assert!(!hasher.needs_rehash(&hash));
    // A fresh salt every time.
    assert_ne!(hasher.hash(&pw).unwrap(), hash);
}

#[test]
fn caller_supplied_salt_is_deterministic() {
    let hasher = InsecureTestHasher::new();
    let pw = Password::from("abc123");
    let a = hasher.hash_with_salt(&pw, b"0123456789abcdef").unwrap();
    let b = hasher.hash_with_salt(&pw, b"0123456789abcdef").unwrap();
    let c = hasher.hash_with_salt(&pw, b"0123456789abcdeF").unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(matches!(
        hasher.hash_with_salt(&pw, b"short"),
        Err(HashError::Phc(_))
    ));
}

#[test]
fn test_hasher_hashes_are_flagged_by_the_production_hasher() {
    let fast = InsecureTestHasher::new();
    let prod = Argon2idHasher::default();
    let pw = Password::from("abc123");
    let cheap = fast.hash(&pw).unwrap();
    assert!(cheap.as_str().starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
    assert!(prod.needs_rehash(&cheap), "production flags cheap hashes");
    assert_eq!(
        prod.verify(&pw, &cheap),
        Err(HashError::CostOutOfRange),
        "and refuses to verify them: a hash below the floor is malformed"
    );
    assert!(format!("{fast:?}").contains("NOT FOR PRODUCTION"));
}

/// a stored PHC string cannot choose its own cost. A
/// planted `m = 1 GiB` hash is refused before any verification (this test
/// would allocate 1 GiB and take seconds if it were not), as is one below
/// the floor; an older deployment's cheaper hash within range still verifies.
#[test]
fn stored_costs_outside_floor_and_ceiling_are_malformed() {
    let prod = Argon2idHasher::default();
    let pw = Password::from("abc123");
    let salt = "c2FsdHNhbHRzYWx0";
    let hash32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for params in [
        "m=1048576,t=2,p=1",
        "m=19456,t=9,p=1",
        "m=19456,t=2,p=64",
        "m=4096,t=2,p=1",
    ] {
        let planted =
            PasswordHash::parse(&format!("$argon2id$v=19${params}${salt}${hash32}")).unwrap();
        assert_eq!(
            prod.verify(&pw, &planted),
            Err(HashError::CostOutOfRange),
            "{params}"
        );
    }
    let older = Argon2idHasher::new(Argon2Params {
        memory_kib: 7168,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap();
    let old_hash = older.hash(&pw).unwrap();
    assert_eq!(prod.verify(&pw, &old_hash), Ok(true));
    assert!(prod.needs_rehash(&old_hash));
}

/// no length cap before Argon2 let a 256 MiB password be
/// hashed. Anything over `MAX_PASSWORD_BYTES` is refused before hashing.
#[test]
fn oversized_passwords_are_refused_before_hashing() {
    let hasher = InsecureTestHasher::new();
    let huge = Password::new("a".repeat(MAX_PASSWORD_BYTES + 1));
    let limit = Password::new("a".repeat(MAX_PASSWORD_BYTES));
    let too_long = Err(HashError::TooLong {
        max: MAX_PASSWORD_BYTES,
    });
    assert_eq!(hasher.hash(&huge).map(|_| ()), too_long);
    let stored = hasher.hash(&limit).unwrap();
    assert_eq!(hasher.verify(&huge, &stored), too_long.map(|()| false));
    assert_eq!(hasher.verify(&limit, &stored), Ok(true));
}

#[test]
fn weak_or_invalid_parameters_are_refused() {
    let weak = Argon2Params {
        memory_kib: 1024,
        iterations: 2,
        parallelism: 1,
    };
    assert_eq!(
        Argon2idHasher::new(weak).unwrap_err(),
        HashError::TooWeak {
            memory_kib: 1024,
            floor_kib: 7168
        }
    );
    let zero_t = Argon2Params {
        iterations: 0,
        ..Argon2Params::OWASP
    };
    assert!(matches!(
        Argon2idHasher::new(zero_t),
        Err(HashError::InvalidParams(_))
    ));
    let other = Argon2idHasher::new(Argon2Params {
        memory_kib: 7168,
        iterations: 5,
        parallelism: 1,
    })
    .unwrap();
    let h = other.hash(&Password::from("abc123")).unwrap();
    assert!(
        Argon2idHasher::default().needs_rehash(&h),
        "different costs need a rehash"
    );
}

#[test]
fn stored_hashes_are_parsed_and_redacted() {
    assert_eq!(PasswordHash::parse("not a hash"), Err(HashError::Malformed));
    assert_eq!(
        PasswordHash::parse("$argon2id$v=19$m=8,t=1,p=1"),
        Err(HashError::Malformed)
    );
    let fast = InsecureTestHasher::new();
    let h = fast.hash(&Password::from("abc123")).unwrap();
    let again = PasswordHash::parse(h.as_str()).unwrap();
    assert_eq!(again, h);
    let salt_and_hash = h.as_str().rsplitn(3, '$').take(2).collect::<Vec<_>>();
    let shown = format!("{h:?}");
    for part in salt_and_hash {
        assert!(!shown.contains(part), "{shown}");
    }
    assert!(shown.contains("argon2id"));
}

#[test]
fn passwords_are_redacted() {
    let pw = Password::from("s3cret-pw");
    assert!(!format!("{pw:?}").contains("s3cret"));
    assert_eq!(pw.char_count(), 9);
}

/// a cheaper, older hash is padded up to the configured
/// cost: one Argon2id pass over the missing memory × passes. What that costs
/// in time is measured in `benches/account.rs` (enumeration group).
#[test]
fn padding_makes_up_exactly_the_missing_cost() {
    let prod = Argon2idHasher::default(); // m = 19456 KiB, t = 2
    let pw = Password::from("abc123");
    let at = |memory_kib, iterations| {
        Argon2idHasher::new(Argon2Params {
            memory_kib,
            iterations,
            parallelism: 1,
        })
        .unwrap()
        .hash(&pw)
        .unwrap()
    };
    assert_eq!(prod.padding_kib(&at(7168, 1)), Some(38912 - 7168));
    assert_eq!(prod.padding_kib(&at(7168, 5)), Some(38912 - 35840));
    assert_eq!(prod.padding_kib(&prod.hash(&pw).unwrap()), None, "own cost");
    assert_eq!(prod.padding_kib(&at(19456, 3)), None, "above it");
    // And the padding itself runs (and returns) for any input size.
    prod.pad_to_cost(
        &Password::new("x".repeat(MAX_PASSWORD_BYTES * 2)),
        &at(7168, 1),
    );
}
