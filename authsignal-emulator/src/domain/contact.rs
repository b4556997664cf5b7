//! Email addresses and phone numbers as the emulator accepts them.

/// A minimal email check: one `@`, something on both sides, a dot inside the domain, no spaces,
/// at most 254 characters. Delivery is simulated, so this only keeps nonsense out.
pub fn looks_like_email(value: &str) -> bool {
    let value = value.trim();
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An E.164 phone number: `+` and 6 to 15 digits.
pub fn is_e164(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_emails_pass_and_others_do_not() {
        assert!(looks_like_email("AliceSmith@example.com"));
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@b@c.d", "a@.com"] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_must_be_e164() {
        assert!(is_e164("+64211234567"));
        for bad in ["", "64211234567", "+12", "+1234567890123456", "+64 21 123"] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
