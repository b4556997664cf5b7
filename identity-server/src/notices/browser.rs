//! "A browser not seen before for that account", without server-side state: a `__Host-` cookie
//! holds up to [`MAX_TAGS`] tags, one per account that signed in with this browser, each
//! `base64url(HMAC-SHA256(key, "known-browser\0" + subject))` cut to [`TAG_CHARS`] characters.
//! The key is derived from the key every replica shares for CSRF ([`derive_key`]), so every
//! replica computes the same tags; a tag names no account to whoever reads the cookie, and a
//! tag cannot be made for an account without the key (a forged or copied tag of another
//! account is just not this account's).
//!
//! A completed sign-in whose tag is absent is a new browser: the notice goes out (not for the
//! account's first enrollment, which gets "authenticator added" instead), and the tag is added,
//! the oldest dropped beyond [`MAX_TAGS`]. A cleared cookie makes every account's next sign-in
//! "new" again: the notice errs on the side of telling.

use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE_NAME: &str = "__Host-idsrv.known";
/// Tags kept at most (accounts remembered per browser).
pub const MAX_TAGS: usize = 8;
/// Characters of one tag (132 bits).
pub const TAG_CHARS: usize = 22;
/// The cookie's lifetime: 400 days, the most RFC 6265bis lets a browser keep.
pub const MAX_AGE_SECS: i64 = 400 * 24 * 3600;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of every length, so `new_from_slice` cannot fail; a zero MAC would
    // only make every browser look new.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The tag key, derived from the shared CSRF key (a separate key for a separate purpose).
pub fn derive_key(csrf_key: &[u8; 32]) -> [u8; 32] {
    hmac(csrf_key, &[b"identity-server known-browser key v1"])
}

/// The tag of `subject` under `key`.
pub fn tag(key: &[u8; 32], subject: &str) -> String {
    let mac = hmac(key, &[b"known-browser\0", subject.as_bytes()]);
    let mut t = B64.encode(mac);
    t.truncate(TAG_CHARS);
    t
}

/// The well-formed tags of a cookie value (`.`-separated), at most [`MAX_TAGS`], oldest first.
pub fn parse(value: &str) -> Vec<String> {
    value
        .split('.')
        .filter(|t| {
            t.len() == TAG_CHARS
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .take(MAX_TAGS * 2)
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .take(MAX_TAGS)
        .rev()
        .collect()
}

/// Whether `tags` hold `subject`'s tag (constant-time per tag).
pub fn knows(key: &[u8; 32], tags: &[String], subject: &str) -> bool {
    use subtle::ConstantTimeEq;
    let mine = tag(key, subject);
    tags.iter().fold(false, |found, t| {
        found | bool::from(t.as_bytes().ct_eq(mine.as_bytes()))
    })
}

/// `tags` with `subject`'s tag added (moved to the newest place if present), the oldest dropped
/// beyond [`MAX_TAGS`].
pub fn remember(key: &[u8; 32], mut tags: Vec<String>, subject: &str) -> Vec<String> {
    let mine = tag(key, subject);
    tags.retain(|t| *t != mine);
    tags.push(mine);
    let excess = tags.len().saturating_sub(MAX_TAGS);
    tags.drain(..excess);
    tags
}

/// The cookie holding `tags`: Secure, HttpOnly, SameSite=Lax, Path=/, 400 days.
pub fn cookie(tags: &[String]) -> Cookie<'static> {
    Cookie::build(COOKIE_NAME, tags.join("."))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(MAX_AGE_SECS))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_tag_is_22_base64url_characters_per_account_and_key() {
        let a = tag(&KEY, "alice");
        assert_eq!(a.len(), TAG_CHARS);
        assert_eq!(parse(&a), vec![a.clone()]);
        assert_ne!(a, tag(&KEY, "bob"));
        assert_ne!(a, tag(&[8; 32], "alice"), "another key, another tag");
        assert_eq!(a, tag(&KEY, "alice"), "every replica computes the same");
        assert!(!a.contains("alice"));
    }

    #[test]
    fn the_cookie_keeps_at_most_eight_accounts_dropping_the_oldest() {
        let mut tags = Vec::new();
        for i in 0..10 {
            tags = remember(&KEY, tags, &format!("user-{i}"));
        }
        assert_eq!(tags.len(), MAX_TAGS);
        assert!(!knows(&KEY, &tags, "user-0") && !knows(&KEY, &tags, "user-1"));
        assert!((2..10).all(|i| knows(&KEY, &tags, &format!("user-{i}"))));
        // Signing in again moves the account to the newest place instead of adding it twice.
        let again = remember(&KEY, tags.clone(), "user-2");
        assert_eq!(again.len(), MAX_TAGS);
        assert_eq!(again.last(), Some(&tag(&KEY, "user-2")));
        let value = cookie(&again).value().to_owned();
        assert_eq!(parse(&value), again);
    }

    #[test]
    fn a_forged_or_foreign_tag_is_not_accepted_as_another_accounts() {
        let bobs = vec![tag(&KEY, "bob")];
        assert!(!knows(&KEY, &bobs, "alice"), "bob's tag is not alice's");
        let forged = vec![tag(&[0; 32], "alice"), "A".repeat(TAG_CHARS)];
        assert!(!knows(&KEY, &forged, "alice"));
        let junk = parse(&format!("{}.short.{}!x", "x".repeat(40), "y".repeat(21)));
        assert!(junk.is_empty(), "malformed tags are dropped: {junk:?}");
        let many = (0..50)
            .map(|i| tag(&KEY, &i.to_string()))
            .collect::<Vec<_>>();
        assert_eq!(
            parse(&many.join(".")).len(),
            MAX_TAGS,
            "bounded on read too"
        );
    }

    #[test]
    fn the_cookie_is_host_prefixed_secure_http_only_lax_and_lives_400_days() {
        let c = cookie(&[tag(&KEY, "alice")]);
        assert!(c.name().starts_with("__Host-"));
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.domain(), None);
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(
            c.max_age(),
            Some(actix_web::cookie::time::Duration::days(400))
        );
    }
}
