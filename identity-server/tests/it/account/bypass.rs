//! Attempts to skip or reuse the second factor: each one ends without a session.

use authsignal_sdk::TrackAttributes;
use identity_server::signin::SESSION_COOKIE;

use super::{Browser, Page, code_of, input_value, spawn, spawn_with};
use crate::helpers::query_param;

/// The callback refused the transaction: "start again" page, no session.
fn assert_refused_as_expired(stack: &super::Stack, page: &Page) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), stack.url("/Account/Notice?reason=expired"));
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
}

/// The callback voided a challenge passed without this login's password step: "sign-in
/// stopped" page, no session.
fn assert_voided(stack: &super::Stack, page: &Page) {
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location(),
        stack.url("/Account/Notice?reason=started_elsewhere")
    );
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn replaying_a_callback_url_in_the_same_browser_signs_in_nothing_new_and_goes_home() {
    let stack = spawn().await;
    let browser = Browser::new();
    let (ar, callback) = stack.until_callback(&browser, "alice", "alice").await;
    let first = browser.get(&callback).await;
    code_of(&first);

    // Back after signing in: the signed-in person is sent on, nothing is issued.
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, 303, "{}", replay.body);
    assert_eq!(replay.location(), stack.url("/"));
    assert!(
        replay.set_cookie(SESSION_COOKIE).is_none(),
        "no new session"
    );
    assert!(query_param(replay.location(), "code").is_none());
    let home = browser.follow(&replay).await;
    assert!(home.shows("You are signed in"), "{}", home.body);
    // So is the used sign-in link.
    let login = stack.login_page(&browser, &ar).await;
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.location(), stack.url("/"));

    // Without the session, the same link explains and offers a way to start again.
    let stranger = Browser::new();
    let replay = stranger.get(&callback).await;
    assert_refused_as_expired(&stack, &replay);
    let notice = stranger.follow(&replay).await;
    assert_eq!(notice.status, 400);
    assert!(
        notice.shows("This sign-in took too long, was already finished"),
        "{}",
        notice.body
    );
    assert!(
        notice.body.contains("id=\"continue\">Start again"),
        "{}",
        notice.body
    );
}

#[tokio::test]
async fn a_callback_url_opened_in_another_browser_signs_in_neither_browser() {
    // A challenge passed in a browser without the login's transaction is voided (the attack of
    // a password holder who has the owner pass the challenge looks the same from here): whoever
    // opens a callback URL elsewhere stops that sign-in, and gets nothing from it.
    let stack = spawn().await;
    let victim = Browser::new();
    let (_, callback) = stack.until_callback(&victim, "alice", "alice").await;

    let attacker = Browser::new();
    let stolen = attacker.get(&callback).await;
    assert_voided(&stack, &stolen);
    assert!(stack.is_signed_out(&attacker).await);

    let real = victim.get(&callback).await;
    assert_eq!(real.status, 303, "{}", real.body);
    assert!(real.set_cookie(SESSION_COOKIE).is_none());
    assert!(
        query_param(real.location(), "code").is_none(),
        "{}",
        real.location()
    );
    assert!(stack.is_signed_out(&victim).await);
    let replay_elsewhere = attacker.get(&callback).await;
    assert_refused_as_expired(&stack, &replay_elsewhere);
}

#[tokio::test]
async fn a_callback_url_opened_elsewhere_after_the_login_finished_changes_nothing() {
    let stack = spawn().await;
    let victim = Browser::new();
    let (_, callback) = stack.until_callback(&victim, "alice", "alice").await;
    code_of(&victim.get(&callback).await);
    // The token already signed alice in: it is not voided, the stranger learns nothing.
    let stranger = Browser::new();
    assert_refused_as_expired(&stack, &stranger.get(&callback).await);
    assert!(stack.is_signed_out(&stranger).await);
    assert!(!stack.is_signed_out(&victim).await);
}

