//! HTTP-level tests of the web layer: security headers, cookie flags, CSRF,
//! session rotation, post/redirect/get and replays of consumed stages, body
//! limits, one answer for unknown IDs and wrong passwords, the desk's
//! separation, and no secret in any log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::client::{Answer, Client, encode};
use common::*;
use lockstep::account::{AccountStore as _, EventKind};

/// The new password every walk sets.
const NEW_PASSWORD: &str = "Fresh2027x";

async fn events(h: &Harness, user: &str) -> Vec<EventKind> {
    lockstep_store_tests::all_events(&*h.bank.customers().store, user)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

fn session_cookie(c: &Client) -> String {
    c.cookies.get("bank_session").cloned().unwrap_or_default()
}

/// First login: password → registration → OTP → required change → 初期画面,
/// checking each redirect; returns the session cookie seen after each step.
async fn first_login(h: &Harness, c: &mut Client) -> Vec<String> {
    let mut seen = Vec::new();
    c.get("/").await;
    seen.push(session_cookie(c));
    let a = c
        .post(
            "/login",
            &[
                ("user_id", USER),
                ("password", TEMPORARY),
                ("entry", "enroll"),
            ],
        )
        .await;
    assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/enroll"));
    seen.push(session_cookie(c));
    c.get("/enroll").await;
    let a = c
        .post(
            "/enroll",
            &[
                ("token_id", h.token.id.as_str()),
                ("otp1", &h.code(0)),
                ("otp2", &h.code(1)),
            ],
        )
        .await;
    assert_eq!(a.location(), "/otp", "registration accepted");
    seen.push(session_cookie(c));
    h.tick(2);
    c.get("/otp").await;
    let a = c.post("/otp", &[("otp", &h.code(0))]).await;
    assert_eq!(
        a.location(),
        "/change",
        "the temporary password must change first"
    );
    seen.push(session_cookie(c));
    c.get("/change").await;
    let a = c
        .post(
            "/change",
            &[("new", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(a.location(), "/home");
    seen.push(session_cookie(c));
    seen
}

fn assert_security_headers(a: &Answer, what: &str) {
    let h = |name: &str| {
        a.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_owned()
    };
    let csp = h("content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("style-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("cache-control"), "no-store", "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    let pages = [
        "/",
        "/desk",
        "/static/app.css",
        "/static/keyboard.js",
        "/otp",
        "/nowhere",
    ];
    for page in pages {
        let a = c.get(page).await;
        assert_security_headers(&a, page);
    }
    first_login(&h, &mut c).await;
    let home = c.get("/home").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains(CUSTOMER), "初期画面 shows お客様名");
    assert_security_headers(&home, "/home");
    let refused = c.post_raw("/login", "user_id=x", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_security_headers(&refused, "a CSRF refusal");
    // No inline script or style anywhere: the CSP would block them.
    for page in ["/", "/home", "/password"] {
        let a = c.get(page).await;
        assert!(
            !a.body.contains("<script>") && !a.body.contains("style="),
            "{page}"
        );
        assert!(
            !a.body.contains(" onclick") && !a.body.contains("<style"),
            "{page}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_http_only_strict_and_secure_unless_local_http() {
    let h = Harness::new().await;
    for (secure, path, cookie) in [
        (true, "/", "bank_session="),
        (false, "/", "bank_session="),
        (true, "/desk", "desk_session="),
    ] {
        let mut c = Client::new(h.router(secure));
        let a = c.get(path).await;
        let set = a.set_cookies();
        let ours: Vec<&String> = set.iter().filter(|s| s.starts_with(cookie)).collect();
        assert_eq!(ours.len(), 1, "{path}: {set:?}");
        let flags = ours[0];
        assert!(flags.contains("HttpOnly"), "{flags}");
        assert!(flags.contains("SameSite=Strict"), "{flags}");
        assert_eq!(flags.contains("Secure"), secure, "{flags}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_the_sessions_csrf_token_or_from_another_site_is_refused() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    c.get("/").await;
    let before = events(&h, USER).await.len();
    let good = c.csrf.clone().expect("the login page has a CSRF token");
    let form = |csrf: &str| {
        encode(&[
            ("csrf", csrf),
            ("user_id", USER),
            ("password", TEMPORARY),
            ("entry", "enroll"),
        ])
    };
    let no_token = encode(&[
        ("user_id", USER),
        ("password", TEMPORARY),
        ("entry", "enroll"),
    ]);
    let wrong = "0".repeat(good.len());
    let attempts = [
        ("no token", no_token, vec![]),
        ("a wrong token", form(&wrong), vec![]),
        (
            "a cross-site fetch",
            form(&good),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "a foreign Origin",
            form(&good),
            vec![("origin", "https://evil.example")],
        ),
        (
            "a sibling site",
            form(&good),
            vec![("sec-fetch-site", "same-site")],
        ),
    ];
    for (what, body, headers) in attempts {
        let a = c.post_raw("/login", &body, &headers).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{what}");
    }
    // Another session's token does not open this one.
    let mut other = Client::new(h.router(true));
    other.get("/").await;
    let theirs = other.csrf.clone().unwrap();
    let a = c.post_raw("/login", &form(&theirs), &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "another session's token");
    assert_eq!(
        events(&h, USER).await.len(),
        before,
        "no refused form reached lockstep"
    );
    // The same form with the right token, from the same origin, goes through.
    let a = c
        .post_raw("/login", &form(&good), &[("origin", "http://bank.example")])
        .await;
    assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/enroll"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_id_changes_at_every_privilege_change_and_logout_ends_it() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    let seen = first_login(&h, &mut c).await;
    // Before login, after the password, after registration, after the OTP,
    // after the change: five different session IDs.
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "{seen:?}");
    // An old session ID opens nothing.
    let mut stale = c.clone();
    stale.cookies.insert("bank_session".into(), seen[1].clone());
    assert_eq!(stale.get("/home").await.location(), "/");
    assert_eq!(c.get("/home").await.status, StatusCode::OK);
    // Logout ends the lockstep session too: a copy of the cookie is dead.
    let copy = c.clone();
    let a = c.post("/logout", &[]).await;
    assert_eq!(a.location(), "/");
    let mut copy = copy;
    assert_eq!(copy.get("/home").await.location(), "/");
    assert!(events(&h, USER).await.contains(&EventKind::LoggedOut));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_post_of_a_consumed_stage_is_refused() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    c.get("/").await;
    c.post(
        "/login",
        &[
            ("user_id", USER),
            ("password", TEMPORARY),
            ("entry", "enroll"),
        ],
    )
    .await;
    c.get("/enroll").await;
    let (otp1, otp2) = (h.code(0), h.code(1));
    let enroll = [
        ("token_id", h.token.id.as_str()),
        ("otp1", &otp1),
        ("otp2", &otp2),
    ];
    let before_enroll = c.clone();
    assert_eq!(c.post("/enroll", &enroll).await.location(), "/otp");
    // The back button and a resubmission: with the session as it was, and
    // with the session as it is now.
    let mut back = before_enroll.clone();
    let a = back.post("/enroll", &enroll).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "the old session ID is gone"
    );
    // The page before, as the back button shows it: its token is stale.
    let a = c.post("/enroll", &enroll).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "a stale page's form");
    // Even with the current token, the stage is over: back to OTP.
    c.get("/otp").await;
    let a = c.post("/enroll", &enroll).await;
    assert_eq!(
        a.location(),
        "/otp",
        "the registration stage is over: back to OTP"
    );
    h.tick(2);
    let code = h.code(0);
    let before_otp = c.clone();
    assert_eq!(
        c.post("/otp", &[("otp", &code)]).await.location(),
        "/change"
    );
    let mut back = before_otp.clone();
    let a = back.post("/otp", &[("otp", &code)]).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "the old session ID is gone"
    );
    c.get("/change").await;
    assert_eq!(
        c.post("/otp", &[("otp", &code)]).await.location(),
        "/change"
    );
    let kinds = events(&h, USER).await;
    let count = |f: fn(&EventKind) -> bool| kinds.iter().filter(|k| f(k)).count();
    assert_eq!(
        count(|k| matches!(k, EventKind::Enrolled { .. })),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        count(|k| matches!(k, EventKind::OtpAccepted { .. })),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        count(|k| matches!(k, EventKind::OtpFailed { .. })),
        0,
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_form_is_refused_before_any_handler() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    c.get("/").await;
    let before = events(&h, USER).await.len();
    let csrf = c.csrf.clone().unwrap();
    let huge = "a".repeat(1 << 20);
    let body = encode(&[
        ("csrf", &csrf),
        ("user_id", &huge),
        ("password", "x"),
        ("entry", "login"),
    ]);
    let a = c.post_raw("/login", &body, &[]).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(events(&h, USER).await.len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_id_and_a_wrong_password_read_the_same() {
    let h = Harness::new().await;
    let mut pages = Vec::new();
    for (user, password) in [
        (USER, "Wrong1234"),
        ("nobody99", "Wrong1234"),
        ("nobody99", TEMPORARY),
    ] {
        let mut c = Client::new(h.router(true));
        c.get("/").await;
        let a = c
            .post(
                "/login",
                &[
                    ("user_id", user),
                    ("password", password),
                    ("entry", "login"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        let page = c.follow(a).await;
        let csrf = c.csrf.clone().unwrap();
        pages.push(page.body.replace(&csrf, "CSRF"));
    }
    assert!(
        pages[0].contains("お取引店またはサポートデスク"),
        "{}",
        pages[0]
    );
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[1], pages[2]);
}

/// The temporary password the desk page shows once.
fn shown_once(body: &str) -> String {
    body.split("<code id=\"shown-once\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the temporary password is shown")
        .to_owned()
}

/// The desk's login, through the same flow on the desk's own store.
async fn desk_login(h: &Harness, d: &mut Client) {
    d.get("/desk").await;
    let a = d
        .post(
            "/desk/login",
            &[
                ("user_id", OPERATOR),
                ("password", OPERATOR_TEMPORARY),
                ("entry", "enroll"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/desk/enroll");
    d.get("/desk/enroll").await;
    let (otp1, otp2) = (h.operator_code(0), h.operator_code(1));
    let a = d
        .post(
            "/desk/enroll",
            &[
                ("token_id", h.operator_token.id.as_str()),
                ("otp1", &otp1),
                ("otp2", &otp2),
            ],
        )
        .await;
    assert_eq!(a.location(), "/desk/otp");
    h.tick(2);
    d.get("/desk/otp").await;
    let a = d.post("/desk/otp", &[("otp", &h.operator_code(0))]).await;
    assert_eq!(a.location(), "/desk/change");
    d.get("/desk/change").await;
    let a = d
        .post(
            "/desk/change",
            &[("new", "Desk2027b"), ("confirm", "Desk2027b")],
        )
        .await;
    assert_eq!(a.location(), "/desk/home");
    d.get("/desk/home").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_is_apart_from_the_customers_and_records_its_operator() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    first_login(&h, &mut c).await;
    // A logged-in customer's cookies do not open the desk…
    assert_eq!(c.get("/desk/home").await.location(), "/desk");
    // …nor do a customer's credentials.
    c.get("/desk").await;
    let a = c
        .post(
            "/desk/login",
            &[
                ("user_id", USER),
                ("password", NEW_PASSWORD),
                ("entry", "login"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/desk");
    assert!(
        c.get("/desk")
            .await
            .body
            .contains("お取引店またはサポートデスク")
    );
    // The operator logs in and locks nothing, unlocks the user's password.
    let mut d = Client::new(h.router(true));
    desk_login(&h, &mut d).await;
    let a = d
        .post(
            "/desk/action",
            &[("user_id", USER), ("action", "unlock_password")],
        )
        .await;
    assert_eq!(a.location(), "/desk/home?user_id=taro01");
    let page = d.get(a.location()).await;
    assert!(
        page.body.contains("パスワードのロックを解除しました"),
        "{}",
        page.body
    );
    // The audit events, in the desk's words, with the operator.
    assert!(
        page.body
            .contains("<td>パスワードのロック解除</td><td>desk01</td>"),
        "{}",
        page.body
    );
    let log = lockstep_store_tests::all_events(&*h.bank.customers().store, USER).await;
    let unlock = log
        .iter()
        .find(|e| matches!(e.kind, EventKind::Unlocked { .. }))
        .expect("the unlock is in the audit log");
    assert_eq!(unlock.operator_id.as_deref(), Some(OPERATOR));
    // A reset shows a temporary password once, which keeps the rules.
    let a = d
        .post(
            "/desk/action",
            &[("user_id", USER), ("action", "reset_password")],
        )
        .await;
    let page = d.get(a.location()).await;
    let shown = shown_once(&page.body);
    let policy = h.bank.policy();
    let context = lockstep::password::Context {
        user_id: Some(USER),
        user_name: Some(USER_NAME),
        ..lockstep::password::Context::default()
    };
    assert!(
        policy
            .validate(&lockstep::account::Password::from(shown.as_str()), &context)
            .is_ok()
    );
    let again = d.get(a.location()).await;
    assert!(!again.body.contains(&shown), "shown once only");
    // The reset ended the customer's session at once.
    assert_eq!(c.get("/home").await.location(), "/");
    // The customer logs in with it and must change it.
    let mut c = Client::new(h.router(true));
    c.get("/").await;
    let a = c
        .post(
            "/login",
            &[("user_id", USER), ("password", &shown), ("entry", "login")],
        )
        .await;
    assert_eq!(a.location(), "/otp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_by_a_customer_session_or_without_login_never_reaches_the_desk() {
    let h = Harness::new().await;
    let before = events(&h, USER).await.len();
    let mut anonymous = Client::new(h.router(true));
    anonymous.get("/desk").await;
    let a = anonymous
        .post(
            "/desk/action",
            &[("user_id", USER), ("action", "reset_password")],
        )
        .await;
    assert_eq!(a.location(), "/desk");
    let a = anonymous
        .post(
            "/desk/create",
            &[
                ("user_id", "mallory"),
                ("user_name", "m"),
                ("customer_name", "m"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/desk");
    assert!(
        h.bank
            .customers()
            .store
            .load("mallory")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(events(&h, USER).await.len(), before);
}

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Whether `secret` occurs in `log` as a whole token (a code as a run of
/// exactly its digits; anything else anywhere).
fn leaks(log: &str, secret: &str) -> bool {
    if !secret.bytes().all(|b| b.is_ascii_digit()) {
        return log.contains(secret);
    }
    log.match_indices(secret).any(|(at, _)| {
        let before = log[..at].chars().next_back();
        let after = log[at + secret.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn no_password_code_session_or_seed_reaches_a_log_line() {
    let sink = Sink::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(sink.clone())
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace,sqlx=warn"))
        .with_ansi(false)
        .without_time()
        .finish();
    let mut secrets: Vec<String> = vec![TEMPORARY.into(), NEW_PASSWORD.into(), "Wrong1234".into()];
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let h = Harness::new().await;
            let mut c = Client::new(h.router(true));
            c.get("/").await;
            let a = c
                .post(
                    "/login",
                    &[
                        ("user_id", USER),
                        ("password", "Wrong1234"),
                        ("entry", "login"),
                    ],
                )
                .await;
            c.follow(a).await;
            secrets.push(h.code(0));
            secrets.push(h.code(1));
            for cookie in first_login(&h, &mut c).await {
                secrets.push(cookie);
            }
            secrets.push(h.code(0));
            secrets.extend(c.csrf.clone());
            // A wrong code, a refused change, a logout.
            c.post("/logout", &[]).await;
            h.tick(2);
            c.get("/").await;
            c.post(
                "/login",
                &[
                    ("user_id", USER),
                    ("password", NEW_PASSWORD),
                    ("entry", "login"),
                ],
            )
            .await;
            c.get("/otp").await;
            let wrong = if h.code(0) == "123456" {
                "654321"
            } else {
                "123456"
            };
            secrets.push(wrong.to_owned());
            c.post("/otp", &[("otp", wrong)]).await;
            secrets.extend(c.cookies.values().cloned());
            // The token's secret, as its URI carries it.
            let issued = h.bank.issue_token(false).await.unwrap();
            let uri = issued.uri.as_str();
            let secret = uri
                .split("secret=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap();
            secrets.push(secret.to_owned());
        });
    });
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("refused"), "the log was captured: {log}");
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(!leaks(&log, secret), "{secret:?} is in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_acc_2_the_desk_creates_a_user_whose_shown_once_temporary_password_logs_in() {
    let h = Harness::new().await;
    let mut d = Client::new(h.router(true));
    desk_login(&h, &mut d).await;
    // Bad input is refused with a message, and nothing is created.
    let a = d
        .post(
            "/desk/create",
            &[
                ("user_id", "bad id!"),
                ("user_name", "x"),
                ("customer_name", "y"),
            ],
        )
        .await;
    let page = d.get(a.location()).await;
    assert!(page.body.contains("id=\"error\""), "{}", page.body);
    assert!(
        h.bank
            .customers()
            .store
            .load("bad id!")
            .await
            .unwrap()
            .is_none()
    );
    // A taken user ID is refused.
    let a = d
        .post(
            "/desk/create",
            &[
                ("user_id", USER),
                ("user_name", "x"),
                ("customer_name", "y"),
            ],
        )
        .await;
    assert!(
        d.get(a.location())
            .await
            .body
            .contains("既に使われています")
    );
    // A new user: the temporary password is shown once and keeps the rules.
    let a = d
        .post(
            "/desk/create",
            &[
                ("user_id", "hanako02"),
                ("user_name", "鈴木花子"),
                ("customer_name", "鈴木物産"),
            ],
        )
        .await;
    let page = d.get(a.location()).await;
    let shown = shown_once(&page.body);
    let created = lockstep_store_tests::all_events(&*h.bank.customers().store, "hanako02").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].operator_id.as_deref(), Some(OPERATOR));
    let mut c = Client::new(h.router(true));
    c.get("/").await;
    let a = c
        .post(
            "/login",
            &[
                ("user_id", "hanako02"),
                ("password", &shown),
                ("entry", "enroll"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/enroll");
}

/// A flood of cookieless visits cannot grow the session store past its cap
/// (every visit to the login page stores a session for its CSRF token; an
/// unbounded store is a memory leak any anonymous client drives): past the
/// cap the longest-idle session makes room — here the first visitor's,
/// whose form then fails the CSRF check — and a visitor after the flood
/// logs in as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_visits_stays_within_the_session_cap() {
    let h = Harness::new().await;
    let router = std::sync::Arc::clone(&h.bank).router(&bank_login::WebOptions {
        max_sessions: 50,
        ..bank_login::WebOptions::default()
    });
    let login = [
        ("user_id", USER),
        ("password", TEMPORARY),
        ("entry", "enroll"),
    ];
    let mut first = Client::new(router.clone());
    first.get("/").await;
    for _ in 0..200 {
        let a = Client::new(router.clone()).get("/").await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let a = first.post("/login", &login).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "the idlest session made room"
    );
    let mut late = Client::new(router);
    late.get("/").await;
    let a = late.post("/login", &login).await;
    assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/enroll"));
}
