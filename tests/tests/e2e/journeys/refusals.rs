//! Everything that must end without a session: wrong password, lockout, wrong codes, the
//! `BLOCK` and `REVIEW` outcomes, and an Authsignal that cannot be reached or is too slow (fail
//! closed).

use authsignal_emulator::Outcome;
use reqwest::StatusCode;

use crate::helpers::flows::{
    ALICE, BOB, ClaimsPage, answer_challenge, assert_login_page, assert_not_signed_in,
    assert_on_emulator, first_visit_with_totp, idp_message, submit_password,
    visit_client_expecting_login,
};
use crate::helpers::system::{LOGIN_ACTION, Options, TestSystem};
use crate::helpers::web::Page;

const INVALID: &str = "Invalid username or password.";
const LOCKED: &str = "Too many failed sign-in attempts";

/// Asserts that the password step was refused on the login page itself: no trip to
/// Authsignal, the message shown, the form ready for another try.
#[track_caller]
fn assert_refused_on_login_page(sys: &TestSystem, page: &Page, message: &str) {
    assert!(
        page.url.as_str().starts_with(&sys.idp_url),
        "stayed at the identity server: {}",
        page.excerpt()
    );
    assert!(
        !page.went_through("/challenge"),
        "never sent to Authsignal: {}",
        page.trail()
    );
    assert!(
        idp_message(page).contains(message),
        "shows '{message}': {}",
        page.excerpt()
    );
    let form = page.form("login-form");
    assert_eq!(
        form.get("password"),
        Some(""),
        "the password is never echoed back"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer_and_no_session() {
    let sys = TestSystem::start().await;
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;

    let wrong = submit_password(&browser, &login, ALICE.username, "not-alice").await;
    assert_refused_on_login_page(&sys, &wrong, INVALID);
    assert!(wrong.status.is_client_error() || wrong.status == StatusCode::OK);
    let unknown = submit_password(&browser, &wrong, "mallory", "whatever").await;
    assert_refused_on_login_page(&sys, &unknown, INVALID);
    assert_eq!(wrong.status, unknown.status, "same status for both");
    assert_eq!(
        idp_message(&wrong),
        idp_message(&unknown),
        "same message for both"
    );

    assert!(sys.emulator.outbox().is_empty());
    assert_not_signed_in(&sys, &browser).await;

    // The right password afterwards still works.
    let login = visit_client_expecting_login(&sys, &browser).await;
    let choose = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    assert_on_emulator(&sys, &choose);
}

#[tokio::test]
async fn five_wrong_passwords_lock_alice_out_even_with_the_right_password_but_not_bob() {
    let sys = TestSystem::start().await;
    let browser = sys.browser();
    let mut page = visit_client_expecting_login(&sys, &browser).await;
    for attempt in 1..=5 {
        page = submit_password(&browser, &page, ALICE.username, &format!("guess-{attempt}")).await;
        assert!(
            page.url.as_str().starts_with(&sys.idp_url),
            "attempt {attempt}: {}",
            page.excerpt()
        );
    }
    // Locked now: the right password does not get through either.
    let locked = submit_password(&browser, &page, ALICE.username, ALICE.password).await;
    assert_refused_on_login_page(&sys, &locked, LOCKED);
    assert!(
        !locked.shows(INVALID),
        "the lockout message replaces the generic one"
    );
    // Also from another browser.
    let other = sys.browser();
    let login = visit_client_expecting_login(&sys, &other).await;
    let locked = submit_password(&other, &login, ALICE.username, ALICE.password).await;
    assert_refused_on_login_page(&sys, &locked, LOCKED);
    assert_not_signed_in(&sys, &other).await;

    // The lock is alice's, not everybody's.
    let login = visit_client_expecting_login(&sys, &other).await;
    let choose = submit_password(&other, &login, BOB.username, BOB.password).await;
    assert_on_emulator(&sys, &choose);
}

#[tokio::test]
async fn a_wrong_code_is_refused_with_a_message_and_the_right_one_then_signs_alice_in() {
    let sys = TestSystem::start().await;
    let enrolled = first_visit_with_totp(&sys, &sys.browser(), &ALICE).await;
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let challenge = submit_password(&browser, &login, ALICE.username, ALICE.password).await;

    let right = enrolled.app.fresh_code().await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let again = answer_challenge(&sys, &browser, &challenge, wrong).await;
    assert_on_emulator(&sys, &again);
    let error = again.text_of("error");
    assert!(error.contains("4 attempts left"), "error: {error}");
    assert!(
        again.doc().form("verify-code").is_some(),
        "the person may try again"
    );
    assert!(
        !again.went_through("/Account/Login/Callback"),
        "no return to the identity server yet"
    );

    let page = answer_challenge(&sys, &browser, &again, &right).await;
    ClaimsPage::read(&sys, &page).assert_signed_in_with_mfa(&ALICE);
}

#[tokio::test]
async fn five_wrong_codes_end_the_attempt_back_on_the_login_page_without_a_session() {
    let sys = TestSystem::start().await;
    let enrolled = first_visit_with_totp(&sys, &sys.browser(), &ALICE).await;
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let mut page = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    let right = enrolled.app.fresh_code().await;
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for _ in 0..5 {
        assert_on_emulator(&sys, &page);
        page = answer_challenge(&sys, &browser, &page, wrong).await;
    }
    // The emulator gave up, sent the browser back, and the identity server refused to sign in.
    assert!(
        page.went_through("/Account/Login/Callback"),
        "{}",
        page.trail()
    );
    assert!(
        !page.went_through("/signin-oidc"),
        "no code went to the client: {}",
        page.trail()
    );
    assert_login_page(&sys, &page);
    assert!(
        idp_message(&page).contains("Too many wrong codes were entered"),
        "{}",
        page.excerpt()
    );
    assert_not_signed_in(&sys, &browser).await;
}

#[tokio::test]
async fn a_block_from_authsignal_refuses_the_sign_in_with_a_clear_page_and_no_session() {
    let sys = TestSystem::start().await;
    sys.emulator
        .set_action_outcome(LOGIN_ACTION, Outcome::Block);
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let page = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.excerpt());
    assert!(page.url.as_str().starts_with(&sys.idp_url));
    assert!(!page.went_through("/challenge"), "{}", page.trail());
    assert!(page.shows("Sign-in refused"), "{}", page.excerpt());
    assert!(page.shows("you are not signed in"));
    assert!(
        page.doc().by_id("reference").is_some(),
        "a reference for support"
    );
    assert_not_signed_in(&sys, &browser).await;
}

#[tokio::test]
async fn a_review_outcome_refuses_the_sign_in_for_now_with_no_session() {
    let sys = TestSystem::start().await;
    sys.emulator
        .set_action_outcome(LOGIN_ACTION, Outcome::Review);
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let page = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.excerpt());
    assert!(page.shows("Sign-in under review"), "{}", page.excerpt());
    assert_not_signed_in(&sys, &browser).await;
}

