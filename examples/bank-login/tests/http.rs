//! HTTP-level tests of the service on `lockstep-axum`: security headers and
//! small pages, cookie flags, CSRF, session rotation and replays of consumed
//! stages, body limits, one answer for unknown IDs and wrong passwords,
//! what a customer stumbled over (Enter, messages that say what to do,
//! full-width passwords, notices), the desk (separation, confirmations, a
//! new token after a revoke, the paged audit log in Japanese), and no
//! secret in any log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use axum::http::StatusCode;
use common::client::{Answer, Client, encode, hidden};
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
    c.cookie("bank_session").cloned().unwrap_or_default()
}

/// First login: password → registration → OTP → required change → 初期画面,
/// checking each redirect; returns the session cookie seen after each step.
async fn first_login(h: &Harness, c: &mut Client) -> Vec<String> {
    let mut seen = Vec::new();
    c.get("/").await;
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
    assert_eq!(a.location(), "/otp", "registration accepted: {}", a.body);
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
    c.get("/home").await;
    seen
}

/// A daily login after [`first_login`]: password, then the code.
async fn daily_login(h: &Harness, c: &mut Client) {
    h.tick(2);
    c.get("/").await;
    let a = c
        .post("/login", &[("user_id", USER), ("password", NEW_PASSWORD)])
        .await;
    assert_eq!(a.location(), "/otp", "{}", a.body);
    c.get("/otp").await;
    let a = c.post("/otp", &[("otp", &h.code(0))]).await;
    assert_eq!(a.location(), "/home", "{}", a.body);
    c.get("/home").await;
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
    assert_eq!(h("x-robots-tag"), "noindex, nofollow", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    let pages = [
        "/",
        "/desk",
        "/desk/",
        "/static/app.css",
        "/static/keyboard.js",
        "/static/favicon.svg",
        "/robots.txt",
        "/favicon.ico",
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

/// `/healthz` answers while the service runs; `/readyz` only while both
/// stores answer and are migrated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
    let ready = c.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert!(c.cookies.is_empty() || c.get("/readyz").await.set_cookies().is_empty());
    h.bank.desk().store.close().await;
    assert_eq!(
        c.get("/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
}

/// A favicon, a `robots.txt` that keeps crawlers out, and pages of their
/// own for a missing page and an expired login, in Japanese.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_pages_a_favicon_robots_txt_not_found_and_expired() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    let robots = c.get("/robots.txt").await;
    assert_eq!(robots.status, StatusCode::OK);
    assert!(robots.body.contains("Disallow: /"), "{}", robots.body);
    let icon = c.get("/favicon.ico").await;
    assert_eq!(icon.location(), "/static/favicon.svg");
    let svg = c.get("/static/favicon.svg").await;
    assert_eq!(svg.status, StatusCode::OK);
    assert!(svg.body.contains("<svg"));
    let login = c.get("/").await;
    assert!(login.body.contains("rel=\"icon\""));
    assert!(login.body.contains("noindex"));
    let missing = c.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.body.contains("ページが見つかりません"),
        "{}",
        missing.body
    );
    // A stage posted without a login in progress (it expired, or never
    // was): its own page, not a bare 403.
    let expired = c.post("/otp", &[("otp", "123456")]).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.body.contains("有効期限"), "{}", expired.body);
    assert!(expired.body.contains("href=\"/\""), "{}", expired.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_http_only_strict_and_secure_unless_local_http() {
    let h = Harness::new().await;
    for secure in [true, false] {
        let mut c = Client::new(h.router(secure));
        let a = c.get("/").await;
        // An anonymous visit gets the CSRF nonce and no session.
        let set = a.set_cookies();
        assert_eq!(set.len(), 1, "{set:?}");
        let nonce = &set[0];
        let host = if secure { "__Host-" } else { "" };
        assert!(
            nonce.starts_with(&format!("{host}bank_session_csrf=")),
            "{nonce}"
        );
        assert!(
            nonce.contains("HttpOnly") && nonce.contains("SameSite=Lax"),
            "{nonce}"
        );
        assert!(
            nonce.contains("Path=/;") || nonce.contains("Path=/ "),
            "{nonce}"
        );
        assert_eq!(nonce.contains("Secure"), secure, "{nonce}");
        // A correct password starts the server session.
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
        let set = a.set_cookies();
        let session: Vec<&String> = set
            .iter()
            .filter(|s| s.starts_with(&format!("{host}bank_session=")))
            .collect();
        assert_eq!(session.len(), 1, "{set:?}");
        let flags = session[0];
        assert!(flags.contains("HttpOnly"), "{flags}");
        assert!(flags.contains("SameSite=Strict"), "{flags}");
        assert!(flags.contains("Path=/"), "{flags}");
        assert_eq!(flags.contains("Secure"), secure, "{flags}");
    }
    // The desk's cookies have names of their own, on `/` too.
    let mut d = Client::new(h.router(true));
    let a = d.get("/desk").await;
    assert!(
        a.set_cookies()[0].starts_with("__Host-desk_session_csrf="),
        "{:?}",
        a.set_cookies()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_csrf_token_or_from_another_site_is_refused() {
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
        assert!(a.body.contains("受け付けられません"), "{what}: {}", a.body);
    }
    // Another visitor's token does not pass with this visitor's cookie.
    let mut other = Client::new(h.router(true));
    other.get("/").await;
    let theirs = other.csrf.clone().unwrap();
    let a = c.post_raw("/login", &form(&theirs), &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "another visitor's token");
    assert_eq!(
        events(&h, USER).await.len(),
        before,
        "no refused form reached lockstep"
    );
    // The same form with the right token, from the same origin, goes through.
    let a = c
        .post_raw(
            "/login",
            &form(&good),
            &[
                ("origin", "http://bank.example"),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/enroll"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_id_changes_at_every_privilege_change_and_logout_ends_it() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    let seen = first_login(&h, &mut c).await;
    // After the password, after registration, after the OTP, after the
    // change: four different session IDs.
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "{seen:?}");
    assert!(seen.iter().all(|s| !s.is_empty()));
    // An old session ID opens nothing.
    let mut stale = c.clone();
    stale
        .cookies
        .insert("__Host-bank_session".into(), seen[1].clone());
    assert_eq!(stale.get("/home").await.location(), "/");
    assert_eq!(c.get("/home").await.status, StatusCode::OK);
    // Logout ends the lockstep session too: a copy of the cookie is dead,
    // and the login page says the user logged out.
    let copy = c.clone();
    let a = c.post("/logout", &[]).await;
    assert_eq!(a.location(), "/?done=logged_out");
    let page = c.follow(a).await;
    assert!(page.body.contains("ログアウトしました"), "{}", page.body);
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
    // The back button and a resubmission: with the cookies as they were
    // (that session is gone), and with the cookies as they are now (the
    // old page's token is stale).
    let mut back = before_enroll.clone();
    let a = back.post("/enroll", &enroll).await;
    assert_eq!(
        a.status,
        StatusCode::UNAUTHORIZED,
        "the old session ID is gone"
    );
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
        StatusCode::UNAUTHORIZED,
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
    assert!(a.body.contains("受け付けられません"), "{}", a.body);
    assert_eq!(events(&h, USER).await.len(), before);
}

/// R-LOG-5: an unknown user ID, a wrong password and both read the same
/// (the user ID typed is kept in the field, whichever it was).
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
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.set_cookies().is_empty(), "no session for a refusal");
        assert!(
            a.body.contains(&format!("value=\"{user}\"")),
            "the user ID is kept"
        );
        assert!(!a.body.contains(password), "the password is not");
        let csrf = c.csrf.clone().unwrap();
        pages.push(
            a.body
                .replace(&csrf, "CSRF")
                .replace(&format!("value=\"{user}\""), "value=\"USER\""),
        );
    }
    assert!(
        pages[0].contains("お取引店またはサポートデスク"),
        "{}",
        pages[0]
    );
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[1], pages[2]);
}

/// Enter in the password field submits the form's first button: it must
/// be ［ワンタイムパスワードログイン］, and a returning customer who presses
/// Enter logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_in_the_password_field_logs_in() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    let page = c.get("/").await;
    let first_submit = page
        .body
        .split("type=\"submit\"")
        .nth(1)
        .expect("a submit button");
    assert!(
        first_submit
            .trim_start()
            .starts_with("name=\"entry\" value=\"login\""),
        "the first submit button: {first_submit}"
    );
    // A browser that submits no button at all (Enter without a default
    // button) logs in as well.
    first_login(&h, &mut c).await;
    c.post("/logout", &[]).await;
    h.tick(2);
    c.get("/").await;
    let a = c
        .post("/login", &[("user_id", USER), ("password", NEW_PASSWORD)])
        .await;
    assert_eq!(a.location(), "/otp");
}

