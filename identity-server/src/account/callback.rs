//! `GET /Account/Login/Callback?token=` and `GET /Account/Mfa/Callback?token=`: where Authsignal
//! sends the browser back after the challenge (DESIGN.md step 5). The Manage-MFA callback also
//! ends the step-up challenge before a passkey is added ([`Purpose::StepUp`]): the session then
//! records when its second factor was last confirmed. The login callback also ends the step-up
//! an authorize request asked for (a [`Purpose::StepUp`] with its authorize request):
//! [`super::step_up::finish`].
//!
//! The login transaction is taken from the cookie and deleted first (single use, also on
//! failure). The token is validated and accepted only when [`check_validation`] finds all of:
//! valid, `CHALLENGE_SUCCEEDED`, the transaction's user, action and idempotency key. The user is
//! never taken from the token alone. A rejected token of a login (not valid, not succeeded, another
//! user, action or instance) counts as a failed login against the username and the client
//! address kept in the transaction. Authsignal not answering definitively (429, 5xx, timeout,
//! connection error, undecodable answer: [`Rejection::is_unavailable`]) completes no login,
//! still consumes the transaction, and counts against no one. A login that passes
//! resets the username's failures and forgives its challenge's count in the account's
//! second-factor budget ([`super::budget`]); every other ending leaves that count standing. Every answer is a redirect (or, for an authorize request that
//! expired meanwhile, the error page) with `Cache-Control: no-store` and
//! `Referrer-Policy: no-referrer`; the token is neither rendered nor logged.
//!
//! No token at all means the person left the hosted step (Cancel): a login is refused and the
//! client gets `access_denied` (counted like a failed second factor: an exit proves nothing), the
//! settings lead back to the "Manage MFA" page. No transaction in a browser that is signed in
//! (Back after signing in, the link opened again) is not an error either: the person goes on to
//! the home page, or the "Manage MFA" page, signed in.
//!
//! A login callback with a token in a browser that sends no transaction cookie at all is checked
//! first (`void_passed_elsewhere`): a passed challenge of the login action that has not signed
//! anyone in yet was passed in a browser that did not do its password step (someone holding the
//! password sent the hosted link to the account's owner). Its action is set `CHALLENGE_FAILED`,
//! so that the password holder's browser cannot complete with the token, and the person is told
//! that the sign-in was stopped. Nothing is signed in on that path; Authsignal or a store not
//! answering gives the "expired" notice.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use authsignal_sdk::ValidateChallengeRequest;
use serde::Deserialize;

use super::budget;
use super::decision::{Expected, Rejection, amr_for, check_validation};
use super::lockout::LockoutKey;
use super::login::reset_user_failures;
use super::mfa;
use super::notice::NoticeReason;
use super::pages::{LoginNotice, client_key, login_url};
use super::transaction::{self, LoginTransaction, Purpose, SecondFactorProof, TransactionId};
use crate::error::AppError;
use crate::signin::{self, SignIn};
use crate::state::AppState;
use crate::store::QuotaKey;

/// Longest token sent to Authsignal (real tokens are JWTs of a few hundred bytes).
const MAX_TOKEN_BYTES: usize = 8192;

/// Callbacks with a token and no transaction whose token is checked, per client network and
/// [`VOID_CHECK_WINDOW_SECS`] ([`void_passed_elsewhere`]).
const MAX_VOID_CHECKS_PER_NETWORK: u32 = 20;
/// The window of [`MAX_VOID_CHECKS_PER_NETWORK`] (10 minutes).
const VOID_CHECK_WINDOW_SECS: i64 = 600;
/// Such checks from all networks together per window: bounds the Authsignal calls and the
/// per-network counters an anonymous flood from many networks can cause.
const MAX_VOID_CHECKS_GLOBAL: u32 = 10_000;

#[derive(Deserialize, Default)]
#[serde(default)]
struct CallbackQuery {
    token: String,
}

/// Which callback is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Login,
    ManageMfa,
}

/// `GET /Account/Login/Callback`.
pub async fn login(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    finish(&state, &req, Kind::Login).await
}

/// `GET /Account/Mfa/Callback`.
pub async fn manage_mfa(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    finish(&state, &req, Kind::ManageMfa).await
}

