//! What the emulator costs: the protocol primitives (track token sign/verify, a TOTP check, a
//! recovery-code hash) and full Server API round trips through the SDK over HTTPS (keep-alive)
//! against an in-process emulator, in memory and with the persistent store (every update is an
//! atomic, fsynced write of the state file).
//!
//! Run: `cargo bench -p authsignal-emulator -- --warm-up-time 1 --measurement-time 5`

use std::net::TcpListener;

use authsignal_emulator::configuration::Settings;
use authsignal_emulator::domain::secret::ApiSecret;
use authsignal_emulator::domain::token::{OtherClaims, Purpose, SigningKey, TokenClaims};
use authsignal_emulator::domain::{codes, totp};
use authsignal_emulator::startup::Application;
use authsignal_sdk::{
    Client, RetryPolicy, TrackAttributes, UpdateUserRequest, ValidateChallengeRequest,
};
use criterion::{Criterion, black_box, criterion_group, criterion_main};

fn claims() -> TokenClaims {
    TokenClaims {
        sub: "a5a0c16c-0027-4011-8e2f-a7e179dc784b".into(),
        iat: 1_800_000_000,
        exp: 1_800_000_600,
        other: OtherClaims {
            tenant_id: "8a1c7f3e-5b2d-4e6f-9a0b-1c2d3e4f5a6b".into(),
            user_id: "a5a0c16c-0027-4011-8e2f-a7e179dc784b".into(),
            action_code: "identity-server-login".into(),
            idempotency_key: "5b9a6f1e-8d0c-4a47-9d4e-3c2f8a1b7e60".into(),
        },
        scope: "read:authenticators".into(),
    }
}

fn primitives(c: &mut Criterion) {
    let key = SigningKey::derive(&ApiSecret::new("dev-emulator-secret-key"), Purpose::Track);
    let token = key.sign(&claims());
    let secret = totp::generate_secret();
    let code = totp::code_at(&secret, 1_800_000_000).unwrap();
    let mut group = c.benchmark_group("primitives");
    group.bench_function("track token sign", |b| {
        b.iter(|| key.sign(black_box(&claims())))
    });
    group.bench_function("track token verify", |b| {
        b.iter(|| {
            key.verify::<TokenClaims>(black_box(&token), 1_800_000_100)
                .unwrap()
        })
    });
    group.bench_function("totp verify (3 steps)", |b| {
        b.iter(|| totp::verify(&secret, black_box(&code), 1_800_000_000, None).unwrap())
    });
    group.bench_function("recovery code hash", |b| {
        b.iter(|| codes::hash_recovery_code(black_box("k7m2q-x9p4r-h3t8w")))
    });
    group.finish();
}

fn api(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tls = dev_certs::TlsMaterial::generate_ephemeral().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (memory, persistent) = runtime.block_on(async {
        let start = |settings: Settings| {
            let tls = tls.clone();
            async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let app = Application::build_with(settings, listener, tls.clone())
                    .await
                    .unwrap();
                let client = Client::builder(app.secret())
                    .base_url(app.api_url())
                    .add_root_certificate_pem(tls.ca_pem())
                    .retry_policy(RetryPolicy::none())
                    .build()
                    .unwrap();
                tokio::spawn(app.run_until_stopped());
                client
            }
        };
        let memory = start(Settings {
            workers: Some(1),
            ..Settings::for_tests()
        })
        .await;
        let persistent = start(Settings {
            workers: Some(1),
            in_memory: false,
            data_dir: Some(data.path().to_path_buf()),
            ..Settings::for_tests()
        })
        .await;
        (memory, persistent)
    });
    let attributes = TrackAttributes {
        redirect_url: Some("https://localhost:5001/Account/Login/Callback".into()),
        username: Some("alice".into()),
        ..Default::default()
    };
    let token = runtime.block_on(async {
        memory
            .track("alice", "identity-server-login", &attributes)
            .await
            .unwrap()
            .token
    });
    let mut group = c.benchmark_group("server api over https");
    group.bench_function("track (in memory)", |b| {
        b.to_async(&runtime).iter(|| async {
            memory
                .track("alice", "identity-server-login", &attributes)
                .await
                .unwrap()
        })
    });
    // Same-size writes, so the snapshot does not grow during the run (tracks add actions).
    let mut flip = false;
    group.bench_function("update user (persistent store, fsync per write)", |b| {
        b.to_async(&runtime).iter(|| {
            flip = !flip;
            let request = UpdateUserRequest {
                display_name: Some(if flip { "Alice Smith" } else { "Alice" }.into()),
                ..Default::default()
            };
            let client = &persistent;
            async move { client.update_user("alice", &request).await.unwrap() }
        })
    });
    group.bench_function("update user (in memory)", |b| {
        b.to_async(&runtime).iter(|| async {
            let request = UpdateUserRequest {
                display_name: Some("Alice".into()),
                ..Default::default()
            };
            memory.update_user("alice", &request).await.unwrap()
        })
    });
    group.bench_function("validate", |b| {
        b.to_async(&runtime).iter(|| async {
            memory
                .validate_challenge(&ValidateChallengeRequest {
                    token: token.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = primitives, api
}
criterion_main!(benches);
