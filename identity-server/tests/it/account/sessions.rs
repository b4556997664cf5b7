//! "Your sessions" (`/Account/Sessions`): the list shows exactly the user's own sessions; signing
//! one out signs that browser out and revokes its refresh grant; another user's `sid` does
//! nothing; "sign out everywhere" ends every session, revokes every grant and sends back-channel
//! logouts; a form without its CSRF token ends nothing. Real sign-ins (password and TOTP at the
//! emulator) in separate browsers.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use super::{Browser, Page, Stack, code_of, input_value, spawn, spawn_with};
use crate::backchannel::{logout_token_of, next, spawn_receiver};
use crate::helpers::{REDIRECT, VERIFIER, jwt_parts};

/// One signed-in browser: its session's `sid` and the refresh token of its grant.
struct SignedIn {
    browser: Browser,
    sid: String,
    refresh_token: String,
}

/// Signs `username` in in a new browser and redeems the code.
async fn signed_in(stack: &Stack, username: &str) -> SignedIn {
    let browser = Browser::new();
    let page = stack.sign_in(&browser, username, username).await;
    let tokens = redeem(stack, &code_of(&page)).await;
    let sid = jwt_parts(tokens["id_token"].as_str().unwrap()).1["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    SignedIn {
        browser,
        sid,
        refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
    }
}

