//! Fidelity: the official Authsignal Web SDK (`@authsignal/browser` from npm, never committed)
//! runs `passkey.signUp` and `passkey.signIn` in headless Chromium against the emulator's Client
//! API, with the virtual authenticator. It proves the emulator answers what the real SDK sends
//! and reads, so our own script's calls are not the only evidence.
//!
//! `.ci/run` installs the package into a temporary directory and names it in
//! `AUTHSIGNAL_BROWSER_SDK` (the package directory, holding `dist/index.min.js`). Without it the
//! test warns loudly and returns, unless `E2E_REQUIRE_BROWSER=1`, which makes it a failure.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;

use actix_web::{App, HttpResponse, HttpServer, web};
use authsignal_sdk::{
    TrackAttributes, UserActionState, ValidateChallengeRequest, VerificationMethod,
};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::chrome::{Chrome, browser_required, catching};
use crate::helpers::system::{Options, TestSystem};
use crate::helpers::tls;
use crate::helpers::webauthn::VirtualAuthenticator;

/// The test page: the SDK's browser bundle (a global `authsignal`) and a username field for
/// autofill; the test drives the SDK from CDP.
const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Web SDK fidelity</title>
<script src="/authsignal-browser.js"></script></head>
<body><h1 id="ready">Web SDK fidelity</h1>
<input id="username" autocomplete="username webauthn"></body></html>"#;

/// The SDK's bundle, or `None` (after a loud warning) when it is not installed and not required.
fn sdk_bundle() -> Option<Vec<u8>> {
    let dir = std::env::var_os("AUTHSIGNAL_BROWSER_SDK").map(PathBuf::from);
    let file = dir.as_ref().map(|d| d.join("dist").join("index.min.js"));
    match file.as_ref().map(std::fs::read) {
        Some(Ok(bytes)) => Some(bytes),
        found => {
            let message = match found {
                None => "AUTHSIGNAL_BROWSER_SDK is not set (the directory of the @authsignal/browser package; .ci/run installs it)".to_owned(),
                Some(Err(e)) => format!(
                    "cannot read the Web SDK bundle {}: {e}",
                    file.as_ref().map(|f| f.display().to_string()).unwrap_or_default()
                ),
                Some(Ok(_)) => unreachable!("handled above"),
            };
            if browser_required() {
                panic!("{message}; E2E_REQUIRE_BROWSER=1 makes this a failure");
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n{bar}\nWARNING: {message}.\nWARNING: the Web SDK fidelity test was NOT run.\n{bar}\n",
                bar = "!".repeat(78)
            );
            None
        }
    }
}

