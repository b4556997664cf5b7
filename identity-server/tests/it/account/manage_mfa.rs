//! "Manage MFA": a signed-in user sees their authenticators, passes a fresh challenge, reaches
//! the authenticator settings at Authsignal, and comes back to a page that says what changed.

use authsignal_emulator::Outcome;

use super::{Browser, input_value, spawn};

/// The CSRF token of the "Manage MFA" page's form (the home page links to it).
async fn home_csrf(stack: &super::Stack, browser: &Browser) -> String {
    let home = browser.get(&stack.url("/")).await;
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("href=\"/Account/Mfa\""),
        "the home page links to Manage MFA"
    );
    let page = browser.get(&stack.url("/Account/Mfa")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    input_value(&page.body, "csrf_token").expect("the Manage MFA page has its form")
}

#[tokio::test]
async fn manage_mfa_challenges_then_opens_the_settings_and_returns_to_a_page_saying_what_changed() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    let csrf = home_csrf(&stack, &browser).await;

    let answer = browser
        .post(&stack.url("/Account/Mfa"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(answer.location().starts_with(&stack.emulator_url));
    assert!(answer.set_cookie("__Host-idsrv.mfa").is_some());

    let start = browser.get(answer.location()).await;
    let challenge = browser.follow(&start).await;
    assert!(
        challenge.body.contains("id=\"verify-code\""),
        "a fresh challenge first"
    );
    let back = stack
        .pass_second_factor(&browser, answer.location(), "alice")
        .await;
    assert!(back.starts_with(&stack.url("/Account/Mfa/Callback?token=")));
    let home = browser.get(&back).await;
    assert_eq!(home.status, 303);
    assert!(
        home.location()
            .starts_with(&stack.url("/Account/Mfa?result=saved")),
        "{}",
        home.location()
    );
    assert_eq!(home.headers["referrer-policy"], "no-referrer");
    let page = browser.get(home.location()).await;
    assert_eq!(page.status, 200);
    assert!(page.shows("Your changes are saved."), "{}", page.body);
    assert!(
        page.shows("No authenticator was added or removed."),
        "{}",
        page.body
    );
    assert!(page.shows("Authenticator app"), "the list: {}", page.body);
    assert!(
        page.shows("Added just now"),
        "dates in words: {}",
        page.body
    );
    // Still signed in.
    assert!(!stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn the_manage_mfa_page_says_only_known_changes_from_its_address() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    let page = browser
        .get(&stack.url(
            "/Account/Mfa?result=saved&added=EMAIL_OTP,%3Cb%3Ex%3C/b%3E&removed=AUTHENTICATOR_APP",
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.shows("Added: Email code."), "{}", page.body);
    assert!(page.shows("Removed: Authenticator app."), "{}", page.body);
    assert!(!page.body.contains("<b>x</b>") && !page.body.contains("&lt;b&gt;"));
    let left = browser
        .get(&stack.url("/Account/Mfa?result=cancelled"))
        .await;
    assert!(left.shows("Nothing was changed."), "{}", left.body);
}

#[tokio::test]
async fn manage_mfa_needs_a_signed_in_session() {
    let stack = spawn().await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/Account/Create")).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let answer = browser
        .post(&stack.url("/Account/Mfa"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(answer.status, 401);
    assert!(answer.location.is_none());
    assert!(answer.shows("Sign in first"));
    let page = browser.get(&stack.url("/Account/Mfa")).await;
    assert_eq!(page.status, 401);
    assert!(page.shows("Sign in first"), "{}", page.body);
    assert!(
        page.body.contains("id=\"continue\""),
        "a way to sign in: {}",
        page.body
    );
}

#[tokio::test]
async fn manage_mfa_without_csrf_token_is_refused() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    let answer = browser.post(&stack.url("/Account/Mfa"), &[]).await;
    assert_eq!(answer.status, 403);
    assert!(answer.location.is_none());
}

#[tokio::test]
async fn a_manage_mfa_transaction_cannot_sign_in_at_the_login_callback() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    let csrf = home_csrf(&stack, &browser).await;
    let answer = browser
        .post(&stack.url("/Account/Mfa"), &[("csrf_token", &csrf)])
        .await;
    let back = stack
        .pass_second_factor(&browser, answer.location(), "alice")
        .await;
    let token = crate::helpers::query_param(&back, "token").unwrap();
    let page = browser
        .get(&format!(
            "{}?token={token}",
            stack.url("/Account/Login/Callback")
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), stack.url("/Account/Notice?reason=expired"));
}

#[tokio::test]
async fn a_blocked_manage_mfa_action_shows_a_clear_page_and_keeps_the_session() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    stack
        .emulator
        .set_action_outcome("identity-server-manage-mfa", Outcome::Block);
    let csrf = home_csrf(&stack, &browser).await;
    let answer = browser
        .post(&stack.url("/Account/Mfa"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(answer.status, 403);
    assert!(answer.shows("refused"));
    assert!(answer.set_cookie("__Host-idsrv.mfa").is_none());
    assert!(!stack.is_signed_out(&browser).await);
}
