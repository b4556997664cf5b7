//! Track tokens: compact JWS (HS256) naming the user, the action and the idempotency key.
//!
//! The live service's token format is not documented (reference §4.4); the emulator follows what
//! the SDKs once decoded: `sub` = user id, `iat`, `exp` (10 minutes), and a custom claim `other`
//! holding `{tenantId, userId, actionCode, idempotencyKey}`, plus a `scope` claim. The HMAC key is
//! derived from the tenant secret (never the secret itself), one key per purpose, so a track
//! token can never pass as a session token or the other way round.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::secret::ApiSecret;

type HmacSha256 = Hmac<Sha256>;

/// The `other` claim: which action the token is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtherClaims {
    /// The tenant that issued the token.
    pub tenant_id: String,
    /// The user (same as `sub`).
    pub user_id: String,
    /// The action code.
    pub action_code: String,
    /// The action's idempotency key.
    pub idempotency_key: String,
}

/// The claims of a track token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The user id.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The action the token is for.
    pub other: OtherClaims,
    /// Space-separated scopes (`read:authenticators` by default).
    #[serde(default)]
    pub scope: String,
}

/// Access tokens issued by `POST /sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The user id.
    pub sub: String,
    /// The app client id (`clientId`).
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// A unique id, for revocation.
    pub jti: String,
    /// The method that verified the user, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact HS256 JWS with the expected claims.
    #[error("token is malformed")]
    Malformed,
    /// The signature does not match.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
}

/// What a key is used for: keys are derived per purpose from the tenant secret.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// Track tokens (`url`, `/validate`, the hosted pages).
    Track,
    /// Session access tokens (`/sessions`).
    Session,
}

/// An HMAC key derived from the tenant secret for one purpose.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// `HMAC-SHA256(secret, "authsignal-emulator/<purpose>/v1")`.
    pub fn derive(secret: &ApiSecret, purpose: Purpose) -> SigningKey {
        let label = match purpose {
            Purpose::Track => "authsignal-emulator/track-token/v1",
            Purpose::Session => "authsignal-emulator/session-token/v1",
        };
        let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
            .expect("hmac accepts keys of any length");
        mac.update(label.as_bytes());
        SigningKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("hmac accepts keys of any length")
    }

    /// Signs claims as a compact JWS `header.payload.signature`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise to json"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Verifies the signature (constant time), the header (`alg` must be `HS256`), then `exp`
    /// against `now` (Unix seconds), and returns the claims.
    pub fn verify<T: for<'de> Deserialize<'de> + HasExpiry>(
        &self,
        token: &str,
        now: i64,
    ) -> Result<T, TokenError> {
        if token.len() > 8192 {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;

        #[derive(Deserialize)]
        struct Header {
            alg: String,
        }
        let header: Header = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or(TokenError::Malformed)?;
        if header.alg != "HS256" {
            return Err(TokenError::Malformed);
        }
        let claims: T = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.expires_at() <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Claims that carry an `exp`.
pub trait HasExpiry {
    /// `exp` in Unix seconds.
    fn expires_at(&self) -> i64;
}

impl HasExpiry for TokenClaims {
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

impl HasExpiry for SessionClaims {
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> TokenClaims {
        TokenClaims {
            sub: "u1".into(),
            iat: 1000,
            exp,
            other: OtherClaims {
                tenant_id: "t".into(),
                user_id: "u1".into(),
                action_code: "login".into(),
                idempotency_key: "k".into(),
            },
            scope: "read:authenticators".into(),
        }
    }

    fn key() -> SigningKey {
        SigningKey::derive(&ApiSecret::new("secret"), Purpose::Track)
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips_its_claims() {
        let token = key().sign(&claims(2000));
        let back: TokenClaims = key().verify(&token, 1500).unwrap();
        assert_eq!(back, claims(2000));
    }

    #[test]
    fn the_claims_use_the_documented_names() {
        let json = serde_json::to_value(claims(2000)).unwrap();
        assert_eq!(json["other"]["actionCode"], "login");
        assert_eq!(json["other"]["idempotencyKey"], "k");
        assert_eq!(json["other"]["tenantId"], "t");
    }

    #[test]
    fn an_expired_token_is_refused() {
        let token = key().sign(&claims(2000));
        assert_eq!(
            key().verify::<TokenClaims>(&token, 2000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_or_purpose_is_refused() {
        let token = key().sign(&claims(2000));
        let other = SigningKey::derive(&ApiSecret::new("other"), Purpose::Track);
        assert_eq!(
            other.verify::<TokenClaims>(&token, 1500),
            Err(TokenError::BadSignature)
        );
        let session = SigningKey::derive(&ApiSecret::new("secret"), Purpose::Session);
        assert_eq!(
            session.verify::<TokenClaims>(&token, 1500),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let token = key().sign(&claims(2000));
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims(9_999_999);
        forged.sub = "attacker".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(
            key().verify::<TokenClaims>(&tampered, 1500),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn garbage_and_alg_none_are_malformed_not_a_panic() {
        for bad in ["", "a", "a.b", "a.b.c", "a.b.c.d", "...", "é.é.é"] {
            assert!(key().verify::<TokenClaims>(bad, 1500).is_err(), "{bad}");
        }
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(2000)).unwrap());
        assert!(
            key()
                .verify::<TokenClaims>(&format!("{none_header}.{payload}."), 1500)
                .is_err()
        );
    }
}
