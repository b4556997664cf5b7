//! The email proof before a first enrollment (`account.first_enrollment`): the attack it stops
//! (a password thief enrolling their own authenticator for an account that has none), its
//! limits, and the weaker `"password"` policy.

use identity_server::account::FirstEnrollment;
use identity_server::configuration::Settings;
use identity_server::signin::SESSION_COOKIE;

use super::{Browser, Page, Stack, code_of, input_value, spawn, spawn_with};
use crate::helpers::ALICE;

/// A code that is not the one sent (same length, every digit changed).
fn not_the_code(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect()
}

/// Password step of alice's first login; asserts it lands on the email proof.
async fn to_email_proof(stack: &Stack, browser: &Browser) -> (String, Page) {
    let ar = stack.authorize(browser).await;
    let answer = stack.post_password(browser, &ar, "alice", "alice").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location(), stack.url("/Account/EmailProof"));
    let page = browser.get(&stack.url("/Account/EmailProof")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    (ar, page)
}

async fn alice_authenticators(stack: &Stack) -> usize {
    stack
        .state
        .account
        .authsignal
        .get_authenticators(ALICE)
        .await
        .unwrap()
        .len()
}

fn with_user_without_email(settings: &mut Settings) {
    let mut carol = settings.users[0].clone();
    carol.subject = "c0c0c0c0-0000-4000-8000-00000000ca01".into();
    carol.username = "carol".into();
    carol.claims.email = None;
    carol.claims.email_verified = None;
    settings.users.push(carol);
}

#[tokio::test]
async fn a_password_thief_cannot_reach_the_hosted_enrollment_of_an_account_without_an_authenticator()
 {
    let stack = spawn().await;
    let thief = Browser::new();
    let (ar, mut page) = to_email_proof(&stack, &thief).await;
    assert!(page.shows("A•••@example.com"), "{}", page.body);
    assert!(
        !page.body.contains("AliceSmith@example.com"),
        "the page does not reveal the address"
    );
    let sent = stack
        .emulator
        .latest_code_for("AliceSmith@example.com")
        .expect("the code went to alice's address");

    // The thief does not read alice's email: every guess fails, and none leads anywhere near
    // the hosted enrollment.
    for attempt in 1..=5 {
        let answer = stack
            .submit_email_code(&thief, &page, &not_the_code(&sent))
            .await;
        if attempt < 5 {
            assert_eq!(answer.status, 200, "attempt {attempt}: {}", answer.body);
            assert!(answer.shows("That code is not right"), "{}", answer.body);
            page = answer;
        } else {
            assert_eq!(answer.status, 303);
            assert!(
                answer.location().contains("/Account/Login?ar=")
                    && answer.location().contains("notice=mfa_attempts"),
                "{}",
                answer.location()
            );
            assert!(answer.location().contains(&ar));
        }
    }
    assert_eq!(
        alice_authenticators(&stack).await,
        0,
        "nothing was enrolled"
    );
    assert!(!thief.has_cookie(&stack.idp, SESSION_COOKIE));
    // The proof is over: its page shows nothing to continue.
    let again = thief.get(&stack.url("/Account/EmailProof")).await;
    assert_eq!(again.status, 303);
    assert!(again.location().contains("/Account/Notice?reason=expired"));
}

#[tokio::test]
async fn the_code_from_the_accounts_email_leads_to_the_enrollment_and_a_sign_in_claiming_mfa() {
    let stack = spawn().await;
    let browser = Browser::new();
    let (_, page) = to_email_proof(&stack, &browser).await;
    let code = stack
        .emulator
        .latest_code_for("AliceSmith@example.com")
        .unwrap();
    // Pasted with a space in the middle, as people do.
    let pasted = format!("{} {}", &code[..3], &code[3..]);
    let answer = stack.submit_email_code(&browser, &page, &pasted).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(
        answer
            .location()
            .starts_with(&format!("{}/challenge?token=", stack.emulator_url)),
        "{}",
        answer.location()
    );
    let callback = stack
        .pass_second_factor(&browser, answer.location(), "alice")
        .await;
    let signed_in = browser.get(&callback).await;
    let claims = stack.id_token_claims(&code_of(&signed_in)).await;
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa", "otp"]));
    assert_eq!(alice_authenticators(&stack).await, 1);
}

#[tokio::test]
async fn under_the_password_policy_the_first_enrollment_needs_no_email_and_claims_no_mfa() {
    let stack = spawn_with(|s| s.account.first_enrollment = FirstEnrollment::Password).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let answer = stack.post_password(&browser, &ar, "alice", "alice").await;
    assert!(
        answer.location().starts_with(&stack.emulator_url),
        "straight to the hosted enrollment: {}",
        answer.location()
    );
    assert!(
        stack
            .emulator
            .latest_code_for("AliceSmith@example.com")
            .is_none(),
        "no email was sent"
    );
    let callback = stack
        .pass_second_factor(&browser, answer.location(), "alice")
        .await;
    let claims = stack
        .id_token_claims(&code_of(&browser.get(&callback).await))
        .await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd"]),
        "a factor enrolled with the password alone proves nothing more"
    );

    // The next login challenges the enrolled authenticator: now it is a second factor.
    let next = Browser::new();
    let page = stack.sign_in(&next, "alice", "alice").await;
    let claims = stack.id_token_claims(&code_of(&page)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa", "otp"]));
}

