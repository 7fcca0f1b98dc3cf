//! Admission of hashing inputs: a flood costs the flooder, not the
//! customers.
//!
//! A password step holds its admission from before it loads anything to
//! its answer. Past the bound, a step is refused at once with
//! [`crate::Refusal::Busy`]: nothing loaded, nothing written, nothing
//! counted, the same for every user ID. Without a bound a flood of password
//! steps would queue without end behind the hash hook, and every customer's
//! step would wait behind all of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::turns::{Turn, Turns};

/// How many hashing steps may be in flight at once.
#[derive(Debug)]
pub(crate) struct Admission {
    in_flight: AtomicUsize,
    bound: usize,
}

/// A step's place; given back on drop (also when the step is cancelled).
#[derive(Debug)]
pub(crate) struct Admitted<'a>(&'a Admission);

impl Admission {
    /// At most `bound` (at least 1) at once.
    pub(crate) fn new(bound: usize) -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            bound: bound.max(1),
        }
    }

    /// A place, or `None` when every place is taken.
    pub(crate) fn try_enter(&self) -> Option<Admitted<'_>> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.bound).then_some(n + 1)
            })
            .ok()
            .map(|_| Admitted(self))
    }

    /// The bound.
    pub(crate) const fn bound(&self) -> usize {
        self.bound
    }

    /// A place for work that outlives its step (an owed hash handed to the
    /// hook after its caller left), whatever the bound: the step's own
    /// place is given back as this one is taken, so the count stays the
    /// work in flight.
    pub(crate) fn hold(self: &Arc<Self>) -> Held {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Held(Arc::clone(self))
    }
}

/// A place held by detached work; given back on drop.
#[derive(Debug)]
pub(crate) struct Held(Arc<Admission>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One queue per typed user ID for the steps that count password attempts:
/// they run one at a time per ID, whatever the ID, so that concurrent
/// guesses on a real account never race its compare-and-swap (which would
/// show as retries, latency and, past the retry bound, errors that an
/// unknown ID never gets). Queues exist only while a step waits or runs.
#[derive(Debug, Default)]
pub(crate) struct Lanes(Mutex<HashMap<String, (Arc<Turns>, usize)>>);

/// A step's turn in its user ID's lane, or its place in the line for one;
/// leaving (dropped) gives both back.
pub(crate) struct Lane<'a> {
    lanes: &'a Lanes,
    key: String,
    turn: Option<Turn>,
}

impl Lanes {
    /// Waits (as a task, first come first served) for `key`'s turn.
    pub(crate) async fn enter(&self, key: &str) -> Lane<'_> {
        let lane = {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = map
                .entry(key.to_owned())
                .or_insert_with(|| (Arc::new(Turns::new(1)), 0));
            entry.1 = entry.1.saturating_add(1);
            Arc::clone(&entry.0)
        };
        let mut held = Lane {
            lanes: self,
            key: key.to_owned(),
            turn: None,
        };
        held.turn = Some(lane.acquire().await);
        held
    }
}

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        drop(self.turn.take());
        let mut map = self.lanes.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = map.get_mut(&self.key) {
            entry.1 = entry.1.saturating_sub(1);
            // Nobody left in this lane: it goes.
            if entry.1 == 0 {
                map.remove(&self.key);
            }
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::future::Future as _;

    use super::Admission;

    #[test]
    fn lanes_serialise_one_key_and_are_removed_when_empty() {
        let lanes = super::Lanes::default();
        let cx = &mut std::task::Context::from_waker(std::task::Waker::noop());
        let mut first = Box::pin(lanes.enter("u1"));
        let first = match first.as_mut().poll(cx) {
            std::task::Poll::Ready(lane) => lane,
            std::task::Poll::Pending => panic!("an empty lane makes its first step wait"),
        };
        let mut second = Box::pin(lanes.enter("u1"));
        assert!(
            second.as_mut().poll(cx).is_pending(),
            "one step at a time per ID"
        );
        let mut other = Box::pin(lanes.enter("u2"));
        assert!(other.as_mut().poll(cx).is_ready(), "other IDs do not wait");
        drop(first);
        assert!(second.as_mut().poll(cx).is_ready(), "the next step's turn");
        drop(second);
        drop(other);
        assert!(
            lanes.0.lock().unwrap().is_empty(),
            "lanes are removed when nobody waits"
        );
    }

    #[test]
    fn places_are_bounded_and_given_back() {
        let a = Admission::new(2);
        let first = a.try_enter();
        let second = a.try_enter();
        assert!(first.is_some() && second.is_some());
        assert!(a.try_enter().is_none(), "a third place past a bound of two");
        drop(first);
        assert!(a.try_enter().is_some(), "a place given back is taken again");
    }
}
