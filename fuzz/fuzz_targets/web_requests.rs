//! Hostile requests to the login's router, in sequence, as one client
//! with a cookie jar: any method, a path among the login's (with any
//! suffix), any cookie, `X-Forwarded-For`, `Sec-Fetch-Site`, content type
//! and body, a CSRF token that is right or not. The router never panics,
//! never answers 500 (every failure is one of its pages), and a refused
//! password never starts a session.
#![no_main]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use libfuzzer_sys::fuzz_target;
use lockstep_account::{Authenticator, MemoryDirectory, MemoryStore};
use lockstep_axum::{Limits, Login, MemorySessions, PlainPages};
use tower::ServiceExt as _;

const PATHS: [&str; 12] = [
    "/",
    "/login",
    "/enroll",
    "/otp",
    "/resync",
    "/resync/done",
    "/change",
    "/password",
    "/logout",
    "/home",
    "/nowhere",
    "/login/",
];

#[derive(Debug, Arbitrary)]
struct Step {
    post: bool,
    path: u8,
    suffix: String,
    cookie: Option<String>,
    keep_jar: bool,
    forwarded_for: Option<String>,
    fetch_site: Option<String>,
    json: bool,
    right_token: bool,
    token: String,
    body: Vec<u8>,
    fields: Vec<(String, String)>,
}

fn router() -> &'static axum::Router {
    static ROUTER: OnceLock<axum::Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let auth = Authenticator::builder(MemoryStore::new(), MemoryDirectory::new())
            .hasher(Arc::new(lockstep_password::InsecureTestHasher::new()))
            .build()
            .unwrap();
        Login::new(Arc::new(auth), PlainPages)
            .local_http()
            .limits(Limits::unlimited())
            .router(axum::Router::new(), MemorySessions::new(64))
            .unwrap()
    })
}

fuzz_target!(|steps: Vec<Step>| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut jar: Vec<String> = Vec::new();
        let mut csrf = String::new();
        for step in steps.into_iter().take(16) {
            let path = format!(
                "{}{}",
                PATHS[usize::from(step.path) % PATHS.len()],
                step.suffix
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(40)
                    .collect::<String>()
            );
            let Ok(uri) = path.parse::<axum::http::Uri>() else {
                continue;
            };
            let mut b = Request::builder()
                .method(if step.post { "POST" } else { "GET" })
                .uri(uri);
            let mut cookies = jar.join("; ");
            if let Some(c) = &step.cookie {
                cookies.push_str("; ");
                cookies.push_str(c);
            }
            if let Ok(v) = header::HeaderValue::from_str(&cookies) {
                b = b.header(header::COOKIE, v);
            }
            for (name, value) in [
                ("x-forwarded-for", &step.forwarded_for),
                ("sec-fetch-site", &step.fetch_site),
            ] {
                if let Some(v) = value
                    .as_deref()
                    .and_then(|v| header::HeaderValue::from_str(v).ok())
                {
                    b = b.header(name, v);
                }
            }
            let token = if step.right_token {
                csrf.clone()
            } else {
                step.token.clone()
            };
            let body = if step.json {
                b = b.header(header::CONTENT_TYPE, "application/json");
                if let Ok(v) = header::HeaderValue::from_str(&token) {
                    b = b.header("x-csrf-token", v);
                }
                step.body
            } else {
                b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                let mut form = form(&[("csrf", token.as_str())]);
                for (k, v) in step.fields.iter().take(6) {
                    form.push('&');
                    form.push_str(&self::form(&[(k.as_str(), v.as_str())]));
                }
                let mut bytes = form.into_bytes();
                bytes.extend_from_slice(&step.body);
                bytes
            };
            let Ok(mut request) = b.body(Body::from(body)) else {
                continue;
            };
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1))));
            let response = router().clone().oneshot(request).await.unwrap();
            assert_ne!(
                response.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{path}"
            );
            let refused_password = step.post
                && path.starts_with("/login")
                && response.status() == StatusCode::UNPROCESSABLE_ENTITY;
            let sets_session = response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .any(|c| c.to_str().is_ok_and(|c| c.starts_with("lockstep=")));
            assert!(
                !(refused_password && sets_session),
                "a refused password set a session"
            );
            if step.keep_jar {
                for c in response.headers().get_all(header::SET_COOKIE) {
                    if let Some(pair) = c.to_str().ok().and_then(|c| c.split(';').next()) {
                        jar.push(pair.to_owned());
                    }
                }
            }
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&bytes);
            let marker = "name=\"csrf\" value=\"";
            if let Some(at) = text.find(marker) {
                let rest = &text[at + marker.len()..];
                if let Some(end) = rest.find('"') {
                    csrf = rest[..end].to_owned();
                }
            }
        }
    });
});

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
