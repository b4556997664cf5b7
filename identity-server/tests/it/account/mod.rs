//! Integration tests of the login, second-factor, account-creation and manage-MFA pages: the
//! identity server and the Authsignal emulator run in-process on port 0 with the same ephemeral
//! TLS material, and a cookie-jar HTTPS client walks the pages as a browser would, following
//! redirects by hand so that every hop can be checked.

mod budget;
mod bypass;
mod create;
mod email_proof;
mod failures;
mod lockout;
mod login;
mod manage_mfa;
mod notices;
mod passkeys;
mod sessions;
mod step_up;
mod unavailable;
mod victim;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use authsignal_emulator::EmulatorHandle;
use identity_server::configuration::Settings;
use identity_server::startup::{AppState, Application};
use reqwest::cookie::CookieStore as _;
use serde_json::Value;

use crate::helpers::{
    CHALLENGE, REDIRECT, VERIFIER, jwt_parts, query_param, test_settings, test_tls,
};

/// The login action code.
pub const ACTION: &str = "identity-server-login";

/// One answer, with the redirect target made absolute.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The redirect target; panics (with the page) when the answer is not a redirect.
    pub fn location(&self) -> &str {
        self.location
            .as_deref()
            .unwrap_or_else(|| panic!("expected a redirect, got {} {}", self.status, self.body))
    }

    /// Value of a `Set-Cookie` for `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// Whether the page shows `text` (compared after undoing Tera's HTML escaping).
    pub fn shows(&self, text: &str) -> bool {
        unescape(&self.body).contains(text)
    }
}

fn unescape(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `<input ... name="NAME" value="VALUE">`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

/// The text of the element with this id (up to the next tag).
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let start = html[at..].find('>')? + at + 1;
    let end = html[start..].find('<')? + start;
    Some(unescape(html[start..end].trim()))
}

/// A browser: its own cookie jar, redirects not followed.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    pub fn new() -> Self {
        let ca = reqwest::Certificate::from_pem(test_tls().ca_pem().as_bytes()).unwrap();
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("account-tests/1.0")
            .build()
            .unwrap();
        Self { client, jar }
    }

    async fn page(url: &str, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers.get("location").map(|v| {
            let raw = v.to_str().unwrap();
            url::Url::parse(url).unwrap().join(raw).unwrap().to_string()
        });
        Page {
            status,
            location,
            headers,
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        let response = self.client.get(url).send().await.unwrap();
        Self::page(url, response).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let response = self.client.post(url).form(form).send().await.unwrap();
        Self::page(url, response).await
    }

    /// GET the page's redirect target.
    pub async fn follow(&self, page: &Page) -> Page {
        self.get(page.location()).await
    }

    /// Whether the jar holds a cookie `name` for `base_url`.
    pub fn has_cookie(&self, base_url: &str, name: &str) -> bool {
        let url = url::Url::parse(base_url).unwrap();
        self.jar.cookies(&url).is_some_and(|h| {
            h.to_str()
                .unwrap()
                .split("; ")
                .any(|c| c.starts_with(&format!("{name}=")))
        })
    }
}

/// An authenticator app: the TOTP secret and the last time step used (the emulator refuses a
/// step twice).
#[derive(Clone, Debug)]
pub struct Authenticator {
    pub secret: String,
    pub last_step: Option<u64>,
}

