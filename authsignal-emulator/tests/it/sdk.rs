//! The SDK's calls run a second time, against the emulator (as async-stripe runs against
//! stripe-mock): every method, decoded by the SDK's own types.

use authsignal_sdk::{
    BatchEnrollAuthenticator, BatchEnrollRequest, ChallengeRequest, ClaimChallengeRequest, Client,
    CreateSessionRequest, EnrollVerifiedAuthenticatorRequest, GetChallengeRequest,
    QueryUserActionsRequest, QueryUsersRequest, RefreshSessionRequest, RetryPolicy,
    RevokeSessionRequest, RevokeUserSessionsRequest, TrackAttributes, UpdateActionRequest,
    UpdateUserRequest, UserActionState, ValidateChallengeRequest, ValidateSessionRequest,
    VerificationFailureReason, VerificationMethod, VerifyRequest,
};

use crate::helpers::{spawn, tls};

const OTP_URI: &str =
    "otpauth://totp/Demo:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Demo";

#[tokio::test]
async fn track_and_validate_decode_an_unfinished_challenge() {
    let app = spawn().await;
    let sdk = &app.sdk;
    sdk.enroll_verified_authenticator(
        "alice",
        &EnrollVerifiedAuthenticatorRequest {
            otp_uri: Some(OTP_URI.into()),
            ..EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::AuthenticatorApp)
        },
    )
    .await
    .unwrap();
    let decision = sdk
        .track(
            "alice",
            "Login",
            &TrackAttributes {
                redirect_url: Some("https://localhost:5001/cb".into()),
                username: Some("alice".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(decision.state, UserActionState::ChallengeRequired);
    assert!(decision.is_enrolled);
    assert_eq!(
        decision.enrolled_verification_methods.as_deref(),
        Some(&[VerificationMethod::AuthenticatorApp][..])
    );
    let result = sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: decision.token.clone(),
            user_id: Some("alice".into()),
            action: Some("Login".into()),
        })
        .await
        .unwrap();
    assert!(!result.is_valid);
    assert_eq!(result.state, Some(UserActionState::ChallengeRequired));
    assert_eq!(result.action_code(), Some("Login"));
    assert_eq!(result.user_id.as_deref(), Some("alice"));
    assert_eq!(
        result.idempotency_key.as_deref(),
        Some(decision.idempotency_key.as_str())
    );
}

