//! The keyed HOTP/TOTP generator, verification and resync.
//!
//! Long because HOTP and TOTP share their constant-time scans and limits
//! here; splitting them would put the replay guard's two halves in two
//! files.

use core::fmt;

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::code::Code;
use crate::error::Error;
use crate::keyed::{self, BATCH, BlockHash, KeyedHash};
use crate::params::{Algorithm, Digits, Limits, Period, T0, TotpParams};
use crate::secret::Secret;

/// The key-dependent HMAC states for the token's algorithm (see [`KeyedHash`]).
#[derive(Clone)]
enum Keyed {
    Sha1(KeyedHash<keyed::Sha1>),
    Sha256(KeyedHash<keyed::Sha256>),
    Sha512(KeyedHash<keyed::Sha512>),
}

impl Keyed {
    fn new(secret: &Secret, algorithm: Algorithm) -> Self {
        let key = secret.expose_bytes();
        match algorithm {
            Algorithm::Sha1 => Self::Sha1(KeyedHash::new(key)),
            Algorithm::Sha256 => Self::Sha256(KeyedHash::new(key)),
            Algorithm::Sha512 => Self::Sha512(KeyedHash::new(key)),
        }
    }
}

/// Feeds the HOTP value (RFC 4226 §5.3: HMAC over the 8-byte big-endian
/// counter, dynamic truncation, modulo `10^digits`) of every counter in
/// `lo..=hi`, in ascending order, to `sink`. Every candidate is computed:
/// the work depends only on the window, never on the code.
#[inline(always)]
fn drive<H: BlockHash>(mac: &KeyedHash<H>, modulus: u32, lo: u64, hi: u64, sink: &mut impl Sink) {
    let mut outs = [0_u32; BATCH];
    let mut start = lo;
    loop {
        let remaining = hi.saturating_sub(start);
        let n = usize::try_from(remaining).map_or(BATCH, |r| r.saturating_add(1).min(BATCH));
        mac.truncated_macs(start, n, &mut outs);
        for (i, bits) in (0_u64..).zip(outs.iter().take(n)) {
            sink.feed(start.wrapping_add(i), bits % modulus);
        }
        match start.checked_add(BATCH as u64) {
            Some(next) if next <= hi => start = next,
            _ => break,
        }
    }
}

/// Whether `step > last_used`. Both are public (the window and the stored
/// step), so this is an ordinary comparison, and choosing where a match is
/// recorded by it reveals nothing: which steps are fresh is known to anyone
/// who knows the window. The secret match bit itself only ever flows
/// through `subtle`'s constant-time selection.
#[inline(always)]
fn fresh(step: u64, last_used: Option<u64>) -> bool {
    last_used.is_none_or(|last| step > last)
}

/// Runs `$body` with `$m` bound to this token's keyed hash, dispatching on
/// the algorithm once per call, not per candidate, so each scan is
/// monomorphised for its hash.
macro_rules! with_key {
    ($hotp:expr, |$m:ident| $body:expr) => {
        match &$hotp.keyed {
            Keyed::Sha1($m) => $body,
            Keyed::Sha256($m) => $body,
            Keyed::Sha512($m) => $body,
        }
    };
}

/// Receives candidate values in ascending step order.
trait Sink {
    fn feed(&mut self, step: u64, value: u32);
}

/// Compares each candidate with one code in constant time; no early exit.
/// Keeps the highest step above `last_used` that matched, and the highest
/// step at or below it that matched (a replay, for the audit log).
struct ScanOne {
    expected: u32,
    last_used: Option<u64>,
    accepted_step: u64,
    accepted: u8,
    replayed_step: u64,
    replayed: u8,
}

impl ScanOne {
    fn new(expected: u32, last_used: Option<u64>) -> Self {
        Self {
            expected,
            last_used,
            accepted_step: 0,
            accepted: 0,
            replayed_step: 0,
            replayed: 0,
        }
    }

    /// Remembers `step`, if `matched`, as accepted when the step is fresh
    /// and as replayed when not. The choice of slot depends only on the
    /// public freshness; the secret `matched` is applied without branching.
    #[inline(always)]
    fn record(&mut self, step: u64, matched: Choice, is_fresh: bool) {
        let (slot, seen) = if is_fresh {
            (&mut self.accepted_step, &mut self.accepted)
        } else {
            (&mut self.replayed_step, &mut self.replayed)
        };
        slot.conditional_assign(&step, matched);
        seen.conditional_assign(&1, matched);
    }
}

