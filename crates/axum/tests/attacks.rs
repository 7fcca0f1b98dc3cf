//! The attacker's tests of every entry point of the router: floods of
//! anonymous requests and of stage sessions, a flood from one address,
//! forged `X-Forwarded-For`, forged and cross-site forms, megabyte bodies,
//! a full hash queue, and a sprayer that hangs up as it is flagged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Browser, TEMP, World, ip};
use lockstep_account::offload::Offload;
use lockstep_account::{AuditLog as _, Authenticator, Cursor, MemoryDirectory, MemoryStore};
use lockstep_axum::{Limits, Login, MemorySessions, PlainPages, TrustedProxies, limits::quota};

async fn logged_in(w: &World, user: &str, pw: &str, totp: &lockstep_otp::Totp) -> Browser {
    let mut b = w.browser();
    b.get("/").await;
    let page = b
        .post("/login", &[("user_id", user), ("password", pw)])
        .await;
    assert_eq!(page.location(), Some("/otp"), "{}", page.body);
    b.get("/otp").await;
    let code = w.fx.code(totp, 0);
    let page = b.post("/otp", &[("otp", &code)]).await;
    assert_eq!(page.location(), Some("/home"), "{}", page.body);
    b
}

/// 200,000 anonymous requests — login pages and wrong passwords — and a
/// thousand logins in progress by someone who knows a password evict no
/// logged-in session: anonymous traffic stores nothing, logins in progress
/// have a budget of their own (16 here), and logged-in sessions are never
/// evicted.
#[tokio::test]
async fn two_hundred_thousand_anonymous_requests_evict_no_logged_in_session() {
    let w = World::with(Limits::unlimited(), MemorySessions::new(16), |l| l);
    let (_, totp) = w.fx.ready("alice", 1, "Alice123").await;
    w.fx.clock.advance(30);
    let (_, totp_bob) = w.fx.ready("bob", 2, "Bobby123").await;
    w.fx.clock.advance(30);
    let mut alice = logged_in(&w, "alice", "Alice123", &totp).await;
    assert_eq!(w.sessions.counts(), (0, 1));

    let mut anonymous = w.browser_at("203.0.113.5");
    anonymous.get("/").await;
    let started = Instant::now();
    for n in 0..200_000_u32 {
        if n % 20 == 0 {
            let page = anonymous
                .post(
                    "/login",
                    &[("user_id", &format!("guess{n}")), ("password", "Wrong999")],
                )
                .await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        } else {
            let mut fresh = w.browser_at("203.0.113.6");
            let page = fresh.get("/").await;
            assert_eq!(page.status, StatusCode::OK);
        }
    }
    println!("200,000 anonymous requests in {:?}", started.elapsed());
    assert_eq!(
        w.sessions.counts(),
        (0, 1),
        "anonymous traffic stored nothing"
    );

    for _ in 0..1000 {
        let mut b = w.browser_at("203.0.113.7");
        b.get("/").await;
        let page = b
            .post("/login", &[("user_id", "bob"), ("password", "Bobby123")])
            .await;
        assert_eq!(page.location(), Some("/otp"));
    }
    let (stage, logged_in) = w.sessions.counts();
    assert!(stage <= 16, "{stage}");
    assert_eq!(logged_in, 1);
    assert_eq!(
        alice.get("/home").await.status,
        StatusCode::OK,
        "alice is still in"
    );
    let _ = totp_bob;
}

