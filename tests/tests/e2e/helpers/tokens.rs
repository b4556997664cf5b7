//! Tokens as the tests see them: JWT decoding and RS256 verification against the identity
//! server's JWKS (with `ring`, independent of the apps' own JWT code), PKCE, and the token
//! endpoint called directly with the `web` client's credentials.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A decoded (and, with [`Jwt::verify`], verified) JSON Web Token.
#[derive(Debug, Clone)]
pub struct Jwt {
    /// The compact serialisation.
    pub raw: String,
    /// The JOSE header.
    pub header: Value,
    /// The claims.
    pub claims: Value,
}

fn b64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("bad base64url in jwt: {e}"))
}

impl Jwt {
    /// Splits and decodes a compact JWT without checking its signature.
    pub fn decode(raw: &str) -> Jwt {
        let parts: Vec<&str> = raw.trim().split('.').collect();
        assert_eq!(parts.len(), 3, "a signed JWT has three parts: '{raw}'");
        let header = serde_json::from_slice(&b64(parts[0])).expect("jwt header is json");
        let claims = serde_json::from_slice(&b64(parts[1])).expect("jwt claims are json");
        Jwt {
            raw: raw.trim().to_owned(),
            header,
            claims,
        }
    }

    /// Checks the RS256 signature against the key of the JWKS whose `kid` matches.
    pub fn verify(&self, jwks: &Value) -> Result<(), String> {
        if self.header["alg"] != "RS256" {
            return Err(format!("alg is {}, expected RS256", self.header["alg"]));
        }
        let kid = self.header["kid"].as_str();
        let keys = jwks["keys"].as_array().ok_or("jwks has no keys")?;
        let key = keys
            .iter()
            .find(|k| k["kty"] == "RSA" && (kid.is_none() || k["kid"].as_str() == kid))
            .ok_or_else(|| format!("no RSA key with kid {kid:?} in jwks"))?;
        let n = b64(key["n"].as_str().ok_or("key has no n")?);
        let e = b64(key["e"].as_str().ok_or("key has no e")?);
        let (signed, sig) = self.raw.rsplit_once('.').ok_or("no signature")?;
        ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                signed.as_bytes(),
                &b64(sig),
            )
            .map_err(|_| "bad signature".to_owned())
    }

    /// A string claim.
    pub fn str(&self, claim: &str) -> Option<&str> {
        self.claims[claim].as_str()
    }

    /// An integer claim.
    pub fn int(&self, claim: &str) -> Option<i64> {
        self.claims[claim].as_i64()
    }

    /// The `amr` values.
    pub fn amr(&self) -> Vec<String> {
        self.claims["amr"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A random URL-safe string of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// The secret verifier.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn new() -> Self {
        let verifier = random_token(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}
