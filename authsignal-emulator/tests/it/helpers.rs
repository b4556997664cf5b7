//! Spawning the emulator and driving it like a browser.

use std::net::TcpListener;
use std::sync::OnceLock;

use authsignal_emulator::EmulatorHandle;
use authsignal_emulator::configuration::Settings;
use authsignal_emulator::startup::Application;
use authsignal_sdk::{Client, RetryPolicy, TrackAttributes, TrackResponse};
use dev_certs::TlsMaterial;
use reqwest::StatusCode;

/// One CA per test process (generating is cheap, but there is no need to repeat it).
pub fn tls() -> TlsMaterial {
    static TLS: OnceLock<TlsMaterial> = OnceLock::new();
    TLS.get_or_init(|| TlsMaterial::generate_ephemeral().expect("tls material"))
        .clone()
}

/// A running emulator.
pub struct TestApp {
    pub base_url: String,
    pub api_url: String,
    pub secret: String,
    pub handle: EmulatorHandle,
    pub server: actix_web::dev::ServerHandle,
    pub sdk: Client,
    pub http: reqwest::Client,
}

impl TestApp {
    /// Stops the server and waits for it.
    pub async fn stop(&self) {
        self.server.stop(true).await;
    }

    /// A raw request to the Server API with the right secret.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.api_url, path))
            .basic_auth(&self.secret, Some(""))
    }

    /// Tracks `action` for `user` with a redirect URL, returning the decision.
    pub async fn track(
        &self,
        user: &str,
        action: &str,
        attributes: TrackAttributes,
    ) -> TrackResponse {
        self.sdk
            .track(user, action, &attributes)
            .await
            .expect("track")
    }

    /// A browser (own cookie jar, no automatic redirects).
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base_url)
    }
}

fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        authsignal_emulator::telemetry::init("debug");
    }
}

/// Test settings: in memory, one worker, the outbox on (tests read codes there), redirects
/// to the two relying-party origins the tests use.
pub fn settings() -> Settings {
    Settings {
        workers: Some(1),
        dev_mode: true,
        redirect_origins: vec!["https://localhost:5001".into(), "https://rp.example".into()],
        ..Settings::for_tests()
    }
}

/// Starts an emulator with test settings.
pub async fn spawn() -> TestApp {
    spawn_with(settings()).await
}

/// Starts an emulator with the given settings on a free port.
pub async fn spawn_with(settings: Settings) -> TestApp {
    init_tracing();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = Application::build_with(settings, listener, tls())
        .await
        .expect("emulator starts");
    let test_app = TestApp {
        base_url: app.base_url(),
        api_url: app.api_url(),
        secret: app.secret(),
        handle: app.handle(),
        server: app.server_handle(),
        sdk: Client::builder(app.secret())
            .base_url(app.api_url())
            .add_root_certificate_pem(tls().ca_pem())
            .retry_policy(RetryPolicy::none())
            .build()
            .expect("sdk client"),
        http: reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(tls().ca_pem().as_bytes()).unwrap(),
            )
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    tokio::spawn(app.run_until_stopped());
    test_app
}

/// A form found in a page: its action and hidden fields.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The form with `id` in `html`.
pub fn form(html: &str, id: &str) -> Option<Form> {
    let marker = format!("<form id=\"{id}\"");
    let start = html.find(&marker)?;
    let end = html[start..].find("</form>")? + start;
    let body = &html[start..end];
    let tag_end = body.find('>')?;
    let action = attribute(&body[..tag_end], "action")?;
    let mut fields = Vec::new();
    for piece in body.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        if tag.contains("type=\"hidden\"")
            && let (Some(name), Some(value)) = (attribute(tag, "name"), attribute(tag, "value"))
        {
            fields.push((name, value));
        }
    }
    Some(Form { action, fields })
}

/// The text of the element `<tag id="id">...</tag>`.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker)?;
    let open_end = html[start..].find('>')? + start + 1;
    let close = html[open_end..].find('<')? + open_end;
    Some(unescape(&html[open_end..close]))
}

