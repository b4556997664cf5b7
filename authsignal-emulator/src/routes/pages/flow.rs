//! The hosted flow, step by step. Each POST checks the cookie session and its CSRF token, acts,
//! and answers 303 to `/flow` (which renders the current step) or to the relying party.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{
    FlowForm, load_checked, load_session, looks_like_email, render, see_other, session_cookie,
};
use crate::domain::codes::{hash_recovery_code, is_six_digits, otp_code, recovery_codes};
use crate::domain::decision::hosted_flow_open;
use crate::domain::redirect::{parse_redirect_url, with_token};
use crate::domain::secret::{ct_eq_str, random_token};
use crate::domain::token::{TokenClaims, TokenError};
use crate::domain::totp;
use crate::error::PageError;
use crate::routes::api::actions::iso;
use crate::routes::api::authenticators::announce_authenticator;
use crate::state::{AppState, MAX_FAILED_ATTEMPTS, OTP_LIFETIME_SECS};
use crate::store::{
    Action, Authenticator, HostedSession, HostedStep, PendingEmailCode, RemoveOutcome,
};

const APP: &str = "AUTHENTICATOR_APP";
const EMAIL: &str = "EMAIL_OTP";
const SMS: &str = "SMS";
const RECOVERY: &str = "RECOVERY_CODE";

/// Query of `GET /challenge`.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    token: String,
}

fn refused(message: &str) -> PageError {
    PageError::refused(StatusCode::BAD_REQUEST, message)
}

fn load_action(state: &AppState, session: &HostedSession) -> Result<Action, PageError> {
    state
        .stores
        .actions
        .get_action(&session.action)?
        .ok_or_else(|| refused("This verification no longer exists."))
}

fn label(method: &str) -> &'static str {
    match method {
        APP => "Authenticator app",
        EMAIL => "Email code",
        SMS => "Text message code",
        RECOVERY => "Recovery code",
        "PASSKEY" => "Passkey",
        _ => "Other method",
    }
}

fn choose_id(method: &str) -> &'static str {
    match method {
        APP => "choose-totp",
        EMAIL => "choose-email",
        SMS => "choose-sms",
        _ => "choose-other",
    }
}

/// Methods the hosted challenge can use.
fn challengeable(method: &str) -> bool {
    matches!(method, APP | EMAIL | SMS)
}

fn update(
    state: &AppState,
    session: &HostedSession,
    change: impl FnOnce(&mut HostedSession),
) -> Result<HostedSession, PageError> {
    let mut change = Some(change);
    state
        .stores
        .hosted
        .update_session(&session.id, Utc::now(), &mut |s| {
            if let Some(change) = change.take() {
                change(s);
            }
        })
        .ok_or_else(PageError::no_session)
}

fn flash(
    state: &AppState,
    session: &HostedSession,
    message: &str,
) -> Result<HttpResponse, PageError> {
    update(state, session, |s| s.flash_error = Some(message.to_owned()))?;
    Ok(see_other("/flow"))
}

/// Sends a code for an OTP method to the user's enrolled destination, recording it in the
/// session.
async fn send_challenge_code(
    state: &AppState,
    session: &HostedSession,
    method: &str,
) -> Result<(), PageError> {
    let authenticators = state
        .stores
        .authenticators
        .list_authenticators(&session.action.user_id)?;
    let destination = authenticators
        .iter()
        .find(|a| a.verification_method == method)
        .and_then(|a| {
            if method == EMAIL {
                a.email.clone()
            } else {
                a.phone_number.clone()
            }
        });
    let Some(to) = destination else {
        return Err(refused("No destination is enrolled for this method."));
    };
    send_code(
        state,
        session,
        &to,
        if method == EMAIL { "EMAIL" } else { "SMS" },
    )
    .await
}

