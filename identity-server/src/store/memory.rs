//! In-memory stores for short-lived state: pending authorize requests, sessions, codes and
//! access-token records. Entries expire; expired entries are swept as the maps grow.

use std::collections::HashMap;
use std::sync::Mutex;

pub use super::Full;
use super::{
    AccessTokenRecord, AccessTokenStore, AuthorizeRequestStore, CodeRecord, CodeStore, CodeUse,
    Session, SessionStore,
};
use crate::oidc::authorize::AuthorizeRequest;
use crate::oidc::now;

/// A map whose entries carry an expiry (unix seconds); expired entries are invisible and are
/// removed by a sweep every `SWEEP_EVERY` inserts, or when a bounded insert finds the map full.
///
/// Entries may have an owner (a network, a session): [`ExpiringMap::insert_owned`] bounds the
/// live entries per owner as well as in total. A full map sweeps at most once per second, so a
/// flood of inserts into a full map costs O(1) each instead of a scan of the whole map under
/// the lock.
#[derive(Debug)]
pub struct ExpiringMap<V> {
    inner: Mutex<Inner<V>>,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    expires_at: i64,
    owner: Option<String>,
}

#[derive(Debug)]
struct Inner<V> {
    entries: HashMap<String, Entry<V>>,
    /// Live (not yet swept or removed) entries per owner.
    owners: HashMap<String, usize>,
    /// Inserts since the last sweep.
    inserts: usize,
    /// When the map was last swept because it (or an owner's share) was full.
    last_full_sweep: i64,
}

impl<V> Inner<V> {
    fn release(&mut self, owner: Option<String>) {
        if let Some(owner) = owner
            && let Some(n) = self.owners.get_mut(&owner)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.owners.remove(&owner);
            }
        }
    }

    fn remove(&mut self, key: &str) -> Option<Entry<V>> {
        let mut entry = self.entries.remove(key)?;
        self.release(entry.owner.take());
        Some(entry)
    }

    fn sweep(&mut self, t: i64) {
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires_at <= t)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.remove(&key);
        }
        self.inserts = 0;
    }

    /// Sweeps when the last full sweep is at least a second old; returns whether it swept.
    fn sweep_when_full(&mut self, t: i64) -> bool {
        if t > self.last_full_sweep {
            self.last_full_sweep = t;
            self.sweep(t);
            true
        } else {
            false
        }
    }

    fn put(&mut self, key: &str, value: V, expires_at: i64, owner: Option<&str>) {
        self.remove(key);
        if let Some(owner) = owner {
            *self.owners.entry(owner.to_owned()).or_insert(0) += 1;
        }
        self.entries.insert(
            key.to_owned(),
            Entry {
                value,
                expires_at,
                owner: owner.map(str::to_owned),
            },
        );
    }
}

const SWEEP_EVERY: usize = 1024;

impl<V: Clone> Default for ExpiringMap<V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                owners: HashMap::new(),
                inserts: 0,
                last_full_sweep: i64::MIN,
            }),
        }
    }
}

impl<V: Clone> ExpiringMap<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // A poisoned lock only means another thread panicked mid-operation on plain data; the
        // map itself is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inserts or replaces.
    pub fn insert(&self, key: &str, value: V, expires_at: i64) {
        let mut guard = self.lock();
        guard.inserts += 1;
        if guard.inserts >= SWEEP_EVERY {
            guard.sweep(now());
        }
        guard.put(key, value, expires_at, None);
    }

    /// Inserts unless `max` entries are already held (expired ones are swept first, at most
    /// once a second); returns whether it was stored.
    pub fn insert_bounded(&self, key: &str, value: V, expires_at: i64, max: usize) -> bool {
        self.insert_owned(key, value, expires_at, max, None, usize::MAX)
            .is_ok()
    }

    /// Inserts unless `max` entries in total, or `max_per_owner` entries of `owner`, are
    /// already held (expired ones are swept first, at most once a second).
    pub fn insert_owned(
        &self,
        key: &str,
        value: V,
        expires_at: i64,
        max: usize,
        owner: Option<&str>,
        max_per_owner: usize,
    ) -> Result<(), Full> {
        let mut guard = self.lock();
        let check = |inner: &Inner<V>| {
            if inner.entries.len() >= max {
                return Err(Full::Total);
            }
            match owner {
                Some(o) if inner.owners.get(o).copied().unwrap_or(0) >= max_per_owner => {
                    Err(Full::Owner)
                }
                _ => Ok(()),
            }
        };
        if check(&guard).is_err() {
            guard.sweep_when_full(now());
            check(&guard)?;
        }
        guard.inserts += 1;
        if guard.inserts >= SWEEP_EVERY {
            guard.sweep(now());
        }
        guard.put(key, value, expires_at, owner);
        Ok(())
    }

    /// Stops counting the entry against its owner (it stays in the map).
    pub fn release_owner(&self, key: &str) {
        let mut guard = self.lock();
        let owner = guard.entries.get_mut(key).and_then(|e| e.owner.take());
        guard.release(owner);
    }

    /// The value if present and not expired.
    pub fn get(&self, key: &str) -> Option<V> {
        let guard = self.lock();
        guard
            .entries
            .get(key)
            .filter(|e| e.expires_at > now())
            .map(|e| e.value.clone())
    }

    /// Removes and returns the value if it was not expired.
    pub fn take(&self, key: &str) -> Option<V> {
        let mut guard = self.lock();
        guard
            .remove(key)
            .filter(|e| e.expires_at > now())
            .map(|e| e.value)
    }

    /// Applies `f` to a live entry under the lock.
    pub fn update<R>(&self, key: &str, f: impl FnOnce(&mut V, &mut i64) -> R) -> Option<R> {
        let mut guard = self.lock();
        let t = now();
        match guard.entries.get_mut(key) {
            Some(e) if e.expires_at > t => Some(f(&mut e.value, &mut e.expires_at)),
            _ => None,
        }
    }

    /// Removes every expired entry now (tests; the map sweeps by itself as it grows).
    pub fn sweep(&self) {
        self.lock().sweep(now());
    }

    /// Number of entries, expired ones included (for tests).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Most pending authorize requests kept at once (about 1 KiB each): unauthenticated callers
