//! Signing in with a passkey from the login page: the *passkey login transaction* the page
//! offers, and `POST /Account/Login/Passkey`, where the page's script sends the Authsignal token.
//!
//! Every view of the login page (for a pending authorize request) stores a fresh
//! [`LoginTransaction`] of purpose [`Purpose::PasskeyLogin`] under a random id, sets that id in
//! the `__Host-idsrv.passkey` cookie and renders the transaction's idempotency key into the page
//! (a `data-` attribute: it is no secret, it only works together with the cookie). The script
//! (`static/passkey.js`) gives that key to the Authsignal Client API's `/client/challenge` with the
//! action `identity-server-passkey-login`, runs the WebAuthn request and POSTs the resulting token
//! here with the CSRF token, never in a URL. Views are bounded per client network and in all
//! before the store (`account.passkeys.max_transactions_per_network`, `max_transactions_global`),
//! so that they cannot crowd out the second-factor transactions of password logins; past a
//! bound, or with passkeys disabled, the page offers no passkey and the password form works as
//! always.
//!
//! The callback takes (and deletes) the transaction named by the cookie first, whatever happens
//! next; then checks the CSRF token, that the client address is not locked out, and `validate`s
//! the token. It signs in only when [`check_passkey_validation`] finds all of: valid,
//! `CHALLENGE_SUCCEEDED`, the passkey-login action, the transaction's idempotency key,
//! verification method `PASSKEY` — and the `userId` is a known local user. **This is the one
//! place where the user is taken from an Authsignal token**, allowed because the token is bound
//! to this browser's single-use transaction (a token replayed in another browser, of another
//! transaction, of another action or of another method is refused). Failures count against the
//! client address's lockout counter, never against a username (no username was typed, and
//! counting one would let anyone lock its owner out). The username's own lockout guards the
//! password and does not stop a passkey sign-in: a user-verified passkey proves more than the
//! password it would protect. Authsignal not answering definitively counts against no one.

use std::time::Duration;

use actix_web::cookie::Cookie;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use authsignal_sdk::ValidateChallengeRequest;
use serde::{Deserialize, Serialize};

use super::decision::{ExpectedPasskey, PASSKEY_AMR, Rejection, check_passkey_validation};
use super::lockout::LockoutKey;
use super::notice::NoticeReason;
use super::pages::{LoginNotice, client_key, csrf_failure, login_url, parse_form};
use super::transaction::{LoginTransaction, Purpose, TransactionId};
use crate::error::AppError;
use crate::signin::{self, SignIn};
use crate::state::AppState;
use crate::store::QuotaKey;

/// The cookie naming this browser's passkey login transaction (the `__Host-` prefix pins it to
/// this origin, path `/` and `Secure`).
pub const COOKIE_NAME: &str = "__Host-idsrv.passkey";

/// Path of the callback the script POSTs the token to.
pub const CALLBACK_PATH: &str = "/Account/Login/Passkey";

/// Longest token sent to Authsignal (real tokens are JWTs of a few hundred bytes).
const MAX_TOKEN_BYTES: usize = 8192;
/// Longest `ar` worth putting back into a redirect to the login page.
const MAX_AR_BYTES: usize = 128;

/// What the login page's script needs: rendered into `data-` attributes.
#[derive(Clone, Debug, Serialize)]
pub struct PasskeyOffer {
    /// The Client API base (the Web SDK's `baseUrl`, including `/v1`).
    pub client_api_url: String,
    /// The tenant id (public) for `Authorization: Basic`.
    pub tenant_id: String,
    /// The action the challenge names.
    pub action: String,
    /// The transaction's idempotency key (not a secret without the cookie).
    pub idempotency_key: String,
}

/// The cookie binding a transaction to this browser.
pub fn cookie(id: &TransactionId, lifetime: Duration) -> Cookie<'static> {
    super::transaction::named_cookie(COOKIE_NAME, id, lifetime)
}

/// A cookie that makes the browser forget the passkey transaction cookie.
pub fn removal_cookie() -> Cookie<'static> {
    super::transaction::named_removal_cookie(COOKIE_NAME)
}

