//! The limits an attacker who holds a user's password meets at the hosted pages: wrong codes
//! per challenge (checked and counted in one step, so parallel guesses cannot pass it) and codes
//! sent per address across every session and the Server API (no email flood).

use authsignal_sdk::{UserActionState, ValidateChallengeRequest};
use reqwest::StatusCode;

use crate::helpers::{enrolled_user, settings, spawn_with, with_redirect, wrong_code};

#[tokio::test]
async fn thirty_parallel_wrong_codes_on_one_challenge_evaluate_exactly_the_limit() {
    // Several workers, so that the guesses really run at once.
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        workers: Some(4),
        ..settings()
    })
    .await;
    let secret = enrolled_user(&app, "ursula").await;
    let decision = app
        .track("ursula", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let guesses = (0..30).map(|_| {
        let (browser, page, code) = (&browser, &page, wrong_code(&secret));
        async move {
            browser
                .submit(page, "verify-code", &[("code", code.as_str())])
                .await
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    // A code looked at answers 303 to the page again (with its error), or, for the one that
    // failed the challenge, to the relying party with a token. One refused unseen answers 429
    // (the limit is reached), 403, or a 303 to the relying party *without* a token (the flow
    // has ended: the browser is sent on).
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
        "{statuses:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.location.as_deref().is_some_and(|l| l.contains("token=")))
            .count(),
        1,
        "one code failed the challenge: {statuses:?}"
    );
    assert_eq!(evaluated + refused, 30, "{statuses:?}");
    let result = app
        .sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: decision.token.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(result.state, Some(UserActionState::ChallengeFailed));
}
