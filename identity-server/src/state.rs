//! [`AppState`]: everything the handlers share, built once at start-up from the settings —
//! the stores (embedded database or Redis), the keys every replica must share (signing keys,
//! CSRF key), templates, clients, the Authsignal client.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::account::AccountState;
use crate::configuration::Settings;
use crate::domain::{Client, IDENTITY_SCOPES};
use crate::keys::{KeySet, SigningKey};
use crate::oidc::now;
use crate::store::Stores;
use crate::throttle::ProxyNet;
use crate::users::Users;

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
    /// The stores.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The data directory.
    #[error("data dir: {0}")]
    DataDir(String),
    /// Templates.
    #[error("templates: {0}")]
    Templates(String),
    /// The account pages.
    #[error("account: {0}")]
    Account(String),
    /// The Argon2id hashing pool.
    #[error("hashing: {0}")]
    Hashing(#[from] crate::hashing::PoolError),
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
    /// Every store (one backend).
    pub stores: Stores,
    /// User accounts (configured + created).
    pub users: Users,
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
    /// Key of the CSRF HMAC (shared by every replica).
    pub csrf_key: [u8; 32],
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: Vec<ProxyNet>,
    /// The forwarding header they write.
    pub forwarded_header: crate::throttle::ForwardedHeader,
    /// SHA-256 of client secrets that passed Argon2 verification (see `routes::client_auth`).
    /// A per-process cache: a replica without it verifies with Argon2id once.
    pub verified_secrets: Mutex<HashMap<String, [u8; 32]>>,
    /// The Argon2id threads with their preallocated memory and permits (see
    /// [`crate::hashing::run_limited`]).
    pub hashing: crate::hashing::HashingPool,
    /// The discovery document, serialised once.
    pub discovery_json: String,
    /// The JWKS, serialised once.
    pub jwks_json: String,
    /// The CA that back-channel clients trust (PEM).
    pub ca_pem: String,
    /// The queue of back-channel logout deliveries.
    pub backchannel: crate::backchannel::Backchannel,
    /// The queue of security notices to the account's email.
    pub notices: crate::notices::Notifier,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer", &self.settings.issuer)
            .field("store", &self.stores.health.name())
            .finish_non_exhaustive()
    }
}

/// Files of the journal format before the embedded database; their presence stops start-up
/// until they are migrated (see the README).
pub const LEGACY_FILES: [&str; 3] = ["users.json", "users.jsonl", "grants.jsonl"];

impl AppState {
    /// Builds the state: validates settings, opens the stores, loads or creates keys.
    pub async fn build(mut settings: Settings, ca_pem: &str) -> Result<AppState, StartupError> {
        settings.prepare()?;
        let in_memory = settings.data_dir.as_os_str().is_empty();
        let data_dir = (!in_memory).then(|| settings.data_dir.clone());
        if let Some(dir) = &data_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| StartupError::DataDir(format!("'{}': {e}", dir.display())))?;
        }
        let redis = settings.store.redis_url().is_some();
        let key_dir: Option<PathBuf> = settings
            .keys
            .dir
            .clone()
            .or_else(|| data_dir.as_ref().map(|d| d.join("keys")));
        if redis && settings.keys.signing_key_pem.is_none() && settings.keys.dir.is_none() {
            return Err(StartupError::Config(crate::configuration::ConfigError::Invalid {
                key: "keys.dir".into(),
                message: "with a shared store every replica must sign with the same keys: set keys.dir (a directory every replica reads) or keys.signing_key_pem".into(),
            }));
        }
        if redis && settings.keys.csrf_secret.is_none() && settings.keys.dir.is_none() {
            return Err(StartupError::Config(crate::configuration::ConfigError::Invalid {
                key: "keys.csrf_secret".into(),
                message: "with a shared store every replica must share the CSRF key: set keys.csrf_secret or keys.dir".into(),
            }));
        }
        let keys = match (&settings.keys.signing_key_pem, &key_dir) {
            (Some(pem), _) => KeySet::single(SigningKey::from_pem(pem.expose())?),
            (None, Some(dir)) => KeySet::load_or_create_in(dir, now())?,
            (None, None) => KeySet::single(SigningKey::from_pem(&SigningKey::generate_pem()?)?),
        };
        let csrf_key = crate::csrf::load_key(
            settings.keys.csrf_secret.as_ref().map(|s| s.expose()),
            key_dir.as_deref(),
        )
        .map_err(StartupError::DataDir)?;
        let stores = open_stores(&settings, data_dir.as_deref(), ca_pem).await?;
        let users = Users::new(&settings.users, stores.users.clone());
        let tera = crate::templates::build(crate::account::templates())
            .map_err(|e| StartupError::Templates(format!("{e:?}")))?;
        let account = AccountState::build(&settings.account, ca_pem, &stores)
            .map_err(StartupError::Account)?;
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
        let trusted_proxies = crate::throttle::parse_proxies(&settings.trusted_proxies);
        let forwarded_header =
            crate::throttle::ForwardedHeader::parse(&settings.forwarded_header).unwrap_or_default();
        let notices = crate::notices::Notifier::start(
            &settings.notices,
            &settings.account.authsignal,
            ca_pem,
            &csrf_key,
            crate::notices::WorkerContext {
                users: users.clone(),
                authsignal: account.authsignal.clone(),
                issuer: settings.issuer.clone(),
            },
        )
        .map_err(|e| {
            StartupError::Config(crate::configuration::ConfigError::Invalid {
                key: "notices".into(),
                message: e,
            })
        })?;
        let hashing = crate::hashing::HashingPool::start(
            settings.hashing.permit_count(),
            settings.hashing.params(),
            settings.hashing.idle_release(),
        )?;
        Ok(AppState {
            settings,
            tera,
            stores,
            users,
            account,
            clients,
            known_scopes,
            api_scopes,
            keys,
            csrf_key,
            trusted_proxies,
            forwarded_header,
            verified_secrets: Mutex::new(HashMap::new()),
            hashing,
            discovery_json,
            jwks_json,
            ca_pem: ca_pem.to_owned(),
            backchannel: crate::backchannel::Backchannel::start(ca_pem)
                .map_err(StartupError::Account)?,
            notices,
        })
    }
}

/// Opens the configured backend: Redis when `store.url` is set, else the embedded database in
/// the data directory (in memory without one). The old journal files stop start-up.
async fn open_stores(
    settings: &Settings,
    data_dir: Option<&Path>,
    ca_pem: &str,
) -> Result<Stores, StartupError> {
    let policy = settings.account.lockout.policy();
    if settings.store.redis_url().is_some() {
        return Ok(crate::store::redis::open(&settings.store, policy, ca_pem).await?);
    }
    if let Some(dir) = data_dir {
        let legacy: Vec<String> = LEGACY_FILES
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !legacy.is_empty() {
            return Err(StartupError::DataDir(format!(
                "found {} from an older version (journal files); this version keeps accounts and grants in '{}'. Run `identity-server migrate-data` once to move them over, or move the files away to start without them",
                legacy.join(", "),
                dir.join(crate::store::embedded::FILE_NAME).display()
            )));
        }
    }
    let path = data_dir.map(|d| d.join(crate::store::embedded::FILE_NAME));
    Ok(crate::store::embedded::open(
        path.as_deref(),
        policy,
        crate::store::embedded::EmbeddedLimits {
            cache_bytes: settings.store.cache_kib * 1024,
            ..Default::default()
        },
    )
    .await?)
}
