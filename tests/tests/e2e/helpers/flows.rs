//! The steps of a sign-in as a person takes them in the cookie-jar browser, each asserting what
//! the person sees, and an OpenID Connect client of our own that catches the authorization code
//! on its way to the web client to look at the tokens themselves.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use super::system::TestSystem;
use super::tokens::{Jwt, Pkce, random_token};
use super::totp::Authenticator;
use super::web::{Page, WebBrowser, query_param};

/// Path of the identity server's login page.
pub const LOGIN_PATH: &str = "/Account/Login";
/// Path of the identity server's second-factor callback.
pub const CALLBACK_PATH: &str = "/Account/Login/Callback";

/// A test user.
#[derive(Debug, Clone, Copy)]
pub struct User {
    /// Login name.
    pub username: &'static str,
    /// Password.
    pub password: &'static str,
    /// Subject id.
    pub sub: &'static str,
    /// The `name` claim.
    pub name: &'static str,
    /// Email address (where email codes go).
    pub email: &'static str,
}

/// alice of the Duende quickstart.
pub const ALICE: User = User {
    username: "alice",
    password: "alice",
    sub: super::system::ALICE_SUB,
    name: "Alice Smith",
    email: "AliceSmith@example.com",
};

/// bob of the Duende quickstart.
pub const BOB: User = User {
    username: "bob",
    password: "bob",
    sub: super::system::BOB_SUB,
    name: "Bob Smith",
    email: "BobSmith@example.com",
};

/// Asserts that `page` is the identity server's login page and returns it.
#[track_caller]
pub fn assert_login_page(sys: &TestSystem, page: &Page) {
    assert!(
        page.url.as_str().starts_with(&sys.idp_url) && page.url.path() == LOGIN_PATH,
        "expected the login page, got {} ({}): {}",
        page.url,
        page.status,
        page.excerpt()
    );
    assert_eq!(page.status, StatusCode::OK, "{}", page.excerpt());
    let form = page.form("login-form");
    assert!(
        form.get("csrf_token").is_some_and(|t| !t.is_empty()),
        "the login form carries a CSRF token"
    );
    assert!(
        form.get("ar").is_some_and(|t| !t.is_empty()),
        "the login form carries the authorize request id"
    );
}

/// Opens the web client in `browser`; not signed in, it sends the person to the login page.
pub async fn visit_client_expecting_login(sys: &TestSystem, browser: &WebBrowser) -> Page {
    let page = browser.open(&format!("{}/", sys.client_url)).await;
    assert!(
        page.went_through("/connect/authorize"),
        "the client sends the browser to authorize:\n  {}",
        page.trail()
    );
    let authorize = page.hop_to("/connect/authorize").unwrap();
    for param in ["state", "nonce", "code_challenge"] {
        assert!(
            query_param(&authorize.url, param).is_some(),
            "authorize request without {param}: {}",
            authorize.url
        );
    }
    assert_eq!(
        query_param(&authorize.url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&authorize.url, "client_id").as_deref(),
        Some("web")
    );
    assert_login_page(sys, &page);
    page
}

/// Types username and password on the login page and presses "Login".
pub async fn submit_password(
    browser: &WebBrowser,
    login: &Page,
    user: &str,
    password: &str,
) -> Page {
    let mut form = login.form("login-form");
    form.set("username", user).set("password", password);
    let page = browser.submit(login, &form, Some("login")).await;
    if page.url.path() == EMAIL_PROOF_PATH {
        // A first enrollment proves the account's email first (the default policy).
        return prove_email(browser, &page).await;
    }
    page
}

/// The identity server's email proof page (before a first enrollment).
pub const EMAIL_PROOF_PATH: &str = "/Account/EmailProof";

/// The newest email-proof code in the browser's mailbox for the address `page` names (shown
/// masked, `a•••@example.com`).
#[track_caller]
pub fn email_proof_code(browser: &WebBrowser, page: &Page) -> String {
    let mailbox = browser
        .mailbox()
        .expect("the email proof needs a browser with a mailbox (TestSystem::browser)");
    newest_proof_code(mailbox, &page.text_of("masked-email"))
}

/// The newest email-proof code in `mailbox` to the address shown masked as `masked`.
#[track_caller]
pub fn newest_proof_code(mailbox: &authsignal_emulator::EmulatorHandle, masked: &str) -> String {
    let (first, domain) = masked
        .split_once("\u{2022}\u{2022}\u{2022}@")
        .unwrap_or_else(|| panic!("masked address: {masked}"));
    mailbox
        .outbox()
        .into_iter()
        .rev()
        .find(|m| {
            m.action_code == "identity-server-email-proof"
                && m.to.starts_with(first)
                && m.to.ends_with(&format!("@{domain}"))
        })
        .map(|m| m.code)
        .unwrap_or_else(|| panic!("no email proof code for {masked}"))
}

