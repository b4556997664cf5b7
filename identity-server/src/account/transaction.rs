//! Login transactions: the server-side record that binds an Authsignal challenge to the browser
//! that started it.
//!
//! After the password step (or the "Manage MFA" button) the server stores a [`LoginTransaction`]
//! under a random id and puts only that id into a `__Host-` cookie. The callback takes the
//! transaction out of the store (deleting it, whatever happens next), so a callback URL cannot be
//! replayed, cannot be completed in another browser and cannot be reached without the password
//! step. A login's transaction also carries its failed-login counters, so that the callback can
//! count a failed second factor against them. Transactions live behind the
//! [`LoginTransactionStore`] trait (embedded database or Redis, keyed by the digest of the id).

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};

pub use crate::store::records::KnownAuthenticator;
pub use crate::store::{
    LoginTransaction, LoginTransactionStore, Purpose, SecondFactorProof, TransactionId,
};

/// Name of the cookie that carries the transaction id (the `__Host-` prefix pins it to this
/// origin, path `/` and `Secure`).
pub const COOKIE_NAME: &str = "__Host-idsrv.mfa";

/// The cookie that binds the transaction to this browser.
pub fn cookie(id: &TransactionId, lifetime: Duration) -> Cookie<'static> {
    named_cookie(COOKIE_NAME, id, lifetime)
}

/// A cookie that makes the browser forget the transaction cookie.
pub fn removal_cookie() -> Cookie<'static> {
    named_removal_cookie(COOKIE_NAME)
}

/// A `__Host-` transaction cookie named `name` (HttpOnly, Secure, SameSite=Lax, path `/`) that
/// lives as long as its transaction.
pub fn named_cookie(name: &'static str, id: &TransactionId, lifetime: Duration) -> Cookie<'static> {
    Cookie::build(name, id.as_str().to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// A cookie that makes the browser forget the transaction cookie `name`.
pub fn named_removal_cookie(name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "")
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LockoutKey;

    fn transaction(lifetime: Duration) -> LoginTransaction {
        LoginTransaction::new(
            "sub-1".into(),
            "identity-server-login".into(),
            "key-1".into(),
            Purpose::Login {
                authorize_request_id: "ar-1".into(),
                remember: true,
                lockout_keys: vec![LockoutKey::user("alice")],
                proof: SecondFactorProof::Challenge,
                budget_counted: true,
            },
            lifetime,
        )
    }

    #[test]
    fn generated_ids_are_256_bit_base64url_and_distinct() {
        let a = TransactionId::generate();
        let b = TransactionId::generate();
        assert_eq!(a.as_str().len(), 43);
        assert!(TransactionId::parse(a.as_str()).is_some());
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_ids_are_not_parsed() {
        assert!(TransactionId::parse("").is_none());
        assert!(TransactionId::parse("short").is_none());
        assert!(TransactionId::parse(&"a".repeat(44)).is_none());
        assert!(TransactionId::parse(&format!("{}=", "a".repeat(42))).is_none());
    }

    #[test]
    fn debug_output_does_not_show_the_id() {
        let t = transaction(Duration::from_secs(60));
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.id.as_str()));
    }

    #[test]
    fn the_cookie_is_host_prefixed_secure_http_only_and_lax() {
        let id = TransactionId::generate();
        let c = cookie(&id, Duration::from_secs(600));
        assert_eq!(c.name(), "__Host-idsrv.mfa");
        assert_eq!(c.value(), id.as_str());
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.domain(), None);
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(
            c.max_age(),
            Some(actix_web::cookie::time::Duration::seconds(600))
        );
    }

    #[test]
    fn the_removal_cookie_expires_the_transaction_cookie() {
        let c = removal_cookie();
        assert_eq!(c.name(), COOKIE_NAME);
        assert_eq!(c.value(), "");
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.max_age(), Some(actix_web::cookie::time::Duration::ZERO));
    }
}
