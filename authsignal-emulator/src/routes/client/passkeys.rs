//! The passkey endpoints of the Client API: paths and JSON fields as `@authsignal/browser`
//! sends and reads them (its `passkey-api-client.ts` and `types/passkey.ts`).
//!
//! Sign-in (anonymous page, Basic): `POST /challenge {action, idempotencyKey}` names the action
//! → `POST .../authentication-options {challengeId}` issues a discoverable request →
//! `POST /verify/passkey {authenticationCredential, challengeId}` verifies it; the action
//! `(owner, action, idempotencyKey)` becomes `CHALLENGE_SUCCEEDED` with `PASSKEY`, and the
//! `accessToken` returned validates as such through the Server API.
//! Sign-up (Bearer track token): `POST .../registration-options` → `POST
//! /user-authenticators/passkey {registrationCredential, challengeId}`; the token's action
//! becomes `CHALLENGE_SUCCEEDED`. A user who has any authenticator needs a token with scope
//! `add:authenticators`.
//!
//! Every challenge is single use — consumed by the first answer, pass or fail — and expires
//! after `passkey.challenge_lifetime_secs`.

use actix_web::{HttpRequest, HttpResponse, web};
use authsignal_sdk::types::UserAuthenticator;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::ClientAuth;
use crate::domain::action_code::{ActionCode, parse_idempotency_key, truncate};
use crate::domain::webauthn::{
    self, ALGORITHMS, AuthenticationResponse, RegistrationResponse, StoredCredential, b64url,
    b64url_decode,
};
use crate::error::ApiError;
use crate::routes::api::actions::iso;
use crate::routes::api::authenticators::{announce_authenticator, to_wire};
use crate::routes::api::extract::ApiJson;
use crate::state::{AppState, DEFAULT_SCOPE};
use crate::store::{
    Action, ActionKey, Authenticator, PasskeyCeremony, PasskeyChallenge, PasskeyCredential,
};

/// The action of a passkey sign-in that names none (`signIn()` without `action`). The
/// service's default is UNVERIFIED; this is the code its docs use in their example.
pub const DEFAULT_SIGN_IN_ACTION: &str = "signInWithPasskey";
/// The scope a token needs to add a passkey for a user who has an authenticator already.
pub const ADD_SCOPE: &str = "add:authenticators";
/// At most this many credential ids in one `GET /user-authenticators/passkey`.
pub const MAX_CREDENTIAL_IDS: usize = 50;
/// Action states a passkey ceremony may complete. `BLOCK`, `REVIEW_*` and `CHALLENGE_FAILED`
/// are final: a passkey never overturns them.
const COMPLETABLE: [&str; 3] = ["CHALLENGE_REQUIRED", "CHALLENGE_SUCCEEDED", "ALLOW"];

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

fn key_of(claims_user: &str, action_code: &str, idempotency_key: &str) -> ActionKey {
    ActionKey {
        user_id: claims_user.to_owned(),
        action_code: action_code.to_owned(),
        idempotency_key: idempotency_key.to_owned(),
    }
}

fn challenge_gone(id: &str) -> ApiError {
    ApiError::invalid(format!(
        "challenge '{}' is unknown, expired or already used",
        truncate(id)
    ))
}

/// Takes (consumes) a challenge for `ceremony`; refuses it when expired or of another kind.
fn take_challenge(
    state: &AppState,
    id: Option<&str>,
    ceremony: PasskeyCeremony,
    now: DateTime<Utc>,
) -> Result<(PasskeyChallenge, Vec<u8>), ApiError> {
    let id = id.ok_or_else(|| ApiError::invalid("challengeId is required"))?;
    let challenge = state
        .stores
        .passkey_challenges
        .take_passkey_challenge(id)
        .ok_or_else(|| challenge_gone(id))?;
    if challenge.expires_at <= now {
        return Err(ApiError::invalid(format!(
            "challenge '{}' has expired",
            truncate(id)
        )));
    }
    if challenge.ceremony != ceremony {
        return Err(challenge_gone(id));
    }
    let bytes = challenge
        .challenge
        .clone()
        .ok_or_else(|| ApiError::invalid("no options were issued for this challenge"))?;
    Ok((challenge, bytes))
}

fn passkeys_of(state: &AppState, user_id: &str) -> Result<Vec<Authenticator>, ApiError> {
    Ok(state
        .stores
        .authenticators
        .list_authenticators(user_id)?
        .into_iter()
        .filter(|a| a.passkey.is_some())
        .collect())
}

