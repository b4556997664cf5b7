//! Building the application: settings -> shared state (stores, keys, templates, clients) ->
//! actix server with TLS. Tests and the demo use [`Application::build_with`] on port 0.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, middleware, web};
use dev_certs::TlsMaterial;

use crate::configuration::Settings;
pub use crate::state::{AppState, StartupError};

/// The running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `settings.host:settings.port` with TLS from `certs_dir` (or explicit files).
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let tls = match (&settings.tls_cert, &settings.tls_key, &settings.tls_ca) {
            (Some(cert), Some(key), Some(ca)) => TlsMaterial::load(cert, key, ca)?,
            _ => TlsMaterial::load_or_generate(&settings.certs_dir)?,
        };
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
        Self::build_with(settings, listener, tls).await
    }

    /// Serves on an already bound listener with the given TLS material (tests, demo).
    pub async fn build_with(
        settings: Settings,
        listener: TcpListener,
        tls: TlsMaterial,
    ) -> Result<Application, StartupError> {
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState::build(settings, tls.ca_pem()).await?);
        let server_config = tls.server_config()?;
        let workers = state.settings.workers;
        let disable_signals = state.settings.disable_signals;
        let data = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(crate::routes::security_headers())
                .wrap(middleware::Compat::new(tracing_actix_web::TracingLogger::<
                    crate::telemetry::RedactedRootSpan,
                >::new()))
                .configure(crate::routes::configure)
                .configure(crate::account::configure)
                .default_service(web::to(crate::routes::not_found))
        })
        .listen_rustls_0_23(listener, server_config)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        if disable_signals {
            server = server.disable_signals();
        }
        Ok(Application {
            port,
            server: server.run(),
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://localhost:{port}`.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The shared state. Internal: for in-process callers (integration tests signing a user in
    /// through [`crate::signin`], the demo); it is not reachable over HTTP.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
