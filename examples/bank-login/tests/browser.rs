//! The manual walked in a real browser: Debian's Chromium, headless, driven
//! by chromedriver through WebDriver, against the service on loopback with
//! a clock the test moves and codes computed from the provisioned secrets.
//! Each test saves screenshots under `target/bank-login-screenshots/`.
//!
//! Every page a walk reaches is checked by axe-core (npm's `axe-core`,
//! which `.ci/run` installs under `target/axe`), errors included: 0
//! violations.
//!
//! Without `chromium` and `chromedriver` on the machine the tests say so
//! and pass; `.ci/run` installs both, so in CI they run for real. Without
//! axe-core the accessibility checks say so and are skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use lockstep::account::AccountStore as _;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One browser at a time: two cores do not run two Chromiums well.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The new passwords the walks set.
const NEW_PASSWORD: &str = "Fresh2027x";
const OPERATOR_PASSWORD: &str = "Desk2027b";

/// The service on a loopback port, and a browser on it.
struct Walk {
    h: Harness,
    b: Client,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Walk {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bank-login-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// axe-core's script: `AXE_CORE_JS`, or where `.ci/run` installs it
/// (`target/axe/node_modules/axe-core/axe.min.js`). `None`, said once,
/// when it is not there.
fn axe_script() -> Option<&'static str> {
    static SCRIPT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SCRIPT
        .get_or_init(|| {
            let path = std::env::var_os("AXE_CORE_JS").map_or_else(
                || {
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../../target/axe/node_modules/axe-core/axe.min.js")
                },
                PathBuf::from,
            );
            match std::fs::read_to_string(&path) {
                Ok(script) => Some(script),
                Err(e) => {
                    eprintln!(
                        "axe-core checks skipped: {} ({e}); \
                         npm install --prefix target/axe axe-core@4",
                        path.display()
                    );
                    None
                }
            }
        })
        .as_deref()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Walk {
    /// `None` (and a printed reason) when there is no browser to drive.
    async fn start(test: &str) -> Option<Self> {
        Self::start_with(test, false).await
    }

    /// [`Walk::start`], the service's cookies `Secure` when `secure` (the
    /// default of `cargo run -p bank-login`).
    async fn start_with(test: &str, secure: bool) -> Option<Self> {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(tool).exists() {
                eprintln!(
                    "skipped {test}: {tool} is not installed (apt-get install chromium chromium-driver)"
                );
                return None;
            }
        }
        let h = Harness::new().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = h.router(secure);
        tokio::spawn(lockstep_axum::serve(
            listener,
            app,
            lockstep_axum::ServerLimits::default(),
            std::future::pending(),
        ));

        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--lang=ja",
                    "--window-size=1024,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut b = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    b = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let b = b.expect("chromedriver answers and starts Chromium");
        Some(Self {
            h,
            b,
            base,
            driver,
            _profile: profile,
        })
    }

    async fn go(&self, path: &str) {
        self.b.goto(&format!("{}{path}", self.base)).await.unwrap();
        self.axe().await;
    }

    /// axe-core on the page as it is: no violation of any rule. Skipped
    /// (once said) without axe-core.
    async fn axe(&self) {
        let Some(script) = axe_script() else {
            return;
        };
        let loaded = self
            .b
            .execute("return typeof window.axe !== 'undefined';", vec![])
            .await
            .unwrap();
        if loaded != serde_json::Value::Bool(true) {
            self.b.execute(script, vec![]).await.unwrap();
        }
        let result = self
            .b
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, { resultTypes: ['violations'] })\
                   .then(r => done(r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        let found: Vec<String> = serde_json::from_value(result).unwrap_or_default();
        let path = self.path().await;
        assert!(found.is_empty(), "axe-core on {path}: {found:#?}");
    }

    async fn path(&self) -> String {
        self.b.current_url().await.unwrap().path().to_owned()
    }

    async fn fill(&self, id: &str, text: &str) {
        let e = self.b.find(Locator::Id(id)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Clicks an element that does not leave the page.
    async fn click(&self, id: &str) {
        self.b
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Clicks a button or link that loads another page, and waits until the
    /// old page is gone (its element goes stale), so that what follows
    /// reads the new one; then axe-core checks the new page.
    async fn submit(&self, id: &str) {
        let e = self.b.find(Locator::Id(id)).await.unwrap();
        e.click().await.unwrap();
        self.gone(&e, id).await;
    }

    async fn gone(&self, e: &fantoccini::elements::Element, what: &str) {
        // A deadline, not a count of tries: a busy machine (the browser,
        // axe-core and password hashing on two cores) may take seconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if e.is_displayed().await.is_err() {
                self.axe().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{what} loaded no new page");
    }

    async fn text(&self, id: &str) -> String {
        match self.b.find(Locator::Id(id)).await {
            Ok(e) => e.text().await.unwrap(),
            Err(_) => String::new(),
        }
    }

    async fn shot(&self, name: &str) {
        let png = self.b.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
    }

    async fn password_step(&self, prefix: &str, user: &str, password: &str, button: &str) {
        self.go(if prefix.is_empty() { "/" } else { prefix }).await;
        self.fill("user_id", user).await;
        self.fill("password", password).await;
        self.submit(button).await;
    }

    /// The customer's first login up to 初期画面, saving screenshots when `shoot`.
    async fn first_login(&self, shoot: bool) {
        let h = &self.h;
        self.password_step("", USER, TEMPORARY, "enroll").await;
        assert_eq!(self.path().await, "/enroll");
        self.fill("token_id", h.token.id.as_str()).await;
        self.fill("otp1", &h.code(0)).await;
        self.fill("otp2", &h.code(1)).await;
        self.submit("submit").await;
        assert_eq!(self.path().await, "/otp");
        h.tick(2);
        self.fill("otp", &h.code(0)).await;
        self.submit("submit").await;
        assert_eq!(self.path().await, "/change");
        if shoot {
            return;
        }
        self.change(NEW_PASSWORD).await;
        assert_eq!(self.path().await, "/home");
    }

    async fn change(&self, new: &str) {
        self.fill("new", new).await;
        self.fill("confirm", new).await;
        self.submit("submit").await;
    }

    async fn logout(&self) {
        self.submit("logout").await;
    }

    /// A login with the set password and a fresh code, to 初期画面.
    async fn login(&self) {
        self.h.tick(2);
        self.password_step("", USER, NEW_PASSWORD, "login").await;
        assert_eq!(self.path().await, "/otp", "{}", self.text("error").await);
        self.fill("otp", &self.h.code(0)).await;
        self.submit("submit").await;
        assert_eq!(self.path().await, "/home", "{}", self.text("error").await);
    }

    /// The operator's login (first time: registration and a change).
    async fn desk_login(&self) {
        let h = &self.h;
        h.tick(2);
        let first = h
            .bank
            .desk()
            .store
            .load(OPERATOR)
            .await
            .unwrap()
            .is_some_and(|a| a.token.is_none());
        if first {
            self.password_step("/desk", OPERATOR, OPERATOR_TEMPORARY, "enroll")
                .await;
            assert_eq!(
                self.path().await,
                "/desk/enroll",
                "{}",
                self.text("error").await
            );
            self.fill("token_id", h.operator_token.id.as_str()).await;
            self.fill("otp1", &h.operator_code(0)).await;
            self.fill("otp2", &h.operator_code(1)).await;
            self.submit("submit").await;
            h.tick(2);
            self.fill("otp", &h.operator_code(0)).await;
            self.submit("submit").await;
            assert_eq!(self.path().await, "/desk/change");
            self.change(OPERATOR_PASSWORD).await;
        } else {
            self.password_step("/desk", OPERATOR, OPERATOR_PASSWORD, "login")
                .await;
            self.fill("otp", &h.operator_code(0)).await;
            self.submit("submit").await;
        }
        assert_eq!(
            self.path().await,
            "/desk/home",
            "{}",
            self.text("error").await
        );
    }

    /// The desk finds the customer and presses an action (confirming it
    /// when the console asks).
    async fn desk_act(&self, action: &str) {
        self.fill("q", USER).await;
        self.submit("find").await;
        self.submit(action).await;
        if self.b.find(Locator::Id("confirm-yes")).await.is_ok() {
            self.shot(&format!("desk-confirm-{action}")).await;
            self.submit("confirm-yes").await;
        }
        assert_eq!(self.path().await, "/desk/action");
    }

    async fn end(self) {
        let Self { b, .. } = &self;
        b.clone().close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_login_registers_a_token_changes_the_password_and_shows_the_initial_screen() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("first_login").await else {
        return;
    };
    let h = &w.h;
    w.go("/").await;
    w.shot("01-login").await;
    // R-LOG-6: a user without a token who presses [ワンタイムパスワードログイン].
    w.password_step("", USER, TEMPORARY, "login").await;
    assert_eq!(w.path().await, "/login", "{}", w.b.source().await.unwrap());
    let kept = w.b.find(Locator::Id("user_id")).await.unwrap();
    assert_eq!(
        kept.prop("value").await.unwrap().as_deref(),
        Some(USER),
        "the user ID is kept"
    );
    assert!(
        w.text("error").await.contains("利用開始登録"),
        "{}",
        w.text("error").await
    );
    // 利用開始登録: a non-consecutive pair is refused (R-ENR-3)…
    w.password_step("", USER, TEMPORARY, "enroll").await;
    assert_eq!(w.path().await, "/enroll");
    w.shot("02-enroll").await;
    w.fill("token_id", h.token.id.as_str()).await;
    w.fill("otp1", &h.code(0)).await;
    w.fill("otp2", &h.code(2)).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/enroll");
    assert!(!w.text("error").await.is_empty());
    w.shot("03-enroll-error").await;
    // …a consecutive pair is accepted, and the token ID is shown (2.2 (6)).
    h.tick(3);
    let (otp1, otp2) = (h.code(0), h.code(1));
    w.fill("token_id", h.token.id.as_str()).await;
    w.fill("otp1", &otp1).await;
    w.fill("otp2", &otp2).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/otp");
    assert_eq!(w.text("token-id").await, h.token.id.as_str());
    assert!(w.text("notice").await.contains(h.token.id.as_str()));
    w.shot("04-otp").await;
    // The enrollment codes cannot log in (R-ENR-4); the error screen keeps
    // showing the token ID (2.5.2).
    w.fill("otp", &otp2).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/otp");
    assert!(
        w.text("error")
            .await
            .contains("ワンタイムパスワードが正しくないか、すでに使用されています")
    );
    assert_eq!(w.text("token-id").await, h.token.id.as_str());
    w.shot("05-otp-error").await;
    h.tick(2);
    w.fill("otp", &h.code(0)).await;
    w.submit("submit").await;
    // The temporary password must change first (R-LOG-4), every broken
    // rule listed (R-PWD-7).
    assert_eq!(w.path().await, "/change");
    let tries: [(&str, &str, &[&str]); 4] = [
        ("abc", "abd", &["6文字以上", "数字", "一致しません"]),
        ("abcdefghijklm1", "abcdefghijklm1", &["12文字以内"]),
        (USER, USER, &["ユーザ ID と同じ"]),
        (TEMPORARY, TEMPORARY, &["最近使用した"]),
    ];
    for (new, confirm, expected) in tries {
        w.fill("new", new).await;
        w.fill("confirm", confirm).await;
        w.submit("submit").await;
        assert_eq!(w.path().await, "/change");
        let listed = w.text("violations").await;
        for phrase in expected {
            assert!(listed.contains(phrase), "{new}: {phrase} not in {listed}");
        }
        if new == "abc" {
            w.shot("06-change-violations").await;
        }
    }
    w.change(NEW_PASSWORD).await;
    // 初期画面: お客様名, ユーザ ID, ユーザ名 (R-ACC-1).
    assert_eq!(w.path().await, "/home");
    assert_eq!(w.text("customer-name").await, CUSTOMER);
    assert_eq!(w.text("user-id").await, USER);
    assert_eq!(w.text("user-name").await, USER_NAME);
    w.shot("07-home").await;
    // The consumed change and OTP stages are gone: reached again (the
    // back button, a bookmark), they lead to 初期画面.
    for stage in ["/change", "/otp", "/enroll", "/"] {
        w.go(stage).await;
        assert_eq!(w.path().await, "/home", "{stage}");
    }
    w.submit("change-password").await;
    assert_eq!(w.path().await, "/password");
    w.shot("08-voluntary-change").await;
    w.go("/home").await;
    w.logout().await;
    assert_eq!(w.path().await, "/");
    assert!(w.text("notice").await.contains("ログアウトしました"));
    w.go("/home").await;
    assert_eq!(w.path().await, "/", "logged out");
    w.go("/no/such/page").await;
    assert!(w.text("back").await.contains("ログイン画面へ"));
    w.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_the_id_until_the_desk_unlocks_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("password_lock").await else {
        return;
    };
    w.first_login(false).await;
    w.logout().await;
    let generic = "ユーザ ID またはログインパスワードが正しくありません";
    for n in 1..=5 {
        w.password_step("", USER, &format!("Wrong{n}234"), "login")
            .await;
        assert!(w.text("error").await.contains(generic), "try {n}");
    }
    // Locked: the right password reads the same (R-LOG-5).
    w.password_step("", USER, NEW_PASSWORD, "login").await;
    assert_eq!(w.path().await, "/login");
    assert!(w.text("error").await.contains("サポートデスク"));
    w.shot("09-locked").await;
    w.go("/desk").await;
    w.shot("10a-desk-login").await;
    w.desk_login().await;
    w.fill("q", USER).await;
    w.submit("find").await;
    assert!(w.text("password-state").await.contains("ロック中"));
    // The right password tried while locked is counted for the desk.
    assert!(w.text("locked-attempts").await.contains("累計 1 回"));
    w.shot("10-desk-console").await;
    w.submit("unlock_password").await;
    assert!(w.text("notice").await.contains("ロックを解除しました"));
    assert!(w.text("password-state").await.contains("利用可"));
    w.shot("11-desk-unlocked").await;
    w.login().await;
    w.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_wrong_codes_lock_the_token_until_the_desk_unlocks_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("otp_lock").await else {
        return;
    };
    w.first_login(false).await;
    w.logout().await;
    w.h.tick(2);
    w.password_step("", USER, NEW_PASSWORD, "login").await;
    assert_eq!(w.path().await, "/otp");
    let right = w.h.code(0);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for n in 1..=10 {
        assert_eq!(w.path().await, "/otp", "try {n}");
        w.fill("otp", wrong).await;
        w.submit("submit").await;
    }
    assert!(
        w.b.find(Locator::Id("login")).await.is_ok(),
        "the tenth failure locks and ends the login: the login page"
    );
    assert!(
        w.text("error").await.contains("サポートデスク"),
        "{}",
        w.text("error").await
    );
    w.shot("12-token-locked").await;
    // Even the right code does not pass now.
    w.password_step("", USER, NEW_PASSWORD, "login").await;
    if w.path().await == "/otp" {
        w.fill("otp", &w.h.code(0)).await;
        w.submit("submit").await;
    }
    assert_ne!(w.path().await, "/home");
    w.desk_login().await;
    w.fill("q", USER).await;
    w.submit("find").await;
    assert!(w.text("otp-state").await.contains("ロック中"));
    w.submit("unlock_token").await;
    assert!(w.text("otp-state").await.contains("利用可"));
    w.login().await;
    w.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifted_token_fails_until_it_is_resynchronised() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("resync").await else {
        return;
    };
    let h = &w.h;
    w.first_login(false).await;
    w.logout().await;
    h.tick(2);
    // The token's clock runs 5 minutes (10 steps) fast: beyond what a login
    // accepts, within the resync window (±20 steps, R-SYN-2).
    w.password_step("", USER, NEW_PASSWORD, "login").await;
    w.fill("otp", &h.code(10)).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/otp");
    assert!(!w.text("error").await.is_empty());
    w.submit("resync").await;
    assert_eq!(w.path().await, "/resync");
    assert_eq!(w.text("token-id").await, h.token.id.as_str());
    w.shot("13-resync").await;
    // The user reads one code, waits for the next one, and types both.
    w.fill("otp1", &h.code(10)).await;
    h.tick(1);
    w.fill("otp2", &h.code(10)).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/resync/done", "{}", w.text("error").await);
    assert!(
        w.text("notice")
            .await
            .contains("同期ズレ補正が完了しました")
    );
    w.shot("14-resync-done").await;
    w.submit("to-otp").await;
    assert_eq!(w.path().await, "/otp");
    h.tick(3);
    w.fill("otp", &h.code(10)).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/home", "{}", w.text("error").await);
    w.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_desk_revokes_a_token_the_user_registers_a_new_one() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("revoke").await else {
        return;
    };
    let h = &w.h;
    w.first_login(false).await;
    w.logout().await;
    w.desk_login().await;
    w.desk_act("revoke_token").await;
    assert!(w.text("token-state").await.contains("未登録"));
    let old = h.token.id;
    // The desk issues the new token with a button; its URI is shown once.
    w.submit("issue_token").await;
    w.shot("desk-new-token").await;
    let uri = w.text("shown-once").await;
    let notice = w.text("notice").await;
    let id = notice
        .split("トークン ID ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .to_owned();
    let new = SoftToken::from_issued(&bank_login::IssuedToken {
        credential_id: lockstep::account::CredentialId::parse(&id).unwrap(),
        uri: zeroize::Zeroizing::new(uri),
    });
    // The customer registers again: the revoked ID is refused for good…
    h.tick(2);
    w.password_step("", USER, NEW_PASSWORD, "enroll").await;
    assert_eq!(w.path().await, "/enroll");
    w.fill("token_id", old.as_str()).await;
    w.fill("otp1", &h.code(0)).await;
    w.fill("otp2", &h.code(1)).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/enroll");
    // …with the answer of wrong codes, so that enrollment tells nobody
    // which token IDs exist.
    assert!(
        w.text("error").await.contains("いずれかが正しくありません"),
        "{}",
        w.text("error").await
    );
    // …the new one is accepted, and logs in.
    h.tick(3);
    let now = h.now();
    w.fill("token_id", new.id.as_str()).await;
    w.fill("otp1", &new.code_at(now)).await;
    w.fill("otp2", &new.code_at(now + 30)).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/otp");
    assert_eq!(w.text("token-id").await, new.id.as_str());
    h.tick(2);
    w.fill("otp", &new.code_at(h.now())).await;
    w.submit("submit").await;
    assert_eq!(w.path().await, "/home", "{}", w.text("error").await);
    w.end().await;
}

/// The layout of the keyboard as it is now: the keys' characters in order.
async fn layout(w: &Walk) -> Vec<String> {
    let mut keys = Vec::new();
    for k in
        w.b.find_all(Locator::Css("#swkb-keys button"))
            .await
            .unwrap()
    {
        keys.push(k.attr("data-key").await.unwrap().unwrap_or_default());
    }
    keys
}

/// Clicks the keys of `text` (the case toggle as needed).
async fn type_by_clicks(w: &Walk, text: &str) {
    let mut upper = false;
    for c in text.chars() {
        if c.is_ascii_alphabetic() && c.is_ascii_uppercase() != upper {
            w.click("swkb-shift").await;
            upper = !upper;
        }
        let css = format!("#swkb-keys button[data-key=\"{c}\"]");
        w.b.find(Locator::Css(&css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_kbd_1_the_software_keyboard_types_the_password_with_clicks_only() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("software_keyboard").await else {
        return;
    };
    w.go("/").await;
    w.fill("user_id", USER).await;
    let field = w.b.find(Locator::Id("password")).await.unwrap();
    assert_eq!(
        field.attr("type").await.unwrap().as_deref(),
        Some("password")
    );
    // The label says what the keyboard does: a new layout at each opening.
    let keys_label =
        w.b.find(Locator::Id("swkb-keys"))
            .await
            .unwrap()
            .attr("aria-label")
            .await
            .unwrap()
            .unwrap_or_default();
    assert!(keys_label.contains("開くたびに"), "{keys_label}");
    // Typed, then cancelled: nothing reaches the form (R-KBD-1).
    w.click("swkb-open").await;
    assert!(
        w.b.find(Locator::Id("swkb"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    let first = layout(&w).await;
    assert_eq!(
        first.len(),
        26 + 10 + 32,
        "letters, digits and every symbol the rules allow"
    );
    type_by_clicks(&w, "Xy9").await;
    assert_eq!(w.text("swkb-display").await, "●●●", "only ● is shown");
    w.shot("15-software-keyboard").await;
    w.click("swkb-cancel").await;
    assert!(
        !w.b.find(Locator::Id("swkb"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some(""));
    // Opened again: a new layout, an empty display.
    w.click("swkb-open").await;
    let second = layout(&w).await;
    assert_ne!(first, second, "the layout is shuffled at every opening");
    assert_eq!(w.text("swkb-display").await, "");
    // By keyboard focus: the first key has the focus; Enter presses it.
    let focused = w.b.active_element().await.unwrap();
    let pressed = focused.attr("data-key").await.unwrap().unwrap_or_default();
    focused.send_keys("\u{E007}").await.unwrap();
    assert_eq!(w.text("swkb-display").await, "●");
    w.click("swkb-back").await;
    assert_eq!(w.text("swkb-display").await, "");
    assert!(!pressed.is_empty());
    // The whole temporary password by clicks, then [確定].
    type_by_clicks(&w, TEMPORARY).await;
    assert_eq!(w.text("swkb-display").await, "●".repeat(TEMPORARY.len()));
    w.click("swkb-ok").await;
    assert_eq!(
        field.prop("value").await.unwrap().as_deref(),
        Some(TEMPORARY)
    );
    // And it logs in: [利用開始登録] takes the password the keyboard typed.
    w.submit("enroll").await;
    assert_eq!(w.path().await, "/enroll", "{}", w.text("error").await);
    w.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_in_the_password_field_logs_in_and_keeps_nothing_secret() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("enter_logs_in").await else {
        return;
    };
    w.first_login(false).await;
    w.logout().await;
    w.h.tick(2);
    w.go("/").await;
    w.fill("user_id", USER).await;
    w.fill("password", NEW_PASSWORD).await;
    let field = w.b.find(Locator::Id("password")).await.unwrap();
    field.send_keys("\u{E007}").await.unwrap();
    w.gone(&field, "Enter").await;
    assert_eq!(w.path().await, "/otp", "{}", w.text("error").await);
    w.end().await;
}

/// Whether the page is wider than the window (it would scroll sideways).
async fn overflows(w: &Walk) -> bool {
    let wide =
        w.b.execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    wide == serde_json::Value::Bool(true)
}

async fn focused_id(w: &Walk) -> String {
    let e = w.b.active_element().await.unwrap();
    e.attr("id").await.unwrap().unwrap_or_default()
}

async fn focus_in_keyboard(w: &Walk) -> bool {
    let inside =
        w.b.execute(
            "return document.getElementById('swkb').contains(document.activeElement);",
            vec![],
        )
        .await
        .unwrap();
    inside == serde_json::Value::Bool(true)
}

/// On a 375 px phone the login page and the open keyboard fit the width;
/// ［確定］ is a few Tabs from the keys (they are one tab stop, the arrows
/// move within them), and the focus stays in the open keyboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_software_keyboard_fits_a_phone_and_keeps_the_focus() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("keyboard_phone").await else {
        return;
    };
    w.b.set_window_size(375, 812).await.unwrap();
    w.go("/").await;
    assert!(
        !overflows(&w).await,
        "the login page scrolls sideways at 375 px"
    );
    w.click("swkb-open").await;
    assert!(
        !overflows(&w).await,
        "the keyboard scrolls sideways at 375 px"
    );
    w.shot("16-keyboard-375px").await;
    w.axe().await;
    // The first key has the focus; the arrows move among the keys.
    let first = w.b.active_element().await.unwrap();
    let first_key = first.attr("data-key").await.unwrap().unwrap_or_default();
    first.send_keys("\u{E014}").await.unwrap(); // ArrowRight
    let second = w.b.active_element().await.unwrap();
    let second_key = second.attr("data-key").await.unwrap().unwrap_or_default();
    assert_ne!(first_key, second_key, "ArrowRight moves to the next key");
    // Tab by Tab to ［確定］: a handful, not 71.
    let mut tabs = 0;
    while focused_id(&w).await != "swkb-ok" {
        tabs += 1;
        assert!(tabs <= 6, "{tabs} Tabs and still not at 確定");
        w.b.active_element()
            .await
            .unwrap()
            .send_keys("\u{E004}")
            .await
            .unwrap();
    }
    // Tab past the last control, and Shift+Tab past the first: still inside.
    w.b.active_element()
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    assert!(focus_in_keyboard(&w).await, "Tab left the open keyboard");
    use fantoccini::actions::InputSource as _;
    let shift_tab = fantoccini::actions::KeyActions::new("keys".into())
        .then(fantoccini::actions::KeyAction::Down { value: '\u{E008}' })
        .then(fantoccini::actions::KeyAction::Down { value: '\u{E004}' })
        .then(fantoccini::actions::KeyAction::Up { value: '\u{E004}' })
        .then(fantoccini::actions::KeyAction::Up { value: '\u{E008}' });
    w.b.perform_actions(shift_tab).await.unwrap();
    assert!(
        focus_in_keyboard(&w).await,
        "Shift+Tab left the open keyboard"
    );
    // Escape closes it and gives the focus back to its opener.
    w.b.active_element()
        .await
        .unwrap()
        .send_keys("\u{E00C}")
        .await
        .unwrap();
    assert_eq!(focused_id(&w).await, "swkb-open");
    w.end().await;
}

/// The accessibility check can fail: on a page with an image without a
/// text alternative axe-core reports `image-alt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_core_reports_a_known_violation() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(script) = axe_script() else {
        return;
    };
    let Some(w) = Walk::start("axe_sanity").await else {
        return;
    };
    w.b.goto("data:text/html,<html lang=en><title>t</title><main><img src=x.png></main></html>")
        .await
        .unwrap();
    w.b.execute(script, vec![]).await.unwrap();
    let result =
        w.b.execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document).then(r => done(r.violations.map(v => v.id)));",
            vec![],
        )
        .await
        .unwrap();
    let found: Vec<String> = serde_json::from_value(result).unwrap();
    assert!(found.iter().any(|v| v == "image-alt"), "{found:?}");
    w.end().await;
}

/// `cargo run -p bank-login` serves plain HTTP on 127.0.0.1 with its
/// default `Secure`, `__Host-` cookies: Chromium keeps them for a loopback
/// origin, so the first command of the README logs in as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_secure_cookies_work_on_loopback_in_chromium() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start_with("secure_on_loopback", true).await else {
        return;
    };
    w.password_step("", USER, TEMPORARY, "enroll").await;
    assert_eq!(w.path().await, "/enroll", "{}", w.text("error").await);
    let cookies = w.b.get_all_cookies().await.unwrap();
    assert!(
        cookies
            .iter()
            .any(|c| c.name() == "__Host-bank_session" && c.secure() == Some(true)),
        "{cookies:?}"
    );
    w.end().await;
}

/// A spray from three loopback addresses, then the desk opens 不審なアクセス
/// from its console: the failures, the unknown IDs and the flagged
/// addresses are there, marked, and the page passes axe-core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_sees_a_spray_on_its_suspicious_access_screen() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(w) = Walk::start("suspicious_access").await else {
        return;
    };
    let sprayer = w.h.router_with(&bank_login::WebOptions {
        local_http: true,
        limits: lockstep_axum::Limits {
            refusal_delay: Duration::ZERO,
            spray: lockstep_axum::spray::SprayLimits {
                distinct_ids: 5,
                ..lockstep_axum::spray::SprayLimits::default()
            },
            ..lockstep_axum::Limits::default()
        },
        ..bank_login::WebOptions::default()
    });
    for n in 2..=4_u8 {
        let mut c = common::client::Client::new(sprayer.clone());
        c.peer = std::net::SocketAddr::from(([127, 0, 0, n], 41_000));
        c.get("/").await;
        for i in 0..7 {
            let id = format!("guess{n}{i:02}");
            c.post(
                "/login",
                &[
                    ("user_id", &id),
                    ("password", "Summer2026"),
                    ("entry", "login"),
                ],
            )
            .await;
        }
    }
    w.go("/desk").await;
    w.desk_login().await;
    w.submit("suspicious").await;
    assert_eq!(w.path().await, "/desk/suspicious");
    assert_eq!(w.text("failures").await, "18 件");
    assert_eq!(w.text("unknown-ids").await, "18 件");
    let flags = w.text("flags").await;
    let clients = w.text("clients").await;
    for n in 2..=4 {
        assert!(flags.contains(&format!("127.0.0.{n}")), "{flags}");
        assert!(
            clients.contains(&format!("127.0.0.{n} 6 6 6 スプレー攻撃の疑い")),
            "{clients}"
        );
    }
    w.shot("12-desk-suspicious-access").await;
    w.submit("window-7d").await;
    assert_eq!(w.text("failures").await, "18 件");
    w.submit("back").await;
    assert_eq!(w.path().await, "/desk/home");
    w.end().await;
}