impl Sink for ScanOne {
    #[inline(always)]
    fn feed(&mut self, step: u64, value: u32) {
        let matched = value.ct_eq(&self.expected);
        self.record(step, matched, fresh(step, self.last_used));
    }
}

/// Like [`ScanOne`] for a pair: the highest `t` with `value(t-1) == first`
/// and `value(t) == second`, both steps above `last_used`. Each step's value
/// is computed once and compared against both codes.
struct ScanPair {
    first: u32,
    second: u32,
    one: ScanOne,
    prev_first: Choice,
    prev_fresh: bool,
}

impl ScanPair {
    fn new(first: u32, second: u32, last_used: Option<u64>) -> Self {
        Self {
            first,
            second,
            one: ScanOne::new(second, last_used),
            prev_first: Choice::from(0),
            prev_fresh: false,
        }
    }
}

impl Sink for ScanPair {
    #[inline(always)]
    fn feed(&mut self, step: u64, value: u32) {
        let pair = self.prev_first & value.ct_eq(&self.second);
        // The first code's step is the older one: both are fresh iff it is.
        self.one.record(step, pair, self.prev_fresh);
        self.prev_first = value.ct_eq(&self.first);
        self.prev_fresh = fresh(step, self.one.last_used);
    }
}

/// The outcome of a scan.
struct Scan {
    accepted: Option<u64>,
    replayed: Option<u64>,
}

impl From<ScanOne> for Scan {
    fn from(s: ScanOne) -> Self {
        Self {
            accepted: (s.accepted == 1).then_some(s.accepted_step),
            replayed: (s.replayed == 1).then_some(s.replayed_step),
        }
    }
}

impl Hotp {
    /// Runs a scan over `lo..=hi` with this key.
    fn scan_one(&self, expected: u32, lo: u64, hi: u64, last_used: Option<u64>) -> Scan {
        let mut sink = ScanOne::new(expected, last_used);
        let modulus = self.digits.modulus();
        with_key!(self, |m| drive(m, modulus, lo, hi, &mut sink));
        sink.into()
    }

    /// Runs a pair scan over `lo..=hi` with this key.
    fn scan_pair(&self, first: u32, second: u32, lo: u64, hi: u64, last_used: Option<u64>) -> Scan {
        let mut sink = ScanPair::new(first, second, last_used);
        let modulus = self.digits.modulus();
        with_key!(self, |m| drive(m, modulus, lo, hi, &mut sink));
        sink.one.into()
    }
}

impl Scan {
    fn into_result(self) -> Result<u64, Error> {
        match (self.accepted, self.replayed) {
            (Some(step), _) => Ok(step),
            (None, Some(step)) => Err(Error::Replay { step }),
            (None, None) => Err(Error::NoMatch),
        }
    }
}

fn check_side(requested: u32, max: u32) -> Result<(), Error> {
    if requested > max {
        Err(Error::WindowTooLarge { requested, max })
    } else {
        Ok(())
    }
}

/// An HOTP generator and verifier (RFC 4226), keyed once.
///
/// Generation and verification never allocate. `Debug` shows the parameters,
/// never the key.
#[derive(Clone)]
pub struct Hotp {
    keyed: Keyed,
    algorithm: Algorithm,
    digits: Digits,
    limits: Limits,
}

impl Hotp {
    /// Keys a generator. This is the only place the secret is read; keep the
    /// `Hotp` and drop the [`Secret`] if you like.
    #[must_use]
    pub fn new(secret: &Secret, algorithm: Algorithm, digits: Digits) -> Self {
        Self {
            keyed: Keyed::new(secret, algorithm),
            algorithm,
            digits,
            limits: Limits::DEFAULT,
        }
    }

    /// Replaces the default [`Limits`].
    #[must_use]
    pub const fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The hash function.
    #[must_use]
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The code length.
    #[must_use]
    pub const fn digits(&self) -> Digits {
        self.digits
    }

    /// The limits in force.
    #[must_use]
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// The code for a counter value.
    #[must_use]
    pub fn generate(&self, counter: u64) -> Code {
        struct Last(u32);
        impl Sink for Last {
            fn feed(&mut self, _: u64, value: u32) {
                self.0 = value;
            }
        }
        let mut last = Last(0);
        let modulus = self.digits.modulus();
        with_key!(self, |m| drive(m, modulus, counter, counter, &mut last));
        Code::from_value(last.0, self.digits)
    }