#[tokio::test]
async fn a_callback_without_the_password_step_fails() {
    let stack = spawn().await;
    // A real, successful token exists (alice completed her challenge in her browser)...
    let (_, callback) = stack
        .until_callback(&Browser::new(), "alice", "alice")
        .await;
    // ...but this browser never posted a password: the challenge is voided.
    let browser = Browser::new();
    let page = browser.get(&callback).await;
    assert_voided(&stack, &page);
    let bare = browser.get(&stack.url("/Account/Login/Callback")).await;
    assert_refused_as_expired(&stack, &bare);
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn a_token_of_another_user_is_refused() {
    let stack = spawn().await;
    // The attacker knows bob's password but not his second factor. Bob has one.
    stack.sign_in(&Browser::new(), "bob", "bob").await;
    // The attacker completes a challenge for their own account (alice)...
    let (_, alice_callback) = stack
        .until_callback(&Browser::new(), "alice", "alice")
        .await;
    let alice_token = query_param(&alice_callback, "token").unwrap();
    // ...and presents that token in bob's login.
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    stack
        .password_to_challenge(&browser, &ar, "bob", "bob")
        .await;
    let page = browser
        .get(&format!(
            "{}?token={alice_token}",
            stack.url("/Account/Login/Callback")
        ))
        .await;
    assert_eq!(page.status, 303);
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert_eq!(
        query_param(page.location(), "notice").as_deref(),
        Some("mfa_failed")
    );
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn a_token_of_another_action_is_refused() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    // A successful challenge of another action of the same user (e.g. a payment).
    let sdk = authsignal_sdk::Client::builder("dev-emulator-secret-key")
        .base_url(&stack.emulator_api)
        .add_root_certificate_pem(crate::helpers::test_tls().ca_pem())
        .build()
        .unwrap();
    let other = sdk
        .track(
            crate::helpers::ALICE,
            "transfer-money",
            &TrackAttributes {
                redirect_url: Some("https://localhost:5009/payment-done".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let helper = Browser::new();
    let done = stack
        .pass_second_factor_to(&helper, &other.url, "alice", "https://localhost:5009/")
        .await;
    let foreign_token = query_param(&done, "token").unwrap();

    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let page = browser
        .get(&format!(
            "{}?token={foreign_token}",
            stack.url("/Account/Login/Callback")
        ))
        .await;
    assert_eq!(page.status, 303);
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert_eq!(
        query_param(page.location(), "notice").as_deref(),
        Some("mfa_failed")
    );
    assert!(stack.is_signed_out(&browser).await);
}

#[tokio::test]
async fn a_token_of_an_earlier_login_of_the_same_user_is_refused() {
    let stack = spawn().await;
    let (_, old_callback) = stack
        .until_callback(&Browser::new(), "alice", "alice")
        .await;
    let old_token = query_param(&old_callback, "token").unwrap();

    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let page = browser
        .get(&format!(
            "{}?token={old_token}",
            stack.url("/Account/Login/Callback")
        ))
        .await;
    assert_eq!(page.status, 303);
    assert!(page.set_cookie(SESSION_COOKIE).is_none());
    assert_eq!(
        query_param(page.location(), "notice").as_deref(),
        Some("mfa_failed")
    );
}

#[tokio::test]
async fn a_callback_after_the_transaction_expired_fails() {
    let stack = spawn_with(|s| {
        s.account.transaction.lifetime_secs = 1;
        // Straight to the hosted step: a one-second email proof could not be typed in time.
        s.account.first_enrollment = identity_server::account::FirstEnrollment::Password;
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let after_password = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    let cookie = after_password.set_cookie("__Host-idsrv.mfa").unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let callback = stack
        .pass_second_factor(&browser, after_password.location(), "alice")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // Send the transaction cookie by hand, as a browser that ignored Max-Age would: the server
    // itself refuses the expired transaction.
    let ca =
        reqwest::Certificate::from_pem(crate::helpers::test_tls().ca_pem().as_bytes()).unwrap();
    let raw = reqwest::Client::builder()
        .add_root_certificate(ca)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = raw
        .get(&callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/Account/Notice?reason=expired"
    );
    assert!(
        !response
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with(SESSION_COOKIE))
    );
}

#[tokio::test]
async fn a_forged_request_id_gets_an_error_page_and_no_form() {
    let stack = spawn().await;
    let browser = Browser::new();
    for ar in ["forged", "", &"x".repeat(500)] {
        let page = stack.login_page(&browser, ar).await;
        assert_eq!(page.status, 400, "ar={ar}");
        assert!(
            page.shows("This sign-in link was already used or has expired"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("<title>Sign-in link expired · "),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("id=\"continue\""),
            "start again: {}",
            page.body
        );
        assert!(!page.body.contains("id=\"login-form\""));
    }
    let no_ar = browser.get(&stack.url("/Account/Login")).await;
    assert_eq!(no_ar.status, 400);
}

#[tokio::test]
async fn a_request_id_of_another_server_is_unknown_here() {
    let ours = spawn().await;
    let theirs = spawn().await;
    let browser = Browser::new();
    let foreign = theirs.authorize(&browser).await;
    let page = ours.login_page(&browser, &foreign).await;
    assert_eq!(page.status, 400);

    // Posting the form with a foreign id (and a valid CSRF token) is refused before any password check.
    let own = ours.authorize(&browser).await;
    let form = ours.login_page(&browser, &own).await;
    let csrf = input_value(&form.body, "csrf_token").unwrap();
    let answer = browser
        .post(
            &ours.url("/Account/Login"),
            &[
                ("csrf_token", &csrf),
                ("ar", &foreign),
                ("username", "alice"),
                ("password", "alice"),
            ],
        )
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.location.is_none());
    assert!(ours.is_signed_out(&browser).await);
}

#[tokio::test]
async fn a_used_request_id_cannot_start_another_login() {
    let stack = spawn().await;
    let browser = Browser::new();
    let (ar, callback) = stack.until_callback(&browser, "alice", "alice").await;
    code_of(&browser.get(&callback).await);
    let page = stack.login_page(&Browser::new(), &ar).await;
    assert_eq!(page.status, 400);
}

#[tokio::test]
async fn a_login_post_without_a_csrf_token_is_refused_and_nothing_happens() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    stack.login_page(&browser, &ar).await;
    let answer = browser
        .post(
            &stack.url("/Account/Login"),
            &[
                ("ar", ar.as_str()),
                ("username", "alice"),
                ("password", "alice"),
            ],
        )
        .await;
    assert_eq!(answer.status, 403);
    assert!(answer.location.is_none());
    assert!(answer.shows("nothing was done"));
    assert!(answer.set_cookie("__Host-idsrv.mfa").is_none());

    // A token minted for another browser does not work either.
    let other = Browser::new();
    let other_page = stack.login_page(&other, &ar).await;
    let foreign_csrf = input_value(&other_page.body, "csrf_token").unwrap();
    let answer = browser
        .post(
            &stack.url("/Account/Login"),
            &[
                ("csrf_token", foreign_csrf.as_str()),
                ("ar", &ar),
                ("username", "alice"),
                ("password", "alice"),
            ],
        )
        .await;
    assert_eq!(answer.status, 403);
    assert!(stack.is_signed_out(&browser).await);
    // The request is still pending: the real form still works.
    assert_eq!(stack.login_page(&browser, &ar).await.status, 200);
}

#[tokio::test]
async fn a_login_transaction_cannot_finish_at_the_manage_mfa_callback() {
    let stack = spawn().await;
    let browser = Browser::new();
    let (_, callback) = stack.until_callback(&browser, "alice", "alice").await;
    let token = query_param(&callback, "token").unwrap();
    let page = browser
        .get(&format!(
            "{}?token={token}",
            stack.url("/Account/Mfa/Callback")
        ))
        .await;
    assert_refused_as_expired(&stack, &page);
    // The transaction was consumed by the wrong callback (and its cookie removed): the real one
    // fails too, and the challenge it carries is voided.
    assert_voided(&stack, &browser.get(&callback).await);
}
