//! Authenticator-app codes (TOTP, RFC 6238): secrets, the otpauth URI, the QR code, and code
//! checks that report the matched time step so that a step is never accepted twice.
//!
//! Parameters: SHA-1, 6 digits, 30-second steps, ±1 step of clock skew; the format of the
//! service's own URI is UNVERIFIED (reference §8), this is the emulator's choice.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::domain::secret::ct_eq_str;

/// Seconds per step.
pub const STEP: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;

/// A fresh 160-bit secret, base32 without padding.
pub fn generate_secret() -> String {
    match Secret::generate_secret().to_encoded() {
        Secret::Encoded(s) => s.trim_end_matches('=').to_owned(),
        Secret::Raw(_) => unreachable!("to_encoded returns an encoded secret"),
    }
}

fn totp(secret_base32: &str) -> Result<TOTP, String> {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|_| "totp secret is not valid base32".to_owned())?;
    TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP, bytes, None, String::new())
        .map_err(|e| format!("totp secret refused: {e}"))
}

/// Checks that a base32 secret is usable (valid base32, at least 128 bits).
pub fn validate_secret(secret_base32: &str) -> Result<(), String> {
    totp(secret_base32).map(|_| ())
}

/// `otpauth://totp/<Issuer>:<account>?secret=..&issuer=..&algorithm=SHA1&digits=6&period=30`.
pub fn otpauth_uri(secret_base32: &str, issuer: &str, account: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        encode(issuer),
        encode(account),
        secret_base32,
        encode(issuer)
    )
}

/// Reads the secret out of an `otpauth://totp/...` URI (enroll-verified with `otpUri`). Only
/// SHA-1, 6 digits and 30-second periods are supported by the emulator.
pub fn secret_from_uri(uri: &str) -> Result<String, String> {
    let parsed = TOTP::from_url_unchecked(uri).map_err(|e| format!("invalid otpUri: {e}"))?;
    if parsed.algorithm != Algorithm::SHA1 || parsed.digits != DIGITS || parsed.step != STEP {
        return Err("invalid otpUri: the emulator supports SHA1, 6 digits, period 30".into());
    }
    let secret = parsed.get_secret_base32();
    validate_secret(&secret).map_err(|e| format!("invalid otpUri: {e}"))?;
    Ok(secret)
}

/// The code for a Unix time (tests and the emulator's own checks).
pub fn code_at(secret_base32: &str, unix: u64) -> Result<String, String> {
    Ok(totp(secret_base32)?.generate(unix))
}

/// Checks `code` at `now` with ±1 step. Returns the matched step, or `None` when the code is
/// wrong or when its step is not after `last_used_step` (a replay).
pub fn verify(
    secret_base32: &str,
    code: &str,
    now: u64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    let totp = totp(secret_base32).ok()?;
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / STEP;
    let mut matched = None;
    // Every candidate is computed and compared, so timing does not tell which step matched.
    for step in current.saturating_sub(1)..=current + 1 {
        if ct_eq_str(&totp.generate(step * STEP), code) && matched.is_none() {
            matched = Some(step);
        }
    }
    match (matched, last_used_step) {
        (Some(step), Some(last)) if step <= last => None,
        (matched, _) => matched,
    }
}

/// The otpauth URI as a QR code: an SVG document, base64, for an `<img src="data:...">`.
pub fn qr_svg_base64(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("qr code: {e}"))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    Ok(STANDARD.encode(svg))
}

fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_160_bits_of_unpadded_base32() {
        let secret = generate_secret();
        assert_eq!(secret.len(), 32);
        assert!(validate_secret(&secret).is_ok());
    }

    #[test]
    fn the_uri_names_the_issuer_and_the_parameters() {
        let uri = otpauth_uri(
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            "Authsignal MFA Demo",
            "alice",
        );
        assert_eq!(
            uri,
            "otpauth://totp/Authsignal%20MFA%20Demo:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\
             &issuer=Authsignal%20MFA%20Demo&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            secret_from_uri(&uri).unwrap(),
            "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        );
    }

    #[test]
    fn codes_from_the_previous_current_and_next_step_are_accepted() {
        let secret = generate_secret();
        let now = 1_700_000_000;
        for offset in [-30i64, 0, 30] {
            let code = code_at(&secret, (now as i64 + offset) as u64).unwrap();
            assert!(
                verify(&secret, &code, now, None).is_some(),
                "offset {offset}"
            );
        }
        let old = code_at(&secret, now - 90).unwrap();
        assert_eq!(verify(&secret, &old, now, None), None);
    }

    #[test]
    fn a_code_is_refused_once_its_step_was_used() {
        let secret = generate_secret();
        let now = 1_700_000_000;
        let code = code_at(&secret, now).unwrap();
        let step = verify(&secret, &code, now, None).unwrap();
        assert_eq!(step, now / STEP);
        assert_eq!(verify(&secret, &code, now, Some(step)), None);
        let next = code_at(&secret, now + 30).unwrap();
        assert_eq!(verify(&secret, &next, now + 30, Some(step)), Some(step + 1));
    }

    #[test]
    fn malformed_codes_are_wrong_not_a_panic() {
        let secret = generate_secret();
        for code in ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"] {
            assert_eq!(verify(&secret, code, 1_700_000_000, None), None, "{code}");
        }
        assert_eq!(verify("not base32!", "123456", 1_700_000_000, None), None);
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = STANDARD
            .decode(qr_svg_base64("otpauth://totp/x?secret=AAAA").unwrap())
            .unwrap();
        assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    }

    #[test]
    fn otp_uris_with_unsupported_parameters_are_refused() {
        let uri = "otpauth://totp/X:a?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&digits=8";
        assert!(secret_from_uri(uri).is_err());
        assert!(secret_from_uri("https://example.com").is_err());
    }
}
