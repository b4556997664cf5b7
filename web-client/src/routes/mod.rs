//! HTTP routes: thin handlers that parse the request, call into [`crate::oidc`] and the
//! session store, and answer with a page or a redirect. Failures go through
//! [`crate::error::AppError::into_response`].

pub mod assets;
pub mod backchannel;
pub mod health;
pub mod home;
pub mod sensitive;
pub mod signin;
pub mod signout;
pub mod userinfo;

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::header;
use chrono::Utc;

use crate::configuration::Validated;
use crate::error::AppError;
use crate::oidc::ProviderCell;
use crate::secret::Secret;
use crate::session::WebSession;
use crate::store::{SessionStore, SignedIn};

/// Refresh the access token this long before it expires, so a page never uses a token that
/// expires on the way.
const REFRESH_SKEW_SECS: i64 = 10;

/// What every handler shares; built once in [`crate::startup::Application::build_with`].
#[derive(Debug)]
pub struct AppState {
    /// The templates.
    pub tera: tera::Tera,
    /// The identity server's client, once discovered.
    pub provider: ProviderCell,
    /// Signed-in sessions (tokens and claims) and their refresh locks.
    pub store: Arc<dyn SessionStore>,
    /// Public URL, issuer, redirect URIs.
    pub urls: Validated,
    /// Absolute lifetime of a signed-in session.
    pub session_lifetime: chrono::Duration,
    /// How recent the second factor must be for `/sensitive`, in seconds.
    pub sensitive_max_age_secs: i64,
}

fn expiring(signed_in: &SignedIn, now: chrono::DateTime<Utc>) -> bool {
    signed_in
        .access_token_expires_at
        .is_some_and(|t| t <= now + chrono::Duration::seconds(REFRESH_SKEW_SECS))
}

/// Why a session's tokens need refreshing.
#[derive(Debug)]
pub enum Stale<'a> {
    /// The access token expires (or has expired).
    Expiring,
    /// The identity server refused this access token (userinfo answered 401), e.g. after it
    /// lost its access-token records.
    Rejected(&'a Secret),
}

impl AppState {
    /// Turns a handler's result into a response (the error page on failure).
    pub fn respond(&self, result: Result<HttpResponse, AppError>) -> HttpResponse {
        result.unwrap_or_else(|e| e.into_response(&self.tera, &self.urls.issuer_url))
    }

    /// Renders a page (200).
    pub fn page<T: serde::Serialize>(&self, name: &str, ctx: &T) -> Result<HttpResponse, AppError> {
        let html = crate::templates::render(&self.tera, name, ctx)
            .map_err(|e| AppError::Internal(format!("template '{name}': {e:?}")))?;
        Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html))
    }
}

/// The error page for a request that never reached a handler (bad query or form, unknown path).
pub fn reject(req: &actix_web::HttpRequest, error: AppError) -> HttpResponse {
    match req.app_data::<actix_web::web::Data<AppState>>() {
        Some(state) => error.into_response(&state.tera, &state.urls.issuer_url),
        None => HttpResponse::build(error.status()).finish(),
    }
}

/// Unknown paths and methods: a 404 page.
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    reject(&req, AppError::NotFound)
}

/// A `303 See Other` to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The signed-in user of this request, or the redirect that starts a sign-in.
#[derive(Debug)]
pub enum Gate {
    /// Signed in: the store id and the session.
    User(String, Box<SignedIn>),
    /// Not (or no longer) signed in: send the browser to the identity server.
    SignIn(HttpResponse),
}

/// The signed-in user, refreshing an expired access token first; otherwise starts a sign-in
/// that comes back to `return_to`. A failing store is an error (a 503 page), never a sign-out.
pub async fn require_user(
    state: &AppState,
    session: &WebSession<'_>,
    return_to: &str,
) -> Result<Gate, AppError> {
    let now = Utc::now();
    if let Some(id) = session.session_id() {
        match state.store.get(&id, now).await? {
            Some(signed_in) if !expiring(&signed_in, now) => {
                return Ok(Gate::User(id, Box::new(signed_in)));
            }
            Some(_) => {
                if let Some(refreshed) = refresh_session(state, &id, Stale::Expiring).await? {
                    return Ok(Gate::User(id, Box::new(refreshed)));
                }
            }
            None => tracing::info!("session expired or unknown, signing in again"),
        }
    }
    sign_in_again(state, session, return_to).map(Gate::SignIn)
}

