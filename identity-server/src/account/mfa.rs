//! `POST /Account/Mfa`: "Manage MFA" for a signed-in user.
//!
//! Tracks the manage-MFA action with `redirectToSettings: true`, stores a login transaction of
//! purpose [`Purpose::ManageMfa`] and sends the browser to Authsignal, where a fresh challenge
//! precedes the authenticator settings. The callback (`/Account/Mfa/Callback`) validates the
//! result like the login callback and returns to the home page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use authsignal_sdk::TrackAttributes;
use serde::Deserialize;

use super::decision::{Decision, decide_manage_mfa};
use super::login::{own_url, redirect_to_challenge, refusal};
use super::pages::{NoticePage, client_ip, csrf_failure, notice, parse_form, user_agent};
use super::transaction::{LoginTransaction, Purpose};
use crate::error::AppError;
use crate::state::AppState;

/// Path of the callback after the settings.
pub const CALLBACK_PATH: &str = "/Account/Mfa/Callback";

#[derive(Deserialize, Default)]
#[serde(default)]
struct MfaForm {
    csrf_token: String,
}

/// The page for a form that needs a signed-in session (401).
pub(crate) fn not_signed_in(state: &AppState) -> Result<HttpResponse, AppError> {
    notice(
        state,
        StatusCode::UNAUTHORIZED,
        &NoticePage {
            title: "Not signed in".into(),
            message:
                "Sign in to an application first; then you can manage your second factor here."
                    .into(),
            is_error: true,
            reference: None,
            link_url: Some("/".into()),
            link_text: "Home".into(),
        },
    )
}

/// `POST /Account/Mfa`.
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: MfaForm = parse_form(&body)?;
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("manage-mfa form rejected: missing or wrong csrf token");
        return csrf_failure(&state, Some("/".into()));
    }
    let Some(session) = crate::signin::current_session(&state, &req).await? else {
        return not_signed_in(&state);
    };
    let Some(user) = state.users.find_by_subject(&session.subject).await? else {
        return not_signed_in(&state);
    };

    let settings = &state.account.settings;
    let action = &settings.authsignal.manage_mfa_action_code;
    let attributes = TrackAttributes {
        redirect_to_settings: Some(true),
        redirect_url: Some(own_url(&state, CALLBACK_PATH)),
        username: Some(user.username.clone()),
        email: user.email.clone(),
        ip_address: Some(client_ip(&req)),
        user_agent: user_agent(&req),
        idempotency_key: Some(uuid::Uuid::new_v4().to_string()),
        ..Default::default()
    };
    let answer = state
        .account
        .authsignal
        .track(&user.subject, action, &attributes)
        .await;
    match decide_manage_mfa(answer.as_ref()) {
        Decision::Challenge {
            url,
            idempotency_key,
        }
        | Decision::Enroll {
            url,
            idempotency_key,
        } => {
            let transaction = LoginTransaction::new(
                user.subject.clone(),
                action.clone(),
                idempotency_key,
                Purpose::ManageMfa,
                settings.transaction.lifetime(),
            );
            redirect_to_challenge(&state, transaction, &url).await
        }
        other => refusal(&state, &req, &user.subject, &other, Some("/".into())),
    }
}
