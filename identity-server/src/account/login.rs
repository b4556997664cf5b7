//! `GET/POST /Account/Login`: the password step and the `track` call (DESIGN.md steps 3 and 4).
//!
//! The page only ever carries the id of a pending authorize request (`ar`), never a URL, so
//! there is nothing to open-redirect. A POST checks, in order: the CSRF token, that `ar` is
//! pending, cancel, then reserves a password check against the lockout of the username and of the
//! client address ([`Attempt::begin`], atomic, before the hash, so parallel guesses cannot pass
//! the limit), checks the password within the server's bound on concurrent Argon2id work
//! ([`run_limited`]: when no permit comes free in time the form comes back with 503 "busy" and
//! the attempt is forgiven), ends the attempt (a failure, or forgiven), and then asks Authsignal
//! what to do next. The username's failures are forgotten only when the sign-in completes (an
//! `ALLOW` here, or a successful second factor at the callback), not after the password alone.
//! A challenge counts against the account's second-factor budget before the redirect
//! ([`super::budget`]); while the account's second factor is blocked the form comes back (429)
//! saying how long to wait.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use authsignal_sdk::TrackAttributes;
use serde::Deserialize;

use super::budget;
use super::decision::{Decision, FailReason, decide, decide_challenge_required};
use super::lockout::{Attempt, LockoutKey};
use super::pages::{
    LoginNotice, LoginPage, NoticePage, client_ip, client_key, create_url, csrf_failure, login_url,
    notice, parse_form, parse_query, render_page, request_id, user_agent,
};
use super::passkey_login;
use super::settings::FirstEnrollment;
use super::transaction::{self, LoginTransaction, Purpose, SecondFactorProof};
use crate::domain::User;
use crate::error::AppError;
use crate::hashing::{BUSY_MESSAGE, Busy, run_limited};
use crate::signin::{self, SignIn};
use crate::state::AppState;
use crate::store::{ChallengeBudget, StoreError};

/// Shown on the login page when the client asked for a phishing-resistant `acr`.
const PASSKEY_REQUESTED: &str =
    "This application asks you to sign in with a passkey: a password and a code are not enough.";
/// Shown for a wrong password and for an unknown user alike.
const INVALID_CREDENTIALS: &str = "Invalid username or password.";
/// Shown while the username or the client address is locked out: how long, in words (the
/// configured lockout, e.g. "15 minutes").
fn locked_out(state: &AppState) -> String {
    format!(
        "Too many failed sign-in attempts. Please wait {} and try again.",
        crate::templates::duration_in_words(state.account.settings.lockout.lockout_secs)
    )
}
/// Shown after the wrong password that leaves one attempt before the username's lockout, as
/// counted **in this sign-in form** ([`form_failures`]), never from the shared counter: the
/// counter also moves with other people's attempts and is reset by the owner's sign-in, so
/// telling it would let a guesser see whether a username has an active owner. The form's own
/// count is what this client did, so the warning tells it nothing it does not know (and reads
/// alike for every username). Failures made elsewhere can lock the username before the warning;
/// the lockout message then says so, as without the warning.
fn last_attempt(state: &AppState) -> String {
    format!(
        "{INVALID_CREDENTIALS} 1 attempt left: after one more failure, sign-in with this \
         username is paused for {}.",
        crate::templates::duration_in_words(state.account.settings.lockout.lockout_secs)
    )
}
/// Longest username and password (bytes) that are checked at all: longer ones cannot belong to
/// an account, and bounding them bounds the work an anonymous request can cause.
const MAX_USERNAME_BYTES: usize = 256;
const MAX_PASSWORD_BYTES: usize = 1024;
/// `Retry-After` of the busy answer (503), in seconds.
pub(crate) const BUSY_RETRY_AFTER_SECS: &str = "5";
/// Longest `ar` worth looking up.
const MAX_AR_BYTES: usize = 128;

/// Path of the callback Authsignal sends the browser back to.
pub const CALLBACK_PATH: &str = "/Account/Login/Callback";

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    ar: String,
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    ar: String,
    csrf_token: String,
    username: String,
    password: String,
    remember: Option<String>,
    button: Option<String>,
    /// Wrong passwords typed in this form so far (a hidden field the page carries).
    failures: String,
    /// The username they were typed for (hidden): another name starts the count again.
    failures_for: String,
}

