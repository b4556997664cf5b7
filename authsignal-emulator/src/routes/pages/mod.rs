//! The hosted pages at the `url` returned by track: enrollment (authenticator app, email OTP),
//! recovery codes, the challenge, and settings. Server-rendered HTML that works without
//! JavaScript; one small same-origin script (`/static/copy.js`) only adds "Copy" buttons.
//!
//! The browser's session is bound to the track token: `GET /challenge?token=...` checks the
//! token, creates a server-side [`crate::store::HostedSession`] for that action,
//! sets its id in a `__Host-` cookie (Secure, HttpOnly, SameSite=Lax) and redirects to `/flow`,
//! so the token leaves the address bar. Every form carries the session's CSRF token.
//!
//! Every page has a way out: Cancel (and `/back` from an error page) returns to the relying
//! party's `redirectUrl` without a token, which tells it that the person left; a second cookie
//! remembers that `redirectUrl` for a day so that even a page without a live session can lead
//! back. A finished flow is kept until the session expires, so that the browser's Back button
//! after a sign-in sends the person on to the relying party instead of to an error.

pub mod flow;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;

use crate::domain::secret::ct_eq_str;
use crate::error::PageError;
use crate::state::AppState;
use crate::store::HostedSession;

/// The session cookie.
pub const COOKIE: &str = "__Host-authsignal-emulator";

/// The Content-Security-Policy of every page: no scripts at all, styles from this origin,
/// images from this origin or `data:` (the QR code).
///
/// There is deliberately no `form-action`: browsers apply it to every hop of the redirects that
/// follow a form post, and the last post of the flow ends, through the relying party's callback,
/// on origins this page cannot know (the relying party's own client, for one). A `form-action`
/// here made real browsers refuse to finish a login.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// The cookie remembering the relying party's `redirectUrl` of this browser's last flow
/// (base64url), for the "Back to the application" action of pages without a live session.
pub const RETURN_COOKIE: &str = "__Host-authsignal-emulator-rp";

/// Registers the page routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::FormConfig::default()
            .limit(16 * 1024)
            .error_handler(|e, _| {
                PageError::refused(
                    StatusCode::BAD_REQUEST,
                    format!("The form could not be read: {e}"),
                )
                .into()
            }),
    )
    .app_data(web::QueryConfig::default().error_handler(|_, _| {
        PageError::refused(StatusCode::BAD_REQUEST, "This link is not valid.").into()
    }))
    .route("/challenge", web::get().to(flow::start))
    .route("/flow", web::get().to(flow::show))
    .route("/back", web::get().to(flow::back))
    .route("/cancel", web::post().to(flow::cancel))
    .route("/not-me", web::post().to(flow::not_me))
    .route("/resend", web::post().to(flow::resend))
    .route(
        "/enroll/email/change",
        web::post().to(flow::enroll_email_change),
    )
    .route(
        "/recovery-codes.txt",
        web::get().to(flow::recovery_download),
    )
    .route(
        "/settings/remove/confirm",
        web::post().to(flow::settings_remove_confirm),
    )
    .route(
        "/settings/recovery-codes",
        web::post().to(flow::settings_regenerate),
    )
    .route("/enroll/totp", web::post().to(flow::enroll_totp_start))
    .route(
        "/enroll/totp/confirm",
        web::post().to(flow::enroll_totp_confirm),
    )
    .route("/enroll/email", web::post().to(flow::enroll_email_start))
    .route(
        "/enroll/email/address",
        web::post().to(flow::enroll_email_address),
    )
    .route(
        "/enroll/email/confirm",
        web::post().to(flow::enroll_email_confirm),
    )
    .route("/verify", web::post().to(flow::verify_code))
    .route("/verify/method", web::post().to(flow::choose_method))
    .route(
        "/recovery-codes/continue",
        web::post().to(flow::recovery_continue),
    )
    .route("/settings/remove", web::post().to(flow::settings_remove))
    .route("/settings/back", web::post().to(flow::settings_back))
    .route("/settings/done", web::post().to(flow::settings_done));
}

/// The fields any hosted form may carry.
#[derive(Debug, Deserialize)]
pub struct FlowForm {
    /// CSRF token (every form).
    pub csrf: String,
    /// A code (TOTP, email OTP or recovery code).
    #[serde(default)]
    pub code: Option<String>,
    /// An email address.
    #[serde(default)]
    pub email: Option<String>,
    /// A verification method.
    #[serde(default)]
    pub method: Option<String>,
    /// An authenticator id.
    #[serde(default)]
    pub authenticator_id: Option<String>,
    /// "I have saved my recovery codes" (`yes` when ticked).
    #[serde(default)]
    pub saved: Option<String>,
}

pub use crate::domain::contact::looks_like_email;

/// The live session named by the cookie.
pub fn load_session(state: &AppState, req: &HttpRequest) -> Result<HostedSession, PageError> {
    let id = req
        .cookie(COOKIE)
        .map(|c| c.value().to_owned())
        .ok_or_else(PageError::no_session)?;
    state
        .stores
        .hosted
        .get_session(&id, Utc::now())
        .ok_or_else(PageError::no_session)
}

/// The live session, after checking the form's CSRF token. A finished flow accepts no form: the
/// browser is sent on (a form sent again with Back and resubmit lands here).
pub fn load_checked(
    state: &AppState,
    req: &HttpRequest,
    form: &FlowForm,
) -> Result<HostedSession, PageError> {
    let session = load_session(state, req)?;
    if !ct_eq_str(&session.csrf, &form.csrf) {
        return Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "This form has expired. Go back to the application and try again.",
        ));
    }
    if session.step == crate::store::HostedStep::Finished {
        return Err(flow::send_on_error(state, &session));
    }
    Ok(session)
}

/// The cookie remembering `redirect_url` (a day).
pub fn return_cookie(redirect_url: &str) -> Cookie<'static> {
    use base64::Engine as _;
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(redirect_url);
    Cookie::build(RETURN_COOKIE, value)
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(1))
        .finish()
}

/// The relying party's `redirectUrl` remembered by [`return_cookie`], if it still parses as one.
pub fn remembered_return(req: &HttpRequest) -> Option<url::Url> {
    use base64::Engine as _;
    let raw = req.cookie(RETURN_COOKIE)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.value())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    crate::domain::redirect::parse_redirect_url(&text).ok()
}

/// The error page of any path that is not a page, an asset or the Server API.
pub async fn not_found() -> Result<HttpResponse, PageError> {
    Err(PageError::refused(
        StatusCode::NOT_FOUND,
        "There is nothing at this address. Go back to the application and start again.",
    ))
}

/// The session cookie for `id`.
pub fn session_cookie(id: &str) -> Cookie<'static> {
    Cookie::build(COOKIE, id.to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish()
}

/// Renders a template with the page headers.
pub fn render(
    state: &AppState,
    template: &str,
    context: &tera::Context,
) -> Result<HttpResponse, PageError> {
    let html = state.templates.render(template, context)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(html))
}

/// A 303 to `location` with the page headers.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_host_prefixed_secure_and_http_only() {
        let cookie = session_cookie("abc").to_string();
        assert!(cookie.starts_with("__Host-"));
        assert!(
            cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/")
        );
        assert!(cookie.contains("SameSite=Lax"));
    }
}
