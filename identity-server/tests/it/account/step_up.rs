//! Step-up authentication: a client asks for more than the signed-in session has (`acr_values`,
//! the `claims` parameter, `max_age`), and the signed-in user passes a fresh Authsignal
//! challenge before a code is issued — or the client gets the error the rules say.

use authsignal_emulator::Outcome;
use identity_server::oidc::acr::{MFA, PHR, PWD};
use serde_json::Value;

use super::{ACTION, Browser, Page, Stack, code_of, input_value, spawn};
use crate::helpers::{REDIRECT, query_param};

/// The `web` client's authorize URL with extra parameters.
fn authorize_url(stack: &Stack, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&stack.authorize_url()).unwrap();
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

fn essential(value: &str) -> String {
    format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{value}"]}}}}}}"#)
}

/// The error of a redirect to the client, checking that `state` came back and no code did.
fn error_of(page: &Page) -> String {
    let location = page.location();
    assert!(
        location.starts_with(REDIRECT),
        "not a client redirect: {location}"
    );
    assert_eq!(query_param(location, "state").as_deref(), Some("st-1"));
    assert_eq!(query_param(location, "code"), None, "{location}");
    query_param(location, "error").unwrap_or_else(|| panic!("no error in {location}"))
}

/// Enrolls `username`'s authenticator app in a first browser, then lets the password alone
/// through (Authsignal's rules answer `ALLOW`) and signs in with it in a new browser; returns
/// that browser and its ID token's claims.
async fn password_only_session(stack: &Stack, username: &str) -> (Browser, Value) {
    stack.sign_in(&Browser::new(), username, username).await;
    stack.emulator.set_action_outcome(ACTION, Outcome::Allow);
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, username, username, false)
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let claims = stack.id_token_claims(&code_of(&page)).await;
    assert_eq!(claims["acr"], PWD);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    (browser, claims)
}

/// The answer to `Continue` on the step-up page an authorize answer `page` leads to (asserts
/// that it leads there).
async fn confirm_step_up(stack: &Stack, browser: &Browser, page: &Page) -> Page {
    assert!(
        matches!(page.status, 302 | 303),
        "{} {}",
        page.status,
        page.body
    );
    assert!(
        page.location()
            .starts_with(&stack.url("/Account/StepUp?ar=")),
        "expected the step-up page, got {}",
        page.location()
    );
    let confirm = browser.get(page.location()).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.shows("asks you to confirm"), "{}", confirm.body);
    let csrf = input_value(&confirm.body, "csrf_token").unwrap();
    let ar = input_value(&confirm.body, "ar").unwrap();
    browser
        .post(
            &stack.url("/Account/StepUp"),
            &[
                ("csrf_token", csrf.as_str()),
                ("ar", ar.as_str()),
                ("button", "continue"),
            ],
        )
        .await
}

/// Starts an authorize request asking for `mfa` in `browser` and continues on the step-up
/// page; asserts that it goes to the hosted challenge and returns its URL.
async fn start_step_up(stack: &Stack, browser: &Browser) -> String {
    let authorize = browser
        .get(&authorize_url(stack, &[("acr_values", MFA)]))
        .await;
    let page = confirm_step_up(stack, browser, &authorize).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location().to_owned();
    assert!(
        location.starts_with(&stack.emulator_url),
        "expected the hosted challenge, got {location}"
    );
    assert!(page.set_cookie("__Host-idsrv.mfa").is_some());
    location
}

