//! What `track` decides, as the service does: a challenge needs an enrolled authenticator.

use crate::domain::outcome::Outcome;

/// The state a freshly tracked action gets.
///
/// - `CHALLENGE` on a user with no verified authenticator gives `ALLOW` (with `isEnrolled:
///   false` and a `url` to enrol), as the service documents: a challenge needs at least one
///   enrolled authenticator.
/// - `BLOCK` and `REVIEW` apply whether or not the user is enrolled. That a blocking rule is
///   not bypassed by having no authenticator is the conservative reading (UNVERIFIED).
pub fn initial_state(outcome: Outcome, is_enrolled: bool) -> &'static str {
    match outcome {
        Outcome::Allow => "ALLOW",
        Outcome::Block => "BLOCK",
        Outcome::Review => "REVIEW_REQUIRED",
        Outcome::Challenge if is_enrolled => "CHALLENGE_REQUIRED",
        Outcome::Challenge => "ALLOW",
    }
}

/// Whether the hosted pages may still run for an action in this state.
pub fn hosted_flow_open(state: &str) -> bool {
    matches!(state, "ALLOW" | "CHALLENGE_REQUIRED")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unenrolled_user_is_allowed_so_that_they_can_enrol() {
        assert_eq!(initial_state(Outcome::Challenge, false), "ALLOW");
    }

    #[test]
    fn an_enrolled_user_gets_the_configured_outcome() {
        assert_eq!(
            initial_state(Outcome::Challenge, true),
            "CHALLENGE_REQUIRED"
        );
        assert_eq!(initial_state(Outcome::Allow, true), "ALLOW");
        assert_eq!(initial_state(Outcome::Block, true), "BLOCK");
        assert_eq!(initial_state(Outcome::Review, true), "REVIEW_REQUIRED");
    }

    #[test]
    fn block_and_review_are_not_bypassed_by_having_no_authenticator() {
        assert_eq!(initial_state(Outcome::Block, false), "BLOCK");
        assert_eq!(initial_state(Outcome::Review, false), "REVIEW_REQUIRED");
    }

    #[test]
    fn only_open_actions_reach_the_hosted_flow() {
        assert!(hosted_flow_open("CHALLENGE_REQUIRED"));
        assert!(hosted_flow_open("ALLOW"));
        for state in [
            "BLOCK",
            "REVIEW_REQUIRED",
            "CHALLENGE_SUCCEEDED",
            "CHALLENGE_FAILED",
        ] {
            assert!(!hosted_flow_open(state), "{state}");
        }
    }
}
