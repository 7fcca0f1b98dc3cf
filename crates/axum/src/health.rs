//! Liveness and readiness, for a load balancer or an orchestrator:
//! `/healthz` answers `200` while the process serves; `/readyz` answers
//! `200` only while the embedder's check passes (say, the store answers and
//! its migrations are applied), `503` otherwise. Neither touches a session
//! or needs a CSRF token.

use std::future::Future;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The two routes, `ready` deciding `/readyz`. Merge them into the
/// service's router (or serve them on a listener of their own).
pub fn routes<F, Fut>(ready: F) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    Router::new()
        .route("/healthz", get(|| async { answer(StatusCode::OK, "ok\n") }))
        .route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready().await {
                        answer(StatusCode::OK, "ready\n")
                    } else {
                        answer(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                    }
                }
            }),
        )
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn ready_follows_the_check_and_health_does_not() {
        let up = Arc::new(AtomicBool::new(false));
        let check = {
            let up = Arc::clone(&up);
            move || {
                let up = Arc::clone(&up);
                async move { up.load(Ordering::SeqCst) }
            }
        };
        let router = super::routes(check);
        let status = |path: &'static str| {
            let router = router.clone();
            async move {
                let request = Request::get(path).body(Body::empty()).unwrap();
                router.oneshot(request).await.unwrap().status()
            }
        };
        assert_eq!(status("/healthz").await, StatusCode::OK);
        assert_eq!(status("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
        up.store(true, Ordering::SeqCst);
        assert_eq!(status("/readyz").await, StatusCode::OK);
        assert_eq!(status("/healthz").await, StatusCode::OK);
    }
}
