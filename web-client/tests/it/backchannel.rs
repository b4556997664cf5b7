//! `POST /backchannel-logout` against the mock provider, which signs the logout tokens: a valid
//! one signs the browser out at its next request; a replayed, forged or otherwise wrong one is
//! refused with a 400 in JSON and signs nobody out. Every test that involves the store runs on
//! the embedded store and on Redis (a real `redis-server`, skipped loudly without one, a
//! failure with `REDIS_REQUIRED=1`).

use std::time::Duration;

use chrono::Utc;
use redis_testkit::RedisServer;
use serde_json::{Value, json};
use web_client::backchannel::{BACKCHANNEL_LOGOUT_EVENT, MAX_BODY_BYTES};

use crate::helpers::{TestApp, browser, location, redis_settings, spawn_app, spawn_app_with};
use crate::mock_provider::{ALICE_SUB, Behaviour, Key, sign_jwt};

/// A web client on the embedded store (in memory) or on a fresh Redis (kept alive with it).
async fn app_on(backend: Backend) -> Option<(TestApp, Option<RedisServer>)> {
    app_with(backend, Behaviour::default()).await
}

async fn app_with(
    backend: Backend,
    behaviour: Behaviour,
) -> Option<(TestApp, Option<RedisServer>)> {
    match backend {
        Backend::Embedded => Some((spawn_app(behaviour).await, None)),
        Backend::Redis => {
            let redis = RedisServer::require()?;
            let url = redis.url();
            let app = spawn_app_with(behaviour, |s| {
                let issuer = s.issuer_url.clone();
                *s = redis_settings(&issuer, &url);
            })
            .await;
            Some((app, Some(redis)))
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    Redis,
}

fn header() -> Value {
    json!({"alg": "RS256", "typ": "logout+jwt", "kid": "key-1"})
}

fn jti() -> String {
    web_client::session::random_token(16)
}

/// The claims of a valid logout token of `app`'s provider for `sid`.
fn claims(app: &TestApp, sid: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": app.provider.issuer,
        "aud": "web",
        "iat": now,
        "exp": now + 120,
        "jti": jti(),
        "sub": ALICE_SUB,
        "sid": sid,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

fn with(mut claims: Value, name: &str, value: Option<Value>) -> Value {
    let map = claims.as_object_mut().unwrap();
    match value {
        Some(v) => map.insert(name.into(), v),
        None => map.remove(name),
    };
    claims
}

/// POSTs a form body as the identity server does: another client, no cookies.
async fn post_body(app: &TestApp, body: String) -> reqwest::Response {
    browser()
        .post(app.url("/backchannel-logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post_token(app: &TestApp, token: &str) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish();
    post_body(app, body).await
}

/// Asserts a 400 `invalid_request` in JSON whose description mentions `why`.
async fn assert_refused(response: reqwest::Response, why: &str) {
    assert_eq!(response.status(), 400, "refused: {why}");
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(why),
        "'{description}' should say '{why}'"
    );
}

/// Whether the browser of `app` is still signed in: `/` shows the claims (200) rather than
/// starting a sign-in (303 to the provider).
async fn signed_in(app: &TestApp) -> bool {
    let response = app.get("/").await;
    match response.status().as_u16() {
        200 => true,
        303 => {
            assert!(location(&response).starts_with(&app.provider.issuer));
            false
        }
        other => panic!("GET / answered {other}"),
    }
}

async fn a_valid_logout_token_signs_the_session_with_its_sid_out(backend: Backend) {
    let Some((app, _redis)) = app_on(backend).await else {
        return;
    };
    app.signed_in().await;
    let sid = app.provider.last_sid();
    assert!(signed_in(&app).await);

    let response = post_token(
        &app,
        &sign_jwt(&header(), &claims(&app, &sid), Key::Published),
    )
    .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().get("set-cookie").is_none(), "no cookie");
    assert!(!signed_in(&app).await, "the next request is signed out");
    let userinfo = app.get("/userinfo").await;
    assert_eq!(userinfo.status(), 303, "/userinfo requires a sign-in again");
    assert!(location(&userinfo).starts_with(&app.provider.issuer));
    // Signing in again makes a new provider session, which the old token does not end.
    app.signed_in().await;
    assert!(signed_in(&app).await);
}

async fn a_logout_token_for_another_sid_leaves_the_session_signed_in(backend: Backend) {
    let Some((app, _redis)) = app_on(backend).await else {
        return;
    };
    app.signed_in().await;

    let response = post_token(
        &app,
        &sign_jwt(&header(), &claims(&app, "another-sid"), Key::Published),
    )
    .await;

    assert_eq!(response.status(), 200, "a valid token, for nobody here");
    assert!(signed_in(&app).await);
}

async fn a_logout_token_with_only_sub_signs_every_session_of_the_user_out(backend: Backend) {
    let Some((app, _redis)) = app_on(backend).await else {
        return;
    };
    app.signed_in().await;
    let second = TestApp {
        browser: browser(),
        ..clone_handle(&app)
    };
    second.signed_in().await;
    let token_claims = with(claims(&app, "unused"), "sid", None);

    let response = post_token(&app, &sign_jwt(&header(), &token_claims, Key::Published)).await;

    assert_eq!(response.status(), 200);
    assert!(!signed_in(&app).await);
    assert!(!signed_in(&second).await);
}

/// Another handle on the same running app (for a second browser; never stopped through it).
fn clone_handle(app: &TestApp) -> TestApp {
    TestApp {
        base: app.base.clone(),
        provider: app.provider.clone(),
        browser: app.browser.clone(),
        handle: app.handle.clone(),
        task: tokio::spawn(async { Ok(()) }),
    }
}

async fn a_replayed_logout_token_is_refused(backend: Backend) {
    let Some((app, _redis)) = app_on(backend).await else {
        return;
    };
    app.signed_in().await;
    let sid = app.provider.last_sid();
    let token = sign_jwt(&header(), &claims(&app, &sid), Key::Published);
    assert_eq!(post_token(&app, &token).await.status(), 200);
    app.signed_in().await;

    assert_refused(post_token(&app, &token).await, "already used").await;
    // Another token with the same jti (and another sid) is a replay as well.
    let mut again = claims(&app, "other");
    again["jti"] = serde_json::from_str::<Value>(&token_claim(&token, "jti")).unwrap();
    assert_refused(
        post_token(&app, &sign_jwt(&header(), &again, Key::Published)).await,
        "already used",
    )
    .await;
    assert!(signed_in(&app).await, "the new session is not signed out");
}

/// One claim of a JWT, as JSON text.
fn token_claim(token: &str, name: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims[name].to_string()
}

async fn every_wrong_logout_token_is_refused_and_signs_nobody_out(backend: Backend) {
    let Some((app, _redis)) = app_on(backend).await else {
        return;
    };
    app.signed_in().await;
    let sid = app.provider.last_sid();
    let good = || claims(&app, &sid);
    let now = Utc::now().timestamp();
    let signed = |claims: Value| sign_jwt(&header(), &claims, Key::Published);
    let unsigned = |header: Value, claims: Value| {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
        };
        format!("{}.{}.", b64(&header), b64(&claims))
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "forged signature",
            sign_jwt(&header(), &good(), Key::Unpublished),
            "signature",
        ),
        (
            "signature of another token",
            {
                let a = signed(good());
                let b = signed(with(good(), "sub", Some(json!("bob"))));
                let (ab, _) = a.rsplit_once('.').unwrap();
                let (_, bs) = b.rsplit_once('.').unwrap();
                format!("{ab}.{bs}")
            },
            "signature",
        ),
        (
            "wrong aud",
            signed(with(good(), "aud", Some(json!("other-client")))),
            "aud",
        ),
        (
            "wrong iss",
            signed(with(good(), "iss", Some(json!("https://evil.example")))),
            "iss",
        ),
        (
            "missing events",
            signed(with(good(), "events", None)),
            "events",
        ),
        (
            "events without the logout member",
            signed(with(good(), "events", Some(json!({"other": {}})))),
            "events",
        ),
        (
            "a nonce",
            signed(with(good(), "nonce", Some(json!("n-1")))),
            "nonce",
        ),
        (
            "alg none",
            unsigned(json!({"alg": "none", "typ": "logout+jwt"}), good()),
            "alg none",
        ),
        (
            "alg none, signed",
            sign_jwt(
                &json!({"alg": "none", "kid": "key-1"}),
                &good(),
                Key::Published,
            ),
            "alg none",
        ),
        (
            "HS256",
            sign_jwt(
                &json!({"alg": "HS256", "kid": "key-1"}),
                &good(),
                Key::Published,
            ),
            "RS256",
        ),
        (
            "expired",
            signed(with(
                with(good(), "iat", Some(json!(now - 200))),
                "exp",
                Some(json!(now - 80)),
            )),
            "expired",
        ),
        (
            "issued long ago",
            signed(with(good(), "iat", Some(json!(now - 3600)))),
            "too old",
        ),
        (
            "missing sub and sid",
            signed(with(with(good(), "sub", None), "sid", None)),
            "neither sub nor sid",
        ),
        ("missing jti", signed(with(good(), "jti", None)), "jti"),
        (
            "an ID token type",
            sign_jwt(
                &json!({"alg": "RS256", "typ": "JWT", "kid": "key-1"}),
                &good(),
                Key::Published,
            ),
            "typ",
        ),
        ("not a JWT", "not-a-jwt".into(), "malformed"),
    ];
    for (what, token, why) in cases {
        let response = post_token(&app, &token).await;
        assert_eq!(response.status(), 400, "{what}");
        assert_refused(response, why).await;
    }
    assert!(signed_in(&app).await, "no wrong token signed the user out");
    // And the valid one still works: none of the refusals used it up.
    let response = post_token(&app, &signed(good())).await;
    assert_eq!(response.status(), 200);
    assert!(!signed_in(&app).await);
}

async fn wrong_requests_are_refused_and_sign_nobody_out(backend: Backend) {
    let Some((app, _redis)) = app_on(backend).await else {
        return;
    };
    app.signed_in().await;
    let sid = app.provider.last_sid();
    let token = sign_jwt(&header(), &claims(&app, &sid), Key::Published);

    // Oversized: the valid token, padded past the body limit.
    let padded = format!("logout_token={token}&pad={}", "a".repeat(MAX_BODY_BYTES));
    assert_refused(post_body(&app, padded).await, "too large").await;
    // A token past its length limit.
    let long = format!("logout_token={}", "a".repeat(9 * 1024));
    assert_refused(post_body(&app, long).await, "too long").await;
    // Not a form.
    let json = browser()
        .post(app.url("/backchannel-logout"))
        .json(&json!({ "logout_token": token }))
        .send()
        .await
        .unwrap();
    assert_refused(json, "x-www-form-urlencoded").await;
    // No token, two tokens.
    assert_refused(post_body(&app, "token=x".into()).await, "missing").await;
    assert_refused(
        post_body(&app, format!("logout_token={token}&logout_token={token}")).await,
        "more than one",
    )
    .await;

    assert!(signed_in(&app).await);
    assert_eq!(post_token(&app, &token).await.status(), 200, "still unused");
}

async fn a_session_without_a_sid_is_signed_out_only_by_its_sub(backend: Backend) {
    let behaviour = Behaviour {
        no_sid: true,
        ..Default::default()
    };
    let Some((app, _redis)) = app_with(backend, behaviour).await else {
        return;
    };
    app.signed_in().await;
    let by_sid = claims(&app, "some-sid");
    assert_eq!(
        post_token(&app, &sign_jwt(&header(), &by_sid, Key::Published))
            .await
            .status(),
        200
    );
    assert!(signed_in(&app).await, "a sid it never had does not end it");
    let by_sub = with(claims(&app, "x"), "sid", None);
    assert_eq!(
        post_token(&app, &sign_jwt(&header(), &by_sub, Key::Published))
            .await
            .status(),
        200
    );
    assert!(!signed_in(&app).await);
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(super::Backend::Embedded).await;
                }
            )*
        }
        mod redis {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(super::Backend::Redis).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_valid_logout_token_signs_the_session_with_its_sid_out,
    a_logout_token_for_another_sid_leaves_the_session_signed_in,
    a_logout_token_with_only_sub_signs_every_session_of_the_user_out,
    a_replayed_logout_token_is_refused,
    every_wrong_logout_token_is_refused_and_signs_nobody_out,
    wrong_requests_are_refused_and_sign_nobody_out,
    a_session_without_a_sid_is_signed_out_only_by_its_sub,
);