fn descriptors(passkeys: &[Authenticator]) -> Vec<Value> {
    passkeys
        .iter()
        .filter_map(|a| a.passkey.as_ref())
        .map(|p| {
            let mut d = json!({"type": "public-key", "id": p.credential_id});
            if let Some(t) = &p.transports {
                d["transports"] = json!(t);
            }
            d
        })
        .collect()
}

/// The stored action of a token, which must still be completable.
fn completable_action(state: &AppState, key: &ActionKey) -> Result<Action, ApiError> {
    let action = state.stores.actions.get_action(key)?.ok_or_else(|| {
        ApiError::ClientUnauthorized("the token's action no longer exists".into())
    })?;
    if !COMPLETABLE.contains(&action.state.as_str()) {
        return Err(ApiError::invalid(format!(
            "action '{}' is '{}' and cannot be completed",
            key.action_code, action.state
        )));
    }
    Ok(action)
}

/// Marks `key` `CHALLENGE_SUCCEEDED` by `PASSKEY` (creating the action for a sign-in), after
/// the synchronous `action.verify` webhook accepted it. A final state is never overturned.
async fn complete_action(
    state: &AppState,
    key: &ActionKey,
    scope: &str,
    authenticator_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(existing) = state.stores.actions.get_action(key)?
        && !COMPLETABLE.contains(&existing.state.as_str())
    {
        return Err(ApiError::invalid(format!(
            "action '{}' is '{}' and cannot be completed",
            key.action_code, existing.state
        )));
    }
    state
        .notify_action_verified(key, "PASSKEY", Some(authenticator_id))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let succeeded = |a: &mut Action| {
        a.state = "CHALLENGE_SUCCEEDED".into();
        a.state_updated_at = now;
        a.updated_at = now;
        a.verification_method = Some("PASSKEY".into());
        a.verified_by_authenticator_id = Some(authenticator_id.to_owned());
    };
    let mut candidate = Action {
        key: key.clone(),
        state: String::new(),
        state_updated_at: now,
        created_at: now,
        updated_at: now,
        verification_method: None,
        verified_by_authenticator_id: None,
        redirect_url: None,
        redirect_to_settings: false,
        email: None,
        username: None,
        scope: Some(scope.to_owned()),
        user_agent: None,
        ip_address: None,
        outcome: "CHALLENGE".into(),
        is_enrolled: true,
        failed_attempts: 0,
        custom: None,
        reported_not_me_at: None,
        recovery_codes_regenerated_at: None,
    };
    succeeded(&mut candidate);
    let (_, created) = state.stores.actions.insert_action_if_absent(candidate)?;
    if !created {
        let mut refused = None;
        state.stores.actions.update_action(key, &mut |a| {
            if COMPLETABLE.contains(&a.state.as_str()) {
                succeeded(a);
            } else {
                refused = Some(a.state.clone());
            }
        })?;
        if let Some(final_state) = refused {
            return Err(ApiError::invalid(format!(
                "action '{}' is '{final_state}' and cannot be completed",
                key.action_code
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// POST /client/challenge

/// `{action?, idempotencyKey?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeRequest {
    action: Option<String>,
    idempotency_key: Option<String>,
}

/// `POST /client/challenge`: a challenge naming the action (and idempotency key) that a
/// passkey sign-in will complete. Basic (or a Bearer token, which binds the user).
pub async fn challenge(
    state: web::Data<AppState>,
    auth: ClientAuth,
    ApiJson(request): ApiJson<ChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let action = ActionCode::parse(request.action.as_deref().unwrap_or(DEFAULT_SIGN_IN_ACTION))
        .map_err(ApiError::InvalidRequest)?;
    let idempotency_key = match &request.idempotency_key {
        Some(key) => parse_idempotency_key(key).map_err(ApiError::InvalidRequest)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    let now = Utc::now();
    let challenge = PasskeyChallenge {
        challenge_id: uuid::Uuid::new_v4().to_string(),
        ceremony: PasskeyCeremony::Authentication,
        challenge: None,
        action_code: action.as_str().to_owned(),
        idempotency_key,
        user_id: auth.user_id().map(str::to_owned),
        scope: DEFAULT_SCOPE.to_owned(),
        expires_at: now + state.passkey_challenge_lifetime,
    };
    let id = challenge.challenge_id.clone();
    state
        .stores
        .passkey_challenges
        .insert_passkey_challenge(challenge);
    Ok(HttpResponse::Ok().json(json!({ "challengeId": id })))
}

// ---------------------------------------------------------------------------------------------
// Registration

/// `{username?, displayName?, authenticatorAttachment?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationOptionsRequest {
    username: Option<String>,
    display_name: Option<String>,
    #[serde(default)]
    authenticator_attachment: Option<String>,
}

fn shorten(value: &str) -> String {
    value.chars().take(64).collect()
}

/// `POST /client/user-authenticators/passkey/registration-options` (Bearer): creation
/// options asking for a resident key, user verification and attestation `none`.
pub async fn registration_options(
    state: web::Data<AppState>,
    auth: ClientAuth,
    ApiJson(request): ApiJson<RegistrationOptionsRequest>,
) -> Result<HttpResponse, ApiError> {
    let claims = auth.require_token()?;
    let user_id = claims.other.user_id.clone();
    let key = key_of(
        &user_id,
        &claims.other.action_code,
        &claims.other.idempotency_key,
    );
    completable_action(&state, &key)?;
    let existing = state.stores.authenticators.list_authenticators(&user_id)?;
    if !existing.is_empty() && !has_scope(&claims.scope, ADD_SCOPE) {
        return Err(ApiError::ClientUnauthorized(format!(
            "the token's scope does not include '{ADD_SCOPE}'"
        )));
    }
    let attachment = match request.authenticator_attachment.as_deref() {
        None => None,
        Some(a @ ("platform" | "cross-platform")) => Some(a.to_owned()),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "authenticatorAttachment '{}' is not 'platform' or 'cross-platform'",
                truncate(other)
            )));
        }
    };
    let now = Utc::now();
    let fresh_handle = b64url(&random_bytes::<16>());
    let user = state.stores.users.upsert_user(&user_id, now, &mut |u| {
        if u.webauthn_user_handle.is_none() {
            u.webauthn_user_handle = Some(fresh_handle.clone());
        }
    })?;
    let handle = user
        .webauthn_user_handle
        .clone()
        .ok_or_else(|| ApiError::Internal("the user handle was not stored".into()))?;
    let name = request
        .username
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .or(user.username.as_deref())
        .or(user.email.as_deref())
        .unwrap_or(&user_id);
    let name = shorten(name);
    let display_name = request
        .display_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .or(user.display_name.as_deref())
        .map_or_else(|| name.clone(), shorten);
    let challenge_bytes = random_bytes::<32>();
    let passkeys = passkeys_of(&state, &user_id)?;
    let mut selection = json!({
        "residentKey": "required",
        "requireResidentKey": true,
        "userVerification": "required",
    });
    if let Some(attachment) = &attachment {
        selection["authenticatorAttachment"] = json!(attachment);
    }
    let rp = &state.relying_party;
    let options = json!({
        "rp": {"id": rp.rp_id(), "name": rp.rp_name()},
        "user": {"id": handle, "name": name, "displayName": display_name},
        "challenge": b64url(&challenge_bytes),
        "pubKeyCredParams": ALGORITHMS
            .iter()
            .map(|alg| json!({"type": "public-key", "alg": alg}))
            .collect::<Vec<_>>(),
        "timeout": state.passkey_challenge_lifetime.num_milliseconds(),
        "excludeCredentials": descriptors(&passkeys),
        "authenticatorSelection": selection,
        "attestation": "none",
        "extensions": {"credProps": true},
    });
    let challenge = PasskeyChallenge {
        challenge_id: uuid::Uuid::new_v4().to_string(),
        ceremony: PasskeyCeremony::Registration,
        challenge: Some(challenge_bytes.to_vec()),
        action_code: key.action_code.clone(),
        idempotency_key: key.idempotency_key.clone(),
        user_id: Some(user_id),
        scope: claims.scope.clone(),
        expires_at: now + state.passkey_challenge_lifetime,
    };
    let id = challenge.challenge_id.clone();
    state
        .stores
        .passkey_challenges
        .insert_passkey_challenge(challenge);
    Ok(HttpResponse::Ok().json(json!({ "challengeId": id, "options": options })))
}

/// `{registrationCredential, challengeId?, conditionalCreate?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddAuthenticatorRequest {
    registration_credential: Value,
    challenge_id: Option<String>,
}

