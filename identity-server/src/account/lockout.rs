//! Failed-login counters with lockout, per account name and per client IP address.
//!
//! Every failed password check counts against the submitted username (whether or not such a user
//! exists, so a locked-out message tells an attacker nothing about existence) and against the
//! client's IP address. When either reaches its threshold inside the counting window, further
//! attempts for that key are refused without checking the password until the lockout ends.
//! Counters live behind [`FailedLoginStore`] so a shared store can replace the in-memory default.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use super::transaction::{StoreFuture, now_unix};

/// Thresholds of the lockout (section `account.lockout`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutSettings {
    /// Failures of one username inside the window that lock it.
    pub max_failures_per_user: u32,
    /// Failures from one IP address inside the window that lock it (higher: users share NAT).
    pub max_failures_per_ip: u32,
    /// Length of the counting window, in seconds.
    pub window_secs: u64,
    /// How long a lockout lasts, in seconds.
    pub lockout_secs: u64,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        // OWASP: lock after a handful of failures for minutes, not forever (a permanent lock is a
        // denial-of-service on the victim).
        Self {
            max_failures_per_user: 5,
            max_failures_per_ip: 50,
            window_secs: 15 * 60,
            lockout_secs: 15 * 60,
        }
    }
}

impl LockoutSettings {
    /// Checks the values; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_failures_per_user == 0 {
            return Err("account.lockout.max_failures_per_user: must be at least 1".into());
        }
        if self.max_failures_per_ip == 0 {
            return Err("account.lockout.max_failures_per_ip: must be at least 1".into());
        }
        if self.window_secs == 0 {
            return Err("account.lockout.window_secs: must be at least 1".into());
        }
        if self.lockout_secs == 0 {
            return Err("account.lockout.lockout_secs: must be at least 1".into());
        }
        Ok(())
    }
}

/// What a counter is about.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum LockoutKey {
    /// A username as submitted (case-folded).
    User(String),
    /// A client IP address.
    Ip(String),
}

impl LockoutKey {
    /// The key of a submitted username: trimmed and lowercased, so `Alice` and `alice ` share one
    /// counter.
    pub fn user(username: &str) -> Self {
        Self::User(username.trim().to_lowercase())
    }

    /// The key of a client address.
    pub fn ip(addr: &str) -> Self {
        Self::Ip(addr.to_owned())
    }
}

impl fmt::Debug for LockoutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(u) => write!(f, "user:{u:?}"),
            Self::Ip(ip) => write!(f, "ip:{ip:?}"),
        }
    }
}

/// Error of a lockout store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockoutStoreError {
    /// The backing store failed.
    #[error("failed-login store failed: {0}")]
    Backend(String),
}

/// Where failed-login counters are kept.
pub trait FailedLoginStore: Send + Sync + fmt::Debug {
    /// Whether the key is locked at the moment.
    fn is_locked<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>>;

    /// Counts one failure for the key; returns whether the key is now locked.
    fn record_failure<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>>;

    /// Forgets the failures of a key (after a correct password for that user).
    fn reset<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, Result<(), LockoutStoreError>>;
}

#[derive(Clone, Copy, Debug)]
struct Counter {
    failures: u32,
    window_start: i64,
    locked_until: i64,
}

/// In-memory failed-login counters (the default for a single instance).
#[derive(Debug)]
pub struct InMemoryFailedLoginStore {
    settings: LockoutSettings,
    counters: Mutex<HashMap<LockoutKey, Counter>>,
    capacity: usize,
}

