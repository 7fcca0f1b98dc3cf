//! A step on one record, with no store: for tests, models and fuzzing,
//! where there is no concurrency and every write lands.

use lockstep_otp::CredentialId;

use super::{Deps, Facts, Input, Next, start};
use crate::error::Error;
use crate::event::{AuditEvent, Outcome};
use crate::record::Account;
use crate::token::{TokenSeed, TokenStatus};
use crate::write::{RecordWrite, Write};

/// What one step did to one record.
#[derive(Debug)]
pub struct Decision {
    /// The record after the step, when a write changed it (`None`: as it
    /// was).
    pub account: Option<Account>,
    /// The answer.
    pub outcome: Outcome,
    /// Every audit event the step wrote, in order.
    pub events: Vec<AuditEvent>,
    /// The writes, in order.
    pub writes: Vec<Write>,
    /// How many times the step hashed.
    pub hashes: usize,
}

/// The most phases one step may take here before it is called contention
/// (the machine itself gives up after the configured retries).
const MAX_PHASES: usize = 64;

/// Runs the step `input` for `user_id` on `record` (`None`: no such
/// account) to its answer: every load sees the record as the step's own
/// writes left it, every write lands, and `tokens` answers the token
/// lookups (the directory's seed and the store's status).
///
/// # Errors
/// As the [`crate::Authenticator`]'s steps: a hash that fails, or
/// [`Error::Contention`] if the step never ends.
pub fn decide(
    record: Option<&Account>,
    user_id: &str,
    input: Input<'_>,
    deps: Deps<'_>,
    facts: Facts,
    tokens: &dyn Fn(&CredentialId) -> (Option<TokenSeed>, TokenStatus),
) -> Result<Decision, Error> {
    let mut current = record.cloned();
    let mut changed = false;
    let mut writes = Vec::new();
    let mut hashes = 0;
    let mut next = start(user_id, input, deps, facts);
    for _ in 0..MAX_PHASES {
        next = match next {
            Next::Load(n) => n.loaded(current.clone()),
            Next::LookUp(n) => {
                let (seed, status) = tokens(&n.token_id());
                n.found(seed, status)
            }
            Next::Hash(n) => {
                hashes += 1;
                n.hash().resume()
            }
            Next::Write(n) => {
                let (w, then) = n.take();
                match &w.record {
                    Some(RecordWrite::Create(a)) => {
                        let mut a = a.clone();
                        a.version = 0;
                        current = Some(a);
                        changed = true;
                    }
                    Some(RecordWrite::Replace { account, expected }) => {
                        let mut a = account.clone();
                        a.version = expected.saturating_add(1);
                        current = Some(a);
                        changed = true;
                    }
                    None => {}
                }
                writes.push(w);
                then.written(Ok(()))
            }
            Next::Done(reply) => {
                let reply = reply?;
                let account = current.filter(|a| changed && Some(a) != record);
                return Ok(Decision {
                    account,
                    outcome: reply.outcome,
                    events: reply.events,
                    writes,
                    hashes,
                });
            }
        };
    }
    Err(Error::Contention)
}
