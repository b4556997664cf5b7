//! Issue 15, item 2: security notices to the account's email. The identity server decides and
//! renders them, its worker posts them to the emulator's dev outbox (`POST /dev/notices`), and
//! these tests read them there, as a person would read their mail.

use std::time::Duration;

use authsignal_emulator::OutboxNotice;
use authsignal_sdk::{EnrollVerifiedAuthenticatorRequest, VerificationMethod};
use identity_server::notices::{NoticeCounters, TransportKind};

use super::manage_mfa::{add_email_and_leave, add_email_at_the_settings, alices_settings};
use super::{Browser, Stack, input_value, silent_server, spawn, spawn_with, spawn_with_emulator};
use crate::helpers::{REDIRECT, query_param};

/// The notices of one kind.
fn of_kind<'a>(notices: &'a [OutboxNotice], kind: &str) -> Vec<&'a OutboxNotice> {
    notices.iter().filter(|n| n.kind == kind).collect()
}

/// A second sign-in of alice in `browser` (it holds a session: `prompt=login` asks again).
async fn sign_in_again(stack: &Stack, browser: &Browser) {
    let page = browser
        .get(&format!("{}&prompt=login", stack.authorize_url()))
        .await;
    let ar = query_param(page.location(), "ar").unwrap();
    let challenge = stack
        .password_to_challenge(browser, &ar, "alice", "alice")
        .await;
    let callback = stack.pass_second_factor(browser, &challenge, "alice").await;
    let done = browser.get(&callback).await;
    assert!(done.location().starts_with(REDIRECT), "{}", done.location());
}

async fn alice_subject(stack: &Stack) -> String {
    stack
        .state
        .users
        .find_by_username("alice")
        .await
        .unwrap()
        .unwrap()
        .subject
}

#[tokio::test]
async fn a_first_enrollment_tells_the_accounts_email_of_the_authenticator_added_and_not_of_a_new_browser()
 {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;

    let notices = stack.notices_to("alice").await;
    let added = of_kind(&notices, "authenticator-added");
    assert_eq!(added.len(), 1, "{notices:?}");
    assert_eq!(added[0].subject, "Authenticator app added to your account");
    assert!(
        added[0].text.starts_with("Hello alice,"),
        "{}",
        added[0].text
    );
    assert!(
        added[0]
            .text
            .contains(&format!("{}/Account/Mfa", stack.idp)),
        "what to do, with the page's absolute URL: {}",
        added[0].text
    );
    assert!(of_kind(&notices, "new-browser").is_empty(), "{notices:?}");
}

#[tokio::test]
async fn a_factor_added_in_manage_mfa_sends_authenticator_added_to_the_accounts_email() {
    let stack = spawn_with_emulator(
        |s| s.account.email_self_service = true,
        |e| e.email_self_service = true,
    )
    .await;
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    let before = of_kind(&stack.notices_to("alice").await, "authenticator-added").len();
    let back =
        add_email_at_the_settings(&stack, &browser, &settings, "alice.other@example.com").await;
    assert_eq!(back.status, 303, "{}", back.body);

    let notices = stack.notices_to("alice").await;
    let added = of_kind(&notices, "authenticator-added");
    assert_eq!(added.len(), before + 1, "{notices:?}");
    assert_eq!(
        added.last().unwrap().subject,
        "Email code added to your account"
    );
    let own = stack.email_of("alice").await;
    assert!(
        notices.iter().all(|n| n.to == own),
        "to the account's own email, not the new factor's address"
    );
}

#[tokio::test]
async fn a_factor_added_in_manage_mfa_is_told_even_when_the_browser_comes_back_without_the_token() {
    for back_without_result in [
        "/Account/Mfa/Callback",
        "/Account/Mfa/Callback?token=garbled",
    ] {
        let stack = spawn_with_emulator(
            |s| s.account.email_self_service = true,
            |e| e.email_self_service = true,
        )
        .await;
        let browser = Browser::new();
        let settings = alices_settings(&stack, &browser).await;
        let before = of_kind(&stack.notices_to("alice").await, "authenticator-added").len();
        add_email_and_leave(&stack, &browser, &settings, "alice.other@example.com").await;
        let back = browser.get(&stack.url(back_without_result)).await;
        assert_eq!(back.status, 303, "{back_without_result}: {}", back.body);
        let added = of_kind(&stack.notices_to("alice").await, "authenticator-added").len();
        assert_eq!(added, before + 1, "{back_without_result}");
    }
}

