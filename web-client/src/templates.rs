//! The HTML pages: Tera templates embedded in the binary (it runs from any directory), loaded
//! once at start-up, autoescaped, one `Serialize` context per page.

use serde::Serialize;
use tera::Tera;

/// Every template, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("userinfo.html", include_str!("../templates/userinfo.html")),
    (
        "sensitive.html",
        include_str!("../templates/sensitive.html"),
    ),
    ("error.html", include_str!("../templates/error.html")),
    (
        "signed_out.html",
        include_str!("../templates/signed_out.html"),
    ),
];

/// The stylesheet served at `/static/site.css` (no inline styles: the CSP forbids them): the
/// design shared by the three apps of the demo (each keeps its own copy of `design.css`), then
/// this app's own rules.
pub const SITE_CSS: &str = concat!(
    include_str!("../static/design.css"),
    include_str!("../static/site.css")
);

/// The icon served at `/static/favicon.svg` (the same mark in every app of the demo).
pub const FAVICON_SVG: &str = include_str!("../static/favicon.svg");

/// Builds the template set (autoescape on for `.html`).
pub fn build() -> Result<Tera, tera::Error> {
    let mut tera = Tera::default();
    tera.add_raw_templates(TEMPLATES.iter().copied())?;
    tera.autoescape_on(vec![".html"]);
    Ok(tera)
}

/// One row of a name/value table.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Left column.
    pub name: String,
    /// Right column (rendered escaped, inside `<code>`).
    pub value: String,
}

/// `home.html`.
#[derive(Debug, Serialize)]
pub struct HomePage {
    /// The issuer (footer).
    pub issuer: String,
    /// The user's name, else the subject.
    pub display_name: String,
    /// The ID token claims.
    pub claims: Vec<Row>,
    /// Token properties (expiry, scopes, amr, auth_time, ...).
    pub properties: Vec<Row>,
    /// CSRF token for the sign-out form.
    pub csrf: String,
}

/// `userinfo.html`.
#[derive(Debug, Serialize)]
pub struct UserinfoPage {
    /// The issuer (footer).
    pub issuer: String,
    /// The userinfo claims.
    pub claims: Vec<Row>,
}

/// `error.html`.
#[derive(Debug, Serialize)]
pub struct ErrorPage {
    /// The issuer (footer).
    pub issuer: String,
    /// Heading.
    pub title: String,
    /// What happened and what to do, for a person.
    pub message: String,
    /// A short technical detail (never a secret), if useful.
    pub detail: Option<String>,
}

/// `signed_out.html`.
#[derive(Debug, Serialize)]
pub struct SignedOutPage {
    /// The issuer (footer).
    pub issuer: String,
    /// What happened.
    pub message: String,
}

/// Renders a template with a context.
pub fn render<T: Serialize>(tera: &Tera, name: &str, context: &T) -> Result<String, tera::Error> {
    tera.render(name, &tera::Context::from_serialize(context)?)
}

/// The rows of a claims table: strings as they are, everything else as compact JSON; times
/// (`exp`, `iat`, `auth_time`) also as UTC dates.
pub fn claim_rows(claims: &serde_json::Map<String, serde_json::Value>) -> Vec<Row> {
    claims
        .iter()
        .map(|(name, value)| {
            let mut text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if matches!(
                name.as_str(),
                "exp" | "iat" | "auth_time" | "updated_at" | "nbf"
            ) && let Some(date) = value
                .as_i64()
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            {
                text = format!("{text} ({})", date.format("%Y-%m-%d %H:%M:%S UTC"));
            }
            Row {
                name: name.clone(),
                value: text,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> String {
        "https://localhost:5001".into()
    }

    #[test]
    fn every_template_renders_and_escapes_what_it_shows() {
        let tera = build().unwrap();
        let evil = "<script>alert(1)</script>".to_string();
        let row = || Row {
            name: evil.clone(),
            value: evil.clone(),
        };
        let pages = [
            render(
                &tera,
                "home.html",
                &HomePage {
                    issuer: issuer(),
                    display_name: evil.clone(),
                    claims: vec![row()],
                    properties: vec![row()],
                    csrf: "tok".into(),
                },
            ),
            render(
                &tera,
                "userinfo.html",
                &UserinfoPage {
                    issuer: issuer(),
                    claims: vec![row()],
                },
            ),
            render(
                &tera,
                "sensitive.html",
                &crate::routes::sensitive::SensitivePage {
                    issuer: issuer(),
                    max_age: evil.clone(),
                    rows: vec![crate::routes::sensitive::Field {
                        id: "auth-acr",
                        name: "acr",
                        value: evil.clone(),
                    }],
                },
            ),
            render(
                &tera,
                "error.html",
                &ErrorPage {
                    issuer: issuer(),
                    title: evil.clone(),
                    message: evil.clone(),
                    detail: Some(evil.clone()),
                },
            ),
            render(
                &tera,
                "signed_out.html",
                &SignedOutPage {
                    issuer: issuer(),
                    message: evil.clone(),
                },
            ),
        ];
        assert_eq!(
            pages.len(),
            TEMPLATES.len() - 1,
            "every page template is rendered here"
        );
        let home = render(
            &tera,
            "home.html",
            &HomePage {
                issuer: "https://idp.example/".into(),
                display_name: "Alice".into(),
                claims: Vec::new(),
                properties: Vec::new(),
                csrf: "tok".into(),
            },
        )
        .unwrap();
        assert!(
            // Tera escapes '/' in the issuer; the browser reads it back.
            home.contains("href=\"https:&#x2F;&#x2F;idp.example/Account/Mfa\""),
            "the claims page links to Manage MFA at the identity server: {home}"
        );
        assert!(home.contains("<title>Your claims · Authsignal MFA Demo</title>"));
        for page in pages {
            let html = page.unwrap();
            assert!(html.contains("&lt;script&gt;"), "{html}");
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("/static/site.css"));
        }
    }

    #[test]
    fn time_claims_are_shown_with_their_date() {
        let mut claims = serde_json::Map::new();
        claims.insert("auth_time".into(), serde_json::json!(0));
        claims.insert("amr".into(), serde_json::json!(["pwd", "mfa"]));
        let rows = claim_rows(&claims);
        assert_eq!(rows[0].value, r#"["pwd","mfa"]"#);
        assert_eq!(rows[1].value, "0 (1970-01-01 00:00:00 UTC)");
    }
}
