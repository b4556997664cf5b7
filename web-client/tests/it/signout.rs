//! Sign-out: local session first, then RP-initiated logout at the identity server.

use crate::helpers::{csrf_of, location, param, spawn_app};
use crate::mock_provider::Behaviour;

#[actix_web::test]
async fn signing_out_clears_the_session_and_redirects_with_id_token_hint() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    let csrf = csrf_of(&app.home_page().await);

    let response = app
        .browser
        .post(app.url("/signout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 303);
    let logout = url::Url::parse(&location(&response)).unwrap();
    assert!(
        logout
            .as_str()
            .starts_with(&format!("{}/endsession?", app.provider.issuer))
    );
    let id_token = app.provider.record(|r| r.id_tokens[0].clone());
    assert_eq!(param(&logout, "id_token_hint"), Some(id_token));
    assert_eq!(
        param(&logout, "post_logout_redirect_uri").unwrap(),
        app.url("/signout-callback-oidc")
    );
    assert!(param(&logout, "state").is_some_and(|s| s.len() >= 22));
    // the local session is gone before the identity server is even asked
    assert_eq!(app.get("/").await.status(), 303);
}

#[actix_web::test]
async fn the_signout_callback_with_the_right_state_says_signed_out() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    let csrf = csrf_of(&app.home_page().await);
    let response = app
        .browser
        .post(app.url("/signout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    let logout = location(&response);

    let back = app.browser.get(&logout).send().await.unwrap();
    let callback = location(&back);
    assert!(
        callback.starts_with(&app.url("/signout-callback-oidc?state=")),
        "{callback}"
    );
    let page = app.get(&callback).await;

    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"signed-out\""));
    // the state is single use
    assert_eq!(app.get(&callback).await.status(), 400);
}

#[actix_web::test]
async fn the_signout_callback_with_a_wrong_state_is_refused() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    let csrf = csrf_of(&app.home_page().await);
    app.browser
        .post(app.url("/signout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();

    let page = app.get("/signout-callback-oidc?state=forged").await;

    assert_eq!(page.status(), 400);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Sign-out not confirmed")
    );
}

#[actix_web::test]
async fn signing_out_without_the_csrf_token_is_refused_and_keeps_the_session() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    app.home_page().await;

    let response = app
        .browser
        .post(app.url("/signout"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 403);
    assert_eq!(app.get("/").await.status(), 200);
}
