//! Developer extras: the outbox of "sent" codes (HTML and JSON), a health check, the
//! stylesheet, the icon and the copy script, and a landing page. The outbox shows live codes to
//! anyone who reaches the port: it exists only in development mode (`dev_mode`), otherwise its
//! paths are the ordinary 404.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::Utc;

use crate::domain::words;
use crate::error::PageError;
use crate::routes::pages::render;
use crate::state::AppState;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig, dev_mode: bool) {
    if dev_mode {
        cfg.route("/dev/outbox", web::get().to(outbox_html))
            .route("/dev/outbox.json", web::get().to(outbox_json))
            .route("/", web::get().to(index));
    }
    cfg.route("/health", web::get().to(health))
        .route("/static/style.css", web::get().to(style))
        .route("/static/favicon.svg", web::get().to(favicon))
        .route("/static/copy.js", web::get().to(copy_js));
}

/// One message of the outbox page, as a person reads it.
#[derive(serde::Serialize)]
struct OutboxRow {
    code: String,
    to: String,
    sent: String,
    action_code: String,
}

async fn outbox_html(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let now = Utc::now();
    let rows: Vec<OutboxRow> = state
        .stores
        .outbox
        .messages()
        .into_iter()
        .rev()
        .map(|m| OutboxRow {
            sent: format!("sent {}", words::ago(m.sent_at, now)),
            code: m.code,
            to: m.to,
            action_code: m.action_code,
        })
        .collect();
    let mut context = tera::Context::new();
    context.insert("tenant_name", &state.tenant_name);
    context.insert("error", &Option::<String>::None);
    context.insert("messages", &rows);
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

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", crate::templates::STYLE_CSS)
}

async fn favicon() -> HttpResponse {
    asset("image/svg+xml", crate::templates::FAVICON_SVG)
}

async fn copy_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", crate::templates::COPY_JS)
}

async fn index() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dev/outbox"))
        .finish()
}
