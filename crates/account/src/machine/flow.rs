//! The protocol: which phase follows which, for every input. The decisions
//! themselves are the stage files'; this file only routes between phases,
//! and is the one place where a ticket gate, a reservation, a retry after a
//! lost write and an owed hash are decided.

use lockstep_otp::CredentialId;
use lockstep_password::{HashError, PasswordHash, Violations};

use super::change::history;
use super::hash::{Hashed, NewPassword};
use super::password::Reservation;
use super::{
    AwaitHash, AwaitRecord, AwaitToken, AwaitWrite, AwaitWritten, Deps, Draft, Facts, Input, Job,
    Next, OperatorAction, Owed, Reply, bounded, plausible, session, ticket_opens,
};
use crate::error::Error;
use crate::event::{AuditEvent, EventKind, Factor, Outcome, Refusal};
use crate::record::{Account, Failures, MustChange, PasswordState, Stage};
use crate::store::StoreError;
use crate::token::{TokenSeed, TokenStatus};
use crate::write::{AttemptNote, Write};

/// What every phase of one step carries.
pub(in crate::machine) struct Ctx<'a> {
    pub(super) user_id: &'a str,
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
    reserved: Reservation,
    matched: bool,
    fresh: Option<PasswordHash>,
    new: Option<Result<PasswordHash, Violations>>,
}

/// A new password checked and hashed, and the history it was checked
/// against (`None`: no history, as for the desk's temporary passwords).
pub(in crate::machine) struct Retry {
    new: Result<PasswordHash, Violations>,
    checked: Option<Vec<PasswordHash>>,
}

/// A rehash to write after the answer.
pub(in crate::machine) struct Rehash {
    outcome: Outcome,
    fresh: PasswordHash,
    checked: PasswordHash,
}

/// The outcome event of a noted attempt, written after its dummy hash.
pub(in crate::machine) struct Noted {
    kind: EventKind,
    user_id: String,
}

