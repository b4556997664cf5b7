//! The OpenID Connect side of the web client, on top of the `openidconnect` crate: discovery
//! (retried in the background until the identity server answers), the authorization request
//! with state, nonce and PKCE S256 (and for a step-up `acr_values` and `max_age`), the code
//! exchange and ID token verification (signature via JWKS, issuer, audience, nonce, expiry,
//! `at_hash`, and the requested `acr` and `auth_time`), refresh, userinfo, the RP-initiated
//! logout URL, and the signature and claims of back-channel logout tokens (with the rules of
//! [`crate::backchannel`]; the JWKS is fetched again on an unknown `kid`, at most once per
//! [`JWKS_REFETCH_INTERVAL`]).
//!
//! No web framework in here: the routes call these functions and map [`OidcError`] to pages.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdToken, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthenticationContextClass, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EmptyAdditionalClaims, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySetUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, Scope, SubjectIdentifier, TokenResponse,
};

use crate::backchannel::{self, LogoutToken, LogoutTokenError};
use crate::configuration::{Settings, Validated};
use crate::secret::Secret;

/// The JWKS is fetched again for a logout token with an unknown `kid` at most this often, so
/// that tokens with made-up key ids cannot make the web client hammer the identity server.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// The client type `from_provider_metadata` yields (token and userinfo endpoints optional in
/// discovery; their absence is an [`OidcError::Discovery`]).
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What can go wrong talking to the identity server or checking what it sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// Discovery or JWKS could not be fetched or did not make sense.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The identity server answered the token request with an OAuth error.
    #[error("the identity server refused the request: {code}")]
    Refused {
        /// The OAuth error code (`invalid_grant`, ...).
        code: String,
        /// Its `error_description`, if any.
        description: Option<String>,
    },
    /// The identity server could not be reached or answered something unreadable.
    #[error("the identity server could not be reached: {0}")]
    Transport(String),
    /// The ID token (or userinfo answer) failed verification.
    #[error("the ID token failed verification: {0}")]
    InvalidIdToken(String),
    /// The userinfo endpoint answered 401: it does not (or no longer) accept the access token.
    #[error("the identity server rejected the access token")]
    TokenRejected,
}

/// The configured relying party, once discovery has answered.
#[derive(Debug)]
pub struct Provider {
    client: Client,
    end_session_endpoint: Option<EndSessionUrl>,
    http: reqwest::Client,
    extra_scopes: Vec<String>,
    post_logout_redirect_uri: PostLogoutRedirectUrl,
    /// The issuer, as discovery confirmed it.
    issuer: String,
    /// Where the keys are published.
    jwks_uri: JsonWebKeySetUrl,
    /// The keys logout tokens are verified with: discovery's, replaced by a refetch.
    jwks: RwLock<Arc<CoreJsonWebKeySet>>,
    /// When the JWKS was last fetched for an unknown `kid`; held while fetching, so that
    /// concurrent logout tokens share one fetch.
    jwks_refetched: tokio::sync::Mutex<Option<Instant>>,
}

/// The values of one authorization request that must come back to `/signin-oidc`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PendingSignIn {
    /// `state` sent to the identity server.
    pub state: String,
    /// `nonce` sent to the identity server.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge was sent.
    pub pkce_verifier: String,
    /// The local path to go back to after signing in.
    pub return_to: String,
    /// When the request was made (unix seconds): old ones are refused.
    pub created_at: i64,
    /// The `acr_values` sent (a step-up): the ID token's `acr` must meet it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The `max_age` sent (seconds): the ID token's `auth_time` must be this recent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// What a sign-in asks of the authentication besides a signed-in user: an `acr` to reach
/// (`acr_values`) and how recent it must be (`max_age`). The identity server steps a signed-in
/// user up with a fresh second factor; the ID token's `acr` and `auth_time` are checked on return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The `acr` to reach.
    pub acr: String,
    /// Seconds the authentication may be old.
    pub max_age: i64,
}

