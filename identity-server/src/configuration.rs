//! Settings: defaults in code (the Duende quickstart clients and users), then an optional TOML
//! file named by `IDP_CONFIG`, then environment variables `IDP__SECTION__KEY`.
//!
//! Passwords and client secrets are stored as Argon2id PHC strings (`password_hash`,
//! `secret_hash`). A plaintext `password` or `secret` is accepted for convenience and hashed
//! once at load; the defaults carry precomputed hashes so that start-up stays fast.

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::domain::{Address, Secret, UserClaims};

const ALICE_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$J4pjFWtwU2l4S+1y8XC2pA$x1yJM0FZIbKtLaGJzd0TkAs0bXetvlu3CkyjYTcFSzs";
const BOB_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$asjM2NT/oSG+qvwQFbLCFA$2mYLXLgNURjEtfcBC1asp+Fuba2msre7U+1L747WRZQ";
const WEB_SECRET_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$J92v1hFXWWaHr3qG7N1bqw$jdGXM7AN6xEcgAm9qFxq0X9cHaeBZZopX0gEihy37Ng";
const CLIENT_SECRET_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$6BgY3KQDrGfCZrVRJlllsQ$K5zCFPIQVlANd9Vf7HFA9l1oxDy1n//SSaSVqVXlRoA";

/// A start-up configuration error; the message names the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file or environment could not be parsed into [`Settings`].
    #[error("configuration: {0}")]
    Parse(Box<figment::Error>),
    /// A value parsed but is not acceptable.
    #[error("configuration key '{key}': {message}")]
    Invalid {
        /// The offending key, e.g. `clients[0].redirect_uris`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Everything the identity server needs to start.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Interface to bind (default `127.0.0.1`).
    pub host: String,
    /// Port to bind (default 5001; 0 picks a free port).
    pub port: u16,
    /// Public base URL: the `iss` of every token and the prefix of every endpoint.
    pub issuer: String,
    /// Directory of the development certificates (generated when missing).
    pub certs_dir: PathBuf,
    /// Explicit certificate chain (PEM); with `tls_key` and `tls_ca` replaces `certs_dir`.
    pub tls_cert: Option<PathBuf>,
    /// Explicit private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// CA that back-channel clients trust.
    pub tls_ca: Option<PathBuf>,
    /// Durable state: signing keys, created accounts, refresh-token grants.
    pub data_dir: PathBuf,
    /// Let the caller handle Ctrl-C (the demo) instead of actix.
    pub disable_signals: bool,
    /// Number of actix workers (0 = one per core).
    pub workers: usize,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Token lifetimes.
    pub tokens: TokenSettings,
    /// Browser session of the identity server.
    pub session: SessionSettings,
    /// Signing keys.
    pub keys: KeySettings,
    /// Registered clients.
    pub clients: Vec<ClientConfig>,
    /// Users defined in configuration (accounts created at run time live in the data dir).
    pub users: Vec<UserConfig>,
    /// API scopes (identity scopes `openid profile email address phone offline_access` are built in).
    pub api_scopes: Vec<ApiScopeConfig>,
    /// The login and MFA pages (part 2).
    pub account: crate::account::AccountSettings,
    /// Security notices to the account's email (see [`crate::notices`]).
    pub notices: crate::notices::NoticeSettings,
    /// Throttles and caps on what unauthenticated callers can make the server do or keep.
    pub limits: LimitSettings,
    /// Where server-side state lives: the embedded database (default) or a shared Redis.
    pub store: StoreSettings,
    /// Argon2id: parameters of new hashes and the bound on hashing memory and concurrency.
    pub hashing: HashingSettings,
    /// Proxies (load balancers) whose `X-Forwarded-For` / `Forwarded` headers name the client.
    /// Exact addresses or CIDR networks, e.g. `["10.0.0.0/8", "::1"]`. Empty (the default): the
    /// socket peer is the client and forwarding headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// The one forwarding header the trusted proxies write: `x-forwarded-for` (the default) or
    /// `forwarded`. The other is ignored (a proxy passes a client's own copy of it through).
    pub forwarded_header: String,
}

