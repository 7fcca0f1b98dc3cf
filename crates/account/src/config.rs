//! The machine's settings, with the manual's defaults and hard caps.

use lockstep_otp::{Limits, Window};
use lockstep_password::MAX_PASSWORD_BYTES;

/// Which codes a login accepts, relative to the token's current step at its
/// stored drift (R-TOK-3).
///
/// The manual: 「ワンタイムパスワードは生成後 30 秒を経過すると無効となります」— a
/// code lives 30 s after it is generated. [`CodeAcceptance::MANUAL`] (the
/// default) accepts the current step and `ahead` steps after it (a token
/// clock slightly fast), and the previous step only during the first
/// `grace_seconds` of the current step: the time a code typed at the end of
/// its step needs to reach the server. [`CodeAcceptance::RFC6238`] is RFC
/// 6238 §5.2's usual ±1 step, which lets a code live up to 59 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeAcceptance {
    /// Steps accepted after the current one.
    pub ahead: u32,
    /// Seconds after a step boundary during which the previous step's code
    /// is still accepted. At least the period means "always".
    pub grace_seconds: u32,
}

impl CodeAcceptance {
    /// The manual's reading: current step, one ahead, the previous one for
    /// 10 s after the boundary.
    pub const MANUAL: Self = Self {
        ahead: 1,
        grace_seconds: 10,
    };

    /// RFC 6238 §5.2: one step behind and one ahead, whatever the time.
    pub const RFC6238: Self = Self {
        ahead: 1,
        grace_seconds: u32::MAX,
    };

    /// The window around the expected step at `seconds_into_step`.
    pub(crate) fn window(self, seconds_into_step: u32) -> Window {
        Window::new(
            u32::from(seconds_into_step < self.grace_seconds),
            self.ahead,
        )
    }
}

impl Default for CodeAcceptance {
    fn default() -> Self {
        Self::MANUAL
    }
}

/// Settings of the login life cycle. [`Config::default`] is the manual's
/// bank; [`Config::builder`] changes what a deployment must, and refuses
/// contradictions and anything past the hard caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) password_lock_after: u32,
    pub(crate) otp_lock_after: u32,
    pub(crate) password_max_age_days: u32,
    pub(crate) temporary_password_days: Option<u32>,
    pub(crate) utc_offset_seconds: i32,
    pub(crate) acceptance: CodeAcceptance,
    pub(crate) resync_window: u32,
    pub(crate) max_drift: u32,
    pub(crate) hotp_look_ahead: u32,
    pub(crate) hotp_resync_look_ahead: u32,
    pub(crate) ticket_ttl_seconds: u32,
    pub(crate) session_ttl_seconds: u32,
    pub(crate) max_password_bytes: usize,
    pub(crate) max_retries: u32,
}

impl Default for Config {
    /// | setting | default | source |
    /// |---|---|---|
    /// | password lock | 5th consecutive failure | R-LCK-1 |
    /// | OTP lock | 10th consecutive failure | R-LCK-2 |
    /// | password validity | 90 calendar days, day of setting not counted | R-PWD-6 |
    /// | temporary password validity | none | R-ACC-2: the manual gives it none; opt in with [`ConfigBuilder::temporary_password_days`] |
    /// | time zone for days | UTC+09:00 | the manual's bank is in Japan |
    /// | code acceptance | current step, one ahead, the previous for 10 s | R-TOK-3 ([`CodeAcceptance::MANUAL`]) |
    /// | resync window | ±20 steps around the stored drift | R-SYN-2; see [`ConfigBuilder::resync`] |
    /// | drift bound | 20 steps | R-SYN-3; see [`ConfigBuilder::resync`] |
    /// | event-token look-ahead | 10 counters at login, 100 at resync | RFC 4226 §7.4 |
    /// | ticket lifetime | 300 s | one login's stages |
    /// | session lifetime | 1800 s | not in the manual: a bank session should not outlive a lunch break |
    /// | password size before hashing | 1024 bytes | no hashing work for megabytes of input |
    /// | CAS retries | 8 | then a contention error |
    fn default() -> Self {
        Self {
            password_lock_after: 5,
            otp_lock_after: 10,
            password_max_age_days: 90,
            temporary_password_days: None,
            utc_offset_seconds: 9 * 3600,
            acceptance: CodeAcceptance::MANUAL,
            resync_window: 20,
            max_drift: 20,
            hotp_look_ahead: 10,
            hotp_resync_look_ahead: 100,
            ticket_ttl_seconds: 300,
            session_ttl_seconds: 1800,
            max_password_bytes: 1024,
            max_retries: 8,
        }
    }
}

