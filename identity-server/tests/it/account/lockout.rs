//! Failed logins (wrong passwords and failed second factors) are counted per username and per
//! client address, with a lockout that parallel guesses cannot outrun; unknown users and wrong
//! passwords look the same; only a complete sign-in forgets a username's failures.

use authsignal_emulator::Outcome;
use identity_server::account::lockout::LockoutKey;
use identity_server::signin::SESSION_COOKIE;

use super::{ACTION, Browser, Page, code_of, element_text, input_value, spawn, spawn_with};
use crate::helpers::query_param;

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
async fn a_username_is_locked_after_repeated_failures_even_with_the_right_password_and_told_for_how_long()
 {
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_user = 3;
        s.account.lockout.lockout_secs = 120;
    })
    .await;
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
        "Too many failed sign-in attempts. Please wait 2 minutes and try again.",
        "the configured lockout, in words"
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

/// Posts the login form of `page` (its hidden fields carried, as a browser does) with
/// `username` and `password`.
async fn post_the_form(
    stack: &super::Stack,
    browser: &Browser,
    page: &Page,
    username: &str,
    password: &str,
) -> Page {
    let hidden = |name: &str| input_value(&page.body, name).unwrap_or_default();
    let (csrf, ar) = (hidden("csrf_token"), hidden("ar"));
    let (failures, failures_for) = (hidden("failures"), hidden("failures_for"));
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("ar", ar.as_str()),
        ("username", username),
        ("password", password),
        ("button", "login"),
    ];
    if !failures.is_empty() {
        form.push(("failures", failures.as_str()));
        form.push(("failures_for", failures_for.as_str()));
    }
    browser.post(&stack.url("/Account/Login"), &form).await
}

const WARNING: &str = "Invalid username or password. 1 attempt left: after one more failure, \
                       sign-in with this username is paused for 2 minutes.";

#[tokio::test]
async fn the_failure_before_the_last_attempt_warns_alike_for_an_existing_and_an_unknown_username() {
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_user = 4;
        s.account.lockout.lockout_secs = 120;
    })
    .await;
    let mut seen = Vec::new();
    for username in ["alice", "nobody-here"] {
        let browser = Browser::new();
        let ar = stack.authorize(&browser).await;
        let mut page = stack.login_page(&browser, &ar).await;
        let mut messages = Vec::new();
        for _ in 0..4 {
            page = post_the_form(&stack, &browser, &page, username, "wrong-guess").await;
            messages.push((page.status, element_text(&page.body, "error").unwrap()));
        }
        let plain = (200, "Invalid username or password.".to_owned());
        assert_eq!(messages[0], plain, "{username}");
        assert_eq!(messages[1], plain, "{username}: two attempts are left");
        assert_eq!(
            messages[2],
            (200, WARNING.to_owned()),
            "{username}: the third failure leaves one attempt"
        );
        assert_eq!(messages[3].0, 429, "{username}: the fourth locks");
        seen.push(messages);
    }
    assert_eq!(
        seen[0], seen[1],
        "an existing and an unknown username read exactly alike"
    );
}

#[tokio::test]
async fn the_last_attempt_warning_does_not_tell_whether_the_owner_signed_in_meanwhile() {
    // The owner's sign-in resets the username's counter; a guesser who could see that would
    // learn the account exists and is used. The warning counts this form's failures only.
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_user = 4;
        s.account.lockout.lockout_secs = 120;
    })
    .await;
    let mut answers = Vec::new();
    for owner_signs_in in [false, true] {
        let guesser = Browser::new();
        let ar = stack.authorize(&guesser).await;
        let mut page = stack.login_page(&guesser, &ar).await;
        for _ in 0..2 {
            page = post_the_form(&stack, &guesser, &page, "bob", "wrong-guess").await;
        }
        if owner_signs_in {
            stack.sign_in(&Browser::new(), "bob", "bob").await;
        }
        page = post_the_form(&stack, &guesser, &page, "bob", "wrong-guess").await;
        answers.push((page.status, element_text(&page.body, "error").unwrap()));
        // The next round starts from a clean counter.
        stack
            .state
            .account
            .failed_logins
            .reset(&LockoutKey::user("bob"))
            .await
            .unwrap();
    }
    assert_eq!(answers[0], (200, WARNING.to_owned()));
    assert_eq!(answers[1], answers[0], "the owner's sign-in is not visible");
}

