//! Session lifetime and token refresh.

use std::time::Duration;

use crate::helpers::{location, spawn_app, spawn_app_with};
use crate::mock_provider::Behaviour;

#[actix_web::test]
async fn an_expired_session_sends_the_browser_to_sign_in_again() {
    let app = spawn_app_with(Behaviour::default(), |s| s.session_lifetime_secs = 1).await;
    app.signed_in().await;
    app.home_page().await;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = app.get("/").await;

    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with(&app.provider.issuer));
}

#[actix_web::test]
async fn an_expired_access_token_is_refreshed_before_the_page_is_shown() {
    let app = spawn_app(Behaviour {
        code_expires_in: Some(1),
        ..Default::default()
    })
    .await;
    app.signed_in().await;

    let html = app.home_page().await;

    let grants: Vec<String> = app.provider.record(|r| {
        r.token_requests
            .iter()
            .map(|f| f["grant_type"].clone())
            .collect()
    });
    assert_eq!(grants, ["authorization_code", "refresh_token"]);
    assert!(html.contains("refreshes in this session"), "{html}");
    // the refreshed access token is the one used from now on
    app.get("/userinfo").await;
    let (issued, used) = app
        .provider
        .record(|r| (r.access_tokens[1].clone(), r.userinfo_tokens[0].clone()));
    assert_eq!(issued, used);
}

#[actix_web::test]
async fn a_fresh_access_token_is_not_refreshed() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;

    app.home_page().await;
    app.home_page().await;

    assert_eq!(app.provider.record(|r| r.token_requests.len()), 1);
}

#[actix_web::test]
async fn a_refused_refresh_sends_the_browser_to_sign_in_again() {
    let app = spawn_app(Behaviour {
        code_expires_in: Some(1),
        refuse_refresh: true,
        ..Default::default()
    })
    .await;
    app.signed_in().await;

    let response = app.get("/").await;

    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with(&format!("{}/authorize", app.provider.issuer)));
}

#[actix_web::test]
async fn a_refresh_without_a_new_id_token_keeps_the_claims_and_the_logout_hint() {
    let app = spawn_app(Behaviour {
        code_expires_in: Some(1),
        ..Default::default()
    })
    .await;
    app.signed_in().await;

    let html = app.home_page().await;

    assert!(html.contains("Alice Smith"), "{html}");
    assert_eq!(app.provider.record(|r| r.id_tokens.len()), 1);
}

#[actix_web::test]
async fn a_new_id_token_from_a_refresh_is_verified_and_used_as_the_logout_hint() {
    let app = spawn_app(Behaviour {
        code_expires_in: Some(1),
        id_token_on_refresh: true,
        ..Default::default()
    })
    .await;
    app.signed_in().await;
    let html = app.home_page().await;
    let csrf = crate::helpers::csrf_of(&html);

    let response = app
        .browser
        .post(app.url("/signout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();

    let logout = url::Url::parse(&location(&response)).unwrap();
    let newest = app.provider.record(|r| r.id_tokens.last().cloned());
    assert_eq!(app.provider.record(|r| r.id_tokens.len()), 2);
    assert_eq!(crate::helpers::param(&logout, "id_token_hint"), newest);
}

#[actix_web::test]
async fn concurrent_pages_after_expiry_refresh_once_and_all_stay_signed_in() {
    let app = spawn_app(Behaviour {
        code_expires_in: Some(1),
        ..Default::default()
    })
    .await;
    app.signed_in().await;

    let pages = futures_util::future::join_all((0..4).map(|_| app.get("/"))).await;

    for page in pages {
        assert_eq!(
            page.status(),
            200,
            "every page is shown, none signs in again"
        );
    }
    let refreshes = app.provider.record(|r| {
        r.token_requests
            .iter()
            .filter(|f| f["grant_type"] == "refresh_token")
            .count()
    });
    assert_eq!(refreshes, 1, "a rotated refresh token is redeemed once");
}
