//! The machine's settings, with the seed's defaults.

use lockstep_otp::{Limits, Window};

/// Settings of the login life cycle. [`Config::default`] is the seed's bank;
/// [`Config::builder`] changes what a deployment must, and refuses
/// contradictions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) password_lock_after: u32,
    pub(crate) otp_lock_after: u32,
    pub(crate) password_max_age_days: u32,
    pub(crate) temporary_password_days: u32,
    pub(crate) utc_offset_seconds: i32,
    pub(crate) login_window: Window,
    pub(crate) enrollment_window: Window,
    pub(crate) resync_window: Window,
    pub(crate) max_drift: u32,
    pub(crate) ticket_ttl_seconds: u32,
    pub(crate) max_retries: u32,
}

impl Default for Config {
    /// | setting | default | source |
    /// |---|---|---|
    /// | password lock | 5th consecutive failure | R-LCK-1 |
    /// | OTP lock | 10th consecutive failure | R-LCK-2 |
    /// | password validity | 90 calendar days, day of setting not counted | R-PWD-6 |
    /// | temporary password validity | 30 calendar days | not in the seed: a password mailed on paper should not live as long as a chosen one |
    /// | time zone for days | UTC+09:00 | the seed's bank is in Japan |
    /// | login window | ±1 step | RFC 6238 §5.2; the seed's "current" code |
    /// | enrollment window | 2 steps behind, 1 ahead, for the pair | R-ENR-3: OTP2 must still be current |
    /// | resync window | ±2880 steps (one day) | bounded search, R-SYN |
    /// | drift bound | 2880 steps (one day) | semantics 5 |
    /// | ticket lifetime | 300 s | one login's stages |
    /// | CAS retries | 8 | then a contention error |
    fn default() -> Self {
        Self {
            password_lock_after: 5,
            otp_lock_after: 10,
            password_max_age_days: 90,
            temporary_password_days: 30,
            utc_offset_seconds: 9 * 3600,
            login_window: Window::symmetric(1),
            enrollment_window: Window::new(2, 1),
            resync_window: Window::symmetric(2880),
            max_drift: 2880,
            ticket_ttl_seconds: 300,
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
    /// A window exceeds what the OTP engine's limits allow.
    #[error("the {which} window exceeds its bound of {max} steps per side")]
    WindowTooWide {
        /// Which window.
        which: &'static str,
        /// The bound.
        max: u32,
    },
    /// A ticket lifetime of zero.
    #[error("the ticket lifetime must be at least one second")]
    ZeroTicketTtl,
    /// No retries at all.
    #[error("at least one compare-and-swap attempt is needed")]
    ZeroRetries,
}

impl Config {
    /// A builder starting from the defaults.
    #[must_use]
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Self::default())
    }

    /// The OTP engine limits implied by this configuration.
    #[must_use]
    pub fn otp_limits(&self) -> Limits {
        Limits {
            max_window: self
                .login_window
                .behind
                .max(self.login_window.ahead)
                .max(self.enrollment_window.behind)
                .max(self.enrollment_window.ahead),
            max_resync_window: self.resync_window.behind.max(self.resync_window.ahead),
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

    /// The calendar day (in the configured offset) of a Unix time.
    pub(crate) fn day(&self, unix: u64) -> i64 {
        let local = i128::from(unix) + i128::from(self.utc_offset_seconds);
        i64::try_from(local.div_euclid(86_400)).unwrap_or(i64::MAX)
    }

    /// Whether something set at `set_at` and valid for `days` calendar days
    /// (the day of setting not counted) has expired at `now`: valid through
    /// the end of day `D + days`.
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

    /// Validity of chosen and of temporary passwords, in calendar days.
    #[must_use]
    pub fn password_validity_days(mut self, chosen: u32, temporary: u32) -> Self {
        self.0.password_max_age_days = chosen;
        self.0.temporary_password_days = temporary;
        self
    }

    /// The UTC offset in seconds in which calendar days are counted.
    #[must_use]
    pub fn utc_offset_seconds(mut self, offset: i32) -> Self {
        self.0.utc_offset_seconds = offset;
        self
    }

    /// The login, enrollment and resync windows.
    #[must_use]
    pub fn windows(mut self, login: Window, enrollment: Window, resync: Window) -> Self {
        self.0.login_window = login;
        self.0.enrollment_window = enrollment;
        self.0.resync_window = resync;
        self
    }

    /// The largest drift, in steps, that resync may adopt.
    #[must_use]
    pub fn max_drift(mut self, steps: u32) -> Self {
        self.0.max_drift = steps;
        self
    }

    /// The login ticket lifetime in seconds.
    #[must_use]
    pub fn ticket_ttl_seconds(mut self, seconds: u32) -> Self {
        self.0.ticket_ttl_seconds = seconds;
        self
    }

    /// Compare-and-swap attempts before [`crate::AuthError::Contention`].
    #[must_use]
    pub fn max_retries(mut self, attempts: u32) -> Self {
        self.0.max_retries = attempts;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] for a zero threshold, validity, ticket lifetime or
    /// retry count, an offset beyond ±14 h, a login or enrollment window wider
    /// than 10 steps a side, or a resync window wider than its drift bound.
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.0;
        if c.password_lock_after == 0 || c.otp_lock_after == 0 {
            return Err(ConfigError::ZeroThreshold);
        }
        if c.password_max_age_days == 0 || c.temporary_password_days == 0 {
            return Err(ConfigError::ZeroValidity);
        }
        if c.utc_offset_seconds.unsigned_abs() > 14 * 3600 {
            return Err(ConfigError::BadUtcOffset);
        }
        for (which, w, max) in [
            ("login", c.login_window, 10),
            ("enrollment", c.enrollment_window, 10),
            ("resync", c.resync_window, c.max_drift),
        ] {
            if w.behind > max || w.ahead > max {
                return Err(ConfigError::WindowTooWide { which, max });
            }
        }
        if c.ticket_ttl_seconds == 0 {
            return Err(ConfigError::ZeroTicketTtl);
        }
        if c.max_retries == 0 {
            return Err(ConfigError::ZeroRetries);
        }
        Ok(c)
    }
}
