//! Passkeys over HTTP, with the emulator's software authenticator standing in for the browser's
//! WebAuthn: a signed-in user adds a passkey on `/Account/Passkeys` and signs in with it from the
//! login page, as the page's script would (Client API calls, then the form POST); and every way
//! of bending the passkey callback signs nobody in.

use authsignal_emulator::Outcome;
use authsignal_emulator::soft_authenticator::{Ceremony, SoftAuthenticator};
use authsignal_sdk::{
    TrackAttributes, UserActionState, ValidateChallengeRequest, VerificationMethod,
};
use base64::Engine as _;
use identity_server::signin::SESSION_COOKIE;
use identity_server::store::LockoutKey;
use serde_json::{Value, json};

use super::{Browser, Page, Stack, code_of, input_value, spawn, spawn_with};
use crate::helpers::{ALICE, query_param};

const PASSKEY_COOKIE: &str = "__Host-idsrv.passkey";
const LOGIN_ACTION: &str = "identity-server-passkey-login";

/// The value of a `data-NAME="..."` attribute.
fn data_attribute(html: &str, name: &str) -> Option<String> {
    let marker = format!("data-{name}=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&#x2F;", "/")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

/// What the login page gives its script.
#[derive(Debug, Clone)]
struct Offer {
    ar: String,
    csrf: String,
    client_api_url: String,
    tenant_id: String,
    action: String,
    idempotency_key: String,
}

fn offer_of(page: &Page) -> Offer {
    assert_eq!(page.status, 200, "{}", page.body);
    let attr = |name| {
        data_attribute(&page.body, name).unwrap_or_else(|| panic!("no data-{name} on the page"))
    };
    Offer {
        ar: input_value(&page.body, "ar").unwrap(),
        csrf: input_value(&page.body, "csrf_token").unwrap(),
        client_api_url: attr("client-api-url"),
        tenant_id: attr("tenant-id"),
        action: attr("action"),
        idempotency_key: attr("idempotency-key"),
    }
}

/// The Client API, called as the page's script calls it (from the identity server's origin).
async fn client_api(stack: &Stack, base: &str, path: &str, auth: &str, body: Value) -> Value {
    let response = Browser::new()
        .client
        .post(format!("{base}/client{path}"))
        .header("origin", &stack.idp)
        .header("authorization", auth)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

fn basic(tenant_id: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(tenant_id)
    )
}

/// The login page's passkey ceremony: challenge with the page's action and key, options, the
/// authenticator's assertion, verify. Returns the Authsignal access token.
async fn passkey_token(
    stack: &Stack,
    offer: &Offer,
    authenticator: &mut SoftAuthenticator,
) -> String {
    let auth = basic(&offer.tenant_id);
    let challenge = client_api(
        stack,
        &offer.client_api_url,
        "/challenge",
        &auth,
        json!({"action": offer.action, "idempotencyKey": offer.idempotency_key}),
    )
    .await;
    let options = client_api(
        stack,
        &offer.client_api_url,
        "/user-authenticators/passkey/authentication-options",
        &auth,
        json!({"challengeId": challenge["challengeId"]}),
    )
    .await;
    let assertion = authenticator
        .authenticate(&options["options"], &Ceremony::new(&stack.idp))
        .expect("the authenticator holds a passkey for this RP");
    let verified = client_api(
        stack,
        &offer.client_api_url,
        "/verify/passkey",
        &auth,
        json!({"authenticationCredential": assertion, "challengeId": challenge["challengeId"]}),
    )
    .await;
    assert_eq!(verified["isVerified"], true, "{verified}");
    verified["accessToken"].as_str().unwrap().to_owned()
}

/// POSTs a token to the passkey callback as the page's hidden form does.
async fn post_passkey(stack: &Stack, browser: &Browser, offer: &Offer, token: &str) -> Page {
    browser
        .post(
            &stack.url("/Account/Login/Passkey"),
            &[
                ("csrf_token", offer.csrf.as_str()),
                ("ar", offer.ar.as_str()),
                ("token", token),
                ("remember", ""),
            ],
        )
        .await
}

/// Opens the login page of a new sign-in at the client.
async fn login_offer(stack: &Stack, browser: &Browser) -> Offer {
    let ar = stack.authorize(browser).await;
    offer_of(&stack.login_page(browser, &ar).await)
}

/// The refusal of the passkey callback: back to the login page with a notice, no session.
#[track_caller]
fn assert_refused(stack: &Stack, page: &Page, ar: &str) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location(),
        stack.url(&format!("/Account/Login?ar={ar}&notice=passkey_failed"))
    );
    assert!(page.set_cookie(SESSION_COOKIE).is_none(), "no session");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
}

