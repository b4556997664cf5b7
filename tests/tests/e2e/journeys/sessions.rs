//! After the sign-in: signing out ends both sessions, and tokens are refreshed when the access
//! token expires.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::flows::{
    ALICE, ClaimsPage, TestRp, answer_challenge, assert_on_emulator, first_visit_with_totp,
    submit_password, visit_client_expecting_login,
};
use crate::helpers::system::{Options, TestSystem};
use crate::helpers::tokens::now;

#[tokio::test]
async fn after_signing_out_alice_must_log_in_again_with_password_and_second_factor() {
    let sys = TestSystem::start().await;
    let browser = sys.browser();
    let enrolled = first_visit_with_totp(&sys, &browser, &ALICE).await;
    let claims_page = enrolled.page;

    let signed_out = browser
        .submit(&claims_page, &claims_page.form("signout"), None)
        .await;
    let endsession = signed_out
        .hop_to("/connect/endsession")
        .unwrap_or_else(|| panic!("RP-initiated logout: {}", signed_out.trail()));
    let query: Vec<_> = endsession
        .url
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    assert!(
        query.contains(&"id_token_hint".to_owned()),
        "{}",
        endsession.url
    );
    assert!(
        query.contains(&"post_logout_redirect_uri".to_owned()),
        "{}",
        endsession.url
    );
    assert!(
        signed_out.went_through("/signout-callback-oidc"),
        "{}",
        signed_out.trail()
    );
    assert!(signed_out.url.as_str().starts_with(&sys.client_url));
    assert_eq!(signed_out.status, StatusCode::OK);
    assert!(
        signed_out.doc().by_id("signed-out").is_some(),
        "{}",
        signed_out.excerpt()
    );

    // The identity server forgot her too.
    let home = browser.open(&format!("{}/", sys.idp_url)).await;
    assert!(!home.shows("You are signed in"), "{}", home.excerpt());

    // Visiting again: the login page, then (she is enrolled) a challenge, then the claims.
    let login = visit_client_expecting_login(&sys, &browser).await;
    let challenge = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    assert_on_emulator(&sys, &challenge);
    let page = answer_challenge(&sys, &browser, &challenge, &enrolled.app.fresh_code().await).await;
    ClaimsPage::read(&sys, &page).assert_signed_in_with_mfa(&ALICE);
}

#[tokio::test]
async fn the_web_client_refreshes_an_expiring_access_token_and_keeps_alice_signed_in() {
    // Shorter than the client's refresh margin: every page view finds the token expiring.
    let sys = TestSystem::start_with(Options {
        access_token_lifetime_secs: Some(5),
        ..Options::default()
    })
    .await;
    let browser = sys.browser();
    let enrolled = first_visit_with_totp(&sys, &browser, &ALICE).await;
    let before = ClaimsPage::read(&sys, &enrolled.page).refresh_count();

    // userinfo is called with the (refreshed) access token and answers for alice.
    let userinfo = browser.open(&format!("{}/userinfo", sys.client_url)).await;
    assert_eq!(userinfo.status, StatusCode::OK, "{}", userinfo.excerpt());
    assert_eq!(
        userinfo.hops.len(),
        1,
        "no new sign-in: {}",
        userinfo.trail()
    );
    assert!(userinfo.shows(ALICE.sub), "{}", userinfo.excerpt());

    let page = browser.open(&format!("{}/", sys.client_url)).await;
    assert_eq!(page.hops.len(), 1, "no new sign-in: {}", page.trail());
    let claims = ClaimsPage::read(&sys, &page);
    claims.assert_signed_in_with_mfa(&ALICE);
    assert!(
        claims.refresh_count() >= before + 2,
        "two more refreshes (userinfo, claims page): {before} -> {}",
        claims.refresh_count()
    );
    let expiry = &claims.properties["access token expires"];
    assert!(
        !expiry.contains("expired"),
        "the shown access token is fresh: {expiry}"
    );
}

