//! A small reference model of the login life cycle, and a driver that runs
//! a sequence of operations through the pure machine and the model side by
//! side, checking after every step that they agree and that the invariants
//! hold:
//!
//! - no code is ever accepted twice (a token's accepted steps strictly
//!   increase), and no code older than its allowance passes (R-TOK-3);
//! - a locked factor is never evaluated (no verification against the stored
//!   password hash while the password is locked; no OTP counter movement for
//!   a locked token);
//! - counters never exceed their caps;
//! - no logged-in outcome without the password, a valid OTP, and the
//!   required password change;
//! - no password change without a completed login (a session) or the change
//!   ticket of a login's OTP step;
//! - the drift changes only on enrollment and resync;
//! - every decision leaves an audit event.
//!
//! Every public input is driven: both entry buttons, OTP codes of every age,
//! enrollment, resync, the forced and the voluntary change with any session
//! ever issued, and every desk action. Caps and windows are read from the
//! [`Config`] in use.
//!
//! Used by the model-based property test of `lockstep-account` and by the
//! `account_model` fuzz target, with the free [`StubHasher`] so that a run
//! costs microseconds.

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use lockstep_account::{
    Account, Config, Entry, Env, EventKind, Input, LoginTicket, MustChange, OperatorAction,
    Outcome, SessionToken, Stage, TokenSeed, TokenStatus, create_account, decide,
};
use lockstep_otp::{CredentialId, Secret, Totp, TotpParams};
use lockstep_password::{Password, PasswordHash, PasswordHasher, PasswordPolicy};

use crate::hashers::{CountingHasher, StubHasher};

/// One thing a user, the clock or the support desk does.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum Op {
    /// Time passes (0..=511 s).
    Advance(u16),
    /// Password step with the right or a wrong password, the right button.
    Password(bool),
    /// Password step with the right password and the other button.
    WrongButton,
    /// OTP step with a kind of code.
    Otp(CodeKind),
    /// Enrollment with a consecutive (true) or a gapped (false) pair.
    Enroll(bool),
    /// Resync with a consecutive (true) or a gapped (false) pair.
    Resync(bool),
    /// Forced change to a new valid (true) or an invalid (false) password.
    Change(bool),
    /// Voluntary change with a session ever issued (picked by the number),
    /// the right or a wrong current password, a valid or invalid new one.
    ChangeLoggedIn {
        /// Which held session.
        session: u8,
        /// The right current password.
        right: bool,
        /// A valid new password.
        valid: bool,
    },
    /// Support desk: unlock the password.
    UnlockPassword,
    /// Support desk: unlock the token.
    UnlockToken,
    /// Support desk: reset the password.
    Reset,
    /// Support desk: revoke the token.
    Revoke,
}

/// Which code an OTP step submits, relative to the token's expected step.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum CodeKind {
    /// The expected step's code.
    Current,
    /// The step before: only within the grace after the boundary.
    Previous,
    /// The step after: a token clock slightly fast.
    Next,
    /// Two steps before: never (a code lives 30 s).
    Old,
    /// The last accepted code again.
    Replay,
    /// A code that matches no step near now.
    Wrong,
    /// Not six ASCII digits.
    Malformed,
}

/// The model's token: what belongs to the token, not the account.
#[derive(Debug, Clone, Copy)]
struct ModelToken {
    failures: u32,
    locked: bool,
    last_used: u64,
    drift: i64,
}

/// The reference model: what the rules say the state should be.
#[derive(Debug, Clone, Default)]
struct Model {
    pw_failures: u32,
    pw_locked: bool,
    enroll_failures: u32,
    enroll_locked: bool,
    token: Option<ModelToken>,
    /// The open stage and when its ticket expires.
    stage: Option<(Stage, u64)>,
    must_change: Option<MustChange>,
    /// Open sessions: the index of the held token, and its expiry.
    sessions: Vec<(usize, u64)>,
}

