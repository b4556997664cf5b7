//! Web-client replicas on one Redis (a real `redis-server` started by the test): one browser
//! alternating between two in-process apps, as behind a load balancer. Sessions are shared, a
//! refresh token is sent once even when both replicas refresh at the same moment, and a Redis
//! outage fails closed (503) within the store timeout and heals by itself.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use redis_testkit::{Durability, RedisServer};
use web_client::startup::Application;

use crate::helpers::{browser, location, redis_settings, spawn_replica, start_provider, tls};
use crate::mock_provider::Behaviour;

/// The store timeout of [`redis_settings`].
const STORE_TIMEOUT: Duration = Duration::from_millis(500);

#[actix_web::test]
async fn two_replicas_refreshing_one_session_at_once_send_its_refresh_token_once() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    // Access tokens that are due for refresh at once, and a slow token endpoint, so that the
    // replicas' refreshes overlap.
    let provider = start_provider(Behaviour {
        code_expires_in: Some(1),
        token_delay_ms: 300,
        ..Default::default()
    });
    let browser = browser();
    let a = spawn_replica(
        redis_settings(&provider.issuer, &redis.url()),
        &provider,
        &browser,
    )
    .await;
    let b = spawn_replica(
        redis_settings(&provider.issuer, &redis.url()),
        &provider,
        &browser,
    )
    .await;
    a.signed_in().await;

    let pages = futures_util::future::join_all(
        (0..6).map(|n| if n % 2 == 0 { a.get("/") } else { b.get("/") }),
    )
    .await;

    for page in pages {
        assert_eq!(
            page.status(),
            200,
            "every page is shown, none signs in again"
        );
    }
    assert_eq!(
        provider.refresh_requests(),
        1,
        "one refresh for both replicas"
    );
    let sent: Vec<String> = provider.record(|r| {
        r.token_requests
            .iter()
            .filter_map(|f| f.get("refresh_token").cloned())
            .collect()
    });
    assert_eq!(sent.len(), 1);
}

#[actix_web::test]
async fn a_session_signed_in_on_one_replica_is_served_by_another_and_outlives_both() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let provider = start_provider(Behaviour::default());
    let browser = browser();
    let a = spawn_replica(
        redis_settings(&provider.issuer, &redis.url()),
        &provider,
        &browser,
    )
    .await;
    let b = spawn_replica(
        redis_settings(&provider.issuer, &redis.url()),
        &provider,
        &browser,
    )
    .await;
    a.signed_in().await;

    assert!(b.home_page().await.contains("Alice Smith"));
    a.stop().await;
    b.stop().await;
    let c = spawn_replica(
        redis_settings(&provider.issuer, &redis.url()),
        &provider,
        &browser,
    )
    .await;

    assert!(c.home_page().await.contains("Alice Smith"));
    assert_eq!(c.get("/userinfo").await.status(), 200);
    assert_eq!(
        provider.record(|r| r.token_requests.len()),
        1,
        "no second sign-in"
    );
}

#[actix_web::test]
async fn with_redis_down_pages_answer_503_within_the_timeout_and_work_again_once_it_is_back() {
    let Some(mut redis) = RedisServer::require_with(Durability::AppendFsyncAlways) else {
        return;
    };
    let provider = start_provider(Behaviour::default());
    let app = spawn_replica(
        redis_settings(&provider.issuer, &redis.url()),
        &provider,
        &browser(),
    )
    .await;
    app.signed_in().await;

    redis.kill();
    let started = Instant::now();
    let response = app.get("/").await;
    let waited = started.elapsed();

    assert_eq!(response.status(), 503);
    assert!(
        waited < STORE_TIMEOUT + Duration::from_millis(700),
        "{waited:?}"
    );
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("5")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Temporarily unavailable"), "{html}");
    assert_eq!(app.get("/readyz").await.status(), 503);

    redis.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.get("/").await.status();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(
        provider.record(|r| r.token_requests.len()),
        1,
        "still the same session"
    );
}

#[actix_web::test]
async fn a_sign_in_callback_while_redis_is_down_answers_503_and_signs_nobody_in() {
    let Some(mut redis) = RedisServer::require() else {
        return;
    };
    let provider = start_provider(Behaviour::default());
    let app = spawn_replica(
        redis_settings(&provider.issuer, &redis.url()),
        &provider,
        &browser(),
    )
    .await;
    let callback = app.authorize(&app.start_sign_in().await).await;

    redis.kill();
    let response = app.get(callback.as_str()).await;

    assert_eq!(response.status(), 503);
    redis.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        let response = app.get("/").await;
        if response.status() != 503 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(response.status(), 303, "not signed in");
    assert!(location(&response).starts_with(&format!("{}/authorize", provider.issuer)));
}

#[actix_web::test]
async fn redis_mode_refuses_to_start_with_a_generated_session_key() {
    let provider = start_provider(Behaviour::default());
    let mut settings = redis_settings(&provider.issuer, "redis+unix:///nonexistent/r.sock");
    settings.session_key = None;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Application::build_with(settings, listener, tls().clone())
        .await
        .unwrap_err()
        .to_string();

    assert!(
        err.contains("'session_key'") && err.contains("every replica"),
        "{err}"
    );
}

#[actix_web::test]
async fn redis_mode_starts_while_redis_is_down_and_is_ready_once_it_answers() {
    let Some(mut redis) = RedisServer::require() else {
        return;
    };
    redis.stop();
    let provider = start_provider(Behaviour::default());
    let app = crate::helpers::spawn_client(
        redis_settings(&provider.issuer, &redis.url()),
        provider.clone(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.get("/readyz").await.status(), 503);

    redis.restart().unwrap();

    app.wait_until_ready().await;
    app.signed_in().await;
}
