//! Secret values: the tenant API secret as a newtype with redacted `Debug` and a constant-time
//! comparison, and random values (session ids, CSRF tokens) drawn from the OS generator.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The tenant's Server API secret. Never printed: `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSecret(String);

impl ApiSecret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> ApiSecret {
        ApiSecret(value.into())
    }

    /// The secret itself, for signing. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares a presented secret in constant time (over SHA-256 digests, so neither the
    /// content nor the length leaks through timing).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let actual = Sha256::digest(presented);
        expected.ct_eq(&actual).into()
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret(<redacted>)")
    }
}

impl From<&str> for ApiSecret {
    fn from(value: &str) -> Self {
        ApiSecret::new(value)
    }
}

impl From<String> for ApiSecret {
    fn from(value: String) -> Self {
        ApiSecret::new(value)
    }
}

impl<'de> Deserialize<'de> for ApiSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(ApiSecret)
    }
}

impl Serialize for ApiSecret {
    /// Serialises as `<redacted>`: settings may be dumped for diagnostics, the secret never.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// `n` random bytes from the OS generator, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time equality of two strings.
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// SHA-256 of a value, hex. Used to store high-entropy codes (recovery codes) at rest.
pub fn sha256_hex(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_never_shows_in_debug_or_serialised_output() {
        let secret = ApiSecret::new("dev-emulator-secret-key");
        assert!(!format!("{secret:?}").contains("dev-emulator"));
        assert!(
            !serde_json::to_string(&secret)
                .unwrap()
                .contains("dev-emulator")
        );
    }

    #[test]
    fn the_secret_matches_only_itself() {
        let secret = ApiSecret::new("abc");
        assert!(secret.matches(b"abc"));
        assert!(!secret.matches(b"abd"));
        assert!(!secret.matches(b"abcd"));
        assert!(!secret.matches(b""));
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
        assert!(ct_eq_str(&a, &a.clone()));
        assert!(!ct_eq_str(&a, "short"));
    }
}
