//! Where password hashing runs, so that a 15 ms Argon2 verification does not
//! stall every other request queued on the same async worker.

/// Runs CPU-heavy work — password hashing — somewhere that does not hold up
/// the async executor. The driver stays runtime-agnostic: it hands the work
/// to this hook and waits for it.
pub trait Offload: Send + Sync {
    /// Runs `work` to completion before returning. `work` is `Send`, so a
    /// hook may run it on a thread of its own and wait for it.
    fn execute(&self, work: &mut (dyn FnMut() + Send));

    /// How many hashes this hook runs at once, if it bounds them. The
    /// [`crate::Authenticator`] then lets at most that many requests hand
    /// work over at a time and queues the rest as waiting tasks, which hold
    /// no thread: a flood of password steps cannot take the runtime's
    /// threads from the requests that do not hash. Each `Authenticator`
    /// keeps its own turns, so a hook shared by several must still bound
    /// its work itself (as [`TokioHashPool`] does). Default: unbounded.
    fn max_concurrent(&self) -> Option<usize> {
        None
    }

    /// Runs `work` without anyone waiting for it: the hash an attempt owes
    /// when its caller went away after the attempt was counted (a client
    /// that disconnected mid-request). The work must still be done — a
    /// caller that leaves costs what one that stays costs — but nothing
    /// waits for its result; a hook runs it where it runs every hash, within
    /// its bound. Default: inline, here.
    fn detach(&self, work: Box<dyn FnOnce() + Send + 'static>) {
        work();
    }
}

/// Runs the work inline, on the calling task: the default, for any runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inline;

impl Offload for Inline {
    fn execute(&self, work: &mut (dyn FnMut() + Send)) {
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
    fn execute(&self, work: &mut (dyn FnMut() + Send)) {
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(work);
        } else {
            work();
        }
    }

    /// On tokio's blocking pool when there is a runtime, else here.
    fn detach(&self, work: Box<dyn FnOnce() + Send + 'static>) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(work)),
            Err(_) => work(),
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
///
/// With [`TokioHashPool::with_niceness`] (the default of
/// [`TokioHashPool::for_this_machine`]) each hash also runs at a lower
/// scheduling priority, so that when the cores are busy the OS runs request
/// handling first and the hashes take what is left.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct TokioHashPool(std::sync::Arc<Pool>);

/// The pool's permits, shared with the work it detaches.
#[cfg(feature = "tokio")]
#[derive(Debug)]
struct Pool {
    bound: usize,
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
    /// How much lower than its caller a hash runs, on a thread of its own;
    /// `None`: on the calling thread, at its priority.
    niceness: Option<u8>,
}

/// The niceness [`TokioHashPool::for_this_machine`] gives hashes: under
/// contention a hash gets about a tenth of what a request thread gets (the
/// Linux scheduler weighs nice 10 at 110 against 1024 for nice 0), never
/// nothing.
#[cfg(feature = "tokio")]
pub const DEFAULT_HASH_NICENESS: u8 = 10;

#[cfg(feature = "tokio")]
impl TokioHashPool {
    /// At most `max_concurrent` hashes at a time (at least 1).
    #[must_use]
    pub fn new(max_concurrent: usize) -> Self {
        Self(std::sync::Arc::new(Pool {
            bound: max_concurrent.max(1),
            free: std::sync::Mutex::new(max_concurrent.max(1)),
            freed: std::sync::Condvar::new(),
            niceness: None,
        }))
    }

    /// One hash fewer than the machine has cores (at least 1), each at
    /// [`DEFAULT_HASH_NICENESS`] below its caller.
    #[must_use]
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores.saturating_sub(1)).with_niceness(DEFAULT_HASH_NICENESS)
    }

