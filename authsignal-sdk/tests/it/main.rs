//! Integration tests of the Authsignal SDK against a local mock HTTP server (wiremock), and raw
//! TCP servers for the faults wiremock cannot produce (an endless or lying body, a reset, a
//! connection closed early, a handshake that never ends).
//!
//! Every wiremock test starts its own server on port 0 with a catch-all "route not mocked" 500,
//! so an unexpected method, path, header or body fails the test loudly instead of passing
//! silently.

mod body_cap;
mod calls;
mod deadline;
mod errors;
mod helpers;
mod retries;
mod tls;
mod transport;
mod webhooks;