#[actix_web::test]
async fn a_logout_token_signed_with_a_key_published_after_discovery_is_verified_after_one_refetch()
{
    let app = spawn_app(Behaviour::default()).await;
    app.signed_in().await;
    let sid = app.provider.last_sid();
    let fetched = app.provider.record(|r| r.jwks_requests);
    // The provider rotates to key-2 after the web client discovered key-1 only.
    app.provider.set_behaviour(Behaviour {
        rotated_to_second_key: true,
        ..Default::default()
    });
    let header2 = json!({"alg": "RS256", "typ": "logout+jwt", "kid": "key-2"});

    let response = post_token(&app, &sign_jwt(&header2, &claims(&app, &sid), Key::Second)).await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.provider.record(|r| r.jwks_requests), fetched + 1);
    assert!(!signed_in(&app).await);
}

#[actix_web::test]
async fn unknown_key_ids_refetch_the_jwks_at_most_once_per_interval() {
    let app = spawn_app(Behaviour::default()).await;
    let fetched = app.provider.record(|r| r.jwks_requests);
    for n in 0..5 {
        let header = json!({"alg": "RS256", "kid": format!("made-up-{n}")});
        let response =
            post_token(&app, &sign_jwt(&header, &claims(&app, "s"), Key::Published)).await;
        assert_refused(response, "unknown key").await;
    }
    assert_eq!(
        app.provider.record(|r| r.jwks_requests),
        fetched + 1,
        "one refetch for five unknown kids"
    );
}

