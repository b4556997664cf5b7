//! Settings: defaults in code, then an optional TOML file (path in `EMULATOR_CONFIG`), then
//! environment variables `EMULATOR__<KEY>` (e.g. `EMULATOR__PORT=5003`,
//! `EMULATOR__DEFAULT_OUTCOME=ALLOW`), then command-line options ([`Cli`], binary only).
//! A bad value fails start-up with a message naming the key.

use std::collections::HashMap;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

use crate::domain::action_code::ActionCode;
use crate::domain::outcome::Outcome;
use crate::domain::secret::ApiSecret;

/// The development secret printed on start.
pub const DEV_SECRET: &str = "dev-emulator-secret-key";

/// Emulator settings. `Default` gives the development values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to bind (`127.0.0.1`).
    pub host: String,
    /// Port (`5003`; 0 picks a free one).
    pub port: u16,
    /// Origin the browser uses for the hosted pages, when it differs from
    /// `https://localhost:<port>` (e.g. behind docker-compose).
    pub public_url: Option<String>,
    /// The Server API secret (`dev-emulator-secret-key`).
    pub secret: ApiSecret,
    /// Tenant id (put into tokens and webhook events).
    pub tenant_id: String,
    /// Tenant name: the TOTP issuer and the title of the hosted pages.
    pub tenant_name: String,
    /// Where the development certificates live (`certs`).
    pub certs_dir: PathBuf,
    /// Own certificate chain (PEM) instead of the development one (with `tls_key`, `tls_ca`).
    pub tls_cert: Option<PathBuf>,
    /// Own private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// The CA that signed `tls_cert` (PEM), trusted by the webhook client.
    pub tls_ca: Option<PathBuf>,
    /// Where users, authenticators and actions persist (`data/authsignal-emulator`); `None`
    /// keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory even if `data_dir` is set.
    pub in_memory: bool,
    /// The outcome of actions with no entry in `action_outcomes` (`CHALLENGE`).
    pub default_outcome: Outcome,
    /// Outcome per action code.
    pub action_outcomes: HashMap<String, Outcome>,
    /// Where webhook events are posted (none by default).
    pub webhook_url: Option<String>,
    /// Track token lifetime in seconds (600, as the service).
    pub token_lifetime_secs: u64,
    /// Do not install actix's Ctrl-C handling (the demo handles signals itself).
    pub disable_signals: bool,
    /// Largest accepted request body in bytes (64 KiB).
    pub max_body_bytes: usize,
    /// Worker threads (default: actix's choice, the number of cores).
    pub workers: Option<usize>,
    /// The relying party of passkeys (the Client API under `/v1/client`).
    pub passkey: PasskeySettings,
    /// Origins a track's `redirectUrl` may lead to, exactly (`https://localhost:5001`, the
    /// identity server of `cargo run`): a real tenant only redirects to its configured domains,
    /// so a token never travels to a foreign or plain-http address. The one exception (RFC 8252,
    /// loopback): an `http://` origin on `localhost`, `127.0.0.1` or `[::1]` listed here
    /// explicitly, e.g. `http://localhost:3000` for the official SDKs' test suites. Environment:
    /// `EMULATOR__REDIRECT_ORIGINS='["https://idp.example"]'`.
    pub redirect_origins: Vec<String>,
    /// Development mode (off): serves the outbox of live one-time codes at `/dev/outbox` and
    /// `/dev/outbox.json` to anyone who reaches the port. The demo (`cargo run`) turns it on;
    /// `EMULATOR__DEV_MODE=true` or `--dev-mode` for the binary.
    pub dev_mode: bool,
    /// Limits of the one-time codes sent to one address (email or phone number) across every
    /// hosted session and the Server API's `challenge` calls.
    pub code_sends: CodeSendSettings,
    /// Whether the hosted settings screen (`redirectToSettings`) offers adding an email
    /// address (off: the guide recommends against email self-service; a real tenant configures
    /// its authenticators in the portal). The first enrollment of an unenrolled user is not
    /// affected. Environment: `EMULATOR__EMAIL_SELF_SERVICE=true`.
    pub email_self_service: bool,
}

