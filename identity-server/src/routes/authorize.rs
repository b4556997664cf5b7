//! `/connect/authorize` (GET and POST): validate, then issue a code for a live session, send the
//! browser to the login page with the id of the stored request, or (when the client asks for a
//! second factor the session lacks, `acr_values`/`claims` and `max_age`) start a step-up
//! challenge for the signed-in user ([`crate::account::step_up`]). No CORS headers.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{AppError, ErrorCode};
use crate::oidc::authorize::{self, AuthorizeError, Next, error_redirect};
use crate::oidc::{now, random_token};
use crate::state::AppState;
use crate::store::Full;

/// `GET /connect/authorize`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let params = super::query_params(&req)
        .map_err(|m| AppError::BadRequest(format!("The request is malformed: {m}.")))?;
    handle(&state, &req, &params, false).await
}

/// `POST /connect/authorize` (form-encoded).
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = super::read_form(&req, payload, state.settings.max_body_bytes).await?;
    handle(&state, &req, &params, true).await
}

fn redirect(location: &str, after_post: bool) -> HttpResponse {
    let mut builder = if after_post {
        HttpResponse::SeeOther()
    } else {
        HttpResponse::Found()
    };
    builder
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    params: &[(String, String)],
    after_post: bool,
) -> Result<HttpResponse, AppError> {
    let issuer = &state.settings.issuer;
    let request = match authorize::validate(params, &state.clients, &state.known_scopes) {
        Ok(r) => r,
        Err(AuthorizeError::Page(message)) => return Err(AppError::BadRequest(message)),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state: st,
            code,
            description,
        }) => {
            return Ok(redirect(
                &error_redirect(&redirect_uri, code, &description, st.as_deref(), issuer),
                after_post,
            ));
        }
    };
    let session = crate::signin::load_session(state, req).await?;
    // Only a valid hint counts; an invalid one is ignored like other hints (it does not break
    // the request).
    let hint = crate::oidc::param(params, "id_token_hint")
        .and_then(|t| super::endsession::parse_hint(state, t));
    let hint_subject = hint.as_ref().map(|h| h.subject.as_str());
    // Authsignal is asked only when a phishing-resistant level is wanted beyond the session's.
    let phr_reachable = match &session {
        Some(s) if authorize::needs_passkey_lookup(&request, Some(s)) => {
            crate::account::step_up::has_passkey(state, &s.subject).await
        }
        _ => false,
    };
    let error = |code: ErrorCode, description: &str| {
        Ok(redirect(
            &error_redirect(
                &request.redirect_uri,
                code,
                description,
                request.state.as_deref(),
                issuer,
            ),
            after_post,
        ))
    };
    match authorize::decide(
        &request,
        session.as_ref(),
        hint_subject,
        now(),
        phr_reachable,
    ) {
        Next::IssueCode => {
            let (Some(mut session), Some(cookie)) =
                (session, req.cookie(crate::signin::SESSION_COOKIE))
            else {
                return Err(AppError::internal(
                    "decided to issue a code without a session",
                ));
            };
            let location = crate::signin::finish_authorize(
                state,
                &request,
                &mut session,
                &crate::signin::session_key(cookie.value()),
            )
            .await?;
            Ok(redirect(&location, after_post))
        }
        Next::LoginRequired => error(ErrorCode::LoginRequired, "the user must sign in"),
        Next::InteractionRequired => error(
            ErrorCode::InteractionRequired,
            "the user must confirm a second factor",
        ),
        Next::Unmet => error(
            ErrorCode::UnmetAuthenticationRequirements,
            "the user cannot reach the essential authentication context class",
        ),
        Next::StepUp => {
            if session.is_none() {
                return Err(AppError::internal("decided to step up without a session"));
            }
            // The person confirms on a page first: a GET (which any site can make a signed-in
            // browser send) must not start, and count, a challenge.
            let id = store_pending(state, req, &request).await?;
            Ok(redirect(
                &crate::account::step_up::page_url(&id),
                after_post,
            ))
        }
        Next::Login => {
            let id = store_pending(state, req, &request).await?;
            Ok(redirect(&format!("/Account/Login?ar={id}"), after_post))
        }
    }
}

/// Stores the validated request under a fresh random id (bounded per client network and in
/// total) for the login page or the step-up; returns the id.
async fn store_pending(
    state: &AppState,
    req: &HttpRequest,
    request: &authorize::AuthorizeRequest,
) -> Result<String, AppError> {
    let id = random_token();
    let expires_at = now() + state.settings.tokens.authorize_request_lifetime_secs;
    let network = crate::throttle::peer_key(req);
    let max = u32::try_from(
        state
            .settings
            .limits
            .max_pending_authorize_requests_per_network,
    )
    .unwrap_or(u32::MAX);
    match state
        .stores
        .authorize_requests
        .put(
            &crate::store::digest(&id),
            request,
            expires_at,
            &network,
            max,
        )
        .await?
    {
        Ok(()) => Ok(id),
        Err(Full::Owner) => {
            tracing::warn!(network = %network, "pending authorize requests of one network are at their limit");
            Err(AppError::TooManyRequests(
                "Too many sign-ins are waiting from your network. Please finish one or try again in a few minutes.".into(),
            ))
        }
        Err(Full::Total) => {
            tracing::warn!("pending authorize requests are at their limit");
            Err(AppError::TooManyRequests(
                "The server is busy. Please try again in a few minutes.".into(),
            ))
        }
    }
}
