//! `/Account/Mfa`: "Manage two-step verification" for a signed-in user.
//!
//! `GET` shows the user's authenticators (read through the Server API, dates in words) and, after
//! a visit to the settings, what changed. `POST` tracks the manage-MFA action with
//! `redirectToSettings: true`, stores a login transaction of purpose [`Purpose::ManageMfa`]
//! (with the authenticators seen before, so that the page afterwards can say what changed) and
//! sends the browser to Authsignal, where a fresh challenge precedes the authenticator settings.
//! The callback (`/Account/Mfa/Callback`) validates the result like the login callback and comes
//! back here with the changes as a fixed vocabulary (`?result=saved&added=..&removed=..`, method
//! names only), like the login page's `?notice=`: no free text from the URL reaches the page.
//! Email self-service is off by default (`account.email_self_service`): the page says so, and an
//! email factor added at the hosted settings anyway is deleted again ([`after_settings`]).
//! Every authenticator added or removed at the settings, and new recovery codes made there,
//! send a notice to the account's email ([`crate::notices`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use authsignal_sdk::{TrackAttributes, UserAuthenticator, VerificationMethod};
use serde::{Deserialize, Serialize};

use super::decision::{Decision, decide_manage_mfa};
use super::login::{challenge_custom, own_url, redirect_to_challenge, refusal};
use super::pages::{
    NoticePage, client_ip, csrf_failure, notice, parse_form, parse_query, render_page, user_agent,
};
use super::transaction::{KnownAuthenticator, LoginTransaction, Purpose};
use crate::error::AppError;
use crate::state::AppState;

/// Path of the page.
pub const PAGE_PATH: &str = "/Account/Mfa";
/// The application a Manage-MFA challenge names on the hosted page (`custom.clientName`).
const MANAGE_MFA_APPLICATION: &str = "Two-step verification settings";
/// Path of the callback after the settings.
pub const CALLBACK_PATH: &str = "/Account/Mfa/Callback";

#[derive(Deserialize, Default)]
#[serde(default)]
struct MfaForm {
    csrf_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MfaQuery {
    result: String,
    added: String,
    removed: String,
    refused: String,
}

/// One authenticator on the page.
#[derive(Debug, Serialize)]
pub struct AuthenticatorRow {
    /// "Authenticator app", "Email code", ...
    pub label: &'static str,
    /// The address of an email or SMS authenticator.
    pub detail: Option<String>,
    /// "added 3 days ago".
    pub added: Option<String>,
    /// "last used just now".
    pub last_used: Option<String>,
}

/// What the last visit to the settings did.
#[derive(Debug, Default, Serialize)]
pub struct MfaResult {
    /// The settings were saved ("Done").
    pub saved: bool,
    /// The person left the settings without a result.
    pub cancelled: bool,
    /// Labels of the methods added.
    pub added: Vec<&'static str>,
    /// Labels of the methods removed.
    pub removed: Vec<&'static str>,
    /// Labels of the methods added at the settings but removed again by this server (email
    /// without email self-service).
    pub refused: Vec<&'static str>,
}

/// Context of `account/mfa.html`.
#[derive(Debug, Serialize)]
pub struct MfaPage {
    /// CSRF token of the "change" form.
    pub csrf_token: String,
    /// Who is signed in.
    pub username: String,
    /// The authenticators, when they could be read.
    pub authenticators: Vec<AuthenticatorRow>,
    /// Authsignal could not be asked.
    pub load_failed: bool,
    /// The outcome of the last visit to the settings, if the page follows one.
    pub result: Option<MfaResult>,
    /// Whether an email address may be added as a factor (`account.email_self_service`).
    pub email_self_service: bool,
}

/// The label of a method, for people.
pub fn method_label(method: &VerificationMethod) -> &'static str {
    match method {
        VerificationMethod::AuthenticatorApp => "Authenticator app",
        VerificationMethod::EmailOtp => "Email code",
        VerificationMethod::EmailMagicLink => "Email link",
        VerificationMethod::Sms => "Text message code",
        VerificationMethod::Whatsapp => "WhatsApp code",
        VerificationMethod::Passkey => "Passkey",
        VerificationMethod::SecurityKey => "Security key",
        VerificationMethod::RecoveryCode => "Recovery codes",
        VerificationMethod::Push => "Push notification",
        _ => "Other method",
    }
}