/// Why a [`ConfigBuilder`] refused its settings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A lock threshold of zero would lock before any attempt.
    #[error("lock thresholds must be at least 1")]
    ZeroThreshold,
    /// A validity of zero days.
    #[error("password validity must be at least one day")]
    ZeroValidity,
    /// A UTC offset beyond ±14 hours.
    #[error("the UTC offset must be within ±14 hours")]
    BadUtcOffset,
    /// A setting exceeds its hard cap.
    #[error("the {which} of {value} exceeds its hard cap of {max}")]
    OverCap {
        /// Which setting.
        which: &'static str,
        /// The value asked for.
        value: u64,
        /// The cap.
        max: u64,
    },
    /// A lifetime of zero.
    #[error("ticket and session lifetimes must be at least one second")]
    ZeroLifetime,
    /// No retries at all.
    #[error("at least one compare-and-swap attempt is needed")]
    ZeroRetries,
    /// A drift bound below the acceptance look-ahead: enrollment could bind
    /// a token at a drift that a login then refuses.
    #[error("the drift bound must be at least the acceptance look-ahead")]
    DriftBelowLookAhead,
}

impl Config {
    /// The largest `ahead` of a [`CodeAcceptance`].
    pub const MAX_AHEAD: u32 = 10;
    /// The largest resync window, in steps a side: one hour at 30 s.
    pub const MAX_RESYNC_WINDOW: u32 = 120;
    /// The largest drift bound, in steps: two hours at 30 s.
    pub const MAX_DRIFT: u32 = 240;
    /// The largest event-token look-ahead at login.
    pub const MAX_HOTP_LOOK_AHEAD: u32 = 50;
    /// The largest event-token look-ahead at resync and enrollment.
    pub const MAX_HOTP_RESYNC_LOOK_AHEAD: u32 = 1000;
    /// The most sessions open at once per account; a new login beyond it
    /// ends the oldest.
    pub const MAX_SESSIONS: usize = 8;