impl InMemoryFailedLoginStore {
    /// A store with these thresholds.
    pub fn new(settings: LockoutSettings) -> Self {
        Self {
            settings,
            counters: Mutex::new(HashMap::new()),
            capacity: 100_000,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LockoutKey, Counter>> {
        // Each operation leaves the map consistent, so a poisoned lock still holds good data.
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn max_for(&self, key: &LockoutKey) -> u32 {
        match key {
            LockoutKey::User(_) => self.settings.max_failures_per_user,
            LockoutKey::Ip(_) => self.settings.max_failures_per_ip,
        }
    }

    fn secs(v: u64) -> i64 {
        i64::try_from(v).unwrap_or(i64::MAX)
    }

    /// Synchronous core of [`FailedLoginStore::is_locked`], at time `now`.
    fn is_locked_at(&self, key: &LockoutKey, now: i64) -> bool {
        self.lock().get(key).is_some_and(|c| c.locked_until > now)
    }

    /// Synchronous core of [`FailedLoginStore::record_failure`], at time `now`.
    fn record_failure_at(&self, key: &LockoutKey, now: i64) -> bool {
        let window = Self::secs(self.settings.window_secs);
        let lockout = Self::secs(self.settings.lockout_secs);
        let max = self.max_for(key);
        let mut counters = self.lock();
        if counters.len() >= self.capacity && !counters.contains_key(key) {
            // Drop counters that no longer matter: window over and not locked.
            counters.retain(|_, c| c.locked_until > now || now - c.window_start < window);
            if counters.len() >= self.capacity {
                // Still full (an attacker spraying names): forget the entries that are not locked,
                // keeping every active lockout.
                counters.retain(|_, c| c.locked_until > now);
            }
        }
        let counter = counters.entry(key.clone()).or_insert(Counter {
            failures: 0,
            window_start: now,
            locked_until: 0,
        });
        if counter.locked_until > now {
            return true;
        }
        if now.saturating_sub(counter.window_start) >= window {
            counter.failures = 0;
            counter.window_start = now;
        }
        counter.failures = counter.failures.saturating_add(1);
        if counter.failures >= max {
            counter.locked_until = now.saturating_add(lockout);
            // A new window starts when the lockout ends.
            counter.failures = 0;
            counter.window_start = counter.locked_until;
            return true;
        }
        false
    }
}

impl FailedLoginStore for InMemoryFailedLoginStore {
    fn is_locked<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>> {
        Box::pin(std::future::ready(Ok(self.is_locked_at(key, now_unix()))))
    }

    fn record_failure<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>> {
        Box::pin(std::future::ready(Ok(
            self.record_failure_at(key, now_unix())
        )))
    }

    fn reset<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, Result<(), LockoutStoreError>> {
        let mut counters = self.lock();
        if counters
            .get(key)
            .is_some_and(|c| c.locked_until <= now_unix())
        {
            counters.remove(key);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> InMemoryFailedLoginStore {
        InMemoryFailedLoginStore::new(LockoutSettings {
            max_failures_per_user: 3,
            max_failures_per_ip: 5,
            window_secs: 100,
            lockout_secs: 50,
        })
    }

    #[test]
    fn a_user_is_locked_after_the_threshold_inside_the_window() {
        let s = store();
        let k = LockoutKey::user("alice");
        assert!(!s.record_failure_at(&k, 1000));
        assert!(!s.record_failure_at(&k, 1001));
        assert!(!s.is_locked_at(&k, 1001));
        assert!(s.record_failure_at(&k, 1002));
        assert!(s.is_locked_at(&k, 1003));
    }

    #[test]
    fn the_lockout_ends_after_its_duration() {
        let s = store();
        let k = LockoutKey::user("alice");
        for t in 0..3 {
            s.record_failure_at(&k, 1000 + t);
        }
        assert!(s.is_locked_at(&k, 1051));
        assert!(!s.is_locked_at(&k, 1052));
        // A fresh window: one failure does not lock again.
        assert!(!s.record_failure_at(&k, 1053));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let s = store();
        let k = LockoutKey::user("alice");
        s.record_failure_at(&k, 1000);
        s.record_failure_at(&k, 1001);
        assert!(!s.record_failure_at(&k, 1200));
        assert!(!s.is_locked_at(&k, 1200));
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lockout() {
        let s = store();
        let k = LockoutKey::user("alice");
        for t in 0..3 {
            s.record_failure_at(&k, 1000 + t);
        }
        assert!(s.record_failure_at(&k, 1040));
        assert!(!s.is_locked_at(&k, 1052));
    }

    #[test]
    fn usernames_are_case_folded_and_trimmed() {
        assert_eq!(LockoutKey::user(" Alice "), LockoutKey::user("alice"));
    }

    #[test]
    fn ip_counters_use_their_own_threshold() {
        let s = store();
        let k = LockoutKey::ip("127.0.0.1");
        for t in 0..4 {
            assert!(!s.record_failure_at(&k, 1000 + t));
        }
        assert!(s.record_failure_at(&k, 1004));
        assert!(!s.is_locked_at(&LockoutKey::user("127.0.0.1"), 1005));
    }

    #[test]
    fn reset_forgets_failures_but_not_an_active_lockout() {
        let s = store();
        let k = LockoutKey::user("bob");
        s.record_failure_at(&k, now_unix());
        s.record_failure_at(&k, now_unix());
        futures_util::FutureExt::now_or_never(s.reset(&k))
            .unwrap()
            .unwrap();
        assert!(!s.record_failure_at(&k, now_unix()));
        assert!(!s.record_failure_at(&k, now_unix()));
        assert!(s.record_failure_at(&k, now_unix()));
        futures_util::FutureExt::now_or_never(s.reset(&k))
            .unwrap()
            .unwrap();
        assert!(s.is_locked_at(&k, now_unix()));
    }

    #[test]
    fn a_full_store_keeps_active_lockouts() {
        let mut s = store();
        s.capacity = 2;
        let locked = LockoutKey::user("victim");
        for t in 0..3 {
            s.record_failure_at(&locked, 1000 + t);
        }
        s.record_failure_at(&LockoutKey::user("a"), 1010);
        s.record_failure_at(&LockoutKey::user("b"), 1011);
        s.record_failure_at(&LockoutKey::user("c"), 1012);
        assert!(s.is_locked_at(&locked, 1013));
        assert!(s.lock().len() <= 3);
    }

    #[test]
    fn zero_thresholds_are_refused_naming_the_key() {
        let bad = LockoutSettings {
            max_failures_per_user: 0,
            ..LockoutSettings::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("account.lockout.max_failures_per_user")
        );
        assert!(LockoutSettings::default().validate().is_ok());
    }
}