#[tokio::test]
async fn another_username_in_the_same_form_starts_its_count_again() {
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_user = 4;
        s.account.lockout.lockout_secs = 120;
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let mut page = stack.login_page(&browser, &ar).await;
    for _ in 0..2 {
        page = post_the_form(&stack, &browser, &page, "alice", "wrong-guess").await;
    }
    page = post_the_form(&stack, &browser, &page, " Bob ", "wrong-guess").await;
    assert_eq!(
        element_text(&page.body, "error").unwrap(),
        "Invalid username or password.",
        "bob's first failure in this form"
    );
    page = post_the_form(&stack, &browser, &page, "bob", "wrong-guess").await;
    page = post_the_form(&stack, &browser, &page, "BOB", "wrong-guess").await;
    assert_eq!(
        element_text(&page.body, "error").unwrap(),
        WARNING,
        "case and spaces are the same username"
    );
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
async fn a_complete_sign_in_resets_the_username_counter() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 3).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for _ in 0..2 {
        stack
            .submit_password(&browser, &ar, "alice", "wrong", false)
            .await;
    }
    // Password and second factor, in another browser.
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    for _ in 0..2 {
        let page = stack
            .submit_password(&browser, &ar, "alice", "wrong", false)
            .await;
        assert_eq!(page.status, 200);
    }
}

#[tokio::test]
async fn the_right_password_alone_does_not_reset_the_username_counter() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 3).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for _ in 0..2 {
        stack
            .submit_password(&browser, &ar, "alice", "wrong", false)
            .await;
    }
    // The password is right, but the second factor is never completed.
    stack
        .password_to_challenge(&Browser::new(), &ar, "alice", "alice")
        .await;
    let page = stack
        .submit_password(&browser, &ar, "alice", "wrong", false)
        .await;
    assert_eq!(page.status, 429, "the third failure locks");
}

#[tokio::test]
async fn a_password_only_sign_in_allowed_by_authsignal_resets_the_username_counter() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 3).await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    stack.emulator.set_action_outcome(ACTION, Outcome::Allow);
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    for _ in 0..2 {
        stack
            .submit_password(&browser, &ar, "alice", "wrong", false)
            .await;
    }
    let allowed = stack
        .submit_password(&Browser::new(), &ar, "alice", "alice", false)
        .await;
    assert_eq!(allowed.status, 303);
    code_of(&allowed);
    let ar = stack.authorize(&browser).await;
    for _ in 0..2 {
        let page = stack
            .submit_password(&browser, &ar, "alice", "wrong", false)
            .await;
        assert_eq!(page.status, 200);
    }
}

/// The password step, then the callback with the challenge's own token, as if the challenge had
/// been passed (it was not): the second factor fails.
async fn skip_the_second_factor(stack: &super::Stack, browser: &Browser, username: &str) -> Page {
    let ar = stack.authorize(browser).await;
    let challenge = stack
        .password_to_challenge(browser, &ar, username, username)
        .await;
    let token = query_param(&challenge, "token").unwrap();
    let page = browser
        .get(&format!(
            "{}?token={token}",
            stack.url("/Account/Login/Callback")
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        query_param(page.location(), "notice").as_deref(),
        Some("mfa_failed")
    );
    page
}

#[tokio::test]
async fn failed_second_factors_count_towards_the_username_lockout() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 2).await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    stack.sign_in(&Browser::new(), "bob", "bob").await;
    let browser = Browser::new();
    for _ in 0..2 {
        skip_the_second_factor(&stack, &browser, "alice").await;
    }
    let ar = stack.authorize(&browser).await;
    let locked = stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.location.is_none(), "no new challenge while locked");
    let failed = &stack.state.account.failed_logins;
    assert!(failed.is_locked(&LockoutKey::user("alice")).await.unwrap());
    // Bob is not affected.
    let bob = stack
        .password_to_challenge(&Browser::new(), &ar, "bob", "bob")
        .await;
    assert!(bob.starts_with(&stack.emulator_url));
}

