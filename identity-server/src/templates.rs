//! Tera templates, embedded in the binary so that it runs from any directory, and the
//! [`render`] helper every HTML handler uses. Autoescaping is on for every `.html` template.

use actix_web::HttpResponse;
use actix_web::http::header;
use serde::Serialize;

use crate::error::AppError;
use crate::startup::AppState;

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