/// What the model expects an operation to produce.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Ticket(Stage),
    LoggedIn,
    Changed,
    Done,
    Refused(&'static str),
}

fn kind(outcome: &Outcome) -> Expect {
    match outcome {
        Outcome::OtpRequired { .. } | Outcome::Enrolled { .. } | Outcome::Resynced { .. } => {
            Expect::Ticket(Stage::Otp)
        }
        Outcome::EnrollmentRequired { .. } => Expect::Ticket(Stage::Enroll),
        Outcome::PasswordChangeRequired { .. } => Expect::Ticket(Stage::ChangePassword),
        Outcome::LoggedIn(_) => Expect::LoggedIn,
        Outcome::PasswordChanged(_) => Expect::Changed,
        other => other
            .refusal()
            .map_or(Expect::Done, |r| Expect::Refused(r.code())),
    }
}

const START: u64 = 1_750_000_000;

/// The harness around the machine: clock, randomness, what the user holds.
struct Harness {
    config: Config,
    policy: PasswordPolicy,
    hasher: CountingHasher<StubHasher>,
    dummy: PasswordHash,
    seed: TokenSeed,
    totp: Totp,
    now: u64,
    random: u64,
}

impl Harness {
    fn env(&mut self, token: bool) -> Env<'_> {
        self.random = self.random.wrapping_add(1);
        let mut ticket_random = [0_u8; 16];
        let mut salt = [0xA5_u8; 16];
        for (slot, b) in ticket_random.iter_mut().zip(self.random.to_le_bytes()) {
            *slot = b;
        }
        for (slot, b) in salt.iter_mut().zip(self.random.to_be_bytes()) {
            *slot ^= b;
        }
        Env {
            config: &self.config,
            policy: &self.policy,
            hasher: &self.hasher,
            dummy: &self.dummy,
            now: self.now,
            ticket_random,
            salt,
            token: token.then_some(&self.seed),
            token_status: TokenStatus::Free,
        }
    }

    fn code_at(&self, step: u64) -> String {
        self.totp.generate_at_step(step).expose().to_string()
    }

    /// Seconds into the current step.
    fn seconds_in(&self) -> u64 {
        self.now % 30
    }
}

/// Runs `ops` through the machine and the model with the default
/// [`Config`]; panics at the first disagreement or broken invariant.
///
/// Returns how often each outcome was seen (`ticket:Otp`, `logged_in`,
/// `refused:token_locked`, …), so that a test can show what it reached.
///
/// # Panics
/// When the machine and the model disagree, or an invariant breaks.
pub fn run(ops: &[Op]) -> BTreeMap<String, usize> {
    run_with(ops, Config::default())
}

