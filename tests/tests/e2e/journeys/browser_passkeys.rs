//! Passkeys in real headless Chromium with its virtual authenticator (CTAP 2, internal,
//! resident keys, user verification): alice adds a passkey after her password and authenticator
//! app, and the login page's autofill signs her in on her next visit; with presence simulation
//! off the password still works and nothing errors; without user verification, or with a passkey
//! removed at the identity server, nobody is signed in.

use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::web_authn::EventCredentialAsserted;
use futures_util::StreamExt as _;

use crate::helpers::chrome::{Chrome, catching};
use crate::helpers::flows::{ALICE, prove_email_in_chrome};
use crate::helpers::system::TestSystem;
use crate::helpers::tls;
use crate::helpers::totp::Authenticator;
use crate::helpers::webauthn::VirtualAuthenticator;

/// How long a page is watched to see that nothing happens (no sign-in, no message).
const QUIET: Duration = Duration::from_secs(3);

/// Errors the browser reported, except the favicon it asks every server for.
fn page_errors(chrome: &Chrome) -> Vec<String> {
    chrome
        .errors()
        .into_iter()
        .filter(|line| !line.contains("favicon"))
        .collect()
}

/// First visit: the password, then the authenticator app enrolled; ends on the claims page.
async fn first_visit(chrome: &Chrome, sys: &TestSystem) -> Authenticator {
    chrome.open(&format!("{}/", sys.client_url)).await;
    type_password(chrome).await;
    prove_email_in_chrome(chrome, sys).await;
    chrome.click("#choose-totp button").await;
    let app = Authenticator::from_key(&chrome.text_of("#totp-secret").await);
    chrome.type_into("#code", &app.fresh_code().await).await;
    chrome.click("#confirm-totp button").await;
    chrome.wait_for(".recovery-code").await;
    chrome.click("#saved").await;
    chrome.click("#recovery-codes-continue button").await;
    chrome.wait_for("#claims").await;
    app
}

async fn type_password(chrome: &Chrome) {
    chrome.wait_for("#login-form").await;
    chrome.type_into("#username", ALICE.username).await;
    chrome.type_into("#password", ALICE.password).await;
    chrome.click("#login").await;
}

/// From the web client's claims page to the identity server's passkeys page, and a passkey
/// created there.
/// Each of its pages is checked with axe-core in light and dark (as the tour checks the others).
async fn add_passkey(chrome: &Chrome, sys: &TestSystem) {
    let axe = crate::helpers::chrome::axe_source();
    chrome.click("#passkeys-link").await;
    chrome.wait_for("#no-passkeys").await;
    assert!(chrome.url().await.starts_with(&sys.idp_url));
    chrome
        .check_accessibility(axe.as_deref(), "passkeys-empty")
        .await;
    chrome.click("#add-passkey").await;
    chrome.wait_for("#passkey-create").await;
    chrome
        .check_accessibility(axe.as_deref(), "passkey-add")
        .await;
    chrome.click("#passkey-create").await;
    chrome
        .wait_for_text("Your passkey was added. You can sign in with it now.")
        .await;
    chrome
        .check_accessibility(axe.as_deref(), "passkeys-list")
        .await;
    let name = chrome.text_of(".passkey-name").await;
    assert_eq!(
        name, "Chromium virtual authenticator",
        "named from the AAGUID"
    );
}

async fn sign_out(chrome: &Chrome, sys: &TestSystem) {
    chrome.open(&format!("{}/", sys.client_url)).await;
    chrome.click("#signout button").await;
    chrome.wait_for("#signed-out").await;
}

/// The claims page of the web client, with alice's subject; returns the `amr` shown.
async fn claims_of_alice(chrome: &Chrome, sys: &TestSystem) -> String {
    chrome.wait_for("#claims").await;
    chrome.wait_for_path("/").await;
    assert!(chrome.url().await.starts_with(&sys.client_url));
    let text = chrome.text().await;
    assert!(text.contains(ALICE.sub), "alice's subject: {text}");
    chrome.text_of("#properties").await
}

/// Opens the client signed out: the login page, with the passkey script running.
async fn login_page_with_passkeys(chrome: &Chrome, sys: &TestSystem) {
    chrome.open(&format!("{}/", sys.client_url)).await;
    chrome.wait_for("#login-form").await;
    chrome.wait_for("#passkey-signin").await;
}

/// Watches the page for [`QUIET`]: it stays the login page, without a passkey message.
async fn stays_on_the_login_page(chrome: &Chrome) {
    tokio::time::sleep(QUIET).await;
    let url = chrome.url().await;
    assert!(
        url::Url::parse(&url).is_ok_and(|u| u.path() == "/Account/Login"),
        "expected to stay on the login page, on {url}: {}",
        chrome.text().await
    );
    assert_eq!(chrome.text_of("#passkey-status").await, "", "no message");
}

