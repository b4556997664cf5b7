//! Settings of the account pages (section `account` of the identity server's configuration):
//! the Authsignal client (Server API for the server, Client API and tenant id for the passkey
//! script in the browser), the lockout thresholds, the login-transaction lifetime, the
//! account-creation quota and the passkey pages.
//!
//! With nothing configured, the values point at the local emulator's development defaults
//! (`https://localhost:5003/v1`, secret `dev-emulator-secret-key`, the emulator's fixed tenant
//! id). Environment variables use the identity server's prefix, e.g.
//! `IDP__ACCOUNT__AUTHSIGNAL__SECRET`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::budget::SecondFactorSettings;
use super::lockout::LockoutSettings;
use super::throttle::CreationSettings;

/// The emulator's default tenant id (`authsignal-emulator`'s `tenant_id`): public, it only names
/// the tenant to the Client API.
pub const EMULATOR_TENANT_ID: &str = "8a1c7f3e-5b2d-4e6f-9a0b-1c2d3e4f5a6b";

/// The Authsignal Server API secret key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct AuthsignalSecret(String);

impl AuthsignalSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret, to hand to the SDK (and nowhere else).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthsignalSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthsignalSecret([redacted])")
    }
}

/// How the identity server reaches Authsignal (section `account.authsignal`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthsignalSettings {
    /// Server API secret key (default: the emulator's `dev-emulator-secret-key`).
    pub secret: AuthsignalSecret,
    /// Server API base URL including `/v1` (default `https://localhost:5003/v1`, the emulator;
    /// real tenants use e.g. `https://api.authsignal.com/v1` or a regional host).
    pub api_url: String,
    /// A PEM file with extra CA certificates to trust for the API (the identity server's own dev
    /// CA is always trusted, as are the system roots).
    pub ca_file: Option<PathBuf>,
    /// Time limit of one Authsignal call, in milliseconds (default 5000): every attempt,
    /// back-off and `Retry-After` wait together (the SDK's overall deadline).
    pub timeout_ms: u64,
    /// Time limit of establishing a connection, in milliseconds (default 2000).
    pub connect_timeout_ms: u64,
    /// Retries of a failed connection (default 1; a timeout is never retried).
    pub max_retries: u32,
    /// The action code tracked at login (default `identity-server-login`).
    pub action_code: String,
    /// The action code tracked when a signed-in user opens "Manage MFA", and for the step-up
    /// challenge before a passkey is added (default `identity-server-manage-mfa`).
    pub manage_mfa_action_code: String,
    /// The action code of the email challenge that proves the account's address before its
    /// first authenticator is enrolled (default `identity-server-email-proof`; see
    /// `account.first_enrollment`).
    pub email_proof_action_code: String,
    /// The action code tracked for a step-up: a signed-in user passes a fresh second factor
    /// because an authorize request asked for more (`acr_values`, `max_age`; default
    /// `identity-server-step-up`).
    pub step_up_action_code: String,
    /// The tenant id the browser names to the Client API (`Authorization: Basic`). Public: it
    /// is no credential. Default: the emulator's.
    pub tenant_id: String,
    /// Base URL of the Client API the passkey script calls, including `/v1` (the Web SDK's
    /// `baseUrl`; the script appends `/client/...`). Default: the same as `api_url` (Authsignal
    /// serves both APIs on the region's host; so does the emulator).
    pub client_api_url: Option<String>,
}

impl Default for AuthsignalSettings {
    fn default() -> Self {
        Self {
            secret: AuthsignalSecret::new("dev-emulator-secret-key"),
            api_url: "https://localhost:5003/v1".into(),
            ca_file: None,
            timeout_ms: 5_000,
            connect_timeout_ms: 2_000,
            max_retries: 1,
            action_code: "identity-server-login".into(),
            manage_mfa_action_code: "identity-server-manage-mfa".into(),
            email_proof_action_code: "identity-server-email-proof".into(),
            step_up_action_code: "identity-server-step-up".into(),
            tenant_id: EMULATOR_TENANT_ID.into(),
            client_api_url: None,
        }
    }
}

impl AuthsignalSettings {
    /// Time limit of one call, retries and waits included.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Time limit of a connection attempt.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The Client API base URL (`client_api_url`, else `api_url`), without a trailing `/`.
    pub fn client_api_base(&self) -> &str {
        self.client_api_url
            .as_deref()
            .unwrap_or(&self.api_url)
            .trim_end_matches('/')
    }

