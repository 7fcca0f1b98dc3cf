//! HMAC (RFC 2104) over one 8-byte message, with the key schedule done once.
//!
//! HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)). The hash states after the
//! blocks `K ⊕ ipad` and `K ⊕ opad` depend only on the key, so they are
//! computed once when a token is keyed. An 8-byte counter and its padding fill
//! one block, and so does the inner digest with its padding; each HOTP value
//! therefore costs exactly two calls of the hash crates' compression
//! functions, on stack buffers, and nothing else.
//!
//! The buffered `hmac::Mac` API computes the same thing but, measured on this
//! path, spends as long again on buffer management and per-call
//! bookkeeping as on hashing (see the README's bench table). The compression
//! functions, initial values and padding here are the hash crates' and
//! FIPS 180-4's; `tests/hmac_oracle.rs` checks this module against the `hmac`
//! crate for random keys and counters, and the RFC vectors and `oathtool`
//! check it end to end.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A Merkle–Damgård hash at block level.
pub(crate) trait BlockHash {
    /// The chaining state.
    type State: Copy + Zeroize;
    /// One input block.
    type Block: Copy + AsRef<[u8]> + AsMut<[u8]>;
    /// The initial state (FIPS 180-4 §5.3).
    const IV: Self::State;
    /// An all-zero block.
    const ZERO: Self::Block;
    /// Digest length in bytes.
    const OUT: usize;
    /// Runs the compression function on one block.
    fn compress(state: &mut Self::State, block: &Self::Block);
    /// Writes the state as the big-endian digest into `out[..OUT]`.
    fn digest(state: &Self::State, out: &mut [u8]);
    /// RFC 4226 §5.3 dynamic truncation of the digest held in `state`, read
    /// straight from the state words.
    fn truncate(state: &Self::State) -> u32;
}

/// Dynamic truncation over a digest held as big-endian 32-bit words: the
/// low nibble of the last byte is a byte offset, and the 31 bits at that
/// offset are the result. Reads two adjacent words and shifts, rather than
/// serialising the digest; offsets (at most 15) keep both words inside every
/// supported digest.
#[inline(always)]
fn truncate32(words: &[u32]) -> u32 {
    let offset = words.last().map_or(0, |w| w & 0x0f);
    let (index, shift) = ((offset / 4) as usize, 32 - 8 * (offset % 4));
    let word = |i: usize| u64::from(words.get(i).copied().unwrap_or(0));
    let pair = (word(index) << 32) | word(index + 1);
    // The shift leaves the wanted bytes in the low 32 bits; the cut is the point.
    #[allow(clippy::cast_possible_truncation)]
    let bits = (pair >> shift) as u32;
    bits & 0x7fff_ffff
}

/// [`truncate32`] for a digest held as big-endian 64-bit words.
#[inline(always)]
fn truncate64(words: &[u64]) -> u32 {
    let offset = words.last().map_or(0, |w| w & 0x0f);
    let (index, shift) = ((offset / 8) as usize, 96 - 8 * (offset % 8));
    let word = |i: usize| u128::from(words.get(i).copied().unwrap_or(0));
    let pair = (word(index) << 64) | word(index + 1);
    #[allow(clippy::cast_possible_truncation)]
    let bits = (pair >> shift) as u32;
    bits & 0x7fff_ffff
}

pub(crate) enum Sha1 {}
pub(crate) enum Sha256 {}
pub(crate) enum Sha512 {}

/// Writes `words` big-endian into `out`, as many as fit.
fn be_words<const N: usize, W: Copy>(words: &[W], out: &mut [u8], to_bytes: fn(W) -> [u8; N]) {
    for (chunk, word) in out.chunks_exact_mut(N).zip(words) {
        chunk.copy_from_slice(&to_bytes(*word));
    }
}

/// One [`BlockHash`] impl: the hash's word type and count, block size,
/// compression function, truncation and initial value (FIPS 180-4 §5.3). The
/// digest is the whole state, big-endian.
macro_rules! block_hash {
    ($name:ident: [$word:ty; $words:literal], block $block:literal, $compress:path, $truncate:ident, IV = $iv:expr) => {
        impl BlockHash for $name {
            type State = [$word; $words];
            type Block = [u8; $block];
            const IV: Self::State = $iv;
            const ZERO: Self::Block = [0; $block];
            const OUT: usize = $words * core::mem::size_of::<$word>();
            #[inline(always)]
            fn compress(state: &mut Self::State, block: &Self::Block) {
                $compress(state, core::slice::from_ref(block));
            }
            #[inline(always)]
            fn digest(state: &Self::State, out: &mut [u8]) {
                be_words(state, out, <$word>::to_be_bytes);
            }
            #[inline(always)]
            fn truncate(state: &Self::State) -> u32 {
                $truncate(state)
            }
        }
    };
}

