use crate::helpers::*;

#[tokio::test]
async fn the_code_flow_returns_an_id_token_an_access_token_and_a_refresh_token() {
    let app = spawn_app().await;
    let code = app.code_for("web", REDIRECT, &[]).await;
    let (status, body, headers) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid profile");
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);

    let (header, id) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(id["iss"], "https://localhost:5001");
    assert_eq!(id["sub"], ALICE);
    assert_eq!(id["aud"], serde_json::json!(["web"]));
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["amr"], serde_json::json!(["pwd", "mfa", "otp"]));
    assert_eq!(id["name"], "Alice Smith");
    assert_eq!(id["website"], "http://alice.example.com");
    assert!(id.get("email").is_none(), "email scope was not requested");
    assert!(id["sid"].as_str().unwrap().len() >= 22);
    assert!(id["exp"].as_i64().unwrap() > id["iat"].as_i64().unwrap());
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    // at_hash: left half of SHA-256 of the access token.
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body["access_token"].as_str().unwrap().as_bytes());
    assert_eq!(
        id["at_hash"],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    );

    let (header, at) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(at["iss"], "https://localhost:5001");
    assert_eq!(at["sub"], ALICE);
    assert_eq!(at["client_id"], "web");
    assert_eq!(at["aud"], "https://localhost:5001");
    assert_eq!(at["scope"], "openid profile");
    assert!(at["jti"].is_string() && at["exp"].is_i64() && at["iat"].is_i64());
}

