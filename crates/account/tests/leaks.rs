//! No secret leaks: the `Debug` and `Display` of every public type — records,
//! inputs, decisions, outcomes, errors, audit events, the driver and the
//! store — never contain a planted password, password hash, code, secret,
//! ticket or session token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fx, TEMP, all_events, ticket};
use lockstep_account::machine::{self, CodeInput, Deps, Facts, Input};
use lockstep_account::{
    AccountStore, Entry, Error, LoginTicket, OperatorAction, SessionToken, StoreError, TokenStatus,
};
use lockstep_password::{Password, PasswordHashing, PasswordPolicy};

#[tokio::test]
async fn nothing_secret_is_ever_printed() {
    let fx = Fx::new();
    let planted_pw = "Pl4nted9Pw";
    let mut printed: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = vec![planted_pw.into(), TEMP.into()];

    let keep = |r: &lockstep_account::Reply, printed: &mut Vec<String>| {
        printed.push(format!("{r:?}"));
        if let Some(refusal) = r.outcome.refusal() {
            printed.push(refusal.to_string());
            printed.push(refusal.message_ja(&lockstep_account::Config::default()));
        }
        for e in &r.events {
            printed.push(format!("{e:?}"));
            printed.push(serde_json::to_string(e).unwrap());
        }
    };

    fx.create("u1").await;
    let r = fx.password("u1", TEMP).await;
    keep(&r, &mut printed);
    let t = ticket(r.outcome);
    secrets.push(t.expose_hex());
    let (id, totp) = fx.token(1);
    let (a, b) = (fx.code(&totp, -1), fx.code(&totp, 0));
    secrets.extend([a.clone(), b.clone()]);
    let r = fx.auth.enroll("u1", &t, id.as_str(), &a, &b).await.unwrap();
    keep(&r, &mut printed);
    let t = ticket(r.outcome);
    secrets.push(t.expose_hex());
    fx.clock.advance(30);
    let c = fx.code(&totp, 0);
    secrets.push(c.clone());
    let r = fx.auth.submit_otp("u1", &t, &c).await.unwrap();
    keep(&r, &mut printed);
    let t = ticket(r.outcome);
    secrets.push(t.expose_hex());
    let pw = Password::from(planted_pw);
    printed.push(format!("{pw:?}"));
    let r = fx
        .auth
        .change_password("u1", &t, &pw, &Password::from("Pl4nted9Px"))
        .await
        .unwrap();
    keep(&r, &mut printed);
    let r = fx.auth.change_password("u1", &t, &pw, &pw).await.unwrap();
    keep(&r, &mut printed);
    let session = r.outcome.session().unwrap().token.clone();
    secrets.push(session.expose_hex());
    for wrong in ["000000", "999999"] {
        let r = fx.auth.submit_otp("u1", &t, wrong).await.unwrap();
        keep(&r, &mut printed);
    }
    let r = fx.password("u1", planted_pw).await;
    keep(&r, &mut printed);
    let r = fx.password("u1", "Pl4nted9Pz").await;
    keep(&r, &mut printed);
    let r = fx
        .auth
        .change_password_logged_in(
            "u1",
            &session,
            &pw,
            &Password::from("Pl4nted8Pw"),
            &Password::from("Pl4nted8Pw"),
        )
        .await
        .unwrap();
    keep(&r, &mut printed);
    let new_session = r.outcome.session().unwrap().token.clone();
    secrets.push(new_session.expose_hex());
    secrets.push("Pl4nted8Pw".into());

    // The record: its hashes, ticket and session digests.
    let account = fx.store.load("u1").await.unwrap().unwrap();
    secrets.push(account.password.hash.as_str().to_owned());
    secrets.extend(
        account
            .password
            .previous
            .iter()
            .map(|h| h.as_str().to_owned()),
    );
    secrets.extend(
        account
            .password
            .hash
            .as_str()
            .rsplit('$')
            .take(2)
            .map(str::to_owned),
    );
    printed.push(format!("{account:?}"));
    printed.push(format!("{:?}", account.password));
    printed.push(format!("{:?}", account.sessions));
    printed.push(format!("{:?}", account.ticket));
    printed.push(format!("{:?}", fx.auth));
    // The audit log as the store keeps it.
    for e in all_events(&*fx.store, "u1").await {
        printed.push(format!("{e:?}"));
        printed.push(serde_json::to_string(&e).unwrap());
    }
    printed.push(format!("{:?}", fx.store));

    // The sans-IO layer: inputs with codes and passwords, the environment,
    // a decision and a pending password check.
    let seed = fx.seed(id).await;
    let policy = PasswordPolicy::bank_default();
    let config = lockstep_account::Config::default();
    let dummy = fx.hasher.hash(&Password::from("Dummy1234")).unwrap();
    let deps = Deps {
        config: &config,
        policy: &policy,
        hasher: &*fx.hasher,
        dummy: &dummy,
        detach: None,
    };
    let facts = Facts {
        now: fx.now(),
        ticket_random: [1; 16],
        salt: [2; 16],
        client: None,
    };
    printed.push(format!("{deps:?} {facts:?}"));
    let probe = LoginTicket::from_bytes([0x5a; 16]);
    secrets.push(probe.expose_hex());
    let inputs = [
        Input::Password {
            password: &pw,
            entry: Entry::Login,
        },
        Input::Otp {
            ticket: &probe,
            code: CodeInput::Text(&c),
        },
        Input::Enroll {
            ticket: &probe,
            credential_id: id.as_str(),
            otp1: CodeInput::Text(&a),
            otp2: CodeInput::Text(&b),
        },
        Input::Resync {
            ticket: &probe,
            otp1: CodeInput::Text(&a),
            otp2: CodeInput::Text(&b),
        },
        Input::ChangePassword {
            ticket: &probe,
            new: &pw,
            confirmation: &pw,
        },
        Input::ChangePasswordLoggedIn {
            session: &new_session,
            current: &pw,
            new: &pw,
            confirmation: &pw,
        },
        Input::Operator {
            operator_id: "desk-1",
            action: OperatorAction::ResetPassword { temporary: &pw },
        },
    ];
    for input in inputs {
        printed.push(format!("{input:?}"));
        // Every phase of the step, as a driver would see it.
        let mut next = machine::start("u1", input, deps, facts);
        for _ in 0..16 {
            printed.push(format!("{next:?}"));
            next = match next {
                machine::Next::Load(n) => n.loaded(Some(account.clone())),
                machine::Next::LookUp(n) => n.found(Some(seed.clone()), TokenStatus::Free),
                machine::Next::Hash(n) => {
                    let done = n.hash();
                    printed.push(format!("{done:?}"));
                    done.resume()
                }
                machine::Next::Write(n) => {
                    let (w, then) = n.take();
                    printed.push(format!("{w:?}"));
                    then.written(Ok(()))
                }
                machine::Next::Done(_) => break,
            };
        }
        let tokens = |_: &lockstep_otp::CredentialId| (Some(seed.clone()), TokenStatus::Free);
        printed.push(format!(
            "{:?}",
            machine::decide(Some(&account), "u1", input, deps, facts, &tokens)
        ));
    }
    printed.push(format!("{:?}", SessionToken::from_bytes([0x5a; 16])));
    let p =
        lockstep_account::provision(&[1; 36], "Bank", lockstep_otp::TotpParams::DEFAULT).unwrap();
    secrets.push(p.seed.secret.to_base32().to_string());
    printed.push(format!("{:?}", p.seed));
    printed.push(format!("{p:?}"));
    printed.push(Error::Store(StoreError::Conflict).to_string());
    printed.push(format!("{:?}", Error::Contention));

    let all = printed.join("\n");
    assert!(
        all.contains("u1") && all.contains("argon2id"),
        "the check sees real output"
    );
    for secret in &secrets {
        assert!(
            !all.contains(secret.as_str()),
            "{secret:?} leaked into:\n{all}"
        );
    }
}
