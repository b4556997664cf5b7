//! The Server API contract over raw HTTP: status codes, shapes, auth and bad input.

use authsignal_emulator::domain::secret::ApiSecret;
use authsignal_emulator::domain::token::{OtherClaims, Purpose, SigningKey, TokenClaims};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{spawn, with_redirect};

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not json: {body}")),
    )
}

#[tokio::test]
async fn a_wrong_secret_gets_401_with_both_error_keys() {
    let app = spawn().await;
    let response = app
        .http
        .get(format!("{}/users/alice", app.api_url))
        .basic_auth("not-the-secret", Some(""))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(body["errorCode"], "unauthorized");
    assert_eq!(
        body["errorDescription"],
        "The request is unauthorized. Check that your API key and region base URL are correctly configured."
    );
}

#[tokio::test]
async fn a_missing_or_non_basic_authorization_gets_401() {
    let app = spawn().await;
    let missing = app
        .http
        .post(format!("{}/validate", app.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let bearer = app
        .http
        .post(format!("{}/validate", app.api_url))
        .bearer_auth(&app.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_json_gets_400_invalid_request_and_stores_nothing() {
    let app = spawn().await;
    let response = app
        .api(Method::POST, "/users/alice/actions/login")
        .header("content-type", "application/json")
        .body("{\"redirectUrl\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["errorCode"], "invalid_request");
    let (_, actions) = json_of(
        app.api(Method::GET, "/users/alice/actions")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(actions, json!([]));
}

#[tokio::test]
async fn an_oversized_body_gets_413_in_the_error_shape() {
    let app = spawn().await;
    let huge = format!("{{\"username\": \"{}\"}}", "x".repeat(200 * 1024));
    let response = app
        .api(Method::POST, "/users/alice/actions/login")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["errorCode"], "invalid_request");
}

#[tokio::test]
async fn an_action_code_outside_the_documented_pattern_gets_400() {
    let app = spawn().await;
    for code in ["bad.code", "has%20space", &"x".repeat(65)] {
        let response = app
            .api(Method::POST, &format!("/users/alice/actions/{code}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{code}");
        assert_eq!(body["errorCode"], "invalid_request");
        assert!(
            body["errorDescription"]
                .as_str()
                .unwrap()
                .contains("invalid action code")
        );
    }
}

#[tokio::test]
async fn track_accepts_an_empty_body_and_null_redirect_to_settings() {
    let app = spawn().await;
    let response = app
        .api(Method::POST, "/users/u1/actions/login")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = app
        .api(Method::POST, "/users/u1/actions/login")
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"redirectToSettings": null}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_user_is_not_enrolled_and_gets_allow_with_an_enrollment_url() {
    let app = spawn().await;
    let (status, user) = json_of(
        app.api(Method::GET, "/users/never-seen")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["isEnrolled"], false);
    let (status, decision) = json_of(
        app.api(
            Method::POST,
            "/users/never-seen/actions/identity-server-login",
        )
        .json(&json!({"redirectUrl": "https://localhost:5001/cb"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(decision["state"], "ALLOW");
    assert_eq!(decision["isEnrolled"], false);
    let url = decision["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/challenge?token=", app.base_url)),
        "{url}"
    );
    assert!(
        decision["idempotencyKey"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    assert_eq!(decision["token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_same_action() {
    let app = spawn().await;
    let body = json!({"idempotencyKey": "key-1"});
    let (_, first) = json_of(
        app.api(Method::POST, "/users/u1/actions/login")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (_, second) = json_of(
        app.api(Method::POST, "/users/u1/actions/login")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(first["idempotencyKey"], "key-1");
    assert_eq!(second["idempotencyKey"], "key-1");
    let (_, actions) = json_of(
        app.api(Method::GET, "/users/u1/actions")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(actions.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn validate_sends_both_action_and_action_code() {
    let app = spawn().await;
    let decision = app
        .track("u1", "login", with_redirect("https://rp.example/cb"))
        .await;
    let (status, body) = json_of(
        app.api(Method::POST, "/validate")
            .json(&json!({"token": decision.token}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["isValid"], false);
    assert_eq!(body["state"], "ALLOW");
    assert_eq!(body["action"], "login");
    assert_eq!(body["actionCode"], "login");
    assert_eq!(body["userId"], "u1");
    assert_eq!(body["idempotencyKey"], decision.idempotency_key.as_str());
}

#[tokio::test]
async fn a_forged_token_validates_as_invalid_without_an_error_status() {
    let app = spawn().await;
    let decision = app.track("u1", "login", Default::default()).await;
    let parts: Vec<&str> = decision.token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], parts[1], "AAAA".repeat(10));
    for token in [forged.as_str(), "garbage", ""] {
        let (status, body) = json_of(
            app.api(Method::POST, "/validate")
                .json(&json!({"token": token}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["isValid"], false);
        assert_eq!(body["error"], "invalid_token");
        assert!(body.get("state").is_none());
    }
}

#[tokio::test]
async fn an_expired_token_validates_as_invalid() {
    let app = spawn().await;
    let decision = app.track("u1", "login", Default::default()).await;
    let key = SigningKey::derive(&ApiSecret::new(app.secret.clone()), Purpose::Track);
    let claims = TokenClaims {
        sub: "u1".into(),
        iat: 1_000,
        exp: 2_000,
        other: OtherClaims {
            tenant_id: authsignal_emulator::configuration::Settings::default().tenant_id,
            user_id: "u1".into(),
            action_code: "login".into(),
            idempotency_key: decision.idempotency_key.clone(),
        },
        scope: String::new(),
    };
    let (status, body) = json_of(
        app.api(Method::POST, "/validate")
            .json(&json!({"token": key.sign(&claims)}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["isValid"], false);
    assert_eq!(body["error"], "expired_token");
}

#[tokio::test]
async fn validate_refuses_a_token_for_another_user_or_action() {
    let app = spawn().await;
    let decision = app.track("u1", "login", Default::default()).await;
    for request in [
        json!({"token": decision.token, "userId": "u2"}),
        json!({"token": decision.token, "action": "other"}),
    ] {
        let (status, body) = json_of(
            app.api(Method::POST, "/validate")
                .json(&request)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["isValid"], false);
        assert!(body["error"].as_str().unwrap().ends_with("_mismatch"));
    }
}

#[tokio::test]
async fn update_user_is_served_on_patch_and_on_post() {
    let app = spawn().await;
    let (status, patched) = json_of(
        app.api(Method::PATCH, "/users/u1")
            .json(&json!({"email": "a@example.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["email"], "a@example.com");
    let (status, posted) = json_of(
        app.api(Method::POST, "/users/u1")
            .json(&json!({"username": "alice"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(posted["username"], "alice");
    assert_eq!(posted["email"], "a@example.com", "omitted fields are kept");
    assert_eq!(posted["userId"], "u1");
}

#[tokio::test]
async fn get_challenges_is_served_on_get_and_on_post_with_query_and_body() {
    let app = spawn().await;
    let (_, started) = json_of(
        app.api(Method::POST, "/challenge")
            .json(&json!({"verificationMethod": "EMAIL_OTP", "action": "signIn", "email": "c@example.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = started["challengeId"].as_str().unwrap().to_owned();
    let (status, by_get) = json_of(
        app.api(Method::GET, &format!("/challenges?challengeId={id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_get["email"], "c@example.com");
    let (status, by_post) = json_of(
        app.api(Method::POST, "/challenges")
            .json(&json!({"challengeId": id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_post["challengeId"], id.as_str());
    assert_eq!(by_post["action"], "signIn");
}

#[tokio::test]
async fn unknown_resources_get_404_in_the_error_shape() {
    let app = spawn().await;
    for (method, path) in [
        (Method::GET, "/users/u1/actions/login/no-such-key"),
        (Method::DELETE, "/users/u1/authenticators/nope"),
        (Method::GET, "/no/such/endpoint"),
    ] {
        let (status, body) = json_of(app.api(method, path).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"], "not_found");
    }
}

#[tokio::test]
async fn a_bad_query_parameter_gets_400() {
    let app = spawn().await;
    let (status, body) = json_of(
        app.api(Method::GET, "/users?limit=lots")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "invalid_request");
    let (status, _) = json_of(
        app.api(Method::GET, "/users/u1/actions?fromDate=yesterday")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_redirect_url_that_is_not_http_is_refused() {
    let app = spawn().await;
    let (status, body) = json_of(
        app.api(Method::POST, "/users/u1/actions/login")
            .json(&json!({"redirectUrl": "javascript:alert(1)"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errorDescription"]
            .as_str()
            .unwrap()
            .contains("redirectUrl")
    );
}

#[tokio::test]
async fn enrolling_an_unsupported_method_or_a_bad_otp_uri_gets_400() {
    let app = spawn().await;
    for body in [
        json!({"verificationMethod": "PUSH"}),
        json!({"verificationMethod": "AUTHENTICATOR_APP"}),
        json!({"verificationMethod": "AUTHENTICATOR_APP", "otpUri": "otpauth://totp/x?secret=!!"}),
        json!({"verificationMethod": "SMS", "phoneNumber": "12"}),
        json!({"verificationMethod": "EMAIL_OTP", "email": "not-an-email"}),
    ] {
        let (status, err) = json_of(
            app.api(Method::POST, "/users/u1/authenticators")
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {err}");
    }
    let (_, list) = json_of(
        app.api(Method::GET, "/users/u1/authenticators")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn the_dev_outbox_lists_sent_codes_as_json_and_html() {
    let app = spawn().await;
    app.api(Method::POST, "/challenge")
        .json(&json!({"verificationMethod": "EMAIL_OTP", "action": "signIn", "email": "o@example.com"}))
        .send()
        .await
        .unwrap();
    let (status, outbox) = json_of(
        app.http
            .get(format!("{}/dev/outbox.json", app.base_url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outbox[0]["to"], "o@example.com");
    assert_eq!(outbox[0]["actionCode"], "signIn");
    assert_eq!(outbox[0]["code"].as_str().unwrap().len(), 6);
    let html = app
        .http
        .get(format!("{}/dev/outbox", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(outbox[0]["code"].as_str().unwrap()));
    assert_eq!(
        app.handle.latest_code_for("O@example.com").as_deref(),
        outbox[0]["code"].as_str()
    );
}
