//! Tera templates, embedded in the binary so that it runs from any directory, and the
//! [`render`] helper every HTML handler uses. Autoescaping is on for every `.html` template.

use actix_web::HttpResponse;
use actix_web::http::header;
use serde::Serialize;

use crate::error::AppError;
use crate::state::AppState;

/// The provider's own templates (the account pages add theirs through `crate::account::templates`).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "logged_out.html",
        include_str!("../templates/logged_out.html"),
    ),
];

/// The stylesheet served at `/static/site.css`.
pub const SITE_CSS: &str = include_str!("../static/site.css");

/// The passkey script served at `/static/passkey.js`.
pub const PASSKEY_JS: &str = include_str!("../static/passkey.js");

/// Builds the Tera instance once: these templates plus `extra`.
pub fn build(extra: Vec<(&'static str, &'static str)>) -> Result<tera::Tera, tera::Error> {
    let mut tera = tera::Tera::default();
    let mut all: Vec<(&str, &str)> = TEMPLATES.to_vec();
    all.extend(extra);
    tera.add_raw_templates(all)?;
    Ok(tera)
}

/// Renders `name` (which extends `base.html`) without an app state: the error pages.
pub fn render_standalone(name: &str, context: &tera::Context) -> Result<String, tera::Error> {
    let mut tera = tera::Tera::default();
    let source = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or_default();
    tera.add_raw_templates(vec![("base.html", TEMPLATES[0].1), (name, source)])?;
    tera.render(name, context)
}

/// Renders `template` with a serializable context into a `200 text/html` response that is not
/// cached.
pub fn render(
    state: &AppState,
    template: &str,
    context: &impl Serialize,
) -> Result<HttpResponse, AppError> {
    let body = render_string(state, template, context)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Renders `template` to a string.
pub fn render_string(
    state: &AppState,
    template: &str,
    context: &impl Serialize,
) -> Result<String, AppError> {
    let context = tera::Context::from_serialize(context).map_err(AppError::internal)?;
    state
        .tera
        .render(template, &context)
        .map_err(|e| AppError::internal(format!("template '{template}': {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(pairs: serde_json::Value) -> tera::Context {
        tera::Context::from_value(pairs).unwrap()
    }

    #[test]
    fn every_provider_template_renders_and_escapes_request_data() {
        let tera = build(Vec::new()).unwrap();
        let evil = "<script>alert(1)</script>";
        let cases = [
            (
                "error.html",
                serde_json::json!({"title": "Bad request", "message": evil, "status": 400}),
            ),
            (
                "home.html",
                serde_json::json!({"signed_in": true, "name": evil, "username": "alice", "subject": "s", "amr": ["pwd", "mfa"],
                                   "auth_time": "now", "csrf_token": "t", "issuer": "https://x"}),
            ),
            (
                "home.html",
                serde_json::json!({"signed_in": false, "amr": [], "csrf_token": "t", "issuer": "https://x"}),
            ),
            (
                "logout.html",
                serde_json::json!({"csrf_token": "t", "signed_in": true}),
            ),
            (
                "logged_out.html",
                serde_json::json!({"client_name": evil, "client_link": "https://c/"}),
            ),
            ("logged_out.html", serde_json::json!({})),
        ];
        for (name, ctx) in cases {
            let html = tera
                .render(name, &context(ctx))
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(
                html.contains("/static/site.css"),
                "{name} extends base.html"
            );
            assert!(!html.contains("<script"), "{name} escapes request data");
        }
    }

    #[test]
    fn the_error_page_renders_without_an_app_state() {
        let mut ctx = tera::Context::new();
        ctx.insert("title", "Oops");
        ctx.insert("message", "m");
        ctx.insert("status", &500);
        assert!(
            render_standalone("error.html", &ctx)
                .unwrap()
                .contains("Oops")
        );
    }
}
