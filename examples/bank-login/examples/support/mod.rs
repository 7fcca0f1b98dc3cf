//! What the load examples share: a browser stand-in over real HTTP (from a
//! chosen local address), customers made ready to log in, percentiles.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Request, header};
use bank_login::{Backend, Bank};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lockstep::account::testing::FakeClock;
use lockstep::account::{Clock as _, Entry, Outcome, Password};
use lockstep::otp::{KeyUri, Totp};

/// The password every made-ready customer has.
pub const PASSWORD: &str = "Load2026x";

/// The start of the examples' clocks: a step boundary.
pub const T0: u64 = 1_790_000_010;

pub type Http = Client<HttpConnector, Full<Bytes>>;

/// An HTTP client whose connections leave from `from` (a loopback alias
/// such as 127.0.0.7), or from wherever the system chooses.
pub fn http_from(from: Option<IpAddr>) -> Http {
    let mut connector = HttpConnector::new();
    connector.set_local_address(from);
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// One browser stand-in: its cookies and the last page's CSRF token.
pub struct Session {
    pub http: Http,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
    pub csrf: String,
}

pub struct Answer {
    pub status: u16,
    pub location: String,
}

impl Session {
    pub fn new(base: &str, from: Option<IpAddr>) -> Self {
        Self {
            http: http_from(from),
            base: base.to_owned(),
            cookies: BTreeMap::new(),
            csrf: String::new(),
        }
    }

    /// Sends `request`; `None` when the server did not answer.
    pub async fn try_send(&mut self, request: Request<Full<Bytes>>) -> Option<Answer> {
        let response = self.http.request(request).await.ok()?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        for c in response.headers().get_all(header::SET_COOKIE) {
            let text = c.to_str().unwrap_or("");
            if let Some((k, v)) = text.split(';').next().and_then(|p| p.split_once('=')) {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let body = response.into_body().collect().await.ok()?.to_bytes();
        let body = String::from_utf8_lossy(&body);
        let marker = "name=\"csrf\" value=\"";
        if let Some(start) = body.find(marker).map(|i| i + marker.len())
            && let Some(len) = body[start..].find('"')
        {
            self.csrf = body[start..start + len].to_owned();
        }
        Some(Answer { status, location })
    }

    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Answer {
        self.try_send(request).await.expect("the server answers")
    }

    fn cookie(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn get_request(&self, path: &str) -> Request<Full<Bytes>> {
        Request::get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie())
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    pub fn post_request(&self, path: &str, fields: &[(&str, &str)]) -> Request<Full<Bytes>> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &self.csrf)
            .extend_pairs(fields)
            .finish();
        Request::post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let r = self.get_request(path);
        self.send(r).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let r = self.post_request(path, fields);
        self.send(r).await
    }
}

/// A customer ready to log in: ID and soft token.
pub struct User {
    pub id: String,
    pub totp: Totp,
    pub last_step: u64,
}

/// Creates `n` customers named `{prefix}{i}` who have registered their
/// token and set [`PASSWORD`].
pub async fn users<S: Backend>(
    bank: &Bank<S>,
    clock: &FakeClock,
    prefix: &str,
    n: usize,
) -> Vec<User> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}{i:04}");
        let auth = &bank.customers().auth;
        auth.create_account(
            "setup",
            &id,
            "負荷 太郎",
            "負荷試験株式会社",
            &Password::from("Temp2026a"),
        )
        .await
        .unwrap();
        let issued = bank.issue_token(false, "setup", &id).await.unwrap();
        let totp = KeyUri::parse(issued.uri.as_str())
            .unwrap()
            .to_totp()
            .unwrap();
        // Codes as the token shows them: `back` steps ago.
        let code = |back: u64| {
            totp.generate(clock.now() - 30 * back)
                .unwrap()
                .expose()
                .to_string()
        };
        let r = auth
            .login_password(&id, &Password::from("Temp2026a"), Entry::Enroll)
            .await
            .unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        let r = auth
            .enroll(&id, &t, issued.credential_id.as_str(), &code(1), &code(0))
            .await
            .unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        clock.advance(30);
        let r = auth.submit_otp(&id, &t, &code(0)).await.unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        let p = Password::from(PASSWORD);
        let r = auth.change_password(&id, &t, &p, &p).await.unwrap();
        assert!(matches!(r.outcome, Outcome::LoggedIn(_)), "{:?}", r.outcome);
        out.push(User {
            id,
            totp,
            last_step: clock.now() / 30,
        });
    }
    out
}

/// The `p_per_mille` percentile by nearest rank (ceil(p · n), 1-based).
pub fn percentile(v: &mut [Duration], p_per_mille: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let rank = (v.len() * p_per_mille).div_ceil(1000).max(1);
    v[rank.min(v.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}
