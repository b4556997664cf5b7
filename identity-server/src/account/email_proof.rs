//! `GET/POST /Account/EmailProof`: the account proves its email address before its first
//! authenticator is enrolled (policy `account.first_enrollment = "email-proof"`, the default).
//!
//! Why: a user without an authenticator is sent by `track` to the hosted enrollment. With the
//! password alone, whoever holds it would enroll *their own* authenticator there, receive the
//! recovery codes and from then on pass the second factor as that user (the enrollment hijack of
//! progressive enrollment). So when [`super::login`] gets an enrollment decision for an account
//! with an email address, it first sends a one-time code to that address through Authsignal's
//! Server API (`POST /challenge`, `EMAIL_OTP`, action
//! `account.authsignal.email_proof_action_code`) and shows this page. Only after `POST /verify`
//! confirms the code, *for the account's own address*, does the login `track` again and go on to
//! the hosted enrollment, as a
//! [`SecondFactorProof::EmailProved`](crate::store::SecondFactorProof::EmailProved) login
//! (which may claim `mfa`: the code is the second factor).
//!
//! The state is a [`Purpose::EmailProof`] login transaction, bound to the browser by the same
//! `__Host-` cookie as every second-factor step. Each request takes it out of the store (single
//! use) and, when the proof goes on, puts it back under a *new* id: parallel submissions cannot
//! both be checked, a replayed cookie finds nothing, and the transaction keeps its first expiry.
//! The Authsignal challenge id never leaves the server.
//!
//! Limits, whatever Authsignal's own: [`MAX_WRONG_CODES`] wrong codes end the sign-in, each one
//! also counts against the login's lockout counters like a wrong password; [`MAX_CODES_SENT`]
//! emails per sign-in, at most one per [`RESEND_WAIT_SECS`]. Authsignal not answering
//! definitively (429, 5xx, timeout) counts against no one: the page says to try again.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use authsignal_sdk::{
    ChallengeRequest, VerificationFailureReason, VerificationMethod, VerifyRequest,
};
use serde::{Deserialize, Serialize};

use super::budget;
use super::decision::{Decision, FailReason};
use super::lockout::LockoutKey;
use super::login::{PasswordChecked, budget_blocked, refusal, second_factor};
use super::notice::NoticeReason;
use super::pages::{
    LoginNotice, NoticePage, client_ip, csrf_failure, login_url, notice, parse_form, render_page,
    user_agent,
};
use super::transaction::{self, LoginTransaction, Purpose, TransactionId};
use crate::error::AppError;
use crate::signin;
use crate::state::AppState;

/// The page's path.
pub const PATH: &str = "/Account/EmailProof";
/// Wrong codes one sign-in may enter before it is stopped.
pub const MAX_WRONG_CODES: u32 = 5;
/// Emails one sign-in may send, the first one included.
pub const MAX_CODES_SENT: u32 = 3;
/// Wait between two emails of one sign-in, in seconds.
pub const RESEND_WAIT_SECS: i64 = 30;
/// Longest code field accepted (a code is 6 digits; people paste spaces and dashes).
const MAX_CODE_BYTES: usize = 32;

/// Context of `account/email_proof.html`.
#[derive(Debug, Serialize)]
pub struct EmailProofPage {
    /// CSRF token (hidden field).
    pub csrf_token: String,
    /// The address the code went to, partly hidden (`a•••@example.com`).
    pub masked_email: String,
    /// Display name of the client that asked for the sign-in.
    pub client_name: Option<String>,
    /// What is wrong with the last submission, shown at the code field.
    pub error: Option<String>,
    /// An informational notice (a new code was sent).
    pub notice: Option<String>,
    /// Seconds until another code may be sent (0: now).
    pub resend_wait: i64,
    /// Whether another code may still be sent in this sign-in.
    pub can_resend: bool,
}

/// The form of `POST /Account/EmailProof`.
#[derive(Debug, Deserialize)]
pub struct EmailProofForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    /// `verify` (default), `resend` or `cancel`.
    #[serde(default)]
    button: Option<String>,
}

/// The email proof of one sign-in, as kept in its transaction.
#[derive(Clone, Debug)]
struct Proof {
    subject: String,
    action: String,
    idempotency_key: String,
    created: i64,
    expires: i64,
    authorize_request_id: String,
    remember: bool,
    lockout_keys: Vec<LockoutKey>,
    challenge_id: String,
    codes_sent: u32,
    last_sent: i64,
    wrong_codes: u32,
}

