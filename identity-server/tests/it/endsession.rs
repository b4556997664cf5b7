use crate::helpers::*;

const POST_LOGOUT: &str = "https://localhost:5002/signout-callback-oidc";

fn endsession_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).unwrap();
    format!("{}/connect/endsession?{query}", app.base_url)
}

async fn is_signed_in(app: &TestApp) -> bool {
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("prompt", "none")]))
        .await;
    query_param(&location.unwrap(), "code").is_some()
}

fn csrf_from(page: &str) -> String {
    let start =
        page.find("name=\"csrf_token\" value=\"").unwrap() + "name=\"csrf_token\" value=\"".len();
    page[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_valid_hint_and_registered_uri_end_the_session_and_redirect_with_state() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    assert!(is_signed_in(&app).await);
    let url = endsession_url(
        &app,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "bye"),
        ],
    );
    let (status, location, _) = app.browse(&url).await;
    assert_eq!(status, 302);
    assert_eq!(
        location.as_deref(),
        Some("https://localhost:5002/signout-callback-oidc?state=bye")
    );
    assert!(
        !is_signed_in(&app).await,
        "a later authorize requires a login"
    );
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_never_redirects() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    for uri in [
        "https://evil.example/out",
        "https://localhost:5002/signout-callback-oidc?x=1",
        "https://localhost:5009/out",
    ] {
        let url = endsession_url(
            &app,
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", uri),
            ],
        );
        let (status, location, body) = app.browse(&url).await;
        assert_eq!(status, 400, "{uri}");
        assert_eq!(location, None);
        assert!(body.contains("not registered"));
    }
    assert!(is_signed_in(&app).await, "nothing happened to the session");
}

#[tokio::test]
async fn a_missing_or_tampered_hint_shows_the_confirmation_page() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let tampered = tamper(id_token);
    for params in [
        vec![("post_logout_redirect_uri", POST_LOGOUT)],
        vec![
            ("id_token_hint", tampered.as_str()),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
        vec![],
    ] {
        let (status, location, body) = app.browse(&endsession_url(&app, &params)).await;
        assert_eq!(status, 200);
        assert_eq!(location, None);
        assert!(body.contains("action=\"/Account/Logout\""), "{body}");
    }
    assert!(is_signed_in(&app).await, "confirmation first");
}

#[tokio::test]
async fn confirming_the_logout_ends_the_session_and_needs_the_csrf_token() {
    let app = spawn_app().await;
    app.tokens().await;
    let (_, _, page) = app.browse(&app.url("/Account/Logout")).await;
    let csrf = csrf_from(&page);
    let response = app
        .browser
        .post(app.url("/Account/Logout"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(is_signed_in(&app).await);
    let response = app
        .browser
        .post(app.url("/Account/Logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("You are logged out")
    );
    assert!(!is_signed_in(&app).await);
}

#[tokio::test]
async fn a_valid_hint_without_a_uri_shows_the_logged_out_page_linking_back_to_the_client() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let (status, location, body) = app
        .browse(&endsession_url(
            &app,
            &[("id_token_hint", tokens["id_token"].as_str().unwrap())],
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(location, None);
    assert!(
        body.contains("href=\"https:&#x2F;&#x2F;localhost:5002&#x2F;\"")
            || body.contains("href=\"https://localhost:5002/\""),
        "{body}"
    );
    assert!(!is_signed_in(&app).await);
}

#[tokio::test]
async fn a_hint_for_another_client_than_client_id_is_refused() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let (status, location, _) = app
        .browse(&endsession_url(
            &app,
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("client_id", "web2"),
                ("post_logout_redirect_uri", "https://localhost:5009/out"),
            ],
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(location, None);
}

#[tokio::test]
async fn end_session_with_an_older_sessions_hint_asks_for_confirmation() {
    let app = spawn_app().await;
    let old = app.tokens().await;
    // A new sign-in in the same browser: a new session (new sid), same user.
    app.code_for("web", REDIRECT, &[("prompt", "login")]).await;
    let (_, old_claims) = jwt_parts(old["id_token"].as_str().unwrap());
    let (status, location, body) = app
        .browse(&endsession_url(
            &app,
            &[
                ("id_token_hint", old["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ],
        ))
        .await;
    assert_eq!(status, 200, "{old_claims}");
    assert_eq!(location, None);
    assert!(body.contains("action=\"/Account/Logout\""), "{body}");
    assert!(is_signed_in(&app).await, "the newer session was not ended");
}

#[tokio::test]
async fn end_session_refuses_a_state_over_512_bytes_and_never_echoes_it() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let long = "s".repeat(513);
    let (status, location, body) = app
        .browse(&endsession_url(
            &app,
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", POST_LOGOUT),
                ("state", long.as_str()),
            ],
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(location, None);
    assert!(!body.contains(&long));
    assert!(is_signed_in(&app).await, "nothing happened to the session");
    let ok = "s".repeat(512);
    let (status, location, _) = app
        .browse(&endsession_url(
            &app,
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", POST_LOGOUT),
                ("state", ok.as_str()),
            ],
        ))
        .await;
    assert_eq!(status, 302);
    assert_eq!(query_param(&location.unwrap(), "state"), Some(ok));
}