#[tokio::test]
async fn client_secret_post_is_accepted() {
    let app = spawn_app().await;
    let code = app.code_for("web", REDIRECT, &[]).await;
    let response = app
        .api
        .post(app.url("/connect/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "web"),
            ("client_secret", "secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_wrong_client_secret_answers_401_invalid_client_with_a_basic_challenge() {
    let app = spawn_app().await;
    let (status, body, headers) = app
        .token(("web", "wrong"), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    let response = app
        .api
        .post(app.url("/connect/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "client"),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let (status, body, _) = app
        .token(
            ("nobody", "secret"),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn a_correct_secret_after_a_cached_success_is_still_checked_against_the_hash() {
    let app = spawn_app().await;
    let (status, _, _) = app
        .token(
            ("client", "secret"),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = app
        .token(
            ("client", "secret2"),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 401);
    let (status, _, _) = app
        .token(
            ("client", "secret"),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_the_tokens_it_issued() {
    let app = spawn_app().await;
    let code = app.code_for("web", REDIRECT, &[]).await;
    let (status, first) = app.redeem(&code).await;
    assert_eq!(status, 200);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(access).await.0, 200);
    let (status, second) = app.redeem(&code).await;
    assert_eq!(status, 400);
    assert_eq!(second["error"], "invalid_grant");
    assert_eq!(
        app.userinfo(access).await.0,
        401,
        "the access token of the first use is revoked"
    );
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "so is its refresh token"
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app_with(|s| s.tokens.code_lifetime_secs = 1).await;
    let code = app.code_for("web", REDIRECT, &[]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = app.redeem(&code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_code_of_another_client_is_refused() {
    let app = spawn_app().await;
    let code = app.code_for("web2", "https://localhost:5009/cb", &[]).await;
    let (status, body) = app.redeem(&code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_different_redirect_uri_at_the_token_endpoint_is_refused() {
    let app = spawn_app().await;
    let code = app.code_for("web", REDIRECT, &[]).await;
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://localhost:5002/signin-oidc?x=1"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_refused() {
    let app = spawn_app().await;
    for verifier in [Some("x".repeat(43)), None] {
        let code = app.code_for("web", REDIRECT, &[]).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(v) = &verifier {
            form.push(("code_verifier", v.as_str()));
        }
        let (status, body, _) = app.token(("web", "secret"), &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{verifier:?}"
        );
    }
}

#[tokio::test]
async fn a_verifier_without_a_challenge_is_refused() {
    let app = spawn_app().await;
    let code = app
        .code_for(
            "legacy",
            REDIRECT,
            &[
                ("code_challenge", "<drop>"),
                ("code_challenge_method", "<drop>"),
            ],
        )
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
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn refresh_rotates_the_token_and_reuse_revokes_the_whole_grant() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    let (status, second, headers) = app
        .token(
            ("web", "secret"),
            &[("grant_type", "refresh_token"), ("refresh_token", r1)],
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(headers["cache-control"], "no-store");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert!(
        second.get("id_token").is_none(),
        "no new ID token on refresh by default"
    );
    let a2 = second["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(a2).await.0, 200);
    // Replay of the rotated token: refused, and the whole grant goes.
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[("grant_type", "refresh_token"), ("refresh_token", r1)],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[("grant_type", "refresh_token"), ("refresh_token", r2)],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(app.userinfo(a2).await.0, 401);
}

#[tokio::test]
async fn refresh_scope_can_only_shrink() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let r1 = tokens["refresh_token"].as_str().unwrap();
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", r1),
                ("scope", "openid email"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", r1),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid");
}

#[tokio::test]
async fn a_refresh_token_of_another_client_is_refused() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let (status, body, _) = app
        .token(
            ("web2", "secret"),
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
    // and the rightful client can still use it
    let (status, _, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_expired_grant_cannot_be_refreshed() {
    let app = spawn_app_with(|s| s.tokens.refresh_token_lifetime_secs = 1).await;
    let tokens = app.tokens().await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
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
async fn refresh_grants_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path());
    let first = spawn_in(settings.clone(), tempfile::tempdir().unwrap()).await;
    let tokens = first.tokens().await;
    drop(first);
    let second = spawn_in(settings, dir).await;
    let (status, _, _) = second
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn client_credentials_issues_an_rfc9068_access_token() {
    let app = spawn_app().await;
    let (status, body, headers) = app
        .token(
            ("client", "secret"),
            &[("grant_type", "client_credentials"), ("scope", "api1")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let (header, at) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(at["sub"], "client");
    assert_eq!(at["client_id"], "client");
    assert_eq!(at["aud"], "api1");
    assert_eq!(at["scope"], "api1");
}

#[tokio::test]
async fn client_credentials_with_a_bad_scope_is_refused() {
    let app = spawn_app().await;
    for scope in ["openid", "api2", "api1 profile"] {
        let (status, body, _) = app
            .token(
                ("client", "secret"),
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope")),
            "{scope}"
        );
    }
}

#[tokio::test]
async fn unsupported_or_unauthorized_grant_types_are_refused() {
    let app = spawn_app().await;
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body, _) = app
        .token(("web", "secret"), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body, _) = app
        .token(
            ("client", "secret"),
            &[("grant_type", "authorization_code"), ("code", "x")],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body, _) = app.token(("web", "secret"), &[("code", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body, _) = app
        .token(("web", "secret"), &[("grant_type", "authorization_code")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[("grant_type", "authorization_code"), ("code", "unknown")],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn malformed_and_oversized_token_requests_get_invalid_request() {
    let app = spawn_app().await;
    let send = |body: String, content_type: &'static str| {
        app.api
            .post(app.url("/connect/token"))
            .basic_auth("client", Some("secret"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = send(
        r#"{"grant_type":"client_credentials"}"#.into(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let response = send(
        format!("grant_type=client_credentials&pad={}", "x".repeat(40_000)),
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let response = send(
        "grant_type=client_credentials&grant_type=client_credentials".into(),
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let response = send("%%%=%ZZ&\u{0}".into(), "application/x-www-form-urlencoded")
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .api
        .post(app.url("/connect/token"))
        .header("authorization", "Basic !!!")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let response = app
        .api
        .post(app.url("/connect/token"))
        .basic_auth("client", Some("secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", "secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_answers_503_temporarily_unavailable_when_every_argon2_permit_is_taken()
 {
    let app = spawn_app().await;
    let permits = app.state.hashing.permits().clone();
    let all = permits.available_permits() as u32;
    let held = permits.acquire_many_owned(all).await.unwrap();
    let (status, body, _) = app
        .token(("web", "wrong"), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "temporarily_unavailable");
    drop(held);
    let (status, body, _) = app
        .token(("web", "wrong"), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn wrong_client_secrets_past_the_limit_are_refused_with_429_before_any_hashing() {
    let app = spawn_app_with(|s| s.limits.client_auth_max_failures_per_client = 3).await;
    let cc = [("grant_type", "client_credentials")];
    // The real client authenticates once: its verified secret is remembered.
    assert_eq!(app.token(("client", "secret"), &cc).await.0, 200);
    for _ in 0..3 {
        let (status, body, _) = app.token(("client", "wrong"), &cc).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "invalid_client");
    }
    // With every Argon2 permit taken, a hash would answer 503: 429 proves nothing was hashed.
    let permits = app.state.hashing.permits().clone();
    let all = permits.available_permits() as u32;
    let held = permits.acquire_many_owned(all).await.unwrap();
    let (status, body, _) = app.token(("client", "wrong-again"), &cc).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "invalid_client");
    drop(held);
    let (status, _, _) = app.token(("client", "another"), &cc).await;
    assert_eq!(status, 429);
    // The real client, already verified, is not locked out by the guesses.
    let (status, body, _) = app.token(("client", "secret"), &cc).await;
    assert_eq!(status, 200, "{body}");
    // Another client is not affected.
    assert_eq!(app.token(("web", "wrong"), &cc).await.0, 401);
}

#[tokio::test]
async fn wrong_client_secrets_from_one_network_are_limited_across_clients() {
    let app = spawn_app_with(|s| s.limits.client_auth_max_failures_per_network = 2).await;
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(app.token(("client", "wrong"), &cc).await.0, 401);
    assert_eq!(app.token(("web", "wrong"), &cc).await.0, 401);
    let (status, body, _) = app.token(("web2", "wrong"), &cc).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_refreshed_id_token_carries_only_the_claims_of_the_narrowed_scope() {
    let app = spawn_app_with(|s| s.tokens.id_token_on_refresh = true).await;
    let tokens = app.tokens().await;
    let (_, first) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(first["name"], "Alice Smith");
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], ALICE);
    assert!(claims.get("name").is_none(), "{claims}");
    assert!(claims.get("given_name").is_none(), "{claims}");
}

#[tokio::test]
async fn a_refresh_scope_that_leaves_the_access_token_without_an_audience_is_invalid_scope() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("scope", "profile"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // The refresh token was not spent by the refused request.
    let (status, body, _) = app
        .token(
            ("web", "secret"),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