/// [`run`] with another configuration (the caps and the grace are read
/// from it; its windows must keep the default shape of the model: one step
/// ahead, resync reaching at least two steps).
///
/// # Panics
/// As [`run`].
#[allow(clippy::too_many_lines)]
pub fn run_with(ops: &[Op], config: Config) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let secret = Secret::from_bytes(b"model-token-secret-20").unwrap_or_else(|_| unreachable!());
    let seed = TokenSeed::totp(secret, TotpParams::DEFAULT);
    let totp = Totp::new(&seed.secret, TotpParams::DEFAULT);
    let dummy = StubHasher
        .hash_with_salt(&Password::from("dummy-password"), b"dummy-salt")
        .unwrap_or_else(|e| panic!("{e}"));
    let cap_pw = config.password_lock_after();
    let cap_otp = config.otp_lock_after();
    let ticket_ttl = u64::from(config.ticket_ttl_seconds());
    let session_ttl = u64::from(config.session_ttl_seconds());
    let grace = u64::from(config.acceptance().grace_seconds);
    let resync_window = i64::from(config.resync_window());
    let max_drift = i64::from(config.max_drift());
    let mut h = Harness {
        config,
        policy: PasswordPolicy::bank_default(),
        hasher: CountingHasher::new(StubHasher),
        dummy,
        seed,
        totp,
        now: START,
        random: 0,
    };

    let temp = Password::from("tempPass1");
    let (mut acc, _) = create_account("u1", "user-one", "Customer", &temp, "op", &h.env(false))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut m = Model {
        must_change: Some(MustChange::FirstLogin),
        ..Model::default()
    };
    let mut current_pw = temp;
    let mut ticket: Option<LoginTicket> = None;
    let mut held: Vec<SessionToken> = Vec::new();
    let mut accepted_steps: Vec<u64> = Vec::new();
    let mut enrolled = 0_u8;
    let mut changes = 0_u32;
    // The login progress the invariants need: password then OTP in this login.
    let mut password_ok = false;
    let mut otp_ok = false;

    for (i, op) in ops.iter().enumerate() {
        let cur = h.totp.step_at(h.now).unwrap_or(0);
        let now = h.now;
        let ticket_open =
            |m: &Model, stage: Stage| m.stage.is_some_and(|(s, exp)| s == stage && now <= exp);
        let stored_hash_verifies = h.hasher.verifications_of(&acc.password.hash);
        let before = acc.clone();
        let dummy_ticket = LoginTicket::from_bytes([0xAA; 16]);
        let t = ticket.clone().unwrap_or(dummy_ticket);
        let mut session_used: Option<usize> = None;

        // Password expectations shared by the password step and the
        // voluntary change: the attempt is counted first; a right one
        // resets the counter.
        let password_attempt = |m: &mut Model, right: bool| -> bool {
            m.pw_failures = (m.pw_failures + 1).min(cap_pw);
            if m.pw_failures == cap_pw {
                m.pw_locked = true;
                m.stage = None;
                m.sessions.clear();
            }
            if right {
                m.pw_failures = 0;
                m.pw_locked = false;
            }
            right
        };
        let otp_fail = |m: &mut Model| -> Expect {
            let (failures, locked) = match m.token.as_mut() {
                Some(tok) => (&mut tok.failures, &mut tok.locked),
                None => (&mut m.enroll_failures, &mut m.enroll_locked),
            };
            *failures = (*failures + 1).min(cap_otp);
            if *failures == cap_otp {
                *locked = true;
                m.stage = None;
                m.sessions.clear();
                Expect::Refused("token_locked")
            } else {
                Expect::Refused("invalid_code")
            }
        };
        let open_session = |m: &mut Model, index: usize| {
            m.stage = None;
            m.sessions.retain(|&(_, exp)| now <= exp);
            if m.sessions.len() >= Config::MAX_SESSIONS {
                m.sessions.remove(0);
            }
            m.sessions.push((index, now + session_ttl));
        };

        let (expect, decision) = match *op {
            Op::Advance(s) => {
                h.now += u64::from(s % 512);
                continue;
            }
            Op::Password(_) | Op::WrongButton => {
                let right = !matches!(op, Op::Password(false));
                let wrong = Password::from("Wrong999");
                let pw = if right { &current_pw } else { &wrong };
                let correct = if m.token.is_some() {
                    Entry::Login
                } else {
                    Entry::Enroll
                };
                let entry = match (op, correct) {
                    (Op::WrongButton, Entry::Login) => Entry::Enroll,
                    (Op::WrongButton, _) => Entry::Login,
                    _ => correct,
                };
                let d = decide(
                    &acc,
                    &Input::Password {
                        password: pw,
                        entry,
                    },
                    &h.env(false),
                );
                // A locked password is refused before any attempt is counted.
                let e = if m.pw_locked || !password_attempt(&mut m, right) {
                    Expect::Refused("invalid_credentials")
                } else if matches!(op, Op::WrongButton) {
                    m.stage = None;
                    Expect::Refused(if m.token.is_some() {
                        "already_enrolled"
                    } else {
                        "not_enrolled"
                    })
                } else if m.token.map_or(m.enroll_locked, |tok| tok.locked) {
                    m.stage = None;
                    Expect::Refused("token_locked")
                } else {
                    let stage = if m.token.is_some() {
                        Stage::Otp
                    } else {
                        Stage::Enroll
                    };
                    m.stage = Some((stage, now + ticket_ttl));
                    Expect::Ticket(stage)
                };
                (e, d)
            }
            Op::Otp(k) => {
                let drift = m.token.map_or(0, |tok| tok.drift);
                let last = m.token.map(|tok| tok.last_used);
                let expected = cur.saturating_add_signed(drift);
                let behind = u64::from(h.seconds_in() < grace);
                let (lo, hi) = (expected.saturating_sub(behind), expected + 1);
                let accepts = |s: u64| lo <= s && s <= hi && last.is_none_or(|l| s > l);
                let step = match k {
                    CodeKind::Current => Some(expected),
                    CodeKind::Previous => expected.checked_sub(1),
                    CodeKind::Next => Some(expected + 1),
                    CodeKind::Old => expected.checked_sub(2),
                    CodeKind::Replay => last,
                    CodeKind::Wrong | CodeKind::Malformed => None,
                };
                let code = match (k, step) {
                    (CodeKind::Malformed, _) => "１２３４５６".to_owned(),
                    (_, Some(s)) => h.code_at(s),
                    (_, None) => (0..)
                        .map(|n: u32| format!("{n:06}"))
                        .find(|c| (cur.saturating_sub(30)..=cur + 30).all(|s| h.code_at(s) != *c))
                        .unwrap_or_default(),
                };
                // Once in ~100 000 steps a code repeats at another step of
                // the window; the machine then (rightly) takes the highest
                // fresh one. Keep the model simple and skip such a step.
                if let Some(s) = step
                    && (lo.saturating_sub(2)..=hi + 2).any(|o| o != s && h.code_at(o) == code)
                {
                    continue;
                }
                let good = step.is_some_and(accepts);
                let d = decide(
                    &acc,
                    &Input::Otp {
                        ticket: &t,
                        code: &code,
                    },
                    &h.env(true),
                );
                let e = if !ticket_open(&m, Stage::Otp) || m.token.is_none() {
                    Expect::Refused("invalid_ticket")
                } else if m.token.is_some_and(|tok| tok.locked) {
                    Expect::Refused("token_locked")
                } else if matches!(k, CodeKind::Malformed) {
                    Expect::Refused("malformed_code")
                } else if good {
                    if let (Some(tok), Some(s)) = (m.token.as_mut(), step) {
                        tok.failures = 0;
                        tok.last_used = s;
                    }
                    match m.must_change {
                        Some(_) => {
                            m.stage = Some((Stage::ChangePassword, now + ticket_ttl));
                            Expect::Ticket(Stage::ChangePassword)
                        }
                        None => {
                            open_session(&mut m, held.len());
                            Expect::LoggedIn
                        }
                    }
                } else {
                    otp_fail(&mut m)
                };
                (e, d)
            }
            Op::Enroll(consecutive) | Op::Resync(consecutive) => {
                let enroll = matches!(op, Op::Enroll(_));
                enrolled = enrolled.wrapping_add(u8::from(enroll));
                let id = CredentialId::from_random([enrolled; 16]);
                // Enrollment: OTP1, OTP2 ending at the current step;
                // resync: a pair ending one step ahead (a fast token).
                let second = if enroll { cur } else { cur + 1 };
                let first = second - 1;
                let (a, b) = (
                    h.code_at(first),
                    h.code_at(if consecutive { second } else { second + 1 }),
                );
                if (first.saturating_sub(25)..=second + 25).any(|s| {
                    (s != first && h.code_at(s) == a) || (s != second && h.code_at(s) == b)
                }) {
                    continue;
                }
                let input = if enroll {
                    Input::Enroll {
                        ticket: &t,
                        credential_id: id.as_str(),
                        otp1: &a,
                        otp2: &b,
                    }
                } else {
                    Input::Resync {
                        ticket: &t,
                        otp1: &a,
                        otp2: &b,
                    }
                };
                let d = decide(&acc, &input, &h.env(true));
                let stage = if enroll { Stage::Enroll } else { Stage::Otp };
                let drift = m.token.map_or(0, |tok| tok.drift);
                let reachable = enroll || {
                    let offset =
                        i64::try_from(second).unwrap_or(0) - i64::try_from(cur).unwrap_or(0);
                    (offset - drift.clamp(-max_drift, max_drift)).abs() <= resync_window
                        && offset.abs() <= max_drift
                };
                let fresh = enroll || m.token.is_some_and(|tok| first > tok.last_used);
                let e = if !ticket_open(&m, stage) || (!enroll && m.token.is_none()) {
                    Expect::Refused("invalid_ticket")
                } else if enroll && m.token.is_some() {
                    Expect::Refused("already_enrolled")
                } else if m.token.map_or(m.enroll_locked, |tok| tok.locked) {
                    Expect::Refused("token_locked")
                } else if consecutive && reachable && fresh {
                    // Both codes consumed; an enrollment binds a fresh token.
                    let drift =
                        i64::try_from(second).unwrap_or(0) - i64::try_from(cur).unwrap_or(0);
                    if enroll {
                        m.enroll_failures = 0;
                    }
                    m.token = Some(ModelToken {
                        failures: 0,
                        locked: false,
                        last_used: second,
                        drift,
                    });
                    m.stage = Some((Stage::Otp, now + ticket_ttl));
                    Expect::Ticket(Stage::Otp)
                } else {
                    otp_fail(&mut m)
                };
                (e, d)
            }
            Op::Change(valid) => {
                let new = if valid {
                    Password::from(format!("Model{}x{}", changes + 1, i))
                } else {
                    Password::from("x")
                };
                let d = decide(
                    &acc,
                    &Input::ChangePassword {
                        ticket: &t,
                        new: &new,
                        confirmation: &new,
                    },
                    &h.env(false),
                );
                let e = if !ticket_open(&m, Stage::ChangePassword) {
                    Expect::Refused("invalid_ticket")
                } else if valid {
                    m.must_change = None;
                    m.sessions.clear();
                    changes += 1;
                    current_pw = new.clone();
                    open_session(&mut m, held.len());
                    Expect::LoggedIn
                } else {
                    Expect::Refused("password_rejected")
                };
                (e, d)
            }
            Op::ChangeLoggedIn {
                session,
                right,
                valid,
            } => {
                let pick = (!held.is_empty()).then(|| usize::from(session) % held.len());
                let fake = SessionToken::from_bytes([0x55; 16]);
                let token = pick.and_then(|p| held.get(p)).unwrap_or(&fake);
                session_used = pick;
                let new = if valid {
                    Password::from(format!("Volun{}x{}", changes + 1, i))
                } else {
                    Password::from("x")
                };
                let wrong = Password::from("Wrong999");
                let d = decide(
                    &acc,
                    &Input::ChangePasswordLoggedIn {
                        session: token,
                        current: if right { &current_pw } else { &wrong },
                        new: &new,
                        confirmation: &new,
                    },
                    &h.env(false),
                );
                let live = pick.is_some_and(|p| {
                    m.sessions
                        .iter()
                        .any(|&(index, exp)| index == p && now <= exp)
                });
                let e = if !live {
                    Expect::Refused("invalid_ticket")
                } else if m.must_change.is_some() {
                    Expect::Refused("change_required")
                } else if m.pw_locked {
                    Expect::Refused("invalid_credentials")
                } else if m.token.map_or(m.enroll_locked, |tok| tok.locked) {
                    Expect::Refused("token_locked")
                } else if !password_attempt(&mut m, right) {
                    Expect::Refused("invalid_credentials")
                } else if valid {
                    m.sessions.clear();
                    changes += 1;
                    current_pw = new.clone();
                    open_session(&mut m, held.len());
                    Expect::Changed
                } else {
                    Expect::Refused("password_rejected")
                };
                (e, d)
            }
            Op::UnlockPassword | Op::UnlockToken | Op::Reset | Op::Revoke => {
                let temp = Password::from(format!("Reset{i}x9"));
                let action = match *op {
                    Op::UnlockPassword => {
                        m.pw_failures = 0;
                        m.pw_locked = false;
                        OperatorAction::UnlockPassword
                    }
                    Op::UnlockToken => {
                        if let Some(tok) = m.token.as_mut() {
                            tok.failures = 0;
                            tok.locked = false;
                        }
                        m.enroll_failures = 0;
                        m.enroll_locked = false;
                        OperatorAction::UnlockToken
                    }
                    Op::Reset => {
                        m.pw_failures = 0;
                        m.pw_locked = false;
                        m.stage = None;
                        m.sessions.clear();
                        m.must_change = Some(MustChange::Reset);
                        current_pw = temp.clone();
                        OperatorAction::ResetPassword { temporary: &temp }
                    }
                    _ => OperatorAction::RevokeToken,
                };
                let had_token = m.token.is_some();
                if matches!(op, Op::Revoke) && had_token {
                    m.token = None;
                    m.stage = None;
                    m.sessions.clear();
                    accepted_steps.clear();
                }
                let d = decide(
                    &acc,
                    &Input::Operator {
                        operator_id: "desk",
                        action,
                    },
                    &h.env(false),
                );
                let e = if matches!(op, Op::Revoke) && !had_token {
                    Expect::Refused("no_token")
                } else {
                    Expect::Done
                };
                (e, d)
            }
        };
        let d = decision.unwrap_or_else(|e| panic!("op {i} {op:?}: {e}"));
        let got = kind(&d.outcome);
        assert!(
            !d.events.is_empty(),
            "op {i} {op:?}: a decision without an audit event"
        );
        assert_eq!(got, expect, "op {i} {op:?}: outcome {:?}", d.outcome);
        let name = match &got {
            Expect::Ticket(stage) => format!("ticket:{stage:?}"),
            Expect::LoggedIn => "logged_in".to_owned(),
            Expect::Changed => "changed".to_owned(),
            Expect::Done => "done".to_owned(),
            Expect::Refused(code) => format!("refused:{code}"),
        };
        *seen.entry(name).or_insert(0) += 1;
        let after = d.account.clone().unwrap_or_else(|| acc.clone());

        // Invariant: a locked password is not evaluated.
        if before.password.failures.locked {
            assert_eq!(
                h.hasher.verifications_of(&before.password.hash),
                stored_hash_verifies,
                "op {i}: locked password evaluated"
            );
        }
        // Invariant: a locked token's counter does not move.
        if let (Some(old), Some(new)) = (&before.token, &after.token)
            && old.failures.locked
            && matches!(
                op,
                Op::Otp(_) | Op::Enroll(_) | Op::Resync(_) | Op::Password(_)
            )
        {
            assert_eq!(new.failures, old.failures, "op {i}: locked token evaluated");
        }
        // Invariant: the drift moves only on enrollment and resync.
        if let (Some(old), Some(new)) = (&before.token, &after.token)
            && old.drift != new.drift
        {
            assert!(
                matches!(op, Op::Resync(_)),
                "op {i} {op:?}: drift moved from {} to {}",
                old.drift,
                new.drift
            );
        }
        // Invariant: no password change without a completed login.
        if before.password.hash != after.password.hash {
            let allowed = match op {
                Op::Reset => true,
                Op::Change(_) => password_ok && otp_ok,
                Op::ChangeLoggedIn { .. } => session_used.is_some(),
                _ => false,
            };
            assert!(allowed, "op {i} {op:?}: password changed without a login");
        }
        // Invariants: accepted steps strictly increase, and none is older
        // than its allowance.
        for e in &d.events {
            if let EventKind::OtpAccepted { step, drift } = e.kind {
                assert!(
                    accepted_steps.last().is_none_or(|&l| step > l),
                    "op {i}: step {step} accepted twice"
                );
                let expected = cur.saturating_add_signed(drift);
                let oldest = expected.saturating_sub(u64::from(h.seconds_in() < grace));
                assert!(
                    step >= oldest,
                    "op {i}: a code of step {step} passed at step {cur} ({}s in)",
                    h.seconds_in()
                );
                accepted_steps.push(step);
            }
        }
        // Invariant: logged in only after password, OTP and any required change.
        match (&got, op) {
            (Expect::Ticket(Stage::Otp | Stage::Enroll), Op::Password(_)) => {
                password_ok = true;
                otp_ok = false;
            }
            (Expect::Ticket(Stage::ChangePassword), Op::Otp(_)) => otp_ok = true,
            (Expect::LoggedIn, _) => {
                let via_otp = matches!(op, Op::Otp(_)) && password_ok;
                let via_change = matches!(op, Op::Change(_)) && password_ok && otp_ok;
                assert!(
                    via_otp || via_change,
                    "op {i}: logged in without both factors"
                );
                password_ok = false;
                otp_ok = false;
            }
            _ => {}
        }
        if matches!(d.outcome, Outcome::LoggedIn(_)) {
            assert_eq!(
                after.password.must_change, None,
                "op {i}: logged in with a change pending"
            );
        }

        // Adopt the machine's state, any new ticket, any new session.
        if let Some(next) = d.outcome.ticket() {
            ticket = Some(next.clone());
        }
        if let Some(session) = d.outcome.session() {
            held.push(session.token.clone());
        }
        acc = after;
        check_against_model(i, op, &acc, &m, now, cap_pw, cap_otp);
    }
    seen
}

