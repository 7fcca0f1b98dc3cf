//! The Argon2id hasher, the insecure test hasher, and their PHC strings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use lockstep_password::{
    Argon2Params, Argon2idHasher, HashError, InsecureTestHasher, Password, PasswordHash,
    PasswordHasher,
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
        Err(HashError::Hashing(_))
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
    assert!(
        prod.verify(&pw, &cheap).unwrap(),
        "but can still verify them, to migrate"
    );
    assert!(format!("{fast:?}").contains("NOT FOR PRODUCTION"));
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
