//! The protocol: which phase follows which, for every input. The decisions
//! themselves are the stage files'; this file only routes between phases,
//! and is the one place where a ticket gate, a reservation, a retry after a
//! lost write and an owed hash are decided.

use lockstep_password::{HashError, PasswordHash, Violations};

use super::change::history;
use super::hash::NewPassword;
use super::password::Reservation;
use super::steps::{answer, decide, rehash, unknown};
use super::{
    AwaitHash, AwaitRecord, AwaitWrite, AwaitWritten, Deps, Draft, Facts, Input, Job, Next, Owed,
    Reply, plausible,
};
use crate::error::Error;
use crate::event::{AuditEvent, EventKind, Outcome, Refusal};
use crate::record::Account;
use crate::store::StoreError;
use crate::write::Write;

/// What every phase of one step carries.
pub(in crate::machine) struct Ctx<'a> {
    pub(super) user_id: &'a str,
    /// The user ID as the store and the audit log key it (see `bounded`).
    pub(super) key: String,
    pub(super) input: Input<'a>,
    pub(super) deps: Deps<'a>,
    pub(super) facts: Facts,
    /// Loads so far: past the configured retries the step gives up.
    loads: u32,
    /// The events written so far, for the reply.
    written: Vec<AuditEvent>,
}

/// What to do with a loaded record.
pub(in crate::machine) enum OnLoad {
    /// Decide afresh.
    Decide,
    /// A noted attempt's outcome event lost its write: write it again, as
    /// a known account's answer is decided again and written again.
    Outcome(Outcome, Vec<AuditEvent>),
    /// A password answer lost its write: decide it again on the new record,
    /// without hashing again while the stored hash is the one verified.
    Answer(Verified),
    /// A forced change or a reset lost its write: decide again with the
    /// new password already checked and hashed, while what it was checked
    /// against is unchanged.
    NewPassword(Retry),
    /// The rehash lost its write: write it again while the stored hash is
    /// still the one checked.
    Rehash(Rehash),
}

/// What a password step's hash found.
pub(in crate::machine) struct Verified {
    pub(super) reserved: Reservation,
    pub(super) matched: bool,
    pub(super) fresh: Option<PasswordHash>,
    pub(super) new: Option<Result<PasswordHash, Violations>>,
}

/// A new password checked and hashed, and the history it was checked
/// against (`None`: no history, as for the desk's temporary passwords).
pub(in crate::machine) struct Retry {
    pub(super) new: Result<PasswordHash, Violations>,
    pub(super) checked: Option<Vec<PasswordHash>>,
}

/// A rehash to write after the answer.
pub(in crate::machine) struct Rehash {
    pub(super) outcome: Outcome,
    pub(super) fresh: PasswordHash,
    pub(super) checked: PasswordHash,
}

/// The outcome event of a noted attempt, written after its dummy hash.
pub(in crate::machine) struct Noted {
    pub(super) kind: EventKind,
    pub(super) user_id: String,
}

/// What the hash is for.
pub(in crate::machine) enum AfterHash {
    /// A user ID that can name no account: answer, write nothing.
    Boundary,
    /// An unknown or locked user ID's dummy hash.
    Noted(Noted),
    /// The owed hash of a count whose write failed in the backend (it may
    /// have landed): the work is done, then the step fails.
    Failed(StoreError),
    /// The password step or the voluntary change, on the reserved record.
    Answer {
        account: Account,
        reserved: Reservation,
    },
    /// The forced change.
    Forced { account: Account },
    /// The desk's reset.
    Reset { account: Account },
    /// The desk's account creation.
    Create,
}

/// What a write is for.
pub(in crate::machine) enum AfterWrite {
    /// A password attempt reserved: its hash follows.
    Reserved {
        account: Account,
        reserved: Reservation,
    },
    /// A password attempt noted: its dummy hash follows.
    Noted(Noted),
    /// The decision; lost: decide again.
    Final(Outcome),
    /// A noted attempt's outcome event; lost: the step fails.
    Outcome(Outcome),
    /// A password answer; a rehash may follow.
    Answered {
        outcome: Outcome,
        verified: Verified,
        rehash: Option<(Account, PasswordHash)>,
    },
    /// The rehash.
    Rehashed(Rehash),
    /// A forced change or reset.
    NewPassword { outcome: Outcome, retry: Retry },
    /// A new account.
    Created,
}

