//! WebAuthn relying-party verification: the registration (W3C WebAuthn Level 3 §7.1) and
//! assertion (§7.2) checks the emulator applies for passkeys, as plain functions over `ring`
//! (signatures) and `ciborium` (CBOR), unit-tested one check at a time.
//!
//! Why not `webauthn-rs-core` 0.6 (OpenSSL-free since 0.6): measured here, its `COSEKey` cannot
//! verify EdDSA (`verify_signature` answers `SshPublicKeyEDUnsupported` for OKP keys), and
//! the relying party must accept ES256, EdDSA and RS256. Its assertion path also leaves the
//! `crossOrigin` and user-handle checks to the caller. What the emulator needs is narrow —
//! attestation `none`, three algorithms, the §7.1/§7.2 checks — so it is done here in full.
//!
//! Policy (stricter than the specification allows, never looser):
//! - user verification is required on registration and on every assertion (UP **and** UV);
//! - the attestation format must be `none` (what the emulator asks for; browsers honour it);
//! - the client data origin must equal one of the expected origins exactly, `crossOrigin` must
//!   not be `true`, and the `rpIdHash` must be SHA-256 of the RP id;
//! - an assertion must carry a user handle equal to the owner's (resident credentials only);
//! - the signature counter must rise whenever either side is non-zero (a clone is refused).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// COSE algorithm ES256 (ECDSA P-256 with SHA-256).
pub const ES256: i64 = -7;
/// COSE algorithm EdDSA (Ed25519).
pub const EDDSA: i64 = -8;
/// COSE algorithm RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
pub const RS256: i64 = -257;
/// The algorithms offered, in order of preference.
pub const ALGORITHMS: [i64; 3] = [ES256, EDDSA, RS256];

/// Longest credential id accepted (the specification's limit).
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// Why a registration or an assertion was refused. The messages are safe to show to the
/// browser: they name the failed check, never a key or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebauthnError {
    /// The response could not be decoded (base64url, JSON, CBOR, lengths).
    #[error("the credential is malformed: {0}")]
    Malformed(String),
    /// `type` is not `public-key`, or `id` differs from `rawId`.
    #[error("the credential type or id is not valid")]
    BadCredentialFields,
    /// The client data `type` is not the one of this ceremony.
    #[error("client data type '{0}' is not '{1}'")]
    WrongCeremony(String, &'static str),
    /// The client data challenge is not the one issued.
    #[error("the challenge does not match the one issued")]
    ChallengeMismatch,
    /// The client data origin is not an expected origin.
    #[error("origin '{0}' is not an expected origin")]
    OriginNotExpected(String),
    /// The ceremony ran in a cross-origin frame.
    #[error("cross-origin ceremonies are not accepted")]
    CrossOrigin,
    /// `rpIdHash` is not SHA-256 of the RP id.
    #[error("the rpIdHash is not the hash of rp id '{0}'")]
    RpIdHashMismatch(String),
    /// The user-present flag is not set.
    #[error("user presence is required")]
    UserNotPresent,
    /// The user-verified flag is not set.
    #[error("user verification is required")]
    UserNotVerified,
    /// The backup flags contradict each other or the stored credential.
    #[error("the backup flags are not consistent")]
    BackupFlags,
    /// Registration without attested credential data.
    #[error("the attested credential data is missing")]
    MissingCredentialData,
    /// The attestation format is not `none`.
    #[error("attestation format '{0}' is not accepted: 'none' was requested")]
    AttestationNotNone(String),
    /// The credential's algorithm was not offered.
    #[error("algorithm '{0}' is not accepted")]
    AlgorithmNotAllowed(i64),
    /// The public key is not a valid key of its algorithm.
    #[error("the public key is not valid: {0}")]
    BadPublicKey(&'static str),
    /// The signature does not verify.
    #[error("the signature is not valid")]
    BadSignature,
    /// The assertion has no user handle.
    #[error("the user handle is missing: only discoverable passkeys are accepted")]
    MissingUserHandle,
    /// The user handle is not the credential owner's.
    #[error("the user handle does not belong to the credential's owner")]
    UserHandleMismatch,
    /// The signature counter did not rise: the credential may have been cloned.
    #[error("the signature counter '{received}' did not rise above '{stored}'")]
    CounterNotIncreased {
        /// The counter stored.
        stored: u32,
        /// The counter presented.
        received: u32,
    },
}

fn malformed(what: impl Into<String>) -> WebauthnError {
    WebauthnError::Malformed(what.into())
}

/// Decodes base64url, with or without padding (SimpleWebAuthn sends it unpadded).
pub fn b64url_decode(value: &str, what: &str) -> Result<Vec<u8>, WebauthnError> {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| malformed(format!("{what} is not base64url")))
}

