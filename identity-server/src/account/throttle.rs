//! A quota on account creation: at most a few new accounts per client network per hour, and a
//! global cap per hour (section `account.creation`).
//!
//! Every creation costs an Argon2id hash and a rewrite of the user store, and anyone can ask for
//! one, so creations are counted like the expensive work they are. A slot is reserved atomically
//! *before* the hash ([`reserve`]), for the client's network (an IPv4 address,
//! or the /64 of an IPv6 address, see [`LockoutKey::ip`]) and globally in one step, so parallel
//! requests cannot pass the quota together. A slot is given back only when the server was too
//! busy to hash at all ([`give_back`]); a refused (taken) username keeps its
//! slot, since its hash was paid for.
//!
//! Windows are fixed: a key's window starts at its first counted creation and lasts
//! `window_secs`; the counters live in the [`QuotaStore`] (shared by every replica) and expire
//! with their window.

use super::lockout::LockoutKey;
use crate::store::{QuotaKey, QuotaStore, StoreError};

/// Limits of account creation (section `account.creation`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreationSettings {
    /// Accounts one client network may create per window (default 5).
    pub max_per_ip: u32,
    /// Accounts all clients together may create per window (default 1000).
    pub max_global: u32,
    /// Length of the window, in seconds (default 3600).
    pub window_secs: u64,
}

impl Default for CreationSettings {
    fn default() -> Self {
        Self {
            max_per_ip: 5,
            max_global: 1000,
            window_secs: 3600,
        }
    }
}

impl CreationSettings {
    /// Checks the values; the error names the key and quotes the bad value.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1_000_000).contains(&self.max_per_ip) {
            return Err(format!(
                "account.creation.max_per_ip: must be between 1 and 1000000, got \"{}\"",
                self.max_per_ip
            ));
        }
        if !(1..=1_000_000).contains(&self.max_global) {
            return Err(format!(
                "account.creation.max_global: must be between 1 and 1000000, got \"{}\"",
                self.max_global
            ));
        }
        if !(1..=7 * 24 * 3600).contains(&self.window_secs) {
            return Err(format!(
                "account.creation.window_secs: must be between 1 and 604800, got \"{}\"",
                self.window_secs
            ));
        }
        Ok(())
    }
}

/// Why a creation was refused, and when to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// This client network used up its quota.
    Network {
        /// Seconds until its window ends.
        retry_after_secs: u64,
    },
    /// All clients together used up the global cap.
    Global {
        /// Seconds until the global window ends.
        retry_after_secs: u64,
    },
}

impl Refused {
    /// Seconds until a retry can succeed (at least 1).
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Self::Network { retry_after_secs } | Self::Global { retry_after_secs } => {
                retry_after_secs.max(1)
            }
        }
    }
}

/// The two counters of one creation: the client network's and the global one.
pub fn creation_keys(settings: &CreationSettings, network: &LockoutKey) -> [QuotaKey; 2] {
    let window_secs = i64::try_from(settings.window_secs).unwrap_or(i64::MAX);
    let net = match network {
        LockoutKey::Ip(net) => net.clone(),
        LockoutKey::User(_) => "unknown".into(),
    };
    [
        QuotaKey {
            key: format!("cq:n:{net}"),
            max: settings.max_per_ip,
            window_secs,
        },
        QuotaKey {
            key: "cq:all".into(),
            max: settings.max_global,
            window_secs,
        },
    ]
}

/// Reserves one creation for the client `network`, counting it for the network and globally in
/// one atomic step, or says why not.
pub async fn reserve(
    quotas: &dyn QuotaStore,
    settings: &CreationSettings,
    network: &LockoutKey,
) -> Result<Result<(), Refused>, StoreError> {
    let keys = creation_keys(settings, network);
    Ok(quotas.reserve(&keys).await?.map_err(|refused| {
        let retry_after_secs = refused.retry_after_secs;
        if refused.index == 0 {
            Refused::Network { retry_after_secs }
        } else {
            Refused::Global { retry_after_secs }
        }
    }))
}

/// Gives back a slot that did no work (the server was too busy to hash).
pub async fn give_back(
    quotas: &dyn QuotaStore,
    settings: &CreationSettings,
    network: &LockoutKey,
) -> Result<(), StoreError> {
    quotas.give_back(&creation_keys(settings, network)).await
}
