//! The account state machine against its reference model: any sequence of
//! operations never panics the machine, and the machine and the model agree
//! at every step (see `lockstep_store_tests::model` for the invariants).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep_store_tests::model::{Op, run};

fuzz_target!(|ops: Vec<Op>| {
    // Long sequences add little but time; the model's state space is small.
    let _ = run(ops.get(..ops.len().min(200)).unwrap_or_default());
});
