//! Client API authentication, as the Web SDK sends it: `Authorization: Bearer <token>` (a
//! track token, or an access token from an earlier verify: both are the emulator's track
//! tokens) or `Authorization: Basic base64(encodeURIComponent(tenantId))`, with or without the
//! trailing `:` the docs show. The tenant id is public; Basic only names the tenant.

use std::future::{Ready, ready};

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;

use crate::domain::secret::ct_eq_str;
use crate::domain::token::{TokenClaims, TokenError};
use crate::error::ApiError;
use crate::state::AppState;

/// Who is calling.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// Basic with the tenant id: an anonymous page (passkey sign-in).
    Tenant,
    /// Bearer: a token naming a user and an action.
    Token(TokenClaims),
}

impl ClientAuth {
    /// The token's claims, or 401 when the caller used the tenant id.
    pub fn require_token(&self) -> Result<&TokenClaims, ApiError> {
        match self {
            ClientAuth::Token(claims) => Ok(claims),
            ClientAuth::Tenant => Err(ApiError::ClientUnauthorized(
                "this endpoint needs a Bearer token".into(),
            )),
        }
    }

    /// The token's user, if any.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            ClientAuth::Token(claims) => Some(&claims.other.user_id),
            ClientAuth::Tenant => None,
        }
    }
}

/// The tenant id of a Basic credential: base64, percent-decoded, up to an optional `:`.
pub fn parse_basic_tenant(encoded: &str) -> Option<String> {
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
    percent_encoding::percent_decode_str(user)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Parses an `Authorization` header value.
pub fn authenticate(value: Option<&str>, state: &AppState) -> Result<ClientAuth, ApiError> {
    let missing = || {
        ApiError::ClientUnauthorized(
            "an Authorization header with a Bearer token or the tenant id is required".into(),
        )
    };
    let value = value.ok_or_else(missing)?.trim();
    let (scheme, credentials) = value.split_once(' ').ok_or_else(missing)?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let claims: TokenClaims = state
            .track_key
            .verify(credentials.trim(), Utc::now().timestamp())
            .map_err(|e| match e {
                TokenError::Expired => ApiError::ExpiredToken,
                _ => ApiError::ClientUnauthorized("the token is not valid".into()),
            })?;
        if claims.other.tenant_id != state.tenant_id {
            return Err(ApiError::ClientUnauthorized(
                "the token is not valid".into(),
            ));
        }
        return Ok(ClientAuth::Token(claims));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        return match parse_basic_tenant(credentials) {
            Some(tenant) if ct_eq_str(&tenant, &state.tenant_id) => Ok(ClientAuth::Tenant),
            _ => Err(ApiError::ClientUnauthorized(
                "the tenant id is not valid".into(),
            )),
        };
    }
    Err(missing())
}

impl FromRequest for ClientAuth {
    type Error = ApiError;
    type Future = Ready<Result<ClientAuth, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal("no application state".into())));
        };
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        ready(authenticate(value, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_id_is_read_with_and_without_a_colon_and_percent_decoded() {
        let with = STANDARD.encode("tenant-1:");
        let without = STANDARD.encode("tenant-1");
        let encoded = STANDARD.encode("t%C3%A9nant");
        assert_eq!(parse_basic_tenant(&with).as_deref(), Some("tenant-1"));
        assert_eq!(parse_basic_tenant(&without).as_deref(), Some("tenant-1"));
        assert_eq!(parse_basic_tenant(&encoded).as_deref(), Some("ténant"));
        assert_eq!(parse_basic_tenant("!!!"), None);
    }
}
