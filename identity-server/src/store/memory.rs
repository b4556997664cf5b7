//! In-memory stores for short-lived state: pending authorize requests, sessions, codes and
//! access-token records. Entries expire; expired entries are swept as the maps grow.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{
    AccessTokenRecord, AccessTokenStore, AuthorizeRequestStore, CodeRecord, CodeStore, CodeUse,
    Session, SessionStore,
};
use crate::oidc::authorize::AuthorizeRequest;
use crate::oidc::now;

/// A map whose entries carry an expiry (unix seconds); expired entries are invisible and are
/// removed by a sweep every `SWEEP_EVERY` inserts.
#[derive(Debug)]
pub struct ExpiringMap<V> {
    inner: Mutex<Entries<V>>,
}

/// The entries with their expiry, and the number of inserts since the last sweep.
type Entries<V> = (HashMap<String, (V, i64)>, usize);

const SWEEP_EVERY: usize = 1024;

impl<V: Clone> Default for ExpiringMap<V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new((HashMap::new(), 0)),
        }
    }
}

impl<V: Clone> ExpiringMap<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        // A poisoned lock only means another thread panicked mid-operation on plain data; the
        // map itself is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inserts or replaces.
    pub fn insert(&self, key: &str, value: V, expires_at: i64) {
        let mut guard = self.lock();
        guard.1 += 1;
        if guard.1 >= SWEEP_EVERY {
            guard.1 = 0;
            let t = now();
            guard.0.retain(|_, (_, exp)| *exp > t);
        }
        guard.0.insert(key.to_owned(), (value, expires_at));
    }

    /// Inserts unless `max` live entries are already held (expired ones are swept first);
    /// returns whether it was stored.
    pub fn insert_bounded(&self, key: &str, value: V, expires_at: i64, max: usize) -> bool {
        let mut guard = self.lock();
        if guard.0.len() >= max {
            let t = now();
            guard.0.retain(|_, (_, exp)| *exp > t);
            guard.1 = 0;
            if guard.0.len() >= max {
                return false;
            }
        }
        guard.0.insert(key.to_owned(), (value, expires_at));
        true
    }

    /// The value if present and not expired.
    pub fn get(&self, key: &str) -> Option<V> {
        let guard = self.lock();
        guard
            .0
            .get(key)
            .filter(|(_, exp)| *exp > now())
            .map(|(v, _)| v.clone())
    }

    /// Removes and returns the value if it was not expired.
    pub fn take(&self, key: &str) -> Option<V> {
        let mut guard = self.lock();
        guard
            .0
            .remove(key)
            .filter(|(_, exp)| *exp > now())
            .map(|(v, _)| v)
    }

    /// Applies `f` to a live entry under the lock.
    pub fn update<R>(&self, key: &str, f: impl FnOnce(&mut V, &mut i64) -> R) -> Option<R> {
        let mut guard = self.lock();
        let t = now();
        match guard.0.get_mut(key) {
            Some((v, exp)) if *exp > t => Some(f(v, exp)),
            _ => None,
        }
    }

    /// Number of entries, expired ones included (for tests).
    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Most pending authorize requests kept at once (about 1 KiB each): unauthenticated callers
/// create them, so memory must stay bounded.
pub const MAX_PENDING_AUTHORIZE_REQUESTS: usize = 100_000;

/// Pending authorize requests.
#[derive(Debug, Default)]
pub struct MemoryAuthorizeRequests(ExpiringMap<AuthorizeRequest>);

impl AuthorizeRequestStore for MemoryAuthorizeRequests {
    fn put(&self, id: &str, request: AuthorizeRequest, expires_at: i64) -> bool {
        self.0
            .insert_bounded(id, request, expires_at, MAX_PENDING_AUTHORIZE_REQUESTS)
    }
    fn get(&self, id: &str) -> Option<AuthorizeRequest> {
        self.0.get(id)
    }
    fn take(&self, id: &str) -> Option<AuthorizeRequest> {
        self.0.take(id)
    }
}

/// Sessions.
#[derive(Debug, Default)]
pub struct MemorySessions(ExpiringMap<Session>);

impl SessionStore for MemorySessions {
    fn put(&self, key: &str, session: Session) {
        // The absolute expiry bounds the entry; idle expiry is checked on each touch.
        self.0.insert(key, session, i64::MAX);
    }
    fn touch(&self, key: &str, now: i64, idle_secs: i64, absolute_secs: i64) -> Option<Session> {
        let live = self.0.update(key, |s, _| {
            if now - s.last_seen >= idle_secs || now - s.created >= absolute_secs {
                None
            } else {
                s.last_seen = now;
                Some(s.clone())
            }
        })?;
        if live.is_none() {
            self.0.take(key);
        }
        live
    }
    fn remove(&self, key: &str) {
        self.0.take(key);
    }
}

