//! `/connect/userinfo` (GET and POST): the claims the access token's scopes release. The token
//! comes in the `Authorization: Bearer` header, or (POST) in an `access_token` form field.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{ErrorCode, OAuthError};
use crate::oidc::{claims, jwt, now, param};
use crate::state::AppState;
use crate::store::{AccessTokenRecord, StoreError, grant_is_active};

/// Validates one of our access tokens: RS256 by a published key, `typ` `at+jwt`, our issuer,
/// not expired, known, not revoked, its grant still active. Returns the `jti` and the record;
/// `Ok(None)` for a token that is not valid, `Err` when the store cannot tell.
pub async fn validate_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<(String, AccessTokenRecord)>, StoreError> {
    let Some(claims) = verified_claims(state, token) else {
        return Ok(None);
    };
    let Some(jti) = claims.get("jti").and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let t = now();
    let Some(record) = state.stores.access_tokens.get(jti).await? else {
        return Ok(None);
    };
    if record.revoked || record.exp <= t {
        return Ok(None);
    }
    if let Some(grant_id) = &record.grant_id
        && !grant_is_active(state.stores.grants.as_ref(), grant_id, t).await?
    {
        return Ok(None);
    }
    Ok(Some((jti.to_owned(), record)))
}

/// The claims of a token signed by one of our keys with `typ` `at+jwt`, our issuer, unexpired.
fn verified_claims(
    state: &AppState,
    token: &str,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let (header, claims) = jwt::decode(&state.keys, token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let t = now();
    if claims.get("iss").and_then(|v| v.as_str()) != Some(state.settings.issuer.as_str()) {
        return None;
    }
    if claims
        .get("exp")
        .and_then(|v| v.as_i64())
        .is_none_or(|exp| exp <= t)
    {
        return None;
    }
    Some(claims)
}

fn challenge(state: &AppState, error: Option<(&str, &str)>) -> String {
    match error {
        None => format!("Bearer realm=\"{}\"", state.settings.issuer),
        Some((code, description)) => {
            format!(
                "Bearer realm=\"{}\", error=\"{code}\", error_description=\"{description}\"",
                state.settings.issuer
            )
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<Result<String, ()>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let value = value.to_str().map_err(|_| ());
    Some(value.and_then(|v| {
        let (scheme, token) = v.split_once(' ').ok_or(())?;
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            Ok(token.trim().to_owned())
        } else {
            Err(())
        }
    }))
}

async fn answer(state: &AppState, token: Option<String>) -> Result<HttpResponse, OAuthError> {
    let Some(token) = token else {
        return Err(OAuthError::invalid_request("an access token is required")
            .with_status(StatusCode::UNAUTHORIZED)
            .with_challenge(challenge(state, None)));
    };
    let invalid = || {
        OAuthError::new(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked",
        )
        .with_challenge(challenge(
            state,
            Some((
                "invalid_token",
                "the access token is invalid, expired or revoked",
            )),
        ))
    };
    let (_, record) = validate_access_token(state, &token)
        .await?
        .ok_or_else(invalid)?;
    if !record.scope.iter().any(|s| s == "openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the token lacks the openid scope",
        )
        .with_challenge(challenge(
            state,
            Some(("insufficient_scope", "the token lacks the openid scope")),
        )));
    }
    let user = state
        .users
        .find_by_subject(&record.subject)
        .await?
        .ok_or_else(invalid)?;
    Ok(super::no_store_json(&claims::user_claims(
        &user,
        &record.scope,
    )))
}

/// `GET /connect/userinfo`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let token = match bearer(&req) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(())) => {
            return Err(OAuthError::invalid_request(
                "the authorization header is not a bearer token",
            )
            .with_status(StatusCode::BAD_REQUEST));
        }
    };
    answer(&state, token).await
}

/// `POST /connect/userinfo`: the header, or an `access_token` form field (not both).
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let header_token = match bearer(&req) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(())) => {
            return Err(OAuthError::invalid_request(
                "the authorization header is not a bearer token",
            ));
        }
    };
    let has_body = req.headers().get(header::CONTENT_TYPE).is_some();
    let body_token = if has_body {
        let params = super::read_form(&req, payload, state.settings.max_body_bytes).await?;
        param(&params, "access_token").map(str::to_owned)
    } else {
        None
    };
    let token = match (header_token, body_token) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "send the access token once, not in both header and body",
            ));
        }
        (a, b) => a.or(b),
    };
    answer(&state, token).await
}
