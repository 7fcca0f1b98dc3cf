//! The login through the router, as a browser and as a JSON client walk
//! it: every stage of the manual's flow (2.2–2.6), and what each stage
//! answers when it is skipped, replayed or reached without its session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::{TEMP, World};
use lockstep_account::{AuditLog as _, Cursor, EventKind, OperatorAction};

/// R-LOG-1, R-LOG-2, R-LOG-3: password, then the code; the service's page opens; logout
/// ends both sessions and says so.
#[tokio::test]
async fn a_customer_logs_in_with_password_and_code_and_logs_out() {
    let w = World::new();
    let (_, totp) = w.fx.ready("alice", 1, "Alice123").await;
    let mut b = w.browser();
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!b.csrf.is_empty(), "the page has its token");
    assert_eq!(
        w.sessions.counts(),
        (0, 0),
        "an anonymous visit stores nothing"
    );

    let page = b
        .post(
            "/login",
            &[
                ("user_id", "alice"),
                ("password", "Alice123"),
                ("entry", "login"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some("/otp"));
    assert_eq!(w.sessions.counts(), (1, 0));
    let page = b.get("/otp").await;
    assert_eq!(page.status, StatusCode::OK);
    let code = w.fx.code(&totp, 0);
    let page = b.post("/otp", &[("otp", &code)]).await;
    assert_eq!(page.location(), Some("/home"), "{}", page.body);
    let home = b.get("/home").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("welcome alice-name"), "{}", home.body);
    assert_eq!(w.sessions.counts(), (0, 1));

    let page = b.post("/logout", &[]).await;
    assert_eq!(page.location(), Some("/?done=logged_out"));
    assert_eq!(w.sessions.counts(), (0, 0));
    let page = b.get("/home").await;
    assert_eq!(page.location(), Some("/"), "logged out: back to the login");
    let events = w.fx.store.events("alice", Cursor::Newest, 1).await.unwrap();
    assert_eq!(events[0].event.kind, EventKind::LoggedOut);
}