#[tokio::test]
async fn a_factor_added_after_the_manage_mfa_transaction_was_used_up_is_still_told() {
    let stack = spawn_with_emulator(
        |s| s.account.email_self_service = true,
        |e| e.email_self_service = true,
    )
    .await;
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    let before = of_kind(&stack.notices_to("alice").await, "authenticator-added").len();
    let first = browser.get(&stack.url("/Account/Mfa/Callback")).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let callback =
        add_email_and_leave(&stack, &browser, &settings, "alice.other@example.com").await;
    let back = browser.get(&callback).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let added = of_kind(&stack.notices_to("alice").await, "authenticator-added").len();
    assert_eq!(added, before + 1);
}

#[tokio::test]
async fn a_factor_removed_in_manage_mfa_sends_authenticator_removed() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    let subject = alice_subject(&stack).await;
    let email = stack
        .state
        .account
        .authsignal
        .enroll_verified_authenticator(
            &subject,
            &EnrollVerifiedAuthenticatorRequest {
                email: Some("alice.second@example.com".into()),
                ..EnrollVerifiedAuthenticatorRequest::new(VerificationMethod::EmailOtp)
            },
        )
        .await
        .unwrap();
    let email_id = email.authenticator.user_authenticator_id.clone();

    // Manage MFA in another browser: its sign-in, then the fresh challenge, then the settings.
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    let csrf = input_value(&settings.body, "csrf").unwrap();
    let emulator = |path: &str| format!("{}{path}", stack.emulator_url);
    let remove = browser
        .post(
            &emulator("/settings/remove"),
            &[("csrf", &csrf), ("authenticator_id", &email_id)],
        )
        .await;
    assert_eq!(remove.status, 303, "{}", remove.body);
    let confirm = browser
        .post(
            &emulator("/settings/remove/confirm"),
            &[("csrf", &csrf), ("authenticator_id", &email_id)],
        )
        .await;
    assert_eq!(confirm.status, 303, "{}", confirm.body);
    let done = browser
        .post(&emulator("/settings/done"), &[("csrf", &csrf)])
        .await;
    let back = browser.get(done.location()).await;
    assert!(
        back.location().contains("removed=EMAIL_OTP"),
        "{}",
        back.location()
    );

    let notices = stack.notices_to("alice").await;
    let removed = of_kind(&notices, "authenticator-removed");
    assert_eq!(removed.len(), 1, "{notices:?}");
    assert_eq!(removed[0].subject, "Email code removed from your account");
}

#[tokio::test]
async fn a_sign_in_with_a_recovery_code_sends_the_recovery_code_notice() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    let code = stack
        .recovery_codes("alice")
        .into_iter()
        .next()
        .expect("codes shown");
    assert!(
        of_kind(&stack.notices_to("alice").await, "recovery-code-used").is_empty(),
        "not before one is used"
    );

    let browser = Browser::new();
    let ar = stack.authorize(&browser).await;
    let url = stack
        .password_to_challenge(&browser, &ar, "alice", "alice")
        .await;
    let start = browser.get(&url).await;
    let challenge = browser.follow(&start).await;
    let csrf = input_value(&challenge.body, "csrf").unwrap();
    let emulator = |path: &str| format!("{}{path}", stack.emulator_url);
    let chosen = browser
        .post(
            &emulator("/verify/method"),
            &[("csrf", &csrf), ("method", "RECOVERY_CODE")],
        )
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    let verified = browser
        .post(&emulator("/verify"), &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(verified.status, 303, "{}", verified.body);
    let signed_in = browser.get(verified.location()).await;
    assert!(
        signed_in.location().starts_with(REDIRECT),
        "{}",
        signed_in.location()
    );

    let notices = stack.notices_to("alice").await;
    let used = of_kind(&notices, "recovery-code-used");
    assert_eq!(used.len(), 1, "{notices:?}");
    assert_eq!(used[0].subject, "A recovery code was used");
    assert!(!used[0].text.contains(&code), "the code is not in the mail");
}

#[tokio::test]
async fn the_first_sign_in_from_a_new_browser_sends_the_notice_and_the_second_from_the_same_browser_does_not()
 {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;

    let browser = Browser::new();
    let page = stack.sign_in(&browser, "alice", "alice").await;
    let cookie = page
        .set_cookie("__Host-idsrv.known")
        .expect("the browser is remembered");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let notices = stack.notices_to("alice").await;
    let new = of_kind(&notices, "new-browser");
    assert_eq!(new.len(), 1, "{notices:?}");
    assert_eq!(new[0].subject, "Sign-in from a new browser");
    assert!(new[0].text.contains("Web client"), "{}", new[0].text);
    assert!(
        new[0].text.contains("Address: 127.0.0.1"),
        "{}",
        new[0].text
    );
    assert!(new[0].text.contains("Browser: "), "{}", new[0].text);

    sign_in_again(&stack, &browser).await;
    let notices = stack.notices_to("alice").await;
    assert_eq!(of_kind(&notices, "new-browser").len(), 1, "{notices:?}");

    // Another fresh browser is new again.
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    let notices = stack.notices_to("alice").await;
    assert_eq!(of_kind(&notices, "new-browser").len(), 2, "{notices:?}");
}

