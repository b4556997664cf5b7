//! Compact JWS (RS256) for the tokens the openidconnect crate has no type for: access tokens in
//! the RFC 9068 shape (`typ: at+jwt`), and verification of our own tokens (access tokens,
//! `id_token_hint`). Only RS256 and only our own keys are accepted: no `alg: none`, no HMAC
//! confusion.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::keys::{KeySet, SigningKey};

/// A JWS header as we write and accept it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    /// Always `RS256`.
    pub alg: String,
    /// Token type, e.g. `at+jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url JSON parts.
    #[error("malformed token")]
    Malformed,
    /// Not RS256, unknown key, or a bad signature.
    #[error("bad signature")]
    Signature,
}

/// Signs `claims` as an RS256 JWS with `typ`.
pub fn encode(key: &SigningKey, typ: &str, claims: &impl Serialize) -> Result<String, String> {
    let header = Header {
        alg: "RS256".into(),
        typ: Some(typ.into()),
        kid: Some(key.kid().into()),
    };
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let claims = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let mut token = String::with_capacity(600);
    token.push_str(&B64.encode(header));
    token.push('.');
    token.push_str(&B64.encode(claims));
    let sig = key
        .sign_rs256(token.as_bytes())
        .map_err(|e| e.to_string())?;
    token.push('.');
    token.push_str(&B64.encode(sig));
    Ok(token)
}

/// Verifies an RS256 JWS signed by one of `keys` and returns its header and claims. Expiry and
/// audience are the caller's business.
pub fn decode(
    keys: &KeySet,
    token: &str,
) -> Result<(Header, serde_json::Map<String, Value>), JwtError> {
    if token.len() > 16 * 1024 {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if header.alg != "RS256" {
        return Err(JwtError::Signature);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.find(kid))
        .ok_or(JwtError::Signature)?;
    let sig = B64.decode(s).map_err(|_| JwtError::Malformed)?;
    let signed = &token[..h.len() + 1 + c.len()];
    if !key.verify_rs256(signed.as_bytes(), &sig) {
        return Err(JwtError::Signature);
    }
    let claims = B64
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    Ok((header, claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeySet {
        KeySet::single(SigningKey::from_pem(crate::keys::tests::test_key_pem()).unwrap())
    }

    #[test]
    fn a_token_round_trips() {
        let keys = keys();
        let token = encode(
            &keys.signing_key(0),
            "at+jwt",
            &serde_json::json!({"sub": "x"}),
        )
        .unwrap();
        let (header, claims) = decode(&keys, &token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(claims["sub"], "x");
    }

    #[test]
    fn a_tampered_or_unsigned_token_is_refused() {
        let keys = keys();
        let token = encode(
            &keys.signing_key(0),
            "at+jwt",
            &serde_json::json!({"sub": "x"}),
        )
        .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(br#"{"sub":"y"}"#),
            parts[2]
        );
        assert_eq!(decode(&keys, &forged).unwrap_err(), JwtError::Signature);
        let none = format!("{}.{}.", B64.encode(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(decode(&keys, &none).unwrap_err(), JwtError::Signature);
        assert_eq!(decode(&keys, "a.b").unwrap_err(), JwtError::Malformed);
    }
}
