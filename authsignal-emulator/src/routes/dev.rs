//! Developer extras: the outbox of "sent" codes and notices (HTML and JSON), the notices
//! endpoint, a health check, the stylesheet, the icon and the copy script, and a landing page.
//! The outbox shows live codes to anyone who reaches the port: it exists only in development
//! mode (`dev_mode`), otherwise its paths are the ordinary 404.
//!
//! `POST /dev/notices` (development mode only, an emulator extension: Authsignal's Server API
//! has no documented "send this email" call) is where the identity server hands the security
//! notices it renders (an authenticator added, a sign-in from a new browser, ...). It takes the
//! Server API secret as Basic credentials (compared in constant time; 401 in the service's error
//! shape otherwise), a JSON body of at most [`MAX_NOTICE_BODY_BYTES`] with `to`, `subject`,
//! `text` and `kind` within their bounds, and keeps the newest notices (bounded like the codes).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::Utc;

use crate::domain::words;
use crate::error::{ApiError, PageError};
use crate::routes::pages::render;
use crate::state::AppState;
use crate::store::OutboxNotice;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig, dev_mode: bool) {
    if dev_mode {
        cfg.route("/dev/outbox", web::get().to(outbox_html))
            .route("/dev/outbox.json", web::get().to(outbox_json))
            .service(
                web::resource("/dev/notices")
                    .wrap(actix_web::middleware::from_fn(
                        crate::routes::api::auth::require_secret,
                    ))
                    .app_data(web::PayloadConfig::new(MAX_NOTICE_BODY_BYTES))
                    .route(web::post().to(post_notice)),
            )
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

/// Largest body of `POST /dev/notices`.
pub const MAX_NOTICE_BODY_BYTES: usize = 16 * 1024;
/// Longest recipient address (RFC 5321 path limit).
const MAX_TO_CHARS: usize = 254;
/// Longest subject line.
const MAX_SUBJECT_CHARS: usize = 200;
/// Longest text.
const MAX_TEXT_CHARS: usize = 8000;
/// Longest kind.
const MAX_KIND_CHARS: usize = 64;

/// The body of `POST /dev/notices`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeBody {
    to: String,
    subject: String,
    text: String,
    #[serde(default)]
    kind: String,
}

/// Checks a notice; the error names the field.
fn parse_notice(body: NoticeBody, now: chrono::DateTime<Utc>) -> Result<OutboxNotice, ApiError> {
    let to = body.to.trim();
    let one_at = to.matches('@').count() == 1 && !to.starts_with('@') && !to.ends_with('@');
    if to.chars().count() > MAX_TO_CHARS || !one_at || to.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("to: must be one email address"));
    }
    let subject = body.subject.trim();
    if subject.is_empty()
        || subject.chars().count() > MAX_SUBJECT_CHARS
        || subject.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(format!(
            "subject: must be 1 to {MAX_SUBJECT_CHARS} characters on one line"
        )));
    }
    if body.text.trim().is_empty()
        || body.text.chars().count() > MAX_TEXT_CHARS
        || body
            .text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::invalid(format!(
            "text: must be 1 to {MAX_TEXT_CHARS} characters of plain text"
        )));
    }
    if body.kind.chars().count() > MAX_KIND_CHARS
        || !body
            .kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ApiError::invalid(format!(
            "kind: must be at most {MAX_KIND_CHARS} of a-z, 0-9 and -"
        )));
    }
    Ok(OutboxNotice {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: body.text,
        kind: if body.kind.is_empty() {
            "notice".to_owned()
        } else {
            body.kind
        },
        sent_at: now,
    })
}

/// `POST /dev/notices`: a notice into the outbox.
async fn post_notice(
    state: web::Data<AppState>,
    body: crate::routes::api::extract::ApiJson<NoticeBody>,
) -> Result<HttpResponse, ApiError> {
    let notice = parse_notice(body.0, Utc::now())?;
    tracing::info!(kind = %notice.kind, "notice received (dev outbox)");
    state.stores.outbox.push_notice(notice);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "accepted": true })))
}

/// One notice of the outbox page.
#[derive(serde::Serialize)]
struct NoticeRow {
    to: String,
    subject: String,
    text: String,
    kind: String,
    sent: String,
}

/// One entry of `/dev/outbox.json`: a code or a notice, told apart by `kind`.
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum OutboxEntry {
    /// A one-time code.
    Code(crate::store::OutboxMessage),
    /// A notice.
    Notice(OutboxNotice),
}

async fn outbox_html(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let now = Utc::now();
    let notices: Vec<NoticeRow> = state
        .stores
        .outbox
        .notices()
        .into_iter()
        .rev()
        .map(|n| NoticeRow {
            sent: format!("sent {}", words::ago(n.sent_at, now)),
            to: n.to,
            subject: n.subject,
            text: n.text,
            kind: n.kind,
        })
        .collect();
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
    context.insert("notices", &notices);
    render(&state, "outbox.html", &context)
}

/// Codes and notices, oldest first; each entry's `type` is `code` or `notice`.
async fn outbox_json(state: web::Data<AppState>) -> HttpResponse {
    let outbox = &state.stores.outbox;
    let mut entries: Vec<(chrono::DateTime<Utc>, OutboxEntry)> = outbox
        .messages()
        .into_iter()
        .map(|m| (m.sent_at, OutboxEntry::Code(m)))
        .chain(
            outbox
                .notices()
                .into_iter()
                .map(|n| (n.sent_at, OutboxEntry::Notice(n))),
        )
        .collect();
    entries.sort_by_key(|(at, _)| *at);
    let entries: Vec<OutboxEntry> = entries.into_iter().map(|(_, e)| e).collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(entries)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(to: &str, subject: &str, text: &str, kind: &str) -> NoticeBody {
        NoticeBody {
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn a_notice_is_one_address_a_one_line_subject_and_bounded_plain_text() {
        let now = Utc::now();
        let ok = parse_notice(
            body("a@example.com", "Hi", "Line\nline", "new-browser"),
            now,
        )
        .unwrap();
        assert_eq!(ok.kind, "new-browser");
        assert!(
            parse_notice(body("a@example.com", "Hi", "x", ""), now)
                .unwrap()
                .kind
                == "notice"
        );
        for bad in [
            body("no-at", "Hi", "x", ""),
            body("a@b@c", "Hi", "x", ""),
            body(&format!("{}@example.com", "a".repeat(260)), "Hi", "x", ""),
            body("a@example.com", "", "x", ""),
            body("a@example.com", "Two\r\nBcc: x", "x", ""),
            body("a@example.com", &"s".repeat(201), "x", ""),
            body("a@example.com", "Hi", "", ""),
            body("a@example.com", "Hi", &"t".repeat(8001), ""),
            body("a@example.com", "Hi", "x", "<script>"),
        ] {
            assert!(parse_notice(bad, now).is_err());
        }
    }
}
