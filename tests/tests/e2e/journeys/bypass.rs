//! The ways around the second factor that issue "identity-server, part 2" closes, tried once
//! more end to end: the only way to a session is password AND a second factor, in one browser,
//! for one login.

use reqwest::StatusCode;
use url::Url;

use crate::helpers::flows::{
    ALICE, BOB, CALLBACK_PATH, ClaimsPage, EMAIL_PROOF_PATH, assert_login_page,
    assert_not_signed_in, assert_on_emulator, enroll_totp, first_visit_with_totp, idp_message,
    prove_email, submit_password, visit_client_expecting_login,
};
use crate::helpers::system::{LOGIN_ACTION, TestSystem};
use crate::helpers::web::{Page, WebBrowser};

fn is_callback(url: &Url) -> bool {
    url.path() == CALLBACK_PATH
}

/// Asserts that `page` is the identity server's "this step is no longer valid" answer.
#[track_caller]
fn assert_refused_callback(sys: &TestSystem, page: &Page) {
    assert!(
        !page.went_through("/signin-oidc"),
        "no code for the client: {}",
        page.trail()
    );
    assert!(
        page.url.as_str().starts_with(&sys.idp_url),
        "{}",
        page.excerpt()
    );
    let callback = page.hop_to(CALLBACK_PATH).expect("the callback was called");
    assert!(
        !callback
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("__Host-idsrv.session=") && !c.contains("Max-Age=0")),
        "no session cookie: {:?}",
        callback.set_cookies()
    );
    assert!(
        page.status.is_client_error() || page.url.path() == "/Account/Login",
        "{}",
        page.excerpt()
    );
    assert!(
        page.shows("not signed in") || page.shows("no longer valid"),
        "{}",
        page.excerpt()
    );
}

/// alice signs in completely in `browser`; returns the callback URL her browser went through.
async fn alice_signs_in_and_keeps_the_callback_url(sys: &TestSystem, browser: &WebBrowser) -> Url {
    let enrolled = first_visit_with_totp(sys, browser, &ALICE).await;
    enrolled
        .page
        .hop_to(CALLBACK_PATH)
        .expect("callback hop")
        .url
        .clone()
}

/// `user` (enrolled with the app in a first visit) gets through password and second factor in a
/// new browser, which stops before the callback; returns that browser and the callback URL.
async fn second_factor_done_stopping_before_callback(
    sys: &TestSystem,
    user: &crate::helpers::flows::User,
) -> (WebBrowser, Url) {
    let first = sys.browser();
    let login = visit_client_expecting_login(sys, &first).await;
    let choose = submit_password(&first, &login, user.username, user.password).await;
    let enrolled = enroll_totp(sys, &first, &choose).await;
    ClaimsPage::read(sys, &enrolled.page).assert_signed_in_with_mfa(user);

    let browser = sys.browser();
    let login = visit_client_expecting_login(sys, &browser).await;
    let challenge = submit_password(&browser, &login, user.username, user.password).await;
    assert_on_emulator(sys, &challenge);
    let mut form = challenge.form("verify-code");
    form.set("code", enrolled.app.fresh_code().await);
    let stopped = browser
        .submit_until(&challenge, &form, None, is_callback)
        .await;
    let callback = stopped
        .location()
        .filter(|u| is_callback(u))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the emulator sends the browser to the callback: {}",
                stopped.excerpt()
            )
        });
    (browser, callback)
}

#[tokio::test]
async fn a_callback_url_replayed_in_the_same_or_another_browser_signs_nobody_in() {
    let sys = TestSystem::start().await;
    let victim = sys.browser();
    let callback = alice_signs_in_and_keeps_the_callback_url(&sys, &victim).await;

    // In the browser that signed in, Back or the link again goes on to the home page, signed
    // in as before: no code for the client and no new session.
    let replay = victim.open(callback.as_str()).await;
    assert!(!replay.went_through("/signin-oidc"), "{}", replay.trail());
    let hop = replay
        .hop_to(CALLBACK_PATH)
        .expect("the callback was called");
    assert!(
        !hop.set_cookies()
            .iter()
            .any(|c| c.starts_with("__Host-idsrv.session=") && !c.contains("Max-Age=0")),
        "no new session cookie: {:?}",
        hop.set_cookies()
    );
    assert!(
        replay.url.as_str().starts_with(&sys.idp_url) && replay.url.path() == "/",
        "{}",
        replay.excerpt()
    );
    assert!(replay.shows("You are signed in"), "{}", replay.excerpt());

    let attacker = sys.browser();
    let stolen = attacker.open(callback.as_str()).await;
    assert_refused_callback(&sys, &stolen);
    assert_not_signed_in(&sys, &attacker).await;
}

