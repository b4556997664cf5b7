//! Tests of the test machinery itself: if the page reader, the authenticator or the browser's
//! certificate pinning were wrong, every journey would prove less than it claims.

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use dev_certs::TlsMaterial;

use crate::helpers::chrome::{Chrome, catching};
use crate::helpers::html::{Document, decode_entities};
use crate::helpers::tls;
use crate::helpers::tokens::{Jwt, Pkce};
use crate::helpers::totp::Authenticator;

const PAGE: &str = r#"<!doctype html>
<html><head><title>Sign in &amp; more</title><style>p { color: red; }</style></head>
<body>
  <!-- a comment with <form id="fake"> inside -->
  <h1>Welcome, Alice&#x27;s &quot;account&quot;</h1>
  <form id="login" method="post" action="&#x2F;Account&#x2F;Login?ar=abc&amp;x=1">
    <input type="hidden" name="csrf" value="tok&#x2F;en">
    <input name="username" value="">
    <input type="password" name="password">
    <input type="checkbox" name="remember" value="true" checked>
    <input type="checkbox" name="unchecked" value="true">
    <select name="method"><option value="a">A</option><option value="b" selected>B</option></select>
    <textarea name="note">hello</textarea>
    <button type="submit" name="button" value="login" id="login-btn">Log in</button>
    <button type="submit" name="button" value="cancel">Cancel</button>
  </form>
  <form id='other' action=/x><input type=hidden name=a value=b /><input type="submit" value="Go"></form>
  <ul><li class="recovery-code">AAAA-BBBB</li><li class="recovery-code other">CCCC-DDDD</li><li>no</li></ul>
  <code id="totp-secret">JBSW Y3DP</code>
  <div id="outer"><div>inner <b>bold</b></div> tail</div>
  <script>if (a < b) { document.write("<form id='script'>"); }</script>
</body></html>"#;

#[test]
fn the_page_reader_finds_forms_fields_and_buttons_like_a_browser() {
    let doc = Document::parse(PAGE);
    assert_eq!(doc.title().as_deref(), Some("Sign in & more"));
    let ids: Vec<_> = doc.forms().into_iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        vec![Some("login".to_owned()), Some("other".to_owned())]
    );

    let login = doc.form("login").unwrap();
    assert_eq!(login.method, "POST");
    assert_eq!(login.action, "/Account/Login?ar=abc&x=1");
    assert_eq!(login.get("csrf"), Some("tok/en"));
    assert_eq!(login.get("remember"), Some("true"));
    assert_eq!(login.get("unchecked"), None);
    assert_eq!(login.get("method"), Some("b"));
    assert_eq!(login.get("note"), Some("hello"));
    let mut filled = login.clone();
    filled.set("username", "alice").set("password", "alice");
    let pressed = filled.submission(Some("Cancel"));
    assert!(pressed.contains(&("button".to_owned(), "cancel".to_owned())));
    assert!(!pressed.contains(&("button".to_owned(), "login".to_owned())));
    let enter = filled.submission(None);
    assert!(enter.contains(&("button".to_owned(), "login".to_owned())));
    assert!(enter.contains(&("username".to_owned(), "alice".to_owned())));

    let other = doc.form("other").unwrap();
    assert_eq!(other.method, "GET");
    assert_eq!(other.action, "/x");
    assert_eq!(other.get("a"), Some("b"));
}

