//! Failed-login counters with lockout, per account name and per client network.
//!
//! Every failed password check counts against the submitted username (whether or not such a user
//! exists, so a locked-out message tells an attacker nothing about existence) and against the
//! client's address (an IPv6 client by its /64, which one host can rotate through freely). When
//! either reaches its threshold inside the counting window, further attempts for that key are
//! refused without checking the password until the lockout ends. A failed second factor counts
//! against the same keys; only a complete sign-in forgets the username's failures.
//!
//! Parallel guesses cannot outrun the count: a password check is reserved with
//! [`FailedLoginStore::begin_attempt`] (through [`Attempt::begin`]) *before* the slow Argon2 hash,
//! atomically, and refused while `failures + attempts in flight` has reached the threshold. The
//! attempt then ends as a failure ([`Attempt::fail`]) or is forgiven ([`Attempt::forgive`]); an
//! attempt dropped half-way (the client went away) counts as a failure, and an in-flight mark older
//! than a minute is forgotten, so a lost request cannot hold a key forever.
//! Counters live behind [`FailedLoginStore`] so a shared store can replace the in-memory default.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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
    /// A client address: an IPv4 address, or the /64 network of an IPv6 address.
    Ip(String),
}

impl LockoutKey {
    /// The key of a submitted username: trimmed and lowercased, so `Alice` and `alice ` share one
    /// counter.
    pub fn user(username: &str) -> Self {
        Self::User(username.trim().to_lowercase())
    }

    /// The key of a client address. An IPv6 address counts by its /64 network (the usual size of
    /// one customer's or host's allocation, so rotating addresses does not make new counters);
    /// an IPv4-mapped IPv6 address counts as the IPv4 address. It is the same rule as the
    /// provider's own throttles: [`crate::throttle::network_key`].
    pub fn ip(addr: IpAddr) -> Self {
        Self::Ip(crate::throttle::network_key(addr))
    }

    /// The key of a client whose address is not known (one shared counter).
    pub fn unknown_ip() -> Self {
        Self::Ip("unknown".to_owned())
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

    /// Reserves one password check for the key, atomically: refuses (`false`) while the key is
    /// locked or while its failures plus the attempts in flight have reached the threshold;
    /// otherwise counts the attempt as in flight and answers `true`. Every reserved attempt ends
    /// with [`FailedLoginStore::fail_attempt`] or [`FailedLoginStore::forgive`].
    fn begin_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>>;

    /// Ends an attempt begun with [`FailedLoginStore::begin_attempt`] as a failure; returns
    /// whether the key is now locked.
    fn fail_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>>;

    /// Ends an attempt begun with [`FailedLoginStore::begin_attempt`] without counting it (the
    /// password was right, or the server was too busy to check it).
    fn forgive<'a>(&'a self, key: &'a LockoutKey)
    -> StoreFuture<'a, Result<(), LockoutStoreError>>;

    /// Counts one failure that had no attempt begun (a taken username at account creation, a
    /// failed second factor); returns whether the key is now locked.
    fn record_failure<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>>;

    /// Forgets the failures of a key (after a complete sign-in of that user). An active lockout
    /// and attempts in flight stay.
    fn reset<'a>(&'a self, key: &'a LockoutKey) -> StoreFuture<'a, Result<(), LockoutStoreError>>;
}

/// One reserved password check for a set of keys (the username and the client address).
///
/// End it with [`Attempt::fail`] or [`Attempt::forgive`]. Dropped without either (the request
/// was cancelled or failed half-way), it counts as a failure: the outcome of the check is unknown,
/// and aborting must never be a way to guess for free.
#[must_use = "an attempt must end with fail or forgive"]
pub struct Attempt {
    store: Arc<dyn FailedLoginStore>,
    keys: Vec<LockoutKey>,
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt").field("keys", &self.keys).finish()
    }
}

impl Attempt {
    /// Reserves an attempt for every key, in order. `None` when any key refuses (it is locked,
    /// or its threshold is taken by failures and attempts in flight); the keys reserved before it
    /// are forgiven again.
    pub async fn begin(
        store: Arc<dyn FailedLoginStore>,
        keys: impl IntoIterator<Item = LockoutKey>,
    ) -> Result<Option<Attempt>, LockoutStoreError> {
        let mut attempt = Attempt {
            store,
            keys: Vec::new(),
        };
        for key in keys {
            if !attempt.store.begin_attempt(&key).await? {
                attempt.forgive().await?;
                return Ok(None);
            }
            attempt.keys.push(key);
        }
        Ok(Some(attempt))
    }