/// Starts a step for `user_id`.
pub fn start<'a>(user_id: &'a str, input: Input<'a>, deps: Deps<'a>, facts: Facts) -> Next<'a> {
    let ctx = Ctx {
        user_id,
        key: super::bounded(user_id),
        input,
        deps,
        facts,
        loads: 0,
        written: Vec::new(),
    };
    if let Input::Create {
        user_name,
        temporary,
        ..
    } = input
    {
        let usable =
            !user_id.is_empty() && user_id.len() <= super::MAX_USER_ID_BYTES && plausible(user_id);
        if !usable {
            return done(ctx, Outcome::refused(Refusal::UserIdRejected));
        }
        let job = Job::NewPassword(NewPassword {
            current: None,
            new: temporary,
            confirmation: None,
            history: None,
            user_name: user_name.to_owned(),
            user_id: user_id.to_owned(),
        });
        return hash(ctx, job, false, AfterHash::Create);
    }
    if !plausible(user_id) {
        // No account can have this ID: the unknown ID's answer, after the
        // same hash, with no store touched.
        return match input {
            Input::Password { password, .. } => {
                hash(ctx, Job::Dummy(password), false, AfterHash::Boundary)
            }
            Input::Operator { .. } => done(ctx, Outcome::refused(Refusal::UnknownAccount)),
            _ => done(ctx, Outcome::refused(Refusal::InvalidTicket)),
        };
    }
    Next::Load(AwaitRecord {
        ctx,
        on: OnLoad::Decide,
    })
}

pub(super) fn done(ctx: Ctx<'_>, outcome: Outcome) -> Next<'_> {
    Next::Done(Ok(Reply {
        outcome,
        events: ctx.written,
    }))
}

pub(super) fn hash<'a>(ctx: Ctx<'a>, job: Job<'a>, owed: bool, then: AfterHash) -> Next<'a> {
    let (job, owed) = if owed {
        (None, Owed::of(job, ctx.deps))
    } else {
        (Some(job), Owed::none())
    };
    Next::Hash(AwaitHash {
        ctx,
        job,
        owed,
        then,
    })
}

pub(super) fn write<'a>(ctx: Ctx<'a>, write: Write, then: AfterWrite, owed: Owed<'a>) -> Next<'a> {
    let events = write.events.clone();
    Next::Write(AwaitWrite {
        write,
        then: AwaitWritten {
            ctx,
            events,
            then,
            owed,
        },
    })
}

/// Writes a drafted decision: its record by compare-and-swap on `before`'s
/// version (or its events alone when the record did not change), its token
/// changes and events.
pub(super) fn commit<'a>(
    ctx: Ctx<'a>,
    before: &Account,
    drafted: super::draft::Drafted,
    then: impl FnOnce(Outcome) -> AfterWrite,
) -> Next<'a> {
    let mut w = match drafted.account {
        Some(account) => Write::replace(account, before.version, drafted.events),
        None => Write::events(drafted.events),
    };
    w.tokens = drafted.tokens;
    write(ctx, w, then(drafted.outcome), Owed::none())
}

/// A step on a record, decided in one go by `decide` (a [`Draft`]).
pub(super) fn decided<'a>(
    ctx: Ctx<'a>,
    account: &Account,
    decide: impl FnOnce(&mut Draft<'_, '_>) -> Outcome,
) -> Next<'a> {
    let (deps, facts, input) = (ctx.deps, ctx.facts, ctx.input);
    let mut draft = Draft::new(account, &input, &deps, &facts);
    let outcome = decide(&mut draft);
    commit(
        ctx,
        account,
        draft.finish(account, &input, outcome),
        AfterWrite::Final,
    )
}

