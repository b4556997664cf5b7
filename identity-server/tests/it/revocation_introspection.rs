use crate::helpers::*;

async fn post(
    app: &TestApp,
    path: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let response = app
        .api
        .post(app.url(path))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_grant_and_access_tokens() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let (status, _) = post(
        &app,
        "/connect/revocation",
        ("web", "secret"),
        &[("token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap())
            .await
            .0,
        401
    );
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn revoking_an_access_token_ends_it_at_userinfo() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = post(
        &app,
        "/connect/revocation",
        ("web", "secret"),
        &[("token", access), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.userinfo(access).await.0, 401);
}

#[tokio::test]
async fn revoking_an_unknown_token_answers_200() {
    let app = spawn_app().await;
    let (status, _) = post(
        &app,
        "/connect/revocation",
        ("web", "secret"),
        &[("token", "never-issued")],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_token() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let (status, _) = post(
        &app,
        "/connect/revocation",
        ("web2", "secret"),
        &[("token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &app,
        "/connect/revocation",
        ("web2", "secret"),
        &[("token", tokens["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap())
            .await
            .0,
        200,
        "still active"
    );
}

#[tokio::test]
async fn revocation_requires_client_authentication_and_a_token() {
    let app = spawn_app().await;
    let (status, body) = post(
        &app,
        "/connect/revocation",
        ("web", "nope"),
        &[("token", "x")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = post(&app, "/connect/revocation", ("web", "secret"), &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn an_unknown_token_type_hint_is_ignored_and_the_token_is_still_revoked() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let (status, _) = post(
        &app,
        "/connect/revocation",
        ("web", "secret"),
        &[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "saml"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.userinfo(tokens["access_token"].as_str().unwrap())
            .await
            .0,
        401
    );
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn introspection_describes_an_active_access_token_and_refresh_token() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let (status, body) = post(
        &app,
        "/connect/introspect",
        ("web", "secret"),
        &[("token", tokens["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], ALICE);
    assert_eq!(body["client_id"], "web");
    assert_eq!(body["scope"], "openid profile");
    let (_, body) = post(
        &app,
        "/connect/introspect",
        ("web", "secret"),
        &[("token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
}

#[tokio::test]
async fn introspection_of_an_api_token_works_for_its_client() {
    let app = spawn_app().await;
    let (_, body, _) = app
        .token(
            ("client", "secret"),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let (_, intro) = post(
        &app,
        "/connect/introspect",
        ("client", "secret"),
        &[("token", body["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(intro["active"], true);
    assert_eq!(intro["aud"], serde_json::json!(["api1"]));
}

#[tokio::test]
async fn inactive_unknown_or_foreign_tokens_answer_only_active_false() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let (_, body) = post(
        &app,
        "/connect/introspect",
        ("web2", "secret"),
        &[("token", access)],
    )
    .await;
    assert_eq!(body, serde_json::json!({"active": false}));
    let (_, body) = post(
        &app,
        "/connect/introspect",
        ("web", "secret"),
        &[("token", "unknown")],
    )
    .await;
    assert_eq!(body, serde_json::json!({"active": false}));
    post(
        &app,
        "/connect/revocation",
        ("web", "secret"),
        &[("token", access)],
    )
    .await;
    let (_, body) = post(
        &app,
        "/connect/introspect",
        ("web", "secret"),
        &[("token", access)],
    )
    .await;
    assert_eq!(body, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/connect/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
}
