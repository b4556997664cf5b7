//! The first visit and a second login in real headless Chromium, typed and clicked like a
//! person does. Chromium trusts only this run's server certificate (SPKI pin); see
//! `helpers::chrome` for what happens when Chromium is missing.

use crate::helpers::chrome::{Chrome, catching};
use crate::helpers::flows::{ALICE, prove_email_in_chrome};
use crate::helpers::system::TestSystem;
use crate::helpers::tls;
use crate::helpers::totp::Authenticator;

/// Types the credentials into the login page and presses "Login".
async fn log_in(chrome: &Chrome, sys: &TestSystem) {
    chrome.wait_for("#login-form").await;
    assert!(
        chrome.url().await.starts_with(&sys.idp_url),
        "the login page is the identity server's"
    );
    chrome.type_into("#username", ALICE.username).await;
    chrome.type_into("#password", ALICE.password).await;
    chrome.click("#login").await;
}

/// Reads the claims page and checks what alice sees there.
async fn sees_her_claims(chrome: &Chrome, sys: &TestSystem) {
    chrome.wait_for("#claims").await;
    chrome.wait_for_path("/").await;
    assert!(chrome.url().await.starts_with(&sys.client_url));
    let text = chrome.text().await;
    assert!(text.contains("Hello, Alice Smith"), "{text}");
    assert!(text.contains(ALICE.sub), "the subject is shown: {text}");
    let amr = chrome.text_of("#properties").await;
    assert!(
        amr.contains("mfa") && amr.contains("pwd"),
        "amr with mfa: {amr}"
    );
}

#[tokio::test]
async fn in_chromium_alice_enrolls_her_app_on_the_first_visit_and_is_challenged_on_the_next() {
    let sys = TestSystem::start().await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("first-visit", &spki).await else {
        return;
    };
    let app = std::sync::OnceLock::new();
    let outcome = catching(async {
        chrome.open(&format!("{}/", sys.client_url)).await;
        log_in(&chrome, &sys).await;
        // First the email proof, then the hosted enrollment.
        prove_email_in_chrome(&chrome, &sys).await;

        // Set up two-step verification: the authenticator app.
        chrome.click("#choose-totp button").await;
        let key = chrome.text_of("#totp-secret").await;
        assert!(chrome.url().await.starts_with(&sys.emulator_url));
        let authenticator = Authenticator::from_key(&key);
        let code = authenticator.fresh_code().await;
        app.set(authenticator).expect("one app");
        chrome.type_into("#code", &code).await;
        chrome.click("#confirm-totp button").await;

        // Recovery codes, shown once.
        chrome.wait_for(".recovery-code").await;
        let codes = chrome
            .page()
            .find_elements(".recovery-code")
            .await
            .expect("codes");
        assert!(codes.len() >= 5, "{} recovery codes", codes.len());
        chrome.click("#saved").await;
        chrome.click("#recovery-codes-continue button").await;

        sees_her_claims(&chrome, &sys).await;
    })
    .await;
    chrome.finish(outcome).await;
    let app = app.get().expect("enrolled");

    // A second login in a new browser profile.
    let chrome = Chrome::launch("second-login", &spki)
        .await
        .expect("launched before");
    let outcome = catching(async {
        chrome.open(&format!("{}/", sys.client_url)).await;
        log_in(&chrome, &sys).await;

        // A challenge this time, not an enrollment.
        chrome.wait_for("#verify-code").await;
        assert!(
            chrome.page().find_element("#totp-secret").await.is_err(),
            "no key shown again"
        );
        chrome.type_into("#code", &app.fresh_code().await).await;
        chrome.click("#verify-code button").await;

        sees_her_claims(&chrome, &sys).await;

        // Signing out ends it: the next visit asks for the login again.
        chrome.click("#signout button").await;
        chrome.wait_for("#signed-out").await;
        chrome.open(&format!("{}/", sys.client_url)).await;
        chrome.wait_for("#login-form").await;
    })
    .await;
    chrome.finish(outcome).await;
}
