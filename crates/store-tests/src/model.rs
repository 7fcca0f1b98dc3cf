//! A small reference model of the login life cycle, and a driver that runs
//! a sequence of operations through the pure machine and the model side by
//! side, checking after every step that they agree and that the invariants
//! hold:
//!
//! - no code is ever accepted twice (accepted steps strictly increase);
//! - a locked factor is never evaluated (no hash verification for a locked
//!   password, no OTP counter movement for a locked token);
//! - counters never exceed their caps;
//! - no logged-in outcome without the password, a valid OTP, and the
//!   required password change.
//!
//! Used by the model-based property test of `lockstep-account` and by the
//! `account_model` fuzz target.

use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::Arbitrary;
use lockstep_account::{
    Account, Config, Env, EventKind, Input, LoginTicket, MustChange, OperatorAction, Outcome,
    Stage, TokenSeed, TokenStatus, create_account, decide,
};
use lockstep_otp::{CredentialId, Secret, Totp, TotpParams};
use lockstep_password::{
    HashError, InsecureTestHasher, Password, PasswordHash, PasswordHasher, PasswordPolicy,
};

/// One thing a user, the clock or the support desk does.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum Op {
    /// Time passes (0..=511 s).
    Advance(u16),
    /// Password step with the right or a wrong password.
    Password(bool),
    /// OTP step with a kind of code.
    Otp(CodeKind),
    /// Enrollment with a consecutive (true) or a gapped (false) pair.
    Enroll(bool),
    /// Resync with a consecutive (true) or a gapped (false) pair.
    Resync(bool),
    /// Forced change to a new valid (true) or an invalid (false) password.
    Change(bool),
    /// Support desk: unlock the password.
    UnlockPassword,
    /// Support desk: unlock the token.
    UnlockToken,
    /// Support desk: reset the password.
    Reset,
    /// Support desk: revoke the token.
    Revoke,
}

/// Which code an OTP step submits.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum CodeKind {
    /// The token's current code.
    Current,
    /// The last accepted code again.
    Replay,
    /// A code that matches no step near now.
    Wrong,
    /// Not six ASCII digits.
    Malformed,
}

/// The insecure test hasher, counting its calls: to see that locked factors
/// are not evaluated and that an unknown user costs what a wrong password does.
#[derive(Debug, Default)]
pub struct CountingHasher {
    inner: InsecureTestHasher,
    /// Verifications so far.
    pub verifies: AtomicUsize,
    /// Hashes made so far.
    pub hashes: AtomicUsize,
}

impl PasswordHasher for CountingHasher {
    fn hash_with_salt(&self, p: &Password, s: &[u8]) -> Result<PasswordHash, HashError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        self.inner.hash_with_salt(p, s)
    }
    fn verify(&self, p: &Password, h: &PasswordHash) -> Result<bool, HashError> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(p, h)
    }
    fn needs_rehash(&self, h: &PasswordHash) -> bool {
        self.inner.needs_rehash(h)
    }
}

/// The reference model: what the rules say the state should be.
#[derive(Debug, Clone, Default)]
struct Model {
    pw_failures: u32,
    pw_locked: bool,
    otp_failures: u32,
    otp_locked: bool,
    token: bool,
    last_used: Option<u64>,
    /// The open stage and when its ticket expires.
    stage: Option<(Stage, u64)>,
    must_change: Option<MustChange>,
}

/// What the model expects an operation to produce.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Ticket(Stage),
    LoggedIn,
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
        Outcome::Refused(r) => Expect::Refused(r.code()),
        _ => Expect::Done,
    }
}

const CAP_PW: u32 = 5;
const CAP_OTP: u32 = 10;
const TTL: u64 = 300;
const START: u64 = 1_750_000_000;

