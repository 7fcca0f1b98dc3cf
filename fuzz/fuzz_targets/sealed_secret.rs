//! The sealed-secret store format on any bytes: parsing never panics and
//! keeps what it accepts; opening arbitrary bytes with a real keyring never
//! panics and never succeeds (forging needs the key); a real sealed secret
//! with one byte changed never opens.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_account::{OsRandom, TokenSeed};
use lockstep_otp::{CredentialId, Secret, TotpParams};
use lockstep_store_sql::seal::{KeyId, Keyring, SealedSecret, SealingKey, StoreId};

#[derive(Debug, Arbitrary)]
struct Input {
    bytes: Vec<u8>,
    flip: u16,
    mask: u8,
}

fuzz_target!(|i: Input| {
    let keys = Keyring::new(SealingKey::new(KeyId(1), [9; 32]));
    let store = StoreId::new("fuzzed store".into());
    let id = CredentialId::from_random([3; 16]);
    let kind = TokenSeed::totp(Secret::from_bytes(&[1; 20]).unwrap(), TotpParams::DEFAULT).kind;
    if let Ok(sealed) = SealedSecret::parse(&i.bytes) {
        assert_eq!(sealed.as_bytes(), &i.bytes[..]);
        let _ = format!("{sealed:?}");
        assert!(
            keys.open(&store, &id, kind, &sealed).is_err(),
            "a forged secret opened"
        );
    }
    let secret = i.bytes.get(..i.bytes.len().min(64)).unwrap_or_default();
    let Ok(secret) = Secret::from_bytes(secret) else {
        return;
    };
    let seed = TokenSeed::totp(secret, TotpParams::DEFAULT);
    let sealed = keys.seal(&store, &id, &seed, &OsRandom).unwrap();
    let opened = keys.open(&store, &id, kind, &sealed).unwrap();
    assert_eq!(opened.secret.expose_bytes(), seed.secret.expose_bytes());
    let mut bytes = sealed.as_bytes().to_vec();
    let at = usize::from(i.flip) % bytes.len();
    if i.mask != 0 {
        bytes[at] ^= i.mask;
        let reopened = SealedSecret::parse(&bytes).and_then(|s| keys.open(&store, &id, kind, &s));
        assert!(reopened.is_err(), "a changed byte at {at} opened");
    }
});
