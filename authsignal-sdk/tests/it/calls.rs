//! One test per Server API call: method, path, auth header, JSON body and response decoding.

use authsignal_sdk::*;
use serde_json::json;
use wiremock::ResponseTemplate;
use wiremock::matchers::{body_json, body_string, header, query_param, query_param_is_missing};

use crate::helpers::{api, api_json, client, request_count, server};

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn track_posts_the_attributes_and_decodes_the_decision() {
    let server = server().await;
    api_json("POST", "/users/user-1/actions/signIn")
        .and(body_json(json!({
            "redirectUrl": "https://localhost:5001/callback",
            "username": "alice",
            "ipAddress": "127.0.0.1",
            "custom": {"plan": "pro", "seats": 3, "trial": false}
        })))
        .respond_with(ok(json!({
            "idempotencyKey": "idem-1",
            "state": "CHALLENGE_REQUIRED",
            "url": "https://mfa.example/prebuilt?token=t",
            "token": "t",
            "isEnrolled": true,
            "enrolledVerificationMethods": ["AUTHENTICATOR_APP", "EMAIL_OTP"],
            "allowedVerificationMethods": ["AUTHENTICATOR_APP", "EMAIL_OTP", "PASSKEY"],
            "defaultVerificationMethod": "AUTHENTICATOR_APP",
            "ruleIds": ["rule-1"]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let mut custom = CustomData::new();
    custom.insert("plan".into(), json!("pro"));
    custom.insert("seats".into(), json!(3));
    custom.insert("trial".into(), json!(false));
    let response = client(&server)
        .track(
            "user-1",
            "signIn",
            &TrackAttributes {
                redirect_url: Some("https://localhost:5001/callback".into()),
                username: Some("alice".into()),
                ip_address: Some("127.0.0.1".into()),
                custom: Some(custom),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    assert_eq!(response.idempotency_key, "idem-1");
    assert_eq!(response.state, UserActionState::ChallengeRequired);
    assert_eq!(response.url, "https://mfa.example/prebuilt?token=t");
    assert_eq!(response.token, "t");
    assert!(response.is_enrolled);
    assert_eq!(
        response.enrolled_verification_methods,
        Some(vec![
            VerificationMethod::AuthenticatorApp,
            VerificationMethod::EmailOtp
        ])
    );
    assert_eq!(
        response.default_verification_method,
        Some(VerificationMethod::AuthenticatorApp)
    );
    assert_eq!(response.rule_ids, Some(vec!["rule-1".to_owned()]));
}

#[tokio::test]
async fn track_without_attributes_sends_an_empty_object() {
    let server = server().await;
    api_json("POST", "/users/user-1/actions/signIn")
        .and(body_string("{}"))
        .respond_with(ok(json!({
            "idempotencyKey": "idem-2", "state": "ALLOW", "url": "u", "token": "t", "isEnrolled": false
        })))
        .expect(1)
        .mount(&server)
        .await;

    let response = client(&server)
        .track("user-1", "signIn", &TrackAttributes::default())
        .await
        .unwrap();
    assert_eq!(response.state, UserActionState::Allow);
    assert!(!response.is_enrolled);
    assert_eq!(response.enrolled_verification_methods, None);
}

#[tokio::test]
async fn validate_challenge_posts_the_token_and_decodes_the_result() {
    let server = server().await;
    api_json("POST", "/validate")
        .and(body_json(
            json!({"token": "tok", "userId": "user-1", "action": "signIn"}),
        ))
        .respond_with(ok(json!({
            "isValid": true,
            "state": "CHALLENGE_SUCCEEDED",
            "stateUpdatedAt": "2026-11-29T00:00:00.000Z",
            "userId": "user-1",
            "action": "signIn",
            "actionCode": "signIn",
            "idempotencyKey": "idem-1",
            "verificationMethod": "AUTHENTICATOR_APP"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let result = client(&server)
        .validate_challenge(&ValidateChallengeRequest {
            token: "tok".into(),
            user_id: Some("user-1".into()),
            action: Some("signIn".into()),
        })
        .await
        .unwrap();
    assert!(result.is_valid);
    assert_eq!(result.state, Some(UserActionState::ChallengeSucceeded));
    assert_eq!(result.user_id.as_deref(), Some("user-1"));
    assert_eq!(result.action_code(), Some("signIn"));
    assert_eq!(result.idempotency_key.as_deref(), Some("idem-1"));
    assert_eq!(
        result.verification_method,
        Some(VerificationMethod::AuthenticatorApp)
    );
    assert_eq!(
        result.state_updated_at.as_deref(),
        Some("2026-11-29T00:00:00.000Z")
    );
}

#[tokio::test]
async fn validate_challenge_reads_the_action_from_the_older_action_code_key() {
    let server = server().await;
    api_json("POST", "/validate")
        .and(body_json(json!({"token": "tok"})))
        .respond_with(ok(json!({
            "isValid": false, "state": "CHALLENGE_REQUIRED", "actionCode": "signIn", "userId": "u"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let result = client(&server)
        .validate_challenge(&ValidateChallengeRequest {
            token: "tok".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!result.is_valid);
    assert_eq!(result.state, Some(UserActionState::ChallengeRequired));
    assert_eq!(result.action, None);
    assert_eq!(result.action_code(), Some("signIn"));
}

#[tokio::test]
async fn get_action_reads_one_action_instance() {
    let server = server().await;
    api("GET", "/users/user-1/actions/signIn/idem-1")
        .respond_with(ok(json!({
            "state": "REVIEW_REQUIRED",
            "stateUpdatedAt": "2026-11-29T00:00:01Z",
            "createdAt": "2026-11-29T00:00:00Z",
            "verificationMethod": "SMS",
            "rules": [{"ruleId": "r1", "name": "new device", "description": "d"}],
            "ruleIds": ["r1"],
            "priorityRuleId": "r1",
            "output": {"score": 0.9}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let action = client(&server)
        .get_action("user-1", "signIn", "idem-1")
        .await
        .unwrap();
    assert_eq!(action.state, UserActionState::ReviewRequired);
    assert_eq!(action.created_at.as_deref(), Some("2026-11-29T00:00:00Z"));
    assert_eq!(action.verification_method, Some(VerificationMethod::Sms));
    let rules = action.rules.unwrap();
    assert_eq!(rules[0].rule_id, "r1");
    assert_eq!(rules[0].name, "new device");
    assert_eq!(action.priority_rule_id.as_deref(), Some("r1"));
    assert_eq!(action.output, Some(json!({"score": 0.9})));
}

#[tokio::test]
async fn update_action_patches_the_new_state() {
    let server = server().await;
    api_json("PATCH", "/users/user-1/actions/signIn/idem-1")
        .and(body_json(json!({"state": "REVIEW_SUCCEEDED"})))
        .respond_with(ok(json!({"state": "REVIEW_SUCCEEDED"})))
        .expect(1)
        .mount(&server)
        .await;

    let updated = client(&server)
        .update_action(
            "user-1",
            "signIn",
            "idem-1",
            &UpdateActionRequest {
                state: UserActionState::ReviewSucceeded,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.state, UserActionState::ReviewSucceeded);
}

#[tokio::test]
async fn query_user_actions_sends_the_filters_as_query_parameters() {
    let server = server().await;
    api("GET", "/users/user-1/actions")
        .and(query_param("fromDate", "2026-11-01T00:00:00Z"))
        .and(query_param("codes", "signIn,withdraw"))
        .and(query_param("state", "CHALLENGE_SUCCEEDED"))
        .respond_with(ok(json!([{
            "actionCode": "signIn",
            "idempotencyKey": "idem-1",
            "createdAt": "2026-11-02T00:00:00Z",
            "updatedAt": "2026-11-02T00:01:00Z",
            "state": "CHALLENGE_SUCCEEDED",
            "stateUpdatedAt": "2026-11-02T00:01:00Z",
            "verificationMethod": "PASSKEY",
            "verifiedByAuthenticatorId": "auth-1",
            "ipAddress": "203.0.113.9",
            "countryCode": "DE"
        }])))
        .expect(1)
        .mount(&server)
        .await;

    let actions = client(&server)
        .query_user_actions(
            "user-1",
            &QueryUserActionsRequest {
                from_date: Some("2026-11-01T00:00:00Z".into()),
                action_codes: Some(vec!["signIn".into(), "withdraw".into()]),
                state: Some(UserActionState::ChallengeSucceeded),
            },
        )
        .await
        .unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].action_code, "signIn");
    assert_eq!(actions[0].state, UserActionState::ChallengeSucceeded);
    assert_eq!(
        actions[0].verified_by_authenticator_id.as_deref(),
        Some("auth-1")
    );
    assert_eq!(actions[0].country_code.as_deref(), Some("DE"));
}

#[tokio::test]
async fn query_user_actions_without_filters_sends_no_query_string() {
    let server = server().await;
    api("GET", "/users/user-1/actions")
        .and(query_param_is_missing("fromDate"))
        .and(query_param_is_missing("codes"))
        .and(query_param_is_missing("state"))
        .respond_with(ok(json!([])))
        .expect(1)
        .mount(&server)
        .await;

    let actions = client(&server)
        .query_user_actions("user-1", &QueryUserActionsRequest::default())
        .await
        .unwrap();
    assert!(actions.is_empty());
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[0].url.query(), None);
}

#[tokio::test]
async fn get_user_reads_the_user_and_an_unknown_user_is_not_enrolled() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ok(json!({
            "isEnrolled": true,
            "email": "alice@example.com",
            "emailVerified": true,
            "username": "alice",
            "displayName": "Alice Smith",
            "enrolledVerificationMethods": ["AUTHENTICATOR_APP"],
            "allowedVerificationMethods": ["AUTHENTICATOR_APP", "EMAIL_OTP"],
            "defaultVerificationMethod": "AUTHENTICATOR_APP",
            "custom": {"tier": "gold"},
            "locale": "en"
        })))
        .expect(1)
        .mount(&server)
        .await;
    api("GET", "/users/nobody")
        .respond_with(ok(json!({"isEnrolled": false})))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);
    let user = client.get_user("user-1").await.unwrap();
    assert!(user.is_enrolled);
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(user.email_verified, Some(true));
    assert_eq!(user.phone_number, None);
    assert_eq!(user.display_name.as_deref(), Some("Alice Smith"));
    assert_eq!(user.custom.unwrap()["tier"], json!("gold"));
    assert_eq!(user.locale.as_deref(), Some("en"));

    let nobody = client.get_user("nobody").await.unwrap();
    assert!(!nobody.is_enrolled);
    assert_eq!(nobody.email, None);
}

#[tokio::test]
async fn update_user_patches_only_the_given_fields() {
    let server = server().await;
    api_json("PATCH", "/users/user-1")
        .and(body_json(json!({
            "email": "alice@example.com",
            "emailVerified": true,
            "custom": {"flag": true}
        })))
        .respond_with(ok(json!({
            "userId": "user-1",
            "email": "alice@example.com",
            "emailVerified": true,
            "custom": {"flag": true}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let mut custom = CustomData::new();
    custom.insert("flag".into(), json!(true));
    let updated = client(&server)
        .update_user(
            "user-1",
            &UpdateUserRequest {
                email: Some("alice@example.com".into()),
                email_verified: Some(true),
                custom: Some(custom),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.user_id, "user-1");
    assert_eq!(updated.email_verified, Some(true));
    assert_eq!(updated.custom.unwrap()["flag"], json!(true));
}

#[tokio::test]
async fn delete_user_sends_a_delete_and_ignores_the_success_body() {
    let server = server().await;
    api("DELETE", "/users/user-1")
        .respond_with(ok(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;

    client(&server).delete_user("user-1").await.unwrap();
}

#[tokio::test]
async fn query_users_sends_the_filters_and_decodes_the_page() {
    let server = server().await;
    api("GET", "/users")
        .and(query_param("email", "a+b@example.com"))
        .and(query_param("phoneNumber", "+64270000000"))
        .and(query_param("limit", "10"))
        .and(query_param("lastEvaluatedUserId", "user-0"))
        .and(query_param_is_missing("username"))
        .and(query_param_is_missing("token"))
        .respond_with(ok(json!({
            "users": [{
                "userId": "user-1",
                "email": "a+b@example.com",
                "emailVerified": true,
                "phoneNumberVerified": false,
                "isEnrolled": true,
                "enrolledVerificationMethods": ["EMAIL_OTP"],
                "createdAt": "2026-01-01T00:00:00Z"
            }],
            "lastEvaluatedUserId": "user-1",
            "tokenPayload": {"sub": "user-1"}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let page = client(&server)
        .query_users(&QueryUsersRequest {
            email: Some("a+b@example.com".into()),
            phone_number: Some("+64270000000".into()),
            limit: Some(10),
            last_evaluated_user_id: Some("user-0".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.users.len(), 1);
    assert_eq!(page.users[0].user_id, "user-1");
    assert!(page.users[0].email_verified);
    assert_eq!(page.users[0].is_enrolled, Some(true));
    assert_eq!(page.last_evaluated_user_id.as_deref(), Some("user-1"));
    assert_eq!(page.token_payload, Some(json!({"sub": "user-1"})));
}

#[tokio::test]
async fn get_authenticators_decodes_the_list_with_passkey_details() {
    let server = server().await;
    api("GET", "/users/user-1/authenticators")
        .respond_with(ok(json!([
            {
                "userId": "user-1",
                "userAuthenticatorId": "auth-1",
                "verificationMethod": "PASSKEY",
                "createdAt": "2026-01-01T00:00:00Z",
                "verifiedAt": "2026-01-01T00:00:01Z",
                "webauthnCredential": {
                    "credentialId": "cred-1",
                    "deviceId": "dev-1",
                    "name": "MacBook",
                    "aaguid": "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
                    "aaguidMapping": {"name": "iCloud Keychain"},
                    "credentialBackedUp": true,
                    "credentialDeviceType": "multiDevice",
                    "authenticatorAttachment": "platform",
                    "parsedUserAgent": {
                        "ua": "Mozilla/5.0",
                        "browser": {"name": "Chrome", "version": "120.0", "major": "120"},
                        "device": {"type": "desktop"},
                        "os": {"name": "Mac OS"}
                    }
                }
            },
            {
                "userId": "user-1",
                "userAuthenticatorId": "auth-2",
                "verificationMethod": "SMS",
                "phoneNumber": "+64270000000",
                "previousSmsChannel": "WHATSAPP"
            }
        ])))
        .expect(1)
        .mount(&server)
        .await;

    let authenticators = client(&server).get_authenticators("user-1").await.unwrap();
    assert_eq!(authenticators.len(), 2);
    let passkey = &authenticators[0];
    assert_eq!(passkey.verification_method, VerificationMethod::Passkey);
    let credential = passkey.webauthn_credential.as_ref().unwrap();
    assert_eq!(credential.credential_id, "cred-1");
    assert_eq!(
        credential.aaguid_mapping.as_ref().unwrap().name.as_deref(),
        Some("iCloud Keychain")
    );
    let agent = credential.parsed_user_agent.as_ref().unwrap();
    assert_eq!(
        agent.browser.as_ref().unwrap().name.as_deref(),
        Some("Chrome")
    );
    assert_eq!(
        agent.device.as_ref().unwrap().device_type.as_deref(),
        Some("desktop")
    );
    assert_eq!(
        authenticators[1].previous_sms_channel,
        Some(SmsChannel::Whatsapp)
    );
}

#[tokio::test]
async fn enroll_verified_authenticator_posts_the_method_and_returns_recovery_codes() {
    let server = server().await;
    api_json("POST", "/users/user-1/authenticators")
        .and(body_json(json!({
            "verificationMethod": "AUTHENTICATOR_APP",
            "otpUri": "otpauth://totp/Demo:alice?secret=ABC&issuer=Demo",
            "isDefault": true
        })))
        .respond_with(ok(json!({
            "authenticator": {
                "userId": "user-1",
                "userAuthenticatorId": "auth-9",
                "verificationMethod": "AUTHENTICATOR_APP",
                "createdAt": "2026-01-01T00:00:00Z",
                "isDefault": true
            },
            "recoveryCodes": ["aaaa-bbbb", "cccc-dddd"]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let enrolled = client(&server)
        .enroll_verified_authenticator(
            "user-1",
            &EnrollVerifiedAuthenticatorRequest {
                otp_uri: Some("otpauth://totp/Demo:alice?secret=ABC&issuer=Demo".into()),
                is_default: Some(true),
                ..EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::AuthenticatorApp)
            },
        )
        .await
        .unwrap();
    assert_eq!(enrolled.authenticator.user_authenticator_id, "auth-9");
    assert_eq!(enrolled.authenticator.is_default, Some(true));
    assert_eq!(
        enrolled.recovery_codes,
        Some(vec!["aaaa-bbbb".to_owned(), "cccc-dddd".to_owned()])
    );
}

#[tokio::test]
async fn batch_enroll_posts_every_authenticator_and_reports_failures() {
    let server = server().await;
    api_json("POST", "/users/authenticators")
        .and(body_json(json!({"authenticators": [
            {"userId": "u1", "verificationMethod": "PASSKEY", "credentialId": "c1",
             "credentialPublicKey": "pk1", "transports": ["internal", "hybrid"]},
            {"userId": "u2", "verificationMethod": "PASSKEY", "credentialId": "c2",
             "credentialPublicKey": "pk2", "name": "YubiKey", "aaguid": "a-2"}
        ]})))
        .respond_with(ok(json!({
            "total": 2, "succeeded": 1, "failed": 1,
            "failures": [{"userId": "u2", "credentialId": "c2", "errorCode": "conflict",
                          "errorDescription": "credential exists"}]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let result = client(&server)
        .batch_enroll_verified_authenticators(&BatchEnrollRequest {
            authenticators: vec![
                BatchEnrollAuthenticator {
                    user_id: "u1".into(),
                    verification_method: VerificationMethod::Passkey,
                    credential_id: "c1".into(),
                    credential_public_key: "pk1".into(),
                    name: None,
                    transports: Some(vec!["internal".into(), "hybrid".into()]),
                    aaguid: None,
                },
                BatchEnrollAuthenticator {
                    user_id: "u2".into(),
                    verification_method: VerificationMethod::Passkey,
                    credential_id: "c2".into(),
                    credential_public_key: "pk2".into(),
                    name: Some("YubiKey".into()),
                    transports: None,
                    aaguid: Some("a-2".into()),
                },
            ],
        })
        .await
        .unwrap();
    assert_eq!((result.total, result.succeeded, result.failed), (2, 1, 1));
    assert_eq!(result.failures[0].error_code.as_deref(), Some("conflict"));
}

#[tokio::test]
async fn delete_authenticator_sends_a_delete_naming_both_ids() {
    let server = server().await;
    api("DELETE", "/users/user-1/authenticators/auth-1")
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .delete_authenticator("user-1", "auth-1")
        .await
        .unwrap();
}

#[tokio::test]
async fn challenge_posts_the_request_and_returns_the_challenge_id() {
    let server = server().await;
    api_json("POST", "/challenge")
        .and(body_json(json!({
            "verificationMethod": "SMS",
            "action": "signIn",
            "phoneNumber": "+64270000000",
            "smsChannel": "WHATSAPP",
            "userId": "user-1"
        })))
        .respond_with(ok(json!({
            "challengeId": "ch-1", "idempotencyKey": "idem-3", "expiresAt": 1_800_000_000
        })))
        .expect(1)
        .mount(&server)
        .await;

    let challenge = client(&server)
        .challenge(&ChallengeRequest {
            verification_method: Some(VerificationMethod::Sms),
            action: Some("signIn".into()),
            phone_number: Some("+64270000000".into()),
            sms_channel: Some(SmsChannel::Whatsapp),
            user_id: Some("user-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(challenge.challenge_id, "ch-1");
    assert_eq!(challenge.idempotency_key.as_deref(), Some("idem-3"));
    assert_eq!(challenge.expires_at, Some(1_800_000_000));
}

#[tokio::test]
async fn verify_posts_the_code_and_decodes_the_failure_reason() {
    let server = server().await;
    api_json("POST", "/verify")
        .and(body_json(
            json!({"challengeId": "ch-1", "verificationCode": "000000"}),
        ))
        .respond_with(ok(
            json!({"isVerified": false, "failureReason": "CODE_INVALID_OR_EXPIRED"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    api_json("POST", "/verify")
        .and(body_json(
            json!({"challengeId": "ch-1", "verificationCode": "123456"}),
        ))
        .respond_with(ok(json!({
            "isVerified": true, "phoneNumber": "+64270000000", "verificationMethod": "SMS"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);
    let wrong = client
        .verify(&VerifyRequest {
            challenge_id: "ch-1".into(),
            verification_code: "000000".into(),
        })
        .await
        .unwrap();
    assert!(!wrong.is_verified);
    assert_eq!(
        wrong.failure_reason,
        Some(VerificationFailureReason::CodeInvalidOrExpired)
    );
    let right = client
        .verify(&VerifyRequest {
            challenge_id: "ch-1".into(),
            verification_code: "123456".into(),
        })
        .await
        .unwrap();
    assert!(right.is_verified);
    assert_eq!(right.phone_number.as_deref(), Some("+64270000000"));
    assert_eq!(right.failure_reason, None);
}

#[tokio::test]
async fn claim_challenge_posts_the_ids_and_returns_a_token() {
    let server = server().await;
    api_json("POST", "/claim")
        .and(body_json(json!({
            "challengeId": "ch-1", "userId": "user-1", "skipVerificationCheck": false
        })))
        .respond_with(ok(
            json!({"token": "claimed", "verificationMethod": "EMAIL_OTP"}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let claimed = client(&server)
        .claim_challenge(&ClaimChallengeRequest {
            challenge_id: "ch-1".into(),
            user_id: "user-1".into(),
            skip_verification_check: Some(false),
        })
        .await
        .unwrap();
    assert_eq!(claimed.token, "claimed");
    assert_eq!(
        claimed.verification_method,
        Some(VerificationMethod::EmailOtp)
    );
}

#[tokio::test]
async fn get_challenge_sends_a_get_with_the_filters_as_query_parameters() {
    let server = server().await;
    api("GET", "/challenges")
        .and(query_param("challengeId", "ch-1"))
        .and(query_param("userId", "user-1"))
        .and(query_param("action", "signIn"))
        .and(query_param("verificationMethod", "EMAIL_OTP"))
        .respond_with(ok(json!({
            "challengeId": "ch-1",
            "expiresAt": 1_800_000_000,
            "verificationMethod": "EMAIL_OTP",
            "email": "alice@example.com",
            "action": "signIn"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let challenge = client(&server)
        .get_challenge(&GetChallengeRequest {
            challenge_id: Some("ch-1".into()),
            user_id: Some("user-1".into()),
            action: Some("signIn".into()),
            verification_method: Some(VerificationMethod::EmailOtp),
        })
        .await
        .unwrap();
    assert_eq!(challenge.challenge_id.as_deref(), Some("ch-1"));
    assert_eq!(challenge.email.as_deref(), Some("alice@example.com"));
    assert_eq!(challenge.action.as_deref(), Some("signIn"));
}

#[tokio::test]
async fn create_session_posts_the_client_and_token() {
    let server = server().await;
    api_json("POST", "/sessions")
        .and(body_json(
            json!({"clientId": "app", "token": "tok", "action": "signIn"}),
        ))
        .respond_with(ok(json!({"accessToken": "at", "refreshToken": "rt"})))
        .expect(1)
        .mount(&server)
        .await;

    let tokens = client(&server)
        .create_session(&CreateSessionRequest {
            client_id: "app".into(),
            token: "tok".into(),
            action: Some("signIn".into()),
        })
        .await
        .unwrap();
    assert_eq!(tokens.access_token, "at");
    assert_eq!(tokens.refresh_token, "rt");
}

#[tokio::test]
async fn validate_session_posts_the_access_token_and_decodes_the_user() {
    let server = server().await;
    api_json("POST", "/sessions/validate")
        .and(body_json(
            json!({"accessToken": "at", "clientIds": ["app"]}),
        ))
        .respond_with(ok(json!({
            "user": {"userId": "user-1", "email": "alice@example.com", "custom": {"a": 1}},
            "expiresAt": 1_800_000_000,
            "verificationMethod": "PASSKEY"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let session = client(&server)
        .validate_session(&ValidateSessionRequest {
            access_token: "at".into(),
            client_ids: Some(vec!["app".into()]),
        })
        .await
        .unwrap();
    assert_eq!(session.user.user_id, "user-1");
    assert_eq!(session.user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(session.expires_at, 1_800_000_000);
    assert_eq!(
        session.verification_method,
        Some(VerificationMethod::Passkey)
    );
}

#[tokio::test]
async fn refresh_session_posts_the_refresh_token_and_returns_new_tokens() {
    let server = server().await;
    api_json("POST", "/sessions/refresh")
        .and(body_json(json!({"refreshToken": "rt"})))
        .respond_with(ok(json!({"accessToken": "at2", "refreshToken": "rt2"})))
        .expect(1)
        .mount(&server)
        .await;

    let tokens = client(&server)
        .refresh_session(&RefreshSessionRequest {
            refresh_token: "rt".into(),
        })
        .await
        .unwrap();
    assert_eq!(tokens.access_token, "at2");
    assert_eq!(tokens.refresh_token, "rt2");
}

#[tokio::test]
async fn revoke_session_posts_the_access_token() {
    let server = server().await;
    api_json("POST", "/sessions/revoke")
        .and(body_json(json!({"accessToken": "at"})))
        .respond_with(ok(json!({})))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .revoke_session(&RevokeSessionRequest {
            access_token: "at".into(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn revoke_user_sessions_posts_the_user_id() {
    let server = server().await;
    api_json("POST", "/sessions/user/revoke")
        .and(body_json(json!({"userId": "user-1"})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    client(&server)
        .revoke_user_sessions(&RevokeUserSessionsRequest {
            user_id: "user-1".into(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn odd_user_ids_are_percent_encoded_into_a_single_path_segment() {
    let server = server().await;
    api("GET", "/users/a%2Fb%20c%3Fd%23e%25/authenticators")
        .respond_with(ok(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    api(
        "GET",
        "/users/a%2Fb%20c%3Fd%23e%25/actions/sign%2Fin/k%2B%3D",
    )
    .respond_with(ok(json!({"state": "ALLOW"})))
    .expect(1)
    .mount(&server)
    .await;

    let client = client(&server);
    assert!(
        client
            .get_authenticators("a/b c?d#e%")
            .await
            .unwrap()
            .is_empty()
    );
    let action = client
        .get_action("a/b c?d#e%", "sign/in", "k+=")
        .await
        .unwrap();
    assert_eq!(action.state, UserActionState::Allow);
}

#[tokio::test]
async fn an_empty_or_dot_user_id_is_refused_before_any_request() {
    let server = server().await;
    let client = client(&server);
    for user_id in ["", ".", ".."] {
        let error = client.get_user(user_id).await.unwrap_err();
        assert!(matches!(error, Error::InvalidRequest(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "invalid authsignal request: user id \"{user_id}\" cannot be used in a url path"
            )
        );
    }
    assert_eq!(request_count(&server).await, 0);
}

#[tokio::test]
async fn the_default_user_agent_and_accept_header_are_sent_and_get_has_no_body() {
    let server = server().await;
    api("GET", "/users/user-1")
        .and(header("user-agent", DEFAULT_USER_AGENT))
        .and(header("accept", "application/json"))
        .respond_with(ok(json!({"isEnrolled": false})))
        .expect(1)
        .mount(&server)
        .await;

    client(&server).get_user("user-1").await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].body.is_empty());
    assert!(requests[0].headers.get("content-type").is_none());
}

#[tokio::test]
async fn a_custom_user_agent_replaces_the_default() {
    let server = server().await;
    api("GET", "/users/user-1")
        .and(header("user-agent", "identity-server/1.0"))
        .respond_with(ok(json!({"isEnrolled": false})))
        .expect(1)
        .mount(&server)
        .await;

    crate::helpers::builder(&server)
        .user_agent("identity-server/1.0")
        .build()
        .unwrap()
        .get_user("user-1")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_produces_the_same_paths() {
    let server = server().await;
    api("GET", "/users/user-1")
        .respond_with(ok(json!({"isEnrolled": true})))
        .expect(1)
        .mount(&server)
        .await;

    let client = Client::builder(crate::helpers::SECRET)
        .base_url(format!("{}/v1/", server.uri()))
        .build()
        .unwrap();
    assert!(client.get_user("user-1").await.unwrap().is_enrolled);
}