/// Runs `ops` through the machine and the model; panics at the first
/// disagreement or broken invariant.
///
/// # Panics
/// When the machine and the model disagree, or an invariant breaks.
pub fn run(ops: &[Op]) {
    let config = Config::default();
    let policy = PasswordPolicy::bank_default();
    let hasher = CountingHasher::default();
    let secret = Secret::from_bytes(b"model-token-secret-20").unwrap_or_else(|_| unreachable!());
    let seed = TokenSeed {
        secret,
        params: TotpParams::DEFAULT,
    };
    let totp = Totp::new(&seed.secret, seed.params);
    let mut now = START;
    let mut random = 0_u8;
    let mut fresh = || {
        random = random.wrapping_add(1);
        [random; 16]
    };

    let temp = Password::from("tempPass1");
    let (mut acc, _) = create_account(
        "u1",
        "user-one",
        "Customer",
        &temp,
        "op",
        &make_env(&config, &policy, &hasher, now, fresh(), None),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut m = Model {
        must_change: Some(MustChange::FirstLogin),
        ..Model::default()
    };
    let mut current_pw = temp;
    let mut ticket: Option<LoginTicket> = None;
    let mut accepted_steps: Vec<u64> = Vec::new();
    let mut enrolled = 0_u8;
    let mut changes = 0_u32;
    // The login progress the invariant needs: password then OTP in this login.
    let mut password_ok = false;
    let mut otp_ok = false;

    for (i, op) in ops.iter().enumerate() {
        let cur = totp.step_at(now).unwrap_or(0);
        let code_at = |s: u64| totp.generate_at_step(s).expose().to_string();
        let ticket_open =
            |m: &Model, stage: Stage| m.stage.is_some_and(|(s, exp)| s == stage && now <= exp);
        let verifies_before = hasher.verifies.load(Ordering::SeqCst);
        let otp_failures_before = acc.otp.failures;
        let dummy = LoginTicket::from_bytes([0xAA; 16]);
        let t = ticket.as_ref().unwrap_or(&dummy);
        let r = fresh();

        // What the model expects, and the machine's answer.
        let (expect, decision) = match *op {
            Op::Advance(s) => {
                now += u64::from(s % 512);
                continue;
            }
            Op::Password(right) => {
                let wrong = Password::from("Wrong999");
                let pw = if right { &current_pw } else { &wrong };
                let d = decide(
                    &acc,
                    &Input::Password { password: pw },
                    &make_env(&config, &policy, &hasher, now, r, None),
                );
                let e = if m.pw_locked {
                    Expect::Refused("password_locked")
                } else if !right {
                    m.pw_failures = (m.pw_failures + 1).min(CAP_PW);
                    if m.pw_failures == CAP_PW {
                        m.pw_locked = true;
                        m.stage = None;
                    }
                    Expect::Refused("invalid_credentials")
                } else {
                    m.pw_failures = 0;
                    if m.otp_locked {
                        m.stage = None;
                        Expect::Refused("token_locked")
                    } else {
                        let stage = if m.token { Stage::Otp } else { Stage::Enroll };
                        m.stage = Some((stage, now + TTL));
                        Expect::Ticket(stage)
                    }
                };
                (e, d)
            }
            Op::Otp(k) => {
                let replay = m.last_used.map(code_at);
                let replay_collides = m
                    .last_used
                    .is_some_and(|l| (l + 1..=cur + 2).any(|s| Some(code_at(s)) == replay));
                let wrong = (0..)
                    .map(|n: u32| format!("{n:06}"))
                    .find(|c| (cur.saturating_sub(5)..=cur + 5).all(|s| code_at(s) != *c))
                    .unwrap_or_default();
                // Once in ~500 000 steps a code repeats at the next step; the
                // machine then (rightly) takes the higher step. Keep the model
                // simple and skip such a step.
                if matches!(k, CodeKind::Current)
                    && (cur + 1..=cur + 2).any(|s| code_at(s) == code_at(cur))
                {
                    continue;
                }
                let (code, good) = match k {
                    CodeKind::Current => (code_at(cur), m.last_used.is_none_or(|l| cur > l)),
                    CodeKind::Replay if replay.is_some() && !replay_collides => {
                        (replay.unwrap_or_default(), false)
                    }
                    CodeKind::Replay | CodeKind::Wrong => (wrong, false),
                    CodeKind::Malformed => ("１２３４５６".to_owned(), false),
                };
                let d = decide(
                    &acc,
                    &Input::Otp {
                        ticket: t,
                        code: &code,
                    },
                    &make_env(&config, &policy, &hasher, now, r, Some(&seed)),
                );
                let e = if !ticket_open(&m, Stage::Otp) {
                    Expect::Refused("invalid_ticket")
                } else if m.otp_locked {
                    Expect::Refused("token_locked")
                } else if matches!(k, CodeKind::Malformed) {
                    Expect::Refused("malformed_code")
                } else if good {
                    m.otp_failures = 0;
                    m.last_used = Some(cur);
                    match m.must_change {
                        Some(_) => {
                            m.stage = Some((Stage::ChangePassword, now + TTL));
                            Expect::Ticket(Stage::ChangePassword)
                        }
                        None => {
                            m.stage = None;
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
                let (a, b) = (code_at(cur), code_at(cur + if consecutive { 1 } else { 2 }));
                let input = if enroll {
                    Input::Enroll {
                        ticket: t,
                        credential_id: id.as_str(),
                        otp1: &a,
                        otp2: &b,
                    }
                } else {
                    Input::Resync {
                        ticket: t,
                        otp1: &a,
                        otp2: &b,
                    }
                };
                let d = decide(
                    &acc,
                    &input,
                    &make_env(&config, &policy, &hasher, now, r, Some(&seed)),
                );
                let stage = if enroll { Stage::Enroll } else { Stage::Otp };
                let e = if !ticket_open(&m, stage) || (enroll && m.token) {
                    Expect::Refused("invalid_ticket")
                } else if m.otp_locked {
                    Expect::Refused("token_locked")
                } else if consecutive && m.last_used.is_none_or(|l| cur > l) {
                    // Both codes consumed; an enrollment binds the token.
                    m.otp_failures = 0;
                    m.last_used = Some(cur + 1);
                    m.token |= enroll;
                    m.stage = Some((Stage::Otp, now + TTL));
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
                        ticket: t,
                        new: &new,
                        confirmation: &new,
                    },
                    &make_env(&config, &policy, &hasher, now, r, None),
                );
                let e = if !ticket_open(&m, Stage::ChangePassword) {
                    Expect::Refused("invalid_ticket")
                } else if valid {
                    m.must_change = None;
                    m.stage = None;
                    changes += 1;
                    current_pw = new.clone();
                    Expect::LoggedIn
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
                        m.otp_failures = 0;
                        m.otp_locked = false;
                        OperatorAction::UnlockToken
                    }
                    Op::Reset => {
                        m.pw_failures = 0;
                        m.pw_locked = false;
                        m.stage = None;
                        m.must_change = Some(MustChange::Reset);
                        current_pw = temp.clone();
                        OperatorAction::ResetPassword { temporary: &temp }
                    }
                    _ => OperatorAction::RevokeToken,
                };
                let had_token = m.token;
                if matches!(op, Op::Revoke) && had_token {
                    m.token = false;
                    m.stage = None;
                }
                let d = decide(
                    &acc,
                    &Input::Operator {
                        operator_id: "desk",
                        action,
                    },
                    &make_env(&config, &policy, &hasher, now, r, None),
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

        // Invariant: a locked password is not evaluated.
        if acc.password.locked && matches!(op, Op::Password(_)) {
            assert_eq!(
                hasher.verifies.load(Ordering::SeqCst),
                verifies_before,
                "op {i}: locked password evaluated"
            );
        }
        // Invariant: a locked token's counter does not move.
        if let (true, Some(new)) = (
            acc.otp.locked && matches!(op, Op::Otp(_) | Op::Enroll(_) | Op::Resync(_)),
            &d.account,
        ) {
            assert_eq!(
                new.otp.failures, otp_failures_before,
                "op {i}: locked token evaluated"
            );
        }
        // Invariant: accepted steps strictly increase.
        for e in &d.events {
            let step = match e.kind {
                EventKind::OtpAccepted { step, .. } => Some(step),
                _ => None,
            };
            if let Some(step) = step {
                assert!(
                    accepted_steps.last().is_none_or(|&l| step > l),
                    "op {i}: step {step} accepted twice"
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
        if let Outcome::LoggedIn(_) = d.outcome {
            let after = d.account.as_ref().unwrap_or(&acc);
            assert_eq!(
                after.password.must_change, None,
                "op {i}: logged in with a change pending"
            );
        }

        // Adopt the machine's state and any new ticket.
        match d.outcome {
            Outcome::OtpRequired { ticket: t, .. }
            | Outcome::EnrollmentRequired { ticket: t }
            | Outcome::Enrolled { ticket: t, .. }
            | Outcome::Resynced { ticket: t }
            | Outcome::PasswordChangeRequired { ticket: t, .. } => ticket = Some(t),
            _ => {}
        }
        if let Some(new) = d.account {
            acc = new;
        }
        check_against_model(i, op, &acc, &m);
    }
}

fn make_env<'a>(
    config: &'a Config,
    policy: &'a PasswordPolicy,
    hasher: &'a dyn PasswordHasher,
    now: u64,
    random: [u8; 16],
    token: Option<&'a TokenSeed>,
) -> Env<'a> {
    let mut both = [0_u8; 32];
    for (b, r) in both.iter_mut().zip(random.iter().chain(random.iter())) {
        *b = *r;
    }
    if let Some(salt) = both.get_mut(16..) {
        salt.iter_mut().for_each(|b| *b = !*b);
    }
    Env {
        config,
        policy,
        hasher,
        now,
        random: both,
        token,
        token_status: TokenStatus::Free,
    }
}

fn otp_fail(m: &mut Model) -> Expect {
    m.otp_failures = (m.otp_failures + 1).min(CAP_OTP);
    if m.otp_failures == CAP_OTP {
        m.otp_locked = true;
        m.stage = None;
        Expect::Refused("token_locked")
    } else {
        Expect::Refused("invalid_code")
    }
}

fn check_against_model(i: usize, op: &Op, acc: &Account, m: &Model) {
    let ctx = format!("after op {i} {op:?}");
    assert_eq!(
        acc.password.failures, m.pw_failures,
        "{ctx}: password failures"
    );
    assert_eq!(acc.password.locked, m.pw_locked, "{ctx}: password lock");
    assert_eq!(acc.otp.failures, m.otp_failures, "{ctx}: OTP failures");
    assert_eq!(acc.otp.locked, m.otp_locked, "{ctx}: OTP lock");
    assert_eq!(acc.token.is_some(), m.token, "{ctx}: token");
    assert_eq!(acc.otp.last_used_step, m.last_used, "{ctx}: last used step");
    assert_eq!(
        acc.password.must_change, m.must_change,
        "{ctx}: must change"
    );
    assert_eq!(
        acc.ticket.as_ref().map(|t| t.stage),
        m.stage.map(|(s, _)| s),
        "{ctx}: stage"
    );
    assert!(
        acc.password.failures <= CAP_PW && acc.otp.failures <= CAP_OTP,
        "{ctx}: caps"
    );
}
