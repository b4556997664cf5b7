//! The retry policy: what is retried, how often, and `Retry-After`.

use std::time::{Duration, Instant};

use authsignal_sdk::*;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::{api, builder, client, request_count, server};

fn unavailable(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"errorCode": "unavailable"}))
}

#[tokio::test]
async fn a_get_is_retried_on_503_and_then_succeeds() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(unavailable(503))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"isEnrolled": true})))
        .expect(1)
        .mount(&server)
        .await;

    let user = client(&server).get_user("user-1").await.unwrap();
    assert!(user.is_enrolled);
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn retries_stop_after_max_retries_and_return_the_last_error() {
    let server = server().await;
    api("GET", "/users/user-1/authenticators")
        .respond_with(unavailable(504))
        .expect(3)
        .mount(&server)
        .await;

    let error = client(&server)
        .get_authenticators("user-1")
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(504));
    assert_eq!(request_count(&server).await, 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn each_retryable_status_is_retried_and_others_are_not() {
    for (status, attempts) in [(429, 3), (502, 3), (503, 3), (504, 3), (500, 1), (404, 1)] {
        let server = server().await;
        api("GET", "/users/user-1")
            .respond_with(unavailable(status))
            .mount(&server)
            .await;

        let error = client(&server).get_user("user-1").await.unwrap_err();
        assert_eq!(error.status(), Some(status));
        assert_eq!(
            request_count(&server).await,
            attempts,
            "status {status} should make {attempts} attempt(s)"
        );
    }
}

#[tokio::test]
async fn a_post_without_idempotency_key_is_never_retried() {
    let server = server().await;
    api("POST", "/users/user-1/actions/signIn")
        .respond_with(unavailable(503))
        .expect(1)
        .mount(&server)
        .await;
    api("POST", "/validate")
        .respond_with(unavailable(502))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);
    let error = client
        .track("user-1", "signIn", &TrackAttributes::default())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert!(
        error.is_retryable(),
        "retryable in kind, but unsafe to repeat"
    );
    client
        .validate_challenge(&ValidateChallengeRequest {
            token: "t".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn a_track_with_an_idempotency_key_is_retried_with_the_same_body() {
    let server = server().await;
    api("POST", "/users/user-1/actions/signIn")
        .respond_with(unavailable(503))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    api("POST", "/users/user-1/actions/signIn")
        .and(wiremock::matchers::body_json(json!({"idempotencyKey": "idem-7"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "idempotencyKey": "idem-7", "state": "ALLOW", "url": "u", "token": "t", "isEnrolled": true
        })))
        .expect(1)
        .mount(&server)
        .await;

    let response = client(&server)
        .track(
            "user-1",
            "signIn",
            &TrackAttributes {
                idempotency_key: Some("idem-7".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(response.idempotency_key, "idem-7");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn a_challenge_with_an_idempotency_key_and_update_action_are_retried() {
    let server = server().await;
    api("POST", "/challenge")
        .respond_with(unavailable(502))
        .expect(3)
        .mount(&server)
        .await;
    api("PATCH", "/users/u/actions/a/k")
        .respond_with(unavailable(429))
        .expect(3)
        .mount(&server)
        .await;

    let client = client(&server);
    client
        .challenge(&ChallengeRequest {
            idempotency_key: Some("k".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    client
        .update_action(
            "u",
            "a",
            "k",
            &UpdateActionRequest {
                state: UserActionState::Block,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(request_count(&server).await, 6);
}

#[tokio::test]
async fn a_challenge_without_idempotency_key_and_deletes_are_not_retried() {
    let server = server().await;
    api("POST", "/challenge")
        .respond_with(unavailable(503))
        .expect(1)
        .mount(&server)
        .await;
    api("DELETE", "/users/u")
        .respond_with(unavailable(503))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);
    client
        .challenge(&ChallengeRequest::default())
        .await
        .unwrap_err();
    client.delete_user("u").await.unwrap_err();
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn retry_policy_none_makes_exactly_one_attempt() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(unavailable(503))
        .expect(1)
        .mount(&server)
        .await;

    let client = builder(&server)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    client.get_user("user-1").await.unwrap_err();
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn retry_after_is_honoured_before_the_next_attempt() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(unavailable(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"isEnrolled": false})))
        .mount(&server)
        .await;

    let started = Instant::now();
    client(&server).get_user("user-1").await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1),
        "waited only {elapsed:?}, the back-off alone is milliseconds"
    );
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_ends_the_retries_at_once() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(unavailable(503).insert_header("retry-after", "120"))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let error = client(&server).get_user("user-1").await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert_eq!(request_count(&server).await, 1);
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn a_refused_connection_on_a_get_is_retried_with_backoff() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::builder("s")
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .retry_policy(
            RetryPolicy::default()
                .with_max_retries(2)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(1)),
        )
        .build()
        .unwrap();

    let started = Instant::now();
    let error = client.get_user("user-1").await.unwrap_err();
    assert_eq!(error.transport_kind(), Some(TransportErrorKind::Refused));
    // Two waits with equal jitter: at least 100 ms + 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(300));
}
