use crate::helpers::*;

#[tokio::test]
async fn discovery_names_every_endpoint_under_the_issuer() {
    let app = spawn_app().await;
    let response = app
        .api
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], "https://localhost:5001");
    for (key, path) in [
        ("authorization_endpoint", "/connect/authorize"),
        ("token_endpoint", "/connect/token"),
        ("userinfo_endpoint", "/connect/userinfo"),
        ("jwks_uri", "/.well-known/openid-configuration/jwks"),
        ("end_session_endpoint", "/connect/endsession"),
        ("revocation_endpoint", "/connect/revocation"),
        ("introspection_endpoint", "/connect/introspect"),
    ] {
        assert_eq!(doc[key], format!("https://localhost:5001{path}"), "{key}");
    }
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&serde_json::json!("openid")));
    assert!(scopes.contains(&serde_json::json!("api1")));
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(!grants.contains(&serde_json::json!("password")));
    assert!(!grants.contains(&serde_json::json!("implicit")));
}

#[tokio::test]
async fn discovery_issuer_follows_the_configured_issuer() {
    let app = spawn_app_with(|s| s.issuer = "https://idp.example.test/".into()).await;
    let doc: serde_json::Value = app
        .api
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], "https://idp.example.test");
    assert_eq!(
        doc["token_endpoint"],
        "https://idp.example.test/connect/token"
    );
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_that_id_tokens_name() {
    let app = spawn_app().await;
    let jwks: serde_json::Value = app
        .api
        .get(app.url("/.well-known/openid-configuration/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none(), "no private part is published");
    let tokens = app.tokens().await;
    let (header, _) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["kid"], keys[0]["kid"]);
    assert_eq!(header["alg"], "RS256");
}

#[tokio::test]
async fn the_signing_key_survives_a_restart_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let kid_of = |app: &TestApp| {
        let jwks: serde_json::Value = serde_json::from_str(&app.state.jwks_json).unwrap();
        jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
    };
    let mut settings = test_settings(&path);
    settings.keys.signing_key_pem = None;
    let first = spawn_in(settings.clone(), tempfile::tempdir().unwrap()).await;
    let kid = kid_of(&first);
    drop(first);
    let second = spawn_in(settings, dir).await;
    assert_eq!(kid_of(&second), kid);
    let jwks: serde_json::Value = second
        .api
        .get(second.url("/.well-known/openid-configuration/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid);
}

#[tokio::test]
async fn head_on_discovery_jwks_and_userinfo_answers_like_get_without_a_body() {
    let app = spawn_app().await;
    let access_token = app.tokens().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/openid-configuration/jwks",
        "/connect/userinfo",
    ] {
        let get = app
            .api
            .get(app.url(path))
            .bearer_auth(&access_token)
            .send()
            .await
            .unwrap();
        let head = app
            .api
            .head(app.url(path))
            .bearer_auth(&access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), 200, "{path}");
        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    // HEAD of userinfo without a token is refused like GET.
    let head = app
        .api
        .head(app.url("/connect/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 401);
}

#[tokio::test]
async fn an_account_page_answers_a_method_it_does_not_serve_with_405_and_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("PUT", "/Account/Login", "GET, HEAD, POST"),
        ("DELETE", "/Account/Create", "GET, HEAD, POST"),
        ("PATCH", "/Account/Mfa", "GET, HEAD, POST"),
        // Callbacks spend a token on GET: no HEAD for them.
        ("HEAD", "/Account/Login/Callback", "GET"),
        ("POST", "/Account/Mfa/Callback", "GET"),
        ("POST", "/Account/Passkeys", "GET, HEAD"),
        ("GET", "/Account/Passkeys/Add", "POST"),
        ("GET", "/Account/Passkeys/Remove", "POST"),
        ("PUT", "/Account/Notice", "GET, HEAD"),
    ] {
        let response = app
            .api
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(
            response.headers().get("allow").unwrap().to_str().unwrap(),
            allow,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn an_account_page_answers_head_like_get_without_a_body() {
    let app = spawn_app().await;
    for path in ["/Account/Notice?reason=expired", "/Account/Passkeys"] {
        let get = app.api.get(app.url(path)).send().await.unwrap();
        let head = app.api.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        assert_ne!(head.status(), 405, "{path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
}

#[tokio::test]
async fn a_method_an_endpoint_does_not_serve_answers_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("POST", "/.well-known/openid-configuration", "GET, HEAD"),
        (
            "DELETE",
            "/.well-known/openid-configuration/jwks",
            "GET, HEAD",
        ),
        ("GET", "/connect/token", "POST"),
        ("PUT", "/connect/userinfo", "GET, HEAD, POST"),
        ("GET", "/connect/revocation", "POST"),
        ("GET", "/connect/introspect", "POST"),
        ("DELETE", "/connect/authorize", "GET, POST"),
        ("HEAD", "/connect/authorize", "GET, POST"),
        ("PUT", "/connect/endsession", "GET, POST"),
        ("PATCH", "/Account/Logout", "GET, POST"),
    ] {
        let response = app
            .api
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(
            response.headers().get("allow").unwrap().to_str().unwrap(),
            allow,
            "{method} {path}"
        );
    }
    let unknown = app
        .api
        .get(app.url("/connect/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn discovery_lists_exactly_the_acr_values_and_the_claims_parameter_it_honours() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .api
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["acr_values_supported"],
        serde_json::json!([
            identity_server::oidc::acr::PWD,
            identity_server::oidc::acr::MFA,
            identity_server::oidc::acr::PHR
        ])
    );
    assert_eq!(doc["claims_parameter_supported"], true);
    let claims = doc["claims_supported"].as_array().unwrap();
    assert!(claims.contains(&serde_json::json!("acr")));
    assert!(claims.contains(&serde_json::json!("amr")));
}

#[tokio::test]
async fn every_id_token_carries_the_acr_its_session_reached() {
    let app = spawn_app().await;
    // `code_for` signs alice in with a password and a second factor.
    let tokens = app.tokens().await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], identity_server::oidc::acr::MFA);
    assert!(claims["sid"].is_string());
}
