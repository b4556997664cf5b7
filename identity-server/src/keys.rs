//! RS256 signing keys: generated once with `rsa`, kept in the data directory (PKCS#8 PEM, mode
//! 0600), signed with `ring` (about 2.8x faster than `rsa`), identified by their RFC 7638
//! thumbprint, and published in the JWKS.
//!
//! # Rotation
//! `keys/keys.json` lists every key with the time it starts signing (`activate_at`) and the time
//! it stops being published (`retire_at`). [`rotate`] (the `identity-server rotate-key` command)
//! adds a new key that activates after a lead time (default one hour: relying parties refresh
//! their JWKS cache first) and schedules every older key to retire once the tokens it signed have
//! expired. A running server re-reads nothing: restart it after `rotate-key` (the new key is
//! published at once and signs from its `activate_at` on; retired keys are pruned at start).

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use ring::signature::{self, RsaKeyPair};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Writes through the workspace's one atomic, durable write; `private` files are owner-only.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let access = if private {
        durable_file::Access::OwnerOnly
    } else {
        durable_file::Access::Default
    };
    durable_file::write_atomic(path, bytes, access)
}

/// A key problem at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM is not an RSA private key ring accepts.
    #[error("signing key: {0}")]
    Invalid(String),
    /// The key files could not be read or written.
    #[error("signing key file '{path}': {message}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

/// One RSA key pair, ready to sign RS256 with `ring`.
pub struct SigningKey {
    kid: String,
    key_pair: RsaKeyPair,
    public_der: Vec<u8>,
    jwk: CoreJsonWebKey,
    rng: ring::rand::SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| KeyError::Invalid(format!("not an rsa private key pem: {e}")))?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let key_pair = RsaKeyPair::from_pkcs8(der.as_bytes())
            .map_err(|e| KeyError::Invalid(format!("refused by ring: {e}")))?;
        let n = key.n().to_bytes_be();
        let e = key.e().to_bytes_be();
        let kid = thumbprint(&n, &e);
        let public_der = key_pair.public().as_ref().to_vec();
        let jwk = CoreJsonWebKey::new_rsa(n, e, Some(JsonWebKeyId::new(kid.clone())));
        Ok(Self {
            kid,
            key_pair,
            public_der,
            jwk,
            rng: ring::rand::SystemRandom::new(),
        })
    }

    /// A new 2048-bit key as PKCS#8 PEM.
    pub fn generate_pem() -> Result<String, KeyError> {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| KeyError::Invalid(format!("generation failed: {e}")))?;
        key.to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// The `kid`: the key's RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK.
    pub fn jwk(&self) -> &CoreJsonWebKey {
        &self.jwk
    }

    /// RS256 signature of `message`.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut sig = vec![0u8; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .map_err(|_| KeyError::Invalid("signing failed".into()))?;
        Ok(sig)
    }

    /// Whether `sig` is a valid RS256 signature of `message` by this key.
    pub fn verify_rs256(&self, message: &[u8], sig: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.public_der)
            .verify(message, sig)
            .is_ok()
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match alg {
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 => self
                .sign_rs256(message)
                .map_err(|e| SigningError::Other(e.to_string())),
            other => Err(SigningError::UnsupportedAlg(format!("{other:?}"))),
        }
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.jwk.clone()
    }
}

/// RFC 7638 JWK thumbprint of an RSA public key (base64url SHA-256 of the canonical JSON).
pub fn thumbprint(n: &[u8], e: &[u8]) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        B64.encode(e),
        B64.encode(n)
    );
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct KeyEntry {
    kid: String,
    file: String,
    created: i64,
    activate_at: i64,
    #[serde(default)]
    retire_at: Option<i64>,
}

#[derive(Debug)]
struct ManagedKey {
    key: Arc<SigningKey>,
    activate_at: i64,
}

/// The published keys and the rule choosing the one that signs.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<ManagedKey>,
}

impl KeySet {
    /// A set of exactly one key, active now (tests, or a key managed outside the data dir).
    pub fn single(key: SigningKey) -> Self {
        Self {
            keys: vec![ManagedKey {
                key: Arc::new(key),
                activate_at: i64::MIN,
            }],
        }
    }