/// In Chromium, on the email proof page: types the code from the mailbox and continues.
pub async fn prove_email_in_chrome(chrome: &super::chrome::Chrome, sys: &TestSystem) {
    chrome.wait_for("#email-proof-form").await;
    assert!(chrome.url().await.starts_with(&sys.idp_url));
    let masked = chrome.text_of("#masked-email").await;
    let code = newest_proof_code(&sys.emulator, &masked);
    chrome.type_into("#code", &code).await;
    chrome.click("#verify").await;
}

/// On the email proof page: types the code from the mailbox and continues.
pub async fn prove_email(browser: &WebBrowser, page: &Page) -> Page {
    assert_eq!(page.status, StatusCode::OK, "{}", page.excerpt());
    let code = email_proof_code(browser, page);
    let mut form = page.form("email-proof-form");
    form.set("code", &code);
    browser.submit(page, &form, Some("verify")).await
}

/// Asserts that `page` is a page of the emulator's hosted flow.
#[track_caller]
pub fn assert_on_emulator(sys: &TestSystem, page: &Page) {
    assert!(
        page.url.as_str().starts_with(&sys.emulator_url),
        "expected the Authsignal hosted page, got {}: {}",
        page.url,
        page.excerpt()
    );
    assert_eq!(page.status, StatusCode::OK, "{}", page.excerpt());
}

/// What the person keeps from enrolling the authenticator app.
#[derive(Debug)]
pub struct Enrolled {
    /// The app with the key.
    pub app: Authenticator,
    /// The recovery codes shown once.
    pub recovery_codes: Vec<String>,
    /// The page after "I saved them, continue" (normally the client's claims page).
    pub page: Page,
}

/// On the "set up two-step verification" page: chooses the authenticator app, copies the key
/// into the app, types the code, notes the recovery codes, continues.
pub async fn enroll_totp(sys: &TestSystem, browser: &WebBrowser, choose: &Page) -> Enrolled {
    assert_on_emulator(sys, choose);
    assert!(
        choose.shows("Set up two-step verification"),
        "{}",
        choose.excerpt()
    );
    let setup = browser
        .submit(choose, &choose.form("choose-totp"), None)
        .await;
    assert_on_emulator(sys, &setup);
    // Shown in groups of four, as authenticator apps accept it.
    let key = setup.text_of("totp-secret").replace(' ', "");
    let uri = setup.text_of("otpauth-uri");
    assert!(uri.starts_with("otpauth://totp/"), "setup link: {uri}");
    assert!(
        uri.contains(&format!("secret={key}")),
        "the QR code's link carries the key shown: {uri}"
    );
    let app = Authenticator::from_key(&key);

    let mut confirm = setup.form("confirm-totp");
    confirm.set("code", app.fresh_code().await);
    let codes_page = browser.submit(&setup, &confirm, None).await;
    assert_on_emulator(sys, &codes_page);
    let recovery_codes: Vec<String> = codes_page
        .doc()
        .by_class("li", "recovery-code")
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert!(
        recovery_codes.len() >= 5,
        "recovery codes are shown once: {}",
        codes_page.excerpt()
    );
    let page = browser
        .submit(&codes_page, &codes_saved(&codes_page), None)
        .await;
    Enrolled {
        app,
        recovery_codes,
        page,
    }
}

/// The recovery-codes page's "Continue" form with "I have saved my recovery codes" ticked.
#[track_caller]
pub fn codes_saved(page: &Page) -> super::html::Form {
    let mut form = page.form("recovery-codes-continue");
    form.set("saved", "yes");
    form
}

/// On the challenge page: types the code the app shows.
pub async fn answer_challenge(
    sys: &TestSystem,
    browser: &WebBrowser,
    challenge: &Page,
    code: &str,
) -> Page {
    assert_on_emulator(sys, challenge);
    let mut form = challenge.form("verify-code");
    form.set("code", code);
    browser.submit(challenge, &form, None).await
}

/// The web client's claims page, read as name -> value (claims and token properties).
#[derive(Debug)]
pub struct ClaimsPage {
    /// ID token claims as shown.
    pub claims: HashMap<String, String>,
    /// Token properties as shown.
    pub properties: HashMap<String, String>,
}

