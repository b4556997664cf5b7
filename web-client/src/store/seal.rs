//! What the session store keeps at rest: session ids only as SHA-256 digests ([`digest`]) and
//! sessions only sealed with AES-256-GCM ([`Sealer`]) under a key derived from the session
//! key with HKDF-SHA256, so the store's key is never the cookie's key. Every sealed value is
//! bound to where it is stored (the associated data is its storage key), so a value copied
//! under another session's key does not open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

use super::StoreError;

/// Format version, the first byte of every sealed value.
const VERSION: u8 = 1;
/// HKDF salt and info: fixed, distinct from anything else the session key is used for.
const SALT: &[u8] = b"web-client session store";
const INFO: &[u8] = b"aes-256-gcm sealing key v1";

/// The storage key of a session id: base64url (no padding) of its SHA-256 digest. Session ids
/// are 256 random bits, so a plain digest (no salt, no slow hash) is enough: it cannot be
/// reversed, and a store dump gives nothing to put in a cookie.
pub fn digest(session_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        session_id.as_bytes(),
    ))
}

/// Seals and opens session values (AES-256-GCM, random 96-bit nonces).
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

struct KeyLen;

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        AES_256_GCM.key_len()
    }
}

impl Sealer {
    /// The sealer of the store, derived from the session key's bytes. The error (which needs
    /// an output length HKDF-SHA256 cannot produce, so it does not happen for the 32 bytes here)
    /// stops start-up with a message rather than a panic.
    pub fn derive(session_key: &[u8]) -> Result<Self, String> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(session_key);
        let mut bytes = [0u8; 32];
        prk.expand(&[INFO], KeyLen)
            .and_then(|okm| okm.fill(&mut bytes))
            .map_err(|_| "session store: cannot derive the sealing key (hkdf-sha256)".to_owned())?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| "session store: the sealing key is not an aes-256-gcm key".to_owned())?;
        Ok(Self {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// `VERSION || nonce || ciphertext || tag`, with `context` as associated data.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| StoreError::Encoding("the system random generator failed".into()))?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut in_out,
            )
            .map_err(|_| StoreError::Encoding("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// The plaintext of `sealed`, or `None` if it was sealed under another key or context, or
    /// altered.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut in_out)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_the_same_key_and_context_only() {
        let sealer = Sealer::derive(&[7u8; 64]).unwrap();
        let sealed = sealer.seal(b"sess:a", b"the access token").unwrap();
        assert_eq!(
            sealer.open(b"sess:a", &sealed).as_deref(),
            Some(&b"the access token"[..])
        );
        assert!(sealer.open(b"sess:b", &sealed).is_none(), "another context");
        assert!(
            Sealer::derive(&[8u8; 64])
                .unwrap()
                .open(b"sess:a", &sealed)
                .is_none(),
            "another key"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(
            sealer.open(b"sess:a", &altered).is_none(),
            "an altered value"
        );
    }

    #[test]
    fn sealing_twice_gives_different_bytes_without_the_plaintext() {
        let sealer = Sealer::derive(&[7u8; 64]).unwrap();
        let a = sealer.seal(b"c", b"secret-token").unwrap();
        let b = sealer.seal(b"c", b"secret-token").unwrap();
        assert_ne!(a, b, "nonces are fresh");
        assert!(!a.windows(12).any(|w| w == b"secret-token"));
    }

    #[test]
    fn the_digest_is_base64url_sha256_and_not_the_id() {
        let d = digest("session-id");
        assert_eq!(d.len(), 43);
        assert!(!d.contains("session-id"));
        assert_eq!(d, digest("session-id"));
        assert_ne!(d, digest("session-id2"));
    }
}
