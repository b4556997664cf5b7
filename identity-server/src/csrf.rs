//! CSRF protection for every form: a signed double-submit token. A random value lives in the
//! `__Host-idsrv.csrf` cookie (HttpOnly, Secure, SameSite=Lax); the form carries
//! HMAC-SHA256(server key, cookie value). A cross-site attacker can neither read the cookie nor
//! compute the HMAC. No server-side state is needed, only a key that every replica shares
//! (`keys.csrf_secret`, or `csrf.key` in the key directory; see [`load_key`]).

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::state::AppState;

/// The cookie holding the random half.
pub const CSRF_COOKIE: &str = "__Host-idsrv.csrf";

/// A token to put in a hidden `csrf_token` field, and the cookie to set when it is new.
#[derive(Debug)]
pub struct CsrfToken {
    /// The form value.
    pub token: String,
    /// Add to the response when `Some` (first form of a browser).
    pub cookie: Option<Cookie<'static>>,
}

fn mac(key: &[u8], value: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC takes keys of any length; this branch cannot run.
        <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable_hmac())
    });
    mac.update(b"csrf:");
    mac.update(value.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> ! {
    panic!("hmac refused a key")
}

fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.cookie(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 43)
}

/// The CSRF token for this browser (creating its cookie when it has none).
pub fn issue(state: &AppState, req: &HttpRequest) -> CsrfToken {
    match cookie_value(req) {
        Some(value) => CsrfToken {
            token: mac(&state.csrf_key, &value),
            cookie: None,
        },
        None => {
            let value = crate::oidc::random_token();
            let cookie = Cookie::build(CSRF_COOKIE, value.clone())
                .path("/")
                .secure(true)
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish();
            CsrfToken {
                token: mac(&state.csrf_key, &value),
                cookie: Some(cookie),
            }
        }
    }
}

/// Whether `submitted` is the token for this browser's cookie (constant-time).
pub fn verify(state: &AppState, req: &HttpRequest, submitted: &str) -> bool {
    let Some(value) = cookie_value(req) else {
        return false;
    };
    let expected = mac(&state.csrf_key, &value);
    expected.as_bytes().ct_eq(submitted.as_bytes()).into()
}

/// Parses a CSRF key: 32 bytes as 64 hex digits or as base64url (43 characters).
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| "not hex".to_owned())?
    } else {
        B64.decode(text)
            .map_err(|_| "must be 32 bytes as 64 hex digits or base64url".to_owned())?
    };
    bytes
        .try_into()
        .map_err(|_| "must be 32 bytes as 64 hex digits or base64url".to_owned())
}

/// The CSRF key: the configured one, else `csrf.key` in `dir` (created once, mode 0600), else
/// (no directory: tests) a random one. An unreadable or malformed file stops start-up.
pub fn load_key(
    configured: Option<&str>,
    dir: Option<&std::path::Path>,
) -> Result<[u8; 32], String> {
    if let Some(text) = configured {
        return parse_key(text).map_err(|e| format!("keys.csrf_secret: {e}"));
    }
    let Some(dir) = dir else {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        return Ok(key);
    };
    let path = dir.join("csrf.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_key(&text).map_err(|e| {
            format!(
                "'{}': {e}; restore the file (every replica must share it) or delete it to make a new one (open forms then fail once)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::create_dir_all(dir).map_err(|e| format!("'{}': {e}", dir.display()))?;
            durable_file::write_atomic(&path, format!("{hex}\n").as_bytes(), durable_file::Access::OwnerOnly)
                .map_err(|e| format!("'{}': {e}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(format!("'{}': {e}", path.display())),
    }
}
