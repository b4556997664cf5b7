//! Webhook signature verification (`X-Signature-V2`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authsignal_sdk::webhook::{self, SIGNATURE_HEADER, Webhook, WebhookError};
use serde_json::json;

const SECRET: &str = "test-secret-key-123";
const BODY: &[u8] = br#"{"version":1,"type":"test.event","id":"123","source":"test","time":"2025-01-01T00:00:00Z","tenantId":"tenant","data":{}}"#;
const VECTOR_HEADER: &str = "t=1700000000,v2=SIsqN/dpjd5pGbhybK0P+2jvG2manrNmMzGzKwYwXuY";
const VECTOR_TIME: i64 = 1_700_000_000;

#[test]
fn the_reference_test_vector_verifies_and_decodes_the_event() {
    let event = Webhook::new(SECRET)
        .verify_at(BODY, VECTOR_HEADER, VECTOR_TIME + 60)
        .unwrap();
    assert_eq!(event.version, 1);
    assert_eq!(event.event_type, "test.event");
    assert_eq!(event.id, "123");
    assert_eq!(event.source, "test");
    assert_eq!(event.time, "2025-01-01T00:00:00Z");
    assert_eq!(event.tenant_id, "tenant");
    assert!(event.data.is_empty());
}

#[test]
fn sign_reproduces_the_reference_test_vector() {
    assert_eq!(webhook::sign(SECRET, BODY, VECTOR_TIME), VECTOR_HEADER);
    assert_eq!(SIGNATURE_HEADER, "X-Signature-V2");
}

#[test]
fn a_header_without_a_timestamp_or_signature_has_an_invalid_format() {
    let webhook = Webhook::new(SECRET);
    for header in [
        "",
        "garbage",
        "v2=SIsqN/dpjd5pGbhybK0P+2jvG2manrNmMzGzKwYwXuY",
        "t=1700000000",
        "t=1700000000,v1=abc",
        "t=1700000000,v2=",
        "t=yesterday,v2=SIsqN/dpjd5pGbhybK0P+2jvG2manrNmMzGzKwYwXuY",
    ] {
        let error = webhook.verify_at(BODY, header, VECTOR_TIME).unwrap_err();
        assert!(
            matches!(error, WebhookError::InvalidFormat),
            "{header:?}: {error:?}"
        );
        assert_eq!(error.to_string(), "signature format is invalid");
    }
}

#[test]
fn a_stale_timestamp_is_rejected_before_the_signature_is_checked() {
    let webhook = Webhook::new(SECRET);
    let now = VECTOR_TIME + 5 * 60 + 1;
    let error = webhook.verify_at(BODY, VECTOR_HEADER, now).unwrap_err();
    assert!(matches!(error, WebhookError::OutsideTolerance));
    assert_eq!(error.to_string(), "timestamp is outside the tolerance zone");
    // Even with a wrong signature, the stale timestamp is what is reported (as the .NET SDK does).
    let wrong = "t=1700000000,v2=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert!(matches!(
        webhook.verify_at(BODY, wrong, now).unwrap_err(),
        WebhookError::OutsideTolerance
    ));
}

#[test]
fn a_timestamp_exactly_at_the_tolerance_boundary_passes_and_future_ones_pass() {
    let webhook = Webhook::new(SECRET);
    webhook
        .verify_at(BODY, VECTOR_HEADER, VECTOR_TIME + 5 * 60)
        .unwrap();
    webhook
        .verify_at(BODY, VECTOR_HEADER, VECTOR_TIME - 3600)
        .unwrap();
}

#[test]
fn a_custom_tolerance_applies_and_zero_disables_the_check() {
    let strict = Webhook::new(SECRET).with_tolerance(Duration::from_secs(10));
    assert!(matches!(
        strict
            .verify_at(BODY, VECTOR_HEADER, VECTOR_TIME + 11)
            .unwrap_err(),
        WebhookError::OutsideTolerance
    ));
    let unchecked = Webhook::new(SECRET).with_tolerance(Duration::ZERO);
    unchecked
        .verify_at(BODY, VECTOR_HEADER, VECTOR_TIME + 86_400 * 365)
        .unwrap();
}

