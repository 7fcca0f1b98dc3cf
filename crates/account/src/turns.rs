//! A fair queue of turns: a counting semaphore that hands its permits out
//! strictly in the order they were asked for, on any async runtime.
//!
//! Why not a general-purpose semaphore: the usual ones let a task that just
//! gave a permit back take it again before the tasks already waiting (they
//! retry on wake-up, and the fastest wins). Under a flood of password steps
//! that lets the flood's own hot loops overtake a customer's step again and
//! again, and how long a step waits then depends on who it is — the
//! opposite of "every password step waits in the same queue". Here a
//! permit given back goes to the oldest waiter, and only a caller that
//! finds nobody waiting may take a free one at once.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Where one waiter stands.
#[derive(Debug)]
enum Place {
    /// In the queue; woken through this waker when its turn comes.
    Waiting(Option<Waker>),
    /// Its turn came: a permit is its own.
    Granted,
}

#[derive(Debug)]
struct State {
    free: usize,
    queue: VecDeque<Arc<Mutex<Place>>>,
}

/// Permits handed out first come, first served.
#[derive(Debug)]
pub(crate) struct Turns(Arc<Mutex<State>>);

/// A permit; given back (to the oldest waiter, if any) on drop.
#[derive(Debug)]
pub(crate) struct Turn(Arc<Mutex<State>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Turns {
    /// `permits` at once (at least 1).
    pub(crate) fn new(permits: usize) -> Self {
        Self(Arc::new(Mutex::new(State {
            free: permits.max(1),
            queue: VecDeque::new(),
        })))
    }

    /// Waits (as a task) for a turn, behind everyone who asked before.
    pub(crate) fn acquire(&self) -> Acquire {
        Acquire {
            state: Arc::clone(&self.0),
            place: None,
        }
    }
}

/// Hands a permit to the oldest waiter, or makes it free.
fn give_back(state: &Mutex<State>) {
    let mut s = lock(state);
    while let Some(place) = s.queue.pop_front() {
        let mut p = lock(&place);
        if let Place::Waiting(waker) = &mut *p {
            let waker = waker.take();
            *p = Place::Granted;
            drop(p);
            if let Some(w) = waker {
                w.wake();
            }
            return;
        }
    }
    s.free = s.free.saturating_add(1);
}

impl Drop for Turn {
    fn drop(&mut self) {
        give_back(&self.0);
    }
}

/// The future of [`Turns::acquire`]. Dropped before its turn came, it
/// leaves the queue; dropped after, it gives the permit on.
#[derive(Debug)]
pub(crate) struct Acquire {
    state: Arc<Mutex<State>>,
    place: Option<Arc<Mutex<Place>>>,
}

impl Future for Acquire {
    type Output = Turn;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn> {
        let this = &mut *self;
        if let Some(place) = &this.place {
            let mut p = lock(place);
            return match &mut *p {
                Place::Granted => {
                    drop(p);
                    this.place = None;
                    Poll::Ready(Turn(Arc::clone(&this.state)))
                }
                Place::Waiting(waker) => {
                    *waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            };
        }
        let mut s = lock(&this.state);
        if s.queue.is_empty() && s.free > 0 {
            s.free -= 1;
            return Poll::Ready(Turn(Arc::clone(&this.state)));
        }
        let place = Arc::new(Mutex::new(Place::Waiting(Some(cx.waker().clone()))));
        s.queue.push_back(Arc::clone(&place));
        this.place = Some(place);
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(place) = self.place.take() else {
            return;
        };
        let granted = {
            let mut s = lock(&self.state);
            s.queue.retain(|q| !Arc::ptr_eq(q, &place));
            matches!(*lock(&place), Place::Granted)
        };
        // Its turn had come but nobody took the permit: the next one's.
        if granted {
            give_back(&self.state);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::Turns;

    fn poll<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Turns go to waiters in the order they asked, and one who gives a
    /// turn back cannot take it again before them.
    #[test]
    fn turns_are_first_come_first_served() {
        let turns = Turns::new(1);
        let first = pin!(turns.acquire());
        let Poll::Ready(held) = poll(first) else {
            panic!("a free turn is taken at once")
        };
        let mut second = pin!(turns.acquire());
        let mut third = pin!(turns.acquire());
        assert!(poll(second.as_mut()).is_pending());
        assert!(poll(third.as_mut()).is_pending());
        drop(held);
        // The one who gave it back asks again: behind the others.
        let mut again = pin!(turns.acquire());
        assert!(poll(again.as_mut()).is_pending(), "no overtaking");
        assert!(
            poll(third.as_mut()).is_pending(),
            "the second's turn, not the third's"
        );
        let Poll::Ready(turn) = poll(second.as_mut()) else {
            panic!("the second waiter's turn")
        };
        drop(turn);
        assert!(poll(again.as_mut()).is_pending());
        assert!(poll(third.as_mut()).is_ready());
    }

    /// A waiter that leaves gives up its place; one that leaves after its
    /// turn came passes the permit on.
    #[test]
    fn a_waiter_that_leaves_loses_nothing_for_the_others() {
        let turns = Turns::new(1);
        let Poll::Ready(held) = poll(pin!(turns.acquire())) else {
            panic!()
        };
        let mut leaves_early = Box::pin(turns.acquire());
        let mut leaves_late = Box::pin(turns.acquire());
        let mut stays = pin!(turns.acquire());
        assert!(poll(leaves_early.as_mut()).is_pending());
        assert!(poll(leaves_late.as_mut()).is_pending());
        assert!(poll(stays.as_mut()).is_pending());
        drop(leaves_early);
        drop(held); // granted to `leaves_late`, which never takes it
        drop(leaves_late);
        assert!(
            poll(stays.as_mut()).is_ready(),
            "the permit reached the last waiter"
        );
    }
}
