//! Security headers on every response: a CSP with no inline script or style at all,
//! `frame-ancestors 'none'`, `nosniff`, `no-referrer` (pages and redirects carry codes and
//! tokens), `no-store` (pages show personal claims), and HSTS when the app is not on localhost
//! (HSTS on `localhost` would force HTTPS on every other local development server).

use actix_web::middleware::DefaultHeaders;

/// The headers, given the public URL and the issuer (sign-out is a form POST that redirects to
/// the issuer, and browsers apply `form-action` to redirects after a form submission).
pub fn headers(public_url: &str, issuer_url: &str) -> DefaultHeaders {
    let issuer_origin = url::Url::parse(issuer_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {issuer_origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", csp))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cache-Control", "no-store"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    let on_localhost = url::Url::parse(public_url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]")
        })
        .unwrap_or(true);
    if !on_localhost {
        headers = headers.add(("Strict-Transport-Security", "max-age=31536000"));
    }
    headers
}
