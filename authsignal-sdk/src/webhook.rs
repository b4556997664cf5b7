//! Webhook signature verification (and signing, for emulators and tests).
//!
//! Authsignal signs each webhook request with the tenant's Server API secret key and sends the
//! signature in the [`X-Signature-V2`](SIGNATURE_HEADER) header as `t=<unix seconds>,v2=<sig>`,
//! where `sig` is the standard Base64 **without padding** of HMAC-SHA256 over `"<t>.<raw body>"`.
//! While two API keys are active the header holds several `v2` values; any match passes.
//!
//! Verification checks, in this order: the header format, the timestamp (older than the
//! tolerance is rejected, 5 minutes by default; future timestamps pass), the signature (compared
//! in constant time), and only then decodes the body into a [`WebhookEvent`].
//!
//! ```
//! use authsignal_sdk::webhook::{self, Webhook};
//!
//! let secret = "test-secret-key-123";
//! let body = br#"{"version":1,"type":"test.event","id":"123","source":"test","time":"2025-01-01T00:00:00Z","tenantId":"tenant","data":{}}"#;
//! let header = webhook::sign(secret, body, 1_700_000_000);
//! assert_eq!(header, "t=1700000000,v2=SIsqN/dpjd5pGbhybK0P+2jvG2manrNmMzGzKwYwXuY");
//!
//! let event = Webhook::new(secret).verify_at(body, &header, 1_700_000_010)?;
//! assert_eq!(event.event_type, "test.event");
//! # Ok::<(), authsignal_sdk::webhook::WebhookError>(())
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The name of the header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Signature-V2";

/// The default tolerance for the signature timestamp.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Why a webhook request was rejected. Answer any of them with a 4xx and do not act on the body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The header lacks `t`, has no `v2` value, or `t` is not a number.
    #[error("signature format is invalid")]
    InvalidFormat,
    /// The timestamp is older than the tolerance (a replay or a badly delayed delivery).
    #[error("timestamp is outside the tolerance zone")]
    OutsideTolerance,
    /// No `v2` value matches the expected signature (wrong secret or tampered body).
    #[error("signature mismatch")]
    SignatureMismatch,
    /// The signature is valid but the body is not a webhook event.
    #[error("payload format is invalid: {0}")]
    InvalidPayload(#[source] serde_json::Error),
}