#[tokio::test]
async fn a_password_only_session_asked_for_mfa_passes_a_step_up_and_the_id_token_says_mfa() {
    let stack = spawn().await;
    let (browser, before) = password_only_session(&stack, "alice").await;
    // auth_time is in seconds: the step-up must be able to show a newer one.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let challenge = start_step_up(&stack, &browser).await;
    let start = browser.get(&challenge).await;
    let hosted = browser.follow(&start).await;
    assert!(
        hosted.body.contains("id=\"verify-code\""),
        "a fresh challenge for the signed-in user"
    );
    let callback = stack
        .pass_second_factor(&browser, &challenge, "alice")
        .await;
    assert!(callback.starts_with(&stack.url("/Account/Login/Callback?token=")));
    let answer = browser.get(&callback).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.headers["referrer-policy"], "no-referrer");
    assert!(
        answer.set_cookie("__Host-idsrv.session").is_some(),
        "a new session handle after the step-up"
    );
    let after = stack.id_token_claims(&code_of(&answer)).await;

    assert_eq!(after["acr"], MFA);
    let amr: Vec<&str> = after["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        amr.contains(&"mfa") && amr.contains(&"otp") && amr.contains(&"pwd"),
        "{amr:?}"
    );
    assert!(
        after["auth_time"].as_i64().unwrap() > before["auth_time"].as_i64().unwrap(),
        "{} -> {}",
        before["auth_time"],
        after["auth_time"]
    );
    assert_eq!(after["sid"], before["sid"], "the same session, stepped up");

    // The stepped-up session satisfies the next such request without a challenge.
    let again = browser
        .get(&authorize_url(&stack, &[("acr_values", MFA)]))
        .await;
    assert_eq!(stack.id_token_claims(&code_of(&again)).await["acr"], MFA);
}

#[tokio::test]
async fn prompt_none_with_an_acr_the_session_has_not_reached_answers_interaction_required() {
    let stack = spawn().await;
    let (browser, _) = password_only_session(&stack, "alice").await;
    let page = browser
        .get(&authorize_url(
            &stack,
            &[("acr_values", MFA), ("prompt", "none")],
        ))
        .await;
    assert_eq!(error_of(&page), "interaction_required");
    // With the level reached, prompt=none issues a code as before.
    let page = browser
        .get(&authorize_url(
            &stack,
            &[("acr_values", PWD), ("prompt", "none")],
        ))
        .await;
    code_of(&page);
}

#[tokio::test]
async fn a_second_factor_older_than_max_age_is_asked_for_again_by_a_step_up() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let authorize = browser
        .get(&authorize_url(
            &stack,
            &[("acr_values", MFA), ("max_age", "1")],
        ))
        .await;
    let page = confirm_step_up(&stack, &browser, &authorize).await;
    assert!(
        page.location().starts_with(&stack.emulator_url),
        "a step-up, not a new login: {}",
        page.location()
    );
    // Without an acr, max_age keeps meaning a new login.
    let page = browser
        .get(&authorize_url(&stack, &[("max_age", "1")]))
        .await;
    assert!(
        page.location()
            .starts_with(&stack.url("/Account/Login?ar=")),
        "{}",
        page.location()
    );
}

#[tokio::test]
async fn an_essential_phishing_resistant_acr_the_user_cannot_reach_is_unmet() {
    let stack = spawn().await;
    let browser = Browser::new();
    // Alice has an authenticator app, no passkey.
    stack.sign_in(&browser, "alice", "alice").await;
    let page = browser
        .get(&authorize_url(&stack, &[("claims", &essential(PHR))]))
        .await;
    assert_eq!(error_of(&page), "unmet_authentication_requirements");
    // Asked for voluntarily, the session's second factor is the best there is.
    let page = browser
        .get(&authorize_url(&stack, &[("acr_values", PHR)]))
        .await;
    assert_eq!(stack.id_token_claims(&code_of(&page)).await["acr"], MFA);
}

#[tokio::test]
async fn a_sign_in_that_does_not_reach_an_essential_acr_ends_in_unmet_not_a_code() {
    let stack = spawn().await;
    let browser = Browser::new();
    let page = browser
        .get(&authorize_url(&stack, &[("claims", &essential(PHR))]))
        .await;
    let ar = query_param(page.location(), "ar").expect("no session: the login page");
    let challenge = stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let callback = stack
        .pass_second_factor(&browser, &challenge, "alice")
        .await;
    let answer = browser.get(&callback).await;
    assert_eq!(error_of(&answer), "unmet_authentication_requirements");
}

