//! `/sensitive`: a second factor at most `sensitive_max_age_secs` old, asked for with
//! `acr_values` and `max_age` when the ID token shows less, and the returned ID token checked.

use crate::helpers::{location, param, spawn_app};
use crate::mock_provider::Behaviour;

const MFA: &str = "urn:authsignal-mfa-rust:acr:mfa";

#[actix_web::test]
async fn an_id_token_with_a_recent_second_factor_opens_the_sensitive_page() {
    let app = spawn_app(Behaviour {
        acr: Some(MFA.into()),
        ..Behaviour::default()
    })
    .await;
    app.signed_in().await;
    let response = app.get("/sensitive").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains(MFA), "{html}");
    assert!(html.contains("within the last 5 minutes"), "{html}");
}

#[actix_web::test]
async fn an_id_token_without_the_acr_asks_for_mfa_within_max_age_and_comes_back() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    let response = app.get("/sensitive").await;
    assert_eq!(response.status(), 303);
    let authorize = url::Url::parse(&location(&response)).unwrap();
    assert!(authorize.as_str().starts_with(&app.provider.issuer));
    assert_eq!(param(&authorize, "acr_values").as_deref(), Some(MFA));
    assert_eq!(param(&authorize, "max_age").as_deref(), Some("300"));

    // The identity server steps the user up; the new ID token says mfa.
    app.provider.set_behaviour(Behaviour {
        acr: Some(MFA.into()),
        ..Behaviour::default()
    });
    let callback = app.authorize(&authorize).await;
    let back = app.get(callback.as_str()).await;
    assert_eq!(back.status(), 303);
    assert_eq!(location(&back), "/sensitive");
    let page = app.get("/sensitive").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(MFA));
}

#[actix_web::test]
async fn an_id_token_that_does_not_meet_the_requested_acr_is_refused_and_the_session_stays() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    let response = app.get("/sensitive").await;
    let authorize = url::Url::parse(&location(&response)).unwrap();
    // The provider answers without the acr that was asked for.
    let callback = app.authorize(&authorize).await;
    let refused = app.get(callback.as_str()).await;
    assert_eq!(refused.status(), 401);
    let html = refused.text().await.unwrap();
    assert!(html.contains("acr"), "{html}");
    // The earlier sign-in is still there, at its old level.
    assert_eq!(app.get("/").await.status(), 200);
}