#[tokio::test]
async fn an_authsignal_outage_at_the_callback_counts_no_failure() {
    let stack = spawn_with(|s| {
        s.account.authsignal.connect_timeout_ms = 500;
        s.account.lockout.max_failures_per_user = 1;
        s.account.lockout.max_failures_per_ip = 1;
    })
    .await;
    let browser = Browser::new();
    let (_, callback) = stack.until_callback(&browser, "alice", "alice").await;
    stack.stop_emulator().await;
    let answer = browser.get(&callback).await;
    assert_eq!(
        query_param(answer.location(), "notice").as_deref(),
        Some("mfa_unavailable")
    );
    let failed = &stack.state.account.failed_logins;
    assert!(!failed.is_locked(&LockoutKey::user("alice")).await.unwrap());
    let here = LockoutKey::ip(std::net::IpAddr::from([127, 0, 0, 1]));
    assert!(!failed.is_locked(&here).await.unwrap());
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
            "Too many failed sign-in attempts. Please wait 15 minutes and try again."
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
    let permits = stack.state.hashing.permits().clone();
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

/// One password POST with the CSRF token of `browser`'s login page, as a task of its own.
fn post_login(
    stack: &super::Stack,
    browser: &Browser,
    csrf: &str,
    ar: &str,
    username: &str,
    password: &str,
) -> tokio::task::JoinHandle<(String, u16, Option<String>)> {
    let (client, url) = (browser.client.clone(), stack.url("/Account/Login"));
    let form = [
        ("csrf_token", csrf.to_owned()),
        ("ar", ar.to_owned()),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
        ("button", "login".to_owned()),
    ];
    let username = username.to_owned();
    tokio::spawn(async move {
        let response = client.post(&url).form(&form).send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (username, status, location)
    })
}

/// Holds every hashing permit while `requests` are sent, so that all of them are in flight at
/// once (reserved, waiting for a hash), then lets them run and collects the answers. The hold
/// stays well inside the 2 s permit wait.
async fn all_in_flight_at_once(
    stack: &super::Stack,
    send: impl FnOnce() -> Vec<tokio::task::JoinHandle<(String, u16, Option<String>)>>,
) -> Vec<(String, u16, Option<String>)> {
    let held = hold_every_hash_permit(stack).await;
    let tasks = send();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    drop(held);
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn configured_user(subject: &str, username: &str) -> identity_server::configuration::UserConfig {
    identity_server::configuration::UserConfig {
        subject: subject.into(),
        username: username.into(),
        password_hash: None,
        password: Some(identity_server::domain::Secret::new(format!(
            "{username}-password"
        ))),
        claims: Default::default(),
    }
}

#[tokio::test]
async fn right_passwords_in_parallel_from_one_address_all_pass_while_another_account_is_guessed_from_it()
 {
    // Nine right-password logins (three users, three each) and twenty guesses at alice, all in
    // flight at once from 127.0.0.1, whose limit is six failures. Counting attempts in flight
    // against the address would refuse at least three of the right ones.
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_user = 3;
        s.account.lockout.max_failures_per_ip = 6;
        // Three parallel first logins of one account would race for one email proof code (one
        // per address per 30 s): this test is about the lockout, so straight to the hosted step.
        s.account.first_enrollment = identity_server::account::FirstEnrollment::Password;
        s.users.push(configured_user("carol-subject", "carol"));
        s.users.push(configured_user("dave-subject", "dave"));
    })
    .await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let csrf = input_value(&stack.login_page(&browser, &ar).await.body, "csrf_token").unwrap();
    let answers = all_in_flight_at_once(&stack, || {
        let mut tasks = Vec::new();
        for i in 0..20 {
            tasks.push(post_login(
                &stack,
                &browser,
                &csrf,
                &ar,
                "alice",
                &format!("guess-{i}"),
            ));
        }
        for _ in 0..3 {
            tasks.push(post_login(&stack, &browser, &csrf, &ar, "bob", "bob"));
            for user in ["carol", "dave"] {
                let password = format!("{user}-password");
                tasks.push(post_login(&stack, &browser, &csrf, &ar, user, &password));
            }
        }
        tasks
    })
    .await;

    let (guesses, right): (Vec<_>, Vec<_>) = answers.into_iter().partition(|a| a.0 == "alice");
    let statuses: Vec<(&str, u16)> = right.iter().map(|(u, s, _)| (u.as_str(), *s)).collect();
    for (user, status, location) in &right {
        assert_eq!(
            *status, 303,
            "{user}'s right password was refused: {statuses:?}"
        );
        assert!(
            location.as_deref().is_some_and(
                |l| l.starts_with(&stack.emulator_url) || l.ends_with("/Account/EmailProof")
            ),
            "{user} goes on to the second factor (or the email proof before it): {location:?}"
        );
    }
    // Alice's lockout held: exactly three guesses were checked (two "invalid", the third locks).
    let guessed: Vec<u16> = guesses.iter().map(|g| g.1).collect();
    assert_eq!(
        guessed.iter().filter(|s| **s == 200).count(),
        2,
        "{guessed:?}"
    );
    assert_eq!(
        guessed.iter().filter(|s| **s == 429).count(),
        18,
        "{guessed:?}"
    );
    let failed = &stack.state.account.failed_logins;
    assert!(failed.is_locked(&LockoutKey::user("alice")).await.unwrap());
    let here = LockoutKey::ip(std::net::IpAddr::from([127, 0, 0, 1]));
    assert!(
        !failed.is_locked(&here).await.unwrap(),
        "three failures do not lock the address"
    );
}

