//! The Prometheus endpoint: the library crates record through the
//! `metrics` facade (see `lockstep::account::metrics` for the names), and
//! this installs `metrics-exporter-prometheus` as the recorder and serves
//! its page at `/metrics` on a listener of its own — off unless
//! `--metrics-listen` is given, and never on the customers' port.
//!
//! No label holds a user ID, an address or a code: the series are the
//! fixed ones the crates name, so a flood of made-up IDs cannot grow the
//! page.

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Sessions not expired, read from the session tables every
/// [`REFRESH`].
pub const SESSIONS_OPEN: &str = "lockstep_sessions_open";

/// How often the gauges read from the stores are refreshed and the
/// histograms' windows moved on.
pub const REFRESH: Duration = Duration::from_secs(15);

/// Latency buckets, in seconds: 1 ms to 5 s.
const SECONDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Group-commit sizes.
const WRITES: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the Prometheus recorder for this process (once; a second call
/// is an error).
///
/// # Errors
/// A recorder is already installed.
pub fn install() -> Result<PrometheusHandle, Box<dyn std::error::Error + Send + Sync>> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)?
        .set_buckets_for_metric(Matcher::Full(lockstep::sqlite::BATCH_SIZE.into()), &WRITES)?
        .install_recorder()?;
    describe();
    Ok(handle)
}

/// The help text of every series, and every counter at 0 from the start,
/// so that a rate or an `increase()` alert sees the first lock or flag too:
/// the driver's through [`lockstep::account::metrics::describe`], the web
/// layer's, the SQLite store's and the service's own here.
fn describe() {
    lockstep::account::metrics::describe();
    metrics::describe_histogram!(
        lockstep::sqlite::BATCH_SIZE,
        "Writes committed together by one SQLite group commit."
    );
    metrics::describe_gauge!(SESSIONS_OPEN, "Web sessions not expired (both sides).");
    metrics::describe_counter!(
        lockstep_axum::spray::FLAGGED,
        "Spray flags recorded: client addresses whose password steps failed on many user IDs."
    );
    metrics::counter!(lockstep_axum::spray::FLAGGED).absolute(0);
}

/// The metrics listener's router: `GET /metrics`, Prometheus's text
/// format.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    )
}

/// Every [`REFRESH`]: the histograms' upkeep, and `sessions` (a count of
/// the open sessions) into [`SESSIONS_OPEN`]; until it is dropped.
pub async fn refresh<F, Fut>(handle: PrometheusHandle, sessions: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<u64>>,
{
    let mut ticks = tokio::time::interval(REFRESH);
    loop {
        ticks.tick().await;
        handle.run_upkeep();
        if let Some(open) = sessions().await {
            #[allow(clippy::cast_precision_loss)] // far below 2^52
            metrics::gauge!(SESSIONS_OPEN).set(open as f64);
        }
    }
}
