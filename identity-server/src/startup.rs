//! Building the application: settings -> shared state (stores, keys, templates, clients) ->
//! actix server with TLS. Tests and the demo use [`Application::build_with`] on port 0.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, middleware, web};
use dev_certs::TlsMaterial;
use rand::RngCore;

use crate::account::AccountState;
use crate::configuration::Settings;
use crate::domain::{Client, IDENTITY_SCOPES};
use crate::keys::{KeySet, SigningKey};
use crate::oidc::now;
use crate::store::file::{FileGrantStore, FileUserStore};
use crate::store::memory::{
    MemoryAccessTokens, MemoryAuthorizeRequests, MemoryCodes, MemorySessions,
};
use crate::store::{
    AccessTokenStore, AuthorizeRequestStore, CodeStore, GrantStore, SessionStore, UserStore,
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] crate::configuration::ConfigError),
    /// TLS material.
    #[error("tls: {0}")]
    Tls(#[from] dev_certs::Error),
    /// Signing keys.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    /// Durable stores.
    #[error("data dir: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Templates.
    #[error("templates: {0}")]
    Templates(String),
    /// The account pages.
    #[error("account: {0}")]
    Account(String),
    /// Binding or serving.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything the handlers share, built once.
pub struct AppState {
    /// The settings (secrets already hashed).
    pub settings: Settings,
    /// Templates (provider + account pages).
    pub tera: tera::Tera,
    /// User accounts.
    pub users: Arc<dyn UserStore>,
    /// State of the login/MFA pages.
    pub account: AccountState,
    /// Registered clients by id.
    pub clients: HashMap<String, Client>,
    /// Every scope the provider knows (identity + API).
    pub known_scopes: Vec<String>,
    /// API scope names.
    pub api_scopes: Vec<String>,
    /// Signing keys.
    pub keys: KeySet,
    /// Pending authorize requests.
    pub authorize_requests: Arc<dyn AuthorizeRequestStore>,
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Authorization codes.
    pub codes: Arc<dyn CodeStore>,
    /// Grants and refresh tokens.
    pub grants: Arc<dyn GrantStore>,
    /// Access-token records.
    pub access_tokens: Arc<dyn AccessTokenStore>,
    /// Key of the CSRF HMAC (random per process).
    pub csrf_key: [u8; 32],
    /// SHA-256 of client secrets that passed Argon2 verification (see `routes::client_auth`).
    pub verified_secrets: Mutex<HashMap<String, [u8; 32]>>,
    /// Failed client authentications per client id and per network (see `routes::client_auth`).
    pub client_auth_failures: crate::routes::client_auth::ClientAuthThrottle,
    /// Permits for Argon2id work, one per core (see [`crate::hashing::run_limited`]).
    pub hash_permits: Arc<tokio::sync::Semaphore>,
    /// The discovery document, serialised once.
    pub discovery_json: String,
    /// The JWKS, serialised once.
    pub jwks_json: String,
    /// The CA that back-channel clients trust (PEM).
    pub ca_pem: String,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state: validates settings, opens the stores, loads or creates keys.
    pub fn build(mut settings: Settings, ca_pem: &str) -> Result<AppState, StartupError> {
        settings.prepare()?;
        let in_memory = settings.data_dir.as_os_str().is_empty();
        let data_dir = (!in_memory).then(|| settings.data_dir.clone());
        if let Some(dir) = &data_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| crate::store::StoreError(format!("'{}': {e}", dir.display())))?;
        }
        let keys = match (&settings.keys.signing_key_pem, &data_dir) {
            (Some(pem), _) => KeySet::single(SigningKey::from_pem(pem.expose())?),
            (None, Some(dir)) => KeySet::load_or_create(dir, now())?,
            (None, None) => KeySet::single(SigningKey::from_pem(&SigningKey::generate_pem()?)?),
        };
        let users = Arc::new(FileUserStore::open(&settings.users, data_dir.as_deref())?);
        let grants = Arc::new(FileGrantStore::open(data_dir.as_deref(), now())?);
        let tera = crate::templates::build(crate::account::templates())
            .map_err(|e| StartupError::Templates(format!("{e:?}")))?;
        let account =
            AccountState::build(&settings.account, ca_pem).map_err(StartupError::Account)?;
        let clients = settings
            .clients
            .iter()
            .map(|c| (c.client_id.clone(), Client::from(c)))
            .collect();
        let api_scopes: Vec<String> = settings.api_scopes.iter().map(|s| s.name.clone()).collect();
        let mut known_scopes: Vec<String> = IDENTITY_SCOPES.iter().map(|s| s.to_string()).collect();
        known_scopes.extend(api_scopes.iter().cloned());
        let discovery_json =
            crate::routes::discovery::document(&settings.issuer, &known_scopes, &keys)
                .map_err(|e| StartupError::Templates(format!("discovery document: {e}")))?;
        let jwks_json = serde_json::to_string(&keys.jwks())
            .map_err(|e| StartupError::Templates(e.to_string()))?;
        let mut csrf_key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut csrf_key);
        let max_pending_per_network = settings.limits.max_pending_authorize_requests_per_network;
        let max_codes_per_session = settings.limits.max_unredeemed_codes_per_session;
        let client_auth_failures =
            crate::routes::client_auth::ClientAuthThrottle::new(&settings.limits);
        Ok(AppState {
            settings,
            tera,
            users,
            account,
            clients,
            known_scopes,
            api_scopes,
            keys,
            authorize_requests: Arc::new(MemoryAuthorizeRequests::new(
                crate::store::memory::MAX_PENDING_AUTHORIZE_REQUESTS,
                max_pending_per_network,
            )),
            sessions: Arc::new(MemorySessions::default()),
            codes: Arc::new(MemoryCodes::new(
                crate::store::memory::MAX_CODES,
                max_codes_per_session,
            )),
            grants,
            access_tokens: Arc::new(MemoryAccessTokens::default()),
            csrf_key,
            verified_secrets: Mutex::new(HashMap::new()),
            hash_permits: crate::hashing::permits(),
            client_auth_failures,
            discovery_json,
            jwks_json,
            ca_pem: ca_pem.to_owned(),
        })
    }
}

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
        let state = web::Data::new(AppState::build(settings, tls.ca_pem())?);
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
