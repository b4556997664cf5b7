//! Webhook events as the service sends them: the envelope and the `X-Signature-V2` header
//! (`t=<unix>,v2=<base64 HMAC-SHA256(secret, "<t>.<body>") without padding>`, reference §5).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The signature header name.
pub const SIGNATURE_HEADER: &str = "X-Signature-V2";

/// The header value for `payload` sent at `timestamp` (Unix seconds): the SDK's own signing
/// function, so the emulator and the SDK's verifier cannot drift apart.
pub fn sign(secret: &str, payload: &[u8], timestamp: i64) -> String {
    authsignal_sdk::webhook::sign(secret, payload, timestamp)
}

/// Drops `null` members of an event's `data`: the service omits absent fields rather than
/// sending `null`.
pub fn compact(data: Value) -> Value {
    match data {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

/// The event envelope `{version, id, source, time, tenantId, type, data}` (absent `data`
/// fields left out).
pub fn envelope(event_type: &str, tenant_id: &str, data: Value, now: DateTime<Utc>) -> Value {
    let data = compact(data);
    json!({
        "version": 1,
        "id": uuid::Uuid::new_v4().to_string(),
        "source": "https://authsignal.com",
        "time": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "tenantId": tenant_id,
        "type": event_type,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_reference_test_vector() {
        let body = r#"{"version":1,"type":"test.event","id":"123","source":"test","time":"2025-01-01T00:00:00Z","tenantId":"tenant","data":{}}"#;
        assert_eq!(
            sign("test-secret-key-123", body.as_bytes(), 1_700_000_000),
            "t=1700000000,v2=SIsqN/dpjd5pGbhybK0P+2jvG2manrNmMzGzKwYwXuY"
        );
    }

    #[test]
    fn absent_data_fields_are_left_out_not_sent_as_null() {
        let event = envelope(
            "authenticator.created",
            "t1",
            json!({"userId": "u", "email": null, "verificationMethod": "PASSKEY"}),
            Utc::now(),
        );
        let data = event["data"].as_object().unwrap();
        assert!(!data.contains_key("email"));
        assert_eq!(data["verificationMethod"], "PASSKEY");
    }

    #[test]
    fn the_envelope_names_type_tenant_and_data() {
        let event = envelope("email.created", "t1", json!({"to": "a@b"}), Utc::now());
        assert_eq!(event["type"], "email.created");
        assert_eq!(event["tenantId"], "t1");
        assert_eq!(event["version"], 1);
        assert_eq!(event["data"]["to"], "a@b");
    }
}
