//! Failed logins are counted per username and per client address, with a lockout; unknown users
//! and wrong passwords look the same.

use identity_server::signin::SESSION_COOKIE;

use super::{Browser, element_text, spawn, spawn_with};

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
