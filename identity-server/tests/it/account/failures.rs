//! Every way the second factor can fail ends without a session and with a clear page.

use authsignal_emulator::Outcome;
use identity_server::signin::SESSION_COOKIE;

use super::{
    ACTION, Browser, closed_port, input_value, silent_server, spawn, spawn_with, wrong_code,
};
use crate::helpers::query_param;

#[tokio::test]
async fn wrong_totp_codes_fail_the_challenge_and_send_the_user_back_to_login_without_a_session() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    let secret = stack.authenticator("alice").unwrap().secret;

    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let challenge = stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let start = browser.get(&challenge).await;
    let mut page = browser.follow(&start).await;
    let mut callback = None;
    for _ in 0..5 {
        let csrf = input_value(&page.body, "csrf").unwrap();
        let answer = browser
            .post(
                &format!("{}/verify", stack.emulator_url),
                &[("csrf", &csrf), ("code", &wrong_code(&secret))],
            )
            .await;
        assert_eq!(answer.status, 303);
        if answer.location().starts_with(&stack.idp) {
            callback = Some(answer.location().to_owned());
            break;
        }
        page = browser.follow(&answer).await;
        assert!(
            page.body.contains("id=\"error\""),
            "the emulator shows the error"
        );
    }
    let callback = callback.expect("the failed challenge returns to the identity server");

    let answer = browser.get(&callback).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(answer.headers["referrer-policy"], "no-referrer");
    assert!(answer.set_cookie(SESSION_COOKIE).is_none());
    let location = answer.location();
    assert!(
        location.starts_with(&stack.url("/Account/Login?ar=")),
        "{location}"
    );
    assert_eq!(
        query_param(location, "notice").as_deref(),
        Some("mfa_attempts"),
        "the login page says that the codes ran out"
    );

    let login = browser.follow(&answer).await;
    assert_eq!(login.status, 200);
    assert!(login.shows("Too many wrong codes were entered, so this sign-in was stopped"));
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn a_block_outcome_refuses_the_sign_in_with_a_clear_page() {
    let stack = spawn().await;
    stack.emulator.set_action_outcome(ACTION, Outcome::Block);
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(page.status, 403);
    assert!(page.shows("Sign-in refused"));
    assert!(page.shows("you are not signed in"));
    assert!(
        page.shows("Back to Web client"),
        "a way back to the client: {}",
        page.body
    );
    assert!(
        page.body.contains("id=\"reference\""),
        "a reference to quote"
    );
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert!(page.set_cookie("__Host-idsrv.mfa").is_none());
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn a_review_outcome_refuses_the_sign_in_for_now_with_a_clear_page() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    stack.emulator.set_action_outcome(ACTION, Outcome::Review);
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(page.status, 403);
    assert!(page.shows("Sign-in under review"));
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn an_unreachable_authsignal_fails_closed_with_a_clear_page() {
    let port = closed_port();
    let stack = spawn_with(|s| {
        s.account.authsignal.api_url = format!("https://localhost:{port}/v1");
        s.account.authsignal.connect_timeout_ms = 500;
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(page.status, 503);
    assert!(page.shows("Sign-in temporarily unavailable"));
    assert!(page.shows("you are not signed in"));
    assert!(!page.shows("dev-emulator-secret-key"));
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    // The page offers to try again with the same, still pending, request.
    assert!(
        page.shows(&format!("href=\"/Account/Login?ar={ar}\"")),
        "a try-again link: {}",
        page.body
    );
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn an_authsignal_that_never_answers_times_out_and_fails_closed() {
    let port = silent_server().await;
    let stack = spawn_with(|s| {
        s.account.authsignal.api_url = format!("https://localhost:{port}/v1");
        s.account.authsignal.timeout_ms = 500;
        s.account.authsignal.connect_timeout_ms = 500;
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(page.status, 503);
    assert!(page.shows("Sign-in temporarily unavailable"));
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn a_wrong_authsignal_secret_fails_closed() {
    let stack = spawn_with(|s| {
        s.account.authsignal.secret =
            identity_server::account::AuthsignalSecret::new("wrong-secret");
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(page.status, 503);
    assert!(!page.shows("wrong-secret"));
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn an_authsignal_outage_at_the_callback_fails_closed_and_sends_the_user_back_to_login() {
    let stack = spawn_with(|s| s.account.authsignal.connect_timeout_ms = 500).await;
    let browser = Browser::new();
    let (ar, callback) = stack.until_callback(&browser, "alice", "alice").await;
    stack.stop_emulator().await;

    let answer = browser.get(&callback).await;
    assert_eq!(answer.status, 303);
    assert!(answer.set_cookie(SESSION_COOKIE).is_none());
    assert_eq!(
        query_param(answer.location(), "ar").as_deref(),
        Some(ar.as_str())
    );
    assert_eq!(
        query_param(answer.location(), "notice").as_deref(),
        Some("mfa_unavailable")
    );
    let login = browser.follow(&answer).await;
    assert!(login.shows("The second factor could not be checked right now"));
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn cancelling_the_hosted_step_answers_the_client_with_access_denied_and_no_session() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let challenge = stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let start = browser.get(&challenge).await;
    let page = browser.follow(&start).await;
    let csrf = input_value(&page.body, "csrf").expect("the hosted page has a form");
    assert!(
        page.body.contains("id=\"cancel\""),
        "a way out: {}",
        page.body
    );
    let left = browser
        .post(
            &format!("{}/cancel", stack.emulator_url),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(left.status, 303, "{}", left.body);
    assert_eq!(left.location(), stack.url("/Account/Login/Callback"));

    let answer = browser.get(left.location()).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(answer.set_cookie(SESSION_COOKIE).is_none());
    let back = answer.location();
    assert_eq!(
        query_param(back, "error").as_deref(),
        Some("access_denied"),
        "the client learns that the sign-in was refused: {back}"
    );
    assert!(stack.is_signed_out(&browser).await);
    // The sign-in request is used up: its link now explains instead of showing the form.
    let again = stack.login_page(&browser, &ar).await;
    assert_eq!(again.status, 400);
    assert!(!again.body.contains("id=\"login-form\""));
}
