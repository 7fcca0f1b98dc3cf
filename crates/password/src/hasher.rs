//! Password hashing: the [`PasswordHashing`] trait and its Argon2id default.
//!
//! Long because the bounds on stored costs, the padding of older hashes and
//! the input cap are security decisions about the same Argon2 calls, and are
//! read together.

use core::fmt;

use argon2::password_hash::PasswordHasher as _;

use crate::password::Password;

/// A stored password hash: a PHC string such as
/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, validated on creation.
///
/// `Debug` shows the algorithm and cost parameters, not the salt or hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Parses a PHC string as stored.
    ///
    /// # Errors
    /// [`HashError::Malformed`] when the text is not a PHC string with a salt
    /// and a hash.
    pub fn parse(phc: &str) -> Result<Self, HashError> {
        let parsed = argon2::PasswordHash::new(phc).map_err(|_| HashError::Malformed)?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(HashError::Malformed);
        }
        Ok(Self(phc.to_owned()))
    }

    /// The PHC string, for storage.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm identifier (`argon2id`, …).
    #[must_use]
    pub fn algorithm(&self) -> &str {
        self.0.split('$').nth(1).unwrap_or_default()
    }

    fn parsed(&self) -> Result<argon2::PasswordHash, HashError> {
        argon2::PasswordHash::new(&self.0).map_err(|_| HashError::Malformed)
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params = self.0.split('$').nth(3).unwrap_or_default();
        f.debug_struct("PasswordHash")
            .field("algorithm", &self.algorithm())
            .field("params", &params)
            .finish_non_exhaustive()
    }
}