    /// Loads the keys in `<data_dir>/keys`, generating the first one when there is none and
    /// dropping keys past their `retire_at`.
    pub fn load_or_create(data_dir: &Path, now: i64) -> Result<Self, KeyError> {
        Self::load_or_create_in(&data_dir.join("keys"), now)
    }

    /// Loads the keys of the key directory `dir` (see [`KeySet::load_or_create`]). Only a
    /// directory without a manifest and without key files gets a first key: a lost manifest
    /// beside existing keys, or an empty or unreadable manifest, stops start-up (a silently new
    /// key would invalidate every token signed before).
    pub fn load_or_create_in(dir: &Path, now: i64) -> Result<Self, KeyError> {
        let manifest = dir.join("keys.json");
        if !manifest.exists() && has_pem_files(dir) {
            return Err(KeyError::Io {
                path: manifest.display().to_string(),
                message: "missing, but the directory holds key files; restore the manifest from a backup (a new key would invalidate every issued token)".into(),
            });
        }
        let mut entries = read_manifest(&manifest)?;
        let before = entries.len();
        entries.retain(|e| e.retire_at.is_none_or(|r| r > now));
        if entries.len() != before {
            write_manifest(&manifest, &entries)?;
        }
        if entries.is_empty() {
            entries.push(new_key_file(dir, now, now)?);
            write_manifest(&manifest, &entries)?;
            tracing::info!(kid = %entries[0].kid, "generated a new signing key");
        }
        let mut keys = Vec::new();
        for entry in &entries {
            let path = dir.join(&entry.file);
            let pem = std::fs::read_to_string(&path).map_err(|e| KeyError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            keys.push(ManagedKey {
                key: Arc::new(SigningKey::from_pem(&pem)?),
                activate_at: entry.activate_at,
            });
        }
        Ok(Self { keys })
    }

    /// The key that signs at `now`: the most recently activated one.
    pub fn signing_key(&self, now: i64) -> Arc<SigningKey> {
        let active = self
            .keys
            .iter()
            .filter(|k| k.activate_at <= now)
            .max_by_key(|k| k.activate_at);
        // Every set has a key activated at creation, so `active` is only `None` if the clock went
        // backwards past it; then the oldest key is the right one.
        let chosen = active.or_else(|| self.keys.iter().min_by_key(|k| k.activate_at));
        match chosen {
            Some(k) => Arc::clone(&k.key),
            None => unreachable_keyset(),
        }
    }

    /// The key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.keys
            .iter()
            .find(|k| k.key.kid == kid)
            .map(|k| Arc::clone(&k.key))
    }

    /// The JWKS: every published key, upcoming and retiring ones included.
    pub fn jwks(&self) -> CoreJsonWebKeySet {
        CoreJsonWebKeySet::new(self.keys.iter().map(|k| k.key.jwk.clone()).collect())
    }
}

#[allow(clippy::panic)]
fn unreachable_keyset() -> ! {
    // Constructors never build an empty set.
    panic!("key set is empty")
}

fn has_pem_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "pem"))
    })
}

fn read_manifest(path: &Path) -> Result<Vec<KeyEntry>, KeyError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let io = |e: &dyn std::fmt::Display| KeyError::Io {
        path: path.display().to_string(),
        message: format!(
            "{e}; restore it from a backup (a new key would invalidate every issued token)"
        ),
    };
    let text = std::fs::read_to_string(path).map_err(|e| io(&e))?;
    let entries: Vec<KeyEntry> = serde_json::from_str(&text).map_err(|e| io(&e))?;
    if entries.is_empty() {
        return Err(io(&"the manifest lists no key"));
    }
    Ok(entries)
}

fn write_manifest(path: &Path, entries: &[KeyEntry]) -> Result<(), KeyError> {
    let io = |e: &dyn std::fmt::Display| KeyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let bytes = serde_json::to_vec_pretty(entries).map_err(|e| io(&e))?;
    write_atomic(path, &bytes, false).map_err(|e| io(&e))
}

