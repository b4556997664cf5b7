//! The overall deadline of a call: it covers every attempt, back-off and `Retry-After` wait, and
//! a wait that would reach it is not started.
//!
//! The time assertions are bounds with generous margins (a call must end before its budget plus
//! one second, or well before a wait it must not start), not speed measurements: each would be
//! missed by seconds if the deadline were ignored.

use std::time::{Duration, Instant};

use authsignal_sdk::*;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::{api, builder, fast_retries, request_count, server};

fn too_many_requests(retry_after_secs: u64) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .set_body_json(json!({"errorCode": "too_many_requests"}))
        .insert_header("retry-after", retry_after_secs.to_string())
}

#[tokio::test]
async fn a_five_second_budget_with_retry_after_four_seconds_ends_before_six_seconds() {
    // Without the deadline: 429, wait 4 s, 429, wait 4 s, 429 = 8 s and three requests.
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(too_many_requests(4))
        .mount(&server)
        .await;
    let client = builder(&server)
        .call_timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    let elapsed = started.elapsed();

    assert_eq!(
        error.status(),
        Some(429),
        "the service's answer is returned"
    );
    assert!(
        elapsed < Duration::from_secs(6),
        "a 5 s budget took {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_secs(4),
        "the first Retry-After fits the budget and is honoured: {elapsed:?}"
    );
    assert_eq!(
        request_count(&server).await,
        2,
        "the second wait would pass the deadline, so it is not started"
    );
}

#[tokio::test]
async fn a_retry_after_longer_than_the_remaining_budget_is_not_waited_for() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(too_many_requests(5))
        .mount(&server)
        .await;
    // 5 s is below the policy's 10 s `max_retry_after`: only the deadline refuses the wait.
    let client = builder(&server)
        .call_timeout(Duration::from_secs(2))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    let elapsed = started.elapsed();

    assert_eq!(error.status(), Some(429));
    assert_eq!(error.error_code(), Some("too_many_requests"));
    assert_eq!(request_count(&server).await, 1);
    assert!(
        elapsed < Duration::from_secs(1),
        "returned at once, not after the 5 s wait nor at the 2 s deadline: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_back_off_longer_than_the_remaining_budget_is_not_waited_for() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    // Equal jitter keeps the first wait in [1.5 s, 3 s]: always past the 1 s budget.
    let client = builder(&server)
        .retry_policy(
            RetryPolicy::default()
                .with_initial_backoff(Duration::from_secs(3))
                .with_max_backoff(Duration::from_secs(3)),
        )
        .call_timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert_eq!(request_count(&server).await, 1);
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn an_attempt_is_cut_to_the_remaining_budget() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"isEnrolled": true}))
                .set_delay(Duration::from_secs(8)),
        )
        .mount(&server)
        .await;
    let client = builder(&server)
        .timeout(Duration::from_secs(10))
        .call_timeout(Duration::from_secs(1))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "the 10 s attempt timeout was cut to the 1 s budget: {elapsed:?}"
    );
}

#[tokio::test]
async fn the_deadline_covers_all_attempts_together() {
    // Each attempt takes 600 ms to fail with a retryable 503; five retries would take 3.6 s.
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_millis(600)))
        .mount(&server)
        .await;
    let client = builder(&server)
        .retry_policy(fast_retries().with_max_retries(5))
        .call_timeout(Duration::from_millis(1500))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(2500),
        "a 1.5 s budget took {elapsed:?}"
    );
    // Normally the deadline runs out during the third attempt; on a very slow machine the
    // second may end so late that the back-off no longer fits and its 503 is returned.
    assert!(
        matches!(error, Error::Timeout) || error.status() == Some(503),
        "{error:?}"
    );
    assert!(request_count(&server).await <= 3);
}

#[tokio::test]
async fn a_call_within_its_budget_still_retries_and_succeeds() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(too_many_requests(1))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"isEnrolled": true})))
        .mount(&server)
        .await;
    let client = builder(&server)
        .call_timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    assert!(client.get_user("user-1").await.unwrap().is_enrolled);
    assert_eq!(request_count(&server).await, 2);
}
