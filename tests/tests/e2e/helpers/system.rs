//! The system under test: the Authsignal emulator, the identity server and the web client,
//! started in-process on free ports with this run's CA, configured to point at each other, with
//! fresh state (in-memory emulator, a temporary data directory per app) for every test.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use authsignal_emulator::startup::EmulatorHandle;
use tempfile::TempDir;

use super::tls;
use super::web::WebBrowser;

/// alice's subject (the Duende quickstart's TestUsers).
pub const ALICE_SUB: &str = "a5a0c16c-0027-4011-8e2f-a7e179dc784b";
/// bob's subject.
pub const BOB_SUB: &str = "e4f1a0a3-6c9a-4b4e-8a54-0f3f1c2b7d90";
/// The action code the identity server tracks at login.
pub const LOGIN_ACTION: &str = "identity-server-login";

/// Knobs a test may turn before the system starts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Access-token lifetime at the identity server, in seconds.
    pub access_token_lifetime_secs: Option<i64>,
    /// Failures of one username that lock it.
    pub max_failures_per_user: Option<u32>,
    /// The emulator's outcome for every action without its own setting.
    pub default_outcome: Option<authsignal_emulator::Outcome>,
    /// Time limit of one Authsignal call from the identity server, in milliseconds.
    pub authsignal_timeout_ms: Option<u64>,
    /// How long a login transaction (password done, second factor pending) lives, in seconds.
    pub transaction_lifetime_secs: Option<u64>,
    /// Where the identity server calls Authsignal instead of the emulator.
    pub authsignal_api_url: Option<String>,
    /// Origins a passkey ceremony may run from besides the identity server's and the web
    /// client's (a test page's own server).
    pub extra_passkey_origins: Vec<String>,
    /// Run this many identity-server replicas on one real Redis behind a round-robin forwarder
    /// at the issuer's address (0: one server on the embedded store).
    pub replicas: usize,
    /// Email self-service in "Manage MFA" (off by default): on at the identity server
    /// (`account.email_self_service`) and at the emulator's tenant.
    pub email_self_service: bool,
    /// How recent the second factor must be for the web client's `/sensitive`, in seconds.
    pub sensitive_max_age_secs: Option<u64>,
}

/// The RSA signing key of the identity server, generated once per test process (RSA key
/// generation is the slowest part of a start-up).
fn signing_key_pem() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| identity_server::keys::SigningKey::generate_pem().expect("rsa test key"))
}

/// Logs of the apps, only with `TEST_LOG=1`.
fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
            identity_server::telemetry::init("info");
        }
    });
}

fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port")
}

/// The three apps, running. Dropping it stops them.
#[derive(Debug)]
pub struct TestSystem {
    /// In-process access to the emulator's state (outbox, outcomes).
    pub emulator: EmulatorHandle,
    /// `https://localhost:<port>` of the emulator.
    pub emulator_url: String,
    /// The emulator's Server API (`.../v1`) and its secret, for a test's own SDK calls.
    pub emulator_api: (String, String),
    /// The issuer: `https://localhost:<port>` of the identity server.
    pub idp_url: String,
    /// `https://localhost:<port>` of the web client.
    pub client_url: String,
    /// The replicas, their Redis and the forwarder (with [`Options::replicas`]).
    pub replicas: Option<super::replicas::Replicas>,
    handles: Vec<ServerHandle>,
    _idp_data: TempDir,
    _client_data: TempDir,
}

impl TestSystem {
    /// Starts everything with the default options.
    pub async fn start() -> TestSystem {
        Self::start_with(Options::default()).await
    }