async fn send_code(
    state: &AppState,
    session: &HostedSession,
    to: &str,
    channel: &str,
) -> Result<(), PageError> {
    let code = otp_code();
    state
        .send_code(to, &code, &session.action, channel)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "code delivery failed");
            PageError::refused(
                StatusCode::BAD_GATEWAY,
                "The code could not be sent. Try again later.",
            )
        })?;
    let pending = PendingEmailCode {
        to: to.to_owned(),
        code,
        expires_at: Utc::now() + Duration::seconds(OTP_LIFETIME_SECS),
    };
    update(state, session, |s| s.email_code = Some(pending))?;
    Ok(())
}

/// `GET /challenge?token=...`: checks the token, opens a hosted session for its action and
/// redirects to `/flow`.
pub async fn start(
    state: web::Data<AppState>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, PageError> {
    let now = Utc::now();
    let claims: TokenClaims = state
        .track_key
        .verify(&query.token, now.timestamp())
        .map_err(|e| match e {
            TokenError::Expired => {
                refused("This link has expired. Go back to the application and sign in again.")
            }
            _ => refused("This link is not valid."),
        })?;
    if claims.other.tenant_id != state.tenant_id {
        return Err(refused("This link is not valid."));
    }
    let key = crate::store::ActionKey {
        user_id: claims.other.user_id.clone(),
        action_code: claims.other.action_code.clone(),
        idempotency_key: claims.other.idempotency_key.clone(),
    };
    let action = state
        .stores
        .actions
        .get_action(&key)?
        .ok_or_else(|| refused("This verification no longer exists."))?;
    if !hosted_flow_open(&action.state) {
        let message = match action.state.as_str() {
            "BLOCK" => "This action was blocked.",
            "REVIEW_REQUIRED" => "This action is waiting for a review.",
            "CHALLENGE_SUCCEEDED" => "This verification is already complete.",
            _ => "This verification has ended. Go back to the application and try again.",
        };
        return Err(PageError::refused(StatusCode::FORBIDDEN, message));
    }
    let authenticators = state
        .stores
        .authenticators
        .list_authenticators(&key.user_id)?;
    let method = first_method(&state, &key.user_id, &authenticators)?;
    let step = match (&authenticators.is_empty(), &method) {
        (true, _) => HostedStep::ChooseEnrollment,
        (false, Some(method)) => HostedStep::Challenge {
            method: method.clone(),
        },
        (false, None) => HostedStep::Challenge {
            method: RECOVERY.into(),
        },
    };
    let session = HostedSession {
        id: random_token(32),
        csrf: random_token(32),
        action: key,
        scope: claims.scope.clone(),
        step,
        verified: false,
        verified_method: None,
        verified_authenticator_id: None,
        email_code: None,
        pending_email: None,
        // The token's lifetime bounds the hosted session, as the service's "challenge token
        // duration" bounds its pre-built UI session.
        expires_at: chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now),
        flash_error: None,
    };
    state.stores.hosted.create_session(session.clone());
    if let HostedStep::Challenge { method } = &session.step
        && (method == EMAIL || method == SMS)
    {
        send_challenge_code(&state, &session, method).await?;
    }
    let mut response = see_other("/flow");
    response
        .add_cookie(&session_cookie(&session.id))
        .map_err(|e| PageError::Internal(Box::new(e)))?;
    Ok(response)
}

fn first_method(
    state: &AppState,
    user_id: &str,
    authenticators: &[Authenticator],
) -> Result<Option<String>, PageError> {
    let preferred = state
        .stores
        .users
        .get_user(user_id)?
        .and_then(|u| u.default_verification_method);
    let usable =
        |m: &str| challengeable(m) && authenticators.iter().any(|a| a.verification_method == m);
    if let Some(p) = preferred.filter(|p| usable(p)) {
        return Ok(Some(p));
    }
    let mut sorted: Vec<&Authenticator> = authenticators
        .iter()
        .filter(|a| challengeable(&a.verification_method))
        .collect();
    sorted.sort_by_key(|a| !a.is_default);
    Ok(sorted.first().map(|a| a.verification_method.clone()))
}

fn base_context(state: &AppState, session: &HostedSession, error: Option<String>) -> tera::Context {
    let mut context = tera::Context::new();
    context.insert("tenant_name", &state.tenant_name);
    context.insert("csrf", &session.csrf);
    context.insert("error", &error);
    context
}