/// One address flooding the password step is cut at its password burst
/// (10): the rest is answered 429 with `Retry-After` before anything is
/// hashed; another address is served meanwhile.
#[tokio::test]
async fn a_flood_from_one_address_is_cut_at_its_budget() {
    // Refusals answered at once here: the delay has a test of its own.
    let limits = Limits {
        refusal_delay: std::time::Duration::ZERO,
        ..Limits::default()
    };
    let w = World::with(limits, MemorySessions::default(), |l| l);
    let hashes = || w.fx.hasher.verifies.load(Ordering::SeqCst);
    let mut flooder = w.browser_at("198.51.100.66");
    flooder.get("/").await;
    let before = hashes();
    let started = Instant::now();
    let mut first_cut = None;
    let mut passed = 0;
    for n in 0..200 {
        let page = flooder
            .post(
                "/login",
                &[("user_id", &format!("u{n}")), ("password", "Wrong999")],
            )
            .await;
        match page.status {
            StatusCode::TOO_MANY_REQUESTS => {
                let wait: u64 = page.headers[header::RETRY_AFTER]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(wait >= 1);
                first_cut.get_or_insert((n, started.elapsed()));
            }
            StatusCode::UNPROCESSABLE_ENTITY => passed += 1,
            other => panic!("{other}"),
        }
    }
    let (n, after) = first_cut.expect("the flood was cut");
    println!("cut at request {n}, {after:?} into the flood; {passed} of 200 passed");
    // 10 at once, one more every 3 s of the flood.
    let allowed = 10 + 1 + usize::try_from(started.elapsed().as_secs() / 3).unwrap();
    assert!(passed <= allowed, "{passed} > {allowed}");
    assert_eq!(
        hashes() - before,
        passed,
        "a refused request hashes nothing"
    );
    let mut other = w.browser_at("198.51.100.67");
    other.get("/").await;
    let page = other
        .post("/login", &[("user_id", "x"), ("password", "Wrong999")])
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another address is served"
    );
}

/// A request past its budget waits for its `429` (the refusal delay, here
/// the default second, on tokio's paused clock): a client that ignores
/// `Retry-After` asks once a second per connection, not as fast as the
/// service can refuse.
#[tokio::test(start_paused = true)]
async fn a_refusal_past_the_budget_is_answered_after_the_delay() {
    let w = World::with(Limits::default(), MemorySessions::default(), |l| l);
    let mut flooder = w.browser_at("198.51.100.70");
    flooder.get("/").await;
    let mut refused = 0;
    for n in 0..12 {
        let started = tokio::time::Instant::now();
        let page = flooder
            .post(
                "/login",
                &[("user_id", &format!("u{n}")), ("password", "Wrong999")],
            )
            .await;
        let waited = started.elapsed();
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
            assert!(waited >= std::time::Duration::from_secs(1), "{waited:?}");
        } else {
            assert!(
                waited < std::time::Duration::from_secs(1),
                "{n}: {waited:?}"
            );
        }
    }
    assert!(refused >= 1, "the 11th and 12th are past the burst of 10");
}

/// The per-user-ID budget holds across addresses: 64 addresses guessing
/// one ID are cut at its burst (10).
#[tokio::test]
async fn guesses_on_one_user_id_from_many_addresses_are_cut() {
    let w = World::with(
        Limits {
            per_client: quota(1000, std::time::Duration::from_millis(1)),
            password_per_client: quota(1000, std::time::Duration::from_millis(1)),
            refusal_delay: std::time::Duration::ZERO,
            ..Limits::default()
        },
        MemorySessions::default(),
        |l| l,
    );
    w.fx.ready("alice", 1, "Alice123").await;
    let mut passed = 0;
    for n in 0..64 {
        let mut b = w.browser_at(&format!("10.0.0.{n}"));
        b.get("/").await;
        let page = b
            .post("/login", &[("user_id", "alice"), ("password", "Wrong999")])
            .await;
        if page.status != StatusCode::TOO_MANY_REQUESTS {
            passed += 1;
        }
    }
    assert!((10..=12).contains(&passed), "{passed}");
}

