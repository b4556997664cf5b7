//! `POST /connect/introspect` (RFC 7662): an authenticated confidential client learns whether a
//! token is active. A client sees its own tokens and access tokens naming it as audience;
//! everything else is `{"active": false}` and nothing more.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::error::OAuthError;
use crate::oidc::{now, param, sha256_b64};
use crate::state::AppState;

/// `POST /connect/introspect`.
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = super::read_form(&req, payload, state.settings.max_body_bytes).await?;
    let client = super::client_auth::authenticate(&state, &req, &params).await?;
    if client.is_public() {
        return Err(OAuthError::invalid_client(
            "public clients may not introspect",
        ));
    }
    let token =
        param(&params, "token").ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    if let Some((jti, r)) = super::userinfo::validate_access_token(&state, token).await?
        && (r.client_id == client.client_id || r.aud.contains(&client.client_id))
    {
        return Ok(super::no_store_json(&json!({
            "active": true,
            "token_type": "Bearer",
            "scope": r.scope.join(" "),
            "client_id": r.client_id,
            "sub": r.subject,
            "aud": r.aud,
            "iss": state.settings.issuer,
            "iat": r.iat,
            "exp": r.exp,
            "jti": jti,
        })));
    }
    if let Some(g) = state
        .stores
        .grants
        .find_by_refresh(&sha256_b64(token))
        .await?
        && g.client_id == client.client_id
        && g.refresh_hash.as_deref() == Some(sha256_b64(token).as_str())
        && !g.revoked
        && g.expires_at > now()
    {
        return Ok(super::no_store_json(&json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": g.scope.join(" "),
            "client_id": g.client_id,
            "sub": g.subject,
            "iss": state.settings.issuer,
            "iat": g.created,
            "exp": g.expires_at,
        })));
    }
    Ok(super::no_store_json(&json!({ "active": false })))
}