fn check_against_model(
    i: usize,
    op: &Op,
    acc: &Account,
    m: &Model,
    now: u64,
    cap_pw: u32,
    cap_otp: u32,
) {
    let ctx = format!("after op {i} {op:?}");
    let p = &acc.password.failures;
    assert_eq!(p.count, m.pw_failures, "{ctx}: password failures");
    assert_eq!(p.locked, m.pw_locked, "{ctx}: password lock");
    assert_eq!(
        (acc.enrollment.count, acc.enrollment.locked),
        (m.enroll_failures, m.enroll_locked),
        "{ctx}: enrollment counter"
    );
    match (&acc.token, &m.token) {
        (None, None) => {}
        (Some(t), Some(mt)) => {
            assert_eq!(
                (t.failures.count, t.failures.locked, t.last_used, t.drift),
                (mt.failures, mt.locked, mt.last_used, mt.drift),
                "{ctx}: token"
            );
            assert!(t.failures.count <= cap_otp, "{ctx}: OTP cap");
        }
        (t, mt) => panic!("{ctx}: token {t:?} vs model {mt:?}"),
    }
    assert_eq!(
        acc.password.must_change, m.must_change,
        "{ctx}: must change"
    );
    assert_eq!(
        acc.ticket.as_ref().map(|t| t.stage),
        m.stage.map(|(s, _)| s),
        "{ctx}: stage"
    );
    let live = acc.sessions.iter().filter(|s| now <= s.expires_at).count();
    let model_live = m.sessions.iter().filter(|&&(_, exp)| now <= exp).count();
    assert_eq!(live, model_live, "{ctx}: open sessions");
    assert!(
        p.count <= cap_pw && acc.enrollment.count <= cap_otp,
        "{ctx}: caps"
    );
}
