//! `POST /backchannel-logout`: the identity server signs the user out of this app
//! (OpenID Connect Back-Channel Logout 1.0). Called server to server, never by a browser: no
//! cookie is read or set (the handler never touches the session) and there is no CSRF token,
//! because the signed logout token is the authentication. The web client has no CSRF or origin
//! middleware in front of its routes (forms check their token in their own handler, as
//! `/signout` does), so nothing stands between the identity server and this route.
//!
//! Reads a form body of at most [`MAX_BODY_BYTES`], verifies the logout token
//! ([`crate::oidc::Provider::verify_logout_token`]) and records it in the store in one atomic
//! step: its `jti` once, and the logout marker that makes every matching session read as
//! signed out from then on. 200 with `Cache-Control: no-store` on success; a refused request
//! is a 400 `invalid_request` in JSON; only our side failing (no discovery yet, the store) is a
//! 503, which the identity server retries.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::AppState;
use crate::backchannel::{self, LogoutTokenError, MAX_BODY_BYTES};
use crate::error::LogoutError;
use crate::session::PENDING_LIFETIME_SECS;

/// How long after the user signed out at the identity server a sign-in that was under way may
/// still store its session: the pending sign-in's lifetime and a margin for the code exchange.
/// A logout marker outlives the sessions it can match by this much.
const SIGN_IN_WINDOW_SECS: i64 = PENDING_LIFETIME_SECS + 60;

/// Receives a logout token.
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match handle(&state, &req, payload).await {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(), LogoutError> {
    let body = read_form(req, payload).await?;
    let token = backchannel::token_from_form(&body)?;
    let provider = state
        .provider
        .get()
        .ok_or(LogoutError::ProviderUnavailable)?;
    let now = Utc::now();
    let verified = provider
        .verify_logout_token(&token, now.timestamp())
        .await?;
    let logout = verified.to_logout(
        now,
        state.session_lifetime,
        chrono::Duration::seconds(SIGN_IN_WINDOW_SECS),
    );
    if !state.store.record_logout(&logout).await? {
        return Err(LogoutError::Replayed);
    }
    tracing::info!(
        by = match verified.target {
            crate::store::LogoutTarget::Session(_) => "sid",
            crate::store::LogoutTarget::Subject(_) => "sub",
        },
        "back-channel logout accepted: the matching sessions are signed out"
    );
    Ok(())
}

/// The body of an `application/x-www-form-urlencoded` request, at most [`MAX_BODY_BYTES`]
/// (a larger `Content-Length` is refused unread, a longer stream is cut off).
async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Vec<u8>, LogoutError> {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err(LogoutTokenError::Request(
            "the body must be application/x-www-form-urlencoded",
        )
        .into());
    }
    let too_large = LogoutTokenError::Request("the body is too large");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large.into());
    }
    match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(_)) => Err(LogoutTokenError::Request("the body could not be read").into()),
        Err(_) => Err(too_large.into()),
    }
}
