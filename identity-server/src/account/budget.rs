//! The second-factor guess budget of an account, across challenges.
//!
//! The identity server never sees the codes typed on Authsignal's hosted page, and a challenge
//! abandoned after its wrong codes never reaches the callback. So every challenge a login starts
//! (a `track` answer that needs one) counts as *unsuccessful* against the account's budget before
//! the browser is sent to it ([`start_challenge`]), and its callback forgives it only when the
//! token validates ([`challenge_passed`]). Whoever holds the password can start a challenge, so
//! the budget bounds the codes anyone can try: `max_unsuccessful_challenges` challenges per
//! window, each with Authsignal's own limit of wrong codes.
//!
//! The challenge that uses up the budget begins a block of the second factor (`first_block_secs`,
//! twice as long for every further block, at most `max_block_secs`). Waiting out a block does not
//! refill the budget: the window starts again at the block's end with the budget still used up,
//! so the one challenge after a block begins the next, longer block; only a window without any
//! challenge after a block refills it, and the escalation stays (for `escalation_memory_secs`
//! after the newest block) until a successful second factor forgets it. The counting is one
//! atomic store operation ([`crate::store::FailedLoginStore::begin_challenge`]), so parallel
//! logins cannot start more challenges than the budget. The rules are
//! [`crate::store::rules::SecondFactorBudget`].
//!
//! The challenge that begins a block sends the account's owner a notice
//! ([`crate::notices::NoticeKind::SecondFactorBlocked`]), once per block.
//!
//! The failed second factor still counts against the username's lockout as well
//! ([`super::lockout`]); this budget is what an attacker who knows the password cannot reset by
//! waiting a few minutes.

use crate::state::AppState;
use crate::store::rules::BudgetPolicy;
use crate::store::{ChallengeBudget, StoreError};

/// Longest window, block and memory accepted (a year), so that no sum overflows.
const MAX_SECS: u64 = 365 * 24 * 3600;

/// The budget (section `account.second_factor`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecondFactorSettings {
    /// Unsuccessful challenges per account per window; the one that reaches it blocks the
    /// second factor (default 10).
    pub max_unsuccessful_challenges: u32,
    /// The counting window, in seconds (default 86400: a day).
    pub window_secs: u64,
    /// The first block, in seconds (default 900); every further block is twice as long.
    pub first_block_secs: u64,
    /// The longest block, in seconds (default 86400).
    pub max_block_secs: u64,
    /// How long the escalation is remembered after the newest block, in seconds, unless a
    /// successful second factor forgets it sooner (default 2592000: 30 days).
    pub escalation_memory_secs: u64,
}

impl Default for SecondFactorSettings {
    fn default() -> Self {
        Self {
            max_unsuccessful_challenges: 10,
            window_secs: 24 * 3600,
            first_block_secs: 15 * 60,
            max_block_secs: 24 * 3600,
            escalation_memory_secs: 30 * 24 * 3600,
        }
    }
}

impl SecondFactorSettings {
    /// The policy, for the stores.
    pub fn policy(&self) -> BudgetPolicy {
        let secs = |v: u64| i64::try_from(v.min(MAX_SECS)).unwrap_or(i64::MAX);
        BudgetPolicy {
            max_unsuccessful: self.max_unsuccessful_challenges,
            window_secs: secs(self.window_secs),
            first_block_secs: secs(self.first_block_secs),
            max_block_secs: secs(self.max_block_secs),
            memory_secs: secs(self.escalation_memory_secs),
        }
    }

    /// Checks the values; the error names the key and quotes the bad value.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_unsuccessful_challenges == 0 {
            return Err(
                "account.second_factor.max_unsuccessful_challenges: must be at least 1".into(),
            );
        }
        for (name, value) in [
            ("window_secs", self.window_secs),
            ("first_block_secs", self.first_block_secs),
            ("max_block_secs", self.max_block_secs),
            ("escalation_memory_secs", self.escalation_memory_secs),
        ] {
            if !(1..=MAX_SECS).contains(&value) {
                return Err(format!(
                    "account.second_factor.{name}: must be between 1 and {MAX_SECS}, got \"{value}\""
                ));
            }
        }
        if self.first_block_secs > self.max_block_secs {
            return Err(format!(
                "account.second_factor.first_block_secs: must not exceed max_block_secs ({}), got \"{}\"",
                self.max_block_secs, self.first_block_secs
            ));
        }
        Ok(())
    }
}