#[tokio::test]
async fn a_password_only_allow_still_runs_the_challenge_when_the_client_asks_for_mfa() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    stack.emulator.set_action_outcome(ACTION, Outcome::Allow);
    let browser = Browser::new();
    let page = browser
        .get(&authorize_url(&stack, &[("acr_values", MFA)]))
        .await;
    let ar = query_param(page.location(), "ar").expect("the login page");
    // The rules would allow the password alone; the client asked for a second factor.
    let challenge = stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let callback = stack
        .pass_second_factor(&browser, &challenge, "alice")
        .await;
    let answer = browser.get(&callback).await;
    let claims = stack.id_token_claims(&code_of(&answer)).await;
    assert_eq!(claims["acr"], MFA);
}

#[tokio::test]
async fn a_malformed_claims_parameter_is_an_invalid_request() {
    let stack = spawn().await;
    let browser = Browser::new();
    for bad in [
        "{not json",
        r#"{"id_token":{"acr":{"values":[1]}}}"#,
        r#"{"id_token":"acr"}"#,
    ] {
        let page = browser
            .get(&authorize_url(&stack, &[("claims", bad)]))
            .await;
        assert_eq!(error_of(&page), "invalid_request", "{bad}");
    }
    let long = format!(r#"{{"x":"{}"}}"#, "a".repeat(3000));
    let page = browser
        .get(&authorize_url(&stack, &[("claims", &long)]))
        .await;
    assert_eq!(error_of(&page), "invalid_request");
}

#[tokio::test]
async fn a_step_up_callback_with_another_users_token_is_refused_and_the_session_keeps_its_level() {
    let stack = spawn().await;
    let (alice, _) = password_only_session(&stack, "alice").await;
    let (bob, _) = password_only_session(&stack, "bob").await;
    start_step_up(&stack, &alice).await;
    let bob_challenge = start_step_up(&stack, &bob).await;
    let bob_callback = stack.pass_second_factor(&bob, &bob_challenge, "bob").await;

    // Bob's passed challenge, brought to alice's browser (her step-up transaction).
    let answer = alice.get(&bob_callback).await;
    assert_eq!(error_of(&answer), "access_denied");
    let page = alice
        .get(&authorize_url(
            &stack,
            &[("acr_values", MFA), ("prompt", "none")],
        ))
        .await;
    assert_eq!(error_of(&page), "interaction_required");
}

#[tokio::test]
async fn a_step_up_passed_for_a_session_that_has_since_changed_is_refused() {
    let stack = spawn().await;
    let (browser, _) = password_only_session(&stack, "alice").await;
    let challenge = start_step_up(&stack, &browser).await;
    // The browser signs in again (a new session) while the challenge is open.
    let page = browser
        .get(&authorize_url(&stack, &[("prompt", "login")]))
        .await;
    let ar = query_param(page.location(), "ar").unwrap();
    let signed_in = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    code_of(&signed_in);

    let callback = stack
        .pass_second_factor(&browser, &challenge, "alice")
        .await;
    let answer = browser.get(&callback).await;
    assert_eq!(error_of(&answer), "access_denied");
}

#[tokio::test]
async fn a_cancelled_or_failed_step_up_answers_access_denied_and_the_session_stays_signed_in() {
    let stack = spawn().await;
    let (browser, _) = password_only_session(&stack, "alice").await;

    start_step_up(&stack, &browser).await;
    // Cancel at the hosted page: Authsignal sends the browser back without a token.
    let answer = browser.get(&stack.url("/Account/Login/Callback")).await;
    assert_eq!(answer.status, 303);
    assert_eq!(error_of(&answer), "access_denied");

    start_step_up(&stack, &browser).await;
    let answer = browser
        .get(&stack.url("/Account/Login/Callback?token=not-a-token"))
        .await;
    assert_eq!(error_of(&answer), "access_denied");

    // Still signed in, at the password level.
    let page = browser
        .get(&authorize_url(&stack, &[("prompt", "none")]))
        .await;
    assert_eq!(stack.id_token_claims(&code_of(&page)).await["acr"], PWD);
}

#[tokio::test]
async fn the_login_page_says_when_the_client_asks_for_a_passkey() {
    let stack = spawn().await;
    let browser = Browser::new();
    let page = browser
        .get(&authorize_url(&stack, &[("acr_values", PHR)]))
        .await;
    let login = browser.get(page.location()).await;
    assert_eq!(login.status, 200);
    assert!(
        login.shows("This application asks you to sign in with a passkey"),
        "{}",
        login.body
    );
    let plain = browser.get(&stack.authorize_url()).await;
    let login = browser.get(plain.location()).await;
    assert!(!login.shows("asks you to sign in with a passkey"));
}

#[tokio::test]
async fn step_ups_count_against_the_accounts_second_factor_budget() {
    // A budget of two unsuccessful challenges: alice's first sign-in (its email proof, then
    // its enrollment) is forgiven, so two abandoned step-ups use it up.
    let stack = super::spawn_with(|s| {
        s.account.second_factor.max_unsuccessful_challenges = 2;
    })
    .await;
    let (browser, _) = password_only_session(&stack, "alice").await;
    for _ in 0..2 {
        start_step_up(&stack, &browser).await;
        let answer = browser.get(&stack.url("/Account/Login/Callback")).await;
        assert_eq!(error_of(&answer), "access_denied");
    }
    // The next step-up starts no challenge: the second factor is blocked.
    let authorize = browser
        .get(&authorize_url(&stack, &[("acr_values", MFA)]))
        .await;
    let page = confirm_step_up(&stack, &browser, &authorize).await;
    assert_eq!(error_of(&page), "access_denied");
    assert!(
        query_param(page.location(), "error_description").is_some_and(|d| d.contains("blocked")),
        "{}",
        page.location()
    );
}

#[tokio::test]
async fn a_step_up_asked_for_by_a_cross_site_get_starts_and_counts_nothing_until_the_person_continues()
 {
    let stack = super::spawn_with(|s| {
        s.account.second_factor.max_unsuccessful_challenges = 1;
    })
    .await;
    let (browser, _) = password_only_session(&stack, "alice").await;
    // Any site can make the signed-in browser GET this, as often as it likes ...
    for _ in 0..5 {
        let page = browser
            .get(&authorize_url(&stack, &[("acr_values", MFA)]))
            .await;
        assert!(
            page.location()
                .starts_with(&stack.url("/Account/StepUp?ar=")),
            "{}",
            page.location()
        );
    }
    // ... and nothing was counted: the person's own step-up still reaches the challenge.
    start_step_up(&stack, &browser).await;
}

#[tokio::test]
async fn the_step_up_page_refuses_a_missing_csrf_token_and_cancel_answers_access_denied() {
    let stack = spawn().await;
    let (browser, _) = password_only_session(&stack, "alice").await;
    let authorize = browser
        .get(&authorize_url(&stack, &[("acr_values", MFA)]))
        .await;
    let ar = query_param(authorize.location(), "ar").unwrap();
    let forged = browser
        .post(
            &stack.url("/Account/StepUp"),
            &[("ar", ar.as_str()), ("button", "continue")],
        )
        .await;
    assert_eq!(forged.status, 403);
    let confirm = browser.get(authorize.location()).await;
    let csrf = input_value(&confirm.body, "csrf_token").unwrap();
    let cancelled = browser
        .post(
            &stack.url("/Account/StepUp"),
            &[
                ("csrf_token", csrf.as_str()),
                ("ar", ar.as_str()),
                ("button", "cancel"),
            ],
        )
        .await;
    assert_eq!(error_of(&cancelled), "access_denied");
}
