//! The protocol: plain functions, unit-tested without the web framework. Handlers in
//! [`crate::routes`] parse the request, call into here, and shape the response.

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
/// dropped. Linear in the number of pairs (a set of the names seen).
pub fn parse_params(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body).into_owned() {
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