impl ClaimsPage {
    /// Reads the claims page; panics if `page` is not it.
    #[track_caller]
    pub fn read(sys: &TestSystem, page: &Page) -> ClaimsPage {
        assert!(
            page.url.as_str().starts_with(&sys.client_url) && page.status == StatusCode::OK,
            "expected the client's claims page, got {} ({}): {}",
            page.url,
            page.status,
            page.excerpt()
        );
        let doc = page.doc();
        let pairs = |name_class: &str, value_class: &str| -> HashMap<String, String> {
            doc.by_class("td", name_class)
                .into_iter()
                .zip(doc.by_class("td", value_class))
                .map(|(n, v)| (n.text, v.text))
                .collect()
        };
        let claims = pairs("claim-name", "claim-value");
        assert!(
            !claims.is_empty(),
            "no claims table on {}: {}",
            page.url,
            page.excerpt()
        );
        ClaimsPage {
            claims,
            properties: pairs("prop-name", "prop-value"),
        }
    }

    /// The `amr` values shown.
    pub fn amr(&self) -> Vec<String> {
        let raw = self
            .properties
            .get("amr")
            .or_else(|| self.claims.get("amr"))
            .cloned()
            .unwrap_or_default();
        raw.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '"'))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Asserts that the page shows `user` signed in with a second factor.
    #[track_caller]
    pub fn assert_signed_in_with_mfa(&self, user: &User) {
        assert_eq!(
            self.claims.get("sub").map(String::as_str),
            Some(user.sub),
            "claims: {:?}",
            self.claims
        );
        let amr = self.amr();
        assert!(amr.iter().any(|m| m == "mfa"), "amr shows mfa: {amr:?}");
        assert!(amr.iter().any(|m| m == "pwd"), "amr shows pwd: {amr:?}");
        assert!(
            self.claims.contains_key("auth_time"),
            "auth_time is a claim: {:?}",
            self.claims
        );
    }

    /// "refreshes in this session".
    pub fn refresh_count(&self) -> u32 {
        self.properties
            .get("refreshes in this session")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no refresh count in {:?}", self.properties))
    }
}

/// An OpenID Connect client of the test's own, registered as the web client (`web`/`secret`,
/// the web client's redirect URI) so that the identity server treats it the same: it starts an
/// authorize request, lets the person sign in, catches the code before the web client gets it
/// and redeems it itself.
#[derive(Debug)]
pub struct TestRp {
    /// The identity server.
    pub issuer: String,
    /// The web client's redirect URI.
    pub redirect_uri: String,
    /// PKCE pair of this request.
    pub pkce: Pkce,
    /// `state`.
    pub state: String,
    /// `nonce`.
    pub nonce: String,
    http: reqwest::Client,
}

/// A token endpoint answer.
#[derive(Debug)]
pub struct TokenAnswer {
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub json: Value,
}

impl TestRp {
    /// A fresh request for `sys`.
    pub fn new(sys: &TestSystem) -> TestRp {
        TestRp {
            issuer: sys.idp_url.clone(),
            redirect_uri: format!("{}/signin-oidc", sys.client_url),
            pkce: Pkce::new(),
            state: random_token(16),
            nonce: random_token(16),
            http: sys.browser().client().clone(),
        }
    }

    /// The authorize URL.
    pub fn authorize_url(&self) -> String {
        let mut url = Url::parse(&format!("{}/connect/authorize", self.issuer)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "web")
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", "openid profile")
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("code_challenge", &self.pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Whether `url` is the redirect back to the client (where a test stops following).
    pub fn is_redirect_back(&self, url: &Url) -> bool {
        url.as_str().starts_with(&self.redirect_uri)
    }

    /// Takes the code out of the redirect the navigation stopped at, checking `state` and `iss`.
    #[track_caller]
    pub fn code_from(&self, page: &Page) -> String {
        let location = page
            .location()
            .filter(|l| self.is_redirect_back(l))
            .unwrap_or_else(|| {
                panic!(
                    "expected a redirect to the client with a code: {}",
                    page.excerpt()
                )
            });
        assert_eq!(
            query_param(location, "state").as_deref(),
            Some(self.state.as_str()),
            "state comes back unchanged"
        );
        if let Some(iss) = query_param(location, "iss") {
            assert_eq!(
                iss, self.issuer,
                "iss of the authorization response (RFC 9207)"
            );
        }
        query_param(location, "code").unwrap_or_else(|| panic!("no code in {location}"))
    }

    /// Redeems a code at the token endpoint (client authentication: HTTP Basic).
    pub async fn redeem(&self, code: &str) -> TokenAnswer {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", &self.pkce.verifier),
        ])
        .await
    }

