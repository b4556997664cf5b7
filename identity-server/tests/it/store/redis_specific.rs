//! What only the Redis backend has to show: it fails closed within its deadline when Redis is
//! down or silent and recovers by itself, its keys carry the prefix and a TTL (accounts none),
//! no key or value holds a raw secret, and acknowledged writes survive a crash with
//! `appendfsync always`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use identity_server::oidc::{now, random_token};
use identity_server::store::{self, RefreshUse, StoreError, Stores, digest};
use redis_testkit::{Durability, RedisServer};
use tokio::net::{UnixListener, UnixStream};

use super::behaviour::{self, Secrets};
use super::{POLICY, open_redis, store_settings};

/// The deadline the outage tests configure.
const DEADLINE: Duration = Duration::from_millis(300);
/// What a failing call may take beyond its deadline (a loaded CI machine).
const MARGIN: Duration = Duration::from_millis(700);

fn deadline_ms() -> u64 {
    u64::try_from(DEADLINE.as_millis()).expect("a small deadline")
}

/// A plain connection to the test's server, to inspect what the stores wrote.
async fn inspect(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("the testkit's URL parses")
        .get_multiplexed_async_connection()
        .await
        .expect("the test's redis answers")
}

/// Every key on the server.
async fn all_keys(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN answers");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// Everything stored under `key`, as text.
async fn value_of(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> String {
    let kind: String = redis::cmd("TYPE")
        .arg(key)
        .query_async(conn)
        .await
        .expect("TYPE answers");
    let parts: Vec<String> = match kind.as_str() {
        "string" => vec![
            redis::cmd("GET")
                .arg(key)
                .query_async(conn)
                .await
                .expect("GET answers"),
        ],
        "hash" => redis::cmd("HGETALL")
            .arg(key)
            .query_async(conn)
            .await
            .expect("HGETALL answers"),
        "zset" => redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(conn)
            .await
            .expect("ZRANGE answers"),
        other => panic!("key '{key}' has an unexpected type '{other}'"),
    };
    parts.join(" ")
}

fn assert_all_succeeded(outcomes: &[behaviour::Outcome]) {
    for (name, _, result) in outcomes {
        if let Err(e) = result {
            panic!("'{name}' failed: {e}");
        }
    }
}

/// Waits until the stores answer again (the connection manager reconnects by itself).
async fn wait_until_healthy(stores: &Stores, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        match stores.health.check().await {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the stores did not recover within {within:?}: {e}"),
        }
    }
}

fn assert_all_unavailable_in_time(outcomes: &[behaviour::Outcome]) {
    for (name, took, result) in outcomes {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "'{name}' answered {result:?} with redis unreachable"
        );
        assert!(
            *took <= DEADLINE + MARGIN,
            "'{name}' took {took:?}, past its deadline of {DEADLINE:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_call_fails_unavailable_within_its_deadline_while_redis_is_down_and_works_again_after_a_restart()
 {
    let Some(mut server) = RedisServer::require() else {
        return;
    };
    let stores = open_redis(&server, "idsrv:v1:", deadline_ms(), POLICY).await;
    assert_all_succeeded(&behaviour::every_call_once(&stores, &Secrets::new()).await);

    server.kill();
    let down = behaviour::every_call_once(&stores, &Secrets::new()).await;
    assert_all_unavailable_in_time(&down);

    // The same stores, not rebuilt: the connection comes back, and the scripts are loaded
    // again into the restarted server's empty script cache.
    server.restart().expect("redis restarts");
    wait_until_healthy(&stores, Duration::from_secs(10)).await;
    assert_all_succeeded(&behaviour::every_call_once(&stores, &Secrets::new()).await);
}

/// A unix-socket forwarder in front of Redis that can stop passing bytes on while keeping every
/// connection open: Redis then looks alive but silent, as behind a network partition.
struct Silencer {
    path: PathBuf,
    silent: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Silencer {
    fn start(dir: &Path, target: PathBuf) -> Self {
        let path = dir.join("silencer.sock");
        let listener = UnixListener::bind(&path).expect("the forwarder binds");
        let silent = Arc::new(AtomicBool::new(false));
        let flag = silent.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = UnixStream::connect(&target).await else {
                    continue;
                };
                let (inbound, outbound) = (Arc::new(inbound), Arc::new(outbound));
                let (up, down) = (flag.clone(), flag.clone());
                let (a, b) = (inbound.clone(), outbound.clone());
                tokio::spawn(async move {
                    let _ = pump(&a, &b, &up).await;
                });
                tokio::spawn(async move {
                    let _ = pump(&outbound, &inbound, &down).await;
                });
            }
        });
        Self { path, silent, task }
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.path.display())
    }

    fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }
}

