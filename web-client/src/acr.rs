//! Authentication context classes as the identity server documents them (its discovery lists
//! them as `acr_values_supported`), ordered `pwd < mfa < phr`, and the check OpenID Connect asks
//! of a relying party that requested one (Core 3.1.2.1, 5.5.1.1): the ID token's `acr` must meet
//! what was asked, and with `max_age` its `auth_time` must be recent enough.
//!
//! The values are the identity server's, but the web client never depends on its crate: they are
//! part of the protocol between the two, like the client id.

use serde_json::{Map, Value};

/// A password alone.
pub const PWD: &str = "urn:authsignal-mfa-rust:acr:pwd";
/// A password and a second factor.
pub const MFA: &str = "urn:authsignal-mfa-rust:acr:mfa";
/// Phishing-resistant: a passkey or a security key.
pub const PHR: &str = "urn:authsignal-mfa-rust:acr:phr";

/// The known values, lowest first.
const LEVELS: [&str; 3] = [PWD, MFA, PHR];

/// Clock skew allowed between the identity server and this app when checking `auth_time`.
pub const CLOCK_SKEW_SECS: i64 = 5;

fn level(value: &str) -> Option<usize> {
    LEVELS.iter().position(|l| *l == value)
}

/// Whether an ID token's `acr` meets `requested`: the same value, or a known level at least as
/// high as a known requested level. A missing or unknown `acr` meets nothing.
pub fn meets(acr: Option<&str>, requested: &str) -> bool {
    let Some(acr) = acr else {
        return false;
    };
    if acr == requested {
        return true;
    }
    matches!((level(acr), level(requested)), (Some(got), Some(wanted)) if got >= wanted)
}

/// Why an ID token does not prove the authentication that was asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unmet {
    /// The `acr` is missing or below the requested one.
    #[error("the ID token's acr '{got}' does not meet the requested '{wanted}'")]
    Acr {
        /// What the ID token says (empty when missing).
        got: String,
        /// What was asked for.
        wanted: String,
    },
    /// `auth_time` is missing or older than `max_age`.
    #[error("the ID token's auth_time is {age} s old, more than max_age {max_age} s")]
    Stale {
        /// Its age in seconds (`i64::MAX` when missing).
        age: i64,
        /// The limit asked for.
        max_age: i64,
    },
}

/// Checks the claims of a verified ID token against what the sign-in asked for: `acr`
/// ([`meets`]) and, with `max_age`, an `auth_time` at most `max_age` (plus
/// [`CLOCK_SKEW_SECS`]) seconds before `now`.
pub fn check(
    claims: &Map<String, Value>,
    acr: Option<&str>,
    max_age: Option<i64>,
    now: i64,
) -> Result<(), Unmet> {
    if let Some(wanted) = acr {
        let got = claims.get("acr").and_then(Value::as_str);
        if !meets(got, wanted) {
            return Err(Unmet::Acr {
                got: got.unwrap_or_default().chars().take(100).collect(),
                wanted: wanted.to_owned(),
            });
        }
    }
    if let Some(max_age) = max_age {
        let age = claims
            .get("auth_time")
            .and_then(Value::as_i64)
            .map_or(i64::MAX, |t| now.saturating_sub(t));
        if age > max_age.saturating_add(CLOCK_SKEW_SECS) {
            return Err(Unmet::Stale { age, max_age });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(acr: Option<&str>, auth_time: Option<i64>) -> Map<String, Value> {
        let mut map = Map::new();
        if let Some(acr) = acr {
            map.insert("acr".into(), Value::from(acr));
        }
        if let Some(t) = auth_time {
            map.insert("auth_time".into(), Value::from(t));
        }
        map
    }

    #[test]
    fn a_higher_level_meets_a_lower_one_and_unknown_or_missing_values_meet_nothing() {
        assert!(meets(Some(MFA), MFA));
        assert!(meets(Some(PHR), MFA));
        assert!(!meets(Some(PWD), MFA));
        assert!(!meets(None, MFA));
        assert!(!meets(Some("loa3"), MFA));
        assert!(meets(Some("loa3"), "loa3"));
    }

    #[test]
    fn an_id_token_below_the_requested_acr_or_older_than_max_age_is_refused() {
        let now = 10_000;
        assert_eq!(
            check(
                &claims(Some(MFA), Some(now - 300)),
                Some(MFA),
                Some(300),
                now
            ),
            Ok(())
        );
        assert!(matches!(
            check(&claims(Some(PWD), Some(now)), Some(MFA), Some(300), now),
            Err(Unmet::Acr { .. })
        ));
        assert!(matches!(
            check(
                &claims(Some(MFA), Some(now - 306)),
                Some(MFA),
                Some(300),
                now
            ),
            Err(Unmet::Stale { age: 306, .. })
        ));
        assert!(matches!(
            check(&claims(Some(MFA), None), None, Some(300), now),
            Err(Unmet::Stale { .. })
        ));
        // Nothing asked for, nothing checked.
        assert_eq!(check(&claims(None, None), None, None, now), Ok(()));
    }
}
