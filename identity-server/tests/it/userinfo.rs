use crate::helpers::*;

#[tokio::test]
async fn userinfo_returns_the_claims_of_the_granted_scopes_by_get_and_post() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, claims, headers) = app.userinfo(access).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["name"], "Alice Smith");
    assert_eq!(claims["given_name"], "Alice");
    assert!(claims.get("email").is_none());
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], id["sub"]);

    let by_header = app
        .api
        .post(app.url("/connect/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
    let by_body = app
        .api
        .post(app.url("/connect/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(by_body.status(), 200);
    assert_eq!(
        by_body.json::<serde_json::Value>().await.unwrap()["sub"],
        ALICE
    );
}

#[tokio::test]
async fn the_email_scope_releases_email_claims() {
    let app = spawn_app().await;
    let code = app
        .code_for("legacy", REDIRECT, &[("scope", "openid email")])
        .await;
    let (status, body, _) = app
        .token(
            ("legacy", "secret"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let (_, claims, _) = app.userinfo(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["email"], "AliceSmith@example.com");
    assert_eq!(claims["email_verified"], true);
    assert!(claims.get("name").is_none());
}

#[tokio::test]
async fn userinfo_without_a_token_answers_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let response = app
        .api
        .get(app.url("/connect/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=")
    );
}

#[tokio::test]
async fn an_invalid_or_tampered_token_answers_401_invalid_token() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let tampered = tamper(access);
    let id_token = tokens["id_token"].as_str().unwrap();
    for token in ["garbage", tampered.as_str(), id_token] {
        let (status, body, headers) = app.userinfo(token).await;
        assert_eq!(status, 401, "{token}");
        assert_eq!(body["error"], "invalid_token");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
    }
}

#[tokio::test]
async fn a_client_credentials_token_lacks_the_openid_scope_for_userinfo() {
    let app = spawn_app().await;
    let (_, body, _) = app
        .token(
            ("client", "secret"),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let (status, body, _) = app.userinfo(body["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
}

#[tokio::test]
async fn a_token_in_both_header_and_body_is_refused() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let response = app
        .api
        .post(app.url("/connect/userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
}