/// A webhook event envelope: `{version, id, source, time, tenantId, type, data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// Envelope version (1).
    pub version: u32,
    /// Event id (deliveries are at least once: dedupe on it).
    pub id: String,
    /// Source, `https://authsignal.com`.
    pub source: String,
    /// When the event happened (ISO-8601).
    pub time: String,
    /// The tenant.
    pub tenant_id: String,
    /// Event type, e.g. `email.created`, `sms.created`, `authenticator.created`, `action.verify`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Event data; values may be nested objects, so it is kept as JSON.
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// Verifies webhook requests signed with one secret key.
///
/// ```no_run
/// use authsignal_sdk::webhook::{SIGNATURE_HEADER, Webhook};
///
/// # fn handle(body: &[u8], headers: &std::collections::HashMap<String, String>) {
/// let webhook = Webhook::new(std::env::var("AUTHSIGNAL_SECRET").expect("secret"));
/// let header = headers.get(SIGNATURE_HEADER).map(String::as_str).unwrap_or_default();
/// match webhook.verify(body, header) {
///     Ok(event) if event.event_type == "email.created" => { /* deliver the code */ }
///     Ok(_) => {}
///     Err(error) => eprintln!("rejected webhook: {error}"), // answer 400
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Webhook {
    secret: String,
    tolerance: Duration,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("secret", &"[redacted]")
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Webhook {
    /// A verifier for the tenant's Server API secret key, with the default 5-minute tolerance.
    ///
    /// ```no_run
    /// # use authsignal_sdk::webhook::Webhook;
    /// let webhook = Webhook::new("secret");
    /// ```
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Sets how old a signature timestamp may be. `Duration::ZERO` disables the check (not
    /// recommended: it allows replays).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use authsignal_sdk::webhook::Webhook;
    /// let webhook = Webhook::new("secret").with_tolerance(Duration::from_secs(60));
    /// ```
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies `signature_header` (the `X-Signature-V2` value) against the raw request body
    /// at the current time, then decodes the event.
    ///
    /// ```no_run
    /// # use authsignal_sdk::webhook::Webhook;
    /// # fn run(body: &[u8], header: &str) -> Result<(), authsignal_sdk::webhook::WebhookError> {
    /// let event = Webhook::new("secret").verify(body, header)?;
    /// println!("{} {}", event.event_type, event.id);
    /// # Ok(()) }
    /// ```
    pub fn verify(
        &self,
        payload: &[u8],
        signature_header: &str,
    ) -> Result<WebhookEvent, WebhookError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        self.verify_at(payload, signature_header, now)
    }

    /// Like [`verify`](Self::verify) at a given time (Unix seconds), for tests and replays.
    ///
    /// ```no_run
    /// # use authsignal_sdk::webhook::Webhook;
    /// # fn run(body: &[u8], header: &str) -> Result<(), authsignal_sdk::webhook::WebhookError> {
    /// let event = Webhook::new("secret").verify_at(body, header, 1_700_000_000)?;
    /// # Ok(()) }
    /// ```
    pub fn verify_at(
        &self,
        payload: &[u8],
        signature_header: &str,
        now_unix: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        self.verify_signature_at(payload, signature_header, now_unix)?;
        serde_json::from_slice(payload).map_err(WebhookError::InvalidPayload)
    }

    /// Checks the signature only (no decoding), e.g. for log-event batches
    /// (`{"records": [...]}`) that are not a [`WebhookEvent`].
    ///
    /// ```no_run
    /// # use authsignal_sdk::webhook::Webhook;
    /// # fn run(body: &[u8], header: &str) -> Result<(), authsignal_sdk::webhook::WebhookError> {
    /// Webhook::new("secret").verify_signature_at(body, header, 1_700_000_000)?;
    /// let batch: serde_json::Value = serde_json::from_slice(body).expect("json");
    /// # Ok(()) }
    /// ```
    pub fn verify_signature_at(
        &self,
        payload: &[u8],
        signature_header: &str,
        now_unix: i64,
    ) -> Result<(), WebhookError> {
        let parsed = parse_header(signature_header)?;
        if !self.tolerance.is_zero() {
            let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
            if parsed.timestamp < now_unix.saturating_sub(tolerance) {
                return Err(WebhookError::OutsideTolerance);
            }
        }
        let Some(expected) = compute(&self.secret, parsed.timestamp_raw, payload) else {
            return Err(WebhookError::SignatureMismatch);
        };
        // Check every value without an early exit, so timing does not tell which one matched.
        let matched = parsed
            .signatures
            .iter()
            .fold(subtle::Choice::from(0u8), |acc, candidate| {
                acc | candidate.as_bytes().ct_eq(expected.as_bytes())
            });
        if bool::from(matched) {
            Ok(())
        } else {
            Err(WebhookError::SignatureMismatch)
        }
    }
}

/// Signs `payload` at `timestamp` (Unix seconds) and returns the `X-Signature-V2` header value
/// `t=<timestamp>,v2=<signature>`. Used by emulators and tests to send signed webhooks.
///
/// ```no_run
/// let header = authsignal_sdk::webhook::sign("secret", br#"{"id":"1"}"#, 1_700_000_000);
/// assert!(header.starts_with("t=1700000000,v2="));
/// ```
pub fn sign(secret: &str, payload: &[u8], timestamp: i64) -> String {
    let timestamp = timestamp.to_string();
    let signature = compute(secret, &timestamp, payload).unwrap_or_default();
    format!("t={timestamp},v2={signature}")
}

struct ParsedHeader<'a> {
    timestamp: i64,
    /// The timestamp exactly as sent: it is what was signed.
    timestamp_raw: &'a str,
    signatures: Vec<&'a str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" => {
                let raw = value.trim();
                let parsed = raw
                    .parse::<i64>()
                    .map_err(|_| WebhookError::InvalidFormat)?;
                timestamp = Some((parsed, raw));
            }
            "v2" if !value.trim().is_empty() => signatures.push(value.trim()),
            // Other schemes (a future v3) are ignored, as the official SDKs do.
            _ => {}
        }
    }
    match timestamp {
        Some((timestamp, timestamp_raw)) if !signatures.is_empty() => Ok(ParsedHeader {
            timestamp,
            timestamp_raw,
            signatures,
        }),
        _ => Err(WebhookError::InvalidFormat),
    }
}

/// The expected signature; `None` only if the MAC rejects the key, which HMAC never does.
fn compute(secret: &str, timestamp: &str, payload: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(STANDARD_NO_PAD.encode(mac.finalize().into_bytes()))
}
