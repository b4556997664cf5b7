//! HTTP routes: the Client API passkey subset under `/v1/client` (tenant id or token, CORS),
//! the Server API under `/v1` (JSON, Basic auth), the hosted pages (HTML), and the
//! developer extras (`/dev/outbox`, `/health`, `/static/style.css`).

pub mod api;
pub mod client;
pub mod dev;
pub mod pages;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // `/v1/client` first: the `/v1` scope (secret required) would otherwise take its paths.
    client::configure(cfg);
    api::configure(cfg);
    dev::configure(cfg);
    pages::configure(cfg);
    // Any other path: an HTML page with a way back (the Server API has its own JSON 404).
    cfg.default_service(web::to(pages::not_found));
}
