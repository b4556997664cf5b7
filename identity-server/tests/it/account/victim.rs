//! Issue 15, finding 3: someone holding alice's password does the password step and sends the
//! hosted challenge link to alice; alice passes it in her own browser. The challenge page says
//! what it approves and offers "This wasn't me", and a challenge passed in a browser that did
//! not do the password step is voided, so the password holder's browser gets neither a code nor
//! a session.

use std::sync::Arc;

use authsignal_sdk::{UserActionState, ValidateChallengeRequest};
use identity_server::signin::SESSION_COOKIE;

use super::{Browser, Stack, element_text, input_value, spawn};
use crate::helpers::{ALICE, query_param, test_tls};

const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36";

/// A browser that says it is Chrome on Linux.
fn chrome() -> Browser {
    let ca = reqwest::Certificate::from_pem(test_tls().ca_pem().as_bytes()).unwrap();
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(CHROME_LINUX)
        .build()
        .unwrap();
    Browser { client, jar }
}

fn sdk(stack: &Stack) -> authsignal_sdk::Client {
    authsignal_sdk::Client::builder("dev-emulator-secret-key")
        .base_url(&stack.emulator_api)
        .add_root_certificate_pem(test_tls().ca_pem())
        .build()
        .unwrap()
}

/// alice enrolled beforehand (her own earlier sign-in), then a moment later (sessions count in
/// whole seconds) the attacker's password step; returns the attacker's browser and the hosted
/// challenge URL it was sent to.
async fn attacker_at_the_challenge(stack: &Stack) -> (Browser, String) {
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let attacker = chrome();
    let ar = stack.authorize(&attacker).await;
    let url = stack
        .password_to_challenge(&attacker, &ar, "alice", "alice")
        .await;
    (attacker, url)
}

/// The callback gave the browser neither a code nor a session.
async fn assert_no_code_no_session(stack: &Stack, browser: &Browser, page: &super::Page) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert!(
        query_param(page.location(), "code").is_none(),
        "{}",
        page.location()
    );
    assert!(stack.is_signed_out(browser).await);
}

