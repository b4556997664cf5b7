//! The counting and rotation rules every backend follows, as plain functions on plain records.
//!
//! The embedded backend runs them inside one redb write transaction; the Redis backend runs a
//! line-by-line port of them in Lua (`store/redis/*.lua`), so both answer alike. The conformance
//! suite (`tests/it/store`) checks that they do.

use serde::{Deserialize, Serialize};

use super::Grant;

/// How long an attempt counts as in flight at most (a password check takes milliseconds, plus at
/// most a few seconds of waiting for a hashing permit). Older marks belong to lost requests.
pub const IN_FLIGHT_TTL_SECS: i64 = 60;

/// The lockout's durations (from `account.lockout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Length of the counting window, in seconds.
    pub window_secs: i64,
    /// How long a lockout lasts, in seconds.
    pub lockout_secs: i64,
}

/// One failed-login counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutCounter {
    /// Failures in the current window.
    pub failures: u32,
    /// Start of the current window (unix seconds).
    pub window_start: i64,
    /// Locked until then (unix seconds; 0 when never locked).
    pub locked_until: i64,
    /// Attempts begun and not ended yet.
    pub in_flight: u32,
    /// When the newest of them began.
    pub last_begin: i64,
}

impl LockoutCounter {
    /// A fresh counter at `now`.
    pub fn new(now: i64) -> Self {
        Self {
            failures: 0,
            window_start: now,
            locked_until: 0,
            in_flight: 0,
            last_begin: now,
        }
    }

    /// Starts a new window when the old one is over, and drops stale in-flight marks.
    pub fn refresh(&mut self, now: i64, policy: LockoutPolicy) {
        if now.saturating_sub(self.window_start) >= policy.window_secs && self.locked_until <= now {
            self.failures = 0;
            self.window_start = now;
        }
        if self.in_flight > 0 && now.saturating_sub(self.last_begin) >= IN_FLIGHT_TTL_SECS {
            self.in_flight = 0;
        }
    }

    /// Whether the counter is locked at `now`.
    pub fn is_locked(&self, now: i64) -> bool {
        self.locked_until > now
    }

    /// Reserves an attempt (see [`super::FailedLoginStore::begin_attempt`]).
    pub fn begin(
        &mut self,
        now: i64,
        policy: LockoutPolicy,
        max: u32,
        count_in_flight: bool,
    ) -> bool {
        self.refresh(now, policy);
        if self.is_locked(now) {
            return false;
        }
        if !count_in_flight {
            return self.failures < max;
        }
        if self.failures.saturating_add(self.in_flight) >= max {
            return false;
        }
        self.in_flight += 1;
        self.last_begin = now;
        true
    }

