//! Developer extras: the outbox of "sent" codes (HTML and JSON), a health check, the
//! stylesheet, and a landing page. The outbox shows live codes: it is for development only.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::PageError;
use crate::routes::pages::render;
use crate::state::AppState;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dev/outbox", web::get().to(outbox_html))
        .route("/dev/outbox.json", web::get().to(outbox_json))
        .route("/health", web::get().to(health))
        .route("/static/style.css", web::get().to(style))
        .route("/", web::get().to(index));
}

async fn outbox_html(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let mut messages = state.stores.outbox.messages();
    messages.reverse();
    let mut context = tera::Context::new();
    context.insert("tenant_name", &state.tenant_name);
    context.insert("error", &Option::<String>::None);
    context.insert("messages", &messages);
    render(&state, "outbox.html", &context)
}

async fn outbox_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(state.stores.outbox.messages())
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(crate::templates::STYLE_CSS)
}

async fn index() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dev/outbox"))
        .finish()
}
