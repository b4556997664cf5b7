//! `POST /connect/revocation` (RFC 7009): an authenticated client revokes one of its own access
//! or refresh tokens. Unknown tokens, and tokens of other clients, answer 200 and change
//! nothing (no oracle for token validity). `token_type_hint` is ignored (RFC 7009 2.1: a hint).

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::OAuthError;
use crate::oidc::{param, sha256_b64};
use crate::state::AppState;

/// `POST /connect/revocation`.
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = super::read_form(&req, payload, state.settings.max_body_bytes).await?;
    let client = super::client_auth::authenticate(&state, &req, &params).await?;
    let token =
        param(&params, "token").ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    // token_type_hint is advisory (RFC 7009 2.1): both kinds are looked up whatever it says, and
    // an unknown value is ignored rather than refused.
    if let Some((jti, record)) = super::userinfo::validate_access_token(&state, token).await? {
        if record.client_id == client.client_id {
            state.stores.access_tokens.revoke(&jti).await?;
        }
    } else if let Some(grant) = state
        .stores
        .grants
        .find_by_refresh(&sha256_b64(token))
        .await?
        && grant.client_id == client.client_id
    {
        state.stores.grants.revoke(&grant.id).await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
