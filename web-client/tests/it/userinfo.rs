//! `/userinfo` when the identity server no longer accepts the access token (a 401, as after
//! an identity-server restart that lost its access-token records): refresh once and retry, or
//! sign in again; never the "refused to exchange the authorization code" page.

use crate::helpers::{location, spawn_app};
use crate::mock_provider::{ALICE_SUB, Behaviour};

const MISLEADING: &str = "refused to exchange the authorization code";

#[actix_web::test]
async fn a_userinfo_401_refreshes_the_tokens_once_and_shows_the_claims() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    app.provider.forget_access_tokens();

    let response = app.get("/userinfo").await;

    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains(ALICE_SUB), "{html}");
    assert_eq!(app.provider.refresh_requests(), 1);
    let (issued, used) = app
        .provider
        .record(|r| (r.access_tokens.clone(), r.userinfo_tokens.clone()));
    assert_eq!(used, issued, "the old token, then the refreshed one");
    // The refreshed token is kept: the next visit needs no refresh.
    assert_eq!(app.get("/userinfo").await.status(), 200);
    assert_eq!(app.provider.refresh_requests(), 1);
}

#[actix_web::test]
async fn a_userinfo_401_whose_refresh_is_refused_signs_in_again() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    app.provider.forget_access_tokens();
    app.provider.set_behaviour(Behaviour {
        refuse_refresh: true,
        ..Default::default()
    });

    let response = app.get("/userinfo").await;

    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with(&format!("{}/authorize", app.provider.issuer)));
    assert!(!response.text().await.unwrap().contains(MISLEADING));
}

#[actix_web::test]
async fn a_userinfo_401_for_the_refreshed_token_too_signs_in_again_without_looping() {
    let app = spawn_app(Behaviour {
        userinfo_unauthorized: true,
        ..Default::default()
    })
    .await;
    app.signed_in().await;

    let response = app.get("/userinfo").await;

    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with(&format!("{}/authorize", app.provider.issuer)));
    assert!(!response.text().await.unwrap().contains(MISLEADING));
    assert_eq!(
        app.provider.refresh_requests(),
        1,
        "one refresh, then sign in"
    );
    // No longer signed in here.
    assert_eq!(app.get("/").await.status(), 303);
}

#[actix_web::test]
async fn an_accepted_access_token_is_not_refreshed_for_userinfo() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;

    assert_eq!(app.get("/userinfo").await.status(), 200);

    assert_eq!(app.provider.refresh_requests(), 0);
}
