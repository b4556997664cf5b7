//! alice's first visit: client -> authorize -> login -> TOTP enrollment -> recovery codes ->
//! callback -> the client's claims page.

use crate::helpers::flows::{
    ALICE, CALLBACK_PATH, ClaimsPage, TestRp, assert_on_emulator, enroll_totp, submit_password,
    visit_client_expecting_login,
};
use crate::helpers::system::TestSystem;
use crate::helpers::tokens::now;

#[tokio::test]
async fn alice_enrolls_an_authenticator_app_on_her_first_visit_and_lands_on_the_claims_page() {
    let sys = TestSystem::start().await;
    let browser = sys.browser();

    let login = visit_client_expecting_login(&sys, &browser).await;
    assert!(
        login.shows("Web client"),
        "the login page names the client: {}",
        login.excerpt()
    );

    let choose = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    assert_on_emulator(&sys, &choose);
    assert!(
        choose.doc().form("choose-totp").is_some(),
        "first visit: enrollment, {}",
        choose.excerpt()
    );
    assert!(
        choose.doc().form("verify-code").is_none(),
        "first visit: no challenge"
    );
    // The login transaction is bound to this browser by a __Host- cookie.
    let login_post = &choose.hops[0];
    assert!(
        login_post
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("__Host-")
                && c.contains("HttpOnly")
                && c.contains("Secure")
                && c.to_ascii_lowercase().contains("samesite=lax")),
        "login transaction cookie: {:?}",
        login_post.set_cookies()
    );

    let enrolled = enroll_totp(&sys, &browser, &choose).await;
    let page = enrolled.page;
    // Back through the identity server's callback, which never shows the token.
    let callback = page
        .hop_to(CALLBACK_PATH)
        .unwrap_or_else(|| panic!("no callback hop: {}", page.trail()));
    assert!(
        callback.status.is_redirection(),
        "the callback answers with a redirect"
    );
    assert!(
        callback
            .header("cache-control")
            .is_some_and(|v| v.contains("no-store"))
    );
    assert_eq!(
        callback.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert!(
        page.went_through("/signin-oidc"),
        "the code went to the client: {}",
        page.trail()
    );

    let claims = ClaimsPage::read(&sys, &page);
    claims.assert_signed_in_with_mfa(&ALICE);
    assert!(page.shows("Hello, Alice Smith"), "{}", page.excerpt());
    assert!(page.shows("a5a0c16c-0027-4011-8e2f-a7e179dc784b"));
    assert_eq!(
        claims.properties.get("refresh token").map(String::as_str),
        Some("present")
    );

    // Coming back later in the same browser needs no second login.
    let again = browser.open(&format!("{}/", sys.client_url)).await;
    ClaimsPage::read(&sys, &again).assert_signed_in_with_mfa(&ALICE);
    assert_eq!(again.hops.len(), 1, "no redirects: {}", again.trail());
}

#[tokio::test]
async fn the_tokens_issued_after_alices_first_login_carry_her_subject_mfa_and_the_time_of_sign_in()
{
    let sys = TestSystem::start().await;
    let browser = sys.browser();
    let rp = TestRp::new(&sys);
    let started = now();

    let login = browser.open(&rp.authorize_url()).await;
    crate::helpers::flows::assert_login_page(&sys, &login);
    let choose = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    let key_page = browser
        .submit(&choose, &choose.form("choose-totp"), None)
        .await;
    let app = crate::helpers::totp::Authenticator::from_key(&key_page.text_of("totp-secret"));
    let mut confirm = key_page.form("confirm-totp");
    confirm.set("code", app.fresh_code().await);
    let codes = browser.submit(&key_page, &confirm, None).await;
    let back = browser
        .submit_until(
            &codes,
            &crate::helpers::flows::codes_saved(&codes),
            None,
            |u| rp.is_redirect_back(u),
        )
        .await;
    let code = rp.code_from(&back);

    let answer = rp.redeem(&code).await;
    assert!(
        answer.status.is_success(),
        "token answer: {} {}",
        answer.status,
        answer.json
    );
    assert_eq!(
        answer.json["token_type"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer")
    );
    let id_token = rp
        .verify_id_token(
            answer.json["id_token"].as_str().expect("id_token"),
            &ALICE,
            started,
        )
        .await;
    let amr = id_token.amr();
    assert!(
        amr.contains(&"pwd".to_owned()) && amr.contains(&"mfa".to_owned()),
        "amr: {amr:?}"
    );
    assert!(id_token.str("sid").is_some(), "sid for logout");
    assert_eq!(id_token.str("name"), Some(ALICE.name));

    // The access token is a signed JWT in the RFC 9068 shape, for the web client and alice.
    let access = answer.json["access_token"].as_str().expect("access_token");
    let at = crate::helpers::tokens::Jwt::decode(access);
    at.verify(&rp.jwks().await).expect("access token signature");
    assert_eq!(
        at.header["typ"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("at+jwt")
    );
    assert_eq!(at.str("client_id"), Some("web"));
    assert_eq!(at.str("sub"), Some(ALICE.sub));
    assert_eq!(at.str("iss"), Some(sys.idp_url.as_str()));
    assert!(
        at.amr().contains(&"mfa".to_owned()),
        "the access token records mfa too: {:?}",
        at.amr()
    );

    // The access token works at userinfo and names the same subject.
    let (status, info) = rp.userinfo(access).await;
    assert!(status.is_success(), "userinfo: {status} {info}");
    assert_eq!(info["sub"], ALICE.sub);

    // A code works once.
    let replay = rp.redeem(&code).await;
    assert_eq!(replay.status.as_u16(), 400, "{}", replay.json);
    assert_eq!(replay.json["error"], "invalid_grant");
}
