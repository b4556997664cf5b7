//! A software WebAuthn authenticator and client for tests (feature `soft-authenticator`): it
//! answers `PublicKeyCredentialCreationOptionsJSON` / `PublicKeyCredentialRequestOptionsJSON`
//! with real `RegistrationResponseJSON` / `AuthenticationResponseJSON`, as a browser with a
//! platform authenticator would, with resident (discoverable) credentials, attestation `none`
//! and ES256, EdDSA or RS256 keys (`ring`; RSA keys generated with `rsa`).
//!
//! Every field a relying party checks can be bent one at a time through [`Ceremony`] (flags,
//! origin, challenge, RP id, counter, user handle, signature), so each verification check has
//! a test that fails for exactly one reason. Never compiled into the emulator binary.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The AAGUID the authenticator reports unless told otherwise: Google Password Manager's, so
/// that its passkeys look like the ones the official SDKs' tests expect.
pub const DEFAULT_AAGUID: &str = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4";

/// A key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 / SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 / SHA-256, 2048 bits (COSE -257).
    Rs256,
}

impl Algorithm {
    /// The COSE algorithm number.
    pub fn cose(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
            Algorithm::Rs256 => -257,
        }
    }
}

/// How one ceremony is carried out. [`Ceremony::new`] is an honest browser on `origin`; each
/// other field bends one thing.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// The page's origin, put into the client data.
    pub origin: String,
    /// The UP flag.
    pub user_present: bool,
    /// The UV flag.
    pub user_verified: bool,
    /// The BE flag.
    pub backup_eligible: bool,
    /// The BS flag.
    pub backup_state: bool,
    /// Client data `type` instead of the ceremony's own.
    pub client_data_type: Option<String>,
    /// Challenge instead of the one in the options.
    pub challenge: Option<Vec<u8>>,
    /// Client data `crossOrigin` (absent when `None`).
    pub cross_origin: Option<bool>,
    /// RP id hashed into the authenticator data instead of the options' one.
    pub rp_id: Option<String>,
    /// Attestation format instead of `none`.
    pub attestation_format: Option<String>,
    /// COSE `alg` written into the public key instead of the key's own.
    pub cose_algorithm: Option<i64>,
    /// `id`/`rawId` of the response instead of the credential's.
    pub response_id: Option<String>,
    /// User handle instead of the credential's (`Some(None)`: no user handle).
    pub user_handle: Option<Option<Vec<u8>>>,
    /// Signature counter instead of the next one.
    pub sign_count: Option<u32>,
    /// Flip a bit of the signature.
    pub corrupt_signature: bool,
}

impl Ceremony {
    /// An honest ceremony on `origin`: user present and verified, not backed up.
    pub fn new(origin: &str) -> Ceremony {
        Ceremony {
            origin: origin.to_owned(),
            user_present: true,
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
            client_data_type: None,
            challenge: None,
            cross_origin: None,
            rp_id: None,
            attestation_format: None,
            cose_algorithm: None,
            response_id: None,
            user_handle: None,
            sign_count: None,
            corrupt_signature: false,
        }
    }
}

/// A credential held by the authenticator (cloneable, to play a cloned authenticator).
#[derive(Clone)]
pub struct SoftCredential {
    /// Credential id.
    pub id: Vec<u8>,
    /// The RP id it is scoped to.
    pub rp_id: String,
    /// The user handle the RP gave at registration.
    pub user_handle: Vec<u8>,
    /// The key algorithm.
    pub algorithm: Algorithm,
    /// The signature counter (the last value sent).
    pub sign_count: u32,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SoftCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftCredential")
            .field("id", &URL_SAFE_NO_PAD.encode(&self.id))
            .field("rp_id", &self.rp_id)
            .field("sign_count", &self.sign_count)
            .finish_non_exhaustive()
    }
}

/// The authenticator: its AAGUID, its key algorithm and its resident credentials.
pub struct SoftAuthenticator {
    aaguid: [u8; 16],
    algorithm: Algorithm,
    credentials: Vec<SoftCredential>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftAuthenticator")
            .field("algorithm", &self.algorithm)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(value: &Value, what: &str) -> Result<Vec<u8>, String> {
    let text = value.as_str().ok_or_else(|| format!("{what} is missing"))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| format!("{what} is not base64url"))
}

fn cbor(value: &ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("cbor encodes into a vec");
    out
}

fn int(i: i64) -> ciborium::Value {
    ciborium::Value::Integer(i.into())
}

impl SoftAuthenticator {
    /// An ES256 authenticator with [`DEFAULT_AAGUID`] and no credentials.
    pub fn new() -> SoftAuthenticator {
        SoftAuthenticator {
            aaguid: *uuid::Uuid::parse_str(DEFAULT_AAGUID)
                .expect("the default aaguid parses")
                .as_bytes(),
            algorithm: Algorithm::Es256,
            credentials: Vec::new(),
            rng: SystemRandom::new(),
        }
    }

