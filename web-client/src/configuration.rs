//! Settings of the web client: defaults in code, then an optional TOML file (path in
//! `WEBCLIENT_CONFIG`), then environment variables `WEBCLIENT__<KEY>` (e.g.
//! `WEBCLIENT__ISSUER_URL=https://idp.example.com`).
//!
//! [`Settings::validate`] turns the raw values into [`Validated`] ones; a bad value fails start-up
//! with a message naming the key.

use std::path::PathBuf;

use url::Url;

use crate::secret::Secret;

/// Everything the web client can be configured with. `Default` gives the development values
/// of the guide (https://localhost:5002 signing in at https://localhost:5001 as client `web`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to bind (`0.0.0.0` in a container).
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// The URL browsers use to reach this app. Default: `https://localhost:{bound port}`.
    /// The redirect URI is this plus `/signin-oidc`, the post-logout URI plus
    /// `/signout-callback-oidc`.
    pub public_url: Option<String>,
    /// The identity server's issuer URL (discovery is fetched from
    /// `{issuer_url}/.well-known/openid-configuration`).
    pub issuer_url: String,
    /// The client id registered at the identity server.
    pub client_id: String,
    /// The client secret registered at the identity server.
    pub client_secret: Secret,
    /// Scopes to request; `openid` is always requested.
    pub scopes: Vec<String>,
    /// Directory of the development CA and certificate (generated on first run when missing).
    pub certs_dir: PathBuf,
    /// Serve your own certificate chain (PEM) instead of the generated one (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// CA of `tls_cert` (PEM). Default: the certificate chain file itself.
    pub tls_ca: Option<PathBuf>,
    /// Trust the CA of the TLS material (the development CA) when calling the identity server.
    pub trust_dev_ca: bool,
    /// An extra CA certificate file (PEM) to trust when calling the identity server.
    pub extra_ca_file: Option<PathBuf>,
    /// Trust the public web PKI roots (for an identity server with a publicly trusted certificate).
    pub trust_public_roots: bool,
    /// Where the generated session key (`session.key`) and the embedded session database
    /// (`sessions.redb`) are kept; `None` keeps both in memory only (sessions end with the
    /// process).
    pub data_dir: Option<PathBuf>,
    /// Base64 of at least 64 random bytes used to encrypt the session cookie and, through a
    /// derived key, the stored sessions. Default: generated once and kept in
    /// `data_dir/session.key` (mode 0600). Required with a Redis store (every replica must
    /// share it).
    pub session_key: Option<Secret>,
    /// Where signed-in sessions are kept.
    pub store: StoreSettings,
    /// Absolute lifetime of a signed-in session, in seconds.
    pub session_lifetime_secs: u64,
    /// How recent the second factor must be for the "Sensitive" page (`/sensitive`), in seconds
    /// (default 300): older, or a sign-in without one, and the page asks the identity server
    /// for a step-up (`acr_values` mfa, `max_age` this).
    pub sensitive_max_age_secs: u64,
    /// Timeout of each call to the identity server, in seconds.
    pub http_timeout_secs: u64,
    /// How often discovery and the JWKS are fetched again, in seconds (a rotated key is
    /// published an hour before it signs).
    pub jwks_refresh_secs: u64,
    /// Number of worker threads.
    pub workers: usize,
    /// Do not install Ctrl-C / SIGTERM handlers (the caller stops the server through its handle).
    pub disable_signals: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 5002,
            public_url: None,
            issuer_url: "https://localhost:5001".into(),
            client_id: "web".into(),
            client_secret: Secret::new("secret"),
            scopes: vec!["openid".into(), "profile".into()],
            certs_dir: PathBuf::from("certs"),
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            trust_dev_ca: true,
            extra_ca_file: None,
            trust_public_roots: false,
            data_dir: Some(PathBuf::from("data/web-client")),
            session_key: None,
            store: StoreSettings::default(),
            session_lifetime_secs: 8 * 60 * 60,
            sensitive_max_age_secs: 300,
            http_timeout_secs: 10,
            jwks_refresh_secs: 15 * 60,
            workers: 2,
            disable_signals: false,
        }
    }
}

