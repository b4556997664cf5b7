//! The hosted pages driven over HTTPS as a browser would: cookies, forms, redirects.

use authsignal_emulator::Outcome;
use authsignal_sdk::{
    TrackAttributes, UserActionState, ValidateChallengeRequest, VerificationMethod,
};
use reqwest::StatusCode;

use crate::helpers::{
    element_text, enrolled_user, form, recovery_codes, settings, spawn, spawn_with, token_of,
    totp_code, with_redirect, wrong_code,
};

async fn validate(
    app: &crate::helpers::TestApp,
    token: &str,
) -> authsignal_sdk::ValidateChallengeResponse {
    app.sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: token.into(),
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_user_enrols_an_authenticator_app_and_returns_with_a_valid_token() {
    let app = spawn().await;
    let decision = app
        .track(
            "alice",
            "identity-server-login",
            TrackAttributes {
                redirect_url: Some(
                    "https://localhost:5001/Account/Login/Callback?returnUrl=abc".into(),
                ),
                username: Some("alice".into()),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(decision.state, UserActionState::Allow);
    assert!(!decision.is_enrolled);
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self';")
            && !csp.contains("unsafe-inline"),
        "only same-origin scripts: {csp}"
    );
    assert!(form(&page.body, "choose-email").is_some());

    let totp_page = browser.submit_then_page(&page, "choose-totp", &[]).await;
    let shown = element_text(&totp_page.body, "totp-secret").unwrap();
    assert!(
        shown.split(' ').all(|group| group.len() <= 4) && shown.contains(' '),
        "the key is shown in groups of four: {shown}"
    );
    let secret = shown.replace(' ', "");
    assert_eq!(
        element_text(&totp_page.body, "totp-account").as_deref(),
        Some("alice"),
        "the account is named"
    );
    let uri = element_text(&totp_page.body, "otpauth-uri").unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Authsignal%20MFA%20Demo:alice?secret="),
        "{uri}"
    );
    assert!(uri.contains("issuer=Authsignal%20MFA%20Demo"));
    assert!(totp_page.body.contains("data:image/svg+xml;base64,"));

    let codes_page = browser
        .submit_then_page(
            &totp_page,
            "confirm-totp",
            &[("code", &totp_code(&secret, 0))],
        )
        .await;
    let codes = recovery_codes(&codes_page.body);
    assert_eq!(codes.len(), 10);
    let again = browser.get("/flow").await;
    assert_eq!(
        recovery_codes(&again.body),
        codes,
        "the codes stay on screen until the person confirms they saved them"
    );
    let download = browser.get("/recovery-codes.txt").await;
    assert_eq!(download.status, StatusCode::OK);
    assert!(
        download
            .headers
            .get("content-disposition")
            .is_some_and(|v| v.to_str().unwrap().starts_with("attachment")),
        "a download"
    );
    assert!(codes.iter().all(|c| download.body.contains(c.as_str())));
    let unticked = browser
        .submit_then_page(&again, "recovery-codes-continue", &[])
        .await;
    assert!(
        element_text(&unticked.body, "error")
            .unwrap()
            .contains("I have saved my recovery codes"),
        "continuing needs the confirmation: {}",
        unticked.body
    );
    assert_eq!(recovery_codes(&unticked.body), codes);

    let back = browser
        .submit(&unticked, "recovery-codes-continue", &[("saved", "yes")])
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    let location = back.location.unwrap();
    assert!(
        location.starts_with("https://localhost:5001/Account/Login/Callback?returnUrl=abc&token="),
        "{location}"
    );
    let result = validate(&app, &token_of(&location)).await;
    assert!(result.is_valid);
    assert_eq!(result.state, Some(UserActionState::ChallengeSucceeded));
    assert_eq!(
        result.verification_method,
        Some(VerificationMethod::AuthenticatorApp)
    );
    assert_eq!(result.action_code(), Some("identity-server-login"));
    assert_eq!(
        result.idempotency_key.as_deref(),
        Some(decision.idempotency_key.as_str())
    );
    let user = app.sdk.get_user("alice").await.unwrap();
    assert!(user.is_enrolled);

    // Back after the sign-in: the finished flow sends the person on, without a token and
    // without the codes.
    let back_again = browser.get("/flow").await;
    assert_eq!(back_again.status, StatusCode::SEE_OTHER);
    assert_eq!(
        back_again.location.as_deref(),
        Some("https://localhost:5001/Account/Login/Callback?returnUrl=abc")
    );
    assert!(browser.get("/recovery-codes.txt").await.status == StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_enrolled_user_passes_the_challenge_with_a_fresh_code() {
    let app = spawn().await;
    let secret = enrolled_user(&app, "bob").await;
    let decision = app
        .track(
            "bob",
            "identity-server-login",
            with_redirect("https://rp.example/cb"),
        )
        .await;
    assert_eq!(decision.state, UserActionState::ChallengeRequired);
    assert!(decision.is_enrolled);
    let before = validate(&app, &decision.token).await;
    assert!(!before.is_valid);
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    assert!(form(&page.body, "verify-code").is_some());
    let done = browser
        .submit(&page, "verify-code", &[("code", &totp_code(&secret, 30))])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let location = done.location.unwrap();
    assert!(
        location.starts_with("https://rp.example/cb?token="),
        "{location}"
    );
    assert!(validate(&app, &token_of(&location)).await.is_valid);
    assert!(
        validate(&app, &decision.token).await.is_valid,
        "validation may be repeated"
    );
}

#[tokio::test]
async fn a_wrong_code_shows_an_error_and_leaves_the_challenge_open() {
    let app = spawn().await;
    let secret = enrolled_user(&app, "carl").await;
    let decision = app
        .track("carl", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let retry = browser
        .submit_then_page(&page, "verify-code", &[("code", &wrong_code(&secret))])
        .await;
    assert_eq!(retry.status, StatusCode::OK);
    let error = element_text(&retry.body, "error").unwrap();
    assert!(error.contains("4 attempts left"), "{error}");
    assert_eq!(
        validate(&app, &decision.token).await.state,
        Some(UserActionState::ChallengeRequired)
    );
    let done = browser
        .submit(&retry, "verify-code", &[("code", &totp_code(&secret, 30))])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn five_wrong_codes_fail_the_challenge_and_redirect_with_the_token() {
    let app = spawn().await;
    let secret = enrolled_user(&app, "dina").await;
    let decision = app
        .track("dina", "login", with_redirect("https://rp.example/cb?x=1"))
        .await;
    let browser = app.browser();
    let mut page = browser.open(&decision.url).await;
    for _ in 0..4 {
        page = browser
            .submit_then_page(&page, "verify-code", &[("code", &wrong_code(&secret))])
            .await;
        assert_eq!(page.status, StatusCode::OK);
    }
    let last = browser
        .submit(&page, "verify-code", &[("code", &wrong_code(&secret))])
        .await;
    assert_eq!(last.status, StatusCode::SEE_OTHER);
    let location = last.location.unwrap();
    assert!(
        location.starts_with("https://rp.example/cb?x=1&token="),
        "{location}"
    );
    let result = validate(&app, &token_of(&location)).await;
    assert!(!result.is_valid);
    assert_eq!(result.state, Some(UserActionState::ChallengeFailed));
    let reopened = browser.get(&decision.url).await;
    assert_eq!(
        reopened.status,
        StatusCode::FORBIDDEN,
        "a failed challenge cannot be retried"
    );
}

#[tokio::test]
async fn a_totp_code_is_accepted_once_per_time_step() {
    let app = spawn().await;
    let secret = enrolled_user(&app, "eve").await;
    let code = totp_code(&secret, 30);
    let first = app
        .track("eve", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&first.url).await;
    let done = browser
        .submit(&page, "verify-code", &[("code", &code)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);

    let second = app
        .track("eve", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&second.url).await;
    let replay = browser
        .submit_then_page(&page, "verify-code", &[("code", &code)])
        .await;
    assert_eq!(replay.status, StatusCode::OK);
    assert!(
        element_text(&replay.body, "error")
            .unwrap()
            .contains("used already")
    );
    assert_eq!(
        validate(&app, &second.token).await.state,
        Some(UserActionState::ChallengeRequired)
    );
}

#[tokio::test]
async fn a_recovery_code_works_once_and_never_twice() {
    let app = spawn().await;
    let decision = app
        .track("finn", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let (_, codes_page) = browser.enroll_totp(&page).await;
    let codes = recovery_codes(&codes_page.body);
    browser
        .submit(&codes_page, "recovery-codes-continue", &[("saved", "yes")])
        .await;

    let second = app
        .track("finn", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&second.url).await;
    let recovery = browser
        .submit_then_page(&page, "use-recovery-code", &[])
        .await;
    let done = browser
        .submit(
            &recovery,
            "verify-code",
            &[("code", &codes[0].to_uppercase())],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let result = validate(&app, &token_of(&done.location.unwrap())).await;
    assert!(result.is_valid);
    assert_eq!(
        result.verification_method,
        Some(VerificationMethod::RecoveryCode)
    );

    let third = app
        .track("finn", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&third.url).await;
    let recovery = browser
        .submit_then_page(&page, "use-recovery-code", &[])
        .await;
    let refused = browser
        .submit_then_page(&recovery, "verify-code", &[("code", &codes[0])])
        .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(
        element_text(&refused.body, "error")
            .unwrap()
            .contains("not valid or was used")
    );
    let other = browser
        .submit(&refused, "verify-code", &[("code", &codes[1])])
        .await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn email_otp_enrolls_through_the_outbox_and_challenges_by_email_next_time() {
    // The second code goes to the address at once: no wait between codes to one address here
    // (`limits.rs` tests the wait).
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        code_sends: authsignal_emulator::configuration::CodeSendSettings {
            interval_secs: 0,
            ..Default::default()
        },
        ..settings()
    })
    .await;
    let decision = app
        .track(
            "gail",
            "login",
            TrackAttributes {
                redirect_url: Some("https://rp.example/cb".into()),
                email: Some("gail@example.com".into()),
                ..Default::default()
            },
        )
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let code_page = browser.submit_then_page(&page, "choose-email", &[]).await;
    assert_eq!(
        element_text(&code_page.body, "code-destination").as_deref(),
        Some("gail@example.com")
    );
    let message = app.handle.outbox().pop().unwrap();
    assert_eq!(message.user_id, "gail");
    assert_eq!(message.action_code, "login");
    assert_eq!(message.idempotency_key, decision.idempotency_key);
    let codes_page = browser
        .submit_then_page(&code_page, "confirm-email", &[("code", &message.code)])
        .await;
    assert_eq!(recovery_codes(&codes_page.body).len(), 10);
    let back = browser
        .submit(&codes_page, "recovery-codes-continue", &[("saved", "yes")])
        .await;
    let result = validate(&app, &token_of(&back.location.unwrap())).await;
    assert_eq!(
        result.verification_method,
        Some(VerificationMethod::EmailOtp)
    );

    let next = app
        .track("gail", "login", with_redirect("https://rp.example/cb"))
        .await;
    assert_eq!(
        next.default_verification_method,
        Some(VerificationMethod::EmailOtp)
    );
    let browser = app.browser();
    let page = browser.open(&next.url).await;
    let code = app.handle.latest_code_for("gail@example.com").unwrap();
    assert_ne!(code, message.code, "a new code per challenge");
    let done = browser
        .submit(&page, "verify-code", &[("code", &code)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(
        validate(&app, &token_of(&done.location.unwrap()))
            .await
            .is_valid
    );
}

#[tokio::test]
async fn email_enrollment_asks_for_the_address_when_track_did_not_give_one() {
    let app = spawn().await;
    let decision = app
        .track("hugo", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let ask = browser.submit_then_page(&page, "choose-email", &[]).await;
    assert!(form(&ask.body, "enroll-email").is_some());
    let bad = browser
        .submit_then_page(&ask, "enroll-email", &[("email", "not an email")])
        .await;
    assert!(
        element_text(&bad.body, "error")
            .unwrap()
            .contains("valid email")
    );
    assert!(app.handle.outbox().is_empty());
    let sent = browser
        .submit_then_page(&bad, "enroll-email", &[("email", "hugo@example.com")])
        .await;
    assert!(form(&sent.body, "confirm-email").is_some());
    assert!(app.handle.latest_code_for("hugo@example.com").is_some());
}

#[tokio::test]
async fn an_enrolled_user_can_switch_between_methods() {
    let app = spawn().await;
    let secret = enrolled_user(&app, "ines").await;
    app.sdk
        .enroll_verified_authenticator(
            "ines",
            &authsignal_sdk::EnrollVerifiedAuthenticatorRequest {
                email: Some("ines@example.com".into()),
                ..authsignal_sdk::EnrollVerifiedAuthenticatorRequest::new(
                    VerificationMethod::EmailOtp,
                )
            },
        )
        .await
        .unwrap();
    let decision = app
        .track("ines", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    assert!(form(&page.body, "choose-email").is_some());
    assert!(
        app.handle.latest_code_for("ines@example.com").is_none(),
        "no email until chosen"
    );
    let email_page = browser.submit_then_page(&page, "choose-email", &[]).await;
    let code = app.handle.latest_code_for("ines@example.com").unwrap();
    let totp_page = browser
        .submit_then_page(&email_page, "choose-totp", &[])
        .await;
    let done = browser
        .submit(
            &totp_page,
            "verify-code",
            &[("code", &totp_code(&secret, 30))],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let _ = code;
}

#[tokio::test]
async fn block_and_review_outcomes_are_reported_and_the_pages_refuse_them() {
    let app = spawn().await;
    enrolled_user(&app, "jack").await;
    app.handle.set_action_outcome("transfer", Outcome::Block);
    app.handle.set_action_outcome("payout", Outcome::Review);
    let blocked = app
        .track("jack", "transfer", with_redirect("https://rp.example/cb"))
        .await;
    assert_eq!(blocked.state, UserActionState::Block);
    let review = app
        .track("jack", "payout", with_redirect("https://rp.example/cb"))
        .await;
    assert_eq!(review.state, UserActionState::ReviewRequired);
    let browser = app.browser();
    let page = browser.get(&blocked.url).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        element_text(&page.body, "error")
            .unwrap()
            .contains("blocked")
    );
    let page = browser.get(&review.url).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let allowed = {
        app.handle.set_action_outcome("transfer", Outcome::Allow);
        app.track("jack", "transfer", Default::default()).await
    };
    assert_eq!(allowed.state, UserActionState::Allow);
}

#[tokio::test]
async fn a_form_without_the_right_csrf_token_is_refused() {
    let app = spawn().await;
    let decision = app
        .track("kim", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    browser.open(&decision.url).await;
    let response = browser
        .client
        .post(format!("{}/enroll/totp", app.base_url))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_form_without_the_session_cookie_is_refused() {
    let app = spawn().await;
    let decision = app
        .track("lena", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let stranger = app.browser();
    let response = stranger.submit(&page, "choose-totp", &[]).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        element_text(&response.body, "error")
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn a_forged_or_expired_link_shows_an_error_page() {
    let app = spawn().await;
    let browser = app.browser();
    for url in ["/challenge?token=abc.def.ghi", "/challenge", "/flow"] {
        let page = browser.get(url).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(element_text(&page.body, "error").is_some(), "{url}");
    }
}

#[tokio::test]
async fn an_enrolled_user_cannot_add_an_authenticator_without_passing_the_challenge() {
    let app = spawn().await;
    enrolled_user(&app, "mona").await;
    let decision = app
        .track("mona", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let csrf = form(&page.body, "verify-code").unwrap().fields[0].1.clone();
    let response = browser
        .client
        .post(format!("{}/enroll/totp", app.base_url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.sdk.get_authenticators("mona").await.unwrap().len(), 1);
}

#[tokio::test]
async fn redirect_to_settings_lets_the_user_add_and_remove_but_never_the_last() {
    // A tenant that allows email self-service (off by default: see `limits.rs`).
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        email_self_service: true,
        ..settings()
    })
    .await;
    let secret = enrolled_user(&app, "nico").await;
    let decision = app
        .track(
            "nico",
            "manage",
            TrackAttributes {
                redirect_url: Some("https://rp.example/settings".into()),
                redirect_to_settings: Some(true),
                ..Default::default()
            },
        )
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let settings = browser
        .submit_then_page(&page, "verify-code", &[("code", &totp_code(&secret, 30))])
        .await;
    assert!(
        form(&settings.body, "settings-done").is_some(),
        "{}",
        settings.body
    );
    let only = app.sdk.get_authenticators("nico").await.unwrap();
    assert!(
        form(
            &settings.body,
            &format!("remove-{}", only[0].user_authenticator_id)
        )
        .is_none()
    );
    let forged_remove = browser
        .client
        .post(format!("{}/settings/remove", app.base_url))
        .form(&[
            (
                "csrf",
                form(&settings.body, "settings-done").unwrap().fields[0]
                    .1
                    .as_str(),
            ),
            ("authenticator_id", only[0].user_authenticator_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_remove.status(), StatusCode::SEE_OTHER);
    let settings = browser.get("/flow").await;
    assert!(
        element_text(&settings.body, "error")
            .unwrap()
            .contains("last authenticator")
    );
    assert_eq!(app.sdk.get_authenticators("nico").await.unwrap().len(), 1);

    let ask = browser
        .submit_then_page(&settings, "choose-email", &[])
        .await;
    let sent = browser
        .submit_then_page(&ask, "enroll-email", &[("email", "nico@example.com")])
        .await;
    let code = app.handle.latest_code_for("nico@example.com").unwrap();
    let settings = browser
        .submit_then_page(&sent, "confirm-email", &[("code", &code)])
        .await;
    assert_eq!(app.sdk.get_authenticators("nico").await.unwrap().len(), 2);
    assert!(
        element_text(&settings.body, "notice")
            .unwrap()
            .contains("Email code (nico@example.com) added"),
        "{}",
        settings.body
    );
    let year = chrono::Utc::now().format("%Y-").to_string();
    assert!(
        !settings.body.contains(&year),
        "dates in words, not ISO timestamps: {}",
        settings.body
    );
    assert!(
        settings.body.contains("Added just now"),
        "{}",
        settings.body
    );

    // Removing asks first; "Keep it" keeps it.
    let remove = format!("remove-{}", only[0].user_authenticator_id);
    let confirm = browser.submit_then_page(&settings, &remove, &[]).await;
    assert!(
        form(&confirm.body, "confirm-remove").is_some(),
        "{}",
        confirm.body
    );
    assert_eq!(app.sdk.get_authenticators("nico").await.unwrap().len(), 2);
    let settings = browser.submit_then_page(&confirm, "keep", &[]).await;
    assert_eq!(app.sdk.get_authenticators("nico").await.unwrap().len(), 2);
    let confirm = browser.submit_then_page(&settings, &remove, &[]).await;
    let settings = browser
        .submit_then_page(&confirm, "confirm-remove", &[])
        .await;
    let remaining = app.sdk.get_authenticators("nico").await.unwrap();
    assert_eq!(remaining.len(), 1);
    assert_eq!(
        remaining[0].verification_method,
        VerificationMethod::EmailOtp
    );
    assert!(
        element_text(&settings.body, "notice")
            .unwrap()
            .contains("removed")
    );

    // New recovery codes, shown like the first ones; then back to the settings, which list
    // what changed in this visit. The action records it (`getAction`, an emulator extension).
    let output = |a: authsignal_sdk::GetActionResponse| {
        a.output.unwrap()["recoveryCodesRegenerated"].clone()
    };
    let key = decision.idempotency_key.clone();
    let before = app.sdk.get_action("nico", "manage", &key).await.unwrap();
    assert_eq!(output(before), serde_json::json!(false));
    let codes = browser
        .submit_then_page(&settings, "regenerate-codes", &[])
        .await;
    let new_codes = recovery_codes(&codes.body);
    assert_eq!(new_codes.len(), 10, "{}", codes.body);
    let after = app.sdk.get_action("nico", "manage", &key).await.unwrap();
    assert_eq!(output(after), serde_json::json!(true));
    let settings = browser
        .submit_then_page(&codes, "recovery-codes-continue", &[("saved", "yes")])
        .await;
    let changes = settings
        .body
        .split("id=\"changes\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        changes.contains("Added Email code (nico@example.com)")
            && changes.contains("Removed Authenticator app")
            && changes.contains("New recovery codes"),
        "{}",
        settings.body
    );
    let done = browser.submit(&settings, "settings-done", &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(
        done.location
            .unwrap()
            .starts_with("https://rp.example/settings?token=")
    );
}

#[tokio::test]
async fn pages_carry_no_scripts_and_no_store_headers() {
    let app = spawn().await;
    let decision = app
        .track("olga", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    assert!(!page.body.contains("<script"));
    assert_eq!(page.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(page.headers.get("referrer-policy").unwrap(), "no-referrer");
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // No form-action: Chromium applies it to the redirects after the last post, which end on
    // the relying party's own origins (the end-to-end browser test catches a regression).
    assert!(!csp.contains("form-action"), "{csp}");
    let start = browser.get(&decision.url).await;
    let cookie = start.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-") && cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn an_sms_authenticator_enrolled_through_the_api_is_challenged_through_the_outbox() {
    let app = spawn().await;
    app.sdk
        .enroll_verified_authenticator(
            "pia",
            &authsignal_sdk::EnrollVerifiedAuthenticatorRequest {
                phone_number: Some("+64211234567".into()),
                ..authsignal_sdk::EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::Sms)
            },
        )
        .await
        .unwrap();
    let decision = app
        .track("pia", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    assert_eq!(
        element_text(&page.body, "code-destination").as_deref(),
        Some("+64211234567")
    );
    let code = app.handle.latest_code_for("+64211234567").unwrap();
    let done = browser
        .submit(&page, "verify-code", &[("code", &code)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let result = validate(&app, &token_of(&done.location.unwrap())).await;
    assert_eq!(result.verification_method, Some(VerificationMethod::Sms));
}

#[tokio::test]
async fn ten_wrong_codes_across_actions_lock_the_user_out_for_a_while() {
    let app = spawn().await;
    let secret = enrolled_user(&app, "quinn").await;
    for _ in 0..2 {
        let decision = app
            .track("quinn", "login", with_redirect("https://rp.example/cb"))
            .await;
        let browser = app.browser();
        let mut page = browser.open(&decision.url).await;
        for _ in 0..5 {
            let response = browser
                .submit_then_page(&page, "verify-code", &[("code", &wrong_code(&secret))])
                .await;
            if response.status == StatusCode::SEE_OTHER {
                break;
            }
            page = response;
        }
    }
    let decision = app
        .track("quinn", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let refused = browser
        .submit_then_page(&page, "verify-code", &[("code", &totp_code(&secret, 30))])
        .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(
        element_text(&refused.body, "error")
            .unwrap()
            .contains("Too many incorrect codes. Wait 5 minutes and try again.")
    );
    assert_eq!(
        validate(&app, &decision.token).await.state,
        Some(UserActionState::ChallengeRequired)
    );
}

#[tokio::test]
async fn a_pasted_code_with_spaces_passes_the_challenge_and_opening_the_link_again_sends_the_person_on()
 {
    let app = spawn().await;
    let secret = enrolled_user(&app, "paula").await;
    let decision = app
        .track("paula", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let code = totp_code(&secret, 30);
    let pasted = format!(" {} {} ", &code[..3], &code[3..]);
    let done = browser
        .submit(&page, "verify-code", &[("code", &pasted)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(
        done.location
            .unwrap()
            .starts_with("https://rp.example/cb?token=")
    );

    // Back, or the link again: no error, the person goes on to the relying party (no token).
    for again in ["/flow", decision.url.as_str()] {
        let page = browser.get(again).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{again}: {}", page.body);
        assert_eq!(
            page.location.as_deref(),
            Some("https://rp.example/cb"),
            "{again}"
        );
    }
    // A form of the finished flow sent again does nothing but send the person on.
    let resent = browser
        .submit(&page, "verify-code", &[("code", &totp_code(&secret, 60))])
        .await;
    assert_eq!(resent.location.as_deref(), Some("https://rp.example/cb"));
}

#[tokio::test]
async fn cancel_on_the_method_choice_and_on_a_challenge_returns_without_a_token() {
    let app = spawn().await;
    let decision = app
        .track("quinn", "login", with_redirect("https://rp.example/cb?x=1"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let left = browser.submit(&page, "cancel", &[]).await;
    assert_eq!(left.status, StatusCode::SEE_OTHER);
    assert_eq!(left.location.as_deref(), Some("https://rp.example/cb?x=1"));
    let state = validate(&app, &decision.token).await;
    assert!(!state.is_valid, "cancelling proves nothing");
    assert!(
        app.sdk
            .get_authenticators("quinn")
            .await
            .unwrap()
            .is_empty()
    );

    let secret = enrolled_user(&app, "quinn").await;
    let decision = app
        .track("quinn", "login", with_redirect("https://rp.example/cb"))
        .await;
    let page = browser.open(&decision.url).await;
    let left = browser.submit(&page, "cancel", &[]).await;
    assert_eq!(left.location.as_deref(), Some("https://rp.example/cb"));
    // The challenge is over in this browser: a code afterwards is not taken.
    let late = browser
        .submit(&page, "verify-code", &[("code", &totp_code(&secret, 30))])
        .await;
    assert_eq!(late.location.as_deref(), Some("https://rp.example/cb"));
    assert!(!validate(&app, &decision.token).await.is_valid);
}

#[tokio::test]
async fn during_enrollment_the_person_can_switch_method_change_the_address_and_ask_for_a_new_code()
{
    let app = spawn().await;
    let decision = app
        .track("rosa", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let totp = browser.submit_then_page(&page, "choose-totp", &[]).await;
    assert!(
        form(&totp.body, "cancel").is_some(),
        "a way out of the setup"
    );
    let ask = browser
        .submit_then_page(&totp, "switch-to-email", &[])
        .await;
    let sent = browser
        .submit_then_page(&ask, "enroll-email", &[("email", "rosa@old.example")])
        .await;
    assert_eq!(
        element_text(&sent.body, "code-destination").as_deref(),
        Some("rosa@old.example")
    );
    // A new code at once is refused with the wait shown; nothing is sent.
    let too_soon = browser.submit_then_page(&sent, "resend", &[]).await;
    let notice = element_text(&too_soon.body, "notice").unwrap();
    assert!(notice.contains("seconds"), "{notice}");
    assert!(
        element_text(&too_soon.body, "error").is_none(),
        "not a wrong code"
    );
    assert!(
        too_soon.body.contains("id=\"resend-wait\""),
        "the wait is shown"
    );
    assert_eq!(app.handle.outbox().len(), 1);

    // Another address.
    let ask = browser
        .submit_then_page(&too_soon, "change-address", &[])
        .await;
    assert!(form(&ask.body, "enroll-email").is_some(), "{}", ask.body);
    let sent = browser
        .submit_then_page(&ask, "enroll-email", &[("email", "rosa@new.example")])
        .await;
    assert!(app.handle.latest_code_for("rosa@new.example").is_some());
    let old = app.handle.latest_code_for("rosa@old.example").unwrap();
    let new = app.handle.latest_code_for("rosa@new.example").unwrap();
    if old != new {
        let refused = browser
            .submit_then_page(&sent, "confirm-email", &[("code", &old)])
            .await;
        assert!(
            element_text(&refused.body, "error").is_some(),
            "the old code is void"
        );
    }
    let pasted = format!("{} {}", &new[..3], &new[3..]);
    let page = browser.get("/flow").await;
    let codes = browser
        .submit_then_page(&page, "confirm-email", &[("code", &pasted)])
        .await;
    assert_eq!(recovery_codes(&codes.body).len(), 10, "{}", codes.body);
    let authenticators = app.sdk.get_authenticators("rosa").await.unwrap();
    assert_eq!(authenticators.len(), 1);
    assert_eq!(authenticators[0].email.as_deref(), Some("rosa@new.example"));
}

#[tokio::test]
async fn unknown_pages_and_errors_have_a_body_and_a_way_back_to_the_application() {
    let app = spawn().await;
    let browser = app.browser();
    let missing = browser.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        element_text(&missing.body, "error").is_some(),
        "{}",
        missing.body
    );
    assert!(missing.body.contains("<title>Page not found · "));
    assert!(missing.body.contains("href=\"/back\""), "{}", missing.body);
    // Without any flow in this browser, "back" can only say where to go.
    let nowhere = browser.get("/back").await;
    assert_eq!(nowhere.status, StatusCode::OK);
    assert!(nowhere.body.contains("start again from the application"));

    // After a flow started here, "back" leads to its relying party, even once the session is
    // gone.
    let decision = app
        .track("sam", "login", with_redirect("https://rp.example/cb"))
        .await;
    browser.open(&decision.url).await;
    let stranger = app.browser();
    assert_eq!(stranger.get("/flow").await.status, StatusCode::BAD_REQUEST);
    let back = browser.get("/back").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(back.location.as_deref(), Some("https://rp.example/cb"));
    let back = browser.get("/back").await;
    assert_eq!(back.location.as_deref(), Some("https://rp.example/cb"));
}