/// Encodes base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The relying party: its id, name and the origins the browser may run the ceremony from.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    rp_id: String,
    rp_name: String,
    rp_id_hash: [u8; 32],
    origins: Vec<String>,
}

impl RelyingParty {
    /// `origins` must already be validated (the configuration does it) and serialised as
    /// origins, e.g. `https://localhost:5001`.
    pub fn new(rp_id: &str, rp_name: &str, origins: Vec<String>) -> RelyingParty {
        RelyingParty {
            rp_id: rp_id.to_owned(),
            rp_name: rp_name.to_owned(),
            rp_id_hash: Sha256::digest(rp_id.as_bytes()).into(),
            origins,
        }
    }

    /// The RP id.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The RP name shown by authenticators.
    pub fn rp_name(&self) -> &str {
        &self.rp_name
    }

    /// The expected origins.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// Whether `origin` (an `Origin` header value) is an expected origin, exactly.
    pub fn is_expected_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    fn check_client_data(
        &self,
        client_data_json: &[u8],
        ceremony: &'static str,
        challenge: &[u8],
    ) -> Result<(), WebauthnError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ClientData {
            #[serde(rename = "type")]
            type_: String,
            challenge: String,
            origin: String,
            #[serde(default)]
            cross_origin: Option<bool>,
        }
        let data: ClientData = serde_json::from_slice(client_data_json)
            .map_err(|_| malformed("clientDataJSON is not the expected json"))?;
        if data.type_ != ceremony {
            return Err(WebauthnError::WrongCeremony(
                crate::domain::action_code::truncate(&data.type_),
                ceremony,
            ));
        }
        let presented = b64url_decode(&data.challenge, "the client data challenge")?;
        if !bool::from(presented.ct_eq(challenge)) {
            return Err(WebauthnError::ChallengeMismatch);
        }
        if !self.is_expected_origin(&data.origin) {
            return Err(WebauthnError::OriginNotExpected(
                crate::domain::action_code::truncate(&data.origin),
            ));
        }
        if data.cross_origin == Some(true) {
            return Err(WebauthnError::CrossOrigin);
        }
        Ok(())
    }

    fn check_flags(&self, auth: &AuthenticatorData) -> Result<(), WebauthnError> {
        if !bool::from(auth.rp_id_hash.ct_eq(&self.rp_id_hash)) {
            return Err(WebauthnError::RpIdHashMismatch(self.rp_id.clone()));
        }
        if auth.flags & FLAG_UP == 0 {
            return Err(WebauthnError::UserNotPresent);
        }
        if auth.flags & FLAG_UV == 0 {
            return Err(WebauthnError::UserNotVerified);
        }
        if auth.backup_state() && !auth.backup_eligible() {
            return Err(WebauthnError::BackupFlags);
        }
        Ok(())
    }

    /// §7.1: verifies a registration response against the challenge issued for it.
    pub fn verify_registration(
        &self,
        response: &RegistrationResponse,
        challenge: &[u8],
    ) -> Result<NewCredential, WebauthnError> {
        let raw_id = check_ids(&response.id, &response.raw_id, &response.type_)?;
        let client_data_json =
            b64url_decode(&response.response.client_data_json, "clientDataJSON")?;
        self.check_client_data(&client_data_json, "webauthn.create", challenge)?;

        let attestation =
            b64url_decode(&response.response.attestation_object, "attestationObject")?;
        let (fmt, att_stmt_empty, auth_data) = parse_attestation_object(&attestation)?;
        let auth = AuthenticatorData::parse(&auth_data)?;
        self.check_flags(&auth)?;
        let attested = auth
            .attested
            .as_ref()
            .ok_or(WebauthnError::MissingCredentialData)?;
        if fmt != "none" || !att_stmt_empty {
            return Err(WebauthnError::AttestationNotNone(
                crate::domain::action_code::truncate(&fmt),
            ));
        }
        if attested.credential_id != raw_id {
            return Err(WebauthnError::BadCredentialFields);
        }
        let key = CoseKey::parse(&attested.public_key)?;
        Ok(NewCredential {
            credential_id: b64url(&attested.credential_id),
            public_key: b64url(&attested.public_key),
            algorithm: key.algorithm(),
            aaguid: format_aaguid(&attested.aaguid),
            sign_count: auth.sign_count,
            backup_eligible: auth.backup_eligible(),
            backup_state: auth.backup_state(),
            transports: response.response.transports.clone(),
            authenticator_attachment: response
                .authenticator_attachment
                .clone()
                .filter(|a| a == "platform" || a == "cross-platform"),
        })
    }

    /// §7.2: verifies an assertion made with `credential` (found by the caller from the
    /// response's credential id) against the challenge issued for it. On success the caller
    /// must store the returned counter, atomically re-checking that it still rises.
    pub fn verify_assertion(
        &self,
        response: &AuthenticationResponse,
        challenge: &[u8],
        credential: &StoredCredential<'_>,
    ) -> Result<AssertionOutcome, WebauthnError> {
        let raw_id = check_ids(&response.id, &response.raw_id, &response.type_)?;
        if b64url(&raw_id) != credential.credential_id {
            return Err(WebauthnError::BadCredentialFields);
        }
        let user_handle = match response.response.user_handle.as_deref() {
            None | Some("") => return Err(WebauthnError::MissingUserHandle),
            Some(value) => b64url_decode(value, "userHandle")?,
        };
        if !bool::from(user_handle.ct_eq(credential.owner_user_handle)) {
            return Err(WebauthnError::UserHandleMismatch);
        }
        let client_data_json =
            b64url_decode(&response.response.client_data_json, "clientDataJSON")?;
        self.check_client_data(&client_data_json, "webauthn.get", challenge)?;
        let auth_data = b64url_decode(&response.response.authenticator_data, "authenticatorData")?;
        let auth = AuthenticatorData::parse(&auth_data)?;
        self.check_flags(&auth)?;
        if auth.backup_eligible() != credential.backup_eligible {
            return Err(WebauthnError::BackupFlags);
        }
        let key_bytes = b64url_decode(credential.public_key, "the stored public key")?;
        let key = CoseKey::parse(&key_bytes)?;
        let signature = b64url_decode(&response.response.signature, "signature")?;
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        if !key.verify(&signed, &signature) {
            return Err(WebauthnError::BadSignature);
        }
        check_counter(credential.sign_count, auth.sign_count)?;
        Ok(AssertionOutcome {
            sign_count: auth.sign_count,
            backup_state: auth.backup_state(),
        })
    }
}