async fn finish(state: &AppState, req: &HttpRequest, kind: Kind) -> HttpResponse {
    let mut response = handle(state, req, kind).await;
    // Whatever happened, the transaction is gone: make the browser forget it too.
    if let Err(e) = response.add_cookie(&transaction::removal_cookie()) {
        tracing::error!(error = %e, "cannot set the transaction removal cookie");
    }
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Takes the transaction named by this browser's cookie out of the store.
async fn take_transaction(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<LoginTransaction>, crate::store::StoreError> {
    let Some(cookie) = req.cookie(transaction::COOKIE_NAME) else {
        return Ok(None);
    };
    let Some(id) = TransactionId::parse(cookie.value()) else {
        return Ok(None);
    };
    state.account.transactions.take(&id).await
}

async fn handle(state: &AppState, req: &HttpRequest, kind: Kind) -> HttpResponse {
    // A query that does not parse (e.g. two tokens) is treated as carrying no token.
    let token = serde_urlencoded::from_str::<CallbackQuery>(req.query_string())
        .map(|q| q.token)
        .unwrap_or_default();

    // A browser that still sends a transaction cookie did a password step here (its
    // transaction expired or was used): only a browser without one can be someone else's.
    let had_transaction_cookie = req.cookie(transaction::COOKIE_NAME).is_some();
    let taken = match take_transaction(state, req).await {
        Ok(taken) => taken,
        Err(e) => {
            // Nothing was consumed or signed in: the page says so and the user may retry.
            return actix_web::ResponseError::error_response(&AppError::from(e));
        }
    };
    let Some(transaction) = taken else {
        if kind == Kind::Login && !token.is_empty() && !had_transaction_cookie {
            match void_passed_elsewhere(state, req, token.clone()).await {
                Elsewhere::Voided => return see_other(&NoticeReason::StartedElsewhere.url()),
                Elsewhere::Failed => return see_other(&NoticeReason::Expired.url()),
                Elsewhere::Nothing => {}
            }
        }
        if let Ok(Some(session)) = signin::current_session(state, req).await {
            tracing::info!(callback = ?kind, "second-factor callback without a transaction in a signed-in browser: sent on");
            if kind == Kind::ManageMfa && !token.is_empty() && token.len() <= MAX_TOKEN_BYTES {
                // The transaction was used up before the settings were left (a visit without
                // a token, or it expired): what they added is still enforced and told.
                if let Err(e) =
                    mfa::reconcile_without_transaction(state, &session.subject, token).await
                {
                    return e.error_response();
                }
            }
            return see_other(match kind {
                Kind::Login => "/",
                Kind::ManageMfa => mfa::PAGE_PATH,
            });
        }
        tracing::warn!(callback = ?kind, "second-factor callback without a live login transaction");
        return see_other(&NoticeReason::Expired.url());
    };
    if let Purpose::StepUp {
        sid,
        authorize_request_id,
    } = &transaction.purpose
    {
        match (authorize_request_id, kind) {
            (None, Kind::ManageMfa) => return step_up(state, req, &transaction, sid, token).await,
            // The step-up an authorize request asked for (`acr_values`, `max_age`).
            (Some(ar), Kind::Login) => {
                let verdict = if token.is_empty() {
                    None
                } else {
                    Some(validate(state, &transaction, token).await)
                };
                return super::step_up::finish(state, req, &transaction, sid, ar, verdict).await;
            }
            _ => {}
        }
    }
    let (authorize_request_id, remember, lockout_keys, budget_counted, before, proof) = match (
        &transaction.purpose,
        kind,
    ) {
        (
            Purpose::Login {
                authorize_request_id,
                remember,
                lockout_keys,
                proof,
                budget_counted,
            },
            Kind::Login,
        ) => (
            Some(authorize_request_id.clone()),
            *remember,
            lockout_keys.as_slice(),
            *budget_counted,
            None,
            *proof,
        ),
        (Purpose::ManageMfa { before }, Kind::ManageMfa) => (
            None,
            false,
            &[][..],
            false,
            before.as_ref(),
            SecondFactorProof::Challenge,
        ),
        _ => {
            tracing::warn!(callback = ?kind, subject = %transaction.subject, "login transaction used at the wrong callback");
            return see_other(&NoticeReason::Expired.url());
        }
    };

    if token.is_empty() {
        return match authorize_request_id {
            Some(ar) => {
                tracing::info!(subject = %transaction.subject, "second factor cancelled at the hosted page: sign-in refused");
                if let Err(e) = count_failure(state, lockout_keys).await {
                    return e.error_response();
                }
                signin::deny(state, &ar)
                    .await
                    .unwrap_or_else(|e| e.error_response())
            }
            None => {
                tracing::info!(subject = %transaction.subject, "manage-mfa settings left without a result");
                // Whatever was changed before the settings were left is still enforced and told
                // (a browser that drops the token must not skip either).
                if let Err(e) = mfa::after_settings(state, &transaction.subject, before).await {
                    return e.error_response();
                }
                see_other(&format!("{}?result=cancelled", mfa::PAGE_PATH))
            }
        };
    }

    let verdict = validate(state, &transaction, token).await;
    match (verdict, authorize_request_id) {
        (Ok(method), Some(ar)) => {
            if let Err(e) = reset_user_failures(state, lockout_keys).await {
                return e.error_response();
            }
            if budget_counted
                && let Err(e) = budget::challenge_passed(state, &transaction.subject).await
            {
                return AppError::from(e).error_response();
            }
            let sign_in = SignIn {
                subject: transaction.subject.clone(),
                auth_time: crate::oidc::now(),
                amr: sign_in_amr(method.as_ref(), proof),
                remember,
            };
            // A first enrollment (no authenticator before this login) tells of the authenticators
            // added, read by the notice worker; its browser is remembered without a "new browser"
            // notice.
            let browser = if proof == SecondFactorProof::Challenge {
                signin::BrowserNotice::IfNew
            } else {
                state.notices.notify(
                    &transaction.subject,
                    crate::notices::NoticeKind::FirstEnrollment,
                );
                signin::BrowserNotice::RememberOnly
            };
            signin::complete_sign_in_with(state, req, &ar, sign_in, browser)
                .await
                .unwrap_or_else(|e| e.error_response())
        }
        (Ok(_), None) => {
            tracing::info!(subject = %transaction.subject, "manage-mfa challenge completed");
            // Its challenge was counted when the user had an authenticator (an enrollment was
            // not): forgiven now that it passed.
            if before.is_some_and(|b| !b.is_empty())
                && let Err(e) = budget::challenge_passed(state, &transaction.subject).await
            {
                return AppError::from(e).error_response();
            }
            mfa::notify_regenerated_codes(state, &transaction).await;
            match mfa::after_settings(state, &transaction.subject, before).await {
                Ok(location) => see_other(&location),
                Err(e) => e.error_response(),
            }
        }
        (Err(rejection), Some(ar)) => {
            let notice = if rejection.is_unavailable() {
                // Authsignal could not answer: nothing is known about the second factor, and the
                // user did nothing wrong, so nothing is counted.
                tracing::warn!(subject = %transaction.subject, reason = %rejection, "authsignal unavailable at the callback: not signed in, no failure counted");
                LoginNotice::MfaUnavailable
            } else {
                tracing::warn!(subject = %transaction.subject, reason = %rejection, "second factor rejected: not signed in");
                if let Err(e) = count_failure(state, lockout_keys).await {
                    return e.error_response();
                }
                if rejection == Rejection::ChallengeFailed {
                    LoginNotice::MfaAttempts
                } else {
                    LoginNotice::MfaFailed
                }
            };
            see_other(&login_url(&ar, Some(notice)))
        }
        (Err(rejection), None) => {
            tracing::warn!(subject = %transaction.subject, reason = %rejection, "manage-mfa challenge rejected");
            // A garbled or foreign token must not skip the enforcement and the notices either.
            if let Err(e) = mfa::after_settings(state, &transaction.subject, before).await {
                return e.error_response();
            }
            see_other(&NoticeReason::MfaSettings.url())
        }
    }
}

/// What [`void_passed_elsewhere`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elsewhere {
    /// The token is not a passed, unused login challenge of a known user: go on as without it.
    Nothing,
    /// The action was voided: the login it belongs to can no longer complete.
    Voided,
    /// Authsignal or a store did not answer: nothing is known, nothing signed in.
    Failed,
}

/// A login challenge passed in a browser without that login's transaction: someone did the
/// password step elsewhere and had this browser pass the challenge (e.g. sent the hosted link to
/// the account's owner). Its action is set to `CHALLENGE_FAILED` (`update_action`), so that the
/// browser holding the transaction cannot complete with the token; the person is told. Nothing
/// is ever signed in here.
///
/// A token that already signed someone in (a session of its user authenticated at or after the
/// challenge passed: e.g. the callback link of a finished login opened again) is left alone.
/// Whoever's callback comes first wins: if the password holder's callback arrives before this
/// browser's, the login has completed already; the hosted page's description of the request and
/// its "This wasn't me" are the defence for that order.
///
/// This is the only call to Authsignal that a request without any password step can cause, so
/// it is bounded: at most [`MAX_VOID_CHECKS_PER_NETWORK`] per client network (an IPv4 address
/// or an IPv6 /64) and [`MAX_VOID_CHECKS_GLOBAL`] in all in [`VOID_CHECK_WINDOW_SECS`], counted
/// in one step in the shared quota store; beyond
/// that the token is not looked at (the browser gets the usual answer without a transaction).
async fn void_passed_elsewhere(state: &AppState, req: &HttpRequest, token: String) -> Elsewhere {
    if token.len() > MAX_TOKEN_BYTES {
        return Elsewhere::Nothing;
    }
    let net = match client_key(req) {
        LockoutKey::Ip(net) => net,
        LockoutKey::User(_) => "unknown".into(),
    };
    let quota = [
        QuotaKey {
            key: format!("vc:n:{net}"),
            max: MAX_VOID_CHECKS_PER_NETWORK,
            window_secs: VOID_CHECK_WINDOW_SECS,
        },
        QuotaKey {
            key: "vc:all".into(),
            max: MAX_VOID_CHECKS_GLOBAL,
            window_secs: VOID_CHECK_WINDOW_SECS,
        },
    ];
    match state.account.quotas.reserve(&quota).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            tracing::warn!(network = %net, "too many callbacks with a token and no transaction from this network: token not checked");
            return Elsewhere::Nothing;
        }
        Err(e) => {
            tracing::error!(error = %e, "quota store failed at a callback without a transaction");
            return Elsewhere::Failed;
        }
    }
    let login_action = state.account.settings.authsignal.action_code.clone();
    let request = ValidateChallengeRequest {
        token,
        user_id: None,
        action: Some(login_action.clone()),
    };
    let answer = match state.account.authsignal.validate_challenge(&request).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "authsignal unavailable at a callback without a transaction: nothing voided, not signed in");
            return Elsewhere::Failed;
        }
    };
    let Some(passed) = super::decision::passed_elsewhere(&answer, &login_action) else {
        return Elsewhere::Nothing;
    };
    match state.users.find_by_subject(&passed.user_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Elsewhere::Nothing,
        Err(e) => {
            tracing::error!(error = %e, "user store failed at a callback without a transaction");
            return Elsewhere::Failed;
        }
    }
    let timeouts = &state.settings.session;
    let sessions = match state
        .stores
        .sessions
        .list(
            &passed.user_id,
            crate::oidc::now(),
            timeouts.idle_timeout_secs,
            timeouts.absolute_timeout_secs,
        )
        .await
    {
        Ok(sessions) => sessions,
        Err(e) => {
            tracing::error!(error = %e, "session store failed at a callback without a transaction");
            return Elsewhere::Failed;
        }
    };
    if let Some(passed_at) = passed.passed_at
        && sessions.iter().any(|s| s.auth_time >= passed_at)
    {
        tracing::info!(subject = %passed.user_id, "callback without a transaction for a challenge that already signed in: left alone");
        return Elsewhere::Nothing;
    }
    let update = authsignal_sdk::UpdateActionRequest {
        state: authsignal_sdk::UserActionState::ChallengeFailed,
    };
    match state
        .account
        .authsignal
        .update_action(
            &passed.user_id,
            &login_action,
            &passed.idempotency_key,
            &update,
        )
        .await
    {
        Ok(_) => {
            tracing::warn!(subject = %passed.user_id, "a login challenge was passed in a browser that did not do its password step: the login was voided");
            state
                .notices
                .notify(&passed.user_id, crate::notices::NoticeKind::SignInStopped);
            Elsewhere::Voided
        }
        Err(e) => {
            tracing::error!(subject = %passed.user_id, error = %e, "could not void a login challenge passed in another browser");
            Elsewhere::Failed
        }
    }
}

