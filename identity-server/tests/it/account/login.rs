//! The happy paths: enrollment on the first login, a challenge on the next, ALLOW, cancel,
//! remember-me, what the callback answers, and logout.

use authsignal_emulator::Outcome;
use identity_server::signin::SESSION_COOKIE;

use super::{ACTION, Browser, code_of, input_value, spawn};
use crate::helpers::{ALICE, REDIRECT, query_param};

#[tokio::test]
async fn the_first_login_of_alice_enrolls_totp_and_ends_with_a_code_for_the_client() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;

    let after_password = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(after_password.status, 303);
    assert!(
        after_password
            .location()
            .starts_with(&format!("{}/challenge?token=", stack.emulator_url))
    );
    let transaction = after_password.set_cookie("__Host-idsrv.mfa").unwrap();
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(transaction.contains(attribute), "{transaction}");
    }
    assert!(
        !browser.has_cookie(&stack.idp, SESSION_COOKIE),
        "no session before the second factor"
    );

    let callback = stack
        .pass_second_factor(&browser, after_password.location(), "alice")
        .await;
    assert!(callback.starts_with(&stack.url("/Account/Login/Callback?token=")));
    assert!(
        stack.authenticator("alice").is_some(),
        "a TOTP secret was shown and enrolled"
    );

    let answer = browser.get(&callback).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.headers["referrer-policy"], "no-referrer");
    assert!(answer.body.is_empty(), "the callback renders nothing");
    let session = answer.set_cookie(SESSION_COOKIE).unwrap();
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(
        !session.contains("Max-Age"),
        "not remembered: a browser-session cookie"
    );
    let removal = answer.set_cookie("__Host-idsrv.mfa").unwrap();
    assert!(removal.contains("Max-Age=0"), "{removal}");

    let code = code_of(&answer);
    let claims = stack.id_token_claims(&code).await;
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa", "otp"]));
}

#[tokio::test]
async fn a_second_login_is_challenged_with_the_enrolled_authenticator() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;

    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let challenge = stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let start = browser.get(&challenge).await;
    let page = browser.follow(&start).await;
    assert!(
        page.body.contains("id=\"verify-code\""),
        "a challenge, not an enrollment: {}",
        page.body
    );
    assert!(!page.body.contains("id=\"totp-secret\""));

    let callback = stack
        .pass_second_factor(&browser, &challenge, "alice")
        .await;
    let answer = browser.get(&callback).await;
    let claims = stack.id_token_claims(&code_of(&answer)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa", "otp"]));
}

#[tokio::test]
async fn the_session_id_after_the_second_factor_is_new() {
    let stack = spawn().await;
    let browser = Browser::new();
    let first = stack.sign_in(&browser, "alice", "alice").await;
    let first_sid = first.set_cookie(SESSION_COOKIE).unwrap();

    // prompt=login forces a new login in the same browser.
    let page = browser
        .get(&format!("{}&prompt=login", stack.authorize_url()))
        .await;
    let ar = query_param(page.location(), "ar").unwrap();
    let challenge = stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let callback = stack
        .pass_second_factor(&browser, &challenge, "alice")
        .await;
    let second = browser.get(&callback).await;
    let second_sid = second.set_cookie(SESSION_COOKIE).unwrap();
    assert_ne!(first_sid.split(';').next(), second_sid.split(';').next());
}

#[tokio::test]
async fn remember_me_survives_the_second_factor_as_a_persistent_session() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "alice", true)
        .await;
    let callback = stack
        .pass_second_factor(&browser, page.location(), "alice")
        .await;
    let answer = browser.get(&callback).await;
    let session = answer.set_cookie(SESSION_COOKIE).unwrap();
    assert!(session.contains("Max-Age="), "remembered: {session}");
}

#[tokio::test]
async fn an_allow_outcome_for_an_enrolled_user_signs_in_with_the_password_alone() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    stack.emulator.set_action_outcome(ACTION, Outcome::Allow);

    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let answer = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(answer.status, 303);
    let claims = stack.id_token_claims(&code_of(&answer)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

#[tokio::test]
async fn an_allow_outcome_still_enrolls_a_user_without_authenticator() {
    let stack = spawn().await;
    stack.emulator.set_action_outcome(ACTION, Outcome::Allow);
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let challenge = stack
        .password_to_challenge(&browser, &ar, "bob", "bob")
        .await;
    let callback = stack.pass_second_factor(&browser, &challenge, "bob").await;
    let claims = stack
        .id_token_claims(&code_of(&browser.get(&callback).await))
        .await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa", "otp"]));
}

#[tokio::test]
async fn cancel_answers_the_client_with_access_denied() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack.login_page(&browser, &ar).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let answer = browser
        .post(
            &stack.url("/Account/Login"),
            &[("csrf_token", &csrf), ("ar", &ar), ("button", "cancel")],
        )
        .await;
    assert_eq!(answer.status, 303);
    let location = answer.location();
    assert!(location.starts_with(REDIRECT));
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(location, "state").as_deref(), Some("st-1"));
    // The request is used up: its login page is gone.
    assert_eq!(stack.login_page(&browser, &ar).await.status, 400);
}

#[tokio::test]
async fn the_login_page_prefills_the_login_hint_and_names_the_client() {
    let stack = spawn().await;
    let browser = Browser::new();
    let page = browser
        .get(&format!("{}&login_hint=bob", stack.authorize_url()))
        .await;
    let ar = query_param(page.location(), "ar").unwrap();
    let login = stack.login_page(&browser, &ar).await;
    assert_eq!(login.status, 200);
    assert_eq!(input_value(&login.body, "username").as_deref(), Some("bob"));
    assert!(login.shows("Web client"));
    assert!(login.set_cookie("__Host-idsrv.csrf").is_some());
}

#[tokio::test]
async fn logout_ends_the_session_so_the_next_authorize_asks_for_a_login() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    let again = browser.get(&stack.authorize_url()).await;
    assert!(
        again.location().starts_with(REDIRECT),
        "signed in: straight back to the client"
    );

    let confirm = browser.get(&stack.url("/Account/Logout")).await;
    let csrf = input_value(&confirm.body, "csrf_token").unwrap();
    let out = browser
        .post(&stack.url("/Account/Logout"), &[("csrf_token", &csrf)])
        .await;
    assert!(out.status < 400, "{}", out.body);

    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn track_carries_the_username_email_client_address_and_user_agent() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;

    let sdk = authsignal_sdk::Client::builder("dev-emulator-secret-key")
        .base_url(&stack.emulator_api)
        .add_root_certificate_pem(crate::helpers::test_tls().ca_pem())
        .build()
        .unwrap();
    let actions = sdk
        .query_user_actions(ALICE, &authsignal_sdk::QueryUserActionsRequest::default())
        .await
        .unwrap();
    // A first login tracks twice: before the email proof and after it (a fresh enrollment).
    let logins: Vec<_> = actions.iter().filter(|a| a.action_code == ACTION).collect();
    assert_eq!(logins.len(), 2, "{actions:?}");
    for action in logins {
        assert_eq!(action.ip_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(action.user_agent.as_deref(), Some("account-tests/1.0"));
    }
    let user = sdk.get_user(ALICE).await.unwrap();
    assert_eq!(user.username.as_deref(), Some("alice"));
    assert_eq!(user.email.as_deref(), Some("AliceSmith@example.com"));
}