/// A browser whose connections come from `ip` (any 127.0.0.0/8 address reaches the server).
fn browser_from(ip: std::net::IpAddr) -> Browser {
    let ca =
        reqwest::Certificate::from_pem(crate::helpers::test_tls().ca_pem().as_bytes()).unwrap();
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip)
        .build()
        .unwrap();
    Browser { client, jar }
}

#[tokio::test]
async fn parallel_guesses_at_one_account_from_many_addresses_cannot_pass_its_lockout() {
    // The addresses' limit is far away: only the account's reservation can hold the line.
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_user = 3;
        s.account.lockout.max_failures_per_ip = 1000;
    })
    .await;
    let mut attackers = Vec::new();
    for last in 2..12u8 {
        let browser = browser_from(std::net::IpAddr::from([127, 0, 0, last]));
        let ar = stack.authorize(&browser).await;
        let csrf = input_value(&stack.login_page(&browser, &ar).await.body, "csrf_token").unwrap();
        attackers.push((browser, ar, csrf));
    }
    let answers = all_in_flight_at_once(&stack, || {
        let mut tasks = Vec::new();
        for (n, (browser, ar, csrf)) in attackers.iter().enumerate() {
            for i in 0..4 {
                let guess = format!("guess-{n}-{i}");
                tasks.push(post_login(&stack, browser, csrf, ar, "alice", &guess));
            }
        }
        tasks
    })
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.1).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "guesses checked past a lockout of 3: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 38);
    let failed = &stack.state.account.failed_logins;
    assert!(failed.is_locked(&LockoutKey::user("alice")).await.unwrap());
    let (browser, ar, _) = &attackers[0];
    let right = stack
        .submit_password(browser, ar, "alice", "alice", false)
        .await;
    assert_eq!(
        right.status, 429,
        "the right password waits for the lockout"
    );
}
