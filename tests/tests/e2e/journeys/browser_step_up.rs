//! Step-up in real headless Chromium: alice signs in with her authenticator app, opens the web
//! client's "Sensitive" page (a second factor at most `sensitive_max_age_secs` old: here 5 s),
//! waits until her second factor is too old, opens it again, passes a fresh challenge on the
//! emulator's hosted page — without typing her password — and is back on the sensitive page
//! with `acr` mfa and a newer `auth_time`. The page is checked with axe-core in light and dark
//! and photographed like every other page.

use crate::helpers::chrome::{Chrome, axe_source, catching};
use crate::helpers::flows::{ALICE, prove_email_in_chrome};
use crate::helpers::system::{Options, TestSystem};
use crate::helpers::tls;
use crate::helpers::totp::Authenticator;

/// The `acr` of a password and a second factor, as the identity server documents it.
const MFA: &str = "urn:authsignal-mfa-rust:acr:mfa";
/// The sensitive page's freshness in this test.
const MAX_AGE_SECS: u64 = 5;
/// What the web client allows for clock skew on top of it (`web_client::acr::CLOCK_SKEW_SECS`).
const SKEW_SECS: u64 = web_client::acr::CLOCK_SKEW_SECS as u64;

#[tokio::test]
async fn in_chromium_an_old_second_factor_is_stepped_up_for_the_sensitive_page_with_a_fresh_challenge()
 {
    let sys = TestSystem::start_with(Options {
        sensitive_max_age_secs: Some(MAX_AGE_SECS),
        ..Options::default()
    })
    .await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("step-up", &spki).await else {
        return;
    };
    let axe = axe_source();
    let outcome = catching(async {
        // Sign in, enrolling the authenticator app.
        chrome.open(&format!("{}/", sys.client_url)).await;
        chrome.wait_for("#login-form").await;
        chrome.type_into("#username", ALICE.username).await;
        chrome.type_into("#password", ALICE.password).await;
        chrome.click("#login").await;
        prove_email_in_chrome(&chrome, &sys).await;
        chrome.click("#choose-totp button").await;
        let app = Authenticator::from_key(&chrome.text_of("#totp-secret").await);
        chrome.type_into("#code", &app.fresh_code().await).await;
        chrome.click("#confirm-totp button").await;
        chrome.wait_for(".recovery-code").await;
        chrome.click("#saved").await;
        chrome.click("#recovery-codes-continue button").await;
        chrome.wait_for("#claims").await;

        // The sensitive page, linked from the claims page: the sign-in's factor is fresh.
        chrome.click("#sensitive-link").await;
        chrome.wait_for("#authentication").await;
        chrome.wait_for_path("/sensitive").await;
        assert_eq!(chrome.text_of("#auth-acr").await, MFA);
        let first = chrome.text_of("#auth-time").await;
        assert_eq!(chrome.title().await, "Sensitive page · Authsignal MFA Demo");
        chrome
            .check_accessibility(axe.as_deref(), "sensitive")
            .await;
        chrome.shoot("sensitive").await;

        // Too old now: the page asks the identity server for a step-up.
        tokio::time::sleep(std::time::Duration::from_secs(MAX_AGE_SECS + SKEW_SECS + 2)).await;
        chrome.open(&format!("{}/sensitive", sys.client_url)).await;
        // The identity server names the application and asks to continue (no password).
        chrome.wait_for("#step-up-form").await;
        assert!(chrome.url().await.starts_with(&sys.idp_url));
        assert!(
            chrome
                .text_of("#step-up-reason")
                .await
                .contains("Web client"),
            "the page names the application"
        );
        chrome
            .check_accessibility(axe.as_deref(), "step-up-confirm")
            .await;
        chrome.shoot("step-up-confirm").await;
        chrome.click("#continue").await;
        chrome.wait_for("#verify-code").await;
        assert!(
            chrome.url().await.starts_with(&sys.emulator_url),
            "a fresh challenge on the hosted page, no login form: {}",
            chrome.url().await
        );
        chrome.type_into("#code", &app.fresh_code().await).await;
        chrome.click("#verify-code button").await;

        // Back on the sensitive page, with the new authentication.
        chrome.wait_for("#authentication").await;
        chrome.wait_for_path("/sensitive").await;
        assert!(chrome.url().await.starts_with(&sys.client_url));
        assert_eq!(chrome.text_of("#auth-acr").await, MFA);
        let amr = chrome.text_of("#auth-amr").await;
        assert!(amr.contains("mfa") && amr.contains("otp"), "{amr}");
        let second = chrome.text_of("#auth-time").await;
        assert!(second > first, "auth_time {first} -> {second}");
        let age: u64 = chrome
            .text_of("#auth-age")
            .await
            .trim_end_matches(" s")
            .parse()
            .expect("an age in seconds");
        assert!(age <= MAX_AGE_SECS + SKEW_SECS, "{age} s old");
        chrome.set_dark(true).await;
        chrome.shoot("sensitive-stepped-up-dark").await;
        chrome.set_dark(false).await;
    })
    .await;
    chrome.finish(outcome).await;
}
