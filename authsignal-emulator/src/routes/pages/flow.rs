//! The hosted flow, step by step. Each POST checks the cookie session and its CSRF token, acts,
//! and answers 303 to `/flow` (which renders the current step) or to the relying party.
//!
//! Codes are accepted as people paste them: spaces and dashes inside are ignored. Email and SMS
//! codes can be sent again, at most [`MAX_CODES_PER_SESSION`] per session and one per
//! [`RESEND_INTERVAL_SECS`] (the wait is shown).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{
    FlowForm, load_checked, load_session, looks_like_email, remembered_return, render,
    return_cookie, see_other, session_cookie,
};
use crate::domain::challenge_context;
use crate::domain::codes::{
    hash_recovery_code, is_six_digits, otp_code, recovery_codes, strip_separators,
};
use crate::domain::decision::hosted_flow_open;
use crate::domain::redirect::{parse_redirect_url, with_token};
use crate::domain::secret::{ct_eq_str, random_token};
use crate::domain::token::{TokenClaims, TokenError};
use crate::domain::totp;
use crate::domain::words;
use crate::error::PageError;
use crate::routes::api::authenticators::announce_authenticator;
use crate::state::{
    AppState, MAX_FAILED_ATTEMPTS, OTP_LIFETIME_SECS, SendError, WRONG_CODE_WINDOW_SECS,
};
use crate::store::{
    Action, Authenticator, HostedSession, HostedStep, HostedUi, PendingEmailCode, RemoveOutcome,
};

/// Email or SMS codes one hosted session may send (the first one included).
pub const MAX_CODES_PER_SESSION: u32 = 5;
/// Wait between two codes to the same address.
pub const RESEND_INTERVAL_SECS: i64 = 30;

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

/// Where a finished (or abandoned) flow sends the browser: the relying party's `redirectUrl`
/// without a token (the relying party learns nothing it could act on from it).
fn return_url(action: &Action) -> Option<url::Url> {
    action
        .redirect_url
        .as_deref()
        .and_then(|u| parse_redirect_url(u).ok())
}

/// The "sent on" answer for a session whose flow has ended: its relying party, else `/back`.
pub fn send_on_error(state: &AppState, session: &HostedSession) -> PageError {
    let location = state
        .stores
        .actions
        .get_action(&session.action)
        .ok()
        .flatten()
        .and_then(|a| return_url(&a))
        .map_or_else(|| "/back".to_owned(), |u| u.to_string());
    PageError::SendOn { location }
}

/// Ends the flow of `session` without a result and sends the browser back to the relying party
/// (or shows the "ended" page when the action has no `redirectUrl`).
fn leave(
    state: &AppState,
    session: &HostedSession,
    action: &Action,
) -> Result<HttpResponse, PageError> {
    update(state, session, |s| {
        s.step = HostedStep::Finished;
        s.email_code = None;
        s.pending_email = None;
    })?;
    match return_url(action) {
        Some(url) => Ok(see_other(url.as_str())),
        None => ended_page(state, false),
    }
}

fn ended_page(state: &AppState, succeeded: bool) -> Result<HttpResponse, PageError> {
    let mut context = tera::Context::new();
    context.insert("tenant_name", &state.tenant_name);
    context.insert("error", &Option::<String>::None);
    context.insert("succeeded", &succeeded);
    render(state, "done.html", &context)
}

/// `POST /cancel` (`cancel` on the method choice, every enrollment and every challenge): the
/// person leaves; back to the relying party without a token. What the service's pre-built UI
/// sends when a person leaves is UNVERIFIED; no token is the conservative choice (it proves
/// nothing, and the guide's sample treats a missing token as "the user exited"). The action's
/// state is left as it is.
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    let action = load_action(&state, &session)?;
    tracing::info!(user_id = %session.action.user_id, action = %session.action.action_code, "hosted flow cancelled");
    leave(&state, &session, &action)
}