/// Argon2id password hashing (section `hashing`; see [`crate::hashing`]).
///
/// Hashing memory is preallocated: `permits` blocks of `memory_kib` KiB each, reused by every
/// hash, each given back after `idle_release_secs` without a hash and allocated again for the
/// next one. The parameters apply to NEW hashes (account creation,
/// plaintext secrets in this file); existing hashes verify with the parameters in their PHC
/// string. A configured `password_hash` or `secret_hash` needing more memory than `memory_kib`
/// stops start-up (hash it again, or raise `memory_kib`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashingSettings {
    /// Memory of a new hash and of each preallocated block, in KiB (default 19456 = 19 MiB,
    /// OWASP's first Argon2id recommendation).
    pub memory_kib: u32,
    /// Passes over the memory (default 2).
    pub iterations: u32,
    /// Lanes (default 1). The lanes are computed one after the other on one hashing thread, so
    /// a higher value makes a hash neither faster nor larger.
    pub parallelism: u32,
    /// Hashes at once = hashing threads = memory blocks (default 0: one per core). A request
    /// that finds no free permit within 2 s is answered 503.
    pub permits: usize,
    /// A hashing thread gives its block back to the system after this many seconds without a
    /// hash, and allocates it again for the next one (default 5; 0: keep it for good). Under
    /// load no block is allocated twice; after a burst the memory goes back.
    pub idle_release_secs: u64,
}

impl Default for HashingSettings {
    fn default() -> Self {
        let owasp = crate::hashing::NewHashParams::OWASP;
        Self {
            memory_kib: owasp.memory_kib,
            iterations: owasp.iterations,
            parallelism: owasp.parallelism,
            permits: 0,
            idle_release_secs: 5,
        }
    }
}

impl HashingSettings {
    /// The parameters of new hashes.
    pub fn params(&self) -> crate::hashing::NewHashParams {
        crate::hashing::NewHashParams {
            memory_kib: self.memory_kib,
            iterations: self.iterations,
            parallelism: self.parallelism,
        }
    }

    /// The number of permits: `permits`, or one per available core when it is 0.
    pub fn permit_count(&self) -> usize {
        if self.permits > 0 {
            return self.permits;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(1)
    }

    /// Hashes a plaintext password or secret of the configuration with the parameters of new
    /// hashes (start-up only: a one-off allocation, outside the hashing pool).
    pub fn hash_once(&self, secret: &str) -> Result<String, String> {
        crate::hashing::hash_once(self.params(), secret.as_bytes())
            .map_err(|e| format!("hashing failed: {e}"))
    }

    /// How long a hashing thread keeps its block without a hash (`None`: for good).
    pub fn idle_release(&self) -> Option<std::time::Duration> {
        (self.idle_release_secs > 0).then(|| std::time::Duration::from_secs(self.idle_release_secs))
    }

    /// The most resident memory of hashing in bytes: permits x memory_kib KiB (while hashing,
    /// and for `idle_release_secs` after).
    pub fn resident_bytes(&self) -> u64 {
        self.permit_count() as u64 * u64::from(self.memory_kib) * 1024
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.memory_kib > crate::hashing::MAX_MEMORY_KIB {
            return Err(ConfigError::invalid(
                "hashing.memory_kib",
                format!(
                    "'{}' is above {} (1 GiB)",
                    self.memory_kib,
                    crate::hashing::MAX_MEMORY_KIB
                ),
            ));
        }
        if self.idle_release_secs > 86_400 {
            return Err(ConfigError::invalid(
                "hashing.idle_release_secs",
                format!("'{}' is above 86400 (a day)", self.idle_release_secs),
            ));
        }
        if self.permits > MAX_HASH_PERMITS {
            return Err(ConfigError::invalid(
                "hashing.permits",
                format!("'{}' is above {MAX_HASH_PERMITS}", self.permits),
            ));
        }
        self.params().argon2().map_err(|e| {
            ConfigError::invalid(
                "hashing",
                format!(
                    "memory_kib '{}', iterations '{}', parallelism '{}' refused: {e}",
                    self.memory_kib, self.iterations, self.parallelism
                ),
            )
        })?;
        Ok(())
    }

    /// Checks a configured hash: a PHC string argon2 can verify within the preallocated block.
    fn check_configured(&self, key: String, hash: &str) -> Result<(), ConfigError> {
        let memory = crate::hashing::memory_kib_of(hash)
            .map_err(|e| ConfigError::invalid(key.clone(), format!("not usable: {e}")))?;
        if memory > self.memory_kib {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "the hash needs '{memory}' KiB of memory, more than hashing.memory_kib ({}); hash it again with the current parameters or raise hashing.memory_kib",
                    self.memory_kib
                ),
            ));
        }
        Ok(())
    }
}

