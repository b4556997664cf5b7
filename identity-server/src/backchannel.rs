//! OpenID Connect Back-Channel Logout 1.0, the sending side: when a session ends at the
//! identity server, every client the session signed into (its `Session::clients`) that
//! registered a `backchannel_logout_uri` is sent a signed logout token.
//!
//! The user's page never waits for a client: [`Backchannel::enqueue`] puts the delivery on a
//! bounded queue (a full queue drops it, logged) and a background task POSTs it, at most
//! [`MAX_IN_FLIGHT`] at a time, each attempt with a [`TIMEOUT`], retried up to
//! [`MAX_ATTEMPTS`] times on a network error or a 5xx (a 4xx is the client's final answer).
//! Redirects are not followed. The token is a bearer credential and never logged.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use crate::domain::Client;
use crate::keys::SigningKey;
use crate::oidc::{jwt, random_token};
use crate::store::Session;

/// Deliveries waiting at most (beyond it new ones are dropped and logged).
pub const QUEUE_CAPACITY: usize = 1024;
/// Deliveries in flight at once.
pub const MAX_IN_FLIGHT: usize = 8;
/// Time allowed for one attempt (connect, send, answer).
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts per delivery (the first one included).
pub const MAX_ATTEMPTS: u32 = 3;
/// Wait before the second attempt; doubled before each further one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Lifetime of a logout token (the spec recommends at most two minutes).
pub const LOGOUT_TOKEN_LIFETIME_SECS: i64 = 120;
/// The `events` member that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// One logout token for one client.
struct Delivery {
    client_id: String,
    uri: String,
    token: String,
}

/// The handle on the delivery queue (cheap to share; the task ends when it is dropped).
pub struct Backchannel {
    queue: mpsc::Sender<Delivery>,
}

impl std::fmt::Debug for Backchannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backchannel").finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: &'a str,
    sid: &'a str,
    events: Value,
}

/// Signs the logout token for `client_id` about `session` (`typ: logout+jwt`; `sub` and `sid`;
/// never a `nonce`, Back-Channel Logout 1.0 section 2.4).
pub fn logout_token(
    key: &SigningKey,
    issuer: &str,
    client_id: &str,
    session: &Session,
    now: i64,
) -> Result<String, String> {
    let claims = LogoutClaims {
        iss: issuer,
        aud: client_id,
        iat: now,
        exp: now + LOGOUT_TOKEN_LIFETIME_SECS,
        jti: random_token(),
        sub: &session.subject,
        sid: &session.sid,
        events: json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
    };
    jwt::encode(key, "logout+jwt", &claims)
}

impl Backchannel {
    /// Starts the delivery task on the current tokio runtime. `ca_pem` is trusted besides the
    /// public roots (the development CA of the clients).
    pub fn start(ca_pem: &str) -> Result<Backchannel, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("identity-server back-channel logout");
        for cert in reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
            .map_err(|e| format!("the back-channel ca is not pem: {e}"))?
        {
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| format!("the back-channel http client: {e}"))?;
        let (queue, mut receiver) = mpsc::channel::<Delivery>(QUEUE_CAPACITY);
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        tokio::spawn(async move {
            while let Some(delivery) = receiver.recv().await {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let http = http.clone();
                tokio::spawn(async move {
                    deliver(&http, &delivery).await;
                    drop(permit);
                });
            }
        });
        Ok(Backchannel { queue })
    }

    /// Queues a logout token for every client of `session` that registered a back-channel
    /// logout URI. Never waits: a full queue drops the delivery (logged).
    pub fn enqueue(
        &self,
        key: &SigningKey,
        issuer: &str,
        clients: &std::collections::HashMap<String, Client>,
        session: &Session,
        now: i64,
    ) {
        for client_id in &session.clients {
            let Some(uri) = clients
                .get(client_id)
                .and_then(|c| c.backchannel_logout_uri.as_ref())
            else {
                continue;
            };
            let token = match logout_token(key, issuer, client_id, session, now) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(client_id = %client_id, error = %e, "could not sign a logout token");
                    continue;
                }
            };
            let delivery = Delivery {
                client_id: client_id.clone(),
                uri: uri.clone(),
                token,
            };
            if let Err(e) = self.queue.try_send(delivery) {
                let reason = match e {
                    mpsc::error::TrySendError::Full(_) => "full",
                    mpsc::error::TrySendError::Closed(_) => "closed",
                };
                tracing::warn!(client_id = %client_id, reason, "back-channel logout queue refused a delivery");
            }
        }
    }
}

/// POSTs one logout token, retrying network errors and 5xx answers.
async fn deliver(http: &reqwest::Client, delivery: &Delivery) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        let result = http
            .post(&delivery.uri)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .form(&[("logout_token", delivery.token.as_str())])
            .send()
            .await;
        let retry = match result {
            Ok(r) if r.status().is_success() => {
                tracing::info!(client_id = %delivery.client_id, "back-channel logout delivered");
                return;
            }
            Ok(r) if r.status().is_server_error() => {
                tracing::warn!(client_id = %delivery.client_id, status = r.status().as_u16(), attempt, "back-channel logout failed");
                true
            }
            Ok(r) => {
                tracing::warn!(client_id = %delivery.client_id, status = r.status().as_u16(), "back-channel logout refused by the client");
                false
            }
            Err(e) => {
                // Without the URL: reqwest errors name it, and it may carry a query the client
                // considers private.
                tracing::warn!(client_id = %delivery.client_id, error = %e.without_url(), attempt, "back-channel logout failed");
                true
            }
        };
        if !retry || attempt == MAX_ATTEMPTS {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logout_token_carries_the_back_channel_claims_and_no_nonce() {
        let pem = crate::keys::tests::test_key_pem();
        let key = SigningKey::from_pem(pem).unwrap();
        let session = Session {
            sid: "the-sid".into(),
            subject: "alice".into(),
            auth_time: 1,
            amr: vec![],
            remember: false,
            created: 1,
            last_seen: 1,
            step_up_at: None,
            clients: vec!["web".into()],
            device: Default::default(),
        };
        let token = logout_token(&key, "https://idp", "web", &session, 1000).unwrap();
        let mut parts = token.split('.');
        let decode = |p: &str| -> Value {
            use base64::Engine;
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .unwrap(),
            )
            .unwrap()
        };
        let header = decode(parts.next().unwrap());
        let claims = decode(parts.next().unwrap());
        assert_eq!(header["typ"], "logout+jwt");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(claims["iss"], "https://idp");
        assert_eq!(claims["aud"], "web");
        assert_eq!(claims["iat"], 1000);
        assert_eq!(claims["sid"], "the-sid");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["events"], json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        assert!(claims.get("nonce").is_none());
        assert_eq!(claims["jti"].as_str().unwrap().len(), 43);
    }
}