/// `POST /not-me` ("This wasn't me" on the challenge; an emulator extension, the real service's
/// pre-built UI has no such button as far as its documentation shows): the person says they did
/// not start this request, e.g. someone with their password sent them the link. In one store
/// update the action becomes `CHALLENGE_FAILED` and records when it was reported
/// ([`Action::reported_not_me_at`]), whatever state it had: `validate` of any of its tokens then
/// answers not succeeded, and a correct code sent afterwards (or in flight) no longer completes
/// it (`record_success` only completes an open action). The browser goes back like Cancel:
/// to the relying party's `redirectUrl` without a token, which refuses the login.
pub async fn not_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    if !matches!(session.step, HostedStep::Challenge { .. }) || session.verified {
        return Ok(see_other("/flow"));
    }
    let now = Utc::now();
    let action = state
        .stores
        .actions
        .update_action(&session.action, &mut |a| {
            if a.state != "CHALLENGE_FAILED" {
                a.state = "CHALLENGE_FAILED".into();
                a.state_updated_at = now;
            }
            a.updated_at = now;
            a.reported_not_me_at.get_or_insert(now);
        })?
        .ok_or_else(|| refused("This verification no longer exists."))?;
    tracing::warn!(user_id = %session.action.user_id, action = %session.action.action_code, "challenge reported as not started by the user: failed");
    leave(&state, &session, &action)
}

/// `GET /back` (the primary action of every error page): back to the relying party of this
/// browser's flow, or of the last flow it started here; the "ended" page when none is known.
/// A live flow of this browser ends here like a Cancel: a link to this page can end it, which is
/// no more than a link to the relying party's callback could do.
pub async fn back(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    if let Ok(session) = load_session(&state, &req)
        && let Ok(action) = load_action(&state, &session)
    {
        return leave(&state, &session, &action);
    }
    match remembered_return(&req) {
        Some(url) => Ok(see_other(url.as_str())),
        None => ended_page(&state, false),
    }
}

/// The refusal while the user's wrong-code budget is used up: how long to wait, in words.
fn too_many_wrong_codes() -> String {
    format!(
        "Too many incorrect codes. Wait {} and try again.",
        words::duration(WRONG_CODE_WINDOW_SECS)
    )
}

/// Seconds until another code may go to `to` in this session (0: now): the session's own wait,
/// or the address's when its last code was held back ([`AppState::reserve_code_send`]).
fn resend_wait(session: &HostedSession, to: &str, now: chrono::DateTime<Utc>) -> i64 {
    let own = session
        .email_code
        .as_ref()
        .filter(|p| p.to == to)
        .map_or(0, |p| {
            (p.sent_at + Duration::seconds(RESEND_INTERVAL_SECS) - now)
                .num_seconds()
                .max(0)
        });
    let address = session
        .ui
        .held_code
        .as_ref()
        .filter(|(held, _)| held == to)
        .map_or(0, |(_, until)| (*until - now).num_seconds().max(0));
    own.max(address)
}

/// Where the next code of this session goes: the pending code's address, else the one whose
/// code was held back.
fn code_destination(session: &HostedSession) -> Option<String> {
    session
        .email_code
        .as_ref()
        .map(|p| p.to.clone())
        .or_else(|| session.ui.held_code.as_ref().map(|(to, _)| to.clone()))
}

/// `POST /resend` (`resend` on the email code pages): a new code to the same address, within
/// the session's limits.
pub async fn resend(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    check_open(&state, &session)?;
    let Some(to) = code_destination(&session) else {
        return Ok(see_other("/flow"));
    };
    let channel = match &session.step {
        HostedStep::EnrollEmailCode => "EMAIL",
        HostedStep::Challenge { method } if method == EMAIL => "EMAIL",
        HostedStep::Challenge { method } if method == SMS => "SMS",
        _ => return Ok(see_other("/flow")),
    };
    if session.ui.codes_sent >= MAX_CODES_PER_SESSION {
        return flash(
            &state,
            &session,
            "No more codes can be sent for this sign-in. Cancel and start again.",
        );
    }
    let wait = resend_wait(&session, &to, Utc::now());
    if wait > 0 {
        // Not a mistake in the code field: a notice, and the code sent stays valid.
        let message = format!(
            "A code was sent moments ago. You can ask for a new one in {}.",
            words::duration(wait)
        );
        update(&state, &session, |s| s.ui.flash_notice = Some(message))?;
        return Ok(see_other("/flow"));
    }
    if send_code(&state, &session, &to, channel).await? {
        update(&state, &session, |s| {
            s.ui.flash_notice = Some(format!("We sent a new code to {to}."));
        })?;
    }
    Ok(see_other("/flow"))
}