/// §7.2 step 21: when either counter is non-zero the new one must be greater.
pub fn check_counter(stored: u32, received: u32) -> Result<(), WebauthnError> {
    if (stored != 0 || received != 0) && received <= stored {
        return Err(WebauthnError::CounterNotIncreased { stored, received });
    }
    Ok(())
}

fn check_ids(id: &str, raw_id: &str, type_: &str) -> Result<Vec<u8>, WebauthnError> {
    if type_ != "public-key" {
        return Err(WebauthnError::BadCredentialFields);
    }
    let raw = b64url_decode(raw_id, "rawId")?;
    if raw.is_empty() || raw.len() > MAX_CREDENTIAL_ID_BYTES {
        return Err(malformed("the credential id length is not valid"));
    }
    let id = b64url_decode(id, "id")?;
    if id != raw {
        return Err(WebauthnError::BadCredentialFields);
    }
    Ok(raw)
}

/// `RegistrationResponseJSON` (what `navigator.credentials.create()` gives, as JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    /// Credential id (base64url).
    pub id: String,
    /// The same id (base64url).
    pub raw_id: String,
    /// `public-key`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The attestation response.
    pub response: AttestationResponse,
    /// `platform` or `cross-platform`, as reported by the browser.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
}

/// The `response` of a registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponse {
    /// Client data (base64url of the JSON bytes).
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// The CBOR attestation object (base64url).
    pub attestation_object: String,
    /// Transports the authenticator reports.
    #[serde(default)]
    pub transports: Option<Vec<String>>,
}

/// `AuthenticationResponseJSON` (what `navigator.credentials.get()` gives, as JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponse {
    /// Credential id (base64url).
    pub id: String,
    /// The same id (base64url).
    pub raw_id: String,
    /// `public-key`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The assertion response.
    pub response: AssertionResponse,
}

/// The `response` of an assertion.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponse {
    /// Client data (base64url of the JSON bytes).
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// Authenticator data (base64url).
    pub authenticator_data: String,
    /// Signature (base64url).
    pub signature: String,
    /// The user handle (base64url), present for discoverable credentials.
    #[serde(default)]
    pub user_handle: Option<String>,
}

