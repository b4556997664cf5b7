//! OpenID Connect Back-Channel Logout 1.0, the receiving side, as plain functions: reading the
//! `POST /backchannel-logout` body (section 2.5) and validating the logout token (section 2.6).
//! The route (`routes::backchannel`) calls [`crate::oidc::Provider::verify_logout_token`],
//! which checks the signature against the provider's JWKS with these functions, and records
//! the result in the session store ([`crate::store::SessionStore::record_logout`]).
//!
//! A logout token is accepted only when **all** hold: a compact JWS of three base64url parts
//! within [`MAX_TOKEN_BYTES`]; header `alg` exactly `RS256` (never `none`, never HMAC), no
//! `crit`, `typ` absent or `logout+jwt`; the signature verifies with a published RSA signing
//! key (by `kid`); `iss` is the issuer; `aud` contains our client id; `iat` is present, at most
//! [`SKEW_SECS`] in the future and at most [`MAX_AGE_SECS`] in the past; `exp`, if present,
//! not passed by more than [`SKEW_SECS`]; `events` holds the back-channel logout member with
//! a JSON object value; `sub` or `sid` is present; `nonce` is absent; `jti` is present. That
//! the `jti` is used once is the store's part.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJsonWebKeyType, CoreJsonWebKeyUse,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm};
use serde_json::{Map, Value};

use crate::store::{Logout, LogoutTarget};

/// The largest request body accepted (the form with the token).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The longest logout token accepted.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The longest `jti`, `sid` and `sub` accepted.
pub const MAX_CLAIM_BYTES: usize = 255;
/// Clock skew allowed on `iat` and `exp`.
pub const SKEW_SECS: i64 = 60;
/// A logout token is accepted at most this long after its `iat` (whatever its `exp`), so that
/// its `jti` need be remembered only this long.
pub const MAX_AGE_SECS: i64 = 5 * 60;
/// The `events` member that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Why a logout token (or the request carrying it) was refused: the text goes into the 400
/// answer's `error_description`, so it names the rule, never a value from the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogoutTokenError {
    /// The request is not a form with one `logout_token`, or is too large.
    #[error("{0}")]
    Request(&'static str),
    /// The token is not a compact JWS with JSON header and claims.
    #[error("the logout token is malformed: {0}")]
    Malformed(&'static str),
    /// The header names another algorithm or type, or an extension we do not understand.
    #[error("the logout token header is not acceptable: {0}")]
    Header(&'static str),
    /// No published key has the token's `kid` (the JWKS may be refetched once).
    #[error("the logout token is signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the logout token signature does not verify")]
    BadSignature,
    /// A claim is missing or wrong.
    #[error("the logout token is not acceptable: {0}")]
    Claim(&'static str),
}

/// The header fields we look at.
#[derive(Debug, serde::Deserialize)]
struct Header {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<Value>,
}

/// A logout token split and decoded, not yet verified.
#[derive(Debug)]
pub struct Parsed<'a> {
    kid: Option<String>,
    signing_input: &'a str,
    signature: Vec<u8>,
    claims: Map<String, Value>,
}

/// A validated logout token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutToken {
    /// `jti`.
    pub jti: String,
    /// `iat` (unix seconds).
    pub iat: i64,
    /// Whom it signs out: the session of its `sid` if it has one (section 2.7), else every
    /// session of its `sub`.
    pub target: LogoutTarget,
}

/// What the claims must match.
#[derive(Debug)]
pub struct Expected<'a> {
    /// The issuer, exactly.
    pub issuer: &'a str,
    /// Our client id, which `aud` must contain.
    pub client_id: &'a str,
}

/// The `logout_token` of a form body (`application/x-www-form-urlencoded`); exactly one, not
/// empty, within [`MAX_TOKEN_BYTES`]. The caller has bounded the body.
pub fn token_from_form(body: &[u8]) -> Result<String, LogoutTokenError> {
    let mut found = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == "logout_token" {
            if found.is_some() {
                return Err(LogoutTokenError::Request("more than one logout_token"));
            }
            found = Some(value.into_owned());
        }
    }
    let token = found
        .filter(|t| !t.is_empty())
        .ok_or(LogoutTokenError::Request("logout_token is missing"))?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(LogoutTokenError::Request("logout_token is too long"));
    }
    Ok(token)
}

