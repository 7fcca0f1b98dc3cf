//! Where hashing runs: the hook is used for every hash, and the work is
//! done even by a hook that does not run it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lockstep_account::offload::{Offload, TokioBlockInPlace};
use lockstep_account::{Authenticator, Entry, MemoryDirectory, MemoryStore, Outcome, Password};
use lockstep_password::InsecureTestHasher;

/// Counts what it is handed; runs it only when told to.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
    skip: bool,
}

impl Offload for Counting {
    fn run(&self, work: &mut dyn FnMut()) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.skip {
            work();
        }
    }
}

async fn login_with(offload: Arc<dyn Offload>) -> Outcome {
    let auth = Authenticator::builder(MemoryStore::new(), MemoryDirectory::new())
        .hasher(Arc::new(InsecureTestHasher::new()))
        .offload(offload)
        .build()
        .unwrap();
    let pw = Password::from("tempPass1");
    auth.create_account("op", "u1", "Name", "C", &pw)
        .await
        .unwrap();
    auth.login_password("u1", &pw, Entry::Enroll)
        .await
        .unwrap()
        .outcome
}

#[tokio::test]
async fn every_hashing_step_goes_through_the_hook() {
    for skip in [false, true] {
        let hook = Arc::new(Counting {
            skip,
            ..Counting::default()
        });
        let outcome = login_with(Arc::clone(&hook) as Arc<dyn Offload>).await;
        assert!(
            matches!(outcome, Outcome::EnrollmentRequired { .. }),
            "{outcome:?}"
        );
        // create, begin (the reservation), check, finish, the rehash check
        assert_eq!(hook.calls.load(Ordering::SeqCst), 5, "skip = {skip}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_block_in_place_serves_a_multi_threaded_runtime() {
    let outcome = login_with(Arc::new(TokioBlockInPlace)).await;
    assert!(matches!(outcome, Outcome::EnrollmentRequired { .. }));
}

#[tokio::test]
async fn tokio_block_in_place_runs_inline_on_a_current_thread_runtime() {
    let outcome = login_with(Arc::new(TokioBlockInPlace)).await;
    assert!(matches!(outcome, Outcome::EnrollmentRequired { .. }));
}
