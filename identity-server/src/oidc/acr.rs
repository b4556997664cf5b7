//! Authentication context classes (`acr`, OpenID Connect Core 2 and 3.1.2.1): the small, ordered
//! set of levels this provider asserts, what a session has reached, what a client asked for
//! (`acr_values` or the `claims` parameter, OpenID Connect Core 5.5.1.1), and which value the ID
//! token carries.
//!
//! Every value shares the prefix [`PREFIX`] (`urn:authsignal-mfa-rust:acr:`), chosen once:
//!
//! | value | [`Acr`] | what the session did |
//! |---|---|---|
//! | `urn:authsignal-mfa-rust:acr:pwd` | [`Acr::Pwd`] | a password alone (an Authsignal `ALLOW`) |
//! | `urn:authsignal-mfa-rust:acr:mfa` | [`Acr::Mfa`] | a password and a second factor (or a step-up since) |
//! | `urn:authsignal-mfa-rust:acr:phr` | [`Acr::Phr`] | phishing-resistant: a passkey or security key (WebAuthn) |
//!
//! The levels are ordered, `pwd < mfa < phr`: a session at a higher level satisfies a request
//! for a lower one. Unknown values in a request are ignored (`acr_values` is voluntary), except
//! that an *essential* request of which no value is known can never be met.

use std::fmt;

use serde_json::Value;

/// The prefix of every value this provider asserts.
pub const PREFIX: &str = "urn:authsignal-mfa-rust:acr:";

/// The password alone.
pub const PWD: &str = "urn:authsignal-mfa-rust:acr:pwd";
/// A password and a second factor.
pub const MFA: &str = "urn:authsignal-mfa-rust:acr:mfa";
/// Phishing-resistant: a passkey or a security key.
pub const PHR: &str = "urn:authsignal-mfa-rust:acr:phr";

/// Longest `claims` parameter accepted (it is parsed, and its `acr` part stored with the pending
/// request).
pub const MAX_CLAIMS_LEN: usize = 2048;

/// Most `acr` values one request may name (in `acr_values` or the `claims` parameter).
pub const MAX_VALUES: usize = 8;

/// An authentication context class of this provider, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Acr {
    /// A password alone.
    Pwd,
    /// A password and a second factor.
    Mfa,
    /// Phishing-resistant (a passkey or security key).
    Phr,
}

impl Acr {
    /// Every level, lowest first: what discovery lists as `acr_values_supported`.
    pub const ALL: [Self; 3] = [Self::Pwd, Self::Mfa, Self::Phr];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => PWD,
            Self::Mfa => MFA,
            Self::Phr => PHR,
        }
    }

    /// The level of a wire value; `None` for a value this provider does not know.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }

    /// The level an authentication with these methods (RFC 8176 `amr`) reached: a WebAuthn key
    /// (`pop`, `hwk` or `swk`: a passkey sign-in or a security key) with `mfa` is phishing
    /// resistant; `mfa` alone is two factors; anything else is the password alone.
    pub fn of_amr(amr: &[String]) -> Self {
        let has = |m: &str| amr.iter().any(|a| a == m);
        if has("mfa") && (has("pop") || has("hwk") || has("swk")) {
            Self::Phr
        } else if has("mfa") {
            Self::Mfa
        } else {
            Self::Pwd
        }
    }

    /// The level a session reached: that of its `amr`, and at least [`Acr::Mfa`] once it passed
    /// a step-up challenge (`step_up_at`).
    pub fn of_session(amr: &[String], step_up_at: Option<i64>) -> Self {
        let level = Self::of_amr(amr);
        if step_up_at.is_some() {
            level.max(Self::Mfa)
        } else {
            level
        }
    }
}

impl fmt::Display for Acr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a client asked for: the levels it accepts (known values only, in its order of
/// preference) and whether the request is essential.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcrRequest {
    /// The accepted levels, in the client's order of preference (unknown values dropped).
    pub accepted: Vec<Acr>,
    /// From the `claims` parameter's `"essential": true`: unmet, the request fails with
    /// `unmet_authentication_requirements` instead of going on at a lower level.
    pub essential: bool,
}

