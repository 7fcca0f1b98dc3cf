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

use std::sync::OnceLock;
use std::time::Instant;

use metrics::{Key, Label, Level, Metadata};

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

/// Every labelled series an event can add to: (name, label, value). An
/// exporter can register them at 0 from the start ([`describe`] does), so that a rate sees
/// the first one too.
pub const EVENT_SERIES: [(&str, &str, &str); 16] = [
    (PASSWORD_STEPS, "outcome", "accepted"),
    (PASSWORD_STEPS, "outcome", "failed"),
    (PASSWORD_STEPS, "outcome", "unknown_user"),
    (PASSWORD_STEPS, "outcome", "locked"),
    (OTP_STEPS, "outcome", "accepted"),
    (OTP_STEPS, "outcome", "failed"),
    (OTP_STEPS, "outcome", "replayed"),
    (OTP_STEPS, "outcome", "locked"),
    (OTP_STEPS, "outcome", "enrolled"),
    (OTP_STEPS, "outcome", "enroll_failed"),
    (OTP_STEPS, "outcome", "resynced"),
    (OTP_STEPS, "outcome", "resync_failed"),
    (LOCKS_SET, "factor", "password"),
    (LOCKS_SET, "factor", "otp"),
    (LOCKS_CLEARED, "factor", "password"),
    (LOCKS_CLEARED, "factor", "otp"),
];

/// The series of [`EVENT_SERIES`] an event adds to, if any.
const fn counted(kind: &EventKind) -> Option<usize> {
    Some(match kind {
        EventKind::PasswordAccepted => 0,
        EventKind::PasswordFailed { .. } => 1,
        EventKind::UnknownUser => 2,
        EventKind::LockedAttempt {
            factor: Factor::Password,
        } => 3,
        EventKind::OtpAccepted { .. } => 4,
        EventKind::OtpFailed { .. } => 5,
        EventKind::OtpReplayed { .. } => 6,
        EventKind::LockedAttempt {
            factor: Factor::Otp,
        } => 7,
        EventKind::Enrolled { .. } => 8,
        EventKind::EnrollmentFailed { .. } => 9,
        EventKind::Resynced { .. } => 10,
        EventKind::ResyncFailed { .. } => 11,
        EventKind::Locked {
            factor: Factor::Password,
        } => 12,
        EventKind::Locked {
            factor: Factor::Otp,
        } => 13,
        EventKind::Unlocked {
            factor: Factor::Password,
        } => 14,
        EventKind::Unlocked {
            factor: Factor::Otp,
        } => 15,
        _ => return None,
    })
}

/// Where the driver's measurements come from, for a recorder that filters.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Every key the driver records under, built once: a step builds none (the
/// `counter!` macros build a key, labels and all, at each call).
struct Keys {
    events: [Key; EVENT_SERIES.len()],
    busy: Key,
    hash_queue: Key,
    hash_wait: Key,
    store_write: Key,
    store_conflicts: Key,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        events: EVENT_SERIES.map(|(name, label, value)| {
            Key::from_parts(name, vec![Label::from_static_parts(label, value)])
        }),
        busy: Key::from_static_name(BUSY),
        hash_queue: Key::from_static_name(HASH_QUEUE),
        hash_wait: Key::from_static_name(HASH_WAIT),
        store_write: Key::from_static_name(STORE_WRITE),
        store_conflicts: Key::from_static_name(STORE_CONFLICTS),
    })
}

fn counter(key: &Key) -> metrics::Counter {
    metrics::with_recorder(|r| r.register_counter(key, &METADATA))
}

fn histogram(key: &Key) -> metrics::Histogram {
    metrics::with_recorder(|r| r.register_histogram(key, &METADATA))
}

fn gauge(key: &Key) -> metrics::Gauge {
    metrics::with_recorder(|r| r.register_gauge(key, &METADATA))
}

