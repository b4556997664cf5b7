//! The state cost of one sign-in on each backend, next to the hashing limit in the same run.
//!
//! `store_mfa_login/<backend>` runs, through the store traits, exactly the store operations of
//! one full MFA login and its code exchange, in order: authorize put and two gets (authorize
//! endpoint, login page, password POST), lockout reservations for the username and the address
//! and the forgive, the login transaction insert and take, the username's reset, the authorize
//! take, the session put, the code put, redeem and set_grant, the grant create and the
//! access-token put. `store_client_credentials/<backend>` is the one store write of a
//! client-credentials grant (the access-token record). `argon2id_verify` is one password check
//! (the floor of a password login) for comparison.
//!
//! With Redis (a real `redis-server` started here, `appendfsync always`, unix socket), the bench
//! also prints the commands Redis executed per login (`INFO stats` `total_commands_processed`,
//! which counts the calls inside Lua scripts too; the client's round trips are fewer, see the
//! round-trip table in `store/redis/mod.rs`).
//!
//! `cargo bench -p identity-server --bench stores -- --warm-up-time 1 --measurement-time 5`

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use identity_server::account::AccountSettings;
use identity_server::oidc::{now, random_token, sha256_b64};
use identity_server::store::rules::LockoutPolicy;
use identity_server::store::{
    AccessTokenRecord, AuthorizeRequest, CodeRecord, CodeUse, Grant, LockoutKey, LoginTransaction,
    Purpose, SecondFactorProof, Session, Stores,
};

fn policy() -> LockoutPolicy {
    AccountSettings::default().lockout.policy()
}

fn request() -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: "web".into(),
        redirect_uri: "https://localhost:5002/signin-oidc".into(),
        scope: vec!["openid".into(), "profile".into()],
        state: Some(random_token()),
        nonce: Some(random_token()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        prompt_login: false,
        prompt_none: false,
        max_age: None,
        login_hint: None,
        acr_values: None,
        ui_locales: None,
        acr_requested: Vec::new(),
        acr_essential: false,
    }
}

/// One MFA login's store operations, in the order the handlers run them.
async fn mfa_login(stores: &Stores, n: u64) {
    let t = now();
    let ar = sha256_b64(&random_token());
    let network = format!("198.51.{}.{}", (n / 250) % 250, n % 250);
    let request = request();
    stores
        .authorize_requests
        .put(&ar, &request, t + 900, &network, 1000)
        .await
        .unwrap()
        .unwrap();
    stores.authorize_requests.get(&ar).await.unwrap().unwrap();
    stores.authorize_requests.get(&ar).await.unwrap().unwrap();
    let user = LockoutKey::user(&format!("user{n}"));
    let ip = LockoutKey::Ip(network.clone());
    assert!(
        stores
            .failed_logins
            .begin_attempt(&user, 5, true)
            .await
            .unwrap()
    );
    assert!(
        stores
            .failed_logins
            .begin_attempt(&ip, 50, false)
            .await
            .unwrap()
    );
    stores.failed_logins.forgive(&user).await.unwrap();
    let tx = LoginTransaction::new(
        "subject".into(),
        "identity-server-login".into(),
        random_token(),
        Purpose::Login {
            authorize_request_id: ar.clone(),
            remember: false,
            lockout_keys: vec![user.clone(), ip],
            proof: SecondFactorProof::Challenge,
            budget_counted: true,
        },
        Duration::from_secs(600),
    );
    stores.transactions.insert(&tx).await.unwrap();
    stores.transactions.take(&tx.id).await.unwrap().unwrap();
    stores.failed_logins.reset(&user).await.unwrap();
    let request = stores.authorize_requests.take(&ar).await.unwrap().unwrap();
    let session = Session {
        sid: random_token(),
        subject: "subject".into(),
        auth_time: t,
        amr: vec!["pwd".into(), "mfa".into(), "otp".into()],
        remember: false,
        created: t,
        last_seen: t,
        step_up_at: None,
        clients: Vec::new(),
        device: Default::default(),
    };
    stores
        .sessions
        .put(&sha256_b64(&random_token()), &session, t + 43_200)
        .await
        .unwrap();
    let code = sha256_b64(&random_token());
    let record = CodeRecord {
        client_id: request.client_id,
        redirect_uri: request.redirect_uri,
        code_challenge: request.code_challenge,
        nonce: request.nonce,
        subject: session.subject.clone(),
        auth_time: t,
        amr: session.amr.clone(),
        sid: session.sid.clone(),
        acr: None,
        scope: request.scope,
        expires_at: t + 60,
        grant_id: None,
    };
    assert!(stores.codes.put(&code, &record, 10).await.unwrap());
    let CodeUse::First(record) = stores.codes.redeem(&code).await.unwrap() else {
        panic!("first use")
    };
    let grant = Grant {
        id: random_token(),
        client_id: record.client_id.clone(),
        subject: record.subject.clone(),
        scope: record.scope.clone(),
        auth_time: t,
        amr: record.amr.clone(),
        sid: record.sid.clone(),
        acr: None,
        created: t,
        expires_at: t + 86_400,
        refresh_hash: Some(sha256_b64(&random_token())),
        previous_hash: None,
        rotated_at: 0,
        revoked: false,
    };
    stores.codes.set_grant(&code, &grant.id).await.unwrap();
    assert!(stores.grants.create(&grant).await.unwrap());
    access_token(stores, Some(grant.id)).await;
}

