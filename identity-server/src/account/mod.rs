//! The browser pages of signing in: login with password, the Authsignal second factor and its
//! callback, account creation, and "Manage MFA" for a signed-in user.
//!
//! The flow follows DESIGN.md "The login, step by step", steps 3 to 5:
//! - [`login`]: `GET /Account/Login?ar=<id>` shows the form for a pending authorize request;
//!   `POST` checks the CSRF token, reserves the attempt against the lockout ([`lockout`]) before
//!   the Argon2id hash (bounded server-wide by `crate::hashing::run_limited`), checks the password,
//!   then `track`s the sign-in at Authsignal and acts on [`decision::decide`].
//! - [`email_proof`]: before a user's *first* enrollment (policy `account.first_enrollment`,
//!   default `email-proof`), `/Account/EmailProof` proves the account's email with a one-time
//!   code through Authsignal's `challenge` and `verify`, so that a password alone cannot enroll
//!   an attacker's authenticator.
//! - A challenge or enrollment stores a [`transaction::LoginTransaction`] server-side, bound to the
//!   browser by a `__Host-` cookie, and redirects to Authsignal's hosted page. A challenge first
//!   counts against the account's second-factor budget ([`budget`]), which may refuse it.
//! - [`callback`]: `GET /Account/Login/Callback?token=` takes (and deletes) the transaction,
//!   validates the token and signs in only if [`decision::check_validation`] accepts it; a
//!   rejected second factor counts as a failed login, Authsignal not answering definitively
//!   counts against no one, and only a complete sign-in resets the username's counter (and
//!   forgives the challenge's count in the budget).
//! - [`create`]: `/Account/Create` makes an account ([`password_policy`]), within a quota per
//!   client network and a global cap per hour ([`throttle`]); its first login enrolls a second
//!   factor like any other.
//! - [`mfa`]: `GET /Account/Mfa` lists a signed-in user's authenticators; `POST` sends the user
//!   to Authsignal's settings after a fresh challenge; `GET /Account/Mfa/Callback` validates it
//!   the same way and comes back saying what changed.
//! - [`passkey_login`]: the login page's passkey transaction and `POST /Account/Login/Passkey`,
//!   the one place where the user is taken from an Authsignal token (bound to this browser's
//!   single-use transaction).
//! - [`passkeys`]: `/Account/Passkeys`, to list, add (after a recent second factor) and remove
//!   passkeys.
//! - [`sessions`]: `/Account/Sessions`, the user's sessions with "sign out" for each and "sign
//!   out everywhere" (which also revokes the refresh grants and sends back-channel logouts).
//!
//! Handlers are thin; the decisions are plain functions in [`decision`] with unit tests.

pub mod budget;
pub mod callback;
pub mod create;
pub mod decision;
pub mod email_proof;
pub mod lockout;
pub mod login;
pub mod mfa;
pub mod notice;
pub mod pages;
pub mod passkey_login;
pub mod passkeys;
pub mod password_policy;
pub mod sessions;
pub mod settings;
pub mod step_up;
pub mod throttle;
pub mod transaction;

use std::fmt;
use std::sync::Arc;

use actix_web::web;

pub use settings::{
    AccountSettings, AuthsignalSecret, AuthsignalSettings, EMULATOR_TENANT_ID, FirstEnrollment,
    PasskeySettings, TransactionSettings,
};

use lockout::FailedLoginStore;
use password_policy::PasswordPolicy;
use transaction::LoginTransactionStore;

use crate::store::{QuotaStore, Stores};

/// Runtime state of the account pages, built once at start-up.
pub struct AccountState {
    /// The Authsignal client (one pooled connection set).
    pub authsignal: authsignal_sdk::Client,
    /// Pending second-factor steps.
    pub transactions: Arc<dyn LoginTransactionStore>,
    /// Failed-login counters.
    pub failed_logins: Arc<dyn FailedLoginStore>,
    /// Account-creation quota (per network and global) and other fixed-window counters.
    pub quotas: Arc<dyn QuotaStore>,
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
    /// Builds the state on `stores`. `tls_ca_pem` is the identity server's development CA,
    /// which the Authsignal client trusts in addition to the system roots and the optional
    /// `account.authsignal.ca_file` (certificate checks are never disabled).
    pub fn build(
        settings: &AccountSettings,
        tls_ca_pem: &str,
        stores: &Stores,
    ) -> Result<AccountState, String> {
        let transactions = stores.transactions.clone();
        let failed_logins = stores.failed_logins.clone();
        let quotas = stores.quotas.clone();
        settings.validate()?;
        let authsignal = authsignal_client(&settings.authsignal, tls_ca_pem)?;
        let mut settings = settings.clone();
        if passkeys_lack_a_tenant(&settings) {
            // The browser would name the emulator's tenant to a real service: nothing could
            // work, so the pages offer no passkey rather than a broken one.
            tracing::warn!(
                "passkeys are off: a real Authsignal secret is configured but no tenant id (set account.authsignal.tenant_id)"
            );
            settings.passkeys.enabled = false;
        }
        Ok(AccountState {
            authsignal,
            transactions,
            failed_logins,
            quotas,
            password_policy: PasswordPolicy::new(),
            settings,
        })
    }
}

