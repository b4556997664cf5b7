//! Every page a person meets, in real headless Chromium, checked like a reviewer would: axe-core
//! in the light and the dark scheme on each page of the three apps (no violation of impact
//! serious or critical), the product's name and the page in each title, a primary way forward
//! on every error and end page, Back after signing in, a pasted code with a space, no sideways
//! scrolling on a phone; and a screenshot of each page at 1280x800 and 390x844 under
//! `<target dir>/screenshots/` (see `helpers::chrome`).

use authsignal_emulator::Outcome;

use crate::helpers::chrome::{Chrome, axe_source, catching};
use crate::helpers::flows::{ALICE, newest_proof_code, prove_email_in_chrome};
use crate::helpers::system::{LOGIN_ACTION, TestSystem};
use crate::helpers::tls;
use crate::helpers::totp::Authenticator;

/// The product name every title ends with ("<page> · <product>"; the emulator's tenant has the
/// same name by default).
const PRODUCT: &str = " · Authsignal MFA Demo";

/// From the client's home, the password step of a fresh sign-in.
async fn sign_in_with_password(chrome: &Chrome, sys: &TestSystem) {
    chrome.open(&format!("{}/", sys.client_url)).await;
    chrome.wait_for("#login-form").await;
    chrome.type_into("#username", ALICE.username).await;
    chrome.type_into("#password", ALICE.password).await;
    chrome.click("#login").await;
}

/// One page of the tour: its title, axe in light and dark, the screenshots.
async fn page(chrome: &Chrome, axe: Option<&str>, label: &str, title: &str) {
    let shown = chrome.title().await;
    assert_eq!(shown, format!("{title}{PRODUCT}"), "title of '{label}'");
    chrome.check_accessibility(axe, label).await;
    chrome.shoot(label).await;
}

