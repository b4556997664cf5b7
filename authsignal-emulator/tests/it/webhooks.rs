//! Webhook events posted to a configured URL, signed so the SDK's verifier accepts them.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use authsignal_sdk::TrackAttributes;
use authsignal_sdk::webhook::Webhook;

use crate::helpers::{settings, spawn_with, tls};

type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// An HTTPS receiver (same dev CA) recording every request; answers `status`.
async fn receiver(status: u16) -> (String, Received, actix_web::dev::ServerHandle) {
    let received: Received = Arc::default();
    let store = received.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let store = store.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let store = store.clone();
            async move {
                let signature = req
                    .headers()
                    .get("x-signature-v2")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                store.lock().unwrap().push((signature, body.to_vec()));
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
            }
        }))
    })
    .workers(1)
    .listen_rustls_0_23(listener, tls().server_config().unwrap())
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (
        format!("https://localhost:{port}/webhooks"),
        received,
        handle,
    )
}

#[tokio::test]
async fn email_created_is_posted_with_a_signature_the_sdk_verifies() {
    let (url, received, server) = receiver(200).await;
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        webhook_url: Some(url),
        ..settings()
    })
    .await;
    let decision = app
        .track(
            "alice",
            "login",
            TrackAttributes {
                redirect_url: Some("https://rp.example/cb".into()),
                email: Some("alice@example.com".into()),
                ..Default::default()
            },
        )
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    browser.submit_then_page(&page, "choose-email", &[]).await;
    let events = received.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    let (signature, body) = &events[0];
    let event = Webhook::new(app.secret.clone())
        .verify(body, signature)
        .expect("signature verifies");
    assert_eq!(event.event_type, "email.created");
    assert_eq!(event.data["to"], "alice@example.com");
    assert_eq!(
        event.data["code"].as_str().unwrap(),
        app.handle.latest_code_for("alice@example.com").unwrap()
    );
    assert_eq!(event.data["actionCode"], "login");
    assert!(
        Webhook::new("another-secret")
            .verify(body, signature)
            .is_err()
    );
    server.stop(true).await;
}

#[tokio::test]
async fn action_verify_and_authenticator_created_follow_a_successful_enrollment() {
    let (url, received, server) = receiver(204).await;
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        webhook_url: Some(url),
        ..settings()
    })
    .await;
    crate::helpers::enrolled_user(&app, "bob").await;
    let mut types = Vec::new();
    for _ in 0..50 {
        types = received
            .lock()
            .unwrap()
            .iter()
            .map(|(sig, body)| {
                Webhook::new(app.secret.clone())
                    .verify(body, sig)
                    .unwrap()
                    .event_type
            })
            .collect::<Vec<_>>();
        if types.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(types.contains(&"action.verify".to_owned()), "{types:?}");
    assert!(
        types.contains(&"authenticator.created".to_owned()),
        "{types:?}"
    );
    server.stop(true).await;
}

#[tokio::test]
async fn a_refused_action_verify_webhook_blocks_success() {
    let (url, _received, server) = receiver(500).await;
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        webhook_url: Some(url),
        ..settings()
    })
    .await;
    let decision = app
        .track(
            "carl",
            "login",
            crate::helpers::with_redirect("https://rp.example/cb"),
        )
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let totp = browser.submit_then_page(&page, "choose-totp", &[]).await;
    let secret = crate::helpers::element_text(&totp.body, "totp-secret").unwrap();
    let refused = browser
        .submit(
            &totp,
            "confirm-totp",
            &[("code", &crate::helpers::totp_code(&secret, 0))],
        )
        .await;
    assert_eq!(refused.status, reqwest::StatusCode::BAD_GATEWAY);
    let result = app
        .sdk
        .validate_challenge(&authsignal_sdk::ValidateChallengeRequest {
            token: decision.token,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!result.is_valid);
    server.stop(true).await;
}

/// Every event received so far, verified: `(type, data)`.
fn events(received: &Received, secret: &str) -> Vec<(String, serde_json::Value)> {
    received
        .lock()
        .unwrap()
        .iter()
        .map(|(sig, body)| {
            let event = Webhook::new(secret.to_owned()).verify(body, sig).unwrap();
            (event.event_type, serde_json::to_value(&event.data).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn email_created_carries_the_verification_method() {
    let (url, received, server) = receiver(200).await;
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        webhook_url: Some(url),
        ..settings()
    })
    .await;
    let decision = app
        .track(
            "alice",
            "login",
            TrackAttributes {
                redirect_url: Some("https://rp.example/cb".into()),
                email: Some("alice@example.com".into()),
                ..Default::default()
            },
        )
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    browser.submit_then_page(&page, "choose-email", &[]).await;
    let events = events(&received, &app.secret);
    assert_eq!(events[0].0, "email.created");
    assert_eq!(events[0].1["verificationMethod"], "EMAIL_OTP");
    server.stop(true).await;
}

#[tokio::test]
async fn a_passkey_sign_in_posts_action_verify_with_verification_method_passkey() {
    let (url, received, server) = receiver(200).await;
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        webhook_url: Some(url),
        ..settings()
    })
    .await;
    let mut authenticator = crate::passkeys::registered(&app, "dora").await;
    let (status, body) = crate::passkeys::sign_in(&app, &mut authenticator, "k-hook").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = events(&received, &app.secret);
        if seen.iter().any(|(t, _)| t == "authenticator.created") && seen.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let sign_in = seen
        .iter()
        .find(|(t, d)| t == "action.verify" && d["idempotencyKey"] == "k-hook")
        .expect("action.verify for the sign-in");
    assert_eq!(sign_in.1["verificationMethod"], "PASSKEY");
    assert_eq!(sign_in.1["userId"], "dora");
    assert_eq!(sign_in.1["action"], "identity-server-passkey-login");
    let created = seen
        .iter()
        .find(|(t, _)| t == "authenticator.created")
        .expect("authenticator.created");
    assert_eq!(created.1["verificationMethod"], "PASSKEY");
    assert!(created.1["credentialId"].is_string());
    assert_eq!(created.1["credentialName"], "Google Password Manager");
    for (_, data) in &seen {
        let text = data.to_string();
        assert!(!text.contains("null"), "{text}");
    }
    server.stop(true).await;
}

#[tokio::test]
async fn a_refused_action_verify_webhook_blocks_a_passkey_sign_in() {
    let (url, received, server) = receiver(200).await;
    let app = spawn_with(authsignal_emulator::configuration::Settings {
        webhook_url: Some(url.clone()),
        ..settings()
    })
    .await;
    let mut authenticator = crate::passkeys::registered(&app, "erin").await;
    server.stop(true).await;
    drop(received);
    // The receiver is gone: the synchronous action.verify cannot be delivered.
    let (status, _) = crate::passkeys::sign_in(&app, &mut authenticator, "k-blocked").await;
    assert_eq!(status, reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        app.sdk
            .get_action("erin", "identity-server-passkey-login", "k-blocked")
            .await
            .is_err()
    );
}
