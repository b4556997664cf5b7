//! Spawning the identity server on port 0 with ephemeral TLS and a temporary data directory,
//! plus a browser-like HTTPS client (cookie jar, no automatic redirects) that trusts the test CA.

use std::sync::{Arc, OnceLock};

use actix_web::web;
use identity_server::configuration::Settings;
use identity_server::domain::Secret;
use identity_server::signin::SignIn;
use identity_server::startup::{AppState, Application};
use reqwest::cookie::CookieStore;
use serde_json::Value;

/// Set `TEST_LOG=1` to see the server's logs.
fn init_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            identity_server::telemetry::init("debug");
        }
    });
}

/// One RSA key for the whole test process (generation is slow).
pub fn test_signing_key_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| identity_server::keys::SigningKey::generate_pem().unwrap())
}

/// One TLS CA + leaf for the whole test process.
pub fn test_tls() -> &'static dev_certs::TlsMaterial {
    static TLS: OnceLock<dev_certs::TlsMaterial> = OnceLock::new();
    TLS.get_or_init(|| dev_certs::TlsMaterial::generate_ephemeral().unwrap())
}

/// PKCE pair used by most tests (RFC 7636 appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// Its S256 challenge.
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The default web client's redirect URI.
pub const REDIRECT: &str = "https://localhost:5002/signin-oidc";
/// Subject of alice.
pub const ALICE: &str = "a5a0c16c-0027-4011-8e2f-a7e179dc784b";

pub struct TestApp {
    pub base_url: String,
    pub state: web::Data<AppState>,
    /// Browser: cookie jar, no redirects followed.
    pub browser: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    /// Back-channel client without cookies.
    pub api: reqwest::Client,
    pub handle: actix_web::dev::ServerHandle,
    /// Kept alive (deleted on drop).
    pub _data_dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop the server; the runtime may already be shutting down, which is fine.
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

/// Test settings: a temp data dir, the shared test key, one worker, plus two extra clients:
/// `web2` (another code-flow client) and `legacy` (confidential, PKCE optional).
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let mut settings = Settings {
        port: 0,
        data_dir: data_dir.to_path_buf(),
        workers: 1,
        ..Settings::default()
    };
    settings.keys.signing_key_pem = Some(Secret::new(test_signing_key_pem()));
    // The default web client's back-channel URI is the demo's `https://localhost:5002`: tests
    // that sign out must not post logout tokens there (`backchannel.rs` registers receivers).
    for client in &mut settings.clients {
        client.backchannel_logout_uri = None;
    }
    let mut web2 = settings.clients[0].clone();
    web2.client_id = "web2".into();
    web2.redirect_uris = vec!["https://localhost:5009/cb".into()];
    web2.post_logout_redirect_uris = vec!["https://localhost:5009/out".into()];
    settings.clients.push(web2);
    let mut legacy = settings.clients[0].clone();
    legacy.client_id = "legacy".into();
    legacy.require_pkce = false;
    legacy.scopes = vec!["openid".into(), "profile".into(), "email".into()];
    settings.clients.push(legacy);
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(data_dir.path());
    configure(&mut settings);
    spawn_in(settings, data_dir).await
}

/// Like [`spawn_app`], with the issuer set to the real `https://localhost:{port}` (for clients
/// that check that discovery's issuer is where they fetched it from).
pub async fn spawn_app_at_own_issuer() -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let settings = test_settings(data_dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = settings;
    settings.issuer = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    spawn_on(settings, data_dir, listener).await
}

pub async fn spawn_in(settings: Settings, data_dir: tempfile::TempDir) -> TestApp {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    spawn_on(settings, data_dir, listener).await
}

async fn spawn_on(
    settings: Settings,
    data_dir: tempfile::TempDir,
    listener: std::net::TcpListener,
) -> TestApp {
    init_tracing();
    let tls = test_tls().clone();
    let app = Application::build_with(settings, listener, tls.clone())
        .await
        .unwrap();
    let base_url = app.base_url();
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let ca = reqwest::Certificate::from_pem(tls.ca_pem().as_bytes()).unwrap();
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .add_root_certificate(ca.clone())
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api = reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        base_url,
        state,
        browser,
        jar,
        api,
        handle,
        _data_dir: data_dir,
    }
}

