//! OTP challenges driven from the server: challenge, verify, claim, get (reference §2.4).

use actix_web::{HttpRequest, HttpResponse, web};
use authsignal_sdk::types::{
    ChallengeRequest, ChallengeResponse, ClaimChallengeRequest, ClaimChallengeResponse,
    GetChallengeRequest, GetChallengeResponse, SmsChannel, VerificationFailureReason,
    VerificationMethod, VerifyRequest, VerifyResponse,
};
use chrono::{Duration, Utc};

use super::extract::ApiJson;
use crate::domain::action_code::{ActionCode, parse_idempotency_key, parse_user_id};
use crate::domain::codes::otp_code;
use crate::domain::contact::{is_e164, looks_like_email};
use crate::domain::secret::ct_eq_str;
use crate::error::ApiError;
use crate::state::{AppState, DEFAULT_SCOPE, MAX_FAILED_ATTEMPTS, OTP_LIFETIME_SECS, SendError};
use crate::store::{Action, ActionKey, ServerChallenge};

fn challenge_key(c: &ServerChallenge) -> ActionKey {
    ActionKey {
        user_id: c.user_id.clone().unwrap_or_default(),
        action_code: c.action.clone(),
        idempotency_key: c.idempotency_key.clone(),
    }
}

/// Sends the challenge's code, within the address's limits across every session and call
/// ([`AppState::reserve_code_send`]). A refused send answers 429 with the emulator's usual
/// error body: the real API's rate-limit answer (status and body) is UNVERIFIED (reference §9;
/// its documented limits are 12 email codes per 10 minutes).
async fn deliver(state: &AppState, c: &ServerChallenge) -> Result<(), ApiError> {
    let (to, channel) = match (&c.email, &c.phone_number) {
        (Some(email), _) => (email.clone(), "EMAIL"),
        (None, Some(phone)) => (phone.clone(), "SMS"),
        (None, None) => return Err(ApiError::invalid("no recipient")),
    };
    match state
        .send_code(&to, &c.code, &challenge_key(c), channel)
        .await
    {
        Ok(()) => Ok(()),
        Err(SendError::Throttled { retry_after_secs }) => Err(ApiError::TooManyRequests(format!(
            "too many codes were sent to this address; try again in {retry_after_secs} seconds"
        ))),
        Err(e) => Err(ApiError::Internal(e.to_string().into())),
    }
}

