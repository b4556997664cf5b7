//! The browser session: an `actix-session` cookie, encrypted and authenticated
//! (`CookieContentSecurity::Private`), named `__Host-webclient` (Secure, HttpOnly,
//! SameSite=Lax, Path=/, no Domain). It holds only small values: the pending sign-in (state,
//! nonce, PKCE verifier), the id of the server-side [`crate::store::SignedIn`] entry, the CSRF
//! token and the logout state. Also: the key that encrypts it.

use std::path::Path;

use actix_session::Session;
use actix_web::cookie::Key;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;

use crate::oidc::PendingSignIn;

/// Name of the session cookie. `__Host-` makes the browser refuse it unless it is Secure,
/// has Path=/ and no Domain: no subdomain can plant or read it.
pub const COOKIE_NAME: &str = "__Host-webclient";
/// How long a started sign-in may take before `/signin-oidc` refuses it.
pub const PENDING_LIFETIME_SECS: i64 = 10 * 60;

const PENDING: &str = "pending";
const SESSION_ID: &str = "sid";
const CSRF: &str = "csrf";
const LOGOUT_STATE: &str = "logout_state";
const KEY_FILE: &str = "session.key";

/// A random URL-safe token with `bytes` bytes of entropy (from the OS-seeded CSPRNG).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Typed access to the values kept in the session cookie.
pub struct WebSession<'a>(pub &'a Session);

impl std::fmt::Debug for WebSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebSession(<redacted>)")
    }
}

impl WebSession<'_> {
    /// Keeps the pending sign-in (replacing an older one: the newest tab wins).
    pub fn set_pending(&self, pending: &PendingSignIn) -> Result<(), String> {
        self.0.insert(PENDING, pending).map_err(|e| e.to_string())
    }

    /// Takes the pending sign-in out of the session: it is single use, also on failure.
    pub fn take_pending(&self) -> Option<PendingSignIn> {
        self.0
            .remove_as::<PendingSignIn>(PENDING)
            .and_then(Result::ok)
    }

    /// The id of the server-side session entry, if signed in.
    pub fn session_id(&self) -> Option<String> {
        self.0.get::<String>(SESSION_ID).ok().flatten()
    }

    /// Starts a signed-in session: everything else in the cookie is dropped and the cookie is
    /// renewed, so nothing from before the sign-in carries over.
    pub fn sign_in(&self, session_id: &str) -> Result<(), String> {
        self.0.clear();
        self.0.renew();
        self.0
            .insert(SESSION_ID, session_id)
            .map_err(|e| e.to_string())
    }

    /// Drops everything, e.g. when the server-side entry is gone or on sign-out.
    pub fn clear(&self) {
        self.0.clear();
        self.0.renew();
    }

    /// The CSRF token of this session, created on first use.
    pub fn csrf_token(&self) -> Result<String, String> {
        if let Some(token) = self.0.get::<String>(CSRF).ok().flatten() {
            return Ok(token);
        }
        let token = random_token(32);
        self.0.insert(CSRF, &token).map_err(|e| e.to_string())?;
        Ok(token)
    }

    /// Whether `submitted` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        match self.0.get::<String>(CSRF).ok().flatten() {
            Some(expected) => crate::secret::ct_eq(&expected, submitted),
            None => false,
        }
    }

    /// Keeps the `state` sent with the logout request.
    pub fn set_logout_state(&self, state: &str) -> Result<(), String> {
        self.0
            .insert(LOGOUT_STATE, state)
            .map_err(|e| e.to_string())
    }

    /// Takes the logout state out (single use).
    pub fn take_logout_state(&self) -> Option<String> {
        self.0
            .remove_as::<String>(LOGOUT_STATE)
            .and_then(Result::ok)
    }
}

/// The cookie key: from configuration (base64, at least 64 bytes), else from
/// `data_dir/session.key`, generated there (mode 0600) on first start; with no data dir, a
/// fresh key in memory.
pub fn load_or_generate_key(
    configured: Option<&crate::secret::Secret>,
    data_dir: Option<&Path>,
) -> Result<Key, String> {
    if let Some(secret) = configured {
        let bytes = STANDARD
            .decode(secret.expose().trim())
            .map_err(|_| "configuration key 'session_key': not valid base64".to_string())?;
        return Key::try_from(bytes.as_slice()).map_err(|_| {
            "configuration key 'session_key': must decode to at least 64 bytes".to_string()
        });
    }
    let Some(dir) = data_dir else {
        return Ok(Key::generate());
    };
    let path = dir.join(KEY_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| format!("session key file '{}': not valid base64", path.display()))?;
        return Key::try_from(bytes.as_slice()).map_err(|_| {
            format!(
                "session key file '{}': shorter than 64 bytes",
                path.display()
            )
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("data directory '{}': {e}", dir.display()))?;
    let mut raw = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    durable_file::write_atomic(
        &path,
        STANDARD.encode(raw).as_bytes(),
        durable_file::Access::OwnerOnly,
    )
    .map_err(|e| format!("session key file '{}': {e}", path.display()))?;
    Ok(Key::from(&raw))
}

/// Whether `path` is a safe local path to go back to after sign-in (no scheme, no host, no
/// `//` or `/\` that a browser would read as another origin).
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_and_reused_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate_key(None, Some(dir.path())).unwrap();
        let second = load_or_generate_key(None, Some(dir.path())).unwrap();
        assert_eq!(first.master(), second.master());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_configured_key_that_is_too_short_is_refused_naming_the_key() {
        let short = crate::secret::Secret::new(STANDARD.encode([1u8; 16]));
        let Err(err) = load_or_generate_key(Some(&short), None) else {
            panic!("accepted")
        };
        assert!(err.contains("'session_key'"), "{err}");
    }

    #[test]
    fn a_configured_key_is_used_as_given() {
        let raw = [7u8; 64];
        let key = load_or_generate_key(
            Some(&crate::secret::Secret::new(STANDARD.encode(raw))),
            None,
        )
        .unwrap();
        assert_eq!(key.master(), Key::from(&raw).master());
    }

    #[test]
    fn only_local_paths_are_accepted_as_return_targets() {
        assert!(is_local_path("/"));
        assert!(is_local_path("/userinfo"));
        assert!(!is_local_path("//evil.example"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("https://evil.example"));
        assert!(!is_local_path("/a\nb"));
    }

    #[test]
    fn random_tokens_are_long_and_different() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }
}
