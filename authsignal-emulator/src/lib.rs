//! A local, API-faithful Authsignal: the Server API under `/v1` (HTTP Basic with the tenant
//! secret), the Client API subset for passkeys under `/v1/client` (real WebAuthn verification,
//! CORS for the expected origins) and the hosted challenge pages (authenticator-app TOTP with a
//! QR code, email OTP with a dev outbox, recovery codes, settings), so the demo and every test run with no account and
//! no network, through the same SDK calls and redirects as with the real service.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use authsignal_emulator::configuration::Settings;
//! use authsignal_emulator::startup::Application;
//!
//! let app = Application::build(Settings::for_tests()).await?;
//! println!("Server API at {} with secret {}", app.api_url(), app.secret());
//! let handle = app.handle();
//! tokio::spawn(app.run_until_stopped());
//! // ... drive a login, then read the code that was "emailed":
//! let code = handle.latest_code_for("AliceSmith@example.com");
//! # let _ = code; Ok(()) }
//! ```
//!
//! Behaviour follows the Authsignal API reference; where the real service's behaviour is
//! unverified the conservative choice is made and listed in the crate README.

pub mod configuration;
pub mod domain;
pub mod error;
pub mod routes;
#[cfg(feature = "soft-authenticator")]
pub mod soft_authenticator;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod templates;

pub use domain::outcome::Outcome;
pub use startup::{Application, EmulatorHandle};
pub use store::{OutboxMessage, OutboxNotice};