/// Where signed-in sessions are kept (`[store]` in the file, `WEBCLIENT__STORE__*` in the
/// environment).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Unset: the embedded database `data_dir/sessions.redb` (in memory without a data dir).
    /// `redis://host:port/db`, `rediss://…` (TLS) or `redis+unix:///path/to/socket`: a Redis
    /// shared by every replica. May hold a password, so it is kept secret.
    pub url: Option<Secret>,
    /// Prefix of every Redis key (to share one Redis with other apps or versions).
    pub prefix: String,
    /// Bound on every Redis call, in milliseconds; past it the page answers 503.
    pub timeout_ms: u64,
    /// CA certificate (PEM) the certificate of a `rediss://` server must chain to. Default: the
    /// operating system's trust store.
    pub ca_file: Option<PathBuf>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "wc:v1:".into(),
            timeout_ms: 1000,
            ca_file: None,
        }
    }
}

/// The validated session store choice.
#[derive(Clone, Debug)]
pub enum StoreChoice {
    /// The embedded database, in `data_dir` or in memory.
    Embedded,
    /// A Redis server.
    Redis {
        /// Its URL (secret: it may hold a password).
        url: Secret,
        /// Key prefix.
        prefix: String,
        /// Bound on every call.
        timeout: std::time::Duration,
        /// `store.ca_file`, for `rediss://` only.
        ca_file: Option<PathBuf>,
    },
}

/// Configuration could not be loaded or holds a bad value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file or the environment could not be read or parsed (the message names the key).
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value was read but is not acceptable.
    #[error("configuration key '{key}': {message}")]
    Invalid {
        /// The key, as written in the file (env: upper case with the `WEBCLIENT__` prefix).
        key: &'static str,
        /// What is wrong with it, with the bad value in quotes.
        message: String,
    },
}

/// Settings after checking: parsed URLs and derived endpoints.
#[derive(Clone, Debug)]
pub struct Validated {
    /// The public base URL, without a trailing slash.
    pub public_url: String,
    /// The issuer URL as configured (no trailing slash added or removed).
    pub issuer_url: String,
    /// `{public_url}/signin-oidc`.
    pub redirect_uri: String,
    /// `{public_url}/signout-callback-oidc`.
    pub post_logout_redirect_uri: String,
    /// Scopes to request besides `openid`.
    pub extra_scopes: Vec<String>,
    /// Where signed-in sessions are kept.
    pub store: StoreChoice,
}

