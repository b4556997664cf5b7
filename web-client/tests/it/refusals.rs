//! Everything `/signin-oidc` must refuse, each leaving the browser without a session.

use crate::helpers::{TestApp, param, spawn_app, with_param};
use crate::mock_provider::Behaviour;

/// After a refusal, `/` still wants a sign-in: no session was created.
async fn assert_not_signed_in(app: &TestApp) {
    let response = app.get("/").await;
    assert_eq!(
        response.status(),
        303,
        "no session may exist after a refusal"
    );
}

async fn refused_page(app: &TestApp, callback: &url::Url, status: u16) -> String {
    let response = app.get(callback.as_str()).await;
    assert_eq!(response.status(), status);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"error\""), "{html}");
    html
}

#[actix_web::test]
async fn a_callback_with_the_wrong_state_is_refused_without_exchanging_the_code() {
    let app = spawn_app(Behaviour::default()).await;
    let callback = app.authorize(&app.start_sign_in().await).await;

    let forged = with_param(&callback, "state", Some("not-the-state"));
    let html = refused_page(&app, &forged, 400).await;

    assert!(html.contains("state mismatch"), "{html}");
    assert!(app.provider.record(|r| r.token_requests.is_empty()));
    assert_not_signed_in(&app).await;
}

#[actix_web::test]
async fn a_callback_without_state_is_refused() {
    let app = spawn_app(Behaviour::default()).await;
    let callback = app.authorize(&app.start_sign_in().await).await;

    refused_page(&app, &with_param(&callback, "state", None), 400).await;

    assert!(app.provider.record(|r| r.token_requests.is_empty()));
    assert_not_signed_in(&app).await;
}

#[actix_web::test]
async fn a_callback_without_a_code_is_refused() {
    let app = spawn_app(Behaviour::default()).await;
    let callback = app.authorize(&app.start_sign_in().await).await;

    let html = refused_page(&app, &with_param(&callback, "code", None), 400).await;

    assert!(html.contains("without an authorization code"), "{html}");
    assert_not_signed_in(&app).await;
}

#[actix_web::test]
async fn a_callback_with_no_sign_in_in_progress_is_refused() {
    let app = spawn_app(Behaviour::default()).await;

    let callback = url::Url::parse(&app.url("/signin-oidc?code=abc&state=xyz")).unwrap();
    let html = refused_page(&app, &callback, 400).await;

    assert!(html.contains("Sign-in expired"), "{html}");
    assert!(app.provider.record(|r| r.token_requests.is_empty()));
}

#[actix_web::test]
async fn a_callback_cannot_be_used_twice() {
    let app = spawn_app(Behaviour::default()).await;
    let callback = app.authorize(&app.start_sign_in().await).await;
    assert_eq!(app.get(callback.as_str()).await.status(), 303);

    refused_page(&app, &callback, 400).await;

    assert_eq!(app.provider.record(|r| r.token_requests.len()), 1);
}

#[actix_web::test]
async fn an_access_denied_answer_shows_a_clear_page() {
    let app = spawn_app(Behaviour {
        authorize_error: Some("access_denied".into()),
        ..Default::default()
    })
    .await;
    let callback = app.authorize(&app.start_sign_in().await).await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));

    let html = refused_page(&app, &callback, 403).await;

    assert!(html.contains("Sign-in cancelled"), "{html}");
    assert!(html.contains("access_denied: the user cancelled"), "{html}");
    assert_not_signed_in(&app).await;
}

#[actix_web::test]
async fn a_provider_error_is_escaped_on_the_page() {
    let app = spawn_app(Behaviour {
        authorize_error: Some("<b>server_error</b>".into()),
        ..Default::default()
    })
    .await;
    let callback = app.authorize(&app.start_sign_in().await).await;

    let html = refused_page(&app, &callback, 400).await;

    assert!(html.contains("&lt;b&gt;server_error"), "{html}");
    assert!(!html.contains("<b>server_error"), "{html}");
}

#[actix_web::test]
async fn an_iss_parameter_naming_another_issuer_is_refused() {
    let app = spawn_app(Behaviour::default()).await;
    let callback = app.authorize(&app.start_sign_in().await).await;

    let forged = with_param(&callback, "iss", Some("https://evil.example"));
    refused_page(&app, &forged, 400).await;

    assert!(app.provider.record(|r| r.token_requests.is_empty()));
    assert_not_signed_in(&app).await;
}

async fn id_token_is_refused(behaviour: Behaviour, reason: &str) {
    let app = spawn_app(behaviour).await;

    let response = app.sign_in().await;

    assert_eq!(response.status(), 401);
    let html = response.text().await.unwrap();
    assert!(html.contains("failed verification"), "{html}");
    assert!(
        html.to_lowercase().contains(reason),
        "expected '{reason}' in {html}"
    );
    assert_not_signed_in(&app).await;
}

#[actix_web::test]
async fn an_id_token_with_the_wrong_nonce_is_refused() {
    id_token_is_refused(
        Behaviour {
            nonce_override: Some("another-nonce".into()),
            ..Default::default()
        },
        "nonce",
    )
    .await;
}

#[actix_web::test]
async fn an_id_token_for_another_audience_is_refused() {
    id_token_is_refused(
        Behaviour {
            audience_override: Some("another-client".into()),
            ..Default::default()
        },
        "audience",
    )
    .await;
}

#[actix_web::test]
async fn an_id_token_signed_by_another_key_is_refused() {
    id_token_is_refused(
        Behaviour {
            sign_with_unpublished_key: true,
            ..Default::default()
        },
        "signature",
    )
    .await;
}

#[actix_web::test]
async fn an_id_token_whose_at_hash_does_not_match_the_access_token_is_refused() {
    id_token_is_refused(
        Behaviour {
            wrong_at_hash: true,
            ..Default::default()
        },
        "at_hash",
    )
    .await;
}