/// `POST /challenge`: sends an email or SMS code (to the outbox); with `challengeId`, re-sends
/// a fresh code for that challenge.
pub async fn challenge(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<ChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let expires_at = now + Duration::seconds(OTP_LIFETIME_SECS);
    if let Some(id) = &request.challenge_id {
        let not_found = || {
            ApiError::NotFound(format!(
                "challenge '{}' not found",
                crate::domain::action_code::truncate(id)
            ))
        };
        let mut challenge = state
            .stores
            .challenges
            .get_challenge(id)
            .ok_or_else(not_found)?;
        if challenge.verified || challenge.claimed {
            return Err(ApiError::invalid("the challenge is already verified"));
        }
        // The new code is sent first and stored only once it went out, so that a send held back
        // by the address's limit leaves the code sent before valid. Its wrong codes are kept: a
        // new code is not a new allowance of guesses.
        challenge.code = otp_code();
        challenge.expires_at = expires_at;
        deliver(&state, &challenge).await?;
        let (code, mut open) = (challenge.code.clone(), false);
        state
            .stores
            .challenges
            .update_challenge(id, &mut |c| {
                open = !c.verified && !c.claimed;
                if open {
                    c.code = code.clone();
                    c.expires_at = expires_at;
                }
            })
            .ok_or_else(not_found)?;
        if !open {
            return Err(ApiError::invalid("the challenge is already verified"));
        }
        return Ok(HttpResponse::Ok().json(ChallengeResponse {
            challenge_id: challenge.challenge_id.clone(),
            idempotency_key: Some(challenge.idempotency_key.clone()),
            expires_at: Some(challenge.expires_at.timestamp()),
        }));
    }
    let method = request
        .verification_method
        .clone()
        .ok_or_else(|| ApiError::invalid("verificationMethod is required"))?;
    let action = request
        .action
        .as_deref()
        .ok_or_else(|| ApiError::invalid("action is required"))?;
    let action = ActionCode::parse(action).map_err(ApiError::InvalidRequest)?;
    let user_id = match &request.user_id {
        Some(id) => Some(parse_user_id(id).map_err(ApiError::InvalidRequest)?),
        None => None,
    };
    let idempotency_key = match &request.idempotency_key {
        Some(key) => parse_idempotency_key(key).map_err(ApiError::InvalidRequest)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    let (email, phone_number) = match method {
        VerificationMethod::EmailOtp => {
            let email = request.email.clone().unwrap_or_default();
            if !looks_like_email(&email) {
                return Err(ApiError::invalid(
                    "a valid email is required for 'EMAIL_OTP'",
                ));
            }
            (Some(email), None)
        }
        VerificationMethod::Sms | VerificationMethod::Whatsapp => {
            let phone = request.phone_number.clone().unwrap_or_default();
            if !is_e164(&phone) {
                return Err(ApiError::invalid(format!(
                    "a phoneNumber in E.164 format is required for '{method}'"
                )));
            }
            (None, Some(phone))
        }
        other => {
            return Err(ApiError::invalid(format!(
                "verificationMethod '{other}' is not supported by /challenge"
            )));
        }
    };
    let challenge = ServerChallenge {
        challenge_id: uuid::Uuid::new_v4().to_string(),
        verification_method: method.as_str().to_owned(),
        action: action.to_string(),
        idempotency_key,
        user_id,
        email,
        phone_number,
        sms_channel: request.sms_channel.as_ref().map(|c| c.as_str().to_owned()),
        code: otp_code(),
        expires_at,
        attempts: 0,
        verified: false,
        claimed: false,
    };
    deliver(&state, &challenge).await?;
    state.stores.challenges.insert_challenge(challenge.clone());
    Ok(HttpResponse::Ok().json(ChallengeResponse {
        challenge_id: challenge.challenge_id,
        idempotency_key: Some(challenge.idempotency_key),
        expires_at: Some(expires_at.timestamp()),
    }))
}

/// `POST /verify`: checks a code; 5 wrong codes exhaust the challenge.
pub async fn verify(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let mut outcome = None;
    let challenge = state
        .stores
        .challenges
        .update_challenge(&request.challenge_id, &mut |c| {
            outcome = Some(if c.attempts >= MAX_FAILED_ATTEMPTS {
                Err(VerificationFailureReason::MaxAttemptsExceeded)
            } else if c.verified
                || c.expires_at <= now
                || !ct_eq_str(&c.code, request.verification_code.trim())
            {
                c.attempts += 1;
                Err(VerificationFailureReason::CodeInvalidOrExpired)
            } else {
                c.verified = true;
                Ok(())
            });
        })
        .ok_or_else(|| ApiError::NotFound("challenge not found".into()))?;
    let response = match outcome {
        Some(Ok(())) => VerifyResponse {
            is_verified: true,
            email: challenge.email.clone(),
            phone_number: challenge.phone_number.clone(),
            verification_method: Some(VerificationMethod::from_wire(
                &challenge.verification_method,
            )),
            failure_reason: None,
        },
        Some(Err(reason)) => VerifyResponse {
            is_verified: false,
            email: None,
            phone_number: None,
            verification_method: Some(VerificationMethod::from_wire(
                &challenge.verification_method,
            )),
            failure_reason: Some(reason),
        },
        None => return Err(ApiError::NotFound("challenge not found".into())),
    };
    Ok(HttpResponse::Ok().json(response))
}

/// `POST /claim`: binds a verified challenge to a user and returns a token for `/validate`
/// and `/sessions` (the action is `CHALLENGE_SUCCEEDED`).
pub async fn claim(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<ClaimChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_user_id(&request.user_id).map_err(ApiError::InvalidRequest)?;
    let skip = request.skip_verification_check.unwrap_or(false);
    let mut refusal = None;
    let challenge = state
        .stores
        .challenges
        .update_challenge(&request.challenge_id, &mut |c| {
            if c.claimed {
                refusal = Some("the challenge was already claimed");
            } else if !c.verified && !skip {
                refusal = Some("the challenge has not been verified");
            } else if c.user_id.as_ref().is_some_and(|u| u != &user_id) {
                refusal = Some("the challenge belongs to another user");
            } else {
                c.claimed = true;
                c.user_id = Some(user_id.clone());
            }
        })
        .ok_or_else(|| ApiError::NotFound("challenge not found".into()))?;
    if let Some(reason) = refusal {
        return Err(ApiError::invalid(reason));
    }
    let now = Utc::now();
    state.stores.users.upsert_user(&user_id, now, &mut |user| {
        if user.email.is_none() {
            user.email = challenge.email.clone();
        }
        if user.phone_number.is_none() {
            user.phone_number = challenge.phone_number.clone();
        }
    })?;
    let key = challenge_key(&challenge);
    let state_name = if challenge.verified {
        "CHALLENGE_SUCCEEDED"
    } else {
        "CHALLENGE_REQUIRED"
    };
    let action = Action {
        key: key.clone(),
        state: state_name.into(),
        state_updated_at: now,
        created_at: now,
        updated_at: now,
        verification_method: challenge
            .verified
            .then(|| challenge.verification_method.clone()),
        verified_by_authenticator_id: None,
        redirect_url: None,
        redirect_to_settings: false,
        email: challenge.email.clone(),
        username: None,
        scope: None,
        user_agent: None,
        ip_address: None,
        outcome: "CHALLENGE".into(),
        is_enrolled: true,
        failed_attempts: 0,
        custom: None,
        reported_not_me_at: None,
        recovery_codes_regenerated_at: None,
    };
    state.stores.actions.insert_action_if_absent(action)?;
    let (token, _) = state.issue_token(&key, DEFAULT_SCOPE, now);
    Ok(HttpResponse::Ok().json(ClaimChallengeResponse {
        token,
        verification_method: Some(VerificationMethod::from_wire(
            &challenge.verification_method,
        )),
    }))
}

fn find_challenge(state: &AppState, query: &GetChallengeRequest) -> Result<HttpResponse, ApiError> {
    let mut matches: Vec<ServerChallenge> = state
        .stores
        .challenges
        .list_challenges()
        .into_iter()
        .filter(|c| {
            query
                .challenge_id
                .as_ref()
                .is_none_or(|id| &c.challenge_id == id)
        })
        .filter(|c| {
            query
                .user_id
                .as_ref()
                .is_none_or(|u| c.user_id.as_ref() == Some(u))
        })
        .filter(|c| query.action.as_ref().is_none_or(|a| &c.action == a))
        .filter(|c| {
            query
                .verification_method
                .as_ref()
                .is_none_or(|m| m.as_str() == c.verification_method)
        })
        .collect();
    if query.challenge_id.is_none() && query.user_id.is_none() {
        return Err(ApiError::invalid("challengeId or userId is required"));
    }
    matches.sort_by_key(|c| c.expires_at);
    let c = matches
        .pop()
        .ok_or_else(|| ApiError::NotFound("challenge not found".into()))?;
    Ok(HttpResponse::Ok().json(GetChallengeResponse {
        challenge_id: Some(c.challenge_id.clone()),
        expires_at: Some(c.expires_at.timestamp()),
        verification_method: Some(VerificationMethod::from_wire(&c.verification_method)),
        sms_channel: c.sms_channel.as_deref().map(SmsChannel::from_wire),
        phone_number: c.phone_number.clone(),
        email: c.email.clone(),
        action: Some(c.action.clone()),
    }))
}

/// `GET /challenges?challengeId=&userId=&action=&verificationMethod=`.
pub async fn get_challenge(
    state: web::Data<AppState>,
    query: web::Query<GetChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    find_challenge(&state, &query)
}

/// `POST /challenges` (the .NET and Java SDKs): the query string and/or a JSON body.
pub async fn get_challenge_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    ApiJson(body): ApiJson<GetChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let query: GetChallengeRequest =
        web::Query::<GetChallengeRequest>::from_query(req.query_string())
            .map(web::Query::into_inner)
            .map_err(|e| ApiError::invalid(format!("invalid query: {e}")))?;
    let merged = GetChallengeRequest {
        challenge_id: query.challenge_id.or(body.challenge_id),
        user_id: query.user_id.or(body.user_id),
        action: query.action.or(body.action),
        verification_method: query.verification_method.or(body.verification_method),
    };
    find_challenge(&state, &merged)
}