/// How many one-time codes may go to one address (section `code_sends`; environment e.g.
/// `EMULATOR__CODE_SENDS__MAX_PER_ADDRESS=5`). Counted per lowercased address across every
/// hosted session and the Server API, so that new sign-ins cannot flood a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeSendSettings {
    /// Codes per address per window (5).
    pub max_per_address: u32,
    /// The window, in seconds (900).
    pub window_secs: u64,
    /// Least time between two codes to one address, in seconds (30).
    pub interval_secs: u64,
}

impl Default for CodeSendSettings {
    fn default() -> Self {
        CodeSendSettings {
            max_per_address: 5,
            window_secs: 900,
            interval_secs: 30,
        }
    }
}

impl CodeSendSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if !(1..=1000).contains(&self.max_per_address) {
            return invalid(
                "code_sends.max_per_address",
                format!("'{}' is outside 1..=1000", self.max_per_address),
            );
        }
        if !(1..=86_400).contains(&self.window_secs) {
            return invalid(
                "code_sends.window_secs",
                format!("'{}' is outside 1..=86400", self.window_secs),
            );
        }
        if self.interval_secs > self.window_secs {
            return invalid(
                "code_sends.interval_secs",
                format!(
                    "'{}' is longer than the window ({})",
                    self.interval_secs, self.window_secs
                ),
            );
        }
        Ok(())
    }
}

/// Relying-party settings of passkeys, per tenant at the service (its "RP ID" and "expected
/// origins"). Environment: `EMULATOR__PASSKEY__RP_ID`,
/// `EMULATOR__PASSKEY__EXPECTED_ORIGINS='["https://localhost:5001"]'`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeySettings {
    /// The RP id (`localhost`): a host name, no scheme or port.
    pub rp_id: String,
    /// The RP name authenticators show (default: the tenant name).
    pub rp_name: Option<String>,
    /// Origins a ceremony may run from, exactly (`https://localhost:5001`, `:5002`, `:5003`).
    /// They are also the only origins the Client API answers with CORS headers.
    pub expected_origins: Vec<String>,
    /// How long a passkey challenge can be answered, in seconds (300).
    pub challenge_lifetime_secs: u64,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        PasskeySettings {
            rp_id: "localhost".into(),
            rp_name: None,
            expected_origins: vec![
                "https://localhost:5001".into(),
                "https://localhost:5002".into(),
                "https://localhost:5003".into(),
            ],
            challenge_lifetime_secs: 300,
        }
    }
}

impl PasskeySettings {
    /// The expected origins serialised as origins (`scheme://host[:port]`), after
    /// [`Settings::validate`] accepted them.
    pub fn normalised_origins(&self) -> Vec<String> {
        self.expected_origins
            .iter()
            .filter_map(|o| url::Url::parse(o).ok())
            .map(|u| u.origin().ascii_serialization())
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        let rp_id = self.rp_id.as_str();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if rp_id.is_empty() || rp_id.len() > 253 || !rp_id.split('.').all(label_ok) {
            return invalid(
                "passkey.rp_id",
                format!("'{rp_id}' is not a lowercase host name (no scheme, no port)"),
            );
        }
        if self.rp_name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return invalid("passkey.rp_name", "must not be empty".into());
        }
        if self.expected_origins.is_empty() || self.expected_origins.len() > 32 {
            return invalid(
                "passkey.expected_origins",
                format!(
                    "'{}' origins: 1 to 32 are allowed",
                    self.expected_origins.len()
                ),
            );
        }
        for origin in &self.expected_origins {
            check_origin(origin, rp_id).or_else(|m| invalid("passkey.expected_origins", m))?;
        }
        if !(1..=600).contains(&self.challenge_lifetime_secs) {
            return invalid(
                "passkey.challenge_lifetime_secs",
                format!("'{}' is outside 1..=600", self.challenge_lifetime_secs),
            );
        }
        Ok(())
    }
}

