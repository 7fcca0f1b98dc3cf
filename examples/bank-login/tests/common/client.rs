//! A small HTTP client over the router, in-process: it keeps the cookies the
//! service sets and the CSRF token of the last page, as a browser would.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// Where a redirect goes.
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// The browser stand-in.
#[derive(Clone)]
pub struct Client {
    router: Router,
    pub cookies: BTreeMap<String, String>,
    pub csrf: Option<String>,
    /// The desk page's one-use action nonce, when the last page had one.
    pub nonce: Option<String>,
    /// The address it connects from.
    pub peer: std::net::SocketAddr,
}

impl Client {
    pub fn new(router: Router) -> Self {
        Self {
            router,
            cookies: BTreeMap::new(),
            csrf: None,
            nonce: None,
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 50_000)),
        }
    }

    /// The cookie whose name ends with `name` (`__Host-` prefixed or not).
    pub fn cookie(&self, name: &str) -> Option<&String> {
        self.cookies
            .iter()
            .find(|(k, _)| k.as_str() == name || k.strip_prefix("__Host-") == Some(name))
            .map(|(_, v)| v)
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn send(&mut self, mut request: Request<Body>) -> Answer {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        for cookie in headers.get_all(header::SET_COOKIE) {
            let text = cookie.to_str().unwrap_or("");
            let pair = text.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        if let Some(token) = csrf_in(&body) {
            self.csrf = Some(token);
        }
        if let Some(nonce) = hidden(&body, "nonce") {
            self.nonce = Some(nonce);
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    /// Follows redirects from `answer` with GETs, returning the final page.
    pub async fn follow(&mut self, mut answer: Answer) -> Answer {
        for _ in 0..5 {
            if !answer.status.is_redirection() {
                break;
            }
            let to = answer.location().to_owned();
            answer = self.get(&to).await;
        }
        answer
    }

    /// A form post with the current CSRF token added.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &encode(&all), &[]).await
    }

    /// A desk form post: the CSRF token and the page's one-use nonce added.
    pub async fn post_desk(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let nonce = self.nonce.clone().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("nonce", nonce.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    /// A post of exactly `body`, with extra headers.
    pub async fn post_raw(&mut self, path: &str, body: &str, extra: &[(&str, &str)]) -> Answer {
        let mut request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "bank.example");
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let request = request.body(Body::from(body.to_owned())).expect("request");
        self.send(request).await
    }
}

pub fn encode(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The CSRF token in a page's form, if any.
pub fn csrf_in(body: &str) -> Option<String> {
    hidden(body, "csrf")
}

/// The value of the page's first hidden field named `name`, if any.
pub fn hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}