/// The value of a query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Changes one signature character in the middle (never a no-op, unlike the last character,
/// which may carry only padding bits or already be the replacement).
pub fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() - 20;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Claims of a JWT (no verification: for inspecting what the server issued).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let header = serde_json::from_slice(&b64.decode(parts.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&b64.decode(parts.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// An authorize URL for `client_id` with PKCE and the given extra parameters.
    pub fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile")
            .append_pair("state", "xyz")
            .append_pair("nonce", "n-0S6_WzA2Mj")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256");
        let mut url = format!("{}/connect/authorize?{}", self.base_url, query.finish());
        for (k, v) in extra {
            url = replace_param(&url, k, v);
        }
        url
    }

    /// GET with the browser; returns status and Location.
    pub async fn browse(&self, url: &str) -> (u16, Option<String>, String) {
        let response = self.browser.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, response.text().await.unwrap())
    }

    /// The authorize request id from a redirect to the login page.
    pub fn request_id(location: &str) -> String {
        assert!(
            location.starts_with("/Account/Login?ar="),
            "not a login redirect: {location}"
        );
        location.trim_start_matches("/Account/Login?ar=").to_owned()
    }

    /// Signs `username` in through the internal interface (what the login page does after the
    /// password and MFA checks), stores the session cookie in the browser jar, and returns the
    /// redirect to the client.
    pub async fn sign_in(&self, request_id: &str, username: &str, amr: &[&str]) -> String {
        let user = self
            .state
            .users
            .find_by_username(username)
            .await
            .unwrap()
            .unwrap();
        let mut req = actix_web::test::TestRequest::default();
        let url: url::Url = self.base_url.parse().unwrap();
        if let Some(cookies) = self.jar.cookies(&url) {
            req = req.insert_header(("cookie", cookies.to_str().unwrap().to_owned()));
        }
        let req = req.to_http_request();
        let sign_in = SignIn {
            subject: user.subject,
            auth_time: identity_server::oidc::now(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            remember: false,
        };
        let response =
            identity_server::signin::complete_sign_in(&self.state, &req, request_id, sign_in)
                .await
                .unwrap();
        assert_eq!(response.status().as_u16(), 303);
        for cookie in response.cookies() {
            self.jar.add_cookie_str(
                &format!(
                    "{}={}; Path=/; Secure; HttpOnly",
                    cookie.name(),
                    cookie.value()
                ),
                &url,
            );
        }
        response
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Authorize + sign in as alice; returns the code.
    pub async fn code_for(
        &self,
        client_id: &str,
        redirect_uri: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let (status, location, _) = self
            .browse(&self.authorize_url(client_id, redirect_uri, extra))
            .await;
        assert_eq!(status, 302);
        let location = location.unwrap();
        let location = if location.starts_with("/Account/Login") {
            self.sign_in(
                &Self::request_id(&location),
                "alice",
                &["pwd", "mfa", "otp"],
            )
            .await
        } else {
            location
        };
        query_param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
    }

    /// POST to the token endpoint with basic authentication.
    pub async fn token(
        &self,
        client: (&str, &str),
        form: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let response = self
            .api
            .post(self.url("/connect/token"))
            .basic_auth(client.0, Some(client.1))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    /// Redeems a code of the default web client.
    pub async fn redeem(&self, code: &str) -> (u16, Value) {
        let (status, body, _) = self
            .token(
                ("web", "secret"),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
        (status, body)
    }

    /// Code flow for alice with the web client; returns the token response.
    pub async fn tokens(&self) -> Value {
        let code = self.code_for("web", REDIRECT, &[]).await;
        let (status, body) = self.redeem(&code).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// GET userinfo with a bearer token.
    pub async fn userinfo(&self, access_token: &str) -> (u16, Value, reqwest::header::HeaderMap) {
        let response = self
            .api
            .get(self.url("/connect/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }
}

fn replace_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    {
        let mut q = parsed.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if value != "<drop>" {
            q.append_pair(name, value);
        }
    }
    parsed.to_string()
}
