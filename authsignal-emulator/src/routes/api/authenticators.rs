//! Authenticators: list, enroll verified, batch enroll passkeys, delete (reference §2.3).

use actix_web::{HttpResponse, web};
use authsignal_sdk::types::{
    AaguidMapping, BatchEnrollFailure, BatchEnrollRequest, BatchEnrollResponse,
    EnrollVerifiedAuthenticatorRequest, EnrollVerifiedAuthenticatorResponse, SuccessResponse,
    UserAuthenticator, VerificationMethod, WebauthnCredential,
};
use chrono::Utc;

use super::actions::iso;
use super::extract::ApiJson;
use crate::domain::action_code::parse_user_id;
use crate::domain::codes::{hash_recovery_code, recovery_codes};
use crate::domain::contact::{is_e164, looks_like_email};
use crate::domain::totp;
use crate::domain::{aaguid, user_agent};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Authenticator, PasskeyCredential};

/// The wire form of a stored authenticator.
pub fn to_wire(a: &Authenticator) -> UserAuthenticator {
    UserAuthenticator {
        user_id: a.user_id.clone(),
        user_authenticator_id: a.user_authenticator_id.clone(),
        verification_method: VerificationMethod::from_wire(&a.verification_method),
        created_at: Some(iso(a.created_at)),
        verified_at: Some(iso(a.verified_at)),
        last_verified_at: a.last_verified_at.map(iso),
        is_default: Some(a.is_default),
        email: a.email.clone(),
        phone_number: a.phone_number.clone(),
        username: None,
        display_name: None,
        previous_sms_channel: None,
        webauthn_credential: a.passkey.as_ref().map(|p| webauthn_credential(a, p)),
    }
}

/// The `webauthnCredential` of a passkey, with the fields the official SDKs declare. Fields
/// the emulator does not know (an imported passkey's device) are left out, never `null`.
fn webauthn_credential(a: &Authenticator, p: &PasskeyCredential) -> WebauthnCredential {
    let provider = p.aaguid.as_deref().and_then(aaguid::provider);
    WebauthnCredential {
        credential_id: p.credential_id.clone(),
        device_id: p.device_id.clone(),
        name: Some(
            p.name
                .clone()
                .unwrap_or_else(|| aaguid::passkey_name(p.aaguid.as_deref())),
        ),
        aaguid: p.aaguid.clone(),
        aaguid_mapping: provider.map(|provider| AaguidMapping {
            name: Some(provider.name.to_owned()),
            svg_icon_light: Some(aaguid::ICON_LIGHT.to_owned()),
            svg_icon_dark: Some(aaguid::ICON_DARK.to_owned()),
        }),
        credential_backed_up: Some(p.backup_state),
        credential_device_type: Some(
            if p.backup_eligible {
                "multiDevice"
            } else {
                "singleDevice"
            }
            .to_owned(),
        ),
        authenticator_attachment: p.authenticator_attachment.clone(),
        parsed_user_agent: p.user_agent.as_deref().map(user_agent::parse),
        verified_at: Some(iso(a.verified_at)),
    }
}