async fn access_token(stores: &Stores, grant_id: Option<String>) {
    let t = now();
    let record = AccessTokenRecord {
        client_id: "web".into(),
        subject: "subject".into(),
        scope: vec!["openid".into()],
        aud: vec!["https://localhost:5001".into()],
        iat: t,
        exp: t + 3600,
        grant_id,
        revoked: false,
    };
    assert!(
        stores
            .access_tokens
            .put(&random_token(), &record)
            .await
            .unwrap()
    );
}

fn redis_commands(socket: &std::path::Path) -> u64 {
    let out = std::process::Command::new("redis-cli")
        .args(["-s"])
        .arg(socket)
        .args(["INFO", "stats"])
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let embedded = rt.block_on(async {
        identity_server::store::embedded::open(
            Some(&dir.path().join("bench.redb")),
            policy(),
            Default::default(),
        )
        .await
        .unwrap()
    });
    let redis =
        redis_testkit::RedisServer::start_with(redis_testkit::Durability::AppendFsyncAlways)
            .expect("redis-server for the bench");
    let settings = identity_server::configuration::StoreSettings {
        url: Some(identity_server::domain::Secret::new(redis.url())),
        ..Default::default()
    };
    let on_redis = rt.block_on(async {
        identity_server::store::redis::open(&settings, policy(), "")
            .await
            .unwrap()
    });

    let mut group = c.benchmark_group("store_mfa_login");
    for (name, stores) in [("embedded", &embedded), ("redis", &on_redis)] {
        let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async move { mfa_login(stores, i).await }
            })
        });
    }
    group.finish();

    // Round trips of one login on Redis (scripts already loaded by the runs above).
    let before = redis_commands(&redis.socket_path());
    rt.block_on(mfa_login(&on_redis, u64::MAX / 2));
    let after = redis_commands(&redis.socket_path());
    // The INFO call itself counts once.
    println!(
        "redis commands executed per MFA login (script-internal calls included): {}",
        after.saturating_sub(before).saturating_sub(1)
    );

    let mut group = c.benchmark_group("store_client_credentials");
    for (name, stores) in [("embedded", &embedded), ("redis", &on_redis)] {
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async move { access_token(stores, None).await })
        });
    }
    group.finish();

    // The same code path as a login: a reused block of a hashing thread.
    let mut memory =
        identity_server::hashing::Memory::new(identity_server::hashing::NewHashParams::OWASP)
            .unwrap();
    let hash = memory.hash(b"bench passphrase 1").unwrap();
    c.bench_function("argon2id_verify", |b| {
        b.iter(|| memory.verify(Some(&hash), b"bench passphrase 1"))
    });
}

criterion_group!(stores, benches);
criterion_main!(stores);
