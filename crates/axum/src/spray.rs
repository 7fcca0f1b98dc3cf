//! Password spraying: one client trying one password against many user
//! IDs. No per-account lock sees it (each ID fails once or twice), and the
//! per-client budget lets through what an office behind one NAT needs. The
//! watch counts, per client address (an IPv6 client by its /64), the
//! distinct user IDs its failed password steps named within a window (a
//! failure reads the same whether the ID exists or not; a step that
//! passes counts not: customers logging in from one office are no spray); past
//! [`SprayLimits::distinct_ids`] the client is flagged: once per window an
//! audit event ([`lockstep_account::EventKind::SprayFlagged`]) and the
//! counter [`FLAGGED`], and, while flagged, its password steps keep to a
//! far smaller budget ([`SprayLimits::flagged_passwords`]). An event the
//! store did not take is owed: one of the client's later password steps,
//! at most one each [`SprayLimits::event_retry`], writes it again.
//!
//! Bounded in memory whatever the traffic: IDs are kept as 64-bit keyed
//! hashes, at most `distinct_ids + 1` per client, and at most
//! [`SprayLimits::max_clients`] clients (past it, the quiet ones are
//! forgotten first; a client not tracked is not flagged, and still has
//! every other budget).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::Quota;

use crate::limits::{quota, subscriber};

/// Spray flags recorded in the audit log (a counter, no label): one per
/// flagged client and window, counted when its event is written.
pub const FLAGGED: &str = "lockstep_spray_flagged_total";

/// The most distinct user IDs a threshold may name (what a client's entry
/// holds is bounded by it).
pub const MAX_DISTINCT_IDS: u32 = 1024;

/// How often a full table is swept at most; between sweeps a new client
/// takes the place of one not flagged.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// When a client is a sprayer, and what it may do then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SprayLimits {
    /// Flagged when a client names more distinct user IDs than this within
    /// `window` (at most [`MAX_DISTINCT_IDS`]; 0 turns the watch off).
    pub distinct_ids: u32,
    /// The window.
    pub window: Duration,
    /// The password budget of a flagged client (instead of its usual one),
    /// for a window after the flag; `None` keeps its usual budget.
    pub flagged_passwords: Option<Quota>,
    /// How many clients are tracked at most.
    pub max_clients: usize,
    /// After a flag's audit event failed to be written, how long until a
    /// later password step of the client writes it again (one write at a
    /// time per client, whatever it sends meanwhile).
    pub event_retry: Duration,
}

impl Default for SprayLimits {
    /// More than 20 distinct user IDs in 10 minutes (a family or an
    /// office behind one address uses a handful), then one password step
    /// a minute.
    fn default() -> Self {
        Self {
            distinct_ids: 20,
            window: Duration::from_secs(600),
            flagged_passwords: Some(quota(1, Duration::from_secs(60))),
            max_clients: 65_536,
            event_retry: Duration::from_secs(30),
        }
    }
}

/// What the watch says of one password step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Nothing unusual.
    Fine,
    /// The client's flag's event is to be written by this step: the client
    /// is flagged by it (`distinct` IDs in the window), or it was flagged
    /// and the event is owed (the store did not take it).
    Flagged { distinct: u32 },
    /// The client was flagged before, within a window.
    StillFlagged,
}

struct Client {
    since: Instant,
    ids: HashSet<u64>,
    flagged_until: Option<Instant>,
    /// The distinct IDs that flagged it (what its event says, written
    /// again if owed, whatever the window's count is by then).
    flagged_with: u32,
    event: Event,
}

impl Client {
    fn flagged(&self, now: Instant) -> bool {
        self.flagged_until.is_some_and(|until| until > now)
    }

    /// What a step sees of a client already counted: flagged or not, and
    /// an owed event due (taken by this step: one write at a time).
    fn flag_now(&mut self, now: Instant) -> Seen {
        if !self.flagged(now) {
            return Seen::Fine;
        }
        match self.event {
            Event::Owed(from) if from <= now => {
                self.event = Event::Writing;
                Seen::Flagged {
                    distinct: self.flagged_with,
                }
            }
            _ => Seen::StillFlagged,
        }
    }
}

/// Where a flagged client's audit event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// Written (or no flag).
    Settled,
    /// Being written by a step.
    Writing,
    /// Not written: owed, to be written again from then on.
    Owed(Instant),
}

pub(crate) struct SprayWatch {
    pub(crate) limits: SprayLimits,
    key: RandomState,
    clients: Mutex<Table>,
}

struct Table {
    clients: HashMap<IpAddr, Client>,
    swept: Option<Instant>,
}

