//! A browser for the tests: a cookie jar, a client address, and the CSRF
//! token of the last page, over the router in-process.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use http_body_util::BodyExt as _;
use lockstep_account::{Authenticator, MemoryDirectory, MemoryStore};
use lockstep_axum::{CsrfToken, Limits, LoggedIn, Login, MemorySessions, PlainPages};
use lockstep_store_tests::fixture::Fx;
use tower::ServiceExt as _;

pub use lockstep_store_tests::fixture::TEMP;

pub type Auth = Authenticator<Arc<MemoryStore>, Arc<MemoryDirectory>>;

/// The service's own page behind the login.
pub async fn home(user: LoggedIn, csrf: CsrfToken) -> impl IntoResponse {
    axum::response::Html(format!(
        "<p>welcome {} notice={:?}</p><form method=\"post\" action=\"/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Log out</button></form>",
        lockstep_axum::escape(&user.user.user_name),
        user.notice.map(lockstep_axum::Notice::code),
        csrf.expose()
    ))
}

/// A service: the fixture's accounts, the login at `/`, home at `/home`.
pub struct World {
    pub fx: Fx,
    pub auth: Arc<Auth>,
    pub sessions: MemorySessions,
    pub router: Router,
}

impl World {
    pub fn new() -> Self {
        Self::with(Limits::unlimited(), MemorySessions::default(), |l| l)
    }

    pub fn with(
        limits: Limits,
        sessions: MemorySessions,
        more: impl FnOnce(Login) -> Login,
    ) -> Self {
        let fx = Fx::new();
        let auth = Arc::new(fx.sibling(lockstep_account::Config::default()));
        let login = Login::new(Arc::clone(&auth) as _, PlainPages)
            .local_http()
            .limits(limits);
        let app = Router::new().route("/home", get(home));
        let router = more(login).router(app, sessions.clone()).unwrap();
        Self {
            fx,
            auth,
            sessions,
            router,
        }
    }

    pub fn browser(&self) -> Browser {
        self.browser_at("192.0.2.10")
    }

    pub fn browser_at(&self, ip: &str) -> Browser {
        Browser {
            router: self.router.clone(),
            cookies: BTreeMap::new(),
            peer: SocketAddr::new(ip.parse().unwrap(), 40000),
            csrf: String::new(),
            json: false,
        }
    }
}

/// An answer.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn sets_cookie(&self, name: &str) -> bool {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with(&format!("{name}=")))
    }
}

pub struct Browser {
    pub router: Router,
    pub cookies: BTreeMap<String, String>,
    pub peer: SocketAddr,
    pub csrf: String,
    pub json: bool,
}

impl Browser {
    pub fn speaking_json(mut self) -> Self {
        self.json = true;
        self
    }

    pub async fn send(&mut self, request: Request<Body>) -> Page {
        let mut request = request;
        request.extensions_mut().insert(ConnectInfo(self.peer));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request
                .headers_mut()
                .insert(header::COOKIE, jar.join("; ").parse().unwrap());
        }
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
        for v in parts.headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if v.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        if let Some(token) = csrf_in(&body) {
            self.csrf = token;
        }
        Page {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let mut b = Request::get(path);
        if self.json {
            b = b.header(header::ACCEPT, "application/json");
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// A form post with the last page's CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        self.post_with(path, fields, &csrf).await
    }

    pub async fn post_with(&mut self, path: &str, fields: &[(&str, &str)], csrf: &str) -> Page {
        let request = if self.json {
            let mut map = serde_json::Map::new();
            for (k, v) in fields {
                map.insert((*k).to_owned(), serde_json::Value::from(*v));
            }
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json")
                .header("x-csrf-token", csrf)
                .body(Body::from(serde_json::Value::Object(map).to_string()))
                .unwrap()
        } else {
            let mut body = form_urlencoded::Serializer::new(String::new());
            body.append_pair("csrf", csrf);
            for (k, v) in fields {
                body.append_pair(k, v);
            }
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.finish()))
                .unwrap()
        };
        self.send(request).await
    }
}

/// The CSRF token of a page: its hidden field, or a JSON answer's `csrf`.
fn csrf_in(body: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        return v.get("csrf").and_then(|c| c.as_str()).map(str::to_owned);
    }
    let at = body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let rest = body.get(at..)?;
    Some(rest.get(..rest.find('"')?)?.to_owned())
}

/// The user's address as the tests write it.
pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
