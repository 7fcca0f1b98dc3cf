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
//! - every decision leaves an audit event;
//! - a session is open exactly while the model says so (opened by a
//!   completed login or voluntary change, not expired, not ended by a lock,
//!   reset, revoke, password change or its logout), and shows the names;
//!   logout ends that one session only, with an audit event, and a token
//!   that opens nothing writes nothing.
//!
//! Every public input is driven: both entry buttons, OTP codes of every age,
//! enrollment, resync, the forced and the voluntary change with any session
//! ever issued, every desk action, the session check and logout. Caps and windows are read from the
//! [`Config`] in use.
//!
//! Used by the model-based property test of `lockstep-account` and by the
//! `account_model` fuzz target, with the free [`StubHasher`] so that a run
//! costs microseconds.
//!
//! This file is long on purpose: one `World` method per public input, each
//! holding the machine call and the model's expectation side by side, so
//! that a reader checks them against each other in one place. The model
//! itself is in `reference.rs`.

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use lockstep_account::machine::{self, CodeInput, Decision, Deps, Facts, Input};
use lockstep_account::{
    Account, Config, Entry, EventKind, LoginTicket, MustChange, OperatorAction, SessionToken,
    Stage, TokenSeed, TokenStatus,
};
use lockstep_account::{Error, Outcome};
use lockstep_otp::{CredentialId, Secret, Totp, TotpParams};
use lockstep_password::{HashError, Password, PasswordHash, PasswordHashing, PasswordPolicy};

use crate::hashers::{CountingHasher, StubHasher};

mod reference;

use reference::{Caps, Expect, Model, ModelToken};

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
    /// An authenticated page asks whether a session ever issued (picked by
    /// the number; none issued yet: a made-up token) is open.
    Session(u8),
    /// Logout with a session ever issued (or a made-up token).
    Logout(u8),
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

const START: u64 = 1_750_000_000;

/// The machine's world and the model's, side by side.
struct World {
    config: Config,
    policy: PasswordPolicy,
    hasher: CountingHasher<StubHasher>,
    dummy: PasswordHash,
    seed: TokenSeed,
    totp: Totp,
    caps: Caps,
    now: u64,
    random: u64,
    acc: Account,
    m: Model,
    current_pw: Password,
    ticket: Option<LoginTicket>,
    /// Every session token ever issued, as the user's devices hold them.
    held: Vec<SessionToken>,
    accepted: Vec<u64>,
    enrolled: u8,
    changes: u32,
    /// The login progress: password then OTP in this login.
    password_ok: bool,
    otp_ok: bool,
}

/// The record before an operation, and how often its hash was verified.
struct Before {
    acc: Account,
    verified: usize,
}

/// What one operation did, for the invariants.
struct Step {
    expect: Expect,
    decision: Result<Decision, Error>,
    /// The held session a voluntary change used, if any.
    session_used: Option<usize>,
}

impl World {
    fn new(config: Config) -> Result<Self, Error> {
        let secret =
            Secret::from_bytes(b"model-token-secret-20").map_err(|_| HashError::Malformed)?;
        let seed = TokenSeed::totp(secret, TotpParams::DEFAULT);
        let totp = Totp::new(&seed.secret, TotpParams::DEFAULT);
        let dummy = StubHasher.hash_with_salt(&Password::from("dummy-password"), b"dummy-salt")?;
        let temp = Password::from("tempPass1");
        let caps = Caps::of(&config);
        let mut w = Self {
            policy: PasswordPolicy::bank_default(),
            hasher: CountingHasher::new(StubHasher),
            dummy,
            seed,
            totp,
            caps,
            now: START,
            random: 0,
            acc: crate::sample("u1"),
            m: Model {
                must_change: Some(MustChange::FirstLogin),
                ..Model::default()
            },
            current_pw: temp.clone(),
            ticket: None,
            held: Vec::new(),
            accepted: Vec::new(),
            enrolled: 0,
            changes: 0,
            password_ok: false,
            otp_ok: false,
            config,
        };
        let facts = w.facts();
        let create = Input::Create {
            operator_id: "op",
            user_name: "user-one",
            customer_name: "Customer",
            temporary: &temp,
        };
        let no_tokens = |_: &CredentialId| (None, TokenStatus::Free);
        let created = machine::decide(None, "u1", create, w.deps(), facts, &no_tokens)?;
        w.acc = created.account.ok_or(Error::Hash(HashError::Malformed))?;
        Ok(w)
    }

