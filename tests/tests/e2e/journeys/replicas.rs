//! Three identity-server replicas on one real Redis behind a round-robin forwarder (a new
//! connection per request): the login survives any replica, a restart of all of them, and a
//! restart of Redis; with Redis down nothing is issued and service comes back by itself.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::flows::{
    ALICE, ClaimsPage, TestRp, enroll_totp, submit_password, visit_client_expecting_login,
};
use crate::helpers::system::TestSystem;
use crate::helpers::tls;
use crate::helpers::web::WebBrowser;

/// alice signed in (enrolling the app) in a browser that opens a connection per request, and
/// tokens of our own relying party from that session (no login page).
async fn signed_in_with_tokens(
    sys: &TestSystem,
) -> (WebBrowser, TestRp, crate::helpers::flows::TokenAnswer) {
    let browser = WebBrowser::new_unpooled(tls().ca_pem()).with_mailbox(sys.emulator.clone());
    let login = visit_client_expecting_login(sys, &browser).await;
    let choose = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    enroll_totp(sys, &browser, &choose).await;
    let rp = TestRp::new(sys);
    let back = browser
        .open_until(&rp.authorize_url(), |u| rp.is_redirect_back(u))
        .await;
    let tokens = rp.redeem(&rp.code_from(&back)).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.json);
    (browser, rp, tokens)
}

/// Opens `url` until it answers something other than 503 (at most 15 s).
async fn eventually_not_503(browser: &WebBrowser, url: &str) -> crate::helpers::web::Page {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = browser.open(url).await;
        if page.status != StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mfa_login_whose_steps_land_on_different_replicas_signs_alice_in() {
    let Some(sys) = TestSystem::start_replicated(3).await else {
        return;
    };
    let browser = WebBrowser::new_unpooled(tls().ca_pem()).with_mailbox(sys.emulator.clone());
    let login = visit_client_expecting_login(&sys, &browser).await;
    let first = sys.replicas().forwarder.last();
    let choose = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    let enrolled = enroll_totp(&sys, &browser, &choose).await;
    ClaimsPage::read(&sys, &enrolled.page).assert_signed_in_with_mfa(&ALICE);
    // Round robin over fresh connections: no two consecutive steps on one replica, and every
    // replica took part.
    let served = sys.replicas().forwarder.served();
    assert!(
        served.iter().all(|n| *n >= 1) && served.iter().sum::<usize>() >= 5,
        "every replica served steps of the one login: {served:?}"
    );
    assert_ne!(first, usize::MAX);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_right_after_the_password_step_does_not_break_the_login() {
    let Some(sys) = TestSystem::start_replicated(3).await else {
        return;
    };
    let browser = WebBrowser::new_unpooled(tls().ca_pem()).with_mailbox(sys.emulator.clone());
    let login = visit_client_expecting_login(&sys, &browser).await;
    let choose = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    // The replica that took the password (and stored the login transaction) goes away.
    let took_password = sys.replicas().forwarder.last();
    sys.replicas().stop(took_password).await;
    let enrolled = enroll_totp(&sys, &browser, &choose).await;
    ClaimsPage::read(&sys, &enrolled.page).assert_signed_in_with_mfa(&ALICE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_every_replica_restarts_the_session_access_and_refresh_tokens_still_work() {
    let Some(sys) = TestSystem::start_replicated(3).await else {
        return;
    };
    let (browser, rp, tokens) = signed_in_with_tokens(&sys).await;

    sys.replicas().restart_all().await;

    let home = browser.open(&format!("{}/", sys.idp_url)).await;
    assert!(
        home.shows("You are signed in"),
        "the browser's session outlived every replica: {}",
        home.excerpt()
    );
    let (status, claims) = rp
        .userinfo(tokens.json["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "access token at userinfo: {claims}");
    assert_eq!(claims["sub"], ALICE.sub);
    let refreshed = rp
        .refresh(tokens.json["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_killed_and_restarted_on_its_append_only_file_loses_nothing_acknowledged() {
    let Some(sys) = TestSystem::start_replicated(3).await else {
        return;
    };
    let (browser, rp, tokens) = signed_in_with_tokens(&sys).await;
    {
        let mut redis = sys.replicas().redis.lock().unwrap();
        redis.kill();
        redis
            .restart()
            .expect("redis restarts on the same directory");
    }
    // The replicas reconnect by themselves (a call in flight while Redis was down fails).
    let home = eventually_not_503(&browser, &format!("{}/", sys.idp_url)).await;
    assert!(home.shows("You are signed in"), "{}", home.excerpt());
    let refreshed = rp
        .refresh(tokens.json["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.json);
    // The rotated-away token is still known: its replay revokes the grant.
    let replayed = rp
        .refresh(tokens.json["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(replayed.json["error"], "invalid_grant", "{}", replayed.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_sign_in_and_tokens_answer_503_within_2s_and_work_again_once_it_is_back()
{
    let Some(sys) = TestSystem::start_replicated(3).await else {
        return;
    };
    let browser = WebBrowser::new_unpooled(tls().ca_pem()).with_mailbox(sys.emulator.clone());
    let login = visit_client_expecting_login(&sys, &browser).await;
    sys.replicas().redis.lock().unwrap().stop();

    let started = Instant::now();
    let answer = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    let took = started.elapsed();
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.excerpt()
    );
    assert!(
        took < Duration::from_secs(2) + Duration::from_millis(1500),
        "took {took:?}"
    );
    assert!(
        !browser
            .cookies_for(&sys.idp_url)
            .contains("__Host-idsrv.session"),
        "no session without the store"
    );
    let rp = TestRp::new(&sys);
    let started = Instant::now();
    let token = rp.refresh("any-refresh-token").await;
    assert_eq!(
        token.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        token.json
    );
    assert_eq!(token.json["error"], "temporarily_unavailable");
    assert!(started.elapsed() < Duration::from_secs(2) + Duration::from_millis(1500));
    // Discovery needs no store.
    let discovery = browser
        .open(&format!("{}/.well-known/openid-configuration", sys.idp_url))
        .await;
    assert_eq!(discovery.status, StatusCode::OK);

    sys.replicas()
        .redis
        .lock()
        .unwrap()
        .restart()
        .expect("redis restarts");
    // The same replicas reconnect by themselves.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let login = visit_client_expecting_login(&sys, &browser).await;
        let choose = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
        if choose.status == StatusCode::OK && choose.url.as_str().starts_with(&sys.emulator_url) {
            let enrolled = enroll_totp(&sys, &browser, &choose).await;
            ClaimsPage::read(&sys, &enrolled.page).assert_signed_in_with_mfa(&ALICE);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not come back: {}",
            choose.excerpt()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