/// Splits the compact JWS, decodes header and claims, and checks the header: `alg` `RS256`,
/// `typ` absent or `logout+jwt` (also as `application/logout+jwt`, any case), no `crit`.
pub fn parse(token: &str) -> Result<Parsed<'_>, LogoutTokenError> {
    use LogoutTokenError::{Header as BadHeader, Malformed};
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Malformed("too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed("not three dot-separated parts"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Malformed("not base64url"))
    };
    let header: Header =
        serde_json::from_slice(&decode(h)?).map_err(|_| Malformed("the header is not JSON"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&decode(c)?)
        .map_err(|_| Malformed("the claims are not a JSON object"))?;
    let signature = decode(s)?;
    match header.alg.as_deref() {
        Some("RS256") => {}
        Some("none") => return Err(BadHeader("alg none is never accepted")),
        _ => return Err(BadHeader("alg must be RS256")),
    }
    if let Some(typ) = &header.typ {
        let typ = typ.to_ascii_lowercase();
        if typ != "logout+jwt" && typ != "application/logout+jwt" {
            return Err(BadHeader("typ must be logout+jwt"));
        }
    }
    if header.crit.is_some() {
        return Err(BadHeader("crit is not supported"));
    }
    if signature.is_empty() {
        return Err(Malformed("no signature"));
    }
    Ok(Parsed {
        kid: header.kid,
        signing_input: &token[..h.len() + 1 + c.len()],
        signature,
        claims,
    })
}

/// Whether `key` may verify an RS256 signature: RSA, for signing (or no use given), and no
/// other algorithm pinned.
fn usable(key: &CoreJsonWebKey) -> bool {
    *key.key_type() == CoreJsonWebKeyType::RSA
        && key
            .key_use()
            .is_none_or(|u| *u == CoreJsonWebKeyUse::Signature)
        && match key.signing_alg() {
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Algorithm(alg) => {
                *alg == CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
            }
            JsonWebKeyAlgorithm::Unsupported => false,
        }
}

/// Verifies the RS256 signature with the key of the token's `kid` in `jwks` (without a `kid`,
/// with the only usable key). [`LogoutTokenError::UnknownKey`] when no such key is published.
pub fn verify_signature(
    parsed: &Parsed<'_>,
    jwks: &CoreJsonWebKeySet,
) -> Result<(), LogoutTokenError> {
    let mut candidates = jwks.keys().iter().filter(|k| usable(k));
    let key = match &parsed.kid {
        Some(kid) => candidates.find(|k| k.key_id().is_some_and(|id| id.as_str() == kid)),
        None => match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        },
    }
    .ok_or(LogoutTokenError::UnknownKey)?;
    key.verify_signature(
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        parsed.signing_input.as_bytes(),
        &parsed.signature,
    )
    .map_err(|_| LogoutTokenError::BadSignature)
}

fn short_string<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
    error: &'static str,
) -> Result<Option<&'a str>, LogoutTokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_CLAIM_BYTES => Ok(Some(s)),
        Some(_) => Err(LogoutTokenError::Claim(error)),
    }
}

fn seconds(claims: &Map<String, Value>, name: &str) -> Option<Result<i64, ()>> {
    claims.get(name).map(|v| match v {
        // A NumericDate may have a fraction; whole seconds are enough here.
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or(()),
        _ => Err(()),
    })
}

/// Checks the claims of a token whose signature has been verified (section 2.6, steps 3 to 7).
pub fn validate_claims(
    parsed: &Parsed<'_>,
    expected: &Expected<'_>,
    now: i64,
) -> Result<LogoutToken, LogoutTokenError> {
    use LogoutTokenError::Claim;
    let claims = &parsed.claims;
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(Claim("iss is not the issuer"));
    }
    let ours = |v: &Value| v.as_str() == Some(expected.client_id);
    let audience_ok = match claims.get("aud") {
        Some(Value::String(_)) => claims.get("aud").is_some_and(ours),
        Some(Value::Array(items)) => items.iter().any(ours),
        _ => false,
    };
    if !audience_ok {
        return Err(Claim("aud does not contain this client"));
    }
    let iat = match seconds(claims, "iat") {
        Some(Ok(iat)) => iat,
        Some(Err(())) => return Err(Claim("iat is not a number")),
        None => return Err(Claim("iat is missing")),
    };
    if iat > now.saturating_add(SKEW_SECS) {
        return Err(Claim("iat is in the future"));
    }
    if now.saturating_sub(iat) > MAX_AGE_SECS {
        return Err(Claim("iat is too old"));
    }
    match seconds(claims, "exp") {
        Some(Ok(exp)) if exp.saturating_add(SKEW_SECS) <= now => {
            return Err(Claim("the logout token has expired"));
        }
        Some(Ok(_)) | None => {}
        Some(Err(())) => return Err(Claim("exp is not a number")),
    }
    let event_ok = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !event_ok {
        return Err(Claim(
            "events does not hold the back-channel logout event as an object",
        ));
    }
    if claims.contains_key("nonce") {
        return Err(Claim("a logout token must not contain a nonce"));
    }
    let sid = short_string(claims, "sid", "sid is not a short string")?;
    let sub = short_string(claims, "sub", "sub is not a short string")?;
    let target = match (sid, sub) {
        (Some(sid), _) => LogoutTarget::Session(sid.to_owned()),
        (None, Some(sub)) => LogoutTarget::Subject(sub.to_owned()),
        (None, None) => return Err(Claim("neither sub nor sid is present")),
    };
    let jti =
        short_string(claims, "jti", "jti is not a short string")?.ok_or(Claim("jti is missing"))?;
    Ok(LogoutToken {
        jti: jti.to_owned(),
        iat,
        target,
    })
}

