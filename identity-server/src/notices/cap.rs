//! The per-account cap on notices: at most `max` per account in a rolling window, so that
//! nobody can turn the server into a mail cannon aimed at one address (e.g. by signing in from
//! fresh browsers in a loop with a stolen password).
//!
//! Kept in this replica's memory (each replica caps on its own, so N replicas send at most N
//! times the cap), in a map bounded to `max_accounts` entries keyed by the SHA-256 of the
//! subject: when it is full, the accounts with nothing in the window are forgotten, and if none
//! can be, a notice for an account not in the map is refused (fail closed: a flood of accounts
//! cannot push one out to reset its count).

use std::collections::{HashMap, VecDeque};

/// The cap's state.
#[derive(Debug)]
pub struct AccountCap {
    max: u32,
    window_secs: i64,
    max_accounts: usize,
    sent: HashMap<[u8; 32], VecDeque<i64>>,
}

fn key(subject: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(subject.as_bytes()).into()
}

impl AccountCap {
    /// `max` notices per account per `window_secs`, for up to `max_accounts` accounts.
    pub fn new(max: u32, window_secs: i64, max_accounts: usize) -> Self {
        Self {
            max,
            window_secs,
            max_accounts,
            sent: HashMap::new(),
        }
    }

    /// Whether one more notice for `subject` may go out at `now`; counts it when it may.
    pub fn allow(&mut self, subject: &str, now: i64) -> bool {
        let k = key(subject);
        let since = now - self.window_secs;
        if !self.sent.contains_key(&k) && self.sent.len() >= self.max_accounts {
            self.sent.retain(|_, times| {
                while times.front().is_some_and(|&t| t <= since) {
                    times.pop_front();
                }
                !times.is_empty()
            });
            if self.sent.len() >= self.max_accounts {
                return false;
            }
        }
        let times = self.sent.entry(k).or_default();
        while times.front().is_some_and(|&t| t <= since) {
            times.pop_front();
        }
        if times.len() >= self.max as usize {
            return false;
        }
        times.push_back(now);
        true
    }

    /// Accounts remembered.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Whether no account is remembered.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_gets_at_most_its_cap_per_window_then_again_after_it() {
        let mut cap = AccountCap::new(3, 3600, 10);
        assert!((0..3).all(|i| cap.allow("alice", 1000 + i)));
        assert!(!cap.allow("alice", 1010));
        assert!(cap.allow("bob", 1010), "another account has its own count");
        assert!(!cap.allow("alice", 1000 + 3599));
        assert!(
            cap.allow("alice", 1000 + 3600),
            "the oldest left the window"
        );
    }

    #[test]
    fn the_map_stays_bounded_and_a_flood_of_accounts_cannot_reset_one() {
        let mut cap = AccountCap::new(1, 3600, 2);
        assert!(cap.allow("alice", 0));
        assert!(cap.allow("bob", 0));
        assert!(!cap.allow("carol", 10), "full, nothing expired: refused");
        assert_eq!(cap.len(), 2);
        assert!(!cap.allow("alice", 10), "alice keeps her count");
        assert!(cap.allow("carol", 3600), "expired accounts are forgotten");
        assert!(cap.len() <= 2);
    }
}
