//! The internal interface between the login pages (`crate::account`) and the provider:
//! "user X signed in at T with methods M; continue authorize request R".
//!
//! These functions are public for the account pages and the integration tests; they are not
//! reachable over HTTP by themselves. Sessions are server-side ([`crate::store::SessionStore`]),
//! referenced by the `__Host-idsrv.session` cookie (HttpOnly, Secure, SameSite=Lax, Path=/),
//! and a new session is minted at every sign-in.
//!
//! The cookie holds a secret handle (256 random bits) that appears nowhere else: the store keys
//! the session by the handle's SHA-256 ([`session_key`]), so neither the store nor anything
//! derived from it can be replayed as a cookie. The public session id (`sid`, put in codes,
//! grants and ID tokens) is a separate random value: an ID token's `sid` is not a session.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::{AppError, ErrorCode};
use crate::oidc::acr::Acr;
use crate::oidc::authorize::{self, AuthorizeRequest, code_redirect, error_redirect};
use crate::oidc::{now, random_token, sha256_b64};
use crate::state::AppState;
use crate::store::{Session, SessionDevice, StoreError, digest};

/// The session cookie.
pub const SESSION_COOKIE: &str = "__Host-idsrv.session";

/// Who signed in, when and how.
#[derive(Clone, Debug)]
pub struct SignIn {
    /// The user's subject.
    pub subject: String,
    /// Authentication time (unix seconds).
    pub auth_time: i64,
    /// Methods (RFC 8176): `pwd`, `mfa`, `otp`, ...
    pub amr: Vec<String>,
    /// Keep the session cookie across browser restarts.
    pub remember: bool,
}

/// What the login page may know about the pending authorize request.
#[derive(Clone, Debug, Serialize)]
pub struct PendingRequest {
    /// The client.
    pub client_id: String,
    /// Its display name.
    pub client_name: String,
    /// Username to pre-fill.
    pub login_hint: Option<String>,
    /// Requested scopes.
    pub scope: Vec<String>,
    /// The client demanded a fresh login.
    pub prompt_login: bool,
    /// Requested authentication context classes.
    pub acr_values: Option<String>,
    /// The client asked for a second factor (an `acr` of `mfa` or above): a password alone,
    /// even when Authsignal's rules would allow it, does not complete this sign-in.
    pub second_factor_required: bool,
    /// The client asked for a phishing-resistant sign-in (a passkey).
    pub passkey_requested: bool,
}

/// The signed-in session of this browser.
#[derive(Clone, Debug, Serialize)]
pub struct SessionInfo {
    /// Public session id (the `sid` claim; not the cookie).
    pub sid: String,
    /// The user.
    pub subject: String,
    /// Authentication time.
    pub auth_time: i64,
    /// Methods.
    pub amr: Vec<String>,
}

fn expired_request() -> AppError {
    AppError::BadRequest(
        "This sign-in request has expired or was already completed. Please start again from the application.".into(),
    )
}

/// The store key of the session whose cookie holds `handle`: its SHA-256, base64url.
pub fn session_key(handle: &str) -> String {
    sha256_b64(handle)
}

/// The session cookie carrying the secret `handle` (persistent for the absolute timeout when
/// `remember`).
pub fn session_cookie(state: &AppState, handle: &str, remember: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, handle.to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    if remember {
        cookie.set_max_age(Duration::seconds(
            state.settings.session.absolute_timeout_secs,
        ));
    }
    cookie
}

/// A cookie that deletes the session cookie.
pub fn removal_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

