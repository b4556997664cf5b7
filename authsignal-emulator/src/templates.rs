//! The page templates, embedded in the binary (it runs from any directory) and parsed once.

/// Every template: (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    (
        "enroll_choose.html",
        include_str!("templates/enroll_choose.html"),
    ),
    (
        "enroll_totp.html",
        include_str!("templates/enroll_totp.html"),
    ),
    (
        "enroll_email_address.html",
        include_str!("templates/enroll_email_address.html"),
    ),
    (
        "enroll_email_code.html",
        include_str!("templates/enroll_email_code.html"),
    ),
    ("challenge.html", include_str!("templates/challenge.html")),
    (
        "recovery_codes.html",
        include_str!("templates/recovery_codes.html"),
    ),
    ("settings.html", include_str!("templates/settings.html")),
    ("done.html", include_str!("templates/done.html")),
    ("outbox.html", include_str!("templates/outbox.html")),
];

/// The stylesheet served at `/static/style.css`.
pub const STYLE_CSS: &str = include_str!("templates/style.css");

/// Parses every template (autoescape is on for `.html`).
pub fn build() -> Result<tera::Tera, tera::Error> {
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(TEMPLATES.iter().copied())?;
    Ok(tera)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> tera::Context {
        let mut c = tera::Context::new();
        c.insert("tenant_name", "Tenant <b>");
        c.insert("csrf", "CSRF");
        c.insert("error", &Some("bad <script>"));
        c.insert("adding", &true);
        c.insert("secret", "SECRET");
        c.insert("uri", "otpauth://totp/x");
        c.insert("qr", "AAAA");
        c.insert("to", "a@b.c");
        c.insert("method", "AUTHENTICATOR_APP");
        c.insert("method_label", "Authenticator app");
        c.insert("choices", &Vec::<String>::new());
        c.insert("recovery_available", &true);
        c.insert("codes", &vec!["abcde-fghjk-mnpqr"]);
        c.insert("authenticators", &Vec::<String>::new());
        c.insert("can_remove", &false);
        c.insert("succeeded", &true);
        c.insert("messages", &Vec::<String>::new());
        c
    }

    #[test]
    fn every_template_renders_and_escapes_request_data() {
        let tera = build().unwrap();
        for (name, _) in TEMPLATES {
            let html = tera.render(name, &context()).unwrap();
            assert!(!html.contains("<script>"), "{name} must escape");
            if *name != "base.html" {
                assert!(html.contains("id=\"error\""), "{name} shows errors");
            }
        }
    }

    #[test]
    fn the_pages_have_the_documented_hooks() {
        let tera = build().unwrap();
        let html = tera.render("enroll_totp.html", &context()).unwrap();
        assert!(html.contains("<code id=\"totp-secret\">SECRET</code>"));
        assert!(html.contains("id=\"otpauth-uri\""));
        assert!(html.contains("name=\"csrf\" value=\"CSRF\""));
        let html = tera.render("recovery_codes.html", &context()).unwrap();
        assert!(html.contains("<li class=\"recovery-code\">abcde-fghjk-mnpqr</li>"));
        assert!(html.contains("id=\"recovery-codes-continue\""));
        let html = tera.render("challenge.html", &context()).unwrap();
        assert!(html.contains("id=\"use-recovery-code\"") && html.contains("name=\"code\""));
    }

    #[test]
    fn no_page_loads_scripts_or_external_resources() {
        for (name, source) in TEMPLATES {
            assert!(!source.contains("<script"), "{name}");
            assert!(
                !source.contains("http://") && !source.contains("https://"),
                "{name}"
            );
        }
    }
}
