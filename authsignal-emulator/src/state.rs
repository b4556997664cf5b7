//! The state shared by every handler, built once in `startup`: settings-derived values, the
//! signing keys, the stores, the templates, the webhook client and the wrong-code limiter.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use url::Url;

use crate::configuration::CodeSendSettings;
use crate::domain::outcome::Outcome;
use crate::domain::secret::ApiSecret;
use crate::domain::token::{OtherClaims, Purpose, SigningKey, TokenClaims};
use crate::domain::webauthn::RelyingParty;
use crate::domain::webhook;
use crate::store::{ActionKey, OutboxMessage, Stores};

/// Wrong codes a user may enter across all their actions per window before being refused.
pub const WRONG_CODE_LIMIT: usize = 10;
/// The window of [`WRONG_CODE_LIMIT`].
pub const WRONG_CODE_WINDOW_SECS: i64 = 300;
/// Most users (wrong codes) or addresses (codes sent) an in-memory limiter tracks at once.
pub const MAX_LIMITED_KEYS: usize = 100_000;
/// Wrong codes per action before it becomes `CHALLENGE_FAILED`.
pub const MAX_FAILED_ATTEMPTS: u32 = 5;
/// Lifetime of an email or SMS code.
pub const OTP_LIFETIME_SECS: i64 = 600;
/// The default scope of a track token.
pub const DEFAULT_SCOPE: &str = "read:authenticators";

/// Posts signed webhook events.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    url: Url,
    secret: ApiSecret,
    tenant_id: String,
}

impl WebhookSender {
    /// A sender trusting `ca_pem` (the dev CA) in addition to the system roots.
    pub fn new(
        url: Url,
        secret: ApiSecret,
        tenant_id: String,
        ca_pem: &str,
    ) -> Result<Self, String> {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())
            .map_err(|e| format!("webhook ca certificate: {e}"))?;
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca)
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("authsignal-emulator-webhooks")
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(WebhookSender {
            client,
            url,
            secret,
            tenant_id,
        })
    }

    /// Posts one event and waits for the answer; non-2xx is an error.
    pub async fn send(&self, event_type: &str, data: Value) -> Result<(), String> {
        let body = webhook::envelope(event_type, &self.tenant_id, data, Utc::now());
        let bytes = serde_json::to_vec(&body).expect("event serialises");
        let signature = webhook::sign(self.secret.expose(), &bytes, Utc::now().timestamp());
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(webhook::SIGNATURE_HEADER, signature)
            .body(bytes)
            .send()
            .await
            .map_err(|e| format!("webhook '{event_type}' not delivered: {e}"))?;
        if response.status().is_success() {
            tracing::info!(event_type, status = %response.status(), "webhook delivered");
            Ok(())
        } else {
            Err(format!(
                "webhook '{event_type}' answered {}",
                response.status()
            ))
        }
    }

    /// Posts an asynchronous event: up to three attempts, logged, never blocking the caller.
    pub fn send_in_background(&self, event_type: &'static str, data: Value) {
        let sender = self.clone();
        tokio::spawn(async move {
            for attempt in 1..=3u64 {
                match sender.send(event_type, data.clone()).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(attempt, error = %e, "webhook delivery failed");
                        tokio::time::sleep(std::time::Duration::from_secs(attempt * 2)).await;
                    }
                }
            }
        });
    }
}

/// Everything a handler needs.
pub struct AppState {
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant name (TOTP issuer, page title).
    pub tenant_name: String,
    /// The Server API secret.
    pub secret: ApiSecret,
    /// Key of track tokens.
    pub track_key: SigningKey,
    /// Key of session access tokens.
    pub session_key: SigningKey,
    /// Origin of the hosted pages, e.g. `https://localhost:5003`.
    pub public_url: Url,
    /// Track token lifetime.
    pub token_lifetime: Duration,
    /// Outcome of actions without their own.
    pub default_outcome: RwLock<Outcome>,
    /// Outcome per action code.
    pub outcomes: RwLock<HashMap<String, Outcome>>,
    /// Stores.
    pub stores: Stores,
    /// Templates.
    pub templates: tera::Tera,
    /// Webhooks, when configured.
    pub webhooks: Option<WebhookSender>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// The passkey relying party (RP id, name, expected origins).
    pub relying_party: RelyingParty,
    /// How long a passkey challenge can be answered.
    pub passkey_challenge_lifetime: Duration,
    /// Origins a track's `redirectUrl` may lead to (serialised origins).
    pub redirect_origins: Vec<String>,
    /// Limits of the codes sent to one address.
    pub code_sends: CodeSendSettings,
    /// Whether the hosted settings screen offers adding an email address.
    pub email_self_service: bool,
    wrong_codes: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
    /// When codes went to each (lowercased) address, newest last, within the window.
    sent_codes: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("tenant_id", &self.tenant_id)
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

/// The values [`AppState::new`] needs.
#[derive(Debug)]
pub struct StateConfig {
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant name.
    pub tenant_name: String,
    /// Secret.
    pub secret: ApiSecret,
    /// Origin of the hosted pages.
    pub public_url: Url,
    /// Token lifetime in seconds.
    pub token_lifetime_secs: u64,
    /// Default outcome.
    pub default_outcome: Outcome,
    /// Outcome per action code.
    pub outcomes: HashMap<String, Outcome>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// The passkey relying party.
    pub relying_party: RelyingParty,
    /// Passkey challenge lifetime in seconds.
    pub passkey_challenge_lifetime_secs: u64,
    /// Origins a track's `redirectUrl` may lead to (serialised origins).
    pub redirect_origins: Vec<String>,
    /// Limits of the codes sent to one address.
    pub code_sends: CodeSendSettings,
    /// Whether the hosted settings screen offers adding an email address.
    pub email_self_service: bool,
}

/// Why a one-time code was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The address got its share of codes ([`CodeSendSettings`]); the next may go after the
    /// wait.
    #[error("too many codes were sent to this address; the next may go in {retry_after_secs} s")]
    Throttled {
        /// Seconds until a code may go to the address again (at least 1).
        retry_after_secs: i64,
    },
    /// The `email.created` / `sms.created` webhook did not accept it.
    #[error("{0}")]
    Delivery(String),
}