#[tokio::test]
async fn an_expired_access_token_is_refused_and_a_refresh_gives_a_working_one_once() {
    let sys = TestSystem::start_with(Options {
        access_token_lifetime_secs: Some(1),
        ..Options::default()
    })
    .await;
    let browser = sys.browser();
    let rp = TestRp::new(&sys);
    let started = now();
    let login = browser.open(&rp.authorize_url()).await;
    let choose = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    // Enroll, stopping when the code is on its way back to the client.
    let enrolled_codes = {
        let setup = browser
            .submit(&choose, &choose.form("choose-totp"), None)
            .await;
        let app = crate::helpers::totp::Authenticator::from_key(&setup.text_of("totp-secret"));
        let mut confirm = setup.form("confirm-totp");
        confirm.set("code", app.fresh_code().await);
        browser.submit(&setup, &confirm, None).await
    };
    let back = browser
        .submit_until(
            &enrolled_codes,
            &crate::helpers::flows::codes_saved(&enrolled_codes),
            None,
            |u| rp.is_redirect_back(u),
        )
        .await;
    let tokens = rp.redeem(&rp.code_from(&back)).await;
    assert!(tokens.status.is_success(), "{}", tokens.json);
    assert!(tokens.json["expires_in"].as_i64().is_some_and(|e| e <= 1));
    let access = tokens.json["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens.json["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();

    // Wait for the access token to expire: userinfo starts refusing it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = rp.userinfo(&access).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(status.is_success(), "userinfo: {status}");
        assert!(Instant::now() < deadline, "the access token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let renewed = rp.refresh(&refresh).await;
    assert!(
        renewed.status.is_success(),
        "refresh: {} {}",
        renewed.status,
        renewed.json
    );
    let new_access = renewed.json["access_token"].as_str().unwrap();
    assert_ne!(new_access, access);
    let (status, info) = rp.userinfo(new_access).await;
    assert!(
        status.is_success(),
        "the new access token works: {status} {info}"
    );
    assert_eq!(info["sub"], ALICE.sub);
    // Refresh tokens rotate: the old one is spent.
    let new_refresh = renewed.json["refresh_token"]
        .as_str()
        .expect("a rotated refresh token");
    assert_ne!(new_refresh, refresh);
    let replay = rp.refresh(&refresh).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.json);
    assert_eq!(replay.json["error"], "invalid_grant");
    // If a new ID token came with the refresh, it still says how and when alice signed in.
    if let Some(id_token) = renewed.json["id_token"].as_str() {
        let jwt = crate::helpers::tokens::Jwt::decode(id_token);
        assert_eq!(jwt.str("sub"), Some(ALICE.sub));
        assert!(jwt.amr().contains(&"mfa".to_owned()));
        assert!(jwt.int("auth_time").is_some_and(|t| t >= started - 2));
    }
}

/// The identity server's session cookie set on the second-factor callback of `page`.
fn session_cookie_of(page: &crate::helpers::web::Page) -> String {
    let callback = page
        .hop_to("/Account/Login/Callback")
        .expect("callback hop");
    callback
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-idsrv.session="))
        .unwrap_or_else(|| panic!("no session cookie: {:?}", callback.set_cookies()))
}

fn is_persistent(cookie: &str) -> bool {
    let lower = cookie.to_ascii_lowercase();
    lower.contains("max-age=") || lower.contains("expires=")
}

#[tokio::test]
async fn remember_me_survives_the_second_factor_and_the_session_gives_single_sign_on() {
    let sys = TestSystem::start().await;

    // Without "remember": a browser-session cookie, HttpOnly, Secure, SameSite=Lax.
    let forgetful = sys.browser();
    let plain = first_visit_with_totp(&sys, &forgetful, &ALICE).await;
    let cookie = session_cookie_of(&plain.page);
    assert!(!is_persistent(&cookie), "not remembered: {cookie}");
    for attribute in ["HttpOnly", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        cookie.to_ascii_lowercase().contains("samesite=lax"),
        "{cookie}"
    );

    // With "remember": the cookie outlives the browser session, through the MFA detour.
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let mut form = login.form("login-form");
    form.set("username", ALICE.username)
        .set("password", ALICE.password)
        .set("remember", "true");
    let challenge = browser.submit(&login, &form, Some("login")).await;
    let page = answer_challenge(&sys, &browser, &challenge, &plain.app.fresh_code().await).await;
    ClaimsPage::read(&sys, &page).assert_signed_in_with_mfa(&ALICE);
    let cookie = session_cookie_of(&page);
    assert!(is_persistent(&cookie), "remembered: {cookie}");

    // A fresh authorize request from the same browser is answered from the session.
    let rp = TestRp::new(&sys);
    let back = browser
        .open_until(&rp.authorize_url(), |u| rp.is_redirect_back(u))
        .await;
    assert!(
        !back.went_through("/Account/Login"),
        "no login page: {}",
        back.trail()
    );
    let tokens = rp.redeem(&rp.code_from(&back)).await;
    let jwt = rp
        .verify_id_token(
            tokens.json["id_token"].as_str().unwrap(),
            &ALICE,
            now() - 60,
        )
        .await;
    assert!(
        jwt.amr().contains(&"mfa".to_owned()),
        "the session keeps its amr: {:?}",
        jwt.amr()
    );
}