impl Settings {
    /// Defaults, then the TOML file named by `WEBCLIENT_CONFIG` (if set), then `WEBCLIENT__*`
    /// environment variables.
    pub fn load() -> Result<Self, ConfigError> {
        use figment::Figment;
        use figment::providers::{Env, Format, Toml};
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("WEBCLIENT_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("WEBCLIENT__").split("__"));
        figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))
    }

    /// Checks every value and derives the URLs, given the port actually bound.
    pub fn validate(&self, bound_port: u16) -> Result<Validated, ConfigError> {
        let invalid = |key, message: String| ConfigError::Invalid { key, message };
        let public_url = match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://localhost:{bound_port}"),
        };
        let parsed = Url::parse(&public_url)
            .map_err(|e| invalid("public_url", format!("'{public_url}' is not a URL: {e}")))?;
        if parsed.scheme() != "https" || parsed.path() != "/" || parsed.query().is_some() {
            return Err(invalid(
                "public_url",
                format!("'{public_url}' must be an https origin without path or query"),
            ));
        }
        let issuer = Url::parse(&self.issuer_url).map_err(|e| {
            invalid(
                "issuer_url",
                format!("'{}' is not a URL: {e}", self.issuer_url),
            )
        })?;
        if issuer.scheme() != "https" {
            return Err(invalid(
                "issuer_url",
                format!("'{}' must use https", self.issuer_url),
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(invalid("client_id", "must not be empty".into()));
        }
        if self.client_secret.expose().is_empty() {
            return Err(invalid("client_secret", "must not be empty".into()));
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '"'))
        {
            return Err(invalid("scopes", format!("'{bad}' is not a scope token")));
        }
        if self.session_lifetime_secs == 0 {
            return Err(invalid(
                "session_lifetime_secs",
                "'0' must be at least 1".into(),
            ));
        }
        if !(1..=86_400).contains(&self.sensitive_max_age_secs) {
            return Err(invalid(
                "sensitive_max_age_secs",
                format!(
                    "'{}' must be between 1 and 86400",
                    self.sensitive_max_age_secs
                ),
            ));
        }
        if self.http_timeout_secs == 0 {
            return Err(invalid(
                "http_timeout_secs",
                "'0' must be at least 1".into(),
            ));
        }
        if self.jwks_refresh_secs == 0 {
            return Err(invalid(
                "jwks_refresh_secs",
                "'0' must be at least 1".into(),
            ));
        }
        if self.workers == 0 {
            return Err(invalid("workers", "'0' must be at least 1".into()));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(invalid(
                "tls_cert",
                "tls_cert and tls_key must be set together".into(),
            ));
        }
        if !self.trust_dev_ca && !self.trust_public_roots && self.extra_ca_file.is_none() {
            return Err(invalid(
                "trust_dev_ca",
                "nothing to trust: enable trust_dev_ca or trust_public_roots, or set extra_ca_file"
                    .into(),
            ));
        }
        let store = self.validate_store()?;
        let extra_scopes = self
            .scopes
            .iter()
            .filter(|s| *s != "openid")
            .cloned()
            .collect();
        Ok(Validated {
            redirect_uri: format!("{public_url}/signin-oidc"),
            post_logout_redirect_uri: format!("{public_url}/signout-callback-oidc"),
            public_url,
            issuer_url: self.issuer_url.clone(),
            extra_scopes,
            store,
        })
    }

    fn validate_store(&self) -> Result<StoreChoice, ConfigError> {
        let invalid = |key, message: String| ConfigError::Invalid { key, message };
        let store = &self.store;
        let Some(url) = store.url.as_ref().filter(|u| !u.expose().trim().is_empty()) else {
            if store.ca_file.is_some() {
                return Err(invalid(
                    "store.ca_file",
                    "is only used with a 'rediss://' store.url".into(),
                ));
            }
            return Ok(StoreChoice::Embedded);
        };
        // The URL may hold a password: messages quote its scheme, never the whole value.
        let parsed = Url::parse(url.expose().trim())
            .map_err(|e| invalid("store.url", format!("is not a URL: {e}")))?;
        let scheme = parsed.scheme();
        if !matches!(scheme, "redis" | "rediss" | "redis+unix") {
            return Err(invalid(
                "store.url",
                format!(
                    "scheme '{scheme}' is not supported (use 'redis://', 'rediss://' or \
                     'redis+unix://', or leave it unset for the embedded database)"
                ),
            ));
        }
        if parsed.fragment().is_some() {
            // `rediss://…/#insecure` would turn certificate checks off: never.
            return Err(invalid(
                "store.url",
                "must not have a '#' fragment ('#insecure' is refused: certificates are always \
                 checked; set store.ca_file to trust your CA)"
                    .into(),
            ));
        }
        if store.ca_file.is_some() && scheme != "rediss" {
            return Err(invalid(
                "store.ca_file",
                format!("is only used with 'rediss://', not '{scheme}://'"),
            ));
        }
        if store.prefix.is_empty() || store.prefix.chars().any(|c| c.is_whitespace()) {
            return Err(invalid(
                "store.prefix",
                format!("'{}' must be non-empty without spaces", store.prefix),
            ));
        }
        if !(1..=60_000).contains(&store.timeout_ms) {
            return Err(invalid(
                "store.timeout_ms",
                format!("'{}' must be between 1 and 60000", store.timeout_ms),
            ));
        }
        if self.session_key.is_none() {
            return Err(invalid(
                "session_key",
                "must be set when store.url names a Redis server: every replica must share it \
                 (a generated one differs per replica; create one with `openssl rand -base64 64`)"
                    .into(),
            ));
        }
        Ok(StoreChoice::Redis {
            url: url.clone(),
            prefix: store.prefix.clone(),
            timeout: std::time::Duration::from_millis(store.timeout_ms),
            ca_file: store.ca_file.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_guides_development_values() {
        let v = Settings::default().validate(5002).unwrap();
        assert_eq!(v.redirect_uri, "https://localhost:5002/signin-oidc");
        assert_eq!(
            v.post_logout_redirect_uri,
            "https://localhost:5002/signout-callback-oidc"
        );
        assert_eq!(v.issuer_url, "https://localhost:5001");
        assert_eq!(v.extra_scopes, vec!["profile".to_string()]);
    }

    #[test]
    fn the_public_url_follows_the_bound_port_unless_configured() {
        assert_eq!(
            Settings::default().validate(41234).unwrap().public_url,
            "https://localhost:41234"
        );
        let settings = Settings {
            public_url: Some("https://app.example.com/".into()),
            ..Default::default()
        };
        assert_eq!(
            settings.validate(1).unwrap().redirect_uri,
            "https://app.example.com/signin-oidc"
        );
    }

    #[test]
    fn a_plain_http_issuer_is_refused_naming_the_key() {
        let settings = Settings {
            issuer_url: "http://localhost:5001".into(),
            ..Default::default()
        };
        let err = settings.validate(5002).unwrap_err().to_string();
        assert!(
            err.contains("'issuer_url'") && err.contains("'http://localhost:5001'"),
            "{err}"
        );
    }

    #[test]
    fn a_public_url_with_a_path_is_refused() {
        let settings = Settings {
            public_url: Some("https://x.example/app".into()),
            ..Default::default()
        };
        let err = settings.validate(5002).unwrap_err().to_string();
        assert!(err.contains("'public_url'"), "{err}");
    }

    #[test]
    fn a_scope_with_a_space_is_refused() {
        let settings = Settings {
            scopes: vec!["openid profile".into()],
            ..Default::default()
        };
        let err = settings.validate(5002).unwrap_err().to_string();
        assert!(err.contains("'scopes'"), "{err}");
    }

    #[test]
    fn trusting_nothing_is_refused() {
        let settings = Settings {
            trust_dev_ca: false,
            ..Default::default()
        };
        assert!(
            settings
                .validate(5002)
                .unwrap_err()
                .to_string()
                .contains("nothing to trust")
        );
    }

    fn redis(url: &str) -> Settings {
        Settings {
            session_key: Some(Secret::new("k".repeat(88))),
            store: StoreSettings {
                url: Some(Secret::new(url)),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn no_store_url_means_the_embedded_database() {
        assert!(matches!(
            Settings::default().validate(5002).unwrap().store,
            StoreChoice::Embedded
        ));
    }

    #[test]
    fn redis_urls_of_the_three_schemes_are_accepted() {
        for url in [
            "redis://127.0.0.1:6379/0",
            "rediss://redis.example:6380",
            "redis+unix:///run/redis.sock",
        ] {
            let store = redis(url).validate(5002).unwrap().store;
            assert!(matches!(store, StoreChoice::Redis { .. }), "{url}");
        }
    }

    #[test]
    fn a_redis_store_without_a_configured_session_key_is_refused() {
        let settings = Settings {
            session_key: None,
            ..redis("redis://127.0.0.1")
        };
        let err = settings.validate(5002).unwrap_err().to_string();
        assert!(
            err.contains("'session_key'") && err.contains("every replica"),
            "{err}"
        );
    }

    #[test]
    fn an_insecure_rediss_url_is_refused() {
        let err = redis("rediss://redis.example/#insecure")
            .validate(5002)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'store.url'") && err.contains("#insecure"),
            "{err}"
        );
    }

    #[test]
    fn another_scheme_is_refused_without_quoting_the_password() {
        let err = redis("http://user:hunter2@redis.example")
            .validate(5002)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'store.url'") && err.contains("'http'"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn debug_output_hides_a_password_in_the_store_url() {
        let settings = redis("redis://:hunter2@redis.example:6379");
        let validated = settings.validate(5002).unwrap();
        for debug in [format!("{settings:?}"), format!("{validated:?}")] {
            assert!(!debug.contains("hunter2"), "{debug}");
        }
    }

    #[test]
    fn a_ca_file_without_rediss_is_refused() {
        let mut settings = redis("redis://127.0.0.1");
        settings.store.ca_file = Some(PathBuf::from("ca.pem"));
        let err = settings.validate(5002).unwrap_err().to_string();
        assert!(err.contains("'store.ca_file'"), "{err}");
    }

    #[test]
    fn a_zero_store_timeout_is_refused() {
        let mut settings = redis("redis://127.0.0.1");
        settings.store.timeout_ms = 0;
        let err = settings.validate(5002).unwrap_err().to_string();
        assert!(
            err.contains("'store.timeout_ms'") && err.contains("'0'"),
            "{err}"
        );
    }

    #[test]
    // figment's Jail fixes the closure's error type to figment::Error.
    #[allow(clippy::result_large_err)]
    fn the_store_url_is_read_from_the_environment_under_the_crate_prefix() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WEBCLIENT__STORE__URL", "redis://127.0.0.1:6379");
            jail.set_env("WEBCLIENT__STORE__PREFIX", "wc:test:");
            let settings = Settings::load().map_err(|e| e.to_string())?;
            assert_eq!(
                settings.store.url.as_ref().map(|u| u.expose().to_owned()),
                Some("redis://127.0.0.1:6379".to_owned())
            );
            assert_eq!(settings.store.prefix, "wc:test:");
            Ok(())
        });
    }

    #[test]
    fn debug_output_hides_the_client_secret() {
        let debug = format!("{:?}", Settings::default());
        assert!(!debug.contains("\"secret\""), "{debug}");
    }
}