pub(super) fn loaded(mut ctx: Ctx<'_>, on: OnLoad, record: Option<Account>) -> Next<'_> {
    // A store that folds case, say, may hand back another user's record:
    // only the record of the key asked for is this step's.
    let record = record.filter(|a| a.user_id == ctx.key);
    ctx.loads = ctx.loads.saturating_add(1);
    if ctx.loads > ctx.deps.config.max_retries {
        return match on {
            // Not worth an error: the next login rehashes.
            OnLoad::Rehash(r) => done(ctx, r.outcome),
            _ => Next::Done(Err(Error::Contention)),
        };
    }
    match (on, record) {
        (OnLoad::Outcome(outcome, events), _) => {
            let then = AfterWrite::Outcome(outcome);
            write(ctx, Write::events(events), then, Owed::none())
        }
        (OnLoad::Rehash(r), Some(account)) if account.password.hash == r.checked => {
            rehash(ctx, &account, r)
        }
        (OnLoad::Rehash(r), _) => done(ctx, r.outcome),
        (OnLoad::Answer(v), Some(account)) if account.password.hash == v.reserved.checked => {
            answer(ctx, &account, v)
        }
        (OnLoad::NewPassword(r), Some(account))
            if r.checked.as_ref().is_none_or(|h| *h == history(&account)) =>
        {
            decide(ctx, account, Some(r.new))
        }
        (_, None) => unknown(ctx),
        (_, Some(account)) => decide(ctx, account, None),
    }
}

/// Whether a refused write is decided again on the record as stored.
const fn retryable(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Conflict | StoreError::TokenTaken | StoreError::NotFound
    ) || e.is_transient()
}

pub(super) fn written(w: AwaitWritten<'_>, result: Result<(), StoreError>) -> Next<'_> {
    let AwaitWritten {
        mut ctx,
        events,
        then,
        owed,
    } = w;
    let Err(e) = result else {
        ctx.written.extend(events);
        return match then {
            AfterWrite::Reserved { account, reserved } => match owed.take() {
                Some(job) => hash(ctx, job, true, AfterHash::Answer { account, reserved }),
                None => Next::Done(Err(Error::Hash(HashError::Malformed))),
            },
            AfterWrite::Noted(noted) => match owed.take() {
                Some(job) => hash(ctx, job, true, AfterHash::Noted(noted)),
                None => Next::Done(Err(Error::Hash(HashError::Malformed))),
            },
            AfterWrite::Answered {
                outcome,
                verified,
                rehash: Some((account, fresh)),
            } => {
                let r = Rehash {
                    outcome,
                    fresh,
                    checked: verified.reserved.checked,
                };
                rehash(ctx, &account, r)
            }
            AfterWrite::Final(outcome)
            | AfterWrite::Outcome(outcome)
            | AfterWrite::Answered { outcome, .. }
            | AfterWrite::NewPassword { outcome, .. }
            | AfterWrite::Rehashed(Rehash { outcome, .. }) => done(ctx, outcome),
            AfterWrite::Created => done(ctx, Outcome::Done),
        };
    };
    if let (StoreError::Backend(_), AfterWrite::Reserved { .. } | AfterWrite::Noted(_)) =
        (&e, &then)
    {
        // The backend failed a write that counts: it may have landed (a
        // commit whose answer was lost). Never counted twice, never counted
        // without its hash: the owed hash is done, and the step fails.
        return match owed.take() {
            Some(job) => hash(ctx, job, true, AfterHash::Failed(e)),
            None => Next::Done(Err(e.into())),
        };
    }
    // A refusal: nothing was written, nothing counted, no hash is owed.
    drop(owed.take());
    let on = match then {
        AfterWrite::Created if e == StoreError::AlreadyExists => {
            return done(ctx, Outcome::refused(Refusal::UserIdTaken));
        }
        // The answer stands; the rehash waits for the next login.
        AfterWrite::Rehashed(r) if !retryable(&e) => return done(ctx, r.outcome),
        AfterWrite::Created => return Next::Done(Err(e.into())),
        _ if !retryable(&e) => return Next::Done(Err(e.into())),
        AfterWrite::Outcome(outcome) => OnLoad::Outcome(outcome, events),
        AfterWrite::Reserved { .. } | AfterWrite::Noted(_) | AfterWrite::Final(_) => OnLoad::Decide,
        AfterWrite::Answered { verified, .. } => OnLoad::Answer(verified),
        AfterWrite::NewPassword { retry, .. } => OnLoad::NewPassword(retry),
        AfterWrite::Rehashed(r) => OnLoad::Rehash(r),
    };
    Next::Load(AwaitRecord { ctx, on })
}