#[derive(serde::Serialize)]
struct MethodChoice {
    id: &'static str,
    method: String,
    label: &'static str,
}

#[derive(serde::Serialize)]
struct AuthenticatorRow {
    id: String,
    label: &'static str,
    detail: String,
    created_at: String,
}

/// `GET /flow`: renders the current step.
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let session = load_session(&state, &req)?;
    let error = session.flash_error.clone();
    let mut shown_codes = None;
    let session = update(&state, &session, |s| {
        s.flash_error = None;
        if let HostedStep::RecoveryCodes { codes } = &mut s.step {
            // Shown once: the plain codes leave the session as they are rendered.
            shown_codes = Some(std::mem::take(codes));
        }
    })?;
    let action = load_action(&state, &session)?;
    let mut context = base_context(&state, &session, error);
    let user_id = &session.action.user_id;
    let template = match &session.step {
        HostedStep::ChooseEnrollment => {
            context.insert("adding", &session.verified);
            "enroll_choose.html"
        }
        HostedStep::EnrollTotp { secret } => {
            let account = action
                .username
                .clone()
                .or_else(|| action.email.clone())
                .unwrap_or_else(|| user_id.clone());
            let account: String = account.chars().filter(|c| *c != ':').collect();
            let uri = totp::otpauth_uri(secret, &state.tenant_name, &account);
            let qr = totp::qr_svg_base64(&uri).map_err(|e| PageError::Internal(e.into()))?;
            context.insert("secret", secret);
            context.insert("uri", &uri);
            context.insert("qr", &qr);
            context.insert("adding", &session.verified);
            "enroll_totp.html"
        }
        HostedStep::EnrollEmailAddress => {
            context.insert("adding", &session.verified);
            "enroll_email_address.html"
        }
        HostedStep::EnrollEmailCode => {
            context.insert("to", &session.email_code.as_ref().map(|c| c.to.clone()));
            context.insert("adding", &session.verified);
            "enroll_email_code.html"
        }
        HostedStep::Challenge { method } => {
            let authenticators = state.stores.authenticators.list_authenticators(user_id)?;
            let mut choices: Vec<MethodChoice> = Vec::new();
            for a in &authenticators {
                let m = a.verification_method.as_str();
                if challengeable(m) && m != method && !choices.iter().any(|c| c.method == m) {
                    choices.push(MethodChoice {
                        id: choose_id(m),
                        method: m.to_owned(),
                        label: label(m),
                    });
                }
            }
            let recovery_left = state
                .stores
                .authenticators
                .remaining_recovery_codes(user_id)?;
            context.insert("method", method);
            context.insert("method_label", label(method));
            context.insert("to", &session.email_code.as_ref().map(|c| c.to.clone()));
            context.insert("choices", &choices);
            context.insert(
                "recovery_available",
                &(recovery_left > 0 && method != RECOVERY),
            );
            "challenge.html"
        }
        HostedStep::RecoveryCodes { .. } => {
            context.insert("codes", &shown_codes.unwrap_or_default());
            "recovery_codes.html"
        }
        HostedStep::Settings => {
            let authenticators = state.stores.authenticators.list_authenticators(user_id)?;
            let rows: Vec<AuthenticatorRow> = authenticators
                .iter()
                .map(|a| AuthenticatorRow {
                    id: a.user_authenticator_id.clone(),
                    label: label(&a.verification_method),
                    detail: a
                        .email
                        .clone()
                        .or_else(|| a.phone_number.clone())
                        .unwrap_or_default(),
                    created_at: iso(a.created_at),
                })
                .collect();
            context.insert("can_remove", &(rows.len() > 1));
            context.insert("authenticators", &rows);
            "settings.html"
        }
    };
    render(&state, template, &context)
}

fn may_enroll(state: &AppState, session: &HostedSession) -> Result<bool, PageError> {
    Ok(session.verified
        || state
            .stores
            .authenticators
            .list_authenticators(&session.action.user_id)?
            .is_empty())
}

