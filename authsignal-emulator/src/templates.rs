//! The page templates, embedded in the binary (it runs from any directory) and parsed once.

/// Every template: (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("cancel.html", include_str!("templates/cancel.html")),
    ("code_field.html", include_str!("templates/code_field.html")),
    ("resend.html", include_str!("templates/resend.html")),
    (
        "other_method.html",
        include_str!("templates/other_method.html"),
    ),
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
    (
        "confirm_remove.html",
        include_str!("templates/confirm_remove.html"),
    ),
    ("done.html", include_str!("templates/done.html")),
    ("outbox.html", include_str!("templates/outbox.html")),
];

/// The stylesheet served at `/static/style.css`: the design shared by the three apps of the demo
/// (each keeps its own copy of `design.css`), then the hosted pages' own rules.
pub const STYLE_CSS: &str = concat!(
    include_str!("templates/design.css"),
    include_str!("templates/style.css")
);

/// The icon served at `/static/favicon.svg`.
pub const FAVICON_SVG: &str = include_str!("templates/favicon.svg");

/// The one script of the hosted pages, served at `/static/copy.js`: a progressive enhancement
/// that shows "Copy" buttons (the pages work without it).
pub const COPY_JS: &str = include_str!("templates/copy.js");

/// Templates that are parts of pages (included), not pages.
pub const PARTIALS: &[&str] = &[
    "base.html",
    "cancel.html",
    "code_field.html",
    "resend.html",
    "other_method.html",
];

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
        c.insert("notice", &Some("done <b>"));
        c.insert("account", "alice <i>");
        c.insert("secret_groups", "SECR ET");
        c.insert("codes_text", "abcde-fghjk-mnpqr");
        c.insert("code_label", "Code");
        c.insert("code_inputmode", "numeric");
        c.insert("code_autocomplete", "one-time-code");
        c.insert("code_maxlength", &16);
        c.insert("code_hint", &Option::<String>::None);
        c.insert("resend_wait", &20);
        c.insert("can_resend", &true);
        c.insert("other_id", "switch-to-email");
        c.insert("other_action", "/enroll/email");
        c.insert("other_label", "Use email codes instead");
        c.insert("email", "a@b.c");
        c.insert("recovery_left", &3);
        c.insert("changes", &vec!["Added <Email>"]);
        c.insert("id", "auth-1");
        c.insert("label", "Email code");
        c.insert("detail", "a@b.c");
        c.insert("added", "3 days ago");
        c.insert(
            "request",
            &crate::domain::challenge_context::describe(
                "login",
                serde_json::json!({"clientName": "<b>App</b>"}).as_object(),
                Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/138.0.0.0"),
                Some("203.0.113.7"),
                chrono::DateTime::UNIX_EPOCH,
            ),
        );
        c
    }

    #[test]
    fn every_template_renders_and_escapes_request_data() {
        let tera = build().unwrap();
        for (name, _) in TEMPLATES {
            let html = tera.render(name, &context()).unwrap();
            assert!(!html.contains("<script>"), "{name} must escape");
            assert!(
                !html.contains("<b>") && !html.contains("<i>"),
                "{name} must escape"
            );
            if !PARTIALS.contains(name) {
                assert!(html.contains("id=\"error\""), "{name} shows errors");
                assert!(
                    html.contains("<title>") && html.contains(" · Tenant &lt;b&gt;</title>"),
                    "{name} names the page and the tenant in its title"
                );
                assert!(
                    html.contains("id=\"dev-marker\""),
                    "{name} is marked as the emulator"
                );
            }
        }
    }

    #[test]
    fn the_pages_have_the_documented_hooks() {
        let tera = build().unwrap();
        let html = tera.render("enroll_totp.html", &context()).unwrap();
        assert!(html.contains("<code id=\"totp-secret\" class=\"secret-key\">SECR ET</code>"));
        assert!(
            html.contains("data-copy=\"SECRET\""),
            "the copy button copies the bare key"
        );
        assert!(html.contains("<dd id=\"totp-account\">alice &lt;i&gt;</dd>"));
        assert!(html.contains("id=\"otpauth-uri\""));
        assert!(
            html.contains("id=\"switch-to-email\"") && html.contains("id=\"back-to-settings\"")
        );
        assert!(html.contains("name=\"csrf\" value=\"CSRF\""));
        let html = tera.render("recovery_codes.html", &context()).unwrap();
        assert!(html.contains("<li class=\"recovery-code\">abcde-fghjk-mnpqr</li>"));
        assert!(html.contains("id=\"recovery-codes-continue\""));
        assert!(html.contains("id=\"download-codes\"") && html.contains("name=\"saved\""));
        let html = tera.render("challenge.html", &context()).unwrap();
        assert!(html.contains("id=\"use-recovery-code\"") && html.contains("name=\"code\""));
        assert!(html.contains("id=\"cancel\""), "a way out of the challenge");
        assert!(
            html.contains("<strong id=\"challenge-context\">&lt;b&gt;App&lt;&#x2F;b&gt; · Chrome on Linux · 203.0.113.7 · 1 Jan 1970, 00:00 UTC</strong>"),
            "the request it approves, escaped: {html}"
        );
        assert!(
            html.contains("<form id=\"not-me\" method=\"post\" action=\"/not-me\">"),
            "\"This wasn't me\""
        );
        assert!(
            html.contains("aria-invalid=\"true\"") && html.contains("aria-describedby=\"error"),
            "the error is tied to the code field"
        );
        assert!(
            html.contains("maxlength=\"16\""),
            "room for a pasted \"123 456\""
        );
    }

    #[test]
    fn pages_load_only_the_same_origin_copy_script_and_nothing_external() {
        for (name, source) in TEMPLATES {
            for script in source.split("<script").skip(1) {
                assert!(
                    script.starts_with(" src=\"/static/copy.js\" defer></script>"),
                    "{name}: only the copy script, never inline: <script{script}"
                );
            }
            assert!(
                !source.contains("http://") && !source.contains("https://"),
                "{name}"
            );
        }
        assert!(!COPY_JS.contains("http"), "the script talks to nobody");
    }
}