#[tokio::test]
async fn get_update_and_query_actions_round_trip() {
    let app = spawn().await;
    let sdk = &app.sdk;
    let decision = sdk
        .track("bob", "Login", &TrackAttributes::default())
        .await
        .unwrap();
    sdk.track("bob", "Transfer", &TrackAttributes::default())
        .await
        .unwrap();
    let action = sdk
        .get_action("bob", "Login", &decision.idempotency_key)
        .await
        .unwrap();
    assert_eq!(action.state, UserActionState::Allow);
    assert!(action.created_at.is_some());
    let updated = sdk
        .update_action(
            "bob",
            "Login",
            &decision.idempotency_key,
            &UpdateActionRequest {
                state: UserActionState::ReviewRequired,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.state, UserActionState::ReviewRequired);
    let action = sdk
        .get_action("bob", "Login", &decision.idempotency_key)
        .await
        .unwrap();
    assert_eq!(action.state, UserActionState::ReviewRequired);
    let all = sdk
        .query_user_actions("bob", &QueryUserActionsRequest::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let filtered = sdk
        .query_user_actions(
            "bob",
            &QueryUserActionsRequest {
                action_codes: Some(vec!["Login".into()]),
                state: Some(UserActionState::ReviewRequired),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0].idempotency_key, decision.idempotency_key);
}

#[tokio::test]
async fn users_are_created_updated_queried_and_deleted() {
    let app = spawn().await;
    let sdk = &app.sdk;
    let unknown = sdk.get_user("carol").await.unwrap();
    assert!(!unknown.is_enrolled);
    let mut custom = serde_json::Map::new();
    custom.insert("plan".into(), "gold".into());
    custom.insert("beta".into(), true.into());
    custom.insert("seats".into(), 3.into());
    let updated = sdk
        .update_user(
            "carol",
            &UpdateUserRequest {
                email: Some("carol@example.com".into()),
                email_verified: Some(true),
                username: Some("carol".into()),
                custom: Some(custom.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.user_id, "carol");
    assert_eq!(updated.email_verified, Some(true));
    assert_eq!(updated.custom, Some(custom));
    let user = sdk.get_user("carol").await.unwrap();
    assert_eq!(user.email.as_deref(), Some("carol@example.com"));
    let page = sdk
        .query_users(&QueryUsersRequest {
            email: Some("CAROL@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.users.len(), 1);
    assert_eq!(page.users[0].username.as_deref(), Some("carol"));
    sdk.delete_user("carol").await.unwrap();
    let gone = sdk.get_user("carol").await.unwrap();
    assert!(!gone.is_enrolled);
    assert_eq!(gone.email, None);
}

#[tokio::test]
async fn query_users_pages_with_last_evaluated_user_id() {
    let app = spawn().await;
    for id in ["u1", "u2", "u3"] {
        app.sdk
            .update_user(id, &UpdateUserRequest::default())
            .await
            .unwrap();
    }
    let first = app
        .sdk
        .query_users(&QueryUsersRequest {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.users.len(), 2);
    let cursor = first.last_evaluated_user_id.clone().expect("more pages");
    let second = app
        .sdk
        .query_users(&QueryUsersRequest {
            limit: Some(2),
            last_evaluated_user_id: Some(cursor),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(second.users.len(), 1);
    assert_eq!(second.last_evaluated_user_id, None);
}

#[tokio::test]
async fn authenticators_are_enrolled_listed_and_deleted_with_recovery_codes_once() {
    let app = spawn().await;
    let sdk = &app.sdk;
    let first = sdk
        .enroll_verified_authenticator(
            "dave",
            &EnrollVerifiedAuthenticatorRequest {
                phone_number: Some("+64270000000".into()),
                ..EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::Sms)
            },
        )
        .await
        .unwrap();
    assert_eq!(first.recovery_codes.as_ref().map(Vec::len), Some(10));
    let second = sdk
        .enroll_verified_authenticator(
            "dave",
            &EnrollVerifiedAuthenticatorRequest {
                email: Some("dave@example.com".into()),
                ..EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::EmailOtp)
            },
        )
        .await
        .unwrap();
    assert_eq!(second.recovery_codes, None);
    let user = sdk.get_user("dave").await.unwrap();
    assert!(user.is_enrolled);
    assert_eq!(
        user.email, None,
        "enrolling an authenticator does not set the user's email"
    );
    let list = sdk.get_authenticators("dave").await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].verification_method, VerificationMethod::Sms);
    for a in &list {
        sdk.delete_authenticator("dave", &a.user_authenticator_id)
            .await
            .unwrap();
    }
    assert!(sdk.get_authenticators("dave").await.unwrap().is_empty());
    let err = sdk.delete_authenticator("dave", "gone").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn batch_enroll_reports_conflicts_per_credential() {
    let app = spawn().await;
    let item = |user: &str, id: &str| BatchEnrollAuthenticator {
        user_id: user.into(),
        verification_method: VerificationMethod::Passkey,
        credential_id: id.into(),
        credential_public_key: "pQECAyYgASFYIA".into(),
        name: Some("Laptop".into()),
        transports: None,
        aaguid: None,
    };
    let response = app
        .sdk
        .batch_enroll_verified_authenticators(&BatchEnrollRequest {
            authenticators: vec![
                item("erin", "cred-1"),
                item("frank", "cred-1"),
                item("frank", "cred-2"),
            ],
        })
        .await
        .unwrap();
    assert_eq!(
        (response.total, response.succeeded, response.failed),
        (3, 2, 1)
    );
    assert_eq!(response.failures[0].error_code.as_deref(), Some("conflict"));
    let list = app.sdk.get_authenticators("erin").await.unwrap();
    assert_eq!(
        list[0].webauthn_credential.as_ref().unwrap().credential_id,
        "cred-1"
    );
}

#[tokio::test]
async fn challenge_verify_claim_and_get_challenge_drive_an_email_otp() {
    let app = spawn().await;
    let sdk = &app.sdk;
    let started = sdk
        .challenge(&ChallengeRequest {
            verification_method: Some(VerificationMethod::EmailOtp),
            action: Some("signIn".into()),
            email: Some("gina@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(started.expires_at.unwrap() > chrono_now());
    let found = sdk
        .get_challenge(&GetChallengeRequest {
            challenge_id: Some(started.challenge_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.email.as_deref(), Some("gina@example.com"));
    let wrong = sdk
        .verify(&VerifyRequest {
            challenge_id: started.challenge_id.clone(),
            verification_code: "000000x".into(),
        })
        .await
        .unwrap();
    assert!(!wrong.is_verified);
    assert_eq!(
        wrong.failure_reason,
        Some(VerificationFailureReason::CodeInvalidOrExpired)
    );
    let code = app.handle.latest_code_for("gina@example.com").unwrap();
    let right = sdk
        .verify(&VerifyRequest {
            challenge_id: started.challenge_id.clone(),
            verification_code: code,
        })
        .await
        .unwrap();
    assert!(right.is_verified);
    assert_eq!(right.email.as_deref(), Some("gina@example.com"));
    let claimed = sdk
        .claim_challenge(&ClaimChallengeRequest {
            challenge_id: started.challenge_id.clone(),
            user_id: "gina".into(),
            skip_verification_check: None,
        })
        .await
        .unwrap();
    assert_eq!(
        claimed.verification_method,
        Some(VerificationMethod::EmailOtp)
    );
    let validated = sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: claimed.token.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(validated.is_valid);
    assert_eq!(validated.state, Some(UserActionState::ChallengeSucceeded));
    let again = sdk
        .claim_challenge(&ClaimChallengeRequest {
            challenge_id: started.challenge_id,
            user_id: "gina".into(),
            skip_verification_check: None,
        })
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(400));
}

#[tokio::test]
async fn five_wrong_codes_exhaust_a_server_challenge() {
    let app = spawn().await;
    let started = app
        .sdk
        .challenge(&ChallengeRequest {
            verification_method: Some(VerificationMethod::Sms),
            action: Some("signIn".into()),
            phone_number: Some("+64270000001".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..5 {
        app.sdk
            .verify(&VerifyRequest {
                challenge_id: started.challenge_id.clone(),
                verification_code: "x".into(),
            })
            .await
            .unwrap();
    }
    let code = app.handle.latest_code_for("+64270000001").unwrap();
    let last = app
        .sdk
        .verify(&VerifyRequest {
            challenge_id: started.challenge_id,
            verification_code: code,
        })
        .await
        .unwrap();
    assert!(!last.is_verified);
    assert_eq!(
        last.failure_reason,
        Some(VerificationFailureReason::MaxAttemptsExceeded)
    );
}

#[tokio::test]
async fn sessions_are_created_validated_refreshed_and_revoked() {
    let app = spawn().await;
    let sdk = &app.sdk;
    let started = sdk
        .challenge(&ChallengeRequest {
            verification_method: Some(VerificationMethod::EmailOtp),
            action: Some("signIn".into()),
            email: Some("hana@example.com".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let code = app.handle.latest_code_for("hana@example.com").unwrap();
    sdk.verify(&VerifyRequest {
        challenge_id: started.challenge_id.clone(),
        verification_code: code,
    })
    .await
    .unwrap();
    let claimed = sdk
        .claim_challenge(&ClaimChallengeRequest {
            challenge_id: started.challenge_id,
            user_id: "hana".into(),
            skip_verification_check: None,
        })
        .await
        .unwrap();
    let tokens = sdk
        .create_session(&CreateSessionRequest {
            client_id: "web".into(),
            token: claimed.token,
            action: None,
        })
        .await
        .unwrap();
    let session = sdk
        .validate_session(&ValidateSessionRequest {
            access_token: tokens.access_token.clone(),
            client_ids: Some(vec!["web".into()]),
        })
        .await
        .unwrap();
    assert_eq!(session.user.user_id, "hana");
    assert_eq!(session.user.email.as_deref(), Some("hana@example.com"));
    assert_eq!(
        session.verification_method,
        Some(VerificationMethod::EmailOtp)
    );
    let wrong_audience = sdk
        .validate_session(&ValidateSessionRequest {
            access_token: tokens.access_token.clone(),
            client_ids: Some(vec!["other".into()]),
        })
        .await;
    assert!(wrong_audience.is_err());
    let refreshed = sdk
        .refresh_session(&RefreshSessionRequest {
            refresh_token: tokens.refresh_token.clone(),
        })
        .await
        .unwrap();
    let reused = sdk
        .refresh_session(&RefreshSessionRequest {
            refresh_token: tokens.refresh_token,
        })
        .await;
    assert!(reused.is_err(), "a refresh token works once");
    sdk.revoke_session(&RevokeSessionRequest {
        access_token: refreshed.access_token.clone(),
    })
    .await
    .unwrap();
    assert!(
        sdk.validate_session(&ValidateSessionRequest {
            access_token: refreshed.access_token,
            client_ids: None
        })
        .await
        .is_err()
    );
    sdk.revoke_user_sessions(&RevokeUserSessionsRequest {
        user_id: "hana".into(),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_session_needs_a_succeeded_challenge() {
    let app = spawn().await;
    let decision = app
        .sdk
        .track("ivan", "Login", &TrackAttributes::default())
        .await
        .unwrap();
    let err = app
        .sdk
        .create_session(&CreateSessionRequest {
            client_id: "web".into(),
            token: decision.token,
            action: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.error_code(), Some("invalid_request"));
}

#[tokio::test]
async fn the_sdk_reports_a_wrong_secret_as_unauthorized() {
    let app = spawn().await;
    let client = Client::builder("wrong")
        .base_url(&app.api_url)
        .add_root_certificate_pem(tls().ca_pem())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.get_user("alice").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.error_code(), Some("unauthorized"));
    assert!(err.is_unauthorized());
}

#[tokio::test]
async fn the_sdk_reports_a_bad_action_code_as_invalid_request() {
    let app = spawn().await;
    let err = app
        .sdk
        .track("alice", "no spaces allowed", &TrackAttributes::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.error_code(), Some("invalid_request"));
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