/// The quota keys of one passkey login transaction: the client network's and the global one.
fn quota_keys(state: &AppState, network: &LockoutKey) -> [QuotaKey; 2] {
    let p = &state.account.settings.passkeys;
    let net = match network {
        LockoutKey::Ip(net) => net.as_str(),
        LockoutKey::User(_) => "unknown",
    };
    let window_secs = i64::try_from(p.window_secs).unwrap_or(i64::MAX);
    [
        QuotaKey {
            key: format!("pk:n:{net}"),
            max: p.max_transactions_per_network,
            window_secs,
        },
        QuotaKey {
            key: "pk:all".into(),
            max: p.max_transactions_global,
            window_secs,
        },
    ]
}

/// Takes the transaction this browser's cookie names, if any (deleting it).
async fn take_transaction(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<LoginTransaction>, crate::store::StoreError> {
    let Some(id) = req
        .cookie(COOKIE_NAME)
        .and_then(|c| TransactionId::parse(c.value()))
    else {
        return Ok(None);
    };
    state.account.transactions.take(&id).await
}

/// A fresh passkey login transaction for the pending authorize request `ar`, stored, with the
/// cookie to set; `None` when passkeys are off, the network's bound is reached or the store
/// fails (the page then offers the password form only: passkeys are an extra, never a reason
/// for the login page to fail). The transaction this browser held before is deleted: only the
/// newest page of a browser can complete a passkey sign-in.
pub async fn offer(
    state: &AppState,
    req: &HttpRequest,
    ar: &str,
) -> Option<(PasskeyOffer, Cookie<'static>)> {
    let settings = &state.account.settings;
    if !settings.passkeys.enabled {
        return None;
    }
    let network = client_key(req);
    match state
        .account
        .quotas
        .reserve(&quota_keys(state, &network))
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            tracing::warn!(network = ?network, "passkey login transactions at their bound (this network's or all): the login page offers the password only");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot count a passkey login transaction: the login page offers the password only");
            return None;
        }
    }
    if let Err(e) = take_transaction(state, req).await {
        tracing::warn!(error = %e, "cannot delete the previous passkey login transaction");
    }
    let transaction = LoginTransaction::new(
        String::new(),
        settings.passkeys.login_action_code.clone(),
        uuid::Uuid::new_v4().to_string(),
        Purpose::PasskeyLogin {
            authorize_request_id: ar.to_owned(),
        },
        settings.passkeys.transaction_lifetime(),
    );
    if let Err(e) = state.account.transactions.insert(&transaction).await {
        tracing::error!(error = %e, "cannot store a passkey login transaction: the login page offers the password only");
        return None;
    }
    let cookie = cookie(&transaction.id, settings.passkeys.transaction_lifetime());
    Some((
        PasskeyOffer {
            client_api_url: settings.authsignal.client_api_base().to_owned(),
            tenant_id: settings.authsignal.tenant_id.clone(),
            action: transaction.action,
            idempotency_key: transaction.idempotency_key,
        },
        cookie,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasskeyForm {
    csrf_token: String,
    ar: String,
    token: String,
    remember: Option<String>,
}

/// `POST /Account/Login/Passkey`.
pub async fn post(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut response = handle(&state, &req, &body)
        .await
        .unwrap_or_else(|e| e.error_response());
    // Whatever happened, the transaction is gone: make the browser forget it too.
    if let Err(e) = response.add_cookie(&removal_cookie()) {
        tracing::error!(error = %e, "cannot set the passkey transaction removal cookie");
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

/// Where to send the browser when no transaction says which login this was: the login page of
/// the `ar` the form carried (our own page; the id is percent-encoded and only looked up), or the
/// "start again" page.
fn back_without_transaction(form_ar: &str) -> HttpResponse {
    if form_ar.is_empty() || form_ar.len() > MAX_AR_BYTES {
        see_other(&NoticeReason::Expired.url())
    } else {
        see_other(&login_url(form_ar, Some(LoginNotice::PasskeyFailed)))
    }
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, AppError> {
    // Single use, also on failure: the transaction is out of the store before anything else.
    let taken = take_transaction(state, req).await?;
    let form: PasskeyForm = parse_form(body)?;
    if !crate::csrf::verify(state, req, &form.csrf_token) {
        tracing::warn!("passkey sign-in rejected: missing or wrong csrf token");
        let back = (!form.ar.is_empty() && form.ar.len() <= MAX_AR_BYTES)
            .then(|| login_url(&form.ar, None));
        return csrf_failure(state, back);
    }
    let Some(transaction) = taken else {
        tracing::warn!("passkey sign-in without a live passkey login transaction");
        return Ok(back_without_transaction(&form.ar));
    };
    let Purpose::PasskeyLogin {
        authorize_request_id: ar,
    } = &transaction.purpose
    else {
        tracing::warn!("a transaction of another purpose at the passkey callback");
        return Ok(see_other(&NoticeReason::Expired.url()));
    };

    let address = client_key(req);
    if state.account.failed_logins.is_locked(&address).await? {
        tracing::warn!(network = ?address, "passkey sign-in refused: the client address is locked out");
        return Ok(see_other(&login_url(ar, Some(LoginNotice::LockedOut))));
    }

    match validate(state, &transaction, form.token).await {
        Ok(user) => {
            let remember = matches!(form.remember.as_deref(), Some("true" | "on"));
            let sign_in = SignIn {
                subject: user.subject,
                auth_time: crate::oidc::now(),
                amr: PASSKEY_AMR.iter().map(|m| (*m).to_owned()).collect(),
                remember,
            };
            signin::complete_sign_in(state, req, ar, sign_in).await
        }
        Err(rejection) if rejection.is_unavailable() => {
            tracing::warn!(reason = %rejection, "authsignal unavailable at the passkey callback: not signed in, no failure counted");
            Ok(see_other(&login_url(ar, Some(LoginNotice::MfaUnavailable))))
        }
        Err(rejection) => {
            tracing::warn!(reason = %rejection, "passkey sign-in rejected: not signed in");
            let locked = super::lockout::record_failure(
                state.account.failed_logins.as_ref(),
                &state.account.settings.lockout,
                std::slice::from_ref(&address),
            )
            .await?;
            if locked {
                tracing::warn!(network = ?address, "client address locked out after failed passkey sign-ins");
            }
            Ok(see_other(&login_url(ar, Some(LoginNotice::PasskeyFailed))))
        }
    }
}

/// Validates the token against the transaction and finds the local user it names.
async fn validate(
    state: &AppState,
    transaction: &LoginTransaction,
    token: String,
) -> Result<crate::domain::User, Rejection> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::NotValid);
    }
    let request = ValidateChallengeRequest {
        token,
        // The user is what the token proves; the action is checked by Authsignal and again here.
        user_id: None,
        action: Some(transaction.action.clone()),
    };
    let answer = state.account.authsignal.validate_challenge(&request).await;
    let user_id = check_passkey_validation(
        answer.as_ref(),
        ExpectedPasskey {
            user_id: None,
            action: &transaction.action,
            idempotency_key: &transaction.idempotency_key,
        },
    )?;
    match state.users.find_by_subject(&user_id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Rejection::UnknownUser),
        Err(e) => Err(Rejection::Store(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_host_prefixed_secure_http_only_lax_and_distinct_from_the_mfa_one() {
        let id = TransactionId::generate();
        let c = cookie(&id, Duration::from_secs(300));
        assert_eq!(c.name(), "__Host-idsrv.passkey");
        assert_ne!(c.name(), super::super::transaction::COOKIE_NAME);
        assert_eq!(c.value(), id.as_str());
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.domain(), None);
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(actix_web::cookie::SameSite::Lax));
        assert_eq!(
            c.max_age(),
            Some(actix_web::cookie::time::Duration::seconds(300))
        );
        let gone = removal_cookie();
        assert_eq!(gone.name(), COOKIE_NAME);
        assert_eq!(
            gone.max_age(),
            Some(actix_web::cookie::time::Duration::ZERO)
        );
    }

    #[test]
    fn without_a_transaction_the_browser_goes_back_to_its_own_login_page_or_the_notice() {
        let page = back_without_transaction("ar-1");
        assert_eq!(
            page.headers().get(header::LOCATION).unwrap(),
            "/Account/Login?ar=ar-1&notice=passkey_failed"
        );
        let page = back_without_transaction("a&b");
        assert_eq!(
            page.headers().get(header::LOCATION).unwrap(),
            "/Account/Login?ar=a%26b&notice=passkey_failed"
        );
        for ar in ["", &"x".repeat(MAX_AR_BYTES + 1)] {
            let page = back_without_transaction(ar);
            assert_eq!(
                page.headers().get(header::LOCATION).unwrap(),
                "/Account/Notice?reason=expired"
            );
        }
    }
}