/// The add page of a signed-in browser (its session's second factor is fresh).
async fn add_page(stack: &Stack, browser: &Browser) -> Page {
    let list = browser.get(&stack.url("/Account/Passkeys")).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let csrf = input_value(&list.body, "csrf_token").unwrap();
    browser
        .post(
            &stack.url("/Account/Passkeys/Add"),
            &[("csrf_token", &csrf)],
        )
        .await
}

/// The add page's script: registration options and the new authenticator with the track token.
/// Returns the access token of the registration.
async fn register(stack: &Stack, page: &Page, authenticator: &mut SoftAuthenticator) -> String {
    assert_eq!(page.status, 200, "{}", page.body);
    let base = data_attribute(&page.body, "client-api-url").unwrap();
    let bearer = format!("Bearer {}", data_attribute(&page.body, "token").unwrap());
    let options = client_api(
        stack,
        &base,
        "/user-authenticators/passkey/registration-options",
        &bearer,
        json!({"username": data_attribute(&page.body, "username"), "displayName": data_attribute(&page.body, "display-name")}),
    )
    .await;
    let credential = authenticator
        .register(&options["options"], &Ceremony::new(&stack.idp))
        .expect("the authenticator registers");
    let added = client_api(
        stack,
        &base,
        "/user-authenticators/passkey",
        &bearer,
        json!({"registrationCredential": credential, "challengeId": options["challengeId"]}),
    )
    .await;
    assert_eq!(added["isVerified"], true, "{added}");
    added["accessToken"].as_str().unwrap().to_owned()
}

/// alice signs in with password + TOTP and adds a passkey; returns the authenticator holding it.
async fn alice_with_a_passkey(stack: &Stack) -> (Browser, SoftAuthenticator) {
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    let mut authenticator = SoftAuthenticator::new();
    let page = add_page(stack, &browser).await;
    let token = register(stack, &page, &mut authenticator).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let done = browser
        .post(
            &stack.url("/Account/Passkeys/Added"),
            &[("csrf_token", csrf.as_str()), ("token", token.as_str())],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), stack.url("/Account/Passkeys?notice=added"));
    (browser, authenticator)
}

#[tokio::test]
async fn a_passkey_added_on_the_passkeys_page_signs_alice_in_from_the_login_page() {
    let stack = spawn().await;
    let (_, mut authenticator) = alice_with_a_passkey(&stack).await;

    let browser = Browser::new();
    let offer = login_offer(&stack, &browser).await;
    assert_eq!(offer.action, LOGIN_ACTION);
    assert_eq!(offer.client_api_url, stack.emulator_api);
    let token = passkey_token(&stack, &offer, &mut authenticator).await;
    let page = post_passkey(&stack, &browser, &offer, &token).await;

    assert!(page.set_cookie(SESSION_COOKIE).is_some(), "a new session");
    let removal = page.set_cookie(PASSKEY_COOKIE).unwrap();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    let claims = stack.id_token_claims(&code_of(&page)).await;
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["amr"], json!(["pop", "swk", "mfa"]));
    assert!(!stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn the_passkeys_page_lists_the_new_passkey_by_its_provider_name() {
    let stack = spawn().await;
    let (browser, _) = alice_with_a_passkey(&stack).await;

    let page = browser
        .get(&stack.url("/Account/Passkeys?notice=added"))
        .await;

    assert_eq!(page.status, 200);
    assert!(page.shows("Your passkey was added."));
    assert_eq!(page.body.matches("class=\"passkey-row\"").count(), 1);
    assert!(page.shows("Google Password Manager"), "{}", page.body);
    assert!(page.shows("never"), "not used yet");
    assert!(!page.body.contains("<script"), "the list runs no script");
}

#[tokio::test]
async fn the_passkeys_page_needs_a_signed_in_session() {
    let stack = spawn().await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/Account/Passkeys")).await;
    assert_eq!(page.status, 401);
    assert!(page.shows("Sign in first"));
    let create = browser.get(&stack.url("/Account/Create")).await;
    let csrf = input_value(&create.body, "csrf_token").unwrap();
    for path in [
        "/Account/Passkeys/Add",
        "/Account/Passkeys/Remove",
        "/Account/Passkeys/Added",
    ] {
        let page = browser
            .post(&stack.url(path), &[("csrf_token", &csrf), ("id", "x")])
            .await;
        assert_eq!(page.status, 401, "{path}");
    }
}

#[tokio::test]
async fn the_passkey_forms_refuse_a_missing_csrf_token() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    for path in [
        "/Account/Passkeys/Add",
        "/Account/Passkeys/Remove",
        "/Account/Passkeys/Added",
        "/Account/Login/Passkey",
    ] {
        let page = browser.post(&stack.url(path), &[("token", "t")]).await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
    }
}