/// Whether passkeys are on with a real tenant's secret but the emulator's tenant id.
fn passkeys_lack_a_tenant(settings: &AccountSettings) -> bool {
    let defaults = AuthsignalSettings::default();
    settings.passkeys.enabled
        && settings.authsignal.secret != defaults.secret
        && settings.authsignal.tenant_id == EMULATOR_TENANT_ID
}

/// Builds the SDK client: base URL, timeouts, a small retry policy (connection failures only;
/// the SDK never repeats a request that may have been acted on) and the trusted CAs. The
/// configured timeout is the budget of a whole call (the SDK's overall deadline: attempts,
/// back-off and `Retry-After` waits together), so a login never waits longer on Authsignal.
fn authsignal_client(
    settings: &AuthsignalSettings,
    tls_ca_pem: &str,
) -> Result<authsignal_sdk::Client, String> {
    let mut builder = authsignal_sdk::Client::builder(settings.secret.expose())
        .base_url(&settings.api_url)
        .timeout(settings.timeout())
        .call_timeout(settings.timeout())
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

/// Registers the account routes. Like the provider's routes, a method a path does not serve
/// answers 405 with `Allow`; pages answer HEAD, callbacks (which spend a token) do not.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use crate::routes::{form_page, get_head, get_only, post_only};
    cfg.service(form_page("/Account/Login", login::get, login::post))
        .service(get_only("/Account/Login/Callback", callback::login))
        .service(form_page(
            email_proof::PATH,
            email_proof::get,
            email_proof::post,
        ))
        .service(post_only(passkey_login::CALLBACK_PATH, passkey_login::post))
        .service(get_head(passkeys::PATH, passkeys::get))
        .service(post_only("/Account/Passkeys/Add", passkeys::add))
        .service(post_only("/Account/Passkeys/Added", passkeys::added))
        .service(post_only("/Account/Passkeys/Remove", passkeys::remove))
        .service(form_page("/Account/Create", create::get, create::post))
        .service(form_page("/Account/Mfa", mfa::get, mfa::post))
        .service(get_only("/Account/Mfa/Callback", callback::manage_mfa))
        .service(get_head("/Account/Notice", notice::get))
        .service(form_page(step_up::PAGE_PATH, step_up::get, step_up::post))
        .service(get_head(sessions::PATH, sessions::get))
        .service(post_only(sessions::END_PATH, sessions::end))
        .service(post_only(sessions::END_ALL_PATH, sessions::end_all));
}

