//! Shared test machinery: the page reader, the cookie-jar browser, tokens, the authenticator
//! app, headless Chromium, and the system under test.

pub mod chrome;
pub mod flows;
pub mod html;
pub mod replicas;
pub mod system;
pub mod tokens;
pub mod totp;
pub mod web;
pub mod webauthn;

use std::sync::OnceLock;

use dev_certs::TlsMaterial;

/// The TLS material of this test process: one fresh CA and `localhost` leaf per run, shared by
/// every app and every browser in the process (generation is the slow part).
pub fn tls() -> &'static TlsMaterial {
    static TLS: OnceLock<TlsMaterial> = OnceLock::new();
    TLS.get_or_init(|| TlsMaterial::generate_ephemeral().expect("ephemeral test CA"))
}
