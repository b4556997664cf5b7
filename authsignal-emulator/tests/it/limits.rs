//! The limits an attacker who holds a user's password meets at the hosted pages: wrong codes
//! per challenge (checked and counted in one step, so parallel guesses cannot pass it) and codes
//! sent per address across every session and the Server API (no email flood).

use authsignal_sdk::{UserActionState, ValidateChallengeRequest, VerificationMethod};
use reqwest::StatusCode;

use crate::helpers::{
    Page, element_text, enrolled_user, form, settings, spawn_with, with_redirect, wrong_code,
};

/// Thirty wrong codes at once on one new challenge of a new user: the answers.
async fn thirty_parallel_wrong_codes(app: &crate::helpers::TestApp, user: &str) -> Vec<Page> {
    let secret = enrolled_user(app, user).await;
    let decision = app
        .track(user, "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    // Thirty connections open first (spread over the workers), so that the guesses arrive
    // together instead of one TLS handshake apart.
    let warm = (0..30).map(|_| browser.get("/flow"));
    for warmed in futures_util::future::join_all(warm).await {
        assert_eq!(warmed.status, StatusCode::OK);
    }
    let guesses = (0..30).map(|_| {
        let (browser, page, code) = (&browser, &page, wrong_code(&secret));
        async move {
            browser
                .submit(page, "verify-code", &[("code", code.as_str())])
                .await
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let result = app
        .sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: decision.token.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(result.state, Some(UserActionState::ChallengeFailed));
    answers
}

#[tokio::test]
async fn thirty_parallel_wrong_codes_on_one_challenge_evaluate_exactly_the_limit() {
    // Several workers, so that the guesses really run at once; several rounds, since a race
    // needs luck to show.
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        workers: Some(4),
        ..settings()
    })
    .await;
    for round in 0..5 {
        let answers = thirty_parallel_wrong_codes(&app, &format!("ursula{round}")).await;
        // A code looked at answers 303 to the page again (with its error), or, for the one
        // that failed the challenge, to the relying party with a token. One refused unseen
        // answers 429 (the limit is reached), 403, or a 303 to the relying party *without* a
        // token (the flow has ended: the browser is sent on).
        let evaluated = answers
            .iter()
            .filter(|a| {
                a.status == StatusCode::SEE_OTHER
                    && a.location
                        .as_deref()
                        .is_some_and(|l| l == "/flow" || l.contains("token="))
            })
            .count();
        let refused = answers
            .iter()
            .filter(|a| {
                a.status == StatusCode::TOO_MANY_REQUESTS
                    || a.status == StatusCode::FORBIDDEN
                    || a.location.as_deref() == Some("https://rp.example/cb")
            })
            .count();
        let statuses: Vec<_> = answers
            .iter()
            .map(|a| (a.status.as_u16(), a.location.clone()))
            .collect();
        assert_eq!(
            evaluated,
            authsignal_emulator::state::MAX_FAILED_ATTEMPTS as usize,
            "round {round}: {statuses:?}"
        );
        // The code that reached the limit failed the challenge (a code checked at the same time
        // may end on the failed challenge too: both go back with its token).
        assert!(
            answers
                .iter()
                .any(|a| a.location.as_deref().is_some_and(|l| l.contains("token="))),
            "round {round}: the limit failed the challenge: {statuses:?}"
        );
        assert_eq!(evaluated + refused, 30, "round {round}: {statuses:?}");
    }
}

/// `user` with an email authenticator at `address`, enrolled through the Server API (no code).
async fn email_user(app: &crate::helpers::TestApp, user: &str, address: &str) {
    app.sdk
        .enroll_verified_authenticator(
            user,
            &authsignal_sdk::EnrollVerifiedAuthenticatorRequest {
                email: Some(address.into()),
                ..authsignal_sdk::EnrollVerifiedAuthenticatorRequest::new(
                    VerificationMethod::EmailOtp,
                )
            },
        )
        .await
        .unwrap();
}

/// Codes in the outbox for `address`.
fn codes_to(app: &crate::helpers::TestApp, address: &str) -> usize {
    app.handle
        .outbox()
        .iter()
        .filter(|m| m.to == address)
        .count()
}

#[tokio::test]
async fn a_resend_flood_across_new_sessions_to_one_address_is_stopped_with_the_wait_shown() {
    let app = spawn_with(settings()).await;
    email_user(&app, "vera", "vera@example.com").await;
    // Fifteen new sign-ins, each a new hosted session that sends a code and asks for more.
    let mut last = None;
    for _ in 0..15 {
        let decision = app
            .track("vera", "login", with_redirect("https://rp.example/cb"))
            .await;
        let browser = app.browser();
        let page = browser.open(&decision.url).await;
        let again = browser.submit_then_page(&page, "resend", &[]).await;
        last = Some((page, again));
    }
    assert_eq!(
        codes_to(&app, "vera@example.com"),
        1,
        "one code per 30 seconds to an address, whatever the sessions"
    );
    // The page of a new sign-in says that no code went out, and how long to wait.
    let (page, again) = last.unwrap();
    assert_eq!(page.status, StatusCode::OK);
    assert!(form(&page.body, "verify-code").is_some());
    assert_eq!(
        element_text(&page.body, "code-destination").as_deref(),
        Some("vera@example.com")
    );
    assert!(page.body.contains("id=\"code-held\""), "{}", page.body);
    let notice = element_text(&page.body, "notice").expect("a notice says why");
    assert!(
        notice.starts_with("Too many codes were sent to vera@example.com recently"),
        "{notice}"
    );
    let wait: i64 = element_text(&page.body, "resend-wait")
        .expect("the wait is shown")
        .trim_start_matches("(available in ")
        .trim_end_matches(" seconds)")
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Asking again within the wait sends nothing and says so.
    let notice = element_text(&again.body, "notice").expect("a notice says why");
    assert!(notice.contains("You can ask for a new one in"), "{notice}");

    // The Server API's challenge calls count against the same address: 429, nothing sent.
    let answer = app
        .api(reqwest::Method::POST, "/challenge")
        .json(&serde_json::json!({
            "verificationMethod": "EMAIL_OTP",
            "action": "verify-email",
            "email": "Vera@Example.com",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "{body}");
    assert_eq!(codes_to(&app, "vera@example.com"), 1);
    // Another address is not held back.
    email_user(&app, "walt", "walt@example.com").await;
    let decision = app
        .track("walt", "login", with_redirect("https://rp.example/cb"))
        .await;
    app.browser().open(&decision.url).await;
    assert_eq!(codes_to(&app, "walt@example.com"), 1);
}

#[tokio::test]
async fn at_most_five_codes_go_to_one_address_per_window_across_sessions_and_the_server_api() {
    // No wait between codes: the window's cap alone.
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        code_sends: authsignal_emulator::configuration::CodeSendSettings {
            interval_secs: 0,
            ..Default::default()
        },
        ..settings()
    })
    .await;
    email_user(&app, "xena", "xena@example.com").await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        if i % 2 == 0 {
            let decision = app
                .track("xena", "login", with_redirect("https://rp.example/cb"))
                .await;
            let page = app.browser().open(&decision.url).await;
            statuses.push(page.body.contains("id=\"code-held\""));
        } else {
            let answer = app
                .api(reqwest::Method::POST, "/challenge")
                .json(&serde_json::json!({
                    "verificationMethod": "EMAIL_OTP",
                    "action": "verify-email",
                    "email": "xena@example.com",
                }))
                .send()
                .await
                .unwrap();
            statuses.push(answer.status() == StatusCode::TOO_MANY_REQUESTS);
        }
    }
    assert_eq!(codes_to(&app, "xena@example.com"), 5, "{statuses:?}");
    assert_eq!(
        statuses,
        [
            false, false, false, false, false, true, true, true, true, true, true, true
        ],
        "held back: the sixth on"
    );
}

#[tokio::test]
async fn by_default_the_settings_do_not_offer_adding_an_email_address_and_refuse_a_forged_form() {
    let app = spawn_with(settings()).await;
    let secret = enrolled_user(&app, "yuri").await;
    let decision = app
        .track(
            "yuri",
            "manage",
            authsignal_sdk::TrackAttributes {
                redirect_url: Some("https://rp.example/settings".into()),
                redirect_to_settings: Some(true),
                ..Default::default()
            },
        )
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let settings_page = browser
        .submit_then_page(
            &page,
            "verify-code",
            &[("code", &crate::helpers::totp_code(&secret, 30))],
        )
        .await;
    assert!(
        form(&settings_page.body, "settings-done").is_some(),
        "{}",
        settings_page.body
    );
    assert!(form(&settings_page.body, "choose-totp").is_some());
    assert!(
        form(&settings_page.body, "choose-email").is_none(),
        "no email self-service"
    );
    // The form the page does not show, posted anyway: refused, and no code is sent.
    let csrf = form(&settings_page.body, "settings-done").unwrap().fields[0]
        .1
        .clone();
    let forged = browser
        .client
        .post(format!("{}/enroll/email", app.base_url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(app.handle.outbox().is_empty());
    let list = app.sdk.get_authenticators("yuri").await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].verification_method,
        VerificationMethod::AuthenticatorApp
    );
}
