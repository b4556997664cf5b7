//! `/Account/Passkeys`: a signed-in user lists, adds and removes their passkeys.
//!
//! The identity server owns the credentials, so this page is here and not in a relying party
//! (which then needs no Authsignal secret). Passkeys live at Authsignal; the page reads and
//! removes them through the Server API (`GET`/`DELETE /users/{id}/authenticators`).
//!
//! - `GET /Account/Passkeys`: the user's passkeys (name from the AAGUID, created, last used).
//! - `POST /Account/Passkeys/Add` (CSRF): adding needs a session whose last second factor is at
//!   most `account.passkeys.step_up_max_age_secs` old ([`Session::last_second_factor`]). An older
//!   one first passes a step-up challenge: the Manage-MFA action is tracked, a transaction of
//!   purpose [`Purpose::StepUp`] sends the browser to the hosted challenge, and its callback
//!   (`/Account/Mfa/Callback`) records the time in the session and comes back here. A fresh one
//!   tracks the add-passkey action with scope `add:authenticators`, stores a transaction of
//!   purpose [`Purpose::AddPasskey`] (bound to the session, cookie `__Host-idsrv.passkey-add`)
//!   and renders the page whose script creates the credential with the track token.
//! - `POST /Account/Passkeys/Added` (CSRF): the script's result token. The transaction is taken
//!   first; the token must validate for the add-passkey action, the transaction's idempotency
//!   key, the session's user and the `PASSKEY` method.
//! - `POST /Account/Passkeys/Remove` (CSRF): removes one of the user's passkeys (another user's
//!   id is "not found"), never the user's last authenticator: password plus a second factor
//!   (authenticator app, email, recovery codes) stay the way back in.
//!
//! Every answer after a form is a redirect to this page with one of a fixed set of notices.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use authsignal_sdk::{
    TrackAttributes, UserAuthenticator, ValidateChallengeRequest, VerificationMethod,
};
use serde::{Deserialize, Serialize};

use super::decision::{
    Decision, ExpectedPasskey, check_passkey_validation, decide_add_passkey, decide_manage_mfa,
};
use super::login::{own_url, redirect_to_challenge, refusal};
use super::pages::{client_ip, csrf_failure, parse_form, parse_query, render_page, user_agent};
use super::transaction::{LoginTransaction, Purpose, TransactionId};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::Session;

/// The page.
pub const PATH: &str = "/Account/Passkeys";
/// The cookie naming the add-passkey transaction.
pub const ADD_COOKIE: &str = "__Host-idsrv.passkey-add";
/// Longest token or authenticator id accepted from a form.
const MAX_FIELD_BYTES: usize = 8192;

/// What the page says after a form (`?notice=`); a fixed set, so no text from the URL reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasskeyNotice {
    /// A passkey was added and confirmed.
    Added,
    /// The new passkey could not be confirmed.
    AddFailed,
    /// A passkey was removed.
    Removed,
    /// The passkey to remove is the user's last authenticator.
    Last,
    /// No such passkey of this user.
    NotFound,
    /// The step-up challenge passed: a passkey can be added now.
    Verified,
    /// The step-up challenge did not pass.
    StepUpFailed,
    /// Authsignal did not answer.
    Unavailable,
}

impl PasskeyNotice {
    const ALL: [Self; 8] = [
        Self::Added,
        Self::AddFailed,
        Self::Removed,
        Self::Last,
        Self::NotFound,
        Self::Verified,
        Self::StepUpFailed,
        Self::Unavailable,
    ];

    /// The value in the URL.
    pub fn code(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::AddFailed => "add_failed",
            Self::Removed => "removed",
            Self::Last => "last",
            Self::NotFound => "not_found",
            Self::Verified => "verified",
            Self::StepUpFailed => "step_up_failed",
            Self::Unavailable => "unavailable",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.code() == code)
    }

    /// The text, and whether it is an error.
    fn text(self) -> (&'static str, bool) {
        match self {
            Self::Added => (
                "Your passkey was added. You can sign in with it now.",
                false,
            ),
            Self::AddFailed => (
                "The passkey could not be confirmed. Check the list below, and try again if it is missing.",
                true,
            ),
            Self::Removed => ("The passkey was removed.", false),
            Self::Last => (
                "This is your last way to confirm a sign-in, so it cannot be removed. Add another one first.",
                true,
            ),
            Self::NotFound => ("No such passkey.", true),
            Self::Verified => (
                "Your second factor is confirmed. You can add a passkey now.",
                false,
            ),
            Self::StepUpFailed => (
                "The second factor was not confirmed, so no passkey can be added yet.",
                true,
            ),
            Self::Unavailable => (
                "Your passkeys cannot be managed right now. Please try again in a few minutes.",
                true,
            ),
        }
    }

    /// `/Account/Passkeys?notice=<code>`.
    pub fn url(self) -> String {
        format!("{PATH}?notice={}", self.code())
    }
}

