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
