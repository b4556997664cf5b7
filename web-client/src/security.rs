//! Security headers on every response: a CSP with no inline script or style at all,
//! `frame-ancestors 'none'`, `nosniff`, `no-referrer` (pages and redirects carry codes and
//! tokens), `no-store` (pages show personal claims), and HSTS everywhere, `localhost` included:
//! HSTS is per host, not per port, and the identity server and the emulator on the same
//! `localhost` already send it, so leaving it out here protected nothing and let a first
//! plain-http visit be downgraded.

use actix_web::middleware::DefaultHeaders;

/// The headers, given the issuer (sign-out is a form POST that redirects to
/// the issuer, and browsers apply `form-action` to redirects after a form submission).
pub fn headers(issuer_url: &str) -> DefaultHeaders {
    let issuer_origin = url::Url::parse(issuer_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {issuer_origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    DefaultHeaders::new()
        .add(("Content-Security-Policy", csp))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cache-Control", "no-store"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Strict-Transport-Security", "max-age=31536000"))
}