    fn check_digits(&self, code: &Code) -> Result<u32, Error> {
        if code.digits() == self.digits {
            Ok(code.value())
        } else {
            Err(Error::DigitsMismatch {
                code: code.digits().get(),
                expected: self.digits.get(),
            })
        }
    }

    /// Verifies a code against counters `counter..=counter + look_ahead`
    /// (RFC 4226 §7.4), where `counter` is the next unused counter.
    ///
    /// Every candidate is computed and compared in constant time. On success
    /// returns the new counter to store: one past the *highest* matching
    /// counter, so the same code can never be accepted twice even if it
    /// happens to match at two counters.
    ///
    /// # Errors
    /// [`Error::NoMatch`]; [`Error::WindowTooLarge`] if `look_ahead` exceeds
    /// [`Limits::max_window`]; [`Error::DigitsMismatch`];
    /// [`Error::CounterExhausted`] if the match is at `u64::MAX`.
    pub fn verify(&self, code: &Code, counter: u64, look_ahead: u32) -> Result<u64, Error> {
        check_side(look_ahead, self.limits.max_window)?;
        let expected = self.check_digits(code)?;
        let hi = counter.saturating_add(u64::from(look_ahead));
        let matched = self.scan_one(expected, counter, hi, None).into_result()?;
        matched.checked_add(1).ok_or(Error::CounterExhausted)
    }

    /// HOTP resynchronisation (RFC 4226 §7.4): finds two consecutive counters
    /// `c, c + 1` in `counter..=counter + look_ahead + 1` whose codes are
    /// `first` and `second`, and returns the new counter to store, `c + 2`.
    ///
    /// # Errors
    /// [`Error::NoMatch`]; [`Error::WindowTooLarge`] if `look_ahead` exceeds
    /// [`Limits::max_resync_window`]; [`Error::DigitsMismatch`];
    /// [`Error::CounterExhausted`].
    pub fn resync(
        &self,
        first: &Code,
        second: &Code,
        counter: u64,
        look_ahead: u32,
    ) -> Result<u64, Error> {
        check_side(look_ahead, self.limits.max_resync_window)?;
        let a = self.check_digits(first)?;
        let b = self.check_digits(second)?;
        let hi = counter
            .saturating_add(u64::from(look_ahead))
            .saturating_add(1);
        let matched = self.scan_pair(a, b, counter, hi, None).into_result()?;
        matched.checked_add(1).ok_or(Error::CounterExhausted)
    }
}

impl fmt::Debug for Hotp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hotp")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .finish_non_exhaustive()
    }
}

/// How many steps before and after the expected step verification accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Window {
    /// Steps accepted before the expected step (codes from a slow clock or a slow user).
    pub behind: u32,
    /// Steps accepted after the expected step (a fast clock).
    pub ahead: u32,
}

impl Window {
    /// Only the expected step.
    pub const EXACT: Self = Self::symmetric(0);

    /// A window of `behind` steps before and `ahead` after.
    #[must_use]
    pub const fn new(behind: u32, ahead: u32) -> Self {
        Self { behind, ahead }
    }

    /// The same number of steps on each side: `symmetric(1)` is the usual ±1.
    #[must_use]
    pub const fn symmetric(side: u32) -> Self {
        Self::new(side, side)
    }

    fn check(self, max: u32) -> Result<(), Error> {
        check_side(self.behind, max)?;
        check_side(self.ahead, max)
    }

    /// The inclusive range of steps around `center`, clipped to `0..=u64::MAX`;
    /// `None` when nothing of it is a valid step.
    fn range(self, center: i128) -> Option<(u64, u64)> {
        let lo = center.saturating_sub(i128::from(self.behind)).max(0);
        let hi = center
            .saturating_add(i128::from(self.ahead))
            .min(i128::from(u64::MAX));
        // A window wholly before step 0 (or past u64::MAX) has no candidates.
        let (lo, hi) = (u64::try_from(lo).ok()?, u64::try_from(hi).ok()?);
        (lo <= hi).then_some((lo, hi))
    }
}