block_hash!(Sha1: [u32; 5], block 64, sha1::block_api::compress, truncate32, IV = [
    0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0,
]);
block_hash!(Sha256: [u32; 8], block 64, sha2::block_api::compress256, truncate32, IV = [
    0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A,
    0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19,
]);
block_hash!(Sha512: [u64; 8], block 128, sha2::block_api::compress512, truncate64, IV = [
    0x6A09_E667_F3BC_C908, 0xBB67_AE85_84CA_A73B, 0x3C6E_F372_FE94_F82B, 0xA54F_F53A_5F1D_36F1,
    0x510E_527F_ADE6_82D1, 0x9B05_688C_2B3E_6C1F, 0x1F83_D9AB_FB41_BD6B, 0x5BE0_CD19_137E_2179,
]);

/// Copies `src` into `dst` at `at`; out-of-range writes are skipped (they
/// cannot happen for the fixed layouts below, and must not panic).
#[inline(always)]
fn put(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(d) = dst.get_mut(at..at.saturating_add(src.len())) {
        d.copy_from_slice(src);
    }
}

/// Makes `block` the final block of a message whose first `len` bytes are
/// already in place after `prefix` bytes of earlier blocks: the `0x80` marker
/// and the big-endian bit length in the last 8 bytes (SHA-512's 16-byte
/// length field has its upper half zero for any message here).
#[inline(always)]
fn pad(block: &mut [u8], len: usize, prefix: usize) {
    let size = block.len();
    put(block, len, &[0x80]);
    let bits = (prefix.saturating_add(len) as u64).saturating_mul(8);
    put(block, size.saturating_sub(8), &bits.to_be_bytes());
}

/// The key-dependent HMAC states; wiped on drop.
pub(crate) struct KeyedHash<H: BlockHash> {
    inner: H::State,
    outer: H::State,
}

impl<H: BlockHash> Clone for KeyedHash<H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner,
            outer: self.outer,
        }
    }
}

impl<H: BlockHash> KeyedHash<H> {
    /// Keys the MAC. `key` must fit in one block, which [`crate::Secret`]
    /// guarantees (at most 64 bytes); RFC 2104 pads it with zeros.
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut block = H::ZERO;
        put(block.as_mut(), 0, key);
        block.as_mut().iter_mut().for_each(|b| *b ^= 0x36);
        let mut inner = H::IV;
        H::compress(&mut inner, &block);
        block.as_mut().iter_mut().for_each(|b| *b ^= 0x36 ^ 0x5c);
        let mut outer = H::IV;
        H::compress(&mut outer, &block);
        block.as_mut().zeroize();
        Self { inner, outer }
    }

    /// Truncated HMACs (RFC 4226 §5.3, before the decimal reduction) of the
    /// 8-byte big-endian counters `first, first + 1, …`: the first `n` of
    /// them, `n <= BATCH`, into `out[..n]`.
    ///
    /// Two compressions per counter, no allocation. The counters are
    /// independent, so all inner compressions run before any outer one: the
    /// CPU can overlap their latency instead of waiting on each HMAC's inner
    /// hash in turn.
    #[inline(always)]
    pub(crate) fn truncated_macs(&self, first: u64, n: usize, out: &mut [u32; BATCH]) {
        let block_len = H::ZERO.as_ref().len();
        let mut states = [self.inner; BATCH];
        for (i, state) in (0_u64..).zip(states.iter_mut().take(n)) {
            let mut block = H::ZERO;
            put(block.as_mut(), 0, &first.wrapping_add(i).to_be_bytes());
            pad(block.as_mut(), 8, block_len);
            H::compress(state, &block);
        }
        for (state, out) in states.iter().zip(out.iter_mut()).take(n) {
            let mut block = H::ZERO;
            H::digest(state, block.as_mut());
            pad(block.as_mut(), H::OUT, block_len);
            let mut outer = self.outer;
            H::compress(&mut outer, &block);
            *out = H::truncate(&outer);
        }
    }
}

/// Candidates computed together by [`KeyedHash::mac_counters`].
pub(crate) const BATCH: usize = 4;

impl<H: BlockHash> Zeroize for KeyedHash<H> {
    fn zeroize(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

impl<H: BlockHash> Drop for KeyedHash<H> {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl<H: BlockHash> ZeroizeOnDrop for KeyedHash<H> {}
