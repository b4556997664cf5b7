//! Hosting the emulator safely: where `track` may send the browser, the headers of every
//! answer, the outbox of live codes only in development mode, and no public secret on a
//! network address.

use authsignal_emulator::configuration::{DEV_SECRET, Settings};
use authsignal_emulator::domain::secret::ApiSecret;
use authsignal_emulator::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{settings, spawn, spawn_with, tls};

async fn track_with_redirect(app: &crate::helpers::TestApp, url: &str) -> (StatusCode, Value) {
    let response = app
        .api(Method::POST, "/users/mallory-target/actions/login")
        .json(&json!({"redirectUrl": url, "email": "target@example.com"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn track_refuses_a_redirect_url_on_a_foreign_origin() {
    let app = spawn().await;
    let (status, body) = track_with_redirect(&app, "https://evil.example/steal").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    let description = body["errorDescription"].as_str().unwrap();
    assert!(
        description.contains("'https://evil.example'"),
        "{description}"
    );
    // Nothing was stored: the refused track's email is not on the user.
    let user = app
        .api(Method::GET, "/users/mallory-target")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(user["email"].is_null(), "{user}");
}

#[tokio::test]
async fn track_refuses_a_plain_http_redirect_url_even_to_an_allowed_host() {
    let app = spawn().await;
    let (status, body) = track_with_redirect(&app, "http://localhost:5001/cb").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errorDescription"]
            .as_str()
            .unwrap()
            .contains("'http'"),
        "{body}"
    );
    // A user-info trick with the allowed origin in front of another host is refused too.
    let (status, _) = track_with_redirect(&app, "https://localhost:5001@evil.example/cb").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn track_accepts_a_redirect_url_on_an_allowed_origin() {
    let app = spawn().await;
    let (status, body) =
        track_with_redirect(&app, "https://localhost:5001/Account/Login/Callback?x=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["token"].is_string(), "{body}");
}

/// Test settings with the loopback origins the official SDKs' suites redirect to.
fn with_loopback_http_origins() -> Settings {
    let mut settings = settings();
    settings.redirect_origins.extend([
        "http://localhost:3000".into(),
        "http://127.0.0.1:3000".into(),
    ]);
    settings
}

#[tokio::test]
async fn track_accepts_a_plain_http_redirect_url_on_a_loopback_origin_listed_explicitly() {
    let app = spawn_with(with_loopback_http_origins()).await;
    for url in ["http://localhost:3000", "http://127.0.0.1:3000/cb?x=1"] {
        let (status, body) = track_with_redirect(&app, url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert!(body["token"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn track_refuses_a_plain_http_loopback_redirect_url_whose_origin_is_not_listed() {
    let app = spawn_with(with_loopback_http_origins()).await;
    for url in [
        "http://localhost:3001/cb",
        "http://[::1]:3000/cb",
        "http://localhost:5001/cb",
    ] {
        let (status, body) = track_with_redirect(&app, url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(body["error"], "invalid_request");
        let description = body["errorDescription"].as_str().unwrap();
        assert!(
            description.contains("not an allowed redirect origin"),
            "{description}"
        );
    }
}

#[tokio::test]
async fn track_refuses_a_plain_http_redirect_url_on_a_host_that_is_not_loopback() {
    let app = spawn_with(with_loopback_http_origins()).await;
    for url in [
        "http://rp.example/cb",
        "http://127.0.0.2:3000/cb",
        "http://localhost:3000@evil.example/cb",
    ] {
        let (status, body) = track_with_redirect(&app, url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        let description = body["errorDescription"].as_str().unwrap();
        assert!(description.contains("is not https"), "{description}");
    }
}

#[tokio::test]
async fn the_emulator_refuses_to_start_with_a_plain_http_redirect_origin_that_is_not_loopback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let settings = Settings {
        redirect_origins: vec!["http://rp.example".into()],
        ..settings()
    };
    let Err(err) = Application::build_with(settings, listener, tls()).await else {
        panic!("an emulator with a plain http redirect origin on rp.example started");
    };
    let err = err.to_string();
    assert!(
        err.contains("redirect_origins") && err.contains("'http'"),
        "{err}"
    );
}

#[tokio::test]
async fn by_default_only_the_identity_server_of_cargo_run_is_an_allowed_redirect_origin() {
    assert_eq!(
        Settings::default().normalised_redirect_origins(),
        ["https://localhost:5001"]
    );
    let app = spawn_with(Settings {
        redirect_origins: Settings::default().redirect_origins,
        ..settings()
    })
    .await;
    let (status, _) = track_with_redirect(&app, "https://rp.example/cb").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

fn assert_security_headers(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert!(
        header("strict-transport-security").starts_with("max-age="),
        "{what}"
    );
}

#[tokio::test]
async fn error_answers_and_404s_cannot_be_framed_or_sniffed() {
    let app = spawn().await;
    let browser = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(tls().ca_pem().as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| browser.get(format!("{}{path}", app.base_url)).send();
    let not_found = get("/no-such-page").await.unwrap();
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&not_found, "html 404");
    let bad_token = get("/challenge?token=forged").await.unwrap();
    assert!(
        bad_token.status().is_client_error(),
        "{}",
        bad_token.status()
    );
    assert_security_headers(&bad_token, "bad token page");
    let no_session = get("/flow").await.unwrap();
    assert_security_headers(&no_session, "flow without a session");
    let unauthorized = browser
        .get(format!("{}/users/alice", app.api_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    assert_security_headers(&unauthorized, "api 401");
    let api_not_found = app.api(Method::GET, "/no-such-thing").send().await.unwrap();
    assert_eq!(api_not_found.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&api_not_found, "api 404");
    let stylesheet = get("/static/style.css").await.unwrap();
    assert_security_headers(&stylesheet, "asset");
}

#[tokio::test]
async fn the_outbox_of_live_codes_is_not_served_outside_development_mode() {
    let app = spawn_with(Settings {
        dev_mode: false,
        ..settings()
    })
    .await;
    app.api(Method::POST, "/challenge")
        .json(&json!({"verificationMethod": "EMAIL_OTP", "action": "signIn", "email": "o@example.com"}))
        .send()
        .await
        .unwrap();
    let code = app.handle.latest_code_for("o@example.com").unwrap();
    for path in ["/dev/outbox", "/dev/outbox.json"] {
        let response = app
            .http
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!response.text().await.unwrap().contains(&code), "{path}");
    }
}

#[test]
fn development_mode_is_off_by_default() {
    assert!(!Settings::default().dev_mode);
    assert!(!Settings::for_tests().dev_mode);
}

#[tokio::test]
async fn the_public_development_secret_is_refused_on_a_network_address() {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let err = Application::build_with(Settings::for_tests(), listener, tls())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("development secret"), "{err}");
    assert!(
        !err.contains(DEV_SECRET),
        "the message must not repeat the secret: {err}"
    );

    // An own secret on the same kind of address starts.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let app = Application::build_with(
        Settings {
            secret: ApiSecret::new("a-secret-of-this-deployment-only"),
            ..Settings::for_tests()
        },
        listener,
        tls(),
    )
    .await
    .expect("an own secret may listen on any address");
    // Never run: dropping the unpolled server closes its listener.
    drop(app);
}

/// `POST /dev/notices` with `secret` as the Basic user and `body`.
async fn post_notice(
    app: &crate::helpers::TestApp,
    secret: &str,
    body: &Value,
) -> reqwest::Response {
    app.http
        .post(format!("{}/dev/notices", app.base_url))
        .basic_auth(secret, Some(""))
        .json(body)
        .send()
        .await
        .unwrap()
}

fn a_notice() -> Value {
    json!({
        "to": "alice@example.com",
        "subject": "Sign-in from a new browser <b>",
        "text": "Hello alice,\n\nBrowser: <script>alert(1)</script>\n",
        "kind": "new-browser",
    })
}

#[tokio::test]
async fn a_notice_posted_with_the_secret_lands_in_the_dev_outbox_escaped_next_to_the_codes() {
    let app = spawn().await;
    app.api(Method::POST, "/challenge")
        .json(&json!({"verificationMethod": "EMAIL_OTP", "action": "signIn", "email": "o@example.com"}))
        .send()
        .await
        .unwrap();
    let answer = post_notice(&app, &app.secret, &a_notice()).await;
    assert_eq!(answer.status(), StatusCode::OK);

    let notices = app.handle.notices_for("ALICE@example.com");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, "new-browser");
    let outbox: Value = app
        .http
        .get(format!("{}/dev/outbox.json", app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(outbox[0]["type"], "code");
    assert_eq!(outbox[0]["to"], "o@example.com");
    assert_eq!(outbox[1]["type"], "notice");
    assert_eq!(outbox[1]["subject"], "Sign-in from a new browser <b>");
    let html = app
        .http
        .get(format!("{}/dev/outbox", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"notices\""), "{html}");
    assert!(
        html.contains("Sign-in from a new browser &lt;b&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"), "escaped: {html}");
    assert!(html.contains("notice · new-browser"), "{html}");
}

#[tokio::test]
async fn dev_notices_refuse_a_wrong_secret_with_401_and_bad_notices_with_400() {
    let app = spawn().await;
    let wrong = post_notice(&app, "not-the-secret", &a_notice()).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized", "{body}");
    let none = app
        .http
        .post(format!("{}/dev/notices", app.base_url))
        .json(&a_notice())
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);

    let mut injected = a_notice();
    injected["subject"] = json!("Hi\r\nBcc: everyone@example.com");
    let refused = post_notice(&app, &app.secret, &injected).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(body.to_string().contains("subject"), "{body}");

    let huge = json!({"to": "a@example.com", "subject": "s", "text": "x".repeat(20_000)});
    let too_large = post_notice(&app, &app.secret, &huge).await;
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.handle.notices().is_empty(), "nothing was kept");
}

#[tokio::test]
async fn dev_notices_are_not_served_outside_development_mode() {
    let app = spawn_with(Settings {
        dev_mode: false,
        ..settings()
    })
    .await;
    let answer = post_notice(&app, &app.secret, &a_notice()).await;
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    assert!(app.handle.notices().is_empty());
}