#[tokio::test]
async fn a_challenge_passed_by_the_victim_in_her_own_browser_cannot_finish_the_attackers_login() {
    let stack = spawn().await;
    let (attacker, url) = attacker_at_the_challenge(&stack).await;

    // alice opens the link she was sent and passes the challenge in her browser, which is sent
    // to the identity server's callback without a login transaction.
    let victim = Browser::new();
    let callback = stack.pass_second_factor(&victim, &url, "alice").await;
    let voided = victim.get(&callback).await;
    assert_eq!(voided.status, 303, "{}", voided.body);
    assert_eq!(
        voided.location(),
        stack.url("/Account/Notice?reason=started_elsewhere")
    );
    assert!(voided.set_cookie(SESSION_COOKIE).is_none());
    let notice = victim.follow(&voided).await;
    assert!(
        notice.shows("This sign-in was started in another browser, so it was stopped. If you did not start it, someone may know your password: change it."),
        "{}",
        notice.body
    );
    assert!(stack.is_signed_out(&victim).await);

    // The attacker's browser, with its transaction and the same token: refused.
    let refused = attacker.get(&callback).await;
    assert_no_code_no_session(&stack, &attacker, &refused).await;
    let token = query_param(&callback, "token").unwrap();
    let validated = sdk(&stack)
        .validate_challenge(&ValidateChallengeRequest {
            token,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!validated.is_valid);
    assert_eq!(validated.state, Some(UserActionState::ChallengeFailed));
}

#[tokio::test]
async fn this_wasnt_me_ends_the_challenge_and_the_login_is_refused() {
    let stack = spawn().await;
    let (attacker, url) = attacker_at_the_challenge(&stack).await;
    let track_token = query_param(&url, "token").unwrap();

    // alice opens the link, sees a sign-in she did not start and says so.
    let victim = Browser::new();
    let start = victim.get(&url).await;
    let page = victim.follow(&start).await;
    let csrf = input_value(&page.body, "csrf").unwrap();
    let left = victim
        .post(
            &format!("{}/not-me", stack.emulator_url),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(left.status, 303, "{}", left.body);
    assert!(
        left.location()
            .starts_with(&stack.url("/Account/Login/Callback")),
        "{}",
        left.location()
    );
    assert!(query_param(left.location(), "token").is_none(), "no token");
    let back = victim.follow(&left).await;
    assert_eq!(back.status, 303);
    assert!(back.set_cookie(SESSION_COOKIE).is_none());
    assert!(stack.is_signed_out(&victim).await);

    // The report is on the action, and no token of it validates.
    let sdk = sdk(&stack);
    let validated = sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: track_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!validated.is_valid);
    assert_eq!(validated.state, Some(UserActionState::ChallengeFailed));
    let action = sdk
        .get_action(
            ALICE,
            super::ACTION,
            validated.idempotency_key.as_deref().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(action.output.unwrap()["reportedNotMe"], true);

    // The attacker's browser comes back with the token it has: refused.
    let refused = attacker
        .get(&format!(
            "{}?token={track_token}",
            stack.url("/Account/Login/Callback")
        ))
        .await;
    assert_no_code_no_session(&stack, &attacker, &refused).await;

    // In the attacker's own browser, "This wasn't me" is a refusal like Cancel: the client
    // gets `access_denied`.
    let attacker = chrome();
    let ar = stack.authorize(&attacker).await;
    let url = stack
        .password_to_challenge(&attacker, &ar, "alice", "alice")
        .await;
    let start = attacker.get(&url).await;
    let page = attacker.follow(&start).await;
    let csrf = input_value(&page.body, "csrf").unwrap();
    let left = attacker
        .post(
            &format!("{}/not-me", stack.emulator_url),
            &[("csrf", &csrf)],
        )
        .await;
    let denied = attacker.follow(&left).await;
    assert_eq!(denied.status, 303, "{}", denied.body);
    assert_eq!(
        query_param(denied.location(), "error").as_deref(),
        Some("access_denied"),
        "{}",
        denied.location()
    );
    assert!(denied.set_cookie(SESSION_COOKIE).is_none());
    assert!(stack.is_signed_out(&attacker).await);
}

#[tokio::test]
async fn the_hosted_challenge_shows_the_application_browser_address_and_time_of_the_password_step()
{
    let stack = spawn().await;
    let before = chrono::Utc::now();
    let (_attacker, url) = attacker_at_the_challenge(&stack).await;
    // alice's own browser is another one: what she sees is what the password step sent.
    let victim = Browser::new();
    let start = victim.get(&url).await;
    let page = victim.follow(&start).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let shown = element_text(&page.body, "challenge-context").expect("the request is described");
    assert!(
        shown.starts_with("Web client · Chrome on Linux · 127.0.0.1 · "),
        "{shown}"
    );
    let day = before.format("%-d %b %Y, ").to_string();
    assert!(shown.contains(&day) && shown.ends_with(" UTC"), "{shown}");
    assert!(page.body.contains("id=\"not-me\""), "{}", page.body);
}

#[tokio::test]
async fn tokens_without_a_transaction_are_checked_at_most_twenty_times_per_network_in_ten_minutes()
{
    // Without any password step, a request can make the identity server call Authsignal only
    // this often: a flood of made-up tokens gets no further.
    let stack = spawn().await;
    let owner = Browser::new();
    let (_, callback) = stack.until_callback(&owner, "alice", "alice").await;
    let stranger = Browser::new();
    for i in 0..20 {
        let junk = stranger
            .get(&format!(
                "{}?token=made.up.{i}",
                stack.url("/Account/Login/Callback")
            ))
            .await;
        assert_eq!(junk.location(), stack.url("/Account/Notice?reason=expired"));
    }
    // The 21st is not looked at: not voided, and the owner's own callback still completes.
    let unchecked = stranger.get(&callback).await;
    assert_eq!(
        unchecked.location(),
        stack.url("/Account/Notice?reason=expired")
    );
    assert!(unchecked.set_cookie(SESSION_COOKIE).is_none());
    super::code_of(&owner.get(&callback).await);
}
