//! `GET /static/site.css` and `GET /static/favicon.svg`: the embedded stylesheet and icon.

use actix_web::HttpResponse;
use actix_web::http::header;

/// The stylesheet (cacheable: it changes only with the binary).
pub async fn site_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(crate::templates::SITE_CSS)
}

/// The icon (cacheable like the stylesheet).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(crate::templates::FAVICON_SVG)
}
