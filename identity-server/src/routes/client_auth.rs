//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients.
//!
//! Secrets are stored as Argon2id hashes. Verifying Argon2id on every token request would cap
//! the endpoint near 80 requests/s per core, so the first successful verification of a client
//! remembers the SHA-256 of the presented secret in memory; later requests compare against it
//! in constant time and only fall back to Argon2id when it does not match (a changed or wrong
//! secret). The cache never leaves the process and holds one digest per client.
//!
//! Argon2id runs through [`crate::hashing::run_limited`]: on the hashing pool, at most one
//! verification per permit at a time; when no permit is free within 2 s the request gets 503
//! `temporarily_unavailable`.
//!
//! Wrong secrets are counted per client id and per network (IPv4 address, IPv6 /64) in a fixed
//! window (the [`crate::store::QuotaStore`], shared by every replica; `limits.client_auth_*`). Over either limit the request is
//! refused with 429 `invalid_client` BEFORE any hashing. The attempt is reserved before the hash
//! (so a parallel burst cannot pass a check none of it has counted yet) and given back when the
//! secret was right. The digest cache is consulted first: the real client, once verified, keeps
//! working while an attacker has its id locked.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::{Client, Secret};
use crate::error::OAuthError;
use crate::hashing::run_limited;
use crate::oidc::param;
use crate::state::AppState;
use crate::store::QuotaKey;
use crate::throttle::peer_key;

/// The two counters of a client authentication: per client id and per network.
fn throttle_keys(state: &AppState, client_id: &str, network: &str) -> [QuotaKey; 2] {
    let limits = &state.settings.limits;
    [
        QuotaKey {
            key: format!("ca:n:{network}"),
            max: limits.client_auth_max_failures_per_network,
            window_secs: limits.client_auth_window_secs,
        },
        QuotaKey {
            key: format!("ca:c:{client_id}"),
            max: limits.client_auth_max_failures_per_client,
            window_secs: limits.client_auth_window_secs,
        },
    ]
}

fn throttled() -> OAuthError {
    OAuthError::invalid_client("too many failed client authentications, try again later")
        .with_status(actix_web::http::StatusCode::TOO_MANY_REQUESTS)
}

fn basic_challenge(state: &AppState) -> String {
    format!(
        "Basic realm=\"{}\", charset=\"UTF-8\"",
        state.settings.issuer
    )
}

fn form_decode(value: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Authenticates the client of a back-channel request.
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    params: &[(String, String)],
) -> Result<Client, OAuthError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let basic = header.and_then(|h| {
        h.strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
    });
    let (client_id, secret, used_basic) = match basic {
        Some(encoded) => {
            if param(params, "client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let fail = || {
                OAuthError::invalid_client("malformed basic credentials")
                    .with_challenge(basic_challenge(state))
            };
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| fail())?;
            let decoded = String::from_utf8(decoded).map_err(|_| fail())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(fail)?;
            // RFC 6749 2.3.1: both parts are form-urlencoded before base64.
            let id = form_decode(id).ok_or_else(fail)?;
            let secret = form_decode(secret).ok_or_else(fail)?;
            if param(params, "client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the authenticated client",
                ));
            }
            (id, Some(Secret::new(secret)), true)
        }
        None => {
            let Some(id) = param(params, "client_id") else {
                return Err(
                    OAuthError::invalid_client("client authentication is required")
                        .with_challenge(basic_challenge(state)),
                );
            };
            (
                id.to_owned(),
                param(params, "client_secret").map(Secret::new),
                false,
            )
        }
    };
    let failed = || {
        let err = OAuthError::invalid_client("client authentication failed");
        if used_basic {
            err.with_challenge(basic_challenge(state))
        } else {
            err
        }
    };
    let Some(client) = state.clients.get(&client_id) else {
        tracing::info!(client_id = %client_id.chars().take(64).collect::<String>(), "unknown client");
        return Err(failed());
    };
    match (&client.secret_hash, secret) {
        (None, None) => Ok(client.clone()),
        (None, Some(_)) | (Some(_), None) => Err(failed()),
        (Some(hash), Some(secret)) => {
            let digest: [u8; 32] = Sha256::digest(secret.expose().as_bytes()).into();
            if matches_cached(state, &client.client_id, &digest) {
                return Ok(client.clone());
            }
            let network = peer_key(req);
            let keys = throttle_keys(state, &client.client_id, &network);
            let quotas = state.stores.quotas.as_ref();
            if quotas.reserve(&keys).await?.is_err() {
                tracing::warn!(client_id = %client.client_id, network = %network, "client authentication throttled");
                return Err(throttled());
            }
            match verify_secret(state, &client.client_id, hash, secret, digest).await {
                Ok(true) => {
                    quotas.give_back(&keys).await?;
                    Ok(client.clone())
                }
                Ok(false) => {
                    tracing::info!(client_id = %client.client_id, "wrong client secret");
                    Err(failed())
                }
                Err(busy) => {
                    // Not a failure of the client: nothing was checked.
                    quotas.give_back(&keys).await?;
                    Err(busy)
                }
            }
        }
    }
}

/// Whether `digest` is the SHA-256 of the secret last verified for `client_id` (constant time).
fn matches_cached(state: &AppState, client_id: &str, digest: &[u8; 32]) -> bool {
    let cached = state
        .verified_secrets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(client_id)
        .copied();
    cached.is_some_and(|c| bool::from(c.ct_eq(digest)))
}

/// Whether `secret` (whose SHA-256 is `digest`) matches `hash`; `Err` (503 `temporarily_unavailable`) when no Argon2 permit was
/// free in time (see [`crate::hashing`]).
async fn verify_secret(
    state: &AppState,
    client_id: &str,
    hash: &str,
    secret: Secret,
    digest: [u8; 32],
) -> Result<bool, OAuthError> {
    let hash = hash.to_owned();
    let ok = run_limited(state, move |memory| {
        memory.verify(Some(&hash), secret.expose().as_bytes())
    })
    .await?;
    if ok {
        state
            .verified_secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client_id.to_owned(), digest);
    }
    Ok(ok)
}