/// A successful TOTP verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verified {
    /// The absolute step that matched. Store it as the new `last_used`.
    pub step: u64,
    /// `step` minus the current step at `now`, ignoring the stored drift: the
    /// token's observed clock offset in steps, which a caller may adopt as the
    /// new drift.
    pub offset: i64,
}

/// A successful resynchronisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Resynced {
    /// The new drift in steps: the second code's step minus the current step.
    pub drift: i64,
    /// The second code's absolute step. Store it as the new `last_used`; the
    /// first code's step is below it and so is consumed too.
    pub step: u64,
}

/// A TOTP generator and verifier (RFC 6238), keyed once.
///
/// Time is always an argument (Unix seconds); nothing here reads a clock.
#[derive(Clone)]
pub struct Totp {
    hotp: Hotp,
    period: Period,
    t0: T0,
}

impl Totp {
    /// Keys a generator with the given parameters.
    #[must_use]
    pub fn new(secret: &Secret, params: TotpParams) -> Self {
        Self {
            hotp: Hotp::new(secret, params.algorithm, params.digits),
            period: params.period,
            t0: params.t0,
        }
    }

    /// Replaces the default [`Limits`].
    #[must_use]
    pub const fn with_limits(mut self, limits: Limits) -> Self {
        self.hotp.limits = limits;
        self
    }

    /// The parameters this generator was keyed with.
    #[must_use]
    pub const fn params(&self) -> TotpParams {
        TotpParams {
            algorithm: self.hotp.algorithm,
            digits: self.hotp.digits,
            period: self.period,
            t0: self.t0,
        }
    }

    /// The limits in force.
    #[must_use]
    pub const fn limits(&self) -> Limits {
        self.hotp.limits
    }

    /// The time step `T = (now - T0) / X` (RFC 6238 §4.2), in 64 bits.
    ///
    /// # Errors
    /// [`Error::TimeBeforeT0`] when `now < T0`.
    pub const fn step_at(&self, now: u64) -> Result<u64, Error> {
        match now.checked_sub(self.t0.0) {
            Some(elapsed) => Ok(elapsed / self.period.seconds() as u64),
            None => Err(Error::TimeBeforeT0 { now, t0: self.t0.0 }),
        }
    }

    /// Seconds until the code current at `now` is replaced (1..=period).
    ///
    /// # Errors
    /// [`Error::TimeBeforeT0`] when `now < T0`.
    pub fn seconds_left(&self, now: u64) -> Result<u32, Error> {
        let elapsed = now
            .checked_sub(self.t0.0)
            .ok_or(Error::TimeBeforeT0 { now, t0: self.t0.0 })?;
        let period = self.period.seconds();
        let into = elapsed % u64::from(period);
        Ok(period.saturating_sub(u32::try_from(into).unwrap_or(0)))
    }

    /// The code current at `now`.
    ///
    /// # Errors
    /// [`Error::TimeBeforeT0`] when `now < T0`.
    pub fn generate(&self, now: u64) -> Result<Code, Error> {
        Ok(self.hotp.generate(self.step_at(now)?))
    }

    /// The code for an absolute step.
    #[must_use]
    pub fn generate_at_step(&self, step: u64) -> Code {
        self.hotp.generate(step)
    }

    /// Verifies `code` at `now` over `window` around `current_step + drift`.
    ///
    /// Every candidate step in the window is computed and compared in constant
    /// time, with no early exit, so timing reveals neither whether nor where
    /// the code matched. Among the matches, the *highest* step strictly greater
    /// than `last_used` is returned. Taking the highest matters: a code may
    /// (rarely) match at two steps of one window, and storing the higher one
    /// as `last_used` makes every step at or below it unusable, so the same
    /// code can never be accepted twice. `last_used = None` means no code was
    /// ever accepted.
    ///
    /// # Errors
    /// - [`Error::NoMatch`]: no step in the window matches.
    /// - [`Error::Replay`]: the code matches only at steps `<= last_used`.
    /// - [`Error::TimeBeforeT0`], [`Error::WindowTooLarge`] (a side over
    ///   [`Limits::max_window`]), [`Error::DriftTooLarge`] (over
    ///   [`Limits::max_drift`]), [`Error::DigitsMismatch`].
    pub fn verify(
        &self,
        code: &Code,
        now: u64,
        window: Window,
        drift: i64,
        last_used: Option<u64>,
    ) -> Result<Verified, Error> {
        let limits = self.hotp.limits;
        window.check(limits.max_window)?;
        if drift.unsigned_abs() > u64::from(limits.max_drift) {
            return Err(Error::DriftTooLarge {
                drift,
                max: limits.max_drift,
            });
        }
        let expected = self.hotp.check_digits(code)?;
        let current = self.step_at(now)?;
        let center = i128::from(current) + i128::from(drift);
        let Some((lo, hi)) = window.range(center) else {
            return Err(Error::NoMatch);
        };
        let step = self
            .hotp
            .scan_one(expected, lo, hi, last_used)
            .into_result()?;
        Ok(Verified {
            step,
            offset: offset(step, current),
        })
    }

