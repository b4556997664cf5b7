//! [`Secret`]: a string that must never show up in logs, pages or `Debug` output.

use std::fmt;

use subtle::ConstantTimeEq;

/// A secret value (client secret, token, session key). `Debug` prints `<redacted>`; compare
/// with [`Secret::ct_eq`] (constant time), read with [`Secret::expose`].
#[derive(Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: only at the point where it is sent or checked.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality, so a comparison leaks nothing about where two values differ.
    pub fn ct_eq(&self, other: &str) -> bool {
        ct_eq(&self.0, other)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Constant-time string equality (the length is not hidden, only the contents).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn equal_values_compare_equal_and_different_ones_do_not() {
        let secret = Secret::new("abc");
        assert!(secret.ct_eq("abc"));
        assert!(!secret.ct_eq("abd"));
        assert!(!secret.ct_eq("ab"));
    }
}