/// Most hashing permits (threads and memory blocks) the settings accept.
pub const MAX_HASH_PERMITS: usize = 256;

/// Largest page cache of the embedded database the settings accept, in KiB (1 GiB, redb's own
/// default).
pub const MAX_STORE_CACHE_KIB: usize = 1024 * 1024;

/// Where server-side state lives (section `store`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Empty (the default): the embedded database `identity-server.redb` in `data_dir`. Or a
    /// Redis URL (`redis://`, `rediss://`, `redis+unix://`, `valkey://`) shared by every
    /// replica; env `IDP__STORE__URL`. It may hold a password: never logged.
    pub url: Option<Secret>,
    /// Prefix of every Redis key (default `idsrv:v1:`).
    pub prefix: String,
    /// Deadline of one store call in milliseconds (default 2000): past it the call fails and the
    /// request is answered 503 / `temporarily_unavailable`.
    pub timeout_ms: u64,
    /// Page cache of the embedded database in KiB (default 2048 = 2 MiB; at least 64). The
    /// server's resident memory includes it in full once the data outgrows it; pages beyond it
    /// are read from the file again. Not used with Redis.
    pub cache_kib: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "idsrv:v1:".into(),
            timeout_ms: 2000,
            cache_kib: crate::store::embedded::DEFAULT_CACHE_BYTES / 1024,
        }
    }
}

impl StoreSettings {
    /// The Redis URL, if Redis is configured.
    pub fn redis_url(&self) -> Option<&str> {
        self.url
            .as_ref()
            .map(|u| u.expose().trim())
            .filter(|u| !u.is_empty())
    }
}

/// Throttles and caps.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Failed client authentications per client within the window before the client is refused
    /// (429 `invalid_client`) without checking the secret (default 20). A secret matching the
    /// one last verified in this process is still accepted, so wrong guesses cannot lock out the
    /// real client once it has authenticated.
    pub client_auth_max_failures_per_client: u32,
    /// Failed client authentications per network (IPv4 address, IPv6 /64) within the window
    /// (default 50).
    pub client_auth_max_failures_per_network: u32,
    /// The client-authentication window in seconds, counted from the first failure (default 900).
    pub client_auth_window_secs: i64,
    /// Unredeemed authorization codes one session may hold at once (default 10); past it the
    /// authorize endpoint answers `temporarily_unavailable` until codes are redeemed or expire.
    pub max_unredeemed_codes_per_session: usize,
    /// Pending authorize requests (waiting for a login) one network (IPv4 address, IPv6 /64)
    /// may hold at once (default 1000, so that a NAT of a few hundred users signing in at once
    /// is never refused); past it that network gets 429 until requests complete or expire.
    pub max_pending_authorize_requests_per_network: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            client_auth_max_failures_per_client: 20,
            client_auth_max_failures_per_network: 50,
            client_auth_window_secs: 900,
            max_unredeemed_codes_per_session: 10,
            max_pending_authorize_requests_per_network: 1000,
        }
    }
}

/// Lifetimes, in seconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// Authorization code lifetime (default 60).
    pub code_lifetime_secs: i64,
    /// How long a pending authorize request waits for the login (default 900).
    pub authorize_request_lifetime_secs: i64,
    /// ID token lifetime (default 300).
    pub id_token_lifetime_secs: i64,
    /// Access token lifetime (default 3600).
    pub access_token_lifetime_secs: i64,
    /// Absolute lifetime of a refresh-token grant, counted from the sign-in (default 30 days).
    pub refresh_token_lifetime_secs: i64,
    /// Issue a fresh ID token on refresh. Off by default: OpenID Connect Core 12.2 makes it
    /// optional, the identity has not changed, and it would double the RSA cost of a refresh.
    pub id_token_on_refresh: bool,
    /// Seconds during which the previous refresh token of a rotation still rotates (its answer
    /// may have been lost) instead of revoking the grant as a replay. 0 (the default) is strict
    /// rotation; see the README for the trade-off.
    pub refresh_reuse_interval_secs: i64,
}