/// What the hash is for.
pub(in crate::machine) enum AfterHash {
    /// A user ID that can name no account: answer, write nothing.
    Boundary,
    /// An unknown or locked user ID's dummy hash.
    Noted(Noted),
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

fn done(ctx: Ctx<'_>, outcome: Outcome) -> Next<'_> {
    Next::Done(Ok(Reply {
        outcome,
        events: ctx.written,
    }))
}

fn hash<'a>(ctx: Ctx<'a>, job: Job<'a>, owed: bool, then: AfterHash) -> Next<'a> {
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

fn write<'a>(ctx: Ctx<'a>, write: Write, then: AfterWrite, owed: Owed<'a>) -> Next<'a> {
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
fn commit<'a>(
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
fn decided<'a>(
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
    ctx.loads = ctx.loads.saturating_add(1);
    if ctx.loads > ctx.deps.config.max_retries {
        return match on {
            // Not worth an error: the next login rehashes.
            OnLoad::Rehash(r) => done(ctx, r.outcome),
            _ => Next::Done(Err(Error::Contention)),
        };
    }
    match (on, record) {
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

/// A user ID with no account: the same answer and the same work as for a
/// known one (R-LOG-5). A password is noted and costs a verification of
/// the dummy hash; a ticket or session costs its digest and a comparison.
fn unknown(ctx: Ctx<'_>) -> Next<'_> {
    let id = bounded(ctx.user_id);
    let event = |kind, operator_id| AuditEvent {
        at: ctx.facts.now,
        user_id: id.clone(),
        operator_id,
        kind,
    };
    let (events, refusal) = match ctx.input {
        Input::Password { password, .. } => {
            let w = Write::events(vec![event(EventKind::AttemptNoted, None)]).with_attempt(
                AttemptNote {
                    user_id: id.clone(),
                    at: ctx.facts.now,
                },
            );
            let owed = Owed::of(Job::Dummy(password), ctx.deps);
            let noted = Noted {
                kind: EventKind::UnknownUser,
                user_id: id,
            };
            return write(ctx, w, AfterWrite::Noted(noted), owed);
        }
        Input::Session { session } | Input::Logout { session } => {
            let _ = session.matches(&[0; 32]);
            return done(ctx, Outcome::refused(Refusal::InvalidTicket));
        }
        Input::ChangePasswordLoggedIn { session, .. } => {
            let _ = session.matches(&[0; 32]);
            (
                vec![event(EventKind::UnknownUser, None)],
                Refusal::InvalidTicket,
            )
        }
        Input::Operator { operator_id, .. } => (
            vec![event(EventKind::UnknownUser, Some(bounded(operator_id)))],
            Refusal::UnknownAccount,
        ),
        Input::Otp { ticket, .. }
        | Input::Enroll { ticket, .. }
        | Input::Resync { ticket, .. }
        | Input::ChangePassword { ticket, .. } => {
            let _ = ticket.matches(&[0; 32]);
            (
                vec![event(EventKind::UnknownUser, None)],
                Refusal::InvalidTicket,
            )
        }
        Input::Create { .. } => return done(ctx, Outcome::refused(Refusal::UserIdRejected)),
    };
    let then = AfterWrite::Final(Outcome::refused(refusal));
    write(ctx, Write::events(events), then, Owed::none())
}

/// Decides a step on an existing account; `ready` is a new password
/// already checked and hashed (a forced change or reset deciding again).
fn decide(
    ctx: Ctx<'_>,
    account: Account,
    ready: Option<Result<PasswordHash, Violations>>,
) -> Next<'_> {
    let now = ctx.facts.now;
    match ctx.input {
        Input::Password { password, .. } => {
            if !account.password.failures.locked {
                let job = Job::Verify {
                    password,
                    stored: account.password.hash.clone(),
                };
                return reserve(ctx, account, job);
            }
            // Locked: neither evaluated nor counted (R-LCK-1); noted where
            // no record counts it, and answered after the same work.
            let id = account.user_id;
            let w = Write::events(vec![AuditEvent {
                at: now,
                user_id: id.clone(),
                operator_id: None,
                kind: EventKind::AttemptNoted,
            }])
            .with_attempt(AttemptNote {
                user_id: id.clone(),
                at: now,
            });
            let owed = Owed::of(Job::Dummy(password), ctx.deps);
            let noted = Noted {
                kind: EventKind::LockedAttempt {
                    factor: Factor::Password,
                },
                user_id: id,
            };
            write(ctx, w, AfterWrite::Noted(noted), owed)
        }
        Input::ChangePasswordLoggedIn {
            session,
            current,
            new,
            confirmation,
        } => {
            let (deps, facts, input) = (ctx.deps, ctx.facts, ctx.input);
            let mut draft = Draft::new(&account, &input, &deps, &facts);
            if let Some(refused) = draft.voluntary_gate(session) {
                let drafted = draft.finish(&account, &input, refused);
                return commit(ctx, &account, drafted, AfterWrite::Final);
            }
            let job = Job::NewPassword(NewPassword {
                current: Some((current, account.password.hash.clone())),
                new,
                confirmation: Some(confirmation),
                history: Some(history(&account)),
                user_name: account.user_name.clone(),
                user_id: account.user_id.clone(),
            });
            reserve(ctx, account, job)
        }
        Input::Otp { ticket, .. } | Input::Resync { ticket, .. } => {
            let bound = account.token.as_ref().map(|t| t.credential_id);
            match bound.filter(|_| ticket_opens(&account, ticket, Stage::Otp, now)) {
                Some(id) => look_up(ctx, account, id),
                None => decided(ctx, &account, |d| d.ticket_rejected()),
            }
        }
        Input::Enroll {
            ticket,
            credential_id,
            otp1,
            otp2,
        } => {
            if !ticket_opens(&account, ticket, Stage::Enroll, now) {
                return decided(ctx, &account, |d| d.ticket_rejected());
            }
            match CredentialId::parse(credential_id) {
                Ok(id) => look_up(ctx, account, id),
                Err(e) => decided(ctx, &account, |d| {
                    d.enroll(Err(e), otp1, otp2, None, TokenStatus::Free)
                }),
            }
        }
        Input::ChangePassword {
            ticket,
            new,
            confirmation,
        } => {
            if !ticket_opens(&account, ticket, Stage::ChangePassword, now) {
                return decided(ctx, &account, |d| d.ticket_rejected());
            }
            let checked = Some(history(&account));
            match ready {
                Some(r) => new_password(ctx, &account, r, checked),
                None => {
                    let job = Job::NewPassword(NewPassword {
                        current: None,
                        new,
                        confirmation: Some(confirmation),
                        history: checked,
                        user_name: account.user_name.clone(),
                        user_id: account.user_id.clone(),
                    });
                    hash(ctx, job, false, AfterHash::Forced { account })
                }
            }
        }
        Input::Operator { action, .. } => match action {
            OperatorAction::ResetPassword { temporary } => match ready {
                Some(r) => new_password(ctx, &account, r, None),
                None => {
                    let job = Job::NewPassword(NewPassword {
                        current: None,
                        new: temporary,
                        confirmation: None,
                        history: None,
                        user_name: account.user_name.clone(),
                        user_id: account.user_id.clone(),
                    });
                    hash(ctx, job, false, AfterHash::Reset { account })
                }
            },
            OperatorAction::UnlockPassword => decided(ctx, &account, |d| d.unlock_password()),
            OperatorAction::UnlockToken => decided(ctx, &account, |d| d.unlock_token()),
            OperatorAction::RevokeToken => decided(ctx, &account, |d| d.revoke_token()),
        },
        Input::Session { session } => match session::check(&account, session, now) {
            Some(open) => done(ctx, Outcome::SessionOpen(open)),
            None => done(ctx, Outcome::refused(Refusal::InvalidTicket)),
        },
        Input::Logout { session } => match session::logout(&account, session, now) {
            Some((after, event)) => {
                let w = Write::replace(after, account.version, vec![event]);
                write(ctx, w, AfterWrite::Final(Outcome::LoggedOut), Owed::none())
            }
            None => done(ctx, Outcome::refused(Refusal::InvalidTicket)),
        },
        Input::Create { .. } => done(ctx, Outcome::refused(Refusal::UserIdTaken)),
    }
}

fn look_up(ctx: Ctx<'_>, account: Account, id: CredentialId) -> Next<'_> {
    Next::LookUp(AwaitToken { ctx, account, id })
}

/// Counts a password attempt before it is verified (the count-first
/// protocol): the reservation is written with its own event, and from
/// then on `job` is owed.
fn reserve<'a>(ctx: Ctx<'a>, account: Account, job: Job<'a>) -> Next<'a> {
    let (deps, facts, input) = (ctx.deps, ctx.facts, ctx.input);
    let mut draft = Draft::new(&account, &input, &deps, &facts);
    let reserved = draft.reserve();
    let (mut stored, events) = (draft.acc, draft.events);
    let w = Write::replace(stored.clone(), account.version, events);
    stored.version = account.version.saturating_add(1);
    let owed = Owed::of(job, ctx.deps);
    let then = AfterWrite::Reserved {
        account: stored,
        reserved,
    };
    write(ctx, w, then, owed)
}

pub(super) fn found<'a>(
    ctx: Ctx<'a>,
    account: &Account,
    seed: Option<&TokenSeed>,
    status: TokenStatus,
) -> Next<'a> {
    let input = ctx.input;
    decided(ctx, account, |d| match input {
        Input::Otp { code, .. } => d.otp(code, seed),
        Input::Resync { otp1, otp2, .. } => d.resync(otp1, otp2, seed),
        Input::Enroll {
            credential_id,
            otp1,
            otp2,
            ..
        } => d.enroll(CredentialId::parse(credential_id), otp1, otp2, seed, status),
        _ => d.ticket_rejected(),
    })
}

pub(super) fn hashed<'a>(
    ctx: Ctx<'a>,
    then: AfterHash,
    result: Result<Hashed, HashError>,
) -> Next<'a> {
    let hashed = match result {
        Ok(hashed) => hashed,
        Err(e) => return Next::Done(Err(e.into())),
    };
    match (then, hashed) {
        (AfterHash::Boundary, _) => done(ctx, Outcome::refused(Refusal::InvalidCredentials)),
        (AfterHash::Noted(noted), _) => {
            let event = AuditEvent {
                at: ctx.facts.now,
                user_id: noted.user_id,
                operator_id: None,
                kind: noted.kind,
            };
            let then = AfterWrite::Outcome(Outcome::refused(Refusal::InvalidCredentials));
            write(ctx, Write::events(vec![event]), then, Owed::none())
        }
        (AfterHash::Answer { account, reserved }, Hashed::Verified { matched, fresh }) => {
            let v = Verified {
                reserved,
                matched,
                fresh,
                new: None,
            };
            answer(ctx, &account, v)
        }
        (
            AfterHash::Answer { account, reserved },
            Hashed::NewPassword {
                current_matched,
                new,
            },
        ) => {
            let v = Verified {
                reserved,
                matched: current_matched,
                fresh: None,
                new,
            };
            answer(ctx, &account, v)
        }
        (AfterHash::Forced { account }, Hashed::NewPassword { new: Some(r), .. }) => {
            let checked = Some(history(&account));
            new_password(ctx, &account, r, checked)
        }
        (AfterHash::Reset { account }, Hashed::NewPassword { new: Some(r), .. }) => {
            new_password(ctx, &account, r, None)
        }
        (AfterHash::Create, Hashed::NewPassword { new: Some(r), .. }) => create(ctx, r),
        // A job always comes back to the phase that asked for it.
        _ => Next::Done(Err(Error::Hash(HashError::Malformed))),
    }
}

/// The answer to a verified password step or voluntary change.
fn answer<'a>(ctx: Ctx<'a>, account: &Account, v: Verified) -> Next<'a> {
    let (deps, facts, input) = (ctx.deps, ctx.facts, ctx.input);
    let mut draft = Draft::new(account, &input, &deps, &facts);
    let (outcome, passed) = match input {
        Input::Password { entry, .. } => draft.password_result(&v.reserved, v.matched, entry),
        _ => (
            draft.voluntary_change(&v.reserved, v.matched, v.new.clone()),
            false,
        ),
    };
    let drafted = draft.finish(account, &input, outcome);
    let rehash = v.fresh.clone().filter(|_| passed).map(|fresh| {
        let mut answered = drafted.account.clone().unwrap_or_else(|| account.clone());
        answered.version = account
            .version
            .saturating_add(u64::from(drafted.account.is_some()));
        (answered, fresh)
    });
    commit(ctx, account, drafted, |outcome| AfterWrite::Answered {
        outcome,
        verified: v,
        rehash,
    })
}