/// One passkey in the list.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PasskeyRow {
    /// Authsignal's authenticator id (the remove form's value).
    pub id: String,
    /// The name (from the AAGUID, e.g. "Google Password Manager"), or "Passkey".
    pub name: String,
    /// When it was added.
    pub created: String,
    /// When it was last used, or "never".
    pub last_used: String,
}

/// Context of `account/passkeys.html`.
#[derive(Debug, Serialize)]
pub struct PasskeysPage {
    /// CSRF token of the forms.
    pub csrf_token: String,
    /// Who is signed in.
    pub username: String,
    /// The passkeys.
    pub passkeys: Vec<PasskeyRow>,
    /// Whether removing one would leave another authenticator.
    pub can_remove: bool,
    /// Whether "Add a passkey" starts with a step-up challenge.
    pub needs_step_up: bool,
    /// The list could not be read.
    pub unavailable: bool,
    /// A notice after a form.
    pub notice: Option<String>,
    /// An error after a form.
    pub error: Option<String>,
}

/// Context of `account/passkey_add.html`.
#[derive(Debug, Serialize)]
pub struct PasskeyAddPage {
    /// CSRF token of the result form.
    pub csrf_token: String,
    /// The Client API base (including `/v1`).
    pub client_api_url: String,
    /// The track token (Bearer) for registration options and the new authenticator.
    pub token: String,
    /// The username, for the authenticator's account list.
    pub username: String,
    /// The display name.
    pub display_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PageQuery {
    notice: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    csrf_token: String,
    token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoveForm {
    csrf_token: String,
    id: String,
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A passkey authenticator of the list.
fn is_passkey(a: &UserAuthenticator) -> bool {
    a.verification_method == VerificationMethod::Passkey
}

/// Authenticators that can confirm a sign-in on their own (recovery codes are a fallback, not
/// a way the user chose; they never count as "another authenticator").
fn counts_as_authenticator(a: &UserAuthenticator) -> bool {
    a.verification_method != VerificationMethod::RecoveryCode
}

/// `2025-06-01 14:03 UTC` from an ISO-8601 time; the raw text when it does not parse.
fn when(iso: Option<&str>) -> String {
    match iso {
        None => "never".into(),
        Some(raw) => chrono::DateTime::parse_from_rfc3339(raw)
            .map(|t| {
                t.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%d %H:%M UTC")
                    .to_string()
            })
            .unwrap_or_else(|_| raw.chars().take(40).collect()),
    }
}

/// The rows of the list, newest first.
pub fn rows(authenticators: &[UserAuthenticator]) -> Vec<PasskeyRow> {
    let mut passkeys: Vec<&UserAuthenticator> =
        authenticators.iter().filter(|a| is_passkey(a)).collect();
    passkeys.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    passkeys
        .into_iter()
        .map(|a| {
            let credential = a.webauthn_credential.as_ref();
            let name = credential
                .and_then(|c| c.name.clone())
                .or_else(|| {
                    credential
                        .and_then(|c| c.aaguid_mapping.as_ref())
                        .and_then(|m| m.name.clone())
                })
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "Passkey".into());
            PasskeyRow {
                id: a.user_authenticator_id.clone(),
                name: name.chars().take(100).collect(),
                created: when(a.created_at.as_deref()),
                last_used: when(a.last_verified_at.as_deref()),
            }
        })
        .collect()
}

/// Whether the session's last second factor is recent enough to add a passkey at `now`.
pub fn is_fresh(session: &Session, now: i64, max_age_secs: u64) -> bool {
    let max_age = i64::try_from(max_age_secs).unwrap_or(i64::MAX);
    session
        .last_second_factor()
        .is_some_and(|at| now.saturating_sub(at) <= max_age)
}

/// The signed-in session, or the "not signed in" page.
async fn session_or_refusal(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Result<Session, HttpResponse>, AppError> {
    if !state.account.settings.passkeys.enabled {
        return Err(AppError::NotFound);
    }
    match crate::signin::load_session(state, req).await? {
        Some(session) => Ok(Ok(session)),
        None => Ok(Err(super::mfa::not_signed_in(state)?)),
    }
}

/// `GET /Account/Passkeys`.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: PageQuery = parse_query(&req)?;
    let session = match session_or_refusal(&state, &req).await? {
        Ok(session) => session,
        Err(page) => return Ok(page),
    };
    let Some(user) = state.users.find_by_subject(&session.subject).await? else {
        return super::mfa::not_signed_in(&state);
    };
    let listed = state
        .account
        .authsignal
        .get_authenticators(&session.subject)
        .await;
    let (passkeys, others, unavailable) = match &listed {
        Ok(list) => (
            rows(list),
            list.iter().filter(|a| counts_as_authenticator(a)).count(),
            false,
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot list the user's authenticators");
            (Vec::new(), 0, true)
        }
    };
    let (notice, error) = match PasskeyNotice::parse(&query.notice).map(PasskeyNotice::text) {
        Some((text, true)) => (None, Some(text.to_owned())),
        Some((text, false)) => (Some(text.to_owned()), None),
        None => (None, None),
    };
    let csrf = crate::csrf::issue(&state, &req);
    let page = PasskeysPage {
        csrf_token: csrf.token,
        username: user.username,
        passkeys,
        can_remove: others > 1,
        needs_step_up: !is_fresh(
            &session,
            crate::oidc::now(),
            state.account.settings.passkeys.step_up_max_age_secs,
        ),
        unavailable,
        notice,
        error,
    };
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    render_page(&state, "account/passkeys.html", &page, status, csrf.cookie)
}

/// `POST /Account/Passkeys/Add`: a step-up first, or the page that creates the passkey.
pub async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: CsrfForm = parse_form(&body)?;
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("add-passkey form rejected: missing or wrong csrf token");
        return csrf_failure(&state, Some(PATH.into()));
    }
    let session = match session_or_refusal(&state, &req).await? {
        Ok(session) => session,
        Err(page) => return Ok(page),
    };
    let Some(user) = state.users.find_by_subject(&session.subject).await? else {
        return super::mfa::not_signed_in(&state);
    };
    let settings = &state.account.settings;
    let attributes = |redirect_url: Option<String>, scope: Option<String>| TrackAttributes {
        redirect_url,
        scope,
        username: Some(user.username.clone()),
        email: user.email.clone(),
        ip_address: Some(client_ip(&req)),
        user_agent: user_agent(&req),
        idempotency_key: Some(uuid::Uuid::new_v4().to_string()),
        ..Default::default()
    };