/// Waits (a few seconds at most: `autofocus` applies once the page has loaded) until the
/// element with id `id` has the focus; panics naming the element that has it instead.
async fn assert_focus_on(chrome: &Chrome, id: &str, why: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let focused = chrome
            .page()
            .evaluate_expression("document.activeElement ? document.activeElement.id : ''")
            .await
            .ok()
            .and_then(|v| v.into_value::<String>().ok())
            .unwrap_or_default();
        if focused == id {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{why}: the focus is on '{focused}', not on '{id}'"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Asserts that the page has no horizontal scrolling on a phone.
async fn fits_a_phone(chrome: &Chrome, label: &str) {
    chrome.at_phone_size().await;
    let (content, window) = chrome.widths().await;
    chrome.at_window_size().await;
    assert!(
        content <= window,
        "'{label}' is {content} px wide on a {window} px phone: it scrolls sideways"
    );
}

async fn property(chrome: &Chrome, selector: &str, name: &str) -> serde_json::Value {
    chrome
        .wait_for(selector)
        .await
        .property(name)
        .await
        .ok()
        .flatten()
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test]
async fn in_chromium_every_page_of_the_journeys_is_accessible_titled_and_leads_somewhere_in_light_and_dark()
 {
    // Manage MFA adds email codes below: a tenant with email self-service.
    let sys = TestSystem::start_with(crate::helpers::system::Options {
        email_self_service: true,
        ..Default::default()
    })
    .await;
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("tour", &spki).await else {
        return;
    };
    let axe = axe_source();
    let axe = axe.as_deref();
    let outcome = catching(async {
        // The identity server's login page, and a wrong password.
        chrome.open(&format!("{}/", sys.client_url)).await;
        chrome.wait_for("#login-form").await;
        page(&chrome, axe, "login", "Sign in").await;
        chrome.set_dark(true).await;
        chrome.shoot("login-dark").await;
        chrome.set_dark(false).await;
        chrome.type_into("#username", ALICE.username).await;
        chrome.type_into("#password", "not her password").await;
        chrome.click("#login").await;
        chrome.wait_for("#error").await;
        assert_focus_on(&chrome, "password", "after a wrong password").await;
        page(&chrome, axe, "login-wrong-password", "Sign-in failed").await;

        // The hosted method choice, and Cancel: the client says so and offers to start again.
        chrome.type_into("#password", ALICE.password).await;
        chrome.click("#login").await;
        // The email proof before a first enrollment: a wrong code, then the right one.
        chrome.wait_for("#email-proof-form").await;
        assert_focus_on(&chrome, "code", "on the email proof").await;
        page(&chrome, axe, "email-proof", "Confirm your email").await;
        let masked = chrome.text_of("#masked-email").await;
        let code = newest_proof_code(&sys.emulator, &masked);
        let wrong: String = code
            .bytes()
            .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
            .collect();
        chrome.type_into("#code", &wrong).await;
        chrome.click("#verify").await;
        chrome.wait_for("#code-error").await;
        assert_focus_on(&chrome, "code", "after a wrong email code").await;
        page(
            &chrome,
            axe,
            "email-proof-wrong-code",
            "Confirm your email: try again",
        )
        .await;
        chrome.type_into("#code", &code).await;
        chrome.click("#verify").await;
        chrome.wait_for("#choose-totp").await;
        assert!(chrome.url().await.starts_with(&sys.emulator_url));
        assert!(
            chrome.text_of("#dev-marker").await.contains("emulator"),
            "the emulator says what it is"
        );
        page(
            &chrome,
            axe,
            "enroll-choose",
            "Set up two-step verification",
        )
        .await;
        chrome.click("#cancel button").await;
        chrome.wait_for("#error-title").await;
        assert!(chrome.url().await.starts_with(&sys.client_url));
        page(&chrome, axe, "sign-in-cancelled", "Sign-in cancelled").await;

        // Start again, for real this time: the authenticator app.
        chrome.click("#start-again").await;
        chrome.wait_for("#login-form").await;
        chrome.type_into("#username", ALICE.username).await;
        chrome.type_into("#password", ALICE.password).await;
        chrome.click("#login").await;
        prove_email_in_chrome(&chrome, &sys).await;
        chrome.click("#choose-totp button").await;
        let key = chrome.text_of("#totp-secret").await;
        assert!(
            key.split(' ').all(|g| g.len() <= 4) && key.contains(' '),
            "the key in groups of four: {key}"
        );
        assert_eq!(chrome.text_of("#totp-account").await, ALICE.username);
        assert_eq!(
            property(&chrome, "button.copy", "hidden").await,
            serde_json::json!(false),
            "with JavaScript the copy button shows"
        );
        page(&chrome, axe, "enroll-totp", "Set up your authenticator app").await;
        fits_a_phone(&chrome, "enroll-totp").await;
        let app = Authenticator::from_key(&key);
        chrome.type_into("#code", &app.fresh_code().await).await;
        chrome.click("#confirm-totp button").await;

        chrome.wait_for(".recovery-code").await;
        chrome.wait_for("#download-codes").await;
        page(&chrome, axe, "recovery-codes", "Save your recovery codes").await;
        fits_a_phone(&chrome, "recovery-codes").await;
        // Tick "I have saved my recovery codes" and see that it took: the phone-size check
        // above has just resized the page, and a click during that relayout can miss, after
        // which the required box silently keeps the form from being sent.
        for _ in 0..50 {
            let ticked = chrome.wait_for("#saved").await.property("checked").await;
            if ticked.ok().flatten() == Some(serde_json::json!(true)) {
                break;
            }
            chrome.click("#saved").await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        chrome.click("#recovery-codes-continue button").await;

        // The claims page.
        chrome.wait_for("#claims").await;
        assert!(chrome.url().await.starts_with(&sys.client_url));
        page(&chrome, axe, "claims", "Your claims").await;
        chrome.set_dark(true).await;
        chrome.shoot("claims-dark").await;
        chrome.set_dark(false).await;
        fits_a_phone(&chrome, "claims").await;

        // Back after signing in: no failure, the person is on, signed in.
        chrome.back().await;
        chrome.wait_for("#signed-in").await;
        assert!(chrome.url().await.starts_with(&sys.idp_url));
        assert!(
            chrome.text().await.contains("Continue to Web client"),
            "{}",
            chrome.text().await
        );
        page(&chrome, axe, "back-after-sign-in", "Signed in").await;
        chrome.back().await;
        chrome.wait_for("#signed-in").await;

        chrome.open(&format!("{}/userinfo", sys.client_url)).await;
        chrome.wait_for("#userinfo").await;
        page(&chrome, axe, "userinfo", "Userinfo").await;

        // The sensitive page: the second factor of this sign-in is recent enough.
        chrome.open(&format!("{}/sensitive", sys.client_url)).await;
        chrome.wait_for("#authentication").await;
        page(&chrome, axe, "sensitive", "Sensitive page").await;
        fits_a_phone(&chrome, "sensitive").await;

        // Manage MFA, linked from the claims page: a fresh challenge (a code pasted with a
        // space), the settings, email added, a removal asked about and declined, "Done".
        chrome.open(&format!("{}/", sys.client_url)).await;
        chrome.click("#manage-mfa-link").await;
        chrome.wait_for("#manage-mfa-form").await;
        assert!(chrome.url().await.starts_with(&sys.idp_url));
        page(&chrome, axe, "manage-mfa", "Two-step verification").await;
        chrome.click("#manage-mfa").await;
        chrome.wait_for("#verify-code").await;
        page(&chrome, axe, "challenge", "Verify it's you").await;
        let context = chrome.text_of("#challenge-context").await;
        assert!(
            context.starts_with("Two-step verification settings · Chrome")
                && context.ends_with(" UTC"),
            "the challenge says what it approves: {context}"
        );
        let code = app.fresh_code().await;
        let pasted = format!("{} {}", &code[..3], &code[3..]);
        chrome.type_into("#code", &pasted).await;
        assert_eq!(
            property(&chrome, "#code", "value").await,
            serde_json::json!(pasted),
            "the field keeps all of \"123 456\""
        );
        chrome.click("#verify-code button").await;
        chrome.wait_for("#settings-done").await;
        page(&chrome, axe, "settings", "Your authenticators").await;
        chrome.click("#choose-email button").await;
        chrome.wait_for("#enroll-email").await;
        page(&chrome, axe, "enroll-email-address", "Set up email codes").await;
        chrome.type_into("#email", ALICE.email).await;
        chrome.click("#enroll-email button").await;
        chrome.wait_for("#confirm-email").await;
        page(&chrome, axe, "enroll-email-code", "Confirm your email").await;
        chrome.type_into("#code", "000000").await;
        chrome.click("#confirm-email button").await;
        chrome.wait_for("#error").await;
        assert_eq!(
            property(&chrome, "#code", "ariaInvalid").await,
            serde_json::json!("true")
        );
        page(&chrome, axe, "enroll-email-wrong-code", "Check the code").await;
        let code = sys
            .emulator
            .latest_code_for(ALICE.email)
            .expect("a code was emailed");
        chrome.type_into("#code", &code).await;
        chrome.click("#confirm-email button").await;
        chrome.wait_for("#notice").await;
        chrome.wait_for("#settings-done").await;
        chrome
            .click("ul.authenticators li:last-child form[id^=remove-] button")
            .await;
        chrome.wait_for("#confirm-remove").await;
        page(&chrome, axe, "confirm-remove", "Remove an authenticator?").await;
        chrome.click("#keep button").await;
        chrome.wait_for("#settings-done").await;
        chrome.click("#settings-done button").await;
        chrome.wait_for_text("Your changes are saved.").await;
        assert!(chrome.text().await.contains("Added: Email code."));
        page(&chrome, axe, "manage-mfa-saved", "Two-step verification").await;

        // The sessions page, linked from the identity server's home page: this browser's
        // session marked, a "Sign out" per session and "Sign out everywhere".
        chrome.open(&format!("{}/", sys.idp_url)).await;
        chrome.click("#sessions-link").await;
        chrome.wait_for("#sessions").await;
        assert!(chrome.text().await.contains("(this browser)"));
        page(&chrome, axe, "sessions", "Your sessions").await;
        fits_a_phone(&chrome, "sessions").await;

        // The dev outbox, readable on a phone.
        chrome
            .open(&format!("{}/dev/outbox", sys.emulator_url))
            .await;
        chrome.wait_for("#outbox").await;
        page(&chrome, axe, "outbox", "Dev outbox").await;
        fits_a_phone(&chrome, "outbox").await;

        // Signing out at the client, then at the identity server.
        chrome.open(&format!("{}/", sys.client_url)).await;
        chrome.click("#signout button").await;
        chrome.wait_for("#signed-out").await;
        page(&chrome, axe, "signed-out", "Signed out").await;
        chrome
            .open(&format!("{}/Account/Logout", sys.idp_url))
            .await;
        chrome.wait_for("#logout-form").await;
        page(&chrome, axe, "logout", "Log out").await;
        chrome.click("#logout").await;
        chrome.wait_for("#logged-out").await;
        page(&chrome, axe, "logged-out", "Logged out").await;
        chrome.open(&format!("{}/", sys.idp_url)).await;
        chrome.wait_for("#apps").await;
        page(&chrome, axe, "identity-server-home", "Home").await;

        // Error and end pages: each names itself and offers a way forward.
        for (url, selector, label, title) in [
            (
                format!("{}/no/such/page", sys.idp_url),
                "#continue",
                "identity-server-not-found",
                "Not found",
            ),
            (
                format!("{}/no/such/page", sys.client_url),
                "#start-again",
                "client-not-found",
                "Not found",
            ),
            (
                format!("{}/Account/Notice?reason=expired", sys.idp_url),
                "#continue",
                "sign-in-not-completed",
                "Sign-in not completed",
            ),
            (
                format!("{}/Account/Login?ar=no-such-request", sys.idp_url),
                "#continue",
                "sign-in-link-expired",
                "Sign-in link expired",
            ),
            (
                format!("{}/Account/Mfa", sys.idp_url),
                "#continue",
                "manage-mfa-signed-out",
                "Sign in first",
            ),
        ] {
            chrome.open(&url).await;
            chrome.wait_for(selector).await;
            page(&chrome, axe, label, title).await;
        }
        chrome
            .open(&format!("{}/no/such/page", sys.emulator_url))
            .await;
        chrome.wait_for("#continue").await;
        assert_eq!(
            chrome.title().await,
            "Page not found · Authsignal emulator",
            "the emulator's error pages run without its tenant"
        );
        chrome.check_accessibility(axe, "emulator-not-found").await;
        chrome.shoot("emulator-not-found").await;

        // Account creation: errors at their fields, the focus on the first of them.
        chrome
            .open(&format!("{}/Account/Create", sys.idp_url))
            .await;
        chrome.wait_for("#create-form").await;
        page(&chrome, axe, "create-account", "Create an account").await;
        chrome.type_into("#username", "carol").await;
        chrome.type_into("#password", "password").await;
        chrome.type_into("#name", "Carol").await;
        chrome.type_into("#email", "not-an-address").await;
        chrome.click("#create").await;
        chrome.wait_for("#password-error").await;
        assert_focus_on(&chrome, "password", "the first field in error").await;
        assert_eq!(
            property(&chrome, "#password", "ariaInvalid").await,
            serde_json::json!("true")
        );
        chrome.wait_for("#email-error").await;
        page(&chrome, axe, "create-account-errors", "Check the form").await;

        // Refusals: each says so and leads back to the client.
        for (outcome, label, title) in [
            (Outcome::Block, "sign-in-refused", "Sign-in refused"),
            (
                Outcome::Review,
                "sign-in-under-review",
                "Sign-in under review",
            ),
        ] {
            sys.emulator.set_action_outcome(LOGIN_ACTION, outcome);
            sign_in_with_password(&chrome, &sys).await;
            chrome.wait_for("#reference").await;
            assert_eq!(chrome.text_of("#continue").await, "Back to Web client");
            page(&chrome, axe, label, title).await;
        }
        sys.emulator
            .set_action_outcome(LOGIN_ACTION, Outcome::Challenge);

        // The next login's challenge by email (enrolled above) and by recovery code.
        sign_in_with_password(&chrome, &sys).await;
        chrome.wait_for("#verify-code").await;
        chrome.click("#choose-email button").await;
        chrome.wait_for("#resend").await;
        assert_eq!(chrome.text_of("#code-destination").await, ALICE.email);
        let context = chrome.text_of("#challenge-context").await;
        assert!(
            context.starts_with("Web client · Chrome") && context.ends_with(" UTC"),
            "the challenge names the application, browser, address and time: {context}"
        );
        assert!(chrome.text().await.contains("This wasn't me"));
        page(&chrome, axe, "challenge-email", "Verify it's you").await;
        chrome.wait_for("#resend-wait").await;
        chrome.click("#resend button").await;
        chrome.wait_for_text("You can ask for a new one in").await;
        page(
            &chrome,
            axe,
            "challenge-email-resend-too-soon",
            "Verify it's you",
        )
        .await;
        chrome.click("#use-recovery-code button").await;
        chrome.wait_for("#code-hint").await;
        page(&chrome, axe, "challenge-recovery-code", "Verify it's you").await;
        chrome.click("#cancel button").await;
        chrome.wait_for("#error-title").await;
        assert!(chrome.text().await.contains("Sign-in cancelled"));
    })
    .await;
    chrome.finish(outcome).await;
}