/// How long a redeemed code is remembered after its expiry, to detect a late replay.
pub const CODE_REUSE_MEMORY_SECS: i64 = 600;

#[derive(Clone, Debug)]
struct CodeEntry {
    record: CodeRecord,
    used: bool,
}

/// Authorization codes.
#[derive(Debug, Default)]
pub struct MemoryCodes(ExpiringMap<CodeEntry>);

impl CodeStore for MemoryCodes {
    fn put(&self, code_hash: &str, record: CodeRecord) {
        let keep_until = record.expires_at + CODE_REUSE_MEMORY_SECS;
        self.0.insert(
            code_hash,
            CodeEntry {
                record,
                used: false,
            },
            keep_until,
        );
    }
    fn redeem(&self, code_hash: &str) -> CodeUse {
        self.0
            .update(code_hash, |entry, _| {
                if entry.used {
                    CodeUse::Reused(entry.record.clone())
                } else {
                    entry.used = true;
                    CodeUse::First(entry.record.clone())
                }
            })
            .unwrap_or(CodeUse::Unknown)
    }
    fn set_grant(&self, code_hash: &str, grant_id: &str) {
        self.0.update(code_hash, |entry, _| {
            entry.record.grant_id = Some(grant_id.to_owned())
        });
    }
}

/// Access-token records.
#[derive(Debug, Default)]
pub struct MemoryAccessTokens(ExpiringMap<AccessTokenRecord>);

impl AccessTokenStore for MemoryAccessTokens {
    fn put(&self, jti: &str, record: AccessTokenRecord) {
        let exp = record.exp;
        self.0.insert(jti, record, exp);
    }
    fn get(&self, jti: &str) -> Option<AccessTokenRecord> {
        self.0.get(jti)
    }
    fn revoke(&self, jti: &str) {
        self.0.update(jti, |r, _| r.revoked = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(expires_at: i64) -> CodeRecord {
        CodeRecord {
            client_id: "web".into(),
            redirect_uri: "https://a/cb".into(),
            code_challenge: None,
            nonce: None,
            subject: "s".into(),
            auth_time: 0,
            amr: vec![],
            sid: "sid".into(),
            scope: vec![],
            expires_at,
            grant_id: None,
        }
    }

    #[test]
    fn a_code_is_redeemed_once_then_reported_as_reused() {
        let codes = MemoryCodes::default();
        codes.put("h", code(now() + 60));
        assert!(matches!(codes.redeem("h"), CodeUse::First(_)));
        codes.set_grant("h", "g1");
        match codes.redeem("h") {
            CodeUse::Reused(r) => assert_eq!(r.grant_id.as_deref(), Some("g1")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(codes.redeem("nope"), CodeUse::Unknown));
    }

    #[test]
    fn a_bounded_insert_refuses_when_full_of_live_entries_but_sweeps_expired_ones() {
        let map = ExpiringMap::default();
        assert!(map.insert_bounded("a", 1, now() + 60, 2));
        assert!(map.insert_bounded("b", 2, now() - 1, 2));
        assert!(
            map.insert_bounded("c", 3, now() + 60, 2),
            "the expired entry made room"
        );
        assert!(!map.insert_bounded("d", 4, now() + 60, 2));
        assert_eq!(map.get("d"), None);
    }

    #[test]
    fn an_expired_entry_is_invisible() {
        let map = ExpiringMap::default();
        map.insert("k", 1, now() - 1);
        assert_eq!(map.get("k"), None);
        assert_eq!(map.take("k"), None);
    }

    #[test]
    fn a_session_ends_after_the_idle_timeout() {
        let sessions = MemorySessions::default();
        let t = now();
        sessions.put(
            "s",
            Session {
                sid: "s".into(),
                subject: "u".into(),
                auth_time: t,
                amr: vec!["pwd".into()],
                remember: false,
                created: t,
                last_seen: t,
            },
        );
        assert!(sessions.touch("s", t + 5, 10, 100).is_some());
        assert!(sessions.touch("s", t + 16, 10, 100).is_none());
        assert!(
            sessions.touch("s", t + 17, 1000, 1000).is_none(),
            "an ended session stays ended"
        );
    }

    #[test]
    fn a_session_ends_after_the_absolute_timeout_even_when_used() {
        let sessions = MemorySessions::default();
        let t = now();
        sessions.put(
            "s",
            Session {
                sid: "s".into(),
                subject: "u".into(),
                auth_time: t,
                amr: vec![],
                remember: false,
                created: t,
                last_seen: t,
            },
        );
        for i in 1..10 {
            assert!(sessions.touch("s", t + i * 9, 10, 100).is_some());
        }
        assert!(sessions.touch("s", t + 100, 10, 100).is_none());
    }
}