/// An expected origin: `https://host[:port]` (plain `http` only for `localhost`), nothing
/// after the authority, and a host that is the RP id or one of its subdomains (WebAuthn
/// refuses the ceremony otherwise).
fn check_origin(origin: &str, rp_id: &str) -> Result<(), String> {
    let url = url::Url::parse(origin).map_err(|e| format!("'{origin}' is not a url: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => {}
        "http" if host == "localhost" => {}
        other => return Err(format!("'{origin}' has scheme '{other}', expected https")),
    }
    if url.origin().ascii_serialization() != origin.trim_end_matches('/') {
        return Err(format!(
            "'{origin}' is not a bare origin (scheme, host and port only)"
        ));
    }
    if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
        return Err(format!(
            "'{origin}' is not on rp id '{rp_id}' or one of its subdomains"
        ));
    }
    Ok(())
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: "127.0.0.1".into(),
            port: 5003,
            public_url: None,
            secret: ApiSecret::new(DEV_SECRET),
            tenant_id: "8a1c7f3e-5b2d-4e6f-9a0b-1c2d3e4f5a6b".into(),
            tenant_name: "Authsignal MFA Demo".into(),
            certs_dir: PathBuf::from("certs"),
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            data_dir: Some(PathBuf::from("data/authsignal-emulator")),
            in_memory: false,
            default_outcome: Outcome::Challenge,
            action_outcomes: HashMap::new(),
            webhook_url: None,
            token_lifetime_secs: 600,
            disable_signals: false,
            max_body_bytes: 64 * 1024,
            workers: None,
            passkey: PasskeySettings::default(),
            redirect_origins: vec!["https://localhost:5001".into()],
            dev_mode: false,
            code_sends: CodeSendSettings::default(),
            email_self_service: false,
        }
    }
}

/// A configuration error, naming the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value is present but not acceptable.
    #[error("invalid setting '{key}': {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The file or the environment could not be read into settings.
    #[error("configuration: {0}")]
    Source(#[from] Box<figment::Error>),
}

