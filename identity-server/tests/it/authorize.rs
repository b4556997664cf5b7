use reqwest::cookie::CookieStore;

use crate::helpers::*;

#[tokio::test]
async fn authorize_sends_a_browser_without_session_to_the_login_page_with_only_a_request_id() {
    let app = spawn_app().await;
    let (status, location, _) = app.browse(&app.authorize_url("web", REDIRECT, &[])).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    let id = TestApp::request_id(&location);
    assert_eq!(id.len(), 43);
    assert!(
        !location.contains("redirect"),
        "the login page gets no url: {location}"
    );
    let pending = identity_server::signin::pending_request(&app.state, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.client_id, "web");
}

#[tokio::test]
async fn a_signed_in_user_is_sent_back_with_code_state_and_iss() {
    let app = spawn_app().await;
    let (_, location, _) = app.browse(&app.authorize_url("web", REDIRECT, &[])).await;
    let back = app
        .sign_in(&TestApp::request_id(&location.unwrap()), "alice", &["pwd"])
        .await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("xyz"));
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some("https://localhost:5001")
    );
    assert_eq!(query_param(&back, "code").unwrap().len(), 43);
    // The session now answers the next authorize request without a login.
    let (status, location, _) = app.browse(&app.authorize_url("web", REDIRECT, &[])).await;
    assert_eq!(status, 302);
    assert!(location.unwrap().starts_with(REDIRECT));
}

#[tokio::test]
async fn a_request_id_can_complete_only_one_sign_in() {
    let app = spawn_app().await;
    let (_, location, _) = app.browse(&app.authorize_url("web", REDIRECT, &[])).await;
    let id = TestApp::request_id(&location.unwrap());
    app.sign_in(&id, "alice", &["pwd"]).await;
    let req = actix_web::test::TestRequest::default().to_http_request();
    let sign_in = identity_server::signin::SignIn {
        subject: ALICE.into(),
        auth_time: 0,
        amr: vec!["pwd".into()],
        remember: false,
    };
    let err = identity_server::signin::complete_sign_in(&app.state, &req, &id, sign_in)
        .await
        .unwrap_err();
    assert_eq!(actix_web::ResponseError::status_code(&err), 400);
}

