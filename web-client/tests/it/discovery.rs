//! Start-up does not wait for the identity server: discovery retries in the background.

use std::time::Duration;

use crate::helpers::{settings, spawn_app, spawn_client, tls};
use crate::mock_provider::{Behaviour, MockProvider};

#[actix_web::test]
async fn pages_answer_503_until_the_identity_server_answers_then_sign_in_works() {
    // Bind the identity server but do not serve yet, as the tests and the demo do.
    let (provider, listener) = MockProvider::bind(Behaviour::default());
    let app = spawn_client(
        web_client::configuration::Settings {
            http_timeout_secs: 1,
            ..settings(&provider.issuer)
        },
        provider.clone(),
    )
    .await;

    let response = app.get("/").await;
    assert_eq!(response.status(), 503);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Identity server not reachable yet")
    );
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);

    provider.start(listener, tls());
    app.wait_until_ready().await;
    tokio::time::sleep(Duration::from_millis(10)).await;

    app.signed_in().await;
    assert!(app.home_page().await.contains("Alice Smith"));
}

#[actix_web::test]
async fn an_issuer_with_plain_http_fails_start_up_naming_the_key() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = web_client::startup::Application::build_with(
        settings("http://localhost:1"),
        listener,
        tls().clone(),
    )
    .await
    .unwrap_err();

    assert!(err.to_string().contains("'issuer_url'"), "{err}");
}

#[actix_web::test]
async fn stopping_through_the_handle_closes_the_listener() {
    let app = spawn_app(Behaviour::default()).await;
    assert_eq!(app.get("/healthz").await.status(), 200);

    app.handle.stop(true).await;

    let after = app.browser.get(app.url("/healthz")).send().await;
    assert!(after.is_err(), "the server still answers after stop");
}

#[actix_web::test]
async fn a_signing_key_published_after_start_up_is_picked_up_by_the_periodic_refresh() {
    let app =
        crate::helpers::spawn_app_with(Behaviour::default(), |s| s.jwks_refresh_secs = 1).await;
    app.provider.set_behaviour(Behaviour {
        rotated_to_second_key: true,
        ..Default::default()
    });

    tokio::time::sleep(Duration::from_millis(1500)).await;

    app.signed_in().await;
    assert!(app.home_page().await.contains("Alice Smith"));
}
