//! Back-channel logout, the sending side: a real HTTPS receiver stands in for the client.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use tokio::sync::mpsc;

use crate::helpers::*;

const POST_LOGOUT: &str = "https://localhost:5002/signout-callback-oidc";

/// A client's back-channel endpoint on port 0: every POSTed form body arrives on the channel;
/// the endpoint answers `status`.
pub(crate) fn spawn_receiver(status: u16) -> (String, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let tx = tx.clone();
        App::new().route(
            "/backchannel-logout",
            web::post().to(move |body: String| {
                let tx = tx.clone();
                async move {
                    tx.send(body).unwrap();
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen_rustls_0_23(listener, test_tls().server_config().unwrap())
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("https://localhost:{port}/backchannel-logout"), rx)
}

pub(crate) async fn next(
    rx: &mut mpsc::UnboundedReceiver<String>,
    within: Duration,
) -> Option<String> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

pub(crate) fn logout_token_of(body: &str) -> String {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no logout_token in {body}"))
}

async fn log_out(app: &TestApp, id_token: &str) {
    let query = serde_urlencoded::to_string([
        ("id_token_hint", id_token),
        ("post_logout_redirect_uri", POST_LOGOUT),
    ])
    .unwrap();
    let (status, _, _) = app
        .browse(&format!("{}/connect/endsession?{query}", app.base_url))
        .await;
    assert_eq!(status, 302);
}

#[tokio::test]
async fn logout_at_the_identity_server_posts_a_signed_logout_token_to_the_client() {
    let (uri, mut rx) = spawn_receiver(200);
    let app = spawn_app_with(|s| s.clients[0].backchannel_logout_uri = Some(uri)).await;
    let tokens = app.tokens().await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let (_, id_claims) = jwt_parts(id_token);
    log_out(&app, id_token).await;

    let body = next(&mut rx, Duration::from_secs(5))
        .await
        .expect("a logout token within 5 s");
    let token = logout_token_of(&body);
    let (header, claims) = identity_server::oidc::jwt::decode(&app.state.keys, &token)
        .expect("signed with a published key");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(claims["iss"], "https://localhost:5001");
    assert_eq!(claims["aud"], "web");
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert!(claims.contains_key("jti"));
    assert!(!claims.contains_key("nonce"));
    let iat = claims["iat"].as_i64().unwrap();
    assert!((identity_server::oidc::now() - iat).abs() < 30);
    assert_eq!(
        claims["events"],
        serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    // One delivery per logout.
    assert!(next(&mut rx, Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn a_client_the_session_did_not_sign_into_gets_no_logout_token() {
    let (uri, mut rx) = spawn_receiver(200);
    // web2 registers the receiver, but only web signs in.
    let app = spawn_app_with(|s| {
        s.clients[0].backchannel_logout_uri = None;
        s.clients[2].backchannel_logout_uri = Some(uri);
    })
    .await;
    let tokens = app.tokens().await;
    log_out(&app, tokens["id_token"].as_str().unwrap()).await;
    assert!(next(&mut rx, Duration::from_secs(1)).await.is_none());
}

#[tokio::test]
async fn a_failing_client_is_retried_a_bounded_number_of_times() {
    let (uri, mut rx) = spawn_receiver(503);
    let app = spawn_app_with(|s| s.clients[0].backchannel_logout_uri = Some(uri)).await;
    let tokens = app.tokens().await;
    log_out(&app, tokens["id_token"].as_str().unwrap()).await;
    let mut attempts = 0;
    while next(&mut rx, Duration::from_secs(3)).await.is_some() {
        attempts += 1;
    }
    assert_eq!(
        attempts,
        identity_server::backchannel::MAX_ATTEMPTS,
        "every attempt, and no more"
    );
}

#[tokio::test]
async fn a_client_that_refuses_the_token_is_not_retried() {
    let (uri, mut rx) = spawn_receiver(400);
    let app = spawn_app_with(|s| s.clients[0].backchannel_logout_uri = Some(uri)).await;
    let tokens = app.tokens().await;
    log_out(&app, tokens["id_token"].as_str().unwrap()).await;
    assert!(next(&mut rx, Duration::from_secs(5)).await.is_some());
    assert!(next(&mut rx, Duration::from_secs(2)).await.is_none());
}

#[tokio::test]
async fn discovery_lists_back_channel_logout_with_sessions() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .api
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
}

#[tokio::test]
async fn a_sign_in_past_the_cap_ends_the_least_recently_used_session_with_a_back_channel_logout() {
    let (uri, mut rx) = spawn_receiver(200);
    let app = spawn_app_with(|s| s.clients[0].backchannel_logout_uri = Some(uri)).await;
    let cap = identity_server::store::MAX_SESSIONS_PER_SUBJECT;
    let mut sids = Vec::new();
    // Every sign-in from a new browser (no session cookie): one more session each.
    for _ in 0..=cap {
        let (status, location, _) = app.browse(&app.authorize_url("web", REDIRECT, &[])).await;
        assert_eq!(status, 302);
        let ar = TestApp::request_id(&location.unwrap());
        let sign_in = identity_server::signin::SignIn {
            subject: ALICE.into(),
            auth_time: identity_server::oidc::now(),
            amr: vec!["pwd".into(), "mfa".into(), "otp".into()],
            remember: false,
        };
        let req = actix_web::test::TestRequest::default().to_http_request();
        let answer = identity_server::signin::complete_sign_in(&app.state, &req, &ar, sign_in)
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 303);
        let code = query_param(
            answer.headers().get("location").unwrap().to_str().unwrap(),
            "code",
        )
        .unwrap();
        let (status, tokens) = app.redeem(&code).await;
        assert_eq!(status, 200);
        let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
        sids.push(claims["sid"].as_str().unwrap().to_owned());
    }

    let body = next(&mut rx, Duration::from_secs(5))
        .await
        .expect("the ended session's client is told");
    let (_, claims) = jwt_parts(&logout_token_of(&body));
    let ended = claims["sid"].as_str().unwrap().to_owned();
    assert!(sids.contains(&ended));
    assert_ne!(&ended, sids.last().unwrap(), "never the new session");
    let s = &app.state.settings.session;
    let listed = app
        .state
        .stores
        .sessions
        .list(
            ALICE,
            identity_server::oidc::now(),
            s.idle_timeout_secs,
            s.absolute_timeout_secs,
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), cap);
    assert!(listed.iter().all(|s| s.sid != ended));
    assert!(next(&mut rx, Duration::from_millis(300)).await.is_none());
}