fn new_key_file(dir: &Path, now: i64, activate_at: i64) -> Result<KeyEntry, KeyError> {
    let pem = SigningKey::generate_pem()?;
    let kid = SigningKey::from_pem(&pem)?.kid;
    let file = format!("{kid}.pem");
    let path = dir.join(&file);
    write_atomic(&path, pem.as_bytes(), true).map_err(|e| KeyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(KeyEntry {
        kid,
        file,
        created: now,
        activate_at,
        retire_at: None,
    })
}

/// Adds a new key to `<data_dir>/keys` that starts signing `lead_secs` from now, and schedules
/// every older key without a retirement to retire `max_token_lifetime_secs` after that.
/// Returns the new `kid`. Restart the server afterwards.
pub fn rotate(
    data_dir: &Path,
    now: i64,
    lead_secs: i64,
    max_token_lifetime_secs: i64,
) -> Result<String, KeyError> {
    let dir = data_dir.join("keys");
    let manifest = dir.join("keys.json");
    let mut entries = read_manifest(&manifest)?;
    let entry = new_key_file(&dir, now, now + lead_secs)?;
    for old in entries.iter_mut().filter(|e| e.retire_at.is_none()) {
        old.retire_at = Some(entry.activate_at + max_token_lifetime_secs);
    }
    let kid = entry.kid.clone();
    entries.push(entry);
    write_manifest(&manifest, &entries)?;
    Ok(kid)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One key per test process: RSA generation is slow.
    pub(crate) fn test_key_pem() -> &'static str {
        static PEM: OnceLock<String> = OnceLock::new();
        PEM.get_or_init(|| SigningKey::generate_pem().unwrap())
    }

    #[test]
    fn a_signature_verifies_and_a_tampered_message_does_not() {
        let key = SigningKey::from_pem(test_key_pem()).unwrap();
        let sig = key.sign_rs256(b"hello").unwrap();
        assert!(key.verify_rs256(b"hello", &sig));
        assert!(!key.verify_rs256(b"hellp", &sig));
    }

    #[test]
    fn the_kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 section 3.1 example.
        let n = B64
            .decode("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
            .unwrap();
        let e = B64.decode("AQAB").unwrap();
        assert_eq!(
            thumbprint(&n, &e),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_pkcs1_pem_is_accepted_too() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(test_key_pem()).unwrap();
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap();
        let a = SigningKey::from_pem(&pkcs1).unwrap();
        let b = SigningKey::from_pem(test_key_pem()).unwrap();
        assert_eq!(a.kid(), b.kid());
    }

    #[test]
    fn garbage_is_refused_with_a_clear_error() {
        let err = SigningKey::from_pem("not a key").unwrap_err().to_string();
        assert!(err.contains("not an rsa private key"), "{err}");
    }

    #[test]
    fn rotation_publishes_the_new_key_before_it_signs_and_retires_the_old_one_later() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeySet::load_or_create(dir.path(), 1000).unwrap();
        let old_kid = first.signing_key(1000).kid().to_owned();
        let new_kid = rotate(dir.path(), 1000, 3600, 7200).unwrap();
        let set = KeySet::load_or_create(dir.path(), 1001).unwrap();
        assert_eq!(
            set.jwks().keys().len(),
            2,
            "the new key is published at once"
        );
        assert_eq!(
            set.signing_key(1001).kid(),
            old_kid,
            "but does not sign before its activation"
        );
        assert_eq!(set.signing_key(4600).kid(), new_kid);
        let later = KeySet::load_or_create(dir.path(), 1000 + 3600 + 7200 + 1).unwrap();
        assert_eq!(
            later.jwks().keys().len(),
            1,
            "the old key is gone once its tokens expired"
        );
        assert!(later.find(&old_kid).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn the_generated_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let set = KeySet::load_or_create(dir.path(), 0).unwrap();
        let kid = set.signing_key(0).kid().to_owned();
        let mode = std::fs::metadata(dir.path().join("keys").join(format!("{kid}.pem")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