    /// Reports `aaguid` (hyphenated) instead.
    pub fn with_aaguid(mut self, aaguid: &str) -> SoftAuthenticator {
        self.aaguid = *uuid::Uuid::parse_str(aaguid)
            .expect("a valid aaguid")
            .as_bytes();
        self
    }

    /// Makes keys of `algorithm` instead.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> SoftAuthenticator {
        self.algorithm = algorithm;
        self
    }

    /// The credentials held, oldest first.
    pub fn credentials(&self) -> &[SoftCredential] {
        &self.credentials
    }

    /// Holds a copy of another authenticator's credential (a clone).
    pub fn add_credential(&mut self, credential: SoftCredential) {
        self.credentials.push(credential);
    }

    fn generate_key(&self) -> Result<Vec<u8>, String> {
        match self.algorithm {
            Algorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.rng)
                    .map(|d| d.as_ref().to_vec())
                    .map_err(|_| "cannot generate an es256 key".to_owned())
            }
            Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&self.rng)
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| "cannot generate an ed25519 key".to_owned()),
            Algorithm::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                    .map_err(|e| format!("cannot generate an rsa key: {e}"))?;
                key.to_pkcs8_der()
                    .map(|d| d.as_bytes().to_vec())
                    .map_err(|e| format!("cannot encode the rsa key: {e}"))
            }
        }
    }

    fn cose_key(&self, credential: &SoftCredential, alg: i64) -> Result<Vec<u8>, String> {
        let map = match credential.algorithm {
            Algorithm::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    &credential.pkcs8,
                    &self.rng,
                )
                .map_err(|_| "bad es256 key".to_owned())?;
                let point = pair.public_key().as_ref();
                vec![
                    (int(1), int(2)),
                    (int(3), int(alg)),
                    (int(-1), int(1)),
                    (int(-2), ciborium::Value::Bytes(point[1..33].to_vec())),
                    (int(-3), ciborium::Value::Bytes(point[33..65].to_vec())),
                ]
            }
            Algorithm::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(&credential.pkcs8)
                    .map_err(|_| "bad ed25519 key".to_owned())?;
                vec![
                    (int(1), int(1)),
                    (int(3), int(alg)),
                    (int(-1), int(6)),
                    (
                        int(-2),
                        ciborium::Value::Bytes(pair.public_key().as_ref().to_vec()),
                    ),
                ]
            }
            Algorithm::Rs256 => {
                use rsa::pkcs8::DecodePrivateKey;
                use rsa::traits::PublicKeyParts;
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&credential.pkcs8)
                    .map_err(|_| "bad rsa key".to_owned())?;
                vec![
                    (int(1), int(3)),
                    (int(3), int(alg)),
                    (int(-1), ciborium::Value::Bytes(key.n().to_bytes_be())),
                    (int(-2), ciborium::Value::Bytes(key.e().to_bytes_be())),
                ]
            }
        };
        Ok(cbor(&ciborium::Value::Map(map)))
    }

    fn sign(&self, credential: &SoftCredential, message: &[u8]) -> Result<Vec<u8>, String> {
        match credential.algorithm {
            Algorithm::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    &credential.pkcs8,
                    &self.rng,
                )
                .map_err(|_| "bad es256 key".to_owned())?;
                pair.sign(&self.rng, message)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| "es256 signing failed".to_owned())
            }
            Algorithm::EdDsa => Ed25519KeyPair::from_pkcs8(&credential.pkcs8)
                .map(|pair| pair.sign(message).as_ref().to_vec())
                .map_err(|_| "ed25519 signing failed".to_owned()),
            Algorithm::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(&credential.pkcs8)
                    .map_err(|_| "bad rsa key".to_owned())?;
                let mut signature = vec![0u8; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .map_err(|_| "rs256 signing failed".to_owned())?;
                Ok(signature)
            }
        }
    }

    fn flags(ceremony: &Ceremony, attested: bool) -> u8 {
        let mut flags = 0u8;
        if ceremony.user_present {
            flags |= 0x01;
        }
        if ceremony.user_verified {
            flags |= 0x04;
        }
        if ceremony.backup_eligible {
            flags |= 0x08;
        }
        if ceremony.backup_state {
            flags |= 0x10;
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    fn client_data(ceremony: &Ceremony, kind: &str, challenge: &[u8]) -> Vec<u8> {
        let challenge = ceremony.challenge.as_deref().unwrap_or(challenge);
        let mut data = json!({
            "type": ceremony.client_data_type.as_deref().unwrap_or(kind),
            "challenge": b64(challenge),
            "origin": ceremony.origin,
        });
        if let Some(cross) = ceremony.cross_origin {
            data["crossOrigin"] = json!(cross);
        }
        serde_json::to_vec(&data).expect("client data serialises")
    }

    /// `navigator.credentials.create()`: makes a resident credential for the options' RP and
    /// user, and answers `RegistrationResponseJSON`. Refuses (like a browser) when no offered
    /// algorithm is its own or a credential of its own is in `excludeCredentials`.
    pub fn register(&mut self, options: &Value, ceremony: &Ceremony) -> Result<Value, String> {
        let rp_id = options["rp"]["id"]
            .as_str()
            .ok_or("rp.id is missing")?
            .to_owned();
        let user_handle = unb64(&options["user"]["id"], "user.id")?;
        let challenge = unb64(&options["challenge"], "challenge")?;
        let offered = options["pubKeyCredParams"]
            .as_array()
            .is_some_and(|params| {
                params
                    .iter()
                    .any(|p| p["alg"].as_i64() == Some(self.algorithm.cose()))
            });
        if !offered {
            return Err("NotSupportedError: no offered algorithm is supported".into());
        }
        if let Some(excluded) = options["excludeCredentials"].as_array() {
            for item in excluded {
                let id = unb64(&item["id"], "excludeCredentials.id")?;
                if self.credentials.iter().any(|c| c.id == id) {
                    return Err("InvalidStateError: the authenticator is excluded".into());
                }
            }
        }
        let mut id = vec![0u8; 16];
        self.rng
            .fill(&mut id)
            .map_err(|_| "no randomness".to_owned())?;
        let credential = SoftCredential {
            id,
            rp_id: rp_id.clone(),
            user_handle,
            algorithm: self.algorithm,
            sign_count: 0,
            pkcs8: self.generate_key()?,
        };
        let cose = self.cose_key(
            &credential,
            ceremony.cose_algorithm.unwrap_or(self.algorithm.cose()),
        )?;
        let hashed_rp = ceremony.rp_id.as_deref().unwrap_or(&rp_id);
        let mut auth_data = Sha256::digest(hashed_rp.as_bytes()).to_vec();
        auth_data.push(Self::flags(ceremony, true));
        auth_data.extend_from_slice(&ceremony.sign_count.unwrap_or(0).to_be_bytes());
        auth_data.extend_from_slice(&self.aaguid);
        auth_data.extend_from_slice(&(credential.id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&credential.id);
        auth_data.extend_from_slice(&cose);
        let attestation = cbor(&ciborium::Value::Map(vec![
            (
                ciborium::Value::Text("fmt".into()),
                ciborium::Value::Text(
                    ceremony
                        .attestation_format
                        .clone()
                        .unwrap_or_else(|| "none".into()),
                ),
            ),
            (
                ciborium::Value::Text("attStmt".into()),
                ciborium::Value::Map(Vec::new()),
            ),
            (
                ciborium::Value::Text("authData".into()),
                ciborium::Value::Bytes(auth_data.clone()),
            ),
        ]));
        let client_data = Self::client_data(ceremony, "webauthn.create", &challenge);
        let id = ceremony
            .response_id
            .clone()
            .unwrap_or_else(|| b64(&credential.id));
        self.credentials.push(credential);
        Ok(json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "authenticatorData": b64(&auth_data),
                "transports": ["internal", "hybrid"],
                "publicKeyAlgorithm": self.algorithm.cose(),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {"credProps": {"rk": true}},
        }))
    }

    /// `navigator.credentials.get()`: signs with the first credential for the options' RP
    /// that `allowCredentials` allows (any, when it is empty: a discoverable request), and
    /// answers `AuthenticationResponseJSON`. Refuses (like a browser: `NotAllowedError`) when
    /// it holds none.
    pub fn authenticate(&mut self, options: &Value, ceremony: &Ceremony) -> Result<Value, String> {
        let rp_id = options["rpId"]
            .as_str()
            .ok_or("rpId is missing")?
            .to_owned();
        let challenge = unb64(&options["challenge"], "challenge")?;
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|c| unb64(&c["id"], "allowCredentials.id").ok())
                    .collect()
            })
            .unwrap_or_default();
        let index = self
            .credentials
            .iter()
            .position(|c| c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.id)))
            .ok_or("NotAllowedError: no credential for this request")?;
        let sign_count = ceremony
            .sign_count
            .unwrap_or(self.credentials[index].sign_count + 1);
        self.credentials[index].sign_count = sign_count;
        let credential = self.credentials[index].clone();
        let hashed_rp = ceremony.rp_id.as_deref().unwrap_or(&rp_id);
        let mut auth_data = Sha256::digest(hashed_rp.as_bytes()).to_vec();
        auth_data.push(Self::flags(ceremony, false));
        auth_data.extend_from_slice(&sign_count.to_be_bytes());
        let client_data = Self::client_data(ceremony, "webauthn.get", &challenge);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let mut signature = self.sign(&credential, &signed)?;
        if ceremony.corrupt_signature
            && let Some(last) = signature.last_mut()
        {
            *last ^= 0x01;
        }
        let user_handle = match &ceremony.user_handle {
            Some(handle) => handle.as_deref().map(b64),
            None => Some(b64(&credential.user_handle)),
        };
        let id = ceremony
            .response_id
            .clone()
            .unwrap_or_else(|| b64(&credential.id));
        let mut response = json!({
            "clientDataJSON": b64(&client_data),
            "authenticatorData": b64(&auth_data),
            "signature": b64(&signature),
        });
        if let Some(handle) = user_handle {
            response["userHandle"] = json!(handle);
        }
        Ok(json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }))
    }
}
