//! Discovery (`/.well-known/openid-configuration`) and the JWKS, built with the openidconnect
//! provider types and serialised once at start-up.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, IssuerUrl, JsonWebKeySetUrl,
    ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

use crate::keys::KeySet;
use crate::oidc::claims::CLAIMS_SUPPORTED;
use crate::state::AppState;

/// Registered metadata that `CoreProviderMetadata` has no field for.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RFC 8414 / RFC 7636: `["S256"]`.
    pub code_challenge_methods_supported: Vec<String>,
    /// RP-initiated logout.
    pub end_session_endpoint: String,
    /// RFC 7009.
    pub revocation_endpoint: String,
    /// RFC 7009 client authentication.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 7662.
    pub introspection_endpoint: String,
    /// RFC 7662 client authentication.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 9207: `iss` in authorization responses.
    pub authorization_response_iss_parameter_supported: bool,
    /// Back-Channel Logout 1.0: logout tokens are sent.
    pub backchannel_logout_supported: bool,
    /// Back-Channel Logout 1.0: every logout token carries `sid`.
    pub backchannel_logout_session_supported: bool,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

/// The provider metadata type.
pub type ProviderMetadata = openidconnect::ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Builds and serialises the discovery document for `issuer`.
pub fn document(issuer: &str, scopes: &[String], _keys: &KeySet) -> Result<String, String> {
    let url = |path: &str| format!("{issuer}{path}");
    let auth_methods = vec![
        "client_secret_basic".to_owned(),
        "client_secret_post".to_owned(),
    ];
    let extra = ExtraMetadata {
        code_challenge_methods_supported: vec!["S256".into()],
        end_session_endpoint: url("/connect/endsession"),
        revocation_endpoint: url("/connect/revocation"),
        revocation_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint: url("/connect/introspect"),
        introspection_endpoint_auth_methods_supported: auth_methods,
        authorization_response_iss_parameter_supported: true,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
    };
    let e = |e: url::ParseError| e.to_string();
    let metadata = ProviderMetadata::new(
        IssuerUrl::new(issuer.to_owned()).map_err(e)?,
        AuthUrl::new(url("/connect/authorize")).map_err(e)?,
        JsonWebKeySetUrl::new(url("/.well-known/openid-configuration/jwks")).map_err(e)?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        extra,
    )
    .set_token_endpoint(Some(TokenUrl::new(url("/connect/token")).map_err(e)?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(url("/connect/userinfo")).map_err(e)?))
    .set_scopes_supported(Some(scopes.iter().cloned().map(Scope::new).collect()))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
    ]))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::None,
    ]))
    .set_claim_types_supported(Some(vec![CoreClaimType::Normal]))
    // The step-up levels (`oidc::acr`), asked for with `acr_values` or, as essential, with the
    // `claims` parameter's `id_token.acr`.
    .set_acr_values_supported(Some(
        crate::oidc::acr::Acr::ALL
            .iter()
            .map(|a| AuthenticationContextClass::new(a.as_str().to_owned()))
            .collect(),
    ))
    .set_claims_supported(Some(
        CLAIMS_SUPPORTED
            .iter()
            .map(|c| CoreClaimName::new(c.to_string()))
            .collect(),
    ))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false))
    .set_claims_parameter_supported(Some(true));
    serde_json::to_string(&metadata).map_err(|e| e.to_string())
}

fn json(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("application/json")
        .body(body.to_owned())
}

/// `GET /.well-known/openid-configuration`.
pub async fn configuration(state: web::Data<AppState>) -> HttpResponse {
    json(&state.discovery_json)
}

/// `GET /.well-known/openid-configuration/jwks`.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    json(&state.jwks_json)
}