    fn deps(&self) -> Deps<'_> {
        Deps {
            config: &self.config,
            policy: &self.policy,
            hasher: &self.hasher,
            dummy: &self.dummy,
            detach: None,
        }
    }

    /// Fresh facts: the time, and randomness distinct every call.
    fn facts(&mut self) -> Facts {
        self.random = self.random.wrapping_add(1);
        let mut ticket_random = [0_u8; 16];
        let mut salt = [0xA5_u8; 16];
        for (slot, b) in ticket_random.iter_mut().zip(self.random.to_le_bytes()) {
            *slot = b;
        }
        for (slot, b) in salt.iter_mut().zip(self.random.to_be_bytes()) {
            *slot ^= b;
        }
        Facts {
            now: self.now,
            ticket_random,
            salt,
            client: None,
        }
    }

    fn decide(&mut self, input: &Input<'_>) -> Result<Decision, Error> {
        let facts = self.facts();
        let seed = self.seed.clone();
        let tokens = move |_: &CredentialId| (Some(seed.clone()), TokenStatus::Free);
        machine::decide(Some(&self.acc), "u1", *input, self.deps(), facts, &tokens)
    }

    fn current_step(&self) -> u64 {
        self.totp.step_at(self.now).unwrap_or(0)
    }

    fn code_at(&self, step: u64) -> String {
        self.totp.generate_at_step(step).expose().to_string()
    }

    fn in_grace(&self) -> bool {
        self.now % 30 < self.caps.grace
    }

    fn presented_ticket(&self) -> LoginTicket {
        self.ticket
            .clone()
            .unwrap_or_else(|| LoginTicket::from_bytes([0xAA; 16]))
    }

    /// The password step, with the right or a wrong password, and the
    /// right button unless `wrong_button`.
    fn password(&mut self, right: bool, wrong_button: bool) -> Step {
        let wrong = Password::from("Wrong999");
        let pw = if right {
            self.current_pw.clone()
        } else {
            wrong
        };
        let bound = self.m.token.is_some();
        let entry = match (bound, wrong_button) {
            (true, false) | (false, true) => Entry::Login,
            _ => Entry::Enroll,
        };
        let decision = self.decide(&Input::Password {
            password: &pw,
            entry,
        });
        let (m, caps, now) = (&mut self.m, self.caps, self.now);
        // A locked password is refused before any attempt is counted.
        let expect = if m.pw_locked || !m.password_attempt(caps, right) {
            Expect::Refused("invalid_credentials")
        } else if wrong_button {
            m.stage = None;
            Expect::Refused(if bound {
                "already_enrolled"
            } else {
                "not_enrolled"
            })
        } else if m.otp_locked() {
            m.stage = None;
            Expect::Refused("token_locked")
        } else {
            m.open(if bound { Stage::Otp } else { Stage::Enroll }, now, caps)
        };
        Step {
            expect,
            decision,
            session_used: None,
        }
    }

    /// One code of `kind` at the OTP stage. `None`: skipped (the code also
    /// matches another step nearby, where the machine rightly takes the
    /// highest; the model keeps it simple).
    fn otp(&mut self, kind: CodeKind) -> Option<Step> {
        let drift = self.m.token.map_or(0, |tok| tok.drift);
        let last = self.m.token.map(|tok| tok.last_used);
        let cur = self.current_step();
        let expected = cur.saturating_add_signed(drift);
        let (lo, hi) = (
            expected.saturating_sub(u64::from(self.in_grace())),
            expected + 1,
        );
        let step = match kind {
            CodeKind::Current => Some(expected),
            CodeKind::Previous => expected.checked_sub(1),
            CodeKind::Next => Some(expected + 1),
            CodeKind::Old => expected.checked_sub(2),
            CodeKind::Replay => last,
            CodeKind::Wrong | CodeKind::Malformed => None,
        };
        let code = match (kind, step) {
            (CodeKind::Malformed, _) => "１２３４５６".to_owned(),
            (_, Some(s)) => self.code_at(s),
            (_, None) => (0..)
                .map(|n: u32| format!("{n:06}"))
                .find(|c| (cur.saturating_sub(30)..=cur + 30).all(|s| self.code_at(s) != *c))
                .unwrap_or_default(),
        };
        if let Some(s) = step
            && (lo.saturating_sub(2)..=hi + 2).any(|o| o != s && self.code_at(o) == code)
        {
            return None;
        }
        let good = step.is_some_and(|s| lo <= s && s <= hi && last.is_none_or(|l| s > l));
        let ticket = self.presented_ticket();
        let decision = self.decide(&Input::Otp {
            ticket: &ticket,
            code: CodeInput::Text(&code),
        });
        let (caps, now, index) = (self.caps, self.now, self.held.len());
        let m = &mut self.m;
        let expect = if !m.stage_open(Stage::Otp, now) || m.token.is_none() {
            Expect::Refused("invalid_ticket")
        } else if m.otp_locked() {
            Expect::Refused("token_locked")
        } else if matches!(kind, CodeKind::Malformed) {
            Expect::Refused("malformed_code")
        } else if let (true, Some(tok), Some(s)) = (good, m.token.as_mut(), step) {
            tok.failures = 0;
            tok.last_used = s;
            if m.must_change.is_some() {
                m.open(Stage::ChangePassword, now, caps)
            } else {
                m.open_session(index, now, caps);
                Expect::LoggedIn
            }
        } else {
            m.otp_fail(caps, "invalid_code")
        };
        Some(Step {
            expect,
            decision,
            session_used: None,
        })
    }

    /// Enrollment (OTP2 at the current step) or resync (a pair ending one
    /// step ahead: a fast token), consecutive or gapped. `None`: skipped
    /// for a code that repeats nearby.
    fn pair(&mut self, enroll: bool, consecutive: bool) -> Option<Step> {
        let cur = self.current_step();
        self.enrolled = self.enrolled.wrapping_add(u8::from(enroll));
        let id = CredentialId::from_random([self.enrolled; 16]);
        let second = if enroll { cur } else { cur + 1 };
        let first = second - 1;
        let (a, b) = (
            self.code_at(first),
            self.code_at(if consecutive { second } else { second + 1 }),
        );
        let repeats = (first.saturating_sub(25)..=second + 25)
            .any(|s| (s != first && self.code_at(s) == a) || (s != second && self.code_at(s) == b));
        if repeats {
            return None;
        }
        let ticket = self.presented_ticket();
        let input = if enroll {
            Input::Enroll {
                ticket: &ticket,
                credential_id: id.as_str(),
                otp1: CodeInput::Text(&a),
                otp2: CodeInput::Text(&b),
            }
        } else {
            Input::Resync {
                ticket: &ticket,
                otp1: CodeInput::Text(&a),
                otp2: CodeInput::Text(&b),
            }
        };
        let decision = self.decide(&input);
        let (caps, now) = (self.caps, self.now);
        let m = &mut self.m;
        let offset = i64::try_from(second).unwrap_or(0) - i64::try_from(cur).unwrap_or(0);
        let drift = m.token.map_or(0, |tok| tok.drift);
        let reachable = enroll
            || ((offset - drift.clamp(-caps.max_drift, caps.max_drift)).abs()
                <= caps.resync_window
                && offset.abs() <= caps.max_drift);
        let fresh = enroll || m.token.is_some_and(|tok| first > tok.last_used);
        let stage = if enroll { Stage::Enroll } else { Stage::Otp };
        let expect = if !m.stage_open(stage, now) || (!enroll && m.token.is_none()) {
            Expect::Refused("invalid_ticket")
        } else if enroll && m.token.is_some() {
            Expect::Refused("already_enrolled")
        } else if m.otp_locked() {
            Expect::Refused("token_locked")
        } else if consecutive && reachable && fresh {
            // Both codes consumed; an enrollment binds a fresh token.
            if enroll {
                m.enroll_failures = 0;
            }
            m.token = Some(ModelToken {
                failures: 0,
                locked: false,
                last_used: second,
                drift: offset,
            });
            m.open(Stage::Otp, now, caps)
        } else {
            m.otp_fail(
                caps,
                if enroll {
                    "enrollment_failed"
                } else {
                    "resync_failed"
                },
            )
        };
        Some(Step {
            expect,
            decision,
            session_used: None,
        })
    }

    fn new_password(&mut self, i: usize, valid: bool, prefix: &str) -> Password {
        if valid {
            Password::from(format!("{prefix}{}x{i}", self.changes + 1))
        } else {
            Password::from("x")
        }
    }

    /// The forced change with the change ticket.
    fn change(&mut self, i: usize, valid: bool) -> Step {
        let new = self.new_password(i, valid, "Model");
        let ticket = self.presented_ticket();
        let decision = self.decide(&Input::ChangePassword {
            ticket: &ticket,
            new: &new,
            confirmation: &new,
        });
        let (caps, now, index) = (self.caps, self.now, self.held.len());
        let expect = if !self.m.stage_open(Stage::ChangePassword, now) {
            Expect::Refused("invalid_ticket")
        } else if valid {
            self.m.must_change = None;
            self.m.void();
            self.changes += 1;
            self.current_pw = new;
            self.m.open_session(index, now, caps);
            Expect::LoggedIn
        } else {
            Expect::Refused("password_rejected")
        };
        Step {
            expect,
            decision,
            session_used: None,
        }
    }

    /// The voluntary change with a held session.
    fn change_logged_in(&mut self, i: usize, session: u8, right: bool, valid: bool) -> Step {
        let (pick, token) = self.held_session(session);
        let new = self.new_password(i, valid, "Volun");
        let wrong = Password::from("Wrong999");
        let current = if right {
            self.current_pw.clone()
        } else {
            wrong
        };
        let decision = self.decide(&Input::ChangePasswordLoggedIn {
            session: &token,
            current: &current,
            new: &new,
            confirmation: &new,
        });
        let (caps, now, index) = (self.caps, self.now, self.held.len());
        let m = &mut self.m;
        let expect = if !m.session_live(pick, now) {
            Expect::Refused("invalid_ticket")
        } else if m.must_change.is_some() {
            Expect::Refused("change_required")
        } else if m.pw_locked {
            Expect::Refused("invalid_credentials")
        } else if m.otp_locked() {
            Expect::Refused("token_locked")
        } else if !m.password_attempt(caps, right) {
            Expect::Refused("wrong_current_password")
        } else if valid {
            m.void();
            m.open_session(index, now, caps);
            self.changes += 1;
            self.current_pw = new;
            Expect::Changed
        } else {
            Expect::Refused("password_rejected")
        };
        Step {
            expect,
            decision,
            session_used: pick,
        }
    }

    /// A support-desk action.
    fn desk(&mut self, i: usize, op: Op) -> Step {
        let temp = Password::from(format!("Reset{i}x9"));
        let m = &mut self.m;
        let had_token = m.token.is_some();
        let action = match op {
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
                m.void();
                m.must_change = Some(MustChange::Reset);
                self.current_pw = temp.clone();
                OperatorAction::ResetPassword { temporary: &temp }
            }
            _ => {
                if had_token {
                    m.token = None;
                    m.void();
                    self.accepted.clear();
                }
                OperatorAction::RevokeToken
            }
        };
        let decision = self.decide(&Input::Operator {
            operator_id: "desk",
            action,
        });
        let expect = if matches!(op, Op::Revoke) && !had_token {
            Expect::Refused("no_token")
        } else {
            Expect::Done
        };
        Step {
            expect,
            decision,
            session_used: None,
        }
    }

    fn run_op(&mut self, i: usize, op: Op) -> Option<Step> {
        Some(match op {
            Op::Advance(s) => {
                self.now += u64::from(s % 512);
                return None;
            }
            Op::Password(right) => self.password(right, false),
            Op::WrongButton => self.password(true, true),
            Op::Otp(kind) => return self.otp(kind),
            Op::Enroll(consecutive) => return self.pair(true, consecutive),
            Op::Resync(consecutive) => return self.pair(false, consecutive),
            Op::Change(valid) => self.change(i, valid),
            Op::ChangeLoggedIn {
                session,
                right,
                valid,
            } => self.change_logged_in(i, session, right, valid),
            Op::UnlockPassword | Op::UnlockToken | Op::Reset | Op::Revoke => self.desk(i, op),
            // No decision: `run_with` checks them itself.
            Op::Session(_) | Op::Logout(_) => return None,
        })
    }

    /// A held session by number (a made-up token when none was issued).
    fn held_session(&self, n: u8) -> (Option<usize>, SessionToken) {
        let pick = (!self.held.is_empty()).then(|| usize::from(n) % self.held.len());
        let token = pick
            .and_then(|p| self.held.get(p).cloned())
            .unwrap_or_else(|| SessionToken::from_bytes([0x55; 16]));
        (pick, token)
    }

    /// The session check of an authenticated page; names what it saw.
    fn session(&mut self, i: usize, n: u8) -> &'static str {
        let (pick, token) = self.held_session(n);
        let got = match self.decide(&Input::Session { session: &token }) {
            Ok(d) => {
                assert!(d.writes.is_empty(), "op {i}: a session check wrote");
                match d.outcome {
                    Outcome::SessionOpen(s) => Some(s),
                    _ => None,
                }
            }
            Err(e) => panic!("op {i}: {e}"),
        };
        let want = pick.and_then(|p| {
            self.m
                .sessions
                .iter()
                .find(|&&(s, exp)| s == p && self.now <= exp)
                .map(|&(_, exp)| exp)
        });
        assert_eq!(
            got.as_ref().map(|s| s.expires_at),
            want,
            "op {i} Session({n}): open until"
        );
        if let Some(s) = got {
            assert_eq!(
                (s.customer_name, s.user_id, s.user_name),
                (
                    self.acc.customer_name.clone(),
                    self.acc.user_id.clone(),
                    self.acc.user_name.clone()
                ),
                "op {i}: the initial screen's names (R-ACC-1)"
            );
            return "session:open";
        }
        "session:none"
    }

    /// Logout with a held session; names what it did.
    fn logout(&mut self, i: usize, n: u8) -> &'static str {
        let (pick, token) = self.held_session(n);
        let live = self.m.session_live(pick, self.now);
        let got = match self.decide(&Input::Logout { session: &token }) {
            Ok(d) => d,
            Err(e) => panic!("op {i}: {e}"),
        };
        assert_eq!(
            got.outcome == Outcome::LoggedOut,
            live,
            "op {i} Logout({n}): ended a session"
        );
        if !live {
            assert!(got.writes.is_empty(), "op {i}: a logout of nothing wrote");
        }
        if let (Some(after), [event]) = (got.account, got.events.as_slice()) {
            let event = event.clone();
            assert_eq!(
                (
                    event.kind,
                    event.at,
                    event.user_id.as_str(),
                    event.operator_id
                ),
                (EventKind::LoggedOut, self.now, "u1", None),
                "op {i}: the logout's audit event"
            );
            let before = core::mem::replace(&mut self.acc, after.clone());
            let still = self.decide(&Input::Session { session: &token });
            assert!(
                still.is_ok_and(|d| d.outcome.session().is_none()),
                "op {i}: the session is still open after its logout"
            );
            self.acc = before;
            assert_eq!(
                after.sessions.len() + 1,
                self.acc.sessions.len(),
                "op {i}: logout ended more than its session"
            );
            self.m.sessions.retain(|&(s, _)| Some(s) != pick);
            self.acc = after;
        }
        self.check_against_model(i, Op::Logout(n));
        if live { "logout:ended" } else { "logout:none" }
    }

    /// The invariants of the module documentation, for one decision.
    fn check_invariants(
        &mut self,
        i: usize,
        op: Op,
        before: &Before,
        after: &Account,
        d: &Decision,
        step: &Step,
    ) {
        assert!(
            !d.events.is_empty(),
            "op {i} {op:?}: a decision without an audit event"
        );
        if let Op::Password(_) | Op::WrongButton = op {
            // Every password step, whatever the user ID and its state:
            // one hash, and two writes (the count with its own event, then
            // the answer), a third only for a rehash.
            let counted = d.writes.first().is_some_and(|w| {
                w.events.iter().any(|e| {
                    matches!(
                        e.kind,
                        EventKind::PasswordAttempt { .. } | EventKind::AttemptNoted
                    )
                })
            });
            assert!(
                counted,
                "op {i}: the first write does not count the attempt"
            );
            assert_eq!(d.hashes, 1, "op {i}: hashes of a password step");
            assert_eq!(d.writes.len(), 2, "op {i}: writes of a password step");
        }
        let (verified_before, before) = (before.verified, &before.acc);
        if before.password.failures.locked {
            assert_eq!(
                self.hasher.verifications_of(before.password.hash.as_str()),
                verified_before,
                "op {i}: locked password evaluated"
            );
        }
        if let (Some(old), Some(new)) = (&before.token, &after.token) {
            if old.failures.locked
                && matches!(
                    op,
                    Op::Otp(_) | Op::Enroll(_) | Op::Resync(_) | Op::Password(_)
                )
            {
                assert_eq!(new.failures, old.failures, "op {i}: locked token evaluated");
            }
            assert!(
                old.drift == new.drift || matches!(op, Op::Resync(_)),
                "op {i} {op:?}: drift moved from {} to {}",
                old.drift,
                new.drift
            );
        }
        if before.password.hash != after.password.hash {
            let allowed = match op {
                Op::Reset => true,
                Op::Change(_) => self.password_ok && self.otp_ok,
                Op::ChangeLoggedIn { .. } => step.session_used.is_some(),
                _ => false,
            };
            assert!(allowed, "op {i} {op:?}: password changed without a login");
        }
        let cur = self.current_step();
        for e in &d.events {
            if let EventKind::OtpAccepted { step, drift } = e.kind {
                assert!(
                    self.accepted.last().is_none_or(|&l| step > l),
                    "op {i}: step {step} accepted twice"
                );
                let oldest = cur
                    .saturating_add_signed(drift)
                    .saturating_sub(u64::from(self.in_grace()));
                assert!(
                    step >= oldest,
                    "op {i}: a code of step {step} passed at step {cur}"
                );
                self.accepted.push(step);
            }
        }
        match (&step.expect, op) {
            (Expect::Ticket(Stage::Otp | Stage::Enroll), Op::Password(_)) => {
                self.password_ok = true;
                self.otp_ok = false;
            }
            (Expect::Ticket(Stage::ChangePassword), Op::Otp(_)) => self.otp_ok = true,
            (Expect::LoggedIn, _) => {
                let via_otp = matches!(op, Op::Otp(_)) && self.password_ok;
                let via_change = matches!(op, Op::Change(_)) && self.password_ok && self.otp_ok;
                assert!(
                    via_otp || via_change,
                    "op {i}: logged in without both factors"
                );
                assert_eq!(
                    after.password.must_change, None,
                    "op {i}: logged in with a change pending"
                );
                self.password_ok = false;
                self.otp_ok = false;
            }
            _ => {}
        }
    }

    /// The machine's state against the model's.
    fn check_against_model(&self, i: usize, op: Op) {
        let (acc, m, caps) = (&self.acc, &self.m, self.caps);
        let ctx = format!("after op {i} {op:?}");
        let p = &acc.password.failures;
        assert_eq!(
            (p.count, p.locked),
            (m.pw_failures, m.pw_locked),
            "{ctx}: password counter"
        );
        assert_eq!(
            (acc.enrollment.count, acc.enrollment.locked),
            (m.enroll_failures, m.enroll_locked),
            "{ctx}: enrollment counter"
        );
        match (&acc.token, &m.token) {
            (None, None) => {}
            (Some(t), Some(mt)) => assert_eq!(
                (t.failures.count, t.failures.locked, t.last_used, t.drift),
                (mt.failures, mt.locked, mt.last_used, mt.drift),
                "{ctx}: token"
            ),
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
        let live = acc
            .sessions
            .iter()
            .filter(|s| self.now <= s.expires_at)
            .count();
        let model_live = m
            .sessions
            .iter()
            .filter(|&&(_, exp)| self.now <= exp)
            .count();
        assert_eq!(live, model_live, "{ctx}: open sessions");
        let token_count = acc.token.as_ref().map_or(0, |t| t.failures.count);
        assert!(
            p.count <= caps.password && acc.enrollment.count <= caps.otp && token_count <= caps.otp,
            "{ctx}: caps"
        );
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

/// [`run`] with another configuration: the caps, lifetimes, grace and
/// resync reach are read from it (the model keeps one step ahead).
///
/// # Panics
/// As [`run`].
pub fn run_with(ops: &[Op], config: Config) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let mut w = World::new(config).unwrap_or_else(|e| panic!("{e}"));
    for (i, &op) in ops.iter().enumerate() {
        let before = Before {
            verified: w.hasher.verifications_of(w.acc.password.hash.as_str()),
            acc: w.acc.clone(),
        };
        let checked = match op {
            Op::Session(n) => Some(w.session(i, n)),
            Op::Logout(n) => Some(w.logout(i, n)),
            _ => None,
        };
        if let Some(name) = checked {
            *seen.entry(name.to_owned()).or_insert(0) += 1;
            continue;
        }
        let Some(step) = w.run_op(i, op) else {
            continue;
        };
        let d = match &step.decision {
            Ok(d) => d,
            Err(e) => panic!("op {i} {op:?}: {e}"),
        };
        let got = Expect::of(&d.outcome);
        assert_eq!(got, step.expect, "op {i} {op:?}: outcome {:?}", d.outcome);
        *seen.entry(got.name()).or_insert(0) += 1;
        let after = d.account.clone().unwrap_or_else(|| before.acc.clone());
        w.check_invariants(i, op, &before, &after, d, &step);
        if let Some(next) = d.outcome.ticket() {
            w.ticket = Some(next.clone());
        }
        if let Some(session) = d.outcome.session() {
            w.held.push(session.token.clone());
        }
        w.acc = after;
        w.check_against_model(i, op);
    }
    seen
}
