//! `POST /connect/token`: `authorization_code`, `refresh_token`, `client_credentials`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::{Client, GrantType};
use crate::error::{ErrorCode, OAuthError};
use crate::oidc::grants::{check_code, client_credentials_scope, refresh_scope};
use crate::oidc::{now, param, random_token, sha256_b64};
use crate::state::AppState;
use crate::store::{CodeUse, RefreshUse};
use crate::tokens::{TokenResponse, issue_access_token, issue_id_token, new_grant};

/// `POST /connect/token`.
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = super::read_form(&req, payload, state.settings.max_body_bytes).await?;
    let client = super::client_auth::authenticate(&state, &req, &params).await?;
    let grant_type = match param(&params, "grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
        Some(g) => GrantType::parse(g).ok_or_else(|| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "the grant type is not supported",
            )
        })?,
    };
    if !client.allows(grant_type) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use this grant type",
        ));
    }
    // Store calls are async (the embedded store commits in its writer thread, sharing one fsync
    // between concurrent requests); the RS256 signature (about 0.4 ms with ring) runs inline.
    let response = match grant_type {
        GrantType::AuthorizationCode => authorization_code(&state, &client, &params).await,
        GrantType::RefreshToken => refresh_token(&state, &client, &params).await,
        GrantType::ClientCredentials => client_credentials(&state, &client, &params).await,
    }?;
    Ok(super::no_store_json(&response))
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    params: &[(String, String)],
) -> Result<TokenResponse, OAuthError> {
    let code =
        param(params, "code").ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let code_hash = sha256_b64(code);
    let record = match state.stores.codes.redeem(&code_hash).await? {
        CodeUse::Unknown => {
            return Err(OAuthError::invalid_grant(
                "the code is invalid or has expired",
            ));
        }
        CodeUse::Reused(record) => {
            if let Some(grant_id) = &record.grant_id {
                state.stores.grants.revoke(grant_id).await?;
            }
            tracing::warn!(client_id = %record.client_id, "authorization code replayed; its tokens are revoked");
            return Err(OAuthError::invalid_grant(
                "the code was already used; the tokens it issued are revoked",
            ));
        }
        CodeUse::First(record) => record,
    };
    check_code(
        &record,
        &client.client_id,
        param(params, "redirect_uri"),
        param(params, "code_verifier"),
        now(),
    )?;
    // A code outlives nothing it came from: once its session has ended (a logout, "sign out
    // everywhere", the session list), it is refused, so that no new grant outlives the sign-out.
    let timeouts = &state.settings.session;
    let live = state
        .stores
        .sessions
        .list(
            &record.subject,
            now(),
            timeouts.idle_timeout_secs,
            timeouts.absolute_timeout_secs,
        )
        .await?;
    if !live.iter().any(|s| s.sid == record.sid) {
        tracing::warn!(client_id = %record.client_id, "authorization code of an ended session refused");
        return Err(OAuthError::invalid_grant(
            "the sign-in this code came from has ended",
        ));
    }
    let (grant, refresh) = new_grant(state, &record, client.allows(GrantType::RefreshToken));
    // Bind the grant to the code before anything else, so that a replay racing this request
    // finds something to revoke.
    state.stores.codes.set_grant(&code_hash, &grant.id).await?;
    if !state.stores.grants.create(&grant).await? {
        // A replay of this code revoked the grant before it existed: nothing is issued.
        tracing::warn!(client_id = %record.client_id, "authorization code replayed during its redemption; nothing issued");
        return Err(OAuthError::invalid_grant(
            "the code was already used; the tokens it issued are revoked",
        ));
    }
    let (access_token, expires_in) = issue_access_token(
        state,
        &client.client_id,
        &grant.subject,
        &grant.scope,
        Some((grant.auth_time, &grant.amr)),
        Some(&grant.id),
    )
    .await?;
    let id_token = issue_id_token(
        state,
        &grant,
        &grant.scope,
        record.nonce.as_deref(),
        &access_token,
    )
    .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        scope: grant.scope.join(" "),
        id_token: Some(id_token),
        refresh_token: refresh,
    })
}

async fn refresh_token(
    state: &AppState,
    client: &Client,
    params: &[(String, String)],
) -> Result<TokenResponse, OAuthError> {
    let presented = param(params, "refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let old_hash = sha256_b64(presented);
    let grant = state
        .stores
        .grants
        .find_by_refresh(&old_hash)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let scope = refresh_scope(param(params, "scope"), &grant.scope)?;
    // RFC 9068 requires an audience; refuse before the refresh token is rotated.
    if crate::tokens::audiences(state, &scope).is_empty() {
        return Err(OAuthError::new(
            crate::error::ErrorCode::InvalidScope,
            "the scope names no resource for the access token (add 'openid' or an API scope)",
        ));
    }
    let next = random_token();
    let grant = match state
        .stores
        .grants
        .rotate(
            &old_hash,
            &sha256_b64(&next),
            now(),
            state.settings.tokens.refresh_reuse_interval_secs,
        )
        .await?
    {
        RefreshUse::Invalid => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ));
        }
        RefreshUse::Reused(grant) => {
            tracing::warn!(client_id = %grant.client_id, "rotated refresh token replayed; grant revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the grant is revoked",
            ));
        }
        RefreshUse::Rotated(grant) => grant,
    };
    let (access_token, expires_in) = issue_access_token(
        state,
        &client.client_id,
        &grant.subject,
        &scope,
        Some((grant.auth_time, &grant.amr)),
        Some(&grant.id),
    )
    .await?;
    let id_token =
        if state.settings.tokens.id_token_on_refresh && scope.iter().any(|s| s == "openid") {
            Some(issue_id_token(state, &grant, &scope, None, &access_token).await?)
        } else {
            None
        };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        scope: scope.join(" "),
        id_token,
        refresh_token: Some(next),
    })
}

async fn client_credentials(
    state: &AppState,
    client: &Client,
    params: &[(String, String)],
) -> Result<TokenResponse, OAuthError> {
    let scope = client_credentials_scope(param(params, "scope"), client, &state.api_scopes)?;
    let (access_token, expires_in) = issue_access_token(
        state,
        &client.client_id,
        &client.client_id,
        &scope,
        None,
        None,
    )
    .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        scope: scope.join(" "),
        id_token: None,
        refresh_token: None,
    })
}
