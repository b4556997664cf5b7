//! `GET /signin-oidc`: the redirect URI. Checks the state against the pending sign-in (single
//! use), shows provider errors, exchanges the code and verifies the ID token; only then is a
//! session created.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use chrono::Utc;

use super::{AppState, see_other};
use crate::error::AppError;
use crate::secret::ct_eq;
use crate::session::{PENDING_LIFETIME_SECS, WebSession, is_local_path, random_token};
use crate::store::SignedIn;

/// The query of the authorization response (RFC 6749 §4.1.2, RFC 9207 `iss`).
#[derive(Debug, serde::Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// Finishes a sign-in.
pub async fn get(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    state.respond(handle(&state, &WebSession(&session), query.into_inner()).await)
}

async fn handle(
    state: &AppState,
    session: &WebSession<'_>,
    query: CallbackQuery,
) -> Result<HttpResponse, AppError> {
    // Single use: the pending sign-in is gone from here on, whatever happens next.
    let pending = session.take_pending();
    if let Some(code) = query.error {
        return Err(AppError::ProviderError {
            code: printable(&code, 64),
            description: query.error_description.map(|d| printable(&d, 200)),
        });
    }
    let pending = pending.ok_or(AppError::NoPendingSignIn)?;
    if Utc::now().timestamp() - pending.created_at > PENDING_LIFETIME_SECS {
        return Err(AppError::NoPendingSignIn);
    }
    let returned_state = query.state.ok_or(AppError::StateMismatch)?;
    if !ct_eq(&returned_state, &pending.state) {
        return Err(AppError::StateMismatch);
    }
    if let Some(iss) = query.iss
        && iss.trim_end_matches('/') != state.urls.issuer_url.trim_end_matches('/')
    {
        return Err(AppError::WrongIssuer);
    }
    let code = query
        .code
        .filter(|c| !c.is_empty())
        .ok_or(AppError::MissingCode)?;
    let provider = state.provider.get().ok_or(AppError::ProviderUnavailable)?;
    let tokens = provider.finish_sign_in(&pending, &code).await?;
    let identity = tokens
        .identity
        .ok_or_else(|| AppError::InvalidIdToken("no id_token".into()))?;

    let now = Utc::now();
    let id = random_token(32);
    let signed_in = SignedIn {
        subject: identity.subject,
        sid: identity.sid,
        claims: identity.claims,
        id_token: identity.id_token,
        access_token: tokens.access_token,
        access_token_expires_at: tokens.access_token_expires_at,
        refresh_token: tokens.refresh_token,
        scopes: tokens.scopes.unwrap_or_else(|| {
            std::iter::once("openid".to_owned())
                .chain(state.urls.extra_scopes.iter().cloned())
                .collect()
        }),
        created_at: now,
        expires_at: now + state.session_lifetime,
        refresh_count: 0,
    };
    // Stored first: if the store fails, the browser is not signed in (a 503, start again).
    state.store.put(&id, &signed_in).await?;
    // A sign-in over a signed-in session (a step-up) replaces it: the old entry goes.
    let previous = session.session_id();
    session.sign_in(&id).map_err(AppError::Internal)?;
    if let Some(previous) = previous
        && let Err(e) = state.store.remove(&previous).await
    {
        tracing::warn!(error = %e, "the replaced session entry could not be removed; it expires by itself");
    }
    tracing::info!("user signed in");
    let target = if is_local_path(&pending.return_to) {
        pending.return_to.as_str()
    } else {
        "/"
    };
    Ok(see_other(target))
}

/// Keeps a provider-sent string short and printable before it reaches a page or a log.
fn printable(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}
