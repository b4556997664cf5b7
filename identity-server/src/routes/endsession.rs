//! RP-initiated logout 1.0 (`/connect/endsession`) and the logout pages (`/Account/Logout`).
//!
//! A redirect back to the client happens only with a valid `id_token_hint` (signed by us, our
//! issuer) whose client registered the exact `post_logout_redirect_uri`. A missing or invalid
//! hint, or a hint for another session than the current one (another user, or the same user's
//! older session: the `sid` must match), shows a confirmation page (a CSRF protected POST)
//! instead; an unregistered URI or a `state` over 512 bytes shows an error page.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::AppError;
use crate::oidc::authorize::{MAX_STATE_LEN, append_query};
use crate::oidc::{jwt, param};
use crate::state::AppState;

/// What a valid `id_token_hint` says.
pub(crate) struct Hint {
    /// The client it was issued to (`aud`).
    pub client_id: String,
    /// The user (`sub`).
    pub subject: String,
    /// The session it was issued in (`sid`), when it names one.
    pub sid: Option<String>,
}

/// Reads an `id_token_hint`: one of our ID tokens (signature and issuer checked, expiry not:
/// the specs expect expired hints), never an access token. `None` when it is not.
pub(crate) fn parse_hint(state: &AppState, token: &str) -> Option<Hint> {
    // Expired hints are fine (the spec expects them); signature and issuer are not negotiable.
    let (_, claims) = jwt::decode(&state.keys, token).ok()?;
    if claims.get("iss").and_then(|v| v.as_str()) != Some(state.settings.issuer.as_str()) {
        return None;
    }
    let client_id = match claims.get("aud")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str()?.to_owned(),
        _ => return None,
    };
    if claims.contains_key("client_id") {
        // An access token is not an ID token.
        return None;
    }
    let subject = claims.get("sub")?.as_str()?.to_owned();
    let sid = claims
        .get("sid")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Some(Hint {
        client_id,
        subject,
        sid,
    })
}

#[derive(Serialize)]
struct ConfirmPage {
    csrf_token: String,
    signed_in: bool,
}

#[derive(Serialize)]
struct LoggedOutPage {
    client_name: Option<String>,
    client_link: Option<String>,
    /// The applications to go to when the client is not known.
    apps: Vec<crate::templates::AppLink>,
}

/// The confirmation page (a POST form to `/Account/Logout`).
async fn confirm(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, AppError> {
    let csrf = crate::csrf::issue(state, req);
    let signed_in = crate::signin::load_session(state, req).await?.is_some();
    let mut response = crate::render(
        state,
        "logout.html",
        &ConfirmPage {
            csrf_token: csrf.token,
            signed_in,
        },
    )?;
    if let Some(cookie) = csrf.cookie {
        response.add_cookie(&cookie).map_err(AppError::internal)?;
    }
    Ok(response)
}

pub(crate) async fn logged_out(
    state: &AppState,
    req: &HttpRequest,
    client_id: Option<&str>,
) -> Result<HttpResponse, AppError> {
    crate::signin::end_session(state, req).await?;
    let client = client_id.and_then(|id| state.clients.get(id));
    let page = LoggedOutPage {
        client_name: client.map(|c| c.client_name.clone()),
        client_link: client.and_then(|c| {
            c.client_uri
                .clone()
                .or_else(|| c.post_logout_redirect_uris.first().cloned())
        }),
        apps: crate::templates::app_links(&state.clients),
    };
    let mut response = crate::render(state, "logged_out.html", &page)?;
    response
        .add_cookie(&crate::signin::removal_cookie())
        .map_err(AppError::internal)?;
    Ok(response)
}

async fn handle(
    state: &AppState,
    req: &HttpRequest,
    params: &[(String, String)],
    after_post: bool,
) -> Result<HttpResponse, AppError> {
    // The `state` is echoed to the client: bounded like the authorization endpoint's (errors
    // here are pages, never redirects).
    if param(params, "state").is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(AppError::BadRequest(format!(
            "The state is too long (at most {MAX_STATE_LEN} bytes)."
        )));
    }
    let hint = param(params, "id_token_hint").and_then(|t| parse_hint(state, t));
    let uri = param(params, "post_logout_redirect_uri");
    if let (Some(hint), Some(id)) = (&hint, param(params, "client_id"))
        && hint.client_id != id
    {
        return Err(AppError::BadRequest(
            "The id_token_hint was issued to another client.".into(),
        ));
    }
    let Some(hint) = hint else {
        return confirm(state, req).await;
    };
    let Some(client) = state.clients.get(&hint.client_id) else {
        return confirm(state, req).await;
    };
    if let Some(uri) = uri
        && !client.post_logout_redirect_uris.iter().any(|u| u == uri)
    {
        return Err(AppError::BadRequest(format!(
            "The post_logout_redirect_uri '{}' is not registered for the client '{}'.",
            uri.chars().take(100).collect::<String>(),
            client.client_id
        )));
    }
    // The OP MUST ask when the hint does not belong to the current session (RP-Initiated
    // Logout 1.0 section 2): the same user's older session is another session, and a hint
    // without a `sid` cannot prove it is this one.
    let session = crate::signin::load_session(state, req).await?;
    if session
        .as_ref()
        .is_some_and(|s| s.subject != hint.subject || hint.sid.as_deref() != Some(s.sid.as_str()))
    {
        return confirm(state, req).await;
    }
    match uri {
        Some(uri) => {
            crate::signin::end_session(state, req).await?;
            let location = match param(params, "state") {
                Some(st) => append_query(
                    uri,
                    &url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("state", st)
                        .finish(),
                ),
                None => uri.to_owned(),
            };
            let mut builder = if after_post {
                HttpResponse::SeeOther()
            } else {
                HttpResponse::Found()
            };
            Ok(builder
                .cookie(crate::signin::removal_cookie())
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish())
        }
        None => logged_out(state, req, Some(&client.client_id)).await,
    }
}

/// `GET /connect/endsession`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let params = super::query_params(&req)
        .map_err(|m| AppError::BadRequest(format!("The request is malformed: {m}.")))?;
    handle(&state, &req, &params, false).await
}

/// `POST /connect/endsession` (form-encoded).
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = super::read_form(&req, payload, state.settings.max_body_bytes).await?;
    handle(&state, &req, &params, true).await
}

/// `GET /Account/Logout`: the confirmation page.
pub async fn confirm_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    confirm(&state, &req).await
}

/// `POST /Account/Logout`: ends the session (CSRF checked) and shows the logged-out page.
pub async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = super::read_form(&req, payload, state.settings.max_body_bytes).await?;
    if !crate::csrf::verify(&state, &req, param(&params, "csrf_token").unwrap_or("")) {
        return Err(AppError::BadRequest(
            "The form has expired. Please go back, reload the page and try again.".into(),
        ));
    }
    logged_out(&state, &req, None).await
}