impl AppState {
    /// Builds the state.
    pub fn new(
        config: StateConfig,
        stores: Stores,
        templates: tera::Tera,
        webhooks: Option<WebhookSender>,
    ) -> AppState {
        AppState {
            track_key: SigningKey::derive(&config.secret, Purpose::Track),
            session_key: SigningKey::derive(&config.secret, Purpose::Session),
            tenant_id: config.tenant_id,
            tenant_name: config.tenant_name,
            secret: config.secret,
            public_url: config.public_url,
            token_lifetime: Duration::seconds(config.token_lifetime_secs as i64),
            default_outcome: RwLock::new(config.default_outcome),
            outcomes: RwLock::new(config.outcomes),
            stores,
            templates,
            webhooks,
            max_body_bytes: config.max_body_bytes,
            relying_party: config.relying_party,
            passkey_challenge_lifetime: Duration::seconds(
                config.passkey_challenge_lifetime_secs as i64,
            ),
            redirect_origins: config.redirect_origins,
            code_sends: config.code_sends,
            email_self_service: config.email_self_service,
            wrong_codes: Mutex::new(HashMap::new()),
            sent_codes: Mutex::new(HashMap::new()),
        }
    }

    /// The configured outcome of an action code.
    pub fn outcome_for(&self, action_code: &str) -> Outcome {
        let outcomes = self.outcomes.read().unwrap_or_else(|p| p.into_inner());
        outcomes.get(action_code).copied().unwrap_or_else(|| {
            *self
                .default_outcome
                .read()
                .unwrap_or_else(|p| p.into_inner())
        })
    }

    /// Changes the outcome of an action code.
    pub fn set_outcome(&self, action_code: &str, outcome: Outcome) {
        let mut outcomes = self.outcomes.write().unwrap_or_else(|p| p.into_inner());
        outcomes.insert(action_code.to_owned(), outcome);
    }

    /// A fresh track token for an action.
    pub fn issue_token(
        &self,
        key: &ActionKey,
        scope: &str,
        now: DateTime<Utc>,
    ) -> (String, TokenClaims) {
        let claims = TokenClaims {
            sub: key.user_id.clone(),
            iat: now.timestamp(),
            exp: (now + self.token_lifetime).timestamp(),
            other: OtherClaims {
                tenant_id: self.tenant_id.clone(),
                user_id: key.user_id.clone(),
                action_code: key.action_code.clone(),
                idempotency_key: key.idempotency_key.clone(),
            },
            scope: scope.to_owned(),
        };
        (self.track_key.sign(&claims), claims)
    }

    /// The hosted page URL for a token: `<public_url>/challenge?token=<token>`.
    pub fn hosted_url(&self, token: &str) -> String {
        let mut url = self
            .public_url
            .join("/challenge")
            .expect("a path joins onto the origin");
        url.query_pairs_mut().append_pair("token", token);
        url.to_string()
    }

    /// Counts a code about to go to `to` against the address's limits, atomically (check and
    /// count under one lock): at most [`CodeSendSettings::max_per_address`] per window and one
    /// per [`CodeSendSettings::interval_secs`], across every hosted session and the Server API.
    /// `Err(seconds)`: refused, with the wait. The map is bounded ([`MAX_LIMITED_KEYS`]
    /// addresses; addresses whose window is over are dropped first).
    pub fn reserve_code_send(&self, to: &str, now: DateTime<Utc>) -> Result<(), i64> {
        let limits = self.code_sends;
        let window = Duration::seconds(i64::try_from(limits.window_secs).unwrap_or(i64::MAX));
        let interval = Duration::seconds(i64::try_from(limits.interval_secs).unwrap_or(0));
        let address = to.trim().to_lowercase();
        let mut map = self.sent_codes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = map.get_mut(&address) {
            while times.front().is_some_and(|t| *t <= now - window) {
                times.pop_front();
            }
            let full = (times.len() >= limits.max_per_address as usize)
                .then(|| times.front().map(|oldest| *oldest + window))
                .flatten();
            let too_soon = times
                .back()
                .map(|last| *last + interval)
                .filter(|t| *t > now);
            if let Some(until) = full.into_iter().chain(too_soon).max() {
                return Err((until - now).num_seconds().max(1));
            }
        }
        if map.len() >= MAX_LIMITED_KEYS && !map.contains_key(&address) {
            map.retain(|_, times| times.back().is_some_and(|t| *t > now - window));
            if map.len() >= MAX_LIMITED_KEYS {
                // Every address is live: refuse rather than forget a limit or grow.
                return Err(interval.num_seconds().max(1));
            }
        }
        map.entry(address).or_default().push_back(now);
        Ok(())
    }