#[tokio::test]
async fn a_new_sign_in_gets_a_new_session_id() {
    let app = spawn_app().await;
    let url: url::Url = app.base_url.parse().unwrap();
    let cookie = |app: &TestApp| {
        use reqwest::cookie::CookieStore;
        app.jar
            .cookies(&url)
            .map(|c| c.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    app.code_for("web", REDIRECT, &[]).await;
    let first = cookie(&app);
    app.code_for("web", REDIRECT, &[("prompt", "login")]).await;
    let second = cookie(&app);
    assert!(first.contains("__Host-idsrv.session="));
    assert_ne!(first, second);
}

#[tokio::test]
async fn denying_the_sign_in_sends_access_denied_to_the_client() {
    let app = spawn_app().await;
    let (_, location, _) = app.browse(&app.authorize_url("web", REDIRECT, &[])).await;
    let response =
        identity_server::signin::deny(&app.state, &TestApp::request_id(&location.unwrap()))
            .await
            .unwrap();
    assert_eq!(response.status(), 303);
    let back = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(query_param(back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(back, "state").as_deref(), Some("xyz"));
}

async fn assert_error_page(app: &TestApp, url: &str) {
    let (status, location, body) = app.browse(url).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(location, None, "an error page never redirects");
    assert!(body.contains(">Bad request</h1>"), "{body}");
    assert!(
        body.contains("<title>Bad request · Authsignal MFA Demo</title>"),
        "{body}"
    );
    assert!(body.contains("id=\"continue\""), "a way forward: {body}");
}

#[tokio::test]
async fn an_unknown_or_missing_client_gets_an_error_page_not_a_redirect() {
    let app = spawn_app().await;
    assert_error_page(&app, &app.authorize_url("evil", REDIRECT, &[])).await;
    assert_error_page(
        &app,
        &app.authorize_url("web", REDIRECT, &[("client_id", "<drop>")]),
    )
    .await;
}

#[tokio::test]
async fn a_redirect_uri_mismatch_gets_an_error_page_also_with_an_added_query() {
    let app = spawn_app().await;
    for uri in [
        "https://evil.example/cb",
        "https://localhost:5002/signin-oidc?x=1",
        "https://localhost:5002/signin-oidc/",
        "HTTPS://localhost:5002/signin-oidc",
    ] {
        assert_error_page(&app, &app.authorize_url("web", uri, &[])).await;
    }
    assert_error_page(
        &app,
        &app.authorize_url("web", REDIRECT, &[("redirect_uri", "<drop>")]),
    )
    .await;
    // A redirect URI of another client is not this client's.
    assert_error_page(
        &app,
        &app.authorize_url("web", "https://localhost:5009/cb", &[]),
    )
    .await;
}

async fn assert_error_redirect(app: &TestApp, extra: &[(&str, &str)], error: &str) {
    let (status, location, _) = app.browse(&app.authorize_url("web", REDIRECT, extra)).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some(error),
        "{extra:?}: {location}"
    );
    assert!(query_param(&location, "error_description").is_some());
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some("https://localhost:5001")
    );
}

#[tokio::test]
async fn pkce_missing_plain_or_malformed_is_refused_with_invalid_request() {
    let app = spawn_app().await;
    assert_error_redirect(
        &app,
        &[
            ("code_challenge", "<drop>"),
            ("code_challenge_method", "<drop>"),
        ],
        "invalid_request",
    )
    .await;
    assert_error_redirect(
        &app,
        &[("code_challenge_method", "plain")],
        "invalid_request",
    )
    .await;
    assert_error_redirect(
        &app,
        &[("code_challenge_method", "<drop>")],
        "invalid_request",
    )
    .await;
    assert_error_redirect(&app, &[("code_challenge", "short")], "invalid_request").await;
    assert_error_redirect(&app, &[("code_challenge", "<drop>")], "invalid_request").await;
}

#[tokio::test]
async fn response_type_other_than_code_or_missing_is_refused() {
    let app = spawn_app().await;
    assert_error_redirect(&app, &[("response_type", "<drop>")], "invalid_request").await;
    assert_error_redirect(
        &app,
        &[("response_type", "token")],
        "unsupported_response_type",
    )
    .await;
    assert_error_redirect(
        &app,
        &[("response_type", "code id_token")],
        "unsupported_response_type",
    )
    .await;
}

#[tokio::test]
async fn a_bad_scope_is_refused_with_invalid_scope() {
    let app = spawn_app().await;
    assert_error_redirect(&app, &[("scope", "openid api1")], "invalid_scope").await;
    assert_error_redirect(&app, &[("scope", "openid nonsense")], "invalid_scope").await;
    assert_error_redirect(&app, &[("scope", "profile")], "invalid_scope").await;
    assert_error_redirect(&app, &[("scope", "<drop>")], "invalid_scope").await;
}

#[tokio::test]
async fn request_objects_and_bad_prompt_or_max_age_are_refused() {
    let app = spawn_app().await;
    assert_error_redirect(&app, &[("request", "eyJ")], "request_not_supported").await;
    assert_error_redirect(
        &app,
        &[("request_uri", "https://x")],
        "request_uri_not_supported",
    )
    .await;
    assert_error_redirect(&app, &[("prompt", "none login")], "invalid_request").await;
    assert_error_redirect(&app, &[("prompt", "bogus")], "invalid_request").await;
    assert_error_redirect(&app, &[("max_age", "soon")], "invalid_request").await;
    assert_error_redirect(&app, &[("response_mode", "fragment")], "invalid_request").await;
    let long = "x".repeat(5000);
    assert_error_redirect(&app, &[("nonce", long.as_str())], "invalid_request").await;
}

#[tokio::test]
async fn a_repeated_parameter_is_an_error_page_or_an_invalid_request() {
    let app = spawn_app().await;
    let url = format!("{}&client_id=web", app.authorize_url("web", REDIRECT, &[]));
    assert_error_page(&app, &url).await;
}

#[tokio::test]
async fn hints_locales_and_unknown_parameters_do_not_break_the_request() {
    let app = spawn_app().await;
    let extra = [
        ("login_hint", "alice"),
        ("ui_locales", "de-DE"),
        ("claims_locales", "de"),
        ("acr_values", "urn:mfa"),
        ("id_token_hint", "x.y.z"),
        ("display", "page"),
        ("foo", "bar"),
    ];
    let (status, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &extra))
        .await;
    assert_eq!(status, 302);
    let id = TestApp::request_id(&location.unwrap());
    let pending = identity_server::signin::pending_request(&app.state, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.login_hint.as_deref(), Some("alice"));
    assert_eq!(pending.acr_values.as_deref(), Some("urn:mfa"));
}

