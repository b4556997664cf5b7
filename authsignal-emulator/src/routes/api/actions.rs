//! Actions: track, validate, get, update, query (reference §2.1).

use actix_web::{HttpResponse, web};
use authsignal_sdk::types::{
    GetActionResponse, TrackAttributes, TrackResponse, UpdateActionRequest, UpdateActionResponse,
    UserAction, UserActionState, ValidateChallengeRequest, ValidateChallengeResponse,
    VerificationMethod,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;

use super::extract::ApiJson;
use crate::domain::action_code::{ActionCode, parse_idempotency_key, parse_user_id};
use crate::domain::decision::initial_state;
use crate::domain::redirect::check_track_redirect_url;
use crate::domain::token::{TokenClaims, TokenError};
use crate::error::ApiError;
use crate::state::{AppState, DEFAULT_SCOPE};
use crate::store::{Action, ActionKey};

/// ISO-8601 with milliseconds, as the service formats timestamps.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What a user has enrolled: (is enrolled, methods, default method).
pub fn enrollment(
    state: &AppState,
    user_id: &str,
) -> Result<(bool, Vec<VerificationMethod>, Option<VerificationMethod>), ApiError> {
    let authenticators = state.stores.authenticators.list_authenticators(user_id)?;
    let mut methods: Vec<VerificationMethod> = Vec::new();
    for a in &authenticators {
        let method = VerificationMethod::from_wire(&a.verification_method);
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    let user_default = state
        .stores
        .users
        .get_user(user_id)?
        .and_then(|u| u.default_verification_method)
        .map(|m| VerificationMethod::from_wire(&m))
        .filter(|m| methods.contains(m));
    let default = user_default
        .or_else(|| {
            authenticators
                .iter()
                .find(|a| a.is_default)
                .map(|a| VerificationMethod::from_wire(&a.verification_method))
        })
        .or_else(|| methods.first().cloned());
    Ok((!authenticators.is_empty(), methods, default))
}

/// Methods the hosted pages can enrol and challenge.
pub fn allowed_methods() -> Vec<VerificationMethod> {
    vec![
        VerificationMethod::AuthenticatorApp,
        VerificationMethod::EmailOtp,
    ]
}

fn parse_path_user(user_id: &str) -> Result<String, ApiError> {
    parse_user_id(user_id).map_err(ApiError::InvalidRequest)
}

/// `POST /users/{userId}/actions/{action}`.
pub async fn track(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    ApiJson(attributes): ApiJson<TrackAttributes>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, action) = path.into_inner();
    let user_id = parse_path_user(&user_id)?;
    let code = ActionCode::parse(&action).map_err(ApiError::InvalidRequest)?;
    let idempotency_key = match &attributes.idempotency_key {
        Some(key) => parse_idempotency_key(key).map_err(ApiError::InvalidRequest)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    if let Some(url) = &attributes.redirect_url {
        check_track_redirect_url(url, &state.redirect_origins).map_err(ApiError::InvalidRequest)?;
    }
    let now = Utc::now();
    state.stores.users.upsert_user(&user_id, now, &mut |user| {
        // First sight fills what the user record lacks; later tracks never overwrite.
        if user.username.is_none() {
            user.username = attributes.username.clone();
        }
        if user.email.is_none() {
            user.email = attributes.email.clone();
        }
        if user.phone_number.is_none() {
            user.phone_number = attributes.phone_number.clone();
        }
    })?;
    let (is_enrolled, methods, default) = enrollment(&state, &user_id)?;
    let outcome = state.outcome_for(code.as_str());
    let key = ActionKey {
        user_id: user_id.clone(),
        action_code: code.as_str().to_owned(),
        idempotency_key,
    };
    let candidate = Action {
        key: key.clone(),
        state: initial_state(outcome, is_enrolled).to_owned(),
        state_updated_at: now,
        created_at: now,
        updated_at: now,
        verification_method: None,
        verified_by_authenticator_id: None,
        redirect_url: attributes.redirect_url.clone(),
        redirect_to_settings: attributes.redirect_to_settings.unwrap_or(false),
        email: attributes.email.clone(),
        username: attributes.username.clone(),
        scope: attributes.scope.clone(),
        user_agent: attributes.user_agent.clone(),
        ip_address: attributes.ip_address.clone(),
        outcome: outcome.as_str().to_owned(),
        is_enrolled,
        failed_attempts: 0,
        custom: attributes.custom.clone(),
        reported_not_me_at: None,
        recovery_codes_regenerated_at: None,
    };
    let (stored, created) = state.stores.actions.insert_action_if_absent(candidate)?;
    let scope = stored
        .scope
        .clone()
        .unwrap_or_else(|| DEFAULT_SCOPE.to_owned());
    let (token, _) = state.issue_token(&key, &scope, now);
    tracing::info!(
        user_id = %key.user_id,
        action = %key.action_code,
        state = %stored.state,
        created,
        "action tracked"
    );
    Ok(HttpResponse::Ok().json(TrackResponse {
        idempotency_key: key.idempotency_key.clone(),
        state: UserActionState::from_wire(&stored.state),
        url: state.hosted_url(&token),
        token,
        is_enrolled,
        enrolled_verification_methods: Some(methods),
        allowed_verification_methods: Some(allowed_methods()),
        default_verification_method: default,
        rule_ids: Some(Vec::new()),
    }))
}

fn invalid_token(error: &str) -> ValidateChallengeResponse {
    ValidateChallengeResponse {
        is_valid: false,
        state: None,
        state_updated_at: None,
        user_id: None,
        action: None,
        action_code: None,
        idempotency_key: None,
        verification_method: None,
        veriff_session_id: None,
        error: Some(error.to_owned()),
    }
}

/// `POST /validate`. Forged, expired or mismatched tokens answer 200 with `isValid: false`
/// and an `error` (the live service's behaviour there is UNVERIFIED; this is the conservative
/// choice). Validation is repeatable.
pub async fn validate(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<ValidateChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let claims: TokenClaims = match state
        .track_key
        .verify(&request.token, Utc::now().timestamp())
    {
        Ok(claims) => claims,
        Err(TokenError::Expired) => {
            return Ok(HttpResponse::Ok().json(invalid_token("expired_token")));
        }
        Err(_) => return Ok(HttpResponse::Ok().json(invalid_token("invalid_token"))),
    };
    if claims.other.tenant_id != state.tenant_id {
        return Ok(HttpResponse::Ok().json(invalid_token("invalid_token")));
    }
    if request
        .user_id
        .as_deref()
        .is_some_and(|u| u != claims.other.user_id)
    {
        return Ok(HttpResponse::Ok().json(invalid_token("user_id_mismatch")));
    }
    if request
        .action
        .as_deref()
        .is_some_and(|a| a != claims.other.action_code)
    {
        return Ok(HttpResponse::Ok().json(invalid_token("action_mismatch")));
    }
    let key = ActionKey {
        user_id: claims.other.user_id.clone(),
        action_code: claims.other.action_code.clone(),
        idempotency_key: claims.other.idempotency_key.clone(),
    };
    let Some(action) = state.stores.actions.get_action(&key)? else {
        return Ok(HttpResponse::Ok().json(invalid_token("action_not_found")));
    };
    let action_state = UserActionState::from_wire(&action.state);
    Ok(HttpResponse::Ok().json(ValidateChallengeResponse {
        is_valid: action_state == UserActionState::ChallengeSucceeded,
        state: Some(action_state),
        state_updated_at: Some(iso(action.state_updated_at)),
        user_id: Some(key.user_id.clone()),
        action: Some(key.action_code.clone()),
        action_code: Some(key.action_code.clone()),
        idempotency_key: Some(key.idempotency_key.clone()),
        verification_method: action
            .verification_method
            .as_deref()
            .map(VerificationMethod::from_wire),
        veriff_session_id: None,
        error: None,
    }))
}

fn action_key(path: (String, String, String)) -> Result<ActionKey, ApiError> {
    let (user_id, action, idempotency_key) = path;
    Ok(ActionKey {
        user_id: parse_path_user(&user_id)?,
        action_code: ActionCode::parse(&action)
            .map_err(ApiError::InvalidRequest)?
            .to_string(),
        idempotency_key: parse_idempotency_key(&idempotency_key)
            .map_err(ApiError::InvalidRequest)?,
    })
}

fn action_not_found(key: &ActionKey) -> ApiError {
    ApiError::NotFound(format!(
        "action '{}' with idempotency key '{}' not found",
        key.action_code, key.idempotency_key
    ))
}

fn get_action_response(action: &Action) -> GetActionResponse {
    GetActionResponse {
        state: UserActionState::from_wire(&action.state),
        state_updated_at: Some(iso(action.state_updated_at)),
        created_at: Some(iso(action.created_at)),
        verification_method: action
            .verification_method
            .as_deref()
            .map(VerificationMethod::from_wire),
        rules: Some(Vec::new()),
        rule_ids: Some(Vec::new()),
        priority_rule_id: None,
        // `reportedNotMe` (the person answered "This wasn't me" on the hosted challenge) and
        // `recoveryCodesRegenerated` (new recovery codes made in the hosted settings this action
        // opened) are emulator extensions; the real service's `output` has no such fields.
        output: Some(serde_json::json!({
            "outcome": action.outcome,
            "isEnrolled": action.is_enrolled,
            "reportedNotMe": action.reported_not_me_at.is_some(),
            "recoveryCodesRegenerated": action.recovery_codes_regenerated_at.is_some(),
        })),
    }
}

/// `GET /users/{userId}/actions/{action}/{idempotencyKey}`.
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let key = action_key(path.into_inner())?;
    let action = state
        .stores
        .actions
        .get_action(&key)?
        .ok_or_else(|| action_not_found(&key))?;
    Ok(HttpResponse::Ok().json(get_action_response(&action)))
}

/// `PATCH /users/{userId}/actions/{action}/{idempotencyKey}` with `{state}`.
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    ApiJson(request): ApiJson<UpdateActionRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = action_key(path.into_inner())?;
    if request.state.is_unknown() {
        return Err(ApiError::invalid(format!(
            "invalid state '{}'",
            request.state
        )));
    }
    let now = Utc::now();
    let new_state = request.state.as_str().to_owned();
    let action = state
        .stores
        .actions
        .update_action(&key, &mut |action| {
            if action.state != new_state {
                action.state = new_state.clone();
                action.state_updated_at = now;
            }
            action.updated_at = now;
        })?
        .ok_or_else(|| action_not_found(&key))?;
    Ok(HttpResponse::Ok().json(UpdateActionResponse {
        state: UserActionState::from_wire(&action.state),
    }))
}

