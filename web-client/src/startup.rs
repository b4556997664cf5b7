//! Building and running the web client: [`Application::build`] binds the configured address;
//! [`Application::build_with`] takes a bound listener and TLS material (tests and `demo`).
//! Neither waits for the identity server: discovery runs in the background (see
//! [`crate::oidc::discover_until_ready`]).

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::SameSite;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use dev_certs::TlsMaterial;

use crate::configuration::{ConfigError, Settings, StoreChoice};
use crate::error::AppError;
use crate::oidc::{ProviderCell, discover_until_ready, http_client};
use crate::routes::{self, AppState};
use crate::session::{COOKIE_NAME, load_or_generate_key};
use crate::store::{EmbeddedStore, RedisOptions, RedisStore, Sealer, SessionStore};

/// The embedded session database, in `data_dir`.
pub const SESSION_DB_FILE: &str = "sessions.redb";

/// Start-up failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A configuration value is bad.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The certificates could not be loaded or generated.
    #[error("tls: {0}")]
    Tls(#[from] dev_certs::Error),
    /// The address could not be bound.
    #[error("cannot listen on '{address}': {source}")]
    Bind {
        /// host:port.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The session store could not be opened (the message names the file or the key).
    #[error("{0}")]
    Store(String),
    /// Something else needed at start-up failed (session key, HTTP client, templates).
    #[error("{0}")]
    Other(String),
}

/// The built (bound, not yet running) web client.
pub struct Application {
    port: u16,
    base_url: String,
    server: Server,
    discovery: tokio::task::JoinHandle<()>,
    /// Resolves once the embedded database is closed (after the workers have let go of it),
    /// so that stopping waits for a clean close and the release of its file lock.
    store_closed: Option<Closed>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `settings.host:settings.port` with TLS from `tls_cert`/`tls_key` or `certs_dir`.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => {
                TlsMaterial::load(cert, key, settings.tls_ca.as_deref().unwrap_or(cert))?
            }
            (None, None) => TlsMaterial::load_or_generate(&settings.certs_dir)?,
            _ => {
                return Err(ConfigError::Invalid {
                    key: "tls_cert",
                    message: "tls_cert and tls_key must be set together".into(),
                }
                .into());
            }
        };
        let address = format!("{}:{}", settings.host, settings.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Bind { address, source })?;
        Self::build_with(settings, listener, tls).await
    }

    /// Serves on `listener` with `tls`; the development CA of `tls` is trusted for calls to the
    /// identity server when `settings.trust_dev_ca` is on.
    pub async fn build_with(
        settings: Settings,
        listener: TcpListener,
        tls: TlsMaterial,
    ) -> Result<Self, StartupError> {
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Other(format!("listener address: {e}")))?
            .port();
        let urls = settings.validate(port)?;
        let http = http_client(&settings, tls.ca_pem()).map_err(StartupError::Other)?;
        let key = load_or_generate_key(settings.session_key.as_ref(), settings.data_dir.as_deref())
            .map_err(StartupError::Other)?;
        let (store, store_closed) =
            open_store(&settings, &urls.store, key.master()).map_err(StartupError::Store)?;
        let tera = crate::templates::build()
            .map_err(|e| StartupError::Other(format!("templates: {e:?}")))?;

        let provider = ProviderCell::default();
        let discovery = tokio::spawn(discover_until_ready(
            provider.clone(),
            settings.clone(),
            urls.clone(),
            http,
            std::time::Duration::from_secs(settings.jwks_refresh_secs),
        ));

        let state = web::Data::new(AppState {
            tera,
            provider,
            store,
            session_lifetime: chrono::Duration::seconds(
                i64::try_from(settings.session_lifetime_secs).unwrap_or(i64::MAX / 1000),
            ),
            urls: urls.clone(),
            sensitive_max_age_secs: i64::try_from(settings.sensitive_max_age_secs).unwrap_or(300),
        });
        let issuer_url = urls.issuer_url.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(
                    SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                        .cookie_name(COOKIE_NAME.to_owned())
                        .cookie_secure(true)
                        .cookie_http_only(true)
                        .cookie_same_site(SameSite::Lax)
                        .cookie_path("/".to_owned())
                        .cookie_domain(None)
                        .cookie_content_security(CookieContentSecurity::Private)
                        .session_lifecycle(BrowserSession::default())
                        .build(),
                )
                .wrap(crate::security::headers(&issuer_url))
                .wrap(tracing_actix_web::TracingLogger::<
                    crate::telemetry::PathOnlySpan,
                >::new())
                .app_data(state.clone())
                .app_data(
                    web::FormConfig::default()
                        .limit(4096)
                        .error_handler(|e, req| {
                            let response = routes::reject(req, AppError::Malformed(e.to_string()));
                            actix_web::error::InternalError::from_response(e, response).into()
                        }),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, req| {
                    let response = routes::reject(req, AppError::Malformed(e.to_string()));
                    actix_web::error::InternalError::from_response(e, response).into()
                }))
                .route("/", web::get().to(routes::home::get))
                .route("/signin-oidc", web::get().to(routes::signin::get))
                .route("/userinfo", web::get().to(routes::userinfo::get))
                .route("/sensitive", web::get().to(routes::sensitive::get))
                .route("/signout", web::post().to(routes::signout::post))
                .route(
                    "/signout-callback-oidc",
                    web::get().to(routes::signout::callback),
                )
                .route(
                    "/backchannel-logout",
                    web::post().to(routes::backchannel::post),
                )
                .route("/healthz", web::get().to(routes::health::healthz))
                .route("/readyz", web::get().to(routes::health::readyz))
                .route("/static/site.css", web::get().to(routes::assets::site_css))
                .route(
                    "/static/favicon.svg",
                    web::get().to(routes::assets::favicon),
                )
                .default_service(web::to(routes::not_found))
        })
        .workers(settings.workers)
        .listen_rustls_0_23(listener, tls.server_config()?)
        .map_err(|e| StartupError::Other(format!("listen: {e}")))?;
        if settings.disable_signals {
            server = server.disable_signals();
        }
        let server = server.run();
        Ok(Self {
            port,
            base_url: format!("https://localhost:{port}"),
            server,
            discovery,
            store_closed,
        })
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://localhost:{port}`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// A handle to stop the server (`handle.stop(true).await`).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (signal or handle); returns once the workers have released the
    /// session store (at most 5 s after the server stopped), so that the embedded database is
    /// closed and another instance can open it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.discovery.abort();
        if let Some(closed) = self.store_closed
            && tokio::time::timeout(std::time::Duration::from_secs(5), closed)
                .await
                .is_err()
        {
            tracing::warn!("the session database was still open 5 s after the server stopped");
        }
        result
    }
}