/// A credential that passed registration: what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// Credential id (base64url).
    pub credential_id: String,
    /// COSE_Key (base64url of the CBOR bytes).
    pub public_key: String,
    /// COSE algorithm.
    pub algorithm: i64,
    /// AAGUID, hyphenated lowercase.
    pub aaguid: String,
    /// Signature counter at registration.
    pub sign_count: u32,
    /// BE flag.
    pub backup_eligible: bool,
    /// BS flag.
    pub backup_state: bool,
    /// Transports reported by the browser.
    pub transports: Option<Vec<String>>,
    /// `platform` or `cross-platform`.
    pub authenticator_attachment: Option<String>,
}

/// What an assertion is checked against.
#[derive(Debug, Clone, Copy)]
pub struct StoredCredential<'a> {
    /// Credential id (base64url).
    pub credential_id: &'a str,
    /// COSE_Key (base64url).
    pub public_key: &'a str,
    /// The counter stored.
    pub sign_count: u32,
    /// The BE flag at registration.
    pub backup_eligible: bool,
    /// The owner's user handle (raw bytes).
    pub owner_user_handle: &'a [u8],
}

/// A verified assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssertionOutcome {
    /// The new counter.
    pub sign_count: u32,
    /// The BS flag now.
    pub backup_state: bool,
}

/// The parsed authenticator data (§6.1).
#[derive(Debug, Clone)]
struct AuthenticatorData {
    rp_id_hash: [u8; 32],
    flags: u8,
    sign_count: u32,
    attested: Option<AttestedCredential>,
}

#[derive(Debug, Clone)]
struct AttestedCredential {
    aaguid: [u8; 16],
    credential_id: Vec<u8>,
    /// The COSE_Key exactly as the authenticator encoded it.
    public_key: Vec<u8>,
}

impl AuthenticatorData {
    fn backup_eligible(&self) -> bool {
        self.flags & FLAG_BE != 0
    }

    fn backup_state(&self) -> bool {
        self.flags & FLAG_BS != 0
    }

    fn parse(bytes: &[u8]) -> Result<AuthenticatorData, WebauthnError> {
        if bytes.len() < 37 {
            return Err(malformed("authenticator data is shorter than 37 bytes"));
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&bytes[..32]);
        let flags = bytes[32];
        let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
        let mut rest = &bytes[37..];
        let attested = if flags & FLAG_AT != 0 {
            if rest.len() < 18 {
                return Err(malformed("attested credential data is truncated"));
            }
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&rest[..16]);
            let id_len = u16::from_be_bytes([rest[16], rest[17]]) as usize;
            rest = &rest[18..];
            if id_len == 0 || id_len > MAX_CREDENTIAL_ID_BYTES || rest.len() < id_len {
                return Err(malformed("the credential id length is not valid"));
            }
            let credential_id = rest[..id_len].to_vec();
            rest = &rest[id_len..];
            let before = rest.len();
            let mut reader = rest;
            let _: ciborium::Value = ciborium::de::from_reader(&mut reader)
                .map_err(|_| malformed("the credential public key is not cbor"))?;
            let used = before - reader.len();
            let public_key = rest[..used].to_vec();
            rest = &rest[used..];
            Some(AttestedCredential {
                aaguid,
                credential_id,
                public_key,
            })
        } else {
            None
        };
        if flags & FLAG_ED != 0 {
            let mut reader = rest;
            let _: ciborium::Value = ciborium::de::from_reader(&mut reader)
                .map_err(|_| malformed("the extension data is not cbor"))?;
            rest = reader;
        }
        if !rest.is_empty() {
            return Err(malformed("authenticator data has trailing bytes"));
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            attested,
        })
    }
}

/// `(fmt, attStmt is an empty map, authData)` of a CBOR attestation object.
fn parse_attestation_object(bytes: &[u8]) -> Result<(String, bool, Vec<u8>), WebauthnError> {
    let value: ciborium::Value =
        ciborium::de::from_reader(bytes).map_err(|_| malformed("attestationObject is not cbor"))?;
    let map = value
        .into_map()
        .map_err(|_| malformed("attestationObject is not a map"))?;
    let mut fmt = None;
    let mut att_stmt_empty = None;
    let mut auth_data = None;
    for (key, value) in map {
        match key.as_text() {
            Some("fmt") => fmt = value.into_text().ok(),
            Some("attStmt") => att_stmt_empty = value.as_map().map(|m| m.is_empty()),
            Some("authData") => auth_data = value.into_bytes().ok(),
            _ => {}
        }
    }
    match (fmt, att_stmt_empty, auth_data) {
        (Some(fmt), Some(empty), Some(auth_data)) => Ok((fmt, empty, auth_data)),
        _ => Err(malformed(
            "attestationObject lacks fmt, attStmt or authData",
        )),
    }
}

