//! Spawning the web client against the mock provider, and a browser-like test client.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::Duration;

use dev_certs::TlsMaterial;
use web_client::configuration::Settings;
use web_client::startup::Application;

use crate::mock_provider::{Behaviour, MockProvider};

/// One test CA and certificate per process, shared by the mock provider and the web client.
pub fn tls() -> &'static TlsMaterial {
    static TLS: OnceLock<TlsMaterial> = OnceLock::new();
    TLS.get_or_init(|| TlsMaterial::generate_ephemeral().unwrap())
}

/// Everything the apps log in this test process (tests assert that no secret reaches it); also
/// printed to stderr with `TEST_LOG=1`.
#[derive(Clone, Debug, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// The log text so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once per test process.
pub fn logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,web_client=debug"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        logs
    })
}

fn init_tracing() {
    logs();
}

/// A running web client and its mock identity server.
#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    pub provider: MockProvider,
    /// A browser: cookie jar, no automatic redirects, trusts the test CA only.
    pub browser: reqwest::Client,
    pub handle: actix_web::dev::ServerHandle,
    /// The task running the app; it ends once the app has released its session store.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A browser-like client trusting only the test CA.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(tls().ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// Settings for a test: port 0, keys in memory, the mock as issuer.
pub fn settings(issuer: &str) -> Settings {
    Settings {
        port: 0,
        issuer_url: issuer.to_owned(),
        data_dir: None,
        workers: 1,
        disable_signals: true,
        ..Settings::default()
    }
}

/// A session key shared by replicas (base64 of 64 bytes), as an operator would configure it.
pub fn shared_session_key() -> web_client::secret::Secret {
    use base64::Engine;
    web_client::secret::Secret::new(base64::engine::general_purpose::STANDARD.encode([42u8; 64]))
}

/// Settings of a replica on the Redis at `url` (a shared session key, a 500 ms store timeout).
pub fn redis_settings(issuer: &str, url: &str) -> Settings {
    Settings {
        session_key: Some(shared_session_key()),
        store: web_client::configuration::StoreSettings {
            url: Some(web_client::secret::Secret::new(url)),
            timeout_ms: 500,
            ..Default::default()
        },
        ..settings(issuer)
    }
}

/// Starts only the mock provider.
pub fn start_provider(behaviour: Behaviour) -> MockProvider {
    init_tracing();
    let (provider, listener) = MockProvider::bind(behaviour);
    provider.start(listener, tls());
    provider
}

/// Starts a web client on `settings` that shares `browser` (its cookie jar) with other apps:
/// cookies are not kept apart by port, so one browser can alternate between replicas.
pub async fn spawn_replica(
    settings: Settings,
    provider: &MockProvider,
    browser: &reqwest::Client,
) -> TestApp {
    init_tracing();
    let mut app = spawn_client(settings, provider.clone()).await;
    app.browser = browser.clone();
    app.wait_until_ready().await;
    app
}

/// Starts the mock provider and the web client, and waits until the client has discovered it.
pub async fn spawn_app(behaviour: Behaviour) -> TestApp {
    spawn_app_with(behaviour, |_| {}).await
}

/// Like [`spawn_app`], with settings changed by `tweak`.
pub async fn spawn_app_with(behaviour: Behaviour, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_tracing();
    let (provider, provider_listener) = MockProvider::bind(behaviour);
    provider.start(provider_listener, tls());
    let mut settings = settings(&provider.issuer);
    tweak(&mut settings);
    let app = spawn_client(settings, provider).await;
    app.wait_until_ready().await;
    app
}

/// Builds and runs the web client (without waiting for discovery).
pub async fn spawn_client(settings: Settings, provider: MockProvider) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build_with(settings, listener, tls().clone())
        .await
        .unwrap();
    let base = app.base_url();
    let handle = app.handle();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        provider,
        browser: browser(),
        handle,
        task,
    }
}

impl TestApp {
    /// Stops the app gracefully and waits until it has let go of its state, as a process that
    /// exits would.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.task.await.unwrap().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        let url = if path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            self.url(path_or_url)
        };
        self.browser.get(url).send().await.unwrap()
    }

    /// Polls `/readyz` until discovery has succeeded (at most 10 s).
    pub async fn wait_until_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.browser.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the web client never discovered the provider");
    }

    /// `GET /`, which must redirect to the provider's authorize endpoint; returns that URL.
    pub async fn start_sign_in(&self) -> url::Url {
        let response = self.get("/").await;
        assert_eq!(response.status(), 303, "GET / should start a sign-in");
        let location = location(&response);
        assert!(
            location.starts_with(&format!("{}/authorize?", self.provider.issuer)),
            "{location}"
        );
        url::Url::parse(&location).unwrap()
    }

    /// Follows the authorize redirect at the mock; returns the callback URL it sends back.
    pub async fn authorize(&self, authorize_url: &url::Url) -> url::Url {
        let response = self
            .browser
            .get(authorize_url.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        url::Url::parse(&location(&response)).unwrap()
    }

    /// The whole sign-in: `/` -> authorize -> `/signin-oidc`; returns the callback response.
    pub async fn sign_in(&self) -> reqwest::Response {
        let authorize = self.start_sign_in().await;
        let callback = self.authorize(&authorize).await;
        self.get(callback.as_str()).await
    }

    /// Signs in and asserts that it worked (303 back to `/`).
    pub async fn signed_in(&self) {
        let response = self.sign_in().await;
        assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
        assert_eq!(location(&response), "/");
    }

    /// The claims page, asserting a 200.
    pub async fn home_page(&self) -> String {
        let response = self.get("/").await;
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

/// The `Location` header.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// A query parameter of a URL.
pub fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `url` with the query parameter `name` set to `value` (or removed when `None`).
pub fn with_param(url: &url::Url, name: &str, value: Option<&str>) -> url::Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    {
        let mut query = out.query_pairs_mut();
        query.clear();
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    out
}

/// The value of `<input name="csrf" value="...">` in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}