/// Wrong passwords typed in this sign-in form for its username so far: the hidden fields of
/// the page, if they are for the same username (case and surrounding spaces aside, like the
/// lockout's key). A hint for the warning only: it decides nothing but what this client is told.
fn form_failures(form: &LoginForm) -> u32 {
    let same = form.failures_for.trim().to_lowercase() == form.username.trim().to_lowercase();
    if !same {
        return 0;
    }
    form.failures
        .trim()
        .parse::<u32>()
        .unwrap_or(0)
        .min(MAX_FORM_FAILURES)
}

/// The largest count of wrong passwords a form carries (more says nothing new).
const MAX_FORM_FAILURES: u32 = 1_000;

/// The pending request `ar`; `Ok(None)` for a link that names none (used, expired, malformed).
/// A store failure is an error (503), never "the link expired".
async fn pending(state: &AppState, ar: &str) -> Result<Option<signin::PendingRequest>, AppError> {
    if ar.is_empty() || ar.len() > MAX_AR_BYTES {
        return Ok(None);
    }
    Ok(signin::pending_request(state, ar).await?)
}

/// The answer to a sign-in link whose request is gone (used, expired, or never ours): a person
/// already signed in here (Back after signing in) goes on to the home page, signed in; anyone
/// else learns in plain words what happened and can start again.
pub(crate) async fn gone(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, AppError> {
    if signin::current_session(state, req).await?.is_some() {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish());
    }
    let (url, text) = crate::templates::start_again(&state.clients);
    notice(
        state,
        StatusCode::BAD_REQUEST,
        &NoticePage {
            title: "Sign-in link expired".into(),
            message: "This sign-in link was already used or has expired (a sign-in must be finished within a few minutes). You are not signed in. Start again from the application.".into(),
            is_error: true,
            reference: None,
            link_url: Some(url),
            link_text: text,
        },
    )
}

/// "Back to <client>" for the pending request `ar`: its `client_uri`, else this server's home.
pub(crate) async fn back_to_client(state: &AppState, ar: &str) -> (String, String) {
    let client = match signin::pending_request(state, ar).await {
        Ok(Some(p)) => state.clients.get(&p.client_id),
        // Only a link back: a store failure shows the home page instead.
        Ok(None) | Err(_) => None,
    };
    match client.and_then(|c| c.client_uri.clone().map(|u| (u, c.client_name.clone()))) {
        Some((url, name)) => (url, format!("Back to {name}")),
        None => ("/".to_owned(), "Go to the home page".to_owned()),
    }
}

/// `GET /Account/Login?ar=<id>`: the form, for a pending authorize request only.
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let query: LoginQuery = parse_query(&req)?;
    let Some(pending) = pending(&state, &query.ar).await? else {
        return gone(&state, &req).await;
    };
    let (notice, error) = match query.notice.as_deref().and_then(LoginNotice::parse) {
        Some(n) => match n.text() {
            (text, true) => (None, Some(text.to_owned())),
            (text, false) => (Some(text.to_owned()), None),
        },
        None => (None, None),
    };
    // A client that asked for a phishing-resistant sign-in gets it from a passkey only.
    let notice = notice.or_else(|| {
        pending
            .passkey_requested
            .then(|| PASSKEY_REQUESTED.to_owned())
    });
    let csrf = crate::csrf::issue(&state, &req);
    let page = LoginPage {
        create_url: create_url(&query.ar),
        ar: query.ar,
        csrf_token: csrf.token,
        username: pending.login_hint.unwrap_or_default(),
        remember: false,
        client_name: Some(pending.client_name),
        error,
        notice,
        focus_password: false,
        passkey: None,
        failures: 0,
    };
    render_login(&state, &req, page, StatusCode::OK, csrf.cookie).await
}