/// Starts a new session for `sign_in` (ending any previous one of this browser) without
/// continuing an authorize request; returns the session and its cookie.
pub async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    sign_in: &SignIn,
) -> Result<(Session, Cookie<'static>), StoreError> {
    if let Some(old) = req.cookie(SESSION_COOKIE) {
        state
            .stores
            .sessions
            .remove(&session_key(old.value()))
            .await?;
    }
    let t = now();
    let session = Session {
        sid: random_token(),
        subject: sign_in.subject.clone(),
        auth_time: sign_in.auth_time,
        amr: sign_in.amr.clone(),
        remember: sign_in.remember,
        created: t,
        last_seen: t,
        step_up_at: None,
        clients: Vec::new(),
        device: SessionDevice {
            browser: crate::user_agent::label(
                req.headers()
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()),
            ),
            address: crate::throttle::client_addr(req)
                .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        },
    };
    // The cookie's handle is secret and separate from the public `sid`.
    let handle = random_token();
    let expires_at = t + state.settings.session.absolute_timeout_secs;
    let ended = state
        .stores
        .sessions
        .create(&session_key(&handle), &session, expires_at)
        .await?;
    // Past the subject's cap the least recently used sessions ended: their clients hear of it.
    for old in &ended {
        tracing::info!(subject = %old.subject, "a session ended: the user holds the most sessions allowed");
        send_logout(state, old);
    }
    let cookie = session_cookie(state, &handle, sign_in.remember);
    Ok((session, cookie))
}

/// Whether a completed sign-in from a browser not seen before for the account sends a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrowserNotice {
    /// Yes (every sign-in but the account's first enrollment).
    IfNew,
    /// No, the browser is only remembered (the first enrollment, which tells of the
    /// authenticators added instead).
    RememberOnly,
}

/// Signs the user in with a NEW session id and continues the stored authorize request `id`:
/// 303 to the client's redirect URI with `code`, `state` and `iss`. An unknown, expired or
/// already used request id gives an error page (never a redirect). A browser not seen before
/// for the account sends a notice ([`BrowserNotice::IfNew`]).
pub async fn complete_sign_in(
    state: &AppState,
    req: &HttpRequest,
    authorize_request_id: &str,
    sign_in: SignIn,
) -> Result<HttpResponse, AppError> {
    complete_sign_in_with(
        state,
        req,
        authorize_request_id,
        sign_in,
        BrowserNotice::IfNew,
    )
    .await
}

/// [`complete_sign_in`], saying whether a new browser sends a notice.
pub async fn complete_sign_in_with(
    state: &AppState,
    req: &HttpRequest,
    authorize_request_id: &str,
    sign_in: SignIn,
    browser: BrowserNotice,
) -> Result<HttpResponse, AppError> {
    // The user is checked before the request is consumed: a failed lookup leaves it usable.
    if state
        .users
        .find_by_subject(&sign_in.subject)
        .await?
        .is_none()
    {
        return Err(AppError::internal(format!(
            "sign-in of unknown subject '{}'",
            sign_in.subject
        )));
    }
    let request = state
        .stores
        .authorize_requests
        .take(&digest(authorize_request_id))
        .await?
        .ok_or_else(expired_request)?;
    let (mut session, cookie) = start_session(state, req, &sign_in).await?;
    let location =
        finish_authorize(state, &request, &mut session, &session_key(cookie.value())).await?;
    tracing::info!(client_id = %request.client_id, subject = %session.subject, amr = ?session.amr, "signed in");
    let known = known_browser(state, req, &session, &request.client_id, browser);
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .cookie(known)
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The known-browser cookie after `session` signed in ([`crate::notices::browser`]): a browser
/// without the account's tag sends the "new browser" notice when `browser` says so, and gets
/// the tag.
fn known_browser(
    state: &AppState,
    req: &HttpRequest,
    session: &Session,
    client_id: &str,
    browser: BrowserNotice,
) -> Cookie<'static> {
    use crate::notices::browser as known;
    let key = state.notices.browser_key();
    let tags = req
        .cookie(known::COOKIE_NAME)
        .map(|c| known::parse(c.value()))
        .unwrap_or_default();
    if browser == BrowserNotice::IfNew && !known::knows(key, &tags, &session.subject) {
        let application = state
            .clients
            .get(client_id)
            .map_or_else(|| client_id.to_owned(), |c| c.client_name.clone());
        state.notices.notify(
            &session.subject,
            crate::notices::NoticeKind::NewBrowser {
                browser: session.device.browser.clone(),
                address: session.device.address.clone(),
                application,
            },
        );
    }
    known::cookie(&known::remember(key, tags, &session.subject))
}

