//! HTTP routes: the Client API passkey subset under `/v1/client` (tenant id or token, CORS),
//! the Server API under `/v1` (JSON, Basic auth), the hosted pages (HTML), and the
//! developer extras (`/health`, `/static/style.css`, and only in development mode
//! `/dev/outbox`), and the security headers every answer carries.

pub mod api;
pub mod client;
pub mod dev;
pub mod pages;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::web;

/// Security headers on every answer, errors and 404s included (a handler's own value wins,
/// e.g. the pages' full CSP): no framing (clickjacking of the challenge), no sniffing, no
/// referrer (addresses carry tokens), HTTPS only.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
}

/// Registers every route; the outbox of live codes only when `dev_mode` is on.
pub fn configure(cfg: &mut web::ServiceConfig, dev_mode: bool) {
    // `/v1/client` first: the `/v1` scope (secret required) would otherwise take its paths.
    client::configure(cfg);
    api::configure(cfg);
    dev::configure(cfg, dev_mode);
    pages::configure(cfg);
    // Any other path: an HTML page with a way back (the Server API has its own JSON 404).
    cfg.default_service(web::to(pages::not_found));
}
