//! Login, Authsignal MFA, account creation and manage-MFA pages (part 2 of the identity server).
//!
//! This is the early, minimal surface that the start-up code wires in; the handlers follow.

use std::fmt;

/// Settings of the account pages and of the Authsignal client (section `account`).
#[derive(Clone, serde::Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    /// Authsignal API secret key (never logged).
    pub authsignal_secret: String,
    /// Authsignal Server API base URL.
    pub authsignal_api_url: String,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            authsignal_secret: "dev-emulator-secret-key".to_owned(),
            authsignal_api_url: "https://localhost:5003/v1".to_owned(),
        }
    }
}

impl fmt::Debug for AccountSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountSettings")
            .field("authsignal_secret", &"[redacted]")
            .field("authsignal_api_url", &self.authsignal_api_url)
            .finish()
    }
}

/// Runtime state of the account pages (Authsignal client, login transactions, failed-login counters).
#[derive(Debug)]
pub struct AccountState {
    _private: (),
}

impl AccountState {
    /// Builds the state; `tls_ca_pem` is the CA the Authsignal client must trust in addition to the system roots.
    pub fn build(_settings: &AccountSettings, _tls_ca_pem: &str) -> Result<AccountState, String> {
        Ok(AccountState { _private: () })
    }
}

/// Registers the account routes.
pub fn configure(_cfg: &mut actix_web::web::ServiceConfig) {}

/// The account templates, as (name, source) pairs to add to the Tera instance.
pub fn templates() -> Vec<(&'static str, &'static str)> {
    Vec::new()
}
