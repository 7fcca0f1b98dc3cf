//! Operating the service: a password spray from several loopback
//! addresses is flagged (an audit event per address, a tighter budget),
//! shown on the desk's 不審なアクセス screen, and counted in the metrics
//! page — parsed with a Prometheus text parser — whose series name no user
//! ID, address or password, and do not grow with made-up user IDs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bank_login::WebOptions;
use common::client::Client;
use common::*;
use http_body_util::BodyExt as _;
use lockstep::account::AuditLog as _;
use lockstep_axum::Limits;
use lockstep_axum::limits::quota;
use lockstep_axum::spray::SprayLimits;
use tower::ServiceExt as _;

const PASSWORD: &str = "Spring2026";

/// The metrics recorder is the process's: the tests that spray take turns,
/// so that each counts only its own flags.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The metrics page, parsed: every series as `name{label="value",…}`,
/// and the samples by that key.
async fn scrape(handle: &metrics_exporter_prometheus::PrometheusHandle) -> Vec<(String, f64)> {
    let router = bank_login::metrics::router(handle.clone());
    let answer = router
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let text = answer.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(text.to_vec()).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    parsed
        .samples
        .iter()
        .map(|s| {
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            labels.sort();
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            (format!("{}{{{}}}", s.metric, labels.join(",")), value)
        })
        .collect()
}

fn value(samples: &[(String, f64)], key: &str) -> f64 {
    samples
        .iter()
        .find(|(k, _)| k == key)
        .map_or(0.0, |(_, v)| *v)
}

async fn spray(router: &axum::Router, last_octet: u8, ids: &[String]) -> Vec<StatusCode> {
    spray_from(router, IpAddr::from([127, 0, 0, last_octet]), ids).await
}

async fn spray_from(router: &axum::Router, peer: IpAddr, ids: &[String]) -> Vec<StatusCode> {
    let mut c = Client::new(router.clone());
    c.peer = SocketAddr::new(peer, 40_000);
    c.get("/").await;
    let mut statuses = Vec::new();
    for id in ids {
        let a = c
            .post(
                "/login",
                &[("user_id", id), ("password", PASSWORD), ("entry", "login")],
            )
            .await;
        statuses.push(a.status);
    }
    statuses
}

/// 不審なアクセス lists `client` with its failures, distinct IDs and
/// unknown IDs, its row marked as flagged or not.
fn shows_row(body: &str, client: &str, [failures, distinct, unknown]: [u32; 3], flagged: bool) {
    let class = if flagged { " class=\"flagged\"" } else { "" };
    let row = format!(
        "<tr{class}><td>{client}</td><td>{failures}</td><td>{distinct}</td><td>{unknown}</td>"
    );
    assert!(body.contains(&row), "no {row} in: {body}");
}

