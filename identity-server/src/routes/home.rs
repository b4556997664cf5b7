//! The home page (`/`): who is signed in, the applications to continue to (clients with a
//! `client_uri`), "Manage two-step verification", "Passkeys" and "Log out"; the stylesheet, the
//! icon and the passkey script.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::AppError;
use crate::state::AppState;

#[derive(Serialize)]
struct HomePage {
    signed_in: bool,
    name: Option<String>,
    username: Option<String>,
    subject: Option<String>,
    amr: Vec<String>,
    auth_time: Option<String>,
    csrf_token: String,
    issuer: String,
    apps: Vec<crate::templates::AppLink>,
}

/// `GET /`.
pub async fn home(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let session = crate::signin::load_session(&state, &req).await?;
    let user = match &session {
        Some(s) => state.users.find_by_subject(&s.subject).await?,
        None => None,
    };
    let csrf = crate::csrf::issue(&state, &req);
    let page = HomePage {
        signed_in: user.is_some(),
        name: user.as_ref().and_then(|u| u.name.clone()),
        username: user.as_ref().map(|u| u.username.clone()),
        subject: user.as_ref().map(|u| u.subject.clone()),
        amr: session.as_ref().map(|s| s.amr.clone()).unwrap_or_default(),
        auth_time: session.as_ref().map(|s| {
            crate::tokens::to_datetime(s.auth_time)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        }),
        csrf_token: csrf.token,
        issuer: state.settings.issuer.clone(),
        apps: crate::templates::app_links(&state.clients),
    };
    let mut response = crate::render(&state, "home.html", &page)?;
    if let Some(cookie) = csrf.cookie {
        response.add_cookie(&cookie).map_err(AppError::internal)?;
    }
    Ok(response)
}

/// `GET /static/favicon.svg`.
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .content_type("image/svg+xml")
        .body(crate::templates::FAVICON_SVG)
}

/// `GET /static/site.css`.
pub async fn site_css() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .content_type("text/css; charset=utf-8")
        .body(crate::templates::SITE_CSS)
}

/// `GET /static/passkey.js`: the one script of the site (passkey sign-in and sign-up against the
/// Authsignal Client API), served from this origin so that `script-src 'self'` allows it.
pub async fn passkey_js() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type("text/javascript; charset=utf-8")
        .body(crate::templates::PASSKEY_JS)
}