    /// Ends the attempt as a failure of every key; returns whether any of them is now locked.
    pub async fn fail(mut self) -> Result<bool, LockoutStoreError> {
        let keys = std::mem::take(&mut self.keys);
        let mut locked = false;
        for key in &keys {
            locked |= self.store.fail_attempt(key).await?;
        }
        Ok(locked)
    }

    /// Ends the attempt without counting it.
    pub async fn forgive(mut self) -> Result<(), LockoutStoreError> {
        let keys = std::mem::take(&mut self.keys);
        for key in &keys {
            self.store.forgive(key).await?;
        }
        Ok(())
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.keys);
        let store = self.store.clone();
        tracing::warn!(
            ?keys,
            "login attempt abandoned before its end: counted as a failure"
        );
        let end = async move {
            for key in &keys {
                if let Err(e) = store.fail_attempt(key).await {
                    tracing::error!(error = %e, "cannot count an abandoned login attempt");
                }
            }
        };
        // Outside a runtime nothing can run the store's future; the in-flight mark then expires
        // after `IN_FLIGHT_TTL_SECS`.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(end));
        }
    }
}

/// How long an attempt counts as in flight at most (a password check takes milliseconds, plus at
/// most a few seconds of waiting for a hashing permit). Older marks belong to lost requests.
const IN_FLIGHT_TTL_SECS: i64 = 60;

#[derive(Clone, Copy, Debug)]
struct Counter {
    failures: u32,
    window_start: i64,
    locked_until: i64,
    /// Attempts begun and not ended yet.
    in_flight: u32,
    /// When the newest of them began.
    last_begin: i64,
}

impl Counter {
    fn new(now: i64) -> Self {
        Self {
            failures: 0,
            window_start: now,
            locked_until: 0,
            in_flight: 0,
            last_begin: now,
        }
    }

    /// Starts a new window when the old one is over, and drops stale in-flight marks.
    fn refresh(&mut self, now: i64, window: i64) {
        if now.saturating_sub(self.window_start) >= window && self.locked_until <= now {
            self.failures = 0;
            self.window_start = now;
        }
        if self.in_flight > 0 && now.saturating_sub(self.last_begin) >= IN_FLIGHT_TTL_SECS {
            self.in_flight = 0;
        }
    }

    /// Whether the entry still matters at `now`.
    fn is_live(&self, now: i64, window: i64) -> bool {
        self.locked_until > now
            || now.saturating_sub(self.window_start) < window
            || self.has_fresh_attempts(now)
    }

    fn has_fresh_attempts(&self, now: i64) -> bool {
        self.in_flight > 0 && now.saturating_sub(self.last_begin) < IN_FLIGHT_TTL_SECS
    }
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