/// The step-up challenge before adding a passkey: on success the session records it and the
/// browser goes back to the passkeys page. A failed step-up counts against no lockout (the user
/// is signed in already; it is like a failed Manage-MFA challenge).
async fn step_up(
    state: &AppState,
    req: &HttpRequest,
    transaction: &LoginTransaction,
    sid: &str,
    token: String,
) -> HttpResponse {
    use super::passkeys::PasskeyNotice;
    match validate(state, transaction, token).await {
        Ok(_) => match forgive_then_record_step_up(state, req, sid, &transaction.subject).await {
            Ok(true) => {
                tracing::info!(subject = %transaction.subject, "step-up challenge passed");
                see_other(&PasskeyNotice::Verified.url())
            }
            Ok(false) => {
                tracing::warn!(subject = %transaction.subject, "step-up passed, but this browser's session is another one");
                see_other(&NoticeReason::Expired.url())
            }
            Err(e) => AppError::from(e).error_response(),
        },
        Err(rejection) if rejection.is_unavailable() => {
            tracing::warn!(subject = %transaction.subject, reason = %rejection, "authsignal unavailable at the step-up callback");
            see_other(&PasskeyNotice::Unavailable.url())
        }
        Err(rejection) => {
            tracing::warn!(subject = %transaction.subject, reason = %rejection, "step-up challenge rejected");
            see_other(&PasskeyNotice::StepUpFailed.url())
        }
    }
}