    /// Counts a failure, ending a reserved attempt when `reserved`; returns the failures left
    /// before the counter locks: 0 when it is locked now (see
    /// [`super::FailedLoginStore::fail_attempt`]).
    pub fn fail(&mut self, now: i64, policy: LockoutPolicy, max: u32, reserved: bool) -> u32 {
        self.refresh(now, policy);
        if reserved {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        if self.is_locked(now) {
            // Failures while locked do not extend the lockout.
            return 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= max {
            self.locked_until = now.saturating_add(policy.lockout_secs);
            // A new window starts when the lockout ends.
            self.failures = 0;
            self.window_start = self.locked_until;
            return 0;
        }
        max - self.failures
    }

    /// Ends a reserved attempt without counting it.
    pub fn forgive(&mut self, now: i64, policy: LockoutPolicy) {
        self.refresh(now, policy);
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Forgets the failures; an active lockout and attempts in flight stay.
    pub fn reset(&mut self, now: i64, policy: LockoutPolicy) {
        self.refresh(now, policy);
        self.failures = 0;
        self.window_start = now;
    }

    /// When the counter no longer matters (nothing counted, not locked, nothing in flight):
    /// a store may drop it then. Unix seconds.
    pub fn expires_at(&self, policy: LockoutPolicy) -> i64 {
        let window_end = if self.failures > 0 {
            self.window_start.saturating_add(policy.window_secs)
        } else {
            0
        };
        let in_flight_end = if self.in_flight > 0 {
            self.last_begin.saturating_add(IN_FLIGHT_TTL_SECS)
        } else {
            0
        };
        window_end.max(self.locked_until).max(in_flight_end)
    }
}

/// The second-factor budget's policy (from `account.second_factor`, see
/// [`crate::account::budget::SecondFactorSettings`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetPolicy {
    /// Unsuccessful challenges per window; the one that reaches it starts a block.
    pub max_unsuccessful: u32,
    /// Length of the counting window, in seconds (it starts again after every block).
    pub window_secs: i64,
    /// Length of the first block, in seconds; every further block is twice as long.
    pub first_block_secs: i64,
    /// Longest block, in seconds.
    pub max_block_secs: i64,
    /// How long the escalation is remembered after the newest block, in seconds (only a
    /// successful second factor forgets it sooner).
    pub memory_secs: i64,
}

impl BudgetPolicy {
    /// Length of the `n`-th block since the last success (`n` ≥ 1): the first block, doubled
    /// `n - 1` times, at most the longest block.
    pub fn block_secs(&self, n: u32) -> i64 {
        let doublings = n.saturating_sub(1).min(62);
        self.first_block_secs
            .saturating_mul(1_i64 << doublings)
            .min(self.max_block_secs)
    }
}

/// One account's second-factor budget: every challenge started counts as unsuccessful until
/// its callback validates it ([`SecondFactorBudget::passed`]), so a challenge abandoned with
/// wrong codes counts too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorBudget {
    /// Challenges counted (not passed) in the current window, at most the maximum.
    pub unsuccessful: u32,
    /// Start of the current window (unix seconds; after a block, the block's end).
    pub window_start: i64,
    /// Blocked until then (unix seconds; 0 when not blocked).
    pub blocked_until: i64,
    /// Blocks since the last successful second factor (the escalation).
    pub blocks: u32,
    /// When the newest block began (unix seconds).
    pub last_block: i64,
}

/// The answer of [`SecondFactorBudget::begin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeBudget {
    /// The challenge may start. `blocked_until` is set when it took the last of the budget: a
    /// block began, and later challenges wait until then.
    Allowed {
        /// The end of the block this challenge began (unix seconds).
        blocked_until: Option<i64>,
    },
    /// The second factor is blocked until then (unix seconds): no challenge may start.
    Blocked {
        /// The end of the block.
        until: i64,
    },
}

impl SecondFactorBudget {
    /// A fresh budget at `now`.
    pub fn new(now: i64) -> Self {
        Self {
            unsuccessful: 0,
            window_start: now,
            blocked_until: 0,
            blocks: 0,
            last_block: 0,
        }
    }

    /// Starts a new window when the old one is over (never during a block), and forgets an
    /// escalation older than its memory.
    pub fn refresh(&mut self, now: i64, policy: BudgetPolicy) {
        if self.blocked_until <= now && now.saturating_sub(self.window_start) >= policy.window_secs
        {
            self.unsuccessful = 0;
            self.window_start = now;
        }
        if self.blocks > 0 && now.saturating_sub(self.last_block) >= policy.memory_secs {
            self.blocks = 0;
        }
    }

    /// Counts a challenge about to start, atomically in the store: refused while blocked;
    /// otherwise counted as unsuccessful, and the challenge that reaches the maximum begins
    /// the next block. The window then starts again at the block's end *with the budget still
    /// used up*, so that the one challenge after a block begins the next, twice as long one:
    /// waiting out a block does not refill the budget, only a window without challenges after
    /// it does, and the escalation stays until a success (or its memory) ends it.
    pub fn begin(&mut self, now: i64, policy: BudgetPolicy) -> ChallengeBudget {
        self.refresh(now, policy);
        if self.blocked_until > now {
            return ChallengeBudget::Blocked {
                until: self.blocked_until,
            };
        }
        self.unsuccessful = self
            .unsuccessful
            .saturating_add(1)
            .min(policy.max_unsuccessful);
        if self.unsuccessful < policy.max_unsuccessful {
            return ChallengeBudget::Allowed {
                blocked_until: None,
            };
        }
        self.blocks = self.blocks.saturating_add(1);
        self.blocked_until = now.saturating_add(policy.block_secs(self.blocks));
        self.last_block = now;
        self.window_start = self.blocked_until;
        ChallengeBudget::Allowed {
            blocked_until: Some(self.blocked_until),
        }
    }