    /// Starts everything with `options`.
    pub async fn start_with(options: Options) -> TestSystem {
        init_logging();
        let tls = tls().clone();
        let (emu_listener, idp_listener, client_listener) = (bind(), bind(), bind());
        let client_port = client_listener.local_addr().unwrap().port();
        let client_base = format!("https://localhost:{client_port}");
        let idp_port = idp_listener.local_addr().unwrap().port();
        let idp_url = format!("https://localhost:{idp_port}");

        // The emulator: in memory, challenge by default.
        let mut emu_settings = authsignal_emulator::configuration::Settings::for_tests();
        emu_settings.disable_signals = true;
        emu_settings.workers = Some(1);
        // The browser tour reads codes at `/dev/outbox`; track redirects to this run's server.
        emu_settings.dev_mode = true;
        emu_settings.redirect_origins = vec![idp_url.clone()];
        emu_settings.email_self_service = options.email_self_service;
        // Journeys send a code to one address seconds apart (enrolment, then the next sign-in):
        // no wait between two codes here; the window's cap stays (the emulator's own tests
        // check the wait, `authsignal-emulator/tests/it/limits.rs`).
        emu_settings.code_sends.interval_secs = 0;
        if let Some(outcome) = options.default_outcome {
            emu_settings.default_outcome = outcome;
        }
        // Passkeys are made and used on this run's identity server (RP id `localhost`).
        emu_settings.passkey.expected_origins = [idp_url.clone(), client_base.clone()]
            .into_iter()
            .chain(options.extra_passkey_origins.iter().cloned())
            .collect();
        let emulator = authsignal_emulator::startup::Application::build_with(
            emu_settings,
            emu_listener,
            tls.clone(),
        )
        .await
        .expect("emulator starts");
        let emulator_url = emulator.base_url();
        let emulator_handle = emulator.handle();
        let emulator_server = emulator.server_handle();
        let (api_url, secret) = (emulator.api_url(), emulator.secret());
        let emulator_api = (api_url.clone(), secret.clone());
        tokio::spawn(emulator.run_until_stopped());

        // The identity server: its `web` client redirects to this run's web client.
        let idp_data = tempfile::tempdir().expect("temp dir");
        let mut idp = identity_server::configuration::Settings {
            port: idp_port,
            issuer: idp_url.clone(),
            data_dir: idp_data.path().to_path_buf(),
            disable_signals: true,
            workers: 2,
            ..Default::default()
        };
        idp.keys.signing_key_pem = Some(identity_server::domain::Secret::new(
            signing_key_pem().to_owned(),
        ));
        for client in idp.clients.iter_mut().filter(|c| c.client_id == "web") {
            client.redirect_uris = vec![format!("{client_base}/signin-oidc")];
            client.post_logout_redirect_uris = vec![format!("{client_base}/signout-callback-oidc")];
            client.client_uri = Some(format!("{client_base}/"));
            // Back-channel logout to this run's web client (over HTTPS with this run's CA).
            client.backchannel_logout_uri = Some(format!("{client_base}/backchannel-logout"));
            client.backchannel_logout_session_required = true;
        }
        if let Some(secs) = options.access_token_lifetime_secs {
            idp.tokens.access_token_lifetime_secs = secs;
        }
        idp.account.email_self_service = options.email_self_service;
        idp.account.authsignal.api_url = options.authsignal_api_url.clone().unwrap_or(api_url);
        idp.account.authsignal.secret = identity_server::account::AuthsignalSecret::new(secret);
        // The passkey script calls the emulator's Client API (same base as the Server API).
        idp.account.authsignal.tenant_id =
            authsignal_emulator::configuration::Settings::for_tests().tenant_id;
        if let Some(ms) = options.authsignal_timeout_ms {
            idp.account.authsignal.timeout_ms = ms;
        }
        if let Some(secs) = options.transaction_lifetime_secs {
            idp.account.transaction.lifetime_secs = secs;
        }
        if let Some(n) = options.max_failures_per_user {
            idp.account.lockout.max_failures_per_user = n;
        }
        let mut handles = Vec::new();
        let replicas = if options.replicas > 0 {
            let replicas = super::replicas::Replicas::start(options.replicas, idp, idp_listener)
                .await
                .expect("redis-server for the replicas (check with start_replicated)");
            Some(replicas)
        } else {
            let idp_app =
                identity_server::startup::Application::build_with(idp, idp_listener, tls.clone())
                    .await
                    .expect("identity server starts");
            assert_eq!(idp_app.base_url(), idp_url);
            handles.push(idp_app.handle());
            tokio::spawn(idp_app.run_until_stopped());
            None
        };

        // The web client signs in at this run's identity server.
        let client_data = tempfile::tempdir().expect("temp dir");
        let mut wc = web_client::configuration::Settings {
            port: client_port,
            issuer_url: idp_url.clone(),
            data_dir: Some(client_data.path().to_path_buf()),
            disable_signals: true,
            workers: 1,
            ..Default::default()
        };
        if let Some(secs) = options.sensitive_max_age_secs {
            wc.sensitive_max_age_secs = secs;
        }
        let client = web_client::startup::Application::build_with(wc, client_listener, tls.clone())
            .await
            .expect("web client starts");
        assert_eq!(client.base_url(), client_base);
        let client_server = client.handle();
        tokio::spawn(client.run_until_stopped());

        let system = TestSystem {
            emulator: emulator_handle,
            emulator_url,
            emulator_api,
            idp_url,
            client_url: client_base,
            replicas,
            handles: {
                let mut all = vec![client_server];
                all.extend(handles);
                all.push(emulator_server);
                all
            },
            _idp_data: idp_data,
            _client_data: client_data,
        };
        system.wait_until_ready().await;
        system
    }

    /// Waits until the web client has fetched the identity server's discovery document.
    async fn wait_until_ready(&self) {
        let http = WebBrowser::new(tls().ca_pem());
        let deadline = Instant::now() + Duration::from_secs(20);
        let ready = format!("{}/readyz", self.client_url);
        loop {
            if let Ok(resp) = http.client().get(&ready).send().await
                && resp.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the web client did not become ready at {ready}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The system with `n` identity-server replicas on one Redis; `None` (after a loud skip line)
    /// when redis-server is missing and `REDIS_REQUIRED` is not set.
    pub async fn start_replicated(n: usize) -> Option<TestSystem> {
        drop(redis_testkit::RedisServer::require()?);
        Some(
            Self::start_with(Options {
                replicas: n,
                ..Options::default()
            })
            .await,
        )
    }

    /// The replicas of a replicated system.
    pub fn replicas(&self) -> &super::replicas::Replicas {
        self.replicas.as_ref().expect("a replicated system")
    }

    /// A new browser (empty cookie jar) trusting this run's CA.
    pub fn browser(&self) -> WebBrowser {
        WebBrowser::new(tls().ca_pem()).with_mailbox(self.emulator.clone())
    }

    /// An Authsignal SDK client for the emulator (what an attacker with the API secret, or
    /// another application of the same tenant, could do).
    pub fn authsignal(&self) -> authsignal_sdk::Client {
        authsignal_sdk::Client::builder(self.emulator_api.1.clone())
            .base_url(&self.emulator_api.0)
            .add_root_certificate_pem(tls().ca_pem())
            .build()
            .expect("sdk client")
    }

    /// Stops the emulator (to prove that the identity server fails closed without it).
    pub async fn stop_emulator(&self) {
        if let Some(handle) = self.handles.last() {
            handle.stop(false).await;
        }
    }
}

impl Drop for TestSystem {
    fn drop(&mut self) {
        if let Some(replicas) = &self.replicas {
            for handle in replicas.handles() {
                drop(handle.stop(false));
            }
        }
        for handle in &self.handles {
            // `stop` returns a future; the stop signal is sent when it is created.
            drop(handle.stop(false));
        }
    }
}
