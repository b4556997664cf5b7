//! `GET /userinfo`: calls the identity server's userinfo endpoint with the access token.
//!
//! A 401 there means the identity server no longer accepts the access token (it may have
//! restarted and forgotten it): the tokens are refreshed once and the call retried; when that
//! is not possible, or the fresh token is refused too, the user signs in again. Never the
//! misleading "refused to exchange the authorization code" page.

use actix_session::Session;
use actix_web::{HttpResponse, web};

use super::{AppState, Gate, Stale, refresh_session, require_user, sign_in_again};
use crate::error::AppError;
use crate::oidc::OidcError;
use crate::session::WebSession;
use crate::templates::{UserinfoPage, claim_rows};

/// The userinfo answer for the signed-in user.
pub async fn get(state: web::Data<AppState>, session: Session) -> HttpResponse {
    state.respond(handle(&state, &WebSession(&session)).await)
}

async fn handle(state: &AppState, session: &WebSession<'_>) -> Result<HttpResponse, AppError> {
    let (id, signed_in) = match require_user(state, session, "/userinfo").await? {
        Gate::User(id, signed_in) => (id, signed_in),
        Gate::SignIn(redirect) => return Ok(redirect),
    };
    let provider = state.provider.get().ok_or(AppError::ProviderUnavailable)?;
    let claims = match provider
        .userinfo(&signed_in.access_token, &signed_in.subject)
        .await
    {
        Err(OidcError::TokenRejected) => {
            tracing::info!("userinfo rejected the access token, refreshing once");
            let Some(fresh) =
                refresh_session(state, &id, Stale::Rejected(&signed_in.access_token)).await?
            else {
                return sign_in_again(state, session, "/userinfo");
            };
            match provider.userinfo(&fresh.access_token, &fresh.subject).await {
                Err(OidcError::TokenRejected) => {
                    tracing::info!("userinfo rejected the refreshed token too, signing in again");
                    state.store.remove(&id).await?;
                    return sign_in_again(state, session, "/userinfo");
                }
                other => other?,
            }
        }
        other => other?,
    };
    state.page(
        "userinfo.html",
        &UserinfoPage {
            issuer: state.urls.issuer_url.clone(),
            claims: claim_rows(&claims),
        },
    )
}
