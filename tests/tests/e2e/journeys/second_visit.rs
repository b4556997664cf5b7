//! Coming back: in a new browser the second factor is a challenge, not an enrollment; email
//! codes work as the second factor too.

use crate::helpers::flows::{
    ALICE, BOB, ClaimsPage, answer_challenge, assert_on_emulator, codes_saved,
    first_visit_with_totp, submit_password, visit_client_expecting_login,
};
use crate::helpers::system::TestSystem;

#[tokio::test]
async fn alice_is_challenged_instead_of_enrolled_when_she_comes_back_in_a_new_browser() {
    let sys = TestSystem::start().await;
    let enrolled = first_visit_with_totp(&sys, &sys.browser(), &ALICE).await;

    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let challenge = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    assert_on_emulator(&sys, &challenge);
    assert!(
        challenge.doc().form("verify-code").is_some(),
        "a challenge: {}",
        challenge.excerpt()
    );
    assert!(
        challenge.doc().form("choose-totp").is_none(),
        "no second enrollment"
    );
    assert!(
        challenge.doc().by_id("totp-secret").is_none(),
        "the key is never shown again"
    );
    assert!(
        challenge.shows("authenticator app"),
        "{}",
        challenge.excerpt()
    );
    assert!(
        challenge.doc().form("use-recovery-code").is_some(),
        "recovery codes are offered"
    );

    let page = answer_challenge(&sys, &browser, &challenge, &enrolled.app.fresh_code().await).await;
    let claims = ClaimsPage::read(&sys, &page);
    claims.assert_signed_in_with_mfa(&ALICE);
    assert!(
        claims.amr().contains(&"otp".to_owned()),
        "the method is recorded: {:?}",
        claims.amr()
    );
}

#[tokio::test]
async fn bob_signs_in_with_an_emailed_code_as_his_second_factor() {
    let sys = TestSystem::start().await;
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let choose = submit_password(&browser, &login, BOB.username, BOB.password).await;
    assert_on_emulator(&sys, &choose);

    // Email chosen at enrollment: the address came with the track call, so no need to type it.
    let confirm = browser
        .submit(&choose, &choose.form("choose-email"), None)
        .await;
    assert_on_emulator(&sys, &confirm);
    assert_eq!(
        confirm.text_of("code-destination"),
        BOB.email,
        "{}",
        confirm.excerpt()
    );
    // Besides the email proof before the enrollment (its own action), one email.
    let sent = login_emails(&sys);
    assert_eq!(sent.len(), 1, "one email: {sent:?}");
    let code = sys
        .emulator
        .latest_code_for(BOB.email)
        .expect("a code was emailed to bob");
    let mut form = confirm.form("confirm-email");
    form.set("code", code);
    let codes = browser.submit(&confirm, &form, None).await;
    assert_on_emulator(&sys, &codes);
    assert!(
        !codes.doc().by_class("li", "recovery-code").is_empty(),
        "{}",
        codes.excerpt()
    );
    let page = browser.submit(&codes, &codes_saved(&codes), None).await;
    ClaimsPage::read(&sys, &page).assert_signed_in_with_mfa(&BOB);

    // Next time, in a new browser, a fresh code is emailed and asked for.
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let challenge = submit_password(&browser, &login, BOB.username, BOB.password).await;
    assert_on_emulator(&sys, &challenge);
    assert_eq!(
        challenge.text_of("code-destination"),
        BOB.email,
        "{}",
        challenge.excerpt()
    );
    assert_eq!(login_emails(&sys).len(), 2, "a second email was sent");
    let second = sys.emulator.latest_code_for(BOB.email).unwrap();
    let page = answer_challenge(&sys, &browser, &challenge, &second).await;
    let claims = ClaimsPage::read(&sys, &page);
    claims.assert_signed_in_with_mfa(&BOB);
    assert_eq!(
        claims.claims.get("name").map(String::as_str),
        Some(BOB.name)
    );
}

#[tokio::test]
async fn alice_adds_email_codes_in_manage_mfa_and_then_chooses_email_instead_of_her_app() {
    // Email self-service is off by default (`account.email_self_service`): this tenant has it.
    let sys = TestSystem::start_with(crate::helpers::system::Options {
        email_self_service: true,
        ..Default::default()
    })
    .await;
    let browser = sys.browser();
    let enrolled = first_visit_with_totp(&sys, &browser, &ALICE).await;

    // "Manage MFA", linked from the identity server's home page: the authenticators, then a
    // fresh challenge, then the settings.
    let home = browser.open(&format!("{}/", sys.idp_url)).await;
    assert!(home.shows("You are signed in"), "{}", home.excerpt());
    let page = browser.click_link(&home, "manage-mfa-link").await;
    assert!(page.shows("Authenticator app"), "{}", page.excerpt());
    let challenge = browser
        .submit(&page, &page.form("manage-mfa-form"), None)
        .await;
    assert_on_emulator(&sys, &challenge);
    let settings =
        answer_challenge(&sys, &browser, &challenge, &enrolled.app.fresh_code().await).await;
    assert_on_emulator(&sys, &settings);
    let add_email = settings
        .doc()
        .form("choose-email")
        .unwrap_or_else(|| panic!("the settings offer email: {}", settings.excerpt()));
    let confirm = browser.submit(&settings, &add_email, None).await;
    assert_on_emulator(&sys, &confirm);
    let confirm = if confirm.doc().form("enroll-email").is_some() {
        let mut form = confirm.form("enroll-email");
        form.set("email", ALICE.email);
        browser.submit(&confirm, &form, None).await
    } else {
        confirm
    };
    let mut form = confirm.form("confirm-email");
    form.set(
        "code",
        sys.emulator
            .latest_code_for(ALICE.email)
            .expect("code emailed"),
    );
    let settings = browser.submit(&confirm, &form, None).await;
    assert_on_emulator(&sys, &settings);
    assert!(
        settings.shows(ALICE.email),
        "the settings list the email: {}",
        settings.excerpt()
    );
    // "Done" comes back to the identity server, which says what changed.
    let done = browser
        .submit(&settings, &settings.form("settings-done"), None)
        .await;
    assert!(
        done.url.as_str().starts_with(&sys.idp_url) && done.url.path() == "/Account/Mfa",
        "{}",
        done.trail()
    );
    assert!(done.shows("Your changes are saved."), "{}", done.excerpt());
    assert!(done.shows("Added: Email code."), "{}", done.excerpt());

    // A new browser: the challenge starts with the app but offers email.
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let challenge = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    let before = sys.emulator.outbox().len();
    let email_challenge = browser
        .submit(&challenge, &challenge.form("choose-email"), None)
        .await;
    assert_on_emulator(&sys, &email_challenge);
    assert_eq!(
        sys.emulator.outbox().len(),
        before + 1,
        "choosing email sends a code"
    );
    assert_eq!(email_challenge.text_of("code-destination"), ALICE.email);
    let code = sys.emulator.latest_code_for(ALICE.email).unwrap();
    let page = answer_challenge(&sys, &browser, &email_challenge, &code).await;
    ClaimsPage::read(&sys, &page).assert_signed_in_with_mfa(&ALICE);
}

/// The codes sent for the login action (not the email proof before a first enrollment).
fn login_emails(sys: &TestSystem) -> Vec<authsignal_emulator::OutboxMessage> {
    sys.emulator
        .outbox()
        .into_iter()
        .filter(|m| m.action_code == "identity-server-login")
        .collect()
}