/// `{isVerified, accessToken?, userAuthenticatorId?, userId?, userAuthenticator?}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddAuthenticatorResponse {
    is_verified: bool,
    access_token: String,
    user_authenticator_id: String,
    user_id: String,
    user_authenticator: UserAuthenticator,
}

/// `POST /client/user-authenticators/passkey` (Bearer, the token of the options): verifies
/// the registration and stores the passkey.
pub async fn add_authenticator(
    state: web::Data<AppState>,
    auth: ClientAuth,
    req: HttpRequest,
    ApiJson(request): ApiJson<AddAuthenticatorRequest>,
) -> Result<HttpResponse, ApiError> {
    let claims = auth.require_token()?;
    let now = Utc::now();
    let (challenge, challenge_bytes) = take_challenge(
        &state,
        request.challenge_id.as_deref(),
        PasskeyCeremony::Registration,
        now,
    )?;
    let key = key_of(
        &claims.other.user_id,
        &claims.other.action_code,
        &claims.other.idempotency_key,
    );
    if challenge.user_id.as_deref() != Some(key.user_id.as_str())
        || challenge.action_code != key.action_code
        || challenge.idempotency_key != key.idempotency_key
    {
        return Err(ApiError::ClientUnauthorized(
            "the challenge was not issued for this token".into(),
        ));
    }
    completable_action(&state, &key)?;
    let response: RegistrationResponse = serde_json::from_value(request.registration_credential)
        .map_err(|e| {
            ApiError::InvalidCredential(format!("the registration credential is malformed: {e}"))
        })?;
    let credential = state
        .relying_party
        .verify_registration(&response, &challenge_bytes)
        .map_err(|e| ApiError::InvalidCredential(e.to_string()))?;
    if state
        .stores
        .authenticators
        .find_passkey(&credential.credential_id)?
        .is_some()
    {
        return Err(ApiError::InvalidCredential(
            "a passkey with this credential id exists already".into(),
        ));
    }
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect::<String>());
    let is_first = state
        .stores
        .authenticators
        .list_authenticators(&key.user_id)?
        .is_empty();
    let authenticator = Authenticator {
        user_authenticator_id: uuid::Uuid::new_v4().to_string(),
        user_id: key.user_id.clone(),
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
            name: Some(crate::domain::aaguid::passkey_name(Some(
                &credential.aaguid,
            ))),
            credential_id: credential.credential_id,
            credential_public_key: credential.public_key,
            aaguid: Some(credential.aaguid),
            transports: credential.transports,
            sign_count: credential.sign_count,
            backup_eligible: credential.backup_eligible,
            backup_state: credential.backup_state,
            algorithm: Some(credential.algorithm),
            authenticator_attachment: credential.authenticator_attachment,
            // The service's source of this id is UNVERIFIED; each registration gets its own.
            device_id: Some(uuid::Uuid::new_v4().to_string()),
            user_agent,
        }),
    };
    let already_succeeded = state
        .stores
        .actions
        .get_action(&key)?
        .is_some_and(|a| a.state == "CHALLENGE_SUCCEEDED");
    if !already_succeeded {
        // The webhook may refuse the verification: ask before storing anything.
        state
            .notify_action_verified(&key, "PASSKEY", Some(&authenticator.user_authenticator_id))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    }
    if !state
        .stores
        .authenticators
        .insert_passkey_if_unused(authenticator.clone())?
    {
        return Err(ApiError::InvalidCredential(
            "a passkey with this credential id exists already".into(),
        ));
    }
    announce_authenticator(&state, &authenticator);
    let mut refused = None;
    state.stores.actions.update_action(&key, &mut |a| {
        if COMPLETABLE.contains(&a.state.as_str()) {
            a.state = "CHALLENGE_SUCCEEDED".into();
            a.state_updated_at = now;
            a.updated_at = now;
            a.verification_method = Some("PASSKEY".into());
            a.verified_by_authenticator_id = Some(authenticator.user_authenticator_id.clone());
        } else {
            refused = Some(a.state.clone());
        }
    })?;
    if let Some(final_state) = refused {
        return Err(ApiError::invalid(format!(
            "action '{}' is '{final_state}' and cannot be completed",
            key.action_code
        )));
    }
    tracing::info!(user_id = %key.user_id, "passkey registered");
    let (token, _) = state.issue_token(&key, &claims.scope, now);
    Ok(HttpResponse::Ok().json(AddAuthenticatorResponse {
        is_verified: true,
        access_token: token,
        user_authenticator_id: authenticator.user_authenticator_id.clone(),
        user_id: key.user_id.clone(),
        user_authenticator: to_wire(&authenticator),
    }))
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// `{challengeId?}` (`username`, which only the docs list, is ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationOptionsRequest {
    challenge_id: Option<String>,
}

