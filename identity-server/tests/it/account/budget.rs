//! The second-factor budget per account: an attacker who holds the password cannot start
//! challenge after challenge (each with its own allowance of wrong codes). Every challenge
//! started counts until it passes; parallel logins cannot start more than the budget; waiting
//! out a block does not refill it, and the next block is longer.

use identity_server::configuration::Settings;

use super::{Browser, Page, Stack, element_text, spawn_with};

/// The budget settings of these tests, with a username lockout out of the way (the password is
/// right every time, but parallel checks are reserved against it).
fn budget(s: &mut Settings, max: u32, window_secs: u64, first_block_secs: u64) {
    s.account.lockout.max_failures_per_user = 1000;
    s.account.second_factor.max_unsuccessful_challenges = max;
    s.account.second_factor.window_secs = window_secs;
    s.account.second_factor.first_block_secs = first_block_secs;
    s.account.second_factor.max_block_secs = 3600;
}

/// The message of the refusal while the second factor is blocked for `wait` (in words).
fn blocked_for(wait: &str) -> String {
    format!(
        "Too many unfinished or failed verifications for this account. Please wait {wait} and try again."
    )
}

/// Enrolls alice's authenticator app (an enrollment counts against no budget).
async fn enroll_alice(stack: &Stack) {
    stack.sign_in(&Browser::new(), "alice", "alice").await;
}

/// A login with alice's password in a fresh browser: the answer of the password form.
async fn password_step(stack: &Stack) -> Page {
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    stack
        .submit_password(&browser, &ar, "alice", "alice", false)
        .await
}

/// Whether the answer sent the browser to a challenge at the emulator.
fn started_a_challenge(stack: &Stack, page: &Page) -> bool {
    page.status == 303 && page.location().starts_with(&stack.emulator_url)
}

/// Asserts that the answer is the refusal of a blocked second factor, waiting one of `waits`.
fn assert_blocked(page: &Page, waits: &[&str]) {
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.location.is_none(), "no challenge while blocked");
    let message = element_text(&page.body, "error").expect("the refusal names the wait");
    assert!(
        waits.iter().any(|w| message == blocked_for(w)),
        "{message:?}, expected a wait of one of {waits:?}"
    );
}

#[tokio::test]
async fn twenty_parallel_logins_with_the_password_start_no_more_challenges_than_the_budget() {
    let stack = spawn_with(|s| budget(s, 5, 3600, 900)).await;
    enroll_alice(&stack).await;

    let logins = (0..20).map(|_| password_step(&stack));
    let pages = futures_util::future::join_all(logins).await;
    let started = pages
        .iter()
        .filter(|p| started_a_challenge(&stack, p))
        .count();
    let blocked: Vec<&Page> = pages.iter().filter(|p| p.status == 429).collect();
    // A login the server was too busy to check (503) starts nothing and counts for nothing.
    let busy = pages.iter().filter(|p| p.status == 503).count();
    assert_eq!(
        started + blocked.len() + busy,
        20,
        "only those three answers"
    );
    assert!(started <= 5, "{started} challenges started");
    for page in blocked {
        assert_blocked(page, &["15 minutes"]);
    }
    // Logins one after the other take what the flood left of the budget, and not one more.
    let mut total = started;
    loop {
        let page = password_step(&stack).await;
        if started_a_challenge(&stack, &page) {
            total += 1;
            assert!(total <= 5, "a sixth challenge started");
            continue;
        }
        assert_blocked(&page, &["15 minutes"]);
        break;
    }
    assert_eq!(total, 5, "exactly the budget of challenges started");

    // The refusal comes only after the right password: a wrong one gets the usual answer.
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let wrong = stack
        .submit_password(&browser, &ar, "alice", "not-her-password", false)
        .await;
    assert_eq!(wrong.status, 200);
    assert_eq!(
        element_text(&wrong.body, "error").as_deref(),
        Some("Invalid username or password.")
    );
    // Another account is not blocked by alice's budget.
    let bob = Browser::new();
    let ar = stack.authorize(&bob).await;
    let page = stack.submit_password(&bob, &ar, "bob", "bob", false).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

#[tokio::test]
async fn after_a_block_and_a_window_the_budget_does_not_refill_to_unlimited_and_the_next_block_is_longer()
 {
    // Two challenges per 6 s window; blocks of 2 s, 4 s, 8 s (stores count whole seconds; the
    // waits accepted allow for up to two seconds of a loaded machine between the block's start
    // and the page, and still tell the three blocks apart).
    let stack = spawn_with(|s| budget(s, 2, 6, 2)).await;
    enroll_alice(&stack).await;

    assert!(started_a_challenge(&stack, &password_step(&stack).await));
    // The second challenge uses up the budget: the first block begins.
    assert!(started_a_challenge(&stack, &password_step(&stack).await));
    assert_blocked(&password_step(&stack).await, &["2 seconds", "1 second"]);

    // Waiting out the block buys one challenge, which begins a block twice as long.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(started_a_challenge(&stack, &password_step(&stack).await));
    assert_blocked(
        &password_step(&stack).await,
        &["4 seconds", "3 seconds", "2 seconds"],
    );

    // A whole window after that block: the budget is back, but not the first block's length.
    tokio::time::sleep(std::time::Duration::from_millis(4000 + 6000 + 1100)).await;
    assert!(started_a_challenge(&stack, &password_step(&stack).await));
    assert!(started_a_challenge(&stack, &password_step(&stack).await));
    assert_blocked(
        &password_step(&stack).await,
        &["8 seconds", "7 seconds", "6 seconds"],
    );
}

#[tokio::test]
async fn a_challenge_that_passes_is_forgiven_and_abandoned_ones_still_count() {
    let stack = spawn_with(|s| budget(s, 2, 3600, 900)).await;
    enroll_alice(&stack).await;

    // Three complete sign-ins in a row: without forgiveness the second would have used up the
    // budget and the third been refused.
    for _ in 0..3 {
        stack.sign_in(&Browser::new(), "alice", "alice").await;
    }
    // Two challenges abandoned (wrong codes the identity server never sees): blocked.
    assert!(started_a_challenge(&stack, &password_step(&stack).await));
    assert!(started_a_challenge(&stack, &password_step(&stack).await));
    assert_blocked(&password_step(&stack).await, &["15 minutes"]);
}