/// Tells the installed recorder what each of the driver's metrics is (help
/// text, units) and sets every counter series of it at 0, so that a rate
/// or an `increase()` alert sees the first lock too (a series that appears
/// with its first event has no earlier sample to rise from). Call it once,
/// after installing the recorder; the metrics of other crates (the web
/// layer's, a store's) are theirs to describe.
pub fn describe() {
    metrics::describe_counter!(PASSWORD_STEPS, "Password steps by outcome.");
    metrics::describe_counter!(
        OTP_STEPS,
        "OTP steps (login, registration, resync) by outcome."
    );
    metrics::describe_counter!(LOCKS_SET, "Factors locked by their last allowed failure.");
    metrics::describe_counter!(LOCKS_CLEARED, "Factors unlocked by the desk.");
    metrics::describe_counter!(BUSY, "Steps refused Busy: the hashing admission was full.");
    metrics::describe_gauge!(
        HASH_QUEUE,
        "Steps waiting for their password hash to start."
    );
    metrics::describe_histogram!(
        HASH_WAIT,
        metrics::Unit::Seconds,
        "From a step's turn to hash until its hash starts."
    );
    metrics::describe_histogram!(
        STORE_WRITE,
        metrics::Unit::Seconds,
        "One write to the account store, from the call to its answer."
    );
    metrics::describe_counter!(STORE_CONFLICTS, "Writes that lost a compare-and-swap.");
    let keys = keys();
    for key in keys
        .events
        .iter()
        .chain([&keys.busy, &keys.store_conflicts])
    {
        counter(key).absolute(0);
    }
    gauge(&keys.hash_queue).set(0.0);
}

/// A write on its way: what it will count if it commits (counts by
/// series, no allocation on the step's path).
pub(crate) struct Writing {
    started: Instant,
    counts: [u32; EVENT_SERIES.len()],
}

impl Writing {
    pub(crate) fn of(events: &[AuditEvent]) -> Self {
        let mut counts = [0_u32; EVENT_SERIES.len()];
        for n in events.iter().filter_map(|e| counted(&e.kind)) {
            if let Some(c) = counts.get_mut(n) {
                *c = c.saturating_add(1);
            }
        }
        Self {
            started: Instant::now(),
            counts,
        }
    }

    pub(crate) fn done(self, result: &Result<(), StoreError>) {
        let keys = keys();
        histogram(&keys.store_write).record(self.started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                for (key, &n) in keys.events.iter().zip(&self.counts) {
                    if n > 0 {
                        counter(key).increment(u64::from(n));
                    }
                }
            }
            Err(StoreError::Conflict) => counter(&keys.store_conflicts).increment(1),
            Err(_) => {}
        }
    }
}

/// A step in the hash queue, from its turn until its hash starts.
pub(crate) struct Queued(Instant);

impl Queued {
    pub(crate) fn enter() -> Self {
        gauge(&keys().hash_queue).increment(1.0);
        Self(Instant::now())
    }

    /// The hash starts: out of the queue, its wait recorded.
    pub(crate) fn started(self) {
        histogram(&keys().hash_wait).record(self.0.elapsed().as_secs_f64());
        // `Drop` leaves the queue.
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        gauge(&keys().hash_queue).decrement(1.0);
    }
}