/// create them, so memory must stay bounded.
pub const MAX_PENDING_AUTHORIZE_REQUESTS: usize = 100_000;

/// Default for the most pending authorize requests of one network (see
/// `limits.max_pending_authorize_requests_per_network`).
pub const DEFAULT_MAX_PENDING_AUTHORIZE_REQUESTS_PER_NETWORK: usize = 20;

/// Pending authorize requests, bounded in total and per network, so that one caller cannot
/// fill the store and lock every other browser out of signing in.
#[derive(Debug)]
pub struct MemoryAuthorizeRequests {
    map: ExpiringMap<AuthorizeRequest>,
    max_total: usize,
    max_per_network: usize,
}

impl MemoryAuthorizeRequests {
    /// A store of at most `max_total` requests and `max_per_network` per network.
    pub fn new(max_total: usize, max_per_network: usize) -> Self {
        Self {
            map: ExpiringMap::default(),
            max_total,
            max_per_network,
        }
    }
}

impl Default for MemoryAuthorizeRequests {
    fn default() -> Self {
        Self::new(
            MAX_PENDING_AUTHORIZE_REQUESTS,
            DEFAULT_MAX_PENDING_AUTHORIZE_REQUESTS_PER_NETWORK,
        )
    }
}

impl AuthorizeRequestStore for MemoryAuthorizeRequests {
    fn put(
        &self,
        id: &str,
        request: AuthorizeRequest,
        expires_at: i64,
        network: &str,
    ) -> Result<(), Full> {
        self.map.insert_owned(
            id,
            request,
            expires_at,
            self.max_total,
            Some(network),
            self.max_per_network,
        )
    }
    fn get(&self, id: &str) -> Option<AuthorizeRequest> {
        self.map.get(id)
    }
    fn take(&self, id: &str) -> Option<AuthorizeRequest> {
        self.map.take(id)
    }
}

/// Sessions.
#[derive(Debug, Default)]
pub struct MemorySessions(ExpiringMap<Session>);