/// `X-Forwarded-For` from a peer that is not a trusted proxy is ignored:
/// the event names the peer. From a trusted proxy it names the client.
#[tokio::test]
async fn a_forged_forwarded_for_is_ignored() {
    for (trusted, expected) in [(false, "192.0.2.10"), (true, "203.0.113.99")] {
        let w = World::with(Limits::unlimited(), MemorySessions::default(), |l| {
            if trusted {
                l.trusted_proxies(TrustedProxies::parse("192.0.2.10").unwrap())
            } else {
                l
            }
        });
        let mut b = w.browser();
        b.get("/").await;
        let csrf = b.csrf.clone();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.extend_pairs([
            ("csrf", csrf.as_str()),
            ("user_id", "nobody"),
            ("password", "Wrong999"),
        ]);
        let request = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("x-forwarded-for", "203.0.113.99")
            .body(Body::from(form.finish()))
            .unwrap();
        let page = b.send(request).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        let events =
            w.fx.store
                .events("nobody", Cursor::Newest, 10)
                .await
                .unwrap();
        assert!(!events.is_empty());
        for e in events {
            assert_eq!(e.event.client, Some(ip(expected)), "trusted={trusted}");
        }
    }
}

/// A form without its token, with another visitor's token, or sent from
/// another site is refused before any handler runs: nothing is hashed or
/// written. So is a body of megabytes.
#[tokio::test]
async fn forged_cross_site_and_huge_forms_reach_no_handler() {
    let w = World::new();
    let hashes = || w.fx.hasher.verifies.load(Ordering::SeqCst);
    let mut victim = w.browser();
    victim.get("/").await;
    let mut attacker = w.browser_at("198.51.100.1");
    attacker.get("/").await;
    let before = hashes();
    let fields = [("user_id", "nobody"), ("password", "Wrong999")];
    let page = victim.post_with("/login", &fields, "").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = victim
        .post_with("/login", &fields, &attacker.csrf.clone())
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "another nonce's token");
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let mut body = form_urlencoded::Serializer::new(String::new());
        body.extend_pairs([("csrf", victim.csrf.as_str())]);
        body.extend_pairs(fields);
        let request = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "bank.example")
            .header(name, value)
            .body(Body::from(body.finish()))
            .unwrap();
        assert_eq!(
            victim.send(request).await.status,
            StatusCode::FORBIDDEN,
            "{name}"
        );
    }
    let huge = "a".repeat(2 * 1024 * 1024);
    let page = victim
        .post("/login", &[("user_id", &huge), ("password", "x")])
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(hashes(), before, "no handler ran");
    assert!(
        w.fx.store
            .events("nobody", Cursor::Newest, 1)
            .await
            .unwrap()
            .is_empty()
    );
    // The victim's own form still works.
    let page = victim.post("/login", &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A hook that holds every hash until opened.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    entered: AtomicUsize,
}

impl Offload for Gate {
    fn execute(&self, work: &mut (dyn FnMut() + Send)) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        work();
    }
    fn max_concurrent(&self) -> Option<usize> {
        Some(1)
    }
}

