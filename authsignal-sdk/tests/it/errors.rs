//! Error responses, undecodable bodies, timeouts, transport failures and configuration errors.

use std::time::Duration;

use authsignal_sdk::*;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::{api, builder, client, request_count, server};

const UNAUTHORIZED_DESCRIPTION: &str = "The request is unauthorized. Check that your API key and region base URL are correctly configured.";

#[tokio::test]
async fn a_401_with_both_error_keys_is_parsed_into_status_code_and_description() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({
                    "error": "unauthorized",
                    "errorCode": "unauthorized",
                    "errorDescription": UNAUTHORIZED_DESCRIPTION
                }))
                .insert_header("x-amzn-requestid", "req-123"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).get_user("user-1").await.unwrap_err();
    assert!(error.is_unauthorized());
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.error_code(), Some("unauthorized"));
    assert_eq!(error.error_description(), Some(UNAUTHORIZED_DESCRIPTION));
    assert_eq!(error.request_id(), Some("req-123"));
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        format!("authsignal api error: status 401 (unauthorized): {UNAUTHORIZED_DESCRIPTION}")
    );
}

#[tokio::test]
async fn an_error_body_with_only_the_older_error_key_is_parsed() {
    let server = server().await;
    api("POST", "/users/user-1/actions/signIn")
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_request", "errorDescription": "action is invalid"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .track("user-1", "signIn", &TrackAttributes::default())
        .await
        .unwrap_err();
    match &error {
        Error::Api {
            status,
            body,
            request_id,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(body.error.as_deref(), Some("invalid_request"));
            assert_eq!(body.error_code, None);
            assert_eq!(*request_id, None);
        }
        other => panic!("expected an api error, got {other:?}"),
    }
    assert_eq!(error.error_code(), Some("invalid_request"));
}

#[tokio::test]
async fn an_error_body_with_only_the_newer_error_code_key_is_parsed_and_the_request_id_kept() {
    let server = server().await;
    api("POST", "/validate")
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"errorCode": "invalid_token"}))
                .insert_header("x-request-id", "abc-1"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .validate_challenge(&ValidateChallengeRequest {
            token: "bad".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.error_code(), Some("invalid_token"));
    assert_eq!(error.error_description(), None);
    assert_eq!(error.request_id(), Some("abc-1"));
    assert_eq!(
        error.to_string(),
        "authsignal api error: status 400 (invalid_token)"
    );
}

#[tokio::test]
async fn a_5xx_with_an_html_body_is_an_api_error_with_an_empty_body() {
    let server = server().await;
    api("POST", "/verify")
        .respond_with(
            ResponseTemplate::new(502).set_body_string("<html><body>Bad Gateway</body></html>"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .verify(&VerifyRequest::default())
        .await
        .unwrap_err();
    match &error {
        Error::Api { status, body, .. } => {
            assert_eq!(*status, 502);
            assert_eq!(*body, ApiErrorBody::default());
        }
        other => panic!("expected an api error, got {other:?}"),
    }
    assert!(error.is_retryable());
    assert_eq!(error.to_string(), "authsignal api error: status 502");
}

#[tokio::test]
async fn a_500_is_reported_with_its_status_and_is_not_retryable() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "errorCode": "internal_error", "errorDescription": "oops"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).get_user("user-1").await.unwrap_err();
    assert_eq!(error.status(), Some(500));
    assert_eq!(error.error_code(), Some("internal_error"));
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_reported_as_an_api_error() {
    let server = server().await;
    api("POST", "/validate")
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/elsewhere", server.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .validate_challenge(&ValidateChallengeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(307));
    assert_eq!(
        request_count(&server).await,
        1,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn an_undecodable_success_body_is_a_decode_error_that_keeps_the_raw_body() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .expect(1)
        .mount(&server)
        .await;
    api("GET", "/users/user-2")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"isEnrolled": "yes"})))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);
    match client.get_user("user-1").await.unwrap_err() {
        Error::Decode {
            status, raw_body, ..
        } => {
            assert_eq!(status, 200);
            assert_eq!(raw_body, "<html>maintenance</html>");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    let wrong_type = client.get_user("user-2").await.unwrap_err();
    assert!(
        matches!(&wrong_type, Error::Decode { raw_body, .. } if raw_body == r#"{"isEnrolled":"yes"}"#)
    );
    assert_eq!(wrong_type.status(), Some(200));
    assert!(
        wrong_type
            .to_string()
            .starts_with("authsignal response could not be decoded (status 200): ")
    );
}

#[tokio::test]
async fn unknown_enum_values_from_a_newer_service_decode_as_unknown() {
    let server = server().await;
    api("POST", "/users/user-1/actions/signIn")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "idempotencyKey": "k",
            "state": "STEP_UP_REQUIRED",
            "url": "u",
            "token": "t",
            "isEnrolled": true,
            "enrolledVerificationMethods": ["SMS", "HOLOGRAM"],
            "defaultVerificationMethod": "HOLOGRAM",
            "someNewField": {"nested": true}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let response = client(&server)
        .track("user-1", "signIn", &TrackAttributes::default())
        .await
        .unwrap();
    assert_eq!(
        response.state,
        UserActionState::Unknown("STEP_UP_REQUIRED".into())
    );
    assert_eq!(
        response.enrolled_verification_methods,
        Some(vec![
            VerificationMethod::Sms,
            VerificationMethod::Unknown("HOLOGRAM".into())
        ])
    );
    assert_eq!(
        response.default_verification_method.unwrap().as_str(),
        "HOLOGRAM"
    );
}

#[tokio::test]
async fn a_response_slower_than_the_timeout_is_a_timeout_error() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"isEnrolled": true}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;

    let client = builder(&server)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client.get_user("user-1").await.unwrap_err();
    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert_eq!(error.to_string(), "authsignal request timed out");
    // A timeout is not retried, even for a GET: the service may be overloaded or have acted.
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::builder("s")
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    let error = client.get_user("user-1").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                kind: TransportErrorKind::Refused,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(error.status(), None);
    assert_eq!(
        error.to_string(),
        "authsignal transport error: connection refused"
    );
}