    /// Runs each hash on a thread of its own whose scheduling priority is
    /// `niceness` (1 to 19; 0 means 1, more means 19) below the caller's,
    /// as `nice` counts it, capped at the lowest priority. On a busy
    /// machine the OS then serves request handling (OTP steps, pages, the
    /// store's writes) before the hashes, and a hash still gets its share.
    /// Measured with the bank-login load test (16 clients, two cores): the
    /// OTP step's p99 with Argon2 password steps alongside went from 16–21
    /// ms to 10–17 ms.
    ///
    /// Why a thread of its own: lowering a thread's priority needs no
    /// privilege but raising it back does, so the runtime's worker that
    /// waits must not be the one lowered. Starting the thread costs tens of
    /// microseconds against the milliseconds of a hash; if it cannot be
    /// started the hash runs on the caller's thread. Lowering is done on
    /// Linux and Android; elsewhere, and where a sandbox refuses it, the
    /// hash runs at the caller's priority.
    #[must_use]
    pub fn with_niceness(self, niceness: u8) -> Self {
        let niceness = Some(niceness.clamp(1, 19));
        Self(std::sync::Arc::new(Pool {
            bound: self.0.bound,
            free: std::sync::Mutex::new(self.0.bound),
            freed: std::sync::Condvar::new(),
            niceness,
        }))
    }
}

#[cfg(feature = "tokio")]
impl Pool {
    fn hash(&self, work: &mut (dyn FnMut() + Send)) {
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
        match self.niceness {
            None => work(),
            Some(niceness) => on_a_lower_thread(niceness, work),
        }
    }
}

/// Runs `work` on a new thread `niceness` below this one and waits; a
/// panic in `work` goes on here. Runs it here if no thread can be started.
#[cfg(feature = "tokio")]
fn on_a_lower_thread(niceness: u8, work: &mut (dyn FnMut() + Send)) {
    let ran = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("lockstep-hash".into())
            .spawn_scoped(scope, || {
                lower_this_thread(niceness);
                work();
            });
        match spawned {
            Ok(thread) => {
                if let Err(panic) = thread.join() {
                    std::panic::resume_unwind(panic);
                }
                true
            }
            Err(_) => false,
        }
    });
    if !ran {
        work();
    }
}

/// Lowers the calling thread's priority by `niceness` (best effort).
#[cfg(all(feature = "tokio", any(target_os = "linux", target_os = "android")))]
fn lower_this_thread(niceness: u8) {
    // On Linux a thread ID names one thread for `setpriority`, and the
    // value is absolute: read this thread's, add, cap at 19.
    let me = rustix::thread::gettid();
    if let Ok(now) = rustix::process::getpriority_process(Some(me)) {
        let lower = now.saturating_add(i32::from(niceness)).min(19);
        let _ = rustix::process::setpriority_process(Some(me), lower);
    }
}

#[cfg(all(
    feature = "tokio",
    not(any(target_os = "linux", target_os = "android"))
))]
const fn lower_this_thread(_niceness: u8) {}

/// Gives a permit back, also when the work panics.
#[cfg(feature = "tokio")]
struct Permit<'a>(&'a Pool);

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
    fn execute(&self, work: &mut (dyn FnMut() + Send)) {
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(|| self.0.hash(work));
        } else {
            self.0.hash(work);
        }
    }

    fn max_concurrent(&self) -> Option<usize> {
        Some(self.0.bound)
    }

    /// On tokio's blocking pool, waiting there for a permit like every
    /// other hash (so within the bound, at the lower priority); here when
    /// there is no runtime.
    fn detach(&self, work: Box<dyn FnOnce() + Send + 'static>) {
        let pool = std::sync::Arc::clone(&self.0);
        let mut work = Some(work);
        let mut run = move || {
            if let Some(work) = work.take() {
                work();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || pool.hash(&mut run))),
            Err(_) => pool.hash(&mut run),
        }
    }
}

/// Runs `f` through `offload` and returns its result; runs it here if the
/// hook did not.
pub(crate) fn offloaded<T: Send>(offload: &dyn Offload, f: impl FnOnce() -> T + Send) -> T {
    let mut f = Some(f);
    let mut out = None;
    offload.execute(&mut || {
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
