//! An OpenID Connect provider (authorization code + PKCE, refresh tokens, client credentials,
//! userinfo, revocation, introspection, RP-initiated logout) with Authsignal MFA in its login
//! pages.
//!
//! Entry point: [`startup::Application`]. Protocol rules: [`oidc`]. Endpoints: [`routes`].
//! The internal interface the login pages use: [`signin`] and [`csrf`].

pub mod account;
pub mod allocator;
pub mod backchannel;
pub mod configuration;
pub mod csrf;
pub mod domain;
pub mod error;
pub mod hashing;
pub mod keys;
pub mod notices;
pub mod oidc;
pub mod routes;
pub mod signin;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod throttle;
pub mod tokens;
pub mod user_agent;
pub mod users;

pub use templates::render;