/// A forced change or a desk reset with its new password checked and
/// hashed (`checked`: the history it was checked against).
fn new_password<'a>(
    ctx: Ctx<'a>,
    account: &Account,
    new: Result<PasswordHash, Violations>,
    checked: Option<Vec<PasswordHash>>,
) -> Next<'a> {
    let retry = Retry {
        new: new.clone(),
        checked,
    };
    let (deps, facts, input) = (ctx.deps, ctx.facts, ctx.input);
    let mut draft = Draft::new(account, &input, &deps, &facts);
    let outcome = match input {
        Input::ChangePassword { .. } => draft.forced_change(new),
        _ => draft.reset_password(new),
    };
    let drafted = draft.finish(account, &input, outcome);
    commit(ctx, account, drafted, |outcome| AfterWrite::NewPassword {
        outcome,
        retry,
    })
}

/// The desk's new account, its temporary password checked and hashed
/// (R-ACC-2, R-OPS-2): must change at first login.
fn create(ctx: Ctx<'_>, new: Result<PasswordHash, Violations>) -> Next<'_> {
    let Input::Create {
        operator_id,
        user_name,
        customer_name,
        ..
    } = ctx.input
    else {
        return Next::Done(Err(Error::Hash(HashError::Malformed)));
    };
    let event = |kind| AuditEvent {
        at: ctx.facts.now,
        user_id: ctx.user_id.to_owned(),
        operator_id: Some(bounded(operator_id)),
        kind,
    };
    match new {
        Err(violations) => {
            let e = event(EventKind::PasswordChangeRejected {
                codes: violations.codes().map(str::to_owned).collect(),
            });
            let then = AfterWrite::Final(Outcome::refused(Refusal::PasswordRejected(violations)));
            write(ctx, Write::events(vec![e]), then, Owed::none())
        }
        Ok(hash) => {
            let account = Account {
                user_id: ctx.user_id.to_owned(),
                user_name: user_name.to_owned(),
                customer_name: customer_name.to_owned(),
                password: PasswordState {
                    hash,
                    previous: Vec::new(),
                    set_at: ctx.facts.now,
                    must_change: Some(MustChange::FirstLogin),
                    failures: Failures::default(),
                },
                enrollment: Failures::default(),
                token: None,
                revoked_tokens: Vec::new(),
                ticket: None,
                sessions: Vec::new(),
                version: 0,
            };
            let w = Write::create(account, vec![event(EventKind::AccountCreated)]);
            write(ctx, w, AfterWrite::Created, Owed::none())
        }
    }
}

/// The rehash after a right password: the record as it stands with the
/// fresh hash, its own compare-and-swap.
fn rehash<'a>(ctx: Ctx<'a>, account: &Account, r: Rehash) -> Next<'a> {
    let mut after = account.clone();
    after.password.hash = r.fresh.clone();
    let event = AuditEvent {
        at: ctx.facts.now,
        user_id: account.user_id.clone(),
        operator_id: None,
        kind: EventKind::PasswordRehashed,
    };
    let w = Write::replace(after, account.version, vec![event]);
    write(ctx, w, AfterWrite::Rehashed(r), Owed::none())
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
    // Nothing was written: nothing was counted, no hash is owed.
    drop(owed.take());
    let on = match then {
        AfterWrite::Created if e == StoreError::AlreadyExists => {
            return done(ctx, Outcome::refused(Refusal::UserIdTaken));
        }
        AfterWrite::Created | AfterWrite::Outcome(_) => return Next::Done(Err(e.into())),
        _ if !retryable(&e) => return Next::Done(Err(e.into())),
        AfterWrite::Reserved { .. } | AfterWrite::Noted(_) | AfterWrite::Final(_) => OnLoad::Decide,
        AfterWrite::Answered { verified, .. } => OnLoad::Answer(verified),
        AfterWrite::NewPassword { retry, .. } => OnLoad::NewPassword(retry),
        AfterWrite::Rehashed(r) => OnLoad::Rehash(r),
    };
    Next::Load(AwaitRecord { ctx, on })
}