/// `POST /client/user-authenticators/passkey/authentication-options` (Basic or Bearer):
/// request options requiring user verification; discoverable (no `allowCredentials`) unless
/// the user is known (a Bearer token), then the user's passkeys.
pub async fn authentication_options(
    state: web::Data<AppState>,
    auth: ClientAuth,
    ApiJson(request): ApiJson<AuthenticationOptionsRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let challenge_bytes = random_bytes::<32>();
    let challenge = match request.challenge_id.as_deref() {
        Some(id) => {
            let mut refusal = None;
            let token_user = auth.user_id().map(str::to_owned);
            let updated =
                state
                    .stores
                    .passkey_challenges
                    .update_passkey_challenge(id, now, &mut |c| {
                        if c.ceremony != PasskeyCeremony::Authentication || c.challenge.is_some() {
                            refusal = Some(challenge_gone(id));
                        } else if let (Some(bound), Some(token)) = (&c.user_id, &token_user)
                            && bound != token
                        {
                            refusal = Some(ApiError::ClientUnauthorized(
                                "the challenge belongs to another user".into(),
                            ));
                        } else {
                            c.challenge = Some(challenge_bytes.to_vec());
                            if c.user_id.is_none() {
                                c.user_id = token_user.clone();
                            }
                        }
                    });
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
            updated.ok_or_else(|| challenge_gone(id))?
        }
        None => {
            let (action_code, idempotency_key, user_id, scope) = match &auth {
                ClientAuth::Token(claims) => (
                    claims.other.action_code.clone(),
                    claims.other.idempotency_key.clone(),
                    Some(claims.other.user_id.clone()),
                    claims.scope.clone(),
                ),
                ClientAuth::Tenant => (
                    DEFAULT_SIGN_IN_ACTION.to_owned(),
                    uuid::Uuid::new_v4().to_string(),
                    None,
                    DEFAULT_SCOPE.to_owned(),
                ),
            };
            let challenge = PasskeyChallenge {
                challenge_id: uuid::Uuid::new_v4().to_string(),
                ceremony: PasskeyCeremony::Authentication,
                challenge: Some(challenge_bytes.to_vec()),
                action_code,
                idempotency_key,
                user_id,
                scope,
                expires_at: now + state.passkey_challenge_lifetime,
            };
            state
                .stores
                .passkey_challenges
                .insert_passkey_challenge(challenge.clone());
            challenge
        }
    };
    let allow = match &challenge.user_id {
        Some(user) => descriptors(&passkeys_of(&state, user)?),
        None => Vec::new(),
    };
    let remaining = (challenge.expires_at - now).num_milliseconds().max(1000);
    let options = json!({
        "challenge": b64url(&challenge_bytes),
        "timeout": remaining,
        "rpId": state.relying_party.rp_id(),
        "allowCredentials": allow,
        "userVerification": "required",
    });
    Ok(HttpResponse::Ok().json(json!({
        "challengeId": challenge.challenge_id,
        "options": options,
    })))
}