    if !is_fresh(
        &session,
        crate::oidc::now(),
        settings.passkeys.step_up_max_age_secs,
    ) {
        // The existing Manage-MFA challenge, without the settings screen.
        let action = &settings.authsignal.manage_mfa_action_code;
        let answer = state
            .account
            .authsignal
            .track(
                &user.subject,
                action,
                &attributes(Some(own_url(&state, super::mfa::CALLBACK_PATH)), None),
            )
            .await;
        return match decide_manage_mfa(answer.as_ref()) {
            Decision::Enroll { .. } => {
                // Nothing enrolled to step up with: an enrollment with this session alone would
                // prove nothing more than the session does, so it cannot stand for a step-up.
                tracing::warn!(subject = %user.subject, "step-up before adding a passkey for a user without an authenticator: refused");
                refusal(
                    &state,
                    &req,
                    &user.subject,
                    &Decision::Block,
                    back_to_passkeys(),
                    back_to_passkeys(),
                )
            }
            Decision::Challenge {
                url,
                idempotency_key,
            } => {
                // Counted against the account's budget like a login's challenge; forgiven at
                // the callback when it passes.
                if let Some(blocked) =
                    super::budget::start_page_challenge(&state, &user.subject, back_to_passkeys())
                        .await?
                {
                    return Ok(blocked);
                }
                tracing::info!(subject = %user.subject, "step-up challenge before adding a passkey");
                let transaction = LoginTransaction::new(
                    user.subject.clone(),
                    action.clone(),
                    idempotency_key,
                    Purpose::StepUp {
                        sid: session.sid.clone(),
                        authorize_request_id: None,
                    },
                    settings.transaction.lifetime(),
                );
                redirect_to_challenge(&state, transaction, &url).await
            }
            other => refusal(
                &state,
                &req,
                &user.subject,
                &other,
                back_to_passkeys(),
                back_to_passkeys(),
            ),
        };
    }