/// Parses `AUTHENTICATOR_APP,EMAIL_OTP` into labels; anything unknown is dropped.
fn labels_of(list: &str) -> Vec<&'static str> {
    list.split(',')
        .take(10)
        .map(VerificationMethod::from_wire)
        .filter(|m| !m.is_unknown())
        .map(|m| method_label(&m))
        .collect()
}

fn parse_result(query: &MfaQuery) -> Option<MfaResult> {
    match query.result.as_str() {
        "saved" => Some(MfaResult {
            saved: true,
            added: labels_of(&query.added),
            removed: labels_of(&query.removed),
            refused: labels_of(&query.refused),
            ..Default::default()
        }),
        "cancelled" => Some(MfaResult {
            cancelled: true,
            ..Default::default()
        }),
        _ => None,
    }
}

/// Seconds since the epoch of an ISO-8601 time from the API.
fn unix(iso: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(iso?)
        .ok()
        .map(|t| t.timestamp())
}

fn row(a: &UserAuthenticator, now: i64) -> AuthenticatorRow {
    let words = |t: Option<&str>| unix(t).map(|t| crate::templates::ago_in_words(t, now));
    AuthenticatorRow {
        label: method_label(&a.verification_method),
        detail: a.email.clone().or_else(|| a.phone_number.clone()),
        added: words(a.created_at.as_deref()),
        last_used: words(a.last_verified_at.as_deref()),
    }
}

/// What changed between two lists of authenticators: (added methods, removed methods), as the
/// comma-separated wire names the page's query carries.
pub fn changes(before: &[KnownAuthenticator], after: &[UserAuthenticator]) -> (String, String) {
    let added: Vec<&str> = after
        .iter()
        .filter(|a| !before.iter().any(|b| b.id == a.user_authenticator_id))
        .map(|a| a.verification_method.as_str())
        .collect();
    let removed: Vec<&str> = before
        .iter()
        .filter(|b| !after.iter().any(|a| a.user_authenticator_id == b.id))
        .map(|b| b.method.as_str())
        .collect();
    (added.join(","), removed.join(","))
}

/// Where the Manage-MFA callback sends the browser after the settings: this page, saying what
/// changed. The callback also runs it when the browser comes back without a result or with a
/// rejected token (it then ignores the location): what was changed is enforced and told all
/// the same. Without email self-service (`account.email_self_service = false`) an email factor
/// added at the settings is deleted again through the Server API (a real tenant may offer email
/// in its pre-built UI whatever this server wants; this is where the server enforces it), and
/// the page says so (`refused=EMAIL_OTP`). `Err` only when such a factor could not be deleted:
/// fail closed, the page must not say "saved" while it stays.
pub async fn after_settings(
    state: &AppState,
    subject: &str,
    before: Option<&Vec<KnownAuthenticator>>,
) -> Result<String, AppError> {
    let Some(before) = before else {
        return Ok(format!("{PAGE_PATH}?result=saved"));
    };
    let after = match state.account.authsignal.get_authenticators(subject).await {
        Ok(after) => after,
        Err(e) => {
            tracing::warn!(subject, error = %e, "the authenticators could not be read after the settings: changes are neither enforced nor told");
            return Ok(format!("{PAGE_PATH}?result=saved"));
        }
    };
    enforce_and_tell(state, subject, before, after).await
}