#[tokio::test]
async fn the_second_factor_blocked_sends_exactly_one_notice_per_block() {
    let stack = spawn_with(|s| {
        s.account.lockout.max_failures_per_user = 1000;
        s.account.second_factor.max_unsuccessful_challenges = 2;
        s.account.second_factor.first_block_secs = 900;
    })
    .await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    // Password steps in fresh browsers, challenges never finished: the second blocks.
    for i in 0..5 {
        let browser = Browser::new();
        let ar = stack.authorize(&browser).await;
        let page = stack
            .submit_password(&browser, &ar, "alice", "alice", false)
            .await;
        let expected = if i < 2 { 303 } else { 429 };
        assert_eq!(page.status, expected, "login {i}: {}", page.body);
    }
    let notices = stack.notices_to("alice").await;
    let blocked = of_kind(&notices, "second-factor-blocked");
    assert_eq!(blocked.len(), 1, "{notices:?}");
    assert_eq!(blocked[0].subject, "Two-step verification blocked for now");
    assert!(
        blocked[0].text.contains("blocked until "),
        "{}",
        blocked[0].text
    );
}

#[tokio::test]
async fn a_sign_in_voided_because_its_challenge_was_passed_elsewhere_sends_a_notice() {
    let stack = spawn().await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let attacker = Browser::new();
    let ar = stack.authorize(&attacker).await;
    let url = stack
        .password_to_challenge(&attacker, &ar, "alice", "alice")
        .await;
    let victim = Browser::new();
    let callback = stack.pass_second_factor(&victim, &url, "alice").await;
    let voided = victim.get(&callback).await;
    assert_eq!(
        voided.location(),
        stack.url("/Account/Notice?reason=started_elsewhere")
    );

    let notices = stack.notices_to("alice").await;
    let stopped = of_kind(&notices, "sign-in-stopped");
    assert_eq!(stopped.len(), 1, "{notices:?}");
    assert_eq!(stopped[0].subject, "A sign-in to your account was stopped");
}

#[tokio::test]
async fn a_full_notice_queue_drops_notices_without_blocking_the_login() {
    // The outbox never answers: the worker hangs on its first notice, the queue holds one.
    let port = silent_server().await;
    let stack = spawn_with(|s| {
        s.notices.outbox_url = Some(format!("https://localhost:{port}/dev/notices"));
        s.notices.queue_capacity = 1;
        s.notices.max_attempts = 1;
        s.notices.send_timeout_ms = 30_000;
    })
    .await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    for _ in 0..2 {
        // Each completes with its code although no notice can leave.
        stack.sign_in(&Browser::new(), "alice", "alice").await;
    }
    let counters = stack.state.notices.counters();
    assert!(
        NoticeCounters::get(&counters.dropped_queue_full) >= 1,
        "dropped: {}",
        NoticeCounters::get(&counters.dropped_queue_full)
    );
    assert_eq!(NoticeCounters::get(&counters.sent), 0);
    assert!(stack.emulator.notices().is_empty());
}

#[tokio::test]
async fn the_per_account_cap_holds() {
    let stack = spawn_with(|s| s.notices.max_per_account_per_hour = 1).await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    let notices = stack.notices_to("alice").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].kind, "authenticator-added");
    let counters = stack.state.notices.counters();
    assert_eq!(
        NoticeCounters::get(&counters.dropped_cap),
        1,
        "the new browser's notice"
    );
}

#[tokio::test]
async fn with_the_none_transport_nothing_is_sent() {
    let stack = spawn_with(|s| s.notices.transport = Some(TransportKind::None)).await;
    assert_eq!(stack.state.notices.transport(), TransportKind::None);
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    assert!(stack.notices_to("alice").await.is_empty());
    let counters = stack.state.notices.counters();
    assert!(NoticeCounters::get(&counters.not_sent) >= 2);
    assert_eq!(NoticeCounters::get(&counters.queued), 0);
}

#[tokio::test]
async fn the_default_against_the_local_emulator_is_its_outbox() {
    let stack = spawn().await;
    assert_eq!(
        stack.state.notices.transport(),
        TransportKind::EmulatorOutbox
    );
}

/// A small SMTP sink on 127.0.0.1 (plain TCP): accepts every message and keeps its DATA.
async fn smtp_sink() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 2.0.0 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, mails)
}