    /// A builder starting from the defaults.
    #[must_use]
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Self::default())
    }

    /// The OTP engine limits implied by this configuration.
    #[must_use]
    pub fn otp_limits(&self) -> Limits {
        Limits {
            max_window: self.acceptance.ahead.max(1).max(self.hotp_look_ahead),
            // Enrollment scans one step more than the acceptance window.
            max_resync_window: self
                .resync_window
                .saturating_add(1)
                .max(self.acceptance.ahead.saturating_add(2))
                .max(self.hotp_resync_look_ahead),
            // The one drift bound (`build` keeps it at or above `ahead`).
            max_drift: self.max_drift,
        }
    }

    /// Consecutive password failures that lock (the Nth locks).
    #[must_use]
    pub const fn password_lock_after(&self) -> u32 {
        self.password_lock_after
    }

    /// Consecutive OTP failures that lock (the Nth locks).
    #[must_use]
    pub const fn otp_lock_after(&self) -> u32 {
        self.otp_lock_after
    }

    /// How long a login ticket lives, in seconds.
    #[must_use]
    pub const fn ticket_ttl_seconds(&self) -> u32 {
        self.ticket_ttl_seconds
    }

    /// How long a session lives, in seconds.
    #[must_use]
    pub const fn session_ttl_seconds(&self) -> u32 {
        self.session_ttl_seconds
    }

    /// The code acceptance at login (and for the second code of a pair).
    #[must_use]
    pub const fn acceptance(&self) -> CodeAcceptance {
        self.acceptance
    }

    /// The resync window, in steps each side of the stored drift.
    #[must_use]
    pub const fn resync_window(&self) -> u32 {
        self.resync_window
    }

    /// The largest drift, in steps, a token may have.
    #[must_use]
    pub const fn max_drift(&self) -> u32 {
        self.max_drift
    }

    /// The longest password, in bytes, that is hashed at all.
    #[must_use]
    pub const fn max_password_bytes(&self) -> usize {
        self.max_password_bytes
    }

    /// Whether a token's stored drift lies within the drift bound: the one
    /// place the bound is tested (R-SYN-3). A token beyond it (the bound
    /// was lowered) must resync before it logs in.
    pub(crate) const fn drift_within_bound(&self, drift: i64) -> bool {
        drift.unsigned_abs() <= self.max_drift as u64
    }

    /// `drift` brought within the drift bound: where a resync centres its
    /// search for a token beyond it.
    pub(crate) fn bounded_drift(&self, drift: i64) -> i64 {
        let bound = i64::from(self.max_drift);
        drift.clamp(-bound, bound)
    }

    /// The calendar day (in the configured offset) of a Unix time.
    pub(crate) fn day(&self, unix: u64) -> i64 {
        let local = i128::from(unix) + i128::from(self.utc_offset_seconds);
        i64::try_from(local.div_euclid(86_400)).unwrap_or(i64::MAX)
    }

    /// Whether something set at `set_at` and valid for `days` calendar days
    /// (the day of setting not counted) has expired at `now`: valid through
    /// the end of day `D + days` (R-PWD-6).
    pub(crate) fn expired(&self, set_at: u64, days: u32, now: u64) -> bool {
        self.day(now) > self.day(set_at).saturating_add(i64::from(days))
    }
}

/// Builds a [`Config`]; see [`Config::default`] for what each default is.
#[derive(Clone, Debug)]
pub struct ConfigBuilder(Config);

impl ConfigBuilder {
    /// Lock thresholds: the Nth consecutive failure locks.
    #[must_use]
    pub fn lock_after(mut self, password: u32, otp: u32) -> Self {
        self.0.password_lock_after = password;
        self.0.otp_lock_after = otp;
        self
    }

    /// Validity of a chosen password, in calendar days (R-PWD-6).
    #[must_use]
    pub fn password_validity_days(mut self, days: u32) -> Self {
        self.0.password_max_age_days = days;
        self
    }

    /// An expiry for temporary passwords (first login and desk resets), in
    /// calendar days; `None`, the default, follows the manual, which has
    /// none (R-ACC-2). When it is set, a correct but expired temporary
    /// password ends the login at the password step.
    #[must_use]
    pub fn temporary_password_days(mut self, days: Option<u32>) -> Self {
        self.0.temporary_password_days = days;
        self
    }

    /// The UTC offset in seconds in which calendar days are counted.
    #[must_use]
    pub fn utc_offset_seconds(mut self, offset: i32) -> Self {
        self.0.utc_offset_seconds = offset;
        self
    }

    /// Which codes a login accepts (R-TOK-3); the second code of an
    /// enrollment pair must pass the same test (R-ENR-3).
    #[must_use]
    pub fn acceptance(mut self, acceptance: CodeAcceptance) -> Self {
        self.0.acceptance = acceptance;
        self
    }

