//! Server-side store of signed-in sessions: the tokens and claims are kept here, keyed by a
//! random id, so that the encrypted session cookie stays far below the 4 KB cookie limit and
//! tokens never travel back to the browser.
//!
//! [`SessionStore`] is async and fallible; a failing store is a [`StoreError`], which the pages
//! turn into a 503 (nothing half-done, never a panic). Two backends, one conformance suite
//! (`tests/it/store.rs`):
//! - [`EmbeddedStore`] (the default): one redb database file, `data_dir/sessions.redb`, so
//!   signed-in sessions survive a restart and a SIGKILL; in memory when there is no data dir.
//!   Its refresh lock is in-process (one process owns the file).
//! - [`RedisStore`] (`store.url = "redis://…"`): one Redis shared by every replica, with a
//!   refresh lock that holds across replicas.
//!
//! Both keep a session under the SHA-256 digest of its id ([`digest`]) and its value sealed
//! with AES-256-GCM under a key derived from the session key ([`Sealer`]), so the raw file or
//! Redis holds neither a usable session id nor a token.

mod embedded;
mod redis;
mod seal;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

pub use self::embedded::EmbeddedStore;
pub use self::redis::{RedisOptions, RedisStore};
pub use self::seal::{Sealer, digest};
use crate::secret::Secret;

/// What the web client knows about a signed-in user.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The `sub` claim.
    pub subject: String,
    /// The verified ID token claims, as JSON (what the home page lists).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The raw ID token (sent back as `id_token_hint` on sign-out).
    pub id_token: Secret,
    /// The access token.
    pub access_token: Secret,
    /// When the access token expires (from `expires_in`), if the provider said.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<Secret>,
    /// The scopes granted (from the token response, else the ones requested).
    pub scopes: Vec<String>,
    /// When the session started.
    pub created_at: DateTime<Utc>,
    /// When the session ends, whatever happens (absolute lifetime).
    pub expires_at: DateTime<Utc>,
    /// How often the access token was refreshed in this session.
    pub refresh_count: u32,
}

/// A session store failed; the request is answered with a 503 and nothing is changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store did not answer within the configured timeout.
    #[error("session store did not answer within {0} ms")]
    Timeout(u128),
    /// The store could not be reached or failed the operation.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The refresh lock of a session stayed held elsewhere for longer than any refresh takes.
    #[error("the refresh lock of the session stayed held elsewhere")]
    LockBusy,
    /// A session could not be encoded or sealed for storage.
    #[error("session could not be encoded: {0}")]
    Encoding(String),
}

/// The boxed future every store operation returns (the trait is used as `dyn SessionStore`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Held while one request refreshes a session's tokens; give it back with
/// [`SessionStore::unlock_refresh`]. Dropping it releases an in-process lock at once; a Redis
/// lock that is never given back expires with its TTL.
#[derive(Debug)]
pub struct RefreshGuard(pub(crate) GuardKind);

#[derive(Debug)]
pub(crate) enum GuardKind {
    /// Released on drop.
    Local(#[allow(dead_code)] embedded::LocalGuard),
    /// Released by a compare-and-delete of this token.
    Remote { key: String, token: Secret },
}

/// Storage of signed-in sessions by id. Implementations are shared by every worker (and, for
/// Redis, every replica).
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Stores (or replaces) a session, durably before it returns.
    fn put<'a>(&'a self, id: &'a str, session: &'a SignedIn) -> StoreFuture<'a, ()>;
    /// The session if it exists and has not expired at `now`. A value that cannot be
    /// decrypted (another session key) counts as absent.
    fn get<'a>(&'a self, id: &'a str, now: DateTime<Utc>) -> StoreFuture<'a, Option<SignedIn>>;
    /// Removes a session, returning it.
    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SignedIn>>;
    /// Waits until this caller alone may refresh the tokens of session `id` (bounded: an
    /// error after the longest a refresh can take).
    fn lock_refresh<'a>(&'a self, id: &'a str) -> StoreFuture<'a, RefreshGuard>;
    /// Gives the refresh lock back (only if it is still this caller's).
    fn unlock_refresh(&self, guard: RefreshGuard) -> StoreFuture<'_, ()>;
    /// Whether the store answers (for `/readyz`).
    fn ping(&self) -> StoreFuture<'_, ()>;
}

/// The form a session is serialised in before it is sealed. Secrets are plain strings here
/// only: this never leaves the process unencrypted.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    subject: String,
    claims: serde_json::Map<String, serde_json::Value>,
    id_token: String,
    access_token: String,
    access_token_expires_at: Option<DateTime<Utc>>,
    refresh_token: Option<String>,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    refresh_count: u32,
}

fn encode(session: &SignedIn) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&Stored {
        subject: session.subject.clone(),
        claims: session.claims.clone(),
        id_token: session.id_token.expose().to_owned(),
        access_token: session.access_token.expose().to_owned(),
        access_token_expires_at: session.access_token_expires_at,
        refresh_token: session
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_owned()),
        scopes: session.scopes.clone(),
        created_at: session.created_at,
        expires_at: session.expires_at,
        refresh_count: session.refresh_count,
    })
    .map_err(|e| StoreError::Encoding(e.to_string()))
}

fn decode(bytes: &[u8]) -> Option<SignedIn> {
    let s: Stored = serde_json::from_slice(bytes).ok()?;
    Some(SignedIn {
        subject: s.subject,
        claims: s.claims,
        id_token: Secret::new(s.id_token),
        access_token: Secret::new(s.access_token),
        access_token_expires_at: s.access_token_expires_at,
        refresh_token: s.refresh_token.map(Secret::new),
        scopes: s.scopes,
        created_at: s.created_at,
        expires_at: s.expires_at,
        refresh_count: s.refresh_count,
    })
}

/// Opens `sealed` (bound to `context`) and decodes it; `None` (with a warning) when it does not
/// decrypt or parse: the session key changed, or the value was tampered with.
fn unseal(sealer: &Sealer, context: &[u8], sealed: &[u8]) -> Option<SignedIn> {
    let session = sealer
        .open(context, sealed)
        .and_then(|plain| decode(&plain));
    if session.is_none() {
        tracing::warn!(
            "a stored session could not be decrypted (was the session key changed?); \
             treating it as signed out"
        );
    }
    session
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_survives_encoding_with_every_field() {
        let now = Utc::now();
        let session = SignedIn {
            subject: "alice".into(),
            claims: serde_json::json!({"name": "Alice"})
                .as_object()
                .cloned()
                .unwrap(),
            id_token: Secret::new("id"),
            access_token: Secret::new("at"),
            access_token_expires_at: Some(now),
            refresh_token: Some(Secret::new("rt")),
            scopes: vec!["openid".into()],
            created_at: now,
            expires_at: now,
            refresh_count: 3,
        };
        let back = decode(&encode(&session).unwrap()).unwrap();
        assert_eq!(back.subject, "alice");
        assert_eq!(back.claims["name"], "Alice");
        assert_eq!(back.id_token.expose(), "id");
        assert_eq!(back.access_token.expose(), "at");
        assert_eq!(back.refresh_token.unwrap().expose(), "rt");
        assert_eq!(back.access_token_expires_at, Some(now));
        assert_eq!(back.expires_at, now);
        assert_eq!(back.refresh_count, 3);
    }
}