#[tokio::test]
async fn a_callback_without_the_password_step_signs_nobody_in_even_with_a_fresh_valid_token() {
    let sys = TestSystem::start().await;
    // A token that was never used: alice's own browser stopped before the callback.
    let (_alice, callback) = second_factor_done_stopping_before_callback(&sys, &ALICE).await;
    let attacker = sys.browser();
    let page = attacker.open(callback.as_str()).await;
    assert_refused_callback(&sys, &page);
    assert_not_signed_in(&sys, &attacker).await;
}

#[tokio::test]
async fn bobs_token_does_not_finish_a_login_where_only_alices_password_was_given() {
    let sys = TestSystem::start().await;
    // alice is enrolled; the attacker knows her password but not her second factor.
    first_visit_with_totp(&sys, &sys.browser(), &ALICE).await;
    let attacker = sys.browser();
    let login = visit_client_expecting_login(&sys, &attacker).await;
    let challenge = submit_password(&attacker, &login, ALICE.username, ALICE.password).await;
    assert_on_emulator(&sys, &challenge);

    // The attacker completes the second factor of their own account (bob) and keeps the token.
    let (_bob_browser, bob_callback) =
        second_factor_done_stopping_before_callback(&sys, &BOB).await;
    let token = bob_callback
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned();

    // ... and hands it to alice's pending login.
    let mut forged = Url::parse(&format!("{}{CALLBACK_PATH}", sys.idp_url)).unwrap();
    forged.query_pairs_mut().append_pair("token", &token);
    let page = attacker.open(forged.as_str()).await;
    assert_refused_callback(&sys, &page);
    assert_login_page(&sys, &page);
    assert!(
        idp_message(&page).contains("not signed in"),
        "{}",
        page.excerpt()
    );
    assert_not_signed_in(&sys, &attacker).await;
}

#[tokio::test]
async fn a_token_for_another_action_does_not_finish_the_login() {
    let sys = TestSystem::start().await;
    let enrolled = first_visit_with_totp(&sys, &sys.browser(), &ALICE).await;

    // Someone with alice's password starts a login ...
    let attacker = sys.browser();
    let login = visit_client_expecting_login(&sys, &attacker).await;
    let challenge = submit_password(&attacker, &login, ALICE.username, ALICE.password).await;
    assert_on_emulator(&sys, &challenge);

    // ... and brings a token that alice earned for a different action of the same tenant.
    let other = sys
        .authsignal()
        .track(
            ALICE.sub,
            "transfer-funds",
            &authsignal_sdk::TrackAttributes {
                redirect_url: Some(format!("{}{CALLBACK_PATH}", sys.idp_url)),
                ..Default::default()
            },
        )
        .await
        .expect("track another action");
    assert_ne!(other.url, "", "a challenge url");
    let alice = sys.browser();
    let other_challenge = alice.open(&other.url).await;
    assert_on_emulator(&sys, &other_challenge);
    let mut form = other_challenge.form("verify-code");
    form.set("code", enrolled.app.fresh_code().await);
    let stopped = alice
        .submit_until(&other_challenge, &form, None, is_callback)
        .await;
    let token_url = stopped
        .location()
        .filter(|u| is_callback(u))
        .cloned()
        .expect("token for the other action");
    let token = token_url
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned();
    // It is a real token of alice, for the other action (as the emulator's JWT says).
    let claims = crate::helpers::tokens::Jwt::decode(&token).claims;
    assert_eq!(claims["other"]["userId"], ALICE.sub);
    assert_eq!(claims["other"]["actionCode"], "transfer-funds");
    assert_ne!(claims["other"]["actionCode"], LOGIN_ACTION);

    let mut forged = Url::parse(&format!("{}{CALLBACK_PATH}", sys.idp_url)).unwrap();
    forged.query_pairs_mut().append_pair("token", &token);
    let page = attacker.open(forged.as_str()).await;
    assert_refused_callback(&sys, &page);
    assert_not_signed_in(&sys, &attacker).await;
}

#[tokio::test]
async fn a_forged_authorize_request_id_gets_an_error_and_never_reaches_the_password_check() {
    let sys = TestSystem::start().await;
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;

    // The login link itself with a made-up id.
    let forged = browser
        .open(&format!(
            "{}/Account/Login?ar=forged-request-id",
            sys.idp_url
        ))
        .await;
    assert_eq!(
        forged.status,
        StatusCode::BAD_REQUEST,
        "{}",
        forged.excerpt()
    );
    assert!(
        forged.doc().form("login-form").is_none(),
        "no form for a forged id"
    );

    // The real form, posted with a made-up id and the right password.
    let mut form = login.form("login-form");
    form.set("ar", "forged-request-id")
        .set("username", ALICE.username)
        .set("password", ALICE.password);
    let page = browser.submit(&login, &form, Some("login")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.excerpt());
    assert!(!page.went_through("/challenge"), "{}", page.trail());
    assert!(sys.emulator.outbox().is_empty());
    assert_not_signed_in(&sys, &browser).await;
}