fn check_open(state: &AppState, session: &HostedSession) -> Result<Action, PageError> {
    let action = load_action(state, session)?;
    // After success the session may continue (recovery codes, settings); otherwise the action
    // must still be open.
    if !session.verified && !hosted_flow_open(&action.state) {
        return Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "This verification has ended.",
        ));
    }
    Ok(action)
}

/// `POST /enroll/totp` (`choose-totp` on the enrollment or settings page): a new secret.
pub async fn enroll_totp_start(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    check_open(&state, &session)?;
    if !may_enroll(&state, &session)? {
        return Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "Verify yourself before adding an authenticator.",
        ));
    }
    let secret = totp::generate_secret();
    update(&state, &session, |s| {
        s.step = HostedStep::EnrollTotp { secret }
    })?;
    Ok(see_other("/flow"))
}

/// `POST /enroll/totp/confirm` (`confirm-totp`): the first code from the app.
pub async fn enroll_totp_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    let action = check_open(&state, &session)?;
    let HostedStep::EnrollTotp { secret } = session.step.clone() else {
        return Ok(see_other("/flow"));
    };
    let now = Utc::now();
    if state.wrong_codes_exhausted(&session.action.user_id, now) {
        return flash(
            &state,
            &session,
            "Too many incorrect codes. Wait a few minutes and try again.",
        );
    }
    let code = form.code.clone().unwrap_or_default();
    let Some(step) = totp::verify(&secret, &code, now.timestamp() as u64, None) else {
        return wrong_code(
            &state,
            &session,
            &action,
            "That code is not right. Check the app and try again.",
        )
        .await;
    };
    if !may_enroll(&state, &session)? {
        return Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "Verify yourself before adding an authenticator.",
        ));
    }
    let first = state
        .stores
        .authenticators
        .list_authenticators(&session.action.user_id)?
        .is_empty();
    let authenticator = Authenticator {
        user_authenticator_id: uuid::Uuid::new_v4().to_string(),
        user_id: session.action.user_id.clone(),
        verification_method: APP.into(),
        created_at: now,
        verified_at: now,
        last_verified_at: Some(now),
        email: None,
        phone_number: None,
        totp_secret: Some(secret),
        last_totp_step: Some(step),
        is_default: first,
        passkey: None,
    };
    enrolled(&state, &session, authenticator, first).await
}

/// After an enrollment: store it; the first one completes the challenge and shows recovery
/// codes; one added from settings goes back to settings.
async fn enrolled(
    state: &AppState,
    session: &HostedSession,
    authenticator: Authenticator,
    first: bool,
) -> Result<HttpResponse, PageError> {
    let user_id = session.action.user_id.clone();
    let authenticator_id = authenticator.user_authenticator_id.clone();
    if !session.verified {
        // The webhook may refuse the verification: ask before storing anything.
        notify_verified(
            state,
            session,
            &authenticator.verification_method,
            Some(&authenticator_id),
        )
        .await?;
    }
    state
        .stores
        .users
        .upsert_user(&user_id, Utc::now(), &mut |_| {})?;
    state
        .stores
        .authenticators
        .insert_authenticator(authenticator.clone())?;
    announce_authenticator(state, &authenticator);
    tracing::info!(user_id = %user_id, method = %authenticator.verification_method, "authenticator enrolled");
    if session.verified {
        update(state, session, |s| {
            s.step = HostedStep::Settings;
            s.email_code = None;
            s.pending_email = None;
        })?;
        return Ok(see_other("/flow"));
    }
    record_success(
        state,
        session,
        &authenticator.verification_method,
        Some(&authenticator_id),
    )?;
    let codes = if first
        && state
            .stores
            .authenticators
            .remaining_recovery_codes(&user_id)?
            == 0
    {
        let codes = recovery_codes();
        state.stores.authenticators.set_recovery_codes(
            &user_id,
            codes.iter().map(|c| hash_recovery_code(c)).collect(),
        )?;
        Some(codes)
    } else {
        None
    };
    match codes {
        Some(codes) => {
            update(state, session, |s| {
                s.step = HostedStep::RecoveryCodes { codes };
                s.email_code = None;
                s.pending_email = None;
            })?;
            Ok(see_other("/flow"))
        }
        None => after_verified(state, session).await,
    }
}