#[tokio::test]
async fn the_smtp_transport_delivers_a_notice_to_a_mail_server() {
    let (port, mails) = smtp_sink().await;
    let stack = spawn_with(|s| {
        s.notices.transport = Some(TransportKind::Smtp);
        s.notices.smtp = Some(identity_server::notices::transport::SmtpSettings {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: identity_server::notices::transport::SmtpTls::None,
            from: "Identity server <no-reply@localhost>".into(),
            username: None,
            password: None,
            ca_file: None,
        });
    })
    .await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    assert!(
        stack.notices_to("alice").await.is_empty(),
        "not to the emulator"
    );
    let counters = stack.state.notices.counters();
    assert_eq!(NoticeCounters::get(&counters.sent), 1);

    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    let email = stack.email_of("alice").await;
    assert!(mail.contains(&format!("To: {email}")), "{mail}");
    assert!(
        mail.contains("From: \"Identity server\" <no-reply@localhost>")
            || mail.contains("From: Identity server <no-reply@localhost>"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: Authenticator app added to your account"),
        "{mail}"
    );
    assert!(mail.contains("Content-Type: text/plain"), "{mail}");
    assert!(mail.contains("Hello alice,"), "{mail}");
}

#[tokio::test]
async fn plaintext_smtp_to_a_host_that_is_not_loopback_stops_start_up() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(data_dir.path());
    settings.notices.transport = Some(TransportKind::Smtp);
    settings.notices.smtp = Some(identity_server::notices::transport::SmtpSettings {
        host: "mail.example.com".into(),
        port: Some(25),
        tls: identity_server::notices::transport::SmtpTls::None,
        from: "no-reply@example.com".into(),
        username: None,
        password: None,
        ca_file: None,
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = identity_server::startup::Application::build_with(
        settings,
        listener,
        crate::helpers::test_tls().clone(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("notices.smtp.tls"), "{e}");
}

#[tokio::test]
async fn smtp_with_starttls_never_falls_back_to_plaintext() {
    // The sink offers no STARTTLS: the notice is not sent rather than sent in the clear.
    let (port, mails) = smtp_sink().await;
    let stack = spawn_with(|s| {
        s.notices.transport = Some(TransportKind::Smtp);
        s.notices.max_attempts = 1;
        s.notices.smtp = Some(identity_server::notices::transport::SmtpSettings {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: identity_server::notices::transport::SmtpTls::Starttls,
            from: "no-reply@localhost".into(),
            username: None,
            password: None,
            ca_file: None,
        });
    })
    .await;
    stack.sign_in(&Browser::new(), "alice", "alice").await;
    stack.notices_to("alice").await;
    let counters = stack.state.notices.counters();
    assert_eq!(NoticeCounters::get(&counters.sent), 0);
    assert_eq!(NoticeCounters::get(&counters.failed), 1);
    assert!(mails.lock().unwrap().is_empty(), "nothing in the clear");
}

#[tokio::test]
async fn new_recovery_codes_made_in_manage_mfa_send_a_notice() {
    let stack = spawn().await;
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    let csrf = input_value(&settings.body, "csrf").unwrap();
    let emulator = |path: &str| format!("{}{path}", stack.emulator_url);
    let made = browser
        .post(&emulator("/settings/recovery-codes"), &[("csrf", &csrf)])
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let codes = browser.follow(&made).await;
    assert!(
        codes.body.contains("id=\"recovery-codes\""),
        "{}",
        codes.body
    );
    let saved = browser
        .post(
            &emulator("/recovery-codes/continue"),
            &[("csrf", &csrf), ("saved", "yes")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let done = browser
        .post(&emulator("/settings/done"), &[("csrf", &csrf)])
        .await;
    assert!(
        done.location()
            .starts_with(&stack.url("/Account/Mfa/Callback?token=")),
        "{}",
        done.location()
    );
    let back = browser.get(done.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);

    let notices = stack.notices_to("alice").await;
    let regenerated = of_kind(&notices, "recovery-codes-regenerated");
    assert_eq!(regenerated.len(), 1, "{notices:?}");
    assert_eq!(
        regenerated[0].subject,
        "New recovery codes for your account"
    );
    assert!(
        of_kind(&notices, "authenticator-added").len() == 1,
        "only the first enrollment's"
    );
}

#[tokio::test]
async fn manage_mfa_without_new_recovery_codes_sends_no_such_notice() {
    let stack = spawn().await;
    let browser = Browser::new();
    let settings = alices_settings(&stack, &browser).await;
    let csrf = input_value(&settings.body, "csrf").unwrap();
    let done = browser
        .post(
            &format!("{}/settings/done", stack.emulator_url),
            &[("csrf", &csrf)],
        )
        .await;
    browser.get(done.location()).await;
    let notices = stack.notices_to("alice").await;
    assert!(
        of_kind(&notices, "recovery-codes-regenerated").is_empty(),
        "{notices:?}"
    );
}
