//! A typed async client for the [Authsignal](https://www.authsignal.com) Server API, with
//! webhook signature verification.
//!
//! It covers every Server API call of the official SDKs (actions, users, authenticators,
//! server-driven OTP challenges, sessions), decodes responses into typed structs that tolerate
//! values a newer service adds, and reports failures as one [`Error`] enum that keeps the status,
//! the parsed error body and the service's request id.
//!
//! # Getting started: MFA after the password
//!
//! This mirrors the "add MFA to an identity server" flow: after the password check, `track` the
//! sign-in; if a challenge (or enrollment) is needed, redirect the browser to the pre-built UI at
//! `url`; Authsignal sends the user back to `redirect_url` with `?token=…`; the callback validates
//! the token and signs the user in only if the challenge succeeded **for this user and action**.
//!
//! ```no_run
//! use authsignal_sdk::{
//!     Client, Region, TrackAttributes, UserActionState, ValidateChallengeRequest,
//! };
//!
//! const ACTION: &str = "identity-server-login";
//!
//! /// What the login handler should do next.
//! enum Next {
//!     SignIn,
//!     Redirect(String),
//!     Deny,
//! }
//!
//! # struct Pending { user_id: String, idempotency_key: String }
//! // 1. In the login POST handler, after the password was verified:
//! async fn after_password(client: &Client, user_id: &str, username: &str) -> Result<Next, authsignal_sdk::Error> {
//!     let response = client
//!         .track(user_id, ACTION, &TrackAttributes {
//!             redirect_url: Some("https://localhost:5001/account/login/callback".into()),
//!             username: Some(username.into()),
//!             ..Default::default()
//!         })
//!         .await?;
//!     // Remember (in the session) who is signing in and which action instance this is.
//!     # let _pending = Pending { user_id: user_id.into(), idempotency_key: response.idempotency_key.clone() };
//!     Ok(match response.state {
//!         UserActionState::Block => Next::Deny,
//!         // Unenrolled users are sent to `url` too: the pre-built UI enrolls them.
//!         UserActionState::ChallengeRequired => Next::Redirect(response.url),
//!         _ if !response.is_enrolled => Next::Redirect(response.url),
//!         UserActionState::Allow => Next::SignIn,
//!         _ => Next::Deny,
//!     })
//! }
//!
//! // 2. In the callback handler (GET /account/login/callback?token=…):
//! async fn callback(
//!     client: &Client,
//!     token: String,
//!     expected_user_id: &str,
//!     expected_idempotency_key: &str,
//! ) -> Result<bool, authsignal_sdk::Error> {
//!     let result = client
//!         .validate_challenge(&ValidateChallengeRequest {
//!             token,
//!             user_id: Some(expected_user_id.into()),
//!             action: Some(ACTION.into()),
//!         })
//!         .await?;
//!     Ok(result.is_valid
//!         && result.state == Some(UserActionState::ChallengeSucceeded)
//!         && result.user_id.as_deref() == Some(expected_user_id)
//!         && result.action_code() == Some(ACTION)
//!         && result.idempotency_key.as_deref() == Some(expected_idempotency_key))
//! }
//!
//! # async fn run() -> Result<(), authsignal_sdk::Error> {
//! let client = Client::builder(std::env::var("AUTHSIGNAL_SECRET").expect("secret"))
//!     .region(Region::Us)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! Against a local emulator, point the client at its URL and trust its development CA:
//!
//! ```no_run
//! # fn main() -> Result<(), authsignal_sdk::Error> {
//! let client = authsignal_sdk::Client::builder("dev-emulator-secret-key")
//!     .base_url("https://localhost:5003/v1")
//!     .add_root_certificate_pem(std::fs::read("certs/ca.pem").expect("dev CA"))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Every call returns [`Error`]: [`Error::Api`] for a non-2xx answer (status, `error`/`errorCode`
//! and `errorDescription`, request id), [`Error::Transport`] when no answer arrived (with a
//! [`TransportErrorKind`]: refused, reset, connect timeout, TLS, DNS or other, and the
//! underlying error as its source), [`Error::Timeout`], [`Error::ResponseTooLarge`] for a body
//! over the cap, [`Error::Decode`] for a 2xx body that is not the expected JSON (the raw body is
//! kept), [`Error::Configuration`] from [`ClientBuilder::build`] and [`Error::InvalidRequest`]
//! for arguments that cannot be sent (an empty user id).
//!
//! ```no_run
//! # async fn run(client: authsignal_sdk::Client) {
//! use authsignal_sdk::Error;
//!
//! match client.get_user("user-123").await {
//!     Ok(user) => println!("enrolled: {}", user.is_enrolled),
//!     Err(error) if error.is_unauthorized() => eprintln!("check the secret key and region"),
//!     // `kind` says which: "connection refused", "tls handshake failed", ...; the source chain
//!     // has the operating system's or the TLS library's own words.
//!     Err(Error::Transport { kind, source }) => eprintln!("authsignal unreachable: {kind}: {source:?}"),
//!     Err(error) => eprintln!("authsignal failed: {error} (request id {:?})", error.request_id()),
//! }
//! # }
//! ```
//!
//! # Retries and timeouts
//!
//! One call has an overall deadline (default 30 s, [`ClientBuilder::call_timeout`]) that covers
//! every attempt and every wait; each attempt also has a total timeout (default 10 s, cut to
//! what is left of the deadline) and a connect timeout (default 5 s). Failed attempts are
//! retried per the [`RetryPolicy`] (default: 2 retries, back-off 100 ms doubling to 2 s with
//! jitter): only connection failures and statuses 429, 502, 503 and 504, only for `GET`s and for
//! requests that carry an idempotency key (`track`/`challenge` with `idempotency_key` set,
//! `update_action`); `Retry-After` is honoured up to 10 s and only when the wait ends before the
//! deadline (otherwise the error is returned at once). A `POST` without idempotency key is never
//! repeated, so a flaky network cannot create a second action. Details in [`retry`].
//!
//! A response body is capped (default 1 MiB, [`ClientBuilder::max_response_bytes`]): a larger
//! `Content-Length` is refused before reading, a chunked body is abandoned at the cap, and the
//! call fails with [`Error::ResponseTooLarge`] without holding more than the cap in memory.
//!
//! # Webhooks
//!
//! [`webhook::Webhook`] checks the `X-Signature-V2` header (HMAC-SHA256, constant-time compare,
//! 5-minute tolerance) and decodes a [`webhook::WebhookEvent`].
//!
//! # Crate features
//!
//! The crate has no Cargo features. TLS is always [rustls](https://docs.rs/rustls) through
//! `reqwest`'s `rustls-tls` (with the `ring` provider and the Mozilla root set from
//! `webpki-roots` compiled in): no OpenSSL, no native-tls, the same behaviour on every platform,
//! and a static binary builds without system libraries. Extra roots (a development CA) are added
//! with [`ClientBuilder::add_root_certificate_pem`]; certificate checks cannot be turned off.
//! Like any `reqwest` client it honours the `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`
//! environment variables. The crate needs a Tokio runtime (for `reqwest` and the retry timer) and depends on no web
//! framework.

#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod retry;
pub mod types;
pub mod webhook;

pub use client::{
    Client, ClientBuilder, DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, DEFAULT_USER_AGENT, Region,
};
pub use error::{Error, TransportErrorKind};
pub use retry::RetryPolicy;
pub use types::*;
