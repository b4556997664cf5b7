//! The browser pages of signing in: login with password, the Authsignal second factor and its
//! callback, account creation, and "Manage MFA" for a signed-in user.
//!
//! The flow follows DESIGN.md "The login, step by step", steps 3 to 5:
//! - [`login`]: `GET /Account/Login?ar=<id>` shows the form for a pending authorize request;
//!   `POST` checks the CSRF token, the lockout ([`lockout`]) and the password, then `track`s the
//!   sign-in at Authsignal and acts on [`decision::decide`].
//! - A challenge or enrollment stores a [`transaction::LoginTransaction`] server-side, bound to the
//!   browser by a `__Host-` cookie, and redirects to Authsignal's hosted page.
//! - [`callback`]: `GET /Account/Login/Callback?token=` takes (and deletes) the transaction,
//!   validates the token and signs in only if [`decision::check_validation`] accepts it.
//! - [`create`]: `/Account/Create` makes an account ([`password_policy`]); its first login enrolls
//!   a second factor like any other.
//! - [`mfa`]: `POST /Account/Mfa` sends a signed-in user to Authsignal's settings after a fresh
//!   challenge; `GET /Account/Mfa/Callback` validates it the same way.
//!
//! Handlers are thin; the decisions are plain functions in [`decision`] with unit tests.

pub mod decision;
pub mod lockout;
pub mod password_policy;
pub mod settings;
pub mod transaction;

use std::fmt;
use std::sync::Arc;

use actix_web::web;

pub use settings::{AccountSettings, AuthsignalSecret, AuthsignalSettings, TransactionSettings};

use lockout::{FailedLoginStore, InMemoryFailedLoginStore};
use password_policy::PasswordPolicy;
use transaction::{InMemoryTransactionStore, LoginTransactionStore};

/// Runtime state of the account pages, built once at start-up.
pub struct AccountState {
    /// The Authsignal client (one pooled connection set).
    pub authsignal: authsignal_sdk::Client,
    /// Pending second-factor steps.
    pub transactions: Arc<dyn LoginTransactionStore>,
    /// Failed-login counters.
    pub failed_logins: Arc<dyn FailedLoginStore>,
    /// Rules for new passwords.
    pub password_policy: PasswordPolicy,
    /// The settings it was built from.
    pub settings: AccountSettings,
}

impl fmt::Debug for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountState")
            .field("authsignal_api_url", &self.settings.authsignal.api_url)
            .field("transactions", &self.transactions)
            .field("failed_logins", &self.failed_logins)
            .finish_non_exhaustive()
    }
}

impl AccountState {
    /// Builds the state with the in-memory stores. `tls_ca_pem` is the identity server's
    /// development CA, which the Authsignal client trusts in addition to the system roots and
    /// the optional `account.authsignal.ca_file` (certificate checks are never disabled).
    pub fn build(settings: &AccountSettings, tls_ca_pem: &str) -> Result<AccountState, String> {
        Self::with_stores(
            settings,
            tls_ca_pem,
            Arc::new(InMemoryTransactionStore::default()),
            Arc::new(InMemoryFailedLoginStore::new(settings.lockout.clone())),
        )
    }

    /// Builds the state with the given stores (e.g. shared ones for several replicas).
    pub fn with_stores(
        settings: &AccountSettings,
        tls_ca_pem: &str,
        transactions: Arc<dyn LoginTransactionStore>,
        failed_logins: Arc<dyn FailedLoginStore>,
    ) -> Result<AccountState, String> {
        settings.validate()?;
        let authsignal = authsignal_client(&settings.authsignal, tls_ca_pem)?;
        Ok(AccountState {
            authsignal,
            transactions,
            failed_logins,
            password_policy: PasswordPolicy::new(),
            settings: settings.clone(),
        })
    }
}

/// Builds the SDK client: base URL, timeouts, a small retry policy (connection failures only;
/// the SDK never repeats a request that may have been acted on) and the trusted CAs.
fn authsignal_client(
    settings: &AuthsignalSettings,
    tls_ca_pem: &str,
) -> Result<authsignal_sdk::Client, String> {
    let mut builder = authsignal_sdk::Client::builder(settings.secret.expose())
        .base_url(&settings.api_url)
        .timeout(settings.timeout())
        .connect_timeout(settings.connect_timeout())
        .retry_policy(authsignal_sdk::RetryPolicy::default().with_max_retries(settings.max_retries))
        .user_agent(concat!("identity-server/", env!("CARGO_PKG_VERSION")));
    if !tls_ca_pem.trim().is_empty() {
        builder = builder.add_root_certificate_pem(tls_ca_pem);
    }
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            format!(
                "account.authsignal.ca_file: cannot read \"{}\": {e}",
                path.display()
            )
        })?;
        builder = builder.add_root_certificate_pem(pem);
    }
    builder
        .build()
        .map_err(|e| format!("account.authsignal: cannot build the authsignal client: {e}"))
}

/// Registers the account routes (the handlers are being wired in).
pub fn configure(_cfg: &mut web::ServiceConfig) {}

/// The account templates, as (name, source) pairs to add to the Tera instance.
pub fn templates() -> Vec<(&'static str, &'static str)> {
    Vec::new()
}
