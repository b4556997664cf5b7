//! One-time codes: email/SMS OTPs (6 digits) and recovery codes (high entropy, stored hashed).

use rand::Rng;
use rand::rngs::OsRng;

use crate::domain::secret::sha256_hex;

/// Number of recovery codes issued after the first enrollment.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// A 6-digit numeric OTP.
pub fn otp_code() -> String {
    format!("{:06}", OsRng.gen_range(0..1_000_000u32))
}

/// Whether a submitted value looks like a 6-digit code.
pub fn is_six_digits(value: &str) -> bool {
    value.len() == 6 && value.bytes().all(|b| b.is_ascii_digit())
}

/// A code as a person typed or pasted it, without the spaces and dashes people put inside
/// ("123 456", "123-456"); nothing else is changed.
pub fn strip_separators(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten recovery codes like `k7m2q-x9p4r-h3t8w` (75 bits each, no look-alike characters).
pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let chars: String = (0..15)
                .map(|_| RECOVERY_ALPHABET[OsRng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}-{}", &chars[0..5], &chars[5..10], &chars[10..15])
        })
        .collect()
}

/// The stored form of a recovery code: SHA-256 of its normalised text. The codes carry 75
/// bits of entropy, so a fast hash does not make them guessable offline.
pub fn hash_recovery_code(code: &str) -> String {
    let normalised: String = code
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    sha256_hex(&normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_codes_are_six_digits() {
        for _ in 0..100 {
            assert!(is_six_digits(&otp_code()));
        }
        assert!(!is_six_digits("12345a"));
    }

    #[test]
    fn ten_distinct_recovery_codes_are_issued() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_eq!(codes[0].len(), 17);
    }

    #[test]
    fn pasted_codes_lose_their_spaces_and_dashes_only() {
        assert_eq!(strip_separators(" 123 456 "), "123456");
        assert_eq!(strip_separators("123-456"), "123456");
        assert_eq!(strip_separators("12\t34\u{a0}56"), "123456");
        assert_eq!(strip_separators("12a456"), "12a456");
        assert!(is_six_digits(&strip_separators("123 456")));
    }

    #[test]
    fn recovery_code_hashes_ignore_case_dashes_and_spaces() {
        assert_eq!(
            hash_recovery_code("abcde-fghjk-mnpqr"),
            hash_recovery_code(" ABCDE FGHJK MNPQR ")
        );
        assert_ne!(
            hash_recovery_code("abcde-fghjk-mnpqr"),
            hash_recovery_code("abcde-fghjk-mnpqs")
        );
    }
}
