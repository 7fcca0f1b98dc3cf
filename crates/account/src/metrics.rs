//! What the driver measures, through the [`metrics`] facade: nothing is
//! recorded until the embedder installs a recorder (an exporter), and no
//! label ever holds a user ID, an address or a code — only the fixed words
//! below, so that the number of series stays bounded whatever the traffic.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`PASSWORD_STEPS`] | counter | `outcome`: `accepted`, `failed`, `unknown_user`, `locked` |
//! | [`OTP_STEPS`] | counter | `outcome`: `accepted`, `failed`, `replayed`, `locked`, `enrolled`, `enroll_failed`, `resynced`, `resync_failed` |
//! | [`LOCKS_SET`] | counter | `factor`: `password`, `otp` |
//! | [`LOCKS_CLEARED`] | counter | `factor`: `password`, `otp` (the desk's unlocks) |
//! | [`BUSY`] | counter | — |
//! | [`HASH_QUEUE`] | gauge | — (steps waiting for their hash) |
//! | [`HASH_WAIT`] | histogram (seconds) | — |
//! | [`STORE_WRITE`] | histogram (seconds) | — |
//! | [`STORE_CONFLICTS`] | counter | — (compare-and-swaps lost to another writer) |
//!
//! Outcomes are counted from the audit events of writes that committed, so
//! the counters and the audit log agree.

use std::time::Instant;

use crate::{AuditEvent, EventKind, Factor, StoreError};

/// Password steps by outcome.
pub const PASSWORD_STEPS: &str = "lockstep_password_steps_total";
/// OTP steps (login, registration, resync) by outcome.
pub const OTP_STEPS: &str = "lockstep_otp_steps_total";
/// Factors locked by their last allowed failure.
pub const LOCKS_SET: &str = "lockstep_locks_set_total";
/// Factors unlocked by the desk.
pub const LOCKS_CLEARED: &str = "lockstep_locks_cleared_total";
/// Steps refused `Busy` (the hashing admission was full).
pub const BUSY: &str = "lockstep_busy_total";
/// Steps waiting for their hash to start.
pub const HASH_QUEUE: &str = "lockstep_hash_queue_depth";
/// From a step's turn to hash until its hash starts.
pub const HASH_WAIT: &str = "lockstep_hash_wait_seconds";
/// One `Write` to the store, from the call to its answer.
pub const STORE_WRITE: &str = "lockstep_store_write_seconds";
/// Writes refused `Conflict`.
pub const STORE_CONFLICTS: &str = "lockstep_store_conflicts_total";

const fn factor(f: Factor) -> &'static str {
    match f {
        Factor::Password => "password",
        Factor::Otp => "otp",
    }
}

/// The counter and label an event adds to, if any.
const fn counted(kind: &EventKind) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match kind {
        EventKind::PasswordAccepted => (PASSWORD_STEPS, "outcome", "accepted"),
        EventKind::PasswordFailed { .. } => (PASSWORD_STEPS, "outcome", "failed"),
        EventKind::UnknownUser => (PASSWORD_STEPS, "outcome", "unknown_user"),
        EventKind::LockedAttempt {
            factor: Factor::Password,
        } => (PASSWORD_STEPS, "outcome", "locked"),
        EventKind::LockedAttempt {
            factor: Factor::Otp,
        } => (OTP_STEPS, "outcome", "locked"),
        EventKind::OtpAccepted { .. } => (OTP_STEPS, "outcome", "accepted"),
        EventKind::OtpFailed { .. } => (OTP_STEPS, "outcome", "failed"),
        EventKind::OtpReplayed { .. } => (OTP_STEPS, "outcome", "replayed"),
        EventKind::Enrolled { .. } => (OTP_STEPS, "outcome", "enrolled"),
        EventKind::EnrollmentFailed { .. } => (OTP_STEPS, "outcome", "enroll_failed"),
        EventKind::Resynced { .. } => (OTP_STEPS, "outcome", "resynced"),
        EventKind::ResyncFailed { .. } => (OTP_STEPS, "outcome", "resync_failed"),
        EventKind::Locked { factor: f } => (LOCKS_SET, "factor", factor(*f)),
        EventKind::Unlocked { factor: f } => (LOCKS_CLEARED, "factor", factor(*f)),
        _ => return None,
    })
}

/// A write on its way: what it will count if it commits.
pub(crate) struct Writing {
    started: Instant,
    counts: Vec<(&'static str, &'static str, &'static str)>,
}

impl Writing {
    pub(crate) fn of(events: &[AuditEvent]) -> Self {
        Self {
            started: Instant::now(),
            counts: events.iter().filter_map(|e| counted(&e.kind)).collect(),
        }
    }

    pub(crate) fn done(self, result: &Result<(), StoreError>) {
        metrics::histogram!(STORE_WRITE).record(self.started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                for (name, label, value) in self.counts {
                    metrics::counter!(name, label => value).increment(1);
                }
            }
            Err(StoreError::Conflict) => metrics::counter!(STORE_CONFLICTS).increment(1),
            Err(_) => {}
        }
    }
}

/// A step in the hash queue, from its turn until its hash starts.
pub(crate) struct Queued(Instant);

impl Queued {
    pub(crate) fn enter() -> Self {
        metrics::gauge!(HASH_QUEUE).increment(1.0);
        Self(Instant::now())
    }

    /// The hash starts: out of the queue, its wait recorded.
    pub(crate) fn started(self) {
        metrics::histogram!(HASH_WAIT).record(self.0.elapsed().as_secs_f64());
        // `Drop` leaves the queue.
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        metrics::gauge!(HASH_QUEUE).decrement(1.0);
    }
}

pub(crate) fn busy() {
    metrics::counter!(BUSY).increment(1);
}
