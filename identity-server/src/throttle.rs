//! Counting failures per key in a fixed window, for throttles that must act before expensive
//! work (client authentication counts wrong secrets per client and per network before it runs
//! Argon2id), and the network key of an address.
//!
//! An attempt is reserved atomically before the expensive check ([`FailureCounter::begin`]) and
//! given back when it succeeds ([`FailureCounter::forgive`]): counting only after the check
//! would let a burst of parallel attempts all pass a check that none of them has counted yet.

use std::net::IpAddr;

use crate::oidc::now;
use crate::store::memory::ExpiringMap;

/// The throttle key of an address: an IPv4 address as is, an IPv6 address by its /64 network
/// (one host usually owns a whole /64 and can rotate through it at will).
pub fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The throttle key of the request's peer (`"unknown"` without one). Forwarding headers are not
/// trusted: anyone can send them.
pub fn peer_key(req: &actix_web::HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| network_key(a.ip()))
}

/// Failures per key, counted in a fixed window that starts at the key's first failure.
#[derive(Debug)]
pub struct FailureCounter {
    counts: ExpiringMap<u32>,
    max: u32,
    window_secs: i64,
    max_keys: usize,
}

impl FailureCounter {
    /// Allows `max` failures per key per `window_secs`, tracking at most `max_keys` keys (when
    /// that many keys have live windows, new keys are not throttled rather than evicting the
    /// counted ones).
    pub fn new(max: u32, window_secs: i64, max_keys: usize) -> Self {
        Self {
            counts: ExpiringMap::default(),
            max,
            window_secs,
            max_keys,
        }
    }

    /// Reserves an attempt for `key`: `false` (refuse without checking) when `max` failures or
    /// reserved attempts are already counted in the window, otherwise counts one and returns
    /// `true`.
    pub fn begin(&self, key: &str) -> bool {
        let max = self.max;
        match self.counts.update(key, |n, _| {
            if *n >= max {
                false
            } else {
                *n += 1;
                true
            }
        }) {
            Some(admitted) => admitted,
            None => {
                if max == 0 {
                    return false;
                }
                self.counts
                    .insert_bounded(key, 1, now() + self.window_secs, self.max_keys);
                true
            }
        }
    }

    /// Gives back an attempt reserved by [`Self::begin`] that succeeded.
    pub fn forgive(&self, key: &str) {
        self.counts.update(key, |n, _| *n = n.saturating_sub(1));
    }

    /// Whether `key` is at its limit (no attempt would be admitted).
    pub fn is_blocked(&self, key: &str) -> bool {
        self.counts.get(key).is_some_and(|n| n >= self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_max_attempts_and_a_forgiven_attempt_frees_one() {
        let counter = FailureCounter::new(2, 60, 10);
        assert!(counter.begin("k"));
        assert!(counter.begin("k"));
        assert!(!counter.begin("k"));
        assert!(counter.is_blocked("k"));
        assert!(counter.begin("other"));
        counter.forgive("k");
        assert!(counter.begin("k"));
    }

    #[test]
    fn ipv6_addresses_of_one_64_network_share_a_key_and_ipv4_keeps_its_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_key(a), network_key(b));
        assert_ne!(network_key(a), network_key(c));
        assert_eq!(network_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(
            network_key("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7"
        );
    }
}
