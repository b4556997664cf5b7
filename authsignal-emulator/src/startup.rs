//! Building and running the emulator: [`Application`] binds (port 0 allowed), serves TLS with
//! the development certificate, and exposes an in-process [`EmulatorHandle`] for tests.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};
use tracing::Span;
use tracing_actix_web::{RootSpanBuilder, TracingLogger};
use url::Url;

use crate::configuration::Settings;
use crate::domain::outcome::Outcome;
use crate::error::StartupError;
use crate::routes;
use crate::state::{AppState, StateConfig, WebhookSender};
use crate::store::{OutboxMessage, OutboxNotice, Stores};

/// A running emulator (bound, not yet awaited).
pub struct Application {
    port: u16,
    base_url: String,
    server: Server,
    handle: EmulatorHandle,
    tls: dev_certs::TlsMaterial,
    dev_mode: bool,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable view of a running emulator's state, in-process: the outbox, per-action
/// outcomes, reset.
#[derive(Clone)]
pub struct EmulatorHandle {
    state: web::Data<AppState>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle").finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// Every code "sent" so far, oldest first.
    pub fn outbox(&self) -> Vec<OutboxMessage> {
        self.state.stores.outbox.messages()
    }

    /// Every notice received at `POST /dev/notices`, oldest first.
    pub fn notices(&self) -> Vec<OutboxNotice> {
        self.state.stores.outbox.notices()
    }

    /// The notices sent to `email`, case-insensitively, oldest first.
    pub fn notices_for(&self, email: &str) -> Vec<OutboxNotice> {
        self.notices()
            .into_iter()
            .filter(|n| n.to.eq_ignore_ascii_case(email))
            .collect()
    }

    /// The newest code sent to `email` (or phone number), case-insensitively.
    pub fn latest_code_for(&self, email: &str) -> Option<String> {
        self.outbox()
            .into_iter()
            .rev()
            .find(|m| m.to.eq_ignore_ascii_case(email))
            .map(|m| m.code)
    }

    /// Sets the outcome of an action code (effective for the next track).
    pub fn set_action_outcome(&self, action: &str, outcome: Outcome) {
        self.state.set_outcome(action, outcome);
    }

    /// Forgets users, authenticators, actions, sessions, the outbox and rate limits.
    pub fn reset(&self) {
        if let Err(e) = self.state.stores.reset() {
            tracing::error!(error = %e, "reset could not persist the empty state");
        }
        self.state.clear_limits();
    }
}

/// Request spans without the query string: `/challenge?token=...` must never be logged.
#[derive(Debug)]
pub struct QuietRootSpan;

impl RootSpanBuilder for QuietRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            status = tracing::field::Empty
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => response.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        span.record("status", status);
        tracing::debug!(parent: &span, status, "request done");
    }
}