/// A refused password renders the login page again with the user ID kept
/// and the password not, stores no session and sets no session cookie.
#[tokio::test]
async fn a_refused_password_keeps_the_user_id_and_stores_nothing() {
    let w = World::new();
    w.fx.ready("alice", 1, "Alice123").await;
    let mut b = w.browser();
    b.get("/").await;
    for user in ["alice", "nobody"] {
        let page = b
            .post(
                "/login",
                &[
                    ("user_id", user),
                    ("password", "Wrong999"),
                    ("entry", "login"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.body.contains(&format!("value=\"{user}\"")),
            "{}",
            page.body
        );
        assert!(!page.body.contains("Wrong999"));
        assert!(!page.sets_cookie("lockstep"), "no session for a refusal");
    }
    assert_eq!(w.sessions.counts(), (0, 0));
}

/// First use (R-ENR): the enrollment entry, two consecutive codes, then a
/// fresh code, then the required change (R-LOG-4), then home with its
/// notice.
#[tokio::test]
async fn first_use_registers_the_token_then_changes_the_password() {
    let w = World::new();
    w.fx.create("bob").await;
    let (id, totp) = w.fx.token(2);
    let mut b = w.browser();
    b.get("/").await;
    let page = b
        .post(
            "/login",
            &[("user_id", "bob"), ("password", TEMP), ("entry", "enroll")],
        )
        .await;
    assert_eq!(page.location(), Some("/enroll"), "{}", page.body);
    b.get("/enroll").await;
    let (c1, c2) = (w.fx.code(&totp, 0), w.fx.code(&totp, 1));
    let page = b
        .post(
            "/enroll",
            &[("token_id", id.as_str()), ("otp1", &c1), ("otp2", &c2)],
        )
        .await;
    assert_eq!(page.location(), Some("/otp"), "{}", page.body);
    let page = b.get("/otp").await;
    assert!(page.body.contains(id.as_str()), "the token ID is shown");
    w.fx.clock.advance(60);
    let code = w.fx.code(&totp, 0);
    let page = b.post("/otp", &[("otp", &code)]).await;
    assert_eq!(page.location(), Some("/change"), "{}", page.body);
    b.get("/change").await;
    let page = b
        .post("/change", &[("new", "Bobby123"), ("confirm", "Bobby999")])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a mismatch stays"
    );
    let page = b
        .post("/change", &[("new", "Bobby123"), ("confirm", "Bobby123")])
        .await;
    assert_eq!(page.location(), Some("/home"));
    let home = b.get("/home").await;
    assert!(
        home.body.contains("notice=Some(\"password_changed\")"),
        "{}",
        home.body
    );
    let home = b.get("/home").await;
    assert!(home.body.contains("notice=None"), "a notice is shown once");
}

/// The same login as a JSON client: the token in a header, answers as
/// JSON naming the next stage and carrying the renewed token.
#[tokio::test]
async fn a_json_client_walks_the_same_flow() {
    let w = World::new();
    let (_, totp) = w.fx.ready("alice", 1, "Alice123").await;
    let mut b = w.browser().speaking_json();
    let page = b.get("/").await;
    assert_eq!(page.json()["view"], "login");
    let before = b.csrf.clone();
    let page = b
        .post("/login", &[("user_id", "alice"), ("password", "Wrong999")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.json()["problem"]["code"], "invalid_credentials");
    let page = b
        .post("/login", &[("user_id", "alice"), ("password", "Alice123")])
        .await;
    assert_eq!(page.json()["next"], "otp", "{}", page.body);
    assert_ne!(
        b.csrf, before,
        "the token was renewed at the privilege change"
    );
    let page = b.post("/otp", &[("otp", "000000")]).await;
    assert_eq!(
        page.json()["problem"]["code"],
        "invalid_code",
        "{}",
        page.body
    );
    let code = w.fx.code(&totp, 0);
    let page = b.post("/otp", &[("otp", &code)]).await;
    assert_eq!(page.json()["next"], "home", "{}", page.body);
}

/// Skipped stages, and stages reached without a login: the OTP step
/// without a password is the expired page; a stage other than the one the
/// login is at sends it there.
#[tokio::test]
async fn a_skipped_stage_goes_nowhere() {
    let w = World::new();
    w.fx.create("bob").await;
    let mut b = w.browser();
    b.get("/").await;
    for path in ["/otp", "/enroll", "/change", "/resync"] {
        let page = b.post(path, &[("otp", "123456")]).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(page.body.contains("expired"), "{path}: {}", page.body);
    }
    b.post(
        "/login",
        &[("user_id", "bob"), ("password", TEMP), ("entry", "enroll")],
    )
    .await;
    b.get("/enroll").await;
    for path in ["/otp", "/change", "/resync"] {
        let page = b.post(path, &[("otp", "123456")]).await;
        assert_eq!(page.location(), Some("/enroll"), "{path}");
    }
    let page = b.get("/home").await;
    assert_eq!(page.location(), Some("/enroll"));
    let page = b.get("/nowhere").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

/// A lock, a reset or a revoke at the desk ends the session at once: the
/// next page is the expired page and the server session is gone.
#[tokio::test]
async fn a_desk_reset_ends_a_logged_in_session_on_its_next_request() {
    let w = World::new();
    let (_, totp) = w.fx.ready("alice", 1, "Alice123").await;
    let mut b = w.browser();
    b.get("/").await;
    b.post("/login", &[("user_id", "alice"), ("password", "Alice123")])
        .await;
    b.get("/otp").await;
    let code = w.fx.code(&totp, 0);
    b.post("/otp", &[("otp", &code)]).await;
    assert_eq!(b.get("/home").await.status, StatusCode::OK);
    let r =
        w.fx.desk(
            "alice",
            OperatorAction::ResetPassword {
                temporary: &lockstep_account::Password::from(TEMP),
            },
        )
        .await;
    assert!(r.refusal().is_none(), "{r:?}");
    let page = b.get("/home").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(w.sessions.counts(), (0, 0), "the server session is deleted");
}

/// The voluntary change asks for the current password; a wrong one says
/// so (not the login's text) and keeps the session.
#[tokio::test]
async fn a_voluntary_change_with_a_wrong_current_password_says_so() {
    let w = World::new();
    let (_, totp) = w.fx.ready("alice", 1, "Alice123").await;
    let mut b = w.browser();
    b.get("/").await;
    b.post("/login", &[("user_id", "alice"), ("password", "Alice123")])
        .await;
    b.get("/otp").await;
    let code = w.fx.code(&totp, 0);
    b.post("/otp", &[("otp", &code)]).await;
    b.get("/password").await;
    let page = b
        .post(
            "/password",
            &[
                ("current", "Nope1234"),
                ("new", "Alice456"),
                ("confirm", "Alice456"),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(page.body.contains("current password"), "{}", page.body);
    assert_eq!(b.get("/home").await.status, StatusCode::OK);
    let page = b
        .post(
            "/password",
            &[
                ("current", "Alice123"),
                ("new", "Alice456"),
                ("confirm", "Alice456"),
            ],
        )
        .await;
    assert_eq!(page.location(), Some("/home"), "{}", page.body);
    let home = b.get("/home").await;
    assert!(home.body.contains("password_changed"), "{}", home.body);
}