#[tokio::test]
async fn the_passkey_callback_replayed_in_a_fresh_browser_signs_nobody_in() {
    let stack = spawn().await;
    let (_, mut authenticator) = alice_with_a_passkey(&stack).await;
    let victim = Browser::new();
    let offer = login_offer(&stack, &victim).await;
    let token = passkey_token(&stack, &offer, &mut authenticator).await;
    code_of(&post_passkey(&stack, &victim, &offer, &token).await);

    // The attacker has the whole POST (token, CSRF token, ar) but not the victim's cookies.
    let attacker = Browser::new();
    let bare = post_passkey(&stack, &attacker, &offer, &token).await;
    assert_eq!(
        bare.status, 403,
        "the victim's CSRF token is not the attacker's"
    );
    // With a login page of their own (their own CSRF token and passkey transaction).
    let own = login_offer(&stack, &attacker).await;
    let replay = post_passkey(&stack, &attacker, &own, &token).await;
    assert_refused(&stack, &replay, &own.ar);
    assert!(stack.is_signed_out(&attacker).await);
}

/// A new browser holding copies of `browser`'s cookies for the identity server, or only those
/// whose name `keep` accepts.
fn copy_of(stack: &Stack, browser: &Browser, keep: impl Fn(&str) -> bool) -> Browser {
    use reqwest::cookie::CookieStore as _;
    let url = url::Url::parse(&stack.idp).unwrap();
    let copy = Browser::new();
    if let Some(header) = browser.jar.cookies(&url) {
        for cookie in header.to_str().unwrap().split("; ") {
            let name = cookie.split('=').next().unwrap_or_default();
            if keep(name) {
                copy.jar
                    .add_cookie_str(&format!("{cookie}; Path=/; Secure"), &url);
            }
        }
    }
    copy
}

#[tokio::test]
async fn the_passkey_callback_replayed_with_the_same_cookies_signs_nobody_in() {
    let stack = spawn().await;
    let (_, mut authenticator) = alice_with_a_passkey(&stack).await;
    let browser = Browser::new();
    let offer = login_offer(&stack, &browser).await;
    let token = passkey_token(&stack, &offer, &mut authenticator).await;
    // The same cookies, kept from before the first POST (a second tab, a copied jar).
    let replayer = copy_of(&stack, &browser, |_| true);
    code_of(&post_passkey(&stack, &browser, &offer, &token).await);

    let replay = post_passkey(&stack, &replayer, &offer, &token).await;
    assert_refused(&stack, &replay, &offer.ar);
    assert!(stack.is_signed_out(&replayer).await);
}

