//! Action codes and idempotency keys: the values that name an action.

use std::fmt;

/// An action code, `^[a-zA-Z0-9_-]{1,64}$` as the track endpoint documents.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionCode(String);

impl ActionCode {
    /// Checks the documented pattern.
    pub fn parse(value: &str) -> Result<ActionCode, String> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(ActionCode(value.to_owned()))
        } else {
            Err(format!(
                "invalid action code '{}': expected 1 to 64 letters, digits, '_' or '-'",
                truncate(value)
            ))
        }
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a client-supplied idempotency key: 1 to 200 visible characters. The service's
/// own limits are not documented; this keeps the store and the tokens bounded.
pub fn parse_idempotency_key(value: &str) -> Result<String, String> {
    if value.is_empty() || value.len() > 200 || value.chars().any(|c| c.is_control()) {
        Err(format!("invalid idempotency key '{}'", truncate(value)))
    } else {
        Ok(value.to_owned())
    }
}

/// Checks a user id: 1 to 256 characters without control characters.
pub fn parse_user_id(value: &str) -> Result<String, String> {
    if value.is_empty() || value.len() > 256 || value.chars().any(|c| c.is_control()) {
        Err(format!("invalid user id '{}'", truncate(value)))
    } else {
        Ok(value.to_owned())
    }
}

/// Shortens a value for an error message (never echo kilobytes back).
pub fn truncate(value: &str) -> String {
    let cleaned: String = value.chars().filter(|c| !c.is_control()).take(64).collect();
    if value.chars().count() > 64 {
        format!("{cleaned}...")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_action_codes_are_accepted() {
        for code in [
            "identity-server-login",
            "Login",
            "a",
            "signIn_2",
            &"x".repeat(64),
        ] {
            assert!(ActionCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn action_codes_outside_the_pattern_are_refused_with_the_value() {
        for code in ["", "has space", "dot.ted", "slash/", "é", &"x".repeat(65)] {
            let err = ActionCode::parse(code).unwrap_err();
            assert!(err.starts_with("invalid action code"), "{err}");
        }
        assert!(
            ActionCode::parse("bad code")
                .unwrap_err()
                .contains("'bad code'")
        );
    }

    #[test]
    fn idempotency_keys_and_user_ids_must_be_bounded_and_printable() {
        assert!(parse_idempotency_key("abc-123").is_ok());
        assert!(parse_idempotency_key("").is_err());
        assert!(parse_idempotency_key(&"k".repeat(201)).is_err());
        assert!(parse_user_id("a5a0c16c-0027-4011-8e2f-a7e179dc784b").is_ok());
        assert!(parse_user_id("a\nb").is_err());
    }
}