#[test]
fn a_wrong_secret_or_a_tampered_body_is_a_signature_mismatch() {
    let error = Webhook::new("another-secret")
        .verify_at(BODY, VECTOR_HEADER, VECTOR_TIME)
        .unwrap_err();
    assert!(matches!(error, WebhookError::SignatureMismatch));
    assert_eq!(error.to_string(), "signature mismatch");

    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("\"123\"", "\"124\"");
    assert!(matches!(
        Webhook::new(SECRET)
            .verify_at(tampered.as_bytes(), VECTOR_HEADER, VECTOR_TIME)
            .unwrap_err(),
        WebhookError::SignatureMismatch
    ));
}

#[test]
fn a_signature_with_padding_or_another_timestamp_does_not_match() {
    let webhook = Webhook::new(SECRET);
    let padded = format!("{VECTOR_HEADER}=");
    assert!(matches!(
        webhook.verify_at(BODY, &padded, VECTOR_TIME).unwrap_err(),
        WebhookError::SignatureMismatch
    ));
    // The timestamp is part of the signed message: moving it breaks the signature.
    let moved = VECTOR_HEADER.replace("t=1700000000", "t=1700000001");
    assert!(matches!(
        webhook.verify_at(BODY, &moved, VECTOR_TIME).unwrap_err(),
        WebhookError::SignatureMismatch
    ));
}

#[test]
fn with_two_keys_active_either_v2_value_may_match() {
    let webhook = Webhook::new(SECRET);
    let old_key_signature = webhook::sign("old-secret", BODY, VECTOR_TIME);
    let old_value = old_key_signature.split("v2=").nth(1).unwrap();
    let valid_value = VECTOR_HEADER.split("v2=").nth(1).unwrap();

    let valid_second = format!("t={VECTOR_TIME},v2={old_value},v2={valid_value}");
    webhook.verify_at(BODY, &valid_second, VECTOR_TIME).unwrap();
    let valid_first = format!("t={VECTOR_TIME}, v2={valid_value}, v2={old_value}");
    webhook.verify_at(BODY, &valid_first, VECTOR_TIME).unwrap();
    let neither = format!("t={VECTOR_TIME},v2={old_value},v2={old_value}");
    assert!(matches!(
        webhook.verify_at(BODY, &neither, VECTOR_TIME).unwrap_err(),
        WebhookError::SignatureMismatch
    ));
}

#[test]
fn a_validly_signed_body_that_is_not_an_event_is_an_invalid_payload() {
    let body = br#"{"records":[]}"#;
    let header = webhook::sign(SECRET, body, VECTOR_TIME);
    let webhook = Webhook::new(SECRET);
    let error = webhook.verify_at(body, &header, VECTOR_TIME).unwrap_err();
    assert!(matches!(error, WebhookError::InvalidPayload(_)));
    assert!(error.to_string().starts_with("payload format is invalid"));
    // The signature itself is fine, which is what log-event batch handlers check.
    webhook
        .verify_signature_at(body, &header, VECTOR_TIME)
        .unwrap();
}

#[test]
fn nested_event_data_is_kept_as_json() {
    let body = serde_json::to_vec(&json!({
        "version": 1,
        "id": "evt-1",
        "source": "https://authsignal.com",
        "time": "2026-11-29T00:00:00Z",
        "tenantId": "tenant",
        "type": "email.created",
        "data": {
            "to": "alice@example.com",
            "code": "123456",
            "userId": "user-1",
            "customVariables": {"brand": {"name": "Demo"}}
        }
    }))
    .unwrap();
    let header = webhook::sign(SECRET, &body, VECTOR_TIME);
    let event = Webhook::new(SECRET)
        .verify_at(&body, &header, VECTOR_TIME)
        .unwrap();
    assert_eq!(event.event_type, "email.created");
    assert_eq!(event.data["code"], json!("123456"));
    assert_eq!(
        event.data["customVariables"]["brand"]["name"],
        json!("Demo")
    );
}

#[test]
fn verify_uses_the_current_time() {
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let webhook = Webhook::new(SECRET);
    webhook
        .verify(BODY, &webhook::sign(SECRET, BODY, now))
        .unwrap();
    assert!(matches!(
        webhook
            .verify(BODY, &webhook::sign(SECRET, BODY, now - 600))
            .unwrap_err(),
        WebhookError::OutsideTolerance
    ));
}

#[test]
fn the_webhook_debug_output_hides_the_secret() {
    let debug = format!("{:?}", Webhook::new(SECRET));
    assert!(!debug.contains(SECRET));
}