/// With the hash queue full, a password step is answered 503 with
/// `Retry-After` at once, for every user ID alike (the core's `Busy`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hash_queue_answers_busy_with_retry_after() {
    let gate = Arc::new(Gate::default());
    let auth = Arc::new(
        Authenticator::builder(MemoryStore::new(), MemoryDirectory::new())
            .hasher(Arc::new(lockstep_password::InsecureTestHasher::new()))
            .offload(Arc::clone(&gate) as Arc<dyn Offload>)
            .max_waiting_hashes(0)
            .build()
            .unwrap(),
    );
    *gate.open.lock().unwrap() = true;
    auth.create_account(
        "op",
        "known",
        "N",
        "C",
        &lockstep_account::Password::from(TEMP),
    )
    .await
    .unwrap();
    *gate.open.lock().unwrap() = false;
    let router = Login::new(Arc::clone(&auth) as _, PlainPages)
        .local_http()
        .limits(Limits::unlimited())
        .router(axum::Router::new(), MemorySessions::default())
        .unwrap();
    let browser = |addr: &str| Browser {
        router: router.clone(),
        cookies: Default::default(),
        peer: std::net::SocketAddr::new(ip(addr), 1),
        csrf: String::new(),
        json: false,
    };
    let entered = gate.entered.load(Ordering::SeqCst);
    let mut holder = browser("192.0.2.1");
    holder.get("/").await;
    let held = tokio::spawn(async move {
        holder
            .post("/login", &[("user_id", "x"), ("password", "Wrong999")])
            .await
    });
    while gate.entered.load(Ordering::SeqCst) == entered {
        tokio::task::yield_now().await;
    }
    for user in ["known", "nobody"] {
        let mut b = browser("192.0.2.2").speaking_json();
        b.get("/").await;
        let page = b
            .post("/login", &[("user_id", user), ("password", "Wrong999")])
            .await;
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{user}");
        assert!(page.headers.contains_key(header::RETRY_AFTER));
        assert_eq!(page.json()["view"], "busy");
    }
    *gate.open.lock().unwrap() = true;
    gate.opened.notify_all();
    assert_eq!(held.await.unwrap().status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A driver whose spray flags wait at a gate before they are written, and
/// whose first `failing` flags fail as a store that is down does.
struct GatedFlags {
    inner: Arc<common::Auth>,
    gate: Arc<tokio::sync::Semaphore>,
    failing: AtomicUsize,
    written: Arc<AtomicUsize>,
}

impl GatedFlags {
    fn new(inner: Arc<common::Auth>, failing: usize) -> Self {
        Self {
            inner,
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
            failing: AtomicUsize::new(failing),
            written: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A router over this driver whose watch flags more than three IDs,
    /// and a sprayer's browser on it.
    fn sprayer(self, w: &World) -> Browser {
        let limits = Limits {
            spray: lockstep_axum::spray::SprayLimits {
                distinct_ids: 3,
                // An owed event is written again at the next step.
                event_retry: std::time::Duration::ZERO,
                ..lockstep_axum::spray::SprayLimits::default()
            },
            ..Limits::unlimited()
        };
        let router = Login::new(Arc::new(self) as _, PlainPages)
            .local_http()
            .limits(limits)
            .router(axum::Router::new(), MemorySessions::default())
            .unwrap();
        Browser {
            router,
            ..w.browser_at("203.0.113.9")
        }
    }
}

/// A password step that fails on a made-up ID.
async fn wrong(b: &mut Browser, id: &str) -> StatusCode {
    b.post("/login", &[("user_id", id), ("password", "Wrong999")])
        .await
        .status
}

/// The spray flags the desk sees.
async fn flags_on_record(w: &World) -> Vec<lockstep_account::SprayFlag> {
    w.fx.store.suspicious(0, u64::MAX, 10).await.unwrap().flags
}

impl lockstep_axum::Steps for GatedFlags {
    fn step<'a>(
        &'a self,
        client: Option<std::net::IpAddr>,
        user_id: &'a str,
        input: lockstep_account::machine::Input<'a>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<lockstep_account::Reply, lockstep_account::Error>,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(self.inner.step_from(client, user_id, input))
    }

    fn config(&self) -> &lockstep_account::Config {
        self.inner.config()
    }

    fn flag_spray(
        &self,
        client: std::net::IpAddr,
        distinct_ids: u32,
        window_secs: u64,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), lockstep_account::Error>> + Send + '_>,
    > {
        Box::pin(async move {
            let _open = self.gate.acquire().await;
            let failing = self.failing.load(Ordering::SeqCst);
            if failing > 0 {
                self.failing.store(failing - 1, Ordering::SeqCst);
                return Err(lockstep_account::Error::Store(
                    lockstep_account::StoreError::NotFound,
                ));
            }
            self.inner
                .flag_spray(client, distinct_ids, window_secs)
                .await?;
            self.written.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

/// A sprayer that hangs up the moment its request flags it (while the
/// flag is being written) does not cut the flag's audit event short: the
/// watch flags an address once a window, so a lost event would be lost
/// for good.
#[tokio::test]
async fn a_sprayer_that_hangs_up_as_it_is_flagged_is_still_on_record() {
    let w = World::new();
    let steps = GatedFlags::new(Arc::clone(&w.auth), 0);
    let (gate, written) = (Arc::clone(&steps.gate), Arc::clone(&steps.written));
    let mut sprayer = steps.sprayer(&w);
    sprayer.get("/").await;
    for n in 0..3 {
        assert_eq!(
            wrong(&mut sprayer, &format!("spray{n}")).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // The fourth distinct ID flags the address; the sprayer leaves while
    // the flag waits at the gate.
    let fourth = wrong(&mut sprayer, "spray3");
    let left = tokio::time::timeout(std::time::Duration::from_millis(200), fourth).await;
    assert!(left.is_err(), "the request waits for the flag's write");
    gate.add_permits(1);
    for _ in 0..500 {
        if written.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(written.load(Ordering::SeqCst), 1, "the flag was written");
    let flags = flags_on_record(&w).await;
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0].client, Some(ip("203.0.113.9")));
}

/// A flag whose audit event cannot be written (the store is down) while
/// its request is cut off is owed, not lost: a later password step of the
/// sprayer writes it (here at once: `event_retry` is zero), once.
#[tokio::test]
async fn a_flag_the_store_did_not_take_is_given_again() {
    let w = World::new();
    let steps = GatedFlags::new(Arc::clone(&w.auth), 1);
    let (gate, written) = (Arc::clone(&steps.gate), Arc::clone(&steps.written));
    let mut sprayer = steps.sprayer(&w);
    sprayer.get("/").await;
    for n in 0..3 {
        wrong(&mut sprayer, &format!("spray{n}")).await;
    }
    // Flagged; the sprayer leaves while the write waits; it then fails.
    let fourth = wrong(&mut sprayer, "spray3");
    let left = tokio::time::timeout(std::time::Duration::from_millis(200), fourth).await;
    assert!(left.is_err(), "the request waits for the flag's write");
    gate.add_permits(10);
    // Later steps: once the failure is settled, the next one writes it.
    let mut steps = 0;
    while written.load(Ordering::SeqCst) == 0 {
        assert!(steps < 500, "the owed event was never written");
        steps += 1;
        wrong(&mut sprayer, &format!("later{steps}")).await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(written.load(Ordering::SeqCst), 1, "written again, once");
    let flags = flags_on_record(&w).await;
    assert_eq!(flags.len(), 1, "{flags:?}");
    wrong(&mut sprayer, "spray5").await;
    assert_eq!(written.load(Ordering::SeqCst), 1, "nothing more owed");
    assert_eq!(flags_on_record(&w).await.len(), 1, "once a window");
}

/// An office behind one address: more customers than the threshold pass
/// their password step from it, and it is not flagged (only failed steps
/// count); their colleagues' mistyping then flags it no sooner than a
/// sprayer's would be.
#[tokio::test]
async fn an_office_of_customers_logging_in_is_no_spray() {
    let w = World::new();
    let users = ["ann", "ben", "cat", "dan", "eve"];
    for (n, user) in (1_u8..).zip(users) {
        w.fx.ready(user, n, "Office123").await;
    }
    let steps = GatedFlags::new(Arc::clone(&w.auth), 0);
    steps.gate.add_permits(10);
    let written = Arc::clone(&steps.written);
    let mut office = steps.sprayer(&w);
    for user in users {
        office.get("/").await;
        let page = office
            .post("/login", &[("user_id", user), ("password", "Office123")])
            .await;
        assert_eq!(page.location(), Some("/otp"), "{user}: {}", page.body);
        // Each customer is a session of their own.
        office.cookies.clear();
    }
    assert_eq!(written.load(Ordering::SeqCst), 0, "five logins: no flag");
    office.get("/").await;
    for n in 0..3 {
        wrong(&mut office, &format!("typo{n}")).await;
    }
    assert_eq!(written.load(Ordering::SeqCst), 0, "three failures: none");
    wrong(&mut office, "typo3").await;
    assert_eq!(written.load(Ordering::SeqCst), 1, "the fourth failed ID");
    assert_eq!(flags_on_record(&w).await.len(), 1);
}
