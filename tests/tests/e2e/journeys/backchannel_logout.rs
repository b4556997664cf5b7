//! Back-channel logout with the real identity server and web client: signing out at the
//! identity server itself (its logout page, not through the web client) signs the web client
//! out within a second, because the identity server POSTs a logout token to the web client's
//! `/backchannel-logout`; another person's session stays. In the cookie-jar browser and in
//! headless Chromium.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::helpers::chrome::{Chrome, catching};
use crate::helpers::flows::{ALICE, BOB, first_visit_with_totp, prove_email_in_chrome};
use crate::helpers::system::TestSystem;
use crate::helpers::tls;
use crate::helpers::totp::Authenticator;
use crate::helpers::web::WebBrowser;

/// How long the web client may take to be signed out after the identity server's logout.
const WITHIN: Duration = Duration::from_secs(1);

/// Whether `browser` is signed in at the web client: `/` shows the claims (200) rather than
/// redirecting to the identity server's authorize endpoint. One request, no redirect followed.
async fn signed_in_at_the_client(sys: &TestSystem, browser: &WebBrowser) -> bool {
    let url = url::Url::parse(&format!("{}/", sys.client_url)).unwrap();
    let (hop, _) = browser.request(Method::GET, &url, None).await;
    match hop.status {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            let to = hop.location.expect("a location");
            assert!(
                to.as_str()
                    .starts_with(&format!("{}/connect/authorize", sys.idp_url)),
                "{to}"
            );
            false
        }
        other => panic!("GET / at the web client answered {other}"),
    }
}

/// Polls until `browser` is signed out at the web client; how long that took, or `None` past
/// [`WITHIN`].
async fn signed_out_within(sys: &TestSystem, browser: &WebBrowser) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() <= WITHIN {
        if !signed_in_at_the_client(sys, browser).await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

#[tokio::test]
async fn logging_out_at_the_identity_server_signs_the_web_client_out_within_a_second() {
    let sys = TestSystem::start().await;
    let alice = sys.browser();
    first_visit_with_totp(&sys, &alice, &ALICE).await;
    let bob = sys.browser();
    first_visit_with_totp(&sys, &bob, &BOB).await;
    assert!(signed_in_at_the_client(&sys, &alice).await);
    assert!(signed_in_at_the_client(&sys, &bob).await);

    // Alice logs out at the identity server's own logout page.
    let confirm = alice.open(&format!("{}/Account/Logout", sys.idp_url)).await;
    let logged_out = alice
        .submit(&confirm, &confirm.form("logout-form"), None)
        .await;
    assert!(
        logged_out.doc().by_id("logged-out").is_some(),
        "{}",
        logged_out.excerpt()
    );
    assert!(logged_out.url.as_str().starts_with(&sys.idp_url));

    let took = signed_out_within(&sys, &alice)
        .await
        .expect("the web client signs alice out within a second");
    eprintln!("back-channel logout took {took:?}");
    // Her next visit starts at the login page; bob's session (another sid) is untouched.
    let again = alice.open(&format!("{}/", sys.client_url)).await;
    crate::helpers::flows::assert_login_page(&sys, &again);
    assert!(
        signed_in_at_the_client(&sys, &bob).await,
        "bob stays signed in"
    );
}

/// Types alice's credentials into the login page and presses "Login".
async fn log_in(chrome: &Chrome) {
    chrome.wait_for("#login-form").await;
    chrome.type_into("#username", ALICE.username).await;
    chrome.type_into("#password", ALICE.password).await;
    chrome.click("#login").await;
}

#[tokio::test]
async fn in_chromium_logging_out_at_the_identity_server_signs_the_web_client_out() {
    let sys = TestSystem::start().await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("backchannel-logout", &spki).await else {
        return;
    };
    let outcome = catching(async {
        chrome.open(&format!("{}/", sys.client_url)).await;
        log_in(&chrome).await;
        prove_email_in_chrome(&chrome, &sys).await;
        chrome.click("#choose-totp button").await;
        let key = chrome.text_of("#totp-secret").await;
        let code = Authenticator::from_key(&key).fresh_code().await;
        chrome.type_into("#code", &code).await;
        chrome.click("#confirm-totp button").await;
        chrome.click("#saved").await;
        chrome.click("#recovery-codes-continue button").await;
        chrome.wait_for("#claims").await;

        // Log out at the identity server, in the same browser.
        chrome
            .open(&format!("{}/Account/Logout", sys.idp_url))
            .await;
        chrome.wait_for("#logout-form").await;
        chrome.click("#logout").await;
        chrome.wait_for("#logged-out").await;

        // The web client no longer shows her claims: it sends her to the login page.
        let start = Instant::now();
        loop {
            chrome.open(&format!("{}/", sys.client_url)).await;
            if chrome.url().await.starts_with(&sys.idp_url) {
                break;
            }
            assert!(
                start.elapsed() <= WITHIN,
                "still signed in at the web client after {WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        chrome.wait_for("#login-form").await;
    })
    .await;
    chrome.finish(outcome).await;
}