#[tokio::test]
async fn an_add_passkey_token_posted_to_the_sign_in_callback_signs_nobody_in() {
    let stack = spawn().await;
    let alice = Browser::new();
    stack.sign_in(&alice, "alice", "alice").await;
    let page = add_page(&stack, &alice).await;
    let add_token = register(&stack, &page, &mut SoftAuthenticator::new()).await;

    let browser = Browser::new();
    let offer = login_offer(&stack, &browser).await;
    let answer = post_passkey(&stack, &browser, &offer, &add_token).await;

    assert_refused(&stack, &answer, &offer.ar);
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn a_passkey_token_of_another_transaction_signs_nobody_in_and_spoils_nothing() {
    let stack = spawn().await;
    let (_, mut authenticator) = alice_with_a_passkey(&stack).await;
    let first = Browser::new();
    let first_offer = login_offer(&stack, &first).await;
    let second = Browser::new();
    let second_offer = login_offer(&stack, &second).await;
    assert_ne!(first_offer.idempotency_key, second_offer.idempotency_key);
    let token = passkey_token(&stack, &first_offer, &mut authenticator).await;

    let wrong = post_passkey(&stack, &second, &second_offer, &token).await;
    assert_refused(&stack, &wrong, &second_offer.ar);

    // The token was good: in its own browser it signs in.
    let right = post_passkey(&stack, &first, &first_offer, &token).await;
    code_of(&right);
}

#[tokio::test]
async fn a_token_of_the_passkey_action_passed_with_another_method_signs_nobody_in() {
    let stack = spawn().await;
    let alice = Browser::new();
    stack.sign_in(&alice, "alice", "alice").await;
    let browser = Browser::new();
    let offer = login_offer(&stack, &browser).await;
    // Someone with the tenant's secret tracks the passkey action under this page's key and
    // passes its challenge with the authenticator app.
    let callback = stack.url("/elsewhere");
    let tracked = stack
        .state
        .account
        .authsignal
        .track(
            ALICE,
            LOGIN_ACTION,
            &TrackAttributes {
                idempotency_key: Some(offer.idempotency_key.clone()),
                redirect_url: Some(callback.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let back = stack
        .pass_second_factor_to(&Browser::new(), &tracked.url, "alice", &callback)
        .await;
    let token = query_param(&back, "token").unwrap();
    let validated = stack
        .state
        .account
        .authsignal
        .validate_challenge(&ValidateChallengeRequest {
            token: token.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(validated.state, Some(UserActionState::ChallengeSucceeded));
    assert_eq!(validated.action.as_deref(), Some(LOGIN_ACTION));
    assert_eq!(
        validated.idempotency_key.as_deref(),
        Some(offer.idempotency_key.as_str())
    );
    assert_eq!(
        validated.verification_method,
        Some(VerificationMethod::AuthenticatorApp)
    );

    let answer = post_passkey(&stack, &browser, &offer, &token).await;
    assert_refused(&stack, &answer, &offer.ar);
}

#[tokio::test]
async fn failed_passkey_sign_ins_count_against_the_address_and_never_a_username() {
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_ip = 2;
        s.account.lockout.max_failures_per_user = 1;
    })
    .await;
    let browser = Browser::new();
    for _ in 0..2 {
        let offer = login_offer(&stack, &browser).await;
        let answer = post_passkey(&stack, &browser, &offer, "not-a-token").await;
        assert_refused(&stack, &answer, &offer.ar);
    }
    let failed = &stack.state.account.failed_logins;
    assert!(
        failed
            .is_locked(&LockoutKey::ip("127.0.0.1".parse().unwrap()))
            .await
            .unwrap()
    );
    assert!(!failed.is_locked(&LockoutKey::user("alice")).await.unwrap());

    let offer = login_offer(&stack, &browser).await;
    let locked = post_passkey(&stack, &browser, &offer, "not-a-token").await;
    assert_eq!(locked.status, 303);
    assert_eq!(
        locked.location(),
        stack.url(&format!("/Account/Login?ar={}&notice=locked_out", offer.ar))
    );
    let page = browser.follow(&locked).await;
    assert!(page.shows("Too many failed sign-in attempts"));
}

#[tokio::test]
async fn a_passkey_post_without_a_transaction_goes_back_to_the_login_page() {
    let stack = spawn().await;
    let browser = Browser::new();
    let offer = login_offer(&stack, &browser).await;
    // The transaction cookie is lost (expired, or cleared): only the CSRF cookie is left.
    let stripped = copy_of(&stack, &browser, |name| name == "__Host-idsrv.csrf");
    let answer = post_passkey(&stack, &stripped, &offer, "t").await;
    assert_refused(&stack, &answer, &offer.ar);
    let again = stripped.follow(&answer).await;
    assert!(again.shows("The passkey sign-in did not complete"));

    // A newer login page of the same browser replaced the first one's transaction.
    let newer = offer_of(&stack.login_page(&browser, &offer.ar).await);
    assert_ne!(newer.idempotency_key, offer.idempotency_key);
}

#[tokio::test]
async fn the_login_page_runs_only_its_own_script_and_talks_only_to_the_client_api() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack.login_page(&browser, &ar).await;

    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(
        csp.contains(&format!("connect-src {};", stack.emulator_url)),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(page.body.contains("autocomplete=\"username webauthn\""));
    assert_eq!(page.body.matches("<script").count(), 1);
    assert!(
        page.body
            .contains("<script src=\"/static/passkey.js\" defer></script>")
    );
    let cookie = page.set_cookie(PASSKEY_COOKIE).unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");

    let script = browser.get(&stack.url("/static/passkey.js")).await;
    assert_eq!(script.status, 200);
    assert!(
        script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(script.headers["x-content-type-options"], "nosniff");
    assert!(script.body.contains("/client"));

    // Every other page keeps the policy without scripts.
    let home = browser.get(&stack.url("/")).await;
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("script-src"), "{csp}");
}

#[tokio::test]
async fn login_page_views_are_bounded_per_network_and_the_password_still_works_past_the_bound() {
    let stack = spawn_with(|s| s.account.passkeys.max_transactions_per_network = 2).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for _ in 0..2 {
        let page = stack.login_page(&browser, &ar).await;
        assert!(data_attribute(&page.body, "idempotency-key").is_some());
    }
    let page = stack.login_page(&browser, &ar).await;
    assert_eq!(page.status, 200);
    assert!(data_attribute(&page.body, "idempotency-key").is_none());
    assert!(!page.body.contains("<script"));
    assert!(page.set_cookie(PASSKEY_COOKIE).is_none());
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("script-src"), "{csp}");

    let challenge = stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    assert!(challenge.starts_with(&stack.emulator_url));
}

#[tokio::test]
async fn login_page_views_also_count_against_the_bound_of_all_networks() {
    let stack = spawn_with(|s| {
        s.account.passkeys.max_transactions_per_network = 5;
        s.account.passkeys.max_transactions_global = 5;
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for _ in 0..5 {
        let page = stack.login_page(&browser, &ar).await;
        assert!(data_attribute(&page.body, "idempotency-key").is_some());
    }
    let page = stack.login_page(&browser, &ar).await;
    assert!(data_attribute(&page.body, "idempotency-key").is_none());
    let quotas = &stack.state.stores.quotas;
    let global = identity_server::store::QuotaKey {
        key: "pk:all".into(),
        max: 5,
        window_secs: 600,
    };
    assert!(
        quotas
            .reserve(std::slice::from_ref(&global))
            .await
            .unwrap()
            .is_err(),
        "the global counter is full"
    );
}

#[tokio::test]
async fn with_passkeys_disabled_the_login_page_offers_none_and_the_passkeys_page_is_gone() {
    let stack = spawn_with(|s| s.account.passkeys.enabled = false).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack.login_page(&browser, &ar).await;
    assert!(!page.body.contains("<script"));
    assert!(page.set_cookie(PASSKEY_COOKIE).is_none());
    stack.sign_in(&browser, "alice", "alice").await;
    assert_eq!(
        browser.get(&stack.url("/Account/Passkeys")).await.status,
        404
    );
}

#[tokio::test]
async fn a_removed_passkey_no_longer_verifies_and_the_last_authenticator_stays() {
    let stack = spawn().await;
    let (browser, mut authenticator) = alice_with_a_passkey(&stack).await;
    let list = browser.get(&stack.url("/Account/Passkeys")).await;
    let id = input_value(&list.body, "id").expect("a remove form");
    let csrf = input_value(&list.body, "csrf_token").unwrap();

    // Another user's authenticator id, or nonsense, is not found.
    let nonsense = browser
        .post(
            &stack.url("/Account/Passkeys/Remove"),
            &[("csrf_token", csrf.as_str()), ("id", "not-hers")],
        )
        .await;
    assert_eq!(
        nonsense.location(),
        stack.url("/Account/Passkeys?notice=not_found")
    );

    let removed = browser
        .post(
            &stack.url("/Account/Passkeys/Remove"),
            &[("csrf_token", csrf.as_str()), ("id", id.as_str())],
        )
        .await;
    assert_eq!(
        removed.location(),
        stack.url("/Account/Passkeys?notice=removed")
    );
    let list = browser.follow(&removed).await;
    assert!(list.shows("You have no passkeys yet."));

    // The authenticator still holds the credential; Authsignal no longer knows it.
    let other = Browser::new();
    let offer = login_offer(&stack, &other).await;
    let auth = basic(&offer.tenant_id);
    let challenge = client_api(
        &stack,
        &offer.client_api_url,
        "/challenge",
        &auth,
        json!({"action": offer.action, "idempotencyKey": offer.idempotency_key}),
    )
    .await;
    let options = client_api(
        &stack,
        &offer.client_api_url,
        "/user-authenticators/passkey/authentication-options",
        &auth,
        json!({"challengeId": challenge["challengeId"]}),
    )
    .await;
    let assertion = authenticator
        .authenticate(&options["options"], &Ceremony::new(&stack.idp))
        .unwrap();
    let response = Browser::new()
        .client
        .post(format!("{}/client/verify/passkey", offer.client_api_url))
        .header("authorization", &auth)
        .json(&json!({"authenticationCredential": assertion, "challengeId": challenge["challengeId"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errorCode"], "unknown_credential");
}

#[tokio::test]
async fn the_last_authenticator_cannot_be_removed() {
    let stack = spawn().await;
    let (browser, _) = alice_with_a_passkey(&stack).await;
    // alice drops her authenticator app elsewhere: the passkey is all she has left.
    let sdk = &stack.state.account.authsignal;
    for a in sdk.get_authenticators(ALICE).await.unwrap() {
        if a.verification_method != VerificationMethod::Passkey {
            sdk.delete_authenticator(ALICE, &a.user_authenticator_id)
                .await
                .unwrap();
        }
    }
    let list = browser.get(&stack.url("/Account/Passkeys")).await;
    assert!(input_value(&list.body, "id").is_none(), "no remove button");
    assert!(list.body.contains("id=\"last-authenticator\""));
    let id = sdk
        .get_authenticators(ALICE)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.verification_method == VerificationMethod::Passkey)
        .unwrap()
        .user_authenticator_id;
    let csrf = input_value(&list.body, "csrf_token").unwrap();
    let refused = browser
        .post(
            &stack.url("/Account/Passkeys/Remove"),
            &[("csrf_token", csrf.as_str()), ("id", id.as_str())],
        )
        .await;
    assert_eq!(
        refused.location(),
        stack.url("/Account/Passkeys?notice=last")
    );
    assert_eq!(sdk.get_authenticators(ALICE).await.unwrap().len(), 1);
}

#[tokio::test]
async fn adding_a_passkey_without_a_recent_second_factor_asks_for_a_step_up_first() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    // The rules now let alice in with her password alone: no second factor in this session.
    stack
        .emulator
        .set_action_outcome(super::ACTION, Outcome::Allow);
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let signed_in = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    code_of(&signed_in);

    let list = browser.get(&stack.url("/Account/Passkeys")).await;
    assert!(list.body.contains("id=\"step-up-note\""));
    let csrf = input_value(&list.body, "csrf_token").unwrap();
    let step_up = browser
        .post(
            &stack.url("/Account/Passkeys/Add"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(step_up.status, 303, "{}", step_up.body);
    assert!(step_up.location().starts_with(&stack.emulator_url));
    assert!(step_up.set_cookie("__Host-idsrv.mfa").is_some());

    let back = stack
        .pass_second_factor_to(
            &browser,
            step_up.location(),
            "alice",
            &stack.url("/Account/Mfa/Callback"),
        )
        .await;
    let verified = browser.get(&back).await;
    assert_eq!(verified.status, 303);
    assert_eq!(
        verified.location(),
        stack.url("/Account/Passkeys?notice=verified")
    );
    let list = browser.follow(&verified).await;
    assert!(list.shows("You can add a passkey now."));
    assert!(!list.body.contains("id=\"step-up-note\""));

    let page = add_page(&stack, &browser).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(data_attribute(&page.body, "token").is_some());
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

#[tokio::test]
async fn a_registration_token_of_another_add_transaction_is_not_confirmed() {
    let stack = spawn().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "alice", "alice").await;
    let first = add_page(&stack, &browser).await;
    let first_token = register(&stack, &first, &mut SoftAuthenticator::new()).await;
    // A second add page replaces the first's transaction cookie.
    let second = add_page(&stack, &browser).await;
    let csrf = input_value(&second.body, "csrf_token").unwrap();
    let answer = browser
        .post(
            &stack.url("/Account/Passkeys/Added"),
            &[
                ("csrf_token", csrf.as_str()),
                ("token", first_token.as_str()),
            ],
        )
        .await;
    assert_eq!(
        answer.location(),
        stack.url("/Account/Passkeys?notice=add_failed")
    );
}
