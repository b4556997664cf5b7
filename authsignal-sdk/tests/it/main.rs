//! Integration tests of the Authsignal SDK against a local mock HTTP server (wiremock).
//!
//! Every test starts its own server on port 0 with a catch-all "route not mocked" 500, so an
//! unexpected method, path, header or body fails the test loudly instead of passing silently.

mod calls;
mod errors;
mod helpers;
mod retries;
mod tls;
mod webhooks;
