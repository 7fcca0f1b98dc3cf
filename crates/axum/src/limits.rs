//! Abuse limits on the login's steps (governor's GCRA): per client address
//! on every step, and per user ID on the password step. A request past
//! either is answered `429 Too Many Requests` with `Retry-After` before
//! anything is hashed, looked up or written.
//!
//! Both are bounded in memory whatever the traffic: user IDs are counted
//! in 65,536 buckets under a key drawn at start (an attacker cannot aim a
//! flood of made-up IDs at one real ID's bucket), and addresses — IPv6 by
//! their /64, what one subscriber holds — are forgotten once their budget
//! is whole again. An IPv6 /48 (what one site or cloud tenant holds:
//! 65,536 /64s) has a budget of its own too, sixteen times a client's, so
//! that hopping between /64s buys little.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};

use crate::spray::{SprayLimits, SprayWatch};

/// How many user-ID buckets there are.
const USER_BUCKETS: u32 = 1 << 16;

/// Every how many checks forgotten addresses are swept.
const SWEEP_EVERY: u64 = 4096;

/// The budgets of [`crate::Login`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Every POST of the login from one client address (an IPv6 client by
    /// its /64).
    pub per_client: Quota,
    /// Password steps from one client address: each costs a hash, the
    /// service's scarcest resource, so they have a budget of their own
    /// within `per_client`.
    pub password_per_client: Quota,
    /// Password steps naming one user ID, from anywhere.
    pub per_user_id: Quota,
    /// How long a request past a budget waits for its `429` (at most its
    /// `Retry-After`). A client that ignores `Retry-After` and asks again at
    /// once then asks once per this delay per connection, instead of as
    /// fast as the service can refuse: a waiting answer holds a timer, not
    /// a core. Zero answers at once.
    pub refusal_delay: Duration,
    /// When a client counts as spraying passwords over many user IDs, and
    /// its password budget then (see [`crate::spray`]).
    pub spray: SprayLimits,
}

impl Default for Limits {
    /// Per client: 20 posts at once, then one every 500 ms (a login takes
    /// 2–4 posts), of which password steps 10 at once, then one every 3 s
    /// (twenty logins a minute: an office behind one NAT still fits, while
    /// 64 flooding addresses stay under what one hashing core absorbs). Per
    /// user ID: 10 at once, then one every 6 s (the manual locks after 6
    /// wrong passwords anyway; this keeps one ID from taking the hash
    /// queue).
    fn default() -> Self {
        Self {
            per_client: quota(20, Duration::from_millis(500)),
            password_per_client: quota(10, Duration::from_secs(3)),
            per_user_id: quota(10, Duration::from_secs(6)),
            refusal_delay: Duration::from_secs(1),
            spray: SprayLimits::default(),
        }
    }
}

impl Limits {
    /// Limits so high they never bite: for tests of other things.
    #[must_use]
    pub fn unlimited() -> Self {
        let q = quota(u32::MAX, Duration::from_nanos(1));
        Self {
            per_client: q,
            password_per_client: q,
            per_user_id: q,
            refusal_delay: Duration::ZERO,
            spray: SprayLimits {
                distinct_ids: 0,
                flagged_passwords: None,
                ..SprayLimits::default()
            },
        }
    }
}

/// `burst` at once, then one every `period` (a zero burst reads as one, a
/// zero period as one nanosecond).
#[must_use]
pub fn quota(burst: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let period = period.max(Duration::from_nanos(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

type Keyed<K> = RateLimiter<
    K,
    governor::state::keyed::DefaultKeyedStateStore<K>,
    DefaultClock,
    governor::middleware::NoOpMiddleware<<DefaultClock as Clock>::Instant>,
>;

/// The limiters.
pub(crate) struct Limiter {
    pub(crate) refusal_delay: Duration,
    clients: Keyed<IpAddr>,
    sites: Keyed<IpAddr>,
    passwords: Keyed<IpAddr>,
    users: Keyed<u32>,
    pub(crate) spray: SprayWatch,
    flagged: Option<Keyed<IpAddr>>,
    key: RandomState,
    checks: AtomicU64,
    clock: DefaultClock,
}

impl core::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Limiter")
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl Limiter {
    pub(crate) fn new(limits: Limits) -> Self {
        let clock = DefaultClock::default();
        let site = Quota::with_period(limits.per_client.replenish_interval() / 16)
            .unwrap_or(limits.per_client)
            .allow_burst(
                limits
                    .per_client
                    .burst_size()
                    .saturating_mul(NonZeroU32::new(16).unwrap_or(NonZeroU32::MIN)),
            );
        Self {
            refusal_delay: limits.refusal_delay,
            clients: RateLimiter::new(limits.per_client, Default::default(), clock.clone()),
            sites: RateLimiter::new(site, Default::default(), clock.clone()),
            passwords: RateLimiter::new(
                limits.password_per_client,
                Default::default(),
                clock.clone(),
            ),
            users: RateLimiter::new(limits.per_user_id, Default::default(), clock.clone()),
            spray: SprayWatch::new(limits.spray),
            flagged: limits
                .spray
                .flagged_passwords
                .map(|q| RateLimiter::new(q, Default::default(), clock.clone())),
            key: RandomState::new(),
            checks: AtomicU64::new(0),
            clock,
        }
    }

    /// One request from `client`: `Err(seconds to wait)` past its budget.
    pub(crate) fn client(&self, client: IpAddr) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.clients.retain_recent();
            self.sites.retain_recent();
            self.passwords.retain_recent();
            if let Some(flagged) = &self.flagged {
                flagged.retain_recent();
            }
        }
        let wait = |n: governor::NotUntil<_>| seconds(n.wait_time_from(self.clock.now()));
        if let Some(site) = site(client) {
            self.sites.check_key(&site).map_err(wait)?;
        }
        self.clients.check_key(&subscriber(client)).map_err(wait)
    }

    /// One password step from `client`: `Err(seconds to wait)` past its
    /// password budget (checked after [`Limiter::client`]).
    pub(crate) fn password_from(&self, client: IpAddr) -> Result<(), u64> {
        self.passwords
            .check_key(&subscriber(client))
            .map_err(|n| seconds(n.wait_time_from(self.clock.now())))
    }

    /// One password step naming `user_id`: `Err(seconds to wait)` past its
    /// bucket's budget.
    pub(crate) fn user_id(&self, user_id: &str) -> Result<(), u64> {
        let bucket =
            u32::try_from(self.key.hash_one(user_id) % u64::from(USER_BUCKETS)).unwrap_or_default();
        self.users
            .check_key(&bucket)
            .map_err(|n| seconds(n.wait_time_from(self.clock.now())))
    }

    /// One password step from a flagged `client`: `Err(seconds to wait)`
    /// past the flagged budget (none configured: always `Ok`).
    pub(crate) fn flagged_password(&self, client: IpAddr) -> Result<(), u64> {
        match &self.flagged {
            Some(flagged) => flagged
                .check_key(&subscriber(client))
                .map_err(|n| seconds(n.wait_time_from(self.clock.now()))),
            None => Ok(()),
        }
    }

    #[cfg(test)]
    fn clients_held(&self) -> usize {
        self.clients.len()
    }
}

/// A client's address as the limits and the spray watch count it: IPv4 as
/// it is, IPv6 by its /64 (an IPv4-mapped one as its IPv4), since one
/// subscriber is given a whole /64. A spray flag's audit event names this
/// address; a screen that lists clients by exact address can match its
/// rows to a flag with it.
#[must_use]
pub fn subscriber(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                if let Some(host) = octets.get_mut(8..) {
                    host.fill(0);
                }
                IpAddr::from(octets)
            }
        },
    }
}