    let Some(origin) = settings.authsignal.client_api_origin() else {
        return Err(AppError::internal(
            "account.authsignal.client_api_url has no https origin",
        ));
    };
    let action = &settings.passkeys.add_action_code;
    let answer = state
        .account
        .authsignal
        .track(
            &user.subject,
            action,
            &attributes(None, Some("add:authenticators".into())),
        )
        .await;
    let tracked = match decide_add_passkey(answer.as_ref()) {
        Ok(tracked) => tracked,
        Err(decision) => {
            return refusal(
                &state,
                &req,
                &user.subject,
                &decision,
                back_to_passkeys(),
                back_to_passkeys(),
            );
        }
    };
    let lifetime = settings.passkeys.transaction_lifetime();
    let transaction = LoginTransaction::new(
        user.subject.clone(),
        action.clone(),
        tracked.idempotency_key,
        Purpose::AddPasskey {
            sid: session.sid.clone(),
        },
        lifetime,
    );
    state.account.transactions.insert(&transaction).await?;
    let csrf = crate::csrf::issue(&state, &req);
    let page = PasskeyAddPage {
        csrf_token: csrf.token,
        client_api_url: settings.authsignal.client_api_base().to_owned(),
        token: tracked.token,
        display_name: user.name.clone().unwrap_or_else(|| user.username.clone()),
        username: user.username.clone(),
    };
    let mut response = render_page(
        &state,
        "account/passkey_add.html",
        &page,
        StatusCode::OK,
        csrf.cookie,
    )?;
    response
        .add_cookie(&add_cookie(&transaction.id, lifetime))
        .map_err(AppError::internal)?;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&crate::routes::passkey_csp(&origin)).map_err(AppError::internal)?,
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// The cookie binding an add-passkey transaction to this browser.
fn add_cookie(id: &TransactionId, lifetime: std::time::Duration) -> Cookie<'static> {
    Cookie::build(ADD_COOKIE, id.as_str().to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

fn add_removal_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(ADD_COOKIE, "")
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

/// `POST /Account/Passkeys/Added`: the result token of the script.
pub async fn added(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut response = confirm(&state, &req, &body)
        .await
        .unwrap_or_else(|e| e.error_response());
    if let Err(e) = response.add_cookie(&add_removal_cookie()) {
        tracing::error!(error = %e, "cannot set the add-passkey removal cookie");
    }
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn confirm(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, AppError> {
    // Single use: out of the store before anything else.
    let taken = match req
        .cookie(ADD_COOKIE)
        .and_then(|c| TransactionId::parse(c.value()))
    {
        Some(id) => state.account.transactions.take(&id).await?,
        None => None,
    };
    let form: TokenForm = parse_form(body)?;
    if !crate::csrf::verify(state, req, &form.csrf_token) {
        tracing::warn!("add-passkey result rejected: missing or wrong csrf token");
        return csrf_failure(state, Some(PATH.into()));
    }
    let session = match session_or_refusal(state, req).await? {
        Ok(session) => session,
        Err(page) => return Ok(page),
    };
    let bound = taken.filter(|t| {
        matches!(&t.purpose, Purpose::AddPasskey { sid } if *sid == session.sid)
            && t.subject == session.subject
    });
    let Some(transaction) = bound else {
        tracing::warn!(subject = %session.subject, "add-passkey result without this session's transaction");
        return Ok(see_other(&PasskeyNotice::AddFailed.url()));
    };
    if form.token.is_empty() || form.token.len() > MAX_FIELD_BYTES {
        return Ok(see_other(&PasskeyNotice::AddFailed.url()));
    }
    let request = ValidateChallengeRequest {
        token: form.token,
        user_id: Some(transaction.subject.clone()),
        action: Some(transaction.action.clone()),
    };
    let answer = state.account.authsignal.validate_challenge(&request).await;
    let verdict = check_passkey_validation(
        answer.as_ref(),
        ExpectedPasskey {
            user_id: Some(&transaction.subject),
            action: &transaction.action,
            idempotency_key: &transaction.idempotency_key,
        },
    );
    Ok(match verdict {
        Ok(_) => {
            tracing::info!(subject = %transaction.subject, "passkey added");
            state.notices.notify(
                &transaction.subject,
                crate::notices::NoticeKind::AuthenticatorAdded { method: "Passkey" },
            );
            see_other(&PasskeyNotice::Added.url())
        }
        Err(rejection) if rejection.is_unavailable() => {
            tracing::warn!(reason = %rejection, "authsignal unavailable confirming a new passkey");
            see_other(&PasskeyNotice::Unavailable.url())
        }
        Err(rejection) => {
            tracing::warn!(subject = %transaction.subject, reason = %rejection, "new passkey not confirmed");
            see_other(&PasskeyNotice::AddFailed.url())
        }
    })
}

/// `POST /Account/Passkeys/Remove`.
pub async fn remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: RemoveForm = parse_form(&body)?;
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("remove-passkey form rejected: missing or wrong csrf token");
        return csrf_failure(&state, Some(PATH.into()));
    }
    let session = match session_or_refusal(&state, &req).await? {
        Ok(session) => session,
        Err(page) => return Ok(page),
    };
    if form.id.is_empty() || form.id.len() > MAX_FIELD_BYTES {
        return Ok(see_other(&PasskeyNotice::NotFound.url()));
    }
    let authsignal = &state.account.authsignal;
    let list = match authsignal.get_authenticators(&session.subject).await {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "cannot list the user's authenticators");
            return Ok(see_other(&PasskeyNotice::Unavailable.url()));
        }
    };
    // Only one of this user's passkeys: another user's id, or another method's, is "not found".
    if !list
        .iter()
        .any(|a| is_passkey(a) && a.user_authenticator_id == form.id)
    {
        return Ok(see_other(&PasskeyNotice::NotFound.url()));
    }
    if list.iter().filter(|a| counts_as_authenticator(a)).count() <= 1 {
        tracing::info!(subject = %session.subject, "refused to remove the last authenticator");
        return Ok(see_other(&PasskeyNotice::Last.url()));
    }
    match authsignal
        .delete_authenticator(&session.subject, &form.id)
        .await
    {
        Ok(()) => {
            tracing::info!(subject = %session.subject, "passkey removed");
            state.notices.notify(
                &session.subject,
                crate::notices::NoticeKind::AuthenticatorRemoved { method: "Passkey" },
            );
            Ok(see_other(&PasskeyNotice::Removed.url()))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot remove a passkey");
            Ok(see_other(&PasskeyNotice::Unavailable.url()))
        }
    }
}