/// The redirect that ends the authorize `request` for the signed-in `session` (stored under
/// `key`): a code, unless the session leaves an essential `acr` unmet
/// (`unmet_authentication_requirements`, OpenID Connect Core Unmet Authentication Requirements
/// 1.0) or no code can be stored (`temporarily_unavailable`). Records the client in the session
/// for back-channel logout before the code is issued.
pub async fn finish_authorize(
    state: &AppState,
    request: &AuthorizeRequest,
    session: &mut Session,
    key: &str,
) -> Result<String, AppError> {
    let level = Acr::of_session(&session.amr, session.step_up_at);
    if authorize::is_unmet(request, level) {
        tracing::info!(client_id = %request.client_id, subject = %session.subject, level = %level, "essential acr not reached: no code");
        return Ok(error_redirect(
            &request.redirect_uri,
            ErrorCode::UnmetAuthenticationRequirements,
            "the sign-in did not reach the essential authentication context class",
            request.state.as_deref(),
            &state.settings.issuer,
        ));
    }
    record_client(state, key, session, &request.client_id).await?;
    Ok(
        match crate::tokens::issue_code(state, request, session).await? {
            Some(code) => code_redirect(
                &request.redirect_uri,
                &code,
                request.state.as_deref(),
                &state.settings.issuer,
            ),
            None => crate::tokens::codes_full_redirect(state, request),
        },
    )
}

/// The user cancelled: consumes request `id` and sends `access_denied` to the client (303).
pub async fn deny(state: &AppState, authorize_request_id: &str) -> Result<HttpResponse, AppError> {
    refuse(
        state,
        authorize_request_id,
        ErrorCode::AccessDenied,
        "the user cancelled the sign-in",
    )
    .await
}

/// Consumes request `id` and sends the error `code` to the client (303, `state` echoed).
pub async fn refuse(
    state: &AppState,
    authorize_request_id: &str,
    code: ErrorCode,
    description: &str,
) -> Result<HttpResponse, AppError> {
    let request = state
        .stores
        .authorize_requests
        .take(&digest(authorize_request_id))
        .await?
        .ok_or_else(expired_request)?;
    let location = error_redirect(
        &request.redirect_uri,
        code,
        description,
        request.state.as_deref(),
        &state.settings.issuer,
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The pending authorize request `id`, for the login page (not consumed).
pub async fn pending_request(
    state: &AppState,
    authorize_request_id: &str,
) -> Result<Option<PendingRequest>, StoreError> {
    let Some(request) = state
        .stores
        .authorize_requests
        .get(&digest(authorize_request_id))
        .await?
    else {
        return Ok(None);
    };
    let client_name = state
        .clients
        .get(&request.client_id)
        .map_or_else(|| request.client_id.clone(), |c| c.client_name.clone());
    let wanted = authorize::acr_request(&request);
    Ok(Some(PendingRequest {
        second_factor_required: wanted.wants_second_factor(),
        passkey_requested: wanted.minimum() == Some(Acr::Phr),
        client_id: request.client_id,
        client_name,
        login_hint: request.login_hint,
        scope: request.scope,
        prompt_login: request.prompt_login,
        acr_values: request.acr_values,
    }))
}

/// The live session of this browser (idle and absolute timeouts applied; refreshes idle time).
pub async fn current_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<SessionInfo>, StoreError> {
    Ok(load_session(state, req).await?.map(|s| SessionInfo {
        sid: s.sid,
        subject: s.subject,
        auth_time: s.auth_time,
        amr: s.amr,
    }))
}

/// The full session record of this browser, if live.
pub async fn load_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<Session>, StoreError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let s = &state.settings.session;
    state
        .stores
        .sessions
        .touch(
            &session_key(cookie.value()),
            now(),
            s.idle_timeout_secs,
            s.absolute_timeout_secs,
        )
        .await
}

/// Ends this browser's session server-side and queues a back-channel logout token for every
/// client the session signed into (never waiting for them); returns the ended session.
pub async fn end_session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<Session>, StoreError> {
    let session = load_session(state, req).await?;
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        state
            .stores
            .sessions
            .remove(&session_key(cookie.value()))
            .await?;
    }
    if let Some(session) = &session {
        send_logout(state, session);
    }
    Ok(session)
}

