//! The Client API passkey subset, driven as `@authsignal/browser` drives it, with the software
//! authenticator standing in for the browser and its platform authenticator.

use authsignal_emulator::configuration::{PasskeySettings, Settings};
use authsignal_emulator::soft_authenticator::{Ceremony, SoftAuthenticator};
use authsignal_sdk::{
    TrackAttributes, UserActionState, ValidateChallengeRequest, VerificationMethod,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, enrolled_user, settings, spawn, spawn_with};

pub const ORIGIN: &str = "https://localhost:5001";
pub const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36";
const LOGIN_ACTION: &str = "identity-server-passkey-login";

pub fn tenant_id() -> String {
    Settings::default().tenant_id
}

/// `Basic base64(tenantId)`, as the Web SDK sends it (no colon).
pub fn basic() -> String {
    format!("Basic {}", STANDARD.encode(tenant_id()))
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A Client API request with an `Authorization` value.
pub fn client(app: &TestApp, method: Method, path: &str, auth: &str) -> reqwest::RequestBuilder {
    app.http
        .request(method, format!("{}/v1/client{path}", app.base_url))
        .header("authorization", auth)
        .header("user-agent", CHROME_UA)
}

pub async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.text().await.unwrap();
    let value = serde_json::from_str(&body).unwrap_or_else(|_| json!({ "raw": body }));
    (status, value)
}

/// Tracks `add-passkey` (scope `add:authenticators`) for `user`; returns the token.
pub async fn add_passkey_token(app: &TestApp, user: &str) -> String {
    app.track(
        user,
        "add-passkey",
        TrackAttributes {
            scope: Some("add:authenticators".into()),
            username: Some(format!("{user}@example.com")),
            ..Default::default()
        },
    )
    .await
    .token
}

