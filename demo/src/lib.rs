//! The one-command demo: starts the Authsignal emulator (unless a real Authsignal secret is
//! configured), the identity server and the web client in one process, on their usual ports
//! (5003, 5001, 5002), sharing the development certificates in `certs/`; waits until each
//! answers over HTTPS; prints what to open; stops all three on Ctrl-C.
//!
//! Each app reads its own configuration as when it runs alone (`EMULATOR__*`, `IDP__*`,
//! `WEBCLIENT__*` and their config files). On top of that the demo wires them together: the
//! identity server talks to this emulator, the web client signs in at this identity server.
//! A real Authsignal tenant is used instead of the emulator when `AUTHSIGNAL_SECRET` (or
//! `IDP__ACCOUNT__AUTHSIGNAL__SECRET`) holds a secret other than the emulator's; its API URL
//! comes from `AUTHSIGNAL_API_URL` (or `IDP__ACCOUNT__AUTHSIGNAL__API_URL`) and its tenant id,
//! for passkeys, from `AUTHSIGNAL_TENANT_ID` (or `IDP__ACCOUNT__AUTHSIGNAL__TENANT_ID`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use dev_certs::TlsMaterial;

/// The emulator's development secret: any other configured secret means a real tenant.
pub const EMULATOR_DEV_SECRET: &str = "dev-emulator-secret-key";
/// Where the API of a real tenant is when only the secret is given (the US region; other
/// regions have their own hosts, see the portal's "API keys" page).
pub const DEFAULT_AUTHSIGNAL_API_URL: &str = "https://api.authsignal.com/v1";
/// How long the demo waits for the three apps to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which Authsignal the identity server talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthsignalMode {
    /// The local emulator started by the demo.
    Emulator,
    /// A real tenant at this API URL.
    Real {
        /// Server API base URL.
        api_url: String,
    },
}

/// Applies `AUTHSIGNAL_SECRET` / `AUTHSIGNAL_API_URL` to the identity server's settings and
/// decides whether the emulator is needed. `env` reads an environment variable.
pub fn choose_authsignal(
    idp: &mut identity_server::configuration::Settings,
    env: impl Fn(&str) -> Option<String>,
) -> AuthsignalMode {
    let authsignal = &mut idp.account.authsignal;
    if let Some(secret) = env("AUTHSIGNAL_SECRET").filter(|s| !s.trim().is_empty()) {
        authsignal.secret = identity_server::account::AuthsignalSecret::new(secret.trim());
    }
    if let Some(url) = env("AUTHSIGNAL_API_URL").filter(|s| !s.trim().is_empty()) {
        authsignal.api_url = url.trim().to_owned();
    }
    if let Some(tenant) = env("AUTHSIGNAL_TENANT_ID").filter(|s| !s.trim().is_empty()) {
        authsignal.tenant_id = tenant.trim().to_owned();
    }
    if authsignal.secret.expose() == EMULATOR_DEV_SECRET {
        return AuthsignalMode::Emulator;
    }
    let default_api_url = identity_server::account::AuthsignalSettings::default().api_url;
    if authsignal.api_url == default_api_url {
        authsignal.api_url = DEFAULT_AUTHSIGNAL_API_URL.to_owned();
    }
    AuthsignalMode::Real {
        api_url: authsignal.api_url.clone(),
    }
}

/// Binds `host:port`, with a message that says which app wanted the port and how to move it.
fn bind(app: &str, host: &str, port: u16, env_key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind((host, port)).with_context(|| {
        format!(
            "{app}: cannot listen on {host}:{port} (is another copy of the demo or another \
             server running? stop it, or pick another port with {env_key}=...)"
        )
    })
}