/// A future that resolves once the embedded database is closed.
type Closed = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The session store the configuration names, sealing with a key derived from the session key;
/// for the embedded database also the future of its close.
fn open_store(
    settings: &Settings,
    choice: &StoreChoice,
    session_key: &[u8],
) -> Result<(Arc<dyn SessionStore>, Option<Closed>), String> {
    let sealer = Sealer::derive(session_key)?;
    match choice {
        StoreChoice::Embedded => match &settings.data_dir {
            Some(dir) => {
                let path = dir.join(SESSION_DB_FILE);
                let store = EmbeddedStore::open(&path, sealer)?;
                tracing::info!(path = %path.display(), "sessions kept in the embedded database");
                let closed: Closed = Box::pin(store.closed());
                Ok((Arc::new(store), Some(closed)))
            }
            None => {
                tracing::info!("no data_dir: sessions kept in memory, they end with the process");
                Ok((Arc::new(EmbeddedStore::in_memory(sealer)?), None))
            }
        },
        StoreChoice::Redis {
            url,
            prefix,
            timeout,
            ca_file,
        } => {
            let ca_pem = match ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    format!(
                        "configuration key 'store.ca_file': '{}': {e}",
                        path.display()
                    )
                })?),
                None => None,
            };
            // Longer than the longest refresh: one call to the identity server and two store
            // calls, so a live holder never loses the lock to another replica.
            let lock_ttl = std::time::Duration::from_secs(settings.http_timeout_secs)
                + *timeout * 2
                + std::time::Duration::from_secs(2);
            let store = RedisStore::new(
                RedisOptions {
                    url: url.clone(),
                    prefix: prefix.clone(),
                    timeout: *timeout,
                    lock_ttl,
                    ca_pem,
                },
                sealer,
            )?;
            // Never the URL: it may hold a password.
            tracing::info!(%prefix, timeout_ms = timeout.as_millis() as u64, "sessions kept in Redis");
            Ok((Arc::new(store), None))
        }
    }
}