/// `POST /enroll/email` (`choose-email`): sends a code to the known email, or asks for one.
pub async fn enroll_email_start(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    let action = check_open(&state, &session)?;
    if !may_enroll(&state, &session)? {
        return Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "Verify yourself before adding an authenticator.",
        ));
    }
    let user_email = state
        .stores
        .users
        .get_user(&session.action.user_id)?
        .and_then(|u| u.email);
    let known = action
        .email
        .clone()
        .or(user_email)
        .filter(|e| looks_like_email(e));
    // When adding from settings the person may want another address: always ask there.
    match known.filter(|_| !session.verified) {
        Some(email) => {
            send_code(&state, &session, &email, "EMAIL").await?;
            update(&state, &session, |s| {
                s.pending_email = Some(email);
                s.step = HostedStep::EnrollEmailCode;
            })?;
        }
        None => {
            update(&state, &session, |s| {
                s.step = HostedStep::EnrollEmailAddress
            })?;
        }
    }
    Ok(see_other("/flow"))
}

/// `POST /enroll/email/address` (`enroll-email`): the address to enrol.
pub async fn enroll_email_address(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    check_open(&state, &session)?;
    if session.step != HostedStep::EnrollEmailAddress {
        return Ok(see_other("/flow"));
    }
    let email = form.email.clone().unwrap_or_default().trim().to_owned();
    if !looks_like_email(&email) {
        return flash(&state, &session, "Enter a valid email address.");
    }
    send_code(&state, &session, &email, "EMAIL").await?;
    update(&state, &session, |s| {
        s.pending_email = Some(email);
        s.step = HostedStep::EnrollEmailCode;
    })?;
    Ok(see_other("/flow"))
}

fn check_pending_code(session: &HostedSession, code: &str) -> bool {
    let now = Utc::now();
    session.email_code.as_ref().is_some_and(|p| {
        p.expires_at > now && is_six_digits(code.trim()) && ct_eq_str(&p.code, code.trim())
    })
}

/// `POST /enroll/email/confirm` (`confirm-email`): the code sent to the address.
pub async fn enroll_email_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    let action = check_open(&state, &session)?;
    if session.step != HostedStep::EnrollEmailCode {
        return Ok(see_other("/flow"));
    }
    let now = Utc::now();
    if state.wrong_codes_exhausted(&session.action.user_id, now) {
        return flash(
            &state,
            &session,
            "Too many incorrect codes. Wait a few minutes and try again.",
        );
    }
    let code = form.code.clone().unwrap_or_default();
    if !check_pending_code(&session, &code) {
        return wrong_code(
            &state,
            &session,
            &action,
            "That code is not right or has expired.",
        )
        .await;
    }
    let Some(email) = session.pending_email.clone() else {
        return Ok(see_other("/flow"));
    };
    if !may_enroll(&state, &session)? {
        return Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "Verify yourself before adding an authenticator.",
        ));
    }
    let user_id = session.action.user_id.clone();
    state.stores.users.upsert_user(&user_id, now, &mut |u| {
        if u.email.is_none()
            || u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&email))
        {
            u.email = Some(email.clone());
            u.email_verified = true;
        }
    })?;
    let first = state
        .stores
        .authenticators
        .list_authenticators(&user_id)?
        .is_empty();
    update(&state, &session, |s| s.email_code = None)?;
    let authenticator = Authenticator {
        user_authenticator_id: uuid::Uuid::new_v4().to_string(),
        user_id,
        verification_method: EMAIL.into(),
        created_at: now,
        verified_at: now,
        last_verified_at: Some(now),
        email: Some(email),
        phone_number: None,
        totp_secret: None,
        last_totp_step: None,
        is_default: first,
        passkey: None,
    };
    enrolled(&state, &session, authenticator, first).await
}