/// The verified identity from an ID token.
#[derive(Debug)]
pub struct Identity {
    /// The `sub` claim.
    pub subject: String,
    /// The verified ID token claims as JSON.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The raw ID token.
    pub id_token: Secret,
    /// The `sid` claim (the identity server's session), if present.
    pub sid: Option<String>,
}

/// Tokens and claims after a successful code exchange or refresh.
#[derive(Debug)]
pub struct Tokens {
    /// The verified ID token: always there after a code exchange; after a refresh only if the
    /// identity server issued a new one (OpenID Connect Core 12.2 makes that optional).
    pub identity: Option<Identity>,
    /// The access token.
    pub access_token: Secret,
    /// When the access token expires.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// The refresh token, if issued.
    pub refresh_token: Option<Secret>,
    /// Scopes granted, if the response said.
    pub scopes: Option<Vec<String>>,
}

/// The HTTP client for the back channel: no redirects followed, a timeout, and only the
/// configured trust anchors (the development CA, an extra CA file, the public roots). There is
/// deliberately no way to accept any certificate.
pub fn http_client(settings: &Settings, dev_ca_pem: &str) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(settings.http_timeout_secs))
        .connect_timeout(Duration::from_secs(settings.http_timeout_secs))
        .tls_built_in_root_certs(settings.trust_public_roots)
        .user_agent(concat!("web-client/", env!("CARGO_PKG_VERSION")));
    if settings.trust_dev_ca {
        // A bundle: with your own certificates and no `tls_ca`, this is the served chain.
        let certs = reqwest::Certificate::from_pem_bundle(dev_ca_pem.as_bytes())
            .map_err(|e| format!("development CA: {e}"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(path) = &settings.extra_ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("extra_ca_file '{}': {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("extra_ca_file '{}': {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "extra_ca_file '{}': no certificate in it",
                path.display()
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| format!("http client: {e}"))
}

impl Provider {
    /// Fetches discovery and the JWKS and builds the client. The issuer in the document must
    /// equal the configured one (checked by the `openidconnect` crate).
    pub async fn discover(
        settings: &Settings,
        urls: &Validated,
        http: reqwest::Client,
    ) -> Result<Self, OidcError> {
        let issuer = IssuerUrl::new(urls.issuer_url.clone())
            .map_err(|e| OidcError::Discovery(format!("issuer url: {e}")))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
            .await
            .map_err(|e| OidcError::Discovery(error_chain(&e)))?;
        if metadata.token_endpoint().is_none() {
            return Err(OidcError::Discovery(
                "no token_endpoint in discovery".into(),
            ));
        }
        if metadata.jwks().keys().is_empty() {
            return Err(OidcError::Discovery("the JWKS holds no key".into()));
        }
        let end_session_endpoint = metadata.additional_metadata().end_session_endpoint.clone();
        let issuer = metadata.issuer().as_str().to_owned();
        let jwks_uri = metadata.jwks_uri().clone();
        let jwks = RwLock::new(Arc::new(metadata.jwks().clone()));
        let redirect = RedirectUrl::new(urls.redirect_uri.clone())
            .map_err(|e| OidcError::Discovery(format!("redirect uri: {e}")))?;
        let post_logout_redirect_uri =
            PostLogoutRedirectUrl::new(urls.post_logout_redirect_uri.clone())
                .map_err(|e| OidcError::Discovery(format!("post-logout uri: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            Some(ClientSecret::new(
                settings.client_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(redirect);
        Ok(Self {
            client,
            end_session_endpoint,
            http,
            extra_scopes: urls.extra_scopes.clone(),
            post_logout_redirect_uri,
            issuer,
            jwks_uri,
            jwks,
            jwks_refetched: tokio::sync::Mutex::new(None),
        })
    }

    /// Verifies a back-channel logout token at `now` (unix seconds): header, RS256 signature
    /// with a published key, and every claim rule of [`crate::backchannel`]. A `kid` that is
    /// not in the keys makes one fetch of the JWKS (at most one per
    /// [`JWKS_REFETCH_INTERVAL`]); the `jti` is left to the store.
    pub async fn verify_logout_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<LogoutToken, LogoutTokenError> {
        let parsed = backchannel::parse(token)?;
        let keys = self.jwks.read().unwrap_or_else(|p| p.into_inner()).clone();
        match backchannel::verify_signature(&parsed, &keys) {
            Err(LogoutTokenError::UnknownKey) => {
                let keys = self
                    .refetch_jwks()
                    .await
                    .ok_or(LogoutTokenError::UnknownKey)?;
                backchannel::verify_signature(&parsed, &keys)?;
            }
            other => other?,
        }
        backchannel::validate_claims(
            &parsed,
            &backchannel::Expected {
                issuer: &self.issuer,
                client_id: self.client.client_id().as_str(),
            },
            now,
        )
    }

    /// Fetches the JWKS again unless that was done less than [`JWKS_REFETCH_INTERVAL`] ago;
    /// the new keys, or `None` when it was not time yet or the fetch failed (the old keys
    /// stay).
    async fn refetch_jwks(&self) -> Option<Arc<CoreJsonWebKeySet>> {
        let mut last = self.jwks_refetched.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
            return None;
        }
        *last = Some(Instant::now());
        match CoreJsonWebKeySet::fetch_async(&self.jwks_uri, &self.http).await {
            Ok(keys) if !keys.keys().is_empty() => {
                let keys = Arc::new(keys);
                *self.jwks.write().unwrap_or_else(|p| p.into_inner()) = keys.clone();
                tracing::info!("JWKS fetched again for a logout token with an unknown key");
                Some(keys)
            }
            Ok(_) => {
                tracing::warn!("the refetched JWKS holds no key, keeping the previous keys");
                None
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "refetching the JWKS failed");
                None
            }
        }
    }

    /// The authorization URL (code flow, S256 PKCE, fresh state and nonce) and what must be
    /// kept until the browser comes back.
    pub fn begin_sign_in(&self, return_to: &str) -> (url::Url, PendingSignIn) {
        self.begin_sign_in_requiring(return_to, None)
    }

    /// Like [`Provider::begin_sign_in`], asking for `requirement` (`acr_values` and `max_age`)
    /// when there is one; [`Provider::finish_sign_in`] then checks the ID token meets it.
    pub fn begin_sign_in_requiring(
        &self,
        return_to: &str,
        requirement: Option<&Requirement>,
    ) -> (url::Url, PendingSignIn) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.extra_scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(r) = requirement {
            request = request
                .add_auth_context_value(AuthenticationContextClass::new(r.acr.clone()))
                .set_max_age(Duration::from_secs(u64::try_from(r.max_age).unwrap_or(0)));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = PendingSignIn {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_to: return_to.to_owned(),
            created_at: Utc::now().timestamp(),
            acr: requirement.map(|r| r.acr.clone()),
            max_age: requirement.map(|r| r.max_age),
        };
        (url, pending)
    }

    /// Exchanges the code (with the PKCE verifier) and verifies the ID token against the nonce.
    pub async fn finish_sign_in(
        &self,
        pending: &PendingSignIn,
        code: &str,
    ) -> Result<Tokens, OidcError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Discovery(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let nonce = Nonce::new(pending.nonce.clone());
        let tokens = self.tokens(&response, Some(&nonce), None)?;
        let Some(identity) = &tokens.identity else {
            return Err(OidcError::InvalidIdToken(
                "the token response holds no id_token".into(),
            ));
        };
        // A relying party that asked for an acr or a max_age must check what it got (OpenID
        // Connect Core 3.1.2.1, 5.5.1.1).
        crate::acr::check(
            &identity.claims,
            pending.acr.as_deref(),
            pending.max_age,
            Utc::now().timestamp(),
        )
        .map_err(|e| OidcError::InvalidIdToken(e.to_string()))?;
        Ok(tokens)
    }

    /// Redeems a refresh token. A new ID token in the answer is verified too (same subject).
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        subject: &str,
    ) -> Result<Tokens, OidcError> {
        let refresh_token = RefreshToken::new(refresh_token.expose().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&refresh_token)
            .map_err(|e| OidcError::Discovery(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let mut tokens = self.tokens(&response, None, Some(subject))?;
        if tokens.refresh_token.is_none() {
            // The provider may keep the refresh token unchanged (no rotation).
            tokens.refresh_token = Some(Secret::new(refresh_token.secret().clone()));
        }
        Ok(tokens)
    }

    fn tokens(
        &self,
        response: &CoreTokenResponse,
        nonce: Option<&Nonce>,
        refresh_of: Option<&str>,
    ) -> Result<Tokens, OidcError> {
        let access_token = Secret::new(response.access_token().secret().clone());
        let identity = match response.id_token() {
            Some(id_token) => Some(self.verify(id_token, response, nonce, refresh_of)?),
            None => None,
        };
        Ok(Tokens {
            identity,
            access_token,
            access_token_expires_at: response
                .expires_in()
                .and_then(|d| chrono::Duration::from_std(d).ok().map(|d| Utc::now() + d)),
            refresh_token: response
                .refresh_token()
                .map(|t| Secret::new(t.secret().clone())),
            scopes: response
                .scopes()
                .map(|s| s.iter().map(|s| s.as_str().to_owned()).collect()),
        })
    }

    /// Verifies an ID token: signature (RS256, key from the JWKS), issuer, audience, expiry,
    /// nonce (when given), `at_hash` (when present), and on refresh the same subject.
    fn verify(
        &self,
        id_token: &CoreIdToken,
        response: &CoreTokenResponse,
        nonce: Option<&Nonce>,
        refresh_of: Option<&str>,
    ) -> Result<Identity, OidcError> {
        let invalid = |m: String| OidcError::InvalidIdToken(m);
        // RS256 only: the identity server signs with it, and pinning the algorithm rules out
        // "alg: none" and HMAC-with-the-client-secret confusions.
        let verifier = self
            .client
            .id_token_verifier()
            .set_allowed_algs(vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
        let claims = match nonce {
            Some(nonce) => id_token.claims(&verifier, nonce),
            // A refreshed ID token carries no nonce of ours to check.
            None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
        }
        .map_err(|e| invalid(e.to_string()))?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token.signing_alg().map_err(|e| invalid(e.to_string()))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| invalid(e.to_string()))?;
            let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
                .map_err(|e| invalid(e.to_string()))?;
            if !crate::secret::ct_eq(actual.as_str(), expected.as_str()) {
                return Err(invalid("at_hash does not match the access token".into()));
            }
        }
        let subject = claims.subject().as_str().to_owned();
        if let Some(previous) = refresh_of
            && previous != subject
        {
            return Err(invalid(
                "the refreshed ID token names another subject".into(),
            ));
        }
        let claims = match serde_json::to_value(claims) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(invalid("claims are not a JSON object".into())),
        };
        let raw = id_token.to_string();
        Ok(Identity {
            subject,
            claims,
            sid: sid_of(&raw),
            id_token: Secret::new(raw),
        })
    }

    /// Calls the userinfo endpoint with the access token; the answer's `sub` must be the
    /// signed-in user's.
    pub async fn userinfo(
        &self,
        access_token: &Secret,
        subject: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let request = self
            .client
            .user_info(
                AccessToken::new(access_token.expose().to_owned()),
                Some(SubjectIdentifier::new(subject.to_owned())),
            )
            .map_err(|_| OidcError::Discovery("no userinfo_endpoint in discovery".into()))?;
        let claims: openidconnect::UserInfoClaims<EmptyAdditionalClaims, CoreGenderClaim> = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::UserInfoError::ClaimsVerification(e) => {
                    OidcError::InvalidIdToken(e.to_string())
                }
                openidconnect::UserInfoError::Response(status, _, _)
                    if status == openidconnect::http::StatusCode::UNAUTHORIZED =>
                {
                    OidcError::TokenRejected
                }
                openidconnect::UserInfoError::Response(status, _, _) => {
                    OidcError::Transport(format!("userinfo answered http {status}"))
                }
                other => OidcError::Transport(error_chain(&other)),
            })?;
        match serde_json::to_value(claims) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(OidcError::Transport("userinfo is not a JSON object".into())),
        }
    }

    /// The end-session URL with `id_token_hint`, `post_logout_redirect_uri`, `client_id` and
    /// `state`; `None` when the provider has no end-session endpoint.
    pub fn logout_url(&self, id_token: &Secret, state: &str) -> Option<url::Url> {
        let endpoint = self.end_session_endpoint.clone()?;
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(self.client.client_id().clone())
            .set_post_logout_redirect_uri(self.post_logout_redirect_uri.clone())
            .set_state(CsrfToken::new(state.to_owned()));
        if let Ok(token) = id_token.expose().parse::<CoreIdToken>() {
            request = request.set_id_token_hint(&token);
        }
        Some(request.http_get_url())
    }
}