    /// The counter of `key`, created if needed; when the map is full, entries that no longer
    /// matter make room first.
    fn counter<'m>(
        &self,
        counters: &'m mut HashMap<LockoutKey, Counter>,
        key: &LockoutKey,
        now: i64,
    ) -> &'m mut Counter {
        let window = Self::secs(self.settings.window_secs);
        if counters.len() >= self.capacity && !counters.contains_key(key) {
            // Drop counters that no longer matter: window over, not locked, nothing in flight.
            counters.retain(|_, c| c.is_live(now, window));
            if counters.len() >= self.capacity {
                // Still full (an attacker spraying names): forget the entries that are neither
                // locked nor being checked, keeping every active lockout.
                counters.retain(|_, c| c.locked_until > now || c.has_fresh_attempts(now));
            }
        }
        let counter = counters
            .entry(key.clone())
            .or_insert_with(|| Counter::new(now));
        counter.refresh(now, window);
        counter
    }

    /// Counts a failure on a refreshed counter; returns whether it is locked now.
    fn count_failure(&self, counter: &mut Counter, key: &LockoutKey, now: i64) -> bool {
        if counter.locked_until > now {
            // Failures while locked do not extend the lockout.
            return true;
        }
        counter.failures = counter.failures.saturating_add(1);
        if counter.failures >= self.max_for(key) {
            counter.locked_until = now.saturating_add(Self::secs(self.settings.lockout_secs));
            // A new window starts when the lockout ends.
            counter.failures = 0;
            counter.window_start = counter.locked_until;
            return true;
        }
        false
    }

    /// Synchronous core of [`FailedLoginStore::begin_attempt`], at time `now`.
    fn begin_attempt_at(&self, key: &LockoutKey, now: i64) -> bool {
        let max = self.max_for(key);
        let mut counters = self.lock();
        let counter = self.counter(&mut counters, key, now);
        if counter.locked_until > now || counter.failures.saturating_add(counter.in_flight) >= max {
            return false;
        }
        counter.in_flight += 1;
        counter.last_begin = now;
        true
    }

    /// Synchronous core of [`FailedLoginStore::fail_attempt`], at time `now`.
    fn fail_attempt_at(&self, key: &LockoutKey, now: i64) -> bool {
        let mut counters = self.lock();
        let counter = self.counter(&mut counters, key, now);
        counter.in_flight = counter.in_flight.saturating_sub(1);
        self.count_failure(counter, key, now)
    }

    /// Synchronous core of [`FailedLoginStore::forgive`], at time `now`.
    fn forgive_at(&self, key: &LockoutKey, now: i64) {
        let window = Self::secs(self.settings.window_secs);
        let mut counters = self.lock();
        if let Some(counter) = counters.get_mut(key) {
            counter.in_flight = counter.in_flight.saturating_sub(1);
            let no_failures = counter.failures == 0 || !counter.is_live(now, window);
            if no_failures && counter.in_flight == 0 && counter.locked_until <= now {
                counters.remove(key);
            }
        }
    }

    /// Synchronous core of [`FailedLoginStore::record_failure`], at time `now`.
    fn record_failure_at(&self, key: &LockoutKey, now: i64) -> bool {
        let mut counters = self.lock();
        let counter = self.counter(&mut counters, key, now);
        self.count_failure(counter, key, now)
    }

    /// Synchronous core of [`FailedLoginStore::reset`], at time `now`.
    fn reset_at(&self, key: &LockoutKey, now: i64) {
        let mut counters = self.lock();
        let Some(counter) = counters.get_mut(key) else {
            return;
        };
        if counter.locked_until > now {
            return;
        }
        if counter.in_flight > 0 {
            // Other checks of this key are running: they still count against the threshold.
            counter.failures = 0;
            counter.window_start = now;
        } else {
            counters.remove(key);
        }
    }
}

impl FailedLoginStore for InMemoryFailedLoginStore {
    fn is_locked<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>> {
        Box::pin(std::future::ready(Ok(self.is_locked_at(key, now_unix()))))
    }

    fn begin_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>> {
        // Computed here, not when the future is polled: the check and the count happen under
        // one lock, which is what makes the reservation atomic.
        Box::pin(std::future::ready(Ok(
            self.begin_attempt_at(key, now_unix())
        )))
    }

    fn fail_attempt<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<bool, LockoutStoreError>> {
        Box::pin(std::future::ready(
            Ok(self.fail_attempt_at(key, now_unix())),
        ))
    }

