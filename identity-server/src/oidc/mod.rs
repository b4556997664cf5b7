//! The protocol: plain functions, unit-tested without the web framework. Handlers in
//! [`crate::routes`] parse the request, call into here, and shape the response.

pub mod acr;
pub mod authorize;
pub mod claims;
pub mod grants;
pub mod jwt;
pub mod pkce;

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Current unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// 256 random bits from the OS CSPRNG, base64url (43 characters): codes, tokens, ids.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// base64url SHA-256: how codes and refresh tokens are keyed in the stores, so that a store
/// dump reveals no usable token.
pub fn sha256_b64(value: &str) -> String {
    B64.encode(Sha256::digest(value.as_bytes()))
}

/// Parses `application/x-www-form-urlencoded` pairs, refusing repeated parameters
/// (RFC 6749 3.1: parameters must not be included more than once), empty-valued repeats
/// included (`a=&a=x`). Empty values count as absent (OpenID Connect Core 3.1.2.1) and are
/// dropped. A name or value whose percent-escapes do not decode to UTF-8 is refused rather
/// than repaired: a `state` must come back exactly as sent (RFC 6749 4.1.2), so a value that
/// cannot be held exactly is not accepted at all. Linear in the number of pairs (a set of the
/// names seen).
pub fn parse_params(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        let Ok(k) = String::from_utf8(form_decode(raw_name)) else {
            return Err("a parameter name is not valid utf-8".into());
        };
        let Ok(v) = String::from_utf8(form_decode(raw_value)) else {
            let shown: String = k.chars().take(64).collect();
            return Err(format!("parameter '{shown}' is not valid utf-8"));
        };
        if seen.contains(&k) {
            let shown: String = k.chars().take(64).collect();
            return Err(format!("parameter '{shown}' is repeated"));
        }
        if !v.is_empty() {
            out.push((k.clone(), v));
        }
        seen.insert(k);
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded` byte decoding (`+` is a space, `%XX` a byte; a `%` not
/// followed by two hex digits stays literal, as the WHATWG URL standard says).
fn form_decode(raw: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Looks up a parameter.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(parse_params(b"a=1&a=2").unwrap_err().contains("'a'"));
    }

    #[test]
    fn a_parameter_repeated_after_an_empty_value_is_refused() {
        assert!(parse_params(b"a=&a=x").unwrap_err().contains("'a'"));
        assert!(parse_params(b"a=x&a=").unwrap_err().contains("'a'"));
        assert!(parse_params(b"a=&a=").is_err());
    }

    #[test]
    fn many_distinct_parameters_parse_and_a_long_repeated_name_is_shortened_in_the_error() {
        let body: String = (0..8000).map(|i| format!("k{i}=v&")).collect();
        assert_eq!(parse_params(body.as_bytes()).unwrap().len(), 8000);
        let long = "n".repeat(1000);
        let err = parse_params(format!("{long}=1&{long}=2").as_bytes()).unwrap_err();
        assert!(err.len() < 100, "{err}");
    }

    #[test]
    fn a_value_with_invalid_utf8_percent_escapes_is_refused_not_repaired() {
        let err = parse_params(b"client_id=web&state=%FF%FEab").unwrap_err();
        assert!(err.contains("'state'") && err.contains("utf-8"), "{err}");
        assert!(parse_params(b"%C3=1").is_err());
    }

    #[test]
    fn form_decoding_matches_the_url_crate_for_valid_input() {
        let body = b"a=x+y%20z&b=%E2%82%AC&c=100%&d=%zz&e&f==g";
        let ours = parse_params(body).unwrap();
        let theirs: Vec<(String, String)> = url::form_urlencoded::parse(body)
            .into_owned()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn empty_parameters_count_as_absent() {
        let p = parse_params(b"a=&b=2").unwrap();
        assert_eq!(param(&p, "a"), None);
        assert_eq!(param(&p, "b"), Some("2"));
    }

    #[test]
    fn random_tokens_are_43_characters_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