/// Records a passed step-up challenge in the session it was for: its `step_up_at` becomes now.
/// `false` when this browser's session is not that one any more (signed out or another user).
pub async fn record_step_up(
    state: &AppState,
    req: &HttpRequest,
    sid: &str,
    subject: &str,
) -> Result<bool, crate::store::StoreError> {
    let Some(cookie) = req.cookie(crate::signin::SESSION_COOKIE) else {
        return Ok(false);
    };
    let Some(mut session) = crate::signin::load_session(state, req).await? else {
        return Ok(false);
    };
    if session.sid != sid || session.subject != subject {
        return Ok(false);
    }
    session.step_up_at = Some(crate::oidc::now());
    let expires_at = session
        .created
        .saturating_add(state.settings.session.absolute_timeout_secs);
    // The same key: the record is replaced, the session (and its `sid`) stays; a session ended
    // since it was read is not brought back.
    let key = crate::signin::session_key(cookie.value());
    state
        .stores
        .sessions
        .replace(&key, &key, &session, expires_at)
        .await
}

/// "Try again" and "back" of a refusal page on the passkeys page: both lead back to the list.
fn back_to_passkeys() -> (String, String) {
    (PATH.to_owned(), "Back to your passkeys".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use authsignal_sdk::{AaguidMapping, WebauthnCredential};

    fn authenticator(id: &str, method: VerificationMethod, created: &str) -> UserAuthenticator {
        UserAuthenticator {
            user_id: "sub-1".into(),
            user_authenticator_id: id.into(),
            verification_method: method,
            created_at: Some(created.into()),
            verified_at: None,
            last_verified_at: None,
            is_default: None,
            email: None,
            phone_number: None,
            username: None,
            display_name: None,
            previous_sms_channel: None,
            webauthn_credential: None,
        }
    }

    fn session(amr: &[&str], auth_time: i64, step_up_at: Option<i64>) -> Session {
        Session {
            sid: "sid".into(),
            subject: "sub-1".into(),
            auth_time,
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
            remember: false,
            created: auth_time,
            last_seen: auth_time,
            step_up_at,
            clients: Vec::new(),
            device: Default::default(),
        }
    }

    #[test]
    fn the_list_shows_passkeys_only_newest_first_named_from_the_aaguid() {
        let mut named = authenticator(
            "pk-1",
            VerificationMethod::Passkey,
            "2025-06-01T14:03:09.123Z",
        );
        named.last_verified_at = Some("2025-06-02T08:00:00Z".into());
        named.webauthn_credential = Some(WebauthnCredential {
            credential_id: "c1".into(),
            name: Some("Google Password Manager".into()),
            ..Default::default()
        });
        let mut mapped = authenticator("pk-2", VerificationMethod::Passkey, "2025-07-01T00:00:00Z");
        mapped.webauthn_credential = Some(WebauthnCredential {
            credential_id: "c2".into(),
            aaguid_mapping: Some(AaguidMapping {
                name: Some("iCloud Keychain".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let unnamed = authenticator("pk-3", VerificationMethod::Passkey, "not a time");
        let totp = authenticator(
            "totp-1",
            VerificationMethod::AuthenticatorApp,
            "2025-01-01T00:00:00Z",
        );
        let list = rows(&[named, totp, mapped, unnamed]);
        let ids: Vec<&str> = list.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["pk-3", "pk-2", "pk-1"]);
        assert_eq!(list[2].name, "Google Password Manager");
        assert_eq!(list[2].created, "2025-06-01 14:03 UTC");
        assert_eq!(list[2].last_used, "2025-06-02 08:00 UTC");
        assert_eq!(list[1].name, "iCloud Keychain");
        assert_eq!(list[1].last_used, "never");
        assert_eq!(list[0].name, "Passkey");
        assert_eq!(list[0].created, "not a time");
    }

    #[test]
    fn recovery_codes_do_not_count_as_another_authenticator() {
        assert!(!counts_as_authenticator(&authenticator(
            "r",
            VerificationMethod::RecoveryCode,
            "x"
        )));
        assert!(counts_as_authenticator(&authenticator(
            "p",
            VerificationMethod::Passkey,
            "x"
        )));
    }

    #[test]
    fn a_session_is_fresh_for_ten_minutes_after_its_last_second_factor() {
        let now = 10_000;
        assert!(is_fresh(
            &session(&["pwd", "mfa", "otp"], now - 600, None),
            now,
            600
        ));
        assert!(!is_fresh(
            &session(&["pwd", "mfa", "otp"], now - 601, None),
            now,
            600
        ));
        // A password-only sign-in (an ALLOW rule) was no second factor at all.
        assert!(!is_fresh(&session(&["pwd"], now, None), now, 600));
        // A step-up refreshes it.
        assert!(is_fresh(
            &session(&["pwd"], now - 5000, Some(now - 10)),
            now,
            600
        ));
        assert!(is_fresh(
            &session(&["pop", "swk", "mfa"], now - 5, None),
            now,
            600
        ));
    }

    #[test]
    fn notices_round_trip_and_unknown_ones_are_ignored() {
        for n in PasskeyNotice::ALL {
            assert_eq!(PasskeyNotice::parse(n.code()), Some(n));
            assert!(n.url().starts_with("/Account/Passkeys?notice="));
        }
        assert_eq!(PasskeyNotice::parse("<b>x</b>"), None);
    }

    #[test]
    fn the_add_cookie_is_host_prefixed_and_distinct() {
        let id = TransactionId::generate();
        let c = add_cookie(&id, std::time::Duration::from_secs(300));
        assert_eq!(c.name(), ADD_COOKIE);
        assert!(c.name().starts_with("__Host-"));
        assert_ne!(c.name(), super::super::passkey_login::COOKIE_NAME);
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(
            add_removal_cookie().max_age(),
            Some(actix_web::cookie::time::Duration::ZERO)
        );
    }
}
