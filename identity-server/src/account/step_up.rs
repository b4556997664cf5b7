//! Step-up for an authorize request: the client asked for more than the signed-in session has
//! (an `acr` of `mfa` or above, OpenID Connect Core 3.1.2.1 `acr_values` or the `claims`
//! parameter, and `max_age` for how fresh the second factor must be), so the user passes a fresh
//! Authsignal challenge before the authorize request goes on ([`crate::oidc::authorize::decide`]
//! answers [`Next::StepUp`](crate::oidc::authorize::Next::StepUp)).
//!
//! It is the passkey page's step-up machinery with an authorize request attached: `track` of its
//! own action (`account.authsignal.step_up_action_code`, default `identity-server-step-up`) for
//! the session's user, a login transaction of purpose [`Purpose::StepUp`] bound to the session's
//! `sid` and the pending authorize request, in the `__Host-idsrv.mfa` cookie, and the hosted
//! challenge. Authsignal sends the browser back to `/Account/Login/Callback`, which validates
//! the token against the transaction (user, action, idempotency key, `CHALLENGE_SUCCEEDED`) and
//! hands the verdict to [`finish`]:
//!
//! - passed, and this browser's session is still that one: the session records the step-up
//!   ([`signin::step_up_session`]: `step_up_at` and `auth_time` now, `amr` gains `mfa` and the
//!   method, a new cookie handle) and the authorize request ends in a code;
//! - cancelled, rejected, or the session changed meanwhile: `access_denied` to the client (state
//!   echoed), never a code; Authsignal unavailable: `temporarily_unavailable`. The session stays
//!   signed in at its old level.
//!
//! The authorize endpoint does not start the challenge itself: it sends the browser to
//! [`PAGE_PATH`], a page naming the application with a CSRF-protected "Continue". A GET, which
//! any site can make the browser send (the session cookie is `SameSite=Lax`), therefore starts
//! nothing and counts nothing; only the person's POST does.
//!
//! The step-up counts against the account's second-factor budget like a login's challenge
//! (forgiven when it passes); a user without an authenticator gets `access_denied` rather
//! than an enrollment, which the session alone would not prove.
//!
//! `track`'s `ALLOW` still goes to the hosted challenge: the client asked for a second factor,
//! which the rules allowing a password alone do not give
//! ([`decide_challenge_required`]).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use authsignal_sdk::{TrackAttributes, VerificationMethod};
use serde::{Deserialize, Serialize};

use super::decision::{Decision, Rejection, amr_for, decide_challenge_required};
use super::login::{challenge_custom, own_url, redirect_to_challenge};
use super::pages::{client_ip, user_agent};
use super::transaction::{LoginTransaction, Purpose};
use crate::error::{AppError, ErrorCode};
use crate::signin;
use crate::state::AppState;
use crate::store::{ChallengeBudget, Session};

/// The page that asks the person to confirm the step-up.
pub const PAGE_PATH: &str = "/Account/StepUp";

/// Longest `ar` accepted (the ids are 43 characters).
const MAX_AR_BYTES: usize = 128;

