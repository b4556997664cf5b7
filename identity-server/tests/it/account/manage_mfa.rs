//! "Manage MFA": a signed-in user sees their authenticators, passes a fresh challenge, reaches
//! the authenticator settings at Authsignal, and comes back to a page that says what changed.

use authsignal_emulator::Outcome;

use super::{Browser, Page, Stack, input_value, spawn, spawn_with_emulator};

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

/// Signs alice in, opens "Manage MFA", passes the fresh challenge and returns the hosted
/// settings page.
pub(super) async fn alices_settings(stack: &Stack, browser: &Browser) -> Page {
    stack.sign_in(browser, "alice", "alice").await;
    let page = browser.get(&stack.url("/Account/Mfa")).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let answer = browser
        .post(&stack.url("/Account/Mfa"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let start = browser.get(answer.location()).await;
    let challenge = browser.follow(&start).await;
    let csrf = input_value(&challenge.body, "csrf").unwrap();
    let code = stack.code_for("alice").await;
    let verified = browser
        .post(
            &format!("{}/verify", stack.emulator_url),
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(verified.status, 303, "{}", verified.body);
    let settings = browser.follow(&verified).await;
    assert!(
        settings.body.contains("id=\"settings-done\""),
        "{}",
        settings.body
    );
    settings
}

/// Adds `email` at the hosted settings (the address, then the code from the outbox) and leaves
/// them with "Done": the identity server's answer at the Manage-MFA callback.
pub(super) async fn add_email_at_the_settings(
    stack: &Stack,
    browser: &Browser,
    settings: &Page,
    email: &str,
) -> Page {
    let callback = add_email_and_leave(stack, browser, settings, email).await;
    browser.get(&callback).await
}

/// Adds `email` at the hosted settings and leaves them with "Done"; returns the Manage-MFA
/// callback URL (with its token) the emulator sends the browser to, not visited.
pub(super) async fn add_email_and_leave(
    stack: &Stack,
    browser: &Browser,
    settings: &Page,
    email: &str,
) -> String {
    let emulator = |path: &str| format!("{}{path}", stack.emulator_url);
    let csrf = input_value(&settings.body, "csrf").unwrap();
    let ask = browser
        .post(&emulator("/enroll/email"), &[("csrf", &csrf)])
        .await;
    assert_eq!(ask.status, 303, "{}", ask.body);
    let ask = browser.follow(&ask).await;
    assert!(ask.body.contains("id=\"enroll-email\""), "{}", ask.body);
    let sent = browser
        .post(
            &emulator("/enroll/email/address"),
            &[("csrf", &csrf), ("email", email)],
        )
        .await;
    let code = stack
        .emulator
        .latest_code_for(email)
        .expect("a code was sent");
    assert_eq!(sent.status, 303, "{}", sent.body);
    let confirmed = browser
        .post(
            &emulator("/enroll/email/confirm"),
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    let settings = browser.follow(&confirmed).await;
    assert!(settings.shows(email), "{}", settings.body);
    let done = browser
        .post(&emulator("/settings/done"), &[("csrf", &csrf)])
        .await;
    assert!(
        done.location()
            .starts_with(&stack.url("/Account/Mfa/Callback?token=")),
        "{}",
        done.location()
    );
    done.location().to_owned()
}

/// The methods of alice's authenticators at Authsignal.
async fn alices_methods(stack: &Stack) -> Vec<String> {
    let subject = stack
        .state
        .users
        .find_by_username("alice")
        .await
        .unwrap()
        .unwrap()
        .subject;
    stack
        .state
        .account
        .authsignal
        .get_authenticators(&subject)
        .await
        .unwrap()
        .iter()
        .map(|a| a.verification_method.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn with_the_default_manage_mfa_offers_no_email_factor_and_a_forged_one_is_refused() {
    let stack = spawn().await;
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    assert!(
        !settings.body.contains("id=\"choose-email\""),
        "the hosted settings offer no email address: {}",
        settings.body
    );
    // The form it does not offer, posted anyway, is refused by the tenant (the emulator).
    let csrf = input_value(&settings.body, "csrf").unwrap();
    let sent_before = stack.emulator.outbox().len();
    let forged = browser
        .post(
            &format!("{}/enroll/email", stack.emulator_url),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(
        stack.emulator.outbox().len(),
        sent_before,
        "no code was sent"
    );
    // The identity server's own page says so too.
    let page = browser.get(&stack.url("/Account/Mfa")).await;
    assert!(
        page.body.contains("id=\"no-email-self-service\""),
        "{}",
        page.body
    );
    assert_eq!(alices_methods(&stack).await, ["AUTHENTICATOR_APP"]);
}

#[tokio::test]
async fn with_the_default_an_email_factor_added_at_a_tenant_that_offers_it_is_removed_again() {
    // A tenant whose pre-built UI offers email anyway: the identity server enforces its setting.
    let stack = spawn_with_emulator(|_| {}, |e| e.email_self_service = true).await;
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    let back = add_email_at_the_settings(&stack, &browser, &settings, "mallory@example.net").await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        back.location().contains("refused=EMAIL_OTP"),
        "{}",
        back.location()
    );
    let page = browser.get(back.location()).await;
    assert!(
        page.shows("Not added: Email code. Email addresses cannot be added as a factor here."),
        "{}",
        page.body
    );
    assert!(!page.shows("Added: Email code."), "{}", page.body);
    assert_eq!(alices_methods(&stack).await, ["AUTHENTICATOR_APP"]);
}

#[tokio::test]
async fn an_email_factor_added_at_the_settings_is_removed_again_when_the_browser_drops_the_token() {
    // Leaving the settings and coming back without the token ("cancelled"), or with a garbled
    // one, must not be a way around the identity server's setting.
    for back_without_result in [
        "/Account/Mfa/Callback",
        "/Account/Mfa/Callback?token=garbled",
    ] {
        let stack = spawn_with_emulator(|_| {}, |e| e.email_self_service = true).await;
        let browser = Browser::new();
        let settings = alices_settings(&stack, &browser).await;
        add_email_and_leave(&stack, &browser, &settings, "mallory@example.net").await;
        assert_eq!(
            alices_methods(&stack).await,
            ["AUTHENTICATOR_APP", "EMAIL_OTP"],
            "added at the tenant"
        );
        let back = browser.get(&stack.url(back_without_result)).await;
        assert_eq!(back.status, 303, "{back_without_result}: {}", back.body);
        assert!(
            !back.location().contains("result=saved"),
            "{back_without_result}: {}",
            back.location()
        );
        assert_eq!(
            alices_methods(&stack).await,
            ["AUTHENTICATOR_APP"],
            "{back_without_result}: removed again"
        );
    }
}

#[tokio::test]
async fn an_email_factor_added_after_the_transaction_was_used_up_is_removed_again() {
    // The transaction is used up before anything changes (the callback opened without a
    // token), then the settings add an email factor and come back with their token.
    let stack = spawn_with_emulator(|_| {}, |e| e.email_self_service = true).await;
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    let first = browser.get(&stack.url("/Account/Mfa/Callback")).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let callback = add_email_and_leave(&stack, &browser, &settings, "mallory@example.net").await;
    assert_eq!(
        alices_methods(&stack).await,
        ["AUTHENTICATOR_APP", "EMAIL_OTP"],
        "added at the tenant"
    );
    let back = browser.get(&callback).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(
        alices_methods(&stack).await,
        ["AUTHENTICATOR_APP"],
        "removed again although no transaction was left"
    );
}

#[tokio::test]
async fn with_email_self_service_manage_mfa_can_add_an_email_factor() {
    let stack = spawn_with_emulator(
        |s| s.account.email_self_service = true,
        |e| e.email_self_service = true,
    )
    .await;
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    assert!(
        settings.body.contains("id=\"choose-email\""),
        "{}",
        settings.body
    );
    let back = add_email_at_the_settings(&stack, &browser, &settings, "alice@example.com").await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(!back.location().contains("refused="), "{}", back.location());
    let page = browser.get(back.location()).await;
    assert!(page.shows("Added: Email code."), "{}", page.body);
    assert!(!page.body.contains("id=\"no-email-self-service\""));
    let mut methods = alices_methods(&stack).await;
    methods.sort();
    assert_eq!(methods, ["AUTHENTICATOR_APP", "EMAIL_OTP"]);
}