impl Drop for Silencer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies bytes from `from` to `to`, holding them while `silent` is set.
async fn pump(from: &UnixStream, to: &UnixStream, silent: &AtomicBool) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        from.readable().await?;
        let n = match from.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        while silent.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut sent = 0;
        while sent < n {
            to.writable().await?;
            match to.try_write(&buf[sent..n]) {
                Ok(k) => sent += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_that_stops_answering_fails_every_call_within_its_deadline_until_it_answers_again()
{
    let Some(server) = RedisServer::require() else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let silencer = Silencer::start(dir.path(), server.socket_path());
    let stores = store::redis::open(
        &store_settings(silencer.url(), "idsrv:v1:", deadline_ms()),
        POLICY,
        "",
    )
    .await
    .expect("the redis stores open through the forwarder");
    assert_all_succeeded(&behaviour::every_call_once(&stores, &Secrets::new()).await);

    silencer.set_silent(true);
    let silent = behaviour::every_call_once(&stores, &Secrets::new()).await;
    assert_all_unavailable_in_time(&silent);

    silencer.set_silent(false);
    wait_until_healthy(&stores, Duration::from_secs(10)).await;
    assert_all_succeeded(&behaviour::every_call_once(&stores, &Secrets::new()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_fails_unavailable_within_its_deadline_when_redis_accepts_but_never_answers() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("mute.sock");
    let listener = UnixListener::bind(&path).expect("the listener binds");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            open.push(conn);
        }
    });
    let started = Instant::now();
    let url = format!("redis+unix://{}", path.display());
    let result =
        store::redis::open(&store_settings(url, "idsrv:v1:", deadline_ms()), POLICY, "").await;
    let took = started.elapsed();
    held.abort();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(took <= DEADLINE + MARGIN, "open took {took:?}");
}

#[tokio::test]
async fn open_refuses_unchecked_tls_and_urls_that_are_not_redis() {
    for (url, expected) in [
        ("rediss://localhost:6380/#insecure", "fragment"),
        ("https://localhost:6379", "'https'"),
        ("not a url", "not a URL"),
        ("rediss://localhost:6380", "needs a CA"),
    ] {
        match store::redis::open(
            &store_settings(url.to_owned(), "idsrv:v1:", 300),
            POLICY,
            "",
        )
        .await
        {
            Err(StoreError::Backend(message)) => {
                assert!(message.contains(expected), "'{url}': {message}");
                assert!(message.starts_with("store"), "'{url}': {message}");
            }
            other => panic!("'{url}' answered {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_key_carries_the_prefix_and_a_ttl_except_accounts_which_never_expire() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let prefix = "census:v7:";
    let stores = open_redis(&server, prefix, 2000, POLICY).await;
    assert_all_succeeded(&behaviour::every_call_once(&stores, &Secrets::new()).await);

    let mut conn = inspect(&server).await;
    let keys = all_keys(&mut conn).await;
    let mut families = std::collections::BTreeSet::new();
    for key in &keys {
        let rest = key
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("key '{key}' lacks the prefix '{prefix}'"));
        let family = rest.split(':').next().unwrap_or_default().to_owned();
        let pttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("PTTL answers");
        if matches!(family.as_str(), "user" | "uname") {
            assert_eq!(pttl, -1, "the account key '{key}' expires");
        } else {
            assert!(pttl > 0, "the ephemeral key '{key}' has no TTL ({pttl})");
        }
        families.insert(family);
    }
    for expected in [
        "ar", "arn", "mfa", "sess", "code", "codes", "grant", "rt", "at", "user", "uname", "lf",
        "q",
    ] {
        assert!(
            families.contains(expected),
            "no '{expected}' key among {families:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_or_value_holds_a_raw_secret_and_no_key_a_username() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let stores = open_redis(&server, "idsrv:v1:", 2000, POLICY).await;
    let secrets = Secrets::new();
    assert_all_succeeded(&behaviour::every_call_once(&stores, &secrets).await);

    let mut conn = inspect(&server).await;
    let keys = all_keys(&mut conn).await;
    assert!(keys.len() >= 10, "too few keys to check: {keys:?}");
    let username = secrets.username.to_lowercase();
    for key in &keys {
        assert!(
            !key.to_lowercase().contains(&username),
            "the key '{key}' holds the username"
        );
        let value = value_of(&mut conn, key).await;
        for raw in secrets.raw() {
            assert!(!key.contains(&raw), "the key '{key}' holds a raw secret");
            assert!(
                !value.contains(&raw),
                "the value of '{key}' holds a raw secret"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_with_different_prefixes_on_one_redis_share_nothing() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let a = open_redis(&server, "a:v1:", 2000, POLICY).await;
    let b = open_redis(&server, "b:v1:", 2000, POLICY).await;
    assert!(
        a.users
            .create(&behaviour::user("subject-a", "Judy"))
            .await
            .unwrap()
    );
    let code = digest(&random_token());
    assert!(
        a.codes
            .put(&code, &behaviour::code("sid", now() + 60), 10)
            .await
            .unwrap()
    );
    assert_eq!(b.users.find_by_username("judy").await.unwrap(), None);
    assert!(
        b.users
            .create(&behaviour::user("subject-b", "Judy"))
            .await
            .unwrap()
    );
    assert_eq!(
        b.codes.redeem(&code).await.unwrap(),
        store::CodeUse::Unknown
    );
    assert!(matches!(
        a.codes.redeem(&code).await.unwrap(),
        store::CodeUse::First(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_accounts_and_rotations_survive_a_redis_crash_with_appendfsync_always() {
    let Some(mut server) = RedisServer::require_with(Durability::AppendFsyncAlways) else {
        return;
    };
    let stores = open_redis(&server, "idsrv:v1:", 2000, POLICY).await;
    let account = behaviour::user(&random_token(), "Mallory");
    assert!(stores.users.create(&account).await.unwrap());
    let (r1, r2) = (digest(&random_token()), digest(&random_token()));
    let grant = behaviour::grant(&r1, now() + 3600);
    stores.grants.create(&grant).await.unwrap();
    assert!(matches!(
        stores.grants.rotate(&r1, &r2, now(), 0).await.unwrap(),
        RefreshUse::Rotated(_)
    ));

    server.kill();
    server
        .restart()
        .expect("redis restarts on its append-only file");
    wait_until_healthy(&stores, Duration::from_secs(10)).await;

    assert_eq!(
        stores.users.find_by_username("mallory").await.unwrap(),
        Some(account)
    );
    let kept = stores
        .grants
        .find_by_refresh(&r2)
        .await
        .unwrap()
        .expect("the rotated grant survives");
    assert_eq!(kept.refresh_hash.as_deref(), Some(r2.as_str()));
    // The rotated-away token is still known, so its replay still revokes the grant.
    assert!(matches!(
        stores
            .grants
            .rotate(&r1, &digest(&random_token()), now(), 0)
            .await
            .unwrap(),
        RefreshUse::Reused(_)
    ));
}

/// A `redis-server` serving TLS only, on a free local port, with `tls`'s certificate.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    fn start(tls: &dev_certs::TlsMaterial) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("a certificate file");
            path
        };
        let (cert, key, ca) = (
            file("cert.pem", tls.cert_chain_pem()),
            file("key.pem", tls.key_pem()),
            file("ca.pem", tls.ca_pem()),
        );
        // The port is free now; a race with another process only fails this test loudly.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(
            std::env::var_os(redis_testkit::BINARY_ENV).unwrap_or_else(|| "redis-server".into()),
        )
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--tls-port")
        .arg(port.to_string())
        .arg("--tls-cert-file")
        .arg(cert)
        .arg("--tls-key-file")
        .arg(key)
        .arg("--tls-ca-cert-file")
        .arg(ca)
        .args(["--tls-auth-clients", "no", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server starts");
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rediss_connection_trusts_the_configured_ca_and_no_other() {
    // Only to skip (or fail under REDIS_REQUIRED) when redis-server is missing.
    if RedisServer::require().is_none() {
        return;
    }
    let tls = dev_certs::TlsMaterial::generate_ephemeral().expect("test certificates");
    let server = TlsRedis::start(&tls);
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let settings = store_settings(url.clone(), "idsrv:v1:", 1000);
    let deadline = Instant::now() + Duration::from_secs(5);
    let stores = loop {
        match store::redis::open(&settings, POLICY, tls.ca_pem()).await {
            Ok(stores) => break stores,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("no TLS connection with the right CA: {e}"),
        }
    };
    assert!(
        stores
            .users
            .create(&behaviour::user("subject-tls", "Trent"))
            .await
            .unwrap()
    );
    assert!(
        stores
            .users
            .find_by_username("trent")
            .await
            .unwrap()
            .is_some()
    );

    let stranger = dev_certs::TlsMaterial::generate_ephemeral().expect("other certificates");
    match store::redis::open(&settings, POLICY, stranger.ca_pem()).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("certificate"), "{message}");
        }
        other => panic!("a server certificate from another CA was not refused: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The scripts are ports of `store::rules`: random operation sequences get the same answers from
// Redis as from the plain Rust rules.

use identity_server::store::rules::{
    self, BudgetPolicy, ChallengeBudget, LockoutCounter, QuotaWindow, Rotation, SecondFactorBudget,
};
use identity_server::store::{LockoutKey, QuotaKey, QuotaRefused};
use rand::{Rng, SeedableRng};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lockout_scripts_answer_as_the_rules_for_random_operation_sequences() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let stores = open_redis(&server, "idsrv:v1:", 2000, POLICY).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for sequence in 0..150 {
        let key = LockoutKey::user(&format!("seq{sequence}"));
        let mut model = LockoutCounter::new(now());
        for step in 0..25 {
            let max = rng.gen_range(1..=4);
            let flag = rng.gen_bool(0.5);
            let t = now();
            // Every answer as a number: a yes/no as 1/0, a count of failures left as itself.
            let (op, redis, rules): (&str, u32, u32) = match rng.gen_range(0..5) {
                0 => (
                    "begin",
                    u32::from(
                        stores
                            .failed_logins
                            .begin_attempt(&key, max, flag)
                            .await
                            .unwrap(),
                    ),
                    u32::from(model.begin(t, POLICY, max, flag)),
                ),
                1 => (
                    "fail",
                    stores
                        .failed_logins
                        .fail_attempt(&key, max, flag)
                        .await
                        .unwrap(),
                    model.fail(t, POLICY, max, flag),
                ),
                2 => {
                    stores.failed_logins.forgive(&key).await.unwrap();
                    model.forgive(t, POLICY);
                    ("forgive", 1, 1)
                }
                3 => {
                    stores.failed_logins.reset(&key).await.unwrap();
                    model.reset(t, POLICY);
                    ("reset", 1, 1)
                }
                _ => (
                    "is_locked",
                    u32::from(stores.failed_logins.is_locked(&key).await.unwrap()),
                    u32::from(model.is_locked(t)),
                ),
            };
            assert_eq!(
                redis, rules,
                "sequence {sequence} step {step}: {op}(max {max}, {flag}) with the model at {model:?}"
            );
        }
    }
}

/// Whether two answers of a budget agree: the same kind, and block ends at most a second apart
/// (Redis `TIME` and this process's clock may tick over between the two calls).
fn same_budget_answer(a: ChallengeBudget, b: ChallengeBudget) -> bool {
    match (a, b) {
        (
            ChallengeBudget::Allowed { blocked_until: x },
            ChallengeBudget::Allowed { blocked_until: y },
        ) => match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => (x - y).abs() <= 1,
            _ => false,
        },
        (ChallengeBudget::Blocked { until: x }, ChallengeBudget::Blocked { until: y }) => {
            (x - y).abs() <= 1
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_budget_scripts_answer_as_the_rules_for_random_operation_sequences() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let stores = open_redis(&server, "idsrv:v1:", 2000, POLICY).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    for sequence in 0..150 {
        let subject = format!("seq{sequence}");
        let policy = BudgetPolicy {
            max_unsuccessful: rng.gen_range(1..=4),
            window_secs: 900,
            first_block_secs: 600,
            max_block_secs: 3600,
            memory_secs: 86_400,
        };
        let mut model = SecondFactorBudget::new(now());
        for step in 0..25 {
            let t = now();
            if rng.gen_bool(0.75) {
                let redis = stores
                    .failed_logins
                    .begin_challenge(&subject, policy)
                    .await
                    .unwrap();
                let rules = model.begin(t, policy);
                assert!(
                    same_budget_answer(redis, rules),
                    "sequence {sequence} step {step}: begin answered {redis:?}, the rules {rules:?} ({model:?})"
                );
            } else {
                stores
                    .failed_logins
                    .challenge_passed(&subject, policy)
                    .await
                    .unwrap();
                model.passed(t, policy);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_quota_scripts_answer_as_the_rules_for_random_operation_sequences() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let stores = open_redis(&server, "idsrv:v1:", 2000, POLICY).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for sequence in 0..100 {
        let keys: Vec<QuotaKey> = (0..3)
            .map(|i| QuotaKey {
                key: format!("cq:seq{sequence}:{i}"),
                max: rng.gen_range(0..=4),
                window_secs: 3600,
            })
            .collect();
        let mut model: Vec<Option<QuotaWindow>> = vec![None; keys.len()];
        for step in 0..25 {
            // A random non-empty selection of distinct keys, in key order.
            let chosen: Vec<usize> = (0..keys.len()).filter(|_| rng.gen_bool(0.6)).collect();
            if chosen.is_empty() {
                continue;
            }
            let selection: Vec<QuotaKey> = chosen.iter().map(|i| keys[*i].clone()).collect();
            let t = now();
            if rng.gen_bool(0.7) {
                let redis = stores.quotas.reserve(&selection).await.unwrap();
                let rules = reserve_model(&mut model, &keys, &chosen, t);
                assert_eq!(
                    redis.map_err(|r| r.index),
                    rules.map_err(|r| r.index),
                    "sequence {sequence} step {step}: reserve {chosen:?} with {model:?}"
                );
            } else {
                stores.quotas.give_back(&selection).await.unwrap();
                for i in &chosen {
                    if let Some(w) = model[*i].as_mut()
                        && !w.is_over(t, keys[*i].window_secs)
                        && w.count > 0
                    {
                        w.count -= 1;
                    }
                }
            }
        }
    }
}

/// A reservation on plain [`QuotaWindow`]s: all or none.
fn reserve_model(
    model: &mut [Option<QuotaWindow>],
    keys: &[QuotaKey],
    chosen: &[usize],
    t: i64,
) -> Result<(), QuotaRefused> {
    let mut next = Vec::new();
    for (index, i) in chosen.iter().enumerate() {
        let k = &keys[*i];
        let w = model[*i]
            .filter(|w| !w.is_over(t, k.window_secs))
            .unwrap_or(QuotaWindow { start: t, count: 0 });
        if w.count >= k.max {
            return Err(QuotaRefused {
                index,
                retry_after_secs: w.retry_after(t, k.window_secs),
            });
        }
        next.push((
            *i,
            QuotaWindow {
                count: w.count + 1,
                ..w
            },
        ));
    }
    for (i, w) in next {
        model[i] = Some(w);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rotation_script_answers_as_the_rules_for_random_refresh_sequences() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let stores = open_redis(&server, "idsrv:v1:", 2000, POLICY).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    for sequence in 0..100 {
        let first = digest(&random_token());
        let start = now();
        let mut model = behaviour::grant(&first, start + rng.gen_range(5..60));
        stores.grants.create(&model).await.unwrap();
        let interval = if rng.gen_bool(0.5) {
            0
        } else {
            rng.gen_range(1..20)
        };
        let mut issued = vec![first];
        let mut t = start;
        for step in 0..12 {
            t += rng.gen_range(0..8);
            // Mostly the newest token, sometimes an older one (a replay or a lost answer).
            let old = if rng.gen_bool(0.6) {
                issued[issued.len() - 1].clone()
            } else {
                issued[rng.gen_range(0..issued.len())].clone()
            };
            let new = digest(&random_token());
            let expected = rules::rotate(&mut model, &old, &new, t, interval);
            let answer = stores.grants.rotate(&old, &new, t, interval).await.unwrap();
            match (&answer, expected) {
                (RefreshUse::Rotated(g), Rotation::Rotated)
                | (RefreshUse::Reused(g), Rotation::Reused) => {
                    assert_eq!(g, &model, "sequence {sequence} step {step}");
                }
                (RefreshUse::Invalid, Rotation::Invalid) => {}
                (answer, expected) => panic!(
                    "sequence {sequence} step {step}: redis answered {answer:?}, the rules {expected:?}"
                ),
            }
            if expected == Rotation::Rotated {
                issued.push(new);
            }
        }
        let stored = stores.grants.get(&model.id).await.unwrap();
        if model.expires_at > now() {
            assert_eq!(
                stored.as_ref(),
                Some(&model),
                "sequence {sequence}: the stored grant"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_user_with_only_the_documented_acl_rules_can_make_every_store_call() {
    let Some(server) = RedisServer::require() else {
        return;
    };
    let mut admin = inspect(&server).await;
    let password = random_token();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("idsrv")
        .arg("on")
        .arg(format!(">{password}"))
        .arg(
            store::redis::ACL_RULES
                .split_whitespace()
                .collect::<Vec<_>>(),
        )
        .query_async(&mut admin)
        .await
        .expect("the documented rules are valid ACL rules");
    let url = format!("{}?user=idsrv&pass={password}", server.url());
    let stores = store::redis::open(&store_settings(url, "idsrv:v1:", 2000), POLICY, "")
        .await
        .expect("the ACL user connects");
    assert_all_succeeded(&behaviour::every_call_once(&stores, &Secrets::new()).await);
    // And it is confined to its prefix.
    let mut confined = redis::Client::open(format!("{}?user=idsrv&pass={password}", server.url()))
        .expect("the URL parses")
        .get_multiplexed_async_connection()
        .await
        .expect("the ACL user connects");
    let outside: Result<Option<String>, _> = redis::cmd("GET")
        .arg("other:key")
        .query_async(&mut confined)
        .await;
    assert!(
        outside.is_err(),
        "the ACL user read a key outside its prefix"
    );
}