impl Settings {
    /// Defaults, then the TOML file named by `EMULATOR_CONFIG`, then `EMULATOR__*` variables.
    pub fn load() -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("EMULATOR_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment
            .merge(Env::prefixed("EMULATOR__").split("__"))
            .extract()
            .map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Settings for tests: in memory, port 0, webhooks off.
    pub fn for_tests() -> Settings {
        Settings {
            port: 0,
            data_dir: None,
            in_memory: true,
            ..Settings::default()
        }
    }

    /// The data directory in use, `None` in in-memory mode.
    pub fn effective_data_dir(&self) -> Option<&std::path::Path> {
        if self.in_memory {
            None
        } else {
            self.data_dir.as_deref()
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if self.host.trim().is_empty() {
            return invalid("host", "must not be empty".into());
        }
        if self.secret.expose().trim().is_empty() {
            return invalid("secret", "must not be empty".into());
        }
        if self.tenant_name.trim().is_empty() || self.tenant_name.contains(':') {
            return invalid(
                "tenant_name",
                format!(
                    "'{}' must be non-empty and contain no ':'",
                    self.tenant_name
                ),
            );
        }
        if self.tenant_id.trim().is_empty() {
            return invalid("tenant_id", "must not be empty".into());
        }
        if !(30..=86_400).contains(&self.token_lifetime_secs) {
            return invalid(
                "token_lifetime_secs",
                format!("'{}' is outside 30..=86400", self.token_lifetime_secs),
            );
        }
        if self.max_body_bytes < 1024 {
            return invalid(
                "max_body_bytes",
                format!("'{}' is below 1024", self.max_body_bytes),
            );
        }
        if let Some(url) = &self.webhook_url {
            check_https_url(url).or_else(|m| invalid("webhook_url", m))?;
        }
        if let Some(url) = &self.public_url {
            check_https_url(url).or_else(|m| invalid("public_url", m))?;
        }
        for code in self.action_outcomes.keys() {
            ActionCode::parse(code)
                .map(|_| ())
                .or_else(|m| invalid("action_outcomes", m))?;
        }
        if self.workers == Some(0) {
            return invalid("workers", "'0' must be at least 1".into());
        }
        self.passkey.validate()?;
        self.code_sends.validate()?;
        if self.redirect_origins.is_empty() || self.redirect_origins.len() > 32 {
            return invalid(
                "redirect_origins",
                format!(
                    "'{}' origins: 1 to 32 are allowed",
                    self.redirect_origins.len()
                ),
            );
        }
        for origin in &self.redirect_origins {
            check_redirect_origin(origin).or_else(|m| invalid("redirect_origins", m))?;
        }
        let tls = [&self.tls_cert, &self.tls_key, &self.tls_ca];
        if tls.iter().any(|p| p.is_some()) && !tls.iter().all(|p| p.is_some()) {
            return invalid(
                "tls_cert",
                "tls_cert, tls_key and tls_ca go together".into(),
            );
        }
        Ok(())
    }
}

/// An allowed `redirectUrl` origin: `https://host[:port]`, nothing after the authority, or
/// `http://` on a loopback host (`localhost`, `127.0.0.1`, `[::1]`: the RFC 8252 exception).
fn check_redirect_origin(origin: &str) -> Result<(), String> {
    let url = url::Url::parse(origin).map_err(|e| format!("'{origin}' is not a url: {e}"))?;
    let loopback_http = url.scheme() == "http" && crate::domain::redirect::is_loopback_host(&url);
    if url.scheme() != "https" && !loopback_http {
        return Err(format!(
            "'{origin}' has scheme '{}', expected https (plain http only on localhost, \
             127.0.0.1 or [::1])",
            url.scheme()
        ));
    }
    if url.origin().ascii_serialization() != origin.trim_end_matches('/') {
        return Err(format!(
            "'{origin}' is not a bare origin (scheme, host and port only)"
        ));
    }
    Ok(())
}

impl Settings {
    /// The allowed `redirectUrl` origins serialised as origins, after [`Settings::validate`]
    /// accepted them.
    pub fn normalised_redirect_origins(&self) -> Vec<String> {
        self.redirect_origins
            .iter()
            .filter_map(|o| url::Url::parse(o).ok())
            .map(|u| u.origin().ascii_serialization())
            .collect()
    }

    /// Whether the Server API secret is the public development one, which anybody can read.
    pub fn uses_dev_secret(&self) -> bool {
        self.secret.expose() == DEV_SECRET
    }
}

fn check_https_url(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| format!("'{value}' is not a url: {e}"))?;
    match url.scheme() {
        "https" | "http" => Ok(()),
        other => Err(format!("'{value}' has scheme '{other}', expected https")),
    }
}

/// Command-line options of the binary; each overrides the loaded settings.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(
    name = "authsignal-emulator",
    version,
    about = "A local Authsignal: Server API and hosted MFA pages"
)]
pub struct Cli {
    /// Address to bind.
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on.
    #[arg(long, short)]
    pub port: Option<u16>,
    /// Server API secret.
    #[arg(long)]
    pub secret: Option<String>,
    /// Tenant name (TOTP issuer, page title).
    #[arg(long)]
    pub tenant_name: Option<String>,
    /// Outcome for one action code, e.g. `--outcome identity-server-login=BLOCK` (repeatable).
    #[arg(long = "outcome", value_name = "ACTION=OUTCOME")]
    pub outcomes: Vec<String>,
    /// Outcome of every other action: ALLOW, BLOCK, CHALLENGE or REVIEW.
    #[arg(long)]
    pub default_outcome: Option<Outcome>,
    /// Webhook URL.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Public origin of the hosted pages.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory.
    #[arg(long)]
    pub in_memory: bool,
    /// Serve the outbox of live one-time codes at `/dev/outbox` (development only).
    #[arg(long)]
    pub dev_mode: bool,
    /// An origin a track's `redirectUrl` may lead to, e.g. `https://idp.example` (repeatable;
    /// replaces the configured list).
    #[arg(long = "redirect-origin", value_name = "ORIGIN")]
    pub redirect_origins: Vec<String>,
    /// Certificate directory.
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
}