/// Context of `account/step_up.html`.
#[derive(Debug, Serialize)]
pub struct StepUpPage {
    /// Pending authorize request id (hidden field).
    pub ar: String,
    /// CSRF token (hidden field).
    pub csrf_token: String,
    /// Display name of the client that asks.
    pub client_name: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct StepUpQuery {
    ar: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct StepUpForm {
    csrf_token: String,
    ar: String,
    /// `continue` (default) or `cancel`.
    button: String,
}

/// `/Account/StepUp?ar=` for the pending request `ar`.
pub fn page_url(ar: &str) -> String {
    format!(
        "{PAGE_PATH}?ar={}",
        percent_encoding::utf8_percent_encode(ar, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// `GET /Account/StepUp?ar=`: names the application and asks to continue (nothing starts yet).
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: StepUpQuery = super::pages::parse_query(&req)?;
    if query.ar.is_empty() || query.ar.len() > MAX_AR_BYTES {
        return super::login::gone(&state, &req).await;
    }
    let Some(pending) = signin::pending_request(&state, &query.ar).await? else {
        return super::login::gone(&state, &req).await;
    };
    if signin::current_session(&state, &req).await?.is_none() {
        // The session ended meanwhile: a full sign-in reaches the level the client asked for.
        return Ok(see_other(&super::pages::login_url(&query.ar, None)));
    }
    let csrf = crate::csrf::issue(&state, &req);
    let page = StepUpPage {
        ar: query.ar,
        csrf_token: csrf.token,
        client_name: pending.client_name,
    };
    // `render` marks the page `no-store`.
    super::pages::render_page(
        &state,
        "account/step_up.html",
        &page,
        StatusCode::OK,
        csrf.cookie,
    )
}

/// `POST /Account/StepUp`: the person continues (the challenge starts, and is counted) or
/// cancels (`access_denied` to the client).
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: StepUpForm = super::pages::parse_form(&body)?;
    if form.ar.is_empty() || form.ar.len() > MAX_AR_BYTES {
        return super::login::gone(&state, &req).await;
    }
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("step-up form rejected: missing or wrong csrf token");
        return super::pages::csrf_failure(&state, Some(page_url(&form.ar)));
    }
    if signin::pending_request(&state, &form.ar).await?.is_none() {
        return super::login::gone(&state, &req).await;
    }
    if form.button == "cancel" {
        tracing::info!("step-up declined on its page: access denied");
        return signin::refuse(
            &state,
            &form.ar,
            ErrorCode::AccessDenied,
            "the user declined the step-up",
        )
        .await;
    }
    let Some(session) = signin::load_session(&state, &req).await? else {
        return Ok(see_other(&super::pages::login_url(&form.ar, None)));
    };
    start(&state, &req, &session, &form.ar).await
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Starts the step-up of `session` for the pending authorize request `authorize_request_id`
/// (already stored): tracks the step-up action and sends the browser to the hosted challenge.
/// `BLOCK` and `REVIEW_REQUIRED` answer the client `access_denied`, an unavailable Authsignal
/// `temporarily_unavailable` (the request is consumed; the session stays as it was).
pub async fn start(
    state: &AppState,
    req: &HttpRequest,
    session: &Session,
    authorize_request_id: &str,
) -> Result<HttpResponse, AppError> {
    let Some(user) = state.users.find_by_subject(&session.subject).await? else {
        return Err(AppError::internal(format!(
            "step-up of unknown subject '{}'",
            session.subject
        )));
    };
    let settings = &state.account.settings;
    let action = &settings.authsignal.step_up_action_code;
    let client_name = signin::pending_request(state, authorize_request_id)
        .await?
        .map(|p| p.client_name);
    let attributes = TrackAttributes {
        username: Some(user.username.clone()),
        email: user.email.clone(),
        ip_address: Some(client_ip(req)),
        user_agent: user_agent(req),
        custom: client_name.as_deref().map(challenge_custom),
        redirect_url: Some(own_url(state, super::login::CALLBACK_PATH)),
        idempotency_key: Some(uuid::Uuid::new_v4().to_string()),
        ..Default::default()
    };
    let answer = state
        .account
        .authsignal
        .track(&user.subject, action, &attributes)
        .await;
    match decide_challenge_required(answer.as_ref()) {
        Decision::Challenge {
            url,
            idempotency_key,
        } => {
            // A step-up is a code to guess like a login's challenge: it counts against the
            // account's second-factor budget, and is forgiven when it passes.
            if let ChallengeBudget::Blocked { until } =
                super::budget::start_challenge(state, &user.subject).await?
            {
                tracing::warn!(subject = %user.subject, until, "step-up refused: the second factor is blocked");
                return signin::refuse(
                    state,
                    authorize_request_id,
                    ErrorCode::AccessDenied,
                    "the second factor is blocked for now after too many unfinished verifications",
                )
                .await;
            }
            tracing::info!(subject = %user.subject, "step-up challenge for an authorize request");
            let transaction = LoginTransaction::new(
                user.subject.clone(),
                action.clone(),
                idempotency_key,
                Purpose::StepUp {
                    sid: session.sid.clone(),
                    authorize_request_id: Some(authorize_request_id.to_owned()),
                },
                settings.transaction.lifetime(),
            );
            redirect_to_challenge(state, transaction, &url).await
        }
        Decision::Enroll { .. } => {
            // No authenticator to step up with: enrolling one now, with this session alone,
            // would prove nothing more than the session already does.
            tracing::warn!(subject = %user.subject, "step-up for a user without an authenticator: access denied");
            signin::refuse(
                state,
                authorize_request_id,
                ErrorCode::AccessDenied,
                "no second factor is enrolled to step up with",
            )
            .await
        }
        Decision::Block | Decision::Review | Decision::Allow => {
            tracing::warn!(subject = %user.subject, "authsignal refused the step-up: access denied");
            signin::refuse(
                state,
                authorize_request_id,
                ErrorCode::AccessDenied,
                "the step-up was refused",
            )
            .await
        }
        Decision::Fail(reason) => {
            tracing::error!(subject = %user.subject, reason = %reason, "step-up unavailable (fail closed)");
            signin::refuse(
                state,
                authorize_request_id,
                ErrorCode::TemporarilyUnavailable,
                "the second factor cannot be checked right now, try again later",
            )
            .await
        }
    }
}

/// The amr values a passed step-up adds to the session: `mfa` and the method (RFC 8176), not
/// `pwd` (no password was typed).
pub fn added_amr(method: Option<&VerificationMethod>) -> Vec<String> {
    amr_for(method).into_iter().filter(|m| m != "pwd").collect()
}

/// Ends a step-up at the callback. `verdict` is `None` when the person left the hosted page
/// without a result (Cancel), else the checked `validate` answer (the method on success).
pub async fn finish(
    state: &AppState,
    req: &HttpRequest,
    transaction: &LoginTransaction,
    sid: &str,
    authorize_request_id: &str,
    verdict: Option<Result<Option<VerificationMethod>, Rejection>>,
) -> HttpResponse {
    let subject = &transaction.subject;
    let refuse = |code: ErrorCode, description: &'static str| async move {
        signin::refuse(state, authorize_request_id, code, description)
            .await
            .unwrap_or_else(|e| e.error_response())
    };
    let method = match verdict {
        None => {
            tracing::info!(%subject, "step-up cancelled at the hosted page: access denied");
            return refuse(ErrorCode::AccessDenied, "the user cancelled the step-up").await;
        }
        Some(Err(rejection)) if rejection.is_unavailable() => {
            tracing::warn!(%subject, reason = %rejection, "authsignal unavailable at the step-up callback: no code");
            return refuse(
                ErrorCode::TemporarilyUnavailable,
                "the second factor could not be checked, try again later",
            )
            .await;
        }
        Some(Err(rejection)) => {
            tracing::warn!(%subject, reason = %rejection, "step-up rejected: access denied");
            return refuse(
                ErrorCode::AccessDenied,
                "the second factor was not confirmed",
            )
            .await;
        }
        Some(Ok(method)) => method,
    };
    if let Err(e) = super::budget::challenge_passed(state, subject).await {
        return AppError::from(e).error_response();
    }
    let stepped = match signin::step_up_session(
        state,
        req,
        sid,
        subject,
        &added_amr(method.as_ref()),
    )
    .await
    {
        Ok(stepped) => stepped,
        Err(e) => return AppError::from(e).error_response(),
    };
    let Some((session, cookie)) = stepped else {
        tracing::warn!(%subject, "step-up passed, but this browser's session is another one: access denied");
        return refuse(
            ErrorCode::AccessDenied,
            "the session changed during the step-up",
        )
        .await;
    };
    tracing::info!(%subject, "step-up passed");
    signin::continue_after_step_up(state, authorize_request_id, session, cookie)
        .await
        .unwrap_or_else(|e| e.error_response())
}

/// Whether `subject` has a passkey to sign in with (a phishing-resistant `acr` is reachable).
/// Authsignal not answering counts as "maybe": the user is sent to sign in, and a sign-in that
/// does not reach an essential level ends in `unmet_authentication_requirements` anyway.
pub async fn has_passkey(state: &AppState, subject: &str) -> bool {
    if !state.account.settings.passkeys.enabled {
        return false;
    }
    match state.account.authsignal.get_authenticators(subject).await {
        Ok(list) => list
            .iter()
            .any(|a| a.verification_method == VerificationMethod::Passkey),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the user's authenticators: a passkey sign-in is offered");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_up_adds_mfa_and_the_method_but_no_password() {
        assert_eq!(
            added_amr(Some(&VerificationMethod::AuthenticatorApp)),
            ["mfa", "otp"]
        );
        assert_eq!(
            added_amr(Some(&VerificationMethod::SecurityKey)),
            ["mfa", "hwk"]
        );
        assert_eq!(added_amr(None), ["mfa"]);
    }
}