/// `POST /verify` (`verify-code`): a code for the current method.
pub async fn verify_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    let action = check_open(&state, &session)?;
    let HostedStep::Challenge { method } = session.step.clone() else {
        return Ok(see_other("/flow"));
    };
    if session.verified {
        return Ok(see_other("/flow"));
    }
    let now = Utc::now();
    let user_id = session.action.user_id.clone();
    if state.wrong_codes_exhausted(&user_id, now) {
        return flash(
            &state,
            &session,
            "Too many incorrect codes. Wait a few minutes and try again.",
        );
    }
    let code = form.code.clone().unwrap_or_default();
    let authenticators = state.stores.authenticators.list_authenticators(&user_id)?;
    match method.as_str() {
        APP => {
            let mut replayed = false;
            for a in authenticators
                .iter()
                .filter(|a| a.verification_method == APP)
            {
                let Some(secret) = &a.totp_secret else {
                    continue;
                };
                if let Some(step) = totp::verify(secret, &code, now.timestamp() as u64, None) {
                    if state.stores.authenticators.accept_totp_step(
                        &user_id,
                        &a.user_authenticator_id,
                        step,
                        now,
                    )? {
                        mark_succeeded(&state, &session, APP, Some(&a.user_authenticator_id))
                            .await?;
                        return after_verified(&state, &session).await;
                    }
                    replayed = true;
                }
            }
            let message = if replayed {
                "That code was used already. Wait for the next code in your app."
            } else {
                "That code is not right. Check the app and try again."
            };
            wrong_code(&state, &session, &action, message).await
        }
        EMAIL | SMS => {
            if check_pending_code(&session, &code) {
                let to = session.email_code.as_ref().map(|p| p.to.clone());
                let authenticator = authenticators.iter().find(|a| {
                    a.verification_method == method
                        && (a.email.as_ref() == to.as_ref()
                            || a.phone_number.as_ref() == to.as_ref())
                });
                let id = authenticator.map(|a| a.user_authenticator_id.clone());
                if let Some(id) = &id {
                    state.stores.authenticators.mark_used(&user_id, id, now)?;
                }
                update(&state, &session, |s| s.email_code = None)?;
                mark_succeeded(&state, &session, &method, id.as_deref()).await?;
                return after_verified(&state, &session).await;
            }
            wrong_code(
                &state,
                &session,
                &action,
                "That code is not right or has expired.",
            )
            .await
        }
        RECOVERY => {
            if !code.trim().is_empty()
                && state
                    .stores
                    .authenticators
                    .consume_recovery_code(&user_id, &hash_recovery_code(&code))?
            {
                tracing::info!(user_id = %user_id, "recovery code used");
                mark_succeeded(&state, &session, RECOVERY, None).await?;
                return after_verified(&state, &session).await;
            }
            wrong_code(
                &state,
                &session,
                &action,
                "That recovery code is not valid or was used already.",
            )
            .await
        }
        _ => Ok(see_other("/flow")),
    }
}

/// Counts a wrong code; the fifth on an action fails it.
async fn wrong_code(
    state: &AppState,
    session: &HostedSession,
    action: &Action,
    message: &str,
) -> Result<HttpResponse, PageError> {
    let now = Utc::now();
    state.record_wrong_code(&session.action.user_id, now);
    let updated = state
        .stores
        .actions
        .update_action(&action.key, &mut |a| {
            a.failed_attempts += 1;
            a.updated_at = now;
        })?
        .ok_or_else(|| refused("This verification no longer exists."))?;
    tracing::info!(user_id = %session.action.user_id, attempts = updated.failed_attempts, "wrong code");
    if updated.failed_attempts >= MAX_FAILED_ATTEMPTS {
        return fail(state, session).await;
    }
    let left = MAX_FAILED_ATTEMPTS - updated.failed_attempts;
    let message = format!(
        "{message} {left} attempt{} left.",
        if left == 1 { "" } else { "s" }
    );
    flash(state, session, &message)
}

