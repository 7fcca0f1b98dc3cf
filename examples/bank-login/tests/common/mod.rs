//! What the HTTP and browser tests share: the service on a fresh SQLite
//! directory with a clock the test moves, a customer and a desk operator
//! with known temporary passwords, and their soft tokens.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub mod client;
pub mod remote;

use std::sync::Arc;

use bank_login::{Bank, IssuedToken, WebOptions, open_sqlite};
use lockstep::account::testing::FakeClock;
use lockstep::account::{CredentialId, Password};
use lockstep::otp::{KeyUri, Totp};
use lockstep::seal::Keyring;
use lockstep::sqlite::SqliteStore;
use lockstep_axum::{Limits, MemorySessions};

/// The start of every test's clock: a step boundary (30 s).
pub const T0: u64 = 1_790_000_010;

pub const USER: &str = "taro01";
pub const USER_NAME: &str = "山田太郎";
pub const CUSTOMER: &str = "山田商事株式会社";
pub const TEMPORARY: &str = "Start2026";
pub const OPERATOR: &str = "desk01";
pub const OPERATOR_TEMPORARY: &str = "Desk2026a";

/// A soft token: the credential ID and its code generator.
pub struct SoftToken {
    pub id: CredentialId,
    totp: Totp,
}

impl SoftToken {
    pub fn from_issued(issued: &IssuedToken) -> Self {
        let uri = KeyUri::parse(issued.uri.as_str()).expect("otpauth URI");
        let totp = uri.to_totp().expect("a time token");
        Self {
            id: issued.credential_id,
            totp,
        }
    }

    /// The code the token shows at Unix time `t`.
    pub fn code_at(&self, t: u64) -> String {
        self.totp.generate(t).expect("code").expose().to_string()
    }
}

/// The service over a temporary directory.
pub struct Harness {
    pub bank: Arc<Bank<SqliteStore>>,
    pub clock: Arc<FakeClock>,
    pub token: SoftToken,
    pub operator_token: SoftToken,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let keyring =
            Keyring::parse("1:407b563ffcb7e67b0f13a5345fa26b1e3e78b3d6a10d5e8b3d9615510ab235a6")
                .expect("key");
        let (customers, desk) = open_sqlite(dir.path(), &keyring, bank_login::Migrations::Apply)
            .await
            .expect("stores");
        let clock = Arc::new(FakeClock::at(T0));
        let bank = Bank::with_clock(customers, desk, clock.clone()).expect("bank");
        bank.customers()
            .auth
            .create_account(
                "setup",
                USER,
                USER_NAME,
                CUSTOMER,
                &Password::from(TEMPORARY),
            )
            .await
            .expect("customer");
        bank.desk()
            .auth
            .create_account(
                "setup",
                OPERATOR,
                "佐藤花子",
                "サポートデスク",
                &Password::from(OPERATOR_TEMPORARY),
            )
            .await
            .expect("operator");
        let token =
            SoftToken::from_issued(&bank.issue_token(false, "setup", USER).await.expect("token"));
        let operator_token = SoftToken::from_issued(
            &bank
                .issue_token(true, "setup", OPERATOR)
                .await
                .expect("operator token"),
        );
        Self {
            bank: Arc::new(bank),
            clock,
            token,
            operator_token,
            _dir: dir,
        }
    }

    /// Both sides on one router, sessions in memory, no abuse limits (the
    /// tests of the limits set their own): `secure` cookies unless local
    /// HTTP.
    pub fn router(&self, secure: bool) -> axum::Router {
        self.router_with(&WebOptions {
            local_http: !secure,
            limits: Limits::unlimited(),
            ..WebOptions::default()
        })
    }

    pub fn router_with(&self, options: &WebOptions) -> axum::Router {
        self.bank
            .router(
                options,
                MemorySessions::default(),
                MemorySessions::default(),
            )
            .expect("router")
    }

    pub fn now(&self) -> u64 {
        use lockstep::account::Clock as _;
        self.clock.now()
    }

    /// Moves the clock `steps` TOTP steps on.
    pub fn tick(&self, steps: u64) {
        self.clock.advance(30 * steps);
    }

    /// The customer's code now, `offset` steps away.
    pub fn code(&self, offset: i64) -> String {
        self.token
            .code_at(self.now().saturating_add_signed(30 * offset))
    }

    pub fn operator_code(&self, offset: i64) -> String {
        self.operator_token
            .code_at(self.now().saturating_add_signed(30 * offset))
    }
}

/// The desk's login, through the same flow on the desk's own store.
pub async fn desk_login(h: &Harness, d: &mut client::Client) {
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
    assert_eq!(a.location(), "/desk/enroll", "{}", a.body);
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
