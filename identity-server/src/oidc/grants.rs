//! Token endpoint rules (RFC 6749 4.1.3, 4.4, 6; RFC 7636 4.6; RFC 9700 4.14): what a code, a
//! refresh token or a client-credentials request must satisfy.

use super::pkce;
use crate::domain::{Client, is_valid_scope_token, parse_scope};
use crate::error::OAuthError;
use crate::store::CodeRecord;

/// Checks a first-use code against the token request.
pub fn check_code(
    record: &CodeRecord,
    client_id: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if record.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&record.code_challenge, code_verifier) {
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent but no code_challenge was",
        )),
        (None, None) => Ok(()),
        (Some(challenge), Some(verifier)) => {
            if !pkce::is_valid_verifier(verifier) {
                return Err(OAuthError::invalid_grant("code_verifier is malformed"));
            }
            if !pkce::verify_s256(verifier, challenge) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
            Ok(())
        }
    }
}

/// The scope of a refreshed access token: the requested scope, which may only narrow the grant.
pub fn refresh_scope(
    requested: Option<&str>,
    granted: &[String],
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.to_vec());
    };
    let scope = parse_scope(requested);
    if scope.is_empty() || !scope.iter().all(|s| is_valid_scope_token(s)) {
        return Err(OAuthError::new(
            crate::error::ErrorCode::InvalidScope,
            "scope is malformed",
        ));
    }
    if let Some(extra) = scope.iter().find(|s| !granted.contains(s)) {
        return Err(OAuthError::new(
            crate::error::ErrorCode::InvalidScope,
            format!("scope '{extra}' was not granted"),
        ));
    }
    Ok(scope)
}

/// The scope of a client-credentials token: the requested API scopes, or all the client's API
/// scopes when none is requested. Identity scopes make no sense without a user.
pub fn client_credentials_scope(
    requested: Option<&str>,
    client: &Client,
    api_scopes: &[String],
) -> Result<Vec<String>, OAuthError> {
    let invalid = |d: String| OAuthError::new(crate::error::ErrorCode::InvalidScope, d);
    let scope = match requested {
        Some(r) => parse_scope(r),
        None => client
            .scopes
            .iter()
            .filter(|s| api_scopes.contains(s))
            .cloned()
            .collect(),
    };
    if scope.is_empty() {
        return Err(invalid("no scope is available to this client".into()));
    }
    for s in &scope {
        if !is_valid_scope_token(s) || !api_scopes.contains(s) || !client.scopes.contains(s) {
            return Err(invalid(format!(
                "scope '{}' is not allowed for this client",
                s.chars().take(100).collect::<String>()
            )));
        }
    }
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn record(challenge: Option<&str>) -> CodeRecord {
        CodeRecord {
            client_id: "web".into(),
            redirect_uri: "https://a/cb".into(),
            code_challenge: challenge.map(str::to_owned),
            nonce: None,
            subject: "s".into(),
            auth_time: 0,
            amr: vec![],
            sid: "sid".into(),
            acr: None,
            scope: vec!["openid".into()],
            expires_at: 100,
            grant_id: None,
        }
    }

    #[test]
    fn a_matching_code_request_passes() {
        assert!(
            check_code(
                &record(Some(CHALLENGE)),
                "web",
                Some("https://a/cb"),
                Some(VERIFIER),
                50
            )
            .is_ok()
        );
    }

    #[test]
    fn every_mismatch_is_invalid_grant() {
        let r = record(Some(CHALLENGE));
        let cases = [
            check_code(&r, "web", Some("https://a/cb"), Some(VERIFIER), 100),
            check_code(&r, "other", Some("https://a/cb"), Some(VERIFIER), 50),
            check_code(&r, "web", Some("https://a/cb?x"), Some(VERIFIER), 50),
            check_code(&r, "web", None, Some(VERIFIER), 50),
            check_code(&r, "web", Some("https://a/cb"), None, 50),
            check_code(
                &r,
                "web",
                Some("https://a/cb"),
                Some(&VERIFIER.replace('k', "x")),
                50,
            ),
            check_code(
                &record(None),
                "web",
                Some("https://a/cb"),
                Some(VERIFIER),
                50,
            ),
        ];
        for case in cases {
            assert_eq!(case.unwrap_err().code, ErrorCode::InvalidGrant);
        }
    }

    #[test]
    fn refresh_scope_may_only_shrink() {
        let granted = vec!["openid".to_string(), "profile".to_string()];
        assert_eq!(refresh_scope(None, &granted).unwrap(), granted);
        assert_eq!(
            refresh_scope(Some("openid"), &granted).unwrap(),
            vec!["openid"]
        );
        assert_eq!(
            refresh_scope(Some("openid email"), &granted)
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn client_credentials_scope_defaults_to_the_clients_api_scopes() {
        let settings = crate::configuration::Settings::default();
        let client = Client::from(&settings.clients[1]);
        let api = vec!["api1".to_string()];
        assert_eq!(
            client_credentials_scope(None, &client, &api).unwrap(),
            vec!["api1"]
        );
        assert_eq!(
            client_credentials_scope(Some("openid"), &client, &api)
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            client_credentials_scope(Some("api2"), &client, &api)
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
    }
}
