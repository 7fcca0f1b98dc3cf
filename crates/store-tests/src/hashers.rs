//! Hashers for tests: a counting wrapper, and a free stub for the model and
//! fuzzing, where Argon2 (even the insecure test setting) would limit a run
//! to a few thousand inputs a second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use data_encoding::BASE64_NOPAD;
use lockstep_password::{HashError, InsecureTestHasher, Password, PasswordHash, PasswordHashing};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A hasher that counts its calls: to see that locked factors are not
/// evaluated, that an unknown user costs what a wrong password does, and
/// how many guesses were verified against one stored hash.
#[derive(Default)]
pub struct CountingHasher<H = InsecureTestHasher> {
    inner: H,
    /// Verifications so far.
    pub verifies: AtomicUsize,
    /// Hashes made so far.
    pub hashes: AtomicUsize,
    /// Cost paddings so far.
    pub pads: AtomicUsize,
    by_hash: Mutex<HashMap<String, usize>>,
}

impl<H> CountingHasher<H> {
    /// Counts the calls of `inner`.
    pub fn new(inner: H) -> Self {
        Self {
            inner,
            verifies: AtomicUsize::new(0),
            hashes: AtomicUsize::new(0),
            pads: AtomicUsize::new(0),
            by_hash: Mutex::new(HashMap::new()),
        }
    }

    /// How many verifications so far were against the PHC string `hash`.
    pub fn verifications_of(&self, hash: &str) -> usize {
        self.by_hash
            .lock()
            .map_or(0, |m| m.get(hash).copied().unwrap_or(0))
    }
}

/// Shows the counts, never the hashes counted.
impl<H: std::fmt::Debug> std::fmt::Debug for CountingHasher<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingHasher")
            .field("inner", &self.inner)
            .field("verifies", &self.verifies)
            .field("hashes", &self.hashes)
            .field("pads", &self.pads)
            .finish_non_exhaustive()
    }
}

impl<H: PasswordHashing> PasswordHashing for CountingHasher<H> {
    fn hash_with_salt(&self, p: &Password, s: &[u8]) -> Result<PasswordHash, HashError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        self.inner.hash_with_salt(p, s)
    }
    fn verify(&self, p: &Password, h: &PasswordHash) -> Result<bool, HashError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut m) = self.by_hash.lock() {
            *m.entry(h.as_str().to_owned()).or_default() += 1;
        }
        self.inner.verify(p, h)
    }
    fn needs_rehash(&self, h: &PasswordHash) -> bool {
        self.inner.needs_rehash(h)
    }
    fn pad_to_cost(&self, p: &Password, h: &PasswordHash) {
        self.pads.fetch_add(1, Ordering::SeqCst);
        self.inner.pad_to_cost(p, h);
    }
}

/// A free stand-in for Argon2: a PHC string whose hash is SHA-256 of salt
/// and password. **Worthless as password storage**; it exists so that the
/// model test and the fuzz targets reach millions of inputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct StubHasher;

impl StubHasher {
    fn digest(password: &Password, salt: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(password.expose().as_bytes());
        h.finalize().into()
    }
}

impl PasswordHashing for StubHasher {
    fn hash_with_salt(&self, password: &Password, salt: &[u8]) -> Result<PasswordHash, HashError> {
        let hash = Self::digest(password, salt);
        PasswordHash::parse(&format!(
            "$argon2id$v=19$m=8,t=1,p=1${}${}",
            BASE64_NOPAD.encode(salt),
            BASE64_NOPAD.encode(&hash)
        ))
    }

    fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let mut parts = hash.as_str().rsplit('$');
        let (Some(digest), Some(salt)) = (parts.next(), parts.next()) else {
            return Err(HashError::Malformed);
        };
        let digest = BASE64_NOPAD
            .decode(digest.as_bytes())
            .map_err(|_| HashError::Malformed)?;
        let salt = BASE64_NOPAD
            .decode(salt.as_bytes())
            .map_err(|_| HashError::Malformed)?;
        Ok(Self::digest(password, &salt).ct_eq(&digest).into())
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        !hash.as_str().starts_with("$argon2id$v=19$m=8,t=1,p=1$")
    }
}
