//! `decide` on tampered records — any counters, locks, drift, last used
//! step or counter, token kind and parameters, stored PHC string, pending
//! ticket and sessions — under any valid configuration, with real planted
//! codes, tickets and sessions so that success paths are reached. Never
//! panics, and the invariants hold:
//!
//! - an accepted code is above the token's last used step, and (time
//!   tokens) within the acceptance window around the stored drift;
//! - the drift changes only on enrollment and resync, and stays within the
//!   configured bound when it does;
//! - a locked password is never verified; the stored hash changes only
//!   through a change or a desk reset;
//! - counters never pass their caps (or what the record held);
//! - every decision leaves an audit event; a login leaves no change pending.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_account::machine::{CodeInput, Deps, Facts, Input, decide};
use lockstep_account::{
    Account, CodeAcceptance, Config, Entry, EventKind, Failures, LoginTicket, MustChange,
    OperatorAction, PasswordState, PendingTicket, SessionRecord, SessionToken, Stage, TokenBinding,
    TokenKind, TokenSeed, TokenStatus,
};
use lockstep_otp::{Algorithm, CredentialId, Digits, Hotp, Period, Secret, T0, Totp, TotpParams};
use lockstep_password::{Password, PasswordHash, PasswordHashing, PasswordPolicy};
use lockstep_store_tests::{CountingHasher, StubHasher};

#[derive(Debug, Arbitrary)]
struct Tampered {
    pw_failures: u32,
    pw_locked: bool,
    must_change: u8,
    set_at_back: u32,
    phc: Phc,
    enroll_failures: u32,
    enroll_locked: bool,
    token: Option<TamperedToken>,
    ticket: Option<(u8, i16)>,
    sessions: Vec<i16>,
    lock_pw: u8,
    lock_otp: u8,
    ahead: u8,
    grace: u8,
    resync_window: u8,
    max_drift: u8,
    now: u32,
    op: Op,
}

#[derive(Debug, Arbitrary)]
enum Phc {
    Right,
    Other,
    Garbage(String),
}

#[derive(Debug, Arbitrary)]
struct TamperedToken {
    hotp: bool,
    period: u8,
    drift: i32,
    last_used_back: i32,
    failures: u32,
    locked: bool,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Password {
        right: bool,
        login: bool,
    },
    Otp(i8),
    Enroll {
        first: i8,
        gap: u8,
        status: u8,
    },
    Resync {
        first: i8,
        gap: u8,
    },
    Change {
        valid: bool,
    },
    ChangeLoggedIn {
        right: bool,
        valid: bool,
        session: bool,
    },
    Desk(u8),
}

const RIGHT: &str = "Right123";