/// Counts a challenge the login of `subject` is about to start. `Err` is a store failure (the
/// caller answers 503: fail closed, no challenge without its count).
pub async fn start_challenge(
    state: &AppState,
    subject: &str,
) -> Result<ChallengeBudget, StoreError> {
    let policy = state.account.settings.second_factor.policy();
    let answer = state
        .account
        .failed_logins
        .begin_challenge(subject, policy)
        .await?;
    match answer {
        ChallengeBudget::Allowed {
            blocked_until: Some(until),
        } => {
            tracing::warn!(
                subject,
                blocked_for_secs = until - crate::oidc::now(),
                "second factor blocked: the account used up its budget of unsuccessful challenges"
            );
            // The store answers this once per block: the challenge that began it.
            state.notices.notify(
                subject,
                crate::notices::NoticeKind::SecondFactorBlocked { until },
            );
        }
        ChallengeBudget::Blocked { until } => {
            tracing::warn!(
                subject,
                blocked_for_secs = until - crate::oidc::now(),
                "challenge refused: the account's second factor is blocked"
            );
        }
        ChallengeBudget::Allowed {
            blocked_until: None,
        } => {}
    }
    Ok(answer)
}

/// The challenge counted for `subject` passed: forgiven, and the escalation forgotten.
pub async fn challenge_passed(state: &AppState, subject: &str) -> Result<(), StoreError> {
    let policy = state.account.settings.second_factor.policy();
    state
        .account
        .failed_logins
        .challenge_passed(subject, policy)
        .await
}

/// Counts a challenge a signed-in user's page is about to start (Manage MFA, the step-up before
/// adding a passkey): `Ok(None)` when it may start, else the page (429) that says how long the
/// second factor is blocked, with a way `back`.
pub async fn start_page_challenge(
    state: &AppState,
    subject: &str,
    back: (String, String),
) -> Result<Option<actix_web::HttpResponse>, crate::error::AppError> {
    match start_challenge(state, subject).await? {
        ChallengeBudget::Blocked { until } => {
            let page = super::pages::NoticePage {
                title: "Verification blocked for now".into(),
                message: blocked_message(until),
                is_error: true,
                reference: None,
                link_url: Some(back.0),
                link_text: back.1,
            };
            super::pages::notice(state, actix_web::http::StatusCode::TOO_MANY_REQUESTS, &page)
                .map(Some)
        }
        ChallengeBudget::Allowed { .. } => Ok(None),
    }
}

/// The refusal shown while the second factor is blocked until `until` (unix seconds).
pub fn blocked_message(until: i64) -> String {
    let wait = u64::try_from(until.saturating_sub(crate::oidc::now()))
        .unwrap_or(1)
        .max(1);
    format!(
        "Too many unfinished or failed verifications for this account. Please wait {} and try again.",
        crate::templates::duration_in_words(wait)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_allow_ten_challenges_a_day() {
        let s = SecondFactorSettings::default();
        assert_eq!(s.validate(), Ok(()));
        let p = s.policy();
        assert_eq!(p.max_unsuccessful, 10);
        assert_eq!(p.window_secs, 86_400);
        assert_eq!(
            (1..=8).map(|n| p.block_secs(n)).collect::<Vec<_>>(),
            [900, 1800, 3600, 7200, 14_400, 28_800, 57_600, 86_400]
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let zero = SecondFactorSettings {
            max_unsuccessful_challenges: 0,
            ..Default::default()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .contains("max_unsuccessful_challenges")
        );
        let no_window = SecondFactorSettings {
            window_secs: 0,
            ..Default::default()
        };
        assert!(no_window.validate().unwrap_err().contains("window_secs"));
        let upside_down = SecondFactorSettings {
            first_block_secs: 100,
            max_block_secs: 10,
            ..Default::default()
        };
        assert!(
            upside_down
                .validate()
                .unwrap_err()
                .contains("first_block_secs")
        );
    }
}
