//! The embedded store keeps users, authenticators and actions across a restart.

use authsignal_emulator::configuration::Settings;
use authsignal_sdk::{UserActionState, ValidateChallengeRequest};
use reqwest::StatusCode;

use crate::helpers::{enrolled_user, settings, spawn_with, token_of, totp_code, with_redirect};

fn persistent(dir: &std::path::Path) -> Settings {
    Settings {
        data_dir: Some(dir.to_path_buf()),
        in_memory: false,
        ..settings()
    }
}

#[tokio::test]
async fn a_restart_keeps_enrollments_and_the_authenticator_app_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let first = spawn_with(persistent(dir.path())).await;
    let secret = enrolled_user(&first, "alice").await;
    let before = first.track("alice", "login", Default::default()).await;
    first.stop().await;

    let second = spawn_with(persistent(dir.path())).await;
    let user = second.sdk.get_user("alice").await.unwrap();
    assert!(user.is_enrolled);
    let action = second
        .sdk
        .get_action("alice", "login", &before.idempotency_key)
        .await
        .unwrap();
    assert_eq!(action.state, UserActionState::ChallengeRequired);

    let decision = second
        .track("alice", "login", with_redirect("https://rp.example/cb"))
        .await;
    assert_eq!(decision.state, UserActionState::ChallengeRequired);
    let browser = second.browser();
    let page = browser.open(&decision.url).await;
    let done = browser
        .submit(&page, "verify-code", &[("code", &totp_code(&secret, 30))])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let result = second
        .sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: token_of(&done.location.unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(result.is_valid);
}

#[tokio::test]
async fn a_restart_keeps_the_used_totp_step_so_a_code_is_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let first = spawn_with(persistent(dir.path())).await;
    let secret = enrolled_user(&first, "bob").await;
    let code = totp_code(&secret, 30);
    let decision = first
        .track("bob", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = first.browser();
    let page = browser.open(&decision.url).await;
    assert_eq!(
        browser
            .submit(&page, "verify-code", &[("code", &code)])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    first.stop().await;

    let second = spawn_with(persistent(dir.path())).await;
    let decision = second
        .track("bob", "login", with_redirect("https://rp.example/cb"))
        .await;
    let browser = second.browser();
    let page = browser.open(&decision.url).await;
    let replay = browser
        .submit_then_page(&page, "verify-code", &[("code", &code)])
        .await;
    assert_eq!(replay.status, StatusCode::OK);
}

#[tokio::test]
async fn in_memory_mode_forgets_everything_and_reset_clears_a_running_emulator() {
    let app = spawn_with(settings()).await;
    enrolled_user(&app, "carol").await;
    assert!(app.sdk.get_user("carol").await.unwrap().is_enrolled);
    app.handle.reset();
    assert!(!app.sdk.get_user("carol").await.unwrap().is_enrolled);
    assert!(app.handle.outbox().is_empty());
}

#[tokio::test]
async fn a_corrupt_data_file_stops_start_up_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("emulator-state.json"), "{broken").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = authsignal_emulator::startup::Application::build_with(
        persistent(dir.path()),
        listener,
        crate::helpers::tls(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("emulator-state.json"), "{err}");
}