/// Forgets the browser's session and starts a sign-in that comes back to `return_to` (the
/// redirect to the identity server).
pub fn sign_in_again(
    state: &AppState,
    session: &WebSession<'_>,
    return_to: &str,
) -> Result<HttpResponse, AppError> {
    if session.session_id().is_some() {
        session.clear();
    }
    let provider = state.provider.get().ok_or(AppError::ProviderUnavailable)?;
    let (url, pending) = provider.begin_sign_in(return_to);
    session.set_pending(&pending).map_err(AppError::Internal)?;
    Ok(see_other(url.as_str()))
}

/// Refreshes the tokens of session `id` under its refresh lock (in Redis mode a lock across
/// replicas): the identity server rotates refresh tokens and revokes the grant when a used one
/// comes back, so one refresh token must be sent once. After the lock is taken the session is
/// read again: when another request (or replica) has refreshed meanwhile, its tokens are used.
/// `Ok(None)`: the session cannot go on (gone, no refresh token, refresh refused); it has been
/// removed and the caller signs the user in again.
pub async fn refresh_session(
    state: &AppState,
    id: &str,
    why: Stale<'_>,
) -> Result<Option<SignedIn>, AppError> {
    let store = state.store.clone();
    let provider = state.provider.clone();
    let id = id.to_owned();
    let rejected = match why {
        Stale::Expiring => None,
        Stale::Rejected(token) => Some(token.clone()),
    };
    // A task of its own, so that a browser that goes away mid-refresh cannot cut it between the
    // identity server's rotation and the store write: the new refresh token would be lost, and
    // the next refresh would send the old one, which the identity server takes for theft.
    tokio::spawn(async move { locked_refresh(&*store, &provider, &id, rejected.as_ref()).await })
        .await
        .map_err(|e| AppError::Internal(format!("refresh task: {e}")))?
}

async fn locked_refresh(
    store: &dyn SessionStore,
    provider: &ProviderCell,
    id: &str,
    rejected: Option<&Secret>,
) -> Result<Option<SignedIn>, AppError> {
    let guard = store.lock_refresh(id).await?;
    let result = async {
        let now = Utc::now();
        let Some(current) = store.get(id, now).await? else {
            return Ok(None);
        };
        let done_elsewhere = !expiring(&current, now)
            && rejected.is_none_or(|token| !current.access_token.ct_eq(token.expose()));
        if done_elsewhere {
            return Ok(Some(current));
        }
        refresh(store, provider, id, current).await
    }
    .await;
    if let Err(e) = store.unlock_refresh(guard).await {
        // The lock expires by itself; the refresh itself is done (or failed) either way.
        tracing::warn!(error = %e, "refresh lock not released, it will expire");
    }
    result
}

/// Refreshes the access token. `Ok(None)` when the session cannot go on (no refresh token, or
/// the identity server refused it): the session is removed and the caller signs the user in
/// again.
async fn refresh(
    store: &dyn SessionStore,
    provider: &ProviderCell,
    id: &str,
    mut signed_in: SignedIn,
) -> Result<Option<SignedIn>, AppError> {
    let Some(refresh_token) = signed_in.refresh_token.clone() else {
        store.remove(id).await?;
        return Ok(None);
    };
    let provider = provider.get().ok_or(AppError::ProviderUnavailable)?;
    match provider.refresh(&refresh_token, &signed_in.subject).await {
        Ok(tokens) => {
            if let Some(identity) = tokens.identity {
                signed_in.claims = identity.claims;
                signed_in.id_token = identity.id_token;
            }
            signed_in.access_token = tokens.access_token;
            signed_in.access_token_expires_at = tokens.access_token_expires_at;
            signed_in.refresh_token = tokens.refresh_token;
            if let Some(scopes) = tokens.scopes {
                signed_in.scopes = scopes;
            }
            signed_in.refresh_count += 1;
            // If this write fails the new tokens are lost and the next refresh sends a rotated
            // token (the identity server then revokes the grant and the user signs in again):
            // the page says 503, it never shows a session that was not stored.
            store.put(id, &signed_in).await?;
            tracing::info!("access token refreshed");
            Ok(Some(signed_in))
        }
        Err(crate::oidc::OidcError::Refused { code, .. }) => {
            tracing::info!(%code, "refresh refused, signing in again");
            store.remove(id).await?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