impl core::fmt::Debug for SprayWatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SprayWatch")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl SprayWatch {
    pub(crate) fn new(limits: SprayLimits) -> Self {
        Self {
            limits,
            key: RandomState::new(),
            clients: Mutex::new(Table {
                clients: HashMap::new(),
                swept: None,
            }),
        }
    }

    /// A password step from `client` at `now`: before it runs, `failed`
    /// is `None` (the client's flag, and an event owed); once it was
    /// refused as invalid credentials, `Some(user_id)` counts the ID it
    /// named. Only failures count: people behind one address who log in
    /// are no spray, and the refusal is the same whether the ID exists or
    /// not, so the watch tells a sprayer nothing its answers did not.
    pub(crate) fn password_step(&self, client: IpAddr, failed: Option<&str>, now: Instant) -> Seen {
        if self.limits.distinct_ids == 0 {
            return Seen::Fine;
        }
        let window = self.limits.window;
        let cap = usize::try_from(self.limits.distinct_ids.min(MAX_DISTINCT_IDS))
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let mut table = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let key = subscriber(client);
        let Some(user_id) = failed else {
            return match table.clients.get_mut(&key) {
                Some(seen) => seen.flag_now(now),
                None => Seen::Fine,
            };
        };
        if !table.clients.contains_key(&key) && table.clients.len() >= self.limits.max_clients {
            table.make_room(now, window);
            if table.clients.len() >= self.limits.max_clients {
                return Seen::Fine;
            }
        }
        let seen = table.clients.entry(key).or_insert_with(|| Client {
            since: now,
            ids: HashSet::new(),
            flagged_until: None,
            flagged_with: 0,
            event: Event::Settled,
        });
        if now.duration_since(seen.since) >= window {
            seen.since = now;
            seen.ids.clear();
        }
        if seen.ids.len() < cap {
            seen.ids.insert(self.key.hash_one(user_id));
        }
        if seen.ids.len() >= cap && !seen.flagged(now) {
            seen.flagged_until = Some(now + window);
            seen.flagged_with = u32::try_from(seen.ids.len()).unwrap_or(u32::MAX);
            seen.event = Event::Writing;
            return Seen::Flagged {
                distinct: seen.flagged_with,
            };
        }
        seen.flag_now(now)
    }

    /// `client`'s flag's event was written (counted in [`FLAGGED`]).
    pub(crate) fn recorded(&self, client: IpAddr) {
        self.settle(client, Event::Settled);
        metrics::counter!(FLAGGED).increment(1);
    }

    /// `client`'s flag's event could not be written at `now`: it is owed,
    /// written again by a password step of the client from
    /// [`SprayLimits::event_retry`] on (while the flag lasts).
    pub(crate) fn not_recorded(&self, client: IpAddr, now: Instant) {
        self.settle(client, Event::Owed(now + self.limits.event_retry));
    }

    fn settle(&self, client: IpAddr, event: Event) {
        let mut table = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(seen) = table.clients.get_mut(&subscriber(client)) {
            seen.event = event;
        }
    }
}