/// Why hashing or verification failed. Never contains the password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// A stored hash is not a usable PHC string.
    #[error("the stored password hash is malformed")]
    Malformed,
    /// The cost parameters are invalid for Argon2.
    #[error("invalid Argon2 parameters")]
    InvalidParams(#[source] argon2::Error),
    /// The cost parameters are below the production floor.
    #[error(
        "Argon2 memory of {memory_kib} KiB is below the floor of {floor_kib} KiB \
         (OWASP's lowest recommended setting)"
    )]
    TooWeak {
        /// The requested memory cost.
        memory_kib: u32,
        /// The floor.
        floor_kib: u32,
    },
    /// The operating system's random number generator failed.
    #[error("no random salt could be drawn from the operating system")]
    Rng,
    /// Argon2 itself failed (a salt of the wrong size, no memory, …).
    #[error("Argon2 failed")]
    Argon2(#[source] argon2::Error),
    /// Making the PHC string failed (a salt the format cannot carry, …).
    #[error("the PHC string could not be made")]
    Phc(#[source] argon2::password_hash::Error),
    /// Argon2's working memory of this thread was in use (re-entry).
    #[error("Argon2's working memory is in use on this thread")]
    MemoryInUse,
    /// The password is longer than [`MAX_PASSWORD_BYTES`]: refused before
    /// any hashing, so that input size cannot buy hashing time.
    #[error("the password is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A stored hash's cost parameters lie outside what this hasher accepts
    /// (below its floor or above a small multiple of its own cost): treated
    /// as a malformed hash before any verification, so a planted PHC string
    /// cannot choose its own cost.
    #[error("the stored password hash has cost parameters outside the accepted range")]
    CostOutOfRange,
}

/// The longest password, in bytes, any hasher here will hash or verify:
/// 16 KiB, four bytes for each of [`crate::PasswordPolicy::MAX_LEN_LIMIT`]
/// characters.
pub const MAX_PASSWORD_BYTES: usize = 4 * crate::PasswordPolicy::MAX_LEN_LIMIT;

/// How many times its own memory × passes cost a hasher accepts in a stored
/// hash (an older deployment's stronger setting, say).
pub const MAX_COST_MULTIPLE: u32 = 4;

std::thread_local! {
    /// Argon2's working memory, kept per thread and wiped after every use.
    /// Allocating it afresh for every verification made the time depend on
    /// the allocator's state (page faults on fresh pages, reuse of freed
    /// ones), which differed between the paths of an unknown user, a wrong
    /// password and a locked user by up to a third: a timing oracle for
    /// which user IDs exist. With one buffer, every verification at one cost
    /// does the same work. The buffer keeps the largest size used.
    static MEMORY: core::cell::RefCell<Vec<argon2::Block>> =
        const { core::cell::RefCell::new(Vec::new()) };
}

/// Argon2 over `password` and `salt` into `out`, on this thread's memory.
fn compute(
    argon2: &argon2::Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    let blocks = argon2.params().block_count();
    MEMORY.with(|memory| {
        // Re-entry cannot happen (Argon2 calls nothing of ours); refuse
        // rather than panic if it ever did.
        let mut memory = memory
            .try_borrow_mut()
            .map_err(|_| HashError::MemoryInUse)?;
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        let slice = memory.get_mut(..blocks).ok_or(HashError::Malformed)?;
        let result = argon2.hash_password_into_with_memory(password, salt, out, &mut *slice);
        slice.iter_mut().for_each(zeroize::Zeroize::zeroize);
        result.map_err(HashError::Argon2)
    })
}

fn check_length(password: &Password) -> Result<&[u8], HashError> {
    let bytes = password.expose().as_bytes();
    if bytes.len() > MAX_PASSWORD_BYTES {
        return Err(HashError::TooLong {
            max: MAX_PASSWORD_BYTES,
        });
    }
    Ok(bytes)
}

/// Hashes passwords to PHC strings and verifies them.
///
/// Implementations must verify in time independent of where a mismatch lies
/// (a constant-time comparison of the derived output), and must never put a
/// password into an error.
pub trait PasswordHashing: Send + Sync {
    /// Hashes with the given salt (at least 8 bytes; 16 recommended). Use this
    /// when randomness comes from the caller.
    ///
    /// # Errors
    /// [`HashError`] when the salt or parameters are unusable.
    fn hash_with_salt(&self, password: &Password, salt: &[u8]) -> Result<PasswordHash, HashError>;

    /// Hashes with a fresh 16-byte salt from the operating system.
    ///
    /// # Errors
    /// [`HashError::Rng`] when the OS has no randomness; otherwise as
    /// [`PasswordHashing::hash_with_salt`].
    fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let mut salt = [0_u8; 16];
        getrandom_salt(&mut salt)?;
        self.hash_with_salt(password, &salt)
    }

    /// Whether `password` matches `hash`.
    ///
    /// # Errors
    /// [`HashError`] when the stored hash cannot be used (malformed, an
    /// unsupported algorithm); a mismatch is `Ok(false)`, not an error.
    fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError>;

    /// Whether `hash` was made with other parameters than this hasher's and
    /// should be replaced (by hashing the password again at the next
    /// successful login).
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;

    /// Spends the work by which verifying against `stored` fell short of
    /// this hasher's own cost, so that a hash made at a cheaper, older cost
    /// answers no faster than a current one until it is rehashed (no timing
    /// oracle for which accounts still have old hashes). The default does
    /// nothing.
    fn pad_to_cost(&self, password: &Password, stored: &PasswordHash) {
        let _ = (password, stored);
    }
}

fn getrandom_salt(salt: &mut [u8; 16]) -> Result<(), HashError> {
    let fresh = argon2::password_hash::try_generate_salt().map_err(|_| HashError::Rng)?;
    salt.copy_from_slice(&fresh);
    Ok(())
}

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Passes over memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP Password Storage Cheat Sheet's recommendation for Argon2id:
    /// 19 MiB of memory, 2 iterations, 1 lane (`m=19456,t=2,p=1`).
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// The smallest memory [`Argon2idHasher::new`] accepts: 7 MiB, the
    /// lowest of OWASP's equivalent settings (`m=7168,t=5,p=1`).
    pub const MEMORY_FLOOR_KIB: u32 = 7 * 1024;
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self::OWASP
    }
}

/// The production hasher: Argon2id (RFC 9106), version 0x13, 32-byte output,
/// through RustCrypto's `argon2`, whose verification compares outputs in
/// constant time.
#[derive(Clone)]
pub struct Argon2idHasher {
    params: argon2::Params,
    config: Argon2Params,
    /// The least memory a stored hash may ask for.
    floor_kib: u32,
}

impl Argon2idHasher {
    /// A hasher with the given costs.
    ///
    /// # Errors
    /// [`HashError::TooWeak`] below [`Argon2Params::MEMORY_FLOOR_KIB`];
    /// [`HashError::InvalidParams`] for values Argon2 refuses.
    pub fn new(config: Argon2Params) -> Result<Self, HashError> {
        if config.memory_kib < Argon2Params::MEMORY_FLOOR_KIB {
            return Err(HashError::TooWeak {
                memory_kib: config.memory_kib,
                floor_kib: Argon2Params::MEMORY_FLOOR_KIB,
            });
        }
        Self::unchecked(config)
    }