/// [`after_settings`] with the authenticators as they are now, already read.
async fn enforce_and_tell(
    state: &AppState,
    subject: &str,
    before: &[KnownAuthenticator],
    after: Vec<UserAuthenticator>,
) -> Result<String, AppError> {
    let mut location = format!("{PAGE_PATH}?result=saved");
    let mut kept = Vec::with_capacity(after.len());
    let mut refused = false;
    for a in after {
        let added = !before.iter().any(|b| b.id == a.user_authenticator_id);
        if added && !state.account.settings.email_self_service && is_email(&a.verification_method) {
            tracing::warn!(
                subject,
                "email factor added at the settings removed: email self-service is off"
            );
            state
                .account
                .authsignal
                .delete_authenticator(subject, &a.user_authenticator_id)
                .await
                .map_err(AppError::internal)?;
            refused = true;
            continue;
        }
        kept.push(a);
    }
    notify_changes(state, subject, before, &kept);
    let (added, removed) = changes(before, &kept);
    location.push_str(&format!("&added={added}&removed={removed}"));
    if refused {
        location.push_str("&refused=EMAIL_OTP");
    }
    Ok(location)
}

/// A Manage-MFA callback whose transaction is gone (used up by an earlier visit without a token,
/// or expired) in a browser signed in as `subject`. If `token` proves a passed manage-MFA action
/// of this subject, the authenticators created since that action started are the ones these
/// settings added: they are enforced and told as at [`after_settings`]. Without the snapshot the
/// transaction kept, a removal cannot be seen here. A token that proves nothing, or Authsignal
/// not answering, changes nothing (logged); `Err` only when a refused email factor could not be
/// deleted (fail closed).
pub async fn reconcile_without_transaction(
    state: &AppState,
    subject: &str,
    token: String,
) -> Result<(), AppError> {
    let action = state
        .account
        .settings
        .authsignal
        .manage_mfa_action_code
        .clone();
    let authsignal = &state.account.authsignal;
    let request = authsignal_sdk::ValidateChallengeRequest {
        token,
        user_id: Some(subject.to_owned()),
        action: Some(action.clone()),
    };
    let answer = authsignal.validate_challenge(&request).await;
    let key = answer
        .as_ref()
        .ok()
        .and_then(|a| a.idempotency_key.clone())
        .unwrap_or_default();
    let verdict = super::decision::check_validation(
        answer.as_ref(),
        super::decision::Expected {
            user_id: subject,
            action: &action,
            idempotency_key: &key,
        },
    );
    if let Err(rejection) = verdict {
        tracing::info!(subject, reason = %rejection, "manage-mfa callback without a transaction: the token proves no settings of this account");
        return Ok(());
    }
    let started = match authsignal.get_action(subject, &action, &key).await {
        Ok(a) => a.created_at.as_deref().and_then(parse_time),
        Err(e) => {
            tracing::warn!(subject, error = %e, "the manage-mfa action could not be read: its changes are neither enforced nor told");
            return Ok(());
        }
    };
    let Some(started) = started else {
        tracing::warn!(
            subject,
            "the manage-mfa action has no creation time: its changes are neither enforced nor told"
        );
        return Ok(());
    };
    let now = match authsignal.get_authenticators(subject).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(subject, error = %e, "the authenticators could not be read: changes are neither enforced nor told");
            return Ok(());
        }
    };
    // Created before the action started (or of unknown age: never taken for new): not added
    // by these settings.
    let before: Vec<KnownAuthenticator> = now
        .iter()
        .filter(|a| {
            a.created_at
                .as_deref()
                .and_then(parse_time)
                .is_none_or(|created| created < started)
        })
        .map(|a| KnownAuthenticator {
            method: a.verification_method.as_str().to_owned(),
            id: a.user_authenticator_id.clone(),
        })
        .collect();
    // The list just read is the "after": no second read.
    enforce_and_tell(state, subject, &before, now)
        .await
        .map(drop)
}