/// Renders the login page, offering a passkey sign-in when one can be offered: then the page
/// gets its passkey transaction cookie and the one CSP that lets a script run — our own
/// `/static/passkey.js`, talking to the Authsignal Client API origin and nothing else.
async fn render_login(
    state: &AppState,
    req: &HttpRequest,
    mut page: LoginPage,
    status: StatusCode,
    csrf_cookie: Option<actix_web::cookie::Cookie<'static>>,
) -> Result<HttpResponse, AppError> {
    let origin = state.account.settings.authsignal.client_api_origin();
    let offer = match &origin {
        Some(_) => passkey_login::offer(state, req, &page.ar).await,
        None => None,
    };
    let (offer, cookie) = offer.unzip();
    page.passkey = offer;
    let mut response = render_page(state, "account/login.html", &page, status, csrf_cookie)?;
    if let (Some(cookie), Some(origin)) = (cookie, origin) {
        response.add_cookie(&cookie).map_err(AppError::internal)?;
        let csp = header::HeaderValue::from_str(&crate::routes::passkey_csp(&origin))
            .map_err(AppError::internal)?;
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    Ok(response)
}

/// The form again, with an error, keeping what the user typed except the password.
async fn again(
    state: &AppState,
    req: &HttpRequest,
    form: &LoginForm,
    pending: &signin::PendingRequest,
    error: &str,
    status: StatusCode,
    failures: u32,
) -> Result<HttpResponse, AppError> {
    let csrf = crate::csrf::issue(state, req);
    let page = LoginPage {
        ar: form.ar.clone(),
        csrf_token: csrf.token,
        username: form
            .username
            .trim()
            .chars()
            .take(MAX_USERNAME_BYTES)
            .collect(),
        remember: remember(form),
        client_name: Some(pending.client_name.clone()),
        error: Some(error.to_owned()),
        notice: None,
        create_url: create_url(&form.ar),
        // The username is kept: the password is what to type again.
        focus_password: !form.username.trim().is_empty(),
        passkey: None,
        failures,
    };
    render_login(state, req, page, status, csrf.cookie).await
}

fn remember(form: &LoginForm) -> bool {
    matches!(form.remember.as_deref(), Some("true" | "on"))
}

/// `POST /Account/Login`.
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form: LoginForm = parse_form(&body)?;
    if !crate::csrf::verify(&state, &req, &form.csrf_token) {
        tracing::warn!("login form rejected: missing or wrong csrf token");
        let back = (!form.ar.is_empty() && form.ar.len() <= MAX_AR_BYTES)
            .then(|| login_url(&form.ar, None));
        return csrf_failure(&state, back);
    }
    let Some(pending) = pending(&state, &form.ar).await? else {
        return gone(&state, &req).await;
    };
    if form.button.as_deref() == Some("cancel") {
        return signin::deny(&state, &form.ar).await;
    }
    let username = form.username.trim().to_owned();
    if username.is_empty() || form.password.is_empty() {
        return again(
            &state,
            &req,
            &form,
            &pending,
            "Enter your username and password.",
            StatusCode::BAD_REQUEST,
            form_failures(&form),
        )
        .await;
    }

    let ip = client_ip(&req);
    let user_key = LockoutKey::user(&username);
    let ip_key = client_key(&req);
    // Reserved before the hash, atomically: parallel guesses cannot all pass a check that is
    // only counted after the hash (review finding 3).
    let attempt = Attempt::begin(
        state.account.failed_logins.clone(),
        &state.account.settings.lockout,
        [user_key.clone(), ip_key.clone()],
    )
    .await?;
    let Some(attempt) = attempt else {
        tracing::warn!(client_ip = %ip, "login refused: locked out");
        return again(
            &state,
            &req,
            &form,
            &pending,
            &locked_out(&state),
            StatusCode::TOO_MANY_REQUESTS,
            0,
        )
        .await;
    };

    let verified = match verify(&state, &username, &form.password).await {
        Ok(verified) => verified,
        Err(e) => {
            // Nothing was checked: the attempt does not count.
            attempt.forgive().await?;
            return Err(e.into());
        }
    };
    let user = match verified {
        Ok(user) => user,
        Err(Busy) => {
            // The password was not checked, so the attempt does not count.
            attempt.forgive().await?;
            tracing::warn!(client_ip = %ip, "login not checked: the server is busy");
            let mut page = again(
                &state,
                &req,
                &form,
                &pending,
                BUSY_MESSAGE,
                StatusCode::SERVICE_UNAVAILABLE,
                form_failures(&form),
            )
            .await?;
            page.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(BUSY_RETRY_AFTER_SECS),
            );
            return Ok(page);
        }
    };
    let Some(user) = user else {
        let locked = attempt.fail().await?;
        tracing::info!(client_ip = %ip, "login failed: invalid credentials");
        let failures = form_failures(&form).saturating_add(1);
        let max = state.account.settings.lockout.max_failures_per_user;
        let (message, status) = if locked {
            (locked_out(&state), StatusCode::TOO_MANY_REQUESTS)
        } else if failures.saturating_add(1) == max {
            (last_attempt(&state), StatusCode::OK)
        } else {
            (INVALID_CREDENTIALS.to_owned(), StatusCode::OK)
        };
        return again(&state, &req, &form, &pending, &message, status, failures).await;
    };
    // The right password ends the attempt without counting it, but does not yet forget the
    // username's failures: only a complete sign-in does (a failed second factor counts too).
    attempt.forgive().await?;

    let login = PasswordChecked {
        ar: &form.ar,
        client_name: &pending.client_name,
        second_factor_required: pending.second_factor_required,
        remember: remember(&form),
        user: &user,
        ip: &ip,
        lockout_keys: vec![user_key, ip_key],
    };
    second_factor(&state, &req, login, false).await
}