/// The action becomes `CHALLENGE_SUCCEEDED` once the `action.verify` webhook (if configured)
/// accepted it: that webhook is synchronous at the service and a refusal blocks success.
async fn mark_succeeded(
    state: &AppState,
    session: &HostedSession,
    method: &str,
    authenticator_id: Option<&str>,
) -> Result<(), PageError> {
    notify_verified(state, session, method, authenticator_id).await?;
    record_success(state, session, method, authenticator_id)
}

/// Posts `action.verify` when webhooks are configured; a refusal is an error.
async fn notify_verified(
    state: &AppState,
    session: &HostedSession,
    method: &str,
    authenticator_id: Option<&str>,
) -> Result<(), PageError> {
    state
        .notify_action_verified(&session.action, method, authenticator_id)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "action.verify webhook refused the verification");
            PageError::refused(
                StatusCode::BAD_GATEWAY,
                "The verification could not be completed. Try again later.",
            )
        })
}

/// Records the success on the action and the session.
fn record_success(
    state: &AppState,
    session: &HostedSession,
    method: &str,
    authenticator_id: Option<&str>,
) -> Result<(), PageError> {
    let now = Utc::now();
    let method = method.to_owned();
    let authenticator_id = authenticator_id.map(str::to_owned);
    state
        .stores
        .actions
        .update_action(&session.action, &mut |a| {
            a.state = "CHALLENGE_SUCCEEDED".into();
            a.state_updated_at = now;
            a.updated_at = now;
            a.verification_method = Some(method.clone());
            a.verified_by_authenticator_id = authenticator_id.clone();
        })?;
    let method = Some(method);
    update(state, session, |s| {
        s.verified = true;
        s.verified_method = method;
        s.verified_authenticator_id = authenticator_id;
    })?;
    tracing::info!(user_id = %session.action.user_id, action = %session.action.action_code, "challenge succeeded");
    Ok(())
}

/// After a successful challenge: settings if the relying party asked for them, else back.
async fn after_verified(
    state: &AppState,
    session: &HostedSession,
) -> Result<HttpResponse, PageError> {
    let action = load_action(state, session)?;
    if action.redirect_to_settings {
        update(state, session, |s| s.step = HostedStep::Settings)?;
        return Ok(see_other("/flow"));
    }
    finish(state, session, &action)
}

/// Ends the session and sends the browser back with a fresh token (or shows a done page).
fn finish(
    state: &AppState,
    session: &HostedSession,
    action: &Action,
) -> Result<HttpResponse, PageError> {
    state.stores.hosted.delete_session(&session.id);
    let (token, _) = state.issue_token(&session.action, &session.scope, Utc::now());
    match action
        .redirect_url
        .as_deref()
        .and_then(|u| parse_redirect_url(u).ok())
    {
        Some(url) => Ok(see_other(with_token(&url, &token).as_str())),
        None => {
            let mut context = tera::Context::new();
            context.insert("tenant_name", &state.tenant_name);
            context.insert("error", &Option::<String>::None);
            context.insert("succeeded", &(action.state == "CHALLENGE_SUCCEEDED"));
            render(state, "done.html", &context)
        }
    }
}

/// The action becomes `CHALLENGE_FAILED` and the browser goes back.
async fn fail(state: &AppState, session: &HostedSession) -> Result<HttpResponse, PageError> {
    let now = Utc::now();
    let action = state
        .stores
        .actions
        .update_action(&session.action, &mut |a| {
            a.state = "CHALLENGE_FAILED".into();
            a.state_updated_at = now;
            a.updated_at = now;
        })?
        .ok_or_else(|| refused("This verification no longer exists."))?;
    tracing::warn!(user_id = %session.action.user_id, action = %session.action.action_code, "challenge failed: too many wrong codes");
    finish(state, session, &action)
}