impl AcrRequest {
    /// The request kept with a pending authorize request (`acr_requested`, `acr_essential`).
    pub fn from_stored(values: &[String], essential: bool) -> Self {
        Self {
            accepted: values.iter().filter_map(|v| Acr::parse(v)).collect(),
            essential,
        }
    }

    /// The lowest level that satisfies the request (any accepted one will do); `None` when the
    /// client asked for nothing this provider knows.
    pub fn minimum(&self) -> Option<Acr> {
        self.accepted.iter().copied().min()
    }

    /// Whether a session at `level` satisfies the request.
    pub fn is_met_by(&self, level: Acr) -> bool {
        self.minimum().is_none_or(|min| level >= min)
    }

    /// Whether the request needs a second factor (a level above the password).
    pub fn wants_second_factor(&self) -> bool {
        self.minimum().is_some_and(|min| min >= Acr::Mfa)
    }
}

/// The `acr` claim of an ID token for a session at `level`: the highest accepted value the
/// session satisfies (a client that asked for `mfa` gets `mfa` back from a passkey session,
/// which it can match exactly), else the level itself.
pub fn claim(level: Acr, request: &AcrRequest) -> Acr {
    request
        .accepted
        .iter()
        .copied()
        .filter(|a| *a <= level)
        .max()
        .unwrap_or(level)
}

/// Why the `acr` part of a request is refused (`invalid_request`, or for an essential request
/// of unknown values only, `unmet_authentication_requirements`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed: the description for the error redirect.
    Invalid(String),
    /// Essential, and no value is one this provider knows: it can never be met.
    Unmeetable,
}

