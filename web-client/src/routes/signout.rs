//! Sign-out: `POST /signout` (CSRF-checked) clears the local session first, then sends the
//! browser to the identity server's end-session endpoint with `id_token_hint`,
//! `post_logout_redirect_uri` and `state`; `GET /signout-callback-oidc` checks that state.

use actix_session::Session;
use actix_web::{HttpResponse, web};

use super::{AppState, see_other};
use crate::error::AppError;
use crate::secret::ct_eq;
use crate::session::{WebSession, random_token};
use crate::templates::SignedOutPage;

/// The sign-out form.
#[derive(Debug, serde::Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// Signs out.
pub async fn post(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<SignOutForm>,
) -> HttpResponse {
    state.respond(handle_post(&state, &WebSession(&session), &form.csrf).await)
}

async fn handle_post(
    state: &AppState,
    session: &WebSession<'_>,
    csrf: &str,
) -> Result<HttpResponse, AppError> {
    if !session.csrf_matches(csrf) {
        return Err(AppError::Csrf);
    }
    // Local session first: whatever happens at the identity server, this app has forgotten
    // the user and the tokens. If the store fails, nothing changes (a 503): the user is still
    // signed in here and can try again, rather than believe a session is gone that is not.
    let signed_in = match session.session_id() {
        Some(id) => state.store.remove(&id).await?,
        None => None,
    };
    session.clear();
    let logout = match (signed_in, state.provider.get()) {
        (Some(signed_in), Some(provider)) => {
            let logout_state = random_token(32);
            provider
                .logout_url(&signed_in.id_token, &logout_state)
                .map(|url| (url, logout_state))
        }
        _ => None,
    };
    match logout {
        Some((url, logout_state)) => {
            session
                .set_logout_state(&logout_state)
                .map_err(AppError::Internal)?;
            tracing::info!("signed out locally, ending the identity server session");
            Ok(see_other(url.as_str()))
        }
        None => state.page(
            "signed_out.html",
            &SignedOutPage {
                issuer: state.urls.issuer_url.clone(),
                message: "You are signed out of this app.".into(),
            },
        ),
    }
}

/// The query of the post-logout redirect.
#[derive(Debug, serde::Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
}

/// Where the identity server sends the browser after ending its session.
pub async fn callback(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let session = WebSession(&session);
    let expected = session.take_logout_state();
    let result = match (expected, &query.state) {
        (Some(expected), Some(got)) if ct_eq(&expected, got) => state.page(
            "signed_out.html",
            &SignedOutPage {
                issuer: state.urls.issuer_url.clone(),
                message: "You are signed out of this app and of the identity server.".into(),
            },
        ),
        _ => Err(AppError::LogoutStateMismatch),
    };
    state.respond(result)
}
