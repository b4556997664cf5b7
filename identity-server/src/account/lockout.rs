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
//! Parallel *correct* logins from one address never refuse each other: only the username's
//! counter reserves attempts in flight; the address's counter is checked (locked, or failures at
//! its threshold) and counts failures, but holds no reservation.
//! Counters live behind [`FailedLoginStore`] (embedded database or Redis); the rules are
//! [`crate::store::rules::LockoutCounter`].

use std::fmt;
use std::sync::Arc;

use crate::store::StoreError;
use crate::store::rules::LockoutPolicy;
pub use crate::store::{FailedLoginStore, LockoutKey};

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
    /// The durations, for the stores.
    pub fn policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            window_secs: i64::try_from(self.window_secs).unwrap_or(i64::MAX),
            lockout_secs: i64::try_from(self.lockout_secs).unwrap_or(i64::MAX),
        }
    }

    /// The threshold of a key.
    pub fn max_for(&self, key: &LockoutKey) -> u32 {
        if key.is_user() {
            self.max_failures_per_user
        } else {
            self.max_failures_per_ip
        }
    }

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

/// One reserved password check for a set of keys (the username and the client address).
///
/// End it with [`Attempt::fail`] or [`Attempt::forgive`]. Dropped without either (the request
/// was cancelled or failed half-way), it counts as a failure: the outcome of the check is unknown,
/// and aborting must never be a way to guess for free.
#[must_use = "an attempt must end with fail or forgive"]
pub struct Attempt {
    store: Arc<dyn FailedLoginStore>,
    settings: LockoutSettings,
    keys: Vec<LockoutKey>,
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt").field("keys", &self.keys).finish()
    }
}

/// Whether attempts in flight count against `key`: for a username yes (parallel guesses at one
/// account cannot outrun its lockout), for an address no (parallel right passwords from one NAT
/// must not refuse each other).
fn reserves(key: &LockoutKey) -> bool {
    key.is_user()
}

impl Attempt {
    /// Reserves an attempt for every key, in order. `None` when any key refuses (it is locked,
    /// or its threshold is taken by failures and attempts in flight); the keys reserved before it
    /// are forgiven again.
    pub async fn begin(
        store: Arc<dyn FailedLoginStore>,
        settings: &LockoutSettings,
        keys: impl IntoIterator<Item = LockoutKey>,
    ) -> Result<Option<Attempt>, StoreError> {
        let mut attempt = Attempt {
            store,
            settings: settings.clone(),
            keys: Vec::new(),
        };
        for key in keys {
            let max = settings.max_for(&key);
            if !attempt
                .store
                .begin_attempt(&key, max, reserves(&key))
                .await?
            {
                attempt.forgive().await?;
                return Ok(None);
            }
            attempt.keys.push(key);
        }
        Ok(Some(attempt))
    }

    /// Ends the attempt as a failure of every key; returns whether any of them is now locked.
    /// Every key is ended even when one fails (a reservation left behind would hold the
    /// username for a minute); the first error is returned afterwards.
    pub async fn fail(mut self) -> Result<bool, StoreError> {
        let keys = std::mem::take(&mut self.keys);
        let mut locked = false;
        let mut first_error = None;
        for key in &keys {
            match self
                .store
                .fail_attempt(key, self.settings.max_for(key), reserves(key))
                .await
            {
                Ok(left) => locked |= left == 0,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(locked), Err)
    }

    /// Ends the attempt without counting it (every key, even when one fails).
    pub async fn forgive(mut self) -> Result<(), StoreError> {
        let keys = std::mem::take(&mut self.keys);
        let mut first_error = None;
        for key in keys.iter().filter(|k| reserves(k)) {
            if let Err(e) = self.store.forgive(key).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.keys);
        let store = self.store.clone();
        let settings = self.settings.clone();
        tracing::warn!(
            ?keys,
            "login attempt abandoned before its end: counted as a failure"
        );
        let end = async move {
            for key in &keys {
                if let Err(e) = store
                    .fail_attempt(key, settings.max_for(key), reserves(key))
                    .await
                {
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

/// Counts one failure that had no attempt begun (a taken username at account creation, a failed
/// second factor) against every key; returns whether any is now locked.
pub async fn record_failure(
    store: &dyn FailedLoginStore,
    settings: &LockoutSettings,
    keys: &[LockoutKey],
) -> Result<bool, StoreError> {
    let mut locked = false;
    for key in keys {
        locked |= store
            .fail_attempt(key, settings.max_for(key), false)
            .await?
            == 0;
    }
    Ok(locked)
}