/// `POST /enroll/email/change` (`change-address`): enter another address.
pub async fn enroll_email_change(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    check_open(&state, &session)?;
    if session.step != HostedStep::EnrollEmailCode {
        return Ok(see_other("/flow"));
    }
    update(&state, &session, |s| {
        s.step = HostedStep::EnrollEmailAddress;
        s.email_code = None;
    })?;
    Ok(see_other("/flow"))
}

/// Sends a code for an OTP method to the user's enrolled destination, recording it in the
/// session; `false` when the address's limit held it back (the page says so).
async fn send_challenge_code(
    state: &AppState,
    session: &HostedSession,
    method: &str,
) -> Result<bool, PageError> {
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

/// Sends a code to `to` and records it in the session. `Ok(false)` when the address has had its
/// share of codes across every session ([`AppState::reserve_code_send`]): nothing is sent, the
/// code sent before (if any) stays valid, and the page shows the wait.
async fn send_code(
    state: &AppState,
    session: &HostedSession,
    to: &str,
    channel: &str,
) -> Result<bool, PageError> {
    // Re-read: the caller's copy may predate a code sent by a parallel request.
    let current = load_session_by_id(state, &session.id)?;
    if current.ui.codes_sent >= MAX_CODES_PER_SESSION {
        return Err(PageError::refused(
            StatusCode::TOO_MANY_REQUESTS,
            "No more codes can be sent for this sign-in. Go back to the application and start again.",
        ));
    }
    let code = otp_code();
    match state.send_code(to, &code, &session.action, channel).await {
        Ok(()) => {}
        Err(SendError::Throttled { retry_after_secs }) => {
            let until = Utc::now() + Duration::seconds(retry_after_secs);
            let message = format!(
                "Too many codes were sent to {to} recently, so no new one was sent. You can ask for a new one in {}.",
                words::duration(retry_after_secs)
            );
            update(state, session, |s| {
                s.ui.held_code = Some((to.to_owned(), until));
                s.ui.flash_notice = Some(message);
            })?;
            return Ok(false);
        }
        Err(e) => {
            tracing::warn!(error = %e, "code delivery failed");
            return Err(PageError::refused(
                StatusCode::BAD_GATEWAY,
                "The code could not be sent. Try again later.",
            ));
        }
    }
    let now = Utc::now();
    let pending = PendingEmailCode {
        to: to.to_owned(),
        code,
        expires_at: now + Duration::seconds(OTP_LIFETIME_SECS),
        sent_at: now,
    };
    update(state, session, |s| {
        s.email_code = Some(pending);
        s.ui.codes_sent += 1;
        s.ui.held_code = None;
    })?;
    Ok(true)
}

fn load_session_by_id(state: &AppState, id: &str) -> Result<HostedSession, PageError> {
    state
        .stores
        .hosted
        .get_session(id, Utc::now())
        .ok_or_else(PageError::no_session)
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
            TokenError::Expired => refused(
                "This verification link has expired: it works for a few minutes only. Go back \
                 to the application and sign in again.",
            ),
            _ => refused("This verification link is not valid."),
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
    // A link opened again after the verification (Back, a second tab) sends the person on.
    if action.state == "CHALLENGE_SUCCEEDED"
        && let Some(url) = return_url(&action)
    {
        return Ok(see_other(url.as_str()));
    }
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
        ui: HostedUi::default(),
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
    if let Some(url) = return_url(&action) {
        response
            .add_cookie(&return_cookie(url.as_str()))
            .map_err(|e| PageError::Internal(Box::new(e)))?;
    }
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

fn base_context(
    state: &AppState,
    session: &HostedSession,
    error: Option<String>,
    notice: Option<String>,
) -> tera::Context {
    let mut context = tera::Context::new();
    context.insert("tenant_name", &state.tenant_name);
    context.insert("csrf", &session.csrf);
    context.insert("error", &error);
    context.insert("notice", &notice);
    context
}

/// The code field of a page (`code_field.html`).
fn code_field(context: &mut tera::Context, label: &str, recovery: bool) {
    context.insert("code_label", label);
    if recovery {
        context.insert("code_inputmode", "text");
        context.insert("code_autocomplete", "off");
        context.insert("code_maxlength", &64);
        context.insert(
            "code_hint",
            "Like abcde-fghjk-mnpqr; spaces and dashes are optional.",
        );
    } else {
        // Room for a pasted "123 456": spaces and dashes are ignored.
        context.insert("code_inputmode", "numeric");
        context.insert("code_autocomplete", "one-time-code");
        context.insert("code_maxlength", &16);
        context.insert("code_hint", &Option::<String>::None);
    }
}

/// The "send a new code" part of a page (`resend.html`), and where the code went (`to`) or
/// could not go yet (`code_sent` false: the address's limit held it back).
fn resend_context(context: &mut tera::Context, session: &HostedSession) {
    let now = Utc::now();
    let to = code_destination(session);
    let wait = to.as_deref().map_or(0, |to| resend_wait(session, to, now));
    context.insert("to", &to);
    context.insert("code_sent", &session.email_code.is_some());
    context.insert("resend_wait", &wait);
    context.insert(
        "can_resend",
        &(session.ui.codes_sent < MAX_CODES_PER_SESSION),
    );
}

/// The "use another method" link of an enrollment page (`other_method.html`).
fn other_method(context: &mut tera::Context, id: &str, action: &str, label: &str) {
    context.insert("other_id", id);
    context.insert("other_action", action);
    context.insert("other_label", label);
}

/// The account a person recognises: the username, else the email, else the user id.
fn account_name(action: &Action, user_id: &str) -> String {
    action
        .username
        .clone()
        .or_else(|| action.email.clone())
        .unwrap_or_else(|| user_id.to_owned())
}

/// A base32 key in groups of four, as authenticator apps show and accept it.
fn grouped(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
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
    added: String,
    last_used: Option<String>,
}

fn authenticator_row(a: &Authenticator, now: chrono::DateTime<Utc>) -> AuthenticatorRow {
    AuthenticatorRow {
        id: a.user_authenticator_id.clone(),
        label: label(&a.verification_method),
        detail: a
            .email
            .clone()
            .or_else(|| a.phone_number.clone())
            .unwrap_or_default(),
        added: words::ago(a.created_at, now),
        last_used: a.last_verified_at.map(|t| words::ago(t, now)),
    }
}

/// `GET /flow`: renders the current step.
pub async fn show(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let session = load_session(&state, &req)?;
    if session.step == HostedStep::Finished {
        return Err(send_on_error(&state, &session));
    }
    let error = session.flash_error.clone();
    let notice = session.ui.flash_notice.clone();
    let session = update(&state, &session, |s| {
        s.flash_error = None;
        s.ui.flash_notice = None;
    })?;
    let action = load_action(&state, &session)?;
    let mut context = base_context(&state, &session, error, notice);
    let user_id = &session.action.user_id;
    let now = Utc::now();
    let template = match &session.step {
        HostedStep::ChooseEnrollment => {
            context.insert("adding", &session.verified);
            context.insert("account", &account_name(&action, user_id));
            "enroll_choose.html"
        }
        HostedStep::EnrollTotp { secret } => {
            let account: String = account_name(&action, user_id)
                .chars()
                .filter(|c| *c != ':')
                .collect();
            let uri = totp::otpauth_uri(secret, &state.tenant_name, &account);
            let qr = totp::qr_svg_base64(&uri).map_err(|e| PageError::Internal(e.into()))?;
            context.insert("secret", secret);
            context.insert("secret_groups", &grouped(secret));
            context.insert("account", &account);
            context.insert("uri", &uri);
            context.insert("qr", &qr);
            context.insert("adding", &session.verified);
            code_field(&mut context, "Code from the app", false);
            other_method(
                &mut context,
                "switch-to-email",
                "/enroll/email",
                "Use email codes instead",
            );
            "enroll_totp.html"
        }
        HostedStep::EnrollEmailAddress => {
            context.insert("adding", &session.verified);
            context.insert("email", session.pending_email.as_deref().unwrap_or(""));
            other_method(
                &mut context,
                "switch-to-totp",
                "/enroll/totp",
                "Use an authenticator app instead",
            );
            "enroll_email_address.html"
        }
        HostedStep::EnrollEmailCode => {
            context.insert("adding", &session.verified);
            code_field(&mut context, "Code from the email", false);
            resend_context(&mut context, &session);
            other_method(
                &mut context,
                "switch-to-totp",
                "/enroll/totp",
                "Use an authenticator app instead",
            );
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
            context.insert(
                "request",
                &challenge_context::describe(
                    &action.key.action_code,
                    action.custom.as_ref(),
                    action.user_agent.as_deref(),
                    action.ip_address.as_deref(),
                    action.created_at,
                ),
            );
            context.insert("method", method);
            context.insert("method_label", label(method));
            code_field(&mut context, label(method), method == RECOVERY);
            resend_context(&mut context, &session);
            context.insert("choices", &choices);
            context.insert(
                "recovery_available",
                &(recovery_left > 0 && method != RECOVERY),
            );
            "challenge.html"
        }
        HostedStep::RecoveryCodes { codes } => {
            // Shown until the person confirms they saved them (then they leave the session).
            context.insert("codes", codes);
            context.insert("codes_text", &codes.join("\n"));
            "recovery_codes.html"
        }
        HostedStep::Settings => {
            let authenticators = state.stores.authenticators.list_authenticators(user_id)?;
            let rows: Vec<AuthenticatorRow> = authenticators
                .iter()
                .map(|a| authenticator_row(a, now))
                .collect();
            context.insert("can_remove", &(rows.len() > 1));
            context.insert("authenticators", &rows);
            context.insert(
                "recovery_left",
                &state
                    .stores
                    .authenticators
                    .remaining_recovery_codes(user_id)?,
            );
            context.insert("changes", &session.ui.changes);
            context.insert("email_self_service", &state.email_self_service);
            "settings.html"
        }
        HostedStep::ConfirmRemove { authenticator_id } => {
            let authenticators = state.stores.authenticators.list_authenticators(user_id)?;
            let Some(a) = authenticators
                .iter()
                .find(|a| &a.user_authenticator_id == authenticator_id)
            else {
                update(&state, &session, |s| s.step = HostedStep::Settings)?;
                return Ok(see_other("/flow"));
            };
            let row = authenticator_row(a, now);
            context.insert("id", &row.id);
            context.insert("label", row.label);
            context.insert("detail", &row.detail);
            context.insert("added", &row.added);
            "confirm_remove.html"
        }
        HostedStep::Finished => return Err(send_on_error(&state, &session)),
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

/// Whether this session may enrol an email address: a user's first authenticator may always be
/// one, another only when the tenant allows email self-service (`email_self_service`, off by
/// default as the guide recommends: whoever holds a session could otherwise add any address).
fn may_add_email(state: &AppState, session: &HostedSession) -> Result<(), PageError> {
    if state.email_self_service
        || state
            .stores
            .authenticators
            .list_authenticators(&session.action.user_id)?
            .is_empty()
    {
        return Ok(());
    }
    tracing::warn!(user_id = %session.action.user_id, "email enrollment refused: email self-service is off");
    Err(PageError::refused(
        StatusCode::FORBIDDEN,
        "Email addresses cannot be added here.",
    ))
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
        s.step = HostedStep::EnrollTotp { secret };
        // Switching from email: the code in flight is for an enrollment no longer under way.
        s.email_code = None;
        s.pending_email = None;
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
    check_open(&state, &session)?;
    let HostedStep::EnrollTotp { secret } = session.step.clone() else {
        return Ok(see_other("/flow"));
    };
    let now = Utc::now();
    if let Err(refusal) = reserve_check(&state, &session, now)? {
        return Ok(refusal);
    }
    let code = strip_separators(form.code.as_deref().unwrap_or_default());
    let Some(step) = totp::verify(&secret, &code, now.timestamp() as u64, None) else {
        return wrong_code(
            &state,
            &session,
            "That code is not right. Check the app and try again.",
        )
        .await;
    };
    give_back_check(&state, &session, now)?;
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
        let what = match authenticator.email.as_deref() {
            Some(email) => format!("{} ({email})", label(&authenticator.verification_method)),
            None => label(&authenticator.verification_method).to_owned(),
        };
        update(state, session, |s| {
            s.step = HostedStep::Settings;
            s.email_code = None;
            s.pending_email = None;
            s.ui.flash_notice = Some(format!("{what} added."));
            s.ui.changes.push(format!("Added {what}"));
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
    may_add_email(&state, &session)?;
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
    may_add_email(&state, &session)?;
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
    session
        .email_code
        .as_ref()
        .is_some_and(|p| p.expires_at > now && is_six_digits(code) && ct_eq_str(&p.code, code))
}

/// `POST /enroll/email/confirm` (`confirm-email`): the code sent to the address.
pub async fn enroll_email_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    check_open(&state, &session)?;
    may_add_email(&state, &session)?;
    if session.step != HostedStep::EnrollEmailCode {
        return Ok(see_other("/flow"));
    }
    let now = Utc::now();
    if let Err(refusal) = reserve_check(&state, &session, now)? {
        return Ok(refusal);
    }
    let code = strip_separators(form.code.as_deref().unwrap_or_default());
    if !check_pending_code(&session, &code) {
        return wrong_code(&state, &session, "That code is not right or has expired.").await;
    }
    give_back_check(&state, &session, now)?;
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
    check_open(&state, &session)?;
    let HostedStep::Challenge { method } = session.step.clone() else {
        return Ok(see_other("/flow"));
    };
    if session.verified {
        return Ok(see_other("/flow"));
    }
    let now = Utc::now();
    let user_id = session.action.user_id.clone();
    if let Err(refusal) = reserve_check(&state, &session, now)? {
        return Ok(refusal);
    }
    let code = strip_separators(form.code.as_deref().unwrap_or_default());
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
                        give_back_check(&state, &session, now)?;
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
            wrong_code(&state, &session, message).await
        }
        EMAIL | SMS => {
            if check_pending_code(&session, &code) {
                give_back_check(&state, &session, now)?;
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
            wrong_code(&state, &session, "That code is not right or has expired.").await
        }
        RECOVERY => {
            if !code.trim().is_empty()
                && state
                    .stores
                    .authenticators
                    .consume_recovery_code(&user_id, &hash_recovery_code(&code))?
            {
                give_back_check(&state, &session, now)?;
                tracing::info!(user_id = %user_id, "recovery code used");
                mark_succeeded(&state, &session, RECOVERY, None).await?;
                return after_verified(&state, &session).await;
            }
            wrong_code(
                &state,
                &session,
                "That recovery code is not valid or was used already.",
            )
            .await
        }
        _ => {
            give_back_check(&state, &session, now)?;
            Ok(see_other("/flow"))
        }
    }
}

/// What [`reserve_check`] found on the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CodeCheck {
    /// Reserved: the action counts it as a wrong code until it is given back.
    Reserved,
    /// The action's wrong codes (with the checks in flight) have reached the limit.
    Exhausted,
    /// The action is no longer open.
    Ended,
}

/// Reserves one code check before the code is looked at, each in one atomic step: against the
/// action's [`MAX_FAILED_ATTEMPTS`] (one store update that checks and counts), then against the
/// user's wrong-code budget across actions ([`AppState::reserve_wrong_code`]). The check counts
/// as a wrong code from then on, and a right code gives it back ([`give_back_check`]): of N
/// parallel codes on one action at most [`MAX_FAILED_ATTEMPTS`] are ever looked at, the others
/// are refused as if the action were locked. `Ok(Err(answer))`: refused, with the answer to send.
fn reserve_check(
    state: &AppState,
    session: &HostedSession,
    now: chrono::DateTime<Utc>,
) -> Result<Result<(), HttpResponse>, PageError> {
    let mut check = CodeCheck::Ended;
    state
        .stores
        .actions
        .update_action(&session.action, &mut |a| {
            // As in `check_open`: after success the session may go on (settings).
            check = if !session.verified && !hosted_flow_open(&a.state) {
                CodeCheck::Ended
            } else if a.failed_attempts >= MAX_FAILED_ATTEMPTS {
                CodeCheck::Exhausted
            } else {
                a.failed_attempts += 1;
                a.updated_at = now;
                CodeCheck::Reserved
            };
        })?
        .ok_or_else(|| refused("This verification no longer exists."))?;
    match check {
        CodeCheck::Reserved => {}
        CodeCheck::Exhausted => {
            tracing::info!(user_id = %session.action.user_id, "code refused unseen: the action's wrong codes are used up");
            return Err(PageError::refused(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many incorrect codes for this verification. Go back to the application and start again.",
            ));
        }
        CodeCheck::Ended => {
            return Err(PageError::refused(
                StatusCode::FORBIDDEN,
                "This verification has ended.",
            ));
        }
    }
    if !state.reserve_wrong_code(&session.action.user_id, now) {
        // Not looked at: the action gets its check back.
        state
            .stores
            .actions
            .update_action(&session.action, &mut |a| {
                a.failed_attempts = a.failed_attempts.saturating_sub(1);
            })?;
        return Ok(Err(flash(state, session, &too_many_wrong_codes())?));
    }
    Ok(Ok(()))
}

/// Gives back a check reserved at `now` by [`reserve_check`]: the code was right.
fn give_back_check(
    state: &AppState,
    session: &HostedSession,
    now: chrono::DateTime<Utc>,
) -> Result<(), PageError> {
    state.give_back_wrong_code(&session.action.user_id, now);
    state
        .stores
        .actions
        .update_action(&session.action, &mut |a| {
            a.failed_attempts = a.failed_attempts.saturating_sub(1);
        })?;
    Ok(())
}

/// A wrong code, already counted by [`reserve_check`]; the fifth on an action fails it.
async fn wrong_code(
    state: &AppState,
    session: &HostedSession,
    message: &str,
) -> Result<HttpResponse, PageError> {
    let updated = load_action(state, session)?;
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
    let mut completed = false;
    state
        .stores
        .actions
        .update_action(&session.action, &mut |a| {
            // Only an open action completes, checked in the same store update: one that ended
            // meanwhile ("This wasn't me", too many wrong codes, a PATCH) stays ended.
            completed = hosted_flow_open(&a.state);
            if completed {
                a.state = "CHALLENGE_SUCCEEDED".into();
                a.state_updated_at = now;
                a.updated_at = now;
                a.verification_method = Some(method.clone());
                a.verified_by_authenticator_id = authenticator_id.clone();
            }
        })?;
    if !completed {
        tracing::warn!(user_id = %session.action.user_id, action = %session.action.action_code, "right code for an action that has ended: not completed");
        return Err(PageError::refused(
            StatusCode::FORBIDDEN,
            "This verification has ended.",
        ));
    }
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
    // Kept (without its secrets) until it expires: Back then sends the person on.
    update(state, session, |s| {
        s.step = HostedStep::Finished;
        s.email_code = None;
        s.pending_email = None;
    })?;
    let (token, _) = state.issue_token(&session.action, &session.scope, Utc::now());
    match return_url(action) {
        Some(url) => Ok(see_other(with_token(&url, &token).as_str())),
        None => ended_page(state, action.state == "CHALLENGE_SUCCEEDED"),
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
    if form.saved.as_deref() != Some("yes") {
        return flash(
            &state,
            &session,
            "Tick \"I have saved my recovery codes\" once they are somewhere safe.",
        );
    }
    // The plain codes leave the session now.
    update(&state, &session, |s| s.step = HostedStep::Settings)?;
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
    let authenticators = state
        .stores
        .authenticators
        .list_authenticators(&session.action.user_id)?;
    if !authenticators.iter().any(|a| a.user_authenticator_id == id) {
        return flash(&state, &session, "That authenticator does not exist.");
    }
    if authenticators.len() < 2 {
        return flash(
            &state,
            &session,
            "You cannot remove your last authenticator.",
        );
    }
    update(&state, &session, |s| {
        s.step = HostedStep::ConfirmRemove {
            authenticator_id: id,
        }
    })?;
    Ok(see_other("/flow"))
}

/// `POST /settings/remove/confirm` (`confirm-remove`): removes it, never the last one.
pub async fn settings_remove_confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    require_settings(&session)?;
    let id = form.authenticator_id.clone().unwrap_or_default();
    let HostedStep::ConfirmRemove { authenticator_id } = &session.step else {
        return Ok(see_other("/flow"));
    };
    if !ct_eq_str(authenticator_id, &id) {
        return Ok(see_other("/flow"));
    }
    let user_id = &session.action.user_id;
    let what = state
        .stores
        .authenticators
        .list_authenticators(user_id)?
        .iter()
        .find(|a| a.user_authenticator_id == id)
        .map(|a| match a.email.as_deref() {
            Some(email) => format!("{} ({email})", label(&a.verification_method)),
            None => label(&a.verification_method).to_owned(),
        })
        .unwrap_or_else(|| "Authenticator".to_owned());
    update(&state, &session, |s| s.step = HostedStep::Settings)?;
    match state
        .stores
        .authenticators
        .delete_authenticator_unless_last(user_id, &id)?
    {
        RemoveOutcome::Removed => {
            tracing::info!(user_id = %user_id, "authenticator removed in the hosted settings");
            update(&state, &session, |s| {
                s.ui.flash_notice = Some(format!("{what} removed."));
                s.ui.changes.push(format!("Removed {what}"));
            })?;
            Ok(see_other("/flow"))
        }
        RemoveOutcome::LastOne => flash(
            &state,
            &session,
            "You cannot remove your last authenticator.",
        ),
        RemoveOutcome::NotFound => flash(&state, &session, "That authenticator does not exist."),
    }
}

/// `POST /settings/recovery-codes` (`regenerate-codes`): new recovery codes replace the old
/// ones (the settings are reached only after a fresh challenge); shown like the first ones.
pub async fn settings_regenerate(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FlowForm>,
) -> Result<HttpResponse, PageError> {
    let session = load_checked(&state, &req, &form)?;
    require_settings(&session)?;
    if session.step != HostedStep::Settings {
        return Ok(see_other("/flow"));
    }
    let codes = recovery_codes();
    state.stores.authenticators.set_recovery_codes(
        &session.action.user_id,
        codes.iter().map(|c| hash_recovery_code(c)).collect(),
    )?;
    // Recorded on the action, so that the relying party can tell its user (`getAction`'s
    // `output.recoveryCodesRegenerated`, an emulator extension).
    let now = Utc::now();
    state
        .stores
        .actions
        .update_action(&session.action, &mut |a| {
            a.recovery_codes_regenerated_at = Some(now);
            a.updated_at = now;
        })?;
    tracing::info!(user_id = %session.action.user_id, "recovery codes regenerated in the hosted settings");
    update(&state, &session, |s| {
        s.step = HostedStep::RecoveryCodes { codes };
        s.ui.changes
            .push("New recovery codes (the old ones stopped working)".to_owned());
    })?;
    Ok(see_other("/flow"))
}

/// `GET /recovery-codes.txt` (`download-codes`): the codes on screen as a text file.
pub async fn recovery_download(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let session = load_session(&state, &req)?;
    let HostedStep::RecoveryCodes { codes } = &session.step else {
        return Err(PageError::refused(
            StatusCode::NOT_FOUND,
            "Your recovery codes are shown only while you save them. Go back to the application.",
        ));
    };
    let mut text = format!(
        "Recovery codes for {}\nEach code works once. Keep them somewhere safe.\n\n",
        state.tenant_name
    );
    for code in codes {
        text.push_str(code);
        text.push('\n');
    }
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        ))
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"recovery-codes.txt\"",
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(text))
}

