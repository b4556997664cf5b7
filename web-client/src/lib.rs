//! A sample OpenID Connect relying party: the "WebClient" of the guide, in Rust.
//!
//! It signs users in through the identity server with the authorization code flow and PKCE
//! (the `openidconnect` crate), keeps a small encrypted session cookie (`actix-session`) that
//! points at tokens held server-side, shows the ID token's claims and the token properties,
//! calls the userinfo endpoint, refreshes the access token when it has expired, signs out
//! with RP-initiated logout, and is signed out by the identity server with back-channel logout
//! (`POST /backchannel-logout`, [`backchannel`]).
//!
//! Start it like every app in the workspace:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = web_client::configuration::Settings::load()?;
//! let app = web_client::startup::Application::build(settings).await?;
//! println!("listening on {}", app.base_url());
//! app.run_until_stopped().await?;
//! # Ok(())
//! # }
//! ```

pub mod acr;
pub mod backchannel;
pub mod configuration;
pub mod error;
pub mod oidc;
pub mod routes;
pub mod secret;
pub mod security;
pub mod session;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod templates;