#[tokio::test]
async fn an_authorize_request_of_one_browser_finished_in_another_does_not_sign_the_first_in() {
    let sys = TestSystem::start().await;
    // The victim's browser is sent to the login page (its request id is in the link) ...
    let victim = sys.browser();
    let victim_login = visit_client_expecting_login(&sys, &victim).await;
    let ar = victim_login
        .form("login-form")
        .get("ar")
        .unwrap()
        .to_owned();

    // ... and an attacker finishes that request with their own account (bob) elsewhere.
    let attacker = sys.browser();
    let attacker_login = visit_client_expecting_login(&sys, &attacker).await;
    let mut form = attacker_login.form("login-form");
    form.set("ar", ar.as_str())
        .set("username", BOB.username)
        .set("password", BOB.password);
    let page = attacker.submit(&attacker_login, &form, Some("login")).await;
    let page = if page.url.path() == EMAIL_PROOF_PATH {
        prove_email(&attacker, &page).await
    } else {
        page
    };
    let page = if page.url.as_str().starts_with(&sys.emulator_url) {
        enroll_totp(&sys, &attacker, &page).await.page
    } else {
        page
    };
    // Whatever the identity server did, the victim's client session is not bob's ...
    let victim_view = victim.open(&format!("{}/", sys.client_url)).await;
    assert!(
        !victim_view.shows(BOB.sub),
        "the victim was signed in as bob: {}",
        victim_view.excerpt()
    );
    assert_login_page(&sys, &victim_view);
    // ... and the foreign answer was refused: by the identity server, or (the request ids are
    // not bound to a browser) by the attacker's web client, whose state it does not carry.
    assert!(page.status.is_client_error(), "refused: {}", page.excerpt());
    assert!(
        page.doc().by_id("claims").is_none(),
        "no claims page: {}",
        page.excerpt()
    );
    if page.url.as_str().starts_with(&sys.client_url) {
        assert_eq!(page.url.path(), "/signin-oidc", "{}", page.trail());
        assert!(page.shows("state mismatch"), "{}", page.excerpt());
    }
}

#[tokio::test]
async fn a_login_post_without_a_valid_csrf_token_is_refused_before_the_password_check() {
    let sys = TestSystem::start().await;
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;

    let mut form = login.form("login-form");
    form.remove("csrf_token")
        .set("username", ALICE.username)
        .set("password", ALICE.password);
    let page = browser.submit(&login, &form, Some("login")).await;
    assert!(page.status.is_client_error(), "{}", page.excerpt());
    assert!(!page.went_through("/challenge"), "{}", page.trail());

    // A token from another browser does not do either.
    let other = sys.browser();
    let other_login = visit_client_expecting_login(&sys, &other).await;
    let mut form = login.form("login-form");
    form.set(
        "csrf_token",
        other_login.form("login-form").get("csrf_token").unwrap(),
    )
    .set("username", ALICE.username)
    .set("password", ALICE.password);
    let page = browser.submit(&login, &form, Some("login")).await;
    assert!(page.status.is_client_error(), "{}", page.excerpt());
    assert!(!page.went_through("/challenge"), "{}", page.trail());
    assert!(sys.emulator.outbox().is_empty());
    assert_not_signed_in(&sys, &browser).await;
}

#[tokio::test]
async fn a_callback_after_the_login_transaction_expired_signs_nobody_in_even_with_the_cookie_kept()
{
    const LIFETIME: u64 = 1;
    let sys = TestSystem::start_with(crate::helpers::system::Options {
        transaction_lifetime_secs: Some(LIFETIME),
        ..Default::default()
    })
    .await;
    // Enrolled beforehand: a hosted enrollment would have to beat the short lifetime.
    let app = crate::helpers::flows::enroll_app_via_api(&sys, &ALICE).await;

    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let challenge = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    let password_done = tokio::time::Instant::now();
    assert_on_emulator(&sys, &challenge);
    let transaction_cookie = challenge.hops[0]
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-idsrv.mfa="))
        .expect("the login transaction cookie");
    let value = transaction_cookie.split(';').next().unwrap().to_owned();

    let mut form = challenge.form("verify-code");
    form.set("code", app.fresh_code().await);
    let stopped = browser
        .submit_until(&challenge, &form, None, is_callback)
        .await;
    let callback = stopped.location().cloned().expect("sent to the callback");

    // The person comes back only after the transaction's lifetime; the browser (tampered
    // with) still sends the cookie.
    tokio::time::sleep_until(password_done + std::time::Duration::from_secs(LIFETIME + 1)).await;
    browser.set_cookie(
        &format!("{}/", sys.idp_url),
        &format!("{value}; Path=/; Secure; HttpOnly"),
    );
    assert!(
        browser
            .cookies_for(&format!("{}/", sys.idp_url))
            .contains(&value)
    );
    let page = browser.open(callback.as_str()).await;
    assert_refused_callback(&sys, &page);
    assert_not_signed_in(&sys, &browser).await;
}