impl Table {
    /// Room for one more client: the quiet (window over, no flag) are
    /// forgotten, at most once per [`SWEEP_EVERY`] (a sweep reads the whole
    /// table); between sweeps one client not flagged gives its place.
    fn make_room(&mut self, now: Instant, window: Duration) {
        if self
            .swept
            .is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY)
        {
            self.swept = Some(now);
            self.clients.retain(|_, c| {
                now.duration_since(c.since) < window || c.flagged_until.is_some_and(|u| u > now)
            });
            return;
        }
        let unflagged = self
            .clients
            .iter()
            .find(|(_, c)| c.flagged_until.is_none_or(|u| u <= now))
            .map(|(k, _)| *k);
        if let Some(k) = unflagged {
            self.clients.remove(&k);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn watch(n: u32, max_clients: usize) -> SprayWatch {
        SprayWatch::new(SprayLimits {
            distinct_ids: n,
            window: Duration::from_secs(60),
            flagged_passwords: None,
            max_clients,
            event_retry: Duration::from_secs(10),
        })
    }

    #[test]
    fn more_than_n_distinct_ids_flag_once_per_window() {
        let w = watch(3, 16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t = Instant::now();
        for id in ["a", "b", "c", "a", "b", "c", "c"] {
            assert_eq!(
                w.password_step(ip, Some(id), t),
                Seen::Fine,
                "{id}: three IDs, however often"
            );
        }
        assert_eq!(
            w.password_step(ip, Some("d"), t),
            Seen::Flagged { distinct: 4 }
        );
        assert_eq!(w.password_step(ip, Some("e"), t), Seen::StillFlagged);
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(
            w.password_step(other, Some("z"), t),
            Seen::Fine,
            "another client is its own"
        );
        let later = t + Duration::from_secs(61);
        assert_eq!(
            w.password_step(ip, Some("f"), later),
            Seen::Fine,
            "a new window, the flag run out"
        );
    }

    #[test]
    fn zero_turns_it_off_and_a_threshold_is_capped() {
        let w = watch(0, 16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t = Instant::now();
        for n in 0..50 {
            assert_eq!(
                w.password_step(ip, Some(n.to_string().as_str()), t),
                Seen::Fine
            );
        }
        let w = watch(u32::MAX, 16);
        let flagged = (0..=MAX_DISTINCT_IDS)
            .map(|n| w.password_step(ip, Some(n.to_string().as_str()), t))
            .filter(|s| *s != Seen::Fine)
            .count();
        assert_eq!(
            flagged, 1,
            "flagged at the cap, holding at most cap + 1 IDs"
        );
    }

    #[test]
    fn an_event_not_written_is_owed_and_written_again_once_at_a_time() {
        let w = watch(2, 16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t = Instant::now();
        for id in ["a", "b"] {
            assert_eq!(w.password_step(ip, Some(id), t), Seen::Fine);
        }
        assert_eq!(
            w.password_step(ip, Some("c"), t),
            Seen::Flagged { distinct: 3 }
        );
        assert_eq!(
            w.password_step(ip, Some("d"), t),
            Seen::StillFlagged,
            "one write at a time"
        );
        w.not_recorded(ip, t);
        let soon = t + Duration::from_secs(5);
        assert_eq!(
            w.password_step(ip, Some("a"), soon),
            Seen::StillFlagged,
            "not before the retry time, however many steps"
        );
        let then = t + Duration::from_secs(10);
        assert_eq!(
            w.password_step(ip, Some("a"), then),
            Seen::Flagged { distinct: 3 },
            "owed: written again"
        );
        assert_eq!(w.password_step(ip, Some("a"), then), Seen::StillFlagged);
        w.recorded(ip);
        let later = t + Duration::from_secs(30);
        assert_eq!(
            w.password_step(ip, Some("a"), later),
            Seen::StillFlagged,
            "written: nothing owed"
        );
    }

    #[test]
    fn an_owed_event_says_the_count_that_flagged_the_client() {
        let w = watch(2, 16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t = Instant::now();
        let at = |s: u64| t + Duration::from_secs(s);
        assert_eq!(w.password_step(ip, Some("a"), at(0)), Seen::Fine);
        assert_eq!(w.password_step(ip, Some("b"), at(30)), Seen::Fine);
        assert_eq!(
            w.password_step(ip, Some("c"), at(30)),
            Seen::Flagged { distinct: 3 }
        );
        w.not_recorded(ip, at(30));
        // Past the counting window (its IDs forgotten), within the flag's.
        assert_eq!(
            w.password_step(ip, Some("x"), at(61)),
            Seen::Flagged { distinct: 3 },
            "the count that flagged it, not the new window's one ID"
        );
        w.not_recorded(ip, at(61));
        assert_eq!(
            w.password_step(ip, None, at(71)),
            Seen::Flagged { distinct: 3 },
            "due before a step as after one"
        );
    }

    #[test]
    fn before_a_step_nothing_is_counted_or_kept() {
        let w = watch(1, 16);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t = Instant::now();
        for _ in 0..5 {
            assert_eq!(w.password_step(ip, None, t), Seen::Fine);
        }
        assert_eq!(w.clients.lock().unwrap().clients.len(), 0, "no entry kept");
        assert_eq!(w.password_step(ip, Some("a"), t), Seen::Fine);
        assert_eq!(
            w.password_step(ip, Some("b"), t),
            Seen::Flagged { distinct: 2 }
        );
        assert_eq!(w.password_step(ip, None, t), Seen::StillFlagged);
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let w = watch(2, 16);
        let t = Instant::now();
        for (n, id) in ["a", "b"].iter().enumerate() {
            let ip: IpAddr = format!("2001:db8:1:2::{n}").parse().unwrap();
            assert_eq!(w.password_step(ip, Some(id), t), Seen::Fine);
        }
        let ip: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        assert_eq!(
            w.password_step(ip, Some("c"), t),
            Seen::Flagged { distinct: 3 }
        );
    }

    #[test]
    fn the_table_is_bounded_and_the_quiet_are_forgotten_first() {
        let w = watch(1, 4);
        let t = Instant::now();
        for n in 0..4 {
            let ip: IpAddr = format!("198.51.100.{n}").parse().unwrap();
            w.password_step(ip, Some("x"), t);
        }
        let fifth: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(
            w.password_step(fifth, Some("x"), t),
            Seen::Fine,
            "full, swept, nobody quiet yet: not tracked"
        );
        // Before the next sweep is due, a new client takes the place of
        // one not flagged.
        assert_eq!(w.password_step(fifth, Some("y"), t), Seen::Fine);
        assert_eq!(
            w.password_step(fifth, Some("z"), t),
            Seen::Flagged { distinct: 2 }
        );
        assert_eq!(w.clients.lock().unwrap().clients.len(), 4);
        let later = t + Duration::from_secs(61);
        let seventh: IpAddr = "198.51.100.11".parse().unwrap();
        w.password_step(seventh, Some("x"), later);
        assert_eq!(
            w.password_step(seventh, Some("y"), later),
            Seen::Flagged { distinct: 2 },
            "tracked once the quiet were forgotten"
        );
        assert!(w.clients.lock().unwrap().clients.len() <= 4);
    }
}