    fn unchecked(config: Argon2Params) -> Result<Self, HashError> {
        let params = argon2::Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            Some(32),
        )
        .map_err(HashError::InvalidParams)?;
        Ok(Self {
            params,
            config,
            floor_kib: config.memory_kib.min(Argon2Params::MEMORY_FLOOR_KIB),
        })
    }

    /// A hasher with [`Argon2Params::OWASP`].
    #[must_use]
    pub fn owasp() -> Self {
        let p = argon2::Params::new(
            Argon2Params::OWASP.memory_kib,
            Argon2Params::OWASP.iterations,
            Argon2Params::OWASP.parallelism,
            Some(32),
        )
        .unwrap_or_default();
        Self {
            params: p,
            config: Argon2Params::OWASP,
            floor_kib: Argon2Params::MEMORY_FLOOR_KIB,
        }
    }

    /// The configured costs.
    #[must_use]
    pub const fn params(&self) -> Argon2Params {
        self.config
    }

    /// Whether a stored hash's costs are within `[floor, MAX_COST_MULTIPLE ×
    /// own cost]`: memory at least the floor, memory × passes at most the
    /// multiple of this hasher's, and lanes at most the multiple of its own.
    fn cost_in_range(&self, stored: &argon2::Params) -> bool {
        let own = u64::from(self.config.memory_kib) * u64::from(self.config.iterations);
        let theirs = u64::from(stored.m_cost()) * u64::from(stored.t_cost());
        stored.m_cost() >= self.floor_kib
            && theirs <= own.saturating_mul(u64::from(MAX_COST_MULTIPLE))
            && stored.p_cost() <= self.config.parallelism.saturating_mul(MAX_COST_MULTIPLE)
    }

    /// The memory × passes, in KiB, by which verifying `stored` falls short
    /// of this hasher's own cost: what [`PasswordHashing::pad_to_cost`] spends
    /// in one pass. `None` when there is nothing to pad (a hash at this cost
    /// or above, a malformed one, or a shortfall below Argon2's minimum).
    #[must_use]
    pub fn padding_kib(&self, stored: &PasswordHash) -> Option<u32> {
        let parsed = stored.parsed().ok()?;
        let theirs = argon2::Params::try_from(&parsed).ok()?;
        let own = u64::from(self.config.memory_kib) * u64::from(self.config.iterations);
        let spent = u64::from(theirs.m_cost()) * u64::from(theirs.t_cost());
        let missing = u32::try_from(own.saturating_sub(spent)).unwrap_or(u32::MAX);
        (missing >= argon2::Params::MIN_M_COST).then_some(missing)
    }

    fn argon2(&self) -> argon2::Argon2<'static> {
        argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.params.clone(),
        )
    }
}

impl Default for Argon2idHasher {
    fn default() -> Self {
        Self::owasp()
    }
}

impl fmt::Debug for Argon2idHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2idHasher")
            .field("params", &self.config)
            .finish()
    }
}

impl PasswordHashing for Argon2idHasher {
    fn hash_with_salt(&self, password: &Password, salt: &[u8]) -> Result<PasswordHash, HashError> {
        let hash = self
            .argon2()
            .hash_password_with_salt(check_length(password)?, salt)
            .map_err(HashError::Phc)?;
        Ok(PasswordHash(hash.to_string()))
    }

    fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let parsed = hash.parsed()?;
        let stored = argon2::Params::try_from(&parsed).map_err(|_| HashError::Malformed)?;
        if !self.cost_in_range(&stored) {
            return Err(HashError::CostOutOfRange);
        }
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(HashError::Malformed);
        };
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm.as_str())
            .map_err(|_| HashError::Malformed)?;
        let version = parsed
            .version
            .map(argon2::Version::try_from)
            .transpose()
            .map_err(|_| HashError::Malformed)?
            .unwrap_or_default();
        let mut out = zeroize::Zeroizing::new([0_u8; 64]);
        let out = out.get_mut(..expected.len()).ok_or(HashError::Malformed)?;
        let argon2 = argon2::Argon2::new(algorithm, version, stored);
        compute(&argon2, check_length(password)?, salt, out)?;
        Ok(bool::from(subtle::ConstantTimeEq::ct_eq(
            &*out,
            expected.as_bytes(),
        )))
    }

    /// Runs Argon2id once more, one pass over [`Argon2idHasher::padding_kib`],
    /// into a buffer that is wiped.
    fn pad_to_cost(&self, password: &Password, stored: &PasswordHash) {
        let Some(missing) = self.padding_kib(stored) else {
            return;
        };
        let Ok(params) = argon2::Params::new(missing, 1, 1, Some(32)) else {
            return;
        };
        let pad = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = zeroize::Zeroizing::new([0_u8; 32]);
        let bytes = password.expose().as_bytes();
        let input = bytes
            .get(..bytes.len().min(MAX_PASSWORD_BYTES))
            .unwrap_or_default();
        let _ = compute(&pad, input, b"lockstep-cost-padding", out.as_mut());
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = hash.parsed() else {
            return true;
        };
        let Ok(params) = argon2::Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm.as_str() != argon2::ARGON2ID_IDENT.as_str()
            || parsed.version != Some(argon2::Version::V0x13.into())
            || params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
            || parsed.hash.map(|h| h.len()) != Some(32)
    }
}

/// A deliberately cheap Argon2id hasher (8 KiB, 1 pass) for test suites that
/// hash thousands of times. **Insecure**: it exists only with the cargo
/// feature `insecure-test-hasher`, says so in its `Debug`, and every hash it
/// makes is below the production hasher's floor, so [`Argon2idHasher`]
/// refuses to verify it ([`HashError::CostOutOfRange`]): a test hash that
/// reached a production store can never log anyone in.
#[cfg(feature = "insecure-test-hasher")]
#[derive(Clone, Default)]
pub struct InsecureTestHasher(InsecureInner);

#[cfg(feature = "insecure-test-hasher")]
#[derive(Clone)]
struct InsecureInner(Argon2idHasher);

#[cfg(feature = "insecure-test-hasher")]
impl Default for InsecureInner {
    fn default() -> Self {
        let cheap = Argon2Params {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        };
        Self(Argon2idHasher::unchecked(cheap).unwrap_or_default())
    }
}

#[cfg(feature = "insecure-test-hasher")]
impl InsecureTestHasher {
    /// The cheap hasher.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A test hasher at other cheap costs, below the production floor: to
    /// make a stored hash "from an older deployment" in a test. Values
    /// Argon2 refuses fall back to the default test costs.
    #[must_use]
    pub fn with_params(params: Argon2Params) -> Self {
        Self(InsecureInner(
            Argon2idHasher::unchecked(params).unwrap_or_else(|_| InsecureInner::default().0),
        ))
    }
}

#[cfg(feature = "insecure-test-hasher")]
impl fmt::Debug for InsecureTestHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0.0.config;
        write!(
            f,
            "InsecureTestHasher(NOT FOR PRODUCTION: m={} KiB, t={})",
            p.memory_kib, p.iterations
        )
    }
}

#[cfg(feature = "insecure-test-hasher")]
impl PasswordHashing for InsecureTestHasher {
    fn hash_with_salt(&self, password: &Password, salt: &[u8]) -> Result<PasswordHash, HashError> {
        self.0.0.hash_with_salt(password, salt)
    }
    fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        self.0.0.verify(password, hash)
    }
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        self.0.0.needs_rehash(hash)
    }
    fn pad_to_cost(&self, password: &Password, stored: &PasswordHash) {
        self.0.0.pad_to_cost(password, stored);
    }
}

/// Forwards the trait through a pointer type, so a hasher can be shared
/// (`&H`, `Arc<H>`) without a wrapper.
macro_rules! forward_hasher {
    ($($ptr:ty),*) => {$(
        impl<H: PasswordHashing + ?Sized> PasswordHashing for $ptr {
            fn hash_with_salt(&self, password: &Password, salt: &[u8]) -> Result<PasswordHash, HashError> {
                (**self).hash_with_salt(password, salt)
            }
            fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
                (**self).hash(password)
            }
            fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
                (**self).verify(password, hash)
            }
            fn needs_rehash(&self, hash: &PasswordHash) -> bool {
                (**self).needs_rehash(hash)
            }
            fn pad_to_cost(&self, password: &Password, stored: &PasswordHash) {
                (**self).pad_to_cost(password, stored);
            }
        }
    )*};
}

forward_hasher!(&H, std::sync::Arc<H>);
