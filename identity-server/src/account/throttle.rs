//! A quota on account creation: at most a few new accounts per client network per hour, and a
//! global cap per hour (section `account.creation`).
//!
//! Every creation costs an Argon2id hash and a rewrite of the user store, and anyone can ask for
//! one, so creations are counted like the expensive work they are. A slot is reserved atomically
//! *before* the hash ([`CreationThrottle::reserve`]), for the client's network (an IPv4 address,
//! or the /64 of an IPv6 address, see [`LockoutKey::ip`]) and globally in one step, so parallel
//! requests cannot pass the quota together. A slot is given back only when the server was too
//! busy to hash at all ([`CreationThrottle::give_back`]); a refused (taken) username keeps its
//! slot, since its hash was paid for.
//!
//! Windows are fixed: a key's window starts at its first counted creation and lasts
//! `window_secs`. Only keys that hold a slot in a live window are kept, so the map holds at most
//! about twice the global cap (the slots of the current and of the previous global window).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use super::lockout::LockoutKey;

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

#[derive(Clone, Copy, Debug)]
struct Window {
    start: i64,
    count: u32,
}

impl Window {
    /// Starts a new window at `now` when this one is over.
    fn roll(&mut self, now: i64, length: i64) {
        if now.saturating_sub(self.start) >= length {
            self.start = now;
            self.count = 0;
        }
    }

    fn retry_after(&self, now: i64, length: i64) -> u64 {
        u64::try_from(self.start.saturating_add(length).saturating_sub(now)).unwrap_or(1)
    }
}

struct Counts {
    global: Window,
    per_key: HashMap<LockoutKey, Window>,
}

/// In-memory account-creation quota (per process).
pub struct CreationThrottle {
    settings: CreationSettings,
    counts: Mutex<Counts>,
}

impl fmt::Debug for CreationThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreationThrottle")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl CreationThrottle {
    /// A throttle with these limits.
    pub fn new(settings: CreationSettings) -> Self {
        Self {
            settings,
            counts: Mutex::new(Counts {
                // Long over, so the first reservation starts a fresh window.
                global: Window {
                    start: i64::MIN,
                    count: 0,
                },
                per_key: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Every operation leaves the counts consistent, so a poisoned lock still holds good data.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn length(&self) -> i64 {
        i64::try_from(self.settings.window_secs).unwrap_or(i64::MAX)
    }

    /// Reserves one creation for `key` (a client network key) at `now`, counting it for the key
    /// and globally at once, or says why not.
    pub fn reserve(&self, key: &LockoutKey, now: i64) -> Result<(), Refused> {
        let length = self.length();
        let mut counts = self.lock();
        let counts = &mut *counts;
        counts.global.roll(now, length);
        if let Some(window) = counts.per_key.get_mut(key) {
            window.roll(now, length);
            if window.count >= self.settings.max_per_ip {
                return Err(Refused::Network {
                    retry_after_secs: window.retry_after(now, length),
                });
            }
        }
        if counts.global.count >= self.settings.max_global {
            return Err(Refused::Global {
                retry_after_secs: counts.global.retry_after(now, length),
            });
        }
        if counts.per_key.len() >= self.settings.max_global as usize {
            // Only keys with a slot in a live window matter; the others can go.
            counts
                .per_key
                .retain(|_, w| now.saturating_sub(w.start) < length);
        }
        counts.global.count += 1;
        let window = counts.per_key.entry(key.clone()).or_insert(Window {
            start: now,
            count: 0,
        });
        window.count += 1;
        Ok(())
    }

    /// Gives back a slot reserved for `key` that did no work (the server was too busy to hash).
    pub fn give_back(&self, key: &LockoutKey) {
        let mut counts = self.lock();
        counts.global.count = counts.global.count.saturating_sub(1);
        if let Some(window) = counts.per_key.get_mut(key) {
            window.count = window.count.saturating_sub(1);
            if window.count == 0 {
                counts.per_key.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn throttle(max_per_ip: u32, max_global: u32) -> CreationThrottle {
        CreationThrottle::new(CreationSettings {
            max_per_ip,
            max_global,
            window_secs: 3600,
        })
    }

    fn ip(last: u8) -> LockoutKey {
        LockoutKey::ip(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn a_network_gets_its_quota_per_window_and_then_waits() {
        let t = throttle(2, 100);
        assert_eq!(t.reserve(&ip(1), 1000), Ok(()));
        assert_eq!(t.reserve(&ip(1), 1010), Ok(()));
        assert_eq!(
            t.reserve(&ip(1), 1100),
            Err(Refused::Network {
                retry_after_secs: 3500
            })
        );
        assert_eq!(t.reserve(&ip(2), 1100), Ok(()), "other networks go on");
        assert_eq!(t.reserve(&ip(1), 4600), Ok(()), "a new window");
    }

    #[test]
    fn the_global_cap_holds_across_networks() {
        let t = throttle(5, 3);
        for last in 1..=3 {
            assert_eq!(t.reserve(&ip(last), 1000), Ok(()));
        }
        assert_eq!(
            t.reserve(&ip(4), 1200),
            Err(Refused::Global {
                retry_after_secs: 3400
            })
        );
        assert_eq!(t.reserve(&ip(4), 4600), Ok(()));
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_quota() {
        let t = throttle(1, 100);
        let a = LockoutKey::ip("2001:db8::1".parse().unwrap());
        let b = LockoutKey::ip("2001:db8::ffff:2".parse().unwrap());
        assert_eq!(t.reserve(&a, 1000), Ok(()));
        assert!(matches!(t.reserve(&b, 1000), Err(Refused::Network { .. })));
    }

    #[test]
    fn a_given_back_slot_can_be_used_again() {
        let t = throttle(1, 1);
        assert_eq!(t.reserve(&ip(1), 1000), Ok(()));
        t.give_back(&ip(1));
        assert_eq!(t.reserve(&ip(1), 1000), Ok(()));
        assert!(t.reserve(&ip(2), 1000).is_err());
    }

    #[test]
    fn the_map_holds_no_more_keys_than_the_global_cap() {
        let t = throttle(1, 3);
        for round in 0..10_i64 {
            for last in 0..3 {
                let key = ip(u8::try_from(round * 3 + last).unwrap());
                assert_eq!(t.reserve(&key, 1000 + round * 3600), Ok(()));
            }
        }
        assert!(t.lock().per_key.len() <= 4);
    }

    #[test]
    fn bad_limits_are_refused_naming_the_key() {
        let mut s = CreationSettings::default();
        assert_eq!(s.validate(), Ok(()));
        s.max_per_ip = 0;
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("account.creation.max_per_ip")
        );
        let s = CreationSettings {
            max_global: 0,
            ..CreationSettings::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("account.creation.max_global")
        );
        let s = CreationSettings {
            window_secs: 0,
            ..CreationSettings::default()
        };
        assert!(s.validate().unwrap_err().contains("\"0\""));
    }
}