/// Session lifetimes, in seconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// A session unused for this long ends (default 2 hours).
    pub idle_timeout_secs: i64,
    /// A session ends this long after sign-in whatever happens (default 12 hours).
    pub absolute_timeout_secs: i64,
}

/// Signing-key settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySettings {
    /// A PKCS#8 PEM RSA key to sign with instead of the keys in the data dir (tests, or a key
    /// managed elsewhere). Never logged.
    pub signing_key_pem: Option<Secret>,
    /// A directory holding the key manifest (`keys.json`) and the CSRF key (`csrf.key`) instead
    /// of `data_dir/keys`: one shared, read-mostly volume that every replica reads.
    pub dir: Option<PathBuf>,
    /// The key of the CSRF tokens: 32 bytes as 64 hex digits or base64url, the same on every
    /// replica. Default: `csrf.key` in the key directory, created once. Never logged.
    pub csrf_secret: Option<Secret>,
}

/// A registered client.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// `client_id`.
    pub client_id: String,
    /// Shown on the login page.
    #[serde(default)]
    pub client_name: Option<String>,
    /// Argon2id PHC hash of the secret; no secret at all makes a public client.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// Plaintext secret, hashed at load (convenience for local configuration files).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Exact redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Scopes the client may request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Require PKCE even though the client is confidential (public clients always must).
    #[serde(default = "yes")]
    pub require_pkce: bool,
    /// Home page of the client, linked from the logged-out page.
    #[serde(default)]
    pub client_uri: Option<String>,
    /// Where logout tokens are POSTed when a session the client signed into ends
    /// (OpenID Connect Back-Channel Logout 1.0); `https` only.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (ours always carry `sid` and `sub`).
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

fn yes() -> bool {
    true
}

/// A user defined in configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Stable subject identifier.
    pub subject: String,
    /// Login name.
    pub username: String,
    /// Argon2id PHC hash of the password.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Plaintext password, hashed at load.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Profile claims.
    #[serde(default)]
    pub claims: UserClaims,
}

/// An API scope and the audience its access tokens carry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiScopeConfig {
    /// Scope name, e.g. `api1`.
    pub name: String,
    /// `aud` of access tokens carrying the scope (default: the scope name).
    #[serde(default)]
    pub audience: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 5001,
            issuer: "https://localhost:5001".into(),
            certs_dir: "certs".into(),
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            data_dir: "data/identity-server".into(),
            disable_signals: false,
            workers: 0,
            max_body_bytes: 16 * 1024,
            tokens: TokenSettings::default(),
            session: SessionSettings::default(),
            keys: KeySettings::default(),
            clients: default_clients(),
            users: default_users(),
            api_scopes: vec![ApiScopeConfig {
                name: "api1".into(),
                audience: None,
            }],
            account: crate::account::AccountSettings::default(),
            notices: crate::notices::NoticeSettings::default(),
            limits: LimitSettings::default(),
            store: StoreSettings::default(),
            hashing: HashingSettings::default(),
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            code_lifetime_secs: 60,
            authorize_request_lifetime_secs: 900,
            id_token_lifetime_secs: 300,
            access_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 30 * 24 * 3600,
            id_token_on_refresh: false,
            refresh_reuse_interval_secs: 0,
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 2 * 3600,
            absolute_timeout_secs: 12 * 3600,
        }
    }
}