#[tokio::test]
async fn a_request_without_nonce_still_works() {
    let app = spawn_app().await;
    let code = app.code_for("web", REDIRECT, &[("nonce", "<drop>")]).await;
    let (status, body) = app.redeem(&code).await;
    assert_eq!(status, 200);
    let (_, claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert!(claims.get("nonce").is_none());
}

#[tokio::test]
async fn prompt_none_without_a_session_answers_login_required() {
    let app = spawn_app().await;
    assert_error_redirect(&app, &[("prompt", "none")], "login_required").await;
}

#[tokio::test]
async fn prompt_none_with_a_session_issues_a_code() {
    let app = spawn_app().await;
    app.code_for("web", REDIRECT, &[]).await;
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("prompt", "none")]))
        .await;
    assert!(query_param(&location.unwrap(), "code").is_some());
}

#[tokio::test]
async fn prompt_login_forces_a_new_login_despite_a_session() {
    let app = spawn_app().await;
    app.code_for("web", REDIRECT, &[]).await;
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("prompt", "login")]))
        .await;
    let id = TestApp::request_id(&location.unwrap());
    assert!(
        identity_server::signin::pending_request(&app.state, &id)
            .await
            .unwrap()
            .unwrap()
            .prompt_login
    );
}

#[tokio::test]
async fn max_age_forces_reauthentication_and_auth_time_reflects_it() {
    let app = spawn_app().await;
    let first = app.tokens().await;
    let (_, first_claims) = jwt_parts(first["id_token"].as_str().unwrap());
    // A large max_age reuses the session.
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("max_age", "3600")]))
        .await;
    assert!(query_param(&location.unwrap(), "code").is_some());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("max_age", "1")]))
        .await;
    let location = location.unwrap();
    let back = app
        .sign_in(&TestApp::request_id(&location), "alice", &["pwd"])
        .await;
    let (status, body) = app.redeem(&query_param(&back, "code").unwrap()).await;
    assert_eq!(status, 200);
    let (_, claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert!(claims["auth_time"].as_i64().unwrap() > first_claims["auth_time"].as_i64().unwrap());
}

#[tokio::test]
async fn authorize_by_post_works_and_answers_303() {
    let app = spawn_app().await;
    let url = app.authorize_url("web", REDIRECT, &[]);
    let query = url.split_once('?').unwrap().1.to_owned();
    let response = app
        .browser
        .post(app.url("/connect/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/Account/Login?ar=")
    );
}