/// `signUp({token})`: registration options, create, add. Returns the add response.
pub async fn sign_up(
    app: &TestApp,
    authenticator: &mut SoftAuthenticator,
    token: &str,
) -> (StatusCode, Value) {
    let (status, options) = json_of(
        client(
            app,
            Method::POST,
            "/user-authenticators/passkey/registration-options",
            &bearer(token),
        )
        .json(&json!({"username": "alice", "authenticatorAttachment": "platform"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let credential = authenticator
        .register(&options["options"], &Ceremony::new(ORIGIN))
        .expect("the authenticator registers");
    json_of(
        client(
            app,
            Method::POST,
            "/user-authenticators/passkey",
            &bearer(token),
        )
        .json(&json!({
            "registrationCredential": credential,
            "challengeId": options["challengeId"],
        }))
        .send()
        .await
        .unwrap(),
    )
    .await
}

/// Registers a passkey for `user`; returns the authenticator holding it.
pub async fn registered(app: &TestApp, user: &str) -> SoftAuthenticator {
    let mut authenticator = SoftAuthenticator::new();
    let token = add_passkey_token(app, user).await;
    let (status, body) = sign_up(app, &mut authenticator, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["isVerified"], true);
    authenticator
}

/// `/client/challenge` then authentication options (Basic): `(challengeId, options)`.
pub async fn sign_in_options(app: &TestApp, idempotency_key: &str) -> (String, Value) {
    let (status, challenge) = json_of(
        client(app, Method::POST, "/challenge", &basic())
            .json(&json!({"action": LOGIN_ACTION, "idempotencyKey": idempotency_key}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{challenge}");
    let (status, options) = json_of(
        client(
            app,
            Method::POST,
            "/user-authenticators/passkey/authentication-options",
            &basic(),
        )
        .json(&json!({"challengeId": challenge["challengeId"]}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    assert_eq!(options["challengeId"], challenge["challengeId"]);
    (
        options["challengeId"].as_str().unwrap().to_owned(),
        options["options"].clone(),
    )
}

pub async fn verify(
    app: &TestApp,
    auth: &str,
    challenge_id: &str,
    credential: &Value,
) -> (StatusCode, Value) {
    json_of(
        client(app, Method::POST, "/verify/passkey", auth)
            .json(&json!({
                "authenticationCredential": credential,
                "challengeId": challenge_id,
                "deviceId": "anonymous-device-id",
            }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A whole `signIn({action, idempotencyKey})` with an honest ceremony.
pub async fn sign_in(
    app: &TestApp,
    authenticator: &mut SoftAuthenticator,
    idempotency_key: &str,
) -> (StatusCode, Value) {
    let (challenge_id, options) = sign_in_options(app, idempotency_key).await;
    let credential = authenticator
        .authenticate(&options, &Ceremony::new(ORIGIN))
        .unwrap();
    verify(app, &basic(), &challenge_id, &credential).await
}

#[tokio::test]
async fn a_passkey_registered_with_the_software_authenticator_signs_in_and_validate_names_it() {
    let app = spawn().await;
    let mut authenticator = registered(&app, "alice").await;

    let (status, body) = sign_in(&app, &mut authenticator, "login-transaction-1").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["isVerified"], true);
    assert_eq!(body["userId"], "alice");
    assert_eq!(body["username"], "alice@example.com");
    let validated = app
        .sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: body["accessToken"].as_str().unwrap().to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(validated.is_valid);
    assert_eq!(validated.state, Some(UserActionState::ChallengeSucceeded));
    assert_eq!(validated.user_id.as_deref(), Some("alice"));
    assert_eq!(validated.action.as_deref(), Some(LOGIN_ACTION));
    assert_eq!(
        validated.idempotency_key.as_deref(),
        Some("login-transaction-1")
    );
    assert_eq!(
        validated.verification_method,
        Some(VerificationMethod::Passkey)
    );
}

#[tokio::test]
async fn the_registration_options_ask_for_a_resident_key_user_verification_and_no_attestation() {
    let app = spawn().await;
    let token = add_passkey_token(&app, "alice").await;
    let (status, body) = json_of(
        client(
            &app,
            Method::POST,
            "/user-authenticators/passkey/registration-options",
            &bearer(&token),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let options = &body["options"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["requireResidentKey"],
        true
    );
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["attestation"], "none");
    let algs: Vec<i64> = options["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert_eq!(algs, [-7, -8, -257]);
    // The user handle is random, never the user id.
    let handle = options["user"]["id"].as_str().unwrap();
    assert_ne!(
        handle,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("alice")
    );
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(handle)
            .unwrap()
            .len(),
        16
    );
}

#[tokio::test]
async fn the_server_api_lists_the_passkey_with_the_fields_the_official_sdks_declare() {
    let app = spawn().await;
    registered(&app, "alice").await;

    let (status, list) = json_of(
        app.api(Method::GET, "/users/alice/authenticators")
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    let passkey = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["verificationMethod"] == "PASSKEY")
        .expect("a passkey is listed");
    let credential = &passkey["webauthnCredential"];
    assert!(
        credential["credentialId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(
        credential["deviceId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(credential["name"], "Google Password Manager");
    assert_eq!(
        credential["aaguidMapping"]["name"],
        "Google Password Manager"
    );
    assert!(credential["aaguidMapping"]["svgIconLight"].is_string());
    assert_eq!(credential["parsedUserAgent"]["browser"]["name"], "Chrome");
    assert_eq!(credential["credentialDeviceType"], "singleDevice");
    assert_eq!(credential["authenticatorAttachment"], "platform");
    // Absent fields are left out, never null.
    let text = serde_json::to_string(&list).unwrap();
    assert!(!text.contains("null"), "{text}");
    // The SDK's types read it too.
    let typed = app.sdk.get_authenticators("alice").await.unwrap();
    let typed = typed[0].webauthn_credential.as_ref().unwrap();
    assert_eq!(
        typed.aaguid_mapping.as_ref().unwrap().name.as_deref(),
        Some("Google Password Manager")
    );
}

#[tokio::test]
async fn the_web_sdk_passkey_sync_lists_the_users_authenticators_with_the_access_token() {
    let app = spawn().await;
    let mut authenticator = registered(&app, "alice").await;
    let (_, body) = sign_in(&app, &mut authenticator, "k-sync").await;
    let (status, list) = json_of(
        client(
            &app,
            Method::GET,
            "/user-authenticators",
            &bearer(body["accessToken"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["verificationMethod"], "PASSKEY");
    assert_eq!(list[0]["userId"], "alice");
}

#[tokio::test]
async fn a_cors_preflight_from_an_expected_origin_is_allowed() {
    let app = spawn().await;
    let response = app
        .http
        .request(
            Method::OPTIONS,
            format!("{}/v1/client/verify/passkey", app.base_url),
        )
        .header("origin", "https://localhost:5001")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://localhost:5001"
    );
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(headers.get("access-control-allow-credentials").is_none());
    assert_eq!(headers["vary"], "Origin");
}

#[tokio::test]
async fn a_cors_preflight_or_request_from_another_origin_gets_no_cors_headers() {
    let app = spawn().await;
    for origin in ["https://evil.example", "https://localhost:5009", "null"] {
        let preflight = app
            .http
            .request(
                Method::OPTIONS,
                format!("{}/v1/client/challenge", app.base_url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(
            preflight
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
        let request = client(&app, Method::POST, "/challenge", &basic())
            .header("origin", origin)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(request.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(
            request
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }
}

#[tokio::test]
async fn an_answer_to_an_expected_origin_carries_its_cors_header_also_on_errors() {
    let app = spawn().await;
    let ok = client(&app, Method::POST, "/challenge", &basic())
        .header("origin", "https://localhost:5002")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://localhost:5002"
    );
    let refused = client(&app, Method::POST, "/challenge", "Basic d3Jvbmc=")
        .header("origin", "https://localhost:5002")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "https://localhost:5002"
    );
}

#[tokio::test]
async fn basic_auth_with_the_tenant_id_works_with_and_without_a_colon() {
    let app = spawn().await;
    for auth in [
        format!("Basic {}", STANDARD.encode(tenant_id())),
        format!("Basic {}", STANDARD.encode(format!("{}:", tenant_id()))),
    ] {
        let (status, body) = json_of(
            client(&app, Method::POST, "/challenge", &auth)
                .json(&json!({"action": LOGIN_ACTION}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{auth}: {body}");
        assert!(body["challengeId"].is_string());
    }
}

#[tokio::test]
async fn a_wrong_tenant_id_a_forged_token_or_no_authorization_is_unauthorized() {
    let app = spawn().await;
    for auth in [
        format!("Basic {}", STANDARD.encode("another-tenant:")),
        "Bearer not.a.token".to_owned(),
        format!("Basic {}", STANDARD.encode(format!("{}:", app.secret))),
        String::new(),
    ] {
        let (status, body) = json_of(
            client(&app, Method::POST, "/challenge", &auth)
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(body["errorCode"], "unauthorized");
        assert_eq!(body["error"], "unauthorized");
    }
    // The tenant id is no Server API secret.
    let server_api = app
        .http
        .get(format!("{}/users/alice", app.api_url))
        .header("authorization", basic())
        .send()
        .await
        .unwrap();
    assert_eq!(server_api.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reused_challenge_is_refused() {
    let app = spawn().await;
    let mut authenticator = registered(&app, "alice").await;
    let (challenge_id, options) = sign_in_options(&app, "k-reuse").await;
    let first = authenticator
        .authenticate(&options, &Ceremony::new(ORIGIN))
        .unwrap();
    let (status, _) = verify(&app, &basic(), &challenge_id, &first).await;
    assert_eq!(status, StatusCode::OK);

    let second = authenticator
        .authenticate(&options, &Ceremony::new(ORIGIN))
        .unwrap();
    let (status, body) = verify(&app, &basic(), &challenge_id, &second).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "invalid_request");
}

#[tokio::test]
async fn a_failed_attempt_consumes_the_challenge() {
    let app = spawn().await;
    let mut authenticator = registered(&app, "alice").await;
    let (challenge_id, options) = sign_in_options(&app, "k-failed").await;
    let unverified = authenticator
        .authenticate(
            &options,
            &Ceremony {
                user_verified: false,
                ..Ceremony::new(ORIGIN)
            },
        )
        .unwrap();
    let (status, body) = verify(&app, &basic(), &challenge_id, &unverified).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "invalid_credential");
    assert!(
        body["errorDescription"]
            .as_str()
            .unwrap()
            .contains("user verification")
    );

    let honest = authenticator
        .authenticate(&options, &Ceremony::new(ORIGIN))
        .unwrap();
    let (status, body) = verify(&app, &basic(), &challenge_id, &honest).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "invalid_request");
    let actions = app.sdk.get_action("alice", LOGIN_ACTION, "k-failed").await;
    assert!(actions.is_err(), "no action was completed: {actions:?}");
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let app = spawn_with(Settings {
        passkey: PasskeySettings {
            challenge_lifetime_secs: 1,
            ..PasskeySettings::default()
        },
        ..settings()
    })
    .await;
    let mut authenticator = registered(&app, "alice").await;
    let (challenge_id, options) = sign_in_options(&app, "k-expired").await;
    let credential = authenticator
        .authenticate(&options, &Ceremony::new(ORIGIN))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

    let (status, body) = verify(&app, &basic(), &challenge_id, &credential).await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["errorDescription"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn another_users_bearer_token_cannot_verify_a_passkey() {
    let app = spawn().await;
    let mut alice = registered(&app, "alice").await;
    let bob_token = app
        .track("bob", "identity-server-login", TrackAttributes::default())
        .await
        .token;
    let (_, options) = json_of(
        client(
            &app,
            Method::POST,
            "/user-authenticators/passkey/authentication-options",
            &bearer(&bob_token),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    // Bob has no passkey: his options allow none of alice's, but a hostile page answers with
    // alice's passkey anyway.
    assert_eq!(options["options"]["allowCredentials"], json!([]));
    let credential = alice
        .authenticate(&options["options"], &Ceremony::new(ORIGIN))
        .unwrap();

    let (status, body) = verify(
        &app,
        &bearer(&bob_token),
        options["challengeId"].as_str().unwrap(),
        &credential,
    )
    .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "invalid_credential");
    let validated = app
        .sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: bob_token,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!validated.is_valid);
}

#[tokio::test]
async fn a_passkey_can_be_the_second_factor_of_a_tracked_action_with_its_token() {
    let app = spawn().await;
    let mut alice = registered(&app, "alice").await;
    let decision = app
        .track("alice", "identity-server-login", TrackAttributes::default())
        .await;
    assert_eq!(decision.state, UserActionState::ChallengeRequired);
    let (_, options) = json_of(
        client(
            &app,
            Method::POST,
            "/user-authenticators/passkey/authentication-options",
            &bearer(&decision.token),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        options["options"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let credential = alice
        .authenticate(&options["options"], &Ceremony::new(ORIGIN))
        .unwrap();
    let (status, body) = verify(
        &app,
        &bearer(&decision.token),
        options["challengeId"].as_str().unwrap(),
        &credential,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let validated = app
        .sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: body["accessToken"].as_str().unwrap().to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(validated.is_valid);
    assert_eq!(
        validated.idempotency_key.as_deref(),
        Some(decision.idempotency_key.as_str())
    );
}

#[tokio::test]
async fn adding_a_passkey_needs_the_add_scope_once_the_user_has_an_authenticator() {
    let app = spawn().await;
    enrolled_user(&app, "alice").await;
    let plain = app
        .track("alice", "add-passkey", TrackAttributes::default())
        .await
        .token;
    let (status, body) = json_of(
        client(
            &app,
            Method::POST,
            "/user-authenticators/passkey/registration-options",
            &bearer(&plain),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["errorDescription"]
            .as_str()
            .unwrap()
            .contains("add:authenticators")
    );

    let scoped = add_passkey_token(&app, "alice").await;
    let (status, body) = sign_up(&app, &mut SoftAuthenticator::new(), &scoped).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let validated = app
        .sdk
        .validate_challenge(&ValidateChallengeRequest {
            token: body["accessToken"].as_str().unwrap().to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(validated.is_valid);
    assert_eq!(validated.action.as_deref(), Some("add-passkey"));
    assert_eq!(validated.user_id.as_deref(), Some("alice"));
    assert_eq!(
        validated.verification_method,
        Some(VerificationMethod::Passkey)
    );
}

#[tokio::test]
async fn a_registration_from_an_unexpected_origin_stores_nothing() {
    let app = spawn().await;
    let token = add_passkey_token(&app, "alice").await;
    let (_, options) = json_of(
        client(
            &app,
            Method::POST,
            "/user-authenticators/passkey/registration-options",
            &bearer(&token),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let credential = SoftAuthenticator::new()
        .register(&options["options"], &Ceremony::new("https://evil.example"))
        .unwrap();
    let (status, body) = json_of(
        client(
            &app,
            Method::POST,
            "/user-authenticators/passkey",
            &bearer(&token),
        )
        .json(&json!({"registrationCredential": credential, "challengeId": options["challengeId"]}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "invalid_credential");
    assert!(
        app.sdk
            .get_authenticators("alice")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_cloned_authenticator_is_refused() {
    let app = spawn().await;
    let mut original = registered(&app, "alice").await;
    let mut clone = SoftAuthenticator::new();
    clone.add_credential(original.credentials()[0].clone());
    let (status, _) = sign_in(&app, &mut original, "k-original").await;
    assert_eq!(status, StatusCode::OK);

    // The clone still counts from where it was copied: its counter does not rise.
    let (status, body) = sign_in(&app, &mut clone, "k-clone").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "invalid_credential");
    assert!(
        body["errorDescription"]
            .as_str()
            .unwrap()
            .contains("counter")
    );
}

#[tokio::test]
async fn a_passkey_removed_at_the_server_is_an_unknown_credential() {
    let app = spawn().await;
    let mut authenticator = registered(&app, "alice").await;
    let id = app.sdk.get_authenticators("alice").await.unwrap()[0]
        .user_authenticator_id
        .clone();
    app.sdk.delete_authenticator("alice", &id).await.unwrap();

    let (status, body) = sign_in(&app, &mut authenticator, "k-removed").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "unknown_credential");
}

#[tokio::test]
async fn a_passkey_authenticator_is_found_by_credential_id_and_unknown_ones_are_not() {
    let app = spawn().await;
    let authenticator = registered(&app, "alice").await;
    let id =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&authenticator.credentials()[0].id);
    let (status, body) = json_of(
        client(
            &app,
            Method::GET,
            &format!("/user-authenticators/passkey?credentialIds=unknown,{id}"),
            &basic(),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credentialId"], id.as_str());
    assert!(body["verifiedAt"].is_string());
    let missing = client(
        &app,
        Method::GET,
        "/user-authenticators/passkey?credentialIds=unknown",
        &basic(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_the_cookie_variants_are_not_offered() {
    let app = spawn().await;
    let (status, body) = json_of(
        client(&app, Method::POST, "/challenge", &basic())
            .json(&json!({"action": "not a valid action!"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "invalid_request");
    let (status, body) = json_of(
        client(&app, Method::POST, "/verify/passkey", &basic())
            .json(&json!({"authenticationCredential": {"id": 1}, "challengeId": "nope"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = json_of(
        client(
            &app,
            Method::POST,
            "/user-authenticators/passkey/authentication-options/web",
            &basic(),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_registered_passkey_survives_a_restart_and_keeps_its_counter() {
    let dir = tempfile::tempdir().unwrap();
    let persistent = || Settings {
        data_dir: Some(dir.path().to_path_buf()),
        in_memory: false,
        ..settings()
    };
    let first = spawn_with(persistent()).await;
    let mut authenticator = registered(&first, "alice").await;
    let mut clone = SoftAuthenticator::new();
    clone.add_credential(authenticator.credentials()[0].clone());
    let (status, _) = sign_in(&first, &mut authenticator, "k-before").await;
    assert_eq!(status, StatusCode::OK);
    first.stop().await;

    let second = spawn_with(persistent()).await;
    let (status, body) = sign_in(&second, &mut authenticator, "k-after").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = sign_in(&second, &mut clone, "k-clone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
