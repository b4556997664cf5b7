//! Throughput of the provider on this machine, end to end over HTTPS (keep-alive, one request
//! at a time, client and server in one process):
//! - `rs256_sign`: one RS256 signature with the ring key (the floor of every grant);
//! - `client_credentials_grant`: `POST /connect/token` with `grant_type=client_credentials`
//!   (client authentication from the verified-secret cache, one signature);
//! - `refresh_grant`: `POST /connect/token` with `grant_type=refresh_token`, rotating each time
//!   (one signature, one synced journal append);
//! - `access_token_in_process`: what a client-credentials grant does besides HTTP (claims, one
//!   signature, the token record);
//! - `discovery`: `GET /.well-known/openid-configuration`;
//! - `*_x8`: the same grants with 8 requests in flight (time per request; concurrent refreshes
//!   share the journal's fsync).
//!
//! Run: `cargo bench -p identity-server --bench oidc`. Per-second figures are 1 / time.

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;

use criterion::{Criterion, criterion_group, criterion_main};
use identity_server::configuration::Settings;
use identity_server::domain::Secret;
use identity_server::keys::SigningKey;
use identity_server::startup::Application;
use tokio::sync::Mutex;

struct Bench {
    base_url: String,
    state: actix_web::web::Data<identity_server::startup::AppState>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn spawn(rt: &tokio::runtime::Runtime, pem: &str) -> Bench {
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            port: 0,
            data_dir: dir.path().to_path_buf(),
            workers: 1,
            ..Settings::default()
        };
        settings.keys.signing_key_pem = Some(Secret::new(pem));
        let tls = dev_certs::TlsMaterial::generate_ephemeral().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let app = Application::build_with(settings, listener, tls.clone())
            .await
            .unwrap();
        let base_url = app.base_url();
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_pem().as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Bench {
            base_url,
            state,
            http,
            _dir: dir,
        }
    })
}

async fn client_credentials(bench: &Bench) -> reqwest::Response {
    let response = bench
        .http
        .post(format!("{}/connect/token", bench.base_url))
        .basic_auth("client", Some("secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "api1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

fn benches(c: &mut Criterion) {
    let pem = SigningKey::generate_pem().unwrap();
    let key = SigningKey::from_pem(&pem).unwrap();
    let message = [b'x'; 600];
    c.bench_function("rs256_sign", |b| {
        b.iter(|| key.sign_rs256(&message).unwrap())
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let bench = spawn(&rt, &pem);
    // The grant's own work without HTTP: build, sign and record one access token.
    let scope = vec!["api1".to_owned()];
    c.bench_function("access_token_in_process", |b| {
        b.to_async(&rt).iter(|| async {
            identity_server::tokens::issue_access_token(
                &bench.state,
                "client",
                "client",
                &scope,
                None,
                None,
            )
            .await
            .unwrap()
        })
    });

    // Warm the verified-secret cache (the first request runs Argon2id).
    rt.block_on(client_credentials(&bench));

    c.bench_function("client_credentials_grant", |b| {
        b.to_async(&rt)
            .iter(|| async { client_credentials(&bench).await.bytes().await.unwrap() })
    });

    c.bench_function("discovery", |b| {
        b.to_async(&rt).iter(|| async {
            bench
                .http
                .get(format!(
                    "{}/.well-known/openid-configuration",
                    bench.base_url
                ))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        })
    });

    c.bench_function("client_credentials_grant_x8", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let bench = &bench;
            async move {
                let start = Instant::now();
                futures_util::stream::iter(0..iters)
                    .for_each_concurrent(8, |_| async {
                        client_credentials(bench).await.bytes().await.unwrap();
                    })
                    .await;
                start.elapsed()
            }
        })
    });

    let slots: Vec<Mutex<String>> = (0..8)
        .map(|_| Mutex::new(rt.block_on(first_refresh_token(&bench))))
        .collect();
    c.bench_function("refresh_grant_x8", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (bench, slots) = (&bench, &slots);
            async move {
                let start = Instant::now();
                futures_util::stream::iter(0..iters)
                    .for_each_concurrent(8, |i| async move {
                        let mut current = slots[(i % 8) as usize].lock().await;
                        *current = refresh(bench, &current).await;
                    })
                    .await;
                start.elapsed()
            }
        })
    });

    // Refresh: obtain a grant through the real flow once, then rotate it on every iteration.
    let refresh_token = Arc::new(Mutex::new(rt.block_on(first_refresh_token(&bench))));
    c.bench_function("refresh_grant", |b| {
        b.to_async(&rt).iter(|| async {
            let mut current = refresh_token.lock().await;
            *current = refresh(&bench, &current).await;
        })
    });
}

/// One refresh; returns the rotated token.
async fn refresh(bench: &Bench, token: &str) -> String {
    let response = bench
        .http
        .post(format!("{}/connect/token", bench.base_url))
        .basic_auth("web", Some("secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// Signs alice in through the internal interface (as the integration tests do) and redeems the
/// code for a refresh token.
async fn first_refresh_token(bench: &Bench) -> String {
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const REDIRECT: &str = "https://localhost:5002/signin-oidc";
    let authorize = format!(
        "{}/connect/authorize?client_id=web&response_type=code&scope=openid%20profile&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
        bench.base_url,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let response = bench.http.get(authorize).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id = location.trim_start_matches("/Account/Login?ar=");
    let sign_in = identity_server::signin::SignIn {
        subject: "a5a0c16c-0027-4011-8e2f-a7e179dc784b".into(),
        auth_time: identity_server::oidc::now(),
        amr: vec!["pwd".into()],
        remember: false,
    };
    let req = actix_web::test::TestRequest::default().to_http_request();
    let response = identity_server::signin::complete_sign_in(&bench.state, &req, id, sign_in)
        .await
        .unwrap();
    let back = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let code = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let response = bench
        .http
        .post(format!("{}/connect/token", bench.base_url))
        .basic_auth("web", Some("secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_owned()
}

criterion_group!(oidc, benches);
criterion_main!(oidc);
