//! Authsignal not answering `validate` definitively at the callback (429, 5xx, timeout, an
//! undecodable answer, a connection that breaks) completes no login, still consumes the login
//! transaction, and counts nothing against the user or the client address. A definitive refusal
//! still counts. At the password step, the configured Authsignal timeout bounds the whole
//! `track` call, `Retry-After` waits included.
//!
//! A fault-injecting stand-in sits between the identity server and the emulator: it forwards
//! every Server API call to the emulator, except that the next `validate` (or `track`) calls get
//! the faults queued for them.
//!
//! The one time assertion is a bound with a generous margin (budget + 1 s against a wait of
//! 5 s), not a speed measurement.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use identity_server::account::lockout::LockoutKey;
use identity_server::signin::SESSION_COOKIE;

use super::{Browser, Page, Stack, spawn_with};
use crate::helpers::{query_param, test_tls};

const TRANSACTION_COOKIE: &str = "__Host-idsrv.mfa";

/// What the stand-in answers to one `validate` call.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// This status with a JSON error body (and `Retry-After: 1`).
    Status(u16),
    /// 429 with this `Retry-After`, in seconds.
    Throttled(u64),
    /// 200 with an HTML maintenance page.
    Undecodable,
    /// No answer for 30 s (the identity server's timeout is shorter).
    Hang,
    /// Part of a chunked body, then the connection is dropped.
    Break,
}

#[derive(Default)]
struct StandIn {
    upstream: Mutex<Option<String>>,
    faults: Mutex<VecDeque<Fault>>,
    track_faults: Mutex<VecDeque<Fault>>,
    validate_calls: AtomicUsize,
    track_calls: AtomicUsize,
    forward: Option<reqwest::Client>,
}

/// Stops the stand-in when the test ends.
struct StopOnDrop(actix_web::dev::ServerHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let handle = self.0.clone();
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

/// The stand-in's URL (`https://localhost:<port>/v1`) and its shared state.
async fn start_stand_in() -> (String, Arc<StandIn>, StopOnDrop) {
    let ca = reqwest::Certificate::from_pem(test_tls().ca_pem().as_bytes()).unwrap();
    let forward = reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let state = Arc::new(StandIn {
        forward: Some(forward),
        ..Default::default()
    });
    let data = web::Data::from(state.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .default_service(web::to(answer))
    })
    .workers(1)
    .disable_signals()
    .listen_rustls_0_23(listener, test_tls().server_config().unwrap())
    .unwrap()
    .run();
    let handle = StopOnDrop(server.handle());
    tokio::spawn(server);
    (format!("https://localhost:{port}/v1"), state, handle)
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<StandIn>) -> HttpResponse {
    let is_validate = req.method() == actix_web::http::Method::POST && req.path() == "/v1/validate";
    if is_validate {
        state.validate_calls.fetch_add(1, Ordering::SeqCst);
        let fault = state.faults.lock().unwrap().pop_front();
        if let Some(fault) = fault {
            return faulty(fault).await;
        }
    }
    let is_track = req.method() == actix_web::http::Method::POST
        && req.path().starts_with("/v1/users/")
        && req.path().contains("/actions/");
    if is_track {
        state.track_calls.fetch_add(1, Ordering::SeqCst);
        let fault = state.track_faults.lock().unwrap().pop_front();
        if let Some(fault) = fault {
            return faulty(fault).await;
        }
    }
    let upstream = state
        .upstream
        .lock()
        .unwrap()
        .clone()
        .expect("upstream set");
    let path = req
        .uri()
        .path_and_query()
        .map_or(req.path(), |p| p.as_str())
        .trim_start_matches("/v1");
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut request = state
        .forward
        .as_ref()
        .unwrap()
        .request(method, format!("{upstream}{path}"))
        .body(body.to_vec());
    for name in ["authorization", "content-type"] {
        if let Some(value) = req.headers().get(name) {
            request = request.header(name, value.to_str().unwrap());
        }
    }
    let response = request.send().await.expect("the emulator answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    let mut builder = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(content_type) = content_type {
        builder.insert_header(("content-type", content_type));
    }
    builder.body(bytes)
}

