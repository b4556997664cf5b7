//! Sessions: create from a successful challenge token, validate, refresh (rotating), revoke
//! (reference §2.5). Access tokens are HS256 JWTs here, RS256 at the service: relying parties
//! must validate through the API, not locally.

use actix_web::{HttpResponse, web};
use authsignal_sdk::types::{
    CreateSessionRequest, RefreshSessionRequest, RevokeSessionRequest, RevokeUserSessionsRequest,
    SessionTokens, SessionUser, SuccessResponse, ValidateSessionRequest, ValidateSessionResponse,
    VerificationMethod,
};
use chrono::{Duration, Utc};

use super::extract::ApiJson;
use crate::domain::action_code::parse_user_id;
use crate::domain::secret::{random_token, sha256_hex};
use crate::domain::token::{SessionClaims, TokenClaims, TokenError};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{ActionKey, SessionRecord};

/// Access token lifetime.
const ACCESS_TOKEN_SECS: i64 = 3600;

fn issue(
    state: &AppState,
    user_id: &str,
    client_id: &str,
    method: Option<String>,
) -> SessionTokens {
    let now = Utc::now();
    let jti = uuid::Uuid::new_v4().to_string();
    let claims = SessionClaims {
        sub: user_id.to_owned(),
        aud: client_id.to_owned(),
        iat: now.timestamp(),
        exp: (now + Duration::seconds(ACCESS_TOKEN_SECS)).timestamp(),
        jti: jti.clone(),
        verification_method: method.clone(),
    };
    let refresh_token = random_token(32);
    state.stores.sessions.insert_auth_session(SessionRecord {
        jti,
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        refresh_hash: sha256_hex(&refresh_token),
        verification_method: method,
        revoked: false,
    });
    SessionTokens {
        access_token: state.session_key.sign(&claims),
        refresh_token,
    }
}

/// `POST /sessions`: needs a track (or claim) token whose action is `CHALLENGE_SUCCEEDED`.
pub async fn create(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<CreateSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    if request.client_id.trim().is_empty() {
        return Err(ApiError::invalid("clientId is required"));
    }
    let claims: TokenClaims = state
        .track_key
        .verify(&request.token, Utc::now().timestamp())
        .map_err(|e| ApiError::invalid(format!("invalid token: {e}")))?;
    if request
        .action
        .as_ref()
        .is_some_and(|a| a != &claims.other.action_code)
    {
        return Err(ApiError::invalid("the token is for another action"));
    }
    let key = ActionKey {
        user_id: claims.other.user_id.clone(),
        action_code: claims.other.action_code.clone(),
        idempotency_key: claims.other.idempotency_key.clone(),
    };
    let action = state
        .stores
        .actions
        .get_action(&key)?
        .filter(|a| a.state == "CHALLENGE_SUCCEEDED")
        .ok_or_else(|| ApiError::invalid("the token's challenge has not succeeded"))?;
    let tokens = issue(
        &state,
        &key.user_id,
        &request.client_id,
        action.verification_method.clone(),
    );
    Ok(HttpResponse::Ok().json(tokens))
}

fn check_access(state: &AppState, token: &str) -> Result<(SessionClaims, SessionRecord), ApiError> {
    let claims: SessionClaims = state
        .session_key
        .verify(token, Utc::now().timestamp())
        .map_err(|e: TokenError| ApiError::invalid(format!("invalid access token: {e}")))?;
    let record = state
        .stores
        .sessions
        .get_auth_session(&claims.jti)
        .filter(|r| !r.revoked)
        .ok_or_else(|| ApiError::invalid("invalid access token: revoked"))?;
    Ok((claims, record))
}

/// `POST /sessions/validate`.
pub async fn validate(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<ValidateSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (claims, record) = check_access(&state, &request.access_token)?;
    if let Some(ids) = &request.client_ids
        && !ids.is_empty()
        && !ids.contains(&claims.aud)
    {
        return Err(ApiError::invalid(
            "invalid access token: audience not allowed",
        ));
    }
    let user = state.stores.users.get_user(&record.user_id)?;
    Ok(HttpResponse::Ok().json(ValidateSessionResponse {
        user: SessionUser {
            user_id: record.user_id.clone(),
            email: user.as_ref().and_then(|u| u.email.clone()),
            phone_number: user.as_ref().and_then(|u| u.phone_number.clone()),
            username: user.as_ref().and_then(|u| u.username.clone()),
            display_name: user.as_ref().and_then(|u| u.display_name.clone()),
            custom: user.as_ref().and_then(|u| u.custom.clone()),
        },
        expires_at: claims.exp,
        verification_method: record
            .verification_method
            .as_deref()
            .map(VerificationMethod::from_wire),
    }))
}

/// `POST /sessions/refresh`: the old tokens stop working.
pub async fn refresh(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<RefreshSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let record = state
        .stores
        .sessions
        .take_by_refresh_hash(&sha256_hex(&request.refresh_token))
        .ok_or_else(|| ApiError::invalid("invalid refresh token"))?;
    let tokens = issue(
        &state,
        &record.user_id,
        &record.client_id,
        record.verification_method.clone(),
    );
    Ok(HttpResponse::Ok().json(tokens))
}

/// `POST /sessions/revoke`.
pub async fn revoke(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<RevokeSessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (claims, _) = check_access(&state, &request.access_token)?;
    state.stores.sessions.revoke_auth_session(&claims.jti);
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}

/// `POST /sessions/user/revoke`.
pub async fn revoke_user(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<RevokeUserSessionsRequest>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_user_id(&request.user_id).map_err(ApiError::InvalidRequest)?;
    state.stores.sessions.revoke_user_auth_sessions(&user_id);
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}