    /// The origin (`https://host[:port]`) of the Client API: the one `connect-src` of the pages
    /// that run the passkey script. `None` when the URL does not parse (refused by `validate`).
    pub fn client_api_origin(&self) -> Option<String> {
        url::Url::parse(self.client_api_base())
            .ok()
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o.starts_with("https://"))
    }
}

/// Passkeys (section `account.passkeys`): sign-in from the login page, and the
/// `/Account/Passkeys` page to add, list and remove them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeySettings {
    /// Whether the login page offers passkeys and `/Account/Passkeys` exists (default true).
    pub enabled: bool,
    /// The action code of a passkey sign-in (default `identity-server-passkey-login`).
    pub login_action_code: String,
    /// The action code tracked to add a passkey (default `add-passkey`).
    pub add_action_code: String,
    /// How long a passkey login transaction lives, in seconds (default 300, the Client API's
    /// challenge lifetime).
    pub transaction_lifetime_secs: u64,
    /// Passkey login transactions one client network may create per window (default 60):
    /// every view of the login page makes one, so they are bounded before the store.
    pub max_transactions_per_network: u32,
    /// Passkey login transactions all networks together may create per window (default
    /// 20000): with many networks (an IPv6 /48 holds 65536 /64s) the per-network bound alone
    /// would let them crowd out the second-factor transactions of password logins.
    pub max_transactions_global: u32,
    /// The window of both bounds, in seconds (default 600).
    pub window_secs: u64,
    /// How recent the session's last second factor must be to add a passkey, in seconds
    /// (default 600); older, the user passes a step-up challenge first.
    pub step_up_max_age_secs: u64,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            login_action_code: "identity-server-passkey-login".into(),
            add_action_code: "add-passkey".into(),
            transaction_lifetime_secs: 300,
            max_transactions_per_network: 60,
            max_transactions_global: 20_000,
            window_secs: 600,
            step_up_max_age_secs: 600,
        }
    }
}

impl PasskeySettings {
    /// The transaction lifetime as a duration.
    pub fn transaction_lifetime(&self) -> Duration {
        Duration::from_secs(self.transaction_lifetime_secs)
    }

    fn validate(&self) -> Result<(), String> {
        if !(30..=3600).contains(&self.transaction_lifetime_secs) {
            return Err(format!(
                "account.passkeys.transaction_lifetime_secs: must be between 30 and 3600, got \"{}\"",
                self.transaction_lifetime_secs
            ));
        }
        if self.max_transactions_per_network == 0 {
            return Err("account.passkeys.max_transactions_per_network: must be at least 1".into());
        }
        if self.max_transactions_global < self.max_transactions_per_network {
            return Err(format!(
                "account.passkeys.max_transactions_global: must be at least max_transactions_per_network, got \"{}\"",
                self.max_transactions_global
            ));
        }
        if !(1..=86_400).contains(&self.window_secs) {
            return Err(format!(
                "account.passkeys.window_secs: must be between 1 and 86400, got \"{}\"",
                self.window_secs
            ));
        }
        if !(30..=86_400).contains(&self.step_up_max_age_secs) {
            return Err(format!(
                "account.passkeys.step_up_max_age_secs: must be between 30 and 86400, got \"{}\"",
                self.step_up_max_age_secs
            ));
        }
        Ok(())
    }
}

/// Settings of the account pages (section `account`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// How to reach Authsignal.
    pub authsignal: AuthsignalSettings,
    /// Failed-login lockout.
    pub lockout: LockoutSettings,
    /// The second-factor budget per account.
    pub second_factor: SecondFactorSettings,
    /// Whether "Manage MFA" lets a signed-in user add an email address as a factor (default
    /// `false`, as the guide recommends: a session alone would otherwise be enough to add any
    /// address). Off, an email factor added at the hosted settings is removed again at the
    /// callback, and the page says so; a user's first factor at enrollment is not affected.
    pub email_self_service: bool,
    /// Login transactions.
    pub transaction: TransactionSettings,
    /// Account-creation quota.
    pub creation: CreationSettings,
    /// Passkeys.
    pub passkeys: PasskeySettings,
    /// What an account without an authenticator must prove before it enrolls its first one.
    pub first_enrollment: FirstEnrollment,
}