async fn faulty(fault: Fault) -> HttpResponse {
    match fault {
        Fault::Status(status) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status).unwrap(),
        )
        .insert_header(("retry-after", "1"))
        .json(serde_json::json!({
            "error": "fault", "errorCode": "fault", "errorDescription": "injected by the test"
        })),
        Fault::Throttled(seconds) => HttpResponse::TooManyRequests()
            .insert_header(("retry-after", seconds.to_string()))
            .json(serde_json::json!({"errorCode": "too_many_requests"})),
        Fault::Undecodable => HttpResponse::Ok()
            .content_type("text/html")
            .body("<html><body>Down for maintenance</body></html>"),
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            HttpResponse::Ok().finish()
        }
        Fault::Break => {
            let parts: Vec<Result<web::Bytes, actix_web::Error>> = vec![
                Ok(web::Bytes::from_static(b"{\"isValid\":")),
                Err(actix_web::error::ErrorInternalServerError(
                    "connection broken",
                )),
            ];
            HttpResponse::Ok()
                .content_type("application/json")
                .streaming(futures_util::stream::iter(parts))
        }
    }
}

/// The identity server and the emulator, with the stand-in between them.
async fn spawn_behind_stand_in(
    configure: impl FnOnce(&mut identity_server::configuration::Settings),
) -> (Stack, Arc<StandIn>, StopOnDrop) {
    let (url, stand_in, handle) = start_stand_in().await;
    let stack = spawn_with(|s| {
        s.account.authsignal.api_url = url;
        // These tests repeat alice's first password step and go straight to the callback; an
        // email proof before each would be held back by the one-code-per-30-s limit of her
        // address. The proof has its own tests (`email_proof.rs`).
        s.account.first_enrollment = identity_server::account::FirstEnrollment::Password;
        configure(s);
    })
    .await;
    *stand_in.upstream.lock().unwrap() = Some(stack.emulator_api.clone());
    (stack, stand_in, handle)
}

/// Password step in a fresh browser, then the callback with a token (the stand-in answers
/// `validate` with the queued fault, so the token's content does not matter). Returns the
/// callback's answer and the transaction cookie that was sent with it.
async fn callback_after_password(stack: &Stack) -> (Page, String) {
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let after_password = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(after_password.status, 303, "{}", after_password.body);
    let cookie = after_password
        .set_cookie(TRANSACTION_COOKIE)
        .expect("a login transaction");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let callback = browser
        .get(&stack.url("/Account/Login/Callback?token=eyJhbGciOiJIUzI1NiJ9.e30.c2ln"))
        .await;
    assert_eq!(
        query_param(callback.location(), "ar").as_deref(),
        Some(ar.as_str()),
        "back to the same pending request"
    );
    (callback, cookie)
}

fn assert_unavailable_and_signed_out(page: &Page, fault: Fault) {
    assert_eq!(page.status, 303, "{fault:?}: {}", page.body);
    assert_eq!(
        query_param(page.location(), "notice").as_deref(),
        Some("mfa_unavailable"),
        "{fault:?}"
    );
    assert!(page.set_cookie(SESSION_COOKIE).is_none(), "{fault:?}");
    assert_eq!(page.headers["cache-control"], "no-store");
}

async fn is_locked(stack: &Stack, key: &LockoutKey) -> bool {
    stack
        .state
        .account
        .failed_logins
        .is_locked(key)
        .await
        .unwrap()
}

fn local_address() -> LockoutKey {
    LockoutKey::ip("127.0.0.1".parse::<IpAddr>().unwrap())
}

#[tokio::test]
async fn five_429s_from_validate_then_a_correct_login_still_works_and_nothing_is_locked() {
    // Five counted failures would lock both the username and the address.
    let (stack, stand_in, _handle) = spawn_behind_stand_in(|s| {
        s.account.lockout.max_failures_per_user = 5;
        s.account.lockout.max_failures_per_ip = 5;
    })
    .await;
    stand_in
        .faults
        .lock()
        .unwrap()
        .extend([Fault::Status(429); 5]);

    for _ in 0..5 {
        let (callback, _) = callback_after_password(&stack).await;
        assert_unavailable_and_signed_out(&callback, Fault::Status(429));
    }
    assert_eq!(stand_in.validate_calls.load(Ordering::SeqCst), 5);
    assert!(!is_locked(&stack, &LockoutKey::user("alice")).await);
    assert!(!is_locked(&stack, &local_address()).await);

    // Password and a real second factor through the (now healthy) stand-in.
    stack.sign_in(&Browser::new(), "alice", "alice").await;
}