/// A credential public key (COSE_Key, RFC 9053) of one of the accepted algorithms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoseKey {
    /// EC2 P-256 point (uncompressed, `0x04 || x || y`).
    Es256(Vec<u8>),
    /// OKP Ed25519 public key.
    Ed25519(Vec<u8>),
    /// RSA modulus and exponent (big-endian, no leading zeros).
    Rs256 {
        /// Modulus.
        n: Vec<u8>,
        /// Exponent.
        e: Vec<u8>,
    },
}

impl CoseKey {
    /// Parses COSE_Key CBOR bytes; the algorithm must be ES256, EdDSA or RS256 with the
    /// matching key type and curve.
    pub fn parse(bytes: &[u8]) -> Result<CoseKey, WebauthnError> {
        let value: ciborium::Value = ciborium::de::from_reader(bytes)
            .map_err(|_| malformed("the credential public key is not cbor"))?;
        let map = value
            .into_map()
            .map_err(|_| malformed("the credential public key is not a map"))?;
        let int = |wanted: i128| {
            map.iter().find_map(|(k, v)| {
                k.as_integer()
                    .filter(|i| i128::from(*i) == wanted)
                    .map(|_| v)
            })
        };
        let as_int = |v: Option<&ciborium::Value>| {
            v.and_then(|v| v.as_integer())
                .and_then(|i| i64::try_from(i128::from(i)).ok())
        };
        let as_bytes = |v: Option<&ciborium::Value>| v.and_then(|v| v.as_bytes()).cloned();
        let kty = as_int(int(1)).ok_or(WebauthnError::BadPublicKey("kty is missing"))?;
        let alg = as_int(int(3)).ok_or(WebauthnError::BadPublicKey("alg is missing"))?;
        match (alg, kty) {
            (ES256, 2) => {
                if as_int(int(-1)) != Some(1) {
                    return Err(WebauthnError::BadPublicKey("the curve is not P-256"));
                }
                let (Some(x), Some(y)) = (as_bytes(int(-2)), as_bytes(int(-3))) else {
                    return Err(WebauthnError::BadPublicKey("x or y is missing"));
                };
                if x.len() != 32 || y.len() != 32 {
                    return Err(WebauthnError::BadPublicKey("x and y must be 32 bytes"));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(CoseKey::Es256(point))
            }
            (EDDSA, 1) => {
                if as_int(int(-1)) != Some(6) {
                    return Err(WebauthnError::BadPublicKey("the curve is not Ed25519"));
                }
                match as_bytes(int(-2)) {
                    Some(x) if x.len() == 32 => Ok(CoseKey::Ed25519(x)),
                    _ => Err(WebauthnError::BadPublicKey("x must be 32 bytes")),
                }
            }
            (RS256, 3) => {
                let (Some(n), Some(e)) = (as_bytes(int(-1)), as_bytes(int(-2))) else {
                    return Err(WebauthnError::BadPublicKey("n or e is missing"));
                };
                let strip = |v: Vec<u8>| {
                    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
                    v[start..].to_vec()
                };
                let (n, e) = (strip(n), strip(e));
                if n.len() < 256 || n.len() > 1024 {
                    return Err(WebauthnError::BadPublicKey(
                        "the modulus must be 2048 to 8192 bits",
                    ));
                }
                if e.is_empty() || e.len() > 4 {
                    return Err(WebauthnError::BadPublicKey("the exponent is not valid"));
                }
                Ok(CoseKey::Rs256 { n, e })
            }
            (alg, _) if !ALGORITHMS.contains(&alg) => Err(WebauthnError::AlgorithmNotAllowed(alg)),
            _ => Err(WebauthnError::BadPublicKey(
                "the key type does not match the algorithm",
            )),
        }
    }

    /// The COSE algorithm.
    pub fn algorithm(&self) -> i64 {
        match self {
            CoseKey::Es256(_) => ES256,
            CoseKey::Ed25519(_) => EDDSA,
            CoseKey::Rs256 { .. } => RS256,
        }
    }

    /// Verifies `signature` over `message` (ES256 signatures are ASN.1 DER, as WebAuthn sends
    /// them).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            CoseKey::Es256(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, point)
                    .verify(message, signature)
                    .is_ok()
            }
            CoseKey::Ed25519(key) => UnparsedPublicKey::new(&signature::ED25519, key)
                .verify(message, signature)
                .is_ok(),
            CoseKey::Rs256 { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
        }
    }
}