/// The account templates, as (name, source) pairs to add to the Tera instance. Each extends
/// `base.html`.
pub fn templates() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "account/login.html",
            include_str!("../../templates/account/login.html"),
        ),
        (
            "account/create.html",
            include_str!("../../templates/account/create.html"),
        ),
        (
            "account/email_proof.html",
            include_str!("../../templates/account/email_proof.html"),
        ),
        (
            "account/step_up.html",
            include_str!("../../templates/account/step_up.html"),
        ),
        (
            "account/notice.html",
            include_str!("../../templates/account/notice.html"),
        ),
        (
            "account/sessions.html",
            include_str!("../../templates/account/sessions.html"),
        ),
        (
            "account/mfa.html",
            include_str!("../../templates/account/mfa.html"),
        ),
        (
            "account/passkeys.html",
            include_str!("../../templates/account/passkeys.html"),
        ),
        (
            "account/passkey_add.html",
            include_str!("../../templates/account/passkey_add.html"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_account_template_renders_with_its_context() {
        let tera = crate::templates::build(templates()).unwrap();
        let login = pages::LoginPage {
            ar: "ar-1".into(),
            csrf_token: "csrf-1".into(),
            username: "<alice>".into(),
            remember: true,
            client_name: Some("Web client".into()),
            error: Some("Invalid username or password.".into()),
            notice: Some("Your account was created.".into()),
            create_url: pages::create_url("ar-1"),
            focus_password: true,
            passkey: None,
            failures: 0,
        };
        let html = tera
            .render(
                "account/login.html",
                &tera::Context::from_serialize(&login).unwrap(),
            )
            .unwrap();
        assert!(html.contains("name=\"csrf_token\" value=\"csrf-1\""));
        assert!(html.contains("&lt;alice&gt;"), "request data is escaped");
        assert!(html.contains("Web client"));
        assert!(html.contains("/static/site.css"), "extends base.html");
        assert!(
            html.contains("autocomplete=\"current-password\" maxlength=\"1024\" required autofocus aria-invalid=\"true\" aria-describedby=\"error\""),
            "after a wrong password the focus is on the password, tied to the error: {html}"
        );
        assert!(html.contains("<title>Sign-in failed · Authsignal MFA Demo</title>"));
        assert!(html.contains("autocomplete=\"username webauthn\""));
        assert!(
            !html.contains("<script"),
            "no script without a passkey offer"
        );

        let with_passkey = pages::LoginPage {
            passkey: Some(passkey_login::PasskeyOffer {
                client_api_url: "https://localhost:5003/v1".into(),
                tenant_id: "tenant-1".into(),
                action: "identity-server-passkey-login".into(),
                idempotency_key: "\"><b>key".into(),
            }),
            ..login
        };
        let html = tera
            .render(
                "account/login.html",
                &tera::Context::from_serialize(&with_passkey).unwrap(),
            )
            .unwrap();
        assert!(html.contains("<script src=\"/static/passkey.js\" defer></script>"));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "one script, no inline one"
        );
        assert!(html.contains("data-tenant-id=\"tenant-1\""));
        assert!(html.contains("data-client-api-url=\"https:&#x2F;&#x2F;localhost:5003&#x2F;v1\""));
        assert!(!html.contains("\"><b>key"), "attributes are escaped");
        assert!(html.contains("id=\"passkey-signin\""));
        assert!(html.contains("action=\"/Account/Login/Passkey\""));

        let proof = email_proof::EmailProofPage {
            csrf_token: "csrf-5".into(),
            masked_email: "<a>•••@example.com".into(),
            client_name: Some("Web client".into()),
            error: Some("That code is not right.".into()),
            notice: None,
            resend_wait: 12,
            can_resend: true,
        };
        let html = tera
            .render(
                "account/email_proof.html",
                &tera::Context::from_serialize(&proof).unwrap(),
            )
            .unwrap();
        assert!(html.contains("name=\"csrf_token\" value=\"csrf-5\""));
        assert!(html.contains("&lt;a&gt;•••@example.com"), "escaped");
        assert!(html.contains("autocomplete=\"one-time-code\""));
        assert!(html.contains("aria-describedby=\"code-error\""));
        assert!(html.contains("id=\"resend-wait\""));
        assert!(
            html.contains("<title>Confirm your email: try again · Authsignal MFA Demo</title>")
        );
        assert!(!html.contains("<script"));

        let step_up = step_up::StepUpPage {
            ar: "ar-6".into(),
            csrf_token: "csrf-6".into(),
            client_name: "<Web client>".into(),
        };
        let html = tera
            .render(
                "account/step_up.html",
                &tera::Context::from_serialize(&step_up).unwrap(),
            )
            .unwrap();
        assert!(html.contains("&lt;Web client&gt;"), "escaped");
        assert!(html.contains("name=\"ar\" value=\"ar-6\""));
        assert!(html.contains("<title>Confirm it's you · Authsignal MFA Demo</title>"));

        let passkeys = passkeys::PasskeysPage {
            csrf_token: "csrf-3".into(),
            username: "alice".into(),
            passkeys: vec![passkeys::PasskeyRow {
                id: "pk-1".into(),
                name: "<Chrome>".into(),
                created: "2025-06-01 14:03 UTC".into(),
                last_used: "never".into(),
            }],
            can_remove: true,
            needs_step_up: true,
            unavailable: false,
            notice: Some("Your passkey was added.".into()),
            error: None,
        };
        let html = tera
            .render(
                "account/passkeys.html",
                &tera::Context::from_serialize(&passkeys).unwrap(),
            )
            .unwrap();
        assert!(html.contains("&lt;Chrome&gt;"));
        assert!(html.contains("name=\"id\" value=\"pk-1\""));
        assert!(html.contains("id=\"step-up-note\""));
        assert!(!html.contains("<script"), "the list needs no script");

        let add = passkeys::PasskeyAddPage {
            csrf_token: "csrf-4".into(),
            client_api_url: "https://localhost:5003/v1".into(),
            token: "track-token".into(),
            username: "alice".into(),
            display_name: "Alice <Smith>".into(),
        };
        let html = tera
            .render(
                "account/passkey_add.html",
                &tera::Context::from_serialize(&add).unwrap(),
            )
            .unwrap();
        assert!(html.contains("data-token=\"track-token\""));
        assert!(html.contains("Alice &lt;Smith&gt;"));
        assert_eq!(html.matches("<script").count(), 1);

        let create = pages::CreatePage {
            ar: String::new(),
            csrf_token: "csrf-2".into(),
            username: "carol".into(),
            name: "Carol".into(),
            email: "carol@example.com".into(),
            errors: vec!["Too many attempts.".into()],
            field_errors: pages::FieldErrors {
                username: Some("This username is taken. Choose another one.".into()),
                email: Some("Enter a valid email <address>.".into()),
                ..Default::default()
            },
            focus: "username",
            min_password: password_policy::MIN_CHARS,
            recommended_password: password_policy::RECOMMENDED_CHARS,
            max_password: password_policy::MAX_CHARS,
            back_url: None,
        };
        let html = tera
            .render(
                "account/create.html",
                &tera::Context::from_serialize(&create).unwrap(),
            )
            .unwrap();
        assert!(html.contains("csrf-2"));
        assert!(html.contains("This username is taken."));
        assert!(html.contains("minlength=\"8\""));
        assert!(html.contains(
            "required autofocus aria-invalid=\"true\" aria-describedby=\"username-error\">"
        ));
        assert!(
            html.contains("<p class=\"field-error\" id=\"username-error\">This username is taken.")
        );
        assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"email-error\">"));
        assert!(html.contains("Enter a valid email &lt;address&gt;."));
        assert!(
            html.contains("aria-describedby=\"password-help\">"),
            "the password field in no error keeps its hint only"
        );

        let notice = pages::NoticePage {
            title: "Sign-in refused".into(),
            message: "Refused.".into(),
            is_error: true,
            reference: Some("req-1".into()),
            link_url: Some("/".into()),
            link_text: "Home".into(),
        };
        let html = tera
            .render(
                "account/notice.html",
                &tera::Context::from_serialize(&notice).unwrap(),
            )
            .unwrap();
        assert!(html.contains("Sign-in refused"));
        assert!(html.contains("req-1"));
        assert!(html.contains("alert-error"));
    }

    async fn stores() -> crate::store::Stores {
        crate::store::embedded::open(
            None,
            AccountSettings::default().lockout.policy(),
            crate::store::embedded::EmbeddedLimits::default(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn the_state_builds_from_the_defaults_and_refuses_bad_settings() {
        let stores = stores().await;
        let state = AccountState::build(&AccountSettings::default(), "", &stores).unwrap();
        assert_eq!(
            state.settings.authsignal.api_url,
            "https://localhost:5003/v1"
        );
        assert!(!format!("{state:?}").contains("dev-emulator-secret-key"));

        let mut bad = AccountSettings::default();
        bad.authsignal.api_url = "ftp://x".into();
        assert!(
            AccountState::build(&bad, "", &stores)
                .unwrap_err()
                .starts_with("account.authsignal.api_url")
        );

        let mut missing_ca = AccountSettings::default();
        missing_ca.authsignal.ca_file = Some("/nonexistent/ca.pem".into());
        let e = AccountState::build(&missing_ca, "", &stores).unwrap_err();
        assert!(e.starts_with("account.authsignal.ca_file"), "{e}");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[tokio::test]
    async fn passkeys_are_off_for_a_real_secret_without_its_tenant_id() {
        let stores = stores().await;
        let mut real = AccountSettings::default();
        real.authsignal.secret = AuthsignalSecret::new("live-secret");
        let state = AccountState::build(&real, "", &stores).unwrap();
        assert!(!state.settings.passkeys.enabled);

        real.authsignal.tenant_id = "my-tenant".into();
        let state = AccountState::build(&real, "", &stores).unwrap();
        assert!(state.settings.passkeys.enabled);

        let emulator = AccountState::build(&AccountSettings::default(), "", &stores).unwrap();
        assert!(emulator.settings.passkeys.enabled);
    }

    #[tokio::test]
    async fn the_state_trusts_a_given_ca() {
        let stores = stores().await;
        let tls = dev_certs::TlsMaterial::generate_ephemeral().unwrap();
        assert!(AccountState::build(&AccountSettings::default(), tls.ca_pem(), &stores).is_ok());
    }
}