#[actix_web::test]
async fn with_redis_down_a_logout_token_is_a_503_and_is_accepted_once_redis_is_back() {
    let Some(mut redis) = RedisServer::require_with(redis_testkit::Durability::AppendFsyncAlways)
    else {
        return;
    };
    let url = redis.url();
    let app = spawn_app_with(Behaviour::default(), |s| {
        let issuer = s.issuer_url.clone();
        *s = redis_settings(&issuer, &url);
    })
    .await;
    app.signed_in().await;
    let sid = app.provider.last_sid();
    let token = sign_jwt(&header(), &claims(&app, &sid), Key::Published);

    redis.stop();
    let response = post_token(&app, &token).await;
    assert_eq!(response.status(), 503, "fails closed");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    redis.restart().unwrap();
    let mut accepted = false;
    for _ in 0..50 {
        let response = post_token(&app, &token).await;
        if response.status() == 200 {
            accepted = true;
            break;
        }
        assert_eq!(response.status(), 503, "not consumed by the failure");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "the retry after the outage is accepted");
    assert!(!signed_in(&app).await);
}

#[actix_web::test]
async fn a_get_is_not_a_logout() {
    let app = spawn_app(Behaviour::default()).await;
    let response = app.get("/backchannel-logout").await;
    assert_eq!(response.status(), 404);
}
