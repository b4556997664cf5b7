//! The happy path: sign-in, the claims page, userinfo, and what the responses look like.

use crate::helpers::{location, param, spawn_app};
use crate::mock_provider::{ALICE_SUB, Behaviour};

#[actix_web::test]
async fn a_page_that_needs_a_user_redirects_to_authorize_with_state_nonce_and_pkce() {
    let app = spawn_app(Behaviour::default()).await;

    let url = app.start_sign_in().await;

    assert_eq!(param(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(param(&url, "client_id").as_deref(), Some("web"));
    assert_eq!(
        param(&url, "redirect_uri").unwrap(),
        app.url("/signin-oidc")
    );
    assert_eq!(param(&url, "scope").as_deref(), Some("openid profile"));
    assert_eq!(
        param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(param(&url, "code_challenge").unwrap().len(), 43);
    assert!(param(&url, "state").unwrap().len() >= 22);
    assert!(param(&url, "nonce").unwrap().len() >= 22);
}

#[actix_web::test]
async fn signing_in_shows_the_claims_and_token_properties() {
    let app = spawn_app(Behaviour::default()).await;

    app.signed_in().await;
    let html = app.home_page().await;

    assert!(html.contains("Hello, Alice Smith"), "{html}");
    assert!(html.contains(ALICE_SUB));
    assert!(html.contains("AliceSmith@example.com"));
    assert!(html.contains("pwd mfa otp"), "amr is listed");
    assert!(html.contains("auth_time"));
    assert!(html.contains("openid profile"), "scopes are listed");
    assert!(html.contains("access token expires"));
    // tokens are not shown on the page
    let (id_token, access_token) = app
        .provider
        .record(|r| (r.id_tokens[0].clone(), r.access_tokens[0].clone()));
    assert!(!html.contains(&id_token) && !html.contains(&access_token));
}

#[actix_web::test]
async fn the_code_is_exchanged_with_the_pkce_verifier_and_client_authentication() {
    let app = spawn_app(Behaviour::default()).await;

    app.signed_in().await;

    let request = app.provider.record(|r| r.token_requests[0].clone());
    assert_eq!(
        request.get("grant_type").map(String::as_str),
        Some("authorization_code")
    );
    assert!(request.get("code_verifier").is_some_and(|v| v.len() >= 43));
    assert_eq!(
        request.get("redirect_uri").unwrap(),
        &app.url("/signin-oidc")
    );
    assert!(
        !request.contains_key("client_secret"),
        "the secret travels in the Basic header"
    );
}

#[actix_web::test]
async fn the_userinfo_page_calls_the_identity_server_with_the_access_token() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;

    let response = app.get("/userinfo").await;

    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("alice.example.com"), "{html}");
    let (issued, used) = app
        .provider
        .record(|r| (r.access_tokens[0].clone(), r.userinfo_tokens[0].clone()));
    assert_eq!(issued, used);
}

#[actix_web::test]
async fn the_session_cookie_is_host_prefixed_secure_httponly_lax_and_small() {
    let app = spawn_app(Behaviour::default()).await;

    let response = app.sign_in().await;

    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-webclient="))
        .expect("a session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    // tokens are kept server-side: the cookie stays far below the 4 KB limit
    assert!(cookie.len() < 512, "{} bytes: {cookie}", cookie.len());
}

#[actix_web::test]
async fn pages_carry_the_security_headers() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;

    let response = app.get("/").await;

    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-store");
    // HSTS on localhost too: a first plain-http visit must not be downgradable
    assert_eq!(header("strict-transport-security"), "max-age=31536000");
}

#[actix_web::test]
async fn after_sign_in_the_browser_goes_back_to_the_page_it_asked_for() {
    let app = spawn_app(Behaviour::default()).await;

    let response = app.get("/userinfo").await;
    assert_eq!(response.status(), 303);
    let authorize = url::Url::parse(&location(&response)).unwrap();
    let callback = app.authorize(&authorize).await;
    let response = app.get(callback.as_str()).await;

    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/userinfo");
}

#[actix_web::test]
async fn an_unknown_path_gets_a_404_page_and_a_get_on_signout_is_not_a_sign_out() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;

    let unknown = app.get("/nope").await;
    let get_signout = app.get("/signout").await;

    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("Not found"));
    assert_eq!(get_signout.status(), 404);
    assert_eq!(app.get("/").await.status(), 200, "still signed in");
}

#[actix_web::test]
async fn a_sign_out_form_that_does_not_parse_gets_a_clear_400_page() {
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;

    let response = app
        .browser
        .post(app.url("/signout"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Bad request"));
}

#[actix_web::test]
async fn logs_name_the_callback_path_but_never_the_code_state_or_tokens() {
    let app = spawn_app(Behaviour::default()).await;
    let callback = app.authorize(&app.start_sign_in().await).await;
    let code = param(&callback, "code").unwrap();
    let state = param(&callback, "state").unwrap();

    assert_eq!(app.get(callback.as_str()).await.status(), 303);
    app.get("/userinfo").await;

    let logs = crate::helpers::logs().text();
    assert!(
        logs.contains("/signin-oidc"),
        "the request span names the path"
    );
    let (id_token, access_token, refresh_token_requests) = app.provider.record(|r| {
        (
            r.id_tokens[0].clone(),
            r.access_tokens[0].clone(),
            r.token_requests.len(),
        )
    });
    assert_eq!(refresh_token_requests, 1);
    for secret in [&code, &state, &id_token, &access_token] {
        assert!(!logs.contains(secret.as_str()), "a secret reached the log");
    }
}
