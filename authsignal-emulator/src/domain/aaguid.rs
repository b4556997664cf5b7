//! Passkey provider names by AAGUID: a small built-in slice of the community
//! "passkey authenticator AAGUIDs" list, enough for the providers people use on `localhost`
//! and for Chromium's virtual authenticator in the browser tests. Unknown AAGUIDs (and the
//! all-zero one that anonymising authenticators send) have no mapping; the passkey is then
//! simply called "Passkey".

/// The provider of an AAGUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    /// Display name, e.g. "iCloud Keychain".
    pub name: &'static str,
}

/// The name of a passkey whose AAGUID is unknown.
pub const DEFAULT_NAME: &str = "Passkey";

const PROVIDERS: &[(&str, &str)] = &[
    (
        "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4",
        "Google Password Manager",
    ),
    ("adce0002-35bc-c60a-648b-0b25f1f05503", "Chrome on Mac"),
    ("fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "iCloud Keychain"),
    (
        "dd4ec289-e01d-41c9-bb89-70fa845d4bf2",
        "iCloud Keychain (Managed)",
    ),
    ("08987058-cadc-4b81-b6e1-30de50dcbe96", "Windows Hello"),
    ("9ddd1817-af5a-4672-a2b9-3e3dd95000a9", "Windows Hello"),
    ("6028b017-b1d4-4c02-b4b3-afcdafc96bb2", "Windows Hello"),
    ("bada5566-a7aa-401f-bd96-45619a55120d", "1Password"),
    ("d548826e-79b4-db40-a3d8-11116f7e8349", "Bitwarden"),
    ("531126d6-e717-415c-9320-3d9aa6981239", "Dashlane"),
    // Chromium's DevTools/WebDriver virtual authenticator (the browser tests' authenticator).
    (
        "01020304-0506-0708-0102-030405060708",
        "Chromium virtual authenticator",
    ),
];

/// A generic passkey icon (light theme), as the service's `svgIconLight` data URL.
pub const ICON_LIGHT: &str = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAyNCAyNCIgZmlsbD0ibm9uZSIgc3Ryb2tlPSIjMWYyOTM3IiBzdHJva2Utd2lkdGg9IjIiPjxjaXJjbGUgY3g9IjkiIGN5PSI3IiByPSI0Ii8+PHBhdGggZD0iTTMgMjF2LTJhNCA0IDAgMCAxIDQtNGg0Ii8+PGNpcmNsZSBjeD0iMTgiIGN5PSIxNCIgcj0iMiIvPjxwYXRoIGQ9Ik0xOCAxNnY1bDEtMSIvPjwvc3ZnPg==";
/// The same icon for dark themes (`svgIconDark`).
pub const ICON_DARK: &str = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAyNCAyNCIgZmlsbD0ibm9uZSIgc3Ryb2tlPSIjZjlmYWZiIiBzdHJva2Utd2lkdGg9IjIiPjxjaXJjbGUgY3g9IjkiIGN5PSI3IiByPSI0Ii8+PHBhdGggZD0iTTMgMjF2LTJhNCA0IDAgMCAxIDQtNGg0Ii8+PGNpcmNsZSBjeD0iMTgiIGN5PSIxNCIgcj0iMiIvPjxwYXRoIGQ9Ik0xOCAxNnY1bDEtMSIvPjwvc3ZnPg==";

/// The provider of `aaguid` (hyphenated, any case), if it is in the built-in list.
pub fn provider(aaguid: &str) -> Option<Provider> {
    PROVIDERS
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(aaguid))
        .map(|(_, name)| Provider { name })
}

/// The display name of a passkey with this AAGUID.
pub fn passkey_name(aaguid: Option<&str>) -> String {
    aaguid
        .and_then(provider)
        .map_or(DEFAULT_NAME, |p| p.name)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn known_aaguids_have_their_provider_names() {
        assert_eq!(
            passkey_name(Some("EA9B8D66-4D01-1D21-3CE4-B6B48CB575D4")),
            "Google Password Manager"
        );
        assert_eq!(
            passkey_name(Some("fbfc3007-154e-4ecc-8c0b-6e020557d7bd")),
            "iCloud Keychain"
        );
        assert_eq!(
            passkey_name(Some("08987058-cadc-4b81-b6e1-30de50dcbe96")),
            "Windows Hello"
        );
        assert_eq!(
            passkey_name(Some("01020304-0506-0708-0102-030405060708")),
            "Chromium virtual authenticator"
        );
    }

    #[test]
    fn unknown_and_zero_aaguids_are_plain_passkeys() {
        assert_eq!(
            passkey_name(Some("00000000-0000-0000-0000-000000000000")),
            DEFAULT_NAME
        );
        assert_eq!(passkey_name(None), DEFAULT_NAME);
        assert!(provider("not an aaguid").is_none());
    }

    #[test]
    fn the_icons_are_svg_data_urls() {
        for icon in [ICON_LIGHT, ICON_DARK] {
            let encoded = icon
                .strip_prefix("data:image/svg+xml;base64,")
                .expect("a data url");
            let svg = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap();
            assert!(String::from_utf8(svg).unwrap().starts_with("<svg"));
        }
    }
}
