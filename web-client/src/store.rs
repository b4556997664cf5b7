//! Server-side store of signed-in sessions: the tokens and claims are kept here, keyed by a
//! random id, so that the encrypted session cookie stays far below the 4 KB cookie limit and
//! tokens never travel back to the browser.
//!
//! [`SessionStore`] is the seam for a shared store (e.g. Redis) when several replicas run;
//! [`MemoryStore`] is the embedded default: sessions end when the process ends (the identity
//! server's own session usually signs the user in again without a password prompt).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

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

/// Storage of signed-in sessions by id. Implementations must be safe to share across workers.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Stores (or replaces) a session.
    fn put(&self, id: &str, session: SignedIn);
    /// The session if it exists and has not expired at `now`; an expired one is removed.
    fn get(&self, id: &str, now: DateTime<Utc>) -> Option<SignedIn>;
    /// Removes a session, returning it.
    fn remove(&self, id: &str) -> Option<SignedIn>;
}

/// The embedded, in-process store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, SignedIn>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SignedIn>> {
        // A panic while holding the lock cannot leave a half-written map (every operation is a
        // single insert or remove), so a poisoned lock is safe to keep using.
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SessionStore for MemoryStore {
    fn put(&self, id: &str, session: SignedIn) {
        let now = Utc::now();
        let mut sessions = self.lock();
        // Sweep expired sessions on write so abandoned ones do not pile up.
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(id.to_owned(), session);
    }

    fn get(&self, id: &str, now: DateTime<Utc>) -> Option<SignedIn> {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    fn remove(&self, id: &str) -> Option<SignedIn> {
        self.lock().remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: DateTime<Utc>) -> SignedIn {
        SignedIn {
            subject: "alice".into(),
            claims: Default::default(),
            id_token: Secret::new("id"),
            access_token: Secret::new("at"),
            access_token_expires_at: None,
            refresh_token: None,
            scopes: vec![],
            created_at: Utc::now(),
            expires_at,
            refresh_count: 0,
        }
    }

    #[test]
    fn a_stored_session_is_found_until_it_expires() {
        let store = MemoryStore::new();
        let now = Utc::now();
        store.put("a", session(now + chrono::Duration::seconds(10)));
        assert!(store.get("a", now).is_some());
        assert!(
            store
                .get("a", now + chrono::Duration::seconds(11))
                .is_none()
        );
        // expired sessions are dropped, not just hidden
        assert!(store.get("a", now).is_none());
    }

    #[test]
    fn a_removed_session_is_gone() {
        let store = MemoryStore::new();
        store.put("a", session(Utc::now() + chrono::Duration::seconds(10)));
        assert!(store.remove("a").is_some());
        assert!(store.get("a", Utc::now()).is_none());
    }
}