/// An RFC 3339 time of the Server API.
fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The hosted settings of `transaction` made new recovery codes: the account's owner is told.
/// The Server API's `getAction` says so only on the emulator (`output.recoveryCodesRegenerated`,
/// an emulator extension); whether a real tenant's answer shows it is UNVERIFIED, and without
/// the field nothing is sent. A failed read sends nothing (logged): the settings were saved
/// all the same.
pub async fn notify_regenerated_codes(state: &AppState, transaction: &LoginTransaction) {
    let answer = state
        .account
        .authsignal
        .get_action(
            &transaction.subject,
            &transaction.action,
            &transaction.idempotency_key,
        )
        .await;
    match answer {
        Ok(action) => {
            let regenerated = action
                .output
                .as_ref()
                .and_then(|o| o.get("recoveryCodesRegenerated"))
                .and_then(serde_json::Value::as_bool);
            if regenerated == Some(true) {
                state.notices.notify(
                    &transaction.subject,
                    crate::notices::NoticeKind::RecoveryCodesRegenerated,
                );
            }
        }
        Err(e) => {
            tracing::warn!(subject = %transaction.subject, error = %e, "the manage-mfa action could not be read: new recovery codes, if any, are not noticed");
        }
    }
}

/// Tells the account's owner of every authenticator added or removed since `before` (the
/// snapshot the transaction kept when the settings were opened). A change made in a tab that
/// never comes back to the callback is not seen here.
fn notify_changes(
    state: &AppState,
    subject: &str,
    before: &[KnownAuthenticator],
    after: &[UserAuthenticator],
) {
    use crate::notices::NoticeKind;
    for a in after
        .iter()
        .filter(|a| !before.iter().any(|b| b.id == a.user_authenticator_id))
    {
        let method = method_label(&a.verification_method);
        state
            .notices
            .notify(subject, NoticeKind::AuthenticatorAdded { method });
    }
    for b in before
        .iter()
        .filter(|b| !after.iter().any(|a| a.user_authenticator_id == b.id))
    {
        let method = method_label(&VerificationMethod::from_wire(&b.method));
        state
            .notices
            .notify(subject, NoticeKind::AuthenticatorRemoved { method });
    }
}

/// Whether a method sends codes or links to an email address.
fn is_email(method: &VerificationMethod) -> bool {
    matches!(
        method,
        VerificationMethod::EmailOtp | VerificationMethod::EmailMagicLink
    )
}

/// The page for a form that needs a signed-in session (401).
pub(crate) fn not_signed_in(state: &AppState) -> Result<HttpResponse, AppError> {
    let (url, text) = crate::templates::start_again(&state.clients);
    notice(
        state,
        StatusCode::UNAUTHORIZED,
        &NoticePage {
            title: "Sign in first".into(),
            message: "Sign in to an application first; then you can manage your two-step verification and passkeys here.".into(),
            is_error: true,
            reference: None,
            link_url: Some(url),
            link_text: text.replace("Start again at", "Sign in at"),
        },
    )
}

