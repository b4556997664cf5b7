//! The login page in real headless Chromium: what a person sees when the password is wrong, and
//! that the right one leads to the authenticator setup with a scannable QR code.

use crate::helpers::chrome::{Chrome, catching};
use crate::helpers::flows::{ALICE, prove_email_in_chrome};
use crate::helpers::system::TestSystem;
use crate::helpers::tls;

#[tokio::test]
async fn in_chromium_a_wrong_password_is_refused_and_the_right_one_leads_to_the_authenticator_setup()
 {
    let sys = TestSystem::start().await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("login-page", &spki).await else {
        return;
    };
    let outcome = catching(async {
        chrome.open(&format!("{}/", sys.client_url)).await;
        chrome.wait_for("#login-form").await;
        assert!(
            chrome.url().await.starts_with(&sys.idp_url),
            "sent to the identity server"
        );
        assert!(
            chrome.text().await.contains("Web client"),
            "the login page names the client"
        );

        chrome.type_into("#username", ALICE.username).await;
        chrome.type_into("#password", "not her password").await;
        chrome.click("#login").await;
        chrome.wait_for_text("Invalid username or password.").await;
        let typed = chrome
            .wait_for("#password")
            .await
            .property("value")
            .await
            .ok()
            .flatten();
        assert_eq!(
            typed,
            Some(serde_json::json!("")),
            "the password field is empty again"
        );

        // The username is kept; the person types the right password and presses Enter.
        let username = chrome
            .wait_for("#username")
            .await
            .property("value")
            .await
            .ok()
            .flatten();
        assert_eq!(username, Some(serde_json::json!(ALICE.username)));
        chrome.type_into("#password", ALICE.password).await;
        chrome
            .wait_for("#password")
            .await
            .press_key("Enter")
            .await
            .expect("enter");

        // The email proof, then Authsignal's hosted page: set up the authenticator app.
        prove_email_in_chrome(&chrome, &sys).await;
        chrome.click("#choose-totp button").await;
        let key = chrome.text_of("#totp-secret").await.replace(' ', "");
        assert!(key.len() >= 26, "a base32 key of at least 128 bits: {key}");
        assert!(chrome.url().await.starts_with(&sys.emulator_url));
        let qr = chrome.wait_for("p.qr img").await;
        let loaded = qr.property("naturalWidth").await.ok().flatten();
        assert!(
            loaded.and_then(|w| w.as_u64()).is_some_and(|w| w > 0),
            "the QR code image renders (CSP allows it)"
        );
    })
    .await;
    chrome.finish(outcome).await;
}