#[tokio::test]
async fn an_oversized_authorize_post_is_refused_without_a_panic() {
    let app = spawn_app().await;
    let body = format!("client_id=web&state={}", "x".repeat(20_000));
    let response = app
        .browser
        .post(app.url("/connect/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("too large"));
}

#[tokio::test]
async fn authorize_sends_no_cors_headers() {
    let app = spawn_app().await;
    let response = app
        .browser
        .get(app.authorize_url("web", REDIRECT, &[]))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
}

#[tokio::test]
async fn an_idle_session_ends_and_the_next_authorize_needs_a_login() {
    let app = spawn_app_with(|s| s.session.idle_timeout_secs = 1).await;
    app.code_for("web", REDIRECT, &[]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("prompt", "none")]))
        .await;
    assert_eq!(
        query_param(&location.unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn a_new_sign_in_ends_the_previous_session_server_side() {
    let app = spawn_app().await;
    app.code_for("web", REDIRECT, &[]).await;
    let url: url::Url = app.base_url.parse().unwrap();
    let old_cookie = {
        use reqwest::cookie::CookieStore;
        app.jar.cookies(&url).unwrap().to_str().unwrap().to_owned()
    };
    let old_sid = old_cookie
        .split("__Host-idsrv.session=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let old_key = identity_server::signin::session_key(&old_sid);
    let live = |key: String| {
        let state = app.state.clone();
        async move {
            state
                .stores
                .sessions
                .touch(&key, identity_server::oidc::now(), 3600, 3600)
                .await
                .unwrap()
        }
    };
    assert!(
        live(old_key.clone()).await.is_some(),
        "the old session is live before"
    );
    app.code_for("web", REDIRECT, &[("prompt", "login")]).await;
    assert!(
        live(old_key).await.is_none(),
        "the new sign-in ended the old session"
    );
}

#[tokio::test]
async fn a_session_cookie_set_to_an_id_tokens_sid_gives_no_session() {
    let app = spawn_app().await;
    let tokens = app.tokens().await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    let sid = claims["sid"].as_str().unwrap().to_owned();
    let url: url::Url = app.base_url.parse().unwrap();
    let real = app.jar.cookies(&url).unwrap().to_str().unwrap().to_owned();
    assert!(
        !real.contains(&sid),
        "the session cookie carries the public sid: {real}"
    );
    // An attacker with only the ID token replaces the cookie by its sid.
    app.jar.add_cookie_str(
        &format!(
            "{}={sid}; Path=/; Secure; HttpOnly",
            identity_server::signin::SESSION_COOKIE
        ),
        &url,
    );
    let (status, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("prompt", "none")]))
        .await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("login_required"),
        "{location}"
    );
    assert!(query_param(&location, "code").is_none());
}

#[tokio::test]
async fn a_session_cannot_hold_more_than_its_quota_of_unredeemed_codes() {
    let app = spawn_app_with(|s| s.limits.max_unredeemed_codes_per_session = 2).await;
    let first = app.code_for("web", REDIRECT, &[]).await;
    let none = app.authorize_url("web", REDIRECT, &[("prompt", "none")]);
    let (_, location, _) = app.browse(&none).await;
    assert!(query_param(&location.unwrap(), "code").is_some());
    let (status, location, _) = app.browse(&none).await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("temporarily_unavailable"),
        "{location}"
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    // Redeeming a code frees its place.
    assert_eq!(app.redeem(&first).await.0, 200);
    let (_, location, _) = app.browse(&none).await;
    assert!(query_param(&location.unwrap(), "code").is_some());
}

#[tokio::test]
async fn free_text_parameters_longer_than_their_tighter_limits_are_refused() {
    let app = spawn_app().await;
    let hint_ok = "h".repeat(256);
    let hint_long = "h".repeat(257);
    let nonce_ok = "n".repeat(512);
    let nonce_long = "n".repeat(513);
    for name in ["login_hint", "acr_values", "ui_locales"] {
        assert_error_redirect(&app, &[(name, hint_long.as_str())], "invalid_request").await;
        let (_, location, _) = app
            .browse(&app.authorize_url("web", REDIRECT, &[(name, hint_ok.as_str())]))
            .await;
        assert!(location.unwrap().starts_with("/Account/Login"), "{name}");
    }
    assert_error_redirect(&app, &[("nonce", nonce_long.as_str())], "invalid_request").await;
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("nonce", nonce_ok.as_str())]))
        .await;
    assert!(location.unwrap().starts_with("/Account/Login"));
}

#[tokio::test]
async fn a_state_over_512_bytes_is_refused_with_the_exact_state_in_the_error_redirect() {
    let app = spawn_app().await;
    let state_ok = "s".repeat(512);
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("state", state_ok.as_str())]))
        .await;
    assert!(location.unwrap().starts_with("/Account/Login"));
    let state_long = format!("{}é&=", "s".repeat(511));
    let (status, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("state", state_long.as_str())]))
        .await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state_long.as_str())
    );
}