impl Proof {
    fn from_transaction(transaction: LoginTransaction) -> Option<Self> {
        match transaction.purpose {
            Purpose::EmailProof {
                authorize_request_id,
                remember,
                lockout_keys,
                challenge_id,
                codes_sent,
                last_sent,
                wrong_codes,
            } => Some(Self {
                subject: transaction.subject,
                action: transaction.action,
                idempotency_key: transaction.idempotency_key,
                created: transaction.created,
                expires: transaction.expires,
                authorize_request_id,
                remember,
                lockout_keys,
                challenge_id,
                codes_sent,
                last_sent,
                wrong_codes,
            }),
            _ => None,
        }
    }

    /// The transaction that carries the proof on, under a fresh id (its expiry unchanged).
    fn into_transaction(self) -> LoginTransaction {
        LoginTransaction {
            id: TransactionId::generate(),
            subject: self.subject,
            action: self.action,
            idempotency_key: self.idempotency_key,
            created: self.created,
            expires: self.expires,
            purpose: Purpose::EmailProof {
                authorize_request_id: self.authorize_request_id,
                remember: self.remember,
                lockout_keys: self.lockout_keys,
                challenge_id: self.challenge_id,
                codes_sent: self.codes_sent,
                last_sent: self.last_sent,
                wrong_codes: self.wrong_codes,
            },
        }
    }

    fn resend_wait(&self, now: i64) -> i64 {
        (self.last_sent + RESEND_WAIT_SECS - now).max(0)
    }
}

/// `a•••@example.com`: enough for the owner to recognise the address, not to learn it.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            let first: String = local.chars().take(1).collect();
            format!("{first}\u{2022}\u{2022}\u{2022}@{domain}")
        }
        _ => "your email address".to_owned(),
    }
}

/// The code as typed, without the spaces and dashes people paste; `None` unless 6 digits.
pub fn normalize_code(raw: &str) -> Option<String> {
    if raw.len() > MAX_CODE_BYTES {
        return None;
    }
    let code: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// Whether the address Authsignal verified is the account's (case-insensitively: the domain
/// part is, and no mail system here tells local parts by case).
pub fn same_address(verified: &str, account: &str) -> bool {
    verified.trim().eq_ignore_ascii_case(account.trim())
}

/// Starts the proof for a login whose password was right and whose user must enroll: sends the
/// first code and shows the page (303 to [`PATH`], with the transaction cookie).
pub(crate) async fn start(
    state: &AppState,
    req: &HttpRequest,
    login: PasswordChecked<'_>,
    email: &str,
) -> Result<HttpResponse, AppError> {
    let settings = &state.account.settings;
    // The proof is a code to guess: it counts against the account's second-factor budget like
    // a challenge, and is forgiven when it passes.
    if let crate::store::ChallengeBudget::Blocked { until } =
        budget::start_challenge(state, &login.user.subject).await?
    {
        return budget_blocked(state, req, &login, until).await;
    }
    let action = settings.authsignal.email_proof_action_code.clone();
    let request = ChallengeRequest {
        verification_method: Some(VerificationMethod::EmailOtp),
        action: Some(action.clone()),
        // A fresh key per login makes the call safe to retry.
        idempotency_key: Some(uuid::Uuid::new_v4().to_string()),
        email: Some(email.to_owned()),
        user_id: Some(login.user.subject.clone()),
        ip_address: Some(login.ip.to_owned()),
        user_agent: user_agent(req),
        ..Default::default()
    };
    let answer = state.account.authsignal.challenge(&request).await;
    let response = match answer {
        Ok(response) if !response.challenge_id.trim().is_empty() => response,
        Ok(_) => {
            let decision = Decision::Fail(FailReason::Sdk("challenge without an id".into()));
            return refuse(state, req, &login.user.subject, login.ar, &decision).await;
        }
        Err(e) => {
            let reason = FailReason::from(&e);
            if matches!(reason, FailReason::Api { status: 429, .. }) {
                // Authsignal holds back codes to one address sent in quick succession (another
                // sign-in just sent one): say so, rather than "unavailable".
                tracing::warn!(subject = %login.user.subject, "email proof: authsignal held the code back (429)");
                return notice(
                    state,
                    StatusCode::TOO_MANY_REQUESTS,
                    &NoticePage {
                        title: "Too many codes sent".into(),
                        message: "A code was sent to your email address moments ago, so no new one was sent. Wait a minute, then sign in again.".into(),
                        is_error: true,
                        reference: None,
                        link_url: Some(login_url(login.ar, None)),
                        link_text: "Sign in again".into(),
                    },
                );
            }
            let decision = Decision::Fail(reason);
            return refuse(state, req, &login.user.subject, login.ar, &decision).await;
        }
    };
    tracing::info!(subject = %login.user.subject, "first enrollment: email proof started");
    let idempotency_key = response
        .idempotency_key
        .clone()
        .unwrap_or_else(|| request.idempotency_key.clone().unwrap_or_default());
    let transaction = LoginTransaction::new(
        login.user.subject.clone(),
        action,
        idempotency_key,
        Purpose::EmailProof {
            authorize_request_id: login.ar.to_owned(),
            remember: login.remember,
            lockout_keys: login.lockout_keys,
            challenge_id: response.challenge_id,
            codes_sent: 1,
            last_sent: crate::oidc::now(),
            wrong_codes: 0,
        },
        settings.transaction.lifetime(),
    );
    let cookie = transaction::cookie(&transaction.id, settings.transaction.lifetime());
    state.account.transactions.insert(&transaction).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, PATH))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