#[tokio::test]
async fn in_chromium_alice_adds_a_passkey_and_autofill_signs_her_in_on_her_next_visit() {
    let sys = TestSystem::start().await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("passkey-autofill", &spki).await else {
        return;
    };
    let outcome = catching(async {
        let authenticator = VirtualAuthenticator::attach(&chrome).await;
        first_visit(&chrome, &sys).await;
        add_passkey(&chrome, &sys).await;
        let credentials = authenticator.credentials(&chrome).await;
        assert_eq!(credentials.len(), 1);
        assert!(
            credentials[0].is_resident_credential,
            "a discoverable passkey"
        );
        assert_eq!(credentials[0].rp_id.as_deref(), Some("localhost"));

        sign_out(&chrome, &sys).await;
        // The next visit: the login page's autofill request finds the passkey by itself (the
        // virtual authenticator answers a conditional request like a person picking it).
        chrome.open(&format!("{}/", sys.client_url)).await;
        let amr = claims_of_alice(&chrome, &sys).await;
        assert!(amr.contains("pop"), "signed in with a passkey: {amr}");
        assert!(!amr.contains("pwd"), "no password: {amr}");
        let errors = page_errors(&chrome);
        assert!(
            errors.is_empty(),
            "the browser reported errors: {errors:#?}"
        );
    })
    .await;
    chrome.finish(outcome).await;
}

#[tokio::test]
async fn in_chromium_with_presence_off_the_password_still_works_and_nothing_errors() {
    let sys = TestSystem::start().await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("passkey-presence-off", &spki).await else {
        return;
    };
    let outcome = catching(async {
        let authenticator = VirtualAuthenticator::attach(&chrome).await;
        let app = first_visit(&chrome, &sys).await;
        add_passkey(&chrome, &sys).await;
        sign_out(&chrome, &sys).await;

        // Nobody picks the passkey: the autofill request stays pending.
        authenticator.set_presence(&chrome, false).await;
        login_page_with_passkeys(&chrome, &sys).await;
        stays_on_the_login_page(&chrome).await;
        type_password(&chrome).await;
        chrome.wait_for("#verify-code").await;
        chrome.type_into("#code", &app.fresh_code().await).await;
        chrome.click("#verify-code button").await;
        let amr = claims_of_alice(&chrome, &sys).await;
        assert!(amr.contains("pwd") && amr.contains("otp"), "{amr}");
        assert!(!amr.contains("pop"), "{amr}");
        let errors = page_errors(&chrome);
        assert!(
            errors.is_empty(),
            "the browser reported errors: {errors:#?}"
        );
    })
    .await;
    chrome.finish(outcome).await;
}

#[tokio::test]
async fn in_chromium_without_user_verification_the_passkey_signs_nobody_in() {
    let sys = TestSystem::start().await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("passkey-no-uv", &spki).await else {
        return;
    };
    let outcome = catching(async {
        let authenticator = VirtualAuthenticator::attach(&chrome).await;
        first_visit(&chrome, &sys).await;
        add_passkey(&chrome, &sys).await;
        sign_out(&chrome, &sys).await;

        authenticator.set_user_verified(&chrome, false).await;
        login_page_with_passkeys(&chrome, &sys).await;
        stays_on_the_login_page(&chrome).await;
        // The button's modal request is refused too, silently.
        chrome.click("#passkey-signin").await;
        stays_on_the_login_page(&chrome).await;
        let errors = page_errors(&chrome);
        assert!(
            errors.is_empty(),
            "the browser reported errors: {errors:#?}"
        );

        // The same passkey with the user verified: it was user verification that was missing.
        authenticator.set_user_verified(&chrome, true).await;
        chrome.click("#passkey-signin").await;
        let amr = claims_of_alice(&chrome, &sys).await;
        assert!(amr.contains("pop"), "{amr}");
    })
    .await;
    chrome.finish(outcome).await;
}

#[tokio::test]
async fn in_chromium_a_passkey_removed_at_the_identity_server_is_refused() {
    let sys = TestSystem::start().await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("passkey-removed", &spki).await else {
        return;
    };
    let outcome = catching(async {
        let authenticator = VirtualAuthenticator::attach(&chrome).await;
        first_visit(&chrome, &sys).await;
        add_passkey(&chrome, &sys).await;
        chrome.click(".remove-passkey").await;
        chrome.wait_for_text("The passkey was removed.").await;
        chrome.wait_for("#no-passkeys").await;
        assert_eq!(
            authenticator.credentials(&chrome).await.len(),
            1,
            "the authenticator still holds it"
        );
        sign_out(&chrome, &sys).await;

        let mut asserted = chrome
            .page()
            .event_listener::<EventCredentialAsserted>()
            .await
            .expect("credential events");
        login_page_with_passkeys(&chrome, &sys).await;
        // The authenticator answers the autofill request with the kept passkey...
        tokio::time::timeout(Duration::from_secs(20), asserted.next())
            .await
            .expect("the authenticator was asked and answered")
            .expect("an assertion event");
        // ...and the service refuses it: nobody is signed in, nothing is shown.
        stays_on_the_login_page(&chrome).await;
        assert!(chrome.page().find_element("#claims").await.is_err());
    })
    .await;
    chrome.finish(outcome).await;
}