    fn forgive<'a>(
        &'a self,
        key: &'a LockoutKey,
    ) -> StoreFuture<'a, Result<(), LockoutStoreError>> {
        self.forgive_at(key, now_unix());
        Box::pin(std::future::ready(Ok(())))
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
        self.reset_at(key, now_unix());
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
        let k = LockoutKey::ip(IpAddr::from([127, 0, 0, 1]));
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
    fn attempts_in_flight_count_against_the_threshold_before_they_fail() {
        let s = store();
        let k = LockoutKey::user("alice");
        assert!(s.begin_attempt_at(&k, 1000));
        assert!(s.begin_attempt_at(&k, 1000));
        assert!(s.begin_attempt_at(&k, 1000));
        assert!(
            !s.begin_attempt_at(&k, 1000),
            "3 checks are running already"
        );
        assert!(!s.fail_attempt_at(&k, 1001));
        assert!(!s.begin_attempt_at(&k, 1001), "1 failure + 2 running");
        assert!(!s.fail_attempt_at(&k, 1001));
        assert!(s.fail_attempt_at(&k, 1001));
        assert!(s.is_locked_at(&k, 1002));
        assert!(!s.begin_attempt_at(&k, 1002));
    }

    #[test]
    fn a_forgiven_attempt_frees_its_place_without_counting() {
        let s = store();
        let k = LockoutKey::ip(IpAddr::from([192, 0, 2, 1]));
        for t in 0..20 {
            assert!(s.begin_attempt_at(&k, 1000 + t));
            s.forgive_at(&k, 1000 + t);
        }
        assert!(!s.is_locked_at(&k, 1020));
        assert!(s.lock().is_empty(), "nothing left to remember");
    }

    #[test]
    fn a_stale_in_flight_mark_is_forgotten() {
        let s = store();
        let k = LockoutKey::user("alice");
        for _ in 0..3 {
            assert!(s.begin_attempt_at(&k, 1000));
        }
        assert!(!s.begin_attempt_at(&k, 1000 + IN_FLIGHT_TTL_SECS - 1));
        assert!(s.begin_attempt_at(&k, 1000 + IN_FLIGHT_TTL_SECS));
    }

    #[test]
    fn reset_keeps_the_attempts_still_in_flight() {
        let s = store();
        let k = LockoutKey::user("alice");
        s.record_failure_at(&k, now_unix());
        s.record_failure_at(&k, now_unix());
        assert!(s.begin_attempt_at(&k, now_unix()));
        s.reset_at(&k, now_unix());
        assert!(s.begin_attempt_at(&k, now_unix()));
        assert!(s.begin_attempt_at(&k, now_unix()));
        assert!(!s.begin_attempt_at(&k, now_unix()), "3 in flight");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_bit_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(LockoutKey::ip(a), LockoutKey::ip(b));
        assert_ne!(LockoutKey::ip(a), LockoutKey::ip(other));
        assert_eq!(
            LockoutKey::ip(a),
            LockoutKey::Ip("2001:db8:1:2::/64".into())
        );
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            LockoutKey::ip(mapped),
            LockoutKey::ip(IpAddr::from([192, 0, 2, 7]))
        );
        assert_eq!(
            LockoutKey::ip(IpAddr::from([192, 0, 2, 7])),
            LockoutKey::Ip("192.0.2.7".into())
        );
    }

    #[tokio::test]
    async fn an_attempt_refused_by_one_key_gives_the_others_back() {
        let s = Arc::new(store());
        let user = LockoutKey::user("alice");
        let ip = LockoutKey::ip(IpAddr::from([192, 0, 2, 1]));
        for _ in 0..5 {
            s.record_failure_at(&ip, now_unix());
        }
        assert!(s.is_locked_at(&ip, now_unix()));
        let store: Arc<dyn FailedLoginStore> = s.clone();
        let attempt = Attempt::begin(store, [user.clone(), ip]).await.unwrap();
        assert!(attempt.is_none());
        assert!(!s.lock().contains_key(&user), "the user key was given back");
    }

    #[tokio::test]
    async fn an_abandoned_attempt_counts_as_a_failure() {
        let s = Arc::new(store());
        let user = LockoutKey::user("alice");
        let store: Arc<dyn FailedLoginStore> = s.clone();
        let attempt = Attempt::begin(store, [user.clone()]).await.unwrap();
        drop(attempt);
        tokio::task::yield_now().await;
        let counters = s.lock();
        let counter = counters.get(&user).unwrap();
        assert_eq!((counter.failures, counter.in_flight), (1, 0));
    }

    #[tokio::test]
    async fn an_ended_attempt_is_not_counted_again_when_dropped() {
        let s = Arc::new(store());
        let user = LockoutKey::user("alice");
        let store: Arc<dyn FailedLoginStore> = s.clone();
        let attempt = Attempt::begin(store.clone(), [user.clone()]).await.unwrap();
        attempt.unwrap().forgive().await.unwrap();
        let attempt = Attempt::begin(store, [user.clone()]).await.unwrap();
        assert!(!attempt.unwrap().fail().await.unwrap());
        tokio::task::yield_now().await;
        let counters = s.lock();
        let counter = counters.get(&user).unwrap();
        assert_eq!((counter.failures, counter.in_flight), (1, 0));
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