impl Authenticator {
    /// A valid code for a step not used yet (waits for the next step when it must).
    pub async fn next_code(&mut self) -> String {
        loop {
            let now = now_secs();
            let current = now / 30;
            let step = self
                .last_step
                .map_or(current, |last| (last + 1).max(current));
            if step <= current + 1 {
                self.last_step = Some(step);
                return totp(&self.secret).generate(step * 30);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn totp(secret: &str) -> totp_rs::TOTP {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    )
}

/// A wrong code for the secret (not valid in any nearby step).
pub fn wrong_code(secret: &str) -> String {
    let t = totp(secret);
    let now = now_secs();
    let valid: Vec<String> = (0..5).map(|i| t.generate(now + i * 30 - 60)).collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// The identity server and the emulator, wired together.
pub struct Stack {
    pub idp: String,
    pub state: actix_web::web::Data<AppState>,
    pub emulator: EmulatorHandle,
    pub emulator_url: String,
    pub emulator_api: String,
    idp_handle: actix_web::dev::ServerHandle,
    /// The emulator's server (see [`Stack::stop_emulator`]).
    emulator_server: actix_web::dev::ServerHandle,
    authenticators: Mutex<HashMap<String, Authenticator>>,
    /// The recovery codes shown at each user's enrollment.
    recovery_codes: Mutex<HashMap<String, Vec<String>>>,
    _data_dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let (idp, emulator) = (self.idp_handle.clone(), self.emulator_server.clone());
        drop(tokio::spawn(async move {
            idp.stop(false).await;
            emulator.stop(false).await;
        }));
    }
}

/// Starts the emulator (in memory) and the identity server pointed at it.
pub async fn spawn() -> Stack {
    spawn_with(|_| {}).await
}

/// Like [`spawn`], with the identity server's settings adjusted after the defaults.
pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Stack {
    spawn_with_emulator(configure, |_| {}).await
}

/// Like [`spawn_with`], with the emulator's settings (its tenant's) adjusted too.
pub async fn spawn_with_emulator(
    configure: impl FnOnce(&mut Settings),
    configure_emulator: impl FnOnce(&mut authsignal_emulator::configuration::Settings),
) -> Stack {
    // Logs only when asked for (`TEST_LOG=1`); the subscriber is installed once per process.
    if std::env::var("TEST_LOG").is_ok() {
        identity_server::telemetry::init("debug");
    }
    let tls = test_tls().clone();
    // The identity server's port first: its origin is where passkey ceremonies run.
    let idp_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let idp_origin = format!(
        "https://localhost:{}",
        idp_listener.local_addr().unwrap().port()
    );
    let mut emulator_settings = authsignal_emulator::configuration::Settings {
        port: 0,
        data_dir: None,
        in_memory: true,
        workers: Some(1),
        disable_signals: true,
        ..Default::default()
    };
    emulator_settings.passkey.expected_origins = vec![idp_origin.clone()];
    // The identity server's notices land in the dev outbox (`POST /dev/notices`).
    emulator_settings.dev_mode = true;
    // The identity server, and the tenant's other application (a payment page) that the
    // cross-action tests (`bypass.rs`) complete a challenge for.
    emulator_settings.redirect_origins = vec![idp_origin.clone(), "https://localhost:5009".into()];
    configure_emulator(&mut emulator_settings);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let emulator =
        authsignal_emulator::Application::build_with(emulator_settings, listener, tls.clone())
            .await
            .unwrap();
    let emulator_url = emulator.base_url();
    let emulator_api = emulator.api_url();
    let handle = emulator.handle();
    let emulator_server = emulator.server_handle();
    tokio::spawn(emulator.run_until_stopped());

    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(data_dir.path());
    let listener = idp_listener;
    settings.issuer = idp_origin;
    settings.disable_signals = true;
    settings.account.authsignal.api_url = emulator_api.clone();
    configure(&mut settings);
    let app = Application::build_with(settings, listener, tls)
        .await
        .unwrap();
    let idp = app.base_url();
    let state = app.state();
    let idp_handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    Stack {
        idp,
        state,
        emulator: handle,
        emulator_url,
        emulator_api,
        idp_handle,
        emulator_server,
        authenticators: Mutex::new(HashMap::new()),
        recovery_codes: Mutex::new(HashMap::new()),
        _data_dir: data_dir,
    }
}

impl Stack {
    /// Stops the emulator (an outage mid-flow) and waits until the identity server's own
    /// Authsignal client can no longer reach it. Stopping returns before the emulator's workers
    /// have dropped their connections, so without the wait a request could still travel over a
    /// pooled keep-alive connection on a loaded machine.
    pub async fn stop_emulator(&self) {
        self.emulator_server.stop(false).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self
            .state
            .account
            .authsignal
            .get_user("outage-probe")
            .await
            .is_ok()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the emulator still answers 20 s after it was stopped"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.idp)
    }

    /// The authorize URL of the `web` client (code + PKCE S256).
    pub fn authorize_url(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("client_id", "web")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile")
            .append_pair("state", "st-1")
            .append_pair("nonce", "nonce-1")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256");
        format!("{}/connect/authorize?{}", self.idp, query.finish())
    }

    /// Starts a sign-in at the client's authorize URL; returns the `ar` of the login page.
    pub async fn authorize(&self, browser: &Browser) -> String {
        let page = browser.get(&self.authorize_url()).await;
        let location = page.location().to_owned();
        assert!(
            location.starts_with(&self.url("/Account/Login?ar=")),
            "expected the login page, got {location}"
        );
        query_param(&location, "ar").unwrap()
    }

    /// Whether this browser has no signed-in session: authorize sends it to the login page.
    pub async fn is_signed_out(&self, browser: &Browser) -> bool {
        let page = browser.get(&self.authorize_url()).await;
        page.location().starts_with(&self.url("/Account/Login?ar="))
    }

    /// GET the login page of `ar`.
    pub async fn login_page(&self, browser: &Browser, ar: &str) -> Page {
        browser
            .get(&format!("{}?ar={ar}", self.url("/Account/Login")))
            .await
    }

    /// Loads the login page and posts the password form.
    pub async fn submit_password(
        &self,
        browser: &Browser,
        ar: &str,
        username: &str,
        password: &str,
        remember: bool,
    ) -> Page {
        let page = self.login_page(browser, ar).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = input_value(&page.body, "csrf_token").unwrap();
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("ar", ar),
            ("username", username),
            ("password", password),
            ("button", "login"),
        ];
        if remember {
            form.push(("remember", "true"));
        }
        let page = browser.post(&self.url("/Account/Login"), &form).await;
        if page.location.as_deref() == Some(self.url("/Account/EmailProof").as_str()) {
            // A first enrollment proves the account's email first (the default policy): the
            // user types the code from the email, as [`Stack::prove_email`] does.
            return self.prove_email(browser, username).await;
        }
        page
    }

    /// Posts only the password form: the answer as it is (the email proof is not passed).
    pub async fn post_password(
        &self,
        browser: &Browser,
        ar: &str,
        username: &str,
        password: &str,
    ) -> Page {
        let page = self.login_page(browser, ar).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = input_value(&page.body, "csrf_token").unwrap();
        let form = [
            ("csrf_token", csrf.as_str()),
            ("ar", ar),
            ("username", username),
            ("password", password),
            ("button", "login"),
        ];
        browser.post(&self.url("/Account/Login"), &form).await
    }

    /// The account's email address.
    pub async fn email_of(&self, username: &str) -> String {
        self.state
            .users
            .find_by_username(username)
            .await
            .unwrap()
            .and_then(|u| u.email)
            .expect("the account has an email")
    }

    /// On the email proof page: types the newest code sent to the account's address and
    /// returns the answer (a redirect to the hosted enrollment when the code is right).
    pub async fn prove_email(&self, browser: &Browser, username: &str) -> Page {
        let page = browser.get(&self.url("/Account/EmailProof")).await;
        assert_eq!(page.status, 200, "email proof page: {}", page.body);
        let email = self.email_of(username).await;
        let code = self
            .emulator
            .latest_code_for(&email)
            .expect("an email code was sent");
        self.submit_email_code(browser, &page, &code).await
    }

    /// Submits `code` on the email proof `page` (its CSRF token).
    pub async fn submit_email_code(&self, browser: &Browser, page: &Page, code: &str) -> Page {
        let csrf = input_value(&page.body, "csrf_token").expect("email proof form csrf");
        browser
            .post(
                &self.url("/Account/EmailProof"),
                &[
                    ("csrf_token", csrf.as_str()),
                    ("code", code),
                    ("button", "verify"),
                ],
            )
            .await
    }

    /// The recovery codes shown when `username` enrolled.
    pub fn recovery_codes(&self, username: &str) -> Vec<String> {
        self.recovery_codes
            .lock()
            .unwrap()
            .get(username)
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until the notice worker has finished with every event queued so far (10 s at
    /// most), then returns the notices the dev outbox holds for `username`'s email.
    pub async fn notices_to(&self, username: &str) -> Vec<authsignal_emulator::OutboxNotice> {
        use identity_server::notices::NoticeCounters;
        let counters = self.state.notices.counters();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while NoticeCounters::get(&counters.done) < NoticeCounters::get(&counters.queued) {
            assert!(
                std::time::Instant::now() < deadline,
                "the notice worker did not finish within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let email = self.email_of(username).await;
        self.emulator.notices_for(&email)
    }

    /// The TOTP authenticator enrolled for `username`, if any.
    pub fn authenticator(&self, username: &str) -> Option<Authenticator> {
        self.authenticators.lock().unwrap().get(username).cloned()
    }

    async fn code_for(&self, username: &str) -> String {
        let mut authenticator = self
            .authenticator(username)
            .expect("no authenticator enrolled");
        let code = authenticator.next_code().await;
        self.authenticators
            .lock()
            .unwrap()
            .insert(username.to_owned(), authenticator);
        code
    }

    /// Walks the emulator's hosted pages from `url` (enrolling an authenticator app when the
    /// user has none, else answering the challenge); returns the URL Authsignal sends the
    /// browser back to (with `token`).
    pub async fn pass_second_factor(&self, browser: &Browser, url: &str, username: &str) -> String {
        let idp = self.idp.clone();
        self.pass_second_factor_to(browser, url, username, &idp)
            .await
    }

    /// Like [`Stack::pass_second_factor`], for a flow that returns to a URL starting with `back`.
    pub async fn pass_second_factor_to(
        &self,
        browser: &Browser,
        url: &str,
        username: &str,
        back: &str,
    ) -> String {
        let start = browser.get(url).await;
        assert_eq!(start.status, 303, "hosted start: {}", start.body);
        let mut page = browser.follow(&start).await;
        for _ in 0..10 {
            assert_eq!(page.status, 200, "hosted page: {}", page.body);
            let csrf = input_value(&page.body, "csrf").expect("hosted form without csrf");
            let answer = if page.body.contains("id=\"totp-secret\"") {
                // Shown in groups of four, as apps accept it.
                let secret = element_text(&page.body, "totp-secret")
                    .unwrap()
                    .replace(' ', "");
                let mut authenticator = Authenticator {
                    secret,
                    last_step: None,
                };
                let code = authenticator.next_code().await;
                self.authenticators
                    .lock()
                    .unwrap()
                    .insert(username.to_owned(), authenticator);
                browser
                    .post(
                        &format!("{}/enroll/totp/confirm", self.emulator_url),
                        &[("csrf", &csrf), ("code", &code)],
                    )
                    .await
            } else if page.body.contains("id=\"verify-code\"") {
                let code = self.code_for(username).await;
                browser
                    .post(
                        &format!("{}/verify", self.emulator_url),
                        &[("csrf", &csrf), ("code", &code)],
                    )
                    .await
            } else if page.body.contains("id=\"recovery-codes-continue\"") {
                let codes = page
                    .body
                    .split("<li class=\"recovery-code\">")
                    .skip(1)
                    .filter_map(|rest| rest.split('<').next())
                    .map(|c| c.trim().to_owned())
                    .collect();
                self.recovery_codes
                    .lock()
                    .unwrap()
                    .insert(username.to_owned(), codes);
                browser
                    .post(
                        &format!("{}/recovery-codes/continue", self.emulator_url),
                        &[("csrf", &csrf), ("saved", "yes")],
                    )
                    .await
            } else if page.body.contains("id=\"settings-done\"") {
                browser
                    .post(
                        &format!("{}/settings/done", self.emulator_url),
                        &[("csrf", &csrf)],
                    )
                    .await
            } else if page.body.contains("id=\"choose-totp\"") {
                browser
                    .post(
                        &format!("{}/enroll/totp", self.emulator_url),
                        &[("csrf", &csrf)],
                    )
                    .await
            } else {
                panic!("unexpected hosted page: {}", page.body);
            };
            assert_eq!(answer.status, 303, "hosted answer: {}", answer.body);
            let next = answer.location().to_owned();
            if next.starts_with(back) {
                return next;
            }
            page = browser.get(&next).await;
        }
        panic!("the hosted flow did not end");
    }

    /// Password step for `username`: asserts the redirect to the emulator and returns its URL.
    pub async fn password_to_challenge(
        &self,
        browser: &Browser,
        ar: &str,
        username: &str,
        password: &str,
    ) -> String {
        let page = self
            .submit_password(browser, ar, username, password, false)
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let location = page.location().to_owned();
        assert!(
            location.starts_with(&self.emulator_url),
            "expected the emulator, got {location}"
        );
        location
    }

    /// Everything up to the callback URL Authsignal sends back (not followed).
    pub async fn until_callback(
        &self,
        browser: &Browser,
        username: &str,
        password: &str,
    ) -> (String, String) {
        let ar = self.authorize(browser).await;
        let challenge = self
            .password_to_challenge(browser, &ar, username, password)
            .await;
        let callback = self.pass_second_factor(browser, &challenge, username).await;
        (ar, callback)
    }

    /// A complete sign-in with the second factor; returns the callback's answer (a redirect to
    /// the client with a code).
    pub async fn sign_in(&self, browser: &Browser, username: &str, password: &str) -> Page {
        let (_, callback) = self.until_callback(browser, username, password).await;
        let page = browser.get(&callback).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(page.location().starts_with(REDIRECT), "{}", page.location());
        page
    }

    /// Redeems a code of the `web` client; returns the ID token's claims.
    pub async fn id_token_claims(&self, code: &str) -> Value {
        let api = Browser::new();
        let response = api
            .client
            .post(self.url("/connect/token"))
            .basic_auth("web", Some("secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        jwt_parts(body["id_token"].as_str().unwrap()).1
    }
}

/// The `code` of a redirect to the client, checking `state` came back.
pub fn code_of(page: &Page) -> String {
    let location = page.location();
    assert!(
        location.starts_with(REDIRECT),
        "not a client redirect: {location}"
    );
    assert_eq!(query_param(location, "state").as_deref(), Some("st-1"));
    query_param(location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

/// An HTTPS address on which nothing listens.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP server that accepts connections and never answers (a hung Authsignal).
pub async fn silent_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}
