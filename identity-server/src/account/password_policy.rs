//! The password rules of the account-creation page (OWASP ASVS 5.0 V6.2, NIST SP 800-63B).
//!
//! At least 8 characters (15 recommended), up to 128 allowed, any characters, no composition rules
//! (no "one digit, one symbol"), and not one of the common passwords embedded from
//! `common-passwords.txt` (about 11,900 distinct entries of 8 or more characters: John the Ripper's
//! public-domain `password.lst`, the long entries of zxcvbn's 30,000 most common leaked passwords,
//! and a short supplement; compared case-insensitively). That is a common-password list, not a full
//! breached-password corpus: a deployment that wants one also checks Have I Been Pwned's range API.

use std::collections::HashSet;

/// Fewest characters accepted.
pub const MIN_CHARS: usize = 8;
/// Length we recommend on the page.
pub const RECOMMENDED_CHARS: usize = 15;
/// Most characters accepted (more than ASVS's 64; long enough for any passphrase, short enough
/// that hashing it costs nothing extra).
pub const MAX_CHARS: usize = 128;

const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// Why a password was refused; the `Display` text is shown on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Fewer than [`MIN_CHARS`] characters.
    #[error("Use at least 8 characters (15 or more is better).")]
    TooShort,
    /// More than [`MAX_CHARS`] characters.
    #[error("Use at most 128 characters.")]
    TooLong,
    /// In the list of common passwords.
    #[error("This password is too common. Choose another one, for example a few unrelated words.")]
    Common,
    /// Equal to the username.
    #[error("The password must not be the same as the username.")]
    SameAsUsername,
}

/// The checker, holding the parsed common-password list.
#[derive(Debug)]
pub struct PasswordPolicy {
    common: HashSet<String>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordPolicy {
    /// Parses the embedded list (once, at start-up).
    pub fn new() -> Self {
        let common = COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            // Entries shorter than the minimum are refused anyway; keep the set small.
            .filter(|l| l.chars().count() >= MIN_CHARS)
            .map(str::to_lowercase)
            .collect();
        Self { common }
    }

    /// Number of list entries that matter (at least [`MIN_CHARS`] long).
    pub fn common_len(&self) -> usize {
        self.common.len()
    }

    /// Checks a new password for the given username.
    pub fn check(&self, username: &str, password: &str) -> Result<(), PasswordProblem> {
        let chars = password.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordProblem::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordProblem::TooLong);
        }
        let folded = password.to_lowercase();
        if folded == username.trim().to_lowercase() {
            return Err(PasswordProblem::SameAsUsername);
        }
        if self.common.contains(&folded) {
            return Err(PasswordProblem::Common);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_characters_are_too_short_and_eight_are_enough() {
        let p = PasswordPolicy::new();
        assert_eq!(p.check("u", "abcdxyz"), Err(PasswordProblem::TooShort));
        assert_eq!(p.check("u", "kq7#vLmz"), Ok(()));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let p = PasswordPolicy::new();
        // Seven characters, fourteen bytes.
        assert_eq!(
            p.check("u", "ääääääää".get(..14).unwrap()),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(p.check("u", "äöüßéèça"), Ok(()));
    }

    #[test]
    fn sixty_four_and_128_characters_are_allowed_but_not_129() {
        let p = PasswordPolicy::new();
        assert_eq!(p.check("u", &"x".repeat(64)), Ok(()));
        assert_eq!(p.check("u", &"x".repeat(128)), Ok(()));
        assert_eq!(
            p.check("u", &"x".repeat(129)),
            Err(PasswordProblem::TooLong)
        );
    }

    #[test]
    fn no_composition_rules_apply() {
        let p = PasswordPolicy::new();
        assert_eq!(p.check("u", "correct horse battery staple"), Ok(()));
        assert_eq!(p.check("u", "alllowercaseletters"), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        let p = PasswordPolicy::new();
        for pw in [
            "password",
            "12345678",
            "PassWord1",
            "qwertyuiop",
            "iloveyou",
            "Password123!",
        ] {
            assert_eq!(p.check("u", pw), Err(PasswordProblem::Common), "{pw}");
        }
    }

    #[test]
    fn the_embedded_list_has_thousands_of_relevant_entries() {
        assert!(PasswordPolicy::new().common_len() > 10_000);
    }

    #[test]
    fn the_username_is_refused_as_password() {
        let p = PasswordPolicy::new();
        assert_eq!(
            p.check("Carol-Example", "carol-example"),
            Err(PasswordProblem::SameAsUsername)
        );
    }

    #[test]
    fn problems_read_as_sentences_for_the_page() {
        assert!(PasswordProblem::TooShort.to_string().contains("at least 8"));
        assert!(PasswordProblem::Common.to_string().contains("too common"));
    }
}