async fn refuse(
    state: &AppState,
    req: &HttpRequest,
    subject: &str,
    ar: &str,
    decision: &Decision,
) -> Result<HttpResponse, AppError> {
    let back = super::login::back_to_client(state, ar).await;
    let retry = (login_url(ar, None), "Try again".to_owned());
    refusal(state, req, subject, decision, retry, back)
}

/// Ends the proof with the "temporarily unavailable" refusal (fail closed).
async fn refuse_proof(
    state: &AppState,
    req: &HttpRequest,
    proof: &Proof,
    reason: FailReason,
) -> Result<HttpResponse, AppError> {
    let decision = Decision::Fail(reason);
    refuse(
        state,
        req,
        &proof.subject,
        &proof.authorize_request_id,
        &decision,
    )
    .await
}

/// Takes this browser's email-proof transaction out of the store (`None`: none, expired, or
/// another kind of step, which is then gone too).
async fn take(state: &AppState, req: &HttpRequest) -> Result<Option<Proof>, AppError> {
    let Some(cookie) = req.cookie(transaction::COOKIE_NAME) else {
        return Ok(None);
    };
    let Some(id) = TransactionId::parse(cookie.value()) else {
        return Ok(None);
    };
    let Some(transaction) = state.account.transactions.take(&id).await? else {
        return Ok(None);
    };
    if transaction.is_expired_at(crate::oidc::now()) {
        return Ok(None);
    }
    if !matches!(transaction.purpose, Purpose::EmailProof { .. }) {
        // Another step of this browser (a login at the hosted page, say): not this page's to
        // end. It goes back unchanged, so that a link to this page cannot cancel it.
        tracing::warn!("a second-factor transaction of another kind reached the email proof page");
        state.account.transactions.insert(&transaction).await?;
        return Ok(None);
    }
    Ok(Proof::from_transaction(transaction))
}

/// The page when there is nothing to continue: the sign-in expired or ended.
fn gone() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, NoticeReason::Expired.url()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Puts the proof back under a new id and renders the page with it.
async fn show(
    state: &AppState,
    req: &HttpRequest,
    proof: Proof,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let now = crate::oidc::now();
    let email = state
        .users
        .find_by_subject(&proof.subject)
        .await?
        .and_then(|u| u.email)
        .unwrap_or_default();
    let client_name = signin::pending_request(state, &proof.authorize_request_id)
        .await
        .ok()
        .flatten()
        .map(|p| p.client_name);
    let page = EmailProofPage {
        csrf_token: String::new(),
        masked_email: mask_email(&email),
        client_name,
        error,
        notice,
        resend_wait: proof.resend_wait(now),
        can_resend: proof.codes_sent < MAX_CODES_SENT,
    };
    let remaining = u64::try_from(proof.expires.saturating_sub(now)).unwrap_or(0);
    let transaction = proof.into_transaction();
    state.account.transactions.insert(&transaction).await?;
    let csrf = crate::csrf::issue(state, req);
    let page = EmailProofPage {
        csrf_token: csrf.token,
        ..page
    };
    let mut response = render_page(
        state,
        "account/email_proof.html",
        &page,
        status,
        csrf.cookie,
    )?;
    response
        .add_cookie(&transaction::cookie(
            &transaction.id,
            std::time::Duration::from_secs(remaining),
        ))
        .map_err(AppError::internal)?;
    // `render` already marks the page `no-store`.
    Ok(response)
}

/// `GET /Account/EmailProof`.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    match take(&state, &req).await? {
        Some(proof) => show(&state, &req, proof, None, None, StatusCode::OK).await,
        None => Ok(gone()),
    }
}