/// `GET /users/{userId}/authenticators`: a JSON array (empty for unknown users).
pub async fn list(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_user_id(&path.into_inner()).map_err(ApiError::InvalidRequest)?;
    let list: Vec<UserAuthenticator> = state
        .stores
        .authenticators
        .list_authenticators(&user_id)?
        .iter()
        .map(to_wire)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Issues recovery codes if the user has none yet (the first enrollment), returning the plain
/// codes once.
pub fn issue_first_recovery_codes(
    state: &AppState,
    user_id: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    if state
        .stores
        .authenticators
        .remaining_recovery_codes(user_id)?
        > 0
    {
        return Ok(None);
    }
    let codes = recovery_codes();
    state.stores.authenticators.set_recovery_codes(
        user_id,
        codes.iter().map(|c| hash_recovery_code(c)).collect(),
    )?;
    Ok(Some(codes))
}

/// Sends `authenticator.created` (asynchronous at the service: retried, never blocking).
/// Absent fields are left out of the event.
pub fn announce_authenticator(state: &AppState, a: &Authenticator) {
    if let Some(webhooks) = &state.webhooks {
        let passkey = a.passkey.as_ref();
        webhooks.send_in_background(
            "authenticator.created",
            serde_json::json!({
                "userId": a.user_id,
                "verificationMethod": a.verification_method,
                "createdAt": iso(a.created_at),
                "userAuthenticatorId": a.user_authenticator_id,
                "email": a.email,
                "phoneNumber": a.phone_number,
                "credentialId": passkey.map(|p| &p.credential_id),
                "credentialPublicKey": passkey.map(|p| &p.credential_public_key),
                "aaguid": passkey.and_then(|p| p.aaguid.as_ref()),
                "credentialName": passkey.and_then(|p| p.name.as_ref()),
            }),
        );
    }
}

/// `POST /users/{userId}/authenticators`: enrols an already verified authenticator
/// (`EMAIL_OTP`/`EMAIL_MAGIC_LINK` with `email`, `SMS`/`WHATSAPP` with `phoneNumber`,
/// `AUTHENTICATOR_APP` with `otpUri`). The first enrollment returns recovery codes.
pub async fn enroll(
    state: web::Data<AppState>,
    path: web::Path<String>,
    ApiJson(request): ApiJson<EnrollVerifiedAuthenticatorRequest>,
) -> Result<HttpResponse, ApiError> {
    let user_id = parse_user_id(&path.into_inner()).map_err(ApiError::InvalidRequest)?;
    let method = request.verification_method.clone();
    let mut email = None;
    let mut phone_number = None;
    let mut totp_secret = None;
    match method {
        VerificationMethod::EmailOtp | VerificationMethod::EmailMagicLink => {
            let value = request.email.clone().unwrap_or_default();
            if !looks_like_email(&value) {
                return Err(ApiError::invalid(format!(
                    "a valid email is required for '{method}'"
                )));
            }
            email = Some(value);
        }
        VerificationMethod::Sms | VerificationMethod::Whatsapp => {
            let value = request.phone_number.clone().unwrap_or_default();
            if !is_e164(&value) {
                return Err(ApiError::invalid(format!(
                    "a phoneNumber in E.164 format is required for '{method}'"
                )));
            }
            phone_number = Some(value);
        }
        VerificationMethod::AuthenticatorApp => {
            let uri = request
                .otp_uri
                .as_deref()
                .ok_or_else(|| ApiError::invalid("otpUri is required for 'AUTHENTICATOR_APP'"))?;
            totp_secret = Some(totp::secret_from_uri(uri).map_err(ApiError::InvalidRequest)?);
        }
        other => {
            return Err(ApiError::invalid(format!(
                "verificationMethod '{other}' cannot be enrolled through this endpoint"
            )));
        }
    }
    let now = Utc::now();
    state.stores.users.upsert_user(&user_id, now, &mut |_| {})?;
    let existing = state.stores.authenticators.list_authenticators(&user_id)?;
    let authenticator = Authenticator {
        user_authenticator_id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.clone(),
        verification_method: method.as_str().to_owned(),
        created_at: now,
        verified_at: now,
        last_verified_at: None,
        email,
        phone_number,
        totp_secret,
        last_totp_step: None,
        is_default: request.is_default.unwrap_or(existing.is_empty()),
        passkey: None,
    };
    state
        .stores
        .authenticators
        .insert_authenticator(authenticator.clone())?;
    let codes = issue_first_recovery_codes(&state, &user_id)?;
    announce_authenticator(&state, &authenticator);
    Ok(
        HttpResponse::Ok().json(EnrollVerifiedAuthenticatorResponse {
            authenticator: to_wire(&authenticator),
            recovery_codes: codes,
        }),
    )
}

/// `POST /users/authenticators`: imports up to 1000 passkeys; each failure is reported with
/// `errorCode` (`conflict` for a credential id that exists already).
pub async fn batch_enroll(
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<BatchEnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    if request.authenticators.len() > 1000 {
        return Err(ApiError::invalid(format!(
            "'{}' authenticators in one batch: at most 1000",
            request.authenticators.len()
        )));
    }
    let now = Utc::now();
    let mut failures = Vec::new();
    for item in &request.authenticators {
        let fail = |code: &str, description: String| BatchEnrollFailure {
            user_id: item.user_id.clone(),
            credential_id: item.credential_id.clone(),
            error_code: Some(code.to_owned()),
            error_description: Some(description),
        };
        if item.verification_method != VerificationMethod::Passkey {
            failures.push(fail(
                "invalid_request",
                format!(
                    "verificationMethod '{}' is not PASSKEY",
                    item.verification_method
                ),
            ));
            continue;
        }
        if parse_user_id(&item.user_id).is_err()
            || item.credential_id.is_empty()
            || item.credential_public_key.is_empty()
        {
            failures.push(fail(
                "invalid_request",
                "userId, credentialId and credentialPublicKey are required".into(),
            ));
            continue;
        }
        if state
            .stores
            .authenticators
            .find_passkey(&item.credential_id)?
            .is_some()
        {
            failures.push(fail(
                "conflict",
                "a passkey with this credentialId exists already".into(),
            ));
            continue;
        }
        state
            .stores
            .users
            .upsert_user(&item.user_id, now, &mut |_| {})?;
        let is_first = state
            .stores
            .authenticators
            .list_authenticators(&item.user_id)?
            .is_empty();
        let authenticator = Authenticator {
            user_authenticator_id: uuid::Uuid::new_v4().to_string(),
            user_id: item.user_id.clone(),
            verification_method: "PASSKEY".into(),
            created_at: now,
            verified_at: now,
            last_verified_at: None,
            email: None,
            phone_number: None,
            totp_secret: None,
            last_totp_step: None,
            is_default: is_first,
            passkey: Some(PasskeyCredential {
                credential_id: item.credential_id.clone(),
                credential_public_key: item.credential_public_key.clone(),
                name: item.name.clone(),
                aaguid: item.aaguid.clone(),
                transports: item.transports.clone(),
                sign_count: 0,
                backup_eligible: false,
                backup_state: false,
                algorithm: None,
                authenticator_attachment: None,
                device_id: None,
                user_agent: None,
            }),
        };
        state
            .stores
            .authenticators
            .insert_authenticator(authenticator.clone())?;
        announce_authenticator(&state, &authenticator);
    }
    let total = request.authenticators.len() as u32;
    let failed = failures.len() as u32;
    Ok(HttpResponse::Ok().json(BatchEnrollResponse {
        total,
        succeeded: total - failed,
        failed,
        failures,
    }))
}

/// `DELETE /users/{userId}/authenticators/{userAuthenticatorId}`: 404 when unknown (UNVERIFIED).
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user_id, id) = path.into_inner();
    let user_id = parse_user_id(&user_id).map_err(ApiError::InvalidRequest)?;
    if state
        .stores
        .authenticators
        .delete_authenticator(&user_id, &id)?
    {
        Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
    } else {
        Err(ApiError::NotFound(format!(
            "authenticator '{}' not found",
            crate::domain::action_code::truncate(&id)
        )))
    }
}
