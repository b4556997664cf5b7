//! The configured outcome of an action's rules: what `track` decides for an enrolled user.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A rule outcome as configured in the Authsignal portal (`ALLOW`, `BLOCK`, `CHALLENGE`,
/// `REVIEW`). The emulator has no rules engine: each action code maps to one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// Let the action proceed (`ALLOW`).
    Allow,
    /// Deny the action (`BLOCK`).
    Block,
    /// Ask for a second factor (`CHALLENGE_REQUIRED`), the service's usual configuration.
    #[default]
    Challenge,
    /// Queue the action for manual review (`REVIEW_REQUIRED`).
    Review,
}

impl Outcome {
    /// The wire string (`"ALLOW"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "ALLOW",
            Outcome::Block => "BLOCK",
            Outcome::Challenge => "CHALLENGE",
            Outcome::Review => "REVIEW",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown outcome '{0}' (expected ALLOW, BLOCK, CHALLENGE or REVIEW)")]
pub struct ParseOutcomeError(pub String);

impl FromStr for Outcome {
    type Err = ParseOutcomeError;

    /// Case-insensitive, so `--outcome login=block` works on the command line.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ALLOW" => Ok(Outcome::Allow),
            "BLOCK" => Ok(Outcome::Block),
            "CHALLENGE" => Ok(Outcome::Challenge),
            "REVIEW" => Ok(Outcome::Review),
            _ => Err(ParseOutcomeError(s.to_owned())),
        }
    }
}

impl<'de> Deserialize<'de> for Outcome {
    /// Accepts any case (`"block"` from an environment variable as well as `"BLOCK"`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse_case_insensitively_and_print_as_the_wire_string() {
        assert_eq!("block".parse::<Outcome>().unwrap(), Outcome::Block);
        assert_eq!("REVIEW".parse::<Outcome>().unwrap(), Outcome::Review);
        assert_eq!(Outcome::Challenge.to_string(), "CHALLENGE");
        assert_eq!(serde_json::to_string(&Outcome::Allow).unwrap(), "\"ALLOW\"");
    }

    #[test]
    fn an_unknown_outcome_names_the_bad_value() {
        let err = "maybe".parse::<Outcome>().unwrap_err();
        assert!(err.to_string().contains("'maybe'"), "{err}");
    }
}