/// Serves the test page and the bundle over HTTPS on `listener` (this run's certificate).
fn serve(listener: TcpListener, bundle: Vec<u8>) -> actix_web::dev::ServerHandle {
    let bundle = web::Bytes::from(bundle);
    let server = HttpServer::new(move || {
        let bundle = bundle.clone();
        App::new()
            .route(
                "/",
                web::get().to(|| async { HttpResponse::Ok().content_type("text/html").body(PAGE) }),
            )
            .route(
                "/authsignal-browser.js",
                web::get().to(move || {
                    let bundle = bundle.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("text/javascript")
                            .body(bundle)
                    }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .listen_rustls_0_23(listener, tls().server_config().unwrap())
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    handle
}

/// A JavaScript string literal.
fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Runs an SDK call in the page: `body` is the inside of an async function that has `client`
/// (an `authsignal.Authsignal` for the emulator) and returns a value; answers its JSON.
async fn run_sdk(chrome: &Chrome, sys: &TestSystem, body: &str) -> Value {
    let tenant = authsignal_emulator::configuration::Settings::for_tests().tenant_id;
    let expression = format!(
        "(async () => {{ try {{ const client = new authsignal.Authsignal({{ tenantId: {tenant}, baseUrl: {base} }}); \
         const value = await (async () => {{ {body} }})(); return JSON.stringify({{ value }}); }} \
         catch (e) {{ return JSON.stringify({{ thrown: String(e && (e.stack || e.message || e)) }}); }} }})()",
        tenant = js(&tenant),
        base = js(&sys.emulator_api.0),
    );
    let answer = chrome.eval(&expression).await;
    let parsed: Value =
        serde_json::from_str(answer.as_str().unwrap_or("null")).unwrap_or(Value::Null);
    assert!(parsed.get("thrown").is_none(), "the SDK threw: {parsed}");
    parsed["value"].clone()
}

#[tokio::test]
async fn in_chromium_the_official_web_sdk_signs_up_and_signs_in_with_a_passkey_at_the_emulator() {
    let Some(bundle) = sdk_bundle() else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let sys = TestSystem::start_with(Options {
        extra_passkey_origins: vec![origin.clone()],
        ..Options::default()
    })
    .await;
    let page_server = serve(listener, bundle);
    let spki = tls().leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("web-sdk-fidelity", &spki).await else {
        page_server.stop(false).await;
        return;
    };
    let sdk = sys.authsignal();
    let user = "web-sdk-fidelity-user";
    let outcome = catching(async {
        let authenticator = VirtualAuthenticator::attach(&chrome).await;
        chrome.open(&format!("{origin}/")).await;
        chrome.wait_for("#ready").await;

        // signUp with a track token of an add-passkey action (scope add:authenticators).
        let tracked = sdk
            .track(
                user,
                "add-passkey",
                &TrackAttributes {
                    scope: Some("add:authenticators".into()),
                    username: Some("fidelity@example.com".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("track");
        let signed_up = run_sdk(
            &chrome,
            &sys,
            &format!(
                "return await client.passkey.signUp({{ token: {}, username: 'fidelity@example.com' }});",
                js(&tracked.token)
            ),
        )
        .await;
        assert!(signed_up.get("error").is_none(), "signUp failed: {signed_up}");
        let token = signed_up["data"]["token"].as_str().unwrap_or_else(|| panic!("no token: {signed_up}"));
        let validated = sdk
            .validate_challenge(&ValidateChallengeRequest {
                token: token.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(validated.is_valid, "{validated:?}");
        assert_eq!(validated.user_id.as_deref(), Some(user));
        assert_eq!(validated.action_code(), Some("add-passkey"));
        assert_eq!(validated.verification_method, Some(VerificationMethod::Passkey));

        // The passkey as the Server API shows it: the fields the official SDK types declare.
        let credentials = authenticator.credentials(&chrome).await;
        assert_eq!(credentials.len(), 1);
        let held: &str = credentials[0].credential_id.as_ref();
        let listed = sdk.get_authenticators(user).await.unwrap();
        let passkey = listed
            .iter()
            .find(|a| a.verification_method == VerificationMethod::Passkey)
            .expect("the passkey is listed");
        let credential = passkey.webauthn_credential.as_ref().expect("webauthnCredential");
        let held_b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            base64::engine::general_purpose::STANDARD
                .decode(held)
                .expect("CDP sends the id in base64"),
        );
        assert_eq!(credential.credential_id, held_b64url);
        assert_eq!(credential.name.as_deref(), Some("Chromium virtual authenticator"));
        assert_eq!(
            credential.aaguid_mapping.as_ref().and_then(|m| m.name.as_deref()),
            Some("Chromium virtual authenticator")
        );
        assert!(
            credential
                .parsed_user_agent
                .as_ref()
                .and_then(|ua| ua.browser.as_ref())
                .and_then(|b| b.name.as_deref())
                .is_some_and(|name| name.starts_with("Chrome")),
            "{credential:?}"
        );
        assert!(credential.verified_at.is_some());

        // signIn with an action: the discoverable passkey answers.
        let signed_in = run_sdk(
            &chrome,
            &sys,
            "return await client.passkey.signIn({ action: 'web-sdk-fidelity-sign-in' });",
        )
        .await;
        assert!(signed_in.get("error").is_none(), "signIn failed: {signed_in}");
        assert_eq!(signed_in["data"]["isVerified"], json!(true), "{signed_in}");
        assert_eq!(signed_in["data"]["userId"], json!(user), "{signed_in}");
        let token = signed_in["data"]["token"].as_str().expect("a token");
        let validated = sdk
            .validate_challenge(&ValidateChallengeRequest {
                token: token.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(validated.is_valid, "{validated:?}");
        assert_eq!(validated.state, Some(UserActionState::ChallengeSucceeded));
        assert_eq!(validated.user_id.as_deref(), Some(user));
        assert_eq!(validated.action_code(), Some("web-sdk-fidelity-sign-in"));
        assert_eq!(validated.verification_method, Some(VerificationMethod::Passkey));
    })
    .await;
    chrome.finish(outcome).await;
    page_server.stop(false).await;
}