impl SessionStore for MemorySessions {
    fn put(&self, key: &str, session: Session, expires_at: i64) {
        // The absolute expiry bounds the entry, so sweeps remove sessions whose browser never
        // came back; the idle expiry is checked on each touch.
        self.0.insert(key, session, expires_at);
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

/// Most codes (used ones included, for reuse detection) kept at once.
pub const MAX_CODES: usize = 100_000;

/// Default for the most unredeemed codes one session may hold (see
/// `limits.max_unredeemed_codes_per_session`).
pub const DEFAULT_MAX_UNREDEEMED_CODES_PER_SESSION: usize = 10;

/// Authorization codes, bounded in total ([`MAX_CODES`]) and per session (unredeemed ones): a
/// signed-in browser can request codes in a loop at no cost.
#[derive(Debug)]
pub struct MemoryCodes {
    map: ExpiringMap<CodeEntry>,
    max_total: usize,
    max_per_session: usize,
}

impl MemoryCodes {
    /// A store of at most `max_total` codes and `max_per_session` unredeemed codes per `sid`.
    pub fn new(max_total: usize, max_per_session: usize) -> Self {
        Self {
            map: ExpiringMap::default(),
            max_total,
            max_per_session,
        }
    }
}

impl Default for MemoryCodes {
    fn default() -> Self {
        Self::new(MAX_CODES, DEFAULT_MAX_UNREDEEMED_CODES_PER_SESSION)
    }
}

impl CodeStore for MemoryCodes {
    fn put(&self, code_hash: &str, record: CodeRecord) -> bool {
        let keep_until = record.expires_at + CODE_REUSE_MEMORY_SECS;
        let sid = record.sid.clone();
        self.map
            .insert_owned(
                code_hash,
                CodeEntry {
                    record,
                    used: false,
                },
                keep_until,
                self.max_total,
                Some(&sid),
                self.max_per_session,
            )
            .is_ok()
    }
    fn redeem(&self, code_hash: &str) -> CodeUse {
        let answer = self
            .map
            .update(code_hash, |entry, _| {
                if entry.used {
                    CodeUse::Reused(entry.record.clone())
                } else {
                    entry.used = true;
                    CodeUse::First(entry.record.clone())
                }
            })
            .unwrap_or(CodeUse::Unknown);
        if matches!(answer, CodeUse::First(_)) {
            // A redeemed code no longer counts against its session's quota.
            self.map.release_owner(code_hash);
        }
        answer
    }
    fn set_grant(&self, code_hash: &str, grant_id: &str) {
        self.map.update(code_hash, |entry, _| {
            entry.record.grant_id = Some(grant_id.to_owned())
        });
    }
}

/// Most access-token records kept at once (a few hundred bytes each).
pub const MAX_ACCESS_TOKEN_RECORDS: usize = 200_000;

/// Access-token records, kept until the token expires and bounded in number.
#[derive(Debug)]
pub struct MemoryAccessTokens {
    map: ExpiringMap<AccessTokenRecord>,
    max: usize,
}

impl MemoryAccessTokens {
    /// A store of at most `max` live records.
    pub fn new(max: usize) -> Self {
        Self {
            map: ExpiringMap::default(),
            max,
        }
    }
}

impl Default for MemoryAccessTokens {
    fn default() -> Self {
        Self::new(MAX_ACCESS_TOKEN_RECORDS)
    }
}

impl AccessTokenStore for MemoryAccessTokens {
    fn put(&self, jti: &str, record: AccessTokenRecord) -> bool {
        let exp = record.exp;
        self.map.insert_bounded(jti, record, exp, self.max)
    }
    fn get(&self, jti: &str) -> Option<AccessTokenRecord> {
        self.map.get(jti)
    }
    fn revoke(&self, jti: &str) {
        self.map.update(jti, |r, _| r.revoked = true);
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
            t + 100,
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
            t + 100,
        );
        for i in 1..10 {
            assert!(sessions.touch("s", t + i * 9, 10, 100).is_some());
        }
        assert!(sessions.touch("s", t + 100, 10, 100).is_none());
    }

    #[test]
    fn a_session_is_swept_once_its_absolute_expiry_has_passed() {
        let sessions = MemorySessions::default();
        let t = now();
        let session = Session {
            sid: "public".into(),
            subject: "u".into(),
            auth_time: t,
            amr: vec![],
            remember: false,
            created: t - 100,
            last_seen: t - 100,
        };
        sessions.put("gone", session.clone(), t - 1);
        sessions.put("live", session, t + 100);
        sessions.0.sweep();
        assert_eq!(sessions.0.len(), 1);
        assert!(sessions.touch("live", t, 1000, 1000).is_some());
    }

    #[test]
    fn a_session_holds_at_most_its_quota_of_unredeemed_codes_and_redeeming_frees_one() {
        let codes = MemoryCodes::new(100, 2);
        assert!(codes.put("a", code(now() + 60)));
        assert!(codes.put("b", code(now() + 60)));
        assert!(
            !codes.put("c", code(now() + 60)),
            "third code of one session"
        );
        let mut other = code(now() + 60);
        other.sid = "another-session".into();
        assert!(codes.put("d", other));
        assert!(matches!(codes.redeem("a"), CodeUse::First(_)));
        assert!(codes.put("c", code(now() + 60)));
        assert!(
            matches!(codes.redeem("a"), CodeUse::Reused(_)),
            "a redeemed code is still remembered for reuse detection"
        );
    }

    #[test]
    fn the_code_store_refuses_past_its_total_and_sweeps_expired_codes() {
        let codes = MemoryCodes::new(2, 100);
        let mut stale = code(now() - CODE_REUSE_MEMORY_SECS - 1);
        stale.sid = "x".into();
        assert!(codes.put("old", stale));
        assert!(codes.put("a", code(now() + 60)));
        assert!(
            codes.put("b", code(now() + 60)),
            "the expired code made room"
        );
        assert!(!codes.put("c", code(now() + 60)));
    }

    #[test]
    fn access_token_records_are_bounded() {
        let tokens = MemoryAccessTokens::new(1);
        let record = AccessTokenRecord {
            client_id: "c".into(),
            subject: "c".into(),
            scope: vec![],
            aud: vec![],
            iat: now(),
            exp: now() + 60,
            grant_id: None,
            revoked: false,
        };
        assert!(tokens.put("j1", record.clone()));
        assert!(!tokens.put("j2", record));
        assert!(tokens.get("j2").is_none());
    }

    #[test]
    fn a_full_map_sweeps_at_most_once_a_second() {
        let map = ExpiringMap::default();
        assert!(map.insert_bounded("a", 1, now() + 60, 1));
        assert!(
            !map.insert_bounded("b", 2, now() + 60, 1),
            "swept, still full"
        );
        map.update("a", |_, exp| *exp = now() - 1);
        assert!(
            !map.insert_bounded("c", 3, now() + 60, 1),
            "no second sweep within the second"
        );
    }
}