/// `POST /verify/method` (`choose-totp`, `choose-email`, `choose-sms`, `use-recovery-code`).
pub async fn choose_method(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    check_open(&state, &session)?;
    if !matches!(session.step, HostedStep::Challenge { .. }) || session.verified {
        return Ok(see_other("/flow"));
    }
    let method = form.method.clone().unwrap_or_default();
    let user_id = &session.action.user_id;
    let allowed = if method == RECOVERY {
        state
            .stores
            .authenticators
            .remaining_recovery_codes(user_id)?
            > 0
    } else {
        challengeable(&method)
            && state
                .stores
                .authenticators
                .list_authenticators(user_id)?
                .iter()
                .any(|a| a.verification_method == method)
    };
    if !allowed {
        return flash(&state, &session, "That method is not available.");
    }
    update(&state, &session, |s| {
        s.step = HostedStep::Challenge {
            method: method.clone(),
        };
        s.email_code = None;
    })?;
    if method == EMAIL || method == SMS {
        send_challenge_code(&state, &session, &method).await?;
    }
    Ok(see_other("/flow"))
}

/// `POST /recovery-codes/continue` (`recovery-codes-continue`).
pub async fn recovery_continue(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    if !matches!(session.step, HostedStep::RecoveryCodes { .. }) || !session.verified {
        return Ok(see_other("/flow"));
    }
    after_verified(&state, &session).await
}

fn require_settings(session: &HostedSession) -> Result<(), PageError> {
    if session.verified {
        Ok(())
    } else {
        Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "Verify yourself before changing your authenticators.",
        ))
    }
}

/// `POST /settings/remove` (`remove-<id>`): never the last authenticator.
pub async fn settings_remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    require_settings(&session)?;
    let id = form.authenticator_id.clone().unwrap_or_default();
    match state
        .stores
        .authenticators
        .delete_authenticator_unless_last(&session.action.user_id, &id)?
    {
        RemoveOutcome::Removed => Ok(see_other("/flow")),
        RemoveOutcome::LastOne => flash(
            &state,
            &session,
            "You cannot remove your last authenticator.",
        ),
        RemoveOutcome::NotFound => flash(&state, &session, "That authenticator does not exist."),
    }
}

/// `POST /settings/back` (`back-to-settings`): abandon adding an authenticator.
pub async fn settings_back(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    require_settings(&session)?;
    update(&state, &session, |s| {
        s.step = HostedStep::Settings;
        s.email_code = None;
        s.pending_email = None;
    })?;
    Ok(see_other("/flow"))
}

/// `POST /settings/done` (`settings-done`): back to the relying party.
pub async fn settings_done(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    require_settings(&session)?;
    let action = load_action(&state, &session)?;
    finish(&state, &session, &action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ActionKey;

    fn session(code: &str, expires_in: i64) -> HostedSession {
        HostedSession {
            id: "s".into(),
            csrf: "c".into(),
            action: ActionKey {
                user_id: "u".into(),
                action_code: "a".into(),
                idempotency_key: "k".into(),
            },
            scope: String::new(),
            step: HostedStep::EnrollEmailCode,
            verified: false,
            verified_method: None,
            verified_authenticator_id: None,
            email_code: Some(PendingEmailCode {
                to: "a@b.c".into(),
                code: code.into(),
                expires_at: Utc::now() + Duration::seconds(expires_in),
            }),
            pending_email: None,
            expires_at: Utc::now() + Duration::minutes(10),
            flash_error: None,
        }
    }

    #[test]
    fn an_email_code_is_accepted_before_it_expires_only() {
        assert!(check_pending_code(&session("123456", 60), " 123456 "));
        assert!(!check_pending_code(&session("123456", -1), "123456"));
        assert!(!check_pending_code(&session("123456", 60), "123457"));
        assert!(!check_pending_code(&session("123456", 60), ""));
    }

    #[test]
    fn the_totp_method_and_email_methods_are_challengeable_but_passkeys_are_not() {
        assert!(challengeable(APP) && challengeable(EMAIL) && challengeable(SMS));
        assert!(!challengeable("PASSKEY") && !challengeable(RECOVERY));
        assert_eq!(choose_id(APP), "choose-totp");
        assert_eq!(choose_id(EMAIL), "choose-email");
    }
}
