//! The hosted challenge says what it approves, and "This wasn't me" (an emulator extension)
//! ends it: someone holding a password who sends the challenge link to the account's owner gets
//! nothing from it.

use authsignal_sdk::{TrackAttributes, UserActionState, ValidateChallengeRequest};
use reqwest::StatusCode;

use crate::helpers::{TestApp, element_text, enrolled_user, form, spawn, totp_code};

const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36";

fn login_attributes(client_name: &str) -> TrackAttributes {
    let mut custom = serde_json::Map::new();
    custom.insert("clientName".into(), client_name.into());
    TrackAttributes {
        redirect_url: Some("https://rp.example/cb?x=1".into()),
        ip_address: Some("203.0.113.7".into()),
        user_agent: Some(CHROME_LINUX.into()),
        custom: Some(custom),
        ..Default::default()
    }
}

async fn is_valid(app: &TestApp, token: &str) -> bool {
    app.sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: token.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_valid
}

#[tokio::test]
async fn the_challenge_page_names_the_application_browser_address_and_time_escaped() {
    let app = spawn().await;
    enrolled_user(&app, "uma").await;
    let before = chrono::Utc::now();
    let decision = app
        .track("uma", "login", login_attributes("<b>Web</b> client"))
        .await;
    let page = app.browser().open(&decision.url).await;
    let shown = element_text(&page.body, "challenge-context").expect("the request is described");
    let expected_time = before.format("%-d %b %Y, %H:").to_string();
    assert!(
        shown.starts_with("<b>Web</b> client · Chrome on Linux · 203.0.113.7 · "),
        "application, browser, address: {shown}"
    );
    assert!(
        shown.contains(&expected_time) && shown.ends_with(" UTC"),
        "{shown}"
    );
    assert!(page.body.contains("&lt;b&gt;Web"), "escaped");
    assert!(!page.body.contains("<b>Web</b>"), "never rendered as HTML");
    assert!(
        form(&page.body, "not-me").is_some(),
        "\"This wasn't me\" is offered"
    );
}

#[tokio::test]
async fn this_wasnt_me_fails_the_action_and_a_correct_code_afterwards_does_not_succeed() {
    let app = spawn().await;
    let secret = enrolled_user(&app, "vera").await;
    let decision = app
        .track("vera", "login", login_attributes("Web client"))
        .await;
    // The owner's browser, and a second hosted session of the same action (e.g. the link
    // opened elsewhere) that still holds a challenge page.
    let owner = app.browser();
    let other = app.browser();
    let page = owner.open(&decision.url).await;
    let other_page = other.open(&decision.url).await;

    let left = owner.submit(&page, "not-me", &[]).await;
    assert_eq!(left.status, StatusCode::SEE_OTHER);
    assert_eq!(
        left.location.as_deref(),
        Some("https://rp.example/cb?x=1"),
        "back like Cancel, without a token"
    );
    let action = app
        .sdk
        .get_action("vera", "login", &decision.idempotency_key)
        .await
        .unwrap();
    assert_eq!(action.state, UserActionState::ChallengeFailed);
    assert_eq!(
        action.output.as_ref().unwrap()["reportedNotMe"],
        serde_json::Value::Bool(true),
        "the report is recorded on the action"
    );

    let late = other
        .submit(
            &other_page,
            "verify-code",
            &[("code", &totp_code(&secret, 0))],
        )
        .await;
    assert_ne!(late.status, StatusCode::SEE_OTHER, "{late:?}");
    assert!(late.location.is_none_or(|l| !l.contains("token=")));
    assert!(!is_valid(&app, &decision.token).await);
    let action = app
        .sdk
        .get_action("vera", "login", &decision.idempotency_key)
        .await
        .unwrap();
    assert_eq!(action.state, UserActionState::ChallengeFailed);
}

#[tokio::test]
async fn this_wasnt_me_needs_the_pages_csrf_token() {
    let app = spawn().await;
    enrolled_user(&app, "wynn").await;
    let decision = app
        .track("wynn", "login", login_attributes("Web client"))
        .await;
    let browser = app.browser();
    browser.open(&decision.url).await;
    let response = browser
        .client
        .post(format!("{}/not-me", app.base_url))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Nor does a cross-site post without this browser's session end it.
    let stranger = app.browser();
    let response = stranger
        .client
        .post(format!("{}/not-me", app.base_url))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let action = app
        .sdk
        .get_action("wynn", "login", &decision.idempotency_key)
        .await
        .unwrap();
    assert_eq!(action.state, UserActionState::ChallengeRequired);
    assert_eq!(
        action.output.as_ref().unwrap()["reportedNotMe"],
        serde_json::Value::Bool(false)
    );
}
