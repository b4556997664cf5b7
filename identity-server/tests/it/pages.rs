use crate::helpers::*;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/.well-known/openid-configuration",
        "/connect/authorize?client_id=evil",
        "/nowhere",
        "/static/site.css",
        "/Account/Logout",
    ] {
        let response = app.browser.get(app.url(path)).send().await.unwrap();
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age="),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_home_page_shows_the_signed_in_user_with_manage_mfa_and_logout() {
    let app = spawn_app().await;
    let (status, _, body) = app.browse(&app.url("/")).await;
    assert_eq!(status, 200);
    assert!(!body.contains("Manage MFA"));
    app.tokens().await;
    let (_, _, body) = app.browse(&app.url("/")).await;
    assert!(body.contains("Alice Smith"));
    assert!(body.contains(ALICE));
    assert!(body.contains("href=\"/Account/Mfa\""));
    assert!(
        body.contains("Continue to Web client"),
        "on to the client: {body}"
    );
    assert!(body.contains("href=\"/Account/Logout\""));
}

#[tokio::test]
async fn the_csrf_and_session_cookies_are_host_prefixed_secure_httponly_and_lax() {
    let app = spawn_app().await;
    let response = app.browser.get(app.url("/")).send().await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-idsrv.csrf="));
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let (_, location, _) = app.browse(&app.authorize_url("web", REDIRECT, &[])).await;
    let req = actix_web::test::TestRequest::default().to_http_request();
    let sign_in = identity_server::signin::SignIn {
        subject: ALICE.into(),
        auth_time: 0,
        amr: vec!["pwd".into()],
        remember: true,
    };
    let response = identity_server::signin::complete_sign_in(
        &app.state,
        &req,
        &TestApp::request_id(&location.unwrap()),
        sign_in,
    )
    .await
    .unwrap();
    let cookie = response.cookies().next().unwrap().to_string();
    assert!(cookie.starts_with("__Host-idsrv.session="));
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn an_unknown_path_gets_a_404_page() {
    let app = spawn_app().await;
    let (status, _, body) = app.browse(&app.url("/nowhere")).await;
    assert_eq!(status, 404);
    assert!(body.contains("Not found"));
}

#[tokio::test]
async fn the_stylesheet_is_served_from_the_binary() {
    let app = spawn_app().await;
    let response = app
        .browser
        .get(app.url("/static/site.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(response.text().await.unwrap().contains(".site-header"));
}

#[tokio::test]
async fn a_bad_configuration_fails_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path());
    settings.clients[0].redirect_uris = vec!["not a url".into()];
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err =
        identity_server::startup::Application::build_with(settings, listener, test_tls().clone())
            .await
            .unwrap_err();
    assert!(
        err.to_string().contains("clients[0].redirect_uris"),
        "{err}"
    );
}