/// The `amr` of a login that passed its hosted step: a first authenticator enrolled with the
/// password alone proves nothing beyond the password, so such a sign-in claims `pwd` only; one
/// enrolled after the email proof claims the email code (`otp`), never the new authenticator.
pub(crate) fn sign_in_amr(
    method: Option<&authsignal_sdk::VerificationMethod>,
    proof: SecondFactorProof,
) -> Vec<String> {
    match proof {
        SecondFactorProof::Challenge => amr_for(method),
        // The email code is the second factor; the authenticator just enrolled was registered,
        // not used to authenticate, so its method (a security key's `hwk`, say) is not claimed.
        SecondFactorProof::EmailProved => vec!["pwd".into(), "mfa".into(), "otp".into()],
        SecondFactorProof::PasswordOnly => vec!["pwd".to_owned()],
    }
}

/// A passed step-up before adding a passkey: its counted challenge is forgiven, then the session
/// records the step-up.
async fn forgive_then_record_step_up(
    state: &AppState,
    req: &HttpRequest,
    sid: &str,
    subject: &str,
) -> Result<bool, crate::store::StoreError> {
    budget::challenge_passed(state, subject).await?;
    super::passkeys::record_step_up(state, req, sid, subject).await
}

/// Counts a failed second factor against the login's counters, like a wrong password: with the
/// password alone an attacker must not be able to try challenge after challenge.
async fn count_failure(state: &AppState, lockout_keys: &[LockoutKey]) -> Result<(), AppError> {
    let locked = super::lockout::record_failure(
        state.account.failed_logins.as_ref(),
        &state.account.settings.lockout,
        lockout_keys,
    )
    .await?;
    if locked {
        tracing::warn!(keys = ?lockout_keys, "locked out after a failed second factor");
    }
    Ok(())
}