#[tokio::test]
async fn an_account_without_email_enrolls_with_the_password_alone_and_claims_no_mfa() {
    let stack = spawn_with(with_user_without_email).await;
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let answer = stack.post_password(&browser, &ar, "carol", "alice").await;
    assert!(
        answer.location().starts_with(&stack.emulator_url),
        "{} {}",
        answer.status,
        answer.body
    );
    let callback = stack
        .pass_second_factor(&browser, answer.location(), "carol")
        .await;
    let claims = stack
        .id_token_claims(&code_of(&browser.get(&callback).await))
        .await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

#[tokio::test]
async fn wrong_email_codes_count_against_the_username_lockout() {
    let stack = spawn_with(|s| s.account.lockout.max_failures_per_user = 3).await;
    let browser = Browser::new();
    let (_, mut page) = to_email_proof(&stack, &browser).await;
    let sent = stack
        .emulator
        .latest_code_for("AliceSmith@example.com")
        .unwrap();
    let mut last = None;
    for _ in 0..3 {
        let answer = stack
            .submit_email_code(&browser, &page, &not_the_code(&sent))
            .await;
        if answer.status == 200 {
            page = answer;
        } else {
            last = Some(answer);
            break;
        }
    }
    let last = last.expect("the third wrong code ends the sign-in");
    assert!(last.location().contains("notice=mfa_attempts"));
    // alice is locked now: even the right password is refused.
    let other = Browser::new();
    let ar = stack.authorize(&other).await;
    let refused = stack.post_password(&other, &ar, "alice", "alice").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
}

#[tokio::test]
async fn parallel_codes_on_one_email_proof_are_checked_at_most_once() {
    let stack = spawn().await;
    let browser = Browser::new();
    let (_, page) = to_email_proof(&stack, &browser).await;
    let sent = stack
        .emulator
        .latest_code_for("AliceSmith@example.com")
        .unwrap();
    let wrong = not_the_code(&sent);
    let answers = futures_util::future::join_all(
        (0..10).map(|_| stack.submit_email_code(&browser, &page, &wrong)),
    )
    .await;
    let checked = answers.iter().filter(|a| a.status == 200).count();
    let gone = answers
        .iter()
        .filter(|a| {
            a.status == 303
                && a.location
                    .as_deref()
                    .is_some_and(|l| l.contains("/Account/Notice?reason=expired"))
        })
        .count();
    assert_eq!(checked, 1, "one submission holds the proof");
    assert_eq!(gone, 9, "the others find it taken");
}

#[tokio::test]
async fn a_new_code_is_not_sent_within_the_wait_after_the_last_one() {
    let stack = spawn().await;
    let browser = Browser::new();
    let (_, page) = to_email_proof(&stack, &browser).await;
    let before = stack.emulator.outbox().len();
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let answer = browser
        .post(
            &stack.url("/Account/EmailProof"),
            &[("csrf_token", csrf.as_str()), ("button", "resend")],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.shows("You can ask for a new one in"),
        "{}",
        answer.body
    );
    assert_eq!(
        stack.emulator.outbox().len(),
        before,
        "no email within the wait"
    );
}

#[tokio::test]
async fn the_email_proof_form_refuses_a_missing_csrf_token_and_keeps_the_proof() {
    let stack = spawn().await;
    let browser = Browser::new();
    let (_, page) = to_email_proof(&stack, &browser).await;
    let code = stack
        .emulator
        .latest_code_for("AliceSmith@example.com")
        .unwrap();
    let refused = browser
        .post(
            &stack.url("/Account/EmailProof"),
            &[("code", code.as_str()), ("button", "verify")],
        )
        .await;
    assert_eq!(refused.status, 403);
    // The proof was not consumed: the right code with the form's token still works.
    let answer = stack.submit_email_code(&browser, &page, &code).await;
    assert!(
        answer.location().starts_with(&stack.emulator_url),
        "{} {}",
        answer.status,
        answer.body
    );
}

#[tokio::test]
async fn an_email_proof_cannot_be_finished_at_the_login_callback() {
    let stack = spawn().await;
    let browser = Browser::new();
    to_email_proof(&stack, &browser).await;
    let answer = browser
        .get(&stack.url("/Account/Login/Callback?token=forged"))
        .await;
    assert_eq!(answer.status, 303);
    assert!(answer.location().contains("/Account/Notice?reason=expired"));
    assert!(!browser.has_cookie(&stack.idp, SESSION_COOKIE));
    assert_eq!(alice_authenticators(&stack).await, 0);
}

#[tokio::test]
async fn cancelling_the_email_proof_answers_the_client_with_access_denied() {
    let stack = spawn().await;
    let browser = Browser::new();
    let (_, page) = to_email_proof(&stack, &browser).await;
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let answer = browser
        .post(
            &stack.url("/Account/EmailProof"),
            &[("csrf_token", csrf.as_str()), ("button", "cancel")],
        )
        .await;
    assert_eq!(answer.status, 303);
    assert!(
        answer.location().contains("error=access_denied"),
        "{}",
        answer.location()
    );
}

#[tokio::test]
async fn a_second_first_login_moments_after_the_first_is_told_a_code_was_just_sent() {
    let stack = spawn().await;
    to_email_proof(&stack, &Browser::new()).await;
    // Another browser, right away: the tenant holds back a second code to the same address.
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let answer = stack.post_password(&browser, &ar, "alice", "alice").await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert!(answer.shows("A code was sent to your email address moments ago"));
}

#[tokio::test]
async fn an_email_proof_counts_against_the_accounts_second_factor_budget() {
    let stack = spawn_with(|s| {
        s.account.second_factor.max_unsuccessful_challenges = 1;
    })
    .await;
    // One abandoned proof uses up the budget of one ...
    to_email_proof(&stack, &Browser::new()).await;
    // ... so the next login with the password is refused before any code is sent.
    let before = stack.emulator.outbox().len();
    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let answer = stack.post_password(&browser, &ar, "alice", "alice").await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert!(answer.shows("Please wait"), "{}", answer.body);
    assert_eq!(stack.emulator.outbox().len(), before, "no email was sent");
}
