//! A browser stand-in over real HTTP, for the tests that run the binary:
//! its cookies and the last page's CSRF token, talking to any port.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{Request, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A browser stand-in that may talk to either process.
pub struct Browser {
    pub http: Client<HttpConnector, Full<Bytes>>,
    pub cookies: BTreeMap<String, String>,
    pub csrf: String,
}

pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

impl Browser {
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Page {
        let response = self.http.request(request).await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        for c in response.headers().get_all(header::SET_COOKIE) {
            let text = c.to_str().unwrap();
            let (k, v) = text.split(';').next().unwrap().split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), v.to_owned());
        }
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        let marker = "name=\"csrf\" value=\"";
        if let Some(at) = body.find(marker) {
            let rest = &body[at + marker.len()..];
            self.csrf = rest[..rest.find('"').unwrap()].to_owned();
        }
        Page {
            status,
            location,
            body,
        }
    }

    fn cookie(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, port: u16, path: &str) -> Page {
        let request = Request::get(format!("http://127.0.0.1:{port}{path}"))
            .header(header::COOKIE, self.cookie())
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.send(request).await
    }

    pub async fn post(&mut self, port: u16, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &self.csrf)
            .extend_pairs(fields)
            .finish();
        let request = Request::post(format!("http://127.0.0.1:{port}{path}"))
            .header(header::COOKIE, self.cookie())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        self.send(request).await
    }
}

impl Browser {
    /// A browser with no cookie yet.
    pub fn new() -> Self {
        Self {
            // A connection left idle is dropped by the client before the
            // server closes it (the server's header-read timeout also ends
            // an idle kept-alive connection), as a browser retries one: a
            // POST sent on a connection the server is closing would be
            // reset, and a test that waits for the next TOTP step idles
            // for up to 31 s.
            http: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(lockstep_axum::ServerLimits::default().header_read_timeout / 4)
                .pool_timer(TokioTimer::new())
                .build_http(),
            cookies: BTreeMap::new(),
            csrf: String::new(),
        }
    }
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// The port of the address bank-login printed after `label` (`customers:`,
/// `desk:`, `metrics:`): started on port 0, a service says which port it
/// was given, so no test races another for a port it picked and let go.
pub fn port_in(printed: &str, label: &str) -> u16 {
    let line = printed
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in: {printed}"));
    let address = line.trim().trim_start_matches("http://");
    let host_port = address.split('/').next().unwrap();
    let (host, port) = host_port.rsplit_once(':').unwrap();
    assert_eq!(host, "127.0.0.1", "{printed}");
    let port: u16 = port.parse().unwrap();
    assert_ne!(port, 0, "the port given, not the one asked for: {printed}");
    port
}