/// Query of `GET /users/{userId}/actions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionsQuery {
    from_date: Option<String>,
    codes: Option<String>,
    state: Option<String>,
}

/// `GET /users/{userId}/actions?fromDate=&codes=&state=`: newest first, at most 30 days back.
pub async fn query(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ActionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_path_user(&path.into_inner())?;
    let now = Utc::now();
    let floor = now - Duration::days(30);
    let from = match &query.from_date {
        Some(value) => DateTime::parse_from_rfc3339(value)
            .map_err(|_| ApiError::invalid(format!("invalid fromDate '{value}'")))?
            .with_timezone(&Utc)
            .max(floor),
        None => floor,
    };
    let codes: Option<Vec<&str>> = query.codes.as_deref().map(|c| {
        c.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    });
    let wanted_state = query.state.as_deref().map(UserActionState::from_wire);
    if wanted_state.as_ref().is_some_and(|s| s.is_unknown()) {
        return Err(ApiError::invalid(format!(
            "invalid state '{}'",
            query.state.as_deref().unwrap_or("")
        )));
    }
    let actions: Vec<UserAction> = state
        .stores
        .actions
        .list_actions(&user_id)?
        .into_iter()
        .filter(|a| a.created_at >= from)
        .filter(|a| {
            codes
                .as_ref()
                .is_none_or(|c| c.contains(&a.key.action_code.as_str()))
        })
        .filter(|a| wanted_state.as_ref().is_none_or(|s| s.as_str() == a.state))
        .map(|a| UserAction {
            action_code: a.key.action_code.clone(),
            idempotency_key: a.key.idempotency_key.clone(),
            created_at: iso(a.created_at),
            updated_at: Some(iso(a.updated_at)),
            state: UserActionState::from_wire(&a.state),
            state_updated_at: Some(iso(a.state_updated_at)),
            verification_method: a
                .verification_method
                .as_deref()
                .map(VerificationMethod::from_wire),
            verified_by_authenticator_id: a.verified_by_authenticator_id.clone(),
            user_agent: a.user_agent.clone(),
            ip_address: a.ip_address.clone(),
            country_code: None,
        })
        .collect();
    Ok(HttpResponse::Ok().json(actions))
}