async fn redeem(stack: &Stack, code: &str) -> Value {
    let (status, body) = token(
        stack,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn token(stack: &Stack, form: &[(&str, &str)]) -> (u16, Value) {
    let response = Browser::new()
        .client
        .post(stack.url("/connect/token"))
        .basic_auth("web", Some("secret"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Refreshes `who`'s grant; on success keeps the rotated refresh token.
async fn refresh(stack: &Stack, who: &mut SignedIn) -> (u16, Value) {
    let (status, body) = token(
        stack,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", who.refresh_token.as_str()),
        ],
    )
    .await;
    if let Some(rotated) = body["refresh_token"].as_str() {
        who.refresh_token = rotated.to_owned();
    }
    (status, body)
}

async fn sessions_page(stack: &Stack, browser: &Browser) -> Page {
    let page = browser.get(&stack.url("/Account/Sessions")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

fn csrf_of(page: &Page) -> String {
    input_value(&page.body, "csrf_token").expect("the sessions page has its forms")
}

/// The `sid`s the page offers to sign out, in its order.
fn listed_sids(page: &Page) -> Vec<String> {
    page.body
        .split("name=\"sid\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// The list item of the session `sid`.
fn row_of<'a>(page: &'a Page, sid: &str) -> &'a str {
    page.body
        .split("<li class=\"session-row")
        .find(|row| row.contains(&format!("value=\"{sid}\"")))
        .unwrap_or_else(|| panic!("no row for {sid}"))
}

async fn end(stack: &Stack, browser: &Browser, csrf: &str, sid: &str) -> Page {
    browser
        .post(
            &stack.url("/Account/Sessions/End"),
            &[("csrf_token", csrf), ("sid", sid)],
        )
        .await
}

async fn assert_invalid_grant(stack: &Stack, who: &mut SignedIn) {
    let (status, body) = refresh(stack, who).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

#[tokio::test]
async fn the_session_list_shows_exactly_the_users_own_sessions_with_this_one_marked() {
    let stack = spawn().await;
    let first = signed_in(&stack, "alice").await;
    let second = signed_in(&stack, "alice").await;
    let bob = signed_in(&stack, "bob").await;

    let home = first.browser.get(&stack.url("/")).await;
    assert!(
        home.body.contains("href=\"/Account/Sessions\""),
        "the home page links to it"
    );
    let page = sessions_page(&stack, &first.browser).await;
    // Both sign-ins may fall in one second: newest-first order is the store suite's to check.
    assert_eq!(
        listed_sids(&page).into_iter().collect::<HashSet<_>>(),
        HashSet::from([second.sid.clone(), first.sid.clone()]),
        "alice's two sessions"
    );
    assert_eq!(listed_sids(&page).len(), 2);
    assert!(
        !page.body.contains(&bob.sid),
        "never another user's session"
    );
    assert!(row_of(&page, &first.sid).contains("id=\"this-session\""));
    assert!(!row_of(&page, &second.sid).contains("this-session"));
    let row = row_of(&page, &second.sid);
    assert!(
        row.contains("account-tests"),
        "the browser from the User-Agent: {row}"
    );
    assert!(row.contains("From 127.0.0.1"), "{row}");
    assert!(
        row.contains("signed in with password, one-time code"),
        "{row}"
    );
    assert_eq!(page.headers["cache-control"], "no-store");

    let bobs = sessions_page(&stack, &bob.browser).await;
    assert_eq!(listed_sids(&bobs), vec![bob.sid.clone()]);
}

#[tokio::test]
async fn signing_out_one_session_signs_that_browser_out_and_revokes_its_refresh_grant() {
    let (uri, mut logouts) = spawn_receiver(200);
    let stack = spawn_with(|s| s.clients[0].backchannel_logout_uri = Some(uri)).await;
    let mut here = signed_in(&stack, "alice").await;
    let mut there = signed_in(&stack, "alice").await;

    let page = sessions_page(&stack, &here.browser).await;
    let answer = end(&stack, &here.browser, &csrf_of(&page), &there.sid).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(
        answer.location(),
        stack.url("/Account/Sessions?notice=ended")
    );
    let after = here.browser.get(answer.location()).await;
    assert!(after.shows("The session was signed out."), "{}", after.body);
    assert_eq!(listed_sids(&after), vec![here.sid.clone()]);

    assert!(
        stack.is_signed_out(&there.browser).await,
        "its next request is signed out"
    );
    assert_invalid_grant(&stack, &mut there).await;
    let body = next(&mut logouts, Duration::from_secs(5))
        .await
        .expect("a back-channel logout for the ended session");
    let (_, claims) = jwt_parts(&logout_token_of(&body));
    assert_eq!(claims["sid"], there.sid.as_str());

    // This browser and its grant are untouched.
    assert!(!stack.is_signed_out(&here.browser).await);
    let (status, body) = refresh(&stack, &mut here).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        next(&mut logouts, Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn ending_another_users_session_does_nothing_and_answers_like_an_unknown_one() {
    let stack = spawn().await;
    let alice = signed_in(&stack, "alice").await;
    let mut bob = signed_in(&stack, "bob").await;
    let csrf = csrf_of(&sessions_page(&stack, &alice.browser).await);

    let bobs = end(&stack, &alice.browser, &csrf, &bob.sid).await;
    let unknown = end(
        &stack,
        &alice.browser,
        &csrf,
        "an-unknown-sid-of-the-same-length-as-ours-xyz",
    )
    .await;
    assert_eq!(bobs.status, 303);
    assert_eq!(
        (bobs.status, bobs.location.as_deref(), bobs.body.as_str()),
        (
            unknown.status,
            unknown.location.as_deref(),
            unknown.body.as_str()
        ),
        "the same answer as an unknown sid"
    );
    assert_eq!(
        bobs.location(),
        stack.url("/Account/Sessions?notice=not_found")
    );

    assert!(
        !stack.is_signed_out(&bob.browser).await,
        "bob is still signed in"
    );
    let (status, body) = refresh(&stack, &mut bob).await;
    assert_eq!(status, 200, "bob's grant still refreshes: {body}");
    assert_eq!(
        listed_sids(&sessions_page(&stack, &bob.browser).await),
        vec![bob.sid.clone()]
    );
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_revokes_every_grant_and_sends_back_channel_logouts()
{
    let (uri, mut logouts) = spawn_receiver(200);
    let stack = spawn_with(|s| s.clients[0].backchannel_logout_uri = Some(uri)).await;
    let mut here = signed_in(&stack, "alice").await;
    let mut there = signed_in(&stack, "alice").await;
    let mut bob = signed_in(&stack, "bob").await;

    let page = sessions_page(&stack, &here.browser).await;
    let answer = here
        .browser
        .post(
            &stack.url("/Account/Sessions/EndAll"),
            &[("csrf_token", csrf_of(&page).as_str())],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("id=\"logged-out\""),
        "the logged-out page"
    );
    assert!(
        answer
            .set_cookie("__Host-idsrv.session")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is removed"
    );

    for who in [&mut here, &mut there] {
        assert!(stack.is_signed_out(&who.browser).await);
        assert_invalid_grant(&stack, who).await;
    }
    let mut sids = HashSet::new();
    for _ in 0..2 {
        let body = next(&mut logouts, Duration::from_secs(5))
            .await
            .expect("a back-channel logout for every ended session");
        let (_, claims) = jwt_parts(&logout_token_of(&body));
        assert_eq!(claims["sub"], crate::helpers::ALICE);
        sids.insert(claims["sid"].as_str().unwrap().to_owned());
    }
    assert_eq!(sids, HashSet::from([here.sid.clone(), there.sid.clone()]));
    assert!(
        next(&mut logouts, Duration::from_millis(300))
            .await
            .is_none()
    );

    // Bob is not touched.
    assert!(!stack.is_signed_out(&bob.browser).await);
    let (status, body) = refresh(&stack, &mut bob).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_missing_or_wrong_csrf_token_is_refused_and_ends_nothing() {
    let stack = spawn().await;
    let here = signed_in(&stack, "alice").await;
    let mut there = signed_in(&stack, "alice").await;
    let _ = sessions_page(&stack, &here.browser).await;

    let end_url = stack.url("/Account/Sessions/End");
    let end_all_url = stack.url("/Account/Sessions/EndAll");
    let sid = there.sid.as_str();
    let refused = [
        here.browser.post(&end_url, &[("sid", sid)]).await,
        here.browser
            .post(&end_url, &[("csrf_token", "forged"), ("sid", sid)])
            .await,
        here.browser.post(&end_all_url, &[]).await,
        here.browser
            .post(&end_all_url, &[("csrf_token", "forged")])
            .await,
    ];
    for page in &refused {
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.shows("nothing was done"), "{}", page.body);
    }
    // Another browser's valid token is not this browser's.
    let theirs = csrf_of(&sessions_page(&stack, &there.browser).await);
    let page = end(&stack, &here.browser, &theirs, sid).await;
    assert_eq!(page.status, 403);

    for who in [&here.browser, &there.browser] {
        assert!(!stack.is_signed_out(who).await, "no session ended");
    }
    let (status, body) = refresh(&stack, &mut there).await;
    assert_eq!(status, 200, "no grant revoked: {body}");
}

#[tokio::test]
async fn ending_this_browsers_own_session_from_the_list_is_a_logout() {
    let (uri, mut logouts) = spawn_receiver(200);
    let stack = spawn_with(|s| s.clients[0].backchannel_logout_uri = Some(uri)).await;
    let mut here = signed_in(&stack, "alice").await;

    let page = sessions_page(&stack, &here.browser).await;
    let answer = end(&stack, &here.browser, &csrf_of(&page), &here.sid).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("id=\"logged-out\""));
    assert!(stack.is_signed_out(&here.browser).await);
    assert_invalid_grant(&stack, &mut here).await;
    let body = next(&mut logouts, Duration::from_secs(5))
        .await
        .expect("the back-channel logout of a logout");
    assert_eq!(
        jwt_parts(&logout_token_of(&body)).1["sid"],
        here.sid.as_str()
    );
}

#[tokio::test]
async fn the_sessions_page_needs_a_signed_in_browser() {
    let stack = spawn().await;
    let page = Browser::new().get(&stack.url("/Account/Sessions")).await;
    assert_eq!(page.status, 401);
    assert!(page.shows("Sign in first"), "{}", page.body);
}

#[tokio::test]
async fn wrong_methods_on_the_sessions_paths_answer_405_with_allow() {
    let stack = spawn().await;
    let client = Browser::new().client;
    let cases = [
        (reqwest::Method::POST, "/Account/Sessions", "GET, HEAD"),
        (reqwest::Method::DELETE, "/Account/Sessions", "GET, HEAD"),
        (reqwest::Method::GET, "/Account/Sessions/End", "POST"),
        (reqwest::Method::PUT, "/Account/Sessions/End", "POST"),
        (reqwest::Method::GET, "/Account/Sessions/EndAll", "POST"),
    ];
    for (method, path, allow) in cases {
        let response = client
            .request(method.clone(), stack.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }
    let head = client
        .head(stack.url("/Account/Sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 401, "HEAD answers like GET");
}

#[tokio::test]
async fn a_code_issued_before_sign_out_everywhere_is_refused_at_the_token_endpoint() {
    let stack = spawn().await;
    let browser = Browser::new();
    let page = stack.sign_in(&browser, "alice", "alice").await;
    // The code is still unredeemed (a thief holding it, or a slow client) when the user signs
    // out everywhere.
    let code = code_of(&page);
    let list = sessions_page(&stack, &browser).await;
    let ended = browser
        .post(
            &stack.url("/Account/Sessions/EndAll"),
            &[("csrf_token", csrf_of(&list).as_str())],
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let (status, body) = token(
        &stack,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}