/// `POST /Account/EmailProof`: verify the code, send a new one, or cancel.
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: EmailProofForm = parse_form(&body)?;
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("email proof form rejected: missing or wrong csrf token");
        return csrf_failure(&state, Some(PATH.to_owned()));
    }
    let Some(proof) = take(&state, &req).await? else {
        return Ok(gone());
    };
    match form.button.as_deref() {
        Some("cancel") => cancel(&state, proof).await,
        Some("resend") => resend(&state, &req, proof).await,
        _ => verify(&state, &req, proof, &form.code).await,
    }
}

/// Leaving the proof refuses the sign-in (`access_denied` for the client), counted like a
/// cancelled second factor: an exit proves nothing.
async fn cancel(state: &AppState, proof: Proof) -> Result<HttpResponse, AppError> {
    tracing::info!(subject = %proof.subject, "email proof cancelled: sign-in refused");
    count_failure(state, &proof.lockout_keys).await?;
    let mut response = signin::deny(state, &proof.authorize_request_id).await?;
    response
        .add_cookie(&transaction::removal_cookie())
        .map_err(AppError::internal)?;
    Ok(response)
}

async fn resend(
    state: &AppState,
    req: &HttpRequest,
    mut proof: Proof,
) -> Result<HttpResponse, AppError> {
    let now = crate::oidc::now();
    if proof.codes_sent >= MAX_CODES_SENT {
        let error = "No more codes can be sent for this sign-in. Use the last code sent, or cancel and sign in again.";
        return show(
            state,
            req,
            proof,
            Some(error.into()),
            None,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    }
    let wait = proof.resend_wait(now);
    if wait > 0 {
        let notice =
            format!("A code was sent moments ago. You can ask for a new one in {wait} seconds.");
        return show(state, req, proof, None, Some(notice), StatusCode::OK).await;
    }
    let request = ChallengeRequest {
        challenge_id: Some(proof.challenge_id.clone()),
        ..Default::default()
    };
    match state.account.authsignal.challenge(&request).await {
        Ok(_) => {
            proof.codes_sent += 1;
            proof.last_sent = now;
            tracing::info!(subject = %proof.subject, codes_sent = proof.codes_sent, "email proof: new code sent");
            let notice = "We sent a new code. Earlier codes no longer work.".to_owned();
            show(state, req, proof, None, Some(notice), StatusCode::OK).await
        }
        Err(e) => {
            let reason = FailReason::from(&e);
            tracing::warn!(subject = %proof.subject, reason = %reason, "email proof: the new code could not be sent");
            let error = "A new code could not be sent just now. Try again in a moment.";
            show(
                state,
                req,
                proof,
                Some(error.into()),
                None,
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await
        }
    }
}

async fn verify(
    state: &AppState,
    req: &HttpRequest,
    mut proof: Proof,
    raw_code: &str,
) -> Result<HttpResponse, AppError> {
    let Some(code) = normalize_code(raw_code) else {
        // Not a guess: nothing is counted or sent to Authsignal.
        let error = "Enter the 6-digit code from the email.";
        return show(
            state,
            req,
            proof,
            Some(error.into()),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let request = VerifyRequest {
        challenge_id: proof.challenge_id.clone(),
        verification_code: code,
    };
    let answer = state.account.authsignal.verify(&request).await;
    let response = match answer {
        Ok(response) => response,
        Err(e) => {
            let reason = FailReason::from(&e);
            if reason.is_definitive() {
                // Authsignal refused the request itself (e.g. the challenge is gone): the proof
                // cannot go on. Fail closed.
                tracing::warn!(subject = %proof.subject, reason = %reason, "email proof refused by authsignal: sign-in refused");
                return refuse_proof(state, req, &proof, reason).await;
            }
            // Nothing is known about the code: counted against no one, the user may retry.
            tracing::warn!(subject = %proof.subject, reason = %reason, "authsignal unavailable at the email proof: nothing counted");
            let error = "The code could not be checked just now. Try again in a moment.";
            return show(
                state,
                req,
                proof,
                Some(error.into()),
                None,
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await;
        }
    };
    if !response.is_verified {
        proof.wrong_codes += 1;
        let locked = count_failure(state, &proof.lockout_keys).await?;
        let exhausted = proof.wrong_codes >= MAX_WRONG_CODES
            || matches!(
                response.failure_reason,
                Some(VerificationFailureReason::MaxAttemptsExceeded)
            );
        if exhausted || locked {
            tracing::warn!(subject = %proof.subject, wrong_codes = proof.wrong_codes, "email proof: too many wrong codes, sign-in stopped");
            return Ok(HttpResponse::SeeOther()
                .cookie(transaction::removal_cookie())
                .insert_header((
                    header::LOCATION,
                    login_url(&proof.authorize_request_id, Some(LoginNotice::MfaAttempts)),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish());
        }
        tracing::info!(subject = %proof.subject, wrong_codes = proof.wrong_codes, "email proof: wrong code");
        let error =
            "That code is not right, or it has expired. Check the latest email and try again.";
        return show(state, req, proof, Some(error.into()), None, StatusCode::OK).await;
    }
    let Some(user) = state.users.find_by_subject(&proof.subject).await? else {
        tracing::warn!(subject = %proof.subject, "email proof passed for an account that is gone");
        return Ok(gone());
    };
    let proved_own_address = match (&response.email, &user.email) {
        (Some(verified), Some(own)) => same_address(verified, own),
        _ => false,
    };
    if !proved_own_address {
        // A verified code for another address proves nothing about this account. Fail closed.
        tracing::error!(subject = %proof.subject, "email proof: authsignal verified another address than the account's; sign-in refused");
        let reason = FailReason::Sdk("verified address differs".into());
        return refuse_proof(state, req, &proof, reason).await;
    }
    tracing::info!(subject = %proof.subject, "email proof passed: on to the first enrollment");
    budget::challenge_passed(state, &proof.subject).await?;
    let ip = client_ip(req);
    let pending = signin::pending_request(state, &proof.authorize_request_id).await?;
    let (client_name, second_factor_required) = pending
        .map(|p| (p.client_name, p.second_factor_required))
        .unwrap_or_default();
    let login = PasswordChecked {
        ar: &proof.authorize_request_id,
        client_name: &client_name,
        second_factor_required,
        remember: proof.remember,
        user: &user,
        ip: &ip,
        lockout_keys: proof.lockout_keys.clone(),
    };
    second_factor(state, req, login, true).await
}

/// Counts a wrong code (or a cancelled proof) against the login's counters; whether a counter
/// is now locked.
async fn count_failure(state: &AppState, lockout_keys: &[LockoutKey]) -> Result<bool, AppError> {
    Ok(super::lockout::record_failure(
        state.account.failed_logins.as_ref(),
        &state.account.settings.lockout,
        lockout_keys,
    )
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_masked_to_its_first_letter_and_domain() {
        assert_eq!(mask_email("AliceSmith@example.com"), "A•••@example.com");
        assert_eq!(mask_email("é@x.org"), "é•••@x.org");
        assert_eq!(mask_email("@example.com"), "your email address");
        assert_eq!(mask_email("no-at-sign"), "your email address");
    }

    #[test]
    fn a_code_is_six_digits_once_spaces_and_dashes_are_removed() {
        assert_eq!(normalize_code("123456").as_deref(), Some("123456"));
        assert_eq!(normalize_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(normalize_code("123-456").as_deref(), Some("123456"));
        assert_eq!(normalize_code("12345"), None);
        assert_eq!(normalize_code("1234567"), None);
        assert_eq!(normalize_code("12345a"), None);
        assert_eq!(normalize_code("１２３４５６"), None, "full-width digits");
        assert_eq!(normalize_code(&" ".repeat(40)), None);
    }

    #[test]
    fn the_verified_address_must_be_the_accounts_own() {
        assert!(same_address("alice@example.com", "Alice@Example.com"));
        assert!(!same_address("mallory@example.com", "alice@example.com"));
        assert!(!same_address("", "alice@example.com"));
    }

    #[test]
    fn the_resend_wait_counts_down_from_the_last_code() {
        let proof = Proof {
            subject: "s".into(),
            action: "a".into(),
            idempotency_key: "k".into(),
            created: 0,
            expires: 600,
            authorize_request_id: "ar".into(),
            remember: false,
            lockout_keys: vec![],
            challenge_id: "c".into(),
            codes_sent: 1,
            last_sent: 100,
            wrong_codes: 0,
        };
        assert_eq!(proof.resend_wait(100), RESEND_WAIT_SECS);
        assert_eq!(proof.resend_wait(110), RESEND_WAIT_SECS - 10);
        assert_eq!(proof.resend_wait(100 + RESEND_WAIT_SECS + 1), 0);
        let again = proof.clone().into_transaction();
        let back = Proof::from_transaction(again).unwrap();
        assert_eq!(back.challenge_id, "c");
        assert_eq!(back.expires, 600, "a carried-on proof keeps its expiry");
    }
}