    /// A challenge counted by [`SecondFactorBudget::begin`] passed: its count is forgiven, the
    /// escalation forgotten and a block ended (the account's owner just proved the second
    /// factor).
    pub fn passed(&mut self, now: i64, policy: BudgetPolicy) {
        self.refresh(now, policy);
        self.unsuccessful = self.unsuccessful.saturating_sub(1);
        self.blocks = 0;
        if self.blocked_until > now {
            self.blocked_until = 0;
        }
        self.window_start = self.window_start.min(now);
    }

    /// When the budget no longer matters (nothing counted, not blocked, no escalation): a store
    /// may drop it then. Unix seconds.
    pub fn expires_at(&self, policy: BudgetPolicy) -> i64 {
        let window_end = if self.unsuccessful > 0 {
            self.window_start.saturating_add(policy.window_secs)
        } else {
            0
        };
        let memory_end = if self.blocks > 0 {
            self.last_block.saturating_add(policy.memory_secs)
        } else {
            0
        };
        window_end.max(self.blocked_until).max(memory_end)
    }
}

/// One fixed-window quota counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaWindow {
    /// Start of the window (unix seconds): the first count.
    pub start: i64,
    /// Counted in the window.
    pub count: u32,
}

impl QuotaWindow {
    /// Whether the window is over at `now`.
    pub fn is_over(&self, now: i64, window_secs: i64) -> bool {
        now.saturating_sub(self.start) >= window_secs
    }

    /// Seconds until the window ends (at least 1).
    pub fn retry_after(&self, now: i64, window_secs: i64) -> u64 {
        u64::try_from(self.start.saturating_add(window_secs).saturating_sub(now))
            .unwrap_or(1)
            .max(1)
    }
}

/// The outcome of [`rotate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The grant now carries the new refresh token.
    Rotated,
    /// A rotated-away token: the grant is now revoked.
    Reused,
    /// The grant is revoked or expired: nothing changed.
    Invalid,
}

