//! What the hosted challenge tells the person about the request it approves: the application
//! (`custom.clientName` of the track attributes, else the action code), the browser (a short
//! label from the track's `userAgent`), the address (`ipAddress`) and when the action was
//! tracked, in UTC, e.g. `Web client · Chrome on Linux · 203.0.113.7 · 1 Dec 2026, 14:05 UTC`.
//!
//! Someone who holds a password can send the hosted link to the account's owner and have them
//! pass it; this line is what lets the owner see that it is not their sign-in. Real Authsignal's
//! pre-built UI shows what the tenant configures; whether it can show this is UNVERIFIED (an
//! emulator choice). Every part is plain text, bounded in length; the template escapes it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::user_agent;

/// Longest application name shown (characters).
pub const MAX_APPLICATION_CHARS: usize = 64;
/// Longest address shown (characters): an IPv6 address with a zone fits.
pub const MAX_ADDRESS_CHARS: usize = 64;

/// The parts of the line, each already bounded; `None` where the track did not say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChallengeContext {
    /// The application asking.
    pub application: String,
    /// `Chrome on Linux`, `Firefox`, ... or `None` without a `userAgent`.
    pub browser: Option<String>,
    /// The client address the relying party saw.
    pub address: Option<String>,
    /// When the action was tracked, e.g. `1 Dec 2026, 14:05 UTC`.
    pub requested_at: String,
    /// All of it on one line, joined by ` · `.
    pub line: String,
}

/// Keeps printable characters only (no control characters, no line breaks), at most `max`.
fn bounded(text: &str, max: usize) -> Option<String> {
    let cleaned: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    let cleaned = cleaned.trim().to_owned();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// `Chrome on Linux`, `Firefox`, `Windows` or `None` when nothing is recognised.
pub fn browser_label(ua: &str) -> Option<String> {
    // `parse` keeps at most the first 512 characters.
    let parsed = user_agent::parse(ua);
    let browser = parsed.browser.and_then(|b| b.name);
    let os = parsed.os.and_then(|o| o.name);
    match (browser, os) {
        (Some(b), Some(o)) => Some(format!("{b} on {o}")),
        (Some(b), None) => Some(b),
        (None, Some(o)) => Some(format!("A browser on {o}")),
        (None, None) => Some("An unrecognised browser".to_owned()),
    }
}

/// The line for an action tracked at `created_at` with these attributes.
pub fn describe(
    action_code: &str,
    custom: Option<&Map<String, Value>>,
    user_agent: Option<&str>,
    ip_address: Option<&str>,
    created_at: DateTime<Utc>,
) -> ChallengeContext {
    let application = custom
        .and_then(|c| c.get("clientName"))
        .and_then(Value::as_str)
        .and_then(|name| bounded(name, MAX_APPLICATION_CHARS))
        .unwrap_or_else(|| action_code.to_owned());
    let browser = user_agent
        .filter(|ua| !ua.trim().is_empty())
        .and_then(browser_label);
    let address = ip_address.and_then(|ip| bounded(ip, MAX_ADDRESS_CHARS));
    let requested_at = created_at.format("%-d %b %Y, %H:%M UTC").to_string();
    let line = [
        Some(&application),
        browser.as_ref(),
        address.as_ref(),
        Some(&requested_at),
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect::<Vec<_>>()
    .join(" · ");
    ChallengeContext {
        application,
        browser,
        address,
        requested_at,
        line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36";

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 14, 5, 9).unwrap()
    }

    fn custom(name: &str) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("clientName".into(), Value::String(name.into()));
        map
    }

    #[test]
    fn the_line_names_the_application_browser_address_and_time() {
        let c = describe(
            "identity-server-login",
            Some(&custom("Web client")),
            Some(CHROME_LINUX),
            Some("203.0.113.7"),
            at(),
        );
        assert_eq!(
            c.line,
            "Web client · Chrome on Linux · 203.0.113.7 · 1 Dec 2026, 14:05 UTC"
        );
    }

    #[test]
    fn without_a_client_name_the_action_code_names_the_application() {
        let c = describe("identity-server-login", None, None, None, at());
        assert_eq!(c.application, "identity-server-login");
        assert_eq!(c.line, "identity-server-login · 1 Dec 2026, 14:05 UTC");
        let mut not_text = Map::new();
        not_text.insert("clientName".into(), Value::from(7));
        let c = describe("signIn", Some(&not_text), None, None, at());
        assert_eq!(c.application, "signIn");
    }

    #[test]
    fn long_or_control_character_values_are_cut_and_cleaned() {
        let long = format!("Evil\napp{}", "x".repeat(500));
        let c = describe(
            "signIn",
            Some(&custom(&long)),
            Some(&"y".repeat(5000)),
            Some(&"1".repeat(300)),
            at(),
        );
        assert_eq!(c.application.chars().count(), MAX_APPLICATION_CHARS);
        assert!(!c.application.contains('\n'));
        assert_eq!(c.address.unwrap().chars().count(), MAX_ADDRESS_CHARS);
        assert_eq!(c.browser.as_deref(), Some("An unrecognised browser"));
        assert!(c.line.chars().count() < 250, "{}", c.line);
    }

    #[test]
    fn browsers_get_a_short_label() {
        assert_eq!(
            browser_label(CHROME_LINUX).as_deref(),
            Some("Chrome on Linux")
        );
        assert_eq!(
            browser_label(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
            )
            .as_deref(),
            Some("Firefox on Windows")
        );
        assert_eq!(
            browser_label("curl/8.0").as_deref(),
            Some("An unrecognised browser")
        );
    }
}