/// The service with a spray watch that flags more than five distinct IDs
/// and then allows one password step a minute.
fn watched(h: &Harness) -> axum::Router {
    h.router_with(&WebOptions {
        local_http: true,
        limits: Limits {
            refusal_delay: Duration::ZERO,
            spray: SprayLimits {
                distinct_ids: 5,
                window: Duration::from_secs(600),
                flagged_passwords: Some(quota(1, Duration::from_secs(60))),
                max_clients: 1_000,
                ..SprayLimits::default()
            },
            ..Limits::default()
        },
        ..WebOptions::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spray_from_several_addresses_is_flagged_shown_and_counted_naming_no_one() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let handle = bank_login::metrics::install().unwrap();
    let h = Harness::new().await;
    let router = watched(&h);

    // A customer mistypes twice from 127.0.0.1: not a spray.
    let mistyped = spray(&router, 1, &[USER.to_owned(), USER.to_owned()]).await;
    assert_eq!(mistyped, [StatusCode::UNPROCESSABLE_ENTITY; 2]);
    let before = scrape(&handle).await;

    // Three addresses, eight made-up IDs each (and one real one): the
    // sixth distinct ID flags the address, whose budget is then one step.
    let mut all_ids = BTreeSet::new();
    for n in 2..=4_u8 {
        let mut ids: Vec<String> = (0..7).map(|i| format!("spray{n}x{i:02}")).collect();
        ids.insert(3, USER.to_owned());
        all_ids.extend(ids.iter().cloned());
        let statuses = spray(&router, n, &ids).await;
        assert_eq!(
            statuses,
            [
                [StatusCode::UNPROCESSABLE_ENTITY; 6].as_slice(),
                &[StatusCode::TOO_MANY_REQUESTS; 2]
            ]
            .concat(),
            "127.0.0.{n}"
        );
    }

    // The audit log holds one flag per address, and the desk's query
    // counts what reached the driver: six distinct IDs per address.
    let now = h.now();
    let seen = h
        .bank
        .customers()
        .store
        .suspicious(now - 3_600, now + 1, 50)
        .await
        .unwrap();
    let mut flagged: Vec<String> = seen
        .flags
        .iter()
        .map(|f| f.client.unwrap().to_string())
        .collect();
    flagged.sort();
    assert_eq!(flagged, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    assert!(seen.flags.iter().all(|f| f.distinct_ids == 6));
    for n in 2..=4 {
        let row = seen
            .clients
            .iter()
            .find(|c| c.client == Some(format!("127.0.0.{n}").parse().unwrap()))
            .unwrap();
        assert_eq!((row.failures, row.distinct_ids, row.unknown_ids), (6, 6, 5));
    }
    assert_eq!(
        seen.clients.last().unwrap().distinct_ids,
        1,
        "the customer last"
    );
    assert_eq!((seen.failures, seen.unknown_ids), (20, 15));

    // The desk's screen shows it, most distinct IDs first, flagged rows
    // marked; the customer's address is not.
    let mut d = Client::new(router.clone());
    desk_login(&h, &mut d).await;
    let page = d.get("/desk/suspicious?window=1h").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("不審なアクセス"), "{}", page.body);
    assert!(page.body.contains("id=\"failures\">20 件"), "{}", page.body);
    assert!(
        page.body.contains("id=\"unknown-ids\">15 件"),
        "{}",
        page.body
    );
    for n in 2..=4 {
        shows_row(&page.body, &format!("127.0.0.{n}"), [6, 6, 5], true);
    }
    shows_row(&page.body, "127.0.0.1", [2, 1, 0], false);
    let other = d.get("/desk/suspicious?window=nonsense").await;
    assert!(
        other
            .body
            .contains("id=\"window-1h\" aria-current=\"page\"")
    );
    let customer = Client::new(router.clone()).get("/desk/suspicious").await;
    assert_eq!(
        (customer.status, customer.location()),
        (StatusCode::SEE_OTHER, "/desk/"),
        "the screen is the desk's: to its login"
    );

    // The metrics: the outcomes counted, the flags counted, and no series
    // names a user ID, an address or the password.
    let after = scrape(&handle).await;
    let unknown = "lockstep_password_steps_total{outcome=\"unknown_user\"}";
    let failed = "lockstep_password_steps_total{outcome=\"failed\"}";
    assert_eq!(value(&after, unknown) - value(&before, unknown), 15.0);
    assert_eq!(value(&after, failed) - value(&before, failed), 3.0);
    assert_eq!(value(&after, "lockstep_spray_flagged_total{}"), 3.0);
    assert!(value(&after, "lockstep_store_write_seconds_count{}") > 0.0);
    for (series, _) in &after {
        for secret in all_ids
            .iter()
            .map(String::as_str)
            .chain(["127.0.0", PASSWORD])
        {
            assert!(!series.contains(secret), "{series} names {secret}");
        }
    }

    // Cardinality: fifty more made-up IDs from new addresses add no series.
    let series = |s: &[(String, f64)]| s.iter().map(|(k, _)| k.clone()).collect::<BTreeSet<_>>();
    for n in 10..15_u8 {
        let ids: Vec<String> = (0..10).map(|i| format!("fresh{n}x{i}")).collect();
        spray(&router, n, &ids).await;
    }
    let more = scrape(&handle).await;
    assert_eq!(series(&more), series(&after), "no new series");
    assert!(value(&more, unknown) > value(&after, unknown));
}

/// An IPv6 sprayer that moves about its /64 (two IDs from each of three
/// addresses) is flagged as its /64, which the desk's screen names as
/// such, and the row of every one of its addresses is marked; an address
/// of the next /64 is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_sprayer_moving_about_its_64_is_marked_on_every_row() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let h = Harness::new().await;
    let router = watched(&h);
    for host in 1..=3_u16 {
        let peer = IpAddr::from(Ipv6Addr::new(0x2001, 0xdb8, 7, 7, 0, 0, 0, host));
        let ids: Vec<String> = (0..2).map(|i| format!("v6x{host}x{i}")).collect();
        spray_from(&router, peer, &ids).await;
    }
    let next = IpAddr::from(Ipv6Addr::new(0x2001, 0xdb8, 7, 8, 0, 0, 0, 1));
    spray_from(&router, next, &["lone01".to_owned()]).await;

    let mut d = Client::new(router.clone());
    desk_login(&h, &mut d).await;
    let page = d.get("/desk/suspicious?window=1h").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<td>2001:db8:7:7::/64</td><td>6</td>"),
        "the flag names the /64: {}",
        page.body
    );
    for host in 1..=3 {
        shows_row(
            &page.body,
            &format!("2001:db8:7:7::{host}"),
            [2, 2, 2],
            true,
        );
    }
    shows_row(&page.body, "2001:db8:7:8::1", [1, 1, 1], false);
}