pub(crate) fn busy() {
    counter(&keys().busy).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each series has one kind of event that counts in it, and the
    /// table's index is the one `counted` gives.
    #[test]
    fn every_series_is_reached_by_its_event_and_no_other() {
        let kinds = [
            EventKind::PasswordAccepted,
            EventKind::PasswordFailed { failures: 1 },
            EventKind::UnknownUser,
            EventKind::LockedAttempt {
                factor: Factor::Password,
            },
            EventKind::OtpAccepted { step: 1, drift: 0 },
            EventKind::OtpFailed { failures: 1 },
            EventKind::OtpReplayed { failures: 1 },
            EventKind::LockedAttempt {
                factor: Factor::Otp,
            },
            EventKind::Enrolled {
                token_id: "VSST12345678".parse().unwrap_or_else(|_| unreachable!()),
                drift: 0,
            },
            EventKind::EnrollmentFailed { failures: 1 },
            EventKind::Resynced {
                token_id: "VSST12345678".parse().unwrap_or_else(|_| unreachable!()),
                drift: 0,
            },
            EventKind::ResyncFailed { failures: 1 },
            EventKind::Locked {
                factor: Factor::Password,
            },
            EventKind::Locked {
                factor: Factor::Otp,
            },
            EventKind::Unlocked {
                factor: Factor::Password,
            },
            EventKind::Unlocked {
                factor: Factor::Otp,
            },
        ];
        let reached: Vec<Option<usize>> = kinds.iter().map(counted).collect();
        let expected: Vec<Option<usize>> = (0..EVENT_SERIES.len()).map(Some).collect();
        assert_eq!(reached, expected);
        for other in [
            EventKind::LoggedIn,
            EventKind::LoggedOut,
            EventKind::PasswordAttempt { failures: 1 },
            EventKind::AttemptNoted,
        ] {
            assert_eq!(counted(&other), None, "{other:?}");
        }
    }

    fn events(kinds: &[EventKind]) -> Vec<AuditEvent> {
        kinds
            .iter()
            .map(|kind| AuditEvent {
                at: 1,
                user_id: "u".into(),
                operator_id: None,
                client: None,
                kind: kind.clone(),
            })
            .collect()
    }

    /// The counters a recorder saw: (name, labels as `k=v`, value).
    fn counters(run: impl FnOnce()) -> Vec<(String, String, u64)> {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, run);
        let mut seen: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) if n > 0 => {
                    let key = key.key();
                    let labels: Vec<String> = key
                        .labels()
                        .map(|l| format!("{}={}", l.key(), l.value()))
                        .collect();
                    Some((key.name().to_owned(), labels.join(","), n))
                }
                _ => None,
            })
            .collect();
        seen.sort();
        seen
    }

    #[test]
    fn a_committed_write_counts_its_events_and_a_refused_one_its_conflict() {
        let written = events(&[
            EventKind::PasswordFailed { failures: 5 },
            EventKind::Locked {
                factor: Factor::Password,
            },
            EventKind::UnknownUser,
            EventKind::UnknownUser,
            EventKind::LoggedIn,
        ]);
        let seen = counters(|| Writing::of(&written).done(&Ok(())));
        let expected = [
            ("lockstep_locks_set_total", "factor=password", 1),
            ("lockstep_password_steps_total", "outcome=failed", 1),
            ("lockstep_password_steps_total", "outcome=unknown_user", 2),
        ]
        .map(|(n, l, v)| (n.to_owned(), l.to_owned(), v));
        assert_eq!(seen, expected);
        let seen = counters(|| Writing::of(&written).done(&Err(StoreError::Conflict)));
        assert_eq!(
            seen,
            [(
                "lockstep_store_conflicts_total".to_owned(),
                String::new(),
                1
            )],
            "a write that lost counts its conflict, not its events"
        );
        let seen = counters(|| Writing::of(&written).done(&Err(StoreError::NotFound)));
        assert!(seen.is_empty(), "{seen:?}");
    }

    /// Recording builds no key and allocates nothing on the step's path
    /// (here with no recorder installed: what is left to an exporter is
    /// the exporter's).
    #[test]
    fn recording_a_step_allocates_nothing() {
        let written = events(&[
            EventKind::OtpAccepted { step: 1, drift: 0 },
            EventKind::PasswordFailed { failures: 1 },
        ]);
        // The keys are built once, at the first use.
        Writing::of(&written).done(&Ok(()));
        let info = allocation_counter::measure(|| {
            Writing::of(&written).done(&Ok(()));
            Writing::of(&written).done(&Err(StoreError::Conflict));
            let queued = Queued::enter();
            queued.started();
            busy();
        });
        assert_eq!(info.count_total, 0, "{info:?}");
    }
}