/// Polls `url` until it answers 200 over HTTPS (trusting `ca_pem`), or the timeout passes.
async fn wait_until_ok(client: &reqwest::Client, name: &str, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match client.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if Instant::now() > deadline => {
                anyhow::bail!(
                    "{name} did not become ready at '{url}' (last answer {})",
                    r.status()
                )
            }
            Err(e) if Instant::now() > deadline => {
                anyhow::bail!("{name} did not answer at '{url}': {e}")
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// What the banner shows.
#[derive(Debug)]
pub struct BannerInfo {
    /// Web client URL.
    pub web_client: String,
    /// Identity server URL.
    pub identity_server: String,
    /// Emulator URL, when the emulator runs.
    pub emulator: Option<String>,
    /// The real tenant's API URL, when no emulator runs.
    pub real_api_url: Option<String>,
    /// The CA file to trust.
    pub ca_file: PathBuf,
    /// Time from start to all apps answering.
    pub ready_after: Duration,
}

/// The short text printed once everything answers.
pub fn banner(info: &BannerInfo) -> String {
    let authsignal = match (&info.emulator, &info.real_api_url) {
        (Some(emulator), _) => format!(
            "  Authsignal        {emulator}  (local emulator, no account needed)\n\
             \x20 Emulator outbox   {emulator}/dev/outbox  (email one-time codes and security notices land here; development mode only)\n"
        ),
        (None, Some(api)) => format!("  Authsignal        {api}  (your tenant)\n"),
        (None, None) => String::new(),
    };
    format!(
        "\n\
         \x20 Authsignal MFA demo is running (ready in {ms} ms)\n\n\
         \x20 Open              {web}\n\
         \x20 Identity server   {idp}\n\
         {authsignal}\
         \x20 Test users        alice / alice, bob / bob  (first login: scan the QR code with an\n\
         \x20                   authenticator app, or type the key shown under it)\n\
         \x20 Dev CA            {ca}  (trust it to avoid certificate warnings: certs/README.md)\n\
         \x20 Stop              Ctrl-C\n",
        ms = info.ready_after.as_millis(),
        web = info.web_client,
        idp = info.identity_server,
        ca = info.ca_file.display(),
    )
}

fn init_logging() {
    // The web client's helper installs an env-filtered subscriber (RUST_LOG wins). The demo
    // keeps start-up chatter down so the banner stays readable.
    web_client::telemetry::init(
        "warn,demo=info,web_client=info,identity_server=info,authsignal_emulator=info,actix_server=warn",
    );
}

/// The TLS material all three apps serve: your own files when `DEMO_TLS_CERT`, `DEMO_TLS_KEY`
/// and `DEMO_TLS_CA` are all set, else the development CA and certificate in `DEMO_CERTS_DIR`
/// (default `certs`), generated on first run. Also returns the CA file to show in the banner.
fn load_tls(env: impl Fn(&str) -> Option<PathBuf>) -> anyhow::Result<(TlsMaterial, PathBuf)> {
    if let (Some(cert), Some(key), Some(ca)) = (
        env("DEMO_TLS_CERT"),
        env("DEMO_TLS_KEY"),
        env("DEMO_TLS_CA"),
    ) {
        let tls = TlsMaterial::load(&cert, &key, &ca)
            .context("DEMO_TLS_CERT / DEMO_TLS_KEY / DEMO_TLS_CA")?;
        return Ok((tls, ca));
    }
    let dir = env("DEMO_CERTS_DIR").unwrap_or_else(|| PathBuf::from("certs"));
    let tls = TlsMaterial::load_or_generate(&dir)
        .with_context(|| format!("certificates in '{}'", dir.display()))?;
    Ok((tls, dir.join(dev_certs::CA_CERT_FILE)))
}

/// Runs the demo until Ctrl-C (or SIGTERM).
pub async fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let mut shutdown = Shutdown::install()?;
    init_logging();

    let (tls, ca_file) = load_tls(|k| std::env::var_os(k).map(PathBuf::from))?;

    let mut idp_settings = identity_server::configuration::Settings::load()
        .context("identity server configuration")?;
    let mut web_settings =
        web_client::configuration::Settings::load().context("web client configuration")?;
    let mode = choose_authsignal(&mut idp_settings, |k| std::env::var(k).ok());

    // Bind every listener first, so that no app waits on a port another app has not opened.
    let emulator = match mode {
        AuthsignalMode::Emulator => {
            let mut settings = authsignal_emulator::configuration::Settings::load()
                .context("emulator configuration")?;
            settings.disable_signals = true;
            // The demo is development: the outbox of codes on (the banner says so), and the
            // hosted pages lead back to this identity server only.
            settings.dev_mode = true;
            if let Ok(issuer) = reqwest::Url::parse(&idp_settings.issuer) {
                settings.redirect_origins = vec![issuer.origin().ascii_serialization()];
            }
            let listener = bind(
                "authsignal emulator",
                &settings.host,
                settings.port,
                "EMULATOR__PORT",
            )?;
            Some((settings, listener))
        }
        AuthsignalMode::Real { .. } => None,
    };
    let idp_listener = bind(
        "identity server",
        &idp_settings.host,
        idp_settings.port,
        "IDP__PORT",
    )?;
    let web_listener = bind(
        "web client",
        &web_settings.host,
        web_settings.port,
        "WEBCLIENT__PORT",
    )?;

    let emulator = match emulator {
        Some((settings, listener)) => {
            // Passkeys: the login page's script names this emulator's tenant.
            idp_settings.account.authsignal.tenant_id = settings.tenant_id.clone();
            let app = authsignal_emulator::startup::Application::build_with(
                settings,
                listener,
                tls.clone(),
            )
            .await
            .context("authsignal emulator")?;
            // The identity server uses exactly this emulator.
            idp_settings.account.authsignal.api_url = app.api_url();
            idp_settings.account.authsignal.secret =
                identity_server::account::AuthsignalSecret::new(app.secret());
            Some(app)
        }
        None => None,
    };
    idp_settings.disable_signals = true;
    web_settings.disable_signals = true;
    web_settings.issuer_url = idp_settings.issuer.clone();
    let idp =
        identity_server::startup::Application::build_with(idp_settings, idp_listener, tls.clone())
            .await
            .context("identity server")?;
    let web = web_client::startup::Application::build_with(web_settings, web_listener, tls.clone())
        .await
        .context("web client")?;

    let emulator_url = emulator.as_ref().map(|e| e.base_url());
    let idp_url = idp.base_url();
    let web_url = web.base_url();
    let mut handles = vec![
        ("web client", web.handle()),
        ("identity server", idp.handle()),
    ];
    let mut tasks = vec![
        actix_web::rt::spawn(web.run_until_stopped()),
        actix_web::rt::spawn(idp.run_until_stopped()),
    ];
    if let Some(emulator) = emulator {
        handles.push(("authsignal emulator", emulator.server_handle()));
        tasks.push(actix_web::rt::spawn(emulator.run_until_stopped()));
    }

    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_pem().as_bytes())?)
        .timeout(Duration::from_secs(5))
        .build()?;
    let ready = async {
        if let Some(url) = &emulator_url {
            wait_until_ok(&client, "authsignal emulator", &format!("{url}/health")).await?;
        }
        wait_until_ok(
            &client,
            "identity server",
            &format!("{idp_url}/.well-known/openid-configuration"),
        )
        .await?;
        wait_until_ok(&client, "web client", &format!("{web_url}/readyz")).await
    };
    let ready = tokio::select! {
        ready = ready => ready,
        _ = shutdown.wait() => Err(anyhow::anyhow!("stopped while starting")),
    };
    if let Err(e) = ready {
        stop_all(&handles).await;
        return Err(e);
    }
    let real_api_url = match &mode {
        AuthsignalMode::Real { api_url } => Some(api_url.clone()),
        AuthsignalMode::Emulator => None,
    };
    println!(
        "{}",
        banner(&BannerInfo {
            web_client: web_url,
            identity_server: idp_url,
            emulator: emulator_url,
            real_api_url,
            ca_file,
            ready_after: started.elapsed(),
        })
    );

    shutdown.wait().await;
    tracing::info!("stopping");
    stop_all(&handles).await;
    for task in tasks {
        let _ = task.await;
    }
    println!("  Stopped.");
    Ok(())
}

