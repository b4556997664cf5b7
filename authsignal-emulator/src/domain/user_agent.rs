//! A small `User-Agent` parser for the `parsedUserAgent` of passkeys, following the names
//! ua-parser-js gives (which the service's field mirrors): browser (`Chrome`,
//! `Chrome Headless`, `Edge`, `Firefox`, `Safari`, `Mobile Safari`, `Opera`), engine (`Blink`,
//! `Gecko`, `WebKit`), OS (`Windows`, `macOS`, `iOS`, `Android`, `Linux`, `Chrome OS`), device
//! type `mobile`/`tablet` and CPU architecture. Anything it does not recognise is left out.

use authsignal_sdk::types::{ParsedUserAgent, UaComponent, UaCpu, UaDevice};

/// The version after `token` (up to the next space, `;` or `)`).
fn version_after(ua: &str, token: &str) -> Option<String> {
    let start = ua.find(token)? + token.len();
    let version: String = ua[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .collect();
    (!version.is_empty()).then(|| version.replace('_', "."))
}

fn component(name: &str, version: Option<String>, with_major: bool) -> UaComponent {
    let major = if with_major {
        version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .map(str::to_owned)
    } else {
        None
    };
    UaComponent {
        name: Some(name.to_owned()),
        version,
        major,
    }
}

fn browser(ua: &str) -> Option<UaComponent> {
    let found = [
        ("Edg/", "Edge"),
        ("EdgiOS/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("HeadlessChrome/", "Chrome Headless"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
    ]
    .iter()
    .find(|(token, _)| ua.contains(token));
    if let Some((token, name)) = found {
        return Some(component(name, version_after(ua, token), true));
    }
    if ua.contains("Safari/") && ua.contains("Version/") {
        let name = if ua.contains("Mobile/") {
            "Mobile Safari"
        } else {
            "Safari"
        };
        return Some(component(name, version_after(ua, "Version/"), true));
    }
    None
}

fn engine(ua: &str) -> Option<UaComponent> {
    if ua.contains("Chrome/") && !ua.contains("CriOS/") {
        return Some(component("Blink", version_after(ua, "Chrome/"), false));
    }
    if ua.contains("Gecko/") && ua.contains("rv:") {
        return Some(component("Gecko", version_after(ua, "rv:"), false));
    }
    if ua.contains("AppleWebKit/") {
        return Some(component(
            "WebKit",
            version_after(ua, "AppleWebKit/"),
            false,
        ));
    }
    None
}

fn os(ua: &str) -> Option<UaComponent> {
    if ua.contains("Windows NT") {
        let version = version_after(ua, "Windows NT ").map(|v| {
            match v.as_str() {
                "10.0" => "10",
                "6.3" => "8.1",
                "6.2" => "8",
                "6.1" => "7",
                other => return other.to_owned(),
            }
            .to_owned()
        });
        return Some(component("Windows", version, false));
    }
    if ua.contains("iPhone") || ua.contains("iPad") {
        return Some(component("iOS", version_after(ua, " OS "), false));
    }
    if ua.contains("Android") {
        return Some(component("Android", version_after(ua, "Android "), false));
    }
    if ua.contains("CrOS") {
        return Some(component("Chrome OS", None, false));
    }
    if ua.contains("Mac OS X") {
        return Some(component("macOS", version_after(ua, "Mac OS X "), false));
    }
    if ua.contains("Linux") {
        return Some(component("Linux", None, false));
    }
    None
}

fn device(ua: &str) -> Option<UaDevice> {
    let (device_type, vendor, model) = if ua.contains("iPad") {
        ("tablet", Some("Apple"), Some("iPad"))
    } else if ua.contains("iPhone") {
        ("mobile", Some("Apple"), Some("iPhone"))
    } else if ua.contains("Android") && ua.contains("Mobile") {
        ("mobile", None, None)
    } else if ua.contains("Android") {
        ("tablet", None, None)
    } else {
        return None;
    };
    Some(UaDevice {
        model: model.map(str::to_owned),
        device_type: Some(device_type.to_owned()),
        vendor: vendor.map(str::to_owned),
    })
}

fn cpu(ua: &str) -> Option<UaCpu> {
    let architecture = if ["x86_64", "Win64", "x64", "WOW64", "amd64"]
        .iter()
        .any(|t| ua.contains(t))
    {
        "amd64"
    } else if ua.contains("aarch64") || ua.contains("arm64") || ua.contains("ARM64") {
        "arm64"
    } else {
        return None;
    };
    Some(UaCpu {
        architecture: Some(architecture.to_owned()),
    })
}

/// Parses a `User-Agent` value (at most its first 512 characters are kept).
pub fn parse(ua: &str) -> ParsedUserAgent {
    let ua: String = ua.chars().take(512).collect();
    ParsedUserAgent {
        browser: browser(&ua),
        device: device(&ua),
        engine: engine(&ua),
        os: os(&ua),
        cpu: cpu(&ua),
        ua: Some(ua),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36";
    const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.8078.114 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    const FIREFOX_WINDOWS: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const EDGE_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Edg/138.0.3351.83";

    fn name(c: &Option<UaComponent>) -> Option<&str> {
        c.as_ref().and_then(|c| c.name.as_deref())
    }

    #[test]
    fn chrome_on_linux_is_chrome_blink_linux_amd64() {
        let parsed = parse(CHROME_LINUX);
        assert_eq!(name(&parsed.browser), Some("Chrome"));
        assert_eq!(
            parsed.browser.as_ref().unwrap().major.as_deref(),
            Some("138")
        );
        assert_eq!(name(&parsed.engine), Some("Blink"));
        assert_eq!(name(&parsed.os), Some("Linux"));
        assert_eq!(parsed.cpu.unwrap().architecture.as_deref(), Some("amd64"));
        assert!(parsed.device.is_none());
        assert_eq!(parsed.ua.as_deref(), Some(CHROME_LINUX));
    }

    #[test]
    fn headless_chrome_is_named_as_ua_parser_js_names_it() {
        assert_eq!(name(&parse(HEADLESS).browser), Some("Chrome Headless"));
    }

    #[test]
    fn safari_on_an_iphone_is_mobile_safari_on_ios() {
        let parsed = parse(SAFARI_IPHONE);
        assert_eq!(name(&parsed.browser), Some("Mobile Safari"));
        assert_eq!(name(&parsed.os), Some("iOS"));
        assert_eq!(parsed.os.unwrap().version.as_deref(), Some("17.5"));
        assert_eq!(
            parsed.device.unwrap().device_type.as_deref(),
            Some("mobile")
        );
        assert_eq!(name(&parsed.engine), Some("WebKit"));
    }

    #[test]
    fn firefox_on_windows_and_edge_on_a_mac_are_recognised() {
        let firefox = parse(FIREFOX_WINDOWS);
        assert_eq!(name(&firefox.browser), Some("Firefox"));
        assert_eq!(name(&firefox.engine), Some("Gecko"));
        assert_eq!(firefox.os.unwrap().version.as_deref(), Some("10"));
        let edge = parse(EDGE_MAC);
        assert_eq!(name(&edge.browser), Some("Edge"));
        assert_eq!(name(&edge.os), Some("macOS"));
    }

    #[test]
    fn an_unknown_agent_keeps_only_the_raw_string() {
        let parsed = parse("curl/8.5.0");
        assert!(parsed.browser.is_none() && parsed.os.is_none() && parsed.engine.is_none());
        assert_eq!(parsed.ua.as_deref(), Some("curl/8.5.0"));
    }
}