#[test]
fn the_page_reader_reads_text_by_id_and_class_and_skips_comments_and_scripts() {
    let doc = Document::parse(PAGE);
    assert!(doc.by_id("fake").is_none() && doc.by_id("script").is_none());
    let codes: Vec<_> = doc
        .by_class("li", "recovery-code")
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(codes, vec!["AAAA-BBBB", "CCCC-DDDD"]);
    assert_eq!(doc.by_id("totp-secret").unwrap().text, "JBSW Y3DP");
    assert_eq!(doc.by_id("outer").unwrap().text, "inner bold tail");
    assert!(doc.text().contains(r#"Welcome, Alice's "account""#));
    assert!(!doc.text().contains("color: red"));
    assert_eq!(
        decode_entities("a &lt;b&gt; &#38; &unknown; &"),
        "a <b> & &unknown; &"
    );
}

#[test]
fn the_authenticator_produces_the_rfc_6238_codes_and_never_repeats_a_step() {
    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", T = 59 s -> 94287082 (8 digits);
    // its last six digits are what a 6-digit app shows.
    let key = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let app = Authenticator::from_key(key);
    assert_eq!(app.code_at_step(59 / 30), "287082");
    assert_eq!(app.code_at_step(1_111_111_109 / 30), "081804");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let first = rt.block_on(app.fresh_code());
    let second = rt.block_on(app.fresh_code());
    let now = Authenticator::current_step();
    // Two codes in a row come from two different steps (now and, at the latest, now + 1).
    assert!(
        [
            app.code_at_step(now),
            app.code_at_step(now.saturating_sub(1))
        ]
        .contains(&first),
        "first code is for the current step"
    );
    assert!(
        [app.code_at_step(now), app.code_at_step(now + 1)].contains(&second) && second != first,
        "second code is for a later step"
    );
}

#[test]
fn a_jwt_is_decoded_and_pkce_challenges_are_s256() {
    // Header {"alg":"RS256","kid":"k"}, claims {"sub":"x","amr":["pwd","mfa"]}.
    let jwt = Jwt::decode(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4IiwiYW1yIjpbInB3ZCIsIm1mYSJdfQ.c2ln",
    );
    assert_eq!(jwt.header["kid"], "k");
    assert_eq!(jwt.str("sub"), Some("x"));
    assert_eq!(jwt.amr(), vec!["pwd", "mfa"]);
    assert!(
        jwt.verify(&serde_json::json!({"keys": []})).is_err(),
        "no key, no trust"
    );

    let pkce = Pkce::new();
    assert!(pkce.verifier.len() >= 43);
    assert_eq!(pkce.challenge.len(), 43);
    assert_ne!(pkce.verifier, Pkce::new().verifier);
}

/// A one-page HTTPS server with the given certificate, for the browser's trust test.
fn serve(material: &TlsMaterial, body: &'static str) -> (u16, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new().route(
            "/",
            web::get()
                .to(move || async move { HttpResponse::Ok().content_type("text/html").body(body) }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen_rustls_0_23(listener, material.server_config().unwrap())
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (port, handle)
}

#[tokio::test]
async fn the_browser_trusts_the_pinned_test_certificate_and_no_other() {
    let pinned = tls();
    let stranger = TlsMaterial::generate_ephemeral().unwrap();
    let (good_port, good) = serve(
        pinned,
        "<html><body><p id='hello'>pinned page</p></body></html>",
    );
    let (bad_port, bad) = serve(
        &stranger,
        "<html><body><p id='hello'>stranger page</p></body></html>",
    );
    let spki = pinned.leaf_spki_sha256_base64().unwrap();

    let Some(chrome) = Chrome::launch("trust", &spki).await else {
        return;
    };
    let outcome = catching(async {
        chrome
            .open(&format!("https://localhost:{good_port}/"))
            .await;
        assert_eq!(chrome.text_of("#hello").await, "pinned page");

        // Another certificate for the same name must be refused: the pin is not "ignore all".
        let refused = chrome
            .try_open(&format!("https://localhost:{bad_port}/"))
            .await;
        let text = chrome.text().await;
        assert!(
            !text.contains("stranger page"),
            "a certificate from another CA was accepted"
        );
        let error = refused.expect_err("the navigation to the stranger's certificate fails");
        assert!(
            error.contains("ERR_CERT"),
            "refused for the wrong reason: {error}"
        );
    })
    .await;
    chrome.finish(outcome).await;
    good.stop(true).await;
    bad.stop(true).await;
}

#[tokio::test]
async fn the_accessibility_check_fails_on_a_page_with_serious_violations_and_names_them() {
    let Some(axe) = crate::helpers::chrome::axe_source() else {
        return;
    };
    let material = tls();
    let (port, server) = serve(
        material,
        "<html><head><title>Bad page</title></head><body><main>\
         <p style='color:#aaa;background:#fff'>Pale text nobody can read</p>\
         <input type='text' id='nameless'></main></body></html>",
    );
    let spki = material.leaf_spki_sha256_base64().unwrap();
    let Some(chrome) = Chrome::launch("axe-self-test", &spki).await else {
        return;
    };
    let outcome = catching(async {
        chrome.open(&format!("https://localhost:{port}/")).await;
        chrome.wait_for("#nameless").await;
        let failed = catching(chrome.check_accessibility(Some(&axe), "bad page")).await;
        let message = failed
            .expect_err("axe must refuse a page with an unlabelled field and pale text")
            .downcast::<String>()
            .map(|m| *m)
            .unwrap_or_default();
        assert!(message.contains("label"), "{message}");
        assert!(message.contains("color-contrast"), "{message}");
        assert!(
            message.contains("[light]") && message.contains("[dark]"),
            "{message}"
        );
    })
    .await;
    chrome.finish(outcome).await;
    server.stop(true).await;
}
