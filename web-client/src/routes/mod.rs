//! HTTP routes: thin handlers that parse the request, call into [`crate::oidc`] and the
//! session store, and answer with a page or a redirect. Failures go through
//! [`crate::error::AppError::into_response`].

pub mod assets;
pub mod health;
pub mod home;
pub mod signin;
pub mod signout;
pub mod userinfo;

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::header;
use chrono::Utc;

use crate::configuration::Validated;
use crate::error::AppError;
use crate::oidc::ProviderCell;
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
    /// Signed-in sessions (tokens and claims).
    pub store: Arc<dyn SessionStore>,
    /// Public URL, issuer, redirect URIs.
    pub urls: Validated,
    /// Absolute lifetime of a signed-in session.
    pub session_lifetime: chrono::Duration,
    /// Serialises refreshes per session.
    pub refresh_locks: RefreshLocks,
}

/// One lock per session id, so that concurrent requests of one session refresh once: the
/// identity server rotates refresh tokens and treats a reused one as stolen (it revokes the
/// whole grant), so two parallel refreshes would sign the user out.
#[derive(Debug, Default)]
pub struct RefreshLocks(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl RefreshLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // Every operation is a single insert, lookup or remove: a poisoned map is still whole.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.map().entry(id.to_owned()).or_default().clone()
    }

    /// Forgets the lock of `id` unless another request still holds or waits for it.
    fn release(&self, id: &str) {
        let mut map = self.map();
        if map.get(id).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            map.remove(id);
        }
    }
}

fn expiring(signed_in: &SignedIn, now: chrono::DateTime<Utc>) -> bool {
    signed_in
        .access_token_expires_at
        .is_some_and(|t| t <= now + chrono::Duration::seconds(REFRESH_SKEW_SECS))
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
/// that comes back to `return_to`.
pub async fn require_user(
    state: &AppState,
    session: &WebSession<'_>,
    return_to: &str,
) -> Result<Gate, AppError> {
    let now = Utc::now();
    if let Some(id) = session.session_id() {
        match state.store.get(&id, now) {
            Some(signed_in) if !expiring(&signed_in, now) => {
                return Ok(Gate::User(id, Box::new(signed_in)));
            }
            Some(_) => {
                let lock = state.refresh_locks.lock_for(&id);
                let refreshed = {
                    let _guard = lock.lock().await;
                    // Another request of this session may have refreshed while this one waited.
                    match state.store.get(&id, Utc::now()) {
                        Some(current) if !expiring(&current, Utc::now()) => Ok(Some(current)),
                        Some(current) => refresh(state, &id, current).await,
                        None => Ok(None),
                    }
                };
                drop(lock);
                state.refresh_locks.release(&id);
                if let Some(refreshed) = refreshed? {
                    return Ok(Gate::User(id, Box::new(refreshed)));
                }
            }
            None => tracing::info!("session expired or unknown, signing in again"),
        }
        session.clear();
    }
    let provider = state.provider.get().ok_or(AppError::ProviderUnavailable)?;
    let (url, pending) = provider.begin_sign_in(return_to);
    session.set_pending(&pending).map_err(AppError::Internal)?;
    Ok(Gate::SignIn(see_other(url.as_str())))
}

/// Refreshes the access token. `Ok(None)` when the session cannot go on (no refresh token, or
/// the identity server refused it): the caller signs the user in again.
async fn refresh(
    state: &AppState,
    id: &str,
    mut signed_in: SignedIn,
) -> Result<Option<SignedIn>, AppError> {
    let Some(refresh_token) = signed_in.refresh_token.clone() else {
        state.store.remove(id);
        return Ok(None);
    };
    let provider = state.provider.get().ok_or(AppError::ProviderUnavailable)?;
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
            state.store.put(id, signed_in.clone());
            tracing::info!("access token refreshed");
            Ok(Some(signed_in))
        }
        Err(crate::oidc::OidcError::Refused { code, .. }) => {
            tracing::info!(%code, "refresh refused, signing in again");
            state.store.remove(id);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
