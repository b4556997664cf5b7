//! A small `User-Agent` parser for the list of a user's sessions: "Chrome on Linux",
//! "Safari on iPhone", "Firefox on Windows". It only labels what the browser claims (the header
//! is the client's to forge), so nothing is ever decided on it; the label is bounded and made of
//! fixed words or the first token of the header, and the page escapes it like any other text.

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// Longest part of the header looked at (a longer header is cut, never refused).
const MAX_HEADER_BYTES: usize = 1024;

/// The label of a `User-Agent` header: browser and platform when both are known, else what is
/// known, else "Unknown browser".
pub fn label(user_agent: Option<&str>) -> String {
    let ua = user_agent.map(str::trim).unwrap_or_default();
    let ua = match ua.char_indices().nth(MAX_HEADER_BYTES) {
        Some((cut, _)) => &ua[..cut],
        None => ua,
    };
    let label = match (browser(ua), platform(ua)) {
        (Some(b), Some(p)) => format!("{b} on {p}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(p)) => format!("Browser on {p}"),
        (None, None) => other_client(ua).unwrap_or_else(|| "Unknown browser".to_owned()),
    };
    label.chars().take(MAX_LABEL_CHARS).collect()
}

/// The browser family. Order matters: Edge and Opera also say "Chrome", Chrome also says
/// "Safari".
fn browser(ua: &str) -> Option<&'static str> {
    let has = |s: &str| ua.contains(s);
    if has("Edg/") || has("EdgA/") || has("EdgiOS/") || has("Edge/") {
        Some("Edge")
    } else if has("OPR/") || has("Opera") {
        Some("Opera")
    } else if has("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("HeadlessChrome/") {
        Some("Headless Chrome")
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else if has("curl/") {
        Some("curl")
    } else {
        None
    }
}

/// The platform. iPadOS and Android before the desktop systems they mention.
fn platform(ua: &str) -> Option<&'static str> {
    let has = |s: &str| ua.contains(s);
    if has("iPhone") {
        Some("iPhone")
    } else if has("iPad") {
        Some("iPad")
    } else if has("Android") {
        Some("Android")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") || has("X11") {
        Some("Linux")
    } else {
        None
    }
}

/// A client that is not a browser: the product name of its first token (`reqwest/0.12` ->
/// `reqwest`), if it is plain ASCII.
fn other_client(ua: &str) -> Option<String> {
    let product = ua.split(['/', ' ']).next()?;
    let plain = !product.is_empty()
        && product.len() <= 32
        && product
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    plain.then(|| product.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_get_a_short_label() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
                "Firefox on Android",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
                "Headless Chrome on Linux",
            ),
            ("curl/8.5.0", "curl"),
            ("reqwest/0.12", "reqwest"),
        ];
        for (ua, expected) in cases {
            assert_eq!(label(Some(ua)), expected, "{ua}");
        }
    }

    #[test]
    fn a_missing_or_strange_header_is_an_unknown_browser() {
        assert_eq!(label(None), "Unknown browser");
        assert_eq!(label(Some("")), "Unknown browser");
        assert_eq!(label(Some("<script>alert(1)</script>")), "Unknown browser");
        assert_eq!(label(Some("☃/1.0")), "Unknown browser");
    }

    #[test]
    fn a_label_is_bounded_whatever_the_header() {
        let long = format!("{}/1.0", "a".repeat(10_000));
        assert!(label(Some(&long)).chars().count() <= MAX_LABEL_CHARS);
        let padded = format!("{} Chrome/1 Windows", "x".repeat(5000));
        assert!(label(Some(&padded)).chars().count() <= MAX_LABEL_CHARS);
    }
}
