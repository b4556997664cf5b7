//! HTTP routes: the Server API under `/v1` (JSON, Basic auth), the hosted pages (HTML), and the
//! developer extras (`/dev/outbox`, `/health`, `/static/style.css`).

pub mod api;
pub mod dev;
pub mod pages;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    api::configure(cfg);
    dev::configure(cfg);
    pages::configure(cfg);
    // Any other path: an HTML page with a way back (the Server API has its own JSON 404).
    cfg.default_service(web::to(pages::not_found));
}