fuzz_target!(|t: Tampered| {
    let Ok(config) = Config::builder()
        .lock_after(u32::from(t.lock_pw % 8) + 1, u32::from(t.lock_otp % 12) + 1)
        .acceptance(CodeAcceptance {
            ahead: u32::from(t.ahead % 3),
            grace_seconds: u32::from(t.grace % 40),
        })
        .resync(
            u32::from(t.resync_window) % (Config::MAX_RESYNC_WINDOW + 1),
            u32::from(t.max_drift) % (Config::MAX_DRIFT + 1),
        )
        .build()
    else {
        return;
    };
    let now = 1_750_000_000 + u64::from(t.now % 1_000_000);
    let policy = PasswordPolicy::bank_default();
    let hasher = CountingHasher::new(StubHasher);
    let dummy = StubHasher
        .hash_with_salt(&"dummy".into(), b"dummysalt")
        .unwrap();
    let secret = Secret::from_bytes(b"fuzzed-token-secret!").unwrap();
    let tok = t.token.as_ref();
    let period = tok.map_or(30, |x| u32::from(x.period % 90) + 1);
    let params = TotpParams {
        algorithm: Algorithm::Sha1,
        digits: Digits::SIX,
        period: Period::new(period).unwrap(),
        t0: T0::UNIX_EPOCH,
    };
    let kind = if tok.is_some_and(|x| x.hotp) {
        TokenKind::Hotp {
            algorithm: Algorithm::Sha1,
            digits: Digits::SIX,
        }
    } else {
        TokenKind::Totp(params)
    };
    let seed = TokenSeed {
        secret: secret.clone(),
        kind,
    };
    let totp = Totp::new(&secret, params);
    let hotp = Hotp::new(&secret, Algorithm::Sha1, Digits::SIX);
    let current = totp.step_at(now).unwrap();
    let seconds_in = now % u64::from(period);

    let stub = |pw: &str| StubHasher.hash_with_salt(&pw.into(), b"saltsalt").unwrap();
    // A record holds parsed hashes only: a planted string that is no PHC
    // string cannot be in one (it does not load).
    let hash = match &t.phc {
        Phc::Right => stub(RIGHT),
        Phc::Other => stub("Other123"),
        Phc::Garbage(s) => match PasswordHash::parse(s) {
            Ok(h) => h,
            Err(_) => return,
        },
    };
    let binding = tok.map(|x| {
        let drift = i64::from(x.drift % 300);
        let reference = match kind {
            TokenKind::Hotp { .. } => 1_000,
            _ => current,
        };
        TokenBinding {
            credential_id: CredentialId::from_random([1; 16]),
            kind,
            drift: if x.hotp { 0 } else { drift },
            last_used: reference.saturating_add_signed(i64::from(x.last_used_back % 100)),
            failures: Failures {
                count: x.failures % 20,
                locked: x.locked,
            },
            bound_at: now - 100,
        }
    });
    let ticket = LoginTicket::from_bytes([7; 16]);
    let session = SessionToken::from_bytes([8; 16]);
    let record = Account {
        user_id: "u1".into(),
        user_name: "name".into(),
        customer_name: "Customer".into(),
        password: PasswordState {
            hash,
            previous: vec![stub("Older123")],
            set_at: now - u64::from(t.set_at_back % 20_000_000),
            must_change: match t.must_change % 4 {
                0 => None,
                1 => Some(MustChange::FirstLogin),
                2 => Some(MustChange::Reset),
                _ => Some(MustChange::Expired),
            },
            failures: Failures {
                count: t.pw_failures % 10,
                locked: t.pw_locked,
            },
        },
        enrollment: Failures {
            count: t.enroll_failures % 20,
            locked: t.enroll_locked,
        },
        token: binding.clone(),
        revoked_tokens: vec![CredentialId::from_random([2; 16])],
        ticket: t.ticket.map(|(stage, ttl)| PendingTicket {
            digest: sha_digest(&ticket),
            stage: match stage % 3 {
                0 => Stage::Otp,
                1 => Stage::Enroll,
                _ => Stage::ChangePassword,
            },
            expires_at: now.saturating_add_signed(i64::from(ttl)),
        }),
        sessions: t
            .sessions
            .iter()
            .take(10)
            .map(|ttl| SessionRecord {
                digest: sha_digest_session(&session),
                expires_at: now.saturating_add_signed(i64::from(*ttl)),
            })
            .collect(),
        version: 3,
    };

    let code_at = |offset: i64| -> String {
        match kind {
            TokenKind::Hotp { .. } => {
                let base = binding.as_ref().map_or(0, |b| b.last_used);
                hotp.generate(base.saturating_add_signed(offset))
                    .expose()
                    .to_string()
            }
            _ => {
                let drift = binding.as_ref().map_or(0, |b| b.drift);
                let step = current
                    .saturating_add_signed(drift)
                    .saturating_add_signed(offset);
                totp.generate_at_step(step).expose().to_string()
            }
        }
    };
    let right = Password::from(RIGHT);
    let wrong = Password::from("Wrong999");
    let new_valid = Password::from("Fresh456");
    let new_bad = Password::from("x");
    let status = match t.op {
        Op::Enroll { status, .. } => match status % 4 {
            0 => TokenStatus::Free,
            1 => TokenStatus::BoundTo,
            2 => TokenStatus::BoundToOther,
            _ => TokenStatus::Revoked,
        },
        _ => TokenStatus::BoundTo,
    };
    let (a, b);
    let input = match t.op {
        Op::Password { right: r, login } => Input::Password {
            password: if r { &right } else { &wrong },
            entry: if login { Entry::Login } else { Entry::Enroll },
        },
        Op::Otp(offset) => {
            a = code_at(i64::from(offset % 4));
            Input::Otp {
                ticket: &ticket,
                code: CodeInput::Text(&a),
            }
        }
        Op::Enroll { first, gap, .. } | Op::Resync { first, gap } => {
            let first = i64::from(first % 30);
            a = code_at(first);
            b = code_at(first + 1 + i64::from(gap % 2));
            if matches!(t.op, Op::Enroll { .. }) {
                Input::Enroll {
                    ticket: &ticket,
                    credential_id: "VSST12345678",
                    otp1: CodeInput::Text(&a),
                    otp2: CodeInput::Text(&b),
                }
            } else {
                Input::Resync {
                    ticket: &ticket,
                    otp1: CodeInput::Text(&a),
                    otp2: CodeInput::Text(&b),
                }
            }
        }
        Op::Change { valid } => Input::ChangePassword {
            ticket: &ticket,
            new: if valid { &new_valid } else { &new_bad },
            confirmation: if valid { &new_valid } else { &new_bad },
        },
        Op::ChangeLoggedIn {
            right: r,
            valid,
            session: s,
        } => Input::ChangePasswordLoggedIn {
            session: if s { &session } else { &SESSION_OTHER },
            current: if r { &right } else { &wrong },
            new: if valid { &new_valid } else { &new_bad },
            confirmation: if valid { &new_valid } else { &new_bad },
        },
        Op::Desk(n) => Input::Operator {
            operator_id: "desk",
            action: match n % 4 {
                0 => OperatorAction::UnlockPassword,
                1 => OperatorAction::UnlockToken,
                2 => OperatorAction::ResetPassword {
                    temporary: if n % 8 < 4 { &new_valid } else { &new_bad },
                },
                _ => OperatorAction::RevokeToken,
            },
        },
    };
    let deps = Deps {
        config: &config,
        policy: &policy,
        hasher: &hasher,
        dummy: &dummy,
        detach: None,
    };
    let facts = Facts {
        now,
        ticket_random: [9; 16],
        salt: [10; 16],
        client: None,
    };
    let tokens = |_: &CredentialId| (Some(seed.clone()), status);
    let Ok(d) = decide(Some(&record), "u1", input, deps, facts, &tokens) else {
        return;
    };
    let after = d.account.clone().unwrap_or_else(|| record.clone());
    assert!(!d.events.is_empty(), "a decision without an audit event");
    // The password step: one hash and two writes whatever the record, the
    // first one counting the attempt with its own event; a third write only
    // for the rehash of a right password.
    if let Input::Password { .. } = input {
        assert_eq!(d.hashes, 1, "hashes of a password step");
        let rehashed = d
            .events
            .iter()
            .any(|e| e.kind == EventKind::PasswordRehashed);
        assert_eq!(
            d.writes.len(),
            2 + usize::from(rehashed),
            "writes of a password step"
        );
        let counts = d.writes[0].events.iter().any(|e| {
            matches!(
                e.kind,
                EventKind::PasswordAttempt { .. } | EventKind::AttemptNoted
            )
        });
        assert!(counts, "the first write does not count the attempt");
    }

    // Accepted codes: fresh, and within the acceptance window.
    for e in &d.events {
        if let EventKind::OtpAccepted { step, drift } = e.kind {
            let before = record
                .token
                .as_ref()
                .expect("a code accepted without a token");
            assert!(
                step > before.last_used,
                "step {step} accepted at or below {}",
                before.last_used
            );
            assert_eq!(drift, before.drift, "a login reported another drift");
            if let TokenKind::Totp(_) = kind {
                let expected = current.saturating_add_signed(drift);
                let behind = u64::from(seconds_in < u64::from(config.acceptance().grace_seconds));
                assert!(
                    step + behind >= expected
                        && step <= expected + u64::from(config.acceptance().ahead),
                    "step {step} outside the window around {expected}"
                );
            }
        }
    }
    // The drift moves only through enrollment and resync, within the bound.
    let drift_of = |a: &Account| a.token.as_ref().map(|t| (t.credential_id, t.drift));
    if drift_of(&after) != drift_of(&record) && after.token.is_some() {
        assert!(
            matches!(input, Input::Enroll { .. } | Input::Resync { .. }),
            "drift moved by {}",
            input.name()
        );
        let drift = after.token.as_ref().map_or(0, |t| t.drift);
        let bound = i64::from(config.max_drift().max(config.acceptance().ahead)) + 1;
        assert!(drift.abs() <= bound, "drift {drift} past the bound");
    }
    // A locked password is never verified; the hash changes only by a change.
    if record.password.failures.locked && matches!(input, Input::Password { .. }) {
        assert_eq!(
            hasher.verifications_of(record.password.hash.as_str()),
            0,
            "locked password evaluated"
        );
    }
    if after.password.hash != record.password.hash {
        assert!(
            matches!(
                input,
                Input::ChangePassword { .. }
                    | Input::ChangePasswordLoggedIn { .. }
                    | Input::Operator { .. }
            ),
            "the hash changed by {}",
            input.name()
        );
    }
    // Counters within their caps (or what the tampered record held).
    let cap = |before: u32, cap: u32| before.max(cap);
    assert!(
        after.password.failures.count
            <= cap(record.password.failures.count, config.password_lock_after())
    );
    assert!(after.enrollment.count <= cap(record.enrollment.count, config.otp_lock_after()));
    if let (Some(a), Some(b)) = (&after.token, &record.token) {
        assert!(a.failures.count <= cap(b.failures.count, config.otp_lock_after()));
    }
    if d.outcome.is_logged_in() {
        assert_eq!(
            after.password.must_change, None,
            "logged in with a change pending"
        );
    }
});

static SESSION_OTHER: SessionToken = SessionToken::from_bytes([0x33; 16]);

/// SHA-256 of a ticket's bytes, as the record keeps it: computed here the
/// way the crate documents it, from the hex the client holds.
fn sha_digest(t: &LoginTicket) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let bytes = data_encoding::HEXLOWER
        .decode(t.expose_hex().as_bytes())
        .unwrap();
    Sha256::digest(bytes).into()
}

fn sha_digest_session(s: &SessionToken) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let bytes = data_encoding::HEXLOWER
        .decode(s.expose_hex().as_bytes())
        .unwrap();
    Sha256::digest(bytes).into()
}
