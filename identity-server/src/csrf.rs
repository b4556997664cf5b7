//! CSRF protection for every form: a signed double-submit token. A random value lives in the
//! `__Host-idsrv.csrf` cookie (HttpOnly, Secure, SameSite=Lax); the form carries
//! HMAC-SHA256(server key, cookie value). A cross-site attacker can neither read the cookie nor
//! compute the HMAC. No server-side state is needed.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::startup::AppState;

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