async fn stop_all(handles: &[(&str, actix_web::dev::ServerHandle)]) {
    for (name, handle) in handles {
        handle.stop(true).await;
        tracing::debug!(app = name, "stopped");
    }
}

/// Ctrl-C, or SIGTERM on Unix (what `docker stop` and service managers send). The handlers are
/// installed when this is created, at the very start, so that a signal arriving while the apps
/// start is not lost: it is seen by the next [`Shutdown::wait`].
struct Shutdown {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())
                    .context("installing the Ctrl-C handler")?,
                terminate: signal(SignalKind::terminate())
                    .context("installing the SIGTERM handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn with_nothing_configured_the_emulator_is_used() {
        let mut idp = identity_server::configuration::Settings::default();
        assert_eq!(
            choose_authsignal(&mut idp, env(&[])),
            AuthsignalMode::Emulator
        );
    }

    #[test]
    fn a_real_secret_without_an_url_uses_the_default_region() {
        let mut idp = identity_server::configuration::Settings::default();
        let mode = choose_authsignal(&mut idp, env(&[("AUTHSIGNAL_SECRET", "real-secret")]));
        assert_eq!(
            mode,
            AuthsignalMode::Real {
                api_url: DEFAULT_AUTHSIGNAL_API_URL.into()
            }
        );
        assert_eq!(idp.account.authsignal.secret.expose(), "real-secret");
    }

    #[test]
    fn a_real_secret_with_a_region_url_uses_that_url() {
        let mut idp = identity_server::configuration::Settings::default();
        let mode = choose_authsignal(
            &mut idp,
            env(&[
                ("AUTHSIGNAL_SECRET", "real-secret"),
                ("AUTHSIGNAL_API_URL", "https://au.api.authsignal.com/v1"),
            ]),
        );
        assert_eq!(
            mode,
            AuthsignalMode::Real {
                api_url: "https://au.api.authsignal.com/v1".into()
            }
        );
    }

    #[test]
    fn a_real_tenant_id_reaches_the_passkey_script() {
        let mut idp = identity_server::configuration::Settings::default();
        choose_authsignal(
            &mut idp,
            env(&[
                ("AUTHSIGNAL_SECRET", "real-secret"),
                ("AUTHSIGNAL_TENANT_ID", " my-tenant-id "),
            ]),
        );
        assert_eq!(idp.account.authsignal.tenant_id, "my-tenant-id");
    }

    #[test]
    fn a_secret_from_the_identity_server_configuration_counts_as_real() {
        let mut idp = identity_server::configuration::Settings::default();
        idp.account.authsignal.secret = identity_server::account::AuthsignalSecret::new("from-idp");
        assert!(matches!(
            choose_authsignal(&mut idp, env(&[])),
            AuthsignalMode::Real { .. }
        ));
    }

    #[test]
    fn certificates_are_generated_in_the_certs_dir_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let env = |k: &str| (k == "DEMO_CERTS_DIR").then(|| dir.path().to_path_buf());
        let (first, ca_file) = load_tls(env).unwrap();
        let (second, _) = load_tls(env).unwrap();
        assert_eq!(ca_file, dir.path().join("dev-ca.pem"));
        assert_eq!(first.ca_pem(), second.ca_pem());
    }

    #[test]
    fn own_certificate_files_are_used_when_all_three_are_given() {
        let dir = tempfile::tempdir().unwrap();
        let env_dir = |k: &str| (k == "DEMO_CERTS_DIR").then(|| dir.path().to_path_buf());
        let (generated, _) = load_tls(env_dir).unwrap();
        let own = |k: &str| match k {
            "DEMO_TLS_CERT" => Some(dir.path().join("localhost.pem")),
            "DEMO_TLS_KEY" => Some(dir.path().join("localhost.key")),
            "DEMO_TLS_CA" => Some(dir.path().join("dev-ca.pem")),
            _ => Some(PathBuf::from("/nonexistent")),
        };
        let (loaded, ca_file) = load_tls(own).unwrap();
        assert_eq!(loaded.key_pem(), generated.key_pem());
        assert_eq!(ca_file, dir.path().join("dev-ca.pem"));
    }

    #[test]
    fn a_missing_own_key_file_is_reported_with_the_variable_names() {
        let env = |k: &str| match k {
            "DEMO_TLS_CERT" | "DEMO_TLS_KEY" | "DEMO_TLS_CA" => {
                Some(PathBuf::from("/nonexistent.pem"))
            }
            _ => None,
        };
        let err = format!("{:#}", load_tls(env).unwrap_err());
        assert!(
            err.contains("DEMO_TLS_KEY") && err.contains("/nonexistent.pem"),
            "{err}"
        );
    }

    #[test]
    fn the_banner_says_what_to_open_and_where_the_outbox_is() {
        let text = banner(&BannerInfo {
            web_client: "https://localhost:5002".into(),
            identity_server: "https://localhost:5001".into(),
            emulator: Some("https://localhost:5003".into()),
            real_api_url: None,
            ca_file: PathBuf::from("certs/dev-ca.pem"),
            ready_after: Duration::from_millis(321),
        });
        assert!(
            text.contains("Open              https://localhost:5002"),
            "{text}"
        );
        assert!(text.contains("https://localhost:5003/dev/outbox"), "{text}");
        assert!(text.contains("alice / alice, bob / bob"));
        assert!(text.contains("certs/dev-ca.pem"));
        assert!(text.contains("321 ms"));
    }
}