/// A login whose password was right, on its way to the second factor.
pub(crate) struct PasswordChecked<'a> {
    pub(crate) ar: &'a str,
    pub(crate) client_name: &'a str,
    /// The client asked for a second factor (`acr`): an `ALLOW` still goes to the challenge.
    pub(crate) second_factor_required: bool,
    pub(crate) remember: bool,
    pub(crate) user: &'a User,
    pub(crate) ip: &'a str,
    /// The username's key first, then the client address's.
    pub(crate) lockout_keys: Vec<LockoutKey>,
}

/// Forgets the failed logins of the username after a complete sign-in (the address's counter
/// stays: the address may be shared with someone guessing).
pub(crate) async fn reset_user_failures(
    state: &AppState,
    lockout_keys: &[LockoutKey],
) -> Result<(), AppError> {
    for key in lockout_keys {
        if matches!(key, LockoutKey::User(_)) {
            state.account.failed_logins.reset(key).await?;
        }
    }
    Ok(())
}

/// Checks the password on the blocking pool, within the server's bound on concurrent Argon2id
/// work ([`run_limited`]); `Err(Busy)` when no hashing permit came free in time.
/// The outer `Err` is a store failure (nothing was checked).
async fn verify(
    state: &web::Data<AppState>,
    username: &str,
    password: &str,
) -> Result<Result<Option<User>, Busy>, StoreError> {
    if username.len() > MAX_USERNAME_BYTES || password.len() > MAX_PASSWORD_BYTES {
        return Ok(Ok(None));
    }
    let found = state.users.find_stored_by_username(username).await?;
    let hash = found.as_ref().map(|u| u.password_hash.clone());
    let password = password.to_owned();
    let checked = run_limited(state, move |memory| {
        crate::users::verify_password(memory, hash.as_deref(), &password)
    })
    .await;
    Ok(checked.map(|ok| found.filter(|_| ok).map(|u| u.user)))
}

/// The `custom` track attribute naming the application a challenge is for (`clientName`): the
/// hosted challenge of the emulator shows it, with the browser, address and time, so that the
/// account's owner can tell a sign-in they did not start. Real Authsignal's pre-built UI shows
/// what the tenant configures; whether it can show this is UNVERIFIED. At most
/// [`MAX_CLIENT_NAME_CHARS`] characters are sent.
pub(crate) fn challenge_custom(client_name: &str) -> authsignal_sdk::CustomData {
    let name: String = client_name.chars().take(MAX_CLIENT_NAME_CHARS).collect();
    let mut custom = authsignal_sdk::CustomData::new();
    custom.insert("clientName".to_owned(), serde_json::Value::String(name));
    custom
}

/// Longest `clientName` sent with a track.
pub(crate) const MAX_CLIENT_NAME_CHARS: usize = 64;