/// The /48 of an IPv6 client (not an IPv4-mapped one).
fn site(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let mut octets = v6.octets();
            if let Some(rest) = octets.get_mut(6..) {
                rest.fill(0);
            }
            Some(IpAddr::from(octets))
        }
        _ => None,
    }
}

/// A wait in whole seconds, at least one.
fn seconds(wait: Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::{Limiter, Limits, quota, subscriber};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_past_its_burst_waits_and_others_do_not() {
        let limiter = Limiter::new(Limits {
            per_client: quota(3, Duration::from_secs(60)),
            ..Limits::default()
        });
        for _ in 0..3 {
            assert!(limiter.client(ip("192.0.2.1")).is_ok());
        }
        let wait = limiter.client(ip("192.0.2.1")).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(limiter.client(ip("192.0.2.2")).is_ok());
        // One IPv6 subscriber is one client, whatever its host part.
        for n in 0..3 {
            assert!(limiter.client(ip(&format!("2001:db8::{n}"))).is_ok());
        }
        assert!(limiter.client(ip("2001:db8::ffff")).is_err());
        assert!(limiter.client(ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn user_ids_have_budgets_of_their_own() {
        let limiter = Limiter::new(Limits {
            per_user_id: quota(2, Duration::from_secs(60)),
            ..Limits::default()
        });
        assert!(limiter.user_id("alice").is_ok());
        assert!(limiter.user_id("alice").is_ok());
        assert!(limiter.user_id("alice").is_err());
        // 2,000 other IDs: at most a handful share alice's bucket, so
        // nearly all pass (two each).
        let refused = (0..2000)
            .filter(|n| limiter.user_id(&format!("user{n}")).is_err())
            .count();
        assert!(refused < 20, "{refused}");
    }

    #[test]
    fn addresses_are_forgotten_once_their_budget_is_whole() {
        let limiter = Limiter::new(Limits {
            per_client: quota(5, Duration::from_millis(1)),
            ..Limits::default()
        });
        for n in 0..5000_u32 {
            let _ = limiter.client(IpAddr::from((0x0A00_0000 + n).to_be_bytes()));
        }
        std::thread::sleep(Duration::from_millis(20));
        for _ in 0..super::SWEEP_EVERY {
            let _ = limiter.client(ip("192.0.2.9"));
        }
        assert!(limiter.clients_held() < 100, "{}", limiter.clients_held());
    }

    #[test]
    fn hopping_between_slash_64s_of_one_slash_48_is_cut_at_its_budget() {
        let limiter = Limiter::new(Limits {
            per_client: quota(2, Duration::from_secs(60)),
            ..Limits::default()
        });
        // 2 per /64, 32 per /48: 100 different /64s get 32 through.
        let passed = (0..100_u16)
            .filter(|n| limiter.client(ip(&format!("2001:db8:1:{n:x}::1"))).is_ok())
            .count();
        assert_eq!(passed, 32);
        assert!(limiter.client(ip("2001:db8:2::1")).is_ok(), "another /48");
    }

    #[test]
    fn ipv6_is_limited_by_its_slash_64() {
        assert_eq!(subscriber(ip("2001:db8::1:2:3:4")), ip("2001:db8::"));
        assert_eq!(subscriber(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(subscriber(ip("192.0.2.7")), ip("192.0.2.7"));
    }
}
