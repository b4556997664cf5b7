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

/// The stylesheet served at `/static/site.css`: the design shared by the three apps (each keeps
/// its own copy of `design.css`), then this server's own rules.
pub const SITE_CSS: &str = concat!(
    include_str!("../static/design.css"),
    include_str!("../static/site.css")
);

/// The icon served at `/static/favicon.svg` (the same mark in every app of the demo).
pub const FAVICON_SVG: &str = include_str!("../static/favicon.svg");

/// A registered client with a home page (`client_uri`), offered as a way forward on pages that
/// do not know which client the person came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppLink {
    /// The client's display name.
    pub name: String,
    /// Its `client_uri`.
    pub url: String,
}

/// Every client with a `client_uri`, by name.
pub fn app_links(
    clients: &std::collections::HashMap<String, crate::domain::Client>,
) -> Vec<AppLink> {
    let mut links: Vec<AppLink> = clients
        .values()
        .filter_map(|c| {
            c.client_uri.as_ref().map(|url| AppLink {
                name: c.client_name.clone(),
                url: url.clone(),
            })
        })
        .collect();
    links.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.url.cmp(&b.url)));
    links
}

/// Where "Start again" leads when the client is not known: the one client with a home page,
/// else this server's home page (which lists them all).
pub fn start_again(
    clients: &std::collections::HashMap<String, crate::domain::Client>,
) -> (String, String) {
    match app_links(clients).as_slice() {
        [only] => (only.url.clone(), format!("Start again at {}", only.name)),
        _ => ("/".to_owned(), "Start again".to_owned()),
    }
}

/// A duration in words, rounded up to the largest whole unit ("45 seconds", "15 minutes",
/// "2 hours"), for messages such as the lockout's.
pub fn duration_in_words(secs: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let up = |s: u64, unit: u64| s.div_ceil(unit);
    match secs {
        s if s < 60 => plural(s, "second"),
        s if s < 3600 => plural(up(s, 60), "minute"),
        s if s < 86_400 => plural(up(s, 3600), "hour"),
        s => plural(up(s, 86_400), "day"),
    }
}

/// How long ago `then` was at `now` (unix seconds): "just now", "5 minutes ago", "yesterday",
/// "3 days ago", then the date ("on 1 December 2026").
pub fn ago_in_words(then: i64, now: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match now - then {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => format!("{} ago", plural(s / 60, "minute")),
        s if s < 86_400 => format!("{} ago", plural(s / 3600, "hour")),
        s if s < 2 * 86_400 => "yesterday".to_owned(),
        s if s < 30 * 86_400 => format!("{} ago", plural(s / 86_400, "day")),
        _ => chrono::DateTime::from_timestamp(then, 0)
            .map_or_else(String::new, |d| format!("on {}", d.format("%-d %B %Y"))),
    }
}

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
    fn durations_and_times_read_as_words() {
        assert_eq!(duration_in_words(900), "15 minutes");
        assert_eq!(duration_in_words(61), "2 minutes");
        assert_eq!(duration_in_words(1), "1 second");
        assert_eq!(duration_in_words(7200), "2 hours");
        let now = 1_764_590_400; // 2025-12-01 12:00:00 UTC
        assert_eq!(ago_in_words(now - 10, now), "just now");
        assert_eq!(ago_in_words(now - 120, now), "2 minutes ago");
        assert_eq!(ago_in_words(now - 3 * 3600, now), "3 hours ago");
        assert_eq!(ago_in_words(now - 30 * 3600, now), "yesterday");
        assert_eq!(ago_in_words(now - 5 * 86_400, now), "5 days ago");
        assert_eq!(ago_in_words(now - 100 * 86_400, now), "on 23 August 2025");
    }

    #[test]
    fn start_again_names_the_one_client_with_a_home_page() {
        let settings = crate::configuration::Settings::default();
        let clients: std::collections::HashMap<String, crate::domain::Client> = settings
            .clients
            .iter()
            .map(|c| (c.client_id.clone(), crate::domain::Client::from(c)))
            .collect();
        let links = app_links(&clients);
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(
            start_again(&clients),
            (
                links[0].url.clone(),
                format!("Start again at {}", links[0].name)
            )
        );
        assert_eq!(
            start_again(&std::collections::HashMap::new()),
            ("/".to_owned(), "Start again".to_owned())
        );
    }

    #[test]
    fn every_page_title_names_the_product() {
        let tera = build(crate::account::templates()).unwrap();
        for name in tera.get_template_names() {
            if name == "base.html" {
                continue;
            }
            let source = TEMPLATES
                .iter()
                .copied()
                .chain(crate::account::templates())
                .find(|(n, _)| *n == name)
                .map(|(_, s)| s)
                .unwrap_or_default();
            assert!(source.contains("{% extends \"base.html\" %}"), "{name}");
            assert!(
                source.contains("{% block title %}"),
                "{name} has its own title"
            );
        }
        let base = TEMPLATES[0].1;
        assert!(base.contains("{% endblock title %} · Authsignal MFA Demo</title>"));
        assert!(base.contains("rel=\"icon\" href=\"/static/favicon.svg\""));
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