fn default_clients() -> Vec<ClientConfig> {
    vec![
        ClientConfig {
            client_id: "web".into(),
            client_name: Some("Web client".into()),
            secret_hash: Some(WEB_SECRET_HASH.into()),
            secret: None,
            redirect_uris: vec!["https://localhost:5002/signin-oidc".into()],
            post_logout_redirect_uris: vec!["https://localhost:5002/signout-callback-oidc".into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["openid".into(), "profile".into()],
            require_pkce: true,
            client_uri: Some("https://localhost:5002/".into()),
            // The web client ends its sessions with this sid when the identity server's ends.
            backchannel_logout_uri: Some("https://localhost:5002/backchannel-logout".into()),
            backchannel_logout_session_required: true,
        },
        ClientConfig {
            client_id: "client".into(),
            client_name: Some("Machine client".into()),
            secret_hash: Some(CLIENT_SECRET_HASH.into()),
            secret: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api1".into()],
            require_pkce: true,
            client_uri: None,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
        },
    ]
}

fn quickstart_address() -> Address {
    Address {
        street_address: Some("One Hacker Way".into()),
        locality: Some("Heidelberg".into()),
        postal_code: Some("69118".into()),
        country: Some("Germany".into()),
        region: None,
    }
}

fn default_users() -> Vec<UserConfig> {
    let user = |subject: &str, username: &str, hash: &str, given: &str| UserConfig {
        subject: subject.into(),
        username: username.into(),
        password_hash: Some(hash.into()),
        password: None,
        claims: UserClaims {
            name: Some(format!("{given} Smith")),
            given_name: Some(given.into()),
            family_name: Some("Smith".into()),
            email: Some(format!("{given}Smith@example.com")),
            email_verified: Some(true),
            website: Some(format!("http://{username}.example.com")),
            address: Some(quickstart_address()),
            phone_number: None,
            phone_number_verified: None,
        },
    };
    vec![
        user(
            "a5a0c16c-0027-4011-8e2f-a7e179dc784b",
            "alice",
            ALICE_HASH,
            "Alice",
        ),
        user(
            "e4f1a0a3-6c9a-4b4e-8a54-0f3f1c2b7d90",
            "bob",
            BOB_HASH,
            "Bob",
        ),
    ]
}

impl Settings {
    /// Defaults, then the TOML file named by `IDP_CONFIG` (if set), then `IDP__SECTION__KEY`
    /// environment variables; then validated.
    pub fn load() -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("IDP_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("IDP__").split("__"));
        Self::from_figment(figment)
    }

    /// Extracts and validates settings from an explicit figment (used by [`Settings::load`] and tests).
    pub fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Parse(Box::new(e)))?;
        settings.prepare()?;
        Ok(settings)
    }

    /// Validates every value and hashes plaintext secrets; called by `load` and `Application::build`.
    pub fn prepare(&mut self) -> Result<(), ConfigError> {
        let issuer = url::Url::parse(&self.issuer).map_err(|e| {
            ConfigError::invalid("issuer", format!("'{}' is not a url: {e}", self.issuer))
        })?;
        if issuer.scheme() != "https" || issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::invalid(
                "issuer",
                format!(
                    "'{}' must be an https url without query or fragment",
                    self.issuer
                ),
            ));
        }
        self.issuer = self.issuer.trim_end_matches('/').to_owned();
        for (key, value) in [
            ("tokens.code_lifetime_secs", self.tokens.code_lifetime_secs),
            (
                "tokens.authorize_request_lifetime_secs",
                self.tokens.authorize_request_lifetime_secs,
            ),
            (
                "tokens.id_token_lifetime_secs",
                self.tokens.id_token_lifetime_secs,
            ),
            (
                "tokens.access_token_lifetime_secs",
                self.tokens.access_token_lifetime_secs,
            ),
            (
                "tokens.refresh_token_lifetime_secs",
                self.tokens.refresh_token_lifetime_secs,
            ),
            ("session.idle_timeout_secs", self.session.idle_timeout_secs),
            (
                "session.absolute_timeout_secs",
                self.session.absolute_timeout_secs,
            ),
            (
                "limits.client_auth_window_secs",
                self.limits.client_auth_window_secs,
            ),
        ] {
            if value <= 0 {
                return Err(ConfigError::invalid(
                    key,
                    format!("'{value}' must be positive"),
                ));
            }
        }
        for (key, value) in [
            (
                "limits.max_unredeemed_codes_per_session",
                self.limits.max_unredeemed_codes_per_session,
            ),
            (
                "limits.max_pending_authorize_requests_per_network",
                self.limits.max_pending_authorize_requests_per_network,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "'0' must be positive".to_owned()));
            }
        }
        if let Some(url) = self.store.redis_url() {
            let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
            if !matches!(
                scheme,
                "redis" | "rediss" | "redis+unix" | "unix" | "valkey" | "valkeys"
            ) {
                return Err(ConfigError::invalid(
                    "store.url",
                    format!(
                        "the scheme '{scheme}' is not redis://, rediss://, redis+unix:// or valkey://"
                    ),
                ));
            }
        }
        if self.store.prefix.is_empty() || self.store.prefix.chars().any(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "store.prefix",
                format!("'{}' must be non-empty without spaces", self.store.prefix),
            ));
        }
        if !(1..=60_000).contains(&self.store.timeout_ms) {
            return Err(ConfigError::invalid(
                "store.timeout_ms",
                format!("'{}' must be between 1 and 60000", self.store.timeout_ms),
            ));
        }
        if !(64..=MAX_STORE_CACHE_KIB).contains(&self.store.cache_kib) {
            return Err(ConfigError::invalid(
                "store.cache_kib",
                format!(
                    "'{}' must be between 64 and {MAX_STORE_CACHE_KIB}",
                    self.store.cache_kib
                ),
            ));
        }
        if self.tokens.refresh_reuse_interval_secs < 0
            || self.tokens.refresh_reuse_interval_secs > 300
        {
            return Err(ConfigError::invalid(
                "tokens.refresh_reuse_interval_secs",
                format!(
                    "'{}' must be between 0 and 300",
                    self.tokens.refresh_reuse_interval_secs
                ),
            ));
        }
        for (i, proxy) in self.trusted_proxies.iter().enumerate() {
            crate::throttle::ProxyNet::parse(proxy).map_err(|e| {
                ConfigError::invalid(format!("trusted_proxies[{i}]"), format!("'{proxy}': {e}"))
            })?;
        }
        crate::throttle::ForwardedHeader::parse(&self.forwarded_header)
            .map_err(|e| ConfigError::invalid("forwarded_header", e))?;
        if let Some(secret) = &self.keys.csrf_secret {
            crate::csrf::parse_key(secret.expose())
                .map_err(|e| ConfigError::invalid("keys.csrf_secret", e))?;
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "max_body_bytes",
                format!("'{}' is below 1024", self.max_body_bytes),
            ));
        }
        self.hashing.validate()?;
        let hashing = self.hashing.clone();
        let mut seen = std::collections::HashSet::new();
        for (i, client) in self.clients.iter_mut().enumerate() {
            let key = |field: &str| format!("clients[{i}].{field}");
            if client.client_id.is_empty() || !seen.insert(client.client_id.clone()) {
                return Err(ConfigError::invalid(
                    key("client_id"),
                    format!("'{}' is empty or repeated", client.client_id),
                ));
            }
            for uri in client
                .redirect_uris
                .iter()
                .chain(&client.post_logout_redirect_uris)
            {
                let parsed = url::Url::parse(uri).map_err(|e| {
                    ConfigError::invalid(key("redirect_uris"), format!("'{uri}' is not a url: {e}"))
                })?;
                if parsed.fragment().is_some() {
                    return Err(ConfigError::invalid(
                        key("redirect_uris"),
                        format!("'{uri}' has a fragment"),
                    ));
                }
            }
            if let Some(uri) = &client.backchannel_logout_uri {
                // Back-Channel Logout 1.0 section 2.2: an absolute URL without a fragment; the
                // logout token is a bearer credential, so only https.
                let parsed = url::Url::parse(uri).map_err(|e| {
                    ConfigError::invalid(
                        key("backchannel_logout_uri"),
                        format!("'{uri}' is not a url: {e}"),
                    )
                })?;
                if parsed.scheme() != "https" || parsed.fragment().is_some() {
                    return Err(ConfigError::invalid(
                        key("backchannel_logout_uri"),
                        format!("'{uri}' must be https without a fragment"),
                    ));
                }
            }
            for grant in &client.grant_types {
                if !matches!(
                    grant.as_str(),
                    "authorization_code" | "refresh_token" | "client_credentials"
                ) {
                    return Err(ConfigError::invalid(
                        key("grant_types"),
                        format!("'{grant}' is not supported"),
                    ));
                }
            }
            if let Some(secret) = client.secret.take() {
                client.secret_hash = Some(
                    hashing
                        .hash_once(secret.expose())
                        .map_err(|e| ConfigError::invalid(key("secret"), e))?,
                );
            }
            if let Some(hash) = &client.secret_hash {
                hashing.check_configured(key("secret_hash"), hash)?;
            } else if client.grant_types.iter().any(|g| g == "client_credentials") {
                return Err(ConfigError::invalid(
                    key("grant_types"),
                    "client_credentials needs a secret",
                ));
            }
        }
        let mut seen_users = std::collections::HashSet::new();
        for (i, user) in self.users.iter_mut().enumerate() {
            let key = |field: &str| format!("users[{i}].{field}");
            if user.username.is_empty() || !seen_users.insert(user.username.to_lowercase()) {
                return Err(ConfigError::invalid(
                    key("username"),
                    format!("'{}' is empty or repeated", user.username),
                ));
            }
            if user.subject.is_empty() {
                return Err(ConfigError::invalid(key("subject"), "must not be empty"));
            }
            if let Some(password) = user.password.take() {
                user.password_hash = Some(
                    hashing
                        .hash_once(password.expose())
                        .map_err(|e| ConfigError::invalid(key("password"), e))?,
                );
            }
            match &user.password_hash {
                Some(hash) => hashing.check_configured(key("password_hash"), hash)?,
                None => return Err(ConfigError::invalid(key("password_hash"), "missing")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compose_clients_differ_from_the_defaults_only_in_the_back_channel_host() {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/identity-server-compose.toml"
        );
        let settings = Settings::from_figment(Figment::new().merge(Toml::file_exact(file)))
            .expect("deploy/identity-server-compose.toml loads");
        let defaults = default_clients();
        assert_eq!(settings.clients.len(), defaults.len());
        for (compose, default) in settings.clients.iter().zip(&defaults) {
            let mut compose = compose.clone();
            if compose.client_id == "web" {
                assert_eq!(
                    compose.backchannel_logout_uri.as_deref(),
                    Some("https://identity-server:5002/backchannel-logout"),
                    "the replicas reach the web client by its compose name"
                );
                compose.backchannel_logout_uri = default.backchannel_logout_uri.clone();
            }
            assert_eq!(format!("{compose:?}"), format!("{default:?}"));
        }
    }
    use figment::providers::Serialized;

    #[test]
    fn defaults_are_valid_and_carry_the_quickstart_clients_and_users() {
        let settings = Settings::from_figment(Figment::new()).unwrap();
        assert_eq!(settings.issuer, "https://localhost:5001");
        assert_eq!(settings.clients.len(), 2);
        assert_eq!(settings.users[0].username, "alice");
        assert_eq!(
            settings.users[1].subject,
            "e4f1a0a3-6c9a-4b4e-8a54-0f3f1c2b7d90"
        );
    }

    #[test]
    fn the_default_web_client_registers_its_back_channel_logout_endpoint_with_sessions() {
        let settings = Settings::from_figment(Figment::new()).unwrap();
        let web = settings
            .clients
            .iter()
            .find(|c| c.client_id == "web")
            .unwrap();
        assert_eq!(
            web.backchannel_logout_uri.as_deref(),
            Some("https://localhost:5002/backchannel-logout")
        );
        assert!(web.backchannel_logout_session_required);
        let machine = settings
            .clients
            .iter()
            .find(|c| c.client_id == "client")
            .unwrap();
        assert_eq!(machine.backchannel_logout_uri, None, "no sessions to end");
    }

    #[test]
    fn a_non_https_issuer_fails_naming_the_key() {
        let err =
            Settings::from_figment(Figment::new().merge(Serialized::default("issuer", "http://x")))
                .unwrap_err()
                .to_string();
        assert!(err.contains("'issuer'"), "{err}");
    }

    #[test]
    fn the_embedded_database_cache_defaults_to_two_mib_and_out_of_range_sizes_fail_naming_the_key()
    {
        let settings = Settings::from_figment(Figment::new()).unwrap();
        assert_eq!(settings.store.cache_kib, 2048);
        for kib in [0, 63, MAX_STORE_CACHE_KIB + 1] {
            let err = Settings::from_figment(
                Figment::new().merge(Serialized::default("store.cache_kib", kib)),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("'store.cache_kib'"), "{kib}: {err}");
        }
        let settings = Settings::from_figment(
            Figment::new().merge(Serialized::default("store.cache_kib", 64)),
        )
        .unwrap();
        assert_eq!(settings.store.cache_kib, 64);
    }

    #[test]
    fn an_unknown_key_fails_naming_it() {
        let err = Settings::from_figment(Figment::new().merge(Serialized::default("portt", 1)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("portt"), "{err}");
    }

    #[test]
    fn the_notices_section_parses_with_its_smtp_server_and_refuses_unknown_keys() {
        let toml = r#"
            [notices]
            transport = "smtp"
            max_per_account_per_hour = 5
            [notices.smtp]
            host = "mail.example.com"
            tls = "wrapper"
            from = "Identity server <no-reply@example.com>"
            username = "mailer"
            password = "hunter2"
        "#;
        let settings = Settings::from_figment(Figment::new().merge(Toml::string(toml))).unwrap();
        let notices = &settings.notices;
        assert_eq!(notices.transport, Some(crate::notices::TransportKind::Smtp));
        assert_eq!(notices.max_per_account_per_hour, 5);
        assert_eq!(notices.validate(), Ok(()));
        let smtp = notices.smtp.as_ref().unwrap();
        assert_eq!(smtp.tls, crate::notices::transport::SmtpTls::Wrapper);
        assert!(!format!("{settings:?}").contains("hunter2"), "redacted");

        let typo = "[notices]\ntransprt = \"none\"\n";
        let err = Settings::from_figment(Figment::new().merge(Toml::string(typo)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("transprt"), "{err}");
        let unknown = "[notices]\ntransport = \"carrier-pigeon\"\n";
        assert!(Settings::from_figment(Figment::new().merge(Toml::string(unknown))).is_err());
    }

    #[test]
    fn a_plaintext_client_secret_is_hashed_at_load() {
        let toml = r#"
            [[clients]]
            client_id = "c"
            secret = "s3cret"
            grant_types = ["client_credentials"]
            scopes = ["api1"]
        "#;
        let settings = Settings::from_figment(Figment::new().merge(Toml::string(toml))).unwrap();
        let hash = settings.clients[0].secret_hash.as_deref().unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(settings.clients[0].secret.is_none());
    }

    #[test]
    fn new_hashes_use_the_configured_argon2_parameters() {
        let toml = r#"
            [hashing]
            memory_kib = 32768
            iterations = 3
            parallelism = 1
            [[clients]]
            client_id = "c"
            secret = "s3cret"
            grant_types = ["client_credentials"]
            scopes = ["api1"]
        "#;
        let settings = Settings::from_figment(Figment::new().merge(Toml::string(toml))).unwrap();
        let hash = settings.clients[0].secret_hash.as_deref().unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=32768,t=3,p=1$"),
            "{hash}"
        );
    }

    #[test]
    fn the_hashing_defaults_are_owasp_with_one_permit_per_core() {
        let hashing = HashingSettings::default();
        assert_eq!(
            (hashing.memory_kib, hashing.iterations, hashing.parallelism),
            (19_456, 2, 1)
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(hashing.permit_count(), cores);
        assert_eq!(hashing.resident_bytes(), cores as u64 * 19_456 * 1024);
    }

    #[test]
    fn a_configured_hash_larger_than_the_hashing_memory_stops_start_up_naming_the_key() {
        // The default clients' and users' hashes take 19456 KiB; clients are checked first.
        let err = Settings::from_figment(
            Figment::new().merge(Serialized::default("hashing.memory_kib", 12_288)),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("'clients[0].secret_hash'"), "{err}");
        assert!(err.contains("'19456' KiB"), "{err}");
    }

    #[test]
    fn impossible_hashing_parameters_fail_naming_the_key() {
        for (key, value) in [
            ("hashing.iterations", 0u32),
            ("hashing.parallelism", 0),
            ("hashing.memory_kib", 2_000_000),
            ("hashing.permits", 100_000),
        ] {
            let err = Settings::from_figment(Figment::new().merge(Serialized::default(key, value)))
                .unwrap_err()
                .to_string();
            assert!(err.contains("'hashing"), "{key}: {err}");
        }
    }

    #[test]
    fn a_configured_hash_that_is_not_argon2_fails_naming_the_key() {
        let toml = r#"
            [[users]]
            subject = "s"
            username = "u"
            password_hash = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
        "#;
        let err = Settings::from_figment(Figment::new().merge(Toml::string(toml)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'users[0].password_hash'"), "{err}");
    }
}