    /// The resync window (steps each side of the stored drift) and the drift
    /// bound (steps from the real clock), up to [`Config::MAX_RESYNC_WINDOW`]
    /// and [`Config::MAX_DRIFT`].
    ///
    /// **The phishing trade-off.** A resync accepts any two consecutive
    /// fresh codes in its window and moves the token's drift there. A wide
    /// window serves tokens whose clocks have run far off, and equally an
    /// attacker who phished a pair of codes (or a password holder who
    /// collected them): the codes stay usable for as long as the window
    /// reaches back, and the drift can be pushed as far as the bound. The
    /// defaults (±20 steps, bound 20: ten minutes) cover real token clocks;
    /// widen them only as far as your tokens need.
    #[must_use]
    pub fn resync(mut self, window: u32, max_drift: u32) -> Self {
        self.0.resync_window = window;
        self.0.max_drift = max_drift;
        self
    }

    /// Event-token look-ahead at login and at resync and enrollment.
    #[must_use]
    pub fn hotp_look_ahead(mut self, login: u32, resync: u32) -> Self {
        self.0.hotp_look_ahead = login;
        self.0.hotp_resync_look_ahead = resync;
        self
    }

    /// The login ticket and session lifetimes in seconds.
    #[must_use]
    pub fn lifetimes(mut self, ticket_seconds: u32, session_seconds: u32) -> Self {
        self.0.ticket_ttl_seconds = ticket_seconds;
        self.0.session_ttl_seconds = session_seconds;
        self
    }

    /// The longest password, in bytes, that is hashed at all; longer ones
    /// are wrong passwords without any hashing. At most
    /// [`lockstep_password::MAX_PASSWORD_BYTES`].
    #[must_use]
    pub fn max_password_bytes(mut self, bytes: usize) -> Self {
        self.0.max_password_bytes = bytes;
        self
    }

    /// Compare-and-swap attempts before [`crate::Error::Contention`].
    #[must_use]
    pub fn max_retries(mut self, attempts: u32) -> Self {
        self.0.max_retries = attempts;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] for a zero threshold, validity, lifetime or retry
    /// count, an offset beyond ±14 h, or a setting over its hard cap.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.0;
        if c.password_lock_after == 0 || c.otp_lock_after == 0 {
            return Err(ConfigError::ZeroThreshold);
        }
        if c.password_max_age_days == 0 || c.temporary_password_days == Some(0) {
            return Err(ConfigError::ZeroValidity);
        }
        if c.utc_offset_seconds.unsigned_abs() > 14 * 3600 {
            return Err(ConfigError::BadUtcOffset);
        }
        let caps: [(&'static str, u64, u64); 6] = [
            (
                "acceptance look-ahead",
                c.acceptance.ahead.into(),
                Config::MAX_AHEAD.into(),
            ),
            (
                "resync window",
                c.resync_window.into(),
                Config::MAX_RESYNC_WINDOW.into(),
            ),
            ("drift bound", c.max_drift.into(), Config::MAX_DRIFT.into()),
            (
                "event-token look-ahead",
                c.hotp_look_ahead.into(),
                Config::MAX_HOTP_LOOK_AHEAD.into(),
            ),
            (
                "event-token resync look-ahead",
                c.hotp_resync_look_ahead.into(),
                Config::MAX_HOTP_RESYNC_LOOK_AHEAD.into(),
            ),
            (
                "password size",
                u64::try_from(c.max_password_bytes).unwrap_or(u64::MAX),
                u64::try_from(MAX_PASSWORD_BYTES).unwrap_or(u64::MAX),
            ),
        ];
        if let Some(&(which, value, max)) = caps.iter().find(|(_, value, max)| value > max) {
            return Err(ConfigError::OverCap { which, value, max });
        }
        if c.ticket_ttl_seconds == 0 || c.session_ttl_seconds == 0 {
            return Err(ConfigError::ZeroLifetime);
        }
        if c.max_retries == 0 {
            return Err(ConfigError::ZeroRetries);
        }
        if c.max_drift < c.acceptance.ahead {
            return Err(ConfigError::DriftBelowLookAhead);
        }
        Ok(c)
    }
}