/// The issuer-relative absolute URL of a path of this server.
pub(crate) fn own_url(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.settings.issuer.trim_end_matches('/'))
}

/// `track` the sign-in and act on the decision (DESIGN.md step 4). A user who must enroll a
/// first authenticator proves the account's email first when the policy asks for it
/// ([`super::email_proof`]); `email_proved` says that this login already did.
pub(crate) async fn second_factor(
    state: &AppState,
    req: &HttpRequest,
    login: PasswordChecked<'_>,
    email_proved: bool,
) -> Result<HttpResponse, AppError> {
    let settings = &state.account.settings;
    let action = &settings.authsignal.action_code;
    let attributes = TrackAttributes {
        username: Some(login.user.username.clone()),
        // Lets an email-OTP second factor use the address without asking for it again.
        email: login.user.email.clone(),
        ip_address: Some(login.ip.to_owned()),
        user_agent: user_agent(req),
        custom: Some(challenge_custom(login.client_name)),
        redirect_url: Some(own_url(state, CALLBACK_PATH)),
        // A fresh key per login makes the call safe to retry and identifies this login.
        idempotency_key: Some(uuid::Uuid::new_v4().to_string()),
        ..Default::default()
    };
    let answer = state
        .account
        .authsignal
        .track(&login.user.subject, action, &attributes)
        .await;
    let decision = if login.second_factor_required {
        decide_challenge_required(answer.as_ref())
    } else {
        decide(answer.as_ref())
    };
    let proof = match (&decision, settings.first_enrollment, &login.user.email) {
        (Decision::Challenge { .. }, _, _) => SecondFactorProof::Challenge,
        (Decision::Enroll { .. }, _, _) if email_proved => SecondFactorProof::EmailProved,
        (Decision::Enroll { .. }, FirstEnrollment::EmailProof, Some(email)) => {
            let email = email.clone();
            return super::email_proof::start(state, req, login, &email).await;
        }
        _ => SecondFactorProof::PasswordOnly,
    };
    act_on(state, req, login, decision, proof).await
}

/// Acts on the decision of `track`: to the hosted page, signed in, or refused.
async fn act_on(
    state: &AppState,
    req: &HttpRequest,
    login: PasswordChecked<'_>,
    decision: Decision,
    proof: SecondFactorProof,
) -> Result<HttpResponse, AppError> {
    let PasswordChecked {
        ar,
        client_name,
        second_factor_required: _,
        remember,
        user,
        ip: _,
        lockout_keys,
    } = login;
    let settings = &state.account.settings;
    let action = &settings.authsignal.action_code;
    // A challenge counts against the account's budget before the browser sees it (an
    // enrollment tries no code of the account's).
    let budget_counted = matches!(decision, Decision::Challenge { .. });
    match decision {
        Decision::Challenge {
            url,
            idempotency_key,
        }
        | Decision::Enroll {
            url,
            idempotency_key,
        } => {
            // The refusal comes only after the right password, as the challenge itself would:
            // it tells a password guesser nothing the challenge would not.
            if budget_counted
                && let ChallengeBudget::Blocked { until } =
                    budget::start_challenge(state, &user.subject).await?
            {
                let page = LoginPage {
                    ar: ar.to_owned(),
                    csrf_token: String::new(),
                    username: user.username.clone(),
                    remember,
                    client_name: Some(client_name.to_owned()),
                    error: Some(budget::blocked_message(until)),
                    notice: None,
                    create_url: create_url(ar),
                    focus_password: true,
                    passkey: None,
                    failures: 0,
                };
                return blocked(state, req, page).await;
            }
            let transaction = LoginTransaction::new(
                user.subject.clone(),
                action.clone(),
                idempotency_key,
                Purpose::Login {
                    authorize_request_id: ar.to_owned(),
                    remember,
                    lockout_keys,
                    proof,
                    budget_counted,
                },
                settings.transaction.lifetime(),
            );
            redirect_to_challenge(state, transaction, &url).await
        }
        Decision::Allow => {
            tracing::info!(subject = %user.subject, "authsignal allowed a password-only sign-in");
            reset_user_failures(state, &lockout_keys).await?;
            signin::complete_sign_in(
                state,
                req,
                ar,
                SignIn {
                    subject: user.subject.clone(),
                    auth_time: crate::oidc::now(),
                    amr: vec!["pwd".to_owned()],
                    remember,
                },
            )
            .await
        }
        Decision::Block | Decision::Review | Decision::Fail(_) => {
            let back = back_to_client(state, ar).await;
            let retry = (login_url(ar, None), "Try again".to_owned());
            refusal(state, req, &user.subject, &decision, retry, back)
        }
    }
}