/// What an account without an authenticator must prove, besides its password, before it enrolls
/// its first one (`account.first_enrollment`).
///
/// Without a proof, whoever has the password enrolls *their own* authenticator and from then on
/// passes the second factor as that user (the enrollment hijack of the guide's progressive
/// enrollment). The email proof closes it for every account with an email address; an account
/// without one can still be enrolled with its password alone, and such a sign-in does not
/// claim `mfa`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirstEnrollment {
    /// `"email-proof"` (default): a one-time code sent to the account's email (through
    /// Authsignal's `challenge` and `verify`) must be entered before the hosted enrollment.
    #[default]
    EmailProof,
    /// `"password"`: the guide's behaviour, the password alone leads to the enrollment. Weaker:
    /// a password thief can enroll their own authenticator. Such sign-ins do not claim `mfa`.
    Password,
}

/// Settings of login transactions (section `account.transaction`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransactionSettings {
    /// How long a user has to complete the second factor, in seconds (default 600).
    pub lifetime_secs: u64,
}

impl Default for TransactionSettings {
    fn default() -> Self {
        Self { lifetime_secs: 600 }
    }
}

impl TransactionSettings {
    /// The lifetime as a duration.
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.lifetime_secs)
    }
}

impl AccountSettings {
    /// Checks every value; the error names the key and quotes the bad value.
    pub fn validate(&self) -> Result<(), String> {
        let a = &self.authsignal;
        if a.secret.expose().trim().is_empty() {
            return Err("account.authsignal.secret: must not be empty".into());
        }
        match url::Url::parse(&a.api_url) {
            Ok(u) if matches!(u.scheme(), "https") && u.host().is_some() => {}
            Ok(_) => {
                return Err(format!(
                    "account.authsignal.api_url: must be an https url, got \"{}\"",
                    a.api_url
                ));
            }
            Err(e) => {
                return Err(format!(
                    "account.authsignal.api_url: invalid url \"{}\": {e}",
                    a.api_url
                ));
            }
        }
        if !(100..=60_000).contains(&a.timeout_ms) {
            return Err(format!(
                "account.authsignal.timeout_ms: must be between 100 and 60000, got \"{}\"",
                a.timeout_ms
            ));
        }
        if !(100..=60_000).contains(&a.connect_timeout_ms) {
            return Err(format!(
                "account.authsignal.connect_timeout_ms: must be between 100 and 60000, got \"{}\"",
                a.connect_timeout_ms
            ));
        }
        if a.max_retries > 5 {
            return Err(format!(
                "account.authsignal.max_retries: must be at most 5, got \"{}\"",
                a.max_retries
            ));
        }
        if let Some(raw) = &a.client_api_url {
            match url::Url::parse(raw) {
                Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
                _ => {
                    return Err(format!(
                        "account.authsignal.client_api_url: must be an https url, got \"{raw}\""
                    ));
                }
            }
        }
        // The tenant id goes into a page attribute and an Authorization header: keep it to the
        // characters a tenant id has.
        let tenant_ok = (1..=128).contains(&a.tenant_id.len())
            && a.tenant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !tenant_ok {
            return Err(format!(
                "account.authsignal.tenant_id: must match [a-zA-Z0-9_-]{{1,128}}, got \"{}\"",
                a.tenant_id
            ));
        }
        let p = &self.passkeys;
        for (key, code) in [
            ("account.authsignal.action_code", &a.action_code),
            (
                "account.authsignal.manage_mfa_action_code",
                &a.manage_mfa_action_code,
            ),
            (
                "account.authsignal.step_up_action_code",
                &a.step_up_action_code,
            ),
            ("account.passkeys.login_action_code", &p.login_action_code),
            ("account.passkeys.add_action_code", &p.add_action_code),
            (
                "account.authsignal.email_proof_action_code",
                &a.email_proof_action_code,
            ),
        ] {
            let valid = (1..=64).contains(&code.len())
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(format!(
                    "{key}: must match [a-zA-Z0-9_-]{{1,64}}, got \"{code}\""
                ));
            }
        }
        if a.action_code == a.manage_mfa_action_code {
            return Err(
                "account.authsignal.manage_mfa_action_code: must differ from action_code".into(),
            );
        }
        // Each action proves one thing: a token of one must never pass for another.
        let codes = [
            &a.action_code,
            &a.manage_mfa_action_code,
            &a.step_up_action_code,
            &p.login_action_code,
            &p.add_action_code,
            &a.email_proof_action_code,
        ];
        for (i, code) in codes.iter().enumerate() {
            if codes[..i].contains(code) {
                return Err(format!(
                    "account.passkeys: action code \"{code}\" is used twice; every action code must differ"
                ));
            }
        }
        p.validate()?;
        self.lockout.validate()?;
        self.second_factor.validate()?;
        self.creation.validate()?;
        if !(1..=3600).contains(&self.transaction.lifetime_secs) {
            return Err(format!(
                "account.transaction.lifetime_secs: must be between 1 and 3600, got \"{}\"",
                self.transaction.lifetime_secs
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_emulator_and_are_valid() {
        let s = AccountSettings::default();
        assert_eq!(s.authsignal.api_url, "https://localhost:5003/v1");
        assert_eq!(s.authsignal.secret.expose(), "dev-emulator-secret-key");
        assert_eq!(s.authsignal.action_code, "identity-server-login");
        assert_eq!(s.authsignal.timeout(), Duration::from_secs(5));
        assert_eq!(s.transaction.lifetime(), Duration::from_secs(600));
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn the_client_api_defaults_to_the_server_api_host_and_its_origin_is_the_connect_source() {
        let mut s = AuthsignalSettings::default();
        assert_eq!(s.tenant_id, EMULATOR_TENANT_ID);
        assert_eq!(s.client_api_base(), "https://localhost:5003/v1");
        assert_eq!(
            s.client_api_origin().as_deref(),
            Some("https://localhost:5003")
        );
        s.api_url = "https://eu.api.authsignal.com/v1/".into();
        assert_eq!(s.client_api_base(), "https://eu.api.authsignal.com/v1");
        assert_eq!(
            s.client_api_origin().as_deref(),
            Some("https://eu.api.authsignal.com")
        );
        s.client_api_url = Some("https://auth.example.com:8443/v1".into());
        assert_eq!(
            s.client_api_origin().as_deref(),
            Some("https://auth.example.com:8443")
        );
    }

    #[test]
    fn passkey_settings_default_to_on_with_their_own_action_codes() {
        let p = PasskeySettings::default();
        assert!(p.enabled);
        assert_eq!(p.login_action_code, "identity-server-passkey-login");
        assert_eq!(p.add_action_code, "add-passkey");
        assert_eq!(p.step_up_max_age_secs, 600);
        assert_eq!(p.transaction_lifetime(), Duration::from_secs(300));
    }

    #[test]
    fn bad_passkey_settings_are_refused_naming_the_key() {
        type Bend = fn(&mut AccountSettings);
        let cases: Vec<(Bend, &str)> = vec![
            (
                |s| s.authsignal.client_api_url = Some("http://localhost:5003/v1".into()),
                "account.authsignal.client_api_url",
            ),
            (
                |s| s.authsignal.tenant_id = "a\"b".into(),
                "account.authsignal.tenant_id",
            ),
            (
                |s| s.authsignal.tenant_id = String::new(),
                "account.authsignal.tenant_id",
            ),
            (
                |s| s.passkeys.login_action_code = "has space".into(),
                "account.passkeys.login_action_code",
            ),
            (
                |s| s.passkeys.add_action_code = "identity-server-login".into(),
                "account.passkeys",
            ),
            (
                |s| s.passkeys.login_action_code = s.passkeys.add_action_code.clone(),
                "account.passkeys",
            ),
            (
                |s| s.passkeys.transaction_lifetime_secs = 5,
                "account.passkeys.transaction_lifetime_secs",
            ),
            (
                |s| s.passkeys.max_transactions_per_network = 0,
                "account.passkeys.max_transactions_per_network",
            ),
            (
                |s| s.passkeys.max_transactions_global = 1,
                "account.passkeys.max_transactions_global",
            ),
            (
                |s| s.passkeys.window_secs = 0,
                "account.passkeys.window_secs",
            ),
            (
                |s| s.passkeys.step_up_max_age_secs = 1,
                "account.passkeys.step_up_max_age_secs",
            ),
        ];
        for (bend, key) in cases {
            let mut s = AccountSettings::default();
            bend(&mut s);
            let e = s.validate().unwrap_err();
            assert!(e.starts_with(key), "{key}: {e}");
        }
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let mut s = AccountSettings::default();
        s.authsignal.secret = AuthsignalSecret::new("live-secret-123");
        let shown = format!("{s:?}");
        assert!(!shown.contains("live-secret-123"));
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn partial_configuration_keeps_the_other_defaults() {
        let s: AccountSettings = serde_json::from_value(serde_json::json!({
            "authsignal": { "secret": "s3cret", "timeout_ms": 750 },
            "lockout": { "max_failures_per_user": 3 }
        }))
        .unwrap();
        assert_eq!(s.authsignal.secret.expose(), "s3cret");
        assert_eq!(s.authsignal.timeout(), Duration::from_millis(750));
        assert_eq!(s.authsignal.api_url, "https://localhost:5003/v1");
        assert_eq!(s.lockout.max_failures_per_user, 3);
        assert_eq!(s.lockout.max_failures_per_ip, 50);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<AccountSettings, _> =
            serde_json::from_value(serde_json::json!({ "authsignal": { "secrett": "x" } }));
        assert!(r.unwrap_err().to_string().contains("secrett"));
    }

    #[test]
    fn the_account_section_loads_through_the_server_settings() {
        let figment = figment::Figment::new().merge(
            <figment::providers::Toml as figment::providers::Format>::string(
                r#"
            [account.authsignal]
            secret = "live-secret"
            api_url = "https://eu.api.authsignal.com/v1"
            ca_file = "/etc/ssl/extra-ca.pem"
            timeout_ms = 3000
            [account.lockout]
            max_failures_per_user = 4
            [account.transaction]
            lifetime_secs = 300
            [account.creation]
            max_per_ip = 2
            "#,
            ),
        );
        let settings = crate::configuration::Settings::from_figment(figment).unwrap();
        let account = &settings.account;
        assert_eq!(account.authsignal.secret.expose(), "live-secret");
        assert_eq!(
            account.authsignal.api_url,
            "https://eu.api.authsignal.com/v1"
        );
        assert_eq!(
            account.authsignal.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ssl/extra-ca.pem"))
        );
        assert_eq!(account.authsignal.timeout(), Duration::from_secs(3));
        assert_eq!(account.authsignal.action_code, "identity-server-login");
        assert_eq!(account.lockout.max_failures_per_user, 4);
        assert_eq!(account.transaction.lifetime(), Duration::from_secs(300));
        assert_eq!(account.creation.max_per_ip, 2);
        assert_eq!(account.creation.max_global, 1000);
        assert_eq!(account.creation.window_secs, 3600);
        assert_eq!(account.validate(), Ok(()));
    }

    #[test]
    fn a_misspelt_key_in_the_configuration_file_is_refused() {
        let figment = figment::Figment::new().merge(
            <figment::providers::Toml as figment::providers::Format>::string(
                "[account.authsignal]\napi_ur = \"https://x.example/v1\"\n",
            ),
        );
        let error = crate::configuration::Settings::from_figment(figment).unwrap_err();
        assert!(format!("{error}").contains("api_ur"), "{error}");
    }

    #[test]
    fn bad_values_are_refused_naming_the_key_and_value() {
        let mut s = AccountSettings::default();
        s.authsignal.api_url = "http://api.example/v1".into();
        let e = s.validate().unwrap_err();
        assert!(e.starts_with("account.authsignal.api_url"), "{e}");
        assert!(e.contains("\"http://api.example/v1\""), "{e}");

        let mut s = AccountSettings::default();
        s.authsignal.api_url = "not a url".into();
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("account.authsignal.api_url")
        );

        let mut s = AccountSettings::default();
        s.authsignal.secret = AuthsignalSecret::new(" ");
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("account.authsignal.secret")
        );

        let mut s = AccountSettings::default();
        s.authsignal.timeout_ms = 0;
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("account.authsignal.timeout_ms")
        );

        let mut s = AccountSettings::default();
        s.authsignal.action_code = "has space".into();
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("account.authsignal.action_code")
        );

        let mut s = AccountSettings::default();
        s.authsignal.manage_mfa_action_code = s.authsignal.action_code.clone();
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("account.authsignal.manage_mfa_action_code")
        );

        let mut s = AccountSettings::default();
        s.creation.max_per_ip = 0;
        let e = s.validate().unwrap_err();
        assert!(e.starts_with("account.creation.max_per_ip"), "{e}");

        let mut s = AccountSettings::default();
        s.transaction.lifetime_secs = 0;
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("account.transaction.lifetime_secs")
        );
    }
}
