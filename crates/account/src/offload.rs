//! Where password hashing runs, so that a 15 ms Argon2 verification does not
//! stall every other request queued on the same async worker.

/// Runs CPU-heavy work — password hashing — somewhere that does not hold up
/// the async executor. The driver stays runtime-agnostic: it hands the work
/// to this hook and waits for it.
pub trait Offload: Send + Sync {
    /// Runs `work` to completion before returning.
    fn run(&self, work: &mut dyn FnMut());
}

/// Runs the work inline, on the calling task: the default, for any runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inline;

impl Offload for Inline {
    fn run(&self, work: &mut dyn FnMut()) {
        work();
    }
}

/// Tokio's `block_in_place` (feature `tokio`): on a multi-threaded runtime
/// the worker hands its other tasks to the rest of the pool while the hash
/// runs; elsewhere (a current-thread runtime, no runtime) it runs inline.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioBlockInPlace;

#[cfg(feature = "tokio")]
impl Offload for TokioBlockInPlace {
    fn run(&self, work: &mut dyn FnMut()) {
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(work);
        } else {
            work();
        }
    }
}

/// Tokio's `block_in_place` with at most `n` password hashes at a time
/// (feature `tokio`): the rest wait for a turn, off the async workers. With
/// fewer hashes than cores, a core is always free for the OTP steps, which
/// never go through the hook: under a burst of logins the password steps
/// queue and the OTP steps stay fast. [`TokioBlockInPlace`] alone lets every
/// request hash at once, and on a small machine the OTP steps then wait for
/// the CPU like everything else.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct TokioHashPool {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

#[cfg(feature = "tokio")]
impl TokioHashPool {
    /// At most `max_concurrent` hashes at a time (at least 1).
    #[must_use]
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            free: std::sync::Mutex::new(max_concurrent.max(1)),
            freed: std::sync::Condvar::new(),
        }
    }

    /// One hash fewer than the machine has cores (at least 1).
    #[must_use]
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores.saturating_sub(1))
    }

    fn hash(&self, work: &mut dyn FnMut()) {
        // A poisoned lock only means a hash panicked elsewhere: the count
        // is still right, since the guard below gives its permit back.
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        drop(free);
        let _permit = Permit(self);
        work();
    }
}

/// Gives a permit back, also when the work panics.
#[cfg(feature = "tokio")]
struct Permit<'a>(&'a TokioHashPool);

#[cfg(feature = "tokio")]
impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self
            .0
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *free = free.saturating_add(1);
        self.0.freed.notify_one();
    }
}

#[cfg(feature = "tokio")]
impl Offload for TokioHashPool {
    fn run(&self, work: &mut dyn FnMut()) {
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(|| self.hash(work));
        } else {
            self.hash(work);
        }
    }
}

/// Runs `f` through `offload` and returns its result; runs it here if the
/// hook did not.
pub(crate) fn offloaded<T>(offload: &dyn Offload, f: impl FnOnce() -> T) -> T {
    let mut f = Some(f);
    let mut out = None;
    offload.run(&mut || {
        if let Some(f) = f.take() {
            out = Some(f());
        }
    });
    loop {
        if let Some(v) = out.take() {
            return v;
        }
        if let Some(f) = f.take() {
            out = Some(f());
        }
    }
}
