//! Admission of hashing inputs: a flood costs the flooder, not the
//! customers.
//!
//! A password step holds its admission from before it loads anything to
//! its answer. Past the bound, a step is refused at once with
//! [`crate::Refusal::Busy`]: nothing loaded, nothing written, nothing
//! counted, the same for every user ID. Without a bound a flood of password
//! steps would queue without end behind the hash hook, and every customer's
//! step would wait behind all of it.

use std::sync::atomic::{AtomicUsize, Ordering};

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
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::Admission;

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
