//! A new person: creates an account from the login page, then signs in to the client with the
//! same enrollment as everybody.

use reqwest::StatusCode;

use crate::helpers::flows::{
    ClaimsPage, assert_login_page, enroll_totp, idp_message, submit_password,
    visit_client_expecting_login,
};
use crate::helpers::system::TestSystem;

#[tokio::test]
async fn carol_creates_an_account_from_the_login_page_then_enrolls_and_reaches_the_client() {
    let sys = TestSystem::start().await;
    let browser = sys.browser();
    let login = visit_client_expecting_login(&sys, &browser).await;
    let create = browser.click_link(&login, "create-account").await;
    assert_eq!(create.status, StatusCode::OK, "{}", create.excerpt());

    // A common password is refused, with the reason, and nothing is created.
    let mut form = create.form("create-form");
    form.set("username", "carol")
        .set("password", "password123")
        .set("name", "Carol Jones")
        .set("email", "carol@example.com");
    let refused = browser.submit(&create, &form, None).await;
    assert!(refused.status.is_client_error(), "{}", refused.excerpt());
    assert!(
        refused.doc().by_id("password-error").is_some(),
        "the reason is shown at the password field: {}",
        refused.excerpt()
    );
    let mut form = refused.form("create-form");
    assert_eq!(
        form.get("username"),
        Some("carol"),
        "what was typed is kept"
    );
    assert_eq!(form.get("password"), Some(""), "but never the password");

    let password = "correct horse battery staple";
    form.set("password", password);
    let created = browser.submit(&refused, &form, None).await;
    assert_login_page(&sys, &created);
    assert!(
        idp_message(&created).to_lowercase().contains("created"),
        "{}",
        created.excerpt()
    );

    // The username is taken now.
    let again = browser.click_link(&created, "create-account").await;
    let mut form = again.form("create-form");
    form.set("username", "carol")
        .set("password", "another fine passphrase")
        .set("name", "Carol Two")
        .set("email", "carol2@example.com");
    let taken = browser.submit(&again, &form, None).await;
    assert!(taken.status.is_client_error(), "{}", taken.excerpt());

    // First login: password, then the same enrollment as alice's.
    let login = visit_client_expecting_login(&sys, &browser).await;
    let choose = submit_password(&browser, &login, "carol", password).await;
    let enrolled = enroll_totp(&sys, &browser, &choose).await;
    let claims = ClaimsPage::read(&sys, &enrolled.page);
    let sub = claims.claims.get("sub").expect("a subject");
    assert!(
        !sub.is_empty() && sub != crate::helpers::system::ALICE_SUB,
        "a new subject: {sub}"
    );
    assert_eq!(
        claims.claims.get("name").map(String::as_str),
        Some("Carol Jones")
    );
    let amr = claims.amr();
    assert!(
        amr.contains(&"mfa".to_owned()) && amr.contains(&"pwd".to_owned()),
        "amr: {amr:?}"
    );
}