#[tokio::test]
async fn a_transaction_whose_validate_failed_is_consumed_all_the_same() {
    let (stack, stand_in, _handle) = spawn_behind_stand_in(|_| {}).await;
    stand_in
        .faults
        .lock()
        .unwrap()
        .push_back(Fault::Status(503));

    let (callback, cookie) = callback_after_password(&stack).await;
    assert_unavailable_and_signed_out(&callback, Fault::Status(503));

    // The same transaction cookie sent again by hand: the server has already deleted it.
    let ca = reqwest::Certificate::from_pem(test_tls().ca_pem().as_bytes()).unwrap();
    let raw = reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replay = raw
        .get(stack.url("/Account/Login/Callback?token=eyJhbGciOiJIUzI1NiJ9.e30.c2ln"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    assert_eq!(
        replay.headers()["location"],
        "/Account/Notice?reason=expired"
    );
    assert_eq!(
        stand_in.validate_calls.load(Ordering::SeqCst),
        1,
        "the replay never reached validate"
    );
}

#[tokio::test]
async fn no_kind_of_non_definitive_validate_answer_counts_against_the_user_or_the_address() {
    let faults = [
        Fault::Status(429),
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(503),
        Fault::Status(504),
        Fault::Undecodable,
        Fault::Hang,
        Fault::Break,
    ];
    let (stack, stand_in, _handle) = spawn_behind_stand_in(|s| {
        s.account.lockout.max_failures_per_user = 3;
        s.account.lockout.max_failures_per_ip = 3;
        // The hanging validate ends at the identity server's Authsignal budget.
        s.account.authsignal.timeout_ms = 1_000;
    })
    .await;
    stand_in.faults.lock().unwrap().extend(faults);

    for fault in faults {
        let (callback, _) = callback_after_password(&stack).await;
        assert_unavailable_and_signed_out(&callback, fault);
    }
    assert_eq!(stand_in.validate_calls.load(Ordering::SeqCst), faults.len());

    // Nothing was counted: the threshold of 3 still takes exactly three wrong passwords (one
    // counted failure on either key would make the second one lock).
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for attempt in 1..=3 {
        let page = stack
            .submit_password(&browser, &ar, "alice", "wrong", false)
            .await;
        let expected = if attempt < 3 { 200 } else { 429 };
        assert_eq!(page.status, expected, "wrong password {attempt}");
    }
}

#[tokio::test]
async fn a_definitive_refusal_from_validate_still_counts_as_a_failed_second_factor() {
    let (stack, stand_in, _handle) = spawn_behind_stand_in(|s| {
        s.account.lockout.max_failures_per_user = 2;
    })
    .await;
    stand_in
        .faults
        .lock()
        .unwrap()
        .push_back(Fault::Status(400));

    let (callback, _) = callback_after_password(&stack).await;
    assert_eq!(callback.status, 303);
    assert_eq!(
        query_param(callback.location(), "notice").as_deref(),
        Some("mfa_failed")
    );
    assert!(callback.set_cookie(SESSION_COOKIE).is_none());

    // One counted failure: the next wrong password reaches the threshold of 2.
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "wrong", false)
        .await;
    assert_eq!(page.status, 429);
}

#[tokio::test]
async fn a_login_never_waits_on_authsignal_longer_than_its_configured_timeout() {
    // `track` carries an idempotency key, so the SDK may retry it; a 5 s `Retry-After` does not
    // fit in the 2 s budget and is not waited for.
    let (stack, stand_in, _handle) = spawn_behind_stand_in(|s| {
        s.account.authsignal.timeout_ms = 2_000;
        s.account.authsignal.max_retries = 2;
    })
    .await;
    stand_in
        .track_faults
        .lock()
        .unwrap()
        .extend([Fault::Throttled(5); 3]);

    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let started = Instant::now();
    let page = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    let elapsed = started.elapsed();

    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.shows("Sign-in temporarily unavailable"));
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert!(
        elapsed < Duration::from_secs(3),
        "a 2 s Authsignal budget took {elapsed:?}"
    );
    assert_eq!(stand_in.track_calls.load(Ordering::SeqCst), 1);
}