/// Rotates `grant`'s refresh token: `old_hash` is a token the grant issued (the caller found the
/// grant by it). The current token rotates; the previous one rotates too when presented within
/// `reuse_interval_secs` of its rotation (the client may have lost the answer); any other token
/// of the grant is a replay and revokes it.
pub fn rotate(
    grant: &mut Grant,
    old_hash: &str,
    new_hash: &str,
    now: i64,
    reuse_interval_secs: i64,
) -> Rotation {
    if grant.revoked || grant.expires_at <= now {
        return Rotation::Invalid;
    }
    if grant.refresh_hash.as_deref() == Some(old_hash) {
        grant.previous_hash = grant.refresh_hash.take();
        grant.refresh_hash = Some(new_hash.to_owned());
        grant.rotated_at = now;
        return Rotation::Rotated;
    }
    let within_interval = reuse_interval_secs > 0
        && grant.previous_hash.as_deref() == Some(old_hash)
        && now.saturating_sub(grant.rotated_at) <= reuse_interval_secs;
    if within_interval {
        // The current token (never received, by the client's account) is dead from now on; the
        // interval still counts from the first rotation, so retries cannot extend it.
        grant.refresh_hash = Some(new_hash.to_owned());
        return Rotation::Rotated;
    }
    grant.revoked = true;
    Rotation::Reused
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LockoutPolicy = LockoutPolicy {
        window_secs: 900,
        lockout_secs: 900,
    };

    fn grant() -> Grant {
        Grant {
            id: "g".into(),
            client_id: "web".into(),
            subject: "s".into(),
            scope: vec!["openid".into()],
            auth_time: 0,
            amr: vec!["pwd".into()],
            sid: "sid".into(),
            acr: None,
            created: 0,
            expires_at: 10_000,
            refresh_hash: Some("r1".into()),
            previous_hash: None,
            rotated_at: 0,
            revoked: false,
        }
    }

    #[test]
    fn the_current_refresh_token_rotates_and_the_previous_one_then_revokes_under_strict_rotation() {
        let mut g = grant();
        assert_eq!(rotate(&mut g, "r1", "r2", 100, 0), Rotation::Rotated);
        assert_eq!(g.refresh_hash.as_deref(), Some("r2"));
        assert_eq!(rotate(&mut g, "r1", "r3", 101, 0), Rotation::Reused);
        assert!(g.revoked);
        assert_eq!(rotate(&mut g, "r2", "r4", 102, 0), Rotation::Invalid);
    }

    #[test]
    fn the_previous_refresh_token_rotates_again_within_the_reuse_interval_only() {
        let mut g = grant();
        assert_eq!(rotate(&mut g, "r1", "r2", 100, 30), Rotation::Rotated);
        assert_eq!(rotate(&mut g, "r1", "r3", 120, 30), Rotation::Rotated);
        assert_eq!(g.refresh_hash.as_deref(), Some("r3"));
        // The token whose answer was lost is dead now.
        let mut h = g.clone();
        assert_eq!(rotate(&mut h, "r2", "r9", 121, 30), Rotation::Reused);
        // Past the interval (counted from the first rotation) the previous token revokes.
        assert_eq!(rotate(&mut g, "r1", "r4", 131, 30), Rotation::Reused);
        assert!(g.revoked);
    }

    #[test]
    fn an_expired_grant_does_not_rotate() {
        let mut g = grant();
        assert_eq!(rotate(&mut g, "r1", "r2", 10_000, 0), Rotation::Invalid);
        assert!(!g.revoked);
    }

    #[test]
    fn a_counter_locks_at_its_maximum_and_reserves_in_flight_attempts() {
        let mut c = LockoutCounter::new(0);
        for _ in 0..3 {
            assert!(c.begin(0, POLICY, 3, true));
        }
        assert!(
            !c.begin(0, POLICY, 3, true),
            "three in flight fill the budget"
        );
        assert_eq!(c.fail(1, POLICY, 3, true), 2);
        assert_eq!(c.fail(1, POLICY, 3, true), 1);
        assert_eq!(c.fail(1, POLICY, 3, true), 0);
        assert!(c.is_locked(2));
        assert!(!c.begin(2, POLICY, 3, true));
        assert!(!c.is_locked(901));
        assert!(c.begin(901, POLICY, 3, true));
    }

    #[test]
    fn a_check_only_begin_ignores_attempts_in_flight() {
        let mut c = LockoutCounter::new(0);
        for _ in 0..10 {
            assert!(c.begin(0, POLICY, 2, false));
        }
        assert_eq!(c.in_flight, 0);
        c.fail(0, POLICY, 2, false);
        assert!(c.begin(0, POLICY, 2, false));
        c.fail(0, POLICY, 2, false);
        assert!(!c.begin(0, POLICY, 2, false));
    }

    #[test]
    fn stale_in_flight_marks_are_forgotten_after_a_minute() {
        let mut c = LockoutCounter::new(0);
        assert!(c.begin(0, POLICY, 1, true));
        assert!(!c.begin(1, POLICY, 1, true));
        assert!(c.begin(IN_FLIGHT_TTL_SECS, POLICY, 1, true));
    }

    #[test]
    fn reset_forgets_failures_but_not_a_lockout() {
        let mut c = LockoutCounter::new(0);
        assert_eq!(c.fail(0, POLICY, 1, false), 0);
        c.reset(1, POLICY);
        assert!(c.is_locked(1));
        let mut d = LockoutCounter::new(0);
        d.fail(0, POLICY, 3, false);
        d.reset(1, POLICY);
        assert_eq!(d.failures, 0);
    }

    const BUDGET: BudgetPolicy = BudgetPolicy {
        max_unsuccessful: 3,
        window_secs: 100,
        first_block_secs: 10,
        max_block_secs: 40,
        memory_secs: 1000,
    };

    #[test]
    fn blocks_double_up_to_their_maximum() {
        let lengths: Vec<i64> = (1..=5).map(|n| BUDGET.block_secs(n)).collect();
        assert_eq!(lengths, [10, 20, 40, 40, 40]);
        assert_eq!(BUDGET.block_secs(u32::MAX), 40);
    }

    #[test]
    fn the_challenge_that_uses_up_the_budget_begins_a_block_and_later_ones_are_refused() {
        let mut b = SecondFactorBudget::new(0);
        for _ in 0..2 {
            assert_eq!(
                b.begin(0, BUDGET),
                ChallengeBudget::Allowed {
                    blocked_until: None
                }
            );
        }
        assert_eq!(
            b.begin(0, BUDGET),
            ChallengeBudget::Allowed {
                blocked_until: Some(10)
            }
        );
        assert_eq!(b.begin(5, BUDGET), ChallengeBudget::Blocked { until: 10 });
    }

    #[test]
    fn waiting_out_a_block_does_not_refill_the_budget_and_the_next_block_is_longer() {
        let mut b = SecondFactorBudget::new(0);
        for _ in 0..3 {
            let _ = b.begin(0, BUDGET);
        }
        // After the first block: one challenge, which begins the second (twice as long) block.
        assert_eq!(
            b.begin(10, BUDGET),
            ChallengeBudget::Allowed {
                blocked_until: Some(30)
            }
        );
        assert_eq!(b.begin(29, BUDGET), ChallengeBudget::Blocked { until: 30 });
        // A whole window after the block refills the budget, but not the escalation.
        let later = 30 + BUDGET.window_secs;
        for _ in 0..2 {
            assert_eq!(
                b.begin(later, BUDGET),
                ChallengeBudget::Allowed {
                    blocked_until: None
                }
            );
        }
        assert_eq!(
            b.begin(later, BUDGET),
            ChallengeBudget::Allowed {
                blocked_until: Some(later + 40)
            }
        );
    }

    #[test]
    fn a_passed_challenge_is_forgiven_and_forgets_the_escalation() {
        let mut b = SecondFactorBudget::new(0);
        for _ in 0..3 {
            let _ = b.begin(0, BUDGET);
        }
        assert_eq!(b.blocks, 1);
        b.passed(1, BUDGET);
        assert_eq!((b.unsuccessful, b.blocks, b.blocked_until), (2, 0, 0));
        // The next challenge uses up the budget again and begins a *first* block.
        assert_eq!(
            b.begin(2, BUDGET),
            ChallengeBudget::Allowed {
                blocked_until: Some(12)
            }
        );
    }

    #[test]
    fn the_escalation_is_forgotten_after_its_memory_only() {
        let mut b = SecondFactorBudget::new(0);
        for _ in 0..3 {
            let _ = b.begin(0, BUDGET);
        }
        assert_eq!(b.expires_at(BUDGET), 1000);
        b.refresh(999, BUDGET);
        assert_eq!(b.blocks, 1);
        b.refresh(1000, BUDGET);
        assert_eq!((b.unsuccessful, b.blocks), (0, 0));
        assert_eq!(b.expires_at(BUDGET), 10);
    }

    #[test]
    fn a_counter_expires_when_nothing_in_it_matters() {
        let mut c = LockoutCounter::new(0);
        assert_eq!(c.expires_at(POLICY), 0);
        // The window counts from the counter's creation.
        c.fail(10, POLICY, 5, false);
        assert_eq!(c.expires_at(POLICY), 900);
        c.begin(20, POLICY, 5, true);
        assert_eq!(c.expires_at(POLICY), 900);
        let mut d = LockoutCounter::new(0);
        d.begin(20, POLICY, 5, true);
        assert_eq!(d.expires_at(POLICY), 20 + IN_FLIGHT_TTL_SECS);
    }
}