#[test]
fn an_empty_secret_is_a_configuration_error() {
    let error = Client::builder("").build().unwrap_err();
    assert!(matches!(error, Error::Configuration(_)));
    assert_eq!(
        error.to_string(),
        "invalid authsignal client configuration: secret key must not be empty"
    );
}

#[test]
fn an_invalid_base_url_is_a_configuration_error_naming_it() {
    let error = Client::builder("s")
        .base_url("localhost:5003/v1")
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Configuration(_)));
    assert!(
        error.to_string().contains("\"localhost:5003/v1\""),
        "{error}"
    );
}

#[test]
fn a_root_certificate_that_is_not_pem_is_a_configuration_error() {
    let error = Client::builder("s")
        .add_root_certificate_pem("not a certificate")
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Configuration(_)));
    assert!(error.to_string().contains("root certificate"), "{error}");
}

#[test]
fn a_zero_timeout_is_a_configuration_error() {
    let error = Client::builder("s")
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Configuration(_)));
}

#[test]
fn a_zero_call_timeout_is_a_configuration_error() {
    let error = Client::builder("s")
        .call_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Configuration(_)));
}

#[test]
fn a_zero_response_body_cap_is_a_configuration_error() {
    let error = Client::builder("s")
        .max_response_bytes(0)
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Configuration(_)));
    assert_eq!(
        error.to_string(),
        "invalid authsignal client configuration: the response body cap must be greater than zero"
    );
}

#[test]
fn a_user_agent_with_a_newline_is_a_configuration_error() {
    let error = Client::builder("s")
        .user_agent("bad\nagent")
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Configuration(_)));
}

#[test]
fn regions_select_their_base_urls() {
    for (region, url) in [
        (Region::Us, "https://api.authsignal.com/v1"),
        (Region::Au, "https://au.api.authsignal.com/v1"),
        (Region::Eu, "https://eu.api.authsignal.com/v1"),
        (Region::Ca, "https://ca.api.authsignal.com/v1"),
    ] {
        let client = Client::builder("s").region(region).build().unwrap();
        assert_eq!(client.base_url(), url);
    }
    let default = Client::builder("s").build().unwrap();
    assert_eq!(default.base_url(), "https://api.authsignal.com/v1");
}