impl LogoutToken {
    /// What the store records: the `jti` until the token is too old to be accepted anyway, and
    /// the target as a marker that outlives every session it can match (`session_lifetime`
    /// plus the time a sign-in may take to finish).
    pub fn to_logout(
        &self,
        now: DateTime<Utc>,
        session_lifetime: chrono::Duration,
        sign_in_window: chrono::Duration,
    ) -> Logout {
        let iat = DateTime::from_timestamp(self.iat, 0).unwrap_or(now);
        Logout {
            jti: self.jti.clone(),
            jti_expires_at: iat + chrono::Duration::seconds(MAX_AGE_SECS + SKEW_SECS + 1),
            target: self.target.clone(),
            at: now,
            marker_expires_at: now + session_lifetime + sign_in_window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://localhost:5001";

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn token(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    fn good_claims(now: i64) -> Value {
        json!({
            "iss": ISS, "aud": "web", "iat": now, "exp": now + 120, "jti": "j-1",
            "sub": "alice", "sid": "s-1",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        })
    }

    fn header() -> Value {
        json!({"alg": "RS256", "typ": "logout+jwt", "kid": "k"})
    }

    fn check(claims: Value, now: i64) -> Result<LogoutToken, LogoutTokenError> {
        let t = token(header(), claims);
        let parsed = parse(&t)?;
        validate_claims(
            &parsed,
            &Expected {
                issuer: ISS,
                client_id: "web",
            },
            now,
        )
    }

    fn with(mut claims: Value, name: &str, value: Option<Value>) -> Value {
        let map = claims.as_object_mut().unwrap();
        match value {
            Some(v) => map.insert(name.into(), v),
            None => map.remove(name),
        };
        claims
    }

    #[test]
    fn a_well_formed_logout_token_is_accepted_for_its_sid_with_its_jti() {
        let now = 1_700_000_000;
        let token = check(good_claims(now), now).unwrap();
        assert_eq!(token.jti, "j-1");
        assert_eq!(token.iat, now);
        assert_eq!(
            token.target,
            LogoutTarget::Session("s-1".into()),
            "sid wins over sub"
        );
        let by_sub = check(with(good_claims(now), "sid", None), now).unwrap();
        assert_eq!(by_sub.target, LogoutTarget::Subject("alice".into()));
    }

    #[test]
    fn an_audience_array_containing_the_client_is_accepted() {
        let now = 1_700_000_000;
        let claims = with(good_claims(now), "aud", Some(json!(["other", "web"])));
        assert!(check(claims, now).is_ok());
    }

    #[test]
    fn each_claim_rule_refuses_its_token() {
        let now = 1_700_000_000;
        let g = || good_claims(now);
        let cases = [
            (with(g(), "iss", Some(json!("https://evil"))), "iss"),
            (with(g(), "iss", None), "iss"),
            (with(g(), "aud", Some(json!("other"))), "aud"),
            (with(g(), "aud", Some(json!(["a", "b"]))), "aud"),
            (with(g(), "aud", None), "aud"),
            (with(g(), "iat", None), "iat is missing"),
            (with(g(), "iat", Some(json!("now"))), "iat is not"),
            (with(g(), "iat", Some(json!(now + 600))), "future"),
            (with(g(), "iat", Some(json!(now - 3600))), "too old"),
            (with(g(), "exp", Some(json!(now - 61))), "expired"),
            (with(g(), "events", None), "events"),
            (with(g(), "events", Some(json!({"other": {}}))), "events"),
            (
                with(
                    g(),
                    "events",
                    Some(json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" })),
                ),
                "events",
            ),
            (with(g(), "nonce", Some(json!("n"))), "nonce"),
            (with(with(g(), "sid", None), "sub", None), "neither"),
            (with(g(), "jti", None), "jti is missing"),
            (with(g(), "jti", Some(json!(""))), "jti"),
            (with(g(), "sid", Some(json!(7))), "sid"),
            (with(g(), "sub", Some(json!("x".repeat(300)))), "sub"),
        ];
        for (claims, expected) in cases {
            let err = check(claims.clone(), now).expect_err(&claims.to_string());
            assert!(err.to_string().contains(expected), "{err} for {claims}");
        }
    }

    #[test]
    fn a_small_clock_skew_is_allowed_on_iat_and_exp() {
        let now = 1_700_000_000;
        let claims = with(good_claims(now), "iat", Some(json!(now + 30)));
        assert!(check(claims, now).is_ok());
        let claims = with(good_claims(now), "exp", Some(json!(now - 30)));
        assert!(check(claims, now).is_ok());
        let claims = with(good_claims(now), "exp", None);
        assert!(check(claims, now).is_ok(), "exp is optional");
    }

    #[test]
    fn only_rs256_with_a_logout_type_and_no_crit_is_accepted() {
        let claims = good_claims(1);
        let refused = [
            json!({"alg": "none"}),
            json!({"alg": "HS256", "kid": "k"}),
            json!({"alg": "ES256"}),
            json!({"typ": "logout+jwt"}),
            json!({"alg": "RS256", "typ": "JWT"}),
            json!({"alg": "RS256", "typ": "at+jwt"}),
            json!({"alg": "RS256", "crit": ["exp"]}),
        ];
        for h in refused {
            assert!(
                matches!(
                    parse(&token(h.clone(), claims.clone())),
                    Err(LogoutTokenError::Header(_))
                ),
                "{h}"
            );
        }
        for h in [
            json!({"alg": "RS256"}),
            json!({"alg": "RS256", "typ": "application/logout+JWT"}),
        ] {
            assert!(parse(&token(h.clone(), claims.clone())).is_ok(), "{h}");
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let claims = b64(&good_claims(1));
        let h = b64(&header());
        for bad in [
            String::new(),
            "a.b".into(),
            format!("{h}.{claims}"),
            format!("{h}.{claims}.c2ln.extra"),
            format!("{h}.{claims}."),
            format!("{h}.%%%.c2ln"),
            format!("{}.{claims}.c2ln", URL_SAFE_NO_PAD.encode("[1]")),
            format!("{h}.{}.c2ln", URL_SAFE_NO_PAD.encode("[1]")),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(
                matches!(parse(&bad), Err(LogoutTokenError::Malformed(_))),
                "{bad:.60}"
            );
        }
    }

    #[test]
    fn the_form_must_hold_exactly_one_short_logout_token() {
        assert_eq!(token_from_form(b"logout_token=abc").unwrap(), "abc");
        assert_eq!(
            token_from_form(b"x=1&logout_token=a%2Eb").unwrap(),
            "a.b",
            "form-decoded"
        );
        for bad in [
            &b""[..],
            b"logout_token=",
            b"token=abc",
            b"logout_token=a&logout_token=b",
        ] {
            assert!(token_from_form(bad).is_err());
        }
        let long = format!("logout_token={}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert!(token_from_form(long.as_bytes()).is_err());
    }

    #[test]
    fn the_jti_is_remembered_until_the_token_is_too_old_and_the_marker_past_every_session() {
        let now = Utc::now();
        let token = LogoutToken {
            jti: "j".into(),
            iat: now.timestamp(),
            target: LogoutTarget::Subject("alice".into()),
        };
        let logout = token.to_logout(
            now,
            chrono::Duration::hours(8),
            chrono::Duration::minutes(10),
        );
        assert_eq!(logout.target, LogoutTarget::Subject("alice".into()));
        assert_eq!(logout.jti, "j");
        let remembered = (logout.jti_expires_at - now).num_seconds();
        assert!(remembered > MAX_AGE_SECS + SKEW_SECS - 2, "{remembered}");
        assert!(remembered <= MAX_AGE_SECS + SKEW_SECS + 1, "{remembered}");
        assert_eq!(
            logout.marker_expires_at - now,
            chrono::Duration::hours(8) + chrono::Duration::minutes(10)
        );
    }
}