#[tokio::test]
async fn with_authsignal_unreachable_the_sign_in_fails_closed() {
    let sys = TestSystem::start().await;
    // alice is enrolled, so only Authsignal stands between her password and a session.
    first_visit_with_totp(&sys, &sys.browser(), &ALICE).await;
    sys.stop_emulator().await;

    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let page = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.excerpt()
    );
    assert!(page.url.as_str().starts_with(&sys.idp_url));
    assert!(
        page.shows("Sign-in temporarily unavailable"),
        "{}",
        page.excerpt()
    );
    assert!(page.shows("you are not signed in"));
    assert!(!page.went_through("/signin-oidc"));
    assert_not_signed_in(&sys, &browser).await;
}

#[tokio::test]
async fn with_authsignal_too_slow_to_answer_the_sign_in_fails_closed() {
    // A server that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!(
        "https://localhost:{}/v1",
        silent.local_addr().unwrap().port()
    );
    let sys = TestSystem::start_with(Options {
        authsignal_api_url: Some(silent_url),
        authsignal_timeout_ms: Some(300),
        ..Options::default()
    })
    .await;
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let page = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.excerpt()
    );
    assert!(
        page.shows("Sign-in temporarily unavailable"),
        "{}",
        page.excerpt()
    );
    assert!(
        page.doc().by_id("reference").is_some(),
        "a reference for support"
    );
    assert_not_signed_in(&sys, &browser).await;
    drop(silent);
}

#[tokio::test]
async fn a_recovery_code_signs_alice_in_once_and_only_once() {
    let sys = TestSystem::start().await;
    let enrolled = first_visit_with_totp(&sys, &sys.browser(), &ALICE).await;
    let recovery = enrolled.recovery_codes[0].clone();

    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let challenge = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    let form = challenge.form("use-recovery-code");
    let enter = browser.submit(&challenge, &form, None).await;
    assert_on_emulator(&sys, &enter);
    assert!(enter.shows("recovery codes"), "{}", enter.excerpt());
    let page = answer_challenge(&sys, &browser, &enter, &recovery).await;
    ClaimsPage::read(&sys, &page).assert_signed_in_with_mfa(&ALICE);

    // The same code in another browser is refused.
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let challenge = submit_password(&browser, &login, ALICE.username, ALICE.password).await;
    let enter = browser
        .submit(&challenge, &challenge.form("use-recovery-code"), None)
        .await;
    let again = answer_challenge(&sys, &browser, &enter, &recovery).await;
    assert_on_emulator(&sys, &again);
    assert!(
        again.doc().by_id("error").is_some(),
        "refused: {}",
        again.excerpt()
    );
    assert!(!again.went_through("/signin-oidc"));
    // Another of her codes still works.
    let page = answer_challenge(&sys, &browser, &again, &enrolled.recovery_codes[1]).await;
    ClaimsPage::read(&sys, &page).assert_signed_in_with_mfa(&ALICE);
}
