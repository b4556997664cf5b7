//! Users: get, update (PATCH and POST), delete, query (reference §2.2).

use actix_web::{HttpResponse, web};
use authsignal_sdk::types::{
    GetUserResponse, QueryUsersRequest, QueryUsersResponse, SuccessResponse, UpdateUserRequest,
    UpdateUserResponse, UserSummary, VerificationMethod,
};
use chrono::Utc;
use serde::Deserialize;

use super::actions::{allowed_methods, enrollment, iso};
use super::extract::ApiJson;
use crate::domain::action_code::{parse_user_id, truncate};
use crate::domain::token::TokenClaims;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::User;

/// `GET /users/{userId}`: 200 for every id; an unknown user is simply not enrolled.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_user_id(&path.into_inner()).map_err(ApiError::InvalidRequest)?;
    let user = state.stores.users.get_user(&user_id)?;
    let (is_enrolled, methods, default) = enrollment(&state, &user_id)?;
    let user = user.unwrap_or_else(|| User::new(&user_id, Utc::now()));
    Ok(HttpResponse::Ok().json(GetUserResponse {
        is_enrolled,
        user_id: Some(user.user_id.clone()),
        email: user.email.clone(),
        email_verified: Some(user.email_verified),
        phone_number: user.phone_number.clone(),
        phone_number_verified: Some(user.phone_number_verified),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        enrolled_verification_methods: Some(methods),
        allowed_verification_methods: Some(allowed_methods()),
        default_verification_method: default,
        custom: user.custom.clone(),
        locale: user.locale.clone(),
    }))
}

/// `PATCH /users/{userId}` (and `POST`, as the Java and Ruby SDKs send): omitted fields are
/// left unchanged; the user is created if new.
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_user_id(&path.into_inner()).map_err(ApiError::InvalidRequest)?;
    if let Some(email) = &request.email
        && !email.is_empty()
        && !crate::domain::contact::looks_like_email(email)
    {
        return Err(ApiError::invalid(format!(
            "invalid email '{}'",
            truncate(email)
        )));
    }
    if request
        .default_verification_method
        .as_ref()
        .is_some_and(VerificationMethod::is_unknown)
    {
        return Err(ApiError::invalid("invalid defaultVerificationMethod"));
    }
    let user = state
        .stores
        .users
        .upsert_user(&user_id, Utc::now(), &mut |user| {
            if let Some(v) = &request.email {
                user.email = Some(v.clone()).filter(|v| !v.is_empty());
            }
            if let Some(v) = request.email_verified {
                user.email_verified = v;
            }
            if let Some(v) = &request.phone_number {
                user.phone_number = Some(v.clone()).filter(|v| !v.is_empty());
            }
            if let Some(v) = request.phone_number_verified {
                user.phone_number_verified = v;
            }
            if let Some(v) = &request.username {
                user.username = Some(v.clone());
            }
            if let Some(v) = &request.display_name {
                user.display_name = Some(v.clone());
            }
            if let Some(v) = &request.custom {
                user.custom = Some(v.clone());
            }
            if let Some(v) = &request.locale {
                user.locale = Some(v.clone());
            }
            if let Some(v) = &request.default_verification_method {
                user.default_verification_method = Some(v.as_str().to_owned());
            }
        })?;
    Ok(HttpResponse::Ok().json(UpdateUserResponse {
        user_id: user.user_id.clone(),
        email: user.email.clone(),
        email_verified: Some(user.email_verified),
        phone_number: user.phone_number.clone(),
        phone_number_verified: Some(user.phone_number_verified),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        custom: user.custom.clone(),
        locale: user.locale.clone(),
        default_verification_method: user
            .default_verification_method
            .as_deref()
            .map(VerificationMethod::from_wire),
    }))
}

/// Query of `DELETE /users/{userId}`.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    actions: Option<bool>,
}

/// `DELETE /users/{userId}`: removes the user, their authenticators, recovery codes and
/// sessions (and actions with `?actions=true`). Answers `{"success": true}` even for an unknown
/// user (idempotent).
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_user_id(&path.into_inner()).map_err(ApiError::InvalidRequest)?;
    state.stores.users.delete_user(&user_id)?;
    if query.actions == Some(true) {
        state.stores.actions.delete_actions(&user_id)?;
    }
    state.stores.sessions.revoke_user_auth_sessions(&user_id);
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}

/// `GET /users?username=&email=&phoneNumber=&token=&limit=&lastEvaluatedUserId=`: exact
/// matches (email case-insensitive), ordered by user id, paged by `lastEvaluatedUserId`.
pub async fn query(
    state: web::Data<AppState>,
    query: web::Query<QueryUsersRequest>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "invalid limit '{limit}': expected 1 to 1000"
        )));
    }
    let mut token_user = None;
    let mut token_payload = None;
    if let Some(token) = &query.token {
        let claims: TokenClaims = state
            .track_key
            .verify(token, Utc::now().timestamp())
            .map_err(|e| ApiError::invalid(format!("invalid token: {e}")))?;
        token_user = Some(claims.sub.clone());
        token_payload = Some(serde_json::to_value(&claims).expect("claims serialise"));
    }
    let mut users: Vec<User> = state
        .stores
        .users
        .list_users()?
        .into_iter()
        .filter(|u| {
            query
                .username
                .as_ref()
                .is_none_or(|v| u.username.as_ref() == Some(v))
        })
        .filter(|u| {
            query
                .email
                .as_ref()
                .is_none_or(|v| u.email.as_ref().is_some_and(|e| e.eq_ignore_ascii_case(v)))
        })
        .filter(|u| {
            query
                .phone_number
                .as_ref()
                .is_none_or(|v| u.phone_number.as_ref() == Some(v))
        })
        .filter(|u| token_user.as_ref().is_none_or(|id| &u.user_id == id))
        .filter(|u| {
            query
                .last_evaluated_user_id
                .as_ref()
                .is_none_or(|after| &u.user_id > after)
        })
        .collect();
    users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let last = if more {
        users.last().map(|u| u.user_id.clone())
    } else {
        None
    };
    let mut summaries = Vec::with_capacity(users.len());
    for user in users {
        let (is_enrolled, methods, _) = enrollment(&state, &user.user_id)?;
        summaries.push(UserSummary {
            user_id: user.user_id.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            phone_number: user.phone_number.clone(),
            phone_number_verified: user.phone_number_verified,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            is_enrolled: Some(is_enrolled),
            enrolled_verification_methods: Some(methods),
            created_at: Some(iso(user.created_at)),
        });
    }
    Ok(HttpResponse::Ok().json(QueryUsersResponse {
        users: summaries,
        last_evaluated_user_id: last,
        token_payload,
    }))
}