/// The `sid` claim of an ID token whose signature has been verified (the `openidconnect` claims
/// type does not carry it): a short non-empty string, else `None`.
fn sid_of(id_token: &str) -> Option<String> {
    use base64::Engine;
    let payload = id_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("sid")?
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= backchannel::MAX_CLAIM_BYTES)
        .map(str::to_owned)
}

fn token_error<RE>(
    e: openidconnect::RequestTokenError<
        RE,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> OidcError
where
    RE: std::error::Error + 'static,
{
    match e {
        openidconnect::RequestTokenError::ServerResponse(r) => OidcError::Refused {
            code: r.error().to_string(),
            description: r.error_description().cloned(),
        },
        other => OidcError::Transport(error_chain(&other)),
    }
}

/// The error and its sources, joined: "a: b: c".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The provider, once discovery has succeeded: shared between the background discovery task
/// and the request handlers.
#[derive(Clone, Debug, Default)]
pub struct ProviderCell(Arc<RwLock<Option<Arc<Provider>>>>);

impl ProviderCell {
    /// The provider, or `None` while discovery has not answered yet.
    pub fn get(&self) -> Option<Arc<Provider>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, provider: Provider) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(provider));
    }
}

/// Runs discovery until it succeeds, backing off from 50 ms to 5 s, with a log line per failed
/// attempt; the web client serves a 503 page for sign-in until then. Afterwards it fetches
/// discovery and the JWKS again every `refresh` so that a rotated signing key (published by the
/// identity server an hour before it signs) is known in time; a failed refresh keeps the
/// previous provider.
pub async fn discover_until_ready(
    cell: ProviderCell,
    settings: Settings,
    urls: Validated,
    http: reqwest::Client,
    refresh: Duration,
) {
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1u32;
    loop {
        match Provider::discover(&settings, &urls, http.clone()).await {
            Ok(provider) => {
                tracing::info!(issuer = %urls.issuer_url, attempt, "identity server discovered");
                cell.set(provider);
                break;
            }
            Err(e) => {
                tracing::warn!(
                    issuer = %urls.issuer_url,
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %e,
                    "identity server discovery failed, retrying"
                );
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
        attempt += 1;
    }
    loop {
        tokio::time::sleep(refresh).await;
        match Provider::discover(&settings, &urls, http.clone()).await {
            Ok(provider) => {
                tracing::debug!(issuer = %urls.issuer_url, "discovery and JWKS refreshed");
                cell.set(provider);
            }
            Err(e) => tracing::warn!(
                issuer = %urls.issuer_url,
                error = %e,
                "refreshing discovery failed, keeping the previous keys"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sid_is_read_from_the_id_token_payload() {
        use base64::Engine;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let token = |claims| format!("{}.{}.sig", b64(serde_json::json!({})), b64(claims));
        assert_eq!(
            sid_of(&token(serde_json::json!({"sid": "s-1"}))).as_deref(),
            Some("s-1")
        );
        assert_eq!(sid_of(&token(serde_json::json!({"sub": "a"}))), None);
        assert_eq!(sid_of(&token(serde_json::json!({"sid": 5}))), None);
        assert_eq!(sid_of("not a jwt"), None);
    }
}