/// Queues a back-channel logout token for every client `session` signed into (never waits).
pub fn send_logout(state: &AppState, session: &Session) {
    let t = now();
    state.backchannel.enqueue(
        &state.keys.signing_key(t),
        &state.settings.issuer,
        &state.clients,
        session,
        t,
    );
}

/// Remembers that `client_id` was issued a code in `session` (stored under `key`), so that its
/// end reaches the client by back-channel logout. Only registered clients, each once: the list
/// is bounded by the registrations. Two concurrent first codes for two clients may race and one
/// be forgotten (the last write wins); the code is issued either way. A session that ended
/// since it was read is not written back ([`SessionStore::replace`](crate::store::SessionStore::replace));
/// its code is then refused at the token endpoint, whose check finds no session.
pub async fn record_client(
    state: &AppState,
    key: &str,
    session: &mut Session,
    client_id: &str,
) -> Result<(), StoreError> {
    if session.clients.iter().any(|c| c == client_id) || !state.clients.contains_key(client_id) {
        return Ok(());
    }
    session.clients.push(client_id.to_owned());
    let expires_at = session
        .created
        .saturating_add(state.settings.session.absolute_timeout_secs);
    // The same key: the record is replaced, the session (and its `sid`) stays.
    let replaced = state
        .stores
        .sessions
        .replace(key, key, session, expires_at)
        .await?;
    if !replaced {
        tracing::info!(subject = %session.subject, "session ended while a code was issued: not written back");
    }
    Ok(())
}

/// Records a step-up of this browser's session `sid` of `subject` for an authorize request: the
/// user just passed a fresh second factor, so `step_up_at` and `auth_time` become now and `amr`
/// gains `added` (`mfa` and the method). The session keeps its `sid` (and its clients) but gets
/// a new cookie handle, as after every authentication step; the old handle stops working.
/// `None` when this browser's session is not that one any more (signed out, ended meanwhile by
/// "sign out everywhere", or another user
/// signed in meanwhile): nothing is changed.
pub async fn step_up_session(
    state: &AppState,
    req: &HttpRequest,
    sid: &str,
    subject: &str,
    added: &[String],
) -> Result<Option<(Session, Cookie<'static>)>, StoreError> {
    let Some(old) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(mut session) = load_session(state, req).await? else {
        return Ok(None);
    };
    if session.sid != sid || session.subject != subject {
        return Ok(None);
    }
    let t = now();
    session.step_up_at = Some(t);
    session.auth_time = t;
    for method in added {
        if !session.amr.contains(method) {
            session.amr.push(method.clone());
        }
    }
    let handle = random_token();
    let expires_at = session
        .created
        .saturating_add(state.settings.session.absolute_timeout_secs);
    // One atomic step, and only while the old session is still there: one that was ended
    // meanwhile (signed out, "sign out everywhere") is not brought back under the new handle.
    let replaced = state
        .stores
        .sessions
        .replace(
            &session_key(old.value()),
            &session_key(&handle),
            &session,
            expires_at,
        )
        .await?;
    if !replaced {
        return Ok(None);
    }
    let cookie = session_cookie(state, &handle, session.remember);
    Ok(Some((session, cookie)))
}

/// Continues the stored authorize request `id` after a step-up of `session` (whose new cookie is
/// `cookie`): 303 to the client with a code (or the error [`finish_authorize`] gives), setting
/// the new session cookie. An unknown, expired or used request id gives an error page.
pub async fn continue_after_step_up(
    state: &AppState,
    authorize_request_id: &str,
    mut session: Session,
    cookie: Cookie<'static>,
) -> Result<HttpResponse, AppError> {
    let request = state
        .stores
        .authorize_requests
        .take(&digest(authorize_request_id))
        .await?
        .ok_or_else(expired_request)?;
    let location =
        finish_authorize(state, &request, &mut session, &session_key(cookie.value())).await?;
    tracing::info!(client_id = %request.client_id, subject = %session.subject, amr = ?session.amr, "stepped up");
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