    /// "Sends" a one-time code: within the address's limits ([`AppState::reserve_code_send`]),
    /// the outbox, the log, and the `email.created` webhook (which is synchronous at the
    /// service: a failed delivery fails the send).
    pub async fn send_code(
        &self,
        to: &str,
        code: &str,
        key: &ActionKey,
        channel: &str,
    ) -> Result<(), SendError> {
        let now = Utc::now();
        if let Err(retry_after_secs) = self.reserve_code_send(to, now) {
            tracing::warn!(channel, action = %key.action_code, retry_after_secs, "one-time code not sent: too many codes to this address");
            return Err(SendError::Throttled { retry_after_secs });
        }
        self.stores.outbox.push_message(OutboxMessage {
            to: to.to_owned(),
            code: code.to_owned(),
            user_id: key.user_id.clone(),
            action_code: key.action_code.clone(),
            idempotency_key: key.idempotency_key.clone(),
            sent_at: now,
        });
        // The code is logged on purpose: the log is one of the emulator's documented outboxes.
        tracing::info!(to, code, channel, action = %key.action_code, "one-time code sent (dev outbox)");
        if let Some(webhooks) = &self.webhooks {
            let event = if channel == "EMAIL" {
                "email.created"
            } else {
                "sms.created"
            };
            webhooks
                .send(
                    event,
                    serde_json::json!({
                        "to": to,
                        "code": code,
                        "userId": key.user_id,
                        "idempotencyKey": key.idempotency_key,
                        "actionCode": key.action_code,
                        "verificationMethod": if channel == "EMAIL" { "EMAIL_OTP" } else { "SMS" },
                    }),
                )
                .await
                .map_err(SendError::Delivery)?;
        }
        Ok(())
    }

    /// Posts `action.verify` (synchronous at the service: a refusal blocks the success) when
    /// webhooks are configured.
    pub async fn notify_action_verified(
        &self,
        key: &ActionKey,
        method: &str,
        authenticator_id: Option<&str>,
    ) -> Result<(), String> {
        let Some(webhooks) = &self.webhooks else {
            return Ok(());
        };
        webhooks
            .send(
                "action.verify",
                serde_json::json!({
                    "userId": key.user_id,
                    "action": key.action_code,
                    "idempotencyKey": key.idempotency_key,
                    "verifiedAt": crate::routes::api::actions::iso(Utc::now()),
                    "state": "CHALLENGE_SUCCEEDED",
                    "verificationMethod": method,
                    "userAuthenticatorId": authenticator_id,
                }),
            )
            .await
    }

    /// Reserves one code check against the user's wrong-code budget before the code is looked
    /// at, atomically (check and count under one lock): `false` when the budget is used up.
    /// The check counts as a wrong code until [`AppState::give_back_wrong_code`] (a right code),
    /// so parallel codes cannot all pass a check that is only counted afterwards.
    pub fn reserve_wrong_code(&self, user_id: &str, now: DateTime<Utc>) -> bool {
        let mut map = self.wrong_codes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = map.get_mut(user_id) {
            while times
                .front()
                .is_some_and(|t| *t <= now - Duration::seconds(WRONG_CODE_WINDOW_SECS))
            {
                times.pop_front();
            }
            if times.len() >= WRONG_CODE_LIMIT {
                return false;
            }
        }
        if map.len() >= MAX_LIMITED_KEYS && !map.contains_key(user_id) {
            // Bounded: drop the users whose window is over; if it is still full, refuse (a
            // flood of user ids must neither grow memory nor wipe everyone's limit).
            let cutoff = now - Duration::seconds(WRONG_CODE_WINDOW_SECS);
            map.retain(|_, times| times.back().is_some_and(|t| *t > cutoff));
            if map.len() >= MAX_LIMITED_KEYS {
                return false;
            }
        }
        map.entry(user_id.to_owned()).or_default().push_back(now);
        true
    }

    /// Gives back a check reserved at `at` by [`AppState::reserve_wrong_code`]: the code was
    /// right (or was never looked at).
    pub fn give_back_wrong_code(&self, user_id: &str, at: DateTime<Utc>) {
        let mut map = self.wrong_codes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = map.get_mut(user_id)
            && let Some(i) = times.iter().rposition(|t| *t == at)
        {
            times.remove(i);
        }
    }

    /// Forgets the wrong-code and code-send counters (reset).
    pub fn clear_limits(&self) {
        self.wrong_codes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.sent_codes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
