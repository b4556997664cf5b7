//! A certified-style client library (the `openidconnect` crate) against the provider.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::helpers::*;

#[tokio::test]
async fn the_openidconnect_client_completes_discovery_code_pkce_verification_userinfo_and_refresh()
{
    let app = spawn_app_at_own_issuer().await;
    let http = app.api.clone();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http)
            .await
            .unwrap();
    assert_eq!(metadata.jwks().keys().len(), 1);
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("web".into()),
        Some(ClientSecret::new("secret".into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let (status, location, _) = app.browse(auth_url.as_str()).await;
    assert_eq!(status, 302);
    let back = app
        .sign_in(
            &TestApp::request_id(&location.unwrap()),
            "alice",
            &["pwd", "mfa", "otp"],
        )
        .await;
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(app.base_url.as_str())
    );
    let code = query_param(&back, "code").unwrap();

    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = response.id_token().unwrap();
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    assert_eq!(claims.subject().as_str(), ALICE);
    assert_eq!(
        claims.name().unwrap().get(None).unwrap().as_str(),
        "Alice Smith"
    );
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, ["pwd", "mfa", "otp"]);
    let expected_hash = AccessTokenHash::from_token(
        response.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert!(
        id_token
            .claims(&verifier, &Nonce::new("another nonce".into()))
            .is_err(),
        "a wrong nonce is rejected"
    );

    let userinfo: CoreUserInfoClaims = client
        .user_info(
            response.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(userinfo.subject().as_str(), ALICE);
    assert_eq!(
        userinfo.given_name().unwrap().get(None).unwrap().as_str(),
        "Alice"
    );

    let refreshed = client
        .exchange_refresh_token(response.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        response.refresh_token().unwrap().secret()
    );
    let again: CoreUserInfoClaims = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(again.subject().as_str(), ALICE);
}