/// An AAGUID as the usual hyphenated lowercase string.
pub fn format_aaguid(aaguid: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*aaguid).hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soft_authenticator::{Algorithm, Ceremony, SoftAuthenticator};
    use serde_json::json;

    const ORIGIN: &str = "https://localhost:5001";
    const HANDLE: &[u8] = b"0123456789abcdef";

    fn rp() -> RelyingParty {
        RelyingParty::new(
            "localhost",
            "Test",
            vec![ORIGIN.into(), "https://localhost:5002".into()],
        )
    }

    fn creation_options(challenge: &[u8]) -> serde_json::Value {
        json!({
            "rp": {"id": "localhost", "name": "Test"},
            "user": {"id": b64url(HANDLE), "name": "alice", "displayName": "Alice"},
            "challenge": b64url(challenge),
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -257}],
        })
    }

    fn request_options(challenge: &[u8]) -> serde_json::Value {
        json!({"challenge": b64url(challenge), "rpId": "localhost", "allowCredentials": []})
    }

    fn register_with(
        authenticator: &mut SoftAuthenticator,
        ceremony: Ceremony,
    ) -> Result<NewCredential, WebauthnError> {
        let challenge = [7u8; 32];
        let response = authenticator
            .register(&creation_options(&challenge), &ceremony)
            .unwrap();
        let response: RegistrationResponse = serde_json::from_value(response).unwrap();
        rp().verify_registration(&response, &challenge)
    }

    fn register(ceremony: Ceremony) -> Result<NewCredential, WebauthnError> {
        register_with(&mut SoftAuthenticator::new(), ceremony)
    }

    /// A registered authenticator, its credential, and an assertion made with `ceremony`
    /// checked against the stored credential (counter `stored`).
    fn assert_with(ceremony: Ceremony, stored: u32) -> Result<AssertionOutcome, WebauthnError> {
        let mut authenticator = SoftAuthenticator::new();
        let credential = register_with(&mut authenticator, Ceremony::new(ORIGIN)).unwrap();
        let challenge = [9u8; 32];
        let response = authenticator
            .authenticate(&request_options(&challenge), &ceremony)
            .unwrap();
        let response: AuthenticationResponse = serde_json::from_value(response).unwrap();
        let public_key_b64 = credential.public_key.clone();
        rp().verify_assertion(
            &response,
            &challenge,
            &StoredCredential {
                credential_id: &credential.credential_id,
                public_key: &public_key_b64,
                sign_count: stored,
                backup_eligible: credential.backup_eligible,
                owner_user_handle: HANDLE,
            },
        )
    }

    #[test]
    fn an_honest_es256_registration_is_accepted_with_its_aaguid_and_counter() {
        let credential = register(Ceremony::new(ORIGIN)).unwrap();
        assert_eq!(credential.algorithm, ES256);
        assert_eq!(credential.aaguid, crate::soft_authenticator::DEFAULT_AAGUID);
        assert_eq!(credential.sign_count, 0);
        assert!(CoseKey::parse(&b64url_decode(&credential.public_key, "k").unwrap()).is_ok());
    }

    #[test]
    fn eddsa_and_rs256_registrations_are_accepted_and_their_assertions_verify() {
        for algorithm in [Algorithm::EdDsa, Algorithm::Rs256] {
            let mut authenticator = SoftAuthenticator::new().with_algorithm(algorithm);
            let credential = register_with(&mut authenticator, Ceremony::new(ORIGIN)).unwrap();
            assert_eq!(credential.algorithm, algorithm.cose());
            let challenge = [3u8; 32];
            let response = authenticator
                .authenticate(&request_options(&challenge), &Ceremony::new(ORIGIN))
                .unwrap();
            let response: AuthenticationResponse = serde_json::from_value(response).unwrap();
            let outcome = rp()
                .verify_assertion(
                    &response,
                    &challenge,
                    &StoredCredential {
                        credential_id: &credential.credential_id,
                        public_key: &credential.public_key,
                        sign_count: 0,
                        backup_eligible: false,
                        owner_user_handle: HANDLE,
                    },
                )
                .unwrap();
            assert_eq!(outcome.sign_count, 1);
        }
    }

    #[test]
    fn registration_refuses_a_get_ceremony_type() {
        let ceremony = Ceremony {
            client_data_type: Some("webauthn.get".into()),
            ..Ceremony::new(ORIGIN)
        };
        assert!(matches!(
            register(ceremony),
            Err(WebauthnError::WrongCeremony(..))
        ));
    }

    #[test]
    fn registration_refuses_another_challenge() {
        let ceremony = Ceremony {
            challenge: Some(vec![1u8; 32]),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(register(ceremony), Err(WebauthnError::ChallengeMismatch));
    }

    #[test]
    fn registration_refuses_an_unexpected_origin() {
        assert!(matches!(
            register(Ceremony::new("https://evil.example")),
            Err(WebauthnError::OriginNotExpected(_))
        ));
        // Same host, other port: not an expected origin either.
        assert!(matches!(
            register(Ceremony::new("https://localhost:5009")),
            Err(WebauthnError::OriginNotExpected(_))
        ));
    }

    #[test]
    fn registration_refuses_a_cross_origin_ceremony() {
        let ceremony = Ceremony {
            cross_origin: Some(true),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(register(ceremony), Err(WebauthnError::CrossOrigin));
    }

    #[test]
    fn registration_refuses_another_rp_id_hash() {
        let ceremony = Ceremony {
            rp_id: Some("example.com".into()),
            ..Ceremony::new(ORIGIN)
        };
        assert!(matches!(
            register(ceremony),
            Err(WebauthnError::RpIdHashMismatch(_))
        ));
    }

    #[test]
    fn registration_refuses_a_missing_user_presence_flag() {
        let ceremony = Ceremony {
            user_present: false,
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(register(ceremony), Err(WebauthnError::UserNotPresent));
    }

    #[test]
    fn registration_refuses_a_missing_user_verification_flag() {
        let ceremony = Ceremony {
            user_verified: false,
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(register(ceremony), Err(WebauthnError::UserNotVerified));
    }

    #[test]
    fn registration_refuses_an_attestation_other_than_none() {
        let ceremony = Ceremony {
            attestation_format: Some("packed".into()),
            ..Ceremony::new(ORIGIN)
        };
        assert!(matches!(
            register(ceremony),
            Err(WebauthnError::AttestationNotNone(_))
        ));
    }

    #[test]
    fn registration_refuses_an_algorithm_that_was_not_offered() {
        let ceremony = Ceremony {
            cose_algorithm: Some(-35),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(
            register(ceremony),
            Err(WebauthnError::AlgorithmNotAllowed(-35))
        );
    }

    #[test]
    fn registration_refuses_a_credential_id_other_than_the_attested_one() {
        let ceremony = Ceremony {
            response_id: Some(b64url(b"another id")),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(register(ceremony), Err(WebauthnError::BadCredentialFields));
    }

    #[test]
    fn registration_refuses_backed_up_without_backup_eligibility() {
        let ceremony = Ceremony {
            backup_eligible: false,
            backup_state: true,
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(register(ceremony), Err(WebauthnError::BackupFlags));
    }

    #[test]
    fn an_honest_assertion_is_accepted_and_raises_the_counter() {
        let outcome = assert_with(Ceremony::new(ORIGIN), 0).unwrap();
        assert_eq!(outcome.sign_count, 1);
        assert!(!outcome.backup_state);
    }

    #[test]
    fn an_assertion_from_a_second_expected_origin_is_accepted() {
        assert!(assert_with(Ceremony::new("https://localhost:5002"), 0).is_ok());
    }

    #[test]
    fn assertion_refuses_a_create_ceremony_type() {
        let ceremony = Ceremony {
            client_data_type: Some("webauthn.create".into()),
            ..Ceremony::new(ORIGIN)
        };
        assert!(matches!(
            assert_with(ceremony, 0),
            Err(WebauthnError::WrongCeremony(..))
        ));
    }

    #[test]
    fn assertion_refuses_another_challenge() {
        let ceremony = Ceremony {
            challenge: Some(vec![2u8; 32]),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(
            assert_with(ceremony, 0),
            Err(WebauthnError::ChallengeMismatch)
        );
    }

    #[test]
    fn assertion_refuses_an_unexpected_origin() {
        assert!(matches!(
            assert_with(Ceremony::new("http://localhost:5001"), 0),
            Err(WebauthnError::OriginNotExpected(_))
        ));
    }

    #[test]
    fn assertion_refuses_a_cross_origin_ceremony() {
        let ceremony = Ceremony {
            cross_origin: Some(true),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(assert_with(ceremony, 0), Err(WebauthnError::CrossOrigin));
    }

    #[test]
    fn assertion_refuses_another_rp_id_hash() {
        let ceremony = Ceremony {
            rp_id: Some("localhost.evil".into()),
            ..Ceremony::new(ORIGIN)
        };
        assert!(matches!(
            assert_with(ceremony, 0),
            Err(WebauthnError::RpIdHashMismatch(_))
        ));
    }

    #[test]
    fn assertion_refuses_a_missing_user_presence_flag() {
        let ceremony = Ceremony {
            user_present: false,
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(assert_with(ceremony, 0), Err(WebauthnError::UserNotPresent));
    }

    #[test]
    fn assertion_refuses_a_missing_user_verification_flag() {
        let ceremony = Ceremony {
            user_verified: false,
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(
            assert_with(ceremony, 0),
            Err(WebauthnError::UserNotVerified)
        );
    }

    #[test]
    fn assertion_refuses_a_missing_user_handle() {
        let ceremony = Ceremony {
            user_handle: Some(None),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(
            assert_with(ceremony, 0),
            Err(WebauthnError::MissingUserHandle)
        );
    }

    #[test]
    fn assertion_refuses_a_user_handle_that_is_not_the_owners() {
        let ceremony = Ceremony {
            user_handle: Some(Some(b"fedcba9876543210".to_vec())),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(
            assert_with(ceremony, 0),
            Err(WebauthnError::UserHandleMismatch)
        );
    }

    #[test]
    fn assertion_refuses_a_bad_signature() {
        let ceremony = Ceremony {
            corrupt_signature: true,
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(assert_with(ceremony, 0), Err(WebauthnError::BadSignature));
    }

    #[test]
    fn assertion_refuses_a_counter_that_does_not_rise() {
        // The authenticator says 1; the server has seen 5: a clone.
        assert_eq!(
            assert_with(Ceremony::new(ORIGIN), 5),
            Err(WebauthnError::CounterNotIncreased {
                stored: 5,
                received: 1
            })
        );
    }

    #[test]
    fn assertion_refuses_a_change_of_backup_eligibility() {
        let ceremony = Ceremony {
            backup_eligible: true,
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(assert_with(ceremony, 0), Err(WebauthnError::BackupFlags));
    }

    #[test]
    fn assertion_refuses_a_credential_other_than_the_stored_one() {
        let ceremony = Ceremony {
            response_id: Some(b64url(b"someone else's credential")),
            ..Ceremony::new(ORIGIN)
        };
        assert_eq!(
            assert_with(ceremony, 0),
            Err(WebauthnError::BadCredentialFields)
        );
    }

    #[test]
    fn a_zero_counter_on_both_sides_is_allowed_and_any_other_must_rise() {
        assert!(check_counter(0, 0).is_ok());
        assert!(check_counter(0, 1).is_ok());
        assert!(check_counter(3, 4).is_ok());
        assert!(check_counter(3, 3).is_err());
        assert!(check_counter(3, 0).is_err());
    }

    #[test]
    fn garbage_never_panics_and_is_malformed() {
        let rp = rp();
        for bad in [
            json!({}),
            json!({"id": "!", "rawId": "!", "type": "public-key", "response": {"clientDataJSON": "", "attestationObject": ""}}),
            json!({"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}),
        ] {
            if let Ok(response) = serde_json::from_value::<RegistrationResponse>(bad) {
                assert!(rp.verify_registration(&response, &[0u8; 32]).is_err());
            }
        }
        assert!(AuthenticatorData::parse(&[0u8; 10]).is_err());
        let mut truncated = vec![0u8; 37];
        truncated[32] = FLAG_AT;
        assert!(AuthenticatorData::parse(&truncated).is_err());
        assert!(CoseKey::parse(b"\xa0").is_err());
        assert!(CoseKey::parse(b"").is_err());
        // A byte string claiming 4 GiB: refused from the bytes present, nothing allocated.
        assert!(CoseKey::parse(b"\x5a\xff\xff\xff\xff\x00").is_err());
        assert!(parse_attestation_object(b"\xbb\xff\xff\xff\xff\xff\xff\xff\xff").is_err());
    }
}