#[tokio::test]
async fn a_state_with_invalid_utf8_percent_escapes_is_refused_and_never_echoed() {
    let app = spawn_app().await;
    for bad in ["%FF%FE", "ab%C3", "%ED%A0%80"] {
        let url = format!("{}&state={bad}", app.authorize_url("web", REDIRECT, &[]))
            .replace("state=xyz&", "");
        let (status, location, body) = app.browse(&url).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(
            location, None,
            "{bad}: never redirected with an altered state"
        );
        assert!(body.contains("not valid utf-8"), "{bad}: {body}");
    }
    // The same by POST.
    let response = app
        .browser
        .post(app.url("/connect/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_id=web&redirect_uri=https%3A%2F%2Flocalhost%3A5002%2Fsignin-oidc&response_type=code&scope=openid&state=%FF")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn prompt_none_with_another_users_id_token_hint_answers_login_required() {
    let app = spawn_app().await;
    // Bob signs in first and gets an ID token; then alice signs in in the same browser.
    let (_, location, _) = app.browse(&app.authorize_url("web", REDIRECT, &[])).await;
    let location = app
        .sign_in(&TestApp::request_id(&location.unwrap()), "bob", &["pwd"])
        .await;
    let (status, bob) = app.redeem(&query_param(&location, "code").unwrap()).await;
    assert_eq!(status, 200, "{bob}");
    let bob_hint = bob["id_token"].as_str().unwrap();
    let alice = app.code_for("web", REDIRECT, &[("prompt", "login")]).await;
    let (_, alice) = app.redeem(&alice).await;
    let alice_hint = alice["id_token"].as_str().unwrap();

    let (status, location, _) = app
        .browse(&app.authorize_url(
            "web",
            REDIRECT,
            &[("prompt", "none"), ("id_token_hint", bob_hint)],
        ))
        .await;
    assert_eq!(status, 302);
    let location = location.unwrap();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("login_required"),
        "{location}"
    );
    assert!(query_param(&location, "code").is_none());
    // Without prompt=none the user is asked to sign in.
    let (_, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("id_token_hint", bob_hint)]))
        .await;
    assert!(location.unwrap().starts_with("/Account/Login"));
    // Alice's own hint is satisfied by her session.
    let (_, location, _) = app
        .browse(&app.authorize_url(
            "web",
            REDIRECT,
            &[("prompt", "none"), ("id_token_hint", alice_hint)],
        ))
        .await;
    assert!(query_param(&location.unwrap(), "code").is_some());
}

#[tokio::test]
async fn offline_access_is_accepted_for_a_client_allowed_the_refresh_grant() {
    let app = spawn_app().await;
    let code = app
        .code_for(
            "web",
            REDIRECT,
            &[("scope", "openid profile offline_access")],
        )
        .await;
    let (status, body) = app.redeem(&code).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(
        body["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "offline_access"),
        "{body}"
    );
    // A client without the refresh grant is refused.
    let app = spawn_app_with(|s| {
        s.clients[0].grant_types = vec!["authorization_code".into()];
    })
    .await;
    assert_error_redirect(&app, &[("scope", "openid offline_access")], "invalid_scope").await;
}

#[tokio::test]
async fn one_network_cannot_hold_more_pending_authorize_requests_than_its_quota() {
    let app = spawn_app_with(|s| s.limits.max_pending_authorize_requests_per_network = 3).await;
    let url = app.authorize_url("web", REDIRECT, &[]);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, location, _) = app.browse(&url).await;
        assert_eq!(status, 302);
        ids.push(TestApp::request_id(&location.unwrap()));
    }
    let (status, _, body) = app.browse(&url).await;
    assert_eq!(status, 429);
    assert!(body.contains("your network"), "{body}");
    // Completing one sign-in frees its place.
    app.sign_in(&ids[0], "alice", &["pwd"]).await;
    let (status, location, _) = app.browse(&url).await;
    assert_eq!(status, 302);
    assert!(location.unwrap().contains("code="));
    let (status, location, _) = app
        .browse(&app.authorize_url("web", REDIRECT, &[("prompt", "login")]))
        .await;
    assert_eq!(status, 302);
    TestApp::request_id(&location.unwrap());
}

#[tokio::test]
async fn a_parameter_repeated_after_an_empty_value_is_an_error_page() {
    let app = spawn_app().await;
    let url = format!(
        "{}/connect/authorize?client_id=&client_id=web&response_type=code&scope=openid",
        app.base_url
    );
    assert_error_page(&app, &url).await;
}