    /// Uses a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> TokenAnswer {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> TokenAnswer {
        let resp = self
            .http
            .post(format!("{}/connect/token", self.issuer))
            .basic_auth("web", Some("secret"))
            .form(form)
            .send()
            .await
            .expect("token endpoint answers");
        let status = resp.status();
        let json = resp.json().await.unwrap_or(Value::Null);
        TokenAnswer { status, json }
    }

    /// The provider's JWKS (through discovery).
    pub async fn jwks(&self) -> Value {
        let discovery: Value = self
            .http
            .get(format!("{}/.well-known/openid-configuration", self.issuer))
            .send()
            .await
            .expect("discovery answers")
            .json()
            .await
            .expect("discovery is json");
        assert_eq!(discovery["issuer"], self.issuer.as_str());
        let jwks_uri = discovery["jwks_uri"].as_str().expect("jwks_uri");
        self.http
            .get(jwks_uri)
            .send()
            .await
            .expect("jwks answers")
            .json()
            .await
            .expect("jwks is json")
    }

    /// Calls userinfo with an access token; the status and the body.
    pub async fn userinfo(&self, access_token: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}/connect/userinfo", self.issuer))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("userinfo answers");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Checks an ID token as a careful relying party does and returns it: signature (JWKS),
    /// iss, aud, nonce, expiry, the subject and the authentication facts.
    pub async fn verify_id_token(&self, raw: &str, user: &User, signed_in_after: i64) -> Jwt {
        let jwt = Jwt::decode(raw);
        jwt.verify(&self.jwks().await)
            .unwrap_or_else(|e| panic!("ID token signature: {e}"));
        let now = super::tokens::now();
        assert_eq!(jwt.str("iss"), Some(self.issuer.as_str()));
        let aud_ok = jwt.claims["aud"] == "web"
            || jwt.claims["aud"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "web"));
        assert!(aud_ok, "aud is web: {}", jwt.claims["aud"]);
        assert_eq!(jwt.str("nonce"), Some(self.nonce.as_str()));
        assert_eq!(jwt.str("sub"), Some(user.sub));
        assert!(jwt.int("exp").is_some_and(|e| e > now), "unexpired");
        let auth_time = jwt.int("auth_time").expect("auth_time");
        assert!(
            auth_time >= signed_in_after - 2 && auth_time <= now + 2,
            "auth_time {auth_time} is the time of this sign-in (between {signed_in_after} and {now})"
        );
        jwt
    }
}

/// A complete first visit of `user` through the web client, enrolling the authenticator app;
/// returns what the person kept, with the claims page checked.
pub async fn first_visit_with_totp(
    sys: &TestSystem,
    browser: &WebBrowser,
    user: &User,
) -> Enrolled {
    let login = visit_client_expecting_login(sys, browser).await;
    let choose = submit_password(browser, &login, user.username, user.password).await;
    let enrolled = enroll_totp(sys, browser, &choose).await;
    ClaimsPage::read(sys, &enrolled.page).assert_signed_in_with_mfa(user);
    enrolled
}

/// Asserts that `browser` has no session: the identity server's home page does not know the
/// person, and the web client asks for a login.
pub async fn assert_not_signed_in(sys: &TestSystem, browser: &WebBrowser) {
    let home = browser.open(&format!("{}/", sys.idp_url)).await;
    assert!(
        !home.shows("You are signed in"),
        "the identity server has a session: {}",
        home.excerpt()
    );
    visit_client_expecting_login(sys, browser).await;
}

/// The visible message of an identity-server page (`#error`, `#notice` or `#message`).
pub fn idp_message(page: &Page) -> String {
    let doc = page.doc();
    ["error", "notice", "message"]
        .iter()
        .filter_map(|id| doc.by_id(id).map(|e| e.text))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Enrolls an authenticator app for `user` through the Server API (as an admin tool would), for
/// tests whose settings leave no time for the hosted enrollment; returns the app.
pub async fn enroll_app_via_api(sys: &TestSystem, user: &User) -> Authenticator {
    let key = match totp_rs::Secret::generate_secret().to_encoded() {
        totp_rs::Secret::Encoded(key) => key.trim_end_matches('=').to_owned(),
        totp_rs::Secret::Raw(_) => unreachable!("to_encoded encodes"),
    };
    let uri = format!(
        "otpauth://totp/Authsignal%20MFA%20Demo:{}?secret={key}&issuer=Authsignal%20MFA%20Demo&algorithm=SHA1&digits=6&period=30",
        user.username
    );
    let request = authsignal_sdk::EnrollVerifiedAuthenticatorRequest {
        otp_uri: Some(uri),
        ..authsignal_sdk::EnrollVerifiedAuthenticatorRequest::new(
            authsignal_sdk::VerificationMethod::AuthenticatorApp,
        )
    };
    sys.authsignal()
        .enroll_verified_authenticator(user.sub, &request)
        .await
        .expect("enroll the app through the api");
    Authenticator::from_key(&key)
}