/// The login form of `ar` again (429) while the account's second factor is blocked until
/// `until`, saying how long.
pub(crate) async fn budget_blocked(
    state: &AppState,
    req: &HttpRequest,
    login: &PasswordChecked<'_>,
    until: i64,
) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        ar: login.ar.to_owned(),
        csrf_token: String::new(),
        username: login.user.username.clone(),
        remember: login.remember,
        client_name: Some(login.client_name.to_owned()),
        error: Some(budget::blocked_message(until)),
        notice: None,
        create_url: create_url(login.ar),
        focus_password: true,
        passkey: None,
        failures: 0,
    };
    blocked(state, req, page).await
}

/// The login form again (429) while the account's second factor is blocked, saying how long.
async fn blocked(
    state: &AppState,
    req: &HttpRequest,
    mut page: LoginPage,
) -> Result<HttpResponse, AppError> {
    let csrf = crate::csrf::issue(state, req);
    page.csrf_token = csrf.token;
    render_login(state, req, page, StatusCode::TOO_MANY_REQUESTS, csrf.cookie).await
}

/// Stores the transaction, sets its cookie and sends the browser to Authsignal (303).
pub(crate) async fn redirect_to_challenge(
    state: &AppState,
    transaction: LoginTransaction,
    url: &str,
) -> Result<HttpResponse, AppError> {
    let cookie = transaction::cookie(
        &transaction.id,
        state.account.settings.transaction.lifetime(),
    );
    state.account.transactions.insert(&transaction).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}

/// The clear page for `BLOCK`, `REVIEW_REQUIRED` and failures: no session, logged with the
/// request id (never a token). Its primary action is `retry` (url, text) for a failure that may
/// pass later and `back` for a refusal.
pub(crate) fn refusal(
    state: &AppState,
    req: &HttpRequest,
    subject: &str,
    decision: &Decision,
    retry: (String, String),
    back: (String, String),
) -> Result<HttpResponse, AppError> {
    let reference = request_id(req);
    let reference_log = reference.as_deref().unwrap_or("-");
    let (status, page) = match decision {
        Decision::Block => {
            tracing::warn!(
                subject,
                request_id = reference_log,
                "authsignal blocked the sign-in"
            );
            (
                StatusCode::FORBIDDEN,
                NoticePage {
                    title: "Sign-in refused".into(),
                    message: "This sign-in was refused by our security checks, so you are not signed in. If you think this is a mistake, contact support and quote the reference below.".into(),
                    is_error: true,
                    reference,
                    link_url: Some(back.0),
                    link_text: back.1,
                },
            )
        }
        Decision::Review => {
            tracing::warn!(
                subject,
                request_id = reference_log,
                "authsignal asked for a review of the sign-in"
            );
            (
                StatusCode::FORBIDDEN,
                NoticePage {
                    title: "Sign-in under review".into(),
                    message: "This sign-in must be reviewed before it can go ahead, so you are not signed in for now. Please try again later, or contact support and quote the reference below.".into(),
                    is_error: true,
                    reference,
                    link_url: Some(back.0),
                    link_text: back.1,
                },
            )
        }
        other => {
            let reason = match other {
                Decision::Fail(reason) => reason.clone(),
                _ => FailReason::Sdk("unexpected decision".into()),
            };
            tracing::error!(subject, request_id = reference_log, reason = %reason, "second factor unavailable: sign-in refused (fail closed)");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                NoticePage {
                    title: "Sign-in temporarily unavailable".into(),
                    message: "The second-factor check could not be completed, so you are not signed in. Please try again in a few minutes.".into(),
                    is_error: true,
                    reference,
                    link_url: Some(retry.0),
                    link_text: retry.1,
                },
            )
        }
    };
    notice(state, status, &page)
}
