//! Issuing codes and tokens: authorization codes, access tokens (RFC 9068 JWT), ID tokens
//! (openidconnect's `IdToken::new` signed with the ring key), refresh tokens. The rules of
//! when a token may be issued live in [`crate::oidc`]; this module stores and signs.

use chrono::{TimeZone, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{AdditionalClaims, IdToken, IdTokenClaims};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::OAuthError;
use crate::oidc::acr::{self, Acr};
use crate::oidc::authorize::AuthorizeRequest;
use crate::oidc::{claims, jwt, now, random_token, sha256_b64};
use crate::state::AppState;
use crate::store::{AccessTokenRecord, CodeRecord, Grant, Session, StoreError};

/// Claims of our ID tokens beyond the standard ones: the session id (`sid`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ProviderClaims {
    /// Session id (OpenID Connect Front-/Back-Channel Logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl AdditionalClaims for ProviderClaims {}

/// Our ID token type.
pub type ProviderIdToken = IdToken<
    ProviderClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Issues a single-use code for `request` and the signed-in `session`; returns the code, or
/// `None` when the code store or the session's share of it is full (answer with
/// [`codes_full_redirect`]). The code carries the `acr` its ID token asserts: the highest
/// level the client accepts that the session has reached, else the session's level
/// ([`acr::claim`]).
pub async fn issue_code(
    state: &AppState,
    request: &AuthorizeRequest,
    session: &Session,
) -> Result<Option<String>, StoreError> {
    let code = random_token();
    let record = CodeRecord {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        subject: session.subject.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        sid: session.sid.clone(),
        acr: Some(
            acr::claim(
                Acr::of_session(&session.amr, session.step_up_at),
                &crate::oidc::authorize::acr_request(request),
            )
            .as_str()
            .to_owned(),
        ),
        scope: request.scope.clone(),
        expires_at: now() + state.settings.tokens.code_lifetime_secs,
        grant_id: None,
    };
    let max =
        u32::try_from(state.settings.limits.max_unredeemed_codes_per_session).unwrap_or(u32::MAX);
    if !state
        .stores
        .codes
        .put(&sha256_b64(&code), &record, max)
        .await?
    {
        tracing::warn!(client_id = %request.client_id, "authorization codes are at their limit");
        return Ok(None);
    }
    Ok(Some(code))
}

/// The error redirect when no code could be stored: `temporarily_unavailable` (RFC 6749 4.1.2.1).
pub fn codes_full_redirect(state: &AppState, request: &AuthorizeRequest) -> String {
    crate::oidc::authorize::error_redirect(
        &request.redirect_uri,
        crate::error::ErrorCode::TemporarilyUnavailable,
        "too many pending authorization codes, try again later",
        request.state.as_deref(),
        &state.settings.issuer,
    )
}

/// The token response body (RFC 6749 5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The access token (JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
    /// ID token, for user grants with `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Audiences of an access token for `scope`: the API audiences, and the issuer itself when
/// `openid` is present (the userinfo endpoint is the resource).
pub fn audiences(state: &AppState, scope: &[String]) -> Vec<String> {
    let mut aud: Vec<String> = Vec::new();
    if scope.iter().any(|s| s == "openid") {
        aud.push(state.settings.issuer.clone());
    }
    for api in &state.settings.api_scopes {
        if scope.contains(&api.name) {
            let a = api.audience.clone().unwrap_or_else(|| api.name.clone());
            if !aud.contains(&a) {
                aud.push(a);
            }
        }
    }
    aud
}

/// Signs an RFC 9068 access token and records it.
pub async fn issue_access_token(
    state: &AppState,
    client_id: &str,
    subject: &str,
    scope: &[String],
    user_auth: Option<(i64, &[String])>,
    grant_id: Option<&str>,
) -> Result<(String, i64), OAuthError> {
    let iat = now();
    let lifetime = state.settings.tokens.access_token_lifetime_secs;
    let exp = iat + lifetime;
    let jti = random_token();
    let aud = audiences(state, scope);
    let mut body = json!({
        "iss": state.settings.issuer,
        "sub": subject,
        "aud": if aud.len() == 1 { Value::from(aud[0].clone()) } else { Value::from(aud.clone()) },
        "client_id": client_id,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "jti": jti,
        "scope": scope.join(" "),
    });
    if let Some((auth_time, amr)) = user_auth {
        body["auth_time"] = json!(auth_time);
        body["amr"] = json!(amr);
    }
    let token = jwt::encode(&state.keys.signing_key(iat), "at+jwt", &body)
        .map_err(OAuthError::server_error)?;
    let record = AccessTokenRecord {
        client_id: client_id.to_owned(),
        subject: subject.to_owned(),
        scope: scope.to_vec(),
        aud,
        iat,
        exp,
        grant_id: grant_id.map(str::to_owned),
        revoked: false,
    };
    let stored = state.stores.access_tokens.put(&jti, &record).await?;
    if !stored {
        tracing::warn!(client_id = %client_id, "access-token records are at their limit");
        return Err(OAuthError::new(
            crate::error::ErrorCode::TemporarilyUnavailable,
            "too many live access tokens, try again later",
        ));
    }
    Ok((token, lifetime))
}

/// Signs an ID token for a user grant, with the user claims of `scope` (the grant's scope, or
/// the narrower scope of a refresh: claims refused there must not come back in the ID token).
pub async fn issue_id_token(
    state: &AppState,
    grant: &Grant,
    scope: &[String],
    nonce: Option<&str>,
    access_token: &str,
) -> Result<String, OAuthError> {
    let user = state
        .users
        .find_by_subject(&grant.subject)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    let iat = now();
    let mut body = claims::user_claims(&user, scope);
    body.insert("iss".into(), json!(state.settings.issuer));
    body.insert("aud".into(), json!([grant.client_id]));
    body.insert(
        "exp".into(),
        json!(iat + state.settings.tokens.id_token_lifetime_secs),
    );
    body.insert("iat".into(), json!(iat));
    body.insert("auth_time".into(), json!(grant.auth_time));
    body.insert("amr".into(), json!(grant.amr));
    body.insert("acr".into(), json!(grant_acr(grant)));
    body.insert("sid".into(), json!(grant.sid));
    if let Some(nonce) = nonce {
        body.insert("nonce".into(), json!(nonce));
    }
    let claims: IdTokenClaims<ProviderClaims, CoreGenderClaim> =
        serde_json::from_value(Value::Object(body)).map_err(OAuthError::server_error)?;
    let key = state.keys.signing_key(iat);
    let token = ProviderIdToken::new(
        claims,
        key.as_ref(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&openidconnect::AccessToken::new(access_token.to_owned())),
        None,
    )
    .map_err(OAuthError::server_error)?;
    Ok(token.to_string())
}

/// The `acr` of a grant's ID tokens: the one recorded with its code, or for a grant of an
/// earlier version the level its `amr` shows.
fn grant_acr(grant: &Grant) -> String {
    grant
        .acr
        .clone()
        .unwrap_or_else(|| Acr::of_amr(&grant.amr).as_str().to_owned())
}

/// Creates a grant for a redeemed code (with a refresh token when the client may refresh).
pub fn new_grant(
    state: &AppState,
    code: &CodeRecord,
    with_refresh: bool,
) -> (Grant, Option<String>) {
    let refresh = with_refresh.then(random_token);
    let t = now();
    let grant = Grant {
        id: random_token(),
        client_id: code.client_id.clone(),
        subject: code.subject.clone(),
        scope: code.scope.clone(),
        auth_time: code.auth_time,
        amr: code.amr.clone(),
        sid: code.sid.clone(),
        acr: code.acr.clone(),
        created: t,
        expires_at: t + state.settings.tokens.refresh_token_lifetime_secs,
        refresh_hash: refresh.as_deref().map(sha256_b64),
        previous_hash: None,
        rotated_at: 0,
        revoked: false,
    };
    (grant, refresh)
}

/// Unix seconds to a chrono time (for openidconnect types).
pub fn to_datetime(t: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
}
