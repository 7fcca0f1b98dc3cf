//! Attribution: every audit event of a step taken from an address names
//! that address, whatever the step decided — so that an attack read from
//! the log points somewhere.

use std::net::IpAddr;

use crate::common::{Fx, all_events};
use lockstep_account::machine::Input;
use lockstep_account::{CodeInput, Entry, EventKind};
use lockstep_password::Password;

#[tokio::test]
async fn every_event_of_a_step_names_the_address_it_came_from() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("alice", 1, "Alice123").await;
    let from: IpAddr = "198.51.100.23".parse().unwrap();
    let before = all_events(&*fx.store, "alice").await.len();
    let wrong = Password::from("Wrong999");
    let right = Password::from("Alice123");
    let password = |p| Input::Password {
        password: p,
        entry: Entry::Login,
    };
    // A wrong password, an unknown ID's note, the right one, its OTP and a
    // logout: each writes events of its own.
    fx.auth
        .step_from(Some(from), "alice", password(&wrong))
        .await
        .unwrap();
    fx.auth
        .step_from(Some(from), "nobody", password(&wrong))
        .await
        .unwrap();
    let reply = fx
        .auth
        .step_from(Some(from), "alice", password(&right))
        .await
        .unwrap();
    let ticket = crate::common::ticket(reply.outcome);
    fx.clock.advance(30);
    let code = fx.code(&totp, 0);
    let input = Input::Otp {
        ticket: &ticket,
        code: CodeInput::from(code.as_str()),
    };
    let reply = fx.auth.step_from(Some(from), "alice", input).await.unwrap();
    let lockstep_account::Outcome::LoggedIn(session) = reply.outcome else {
        panic!("not logged in: {:?}", reply.outcome);
    };
    let logout = Input::Logout {
        session: &session.token,
    };
    fx.auth
        .step_from(Some(from), "alice", logout)
        .await
        .unwrap();
    let alice = all_events(&*fx.store, "alice").await;
    let new = alice.get(before..).unwrap_or_default();
    assert!(new.len() >= 5, "{new:?}");
    assert!(new.iter().any(|e| e.kind == EventKind::LoggedOut));
    for e in new.iter().chain(&all_events(&*fx.store, "nobody").await) {
        assert_eq!(e.client, Some(from), "{e:?}");
    }
    // A step without an address writes none.
    fx.auth
        .login_password("alice", &wrong, Entry::Login)
        .await
        .unwrap();
    let last = all_events(&*fx.store, "alice").await;
    assert_eq!(last.last().map(|e| e.client), Some(None));
}