impl Application {
    /// Binds `settings.host:settings.port` with TLS from `settings.certs_dir` (generated on
    /// first run) or the explicit `tls_cert`/`tls_key`/`tls_ca`.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        settings.validate()?;
        let tls = match (&settings.tls_cert, &settings.tls_key, &settings.tls_ca) {
            (Some(cert), Some(key), Some(ca)) => dev_certs::TlsMaterial::load(cert, key, ca)?,
            _ => dev_certs::TlsMaterial::load_or_generate(&settings.certs_dir)?,
        };
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        Self::build_with(settings, listener, tls).await
    }

    /// Serves on an existing listener with the given TLS material (tests and the demo).
    pub async fn build_with(
        settings: Settings,
        listener: TcpListener,
        tls: dev_certs::TlsMaterial,
    ) -> Result<Application, StartupError> {
        settings.validate()?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind {
            address: "listener".into(),
            source,
        })?;
        // The development secret is public: whoever reaches the Server API with it can mark any
        // challenge succeeded. It is only acceptable where nothing but this machine can connect.
        if settings.uses_dev_secret() && !address.ip().is_loopback() {
            return Err(StartupError::Other(format!(
                "refusing to listen on '{address}' with the public development secret: set \
                 EMULATOR__SECRET (or --secret) to a secret of your own, or bind 127.0.0.1"
            )));
        }
        let port = address.port();
        let base_url = format!("https://localhost:{port}");
        let public_url = Url::parse(settings.public_url.as_deref().unwrap_or(&base_url))
            .map_err(|e| StartupError::Other(format!("public_url: {e}")))?;
        let stores = Stores::embedded(settings.effective_data_dir())?;
        let templates = crate::templates::build()
            .map_err(|e| StartupError::Other(format!("templates: {e}")))?;
        let webhooks = match &settings.webhook_url {
            Some(url) => Some(
                WebhookSender::new(
                    Url::parse(url)
                        .map_err(|e| StartupError::Other(format!("webhook_url: {e}")))?,
                    settings.secret.clone(),
                    settings.tenant_id.clone(),
                    tls.ca_pem(),
                )
                .map_err(StartupError::Other)?,
            ),
            None => None,
        };
        let state = web::Data::new(AppState::new(
            StateConfig {
                tenant_id: settings.tenant_id.clone(),
                tenant_name: settings.tenant_name.clone(),
                secret: settings.secret.clone(),
                public_url,
                token_lifetime_secs: settings.token_lifetime_secs,
                default_outcome: settings.default_outcome,
                outcomes: settings.action_outcomes.clone(),
                max_body_bytes: settings.max_body_bytes,
                relying_party: crate::domain::webauthn::RelyingParty::new(
                    &settings.passkey.rp_id,
                    settings
                        .passkey
                        .rp_name
                        .as_deref()
                        .unwrap_or(&settings.tenant_name),
                    settings.passkey.normalised_origins(),
                ),
                passkey_challenge_lifetime_secs: settings.passkey.challenge_lifetime_secs,
                redirect_origins: settings.normalised_redirect_origins(),
                code_sends: settings.code_sends,
                email_self_service: settings.email_self_service,
            },
            stores,
            templates,
            webhooks,
        ));
        let server_config = tls.server_config()?;
        let max_body = settings.max_body_bytes;
        let dev_mode = settings.dev_mode;
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                // Inside the logger: error answers and 404s get the headers as well (the
                // middlewares of the API scopes answer their refusals rather than return
                // errors, which would pass by this one).
                .wrap(routes::security_headers())
                .wrap(TracingLogger::<QuietRootSpan>::new())
                .configure(|cfg| routes::configure(cfg, dev_mode))
        })
        .listen_rustls_0_23(listener, server_config)
        .map_err(|source| StartupError::Bind {
            address: address.to_string(),
            source,
        })?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        if settings.disable_signals {
            server = server.disable_signals();
        }
        let server = server.run();
        tracing::info!(%base_url, data_dir = ?settings.effective_data_dir(), dev_mode, "authsignal emulator listening");
        Ok(Application {
            port,
            base_url,
            server,
            handle: EmulatorHandle { state },
            tls,
            dev_mode,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://localhost:<port>`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The Server API base URL: `https://localhost:<port>/v1`.
    pub fn api_url(&self) -> String {
        format!("{}/v1", self.base_url)
    }

    /// The Server API secret.
    pub fn secret(&self) -> String {
        self.handle.state.secret.expose().to_owned()
    }

    /// The in-process handle (outbox, outcomes, reset).
    pub fn handle(&self) -> EmulatorHandle {
        self.handle.clone()
    }

    /// The actix server handle (to stop the server).
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The TLS material served (its `ca_pem()` is what clients trust).
    pub fn tls(&self) -> &dev_certs::TlsMaterial {
        &self.tls
    }

    /// Whether the development extras (the outbox at `/dev/outbox`) are served.
    pub fn dev_mode(&self) -> bool {
        self.dev_mode
    }

    /// Serves until the server is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
