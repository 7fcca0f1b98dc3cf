//! The reference model: what the rules say the state should be after each
//! operation, written apart from the machine.

use lockstep_account::{Config, MustChange, Outcome, Stage};

/// The model's token: what belongs to the token, not the account.
#[derive(Debug, Clone, Copy)]
pub(super) struct ModelToken {
    pub(super) failures: u32,
    pub(super) locked: bool,
    pub(super) last_used: u64,
    pub(super) drift: i64,
}

/// The caps and windows of the configuration in use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Caps {
    pub(super) password: u32,
    pub(super) otp: u32,
    pub(super) ticket_ttl: u64,
    pub(super) session_ttl: u64,
    pub(super) grace: u64,
    pub(super) resync_window: i64,
    pub(super) max_drift: i64,
}

impl Caps {
    pub(super) fn of(config: &Config) -> Self {
        Self {
            password: config.password_lock_after(),
            otp: config.otp_lock_after(),
            ticket_ttl: u64::from(config.ticket_ttl_seconds()),
            session_ttl: u64::from(config.session_ttl_seconds()),
            grace: u64::from(config.acceptance().grace_seconds),
            resync_window: i64::from(config.resync_window()),
            max_drift: i64::from(config.max_drift()),
        }
    }
}

/// The reference model: what the rules say the state should be.
#[derive(Debug, Clone, Default)]
pub(super) struct Model {
    pub(super) pw_failures: u32,
    pub(super) pw_locked: bool,
    pub(super) enroll_failures: u32,
    pub(super) enroll_locked: bool,
    pub(super) token: Option<ModelToken>,
    /// The open stage and when its ticket expires.
    pub(super) stage: Option<(Stage, u64)>,
    pub(super) must_change: Option<MustChange>,
    /// Open sessions: the index of the held token, and its expiry.
    pub(super) sessions: Vec<(usize, u64)>,
}

impl Model {
    /// A password attempt, counted first; a right one resets the counter.
    pub(super) fn password_attempt(&mut self, caps: Caps, right: bool) -> bool {
        self.pw_failures = (self.pw_failures + 1).min(caps.password);
        if self.pw_failures == caps.password {
            self.pw_locked = true;
            self.void();
        }
        if right {
            self.pw_failures = 0;
            self.pw_locked = false;
        }
        right
    }

    /// An OTP failure against the token, or the enrollment counter.
    pub(super) fn otp_fail(&mut self, caps: Caps, code: &'static str) -> Expect {
        let (failures, locked) = match self.token.as_mut() {
            Some(tok) => (&mut tok.failures, &mut tok.locked),
            None => (&mut self.enroll_failures, &mut self.enroll_locked),
        };
        *failures = (*failures + 1).min(caps.otp);
        if *failures == caps.otp {
            *locked = true;
            self.void();
            Expect::Refused("token_locked")
        } else {
            Expect::Refused(code)
        }
    }

    pub(super) fn otp_locked(&self) -> bool {
        self.token.map_or(self.enroll_locked, |tok| tok.locked)
    }

    pub(super) fn open(&mut self, stage: Stage, now: u64, caps: Caps) -> Expect {
        self.stage = Some((stage, now + caps.ticket_ttl));
        Expect::Ticket(stage)
    }

    pub(super) fn stage_open(&self, stage: Stage, now: u64) -> bool {
        self.stage.is_some_and(|(s, exp)| s == stage && now <= exp)
    }

    /// A completed login: the stage ends, a session opens.
    pub(super) fn open_session(&mut self, index: usize, now: u64, caps: Caps) {
        self.stage = None;
        self.sessions.retain(|&(_, exp)| now <= exp);
        if self.sessions.len() >= Config::MAX_SESSIONS {
            self.sessions.remove(0);
        }
        self.sessions.push((index, now + caps.session_ttl));
    }

    pub(super) fn session_live(&self, index: Option<usize>, now: u64) -> bool {
        index.is_some_and(|i| self.sessions.iter().any(|&(s, exp)| s == i && now <= exp))
    }

    /// A lock, reset, revoke or password change.
    pub(super) fn void(&mut self) {
        self.stage = None;
        self.sessions.clear();
    }
}

/// What the model expects an operation to produce.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Expect {
    Ticket(Stage),
    LoggedIn,
    Session,
    LoggedOut,
    Changed,
    Done,
    Refused(&'static str),
}

impl Expect {
    pub(super) fn of(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::OtpRequired { .. } | Outcome::Enrolled { .. } | Outcome::Resynced { .. } => {
                Self::Ticket(Stage::Otp)
            }
            Outcome::EnrollmentRequired { .. } => Self::Ticket(Stage::Enroll),
            Outcome::PasswordChangeRequired { .. } => Self::Ticket(Stage::ChangePassword),
            Outcome::LoggedIn(_) => Self::LoggedIn,
            Outcome::SessionOpen(_) => Self::Session,
            Outcome::LoggedOut => Self::LoggedOut,
            Outcome::PasswordChanged(_) => Self::Changed,
            other => other
                .refusal()
                .map_or(Self::Done, |r| Self::Refused(r.code())),
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            Self::Ticket(stage) => format!("ticket:{stage:?}"),
            Self::LoggedIn => "logged_in".to_owned(),
            Self::Session => "session".to_owned(),
            Self::LoggedOut => "logged_out".to_owned(),
            Self::Changed => "changed".to_owned(),
            Self::Done => "done".to_owned(),
            Self::Refused(code) => format!("refused:{code}"),
        }
    }
}
