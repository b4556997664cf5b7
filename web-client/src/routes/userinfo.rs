//! `GET /userinfo`: calls the identity server's userinfo endpoint with the access token.

use actix_session::Session;
use actix_web::{HttpResponse, web};

use super::{AppState, Gate, require_user};
use crate::error::AppError;
use crate::session::WebSession;
use crate::templates::{UserinfoPage, claim_rows};

/// The userinfo answer for the signed-in user.
pub async fn get(state: web::Data<AppState>, session: Session) -> HttpResponse {
    state.respond(handle(&state, &WebSession(&session)).await)
}

async fn handle(state: &AppState, session: &WebSession<'_>) -> Result<HttpResponse, AppError> {
    let signed_in = match require_user(state, session, "/userinfo").await? {
        Gate::User(_, signed_in) => signed_in,
        Gate::SignIn(redirect) => return Ok(redirect),
    };
    let provider = state.provider.get().ok_or(AppError::ProviderUnavailable)?;
    let claims = provider
        .userinfo(&signed_in.access_token, &signed_in.subject)
        .await?;
    state.page(
        "userinfo.html",
        &UserinfoPage {
            issuer: state.urls.issuer_url.clone(),
            claims: claim_rows(&claims),
        },
    )
}