/// `POST /settings/back` (`back-to-settings`, `keep`): abandon adding or removing an
/// authenticator.
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
                sent_at: Utc::now(),
            }),
            pending_email: None,
            expires_at: Utc::now() + Duration::minutes(10),
            flash_error: None,
            ui: HostedUi::default(),
        }
    }

    #[test]
    fn an_email_code_is_accepted_before_it_expires_only() {
        assert!(check_pending_code(&session("123456", 60), "123456"));
        assert!(!check_pending_code(&session("123456", -1), "123456"));
        assert!(!check_pending_code(&session("123456", 60), "123457"));
        assert!(!check_pending_code(&session("123456", 60), ""));
    }

    #[test]
    fn a_new_code_may_go_to_the_same_address_only_after_the_wait() {
        let s = session("123456", 600);
        let sent = s.email_code.as_ref().unwrap().sent_at;
        assert_eq!(resend_wait(&s, "a@b.c", sent), RESEND_INTERVAL_SECS);
        assert_eq!(resend_wait(&s, "a@b.c", sent + Duration::seconds(10)), 20);
        assert_eq!(resend_wait(&s, "a@b.c", sent + Duration::seconds(31)), 0);
        assert_eq!(resend_wait(&s, "other@b.c", sent), 0, "another address");
    }

    #[test]
    fn keys_are_shown_in_groups_of_four() {
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
        assert_eq!(grouped(""), "");
    }

    #[test]
    fn the_totp_method_and_email_methods_are_challengeable_but_passkeys_are_not() {
        assert!(challengeable(APP) && challengeable(EMAIL) && challengeable(SMS));
        assert!(!challengeable("PASSKEY") && !challengeable(RECOVERY));
        assert_eq!(choose_id(APP), "choose-totp");
        assert_eq!(choose_id(EMAIL), "choose-email");
    }
}
