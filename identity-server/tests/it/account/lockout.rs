//! Failed logins are counted per username and per client address, with a lockout; unknown users
//! and wrong passwords look the same.

use identity_server::account::lockout::LockoutKey;
use identity_server::signin::SESSION_COOKIE;

use super::{Browser, element_text, input_value, spawn, spawn_with};

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let stack = spawn().await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let wrong = stack
        .submit_password(&browser, &ar, "alice", "not-her-password", false)
        .await;
    let unknown = stack
        .submit_password(&browser, &ar, "nobody-here", "whatever", false)
        .await;
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.status, 200);
    let message = element_text(&wrong.body, "error").unwrap();
    assert_eq!(message, "Invalid username or password.");
    assert_eq!(element_text(&unknown.body, "error").unwrap(), message);
    assert!(wrong.set_cookie(SESSION_COOKIE).is_none());
    assert!(wrong.location.is_none() && unknown.location.is_none());
}

#[tokio::test]
async fn a_username_is_locked_after_repeated_failures_even_with_the_right_password() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 3).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for attempt in 1..=3 {
        let page = stack
            .submit_password(&browser, &ar, "alice", "wrong-guess", false)
            .await;
        let expected = if attempt < 3 { 200 } else { 429 };
        assert_eq!(page.status, expected, "attempt {attempt}");
    }
    let locked = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(locked.status, 429);
    assert_eq!(
        element_text(&locked.body, "error").unwrap(),
        "Too many failed sign-in attempts. Please wait a few minutes and try again."
    );
    assert!(
        locked.location.is_none(),
        "no track, no challenge while locked"
    );
    // Case and spaces do not make a new counter.
    let variant = stack
        .submit_password(&browser, &ar, " ALICE ", "alice", false)
        .await;
    assert_eq!(variant.status, 429);
    // Bob is not affected by alice's lockout (different username, and the IP limit is higher).
    let bob = stack
        .submit_password(&browser, &ar, "bob", "bob", false)
        .await;
    assert_eq!(bob.status, 303);
}

#[tokio::test]
async fn an_unknown_username_locks_the_same_way() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 2).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    stack
        .submit_password(&browser, &ar, "mallory", "a", false)
        .await;
    let locked = stack
        .submit_password(&browser, &ar, "mallory", "b", false)
        .await;
    assert_eq!(locked.status, 429);
}

#[tokio::test]
async fn a_client_address_is_locked_after_failures_across_usernames() {
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_ip = 4;
        s.account.lockout.max_failures_per_user = 100;
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for name in ["u1", "u2", "u3", "u4"] {
        stack
            .submit_password(&browser, &ar, name, "guess", false)
            .await;
    }
    let page = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(page.status, 429);
    assert!(page.location.is_none());
}

#[tokio::test]
async fn a_correct_password_resets_the_username_counter() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 3).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for _ in 0..2 {
        stack
            .submit_password(&browser, &ar, "alice", "wrong", false)
            .await;
    }
    let ok = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(ok.status, 303);
    for _ in 0..2 {
        let page = stack
            .submit_password(&browser, &ar, "alice", "wrong", false)
            .await;
        assert_eq!(page.status, 200);
    }
}

#[tokio::test]
async fn empty_fields_are_asked_for_without_counting_a_failure() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 1).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "", false)
        .await;
    assert_eq!(page.status, 400);
    assert_eq!(
        element_text(&page.body, "error").unwrap(),
        "Enter your username and password."
    );
    let ok = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(ok.status, 303);
}

#[tokio::test]
async fn parallel_wrong_passwords_cannot_get_more_checks_than_the_lockout_allows() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 3).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let page = stack.login_page(&browser, &ar).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let url = stack.url("/Account/Login");
    let guesses = (0..40).map(|i| {
        let (browser, url, csrf, ar) = (&browser, url.clone(), csrf.clone(), ar.clone());
        async move {
            let password = format!("guess-{i}");
            browser
                .post(
                    &url,
                    &[
                        ("csrf_token", csrf.as_str()),
                        ("ar", ar.as_str()),
                        ("username", "alice"),
                        ("password", password.as_str()),
                        ("button", "login"),
                    ],
                )
                .await
        }
    });
    let pages = futures_util::future::join_all(guesses).await;
    let statuses: Vec<u16> = pages.iter().map(|p| p.status).collect();
    // Exactly 3 guesses reach the password check: the first two get "invalid" (200), the third
    // locks the name (429); the other 37 are refused before any hashing (429).
    let checked_and_not_locked = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(
        checked_and_not_locked, 2,
        "password guesses checked past a lockout of 3: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 38);
    for page in pages.iter().filter(|p| p.status == 429) {
        assert_eq!(
            element_text(&page.body, "error").unwrap(),
            "Too many failed sign-in attempts. Please wait a few minutes and try again."
        );
    }
    // The counters agree: the name is locked, the address (limit 50) is not.
    let failed = &stack.state.account.failed_logins;
    assert!(failed.is_locked(&LockoutKey::user("alice")).await.unwrap());
    let here = LockoutKey::ip(std::net::IpAddr::from([127, 0, 0, 1]));
    assert!(!failed.is_locked(&here).await.unwrap());
    let right = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(
        right.status, 429,
        "even the right password waits for the lockout"
    );
}

/// Takes every Argon2id permit of the server, as a flood of hashes would.
async fn hold_every_hash_permit(stack: &super::Stack) -> tokio::sync::OwnedSemaphorePermit {
    let permits = stack.state.hash_permits.clone();
    let all = u32::try_from(permits.available_permits()).unwrap();
    permits.acquire_many_owned(all).await.unwrap()
}

#[tokio::test]
async fn a_login_while_every_hash_permit_is_taken_gets_the_busy_page_and_counts_no_failure() {
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_user = 1;
        s.account.lockout.max_failures_per_ip = 1;
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let held = hold_every_hash_permit(&stack).await;
    let busy = stack
        .submit_password(&browser, &ar, "alice", "wrong-guess", false)
        .await;
    assert_eq!(busy.status, 503);
    assert_eq!(
        element_text(&busy.body, "error").unwrap(),
        "The server is busy. Please try again in a moment."
    );
    assert_eq!(busy.headers.get("retry-after").unwrap(), "5");
    assert!(busy.location.is_none() && busy.set_cookie(SESSION_COOKIE).is_none());
    drop(held);
    // Neither the name nor the address counted the unchecked attempt (both limits are 1).
    let ok = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
}