/// Every recovery code shown on a page.
pub fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li class=\"recovery-code\">")
        .skip(1)
        .filter_map(|piece| piece.find("</li>").map(|end| unescape(&piece[..end])))
        .collect()
}

/// The current TOTP code for a base32 secret, `offset` seconds from now.
/// The secret may be given as the page shows it, in groups of four.
pub fn totp_code(secret: &str, offset: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.replace(' ', ""))
        .to_bytes()
        .unwrap();
    let totp = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + offset) as u64)
}

/// A wrong code that is surely not the current one.
pub fn wrong_code(secret: &str) -> String {
    let avoid: Vec<String> = (-2..=2).map(|k| totp_code(secret, k * 30)).collect();
    (0..1000)
        .map(|n| format!("{:06}", 123_456 + n))
        .find(|c| !avoid.contains(c))
        .unwrap()
}

/// A cookie-keeping HTTPS client that does not follow redirects, like a browser under test.
pub struct Browser {
    pub client: reqwest::Client,
    pub base_url: String,
}

/// A response read fully.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new(base_url: &str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .add_root_certificate(
                    reqwest::Certificate::from_pem(tls().ca_pem().as_bytes()).unwrap(),
                )
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base_url: base_url.to_owned(),
        }
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    /// GET an absolute URL or a path.
    pub async fn get(&self, url: &str) -> Page {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.base_url)
        } else {
            url.to_owned()
        };
        Self::read(self.client.get(url).send().await.unwrap()).await
    }

    /// Opens the hosted `url` from track and follows to the first page.
    pub async fn open(&self, url: &str) -> Page {
        let first = self.get(url).await;
        assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
        assert_eq!(first.location.as_deref(), Some("/flow"));
        self.get("/flow").await
    }

    /// Submits the form `id` of `page` with extra fields; returns the raw response.
    pub async fn submit(&self, page: &Page, id: &str, extra: &[(&str, &str)]) -> Page {
        let form =
            form(&page.body, id).unwrap_or_else(|| panic!("no form '{id}' in:\n{}", page.body));
        let mut fields = form.fields.clone();
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let url = format!("{}{}", self.base_url, form.action);
        Self::read(self.client.post(url).form(&fields).send().await.unwrap()).await
    }

    /// Submits and, when the answer is a 303 to `/flow`, shows that page.
    pub async fn submit_then_page(&self, page: &Page, id: &str, extra: &[(&str, &str)]) -> Page {
        let response = self.submit(page, id, extra).await;
        if response.status == StatusCode::SEE_OTHER && response.location.as_deref() == Some("/flow")
        {
            self.get("/flow").await
        } else {
            response
        }
    }

    /// Enrols an authenticator app from the enrollment page; returns (secret, recovery page).
    pub async fn enroll_totp(&self, enroll_page: &Page) -> (String, Page) {
        let page = self.submit_then_page(enroll_page, "choose-totp", &[]).await;
        let secret = element_text(&page.body, "totp-secret")
            .expect("the key is shown")
            .replace(' ', "");
        let code = totp_code(&secret, 0);
        let next = self
            .submit_then_page(&page, "confirm-totp", &[("code", &code)])
            .await;
        (secret, next)
    }
}

/// Track attributes with a redirect URL.
pub fn with_redirect(url: &str) -> TrackAttributes {
    TrackAttributes {
        redirect_url: Some(url.into()),
        ..Default::default()
    }
}

/// The `token` query parameter of a redirect.
pub fn token_of(location: &str) -> String {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("token in the redirect")
}

/// Enrols `user` with an authenticator app through the pages; returns the secret.
pub async fn enrolled_user(app: &TestApp, user: &str) -> String {
    let decision = app
        .track(user, "enroll", with_redirect("https://rp.example/cb"))
        .await;
    let browser = app.browser();
    let page = browser.open(&decision.url).await;
    let (secret, codes_page) = browser.enroll_totp(&page).await;
    let done = browser
        .submit(&codes_page, "recovery-codes-continue", &[("saved", "yes")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    secret
}