/// Parses the `acr` part of a request: the `claims` parameter's `id_token.acr` when it names
/// values (OpenID Connect Core 5.5.1.1: `value` or `values`, optionally `essential`), else
/// `acr_values` (space-separated, voluntary). The whole `claims` parameter must be a JSON object
/// whose `id_token` and `userinfo` members, when present, are objects (or null); other members
/// and other requested claims are ignored. Returns the stored form: the known values in the
/// client's order and whether they are essential.
pub fn parse_request(
    acr_values: Option<&str>,
    claims: Option<&str>,
) -> Result<(Vec<String>, bool), ParseError> {
    let invalid = |m: &str| ParseError::Invalid(m.to_owned());
    let mut requested: Option<(Vec<String>, bool)> = None;
    if let Some(raw) = claims {
        if raw.len() > MAX_CLAIMS_LEN {
            return Err(invalid("claims is too long"));
        }
        let Ok(Value::Object(top)) = serde_json::from_str::<Value>(raw) else {
            return Err(invalid("claims is not a json object"));
        };
        for member in ["id_token", "userinfo"] {
            match top.get(member) {
                None | Some(Value::Null | Value::Object(_)) => {}
                Some(_) => {
                    return Err(ParseError::Invalid(format!(
                        "claims.{member} is not a json object"
                    )));
                }
            }
        }
        if let Some(acr) = top.get("id_token").and_then(|t| t.get("acr")) {
            requested = parse_claims_acr(acr)?;
        }
    }
    let (raw_values, essential) = match requested {
        Some(r) => r,
        None => {
            let values: Vec<String> = acr_values
                .map(|v| {
                    v.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            (values, false)
        }
    };
    if raw_values.len() > MAX_VALUES {
        return Err(invalid("too many acr values"));
    }
    let mut known: Vec<String> = Vec::new();
    for value in &raw_values {
        if Acr::parse(value).is_some() && !known.contains(value) {
            known.push(value.clone());
        }
    }
    if essential && known.is_empty() && !raw_values.is_empty() {
        return Err(ParseError::Unmeetable);
    }
    let essential = essential && !known.is_empty();
    Ok((known, essential))
}

/// `id_token.acr` of the `claims` parameter: `null` (the claim is wanted, any value), or an
/// object with optional `essential` (boolean), `value` (string) and `values` (array of strings).
/// `None` when it names no value.
fn parse_claims_acr(acr: &Value) -> Result<Option<(Vec<String>, bool)>, ParseError> {
    let invalid = |m: &str| Err(ParseError::Invalid(m.to_owned()));
    let request = match acr {
        Value::Null => return Ok(None),
        Value::Object(request) => request,
        _ => return invalid("claims.id_token.acr is not a json object"),
    };
    let essential = match request.get("essential") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return invalid("claims.id_token.acr.essential is not a boolean"),
    };
    let mut values: Vec<String> = Vec::new();
    match request.get("value") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) => values.push(v.clone()),
        Some(_) => return invalid("claims.id_token.acr.value is not a string"),
    }
    match request.get("values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(v) => values.push(v.clone()),
                    _ => return invalid("claims.id_token.acr.values holds a non-string"),
                }
            }
        }
        Some(_) => return invalid("claims.id_token.acr.values is not an array"),
    }
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some((values, essential)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amr(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    fn request(values: &[Acr], essential: bool) -> AcrRequest {
        AcrRequest {
            accepted: values.to_vec(),
            essential,
        }
    }

    #[test]
    fn the_levels_are_ordered_password_then_mfa_then_phishing_resistant() {
        assert!(Acr::Pwd < Acr::Mfa && Acr::Mfa < Acr::Phr);
        for level in Acr::ALL {
            assert!(level.as_str().starts_with(PREFIX));
            assert_eq!(Acr::parse(level.as_str()), Some(level));
        }
        assert_eq!(Acr::parse("mfa"), None);
        assert_eq!(Acr::parse("urn:authsignal-mfa-rust:acr:MFA"), None);
    }

    #[test]
    fn a_password_alone_is_pwd_a_second_factor_is_mfa_and_a_passkey_is_phr() {
        assert_eq!(Acr::of_amr(&amr(&["pwd"])), Acr::Pwd);
        assert_eq!(Acr::of_amr(&amr(&[])), Acr::Pwd);
        assert_eq!(Acr::of_amr(&amr(&["pwd", "mfa", "otp"])), Acr::Mfa);
        assert_eq!(Acr::of_amr(&amr(&["pwd", "mfa", "sms"])), Acr::Mfa);
        // The passkey sign-in of the login page.
        assert_eq!(Acr::of_amr(&amr(&["pop", "swk", "mfa"])), Acr::Phr);
        // A security key or a passkey as the second factor after the password.
        assert_eq!(Acr::of_amr(&amr(&["pwd", "mfa", "hwk"])), Acr::Phr);
        assert_eq!(Acr::of_amr(&amr(&["pwd", "mfa", "swk"])), Acr::Phr);
        // A key without a second factor claimed is not more than a password.
        assert_eq!(Acr::of_amr(&amr(&["pwd", "swk"])), Acr::Pwd);
    }

    #[test]
    fn a_step_up_raises_a_password_session_to_mfa_and_lowers_nothing() {
        assert_eq!(Acr::of_session(&amr(&["pwd"]), Some(5)), Acr::Mfa);
        assert_eq!(Acr::of_session(&amr(&["pwd"]), None), Acr::Pwd);
        assert_eq!(
            Acr::of_session(&amr(&["pop", "swk", "mfa"]), Some(5)),
            Acr::Phr
        );
    }

    #[test]
    fn any_accepted_level_satisfies_the_request_and_higher_levels_satisfy_lower_ones() {
        let r = request(&[Acr::Phr, Acr::Mfa], false);
        assert_eq!(r.minimum(), Some(Acr::Mfa));
        assert!(r.is_met_by(Acr::Mfa) && r.is_met_by(Acr::Phr));
        assert!(!r.is_met_by(Acr::Pwd));
        assert!(r.wants_second_factor());
        let none = AcrRequest::default();
        assert!(none.is_met_by(Acr::Pwd));
        assert!(!none.wants_second_factor());
        assert!(!request(&[Acr::Pwd], false).wants_second_factor());
    }

    #[test]
    fn the_claim_is_the_highest_requested_value_the_session_satisfies_else_its_level() {
        assert_eq!(claim(Acr::Phr, &request(&[Acr::Mfa], false)), Acr::Mfa);
        assert_eq!(
            claim(Acr::Phr, &request(&[Acr::Mfa, Acr::Phr], false)),
            Acr::Phr
        );
        assert_eq!(claim(Acr::Mfa, &request(&[Acr::Phr], false)), Acr::Mfa);
        assert_eq!(claim(Acr::Mfa, &AcrRequest::default()), Acr::Mfa);
        assert_eq!(claim(Acr::Pwd, &request(&[Acr::Mfa], false)), Acr::Pwd);
    }

    #[test]
    fn acr_values_are_voluntary_space_separated_and_unknown_ones_are_ignored() {
        let (values, essential) =
            parse_request(Some(&format!("{PHR}  unknown {MFA} {PHR}")), None).unwrap();
        assert_eq!(values, [PHR, MFA]);
        assert!(!essential);
        assert_eq!(
            parse_request(Some("mfa 0 loa2"), None).unwrap(),
            (vec![], false)
        );
        assert_eq!(parse_request(None, None).unwrap(), (vec![], false));
    }

    #[test]
    fn the_claims_parameter_names_essential_acr_values_and_wins_over_acr_values() {
        let claims = format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{PHR}"]}}}}}}"#);
        assert_eq!(
            parse_request(Some(PWD), Some(&claims)).unwrap(),
            (vec![PHR.to_owned()], true)
        );
        let single = format!(r#"{{"id_token":{{"acr":{{"value":"{MFA}"}}}},"userinfo":null}}"#);
        assert_eq!(
            parse_request(None, Some(&single)).unwrap(),
            (vec![MFA.to_owned()], false)
        );
        // acr wanted without a value, or other claims only: acr_values decides.
        for other in [
            r#"{"id_token":{"acr":null}}"#,
            r#"{"id_token":{"acr":{"essential":true}}}"#,
            r#"{"userinfo":{"email":{"essential":true}}}"#,
            r#"{}"#,
        ] {
            assert_eq!(
                parse_request(Some(MFA), Some(other)).unwrap(),
                (vec![MFA.to_owned()], false),
                "{other}"
            );
        }
    }

    #[test]
    fn an_essential_request_of_unknown_values_only_can_never_be_met() {
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["loa3"]}}}"#;
        assert_eq!(
            parse_request(None, Some(claims)),
            Err(ParseError::Unmeetable)
        );
        // Voluntary, it is just ignored.
        let claims = r#"{"id_token":{"acr":{"values":["loa3"]}}}"#;
        assert_eq!(parse_request(None, Some(claims)).unwrap(), (vec![], false));
    }

    #[test]
    fn a_malformed_claims_parameter_is_an_invalid_request() {
        let long = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_CLAIMS_LEN));
        for bad in [
            "not json",
            "[1]",
            "\"acr\"",
            r#"{"id_token":[]}"#,
            r#"{"userinfo":"x"}"#,
            r#"{"id_token":{"acr":"urn"}}"#,
            r#"{"id_token":{"acr":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"value":1}}}"#,
            r#"{"id_token":{"acr":{"values":"x"}}}"#,
            r#"{"id_token":{"acr":{"values":[1]}}}"#,
            r#"{"id_token":{"acr":{"#,
            long.as_str(),
        ] {
            assert!(
                matches!(parse_request(None, Some(bad)), Err(ParseError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_request_naming_too_many_values_is_refused() {
        let many = [MFA; MAX_VALUES + 1].join(" ");
        assert!(matches!(
            parse_request(Some(&many), None),
            Err(ParseError::Invalid(_))
        ));
    }
}
