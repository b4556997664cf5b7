//! Login transactions: the server-side record that binds an Authsignal challenge to the browser
//! that started it.
//!
//! After the password step (or the "Manage MFA" button) the server stores a [`LoginTransaction`]
//! under a random id and puts only that id into a `__Host-` cookie. The callback takes the
//! transaction out of the store (deleting it, whatever happens next), so a callback URL cannot be
//! replayed, cannot be completed in another browser and cannot be reached without the password
//! step. A login's transaction also carries its failed-login counters, so that the callback can
//! count a failed second factor against them. Transactions live behind the
//! [`LoginTransactionStore`] trait so that a shared store can replace the in-memory default when
//! several replicas run.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

use super::lockout::LockoutKey;

/// Name of the cookie that carries the transaction id (the `__Host-` prefix pins it to this
/// origin, path `/` and `Secure`).
pub const COOKIE_NAME: &str = "__Host-idsrv.mfa";

/// A boxed future, so that store traits stay object safe and can be backed by network stores.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The random id of a login transaction: 256 bits from the operating system's CSPRNG, base64url.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TransactionId(String);

impl TransactionId {
    /// Draws a fresh id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Parses an id taken from a cookie; anything that cannot be one of ours gives `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(raw.to_owned()))
    }

    /// The id as sent in the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares two ids in constant time.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id is a bearer secret for the duration of the challenge.
        f.write_str("TransactionId([redacted])")
    }
}

/// What the second factor is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Completing a sign-in that continues the stored authorize request.
    Login {
        /// Id of the pending authorize request.
        authorize_request_id: String,
        /// Whether the user asked for a persistent session.
        remember: bool,
        /// The failed-login counters of this login (the submitted username and the client
        /// address): a failed second factor counts against them, and a complete sign-in resets
        /// the username's.
        lockout_keys: Vec<LockoutKey>,
    },
    /// Opening the Authsignal settings page for a signed-in user.
    ManageMfa {
        /// The user's authenticators when the settings were opened (`None`: they could not be
        /// read), so that the page after the settings can say what changed. Display only.
        before: Option<Vec<KnownAuthenticator>>,
    },
}

/// An authenticator as the "Manage MFA" page saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownAuthenticator {
    /// Its id at Authsignal.
    pub id: String,
    /// Its verification method (wire name).
    pub method: String,
}

/// One pending second-factor step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginTransaction {
    /// Random id, also in the cookie.
    pub id: TransactionId,
    /// Subject of the user whose password was checked.
    pub subject: String,
    /// The Authsignal action code tracked for this transaction.
    pub action: String,
    /// Idempotency key returned by `track`: identifies this very action at Authsignal.
    pub idempotency_key: String,
    /// Creation time, unix seconds.
    pub created: i64,
    /// Expiry time, unix seconds.
    pub expires: i64,
    /// What the transaction completes.
    pub purpose: Purpose,
}

impl LoginTransaction {
    /// Builds a transaction with a fresh id, created now and valid for `lifetime`.
    pub fn new(
        subject: String,
        action: String,
        idempotency_key: String,
        purpose: Purpose,
        lifetime: Duration,
    ) -> Self {
        let created = now_unix();
        Self {
            id: TransactionId::generate(),
            subject,
            action,
            idempotency_key,
            created,
            expires: created.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
            purpose,
        }
    }

    /// Whether the transaction is past its lifetime at `now` (unix seconds).
    pub fn is_expired_at(&self, now: i64) -> bool {
        now >= self.expires
    }
}

/// Error of a transaction store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionStoreError {
    /// The backing store failed.
    #[error("login transaction store failed: {0}")]
    Backend(String),
}

/// Where login transactions are kept.
pub trait LoginTransactionStore: Send + Sync + fmt::Debug {
    /// Stores a new transaction.
    fn insert(
        &self,
        transaction: LoginTransaction,
    ) -> StoreFuture<'_, Result<(), TransactionStoreError>>;

    /// Removes the transaction with this id and returns it, unless it is unknown or expired
    /// (an expired one is removed too). A second `take` of the same id always gives `None`.
    fn take<'a>(
        &'a self,
        id: &'a TransactionId,
    ) -> StoreFuture<'a, Result<Option<LoginTransaction>, TransactionStoreError>>;
}