/// Messages say what to do: the enrollment's and the resync's conditions
/// (2.3.2, 2.6.3), ［同期ズレ補正］ after a wrong code, the voluntary
/// change's own text for a wrong current password, one line for a
/// full-width password that echoes none of it, and a notice after a
/// password change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_say_what_to_do() {
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
    let a = c
        .post(
            "/enroll",
            &[
                ("token_id", h.token.id.as_str()),
                ("otp1", "111111"),
                ("otp2", "222222"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body.contains("OTP2 は、表示されてから30秒以内"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("連続して") || a.body.contains("続けて表示された"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains(&format!("value=\"{}\"", h.token.id)),
        "the token ID typed is kept"
    );
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
    assert_eq!(a.location(), "/otp");
    let otp = c.get("/otp").await;
    assert!(otp.body.contains("を登録しました"), "{}", otp.body);
    h.tick(2);
    let a = c.post("/otp", &[("otp", "000000")]).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("同期ズレ補正"), "{}", a.body);
    assert!(
        a.body.contains(h.token.id.as_str()),
        "the token ID stays shown"
    );
    let a = c.post("/otp", &[("otp", &h.code(0))]).await;
    assert_eq!(a.location(), "/change");
    c.get("/change").await;
    // A full-width password: one line, none of its characters echoed, no
    // "no letter / no digit" lines.
    let wide = "ＡｂＣ１２３";
    let a = c.post("/change", &[("new", wide), ("confirm", wide)]).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("全角文字が6文字"), "{}", a.body);
    for ch in wide.chars() {
        assert!(!a.body.contains(ch), "{ch} echoed: {}", a.body);
    }
    assert!(!a.body.contains("英字を1文字以上") && !a.body.contains("数字を1文字以上"));
    let a = c
        .post(
            "/change",
            &[("new", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(a.location(), "/home");
    let home = c.get("/home").await;
    assert!(
        home.body.contains("ログインパスワードを変更しました"),
        "{}",
        home.body
    );
    // The voluntary change: a wrong current password says so.
    c.get("/password").await;
    let a = c
        .post(
            "/password",
            &[
                ("current", "Nope12345"),
                ("new", "Other2028y"),
                ("confirm", "Other2028y"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body
            .contains("現在のログインパスワードが正しくありません"),
        "{}",
        a.body
    );
    assert!(
        !a.body.contains("ユーザ ID またはログインパスワード"),
        "{}",
        a.body
    );
}

/// Resync's errors state the manual's conditions (2.6.3), both codes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_resync_states_the_conditions() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    first_login(&h, &mut c).await;
    c.post("/logout", &[]).await;
    h.tick(2);
    c.get("/").await;
    c.post("/login", &[("user_id", USER), ("password", NEW_PASSWORD)])
        .await;
    c.get("/resync").await;
    let a = c
        .post("/resync", &[("otp1", "111111"), ("otp2", "222222")])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body.contains("OTP1、OTP2 とも新しいワンタイムパスワード"),
        "{}",
        a.body
    );
}

/// The temporary password the desk page shows once.
fn shown_once(body: &str) -> String {
    body.split("<code id=\"shown-once\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .expect("the value is shown")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_is_apart_from_the_customers_and_records_its_operator() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    first_login(&h, &mut c).await;
    // A logged-in customer's cookies do not open the desk…
    assert_eq!(c.get("/desk/home").await.location(), "/desk/");
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
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("お取引店またはサポートデスク"));
    // The operator logs in and unlocks the user's password.
    let mut d = Client::new(h.router(true));
    desk_login(&h, &mut d).await;
    let page = d
        .post_desk(
            "/desk/action",
            &[("user_id", USER), ("action", "unlock_password")],
        )
        .await;
    assert!(
        page.body
            .contains("ログインパスワードのロックを解除しました"),
        "{}",
        page.body
    );
    // The audit events, in the desk's words, with the operator and the
    // address.
    assert!(
        page.body
            .contains("<td>ログインパスワードのロック解除</td><td>desk01</td><td>127.0.0.1</td>"),
        "{}",
        page.body
    );
    let log = lockstep_store_tests::all_events(&*h.bank.customers().store, USER).await;
    let unlock = log
        .iter()
        .find(|e| matches!(e.kind, EventKind::Unlocked { .. }))
        .expect("the unlock is in the audit log");
    assert_eq!(unlock.operator_id.as_deref(), Some(OPERATOR));
    assert!(
        unlock.client.is_some(),
        "the operator's address is recorded"
    );
    // A reset asks first; only the confirmation carries it out.
    let page = d
        .post_desk(
            "/desk/action",
            &[("user_id", USER), ("action", "reset_password")],
        )
        .await;
    assert!(page.body.contains("id=\"confirm\""), "{}", page.body);
    assert!(!page.body.contains("shown-once"));
    assert!(!events(&h, USER).await.contains(&EventKind::PasswordReset));
    let page = d
        .post_desk(
            "/desk/action",
            &[
                ("user_id", USER),
                ("action", "reset_password"),
                ("confirm", "yes"),
            ],
        )
        .await;
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
    let again = d.get("/desk/home?user_id=taro01").await;
    assert!(!again.body.contains(&shown), "shown once only");
    // The reset ended the customer's session at once.
    assert_eq!(c.get("/home").await.status, StatusCode::UNAUTHORIZED);
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

/// A revoke asks first; after it the desk issues a new token with a button,
/// its URI shown once, and the customer registers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_confirmed_revoke_the_desk_issues_a_new_token() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    first_login(&h, &mut c).await;
    let mut d = Client::new(h.router(true));
    desk_login(&h, &mut d).await;
    let page = d.get("/desk/home?user_id=taro01").await;
    assert!(
        !page.body.contains("id=\"issue_token\""),
        "a token is bound"
    );
    let page = d
        .post_desk(
            "/desk/action",
            &[("user_id", USER), ("action", "revoke_token")],
        )
        .await;
    assert!(page.body.contains("元に戻せません"), "{}", page.body);
    assert!(
        page.body.contains(h.token.id.as_str()),
        "the question names the token"
    );
    let asked_about = hidden(&page.body, "token_id").unwrap();
    assert_eq!(c.get("/home").await.status, StatusCode::OK, "not yet");
    // A confirmation about another token than the bound one is refused.
    let other = [
        ("user_id", USER),
        ("action", "revoke_token"),
        ("confirm", "yes"),
        ("token_id", "ABCD12345678"),
    ];
    let page = d.post_desk("/desk/action", &other).await;
    assert!(
        page.body.contains("トークンが変わっています"),
        "{}",
        page.body
    );
    assert_eq!(
        c.get("/home").await.status,
        StatusCode::OK,
        "nothing revoked"
    );
    let page = d
        .post_desk(
            "/desk/action",
            &[
                ("user_id", USER),
                ("action", "revoke_token"),
                ("confirm", "yes"),
                ("token_id", &asked_about),
            ],
        )
        .await;
    assert!(page.body.contains("id=\"issue_token\""), "{}", page.body);
    assert!(
        !page.body.contains("id=\"revoke_token\""),
        "no token left to revoke"
    );
    assert_eq!(c.get("/home").await.status, StatusCode::UNAUTHORIZED);
    let page = d
        .post_desk(
            "/desk/action",
            &[("user_id", USER), ("action", "issue_token")],
        )
        .await;
    let uri = shown_once(&page.body).replace("&amp;", "&");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let issued = lockstep::otp::KeyUri::parse(&uri)
        .unwrap()
        .to_totp()
        .unwrap();
    let id = lockstep::account::CredentialId::parse(
        page.body
            .split("トークン ID ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(
        events(&h, USER)
            .await
            .contains(&EventKind::TokenIssued { token_id: id })
    );
    // The customer registers the new token.
    h.tick(2);
    let mut c = Client::new(h.router(true));
    c.get("/").await;
    let a = c
        .post(
            "/login",
            &[
                ("user_id", USER),
                ("password", NEW_PASSWORD),
                ("entry", "enroll"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/enroll", "{}", a.body);
    c.get("/enroll").await;
    let now = h.now();
    let code = |t: u64| issued.generate(t).unwrap().expose().to_string();
    let a = c
        .post(
            "/enroll",
            &[
                ("token_id", id.as_str()),
                ("otp1", &code(now)),
                ("otp2", &code(now + 30)),
            ],
        )
        .await;
    assert_eq!(a.location(), "/otp", "{}", a.body);
}

/// The audit log is shown a page at a time, in Japanese only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_paged_and_in_japanese() {
    let h = Harness::new().await;
    let mut c = Client::new(h.router(true));
    first_login(&h, &mut c).await;
    for _ in 0..3 {
        c.post("/logout", &[]).await;
        daily_login(&h, &mut c).await;
    }
    // Wrong passwords and refusals of every kind leave events.
    for _ in 0..4 {
        let mut x = Client::new(h.router(true));
        x.get("/").await;
        x.post("/login", &[("user_id", USER), ("password", "Wrong1234")])
            .await;
        x.post(
            "/login",
            &[
                ("user_id", USER),
                ("password", NEW_PASSWORD),
                ("entry", "enroll"),
            ],
        )
        .await;
    }
    let total = events(&h, USER).await.len();
    assert!(total > 30, "{total}");
    let mut d = Client::new(h.router(true));
    desk_login(&h, &mut d).await;
    let mut page = d.get("/desk/home?user_id=taro01").await;
    let mut rows = 0;
    let mut pages = 0;
    loop {
        pages += 1;
        let table = page
            .body
            .split("<tbody>")
            .nth(1)
            .unwrap()
            .split("</tbody>")
            .next()
            .unwrap();
        rows += table.matches("<tr>").count();
        // No raw English code or Rust name in what the desk reads.
        for english in ["_", "Refused", "Attempt", "Some(", "{"] {
            assert!(!table.contains(english), "{english:?} in {table}");
        }
        let Some(older) = page
            .body
            .split("id=\"older\"")
            .next()
            .and_then(|s| s.rsplit("href=\"").next())
        else {
            break;
        };
        if !page.body.contains("id=\"older\"") {
            break;
        }
        let next = older.split('"').next().unwrap().replace("&amp;", "&");
        page = d.get(&next).await;
        assert!(page.body.contains("id=\"newest\""));
    }
    assert!(pages >= 2, "{pages}");
    assert_eq!(rows, total, "every event once, over {pages} pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_by_a_customer_session_or_without_login_never_reaches_the_desk() {
    let h = Harness::new().await;
    let before = events(&h, USER).await.len();
    let mut anonymous = Client::new(h.router(true));
    anonymous.get("/desk").await;
    let a = anonymous
        .post_desk(
            "/desk/action",
            &[
                ("user_id", USER),
                ("action", "reset_password"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/desk/");
    let a = anonymous
        .post_desk(
            "/desk/create",
            &[
                ("user_id", "mallory"),
                ("user_name", "m"),
                ("customer_name", "m"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/desk/");
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
    walk_logged(bank_login::logging::Format::Text);
}

/// The same in JSON Lines: every line an object, a step's lines carrying
/// the request's ID and client, and no secret in any.
#[test]
fn no_secret_reaches_a_json_log_line_and_each_names_its_request() {
    let log = walk_logged(bank_login::logging::Format::Json);
    let mut with_request = 0;
    for line in log.lines() {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let request = object
            .get("spans")
            .and_then(|spans| spans.as_array())
            .and_then(|spans| {
                spans
                    .iter()
                    .find(|s| s.get("name").and_then(|n| n.as_str()) == Some("request"))
            });
        if let Some(span) = request {
            assert!(
                span.get("id").is_some() && span.get("client").is_some(),
                "{line}"
            );
            with_request += 1;
        }
    }
    assert!(with_request > 10, "{with_request} lines in a request span");
    assert!(
        log.contains("\"user_id\":\"taro01\""),
        "a step names its user"
    );
}

/// A whole walk logged at `trace` in `format`: what was written, having
/// checked that no secret is in it.
fn walk_logged(format: bank_login::logging::Format) -> String {
    let sink = Sink::default();
    let subscriber = bank_login::logging::subscriber(format, sink.clone());
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
            c.post(
                "/login",
                &[
                    ("user_id", USER),
                    ("password", "Wrong1234"),
                    ("entry", "login"),
                ],
            )
            .await;
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
            let issued = h.bank.issue_token(false, "test", USER).await.unwrap();
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
    assert!(log.contains("127.0.0.1"), "steps name the client: {log}");
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(!leaks(&log, secret), "{secret:?} is in the log:\n{log}");
    }
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_acc_2_the_desk_creates_a_user_whose_shown_once_temporary_password_logs_in() {
    let h = Harness::new().await;
    let mut d = Client::new(h.router(true));
    desk_login(&h, &mut d).await;
    // Bad input is refused with a message, what was typed kept, and
    // nothing is created.
    let page = d
        .post_desk(
            "/desk/create",
            &[
                ("user_id", "bad id!"),
                ("user_name", "x"),
                ("customer_name", "y"),
            ],
        )
        .await;
    assert!(page.body.contains("id=\"error\""), "{}", page.body);
    assert!(page.body.contains("value=\"bad id!\""), "{}", page.body);
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
    let page = d
        .post_desk(
            "/desk/create",
            &[
                ("user_id", USER),
                ("user_name", "x"),
                ("customer_name", "y"),
            ],
        )
        .await;
    assert!(page.body.contains("既に使われています"), "{}", page.body);
    // A new user: the temporary password is shown once and keeps the rules.
    let page = d
        .post_desk(
            "/desk/create",
            &[
                ("user_id", "hanako02"),
                ("user_name", "鈴木花子"),
                ("customer_name", "鈴木物産"),
            ],
        )
        .await;
    let shown = shown_once(&page.body);
    assert!(
        page.body.contains("新しいトークンを発行"),
        "what to do next"
    );
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

/// Anonymous traffic stores no session at all, and a flood of them evicts
/// no logged-in customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_visits_store_no_session() {
    let h = Harness::new().await;
    let customers = lockstep_axum::MemorySessions::new(8);
    let router = h
        .bank
        .router(
            &bank_login::WebOptions {
                limits: lockstep_axum::Limits::unlimited(),
                ..bank_login::WebOptions::default()
            },
            customers.clone(),
            lockstep_axum::MemorySessions::default(),
        )
        .unwrap();
    let mut c = Client::new(router.clone());
    first_login(&h, &mut c).await;
    assert_eq!(customers.counts(), (0, 1));
    for n in 0..2000 {
        let mut x = Client::new(router.clone());
        x.get("/").await;
        if n % 10 == 0 {
            x.post(
                "/login",
                &[("user_id", "nobody"), ("password", "Wrong1234")],
            )
            .await;
        }
    }
    assert_eq!(
        customers.counts(),
        (0, 1),
        "nothing stored for anonymous traffic"
    );
    assert_eq!(c.get("/home").await.status, StatusCode::OK);
}