/// `{authenticationCredential, challengeId?, deviceId?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    authentication_credential: Value,
    challenge_id: Option<String>,
}

/// `{isVerified, accessToken?, userId?, userAuthenticatorId?, username?, userDisplayName?}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    is_verified: bool,
    access_token: String,
    user_id: String,
    user_authenticator_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_display_name: Option<String>,
}

/// `POST /client/verify/passkey` (Basic or Bearer): verifies an assertion. The challenge is
/// consumed first, so whatever follows, it cannot be answered again.
pub async fn verify(
    state: web::Data<AppState>,
    auth: ClientAuth,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let (challenge, challenge_bytes) = take_challenge(
        &state,
        request.challenge_id.as_deref(),
        PasskeyCeremony::Authentication,
        now,
    )?;
    let response: AuthenticationResponse =
        serde_json::from_value(request.authentication_credential).map_err(|e| {
            ApiError::InvalidCredential(format!("the authentication credential is malformed: {e}"))
        })?;
    let raw_id = b64url_decode(&response.raw_id, "rawId")
        .map_err(|e| ApiError::InvalidCredential(e.to_string()))?;
    let credential_id = b64url(&raw_id);
    let authenticator = state
        .stores
        .authenticators
        .find_passkey(&credential_id)?
        .ok_or(ApiError::UnknownCredential)?;
    let owner = authenticator.user_id.clone();
    let bound_user = challenge.user_id.as_deref().or(auth.user_id());
    if bound_user.is_some_and(|u| u != owner) || auth.user_id().is_some_and(|u| u != owner) {
        return Err(ApiError::InvalidCredential(
            "the passkey does not belong to the user of this challenge".into(),
        ));
    }
    let user = state
        .stores
        .users
        .get_user(&owner)?
        .ok_or(ApiError::UnknownCredential)?;
    let handle = match user.webauthn_user_handle.as_deref() {
        Some(h) => b64url_decode(h, "the stored user handle")
            .map_err(|_| ApiError::Internal("a stored user handle is not base64url".into()))?,
        // A passkey imported by batch enrollment whose owner never registered one here: the
        // handle it was made with is unknown, so the user-handle check cannot pass.
        None => {
            return Err(ApiError::InvalidCredential(
                webauthn::WebauthnError::UserHandleMismatch.to_string(),
            ));
        }
    };
    let passkey = authenticator
        .passkey
        .as_ref()
        .ok_or(ApiError::UnknownCredential)?;
    let outcome = state
        .relying_party
        .verify_assertion(
            &response,
            &challenge_bytes,
            &StoredCredential {
                credential_id: &passkey.credential_id,
                public_key: &passkey.credential_public_key,
                sign_count: passkey.sign_count,
                backup_eligible: passkey.backup_eligible,
                owner_user_handle: &handle,
            },
        )
        .map_err(|e| {
            tracing::warn!(user_id = %owner, error = %e, "passkey assertion refused");
            ApiError::InvalidCredential(e.to_string())
        })?;
    if !state.stores.authenticators.record_passkey_use(
        &passkey.credential_id,
        outcome.sign_count,
        outcome.backup_state,
        now,
    )? {
        return Err(ApiError::InvalidCredential(
            "the signature counter did not rise: the passkey may have been cloned".into(),
        ));
    }
    let key = key_of(&owner, &challenge.action_code, &challenge.idempotency_key);
    complete_action(
        &state,
        &key,
        &challenge.scope,
        &authenticator.user_authenticator_id,
        now,
    )
    .await?;
    tracing::info!(user_id = %owner, action = %key.action_code, "passkey sign-in verified");
    let (token, _) = state.issue_token(&key, &challenge.scope, now);
    Ok(HttpResponse::Ok().json(VerifyResponse {
        is_verified: true,
        access_token: token,
        user_id: owner,
        user_authenticator_id: authenticator.user_authenticator_id.clone(),
        username: user.username.clone(),
        user_display_name: user.display_name.clone(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Reading

/// `GET /client/user-authenticators` (Bearer): the token user's authenticators.
pub async fn list_authenticators(
    state: web::Data<AppState>,
    auth: ClientAuth,
) -> Result<HttpResponse, ApiError> {
    let claims = auth.require_token()?;
    let list: Vec<UserAuthenticator> = state
        .stores
        .authenticators
        .list_authenticators(&claims.other.user_id)?
        .iter()
        .map(to_wire)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// `?credentialIds=a,b`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyQuery {
    credential_ids: String,
}

/// `GET /client/user-authenticators/passkey?credentialIds=a,b` (Basic): the first of the
/// credentials that is a passkey of the tenant, as `{credentialId, verifiedAt}`; 404 if none
/// (the Web SDK reads any non-2xx as "gone").
pub async fn get_passkey_authenticator(
    state: web::Data<AppState>,
    _auth: ClientAuth,
    query: web::Query<PasskeyQuery>,
) -> Result<HttpResponse, ApiError> {
    let ids: Vec<&str> = query
        .credential_ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    if ids.is_empty() || ids.len() > MAX_CREDENTIAL_IDS {
        return Err(ApiError::invalid(format!(
            "'{}' credential ids: 1 to {MAX_CREDENTIAL_IDS} are allowed",
            ids.len()
        )));
    }
    for id in ids {
        if let Some(a) = state.stores.authenticators.find_passkey(id)? {
            return Ok(HttpResponse::Ok().json(json!({
                "credentialId": id,
                "verifiedAt": iso(a.verified_at),
            })));
        }
    }
    Err(ApiError::NotFound("no such passkey".into()))
}
