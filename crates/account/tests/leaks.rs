//! No secret leaks: the `Debug` and `Display` of records, outcomes, errors and
//! audit events never contain a planted password, code, secret or ticket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fx, TEMP, ticket};
use lockstep_account::{AccountStore, AuthError, Outcome, StoreError};
use lockstep_password::Password;

#[tokio::test]
async fn nothing_secret_is_ever_printed() {
    let fx = Fx::new();
    let planted_pw = "Pl4nted9Pw";
    let mut printed: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = vec![planted_pw.into(), TEMP.into()];

    let keep = |r: &lockstep_account::Response, printed: &mut Vec<String>| {
        printed.push(format!("{:?}", r.outcome));
        if let Outcome::Refused(refusal) = &r.outcome {
            printed.push(refusal.to_string());
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
    for wrong in ["000000", "999999"] {
        let r = fx.auth.submit_otp("u1", &t, wrong).await.unwrap();
        keep(&r, &mut printed);
    }
    let r = fx.password("u1", planted_pw).await;
    keep(&r, &mut printed);
    let r = fx.password("u1", "Pl4nted9Pz").await;
    keep(&r, &mut printed);

    let account = fx.store.load("u1").await.unwrap().unwrap();
    printed.push(format!("{account:?}"));
    printed.push(format!("{:?}", fx.auth));
    let p =
        lockstep_account::provision(&[1; 36], "Bank", lockstep_otp::TotpParams::DEFAULT).unwrap();
    secrets.push(p.seed.secret.to_base32().to_string());
    printed.push(format!("{:?}", p.seed));
    printed.push(format!("{:?}", p.uri.len()));
    printed.push(AuthError::Store(StoreError::Conflict).to_string());
    printed.push(format!("{:?}", AuthError::Contention));

    let all = printed.join("\n");
    assert!(all.contains("u1"), "the check sees real output");
    for secret in &secrets {
        assert!(
            !all.contains(secret.as_str()),
            "{secret:?} leaked into:\n{all}"
        );
    }
}