    /// Resynchronisation (the manual's 同期ズレ補正, R-SYN) around the real
    /// clock: [`Totp::resync_around`] with a stored drift of 0.
    ///
    /// # Errors
    /// As [`Totp::resync_around`].
    pub fn resync(
        &self,
        first: &Code,
        second: &Code,
        now: u64,
        search: Window,
        last_used: Option<u64>,
    ) -> Result<Resynced, Error> {
        self.resync_around(first, second, now, search, 0, last_used)
    }

    /// Resynchronisation centred on a stored drift: searches the steps
    /// `current + drift - search.behind ..= current + drift + search.ahead`
    /// for two adjacent steps `s, s + 1` with codes `first` and `second`,
    /// both above `last_used`, and compares every candidate in constant time.
    /// The search never reaches past [`Limits::max_drift`] from the real
    /// clock, so the drift it returns is always within that bound.
    ///
    /// Centring on the stored drift (not on the real clock) keeps a small
    /// window useful for a token whose clock has run off earlier; keeping the
    /// window small is what stops a pair of phished codes from being
    /// replayed hours later.
    ///
    /// Of several such pairs the highest is taken, for the reason given on
    /// [`Totp::verify`].
    ///
    /// # Errors
    /// - [`Error::NoMatch`]: no adjacent pair in the window.
    /// - [`Error::Replay`]: the pair exists only at or below `last_used`.
    /// - [`Error::TimeBeforeT0`], [`Error::WindowTooLarge`] (a side over
    ///   [`Limits::max_resync_window`]), [`Error::DriftTooLarge`] (`drift`
    ///   over [`Limits::max_drift`]), [`Error::DigitsMismatch`].
    pub fn resync_around(
        &self,
        first: &Code,
        second: &Code,
        now: u64,
        search: Window,
        drift: i64,
        last_used: Option<u64>,
    ) -> Result<Resynced, Error> {
        let limits = self.hotp.limits;
        search.check(limits.max_resync_window)?;
        if drift.unsigned_abs() > u64::from(limits.max_drift) {
            return Err(Error::DriftTooLarge {
                drift,
                max: limits.max_drift,
            });
        }
        let a = self.hotp.check_digits(first)?;
        let b = self.hotp.check_digits(second)?;
        let current = self.step_at(now)?;
        let center = i128::from(current) + i128::from(drift);
        let Some((lo, hi)) = search.range(center) else {
            return Err(Error::NoMatch);
        };
        // The second code's step (the one the drift is measured by) stays
        // within max_drift of the real clock; the first may be one before.
        let bound = Window::new(limits.max_drift.saturating_add(1), limits.max_drift);
        let Some((bound_lo, bound_hi)) = bound.range(i128::from(current)) else {
            return Err(Error::NoMatch);
        };
        let (lo, hi) = (lo.max(bound_lo), hi.min(bound_hi));
        if lo > hi {
            return Err(Error::NoMatch);
        }
        let step = self.hotp.scan_pair(a, b, lo, hi, last_used).into_result()?;
        Ok(Resynced {
            drift: offset(step, current),
            step,
        })
    }
}

/// `step - current` as a signed offset. Both lie within one bounded window of
/// each other, so the difference always fits; saturate rather than panic.
fn offset(step: u64, current: u64) -> i64 {
    let diff = i128::from(step) - i128::from(current);
    i64::try_from(diff).unwrap_or(if diff < 0 { i64::MIN } else { i64::MAX })
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("algorithm", &self.hotp.algorithm)
            .field("digits", &self.hotp.digits)
            .field("period", &self.period)
            .field("t0", &self.t0)
            .finish_non_exhaustive()
    }
}