/// Validates the token against the transaction.
async fn validate(
    state: &AppState,
    transaction: &LoginTransaction,
    token: String,
) -> Result<Option<authsignal_sdk::VerificationMethod>, Rejection> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::NotValid);
    }
    let request = ValidateChallengeRequest {
        token,
        user_id: Some(transaction.subject.clone()),
        action: Some(transaction.action.clone()),
    };
    let answer = state.account.authsignal.validate_challenge(&request).await;
    let verdict = check_validation(
        answer.as_ref(),
        Expected {
            user_id: &transaction.subject,
            action: &transaction.action,
            idempotency_key: &transaction.idempotency_key,
        },
    );
    // Every callback (login, step-up, Manage MFA) validates here: a passed challenge answered
    // with a recovery code tells the account's owner.
    if let Ok(Some(authsignal_sdk::VerificationMethod::RecoveryCode)) = &verdict {
        state.notices.notify(
            &transaction.subject,
            crate::notices::NoticeKind::RecoveryCodeUsed,
        );
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use authsignal_sdk::VerificationMethod;

    #[test]
    fn a_first_enrollment_claims_what_proved_it_never_the_new_authenticator() {
        let key = Some(&VerificationMethod::SecurityKey);
        assert_eq!(
            sign_in_amr(key, SecondFactorProof::Challenge),
            ["pwd", "mfa", "hwk"]
        );
        assert_eq!(
            sign_in_amr(key, SecondFactorProof::EmailProved),
            ["pwd", "mfa", "otp"],
            "a key registered after an email code is not a phishing-resistant sign-in"
        );
        assert_eq!(sign_in_amr(key, SecondFactorProof::PasswordOnly), ["pwd"]);
    }
}
