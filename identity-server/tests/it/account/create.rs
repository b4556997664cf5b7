//! Account creation: the rules for a new account, and the first login of the new user, which
//! enrolls a second factor like any other.

use identity_server::signin::SESSION_COOKIE;

use super::{Browser, code_of, input_value, spawn, spawn_with};
use crate::helpers::query_param;

async fn create_form(stack: &super::Stack, browser: &Browser, ar: &str) -> String {
    let page = browser
        .get(&format!("{}?ar={ar}", stack.url("/Account/Create")))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(input_value(&page.body, "ar").as_deref(), Some(ar));
    input_value(&page.body, "csrf_token").unwrap()
}

#[tokio::test]
async fn a_new_account_signs_in_for_the_first_time_through_mfa_enrollment() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let login = stack.login_page(&browser, &ar).await;
    assert!(login.shows(&format!("href=\"/Account/Create?ar={ar}\"")));

    let csrf = create_form(&stack, &browser, &ar).await;
    let created = browser
        .post(
            &stack.url("/Account/Create"),
            &[
                ("csrf_token", csrf.as_str()),
                ("ar", &ar),
                ("username", "carol"),
                ("password", "correct horse battery staple"),
                ("name", "Carol Example"),
                ("email", "carol@example.com"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert!(
        created.set_cookie(SESSION_COOKIE).is_none(),
        "creating an account signs nobody in"
    );
    assert_eq!(
        query_param(created.location(), "notice").as_deref(),
        Some("created")
    );
    let login = browser.follow(&created).await;
    assert!(login.shows("Your account was created."));

    let challenge = stack
        .password_to_challenge(&browser, &ar, "carol", "correct horse battery staple")
        .await;
    let start = browser.get(&challenge).await;
    let first = browser.follow(&start).await;
    assert!(
        first.body.contains("id=\"choose-totp\""),
        "enrollment, with no way around it"
    );
    let callback = stack
        .pass_second_factor(&browser, &challenge, "carol")
        .await;
    let answer = browser.get(&callback).await;
    let claims = stack.id_token_claims(&code_of(&answer)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa", "otp"]));
    assert_eq!(claims["name"], "Carol Example");
    let user = stack
        .state
        .users
        .find_by_username("carol")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claims["sub"], user.subject);
}

#[tokio::test]
async fn weak_or_malformed_submissions_are_refused_with_every_problem_listed() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let csrf = create_form(&stack, &browser, &ar).await;
    let cases: [(&str, &str, &str, &str, &str); 5] = [
        (
            "dave",
            "short",
            "Dave",
            "dave@example.com",
            "Use at least 8 characters",
        ),
        (
            "dave",
            "password123",
            "Dave",
            "dave@example.com",
            "This password is too common.",
        ),
        (
            "dave",
            "DAVE",
            "Dave",
            "dave@example.com",
            "Use at least 8 characters",
        ),
        (
            "d",
            "a fine long passphrase",
            "Dave",
            "dave@example.com",
            "Choose a username of 3 to 64 characters",
        ),
        (
            "dave",
            "a fine long passphrase",
            "",
            "not-an-email",
            "Enter a valid email address",
        ),
    ];
    for (username, password, name, email, expected) in cases {
        let page = browser
            .post(
                &stack.url("/Account/Create"),
                &[
                    ("csrf_token", csrf.as_str()),
                    ("ar", &ar),
                    ("username", username),
                    ("password", password),
                    ("name", name),
                    ("email", email),
                ],
            )
            .await;
        assert_eq!(page.status, 400, "{username}/{password}");
        assert!(
            page.shows(expected),
            "expected {expected:?} in {}",
            page.body
        );
        assert!(
            !page.shows(password) || password.len() < 5,
            "the password is not echoed"
        );
        assert!(
            stack
                .state
                .users
                .find_by_username(username)
                .await
                .unwrap()
                .is_none()
        );
    }
    let long = "x".repeat(129);
    let page = browser
        .post(
            &stack.url("/Account/Create"),
            &[
                ("csrf_token", csrf.as_str()),
                ("username", "dave"),
                ("password", &long),
                ("name", "Dave"),
                ("email", "dave@example.com"),
            ],
        )
        .await;
    assert!(page.shows("Use at most 128 characters."));
    let sixty_four = "y".repeat(64);
    let page = browser
        .post(
            &stack.url("/Account/Create"),
            &[
                ("csrf_token", csrf.as_str()),
                ("username", "dave"),
                ("password", &sixty_four),
                ("name", "Dave"),
                ("email", "dave@example.com"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "64 characters are fine: {}", page.body);
    assert!(
        stack
            .state
            .users
            .find_by_username("dave")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_taken_username_is_refused() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let csrf = create_form(&stack, &browser, &ar).await;
    let page = browser
        .post(
            &stack.url("/Account/Create"),
            &[
                ("csrf_token", csrf.as_str()),
                ("ar", &ar),
                ("username", "Alice"),
                ("password", "a fine long passphrase"),
                ("name", "Not Alice"),
                ("email", "mallory@example.com"),
            ],
        )
        .await;
    assert_eq!(page.status, 409);
    assert!(page.shows("This username is taken."));
}

#[tokio::test]
async fn account_creation_without_csrf_token_creates_nothing() {
    let stack = spawn().await;
    let browser = Browser::new();
    let page = browser
        .post(
            &stack.url("/Account/Create"),
            &[
                ("username", "eve"),
                ("password", "a fine long passphrase"),
                ("name", "Eve"),
                ("email", "eve@example.com"),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(
        stack
            .state
            .users
            .find_by_username("eve")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn account_creation_without_a_sign_in_request_shows_a_confirmation() {
    let stack = spawn().await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/Account/Create")).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let done = browser
        .post(
            &stack.url("/Account/Create"),
            &[
                ("csrf_token", csrf.as_str()),
                ("username", "frank"),
                ("password", "a fine long passphrase"),
                ("name", "Frank"),
                ("email", "frank@example.com"),
            ],
        )
        .await;
    assert_eq!(done.status, 200);
    assert!(done.shows("Your account was created."));
    assert!(done.set_cookie(SESSION_COOKIE).is_none());
}

#[tokio::test]
async fn repeated_taken_usernames_from_one_address_are_slowed_down() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_ip = 2).await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/Account/Create")).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let mut statuses = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let page = browser
            .post(
                &stack.url("/Account/Create"),
                &[
                    ("csrf_token", csrf.as_str()),
                    ("username", name),
                    ("password", "a fine long passphrase"),
                    ("name", "X"),
                    ("email", "x@example.com"),
                ],
            )
            .await;
        statuses.push(page.status);
    }
    assert_eq!(statuses, [409, 409, 429]);
    assert!(
        stack
            .state
            .users
            .find_by_username("carol")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn account_creation_while_every_hash_permit_is_taken_gets_the_busy_page_and_creates_nothing()
{
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_ip = 1).await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/Account/Create")).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let permits = stack.state.hashing.permits().clone();
    let all = u32::try_from(permits.available_permits()).unwrap();
    let held = permits.acquire_many_owned(all).await.unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "grace"),
        ("password", "a fine long passphrase"),
        ("name", "Grace"),
        ("email", "grace@example.com"),
    ];
    let busy = browser.post(&stack.url("/Account/Create"), &form).await;
    assert_eq!(busy.status, 503);
    assert!(busy.shows("The server is busy. Please try again in a moment."));
    assert_eq!(busy.headers.get("retry-after").unwrap(), "5");
    assert!(
        !busy.shows("a fine long passphrase"),
        "the password is not echoed"
    );
    assert!(
        stack
            .state
            .users
            .find_by_username("grace")
            .await
            .unwrap()
            .is_none()
    );
    drop(held);
    let done = browser.post(&stack.url("/Account/Create"), &form).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        stack
            .state
            .users
            .find_by_username("grace")
            .await
            .unwrap()
            .is_some()
    );
}

/// Posts the creation form for `username` with a valid password, name and email.
async fn create_account(
    stack: &super::Stack,
    browser: &Browser,
    csrf: &str,
    username: &str,
) -> super::Page {
    browser
        .post(
            &stack.url("/Account/Create"),
            &[
                ("csrf_token", csrf),
                ("username", username),
                ("password", "a fine long passphrase"),
                ("name", "Someone"),
                ("email", "someone@example.com"),
            ],
        )
        .await
}

#[tokio::test]
async fn a_network_cannot_create_more_accounts_than_its_hourly_quota() {
    let stack = spawn_with(|s| s.account.creation.max_per_ip = 2).await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/Account/Create")).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    for name in ["user-one", "user-two"] {
        let done = create_account(&stack, &browser, &csrf, name).await;
        assert_eq!(done.status, 200, "{}", done.body);
    }
    let refused = create_account(&stack, &browser, &csrf, "user-three").await;
    assert_eq!(refused.status, 429);
    assert!(
        refused.shows("Too many accounts were created from your network. Please try again later.")
    );
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    assert!(
        stack
            .state
            .users
            .find_by_username("user-three")
            .await
            .unwrap()
            .is_none()
    );
    // An invalid submission is still answered with its problems (it costs no hash).
    let invalid = browser
        .post(
            &stack.url("/Account/Create"),
            &[("csrf_token", csrf.as_str()), ("username", "x")],
        )
        .await;
    assert_eq!(invalid.status, 400);
}

#[tokio::test]
async fn parallel_creations_from_one_network_cannot_exceed_the_quota() {
    let stack = spawn_with(|s| s.account.creation.max_per_ip = 3).await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/Account/Create")).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let names: Vec<String> = (0..20).map(|i| format!("burst-{i}")).collect();
    let attempts = names
        .iter()
        .map(|name| create_account(&stack, &browser, &csrf, name));
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|p| p.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 17);
    let mut created = 0;
    for n in &names {
        if stack
            .state
            .users
            .find_by_username(n)
            .await
            .unwrap()
            .is_some()
        {
            created += 1;
        }
    }
    assert_eq!(created, 3);
}

#[tokio::test]
async fn the_global_creation_cap_holds_whatever_the_network() {
    let stack = spawn_with(|s| {
        s.account.creation.max_per_ip = 10;
        s.account.creation.max_global = 1;
    })
    .await;
    let browser = Browser::new();
    let page = browser.get(&stack.url("/Account/Create")).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let done = create_account(&stack, &browser, &csrf, "first-user").await;
    assert_eq!(done.status, 200, "{}", done.body);
    let refused = create_account(&stack, &browser, &csrf, "second-user").await;
    assert_eq!(refused.status, 429);
    assert!(
        refused.shows("Too many accounts are being created right now. Please try again later.")
    );
    assert!(refused.headers.contains_key("retry-after"));
    assert!(
        stack
            .state
            .users
            .find_by_username("second-user")
            .await
            .unwrap()
            .is_none()
    );
}