/// `GET /Account/Mfa`.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: MfaQuery = parse_query(&req)?;
    let Some(session) = crate::signin::current_session(&state, &req).await? else {
        return not_signed_in(&state);
    };
    let Some(user) = state.users.find_by_subject(&session.subject).await? else {
        return not_signed_in(&state);
    };
    let now = crate::oidc::now();
    let (authenticators, load_failed) = match state
        .account
        .authsignal
        .get_authenticators(&user.subject)
        .await
    {
        Ok(list) => (list.iter().map(|a| row(a, now)).collect(), false),
        Err(e) => {
            tracing::warn!(error = %e, "authenticators could not be read for the manage-mfa page");
            (Vec::new(), true)
        }
    };
    let csrf = crate::csrf::issue(&state, &req);
    let page = MfaPage {
        csrf_token: csrf.token,
        username: user.username.clone(),
        authenticators,
        load_failed,
        result: parse_result(&query),
        email_self_service: state.account.settings.email_self_service,
    };
    render_page(
        &state,
        "account/mfa.html",
        &page,
        StatusCode::OK,
        csrf.cookie,
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
        return csrf_failure(&state, Some(PAGE_PATH.into()));
    }
    let Some(session) = crate::signin::current_session(&state, &req).await? else {
        return not_signed_in(&state);
    };
    let Some(user) = state.users.find_by_subject(&session.subject).await? else {
        return not_signed_in(&state);
    };

    let settings = &state.account.settings;
    let action = &settings.authsignal.manage_mfa_action_code;
    // What the page afterwards compares with. Without email self-service it is needed to tell
    // an email factor added now from one enrolled before: no settings without it (fail closed).
    let before = state
        .account
        .authsignal
        .get_authenticators(&user.subject)
        .await;
    if let Err(e) = &before
        && !settings.email_self_service
    {
        tracing::warn!(error = %e, "manage-mfa refused: the authenticators could not be read");
        let back = (
            PAGE_PATH.to_owned(),
            "Back to two-step verification".to_owned(),
        );
        let reason = super::decision::FailReason::from(e);
        return refusal(
            &state,
            &req,
            &user.subject,
            &Decision::Fail(reason),
            back.clone(),
            back,
        );
    }
    let before = before.ok().map(|list| {
        list.into_iter()
            .map(|a| KnownAuthenticator {
                method: a.verification_method.as_str().to_owned(),
                id: a.user_authenticator_id,
            })
            .collect()
    });
    let attributes = TrackAttributes {
        redirect_to_settings: Some(true),
        redirect_url: Some(own_url(&state, CALLBACK_PATH)),
        username: Some(user.username.clone()),
        email: user.email.clone(),
        ip_address: Some(client_ip(&req)),
        user_agent: user_agent(&req),
        custom: Some(challenge_custom(MANAGE_MFA_APPLICATION)),
        idempotency_key: Some(uuid::Uuid::new_v4().to_string()),
        ..Default::default()
    };
    let answer = state
        .account
        .authsignal
        .track(&user.subject, action, &attributes)
        .await;
    let decision = decide_manage_mfa(answer.as_ref());
    if matches!(decision, Decision::Challenge { .. }) {
        // A code to guess like a login's challenge: counted against the account's budget and
        // forgiven at the callback when it passes.
        let back = (
            PAGE_PATH.to_owned(),
            "Back to two-step verification".to_owned(),
        );
        if let Some(blocked) =
            super::budget::start_page_challenge(&state, &user.subject, back).await?
        {
            return Ok(blocked);
        }
    }
    match decision {
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
                Purpose::ManageMfa { before },
                settings.transaction.lifetime(),
            );
            redirect_to_challenge(&state, transaction, &url).await
        }
        other => {
            let back = (
                PAGE_PATH.to_owned(),
                "Back to two-step verification".to_owned(),
            );
            refusal(&state, &req, &user.subject, &other, back.clone(), back)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(id: &str, method: VerificationMethod) -> UserAuthenticator {
        serde_json::from_value(serde_json::json!({
            "userId": "u", "userAuthenticatorId": id, "verificationMethod": method.as_str(),
        }))
        .unwrap()
    }

    #[test]
    fn changes_name_the_methods_added_and_removed() {
        let before = vec![
            KnownAuthenticator {
                id: "a".into(),
                method: "AUTHENTICATOR_APP".into(),
            },
            KnownAuthenticator {
                id: "b".into(),
                method: "EMAIL_OTP".into(),
            },
        ];
        let after = vec![
            authenticator("b", VerificationMethod::EmailOtp),
            authenticator("c", VerificationMethod::AuthenticatorApp),
        ];
        assert_eq!(
            changes(&before, &after),
            (
                "AUTHENTICATOR_APP".to_owned(),
                "AUTHENTICATOR_APP".to_owned()
            )
        );
        assert_eq!(changes(&[], &[]), (String::new(), String::new()));
    }

    #[test]
    fn only_known_method_names_from_the_url_reach_the_page() {
        let result = parse_result(&MfaQuery {
            result: "saved".into(),
            added: "AUTHENTICATOR_APP,<script>,EMAIL_OTP".into(),
            removed: String::new(),
            refused: String::new(),
        })
        .unwrap();
        assert_eq!(result.added, vec!["Authenticator app", "Email code"]);
        assert!(result.removed.is_empty());
        assert!(
            parse_result(&MfaQuery {
                result: "hacked".into(),
                ..Default::default()
            })
            .is_none()
        );
    }
}
