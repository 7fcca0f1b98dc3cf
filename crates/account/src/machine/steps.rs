//! The steps the protocol routes between: what an unknown user ID gets,
//! how a loaded record is decided, the reservation, the token lookup's
//! answer, the hash's answer, and the writes of new passwords and
//! rehashes. `flow.rs` holds the phases and the routing.

use lockstep_otp::CredentialId;
use lockstep_password::{HashError, PasswordHash, Violations};

use super::change::history;
use super::flow::{
    AfterHash, AfterWrite, Ctx, Noted, Rehash, Retry, Verified, commit, decided, done, hash, write,
};
use super::hash::{Hashed, NewPassword};
use super::{
    AwaitToken, Draft, Input, Job, Next, OperatorAction, Owed, bounded, session, ticket_opens,
};
use crate::error::Error;
use crate::event::{AuditEvent, EventKind, Factor, Outcome, Refusal};
use crate::record::{Account, Failures, MustChange, PasswordState, Stage};
use crate::token::{TokenSeed, TokenStatus};
use crate::write::{AttemptNote, Write};

/// A user ID with no account: the same answer and the same work as for a
/// known one (R-LOG-5). A password is noted and costs a verification of
/// the dummy hash; a ticket or session costs its digest and a comparison.
pub(super) fn unknown(ctx: Ctx<'_>) -> Next<'_> {
    let id = ctx.key.clone();
    let event = |kind, operator_id| AuditEvent {
        at: ctx.facts.now,
        user_id: id.clone(),
        operator_id,
        client: ctx.facts.client,
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
pub(super) fn decide(
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
                client: ctx.facts.client,
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
        Input::Logout { session } => {
            match session::logout(&account, session, now, ctx.facts.client) {
                Some((after, event)) => {
                    let w = Write::replace(after, account.version, vec![event]);
                    write(ctx, w, AfterWrite::Final(Outcome::LoggedOut), Owed::none())
                }
                None => done(ctx, Outcome::refused(Refusal::InvalidTicket)),
            }
        }
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
    id: CredentialId,
    seed: Option<&TokenSeed>,
    status: TokenStatus,
) -> Next<'a> {
    let input = ctx.input;
    decided(ctx, account, |d| match input {
        Input::Otp { code, .. } => d.otp(code, seed),
        Input::Resync { otp1, otp2, .. } => d.resync(otp1, otp2, seed),
        Input::Enroll { otp1, otp2, .. } => d.enroll(Ok(id), otp1, otp2, seed, status),
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
        (AfterHash::Failed(e), _) => Next::Done(Err(e.into())),
        (AfterHash::Noted(noted), _) => {
            let event = AuditEvent {
                at: ctx.facts.now,
                user_id: noted.user_id,
                operator_id: None,
                client: ctx.facts.client,
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
pub(super) fn answer<'a>(ctx: Ctx<'a>, account: &Account, v: Verified) -> Next<'a> {
    let (deps, facts, input) = (ctx.deps, ctx.facts, ctx.input);
    let mut draft = Draft::new(account, &input, &deps, &facts);
    let (outcome, passed) = match input {
        Input::Password { entry, .. } => draft.password_result(&v.reserved, v.matched, entry),
        Input::ChangePasswordLoggedIn { session, .. } => (
            draft.voluntary_change(session, &v.reserved, v.matched, v.new.clone()),
            false,
        ),
        _ => (draft.ticket_rejected(), false),
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
        client: ctx.facts.client,
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
pub(super) fn rehash<'a>(ctx: Ctx<'a>, account: &Account, r: Rehash) -> Next<'a> {
    let mut after = account.clone();
    after.password.hash = r.fresh.clone();
    let event = AuditEvent {
        at: ctx.facts.now,
        user_id: account.user_id.clone(),
        operator_id: None,
        client: ctx.facts.client,
        kind: EventKind::PasswordRehashed,
    };
    let w = Write::replace(after, account.version, vec![event]);
    write(ctx, w, AfterWrite::Rehashed(r), Owed::none())
}