/// In-memory transaction store (the default for a single instance).
///
/// Bounded: expired entries are swept on insert, and when `capacity` live entries exist the
/// oldest is dropped, so a flood of abandoned logins cannot grow memory without limit.
#[derive(Debug)]
pub struct InMemoryTransactionStore {
    entries: Mutex<HashMap<String, LoginTransaction>>,
    capacity: usize,
}

impl InMemoryTransactionStore {
    /// A store holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LoginTransaction>> {
        // A panic while holding the lock cannot leave a half-written map (every operation is a
        // single insert or remove), so the data is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for InMemoryTransactionStore {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl LoginTransactionStore for InMemoryTransactionStore {
    fn insert(
        &self,
        transaction: LoginTransaction,
    ) -> StoreFuture<'_, Result<(), TransactionStoreError>> {
        let mut entries = self.lock();
        let now = now_unix();
        if entries.len() >= self.capacity {
            entries.retain(|_, t| !t.is_expired_at(now));
        }
        if entries.len() >= self.capacity
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, t)| t.created)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(transaction.id.as_str().to_owned(), transaction);
        Box::pin(std::future::ready(Ok(())))
    }

    fn take<'a>(
        &'a self,
        id: &'a TransactionId,
    ) -> StoreFuture<'a, Result<Option<LoginTransaction>, TransactionStoreError>> {
        let taken = self.lock().remove(id.as_str());
        let live = taken.filter(|t| !t.is_expired_at(now_unix()) && t.id.ct_eq(id));
        Box::pin(std::future::ready(Ok(live)))
    }
}

/// The cookie that binds the transaction to this browser.
pub fn cookie(id: &TransactionId, lifetime: Duration) -> Cookie<'static> {
    Cookie::build(COOKIE_NAME, id.as_str().to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// A cookie that makes the browser forget the transaction cookie.
pub fn removal_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE_NAME, "")
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

/// Current unix time in seconds.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction(lifetime: Duration) -> LoginTransaction {
        LoginTransaction::new(
            "sub-1".into(),
            "identity-server-login".into(),
            "key-1".into(),
            Purpose::Login {
                authorize_request_id: "ar-1".into(),
                remember: true,
                lockout_keys: vec![LockoutKey::user("alice")],
            },
            lifetime,
        )
    }

    fn block_on<T>(f: StoreFuture<'_, T>) -> T {
        futures_util::FutureExt::now_or_never(f).expect("in-memory store futures are ready")
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
    fn a_transaction_can_be_taken_exactly_once() {
        let store = InMemoryTransactionStore::default();
        let t = transaction(Duration::from_secs(600));
        let id = t.id.clone();
        block_on(store.insert(t.clone())).unwrap();
        assert_eq!(block_on(store.take(&id)).unwrap(), Some(t));
        assert_eq!(block_on(store.take(&id)).unwrap(), None);
    }

    #[test]
    fn an_unknown_id_gives_nothing() {
        let store = InMemoryTransactionStore::default();
        block_on(store.insert(transaction(Duration::from_secs(600)))).unwrap();
        assert_eq!(
            block_on(store.take(&TransactionId::generate())).unwrap(),
            None
        );
    }

    #[test]
    fn an_expired_transaction_is_not_returned_and_is_removed() {
        let store = InMemoryTransactionStore::default();
        let mut t = transaction(Duration::from_secs(600));
        t.expires = now_unix() - 1;
        let id = t.id.clone();
        block_on(store.insert(t)).unwrap();
        assert_eq!(block_on(store.take(&id)).unwrap(), None);
        assert!(store.lock().is_empty());
    }

    #[test]
    fn a_full_store_drops_expired_then_oldest_entries() {
        let store = InMemoryTransactionStore::new(2);
        let mut old = transaction(Duration::from_secs(600));
        old.created -= 100;
        let old_id = old.id.clone();
        let middle = transaction(Duration::from_secs(600));
        let middle_id = middle.id.clone();
        let newest = transaction(Duration::from_secs(600));
        let newest_id = newest.id.clone();
        block_on(store.insert(old)).unwrap();
        block_on(store.insert(middle)).unwrap();
        block_on(store.insert(newest)).unwrap();
        assert_eq!(block_on(store.take(&old_id)).unwrap(), None);
        assert!(block_on(store.take(&middle_id)).unwrap().is_some());
        assert!(block_on(store.take(&newest_id)).unwrap().is_some());
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