impl Cli {
    /// Applies the options on top of `settings` and validates the result.
    pub fn apply(self, mut settings: Settings) -> Result<Settings, ConfigError> {
        if let Some(v) = self.host {
            settings.host = v;
        }
        if let Some(v) = self.port {
            settings.port = v;
        }
        if let Some(v) = self.secret {
            settings.secret = ApiSecret::new(v);
        }
        if let Some(v) = self.tenant_name {
            settings.tenant_name = v;
        }
        for pair in self.outcomes {
            let Some((action, outcome)) = pair.split_once('=') else {
                return Err(ConfigError::Invalid {
                    key: "outcome",
                    message: format!("'{pair}' is not ACTION=OUTCOME"),
                });
            };
            let outcome =
                outcome
                    .parse()
                    .map_err(|e: crate::domain::outcome::ParseOutcomeError| {
                        ConfigError::Invalid {
                            key: "outcome",
                            message: e.to_string(),
                        }
                    })?;
            settings
                .action_outcomes
                .insert(action.trim().to_owned(), outcome);
        }
        if let Some(v) = self.default_outcome {
            settings.default_outcome = v;
        }
        if let Some(v) = self.webhook_url {
            settings.webhook_url = Some(v);
        }
        if let Some(v) = self.public_url {
            settings.public_url = Some(v);
        }
        if let Some(v) = self.data_dir {
            settings.data_dir = Some(v);
        }
        if self.dev_mode {
            settings.dev_mode = true;
        }
        if !self.redirect_origins.is_empty() {
            settings.redirect_origins = self.redirect_origins;
        }
        if self.in_memory {
            settings.in_memory = true;
        }
        if let Some(v) = self.certs_dir {
            settings.certs_dir = v;
        }
        settings.validate()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_defaults_are_the_development_values_and_valid() {
        let settings = Settings::default();
        assert_eq!(settings.port, 5003);
        assert_eq!(settings.secret.expose(), DEV_SECRET);
        assert_eq!(settings.tenant_name, "Authsignal MFA Demo");
        assert_eq!(settings.default_outcome, Outcome::Challenge);
        settings.validate().unwrap();
    }

    #[test]
    fn command_line_outcomes_override_the_settings() {
        let cli = Cli::parse_from([
            "emu",
            "--outcome",
            "identity-server-login=block",
            "--default-outcome",
            "ALLOW",
            "--in-memory",
        ]);
        let settings = cli.apply(Settings::default()).unwrap();
        assert_eq!(
            settings.action_outcomes["identity-server-login"],
            Outcome::Block
        );
        assert_eq!(settings.default_outcome, Outcome::Allow);
        assert!(settings.effective_data_dir().is_none());
    }

    #[test]
    fn a_bad_outcome_option_names_the_key_and_the_value() {
        let cli = Cli::parse_from(["emu", "--outcome", "login=perhaps"]);
        let err = cli.apply(Settings::default()).unwrap_err().to_string();
        assert!(
            err.contains("'outcome'") && err.contains("'perhaps'"),
            "{err}"
        );
        let cli = Cli::parse_from(["emu", "--outcome", "bad code=BLOCK"]);
        let err = cli.apply(Settings::default()).unwrap_err().to_string();
        assert!(err.contains("action_outcomes"), "{err}");
    }

    #[test]
    fn the_passkey_defaults_are_localhost_and_the_three_development_origins() {
        let passkey = Settings::default().passkey;
        assert_eq!(passkey.rp_id, "localhost");
        assert_eq!(
            passkey.normalised_origins(),
            [
                "https://localhost:5001",
                "https://localhost:5002",
                "https://localhost:5003"
            ]
        );
        assert_eq!(passkey.challenge_lifetime_secs, 300);
    }

    #[test]
    fn bad_passkey_settings_fail_validation_with_the_key_and_the_value() {
        let cases: [(PasskeySettings, &str, &str); 6] = [
            (
                PasskeySettings {
                    rp_id: "https://localhost".into(),
                    ..PasskeySettings::default()
                },
                "passkey.rp_id",
                "'https://localhost'",
            ),
            (
                PasskeySettings {
                    expected_origins: vec!["https://localhost:5001/login".into()],
                    ..PasskeySettings::default()
                },
                "passkey.expected_origins",
                "'https://localhost:5001/login'",
            ),
            (
                PasskeySettings {
                    expected_origins: vec!["http://example.localhost".into()],
                    ..PasskeySettings::default()
                },
                "passkey.expected_origins",
                "'http'",
            ),
            (
                PasskeySettings {
                    expected_origins: vec!["https://evil.example".into()],
                    ..PasskeySettings::default()
                },
                "passkey.expected_origins",
                "'https://evil.example'",
            ),
            (
                PasskeySettings {
                    expected_origins: Vec::new(),
                    ..PasskeySettings::default()
                },
                "passkey.expected_origins",
                "'0'",
            ),
            (
                PasskeySettings {
                    challenge_lifetime_secs: 0,
                    ..PasskeySettings::default()
                },
                "passkey.challenge_lifetime_secs",
                "'0'",
            ),
        ];
        for (passkey, key, value) in cases {
            let err = Settings {
                passkey,
                ..Settings::default()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn a_plain_http_redirect_origin_is_accepted_only_on_a_loopback_host() {
        let with = |origins: &[&str]| Settings {
            redirect_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..Settings::default()
        };
        let settings = with(&[
            "https://localhost:5001",
            "http://localhost:3000",
            "http://127.0.0.1:3000",
            "http://[::1]:3000",
        ]);
        settings.validate().unwrap();
        assert_eq!(
            settings.normalised_redirect_origins(),
            [
                "https://localhost:5001",
                "http://localhost:3000",
                "http://127.0.0.1:3000",
                "http://[::1]:3000"
            ]
        );
        for (origin, value) in [
            ("http://rp.example", "'http'"),
            ("http://127.0.0.2:3000", "'http'"),
            ("http://localhost.example", "'http'"),
            ("ftp://localhost", "'ftp'"),
            ("http://localhost:3000/cb", "'http://localhost:3000/cb'"),
        ] {
            let err = with(&[origin]).validate().unwrap_err().to_string();
            assert!(
                err.contains("redirect_origins") && err.contains(value),
                "{origin}: {err}"
            );
        }
    }

    #[test]
    fn a_subdomain_origin_of_the_rp_id_is_accepted() {
        let settings = Settings {
            passkey: PasskeySettings {
                rp_id: "example.com".into(),
                expected_origins: vec![
                    "https://login.example.com".into(),
                    "https://example.com:8443".into(),
                ],
                ..PasskeySettings::default()
            },
            ..Settings::default()
        };
        settings.validate().unwrap();
    }

    #[test]
    fn a_bad_webhook_url_or_tenant_name_fails_validation_with_the_key() {
        let settings = Settings {
            webhook_url: Some("ftp://x".into()),
            ..Settings::default()
        };
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("webhook_url")
        );
        let settings = Settings {
            tenant_name: "a:b".into(),
            ..Settings::default()
        };
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("tenant_name")
        );
    }
}
